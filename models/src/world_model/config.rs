//! Sizes and training hyper-parameters of the world model.

use serde::{Deserialize, Serialize};

use super::pixels::PixelConfig;

/// The largest observation, action, latent or hidden size a model may have
/// (checked before anything is allocated, e.g. for a checkpoint's sizes).
pub const MAX_MODEL_WIDTH: usize = 65_536;
/// The most hidden layers of any of a model's networks.
pub const MAX_MODEL_LAYERS: usize = 64;
/// The most Q heads.
pub const MAX_Q_HEADS: usize = 64;

/// One MLP's widths: `d_in -> hidden x layers -> d_out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MlpShape {
    pub d_in: usize,
    pub layers: usize,
    pub d_out: usize,
}

/// The widths of each of a world model's MLPs ([`WorldModelConfig::shapes`]);
/// `q` is every Q head's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NetworkShapes {
    pub encoder: MlpShape,
    pub dynamics: MlpShape,
    pub reward: MlpShape,
    pub q: MlpShape,
    pub policy: MlpShape,
    pub inverse: MlpShape,
    pub decoder: MlpShape,
}

/// Architecture of a [`super::WorldModel`]. Serialised into every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorldModelConfig {
    /// Length of an observation vector.
    pub obs_dim: usize,
    /// Length of an action vector.
    pub act_dim: usize,
    /// Length of a latent state; a multiple of `simnorm_group`.
    pub latent_dim: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Hidden layers of the networks a planning rollout runs at every step
    /// (dynamics, reward), and of the inverse-dynamics and decoder heads.
    pub hidden_layers: usize,
    /// Hidden layers of the encoder, the Q heads and the policy prior. The
    /// planner runs the Q heads and the policy on every sample's last latent,
    /// so each layer here costs about a fifth more plan time; one layer
    /// learned as well as two (docs/results/planning.md).
    pub head_layers: usize,
    /// LayerNorm after every hidden layer, before the ReLU (as TD-MPC2):
    /// keeps TD learning of the Q heads stable as values grow.
    pub layer_norm: bool,
    /// SimNorm group size: the latent is `latent_dim / simnorm_group` softmaxes.
    pub simnorm_group: usize,
    /// Number of Q heads in the value ensemble.
    pub num_q: usize,
    /// Lower bound of the policy's log standard deviation.
    pub log_std_min: f32,
    /// Upper bound of the policy's log standard deviation.
    pub log_std_max: f32,
    /// Camera images in front of the encoder ([`super::PixelEncoder`]);
    /// `None` for a model of the observation vector alone.
    pub pixels: Option<PixelConfig>,
}

impl Default for WorldModelConfig {
    fn default() -> Self {
        Self {
            obs_dim: 0,
            act_dim: 0,
            latent_dim: 64,
            // 128, not TD-MPC2's wider layers: a plan of 8192 latent
            // sample-steps must fit a 10 ms tick on two cores without
            // AVX-512 (`umwelt bench plan`: ~3.5 ms at 128, ~7.6 ms at 256).
            hidden: 128,
            hidden_layers: 1,
            head_layers: 1,
            layer_norm: true,
            simnorm_group: 8,
            num_q: 2,
            log_std_min: -10.0,
            log_std_max: 2.0,
            pixels: None,
        }
    }
}

impl WorldModelConfig {
    /// The default sizes for `obs_dim` observations and `act_dim` actions.
    pub fn new(obs_dim: usize, act_dim: usize) -> Self {
        Self {
            obs_dim,
            act_dim,
            ..Self::default()
        }
    }

    /// The sizes of checkpoints written before `head_layers` and
    /// `layer_norm` existed (format version 2): every network
    /// `hidden_layers` deep, no normalisation.
    pub fn legacy(mut self) -> Self {
        self.head_layers = self.hidden_layers;
        self.layer_norm = false;
        self
    }

