//! Why learning stopped early.

use std::path::{Path, PathBuf};

use umwelt_models::dataset::DatasetError;
use umwelt_models::world_model::{CheckpointError, ModelError};
use umwelt_sim::SimError;

use crate::offline::train::TrainError;

/// Why learning stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// Bad options or an output directory in the way.
    #[error("{0}")]
    Setup(String),
    /// The dataset could not be read or written.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The model or trainer refused.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Training refused, or its checkpoint could not be written (boxed:
    /// it holds the causes above, and would make every result large).
    #[error(transparent)]
    Train(Box<TrainError>),
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The simulator or the robot behind its driver failed.
    #[error(transparent)]
    Plant(#[from] crate::offline::plant::PlantError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl From<TrainError> for LearnError {
    fn from(e: TrainError) -> Self {
        Self::Train(Box::new(e))
    }
}

/// Maps an I/O error on `path` to [`LearnError::Io`].
pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LearnError + '_ {
    move |source| LearnError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// [`umwelt_models::atomic::write_atomic`]: a crash leaves either the old
/// or the new file, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LearnError> {
    umwelt_models::atomic::write_atomic(path, bytes).map_err(io(path))
}
