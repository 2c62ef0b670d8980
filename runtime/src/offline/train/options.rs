//! What `umwelt train` is asked to do, as plain data.

use std::path::PathBuf;

use umwelt_models::world_model::TrainEngine;

use crate::offline::learn::ObsMode;

/// The options of one training run ([`super::Training::prepare`]). A
/// hyper-parameter or model size left `None` keeps the resumed
/// checkpoint's value, or for a new model the default; the messages name
/// each option by its `umwelt train` flag.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    /// Dataset directory (from `umwelt collect`).
    pub data: PathBuf,
    /// Checkpoint file to write; an existing file is never replaced unless
    /// it is the `resume` checkpoint itself, or `force` is set.
    pub out: PathBuf,
    /// Optimiser steps to take in this run (added to a resumed checkpoint's).
    pub steps: u64,
    /// Continue training this checkpoint (weights, normalisation, step count,
    /// hyper-parameters, and Adam's moments from its sidecar where present
    /// and current).
    pub resume: Option<PathBuf>,
    /// Control steps per model step [default: 1; on resume, the
    /// checkpoint's, which cannot change].
    pub action_repeat: Option<u32>,
    /// Replace `out` if it exists.
    pub force: bool,
    /// Share of the episodes held out for validation (at least one episode).
    pub val_fraction: f64,
    /// Measure validation losses every this many steps (0: only at the end).
    pub eval_every: u64,
    /// Batches of held-out windows per validation (fixed for the whole run).
    pub val_batches: usize,
    /// Save the checkpoint every this many steps (0: only at the end).
    pub save_every: u64,
    /// Prediction report: every this-many-th step of the held-out episodes
    /// is a start.
    pub eval_stride: usize,
    /// Sequences per batch.
    pub batch_size: Option<usize>,
    /// Unrolled horizon of the loss.
    pub horizon: Option<usize>,
    /// Adam learning rate.
    pub lr: Option<f64>,
    /// Weight of the observation-decoder loss.
    pub decoder_coef: Option<f32>,
    /// Seed of initialisation, batch sampling and the held-out split.
    pub seed: Option<u64>,
    /// Discount of the value targets.
    pub gamma: Option<f32>,
    /// Width of every hidden layer; new models only.
    pub hidden: Option<usize>,
    /// Hidden layers of the dynamics, reward, inverse and decoder networks;
    /// new models only.
    pub hidden_layers: Option<usize>,
    /// Hidden layers of the encoder, Q heads and policy prior; new models only.
    pub head_layers: Option<usize>,
    /// No LayerNorm after the hidden layers; new models only.
    pub no_layer_norm: bool,
    /// Latent size, a multiple of 8; new models only.
    pub latent: Option<usize>,
    /// What a new model learns from [default: state; on resume, the
    /// checkpoint's, which cannot change]: `pixels` and `both` need the
    /// dataset's camera frames (`umwelt collect --camera`).
    pub obs: Option<ObsMode>,
    /// The camera whose frames the dataset holds (its name in sensor
    /// frames, which a controller using the model reads); with `obs`
    /// pixels or both.
    pub camera: Option<String>,
    /// How each step is computed; `None`: on resume, the engine of the
    /// checkpoint's Adam sidecar (so that its moments continue), else
    /// `fused` on the CPU and `burn` on a GPU. `fused` runs on the CPU
    /// only; an engine other than the sidecar's restarts Adam's moments.
    pub engine: Option<TrainEngine>,
    /// Threads each step's gradient is computed on (at least 1): a fixed
    /// count, so a run is the same on every machine.
    pub threads: usize,
}