    /// Every MLP's widths, as [`super::WorldModel::new`] builds them (the
    /// one place that knows which network reads and writes what).
    pub(crate) fn shapes(&self) -> NetworkShapes {
        let (l, o, a, n, k) = (
            self.latent_dim,
            self.obs_dim,
            self.act_dim,
            self.hidden_layers,
            self.head_layers,
        );
        let mlp = |d_in, layers, d_out| MlpShape {
            d_in,
            layers,
            d_out,
        };
        NetworkShapes {
            encoder: mlp(self.encoder_input_dim(), k, l),
            dynamics: mlp(l + a, n, l),
            reward: mlp(l + a, n, 1),
            q: mlp(l + a, k, 1),
            policy: mlp(l, k, 2 * a),
            inverse: mlp(2 * l, n, a),
            decoder: mlp(l, n, o),
        }
    }

    /// Length of the encoder MLP's input: the observation vector, or a
    /// pixel model's convolution features (followed by the observation
    /// vector when it reads both).
    pub fn encoder_input_dim(&self) -> usize {
        match &self.pixels {
            None => self.obs_dim,
            Some(p) => p.feature_len() + if p.state { self.obs_dim } else { 0 },
        }
    }

    /// Checks the sizes, each against its limit (`hidden = 50000000
    /// exceeds the limit 65536`); returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v, max) in [
            ("obs_dim", self.obs_dim, MAX_MODEL_WIDTH),
            ("act_dim", self.act_dim, MAX_MODEL_WIDTH),
            ("latent_dim", self.latent_dim, MAX_MODEL_WIDTH),
            ("hidden", self.hidden, MAX_MODEL_WIDTH),
            ("simnorm_group", self.simnorm_group, MAX_MODEL_WIDTH),
            ("hidden_layers", self.hidden_layers, MAX_MODEL_LAYERS),
            ("head_layers", self.head_layers, MAX_MODEL_LAYERS),
            ("num_q", self.num_q, MAX_Q_HEADS),
        ] {
            if v > max {
                return Err(format!("{name} = {v} exceeds the limit {max}"));
            }
        }
        if self.obs_dim == 0 || self.act_dim == 0 {
            return Err(format!(
                "obs_dim {} and act_dim {} must be positive",
                self.obs_dim, self.act_dim
            ));
        }
        if self.hidden == 0 || self.latent_dim == 0 || self.simnorm_group == 0 {
            return Err("latent_dim, hidden and simnorm_group must be positive".into());
        }
        if !self.latent_dim.is_multiple_of(self.simnorm_group) {
            return Err(format!(
                "latent_dim {} is not a multiple of simnorm_group {}",
                self.latent_dim, self.simnorm_group
            ));
        }
        if let Some(p) = &self.pixels {
            p.validate()?;
        }
        if self.num_q < 2 {
            return Err(format!("num_q {} must be at least 2", self.num_q));
        }
        if !(self.log_std_min.is_finite()
            && self.log_std_max.is_finite()
            && self.log_std_min < self.log_std_max)
        {
            return Err("log_std_min must be below log_std_max, both finite".into());
        }
        Ok(())
    }

    /// Number of parameters (weights, biases, LayerNorm gains and offsets)
    /// of the model these sizes describe; `None` if it overflows `u64`.
    /// Computed without building the model, so that a file's sizes can be
    /// checked against its bytes before anything is allocated.
    pub fn parameter_count(&self) -> Option<u64> {
        let u = |v: usize| u64::try_from(v).ok();
        let (o, a, l, h) = (
            u(self.obs_dim)?,
            u(self.act_dim)?,
            u(self.latent_dim)?,
            u(self.hidden)?,
        );
        let norm = if self.layer_norm { 2 } else { 0 };
        // One `Mlp`: `layers` hidden layers of width `h` (each with a
        // LayerNorm when enabled), then the output layer.
        let mlp = |d_in: u64, layers: usize, d_out: u64| -> Option<u64> {
            let mut total = 0u64;
            let mut d = d_in;
            for _ in 0..layers {
                total =
                    total.checked_add(d.checked_mul(h)?.checked_add(h)?.checked_add(norm * h)?)?;
                d = h;
            }
            total.checked_add(d.checked_mul(d_out)?.checked_add(d_out)?)
        };
        let (n, k) = (self.hidden_layers, self.head_layers);
        let q = mlp(l.checked_add(a)?, k, 1)?.checked_mul(u(self.num_q)?)?;
        [
            mlp(u(self.encoder_input_dim())?, k, l)?, // encoder
            self.pixels.as_ref().map_or(0, |p| p.parameter_count()),
            mlp(l.checked_add(a)?, n, l)?, // dynamics
            mlp(l.checked_add(a)?, n, 1)?, // reward
            q,                             // Q ensemble
            mlp(l, k, a.checked_mul(2)?)?, // policy prior
            mlp(l.checked_mul(2)?, n, a)?, // inverse dynamics
            mlp(l, n, o)?,                 // decoder
        ]
        .into_iter()
        .try_fold(0u64, u64::checked_add)
    }
}

