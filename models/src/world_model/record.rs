//! What training leaves behind for checkpoints: the loss terms of a batch,
//! the summary of a run, validation losses, and Adam's persisted state.
//!
//! A module of its own so that dependencies run one way: `checkpoint`
//! stores these records, `train` fills them and resumes from a checkpoint.

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;

/// The loss terms of one batch, each averaged over the batch and the
/// horizon (weighted by `rho^t`), before the coefficients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossTerms {
    /// Latent consistency: `|dyn^t(enc(o_0), a) - sg(enc(o_t))|^2` per latent component.
    pub consistency: f32,
    /// Reward regression (MSE, normalised actions, physical rewards).
    pub reward: f32,
    /// TD value regression of every Q head against `r + gamma * min Q_target(z', pi(z'))`, the
    /// minimum over two target heads drawn per optimiser step
    /// ([`target_pair`](super::train::target_pair)).
    pub value: f32,
    /// Policy prior: `entropy_coef * log pi - mean Q_target(z, pi(z))` (the first two heads).
    pub policy: f32,
    /// Inverse dynamics: MSE of `inv(z_t, z_{t+1})` against the normalised action.
    pub inverse: f32,
    /// Observation decoder: MSE of `dec(z_t)` against the normalised `o_t`
    /// for `t = 0..=H`, `z_t` rolled out by the dynamics from `enc(o_0)`.
    pub decoder: f32,
    /// `sum coef * term`.
    pub total: f32,
}

/// Summary of a training run, stored in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSummary {
    /// Optimiser steps taken (over all runs, when resumed).
    pub steps: u64,
    /// Episodes trained on (in the latest run).
    pub episodes: usize,
    /// Steps (transitions) in those episodes.
    pub transitions: u64,
    /// How many of `episodes` are hindsight copies of others (goal
    /// relabelling, `umwelt learn --relabel`), not recorded episodes; 0 in
    /// checkpoints written before the count was kept.
    pub hindsight_episodes: usize,
    /// Held-out episodes validated on (in the latest run), 0 if none.
    pub validation_episodes: usize,
    /// The hyper-parameters (of the latest run).
    pub config: TrainConfig,
    /// Loss terms of the first step.
    pub first_losses: Option<LossTerms>,
    /// Loss terms of the last step.
    pub last_losses: Option<LossTerms>,
    /// Validation losses on held-out episodes, in step order (see
    /// [`Trainer::record_validation`](super::Trainer::record_validation)).
    pub validation: Vec<ValidationLosses>,
    /// Seconds spent in optimiser steps (sampling, forward, backward,
    /// update), over all runs; without validation and saving. Kept to whole
    /// microseconds, so that it survives JSON exactly.
    pub train_seconds: f64,
}

/// Validation losses at one point of training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationLosses {
    /// Optimiser steps taken when measured.
    pub step: u64,
    /// The loss terms, averaged over the validation batches.
    pub losses: LossTerms,
}

/// A trainer's state beyond its weights, to persist beside a checkpoint:
/// Adam's record (burnpack bytes keyed by parameter id, or the fused
/// engine's) with the model's parameter ids in visit order, so that a model
/// loaded later can take the same ids; and, from sidecars of version 4 on,
/// what else the next step depends on ([`ResumeState`]).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// Parameter ids of the model, in module visit order.
    pub param_ids: Vec<u64>,
    /// `ModuleOptimizer::into_bytes` of the optimiser, or the fused
    /// engine's moments.
    pub record: Vec<u8>,
    /// The target heads and the batch generator's position; `None` in a
    /// sidecar written before version 4 (the target heads then restart
    /// from the online ones and batches from a fresh generator).
    pub resume: Option<ResumeState>,
}

/// What a trainer's next step depends on besides its weights and Adam: with
/// it, training resumed from a checkpoint takes the steps the uninterrupted
/// run would have taken, bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct ResumeState {
    /// The target Q heads' values, flat in module visit order (finite).
    pub target_q: Vec<f32>,
    /// The batch generator (ChaCha8): its seed, stream and word position.
    pub rng_seed: [u8; 32],
    /// The generator's stream.
    pub rng_stream: u64,
    /// The generator's position in its stream, in 32-bit words.
    pub rng_word_pos: u128,
}
