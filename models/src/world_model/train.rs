//! Training: TD-MPC2's joint objective over a horizon, Adam, gradient
//! clipping, seeded; a custom loop (no burn `train` feature).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::checkpoint::Checkpoint;
use super::config::{ModelError, TrainConfig, WorldModelConfig};
use super::model::{WorldModel, min_of_heads, tensor_from_rows};
use super::nn::Mlp;
use super::normalize::Normalization;
use crate::dataset::Episode;

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
    /// minimum over two target heads drawn per optimiser step ([`target_pair`]).
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

/// A batch of `B` windows of `H + 1` normalised observations; plain data,
/// turned into tensors on whichever device evaluates it.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Sequences `B`.
    pub batch: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// `H + 1` rows-blocks of `B x obs_dim`.
    pub obs: Vec<Vec<f32>>,
    /// `H` blocks of `B x act_dim` (normalised).
    pub actions: Vec<Vec<f32>>,
    /// `H` blocks of `B` rewards.
    pub rewards: Vec<Vec<f32>>,
    /// `H` blocks of `B`: 1 where the step ended the episode by termination (no bootstrap).
    pub terminal: Vec<Vec<f32>>,
    /// `H` blocks of `B x act_dim` standard-normal noise for the policy at `z_t`.
    pub eps_policy: Vec<Vec<f32>>,
    /// `H` blocks of `B x act_dim` standard-normal noise for the policy at `z_{t+1}` (TD target).
    pub eps_target: Vec<Vec<f32>>,
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
    /// [`Trainer::record_validation`]).
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

/// Adam's state, to persist beside a checkpoint: the optimiser's record
/// (burnpack bytes, keyed by parameter id) and the model's parameter ids in
/// visit order, so that a model loaded later can take the same ids.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// Parameter ids of the model, in module visit order.
    pub param_ids: Vec<u64>,
    /// `ModuleOptimizer::into_bytes` of the optimiser.
    pub record: Vec<u8>,
}

/// Windows of `H + 1` observations from a set of episodes, normalised
/// once, sampled uniformly: the training data of a [`Trainer`], or held-out
/// episodes for validation ([`Trainer::evaluate`]).
#[derive(Clone, Debug)]
pub struct WindowSampler {
    episodes: Vec<Episode>,
    /// Cumulative count of windows per episode, for uniform sampling.
    windows: Vec<u64>,
    horizon: usize,
    obs_dim: usize,
    act_dim: usize,
}

impl WindowSampler {
    /// Windows of `horizon` steps of `episodes` (physical units), normalised
    /// with `norm`. Fails when an episode has other dimensions than `norm`,
    /// or no episode has `horizon` steps.
    pub fn new(
        norm: &Normalization,
        episodes: &[Episode],
        horizon: usize,
    ) -> Result<Self, ModelError> {
        let (od, ad) = (norm.obs_dim(), norm.act_dim());
        let mut normalized = Vec::with_capacity(episodes.len());
        let mut windows = Vec::with_capacity(episodes.len());
        let mut total = 0u64;
        for (i, e) in episodes.iter().enumerate() {
            if !e.is_empty() && (e.obs_dim() != od || e.act_dim() != ad) {
                return Err(ModelError::Data(format!(
                    "episode {i} has obs_dim {} and act_dim {}, the model {od} and {ad}",
                    e.obs_dim(),
                    e.act_dim()
                )));
            }
            let mut e = e.clone();
            norm.normalize_obs(&mut e.observations);
            norm.normalize_action(&mut e.actions);
            total += (e.len() + 1).saturating_sub(horizon) as u64;
            windows.push(total);
            normalized.push(e);
        }
        if total == 0 || horizon == 0 {
            return Err(ModelError::Data(format!(
                "no episode has {horizon} steps (the horizon)"
            )));
        }
        Ok(Self {
            episodes: normalized,
            windows,
            horizon,
            obs_dim: od,
            act_dim: ad,
        })
    }

