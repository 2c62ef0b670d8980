//! Fast CPU inference of a trained [`WorldModel`] for planning.
//!
//! burn's eager flex backend allocates every intermediate tensor and runs
//! exp/tanh as scalar libm calls, which makes a planner's thousands of
//! latent steps per control tick too slow (measured on a 2-vCPU AMD EPYC:
//! with ELU a 512-sample, 16-step rollout took 14.6 ms in burn against
//! 6.1-7.5 ms hand-written; with Mish, 49 ms). This
//! module copies the trained weights into plain row-major `f32` buffers
//! ([`InferenceModel`]) and runs them on preallocated scratch
//! ([`RolloutEngine`]):
//!
//! - Layers whose width is a multiple of 16 (the hidden layers and the
//!   latent outputs) run in a fused kernel (AVX-512: eight rows x 32
//!   columns; AVX2/FMA: six rows x 16) straight from the row-major buffers
//!   and apply the bias, ReLU and LayerNorm as the results leave the
//!   registers; the one-output heads run as dot products, and the policy's
//!   outputs and CPUs without AVX2 use the `gemm` crate. The fused kernels
//!   sum every output in `gemm`'s order, so on an AVX2 CPU their results
//!   are those of `gemm` and the separate passes, to the bit.
//! - With [`Precision::Bf16`] ([`InferenceModel::with_precision`]), the
//!   wide layers' inputs and weights are rounded to bfloat16 and multiplied
//!   with `vdpbf16ps` (twice the multiply-adds per instruction) where the
//!   CPU has AVX512-BF16, and by the `f32` kernels over the rounded values,
//!   to the same bits, where it does not (the `bf16` module).
//! - Samples are processed in tiles of [`TILE_ROWS`] rows; a tile is rolled
//!   through the whole horizon before the next one starts, so its
//!   activations stay in cache and only the weights stream from L2.
//! - The calling thread and persistent worker threads claim tiles one at a
//!   time (see the Threads section). Tile boundaries depend only on the
//!   sample count, so every sample goes through the same sequence of
//!   floating-point operations whoever computes it: results are
//!   bit-identical for 1, 2 or more threads and any schedule.
//! - Every sample starts at the same latent `z0`, so the first step's
//!   `z0 W_z` product (most of a first layer's work) is computed once per
//!   tile and each sample adds only its actions' share.
//! - Bias, LayerNorm, ReLU, SimNorm (a softmax per group) and tanh run in
//!   fused passes with a branch-free polynomial `exp` that the compiler
//!   vectorises (compiled for AVX2+FMA where the CPU has it, chosen at run
//!   time).
//!
//! Nothing in this module allocates per call once an engine is built; the
//! `gemm` crate itself makes up to two small allocations per matrix product
//! it runs (its packing buffers), cheap with mimalloc, which the `umwelt`
//! binary uses.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::tensor::Tensor;

use super::config::{ModelError, WorldModelConfig};
use super::model::WorldModel;
use super::nn::{Dense, LAYER_NORM_EPS, Mlp};

mod bf16;

pub use bf16::{Bf16Kernel, Precision};
use bf16::{Bf16Scratch, Bf16Weights, dense_bf16};

/// Rows of the sample batch processed together through a whole rollout.
///
/// Large enough that each layer's pass amortises its per-call cost,
/// small enough that a tile's activations stay in L1/L2 and that 512
/// samples make enough tiles (8) for threads to even out their speeds.
pub const TILE_ROWS: usize = 64;

/// One dense layer, `y = x W + b`, `W` row-major `[d_in, d_out]`; a hidden
/// layer may be followed by a LayerNorm (before its ReLU).
#[derive(Clone, Debug)]
struct Layer {
    w: Vec<f32>,
    b: Vec<f32>,
    d_in: usize,
    d_out: usize,
    norm: Option<Norm>,
    /// The weights rounded to bfloat16, for a wide layer under
    /// [`Precision::Bf16`].
    bf16: Option<Bf16Weights>,
}

/// A LayerNorm's scale and shift, `d_out` each.
#[derive(Clone, Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// Dense layers with (LayerNorm and) ReLU between them (none after the
/// last), as [`Mlp`].
#[derive(Clone, Debug)]
struct Net {
    layers: Vec<Layer>,
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

fn values<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>, ModelError> {
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
    config: WorldModelConfig,
    encoder: Net,
    dynamics: Net,
    reward: Net,
    q: [Net; 2],
    policy: Net,
    precision: Precision,
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
        })
    }

    /// This model multiplying its wide layers (widths of 16s: the hidden
    /// layers and the latent outputs) in `precision`. For `Bf16` this is
    /// where the process times its bfloat16 kernels, once (a few
    /// milliseconds, kept out of the first plan).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        if precision == Precision::Bf16 {
            Bf16Kernel::chosen();
        }
        let nets = [&mut self.encoder, &mut self.dynamics, &mut self.reward]
            .into_iter()
            .chain(self.q.iter_mut())
            .chain([&mut self.policy]);
        for net in nets {
            for l in &mut net.layers {
                l.bf16 = (precision == Precision::Bf16 && l.d_out.is_multiple_of(16))
                    .then(|| Bf16Weights::new(&l.w, l.d_in, l.d_out));
            }
        }
        self.precision = precision;
        self
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

/// Output buffers of a rollout; reused between calls so planning allocates
/// nothing per call.
#[derive(Default, Clone, Debug)]
pub struct RolloutOutput {
    /// Predicted reward of each step, `N x H`, row-major by sample.
    pub rewards: Vec<f32>,
    /// `mean(Q0, Q1)(z_H, tanh(mu(z_H)))` of each sample, `N`.
    pub values: Vec<f32>,
    /// The last latent `z_H` of each sample, `N x latent_dim`.
    pub final_latents: Vec<f32>,
}

// ---------------------------------------------------------------------------
// Kernels

/// `dst[i, j] = sum_k lhs[i, k] * rhs[k, j]` for `i < m`, `j < n`, `k < depth`;
/// all three row-major with the given row strides (column stride 1).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    depth: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The bounds gemm will touch: these guard the unsafe call below and hold
    // by construction (buffers are sized from the config), so a failure is a
    // bug in this module, never bad input.
    assert!(dst_rs >= n && dst.len() >= (m - 1) * dst_rs + n);
    assert!(depth == 0 || (lhs_rs >= depth && lhs.len() >= (m - 1) * lhs_rs + depth));
    assert!(depth == 0 || (rhs_rs >= n && rhs.len() >= (depth - 1) * rhs_rs + n));
    // SAFETY: the asserts above keep every index gemm reads or writes inside
    // the three slices; `dst` is exclusively borrowed, so it aliases neither
    // input, and rows of `dst` do not overlap (dst_rs >= n).
    unsafe {
        gemm::gemm(
            m,
            n,
            depth,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            lhs.as_ptr(),
            1,
            lhs_rs as isize,
            rhs.as_ptr(),
            1,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `dst = lhs rhs` on the calling thread with the `gemm` crate (the kernel
/// the engine uses), for `m x depth` times `depth x n` row-major matrices
/// with row strides `*_rs` (column stride 1): what `umwelt bench model`
/// measures as the hardware's matrix-multiply peak. Slices too short for
/// the shape are an error.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    depth: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
) -> Result<(), ModelError> {
    let fits = |len: usize, rows: usize, rs: usize, cols: usize| {
        rows == 0 || cols == 0 || (rs >= cols && len >= (rows - 1) * rs + cols)
    };
    if !(fits(dst.len(), m, dst_rs, n)
        && fits(lhs.len(), m, lhs_rs, depth)
        && fits(rhs.len(), depth, rhs_rs, n))
    {
        return Err(ModelError::Data(format!(
            "sgemm {m} x {depth} x {n}: slices of {} (stride {dst_rs}), {} (stride {lhs_rs}) \
             and {} (stride {rhs_rs}) values do not fit",
            dst.len(),
            lhs.len(),
            rhs.len()
        )));
    }
    matmul(m, n, depth, dst, dst_rs, lhs, lhs_rs, rhs, rhs_rs);
    Ok(())
}

/// The constants of [`fast_exp`] (and of its vector forms).
mod exp_consts {
    pub(super) const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest, so that `x - k ln 2`
    // loses no bits for |k| <= 128.
    pub(super) const LN2_HI: f32 = 0.693_359_4;
    pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to the nearest integer in the low mantissa
    // bits, without a (non-vectorisable on SSE2) round() call.
    pub(super) const SHIFT: f32 = 12_582_912.0;
    /// Taylor coefficients of `e^r` from `r^2`: 1/2, 1/6, ... 1/720.
    pub(super) const C2: f32 = 0.5;
    pub(super) const C3: f32 = 1.0 / 6.0;
    pub(super) const C4: f32 = 1.0 / 24.0;
    pub(super) const C5: f32 = 1.0 / 120.0;
    pub(super) const C6: f32 = 1.0 / 720.0;
}

/// `exp(x)` to ~2 ulp, branch-free so that loops over it vectorise:
/// `exp(x) = 2^k e^r` with `k = round(x / ln 2)` and a degree-6 Taylor
/// polynomial for `e^r`, `|r| <= ln(2) / 2`. Inputs are clamped to
/// `[-87, 88]` (results stay normal); NaN stays NaN.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    use exp_consts::*;
    let x = if x > 88.0 { 88.0 } else { x };
    let x = if x < -87.0 { -87.0 } else { x };
    let t = x * LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * C6)))));
    let ki = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits((ki.wrapping_add(127) << 23) as u32);
    p * scale
}

/// `tanh(x)` from [`fast_exp`]: `sign(x) (1 - e) / (1 + e)`, `e = exp(-2|x|)`;
/// absolute error ~1e-7.
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    let e = fast_exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// LayerNorm then ReLU of one row in place, after adding `bias` if given:
/// `max(0, (x - mean) / sqrt(var + eps) * gamma + beta)` with the
/// population variance, as burn computes it. One pass gathers the sum and
/// the sum of squares (in eight interleaved lanes, folded in a fixed order,
/// so results do not depend on threads), a second normalises: a planning
/// rollout runs this on every hidden row, with AVX2 intrinsics where the
/// CPU has them. `E[x^2] - mean^2` loses nothing that matters for
/// activations of a few units (the engine matches burn to ~1e-6).
#[inline(always)]
fn norm_relu(row: &mut [f32], bias: Option<&[f32]>, norm: &Norm) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the kernel is compiled for.
        unsafe { x86::norm_relu_avx2(row, bias, norm) };
        return;
    }
    norm_relu_portable(row, bias, norm)
}

