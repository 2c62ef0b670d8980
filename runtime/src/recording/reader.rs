//! Reading a recording.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcap::records::Record;

use super::{MESSAGE_ENCODING, METADATA_NAME, RecordingError, RecordingSummary};

/// A recording read into memory (recordings of sensor vectors are a few
/// tens of MiB per hour; camera images make them larger).
pub struct Recording {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("path", &self.path)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// One recorded sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedMessage {
    /// The zenoh key expression it arrived on.
    pub key: String,
    /// When the recorder received it, ns since the UNIX epoch.
    pub log_time_ns: u64,
    /// The message's own `stamp_ns`, or the log time when its header was
    /// unreadable.
    pub publish_time_ns: u64,
    /// The message's `seq` modulo 2^32, or its index on its key when its
    /// header was unreadable.
    pub sequence: u32,
    /// The payload exactly as it travelled.
    pub payload: Vec<u8>,
}

impl Recording {
    /// Reads `path`, which must be an MCAP file (finished or not).
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let bytes = std::fs::read(path).map_err(|source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !bytes.starts_with(mcap::MAGIC) {
            return Err(RecordingError::NotMcap {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the recording was made (the [`METADATA_NAME`] metadata record:
    /// key expression, start time, umwelt version); empty if it has none.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let Ok(records) = mcap::read::LinearReader::new_with_options(
            &self.bytes,
            mcap::read::Options::IgnoreEndMagic.into(),
        ) else {
            return BTreeMap::new();
        };
        for record in records {
            match record {
                Ok(Record::Metadata(m)) if m.name == METADATA_NAME => return m.metadata,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        BTreeMap::new()
    }

    /// The messages in the order they were recorded. A channel that does
    /// not hold umwelt wire messages is an error at its first message; a
    /// file that ends early (a killed recorder) yields every message before
    /// the damage, then the error.
    pub fn messages(&self) -> Messages<'_> {
        let (stream, pending) = match mcap::MessageStream::new(&self.bytes) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        Messages {
            path: &self.path,
            stream,
            pending,
            check_encoding: true,
            done: false,
        }
    }

    /// What the recording holds, key by key. Never fails: damage at the
    /// end is reported in [`RecordingSummary::incomplete`], and channels of
    /// other encodings are counted (all their messages as invalid).
    pub fn summary(&self) -> RecordingSummary {
        let mut summary = RecordingSummary::default();
        let all = Messages {
            check_encoding: false,
            ..self.messages()
        };
        for m in all {
            match m {
                Ok(m) => summary.add(&m.key, &m.payload, m.log_time_ns),
                Err(e) => {
                    summary.incomplete = Some(damage(&e));
                    break;
                }
            }
        }
        summary
    }
}

/// What is wrong with the file, without repeating its path.
fn damage(e: &RecordingError) -> String {
    match e {
        RecordingError::Mcap { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// The messages of a [`Recording`], in file order; after an error, nothing.
pub struct Messages<'a> {
    path: &'a Path,
    stream: Option<mcap::MessageStream<'a>>,
    /// An error opening the stream, reported as the first item.
    pending: Option<mcap::McapError>,
    check_encoding: bool,
    done: bool,
}

impl Iterator for Messages<'_> {
    type Item = Result<RecordedMessage, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mcap_err = |source| RecordingError::Mcap {
            path: self.path.to_path_buf(),
            source,
        };
        let next = match self.pending.take() {
            Some(e) => Err(e),
            None => self.stream.as_mut()?.next()?,
        };
        let item = match next {
            Ok(m) if self.check_encoding && m.channel.message_encoding != MESSAGE_ENCODING => {
                Err(RecordingError::Encoding {
                    path: self.path.to_path_buf(),
                    topic: m.channel.topic.clone(),
                    encoding: m.channel.message_encoding.clone(),
                })
            }
            Ok(m) => Ok(RecordedMessage {
                key: m.channel.topic.clone(),
                log_time_ns: m.log_time,
                publish_time_ns: m.publish_time,
                sequence: m.sequence,
                payload: m.data.into_owned(),
            }),
            Err(e) => Err(mcap_err(e)),
        };
        self.done = item.is_err();
        Some(item)
    }
}
