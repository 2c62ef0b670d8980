//! Writing a recording.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mcap::records::{MessageHeader, Metadata};
use mcap::{Compression, WriteOptions};

use super::foxglove::{DECODED_METADATA, Decoder, JSON_ENCODING, SCHEMA_ENCODING, Schema};
use super::{
    FLUSH_EVERY, FOXGLOVE_METADATA_NAME, MESSAGE_ENCODING, METADATA_NAME, PROFILE, RecordingError,
    RecordingSummary,
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
    /// Decoded channels beside the byte-exact ones, when asked for.
    foxglove: Option<Foxglove>,
}

/// The decoded channels' state: the decoder and the ids of what it wrote.
struct Foxglove {
    decoder: Decoder,
    schemas: HashMap<Schema, u16>,
    /// Channel id and messages so far, by topic.
    channels: HashMap<String, (u16, u32)>,
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
            foxglove: None,
        })
    }

    /// Also writes decoded channels that Foxglove reads (see
    /// [`super::foxglove`]), made by `decoder`, beside the byte-exact ones.
    pub fn with_foxglove(mut self, decoder: Decoder) -> Self {
        self.foxglove = Some(Foxglove {
            decoder,
            schemas: HashMap::new(),
            channels: HashMap::new(),
        });
        self
    }

    /// The decoder of the decoded channels, if they are on.
    pub fn decoder(&mut self) -> Option<&mut Decoder> {
        self.foxglove.as_mut().map(|f| &mut f.decoder)
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
        if let Some(f) = self.foxglove.as_mut() {
            for d in f.decoder.decode(key, payload, log_time_ns) {
                let schema_id = match f.schemas.get(&d.schema) {
                    Some(id) => *id,
                    None => {
                        let id = self
                            .writer
                            .add_schema(
                                d.schema.name(),
                                SCHEMA_ENCODING,
                                d.schema.text().as_bytes(),
                            )
                            .map_err(mcap_err)?;
                        *f.schemas.entry(d.schema).or_insert(id)
                    }
                };
                let (id, n) = match f.channels.get_mut(&d.topic) {
                    Some(c) => c,
                    None => {
                        let meta = BTreeMap::from([(
                            DECODED_METADATA.to_string(),
                            MESSAGE_ENCODING.to_string(),
                        )]);
                        let id = self
                            .writer
                            .add_channel(schema_id, &d.topic, JSON_ENCODING, &meta)
                            .map_err(mcap_err)?;
                        f.channels.entry(d.topic.clone()).or_insert((id, 0))
                    }
                };
                let header = MessageHeader {
                    channel_id: *id,
                    sequence: *n,
                    log_time: log_time_ns,
                    publish_time,
                };
                *n = n.wrapping_add(1);
                self.writer
                    .write_to_known_channel(&header, &d.json)
                    .map_err(mcap_err)?;
            }
        }
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
        if let Some(f) = &self.foxglove {
            // What the decoded channels hold and skipped, for readers.
            let stats = f.decoder.stats();
            let metadata = BTreeMap::from([
                ("skipped".to_string(), stats.skipped.to_string()),
                ("scene_skipped".to_string(), stats.scene_skipped.to_string()),
                (
                    "topics".to_string(),
                    serde_json::to_string(&stats.topics).unwrap_or_default(),
                ),
                (
                    "robots_with_scene".to_string(),
                    serde_json::to_string(&stats.robots).unwrap_or_default(),
                ),
            ]);
            self.writer
                .write_metadata(&Metadata {
                    name: FOXGLOVE_METADATA_NAME.to_string(),
                    metadata,
                })
                .map_err(|source| RecordingError::Mcap {
                    path: path.clone(),
                    source,
                })?;
        }
        self.writer
            .finish()
            .map_err(|source| RecordingError::Mcap {
                path: path.clone(),
                source,
            })?;
        let mut summary = std::mem::take(&mut self.summary);
        if let Some(f) = &self.foxglove {
            summary.decoded = f.decoder.stats().topics.clone();
        }
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