/// [`norm_relu`] without explicit SIMD, for CPUs without AVX2 (LLVM
/// vectorises it only in part).
#[inline(always)]
fn norm_relu_portable(row: &mut [f32], bias: Option<&[f32]>, norm: &Norm) {
    let n = row.len();
    let n8 = n - n % 8;
    let fold = |acc: [f32; 8]| {
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
    };
    let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
    match bias {
        Some(bias) => {
            for (c, b) in row[..n8]
                .chunks_exact_mut(8)
                .zip(bias[..n8].chunks_exact(8))
            {
                for k in 0..8 {
                    c[k] += b[k];
                    s1[k] += c[k];
                    s2[k] += c[k] * c[k];
                }
            }
            for (v, b) in row[n8..].iter_mut().zip(&bias[n8..n]) {
                *v += *b;
            }
        }
        None => {
            for c in row[..n8].chunks_exact(8) {
                for k in 0..8 {
                    s1[k] += c[k];
                    s2[k] += c[k] * c[k];
                }
            }
        }
    }
    let (mean, inv_std) = mean_inv_std(fold(s1), fold(s2), &row[n8..], n);
    for ((v, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
        let y = (*v - mean) * inv_std * g + b;
        *v = if y > 0.0 { y } else { 0.0 };
    }
}

/// Mean and `1 / sqrt(var + eps)` of a row of `n` entries, from the sum and
/// the sum of squares of its whole lanes of eight plus the `tail` past them
/// (what both LayerNorm kernels share).
#[inline(always)]
fn mean_inv_std(mut sum: f32, mut sq: f32, tail: &[f32], n: usize) -> (f32, f32) {
    for v in tail {
        sum += *v;
        sq += *v * *v;
    }
    let inv_n = 1.0 / n as f32;
    let mean = sum * inv_n;
    let var = (sq * inv_n - mean * mean).max(0.0);
    (mean, 1.0 / (var + LAYER_NORM_EPS as f32).sqrt())
}

/// Kernels written with AVX2/FMA intrinsics, where LLVM's vectoriser
/// leaves the portable code half scalar (it did so for LayerNorm's pass
/// over a row: a third of a plan's time went there).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Norm, Post, mean_inv_std};

    /// Sum of the eight lanes in the order the portable kernel folds them:
    /// `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fold(v: __m256) -> f32 {
        let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let mut l = [0.0f32; 4];
        // SAFETY: `l` holds four floats.
        unsafe { _mm_storeu_ps(l.as_mut_ptr(), t) };
        (l[0] + l[1]) + (l[2] + l[3])
    }

    /// [`super::norm_relu`] on AVX2: eight lanes a register, one fused
    /// multiply-add per entry in the normalising pass.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn norm_relu_avx2(row: &mut [f32], bias: Option<&[f32]>, norm: &Norm) {
        let n = row.len();
        let (head, tail) = row.as_chunks_mut::<8>();
        let n8 = head.len() * 8;
        let (mut s1, mut s2) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        // SAFETY (all loads and stores below): each pointer is to a whole
        // `[f32; 8]` chunk of a slice of length `n`.
        match bias {
            Some(bias) => {
                let (bh, bt) = bias[..n].as_chunks::<8>();
                for (c, b) in head.iter_mut().zip(bh) {
                    let v = unsafe {
                        _mm256_add_ps(_mm256_loadu_ps(c.as_ptr()), _mm256_loadu_ps(b.as_ptr()))
                    };
                    unsafe { _mm256_storeu_ps(c.as_mut_ptr(), v) };
                    s1 = _mm256_add_ps(s1, v);
                    s2 = _mm256_fmadd_ps(v, v, s2);
                }
                for (v, b) in tail.iter_mut().zip(bt) {
                    *v += *b;
                }
            }
            None => {
                for c in head.iter() {
                    let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
                    s1 = _mm256_add_ps(s1, v);
                    s2 = _mm256_fmadd_ps(v, v, s2);
                }
            }
        }
        let (mean, inv_std) = mean_inv_std(fold(s1), fold(s2), &row[n8..], n);
        normalise_relu(row, mean, inv_std, norm);
    }

    /// Rows per register block of [`dense_avx2`]: 6 rows x 16 columns
    /// make 12 accumulators, which with two weight vectors and a broadcast
    /// fill 15 of AVX2's 16 registers.
    const BLOCK_ROWS: usize = 6;

    /// [`super::dense`] on AVX2 for `n` a multiple of 16: `y = post(x W +
    /// b)` for `m` rows, computed six rows at a time straight from the
    /// row-major buffers (no packing, no per-call dispatch), with the bias,
    /// ReLU and LayerNorm's sums applied as each 6 x 16 block leaves the
    /// registers and the normalising pass run on the six rows while they
    /// are in L1.
    ///
    /// Every output is `fma` over `k = 0, 1, ...` in order from zero, as
    /// the `gemm` crate's micro-kernels compute it, and the LayerNorm sums
    /// run over the same eight-lane chunks in the same order as
    /// [`norm_relu_avx2`], so the results are bit-identical to `gemm`
    /// followed by [`super::add_bias`] (tested).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `n % 16 == 0`; the slices must
    /// hold the shapes (`x`: `m` rows of `depth` at stride `x_rs`; `w`:
    /// `depth` rows of `n` at stride `w_rs`; `b`: `n`; `y`: `m` rows of `n`
    /// at stride `y_rs`), which the caller asserts.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn dense_avx2(
        m: usize,
        n: usize,
        depth: usize,
        x: &[f32],
        x_rs: usize,
        w: &[f32],
        w_rs: usize,
        b: &[f32],
        y: &mut [f32],
        y_rs: usize,
        post: Post<'_>,
    ) {
        let mut i = 0;
        while i < m {
            let r = (m - i).min(BLOCK_ROWS);
            let x = &x[i * x_rs..];
            let y = &mut y[i * y_rs..];
            // SAFETY: forwarded from the caller, for rows i.. of x and y.
            unsafe {
                match r {
                    6 => block::<6>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    5 => block::<5>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    4 => block::<4>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    3 => block::<3>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    2 => block::<2>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    _ => block::<1>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                }
            }
            i += r;
        }
    }

    /// `R` rows of [`dense_avx2`].
    ///
    /// # Safety
    /// As [`dense_avx2`], with `R` rows.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const R: usize>(
        n: usize,
        depth: usize,
        x: &[f32],
        x_rs: usize,
        w: &[f32],
        w_rs: usize,
        b: &[f32],
        y: &mut [f32],
        y_rs: usize,
        post: Post<'_>,
    ) {
        let (xp, wp, bp, yp) = (x.as_ptr(), w.as_ptr(), b.as_ptr(), y.as_mut_ptr());
        let zero = _mm256_setzero_ps();
        // LayerNorm's running sum and sum of squares per row, eight lanes.
        let mut s1 = [zero; R];
        let mut s2 = [zero; R];
        let mut j = 0;
        while j < n {
            let mut acc = [[zero; 2]; R];
            for k in 0..depth {
                // SAFETY (loads): row k < depth of W holds columns
                // j..j + 16 (j + 16 <= n <= w_rs), and row r < R of x holds
                // column k.
                let (w0, w1) = unsafe {
                    let p = wp.add(k * w_rs + j);
                    (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
                };
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = unsafe { _mm256_broadcast_ss(&*xp.add(r * x_rs + k)) };
                    acc[0] = _mm256_fmadd_ps(w0, a, acc[0]);
                    acc[1] = _mm256_fmadd_ps(w1, a, acc[1]);
                }
            }
            // SAFETY (bias load, stores): columns j..j + 16 of b and of
            // row r < R of y exist.
            let (b0, b1) = unsafe { (_mm256_loadu_ps(bp.add(j)), _mm256_loadu_ps(bp.add(j + 8))) };
            for (r, acc) in acc.iter().enumerate() {
                let mut v0 = _mm256_add_ps(acc[0], b0);
                let mut v1 = _mm256_add_ps(acc[1], b1);
                match post {
                    Post::None => {}
                    Post::Hidden(None) => {
                        v0 = _mm256_max_ps(v0, zero);
                        v1 = _mm256_max_ps(v1, zero);
                    }
                    Post::Hidden(Some(_)) => {
                        s1[r] = _mm256_add_ps(s1[r], v0);
                        s2[r] = _mm256_fmadd_ps(v0, v0, s2[r]);
                        s1[r] = _mm256_add_ps(s1[r], v1);
                        s2[r] = _mm256_fmadd_ps(v1, v1, s2[r]);
                    }
                }
                unsafe {
                    let p = yp.add(r * y_rs + j);
                    _mm256_storeu_ps(p, v0);
                    _mm256_storeu_ps(p.add(8), v1);
                }
            }
            j += 16;
        }
        if let Post::Hidden(Some(norm)) = post {
            for r in 0..R {
                let (mean, inv_std) = mean_inv_std(fold(s1[r]), fold(s2[r]), &[], n);
                normalise_relu(&mut y[r * y_rs..r * y_rs + n], mean, inv_std, norm);
            }
        }
    }

    /// Rows per register block of [`dense_avx512`]: 8 rows x 32 columns
    /// make 16 accumulators, half of AVX-512's 32 registers, with room for
    /// the two weight vectors (the broadcasts fold into the multiply-adds).
    const BLOCK_ROWS_512: usize = 8;

    /// [`dense_avx2`] on AVX-512 for `n` a multiple of 32: the same
    /// operations per output (`fma` over `k` in order from zero, then the
    /// bias, then ReLU or LayerNorm), sixteen lanes a register, so the
    /// results are the same to the bit (tested) in half the instructions: a
    /// CPU with two 512-bit FMA units (Intel's server cores) does twice the
    /// work per cycle, and one that splits them in two (Zen 4) decodes and
    /// loads half as much per multiply-add. LayerNorm's sums are gathered
    /// in the eight-lane chunks and order of the AVX2 kernel, from the
    /// halves of each block as it leaves the registers (reading the stored
    /// row back in halves would stall on store forwarding).
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA; `n % 32 == 0`; the
    /// slices must hold the shapes, as for [`dense_avx2`].
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn dense_avx512(
        m: usize,
        n: usize,
        depth: usize,
        x: &[f32],
        x_rs: usize,
        w: &[f32],
        w_rs: usize,
        b: &[f32],
        y: &mut [f32],
        y_rs: usize,
        post: Post<'_>,
    ) {
        let mut i = 0;
        while i < m {
            let r = (m - i).min(BLOCK_ROWS_512);
            let x = &x[i * x_rs..];
            let y = &mut y[i * y_rs..];
            // SAFETY: forwarded from the caller, for rows i.. of x and y.
            unsafe {
                match r {
                    8 => block512::<8>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    7 => block512::<7>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    6 => block512::<6>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    5 => block512::<5>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    4 => block512::<4>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    3 => block512::<3>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    2 => block512::<2>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                    _ => block512::<1>(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post),
                }
            }
            i += r;
        }
    }

    /// `R` rows of [`dense_avx512`].
    ///
    /// # Safety
    /// As [`dense_avx512`], with `R` rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block512<const R: usize>(
        n: usize,
        depth: usize,
        x: &[f32],
        x_rs: usize,
        w: &[f32],
        w_rs: usize,
        b: &[f32],
        y: &mut [f32],
        y_rs: usize,
        post: Post<'_>,
    ) {
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let zero = _mm512_setzero_ps();
        // LayerNorm's running sum and sum of squares per row, eight lanes,
        // as the AVX2 kernel keeps them.
        let mut s1 = [_mm256_setzero_ps(); R];
        let mut s2 = [_mm256_setzero_ps(); R];
        let mut j = 0;
        while j < n {
            let mut acc = [[zero; 2]; R];
            for k in 0..depth {
                // SAFETY (loads): row k < depth of W holds columns
                // j..j + 32 (j + 32 <= n <= w_rs), and row r < R of x holds
                // column k.
                let (w0, w1) = unsafe {
                    let p = wp.add(k * w_rs + j);
                    (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
                };
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(unsafe { *xp.add(r * x_rs + k) });
                    acc[0] = _mm512_fmadd_ps(w0, a, acc[0]);
                    acc[1] = _mm512_fmadd_ps(w1, a, acc[1]);
                }
            }
            // SAFETY: columns j..j + 32 of b and of rows r < R of y exist.
            unsafe { store512::<R>(&acc, b, y, y_rs, j, post, &mut s1, &mut s2) };
            j += 32;
        }
        finish512::<R>(y, y_rs, n, post, &s1, &s2);
    }

    /// Stores columns `j..j + 32` of `R` rows from the accumulators `acc`
    /// with the bias added, then ReLU, or LayerNorm's sums gathered into
    /// `s1` and `s2` (in the eight-lane chunks and order of the AVX2
    /// kernel, from the halves of each register).
    ///
    /// # Safety
    /// `b` must hold columns `j..j + 32`, and `y` rows `r < R` (stride
    /// `y_rs`) columns `j..j + 32`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn store512<const R: usize>(
        acc: &[[__m512; 2]; R],
        b: &[f32],
        y: &mut [f32],
        y_rs: usize,
        j: usize,
        post: Post<'_>,
        s1: &mut [__m256; R],
        s2: &mut [__m256; R],
    ) {
        let (bp, yp) = (b.as_ptr(), y.as_mut_ptr());
        let zero = _mm512_setzero_ps();
        // SAFETY (bias load, stores): as the caller promises.
        let (b0, b1) = unsafe { (_mm512_loadu_ps(bp.add(j)), _mm512_loadu_ps(bp.add(j + 16))) };
        for (r, acc) in acc.iter().enumerate() {
            let mut v0 = _mm512_add_ps(acc[0], b0);
            let mut v1 = _mm512_add_ps(acc[1], b1);
            match post {
                Post::None => {}
                Post::Hidden(None) => {
                    v0 = _mm512_max_ps(v0, zero);
                    v1 = _mm512_max_ps(v1, zero);
                }
                Post::Hidden(Some(_)) => {
                    // Columns j..j + 32 in eight-lane chunks, in order.
                    for v in [v0, v1] {
                        for half in [low_half(v), high_half(v)] {
                            s1[r] = _mm256_add_ps(s1[r], half);
                            s2[r] = _mm256_fmadd_ps(half, half, s2[r]);
                        }
                    }
                }
            }
            unsafe {
                let p = yp.add(r * y_rs + j);
                _mm512_storeu_ps(p, v0);
                _mm512_storeu_ps(p.add(16), v1);
            }
        }
    }

    /// LayerNorm's normalising pass and ReLU over the `n` columns of `R`
    /// rows of `y`, from the sums [`store512`] gathered (nothing for other
    /// posts).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn finish512<const R: usize>(
        y: &mut [f32],
        y_rs: usize,
        n: usize,
        post: Post<'_>,
        s1: &[__m256; R],
        s2: &[__m256; R],
    ) {
        if let Post::Hidden(Some(norm)) = post {
            for r in 0..R {
                let (mean, inv_std) = mean_inv_std(fold(s1[r]), fold(s2[r]), &[], n);
                normalise_relu_512(&mut y[r * y_rs..r * y_rs + n], mean, inv_std, norm);
            }
        }
    }

    /// Lanes 0..8 of `v`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn low_half(v: __m512) -> __m256 {
        _mm512_castps512_ps256(v)
    }

    /// Lanes 8..16 of `v`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn high_half(v: __m512) -> __m256 {
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
    }

    /// [`normalise_relu`] sixteen lanes a register, for a row of whole
    /// sixteen-lane chunks: the same operations per entry.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn normalise_relu_512(row: &mut [f32], mean: f32, inv_std: f32, norm: &Norm) {
        let n = row.len();
        let (head, tail) = row.as_chunks_mut::<16>();
        debug_assert!(tail.is_empty());
        let (gh, _) = norm.gamma[..n].as_chunks::<16>();
        let (bh, _) = norm.beta[..n].as_chunks::<16>();
        let (m16, i16, zero) = (
            _mm512_set1_ps(mean),
            _mm512_set1_ps(inv_std),
            _mm512_setzero_ps(),
        );
        for ((c, g), b) in head.iter_mut().zip(gh).zip(bh) {
            // SAFETY: each pointer is to a whole `[f32; 16]`.
            unsafe {
                let x = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), m16), i16);
                let y =
                    _mm512_fmadd_ps(x, _mm512_loadu_ps(g.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
                _mm512_storeu_ps(c.as_mut_ptr(), _mm512_max_ps(y, zero));
            }
        }
    }

    /// Sum of eight lanes as `gemm`'s AVX2 horizontal kernel reduces
    /// them: `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce_like_gemm(v: __m256) -> f32 {
        let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let r = _mm_add_ps(t, _mm_movehl_ps(t, t));
        _mm_cvtss_f32(_mm_add_ss(r, _mm_shuffle_ps::<0b0001>(r, r)))
    }

    /// Rows in flight in [`dot1_avx2`]: they share each load of `w`.
    const DOT_ROWS: usize = 4;

    /// `y[i * y_rs] = x_i . w + b` for `m` rows of `depth` inputs (stride
    /// `x_rs`): a one-output layer, summed as `gemm`'s AVX2 horizontal
    /// kernel sums it (eight lanes of fused multiply-adds from zero over
    /// `k` in order, the last chunk zero-padded, then
    /// [`reduce_like_gemm`]), then the bias added.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `x` must hold `m` rows of
    /// `depth` at stride `x_rs`, `w` at least `depth` values and `y` `m`
    /// rows at stride `y_rs`, which the caller asserts.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn dot1_avx2(
        m: usize,
        depth: usize,
        x: &[f32],
        x_rs: usize,
        w: &[f32],
        b: f32,
        y: &mut [f32],
        y_rs: usize,
    ) {
        let d8 = depth / 8 * 8;
        // The last chunk of `w`, zero-padded as gemm's partial load pads it.
        let mut w_tail = [0.0f32; 8];
        w_tail[..depth - d8].copy_from_slice(&w[d8..depth]);
        let mut i = 0;
        while i < m {
            let r = (m - i).min(DOT_ROWS);
            let mut acc = [_mm256_setzero_ps(); DOT_ROWS];
            let mut k = 0;
            while k < d8 {
                // SAFETY: k + 8 <= depth <= w.len(), and row i + j of x
                // holds `depth` values from (i + j) * x_rs.
                unsafe {
                    let wk = _mm256_loadu_ps(w.as_ptr().add(k));
                    for (j, a) in acc.iter_mut().enumerate().take(r) {
                        let xk = _mm256_loadu_ps(x.as_ptr().add((i + j) * x_rs + k));
                        *a = _mm256_fmadd_ps(xk, wk, *a);
                    }
                }
                k += 8;
            }
            if d8 < depth {
                // SAFETY: `w_tail` and `x_tail` are eight floats each.
                unsafe {
                    let wk = _mm256_loadu_ps(w_tail.as_ptr());
                    for (j, a) in acc.iter_mut().enumerate().take(r) {
                        let row = &x[(i + j) * x_rs..];
                        let mut x_tail = [0.0f32; 8];
                        x_tail[..depth - d8].copy_from_slice(&row[d8..depth]);
                        *a = _mm256_fmadd_ps(_mm256_loadu_ps(x_tail.as_ptr()), wk, *a);
                    }
                }
            }
            for (j, a) in acc.iter().enumerate().take(r) {
                y[(i + j) * y_rs] = reduce_like_gemm(*a) + b;
            }
            i += r;
        }
    }

    /// Transposes the 8 x 8 block `r` (row `k` in `r[k]`) in place.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn transpose8(r: &mut [__m256; 8]) {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        r[0] = _mm256_permute2f128_ps::<0x20>(u0, u4);
        r[1] = _mm256_permute2f128_ps::<0x20>(u1, u5);
        r[2] = _mm256_permute2f128_ps::<0x20>(u2, u6);
        r[3] = _mm256_permute2f128_ps::<0x20>(u3, u7);
        r[4] = _mm256_permute2f128_ps::<0x31>(u0, u4);
        r[5] = _mm256_permute2f128_ps::<0x31>(u1, u5);
        r[6] = _mm256_permute2f128_ps::<0x31>(u2, u6);
        r[7] = _mm256_permute2f128_ps::<0x31>(u3, u7);
    }

    /// [`super::fast_exp`] of eight lanes: the same operations in the same
    /// order (no fused multiply-adds), so the same bits.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fast_exp8(x: __m256) -> __m256 {
        use super::exp_consts::*;
        // `if x > 88 { 88 } else { x }` is `min(88, x)` (NaN stays NaN),
        // and the lower clamp likewise.
        let x = _mm256_min_ps(_mm256_set1_ps(88.0), x);
        let x = _mm256_max_ps(_mm256_set1_ps(-87.0), x);
        let t = _mm256_add_ps(
            _mm256_mul_ps(x, _mm256_set1_ps(LOG2_E)),
            _mm256_set1_ps(SHIFT),
        );
        let k = _mm256_sub_ps(t, _mm256_set1_ps(SHIFT));
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(LN2_HI))),
            _mm256_mul_ps(k, _mm256_set1_ps(LN2_LO)),
        );
        let horner = |c: f32, acc: __m256| _mm256_add_ps(_mm256_set1_ps(c), _mm256_mul_ps(r, acc));
        let mut p = _mm256_set1_ps(C6);
        for c in [C5, C4, C3, C2, 1.0, 1.0] {
            p = horner(c, p);
        }
        let ki = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B40_0000));
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            ki,
            _mm256_set1_epi32(127),
        )));
        _mm256_mul_ps(p, scale)
    }

    /// SimNorm with groups of 8 over a row of 64 (eight groups): each
    /// group's [`super::softmax`], for all eight at once. The block is
    /// transposed so that lane `g` holds group `g`; the maximum, the
    /// exponentials and the sum then run over the group's entries in the
    /// scalar code's order, with the same operations, so the results are
    /// the same to the bit (tested).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn simnorm64_avx2(row: &mut [f32; 64]) {
        let (chunks, _) = row.as_chunks_mut::<8>();
        let mut v = [_mm256_setzero_ps(); 8];
        for (v, c) in v.iter_mut().zip(chunks.iter()) {
            // SAFETY: `c` is a whole `[f32; 8]`.
            *v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        }
        transpose8(&mut v);
        // `max = if v > max { v } else { max }` is `max_ps(v, max)`.
        let mut max = _mm256_set1_ps(f32::NEG_INFINITY);
        for e in v.iter() {
            max = _mm256_max_ps(*e, max);
        }
        let mut sum = _mm256_setzero_ps();
        for e in v.iter_mut() {
            *e = fast_exp8(_mm256_sub_ps(*e, max));
            sum = _mm256_add_ps(sum, *e);
        }
        let inv = _mm256_div_ps(_mm256_set1_ps(1.0), sum);
        for e in v.iter_mut() {
            *e = _mm256_mul_ps(*e, inv);
        }
        transpose8(&mut v);
        for (v, c) in v.iter().zip(chunks.iter_mut()) {
            // SAFETY: `c` is a whole `[f32; 8]`.
            unsafe { _mm256_storeu_ps(c.as_mut_ptr(), *v) };
        }
    }

    /// [`transpose8`] of two 8 x 8 blocks at once: block `A` in the low
    /// 256 bits of each register, block `B` in the high 256 (the same
    /// operations per block; the cross-lane step takes each block's lanes
    /// from its own half).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn transpose8x2(r: &mut [__m512; 8]) {
        let t0 = _mm512_unpacklo_ps(r[0], r[1]);
        let t1 = _mm512_unpackhi_ps(r[0], r[1]);
        let t2 = _mm512_unpacklo_ps(r[2], r[3]);
        let t3 = _mm512_unpackhi_ps(r[2], r[3]);
        let t4 = _mm512_unpacklo_ps(r[4], r[5]);
        let t5 = _mm512_unpackhi_ps(r[4], r[5]);
        let t6 = _mm512_unpacklo_ps(r[6], r[7]);
        let t7 = _mm512_unpackhi_ps(r[6], r[7]);
        let u0 = _mm512_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm512_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm512_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm512_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm512_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm512_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm512_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm512_shuffle_ps::<0xEE>(t5, t7);
        // `permute2f128::<0x20>` and `<0x31>` within each 256-bit half:
        // 128-bit lanes (a0, b0, a2, b2) and (a1, b1, a3, b3).
        let lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        let hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        r[0] = _mm512_permutex2var_ps(u0, lo, u4);
        r[1] = _mm512_permutex2var_ps(u1, lo, u5);
        r[2] = _mm512_permutex2var_ps(u2, lo, u6);
        r[3] = _mm512_permutex2var_ps(u3, lo, u7);
        r[4] = _mm512_permutex2var_ps(u0, hi, u4);
        r[5] = _mm512_permutex2var_ps(u1, hi, u5);
        r[6] = _mm512_permutex2var_ps(u2, hi, u6);
        r[7] = _mm512_permutex2var_ps(u3, hi, u7);
    }

    /// [`fast_exp8`] on sixteen lanes: the same operations in the same
    /// order, so the same bits.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn fast_exp16(x: __m512) -> __m512 {
        use super::exp_consts::*;
        let x = _mm512_min_ps(_mm512_set1_ps(88.0), x);
        let x = _mm512_max_ps(_mm512_set1_ps(-87.0), x);
        let t = _mm512_add_ps(
            _mm512_mul_ps(x, _mm512_set1_ps(LOG2_E)),
            _mm512_set1_ps(SHIFT),
        );
        let k = _mm512_sub_ps(t, _mm512_set1_ps(SHIFT));
        let r = _mm512_sub_ps(
            _mm512_sub_ps(x, _mm512_mul_ps(k, _mm512_set1_ps(LN2_HI))),
            _mm512_mul_ps(k, _mm512_set1_ps(LN2_LO)),
        );
        let horner = |c: f32, acc: __m512| _mm512_add_ps(_mm512_set1_ps(c), _mm512_mul_ps(r, acc));
        let mut p = _mm512_set1_ps(C6);
        for c in [C5, C4, C3, C2, 1.0, 1.0] {
            p = horner(c, p);
        }
        let ki = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B40_0000));
        let scale = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
            ki,
            _mm512_set1_epi32(127),
        )));
        _mm512_mul_ps(p, scale)
    }

    /// [`simnorm64_avx2`] of two rows at once, one in each 256-bit half of
    /// the registers: the same operations per row, so the same bits
    /// (tested), in half the instructions.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn simnorm64x2_avx512(a: &mut [f32; 64], b: &mut [f32; 64]) {
        let (ca, _) = a.as_chunks_mut::<8>();
        let (cb, _) = b.as_chunks_mut::<8>();
        let mut v = [_mm512_setzero_ps(); 8];
        for ((v, x), y) in v.iter_mut().zip(ca.iter()).zip(cb.iter()) {
            // SAFETY: `x` and `y` are whole `[f32; 8]`s.
            let (lo, hi) = unsafe { (_mm256_loadu_ps(x.as_ptr()), _mm256_loadu_ps(y.as_ptr())) };
            *v = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                _mm256_castps_pd(hi),
            ));
        }
        transpose8x2(&mut v);
        let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
        for e in v.iter() {
            max = _mm512_max_ps(*e, max);
        }
        let mut sum = _mm512_setzero_ps();
        for e in v.iter_mut() {
            *e = fast_exp16(_mm512_sub_ps(*e, max));
            sum = _mm512_add_ps(sum, *e);
        }
        let inv = _mm512_div_ps(_mm512_set1_ps(1.0), sum);
        for e in v.iter_mut() {
            *e = _mm512_mul_ps(*e, inv);
        }
        transpose8x2(&mut v);
        for ((v, x), y) in v.iter().zip(ca.iter_mut()).zip(cb.iter_mut()) {
            let (lo, hi) = (low_half(*v), high_half(*v));
            // SAFETY: `x` and `y` are whole `[f32; 8]`s.
            unsafe {
                _mm256_storeu_ps(x.as_mut_ptr(), lo);
                _mm256_storeu_ps(y.as_mut_ptr(), hi);
            }
        }
    }

    /// The normalising pass of LayerNorm + ReLU over a row of whole
    /// eight-lane chunks, given its mean and `1 / sqrt(var + eps)`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn normalise_relu(row: &mut [f32], mean: f32, inv_std: f32, norm: &Norm) {
        let n = row.len();
        let (head, tail) = row.as_chunks_mut::<8>();
        let (gh, gt) = norm.gamma[..n].as_chunks::<8>();
        let (bh, bt) = norm.beta[..n].as_chunks::<8>();
        let (m8, i8, zero) = (
            _mm256_set1_ps(mean),
            _mm256_set1_ps(inv_std),
            _mm256_setzero_ps(),
        );
        for ((c, g), b) in head.iter_mut().zip(gh).zip(bh) {
            // SAFETY: each pointer is to a whole `[f32; 8]`.
            unsafe {
                let x = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), m8), i8);
                let y =
                    _mm256_fmadd_ps(x, _mm256_loadu_ps(g.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
                _mm256_storeu_ps(c.as_mut_ptr(), _mm256_max_ps(y, zero));
            }
        }
        for ((v, g), b) in tail.iter_mut().zip(gt).zip(bt) {
            let y = (*v - mean) * inv_std * g + b;
            *v = if y > 0.0 { y } else { 0.0 };
        }
    }
}

