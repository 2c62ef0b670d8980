//! Episode datasets on disk: what a world model trains on.
//!
//! A dataset is a directory:
//!
//! ```text
//! DIR/dataset.json         the DatasetSpec (pretty JSON), written once at creation
//! DIR/episodes/000000.ep   one binary file per episode, never rewritten
//! DIR/episodes/000001.ep
//! ...
//! ```
//!
//! Each episode file is a 36-byte header (magic `UWEP`, format version,
//! dimensions, length, seed, end flags, CRC32 of the payload) followed by
//! little-endian `f32` observations, actions and rewards. The layout is
//! documented byte by byte in `docs/DATASET.md`.
//!
//! [`DatasetWriter`] writes each episode to a temporary file, syncs it and
//! then links it into place under the next free index, so a crash loses at
//! most the episode in progress and an existing episode is never
//! overwritten. [`Dataset`] opens a directory and loads episodes, validating
//! everything (magic, version, dimensions, size, checksum, finiteness); a bad
//! file is a [`DatasetError`] naming it, never a panic.
//!
//! ```no_run
//! use umwelt_models::dataset::Dataset;
//! let data = Dataset::open("data/cartpole")?;
//! let (train, validation) = data.split(0.1, 0);
//! for &i in &train {
//!     let episode = data.load(i)?;
//!     println!("{} steps, return {}", episode.len(), episode.episode_return());
//! }
//! # let _ = validation;
//! # Ok::<(), umwelt_models::dataset::DatasetError>(())
//! ```

mod episode;
mod error;
mod frames;
pub(crate) mod fs;
mod reader;
mod spec;
mod split;
mod writer;

pub use episode::{
    Episode, EpisodeHeader, FLAG_SUCCESS, FLAG_TERMINATED, FLAG_TRUNCATED, HEADER_LEN, MAGIC,
    decode_episode, encode_episode, read_episode_file,
};
pub use error::DatasetError;
pub use frames::{FRAMES_MAGIC, Frames, MAX_FRAME_SIDE, frames_path};
pub use reader::Dataset;
pub use spec::{DatasetSpec, FORMAT_VERSION, FieldSpec};
pub use split::split_indices;
pub use writer::DatasetWriter;

/// Name of the spec file in a dataset directory.
pub const SPEC_FILE: &str = "dataset.json";
/// Name of the folder of episode files in a dataset directory.
pub const EPISODES_DIR: &str = "episodes";

/// A result with a [`DatasetError`].
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
