//! Training: TD-MPC2's joint objective over a horizon, Adam, gradient
//! clipping, seeded; a custom loop (no burn `train` feature). This module
//! holds the [`Trainer`] and its step; the objective, the data sampler,
//! the optimiser and the parameter copies live in the modules below.

mod flops;
mod fused;
mod objective;
mod optimizer;
mod parallel;
mod params;
mod sampler;

pub use flops::{UpdateFlops, update_flops};
pub use sampler::{Batch, WindowSampler};

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

use crate::dataset::Episode;
use crate::world_model::checkpoint::Checkpoint;
use crate::world_model::config::{ModelError, TrainConfig, WorldModelConfig};
use crate::world_model::model::WorldModel;
use crate::world_model::nn::Mlp;
use crate::world_model::normalize::Normalization;
use crate::world_model::record::{LossTerms, TrainSummary, ValidationLosses};
use fused::{Fused, unsupported};
use objective::{losses, target_pair};
use optimizer::adam;
use params::{copy_weights, ema};

/// Wall time of the phases of one optimiser step ([`Trainer::step_timed`]),
/// seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTimes {
    /// Drawing the batch of windows.
    pub sample_s: f64,
    /// The objective's forward pass (every loss term).
    pub forward_s: f64,
    /// Back-propagation to every parameter's gradient.
    pub backward_s: f64,
    /// Forward and backward together, when they ran on several threads
    /// ([`Trainer::set_threads`]; `forward_s` and `backward_s` are then 0).
    pub gradient_s: f64,
    /// Adam with gradient clipping.
    pub optimizer_s: f64,
    /// The target Q heads' Polyak update.
    pub target_s: f64,
}

impl StepTimes {
    /// All phases together.
    pub fn total_s(&self) -> f64 {
        self.sample_s
            + self.forward_s
            + self.backward_s
            + self.gradient_s
            + self.optimizer_s
            + self.target_s
    }
}

/// How a [`Trainer`] computes its optimiser steps: the same objective,
/// Adam and target update either way, up to floating-point rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainEngine {
    /// burn's autodiff and optimiser on the trainer's device (every model,
    /// every backend).
    #[default]
    Burn,
    /// The hand-written step on the CPU ([`fused`]), convolutions included,
    /// several times faster than burn's on the CPU (`umwelt bench train`).
    Fused,
}

impl TrainEngine {
    /// Its name on command lines and in files: `burn` or `fused`.
    pub fn name(self) -> &'static str {
        match self {
            TrainEngine::Burn => "burn",
            TrainEngine::Fused => "fused",
        }
    }

    /// Why `config`'s models cannot train with this engine (`None`: they can).
    pub fn unsupported(self, config: &WorldModelConfig) -> Option<&'static str> {
        match self {
            TrainEngine::Burn => None,
            TrainEngine::Fused => unsupported(config),
        }
    }
}

impl std::str::FromStr for TrainEngine {
    type Err = String;

    /// `burn` or `fused`; anything else is an error naming both.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "burn" => Ok(TrainEngine::Burn),
            "fused" => Ok(TrainEngine::Fused),
            other => Err(format!("unknown training engine `{other}` (burn or fused)")),
        }
    }
}

/// Trains a [`WorldModel`] on episodes.
pub struct Trainer {
    model: WorldModel,
    target_q: Vec<Mlp>,
    optim: ModuleOptimizer,
    config: TrainConfig,
    norm: Normalization,
    sampler: WindowSampler,
    rng: ChaCha8Rng,
    device: Device,
    summary: TrainSummary,
    threads: usize,
    /// The fused engine's state when it is the engine: then it, not
    /// `model`, `target_q` and `optim`, holds the current values.
    fused: Option<Fused>,
}

impl Trainer {
    /// A trainer for a new model of `model_config` on `episodes` (physical
    /// units; normalised here with `norm`). `device` is a plain device
    /// (e.g. `Device::flex()`); training runs on its autodiff version.
    ///
    /// Fails when the configs are invalid, the normalisation or an episode
    /// has other dimensions than the model, or no episode has `horizon` steps.
    pub fn new(
        model_config: &WorldModelConfig,
        config: TrainConfig,
        norm: Normalization,
        episodes: &[Episode],
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate().map_err(ModelError::Config)?;
        let device = device.clone().autodiff();
        let model = WorldModel::new(model_config, config.seed, &device)?;
        Self::with_model(
            model,
            config,
            norm,
            episodes,
            device,
            TrainSummary::default(),
        )
    }

    /// A trainer that continues training `checkpoint` (weights,
    /// normalisation, step count and summary) on `episodes` with `config`
    /// (pass `checkpoint.meta.train.config` to keep its hyper-parameters).
    /// Until [`Self::restore_optimizer_state`] brings back the saved ones,
    /// the target Q ensemble starts as a copy of the online one, Adam's
    /// moments at zero, and batches are drawn from a stream seeded by the
    /// seed and the step count (so a run resumed without its sidecar does
    /// not repeat the first run's batches).
    pub fn resume(
        checkpoint: &Checkpoint,
        config: TrainConfig,
        episodes: &[Episode],
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate().map_err(ModelError::Config)?;
        let device = device.clone().autodiff();
        let fresh = WorldModel::new(&checkpoint.meta.model, config.seed, &device)?;
        let model = copy_weights(&checkpoint.model, fresh, &device)?;
        Self::with_model(
            model,
            config,
            checkpoint.meta.normalization.clone(),
            episodes,
            device,
            checkpoint.meta.train.clone(),
        )
    }