/// What follows a layer's bias: nothing (the output layer), or for a hidden
/// layer its LayerNorm (if any) and ReLU.
#[derive(Clone, Copy)]
enum Post<'a> {
    None,
    Hidden(Option<&'a Norm>),
}

#[inline(always)]
fn relu_in_place(row: &mut [f32]) {
    for v in row.iter_mut() {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

/// Adds `bias` to the first `n` columns of `m` rows (stride `rs`), then
/// what `post` says.
#[inline(always)]
fn add_bias(y: &mut [f32], rs: usize, m: usize, n: usize, bias: &[f32], post: Post<'_>) {
    let bias = &bias[..n];
    for i in 0..m {
        let row = &mut y[i * rs..i * rs + n];
        match post {
            Post::Hidden(Some(norm)) => norm_relu(row, Some(bias), norm),
            Post::Hidden(None) => {
                for (v, b) in row.iter_mut().zip(bias) {
                    let s = *v + *b;
                    *v = if s > 0.0 { s } else { 0.0 };
                }
            }
            Post::None => {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += *b;
                }
            }
        }
    }
}

/// Softmax of one group in place (max subtracted first, as burn does).
#[inline(always)]
fn softmax(g: &mut [f32]) {
    let mut max = f32::NEG_INFINITY;
    for &v in g.iter() {
        max = if v > max { v } else { max };
    }
    let mut sum = 0.0f32;
    for v in g.iter_mut() {
        *v = fast_exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in g.iter_mut() {
        *v *= inv;
    }
}

/// SimNorm of the first `width` columns of `m` rows (stride `rs`): a softmax
/// over each group of `group` entries.
#[inline(always)]
fn simnorm_rows(x: &mut [f32], rs: usize, m: usize, width: usize, group: usize) {
    // The default latent (64 wide, groups of 8) on AVX-512: two rows at
    // once, an odd last row alone.
    #[cfg(target_arch = "x86_64")]
    if group == 8
        && width.is_multiple_of(64)
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
    {
        let pairs = m / 2;
        for i in (0..pairs).map(|p| 2 * p) {
            let (first, second) = x.split_at_mut((i + 1) * rs);
            let a = first[i * rs..i * rs + width].as_chunks_mut::<64>().0;
            let b = second[..width].as_chunks_mut::<64>().0;
            for (a, b) in a.iter_mut().zip(b.iter_mut()) {
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA.
                unsafe { x86::simnorm64x2_avx512(a, b) };
            }
        }
        if 2 * pairs < m {
            simnorm_rows_each(&mut x[2 * pairs * rs..], rs, 1, width, group);
        }
        return;
    }
    simnorm_rows_each(x, rs, m, width, group)
}

/// [`simnorm_rows`] a row at a time.
#[inline(always)]
fn simnorm_rows_each(x: &mut [f32], rs: usize, m: usize, width: usize, group: usize) {
    for i in 0..m {
        let row = &mut x[i * rs..i * rs + width];
        // The default latent (64 wide, groups of 8): eight groups at once.
        #[cfg(target_arch = "x86_64")]
        if group == 8
            && width.is_multiple_of(64)
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            for block in row.as_chunks_mut::<64>().0 {
                // SAFETY: the CPU has AVX2 and FMA.
                unsafe { x86::simnorm64_avx2(block) };
            }
            continue;
        }
        // A constant group size lets the compiler unroll and vectorise each
        // group's softmax; 8 is the default.
        if group == 8 {
            for g in row.chunks_exact_mut(8) {
                softmax(&mut g[..8]);
            }
        } else {
            for g in row.chunks_exact_mut(group) {
                softmax(g);
            }
        }
    }
}

/// `y = x W + b` (then `post`) for the first `n` outputs of `layer`: see
/// [`dense_with`], or [`dense_bf16`] for a wide layer rounded to
/// bfloat16 (its rounded inputs in `s`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dense(
    layer: &Layer,
    n: usize,
    m: usize,
    x: &[f32],
    x_rs: usize,
    y: &mut [f32],
    y_rs: usize,
    post: Post<'_>,
    s: &mut Bf16Scratch,
) {
    let (w_rs, b) = (layer.d_out, &layer.b[..]);
    match &layer.bf16 {
        Some(w) if n.is_multiple_of(16) => {
            dense_bf16(w, w_rs, layer.d_in, b, n, m, x, x_rs, y, y_rs, post, s)
        }
        _ => dense_with(&layer.w, w_rs, layer.d_in, b, n, m, x, x_rs, y, y_rs, post),
    }
}

