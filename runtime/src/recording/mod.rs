//! Recordings of zenoh traffic in MCAP files: what `umwelt record` writes
//! and `umwelt replay` plays back.
//!
//! A recording holds one MCAP channel per zenoh key expression (the
//! channel's topic, e.g. `umwelt/cartpole/sensors`) with the message
//! encoding [`MESSAGE_ENCODING`]. Each message's data is the payload exactly
//! as it travelled, valid or not, so a recording shows what a driver really
//! sent, malformed messages included:
//!
//! - `log_time`: when the recorder received it, ns since the UNIX epoch;
//! - `publish_time` and `sequence`: the message's own `stamp_ns` and `seq`
//!   (modulo 2^32) when it has a readable header, else the log time and
//!   its index on its key.
//!
//! Any MCAP tool (the `mcap` CLI, Foxglove) can list and index the files.
//! The recorder ends a chunk at least every [`FLUSH_EVERY`], so a recorder
//! that is killed loses at most that much, and [`Recording`] reads such an
//! unfinished file up to its last whole chunk and says it is incomplete.
//!
//! ```
//! use umwelt_runtime::recording::{Recorder, Recording};
//!
//! let dir = std::env::temp_dir().join(format!("umwelt-doc-recording-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("run.mcap");
//! # std::fs::remove_file(&path).ok();
//! let mut rec = Recorder::create(&path, &Default::default()).unwrap();
//! rec.write("umwelt/cartpole/cmd", b"not a wire message", 1_000).unwrap();
//! rec.finish().unwrap();
//!
//! let recording = Recording::open(&path).unwrap();
//! let messages: Vec<_> = recording.messages().collect::<Result<_, _>>().unwrap();
//! assert_eq!(messages[0].key, "umwelt/cartpole/cmd");
//! assert_eq!(messages[0].payload, b"not a wire message");
//! assert_eq!(recording.summary().keys["umwelt/cartpole/cmd"].invalid, 1);
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

mod episodes;
pub mod foxglove;
#[cfg(test)]
mod import_tests;
mod pairing;
mod play;
mod reader;
mod summary;
#[cfg(test)]
mod tests;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

pub use episodes::{ImportReport, episodes};
pub use pairing::{CutReason, LINK_SKEW_NS};
pub use play::{Pace, PlayReport, acts_on_robot, play, restamp};
pub use reader::{Messages, RecordedMessage, Recording};
pub use summary::{KeySummary, RecordingSummary};
pub use writer::Recorder;

/// The MCAP message encoding of umwelt's wire protocol (version 2, as
/// `docs/PROTOCOL.md` specifies it byte by byte).
pub const MESSAGE_ENCODING: &str = "umwelt/2";
/// The MCAP profile of umwelt recordings.
pub const PROFILE: &str = "umwelt";
/// Name of the MCAP metadata record that says how a recording was made.
pub const METADATA_NAME: &str = "umwelt";
/// Name of the MCAP metadata record, written at the end, that says what
/// the decoded channels hold and how many messages they skipped.
pub const FOXGLOVE_METADATA_NAME: &str = "umwelt.foxglove";
/// Longest time the recorder keeps messages in an unfinished chunk.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What can go wrong writing or reading a recording. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Reading, creating or writing the file failed.
    #[error("{}: cannot read or write it", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The recorder will not replace a file that exists.
    #[error("{}: already exists; a recorder never overwrites a file", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file does not start as an MCAP file does.
    #[error("{}: not an MCAP file (it does not start with the MCAP magic bytes)", path.display())]
    NotMcap {
        /// The file.
        path: PathBuf,
    },
    /// The MCAP library refused to write, or found a record it cannot read.
    #[error("{}: MCAP error", path.display())]
    Mcap {
        /// The file.
        path: PathBuf,
        /// The MCAP library's complaint.
        source: mcap::McapError,
    },
    /// The file is MCAP but one of its channels is not umwelt wire traffic.
    #[error(
        "{}: channel `{topic}` holds `{encoding}` messages, not umwelt's `{MESSAGE_ENCODING}`: \
         not a recording of this version of `umwelt record` (`umwelt/1` is protocol version 1)",
        path.display()
    )]
    Encoding {
        /// The file.
        path: PathBuf,
        /// The channel's topic.
        topic: String,
        /// Its message encoding.
        encoding: String,
    },
    /// The recording cannot be turned into episodes of the robot and task.
    #[error("{}: {message}", path.display())]
    Import {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Evaluation episodes could not be replayed into a recording.
    #[error("{}: {message}", path.display())]
    Replay {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A playback speed that is not a positive number.
    #[error("playback speed {0}: must be a positive number (1 = as recorded)")]
    Speed(f64),
    /// Publishing a recorded message failed.
    #[error("publishing on `{key}`: {message}")]
    Publish {
        /// The key.
        key: String,
        /// Why.
        message: String,
    },
}
