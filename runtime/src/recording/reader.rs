//! Reading a recording.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use mcap::records::Record;

use super::foxglove::DECODED_METADATA;
use super::{MESSAGE_ENCODING, METADATA_NAME, RecordingError, RecordingSummary};

/// Bytes at the start of a file searched for the metadata record.
const METADATA_SCAN: u64 = 1 << 16;

/// A recording on disk. Reading streams it: memory holds one chunk at a
/// time, however long the recording.
#[derive(Debug)]
pub struct Recording {
    path: PathBuf,
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
    /// Opens `path`, which must be an MCAP file (finished or not).
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let io = |source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut magic = Vec::with_capacity(mcap::MAGIC.len());
        File::open(path)
            .map_err(io)?
            .take(mcap::MAGIC.len() as u64)
            .read_to_end(&mut magic)
            .map_err(io)?;
        if magic != mcap::MAGIC {
            return Err(RecordingError::NotMcap {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the recording was made (the [`METADATA_NAME`] metadata record:
    /// key expression, start time, umwelt version); empty if it has none.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        // The recorder writes it right after the header, before any message.
        let mut head = Vec::new();
        let read =
            File::open(&self.path).and_then(|f| f.take(METADATA_SCAN).read_to_end(&mut head));
        if read.is_err() {
            return BTreeMap::new();
        }
        let Ok(records) = mcap::read::LinearReader::new_with_options(
            &head,
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

    /// The messages in the order they were recorded, on the byte-exact
    /// channels: the decoded channels ([`super::foxglove`]) are skipped. A
    /// channel that does not hold umwelt wire messages is an error at its
    /// first message; a
    /// file that ends early (a killed recorder) yields every message before
    /// the damage, then the error.
    pub fn messages(&self) -> Messages {
        let (reader, pending) = match File::open(&self.path) {
            Ok(f) => (Some(mcap::io::MessageReader::new(BufReader::new(f))), None),
            Err(source) => (
                None,
                Some(RecordingError::Io {
                    path: self.path.clone(),
                    source,
                }),
            ),
        };
        Messages {
            path: self.path.clone(),
            reader,
            pending,
            check_encoding: true,
            done: false,
            decoded: BTreeMap::new(),
        }
    }

    /// Calls `f` on each message in recorded order until it breaks or the
    /// messages end. A file that ends early (a killed recorder) is not an
    /// error: everything before the damage is seen and the damage is
    /// returned, for the caller to report. A channel of another encoding,
    /// or an error from `f`, is an error.
    pub fn scan(
        &self,
        mut f: impl FnMut(RecordedMessage) -> Result<ControlFlow<()>, RecordingError>,
    ) -> Result<Option<String>, RecordingError> {
        for m in self.messages() {
            match m {
                Ok(m) => {
                    if f(m)?.is_break() {
                        break;
                    }
                }
                Err(e @ RecordingError::Mcap { .. }) => return Ok(Some(damage(&e))),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// What the recording holds, key by key. Never fails: damage at the
    /// end is reported in [`RecordingSummary::incomplete`], and channels of
    /// other encodings are counted (all their messages as invalid).
    pub fn summary(&self) -> RecordingSummary {
        let mut summary = RecordingSummary::default();
        let mut all = Messages {
            check_encoding: false,
            ..self.messages()
        };
        for m in all.by_ref() {
            match m {
                Ok(m) => summary.add(&m.key, &m.payload, m.log_time_ns),
                Err(e) => {
                    summary.incomplete = Some(damage(&e));
                    break;
                }
            }
        }
        summary.decoded = all.decoded;
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
pub struct Messages {
    path: PathBuf,
    reader: Option<mcap::io::MessageReader<BufReader<File>>>,
    /// An error opening the file, reported as the first item.
    pending: Option<RecordingError>,
    check_encoding: bool,
    done: bool,
    /// Messages skipped on decoded channels, by topic.
    decoded: BTreeMap<String, u64>,
}

impl Iterator for Messages {
    type Item = Result<RecordedMessage, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Some(Err(e));
        }
        let reader = self.reader.as_mut()?;
        let next = loop {
            match reader.next()? {
                Ok(m) if m.channel.metadata.contains_key(DECODED_METADATA) => {
                    *self.decoded.entry(m.channel.topic.clone()).or_default() += 1;
                }
                other => break other,
            }
        };
        let item = match next {
            Ok(m) if self.check_encoding && m.channel.message_encoding != MESSAGE_ENCODING => {
                Err(RecordingError::Encoding {
                    path: self.path.clone(),
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
            Err(source) => Err(RecordingError::Mcap {
                path: self.path.clone(),
                source,
            }),
        };
        self.done = item.is_err();
        Some(item)
    }
}