/// `y = x W + b` (then `post`) for the first `n` outputs of the `d_in` rows
/// of `w` (row stride `w_rs`): the fused AVX-512 or AVX2 kernel for widths
/// of 32s or 16s where the CPU has it, else `gemm` and the passes (the
/// same results to the bit).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dense_with(
    w: &[f32],
    w_rs: usize,
    d_in: usize,
    b: &[f32],
    n: usize,
    m: usize,
    x: &[f32],
    x_rs: usize,
    y: &mut [f32],
    y_rs: usize,
    post: Post<'_>,
) {
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(16)
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
    {
        let d = d_in;
        if m == 0 || n == 0 {
            return;
        }
        // As in `matmul`: the bounds hold by construction, so a failure
        // is a bug here, never bad input.
        assert!(y_rs >= n && y.len() >= (m - 1) * y_rs + n);
        assert!(d == 0 || (x_rs >= d && x.len() >= (m - 1) * x_rs + d));
        assert!(w_rs >= n && w.len() >= d * w_rs && b.len() >= n);
        if n.is_multiple_of(32) && std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, AVX2 and FMA, n is a multiple
            // of 32, and the asserts above keep every access inside the
            // slices.
            unsafe { x86::dense_avx512(m, n, d, x, x_rs, w, w_rs, b, y, y_rs, post) };
        } else {
            // SAFETY: the CPU has AVX2 and FMA, n is a multiple of 16, and
            // the asserts above keep every access inside the slices.
            unsafe { x86::dense_avx2(m, n, d, x, x_rs, w, w_rs, b, y, y_rs, post) };
        }
        return;
    }
    // One-output heads (reward, Q): dot products summed in the order of
    // `gemm`'s AVX2 horizontal kernel, the one `gemm` takes for these shapes
    // on an AVX2 CPU (`m * n <= 256`, depth within one 1024 block). Why:
    // on an AVX-512 CPU `gemm` sums sixteen lanes and rounds differently,
    // and planning amplifies the last bit (3 of the reacher's 20 reporting
    // episodes ended 1 apart on a Zen 4 VM); this way every x86 CPU with
    // AVX2 gives the same plans to the bit. Speed is unchanged.
    #[cfg(target_arch = "x86_64")]
    if n == 1
        && w_rs == 1
        && m <= 256
        && d_in <= 1024
        && matches!(post, Post::None)
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
    {
        let d = d_in;
        if m == 0 {
            return;
        }
        // As in `matmul`: the bounds hold by construction.
        assert!(y_rs >= 1 && y.len() > (m - 1) * y_rs);
        assert!(d == 0 || (x_rs >= d && x.len() >= (m - 1) * x_rs + d));
        assert!(w.len() >= d && !b.is_empty());
        // SAFETY: the CPU has AVX2 and FMA, and the asserts above keep
        // every access inside the slices.
        unsafe { x86::dot1_avx2(m, d, x, x_rs, w, b[0], y, y_rs) };
        return;
    }
    matmul(m, n, d_in, y, y_rs, x, x_rs, w, w_rs);
    add_bias(y, y_rs, m, n, b, post);
}

/// The input rows of a network.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// Row `i` at `x[i * rs..]`.
    Rows(&'a [f32], usize),
    /// Row `i` is `[z0 | actions[i * a_rs..][..act]]`: every row shares `z0`.
    SharedZ0 {
        z0: &'a [f32],
        actions: &'a [f32],
        a_rs: usize,
    },
}

/// First layer for rows `[z0 | a_i]` (then `post`): `z0 W_z + b` is
/// computed once and each row adds its actions' share `a_i W_a`, which
/// for few actions costs a fraction of the full product. Every sample of
/// a rollout starts at the same latent, so the first step of the dynamics
/// and reward (and policy) heads gets cheaper by this.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dense_shared_z0(
    layer: &Layer,
    n: usize,
    m: usize,
    z0: &[f32],
    actions: &[f32],
    a_rs: usize,
    pre: &mut [f32],
    y: &mut [f32],
    y_rs: usize,
    post: Post<'_>,
) {
    let l = z0.len();
    let act = layer.d_in - l;
    let pre = &mut pre[..n];
    // One row: the fused kernels, not `gemm`, which would pack all of W_z
    // for it.
    let (w, w_rs, b) = (&layer.w[..], layer.d_out, &layer.b[..]);
    dense_with(w, w_rs, l, b, n, 1, z0, l, pre, n, Post::None);
    for i in 0..m {
        let row = &mut y[i * y_rs..i * y_rs + n];
        row.copy_from_slice(pre);
        for k in 0..act {
            let ak = actions[i * a_rs + k];
            let w = &layer.w[(l + k) * layer.d_out..][..n];
            for (v, wk) in row.iter_mut().zip(w) {
                *v += ak * *wk;
            }
        }
        match post {
            Post::Hidden(Some(norm)) => norm_relu(row, None, norm),
            Post::Hidden(None) => relu_in_place(row),
            Post::None => {}
        }
    }
}

/// Runs `net` on `m` rows of `x`, hidden activations in `ha`/`hb` (and
/// `pre` for a shared `z0`, `bf16` for inputs rounded to bfloat16); the
/// first `n_out` outputs of the last layer go to `y` (stride `y_rs`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward(
    net: &Net,
    m: usize,
    x: Input<'_>,
    ha: &mut [f32],
    hb: &mut [f32],
    pre: &mut [f32],
    bf16: &mut Bf16Scratch,
    n_out: usize,
    y: &mut [f32],
    y_rs: usize,
) {
    let last = net.layers.len() - 1;
    let (mut cur, mut next) = (ha, hb);
    for (i, layer) in net.layers.iter().enumerate() {
        let (n, post) = if i == last {
            (n_out, Post::None)
        } else {
            (layer.d_out, Post::Hidden(layer.norm.as_ref()))
        };
        {
            let (dst, dst_rs): (&mut [f32], usize) = if i == last {
                (&mut *y, y_rs)
            } else {
                (&mut *next, layer.d_out)
            };
            match (i, x) {
                (0, Input::Rows(x, x_rs)) => dense(layer, n, m, x, x_rs, dst, dst_rs, post, bf16),
                (0, Input::SharedZ0 { z0, actions, a_rs }) => {
                    dense_shared_z0(layer, n, m, z0, actions, a_rs, pre, dst, dst_rs, post)
                }
                _ => {
                    let x_rs = net.layers[i - 1].d_out;
                    dense(layer, n, m, cur, x_rs, dst, dst_rs, post, bf16)
                }
            }
        }
        if i != last {
            std::mem::swap(&mut cur, &mut next);
        }
    }
}

/// Per-thread scratch for one tile.
#[derive(Debug, Default)]
struct Scratch {
    /// `[z | a]` of the current step, `TILE_ROWS x (latent + act)`.
    xa: Vec<f32>,
    /// `[z' | a']` being written, same shape.
    xb: Vec<f32>,
    /// Hidden activations, `TILE_ROWS x hidden` each.
    ha: Vec<f32>,
    hb: Vec<f32>,
    /// One row of a first layer for a shared `z0`.
    pre: Vec<f32>,
    /// Small head outputs, `TILE_ROWS x max(2 act, 1)`.
    head: Vec<f32>,
    /// Q head outputs, `TILE_ROWS` each.
    q0: Vec<f32>,
    q1: Vec<f32>,
    /// A layer's inputs rounded to bfloat16.
    bf16: Bf16Scratch,
}

impl Scratch {
    fn new(c: &WorldModelConfig) -> Self {
        let t = TILE_ROWS;
        let w = c.latent_dim + c.act_dim;
        let head = (2 * c.act_dim).max(1);
        Self {
            xa: vec![0.0; t * w],
            xb: vec![0.0; t * w],
            ha: vec![0.0; t * c.hidden],
            hb: vec![0.0; t * c.hidden],
            pre: vec![0.0; c.hidden.max(c.latent_dim).max(head)],
            head: vec![0.0; t * head],
            q0: vec![0.0; t],
            q1: vec![0.0; t],
            bf16: Bf16Scratch::new(t, w.max(c.hidden).max(c.obs_dim)),
        }
    }
}

