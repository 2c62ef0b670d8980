//! Why training could not start or had to stop.

use std::path::PathBuf;

use umwelt_models::dataset::DatasetError;
use umwelt_models::world_model::{CheckpointError, ModelError};

/// Why training could not start or had to stop. Each variant that wraps a
/// cause keeps it as its `source`, so that a caller printing the chain reads
/// the whole story once.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Bad options, an output in the way, too little data, or divergence.
    #[error("{0}")]
    Setup(String),
    /// The checkpoint to resume could not be read.
    #[error("cannot resume {}", .path.display())]
    Resume {
        /// The checkpoint.
        path: PathBuf,
        /// Why (boxed, as are the other causes beside a context, to keep
        /// the error small).
        #[source]
        source: Box<CheckpointError>,
    },
    /// The checkpoint to resume was trained on another robot or task.
    #[error(
        "cannot resume {} on {}: the dataset's spec differs from the checkpoint's \
         (each difference: dataset value vs checkpoint value)",
        .path.display(),
        .data.display()
    )]
    Spec {
        /// The checkpoint.
        path: PathBuf,
        /// The dataset directory.
        data: PathBuf,
        /// The differences.
        #[source]
        source: Box<CheckpointError>,
    },
    /// An episode does not hold each action for the model's action repeat.
    #[error(
        "{}: episode {index} cannot train a model with --action-repeat {repeat} \
         (collect with `umwelt collect --hold {repeat}`)",
        .data.display()
    )]
    Blocks {
        /// The dataset directory.
        data: PathBuf,
        /// The episode's place in the dataset.
        index: usize,
        /// The action repeat.
        repeat: u32,
        /// Why the episode cannot be cut into blocks.
        #[source]
        source: Box<DatasetError>,
    },
    /// The held-out episodes are all shorter than the loss's horizon.
    #[error("the {episodes} held-out episode(s) have no window of {horizon} steps")]
    Validation {
        /// Held-out episodes.
        episodes: usize,
        /// The horizon.
        horizon: usize,
        /// The sampler's error.
        #[source]
        source: Box<ModelError>,
    },
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The model or trainer refused.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}
