//! Writing a recording.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mcap::records::{MessageHeader, Metadata};
use mcap::{Compression, WriteOptions};

use super::{
    FLUSH_EVERY, MESSAGE_ENCODING, METADATA_NAME, PROFILE, RecordingError, RecordingSummary,
};
use crate::wire;

/// Writes zenoh samples into a new MCAP file, one channel per key.
///
/// Call [`Recorder::finish`] at the end: it writes the file's index and
/// footer. A recorder dropped without it (or killed) leaves a file that
/// [`super::Recording`] still reads up to the last whole chunk.
pub struct Recorder {
    path: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    /// Channel id and messages so far, by key.
    channels: HashMap<String, (u16, u32)>,
    summary: RecordingSummary,
    last_flush: Instant,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("messages", &self.summary.messages)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates `path`, which must not exist, and writes the MCAP header and
    /// a metadata record named [`METADATA_NAME`] holding `metadata` (how
    /// the recording was made).
    pub fn create(
        path: &Path,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self, RecordingError> {
        let io = |source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mcap_err = |source| RecordingError::Mcap {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => RecordingError::Exists {
                    path: path.to_path_buf(),
                },
                _ => io(e),
            })?;
        let mut writer = WriteOptions::new()
            .compression(Some(Compression::Zstd))
            .profile(PROFILE)
            .library(concat!("umwelt ", env!("CARGO_PKG_VERSION")))
            .create(BufWriter::new(file))
            .map_err(mcap_err)?;
        writer
            .write_metadata(&Metadata {
                name: METADATA_NAME.to_string(),
                metadata: metadata.clone(),
            })
            .map_err(mcap_err)?;
        // On disk at once: a recorder killed in its first second still
        // leaves an MCAP file, not an empty one.
        writer.flush().map_err(mcap_err)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            channels: HashMap::new(),
            summary: RecordingSummary::default(),
            last_flush: Instant::now(),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one sample: the key it arrived on, its payload as it
    /// travelled (valid or not) and when it arrived (ns since the UNIX
    /// epoch). Ends the current chunk when the last one ended
    /// [`FLUSH_EVERY`] ago or more.
    pub fn write(
        &mut self,
        key: &str,
        payload: &[u8],
        log_time_ns: u64,
    ) -> Result<(), RecordingError> {
        let mcap_err = |source| RecordingError::Mcap {
            path: self.path.clone(),
            source,
        };
        let (channel_id, count) = match self.channels.get_mut(key) {
            Some(c) => c,
            None => {
                let id = self
                    .writer
                    .add_channel(0, key, MESSAGE_ENCODING, &BTreeMap::new())
                    .map_err(mcap_err)?;
                self.channels.entry(key.to_string()).or_insert((id, 0))
            }
        };
        let (sequence, publish_time) = match wire::peek_header(payload) {
            // The protocol's seq is 64 bits, MCAP's 32: keep the low bits.
            Ok(h) => (h.seq as u32, h.stamp_ns),
            Err(_) => (*count, log_time_ns),
        };
        *count = count.wrapping_add(1);
        let header = MessageHeader {
            channel_id: *channel_id,
            sequence,
            log_time: log_time_ns,
            publish_time,
        };
        self.writer
            .write_to_known_channel(&header, payload)
            .map_err(mcap_err)?;
        self.summary.add(key, payload, log_time_ns);
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Ends the current chunk and hands it to the operating system, so a
    /// crash after this loses nothing written before.
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        self.last_flush = Instant::now();
        self.writer.flush().map_err(|source| RecordingError::Mcap {
            path: self.path.clone(),
            source,
        })
    }

    /// What has been written so far.
    pub fn summary(&self) -> &RecordingSummary {
        &self.summary
    }

    /// Writes the index and footer, closes the file (synced to disk) and
    /// returns what it holds.
    pub fn finish(mut self) -> Result<RecordingSummary, RecordingError> {
        let path = self.path.clone();
        self.writer
            .finish()
            .map_err(|source| RecordingError::Mcap {
                path: path.clone(),
                source,
            })?;
        let summary = std::mem::take(&mut self.summary);
        let io = |source| RecordingError::Io {
            path: path.clone(),
            source,
        };
        let file = self
            .writer
            .into_inner()
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(summary)
    }
}
