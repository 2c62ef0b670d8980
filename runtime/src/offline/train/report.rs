//! What a training run reports: as it goes ([`TrainEvent`]) and at the end
//! ([`TrainReport`], the document `umwelt train --json` prints).

use serde::Serialize;
use umwelt_models::dataset::DatasetSpec;
use umwelt_models::world_model::{
    LossTerms, PredictionReport, TrainConfig, ValidationLosses, WorldModelConfig,
};

/// What [`super::Training::run`] reports as it goes.
#[derive(Debug)]
pub enum TrainEvent<'a> {
    /// One optimiser step was taken; its (finite) losses.
    Stepped(&'a LossTerms),
    /// The held-out batches were measured.
    Validated {
        /// Optimiser steps of the model so far (all runs).
        steps: u64,
        /// Their mean losses.
        losses: &'a LossTerms,
    },
    /// The steps are over (all taken, or stopped); the final measurements
    /// and the save follow.
    StepsDone,
    /// Something went wrong that does not stop training (e.g. no prediction
    /// report); the run goes on.
    Warning(String),
}

/// The outcome of a training run (serialised as `umwelt train --json`).
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// The checkpoint written.
    pub out: String,
    /// The dataset directory.
    pub data: String,
    /// The checkpoint resumed, if any.
    pub resumed_from: Option<String>,
    /// Robot of the dataset.
    pub robot: String,
    /// Task of the dataset.
    pub task: String,
    /// Observation names.
    pub observation: Vec<String>,
    /// Control steps per model step.
    pub action_repeat: u32,
    /// Optimiser steps of the checkpoint (all runs).
    pub steps: u64,
    /// Optimiser steps of this run.
    pub steps_this_run: u64,
    /// Whether the stop flag ended the run early.
    pub stopped: bool,
    /// Seconds from [`super::Training::prepare`] to the end.
    pub wall_seconds: f64,
    /// Seconds in optimiser steps in this run.
    pub train_seconds: f64,
    /// Optimiser steps per second of `train_seconds` (0 without any).
    pub steps_per_second: f64,
    /// Adam's moments: `new`, `restored` (from the sidecar) or `restarted`.
    pub adam: &'static str,
    /// The engine that computed the steps: `burn` or `fused`.
    pub engine: &'static str,
    /// Threads each step's gradient was computed on.
    pub threads: usize,
    /// Episodes trained on.
    pub train_episodes: usize,
    /// File numbers of the held-out episodes.
    pub validation_episodes: Vec<usize>,
    /// Transitions trained on (model steps).
    pub transitions: u64,
    /// Parameters of the model.
    pub parameters: usize,
    /// The model's sizes.
    pub model: WorldModelConfig,
    /// The hyper-parameters.
    pub config: TrainConfig,
    /// Losses of the final model on fixed training batches.
    pub final_train_losses: LossTerms,
    /// Losses of the final model on the held-out batches.
    pub final_validation_losses: LossTerms,
    /// Every validation of the checkpoint (all runs).
    pub validation: Vec<ValidationLosses>,
    /// The prediction report on the held-out episodes, where one could be made.
    pub prediction: Option<PredictionReport>,
    /// The dataset's spec (not serialised: `robot`, `task` and
    /// `observation` name it), for printing the prediction report.
    #[serde(skip)]
    pub spec: DatasetSpec,
}