/// The reward of each row into `rewards[i * h + t]` and the next latent
/// (SimNorm) into `s.xb`, for step `t` from input `x`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_tile(
    model: &InferenceModel,
    s: &mut Scratch,
    x: Input<'_>,
    m: usize,
    t: usize,
    h: usize,
    rewards: &mut [f32],
) {
    let c = &model.config;
    let w = c.latent_dim + c.act_dim;
    let Scratch {
        xb,
        ha,
        hb,
        pre,
        head,
        bf16,
        ..
    } = s;
    forward(&model.reward, m, x, ha, hb, pre, bf16, 1, head, 1);
    for i in 0..m {
        rewards[i * h + t] = head[i];
    }
    forward(
        &model.dynamics,
        m,
        x,
        ha,
        hb,
        pre,
        bf16,
        c.latent_dim,
        xb,
        w,
    );
    simnorm_rows(xb, w, m, c.latent_dim, c.simnorm_group);
}

/// Rolls `m <= TILE_ROWS` samples from `z0` under `actions` (`m x h x A`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rollout_tile(
    model: &InferenceModel,
    s: &mut Scratch,
    z0: &[f32],
    actions: &[f32],
    m: usize,
    h: usize,
    rewards: &mut [f32],
    values: &mut [f32],
    latents: &mut [f32],
) {
    let c = &model.config;
    let (l, a) = (c.latent_dim, c.act_dim);
    let w = l + a;
    if h == 0 {
        for i in 0..m {
            s.xa[i * w..i * w + l].copy_from_slice(z0);
        }
    }
    for t in 0..h {
        if t == 0 {
            let x = Input::SharedZ0 {
                z0,
                actions,
                a_rs: h * a,
            };
            step_tile(model, s, x, m, t, h, rewards);
        } else {
            for i in 0..m {
                let src = (i * h + t) * a;
                s.xa[i * w + l..(i + 1) * w].copy_from_slice(&actions[src..src + a]);
            }
            let xa = std::mem::take(&mut s.xa);
            step_tile(model, s, Input::Rows(&xa, w), m, t, h, rewards);
            s.xa = xa;
        }
        std::mem::swap(&mut s.xa, &mut s.xb);
    }
    // Terminal value: mean of Q0, Q1 at (z_H, tanh(mu(z_H))); only the
    // policy's mean outputs are computed.
    let Scratch {
        xa,
        ha,
        hb,
        pre,
        head,
        q0,
        q1,
        bf16,
        ..
    } = s;
    forward(
        &model.policy,
        m,
        Input::Rows(xa, w),
        ha,
        hb,
        pre,
        bf16,
        a,
        head,
        a,
    );
    for i in 0..m {
        for j in 0..a {
            xa[i * w + l + j] = fast_tanh(head[i * a + j]);
        }
    }
    for (q, out) in model.q.iter().zip([&mut *q0, &mut *q1]) {
        forward(q, m, Input::Rows(xa, w), ha, hb, pre, bf16, 1, out, 1);
    }
    for i in 0..m {
        values[i] = (q0[i] + q1[i]) * 0.5;
        latents[i * l..(i + 1) * l].copy_from_slice(&xa[i * w..i * w + l]);
    }
}

/// Policy-prior trajectories of `m <= TILE_ROWS` samples from `z0`.
#[inline(always)]
fn policy_tile(
    model: &InferenceModel,
    s: &mut Scratch,
    z0: &[f32],
    noise: &[f32],
    m: usize,
    h: usize,
    actions: &mut [f32],
) {
    let c = &model.config;
    let (l, a) = (c.latent_dim, c.act_dim);
    let w = l + a;
    let (lo, hi) = (c.log_std_min, c.log_std_max);
    let half_range = 0.5 * (hi - lo);
    let Scratch {
        xa,
        xb,
        ha,
        hb,
        pre,
        head,
        bf16,
        ..
    } = s;
    for t in 0..h {
        // At t = 0 every row is z0: one row of policy outputs serves all.
        let (rows, row_stride) = if t == 0 { (1, 0) } else { (m, 2 * a) };
        let x = if t == 0 {
            Input::Rows(z0, l)
        } else {
            Input::Rows(xa, w)
        };
        forward(
            &model.policy,
            rows,
            x,
            ha,
            hb,
            pre,
            bf16,
            2 * a,
            head,
            2 * a,
        );
        for i in 0..m {
            for j in 0..a {
                let mu = head[i * row_stride + j];
                let raw = head[i * row_stride + a + j];
                // The same operations in the same order as WorldModel::policy_params.
                let log_std = (fast_tanh(raw) + 1.0) * half_range + lo;
                let k = (i * h + t) * a + j;
                let act = fast_tanh(mu + noise[k] * fast_exp(log_std));
                xa[i * w + l + j] = act;
                actions[k] = act;
            }
        }
        if t + 1 < h {
            let x = if t == 0 {
                Input::SharedZ0 {
                    z0,
                    actions: &xa[l..],
                    a_rs: w,
                }
            } else {
                Input::Rows(xa, w)
            };
            forward(&model.dynamics, m, x, ha, hb, pre, bf16, l, xb, w);
            simnorm_rows(xb, w, m, l, c.simnorm_group);
            std::mem::swap(xa, xb);
        }
    }
}

/// Encodes `m <= TILE_ROWS` observations into latents.
#[inline(always)]
fn encode_tile(model: &InferenceModel, s: &mut Scratch, obs: &[f32], m: usize, z: &mut [f32]) {
    let c = &model.config;
    let l = c.latent_dim;
    forward(
        &model.encoder,
        m,
        Input::Rows(obs, c.obs_dim),
        &mut s.ha,
        &mut s.hb,
        &mut s.pre,
        &mut s.bf16,
        l,
        z,
        l,
    );
    simnorm_rows(z, l, m, l, c.simnorm_group);
}

/// One thread's share of a call: rows `0..rows` of its inputs and outputs.
enum Work<'a> {
    /// Nothing (a round trip).
    Nothing,
    Rollout {
        z0: &'a [f32],
        actions: &'a [f32],
        h: usize,
        rewards: &'a mut [f32],
        values: &'a mut [f32],
        latents: &'a mut [f32],
    },
    Policy {
        z0: &'a [f32],
        noise: &'a [f32],
        h: usize,
        actions: &'a mut [f32],
    },
    Encode {
        obs: &'a [f32],
        z: &'a mut [f32],
    },
}

/// Runs `work` for `rows` rows, tile by tile.
#[inline(always)]
fn run_rows(model: &InferenceModel, s: &mut Scratch, rows: usize, work: Work<'_>) {
    let c = &model.config;
    let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
    let mut r = 0;
    match work {
        Work::Nothing => {}
        Work::Rollout {
            z0,
            actions,
            h,
            rewards,
            values,
            latents,
        } => {
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                rollout_tile(
                    model,
                    s,
                    z0,
                    &actions[r * h * a..],
                    m,
                    h,
                    &mut rewards[r * h..],
                    &mut values[r..],
                    &mut latents[r * l..],
                );
                r += m;
            }
        }
        Work::Policy {
            z0,
            noise,
            h,
            actions,
        } => {
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                policy_tile(
                    model,
                    s,
                    z0,
                    &noise[r * h * a..],
                    m,
                    h,
                    &mut actions[r * h * a..],
                );
                r += m;
            }
        }
        Work::Encode { obs, z } => {
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                encode_tile(model, s, &obs[r * o..], m, &mut z[r * l..]);
                r += m;
            }
        }
    }
}

/// AVX2+FMA build of [`run_rows`]: the kernels are inlined into it, so the
/// compiler vectorises them 8 lanes wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_rows_avx2(model: &InferenceModel, s: &mut Scratch, rows: usize, work: Work<'_>) {
    run_rows(model, s, rows, work)
}

/// [`run_rows`] in the best build this CPU supports.
fn compute(model: &InferenceModel, s: &mut Scratch, rows: usize, work: Work<'_>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features run_rows_avx2 is compiled for.
        unsafe { run_rows_avx2(model, s, rows, work) };
        return;
    }
    run_rows(model, s, rows, work)
}

// ---------------------------------------------------------------------------
// Threads
//
// A call's samples are cut into tiles of TILE_ROWS rows, and the caller and
// the workers claim tiles one at a time from a shared counter. A thread that
// the OS slows down (another process on its core, a busy hyper-thread
// sibling, a vCPU the host deschedules) then does fewer tiles instead of
// holding up the whole call, as a fixed split of the samples would. When the
// caller runs out of tiles it waits about one tile's time for those still
// being computed, then computes any that are not done itself: a worker that
// stops mid-tile costs the call one tile, not the length of the stop.
//
// Whoever computes a tile, its operations are the same (tile boundaries
// depend only on the sample count), so results are bit-identical for any
// thread count and any schedule. Calls alternate between two sets of
// buffers, so a worker still finishing a tile of the last call (whose result
// the caller no longer needs) does not hold up the next one; if it is still
// on it two calls later, that call runs on the calling thread alone rather
// than wait.
//
// By default each worker is bound to a CPU of its own
// (`WorkerPlacement::Spread`): a control loop plans once per tick, the
// workers sleep in between, and a thread woken after a long sleep is placed
// by the kernel on its waker's CPU, where it would queue behind the planner
// for the whole plan.

/// What a call asks of the threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Job {
    /// Nothing: one empty tile per worker, which the workers mark done (a
    /// round trip).
    #[default]
    Nothing,
    Rollout,
    Policy,
    Encode,
}

/// Bits of the claim counter that hold the next tile; the rest hold the
/// call's number.
const TILE_BITS: u32 = 16;
const TILE_MASK: u64 = (1 << TILE_BITS) - 1;

/// The inputs of one call, copied for the workers: the caller's slices
/// cannot be lent to persistent threads without unsafe code, and copying a
/// batch's inputs costs well under 1% of a rollout.
#[derive(Debug, Default)]
struct Batch {
    /// The call's number (from 1), so that a worker that wakes late never
    /// takes another call's tiles.
    epoch: u64,
    job: Job,
    /// Samples.
    n: usize,
    h: usize,
    tiles: usize,
    z0: Vec<f32>,
    /// Actions, noise or observations of all samples.
    input: Vec<f32>,
}

/// The outputs of one tile computed by a worker, rows from 0.
#[derive(Debug, Default)]
struct TileOut {
    /// The call it belongs to; 0 before any.
    epoch: u64,
    panicked: bool,
    rewards: Vec<f32>,
    values: Vec<f32>,
    latents: Vec<f32>,
    /// Policy actions or encoded latents.
    output: Vec<f32>,
}

/// One call's buffers: its inputs and the tiles workers compute.
#[derive(Debug)]
struct Buffers {
    batch: RwLock<Batch>,
    tiles: Vec<Mutex<TileOut>>,
}

/// What the caller and the workers share.
#[derive(Debug)]
struct Shared {
    model: Arc<InferenceModel>,
    /// `epoch << TILE_BITS | next unclaimed tile` of the latest call.
    claim: AtomicU64,
    /// Even calls use the first, odd calls the second.
    buffers: [Buffers; 2],
}

impl Shared {
    fn buffers(&self, epoch: u64) -> &Buffers {
        &self.buffers[(epoch & 1) as usize]
    }

    /// Claims the next tile of call `epoch`, which has `tiles`, if any is
    /// left and that call is still the latest.
    fn claim(&self, epoch: u64, tiles: usize) -> Option<usize> {
        let mut cur = self.claim.load(Ordering::Acquire);
        loop {
            let next = (cur & TILE_MASK) as usize;
            if cur >> TILE_BITS != epoch || next >= tiles {
                return None;
            }
            match self.claim.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(next),
                Err(now) => cur = now,
            }
        }
    }
}

/// Rows of tile `t` of `n` samples.
fn tile_rows(n: usize, t: usize) -> Range<usize> {
    (t * TILE_ROWS).min(n)..((t + 1) * TILE_ROWS).min(n)
}

/// Computes tile `t` of `batch` into `out` (rows from 0).
fn run_tile(model: &InferenceModel, s: &mut Scratch, batch: &Batch, t: usize, out: &mut TileOut) {
    let c = &model.config;
    let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
    let (r, h) = (tile_rows(batch.n, t), batch.h);
    let m = r.len();
    let work = match batch.job {
        Job::Nothing => Work::Nothing,
        Job::Rollout => Work::Rollout {
            z0: &batch.z0,
            actions: &batch.input[r.start * h * a..r.end * h * a],
            h,
            rewards: &mut out.rewards[..m * h],
            values: &mut out.values[..m],
            latents: &mut out.latents[..m * l],
        },
        Job::Policy => Work::Policy {
            z0: &batch.z0,
            noise: &batch.input[r.start * h * a..r.end * h * a],
            h,
            actions: &mut out.output[..m * h * a],
        },
        Job::Encode => Work::Encode {
            obs: &batch.input[r.start * o..r.end * o],
            z: &mut out.output[..m * l],
        },
    };
    compute(model, s, m, work);
}

