//! The trained weights copied into plain row-major `f32` buffers: the
//! layout the kernels read ([`InferenceModel`]), checked against the
//! config as it is copied.

use std::time::Duration;

use burn::tensor::Tensor;

use super::super::config::{ModelError, WorldModelConfig};
use super::super::model::WorldModel;
use super::super::nn::{Dense, Mlp};
use super::bf16::Bf16Weights;
use super::precision::{Bf16Kernel, Precision};

/// One dense layer, `y = x W + b`, `W` row-major `[d_in, d_out]`; a hidden
/// layer may be followed by a LayerNorm (before its ReLU).
#[derive(Clone, Debug)]
pub(super) struct Layer {
    pub(super) w: Vec<f32>,
    pub(super) b: Vec<f32>,
    pub(super) d_in: usize,
    pub(super) d_out: usize,
    pub(super) norm: Option<Norm>,
    /// The weights rounded to bfloat16, for a wide layer under
    /// [`Precision::Bf16`].
    pub(super) bf16: Option<Bf16Weights>,
}

/// A LayerNorm's scale and shift, `d_out` each.
#[derive(Clone, Debug)]
pub(super) struct Norm {
    pub(super) gamma: Vec<f32>,
    pub(super) beta: Vec<f32>,
}

/// Dense layers with (LayerNorm and) ReLU between them (none after the
/// last), as [`Mlp`].
#[derive(Clone, Debug)]
pub(super) struct Net {
    pub(super) layers: Vec<Layer>,
}

impl Net {
    /// Copies `mlp`'s weights, checking that it maps `d_in` to `d_out`
    /// through `depth` hidden layers of width `hidden` (LayerNorm'd if the
    /// config says so).
    fn from_burn(
        mlp: &Mlp,
        name: &str,
        d_in: usize,
        d_out: usize,
        depth: usize,
        c: &WorldModelConfig,
    ) -> Result<Self, ModelError> {
        if mlp.layers.len() != depth + 1 {
            return Err(ModelError::Config(format!(
                "{name}: {} layers, the config says {}",
                mlp.layers.len(),
                depth + 1
            )));
        }
        let want_norms = if c.layer_norm { depth } else { 0 };
        if mlp.norms.len() != want_norms {
            return Err(ModelError::Config(format!(
                "{name}: {} LayerNorms, the config says {want_norms}",
                mlp.norms.len()
            )));
        }
        let mut layers = Vec::with_capacity(mlp.layers.len());
        for (i, dense) in mlp.layers.iter().enumerate() {
            let want_in = if i == 0 { d_in } else { c.hidden };
            let want_out = if i == depth { d_out } else { c.hidden };
            let mut layer = layer_from(dense, &format!("{name} layer {i}"))?;
            if let Some(norm) = mlp.norms.get(i) {
                layer.norm = Some(norm_from(norm, c.hidden, &format!("{name} norm {i}"))?);
            }
            if (layer.d_in, layer.d_out) != (want_in, want_out) {
                return Err(ModelError::Config(format!(
                    "{name} layer {i}: weight [{}, {}], the config says [{want_in}, {want_out}]",
                    layer.d_in, layer.d_out
                )));
            }
            layers.push(layer);
        }
        Ok(Self { layers })
    }

    /// FLOPs (2 per multiply-add) for one sample when only the first
    /// `n_out` outputs of the last layer are computed.
    fn flops(&self, n_out: usize) -> f64 {
        let last = self.layers.len() - 1;
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let cols = if i == last { n_out } else { l.d_out };
                2.0 * (l.d_in * cols) as f64
            })
            .sum()
    }
}

pub(super) fn values<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>, ModelError> {
    let v = t
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| ModelError::Config(format!("{what}: not f32 values ({e:?})")))?;
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(ModelError::Config(format!(
            "{what}: value {i} is {} (not finite)",
            v[i]
        )));
    }
    Ok(v)
}

fn layer_from(dense: &Dense, what: &str) -> Result<Layer, ModelError> {
    let w = dense.weight.val();
    let [d_in, d_out] = w.dims();
    let b = dense.bias.val();
    let [n_bias] = b.dims();
    if n_bias != d_out {
        return Err(ModelError::Config(format!(
            "{what}: {n_bias} biases for {d_out} outputs"
        )));
    }
    Ok(Layer {
        w: values(w, &format!("{what} weight"))?,
        b: values(b, &format!("{what} bias"))?,
        d_in,
        d_out,
        norm: None,
        bf16: None,
    })
}

/// Copies a LayerNorm's scale and shift (a missing shift is zero).
fn norm_from(norm: &burn::nn::LayerNorm, d: usize, what: &str) -> Result<Norm, ModelError> {
    let gamma = values(norm.gamma.val(), &format!("{what} scale"))?;
    let beta = match &norm.beta {
        Some(b) => values(b.val(), &format!("{what} shift"))?,
        None => vec![0.0; d],
    };
    if gamma.len() != d || beta.len() != d {
        return Err(ModelError::Config(format!(
            "{what}: {} scales and {} shifts for {d} features",
            gamma.len(),
            beta.len()
        )));
    }
    Ok(Norm { gamma, beta })
}

/// Immutable plain-f32 copy of a [`WorldModel`]'s inference networks
/// (encoder, dynamics, reward, the two Q heads the planner's value uses,
/// policy). `Send + Sync`: share one between engines with an `Arc`.
#[derive(Clone, Debug)]
pub struct InferenceModel {
    pub(super) config: WorldModelConfig,
    pub(super) encoder: Net,
    pub(super) dynamics: Net,
    pub(super) reward: Net,
    pub(super) q: [Net; 2],
    pub(super) policy: Net,
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
    pub fn from_model(model: &WorldModel) -> Result<Self, ModelError> {
        let c = &model.config;
        c.validate().map_err(ModelError::Config)?;
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
            .chain([&mut self.policy]);
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