    fn with_model(
        model: WorldModel,
        config: TrainConfig,
        norm: Normalization,
        episodes: &[Episode],
        device: Device,
        previous: TrainSummary,
    ) -> Result<Self, ModelError> {
        let (od, ad) = (model.config.obs_dim, model.config.act_dim);
        if norm.obs_dim() != od || norm.act_dim() != ad {
            return Err(ModelError::Data(format!(
                "normalisation has obs_dim {} and act_dim {}, the model {od} and {ad}",
                norm.obs_dim(),
                norm.act_dim()
            )));
        }
        let sampler = WindowSampler::with_pixels(
            &norm,
            episodes,
            config.horizon,
            model.config.pixels.as_ref(),
        )?;
        // Detached copies (as every EMA update makes them): a plain
        // `no_grad` clone would share the online heads' tensors.
        let target_q = ema(model.q.clone(), &model.q, 1.0);
        let optim = adam(config.grad_clip_norm);
        let summary = TrainSummary {
            episodes: episodes.len(),
            transitions: episodes.iter().map(|e| e.len() as u64).sum(),
            // These episodes are recorded ones until the caller says otherwise.
            hindsight_episodes: 0,
            config: config.clone(),
            ..previous
        };
        let stream = config.seed ^ 0x5eed_ba7c ^ summary.steps.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let rng = ChaCha8Rng::seed_from_u64(stream);
        Ok(Self {
            model,
            target_q,
            optim,
            config,
            norm,
            sampler,
            rng,
            device,
            summary,
            threads: 1,
            fused: None,
        })
    }

    /// Computes each step's gradient on `threads` threads (at least 1), the
    /// batch split between them ([`parallel`]): the same step up to the
    /// order of floating-point sums, deterministic for a thread count; 1
    /// (the default) is the one-thread computation, bit for bit as before.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Threads each step's gradient is computed on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Chooses how the following steps are computed ([`TrainEngine`]).
    /// Switching keeps the parameters and the target heads but starts
    /// Adam's moments afresh: choose before the first step, or restore an
    /// optimiser state after (a saved state picks its own engine, see
    /// [`Self::restore_optimizer_state`]). An error, changing nothing, for
    /// a model the engine does not support.
    pub fn set_engine(&mut self, engine: TrainEngine) -> Result<(), ModelError> {
        if engine == self.engine() {
            return Ok(());
        }
        match engine {
            TrainEngine::Fused => {
                self.fused = Some(Fused::new(&self.model, &self.target_q)?);
            }
            TrainEngine::Burn => {
                if let Some(f) = self.fused.take() {
                    self.model = f.write_model(self.model.clone());
                    self.target_q = f.write_targets(self.target_q.clone());
                }
            }
        }
        self.optim = adam(self.config.grad_clip_norm);
        Ok(())
    }

    /// The engine the steps are computed with.
    pub fn engine(&self) -> TrainEngine {
        if self.fused.is_some() {
            TrainEngine::Fused
        } else {
            TrainEngine::Burn
        }
    }

    /// The sizes of the model being trained.
    pub fn model_config(&self) -> &WorldModelConfig {
        &self.model.config
    }

    /// The model being trained, at its current values (on the autodiff
    /// device).
    pub fn model(&self) -> WorldModel {
        match &self.fused {
            Some(f) => f.write_model(self.model.clone()),
            None => self.model.clone(),
        }
    }

    /// The target Q heads at their current values.
    fn targets(&self) -> Vec<Mlp> {
        match &self.fused {
            Some(f) => f.write_targets(self.target_q.clone()),
            None => self.target_q.clone(),
        }
    }

    /// The model for inference: autodiff dropped (`valid()`).
    pub fn inference_model(&self) -> WorldModel {
        self.model().valid()
    }