    /// Number of distinct windows.
    pub fn windows(&self) -> u64 {
        self.windows.last().copied().unwrap_or(0)
    }

    /// The horizon `H` of the windows.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// A batch of `batch_size` windows drawn uniformly with `rng`, with the
    /// policy noise it needs.
    pub fn sample(&self, batch_size: usize, rng: &mut ChaCha8Rng) -> Batch {
        let (bsz, h) = (batch_size, self.horizon);
        let (od, ad) = (self.obs_dim, self.act_dim);
        // `new` guarantees at least one window.
        let total = self.windows().max(1);
        let mut batch = Batch {
            batch: bsz,
            horizon: h,
            obs: vec![Vec::with_capacity(bsz * od); h + 1],
            actions: vec![Vec::with_capacity(bsz * ad); h],
            rewards: vec![Vec::with_capacity(bsz); h],
            terminal: vec![Vec::with_capacity(bsz); h],
            eps_policy: vec![Vec::with_capacity(bsz * ad); h],
            eps_target: vec![Vec::with_capacity(bsz * ad); h],
        };
        for _ in 0..bsz {
            let w = rng.random_range(0..total);
            let ei = self.windows.partition_point(|&c| c <= w);
            let start = (w - if ei == 0 { 0 } else { self.windows[ei - 1] }) as usize;
            let e = &self.episodes[ei];
            for t in 0..=h {
                batch.obs[t].extend_from_slice(e.obs(start + t));
            }
            for t in 0..h {
                batch.actions[t].extend_from_slice(e.action(start + t));
                batch.rewards[t].push(e.rewards[start + t]);
                let end = start + t + 1 == e.len() && e.terminated;
                batch.terminal[t].push(end as u8 as f32);
            }
        }
        for t in 0..h {
            for _ in 0..bsz * ad {
                batch.eps_policy[t].push(StandardNormal.sample(rng));
                batch.eps_target[t].push(StandardNormal.sample(rng));
            }
        }
        batch
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
    /// The target Q ensemble starts as a copy of the online one, and Adam's
    /// moments start at zero unless [`Self::restore_optimizer_state`] is
    /// called. Batches are drawn from a stream seeded by the seed and the
    /// step count, so a resumed run does not repeat the first run's batches.
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
        let sampler = WindowSampler::new(&norm, episodes, config.horizon)?;
        // Detached copies (as every EMA update makes them): a plain
        // `no_grad` clone would share the online heads' tensors.
        let target_q = ema(model.q.clone(), &model.q, 1.0);
        let optim = AdamConfig::new()
            .with_grad_clipping(Some(GradientClippingConfig::Norm(config.grad_clip_norm)))
            .init();
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
        })
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &WorldModel {
        &self.model
    }

    /// The model for inference: autodiff dropped (`valid()`).
    pub fn inference_model(&self) -> WorldModel {
        self.model.valid()
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
        self.sampler = WindowSampler::new(&self.norm, episodes, self.config.horizon)?;
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
        WindowSampler::new(&self.norm, episodes, self.config.horizon)
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
        let t0 = Instant::now();
        let batch = self.sample_batch();
        self.apply(&batch, t0)
    }

    /// One optimiser step on `batch`; returns its loss terms (before the step).
    pub fn step_on(&mut self, batch: &Batch) -> LossTerms {
        self.apply(batch, Instant::now())
    }

    /// The step itself; its time since `t0` counts as training time.
    fn apply(&mut self, batch: &Batch, t0: Instant) -> LossTerms {
        let (loss, terms) = losses(
            &self.model,
            &self.target_q,
            self.target_pair(),
            &self.config,
            batch,
            &self.device,
        );
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let model = self.model.clone();
        self.model = self.optim.step(self.config.learning_rate, model, grads);
        self.target_q = ema(self.target_q.clone(), &self.model.q, self.config.target_tau);
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
        let model = self.model.valid();
        let target = self.target_q.valid();
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

    /// Adam's state and the parameter ids it is keyed by, to persist beside
    /// a checkpoint.
    pub fn optimizer_state(&self) -> Result<OptimizerState, ModelError> {
        let record = self
            .optim
            .into_bytes()
            .map_err(|e| ModelError::Data(format!("optimiser state: {e}")))?;
        let mut ids = Ids(Vec::new());
        self.model.visit(&mut ids);
        Ok(OptimizerState {
            param_ids: ids.0,
            record: record.to_vec(),
        })
    }

    /// Restores Adam's state saved by [`Self::optimizer_state`] from a run
    /// of the same architecture: the model's parameters take the saved ids
    /// (their values stay), then the optimiser loads its record.
    pub fn restore_optimizer_state(&mut self, state: &OptimizerState) -> Result<(), ModelError> {
        let mut ids = Ids(Vec::new());
        self.model.visit(&mut ids);
        if ids.0.len() != state.param_ids.len() {
            return Err(ModelError::Data(format!(
                "optimiser state has {} parameters, the model {}",
                state.param_ids.len(),
                ids.0.len()
            )));
        }
        let optim: ModuleOptimizer = AdamConfig::new()
            .with_grad_clipping(Some(GradientClippingConfig::Norm(
                self.config.grad_clip_norm,
            )))
            .init();
        let optim = optim
            .from_bytes(Bytes::from_bytes_vec(state.record.clone()))
            .map_err(|e| ModelError::Data(format!("optimiser state: {e}")))?;
        let mut reid = Reid(state.param_ids.clone().into_iter());
        self.model = self.model.clone().map(&mut reid);
        self.optim = optim;
        Ok(())
    }
}