/// How long a worker polls for the next call before it sleeps: a planner
/// makes several calls per control tick back to back (policy samples, then
/// each iteration's rollout), and this spares each of them a wake-up, which
/// costs 30-70 us on a VM (an idle vCPU must be rescheduled).
const WORKER_SPIN: Duration = Duration::from_micros(100);

/// How long the caller waits for a worker's unfinished tile before
/// computing it itself, when it has not timed a tile of its own this call.
const DEFAULT_PATIENCE: Duration = Duration::from_micros(200);

/// Receives one message, polling for up to `spin` before blocking; false
/// when the sender is gone.
fn recv_spinning(rx: &Receiver<()>, spin: Duration) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            match rx.try_recv() {
                Ok(()) => return true,
                Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() >= spin {
            return rx.recv().is_ok();
        }
    }
}

/// Rollout workers bound to a CPU so far, in this process: each engine
/// takes the next ones, so that several engines (evaluation jobs) spread
/// their workers over the CPUs instead of stacking them on one.
static WORKERS_PLACED: AtomicUsize = AtomicUsize::new(0);

/// Where an engine's worker threads run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WorkerPlacement {
    /// Each worker on a CPU of its own among those the process may use,
    /// the first worker skipping the first of them (the default; see
    /// [`RolloutEngine::place_workers`] for why).
    #[default]
    Spread,
    /// Wherever the OS schedules them, among the process's CPUs.
    Float,
    /// Worker `k` on CPU `cpus[k % cpus.len()]` (for machines whose CPUs
    /// are partitioned by hand: isolated cores, other real-time threads).
    Cpus(Vec<usize>),
}

impl std::str::FromStr for WorkerPlacement {
    type Err = String;
    /// `spread`, `float`, or CPUs separated by commas (`2,3`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "spread" => Ok(Self::Spread),
            "float" => Ok(Self::Float),
            list => {
                let cpus: Result<Vec<usize>, _> =
                    list.split(',').map(|c| c.trim().parse::<usize>()).collect();
                match cpus {
                    Ok(c) if !c.is_empty() => Ok(Self::Cpus(c)),
                    _ => Err(format!(
                        "\"{s}\": expected \"spread\", \"float\" or CPUs separated by commas (2,3)"
                    )),
                }
            }
        }
    }
}

/// The CPUs the calling thread may run on (`taskset`, cpusets).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Option<Vec<usize>> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: an all-zero cpu_set_t is the empty set; the call writes at
    // most `size` bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect(),
        )
    }
}

/// Restricts the thread of `handle` to `cpus`; false when the call fails.
#[cfg(target_os = "linux")]
fn set_affinity(handle: &JoinHandle<()>, cpus: &[usize]) -> bool {
    use std::os::unix::thread::JoinHandleExt;
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: as in `allowed_cpus`; every CPU is below CPU_SETSIZE (they
    // come from `allowed_cpus`), and the handle's thread is alive (not
    // joined).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::pthread_setaffinity_np(handle.as_pthread_t(), size, &set) == 0
    }
}

/// Places `handles` as `placement` says and returns where each went
/// (`None`: it floats). `first` is the engine's first place for
/// [`WorkerPlacement::Spread`]. Spread binds nothing where one CPU is all
/// there is or a call fails; a listed CPU the process may not use is an
/// error.
#[cfg(target_os = "linux")]
fn place(
    handles: &[JoinHandle<()>],
    first: usize,
    placement: &WorkerPlacement,
) -> Result<Vec<Option<usize>>, ModelError> {
    let allowed = allowed_cpus().unwrap_or_default();
    if let WorkerPlacement::Cpus(cpus) = placement {
        if cpus.is_empty() && !handles.is_empty() {
            return Err(ModelError::Config(
                "an empty list of CPUs for the rollout workers".into(),
            ));
        }
        if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
            return Err(ModelError::Config(format!(
                "rollout workers on CPU {c}: this process may only use CPUs {allowed:?}"
            )));
        }
    }
    Ok(handles
        .iter()
        .enumerate()
        .map(|(k, h)| match placement {
            WorkerPlacement::Spread if allowed.len() >= 2 => {
                let cpu = allowed[(first + k) % allowed.len()];
                set_affinity(h, &[cpu]).then_some(cpu)
            }
            WorkerPlacement::Spread | WorkerPlacement::Float => {
                // Undo an earlier binding: back to every allowed CPU.
                if !allowed.is_empty() {
                    set_affinity(h, &allowed);
                }
                None
            }
            WorkerPlacement::Cpus(cpus) => {
                let cpu = cpus[k % cpus.len()];
                set_affinity(h, &[cpu]).then_some(cpu)
            }
        })
        .collect())
}

/// [`place`] where thread affinity is not available: the workers float,
/// and a list of CPUs is refused.
#[cfg(not(target_os = "linux"))]
fn place(
    handles: &[JoinHandle<()>],
    _: usize,
    placement: &WorkerPlacement,
) -> Result<Vec<Option<usize>>, ModelError> {
    if let WorkerPlacement::Cpus(_) = placement {
        return Err(ModelError::Config(
            "binding rollout workers to CPUs is only supported on Linux".into(),
        ));
    }
    Ok(vec![None; handles.len()])
}

fn worker_loop(shared: Arc<Shared>, go: Receiver<()>) {
    let mut scratch = Scratch::new(&shared.model.config);
    // Each wake-up is for the latest call: a call that finds a wake-up
    // already pending sends none, and the worker reads the call's number
    // only once awake.
    while recv_spinning(&go, WORKER_SPIN) {
        let epoch = shared.claim.load(Ordering::Acquire) >> TILE_BITS;
        let buffers = shared.buffers(epoch);
        let batch = buffers.batch.read().unwrap_or_else(PoisonError::into_inner);
        if batch.epoch != epoch {
            // Two calls have gone by since the load: the next wake-up is
            // for the latest.
            continue;
        }
        while let Some(t) = shared.claim(epoch, batch.tiles) {
            let Some(tile) = buffers.tiles.get(t) else {
                break;
            };
            let mut out = tile.lock().unwrap_or_else(PoisonError::into_inner);
            // A panic here would be a bug; catching it lets the caller
            // report it instead of waiting for a tile that never comes.
            let ok = catch_unwind(AssertUnwindSafe(|| {
                run_tile(&shared.model, &mut scratch, &batch, t, &mut out)
            }))
            .is_ok();
            if !ok {
                scratch = Scratch::new(&shared.model.config);
            }
            out.panicked = !ok;
            out.epoch = epoch;
        }
    }
}

/// Scratch buffers and worker threads for batched rollouts of one
/// [`InferenceModel`]. Calls take `&mut self`: one call at a time.
pub struct RolloutEngine {
    shared: Arc<Shared>,
    max_samples: usize,
    max_horizon: usize,
    threads: usize,
    /// The latest call's number.
    epoch: u64,
    /// The calling thread's scratch.
    scratch: Scratch,
    /// Tiles of the current call whose results are in the caller's outputs.
    resolved: Vec<bool>,
    /// Wakes each worker.
    workers: Vec<SyncSender<()>>,
    handles: Vec<JoinHandle<()>>,
    /// Where each worker is bound.
    worker_cpus: Vec<Option<usize>>,
    /// This engine's first place for [`WorkerPlacement::Spread`].
    first_place: usize,
}

impl std::fmt::Debug for RolloutEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutEngine")
            .field("max_samples", &self.max_samples)
            .field("max_horizon", &self.max_horizon)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

fn check_len(what: &str, got: usize, want: usize, shape: &str) -> Result<(), ModelError> {
    if got != want {
        return Err(ModelError::Data(format!(
            "{what}: {got} values, expected {shape} = {want}"
        )));
    }
    Ok(())
}

fn check_finite(what: &str, v: &[f32]) -> Result<(), ModelError> {
    // A branch-free pass first (vectorises); the position only on failure.
    if v.iter().fold(true, |ok, x| ok & x.is_finite()) {
        return Ok(());
    }
    let i = v.iter().position(|x| !x.is_finite()).unwrap_or(0);
    Err(ModelError::Data(format!(
        "{what}: value {i} is {} (not finite)",
        v[i]
    )))
}

