//! The model the engine runs ([`InferenceModel`]): its networks copied
//! out of a trained [`WorldModel`], its precision (and the bfloat16 kernel
//! chosen for it) and its FLOP counts.

use std::time::Duration;

use super::super::config::{ModelError, WorldModelConfig};
use super::super::model::WorldModel;
use super::precision::{Bf16Kernel, Precision};
use super::weights::{Bf16Weights, Net};

/// Immutable plain-f32 copy of a [`WorldModel`]'s inference networks
/// (encoder, dynamics, reward, the two Q heads the planner's value uses,
/// policy, and the decoder that goal mode's observation distance reads).
/// `Send + Sync`: share one between engines with an `Arc`.
#[derive(Clone, Debug)]
pub struct InferenceModel {
    pub(super) config: WorldModelConfig,
    pub(super) encoder: Net,
    pub(super) dynamics: Net,
    pub(super) reward: Net,
    pub(super) q: [Net; 2],
    pub(super) policy: Net,
    /// Latent -> the normalised observation vector (of the robot's
    /// features, also for a pixel model).
    pub(super) decoder: Net,
    pub(super) precision: Precision,
    /// How the bfloat16 products are computed, chosen when the model was
    /// set to [`Precision::Bf16`] (`F32` under [`Precision::F32`]).
    bf16_kernel: Bf16Kernel,
    /// What that choice timed: (`vdpbf16ps`, the `f32` kernels).
    bf16_timings: Option<(Duration, Duration)>,
}

impl InferenceModel {
    /// Copies the weights out of `model` (on any device, autodiff or not).
    /// Fails if the networks do not have the shapes of `model.config`, or a
    /// weight is not a finite `f32`.
    ///
    /// Of a pixel model it holds the networks after the convolutions: its
    /// config's `obs_dim` is the encoder MLP's input (convolution features,
    /// then the observation vector when the model reads both) and its
    /// `pixels` is `None`; the caller runs the convolutions
    /// ([`WorldModel::encoder_input`]) and encodes their output here.
    pub fn from_model(model: &WorldModel) -> Result<Self, ModelError> {
        model.config.validate().map_err(ModelError::Config)?;
        let observed = model.config.obs_dim;
        let mut flat = model.config.clone();
        flat.obs_dim = flat.encoder_input_dim();
        flat.pixels = None;
        let c = &flat;
        let (o, a, l) = (c.obs_dim, c.act_dim, c.latent_dim);
        let (n, k) = (c.hidden_layers, c.head_layers);
        if model.q.len() < 2 {
            return Err(ModelError::Config(format!(
                "{} Q heads; at least 2 are needed",
                model.q.len()
            )));
        }
        Ok(Self {
            encoder: Net::from_burn(&model.encoder, "encoder", o, l, k, c)?,
            dynamics: Net::from_burn(&model.dynamics, "dynamics", l + a, l, n, c)?,
            reward: Net::from_burn(&model.reward, "reward", l + a, 1, n, c)?,
            q: [
                Net::from_burn(&model.q[0], "q0", l + a, 1, k, c)?,
                Net::from_burn(&model.q[1], "q1", l + a, 1, k, c)?,
            ],
            policy: Net::from_burn(&model.policy, "policy", l, 2 * a, k, c)?,
            decoder: Net::from_burn(&model.decoder, "decoder", l, observed, n, c)?,
            config: c.clone(),
            precision: Precision::F32,
            bf16_kernel: Bf16Kernel::F32,
            bf16_timings: None,
        })
    }

    /// This model multiplying its wide layers (widths of 16s: the hidden
    /// layers and the latent outputs) in `precision`. For `Bf16` this is
    /// where the model times the bfloat16 kernels and keeps the faster (a
    /// few milliseconds, kept out of the first plan).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        let (kernel, timings) = match precision {
            Precision::Bf16 => Bf16Kernel::choose(),
            Precision::F32 => (Bf16Kernel::F32, None),
        };
        let nets = [&mut self.encoder, &mut self.dynamics, &mut self.reward]
            .into_iter()
            .chain(self.q.iter_mut())
            .chain([&mut self.policy, &mut self.decoder]);
        for net in nets {
            for l in &mut net.layers {
                l.bf16 = (precision == Precision::Bf16 && l.d_out.is_multiple_of(16))
                    .then(|| Bf16Weights::new(&l.w, l.d_in, l.d_out, kernel));
            }
        }
        self.precision = precision;
        self.bf16_kernel = kernel;
        self.bf16_timings = timings;
        self
    }

    /// How this model's bfloat16 products are computed: the kernel timed
    /// faster when it was set to [`Precision::Bf16`]; `F32` under
    /// [`Precision::F32`].
    pub fn bf16_kernel(&self) -> Bf16Kernel {
        self.bf16_kernel
    }

    /// What [`Self::bf16_kernel`]'s choice timed, as
    /// [`Bf16Kernel::choose`] returns it: absent under [`Precision::F32`]
    /// and where the CPU lacks AVX512-BF16.
    pub fn bf16_kernel_timings(&self) -> Option<(Duration, Duration)> {
        self.bf16_timings
    }

    /// How the wide layers multiply.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Values the decoder writes per latent: the robot's observation
    /// vector (a pixel model's too, though its `config().obs_dim` is the
    /// encoder MLP's input).
    pub fn decoded_dim(&self) -> usize {
        self.decoder.layers.last().map_or(0, |l| l.d_out)
    }

    /// The sizes of the model.
    pub fn config(&self) -> &WorldModelConfig {
        &self.config
    }

    /// FLOPs (2 per multiply-add; activations ignored) of one latent step
    /// (dynamics + reward) for one sample.
    pub fn flops_per_step(&self) -> f64 {
        self.dynamics.flops(self.config.latent_dim) + self.reward.flops(1)
    }

    /// FLOPs of the terminal value for one sample: the policy's mean (its
    /// log-std outputs are not computed) and the two Q heads.
    pub fn flops_terminal(&self) -> f64 {
        self.policy.flops(self.config.act_dim) + self.q[0].flops(1) + self.q[1].flops(1)
    }

    /// FLOPs of one [`RolloutEngine::rollout`] of `n` samples over `h` steps.
    pub fn flops_rollout(&self, n: usize, h: usize) -> f64 {
        n as f64 * (h as f64 * self.flops_per_step() + self.flops_terminal())
    }

    /// FLOPs of one [`RolloutEngine::policy_rollout`] of `n` samples over `h`
    /// steps (the policy at every step, the dynamics between steps).
    pub fn flops_policy_rollout(&self, n: usize, h: usize) -> f64 {
        let a = self.config.act_dim;
        n as f64
            * (h as f64 * self.policy.flops(2 * a)
                + h.saturating_sub(1) as f64 * self.dynamics.flops(self.config.latent_dim))
    }
}
