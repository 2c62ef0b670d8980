//! The layouts the kernels read, plain data: the trained weights copied
//! into row-major `f32` buffers ([`Net`], checked against the config as
//! they are copied) and a wide layer's weights rounded to bfloat16
//! ([`Bf16Weights`]). No kernels here: every other room builds on these.

use burn::tensor::Tensor;

use super::super::config::{ModelError, WorldModelConfig};
use super::super::nn::{Dense, Mlp};
use super::precision::Bf16Kernel;

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
    /// [`super::Precision::Bf16`].
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
    pub(super) fn from_burn(
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
    pub(super) fn flops(&self, n_out: usize) -> f64 {
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

/// `x` rounded to bfloat16 as `vcvtneps2bf16` rounds it: to nearest, ties
/// to even; subnormals to a zero of their sign; NaN stays NaN (quieted).
#[inline(always)]
pub(super) fn round_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    if b & 0x7f80_0000 == 0 {
        return ((b >> 16) & 0x8000) as u16;
    }
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// A bfloat16 value as `f32` (exact).
#[inline(always)]
pub(super) fn widen(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// A wide layer's weights rounded to bfloat16, in two layouts.
#[derive(Clone, Debug)]
pub(super) struct Bf16Weights {
    /// Input pairs `(2p, 2p + 1)`, an odd last input paired with a zero.
    pub(super) k2: usize,
    /// `pairs[p * d_out + j]` holds `W[2p, j]` in its low half and
    /// `W[2p + 1, j]` in its high half: `vdpbf16ps`'s layout.
    pub(super) pairs: Vec<u32>,
    /// The same values as `f32`, `2 k2` rows of `d_out` with each pair's
    /// rows swapped (`2p + 1`, then `2p`): summed in order by the `f32`
    /// kernels, they give `vdpbf16ps`'s results.
    pub(super) swapped: Vec<f32>,
    /// How [`super::bf16::dense_bf16`] multiplies them: the model's choice.
    pub(super) kernel: Bf16Kernel,
}

impl Bf16Weights {
    /// Rounds the row-major `d_in x d_out` matrix `w`, to be multiplied
    /// with `kernel` (the same bits either way).
    pub(super) fn new(w: &[f32], d_in: usize, d_out: usize, kernel: Bf16Kernel) -> Self {
        let k2 = d_in.div_ceil(2);
        let at = |k: usize, j: usize| {
            if k < d_in {
                round_bf16(w[k * d_out + j])
            } else {
                0
            }
        };
        let mut pairs = vec![0u32; k2 * d_out];
        let mut swapped = vec![0.0f32; 2 * k2 * d_out];
        for p in 0..k2 {
            for j in 0..d_out {
                let (even, odd) = (at(2 * p, j), at(2 * p + 1, j));
                pairs[p * d_out + j] = u32::from(even) | (u32::from(odd) << 16);
                swapped[2 * p * d_out + j] = widen(odd);
                swapped[(2 * p + 1) * d_out + j] = widen(even);
            }
        }
        Self {
            k2,
            pairs,
            swapped,
            kernel,
        }
    }
}