impl RolloutEngine {
    /// An engine for batches of up to `max_samples` samples and
    /// `max_horizon` steps on `threads` threads (the caller's and
    /// `threads - 1` workers, started here and stopped on drop). All buffers
    /// are allocated here.
    pub fn new(
        model: Arc<InferenceModel>,
        max_samples: usize,
        max_horizon: usize,
        threads: usize,
    ) -> Result<Self, ModelError> {
        if max_samples == 0 || max_horizon == 0 || threads == 0 {
            return Err(ModelError::Config(format!(
                "max_samples {max_samples}, max_horizon {max_horizon} and threads {threads} must be positive"
            )));
        }
        let tiles = max_samples.div_ceil(TILE_ROWS).max(threads);
        if tiles as u64 > TILE_MASK {
            return Err(ModelError::Config(format!(
                "max_samples {max_samples} and threads {threads}: at most {} tiles of {TILE_ROWS} samples",
                TILE_MASK
            )));
        }
        let c = model.config.clone();
        let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
        // Workers' buffers only where there are workers.
        let (batch_len, tiles) = if threads > 1 {
            (max_samples * (max_horizon * a).max(o), tiles)
        } else {
            (0, 0)
        };
        let buffers = || Buffers {
            batch: RwLock::new(Batch {
                z0: vec![0.0; l],
                input: vec![0.0; batch_len],
                ..Batch::default()
            }),
            tiles: (0..tiles)
                .map(|_| {
                    Mutex::new(TileOut {
                        rewards: vec![0.0; TILE_ROWS * max_horizon],
                        values: vec![0.0; TILE_ROWS],
                        latents: vec![0.0; TILE_ROWS * l],
                        output: vec![0.0; TILE_ROWS * (max_horizon * a).max(l)],
                        ..TileOut::default()
                    })
                })
                .collect(),
        };
        let shared = Arc::new(Shared {
            model,
            claim: AtomicU64::new(0),
            buffers: [buffers(), buffers()],
        });
        let mut workers = Vec::with_capacity(threads - 1);
        let mut handles = Vec::with_capacity(threads - 1);
        // One block of places per engine: its workers get distinct CPUs
        // whatever other engines do meanwhile.
        let first_place = 1 + WORKERS_PLACED.fetch_add(threads - 1, Ordering::Relaxed);
        for k in 1..threads {
            let (go, go_rx) = sync_channel(1);
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("rollout-{k}"))
                .spawn(move || worker_loop(s, go_rx))
                .map_err(|e| ModelError::Config(format!("starting rollout thread {k}: {e}")))?;
            workers.push(go);
            handles.push(handle);
        }
        let worker_cpus = place(&handles, first_place, &WorkerPlacement::Spread)?;
        Ok(Self {
            scratch: Scratch::new(&c),
            shared,
            max_samples,
            max_horizon,
            threads,
            epoch: 0,
            resolved: Vec::with_capacity(tiles),
            workers,
            handles,
            worker_cpus,
            first_place,
        })
    }

    /// The CPU each worker thread is bound to (`None`: it floats), in
    /// worker order.
    pub fn worker_cpus(&self) -> &[Option<usize>] {
        &self.worker_cpus
    }

    /// Moves the worker threads as `placement` says (a new engine's are
    /// [`WorkerPlacement::Spread`]). A CPU the process may not use, an
    /// empty list, or a list off Linux is refused, and the workers stay
    /// where they were.
    ///
    /// Why spread by default: a worker that has slept longer than a few
    /// milliseconds is woken by the kernel on the CPU of the thread that
    /// woke it, the planner's, where it waits while the planner computes
    /// every tile alone. Measured on a 2-vCPU VM (`umwelt bench plan
    /// --period-ms 20`): plans paced at 20 ms took 7.2 ms, the one-thread
    /// time, instead of 3.8 ms; bound, the worker wakes on its own CPU.
    pub fn place_workers(&mut self, placement: &WorkerPlacement) -> Result<(), ModelError> {
        self.worker_cpus = place(&self.handles, self.first_place, placement)?;
        Ok(())
    }

    /// The model this engine runs.
    pub fn model(&self) -> &InferenceModel {
        &self.shared.model
    }

    /// The largest batch a call accepts.
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// The longest horizon a call accepts.
    pub fn max_horizon(&self) -> usize {
        self.max_horizon
    }

    /// Threads a call runs on (the caller's included).
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn check_batch(&self, what: &str, n: usize, h: usize) -> Result<(), ModelError> {
        if n > self.max_samples {
            return Err(ModelError::Data(format!(
                "{what}: {n} samples, the engine was built for at most {}",
                self.max_samples
            )));
        }
        if h > self.max_horizon {
            return Err(ModelError::Data(format!(
                "{what}: horizon {h}, the engine was built for at most {}",
                self.max_horizon
            )));
        }
        Ok(())
    }

    /// Runs a call of `n` samples. With one thread, or one tile, `own`
    /// computes all rows on the calling thread. Otherwise `fill` copies the
    /// inputs into the workers' batch, the workers are woken, and the caller
    /// claims tiles with them, computing its own with `own` straight into
    /// `outs`; `collect` copies a worker's finished tile into `outs`.
    #[allow(clippy::too_many_arguments)]
    fn run<O: ?Sized>(
        &mut self,
        job: Job,
        n: usize,
        h: usize,
        fill: impl FnOnce(&mut Batch),
        outs: &mut O,
        mut own: impl FnMut(&InferenceModel, &mut Scratch, Range<usize>, &mut O),
        mut collect: impl FnMut(&TileOut, Range<usize>, &mut O),
    ) -> Result<(), ModelError> {
        let tiles = match job {
            Job::Nothing => self.workers.len(),
            _ => n.div_ceil(TILE_ROWS),
        };
        if self.workers.is_empty() || (job != Job::Nothing && tiles <= 1) {
            own(&self.shared.model, &mut self.scratch, 0..n, outs);
            return Ok(());
        }
        self.epoch += 1;
        let epoch = self.epoch;
        let buffers = self.shared.buffers(epoch);
        {
            let mut b = match buffers.batch.try_write() {
                Ok(b) => b,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // A worker is still on a tile of the call before last (the
                // OS stopped it mid-tile): rather than wait for it, this
                // call runs on the calling thread alone.
                Err(TryLockError::WouldBlock) if job != Job::Nothing => {
                    own(&self.shared.model, &mut self.scratch, 0..n, outs);
                    return Ok(());
                }
                Err(TryLockError::WouldBlock) => buffers
                    .batch
                    .write()
                    .unwrap_or_else(PoisonError::into_inner),
            };
            b.epoch = epoch;
            b.job = job;
            b.n = n;
            b.h = h;
            b.tiles = tiles;
            fill(&mut b);
        }
        self.shared
            .claim
            .store(epoch << TILE_BITS, Ordering::Release);
        for (k, go) in self.workers.iter().enumerate() {
            // A full channel means a wake-up is pending already.
            if let Err(TrySendError::Disconnected(())) = go.try_send(()) {
                return Err(ModelError::Data(format!(
                    "rollout thread {} is not running",
                    k + 1
                )));
            }
        }
        self.resolved.clear();
        self.resolved.resize(tiles, false);
        let mut left = tiles;
        let mut patience = DEFAULT_PATIENCE;
        if job != Job::Nothing {
            let start = Instant::now();
            let mut mine = 0u32;
            while let Some(t) = self.shared.claim(epoch, tiles) {
                own(&self.shared.model, &mut self.scratch, tile_rows(n, t), outs);
                self.resolved[t] = true;
                mine += 1;
            }
            left -= mine as usize;
            if mine > 0 {
                patience = start.elapsed() / mine;
            }
        }
        // Tiles that workers claimed: take each once it is finished; after
        // about one tile's time, compute the next unfinished one here.
        let mut since = Instant::now();
        while left > 0 {
            for (t, tile) in buffers.tiles.iter().enumerate().take(tiles) {
                if self.resolved[t] {
                    continue;
                }
                let out = match tile.try_lock() {
                    Ok(out) => out,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    // A worker is computing it.
                    Err(TryLockError::WouldBlock) => continue,
                };
                if out.epoch != epoch {
                    continue;
                }
                if out.panicked {
                    return Err(ModelError::Data("a rollout thread panicked".into()));
                }
                collect(&out, tile_rows(n, t), outs);
                self.resolved[t] = true;
                left -= 1;
            }
            if left == 0 {
                break;
            }
            if job != Job::Nothing && since.elapsed() >= patience {
                if let Some(t) = self.resolved.iter().position(|r| !r) {
                    own(&self.shared.model, &mut self.scratch, tile_rows(n, t), outs);
                    self.resolved[t] = true;
                    left -= 1;
                    since = Instant::now();
                }
            } else {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }

    /// Wakes the workers with as many empty tiles as there are workers and
    /// waits until every tile is marked done: the fixed cost of handing a
    /// call to the threads (for benchmarks).
    pub fn ping_workers(&mut self) -> Result<(), ModelError> {
        self.run(
            Job::Nothing,
            0,
            0,
            |_| {},
            &mut (),
            |_, _, _, _| {},
            |_, _, _| {},
        )
    }

    /// Encodes `b` normalised observations (`b x obs_dim`, row-major) into
    /// latents (`b x latent_dim`), as [`WorldModel::encode`].
    pub fn encode(&mut self, obs: &[f32], b: usize, z: &mut [f32]) -> Result<(), ModelError> {
        let c = &self.shared.model.config;
        let (o, l) = (c.obs_dim, c.latent_dim);
        self.check_batch("encode", b, 0)?;
        check_len("encode observations", obs.len(), b * o, "b x obs_dim")?;
        check_len("encode latents", z.len(), b * l, "b x latent_dim")?;
        check_finite("encode observations", obs)?;
        self.run(
            Job::Encode,
            b,
            0,
            |batch| batch.input[..b * o].copy_from_slice(obs),
            z,
            |m, s, r, z| {
                let work = Work::Encode {
                    obs: &obs[r.start * o..r.end * o],
                    z: &mut z[r.start * l..r.end * l],
                };
                compute(m, s, r.len(), work)
            },
            |out, r, z| z[r.start * l..r.end * l].copy_from_slice(&out.output[..r.len() * l]),
        )
    }

    /// Rolls out `n` samples that all start at latent `z0` (`latent_dim`)
    /// under `actions` (`n x h x act_dim`, row-major by sample, normalised
    /// to `[-1, 1]`), as [`WorldModel::rollout`]; fills `out` (its Vecs
    /// grow only if their capacity is too small).
    pub fn rollout(
        &mut self,
        z0: &[f32],
        actions: &[f32],
        n: usize,
        h: usize,
        out: &mut RolloutOutput,
    ) -> Result<(), ModelError> {
        let c = &self.shared.model.config;
        let (l, a) = (c.latent_dim, c.act_dim);
        self.check_batch("rollout", n, h)?;
        check_len("rollout z0", z0.len(), l, "latent_dim")?;
        check_len(
            "rollout actions",
            actions.len(),
            n * h * a,
            "n x h x act_dim",
        )?;
        check_finite("rollout z0", z0)?;
        check_finite("rollout actions", actions)?;
        out.rewards.resize(n * h, 0.0);
        out.values.resize(n, 0.0);
        out.final_latents.resize(n * l, 0.0);
        let mut outs = (
            &mut out.rewards[..],
            &mut out.values[..],
            &mut out.final_latents[..],
        );
        self.run(
            Job::Rollout,
            n,
            h,
            |batch| {
                batch.z0.copy_from_slice(z0);
                batch.input[..n * h * a].copy_from_slice(actions);
            },
            &mut outs,
            |m, s, r, (rewards, values, latents)| {
                let work = Work::Rollout {
                    z0,
                    actions: &actions[r.start * h * a..r.end * h * a],
                    h,
                    rewards: &mut rewards[r.start * h..r.end * h],
                    values: &mut values[r.clone()],
                    latents: &mut latents[r.start * l..r.end * l],
                };
                compute(m, s, r.len(), work)
            },
            |tile, r, (rewards, values, latents)| {
                let k = r.len();
                rewards[r.start * h..r.end * h].copy_from_slice(&tile.rewards[..k * h]);
                values[r.clone()].copy_from_slice(&tile.values[..k]);
                latents[r.start * l..r.end * l].copy_from_slice(&tile.latents[..k * l]);
            },
        )
    }

    /// Policy-prior trajectories from `z0`: `a_t = tanh(mu(z_t) +
    /// exp(log_std(z_t)) * noise_t)`, `z_{t+1} = dyn(z_t, a_t)`, as
    /// [`WorldModel::policy_sample`] and [`WorldModel::next`]; writes
    /// `actions` (`n x h x act_dim`, row-major by sample). `noise` is
    /// standard normal, `n x h x act_dim`, drawn by the caller.
    pub fn policy_rollout(
        &mut self,
        z0: &[f32],
        noise: &[f32],
        n: usize,
        h: usize,
        actions: &mut [f32],
    ) -> Result<(), ModelError> {
        let c = &self.shared.model.config;
        let (l, a) = (c.latent_dim, c.act_dim);
        self.check_batch("policy rollout", n, h)?;
        check_len("policy rollout z0", z0.len(), l, "latent_dim")?;
        check_len(
            "policy rollout noise",
            noise.len(),
            n * h * a,
            "n x h x act_dim",
        )?;
        check_len(
            "policy rollout actions",
            actions.len(),
            n * h * a,
            "n x h x act_dim",
        )?;
        check_finite("policy rollout z0", z0)?;
        check_finite("policy rollout noise", noise)?;
        self.run(
            Job::Policy,
            n,
            h,
            |batch| {
                batch.z0.copy_from_slice(z0);
                batch.input[..n * h * a].copy_from_slice(noise);
            },
            actions,
            |m, s, r, actions| {
                let work = Work::Policy {
                    z0,
                    noise: &noise[r.start * h * a..r.end * h * a],
                    h,
                    actions: &mut actions[r.start * h * a..r.end * h * a],
                };
                compute(m, s, r.len(), work)
            },
            |tile, r, actions| {
                actions[r.start * h * a..r.end * h * a]
                    .copy_from_slice(&tile.output[..r.len() * h * a])
            },
        )
    }
}

impl Drop for RolloutEngine {
    fn drop(&mut self) {
        // Closing the go channels ends the workers' loops.
        self.workers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_and_tanh_are_accurate() {
        let mut x = -90.0f32;
        while x < 89.0 {
            let (e, want) = (fast_exp(x), x.clamp(-87.0, 88.0).exp());
            assert!(
                ((e - want) / want).abs() < 4e-7,
                "exp({x}) = {e}, want {want}"
            );
            let (t, want) = (fast_tanh(x / 8.0), (x / 8.0).tanh());
            assert!(
                (t - want).abs() < 3e-7,
                "tanh({}) = {t}, want {want}",
                x / 8.0
            );
            x += 0.013;
        }
        assert!(fast_exp(f32::NAN).is_nan());
        assert_eq!(fast_tanh(0.0), 0.0);
    }

    /// Both builds of LayerNorm + ReLU against a plain f64 reference, on
    /// rows that are and are not whole multiples of eight lanes.
    #[test]
    fn layer_norm_kernels_match_a_reference() {
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 4.0 - 2.0
        };
        for n in [1, 5, 8, 13, 64, 128, 130] {
            let x: Vec<f32> = (0..n).map(|_| next() * 3.0 + 1.0).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            let norm = Norm {
                gamma: (0..n).map(|_| next()).collect(),
                beta: (0..n).map(|_| next() * 0.5).collect(),
            };
            for with_bias in [false, true] {
                let v: Vec<f64> = x
                    .iter()
                    .zip(&bias)
                    .map(|(a, b)| *a as f64 + if with_bias { *b as f64 } else { 0.0 })
                    .collect();
                let mean = v.iter().sum::<f64>() / n as f64;
                let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64;
                let want: Vec<f64> = v
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let y = (a - mean) / (var + LAYER_NORM_EPS).sqrt() * norm.gamma[i] as f64
                            + norm.beta[i] as f64;
                        y.max(0.0)
                    })
                    .collect();
                let b = with_bias.then_some(&bias[..]);
                let mut portable = x.clone();
                norm_relu_portable(&mut portable, b, &norm);
                let mut best = x.clone();
                norm_relu(&mut best, b, &norm);
                for (k, w) in want.iter().enumerate() {
                    for (what, got) in [("portable", portable[k]), ("dispatched", best[k])] {
                        assert!(
                            (got as f64 - w).abs() < 1e-5,
                            "{what} n {n} bias {with_bias} [{k}]: {got} vs {w}"
                        );
                    }
                }
            }
        }
    }

    /// The fused AVX2 dense kernel gives, to the bit, what `gemm` followed
    /// by the bias / ReLU / LayerNorm passes gives, for every row count of
    /// a tile (whole register blocks and remainders), the engine's layer
    /// shapes and a few odd depths, on packed and padded rows.
    #[test]
    fn fused_dense_kernel_is_bit_identical_to_gemm_and_passes() {
        #[cfg(target_arch = "x86_64")]
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            eprintln!("no AVX2+FMA here: the fused kernel is not used, nothing to compare");
            return;
        }
        let mut seed = 11u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        let mut compared = 0;
        for (depth, d_out) in [
            (65, 128),
            (66, 128),
            (128, 128),
            (128, 64),
            (1, 16),
            (7, 48),
            (129, 32),
        ] {
            let layer = Layer {
                w: (0..depth * d_out).map(|_| next()).collect(),
                b: (0..d_out).map(|_| next()).collect(),
                d_in: depth,
                d_out,
                norm: None,
                bf16: None,
            };
            let norm = Norm {
                gamma: (0..d_out).map(|_| next() + 1.0).collect(),
                beta: (0..d_out).map(|_| next() * 0.3).collect(),
            };
            let x: Vec<f32> = (0..TILE_ROWS * (depth + 3)).map(|_| next() * 2.0).collect();
            for n in [d_out, d_out - 16].into_iter().filter(|n| *n > 0) {
                // Packed rows, as the engine has them, and padded ones.
                for (x_rs, y_rs) in [(depth, n), (depth + 3, n + 5)] {
                    for post in [Post::None, Post::Hidden(None), Post::Hidden(Some(&norm))] {
                        for m in 1..=TILE_ROWS {
                            let mut fused = vec![f32::NAN; m * y_rs];
                            dense(
                                &layer,
                                n,
                                m,
                                &x,
                                x_rs,
                                &mut fused,
                                y_rs,
                                post,
                                &mut Bf16Scratch::default(),
                            );
                            let mut want = vec![f32::NAN; m * y_rs];
                            matmul(m, n, depth, &mut want, y_rs, &x, x_rs, &layer.w, d_out);
                            add_bias(&mut want, y_rs, m, n, &layer.b, post);
                            for (k, (g, w)) in fused.iter().zip(&want).enumerate() {
                                assert!(
                                    g.to_bits() == w.to_bits(),
                                    "depth {depth} n {n} m {m} strides {x_rs}/{y_rs} [{}, {}]: \
                                     {g} vs {w}",
                                    k / y_rs,
                                    k % y_rs
                                );
                            }
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 13 * 2 * 3 * TILE_ROWS);
    }

    /// Where the CPU has AVX-512, `dense` takes the AVX-512 kernel for
    /// widths of 32s; the AVX2 kernel, which AVX2-only CPUs run for them,
    /// must still give the same bits there (and `gemm`'s, checked above).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_avx512_dense_kernels_agree_to_the_bit() {
        if !std::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512 here: only the AVX2 kernel runs, nothing to compare");
            return;
        }
        let mut seed = 23u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        let mut compared = 0;
        for (depth, n) in [(65, 128), (128, 64), (64, 128), (3, 32), (130, 96)] {
            let w: Vec<f32> = (0..depth * n).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            let norm = Norm {
                gamma: (0..n).map(|_| next() + 1.0).collect(),
                beta: (0..n).map(|_| next() * 0.3).collect(),
            };
            let x: Vec<f32> = (0..TILE_ROWS * depth).map(|_| next() * 2.0).collect();
            for post in [Post::None, Post::Hidden(None), Post::Hidden(Some(&norm))] {
                for m in 1..=TILE_ROWS {
                    let mut a = vec![f32::NAN; m * n];
                    let mut v = vec![f32::NAN; m * n];
                    // SAFETY: the CPU has AVX-512F (checked), hence AVX2 and
                    // FMA; n is a multiple of 32 and the buffers hold the
                    // shapes.
                    unsafe {
                        x86::dense_avx2(m, n, depth, &x, depth, &w, n, &b, &mut a, n, post);
                        x86::dense_avx512(m, n, depth, &x, depth, &w, n, &b, &mut v, n, post);
                    }
                    assert!(
                        a.iter().zip(&v).all(|(a, v)| a.to_bits() == v.to_bits()),
                        "depth {depth} n {n} m {m}"
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 5 * 3 * TILE_ROWS);
    }

    /// The vectorised SimNorm (groups of 8, rows of 64) gives the scalar
    /// softmax's bits, over ordinary activations, ties, entries far apart
    /// (clamped exponentials), infinities and NaN.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_simnorm_is_bit_identical_to_the_scalar_softmax() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            eprintln!("no AVX2+FMA here: the vector SimNorm is not used, nothing to compare");
            return;
        }
        let mut seed = 5u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        let mut rows: Vec<[f32; 64]> = Vec::new();
        for scale in [0.01f32, 1.0, 5.0, 30.0, 200.0, 1e30] {
            for _ in 0..50 {
                rows.push(std::array::from_fn(|_| next() * scale));
            }
        }
        let mut special: [f32; 64] = std::array::from_fn(|i| (i % 3) as f32);
        special[9] = f32::INFINITY;
        special[17] = f32::NEG_INFINITY;
        special[26] = f32::NAN;
        special[40..48].fill(f32::NEG_INFINITY);
        special[56..64].fill(-90.0);
        rows.push(special);
        let avx512 = std::is_x86_feature_detected!("avx512f");
        for (i, row) in rows.iter().enumerate() {
            let mut want = *row;
            for g in want.chunks_exact_mut(8) {
                softmax(g);
            }
            let same = |got: &[f32; 64], how: &str| {
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                        "row {i} [{k}] {how}: {g} vs {w}"
                    );
                }
            };
            let mut got = *row;
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { x86::simnorm64_avx2(&mut got) };
            same(&got, "alone");
            if avx512 {
                // Paired with another row, in either half of the
                // registers.
                let other = rows[(i * 7 + 3) % rows.len()];
                let (mut a, mut b) = (*row, other);
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA.
                unsafe { x86::simnorm64x2_avx512(&mut a, &mut b) };
                same(&a, "low half");
                let (mut a, mut b) = (other, *row);
                // SAFETY: as above.
                unsafe { x86::simnorm64x2_avx512(&mut a, &mut b) };
                same(&b, "high half");
            }
        }
        // And through `simnorm_rows`, at a stride, as the engine calls it,
        // for odd and even row counts (the last row without a full stride).
        for m in [1, 4, 5] {
            let rs = 66;
            let x: Vec<f32> = (0..(m - 1) * rs + 64).map(|_| next() * 3.0).collect();
            let mut got = x.clone();
            simnorm_rows(&mut got, rs, m, 64, 8);
            let mut want = x.clone();
            for i in 0..m {
                for g in want[i * rs..i * rs + 64].chunks_exact_mut(8) {
                    softmax(g);
                }
            }
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits()),
                "{m} rows"
            );
        }
    }

    /// `x . w + b` summed as `gemm`'s AVX2 horizontal kernel sums it:
    /// eight lanes of fused multiply-adds, the last chunk zero-padded, the
    /// lanes reduced as `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`.
    fn dot_as_gemm_avx2(x: &[f32], w: &[f32], b: f32) -> f32 {
        let mut acc = [0.0f32; 8];
        for (xc, wc) in x.chunks(8).zip(w.chunks(8)) {
            for (l, a) in acc.iter_mut().enumerate() {
                let (xv, wv) = (xc.get(l).copied(), wc.get(l).copied());
                *a = xv.unwrap_or(0.0).mul_add(wv.unwrap_or(0.0), *a);
            }
        }
        let t: Vec<f32> = (0..4).map(|j| acc[j] + acc[j + 4]).collect();
        ((t[0] + t[2]) + (t[1] + t[3])) + b
    }

    #[test]
    fn one_output_heads_sum_as_gemms_avx2_kernel_on_every_avx2_cpu() {
        #[cfg(target_arch = "x86_64")]
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            eprintln!("no AVX2+FMA here: the heads use gemm, nothing to compare");
            return;
        }
        // Where gemm's widest kernel is AVX2, the heads must also equal
        // gemm's own results (what the shipped evaluations were run with).
        #[cfg(target_arch = "x86_64")]
        let gemm_is_avx2 = !std::is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let gemm_is_avx2 = false;
        let mut seed = 5u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        let (mut compared, mut against_gemm) = (0, 0);
        for depth in [1, 7, 8, 9, 64, 65, 66, 128, 129, 1024] {
            let layer = Layer {
                w: (0..depth).map(|_| next()).collect(),
                b: vec![next()],
                d_in: depth,
                d_out: 1,
                norm: None,
                bf16: None,
            };
            let x: Vec<f32> = (0..256 * (depth + 3)).map(|_| next() * 2.0).collect();
            for (x_rs, y_rs) in [(depth, 1), (depth + 3, 4)] {
                for m in (1..=TILE_ROWS).chain([255, 256]) {
                    let mut got = vec![f32::NAN; m * y_rs];
                    dense(
                        &layer,
                        1,
                        m,
                        &x,
                        x_rs,
                        &mut got,
                        y_rs,
                        Post::None,
                        &mut Bf16Scratch::default(),
                    );
                    for i in 0..m {
                        let row = &x[i * x_rs..i * x_rs + depth];
                        let want = dot_as_gemm_avx2(row, &layer.w, layer.b[0]);
                        let g = got[i * y_rs];
                        assert!(
                            g.to_bits() == want.to_bits(),
                            "depth {depth} m {m} strides {x_rs}/{y_rs} row {i}: {g} vs {want}"
                        );
                    }
                    compared += 1;
                    if gemm_is_avx2 {
                        let mut want = vec![f32::NAN; m * y_rs];
                        matmul(m, 1, depth, &mut want, y_rs, &x, x_rs, &layer.w, 1);
                        add_bias(&mut want, y_rs, m, 1, &layer.b, Post::None);
                        for i in 0..m {
                            assert_eq!(got[i * y_rs].to_bits(), want[i * y_rs].to_bits());
                        }
                        against_gemm += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 10 * 2 * (TILE_ROWS + 2));
        eprintln!("{compared} shapes against the reference, {against_gemm} against gemm");
    }

    #[test]
    fn tiles_cover_the_batch_in_order() {
        for n in [0usize, 1, 63, 64, 65, 200, 512, 1000] {
            let mut next = 0;
            for t in 0..n.div_ceil(TILE_ROWS) {
                let r = tile_rows(n, t);
                assert_eq!(r.start, next);
                assert!(r.start.is_multiple_of(TILE_ROWS));
                assert!(!r.is_empty() && r.len() <= TILE_ROWS);
                next = r.end;
            }
            assert_eq!(next, n);
        }
    }

    /// A worker stuck mid-tile (here: blocked on its tile's output, which
    /// the test holds) neither hangs the calls nor changes their results:
    /// the caller computes the stuck tile itself, and two calls later,
    /// finding the stuck worker still reading that call's buffers, runs the
    /// call alone.
    #[test]
    fn a_stuck_worker_neither_hangs_calls_nor_changes_results() {
        let c = WorldModelConfig {
            obs_dim: 3,
            act_dim: 1,
            ..WorldModelConfig::default()
        };
        let model = crate::world_model::WorldModel::new(&c, 0, &burn::tensor::Device::flex())
            .expect("model");
        let im = Arc::new(InferenceModel::from_model(&model).expect("inference model"));
        let (n, h) = (512, 3);
        let z0 = vec![1.0 / 8.0; c.latent_dim];
        let actions: Vec<f32> = (0..n * h)
            .map(|i| ((i * 37 % 200) as f32 / 100.0) - 1.0)
            .collect();
        let mut one = RolloutEngine::new(im.clone(), n, h, 1).expect("engine");
        let mut want = RolloutOutput::default();
        one.rollout(&z0, &actions, n, h, &mut want)
            .expect("rollout");

        let mut engine = RolloutEngine::new(im, n, h, 2).expect("engine");
        let shared = engine.shared.clone();
        // The first call uses the odd buffers: hold every tile's output, so a
        // worker that claims one blocks there, still reading the batch.
        let held: Vec<_> = shared
            .buffers(1)
            .tiles
            .iter()
            .map(|t| t.lock().expect("lock"))
            .collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let (z, a) = (z0.clone(), actions.clone());
        let calls = std::thread::spawn(move || {
            let mut outs = Vec::new();
            for _ in 0..4 {
                let mut out = RolloutOutput::default();
                engine.rollout(&z, &a, n, h, &mut out).expect("rollout");
                outs.push(out);
            }
            let _ = tx.send(outs);
            engine
        });
        let outs = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the calls finished while a worker was stuck");
        drop(held);
        let mut engine = calls.join().expect("calls");
        for (i, out) in outs.iter().enumerate() {
            assert_eq!(out.values, want.values, "call {i}");
            assert_eq!(out.rewards, want.rewards, "call {i}");
            assert_eq!(out.final_latents, want.final_latents, "call {i}");
        }
        // Once released, the worker rejoins and results stay the same.
        let mut out = RolloutOutput::default();
        engine
            .rollout(&z0, &actions, n, h, &mut out)
            .expect("rollout");
        assert_eq!(out.values, want.values);
    }

    /// Each tile of the latest call is claimed once; a worker holding an
    /// older call's number gets nothing.
    #[test]
    fn tiles_are_claimed_once_and_only_for_the_latest_call() {
        let model = crate::world_model::WorldModel::new(
            &WorldModelConfig {
                obs_dim: 3,
                act_dim: 1,
                ..WorldModelConfig::default()
            },
            0,
            &burn::tensor::Device::flex(),
        )
        .expect("model");
        let engine = RolloutEngine::new(
            Arc::new(InferenceModel::from_model(&model).expect("inference model")),
            512,
            4,
            2,
        )
        .expect("engine");
        let shared = &engine.shared;
        shared.claim.store(7 << TILE_BITS, Ordering::Release);
        let got: Vec<usize> = std::iter::from_fn(|| shared.claim(7, 5)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(shared.claim(7, 5), None);
        shared.claim.store(8 << TILE_BITS, Ordering::Release);
        assert_eq!(shared.claim(7, 5), None, "an older call's number");
        assert_eq!(shared.claim(8, 5), Some(0));
        assert!(std::ptr::eq(shared.buffers(7), shared.buffers(9)));
        assert!(!std::ptr::eq(shared.buffers(7), shared.buffers(8)));
    }
}
