//! LeRobot datasets: umwelt datasets out to the LeRobotDataset v3.0 layout
//! ([`export`]) and LeRobot datasets (v3.0 and v2.1) with state and action
//! columns in as umwelt episodes ([`read`], then [`to_episodes`]).
//!
//! The layout follows LeRobot's own writer (huggingface/lerobot 0.6.2,
//! `src/lerobot/datasets/`): `meta/info.json`, `meta/stats.json`,
//! `meta/tasks.parquet`, `meta/episodes/chunk-000/file-000.parquet` and
//! `data/chunk-000/file-000.parquet` (snappy, one row group per episode).
//! A LeRobot frame is an observation with the action taken there; an
//! umwelt episode of `len` steps becomes `len` frames, and its final
//! observation, which no frame holds, goes into the episode's metadata row
//! (`umwelt/final_observation`) beside its seed and end flags, so that an
//! export imports back exactly. docs/DATASET.md has the mapping.

mod columns;
mod convert;
mod export;
mod read;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use convert::{ImportReport, RewardSource, to_episodes};
pub use export::{ExportSummary, export};
pub use read::{LerobotDataset, LerobotEpisode, read};

/// The LeRobot dataset format version [`export`] writes.
pub const CODEBASE_VERSION: &str = "v3.0";
/// The frame data files, relative to the dataset root (LeRobot's
/// `DEFAULT_DATA_PATH`).
pub const DATA_PATH: &str = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet";
/// The video files (none are written: umwelt's episodes hold no images).
pub const VIDEO_PATH: &str = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4";
/// Files per chunk folder (LeRobot's `DEFAULT_CHUNK_SIZE`).
pub const CHUNKS_SIZE: u64 = 1000;
/// A data file is closed once it holds this many MiB (LeRobot's
/// `DEFAULT_DATA_FILE_SIZE_IN_MB`).
pub const DATA_FILE_SIZE_MB: u64 = 100;
/// LeRobot's `DEFAULT_VIDEO_FILE_SIZE_IN_MB`, recorded in `info.json`.
pub const VIDEO_FILE_SIZE_MB: u64 = 200;
/// The file beside LeRobot's metadata holding the umwelt dataset spec
/// (bounds and units, which `info.json` has no place for).
pub const UMWELT_SPEC_PATH: &str = "meta/umwelt_dataset.json";

/// An error exporting or importing a LeRobot dataset; every message names
/// the file, or the episode and frame, it is about.
#[derive(Debug, thiserror::Error)]
pub enum LerobotError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what the LeRobot layout says it must be.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The data do not fit the robot (dimensions, limits, rate, values).
    #[error("{0}")]
    Invalid(String),
    /// The umwelt dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] umwelt_models::dataset::DatasetError),
}

impl LerobotError {
    /// A [`LerobotError::Io`] about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`LerobotError::Format`] about `path`.
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Self::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// One entry of `info.json`'s `features`: LeRobot's dtype, shape and names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    /// `float32`, `int64`, `bool`, `video`, ...
    pub dtype: String,
    /// The shape of one frame's value (`[1]` for scalars).
    pub shape: Vec<usize>,
    /// Component names: a list, or LeRobot's older `{"motors": [...]}`
    /// form, or null.
    #[serde(default)]
    pub names: serde_json::Value,
}

/// `meta/info.json`: LeRobot's `DatasetInfo` (fields it does not know are
/// ignored on reading, as LeRobot does).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Info {
    /// `v3.0` (or `v2.1` when reading).
    pub codebase_version: String,
    /// The robot's name.
    #[serde(default)]
    pub robot_type: Option<String>,
    /// Episodes in the dataset.
    #[serde(default)]
    pub total_episodes: u64,
    /// Frames in the dataset.
    #[serde(default)]
    pub total_frames: u64,
    /// Distinct tasks.
    #[serde(default)]
    pub total_tasks: u64,
    /// Files per chunk folder.
    #[serde(default = "default_chunks_size")]
    pub chunks_size: u64,
    /// Data file size limit in MB (v3.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_files_size_in_mb: Option<u64>,
    /// Video file size limit in MB (v3.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_files_size_in_mb: Option<u64>,
    /// Frames per second: LeRobot's rate, one over umwelt's control period
    /// (written as an integer, as LeRobot's is).
    #[serde(serialize_with = "integer_if_whole")]
    pub fps: f64,
    /// `{"train": "0:N"}`.
    #[serde(default)]
    pub splits: BTreeMap<String, String>,
    /// The data file template.
    pub data_path: String,
    /// The video file template (null without videos).
    #[serde(default)]
    pub video_path: Option<String>,
    /// Every column of the data files, and video keys.
    pub features: BTreeMap<String, Feature>,
}

fn default_chunks_size() -> u64 {
    CHUNKS_SIZE
}

/// A whole number as a JSON integer (LeRobot's `fps` is an `int`).
fn integer_if_whole<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}