    /// The normalisation the model trains under.
    pub fn normalization(&self) -> &Normalization {
        &self.norm
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// What training did so far.
    pub fn summary(&self) -> &TrainSummary {
        &self.summary
    }

    /// Replaces the training episodes (physical units), e.g. the growing
    /// dataset of a learning loop; model, optimiser and step count stay.
    /// They count as recorded episodes until [`Self::set_hindsight_episodes`].
    pub fn set_episodes(&mut self, episodes: &[Episode]) -> Result<(), ModelError> {
        self.sampler = self.sampler_for(episodes)?;
        self.summary.episodes = episodes.len();
        self.summary.transitions = episodes.iter().map(|e| e.len() as u64).sum();
        self.summary.hindsight_episodes = 0;
        Ok(())
    }

    /// Records how many of the training episodes are hindsight copies (see
    /// [`TrainSummary::hindsight_episodes`]); the trainer cannot tell them
    /// from recorded ones.
    pub fn set_hindsight_episodes(&mut self, copies: usize) {
        self.summary.hindsight_episodes = copies;
    }

    /// Windows of `episodes` (physical units) under this trainer's
    /// normalisation and horizon, e.g. held-out episodes for validation.
    pub fn sampler_for(&self, episodes: &[Episode]) -> Result<WindowSampler, ModelError> {
        WindowSampler::with_pixels(
            &self.norm,
            episodes,
            self.config.horizon,
            self.model.config.pixels.as_ref(),
        )
    }

    /// Records validation losses at the current step in the summary, and
    /// how many held-out episodes they come from.
    pub fn record_validation(&mut self, losses: LossTerms, episodes: usize) {
        self.summary.validation_episodes = episodes;
        self.summary.validation.push(ValidationLosses {
            step: self.summary.steps,
            losses,
        });
    }

    /// Samples a batch with the trainer's own RNG.
    pub fn sample_batch(&mut self) -> Batch {
        let mut rng = self.rng.clone();
        let b = self.sample_batch_with(&mut rng);
        self.rng = rng;
        b
    }

    /// Samples a batch of training windows with `rng` (e.g. a fixed evaluation batch).
    pub fn sample_batch_with(&self, rng: &mut ChaCha8Rng) -> Batch {
        self.sampler.sample(self.config.batch_size, rng)
    }

    /// One optimiser step on a fresh batch; returns its loss terms (before the step).
    pub fn step(&mut self) -> LossTerms {
        self.step_timed().0
    }

    /// [`Self::step`], with the wall time of each of its phases. burn's CPU
    /// backend runs every operation when it is called, so each phase's
    /// time is its own work (on a GPU backend, work queued in one phase
    /// may be waited for in a later one).
    pub fn step_timed(&mut self) -> (LossTerms, StepTimes) {
        let t0 = Instant::now();
        let batch = self.sample_batch();
        let sample_s = t0.elapsed().as_secs_f64();
        let (terms, mut times) = self.apply(&batch, t0);
        times.sample_s = sample_s;
        (terms, times)
    }

    /// One optimiser step on `batch`; returns its loss terms (before the step).
    pub fn step_on(&mut self, batch: &Batch) -> LossTerms {
        self.apply(batch, Instant::now()).0
    }

    /// The step itself; its time since `t0` counts as training time.
    fn apply(&mut self, batch: &Batch, t0: Instant) -> (LossTerms, StepTimes) {
        let mut times = StepTimes::default();
        let mut lap = Instant::now();
        let mut split = |into: &mut f64| {
            let now = Instant::now();
            *into = (now - lap).as_secs_f64();
            lap = now;
        };
        let pair = self.target_pair();
        if let Some(f) = self.fused.as_mut() {
            let (terms, t) = f.step(batch, pair, &self.config, self.threads);
            times.gradient_s = t.gradient_s;
            times.optimizer_s = t.optimizer_s;
            times.target_s = t.target_s;
            return (self.count_step(terms, t0), times);
        }
        let (grads, terms) = if self.threads > 1 {
            // Forward and backward run together on every thread.
            let r = parallel::gradients(
                &self.model,
                &self.target_q,
                self.target_pair(),
                &self.config,
                batch,
                &self.device,
                self.threads,
            );
            split(&mut times.gradient_s);
            r
        } else {
            let (loss, terms) = losses(
                &self.model,
                &self.target_q,
                self.target_pair(),
                &self.config,
                batch,
                &self.device,
            );
            split(&mut times.forward_s);
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            split(&mut times.backward_s);
            (grads, terms)
        };
        let model = self.model.clone();
        self.model = self.optim.step(self.config.learning_rate, model, grads);
        split(&mut times.optimizer_s);
        self.target_q = ema(self.target_q.clone(), &self.model.q, self.config.target_tau);
        split(&mut times.target_s);
        (self.count_step(terms, t0), times)
    }

    /// Records a step taken (its losses, the training time since `t0`).
    fn count_step(&mut self, terms: LossTerms, t0: Instant) -> LossTerms {
        self.summary.steps += 1;
        if self.summary.first_losses.is_none() {
            self.summary.first_losses = Some(terms);
        }
        self.summary.last_losses = Some(terms);
        let total = self.summary.train_seconds + t0.elapsed().as_secs_f64();
        self.summary.train_seconds = (total * 1e6).round() / 1e6;
        terms
    }

    /// The loss terms of `batch` under the current parameters, without
    /// autodiff and without changing anything.
    pub fn evaluate(&self, batch: &Batch) -> LossTerms {
        let model = self.model().valid();
        let target = self.targets().valid();
        let device = model.device();
        losses(
            &model,
            &target,
            self.target_pair(),
            &self.config,
            batch,
            &device,
        )
        .1
    }

    /// The target heads of the next optimiser step ([`target_pair`]).
    fn target_pair(&self) -> (usize, usize) {
        target_pair(self.config.seed, self.summary.steps, self.target_q.len())
    }
}