/// Collects parameter ids in visit order.
struct Ids(Vec<u64>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
}

/// Gives parameters the ids it yields, in visit order.
struct Reid(std::vec::IntoIter<u64>);

impl ModuleMapper for Reid {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let id = self.0.next().map(ParamId::from).unwrap_or(id);
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// `dst` with the parameter values of `src` (same architecture), on
/// `device`, trainable; `dst` keeps its parameter ids.
fn copy_weights(
    src: &WorldModel,
    dst: WorldModel,
    device: &Device,
) -> Result<WorldModel, ModelError> {
    let mut values = Collect(Vec::new());
    src.visit(&mut values);
    let expected = dst.num_params();
    let found: usize = values.0.iter().map(|t| t.shape().num_elements()).sum();
    if found != expected {
        return Err(ModelError::Data(format!(
            "checkpoint weights have {found} values, the model {expected}"
        )));
    }
    let mut m = Copy {
        source: values.0.into_iter(),
        device: device.clone(),
    };
    Ok(dst.map(&mut m))
}

struct Copy {
    source: std::vec::IntoIter<Tensor<1>>,
    device: Device,
}

impl ModuleMapper for Copy {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(src) = self.source.next() else {
            return param;
        };
        let device = self.device.clone();
        param.map(|t| {
            let dims = t.dims();
            let data = src.into_data();
            Tensor::<1>::from_data(data, &device)
                .reshape(dims)
                .require_grad()
        })
    }
}

/// The two target Q heads whose minimum is the TD target of optimiser
/// step `step` of a run seeded `seed`, in an ensemble of `n >= 2` heads.
/// As TD-MPC2, the pair is drawn afresh from a larger ensemble at every
/// step: pessimistic enough to curb the overestimation a planner exploits,
/// less so than the minimum of all heads. The draw is a hash of seed and
/// step, not taken from the batch sampler, so the batches of a seed stay
/// the same whatever the ensemble's size, and a resumed run draws the same
/// pairs as an uninterrupted one. With two heads it is always both.
pub fn target_pair(seed: u64, step: u64, n: usize) -> (usize, usize) {
    // splitmix64's finaliser: consecutive steps give unrelated draws.
    let mut x = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let draw = x ^ (x >> 31);
    let n = n.max(2) as u64;
    let i = draw % n;
    let j = (i + 1 + (draw / n) % (n - 1)) % n;
    (i as usize, j as usize)
}