/// Hyper-parameters of [`super::Trainer`]. Serialised into every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Unrolled horizon `H`: sequences of `H + 1` observations.
    pub horizon: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Gradient clipping: each parameter tensor's gradient norm is capped at this.
    pub grad_clip_norm: f32,
    /// Discount factor.
    pub gamma: f32,
    /// Per-step weight decay of the losses along the horizon (TD-MPC2's rho).
    pub rho: f32,
    /// Weight of the latent consistency loss.
    pub consistency_coef: f32,
    /// Weight of the reward loss.
    pub reward_coef: f32,
    /// Weight of the value (TD) loss.
    pub value_coef: f32,
    /// Weight of the policy-prior loss.
    pub policy_coef: f32,
    /// Entropy weight inside the policy-prior loss.
    pub entropy_coef: f32,
    /// Weight of the inverse-dynamics loss.
    pub inverse_coef: f32,
    /// Weight of the observation-decoder loss (decoded rolled-out latents
    /// against the normalised observations).
    pub decoder_coef: f32,
    /// Polyak rate of the target Q ensemble.
    pub target_tau: f32,
    /// Seed of parameter initialisation and sampling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            horizon: 3,
            batch_size: 256,
            learning_rate: 3e-4,
            grad_clip_norm: 20.0,
            gamma: 0.95,
            rho: 0.5,
            consistency_coef: 20.0,
            reward_coef: 1.0,
            value_coef: 0.1,
            policy_coef: 1.0,
            entropy_coef: 1e-4,
            inverse_coef: 1.0,
            decoder_coef: 1.0,
            target_tau: 0.01,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Checks the hyper-parameters; returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.horizon == 0 || self.batch_size == 0 {
            return Err(format!(
                "horizon {} and batch_size {} must be positive",
                self.horizon, self.batch_size
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "learning rate {} must be a positive number",
                self.learning_rate
            ));
        }
        if !(self.grad_clip_norm.is_finite() && self.grad_clip_norm > 0.0) {
            return Err(format!(
                "grad_clip_norm {} must be a positive number",
                self.grad_clip_norm
            ));
        }
        for (name, v) in [("gamma", self.gamma), ("target_tau", self.target_tau)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} {v} must lie in [0, 1]"));
            }
        }
        if !(self.rho > 0.0 && self.rho <= 1.0) {
            return Err(format!("rho {} must lie in (0, 1]", self.rho));
        }
        for (name, v) in [
            ("consistency_coef", self.consistency_coef),
            ("reward_coef", self.reward_coef),
            ("value_coef", self.value_coef),
            ("policy_coef", self.policy_coef),
            ("entropy_coef", self.entropy_coef),
            ("inverse_coef", self.inverse_coef),
            ("decoder_coef", self.decoder_coef),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} {v} must be a finite number >= 0"));
            }
        }
        Ok(())
    }
}

/// Why a world model or its trainer could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The model or training config is invalid.
    #[error("invalid world model config: {0}")]
    Config(String),
    /// The training data does not fit the model.
    #[error("training data: {0}")]
    Data(String),
}