/// TD-MPC2's joint objective on one batch: the weighted total (a scalar
/// tensor to differentiate) and the separate terms.
///
/// Only the latent rollout is sequential; every head then runs once on all
/// `H x B` rows at once (`t`-major), with each row weighted by its step's
/// `rho^t`. In an eager backend a few large operations cost far less than
/// `H` times as many small ones.
fn losses(
    model: &WorldModel,
    target_q: &[Mlp],
    pair: (usize, usize),
    c: &TrainConfig,
    batch: &Batch,
    device: &Device,
) -> (Tensor<1>, LossTerms) {
    let (b, h) = (batch.batch, batch.horizon);
    let od = model.config.obs_dim;
    let ad = model.config.act_dim;
    let rows = |blocks: &[Vec<f32>], cols: usize| {
        let n = blocks.len();
        tensor_from_rows(blocks.concat(), n * b, cols, device)
    };
    let obs0 = tensor_from_rows(batch.obs[0].clone(), b, od, device);
    // `H x B` rows each, t-major.
    let obs_next = rows(&batch.obs[1..], od);
    let act = rows(&batch.actions, ad);
    let rew = rows(&batch.rewards, 1);
    let term = rows(&batch.terminal, 1);
    let eps_target = rows(&batch.eps_target, ad);
    let eps_policy = rows(&batch.eps_policy, ad);

    // Per-row weights: rho^t / (B sum_t rho^t), so that a weighted sum of
    // per-row means is the rho-weighted average over steps of batch means.
    let step_weights = |steps: usize| {
        let ws: Vec<f32> = (0..steps).map(|t| c.rho.powi(t as i32)).collect();
        let total: f32 = ws.iter().sum();
        let col: Vec<f32> = ws
            .iter()
            .flat_map(|w| std::iter::repeat_n(w / (total * b as f32), b))
            .collect();
        tensor_from_rows(col, steps * b, 1, device)
    };
    let w = step_weights(h);
    let weighted = |per_row: Tensor<2>, w: &Tensor<2>| per_row.mul(w.clone()).sum();

    // Targets: the encoder's latents of the true next observations, no gradient.
    let next_z = model.encode(obs_next).detach();

    // Latent rollout from the first observation.
    let mut zs = vec![model.encode(obs0)];
    for t in 0..h {
        let a_t = act.clone().narrow(0, t * b, b);
        let z = model.next(zs[t].clone(), a_t);
        zs.push(z);
    }
    let z_now = Tensor::cat(zs[..h].to_vec(), 0);
    let z_next = Tensor::cat(zs[1..].to_vec(), 0);

    let consistency = weighted(
        (z_next.clone() - next_z.clone()).powi_scalar(2).mean_dim(1),
        &w,
    );
    let reward = weighted(
        (model.reward(z_now.clone(), act.clone()) - rew.clone()).powi_scalar(2),
        &w,
    );

    // TD target from the true next latent and the policy prior's sample there.
    let a_next = model
        .policy_sample(next_z.clone(), eps_target)
        .action
        .detach();
    let q_next = min_of_heads(target_q, pair, Tensor::cat(vec![next_z, a_next], 1)).detach();
    let not_done = term.neg().add_scalar(1.0);
    let td = (rew + q_next.mul(not_done).mul_scalar(c.gamma)).detach();
    let qs = model.q_all(z_now.clone(), act.clone());
    let nq = qs.len() as f32;
    let mut value = Tensor::<1>::zeros([1], device);
    for q in qs {
        value = value + weighted((q - td.clone()).powi_scalar(2), &w);
    }
    let value = value.mul_scalar(1.0 / nq);

    // Policy prior on detached latents, scored by the target ensemble.
    let zd = z_now.clone().detach();
    let ps = model.policy_sample(zd.clone(), eps_policy);
    let x = Tensor::cat(vec![zd, ps.action], 1);
    let q_pi = (target_q[0].forward(x.clone()) + target_q[1].forward(x)).mul_scalar(0.5);
    let policy = weighted(ps.log_prob.mul_scalar(c.entropy_coef) - q_pi, &w);

    // Inverse dynamics between successive predicted latents.
    let a_inv = model.inverse(z_now, z_next);
    let inverse = weighted((a_inv - act).powi_scalar(2).mean_dim(1), &w);

    // Observation decoder on the rolled-out latents, t = 0..=H, with
    // gradients into the encoder and the dynamics: it ties every predicted
    // latent to an observation, so multi-step predictions can be measured.
    let all_z = Tensor::cat(zs, 0);
    let all_obs = rows(&batch.obs, od);
    let decoder = weighted(
        (model.decode(all_z) - all_obs).powi_scalar(2).mean_dim(1),
        &step_weights(h + 1),
    );

    let total = consistency.clone().mul_scalar(c.consistency_coef)
        + reward.clone().mul_scalar(c.reward_coef)
        + value.clone().mul_scalar(c.value_coef)
        + policy.clone().mul_scalar(c.policy_coef)
        + inverse.clone().mul_scalar(c.inverse_coef)
        + decoder.clone().mul_scalar(c.decoder_coef);
    let s = |t: &Tensor<1>| t.clone().into_scalar::<f32>();
    let terms = LossTerms {
        consistency: s(&consistency),
        reward: s(&reward),
        value: s(&value),
        policy: s(&policy),
        inverse: s(&inverse),
        decoder: s(&decoder),
        total: s(&total),
    };
    (total, terms)
}

struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach();
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

struct Ema {
    source: std::vec::IntoIter<Tensor<1>>,
    tau: f32,
}

impl ModuleMapper for Ema {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let src = self.source.next().expect("same structure");
        let tau = self.tau;
        param.map(|t| {
            let dims = t.dims();
            let src: Tensor<D> = src.reshape(dims);
            (t.detach().mul_scalar(1.0 - tau) + src.mul_scalar(tau)).detach()
        })
    }
}

/// `target <- (1 - tau) target + tau online`, without gradient.
fn ema(target: Vec<Mlp>, online: &Vec<Mlp>, tau: f32) -> Vec<Mlp> {
    let mut c = Collect(Vec::new());
    online.visit(&mut c);
    let mut m = Ema {
        source: c.0.into_iter(),
        tau,
    };
    target.map(&mut m).no_grad()
}

#[cfg(test)]
mod tests {
    use super::target_pair;

    #[test]
    fn target_pairs_are_distinct_heads_and_cover_every_pair() {
        for n in [2usize, 3, 5] {
            let mut seen = std::collections::BTreeSet::new();
            for step in 0..1000u64 {
                let (i, j) = target_pair(7, step, n);
                assert!(i < n && j < n && i != j, "n {n}, step {step}: ({i}, {j})");
                seen.insert((i.min(j), i.max(j)));
            }
            assert_eq!(seen.len(), n * (n - 1) / 2, "n {n}: pairs {seen:?}");
        }
        // Of five heads, every pair about equally often (1000 steps: ~100 each).
        let mut counts = std::collections::BTreeMap::new();
        for step in 0..1000u64 {
            let (i, j) = target_pair(3, step, 5);
            *counts.entry((i.min(j), i.max(j))).or_insert(0) += 1;
        }
        assert!(
            counts.values().all(|&c| (60..=140).contains(&c)),
            "{counts:?}"
        );
        // Deterministic in seed and step.
        assert_eq!(target_pair(1, 42, 5), target_pair(1, 42, 5));
    }
}
