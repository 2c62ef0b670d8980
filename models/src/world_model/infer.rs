//! Fast CPU inference of a trained [`WorldModel`] for planning.
//!
//! burn's eager flex backend allocates every intermediate tensor and runs
//! exp/tanh as scalar libm calls, which makes a planner's thousands of
//! latent steps per control tick too slow (shared/STACK_NOTES.md). This
//! module copies the trained weights into plain row-major `f32` buffers
//! ([`InferenceModel`]) and runs them with the `gemm` crate on preallocated
//! scratch ([`RolloutEngine`]):
//!
//! - Samples are processed in tiles of [`TILE_ROWS`] rows; a tile is rolled
//!   through the whole horizon before the next one starts, so its
//!   activations stay in cache and only the weights stream from L2.
//! - Tiles are split over persistent worker threads (the caller's thread
//!   does the first share). Tile boundaries depend only on the sample count,
//!   so every sample goes through the same sequence of floating-point
//!   operations whatever the thread count: results are bit-identical for
//!   1, 2 or more threads.
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
//! (its packing buffers; ~140 per 512 x 5 rollout), cheap with mimalloc,
//! which the `umwelt` binary uses.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burn::tensor::Tensor;

use super::config::{ModelError, WorldModelConfig};
use super::model::WorldModel;
use super::nn::{Dense, LAYER_NORM_EPS, Mlp};

/// Rows of the sample batch processed together through a whole rollout.
///
/// Large enough that each matrix product amortises `gemm`'s per-call cost,
/// small enough that a tile's activations stay in L1/L2 and that 512
/// samples split evenly over 2–8 threads.
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
        })
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

/// `exp(x)` to ~2 ulp, branch-free so that loops over it vectorise:
/// `exp(x) = 2^k e^r` with `k = round(x / ln 2)` and a degree-6 Taylor
/// polynomial for `e^r`, `|r| <= ln(2) / 2`. Inputs are clamped to
/// `[-87, 88]` (results stay normal); NaN stays NaN.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest, so that `x - k ln 2`
    // loses no bits for |k| <= 128.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to the nearest integer in the low mantissa
    // bits, without a (non-vectorisable on SSE2) round() call.
    const SHIFT: f32 = 12_582_912.0;
    let x = if x > 88.0 { 88.0 } else { x };
    let x = if x < -87.0 { -87.0 } else { x };
    let t = x * LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
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

    use super::{Norm, mean_inv_std};

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
        let gamma = &norm.gamma[..n];
        let beta = &norm.beta[..n];
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
        let (head, tail) = row.as_chunks_mut::<8>();
        let (gh, gt) = gamma.as_chunks::<8>();
        let (bh, bt) = beta.as_chunks::<8>();
        let (m8, i8, zero) = (
            _mm256_set1_ps(mean),
            _mm256_set1_ps(inv_std),
            _mm256_setzero_ps(),
        );
        for ((c, g), b) in head.iter_mut().zip(gh).zip(bh) {
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
    for i in 0..m {
        let row = &mut x[i * rs..i * rs + width];
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

/// `y = x W + b` (then `post`) for the first `n` outputs of `layer`.
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
) {
    matmul(m, n, layer.d_in, y, y_rs, x, x_rs, &layer.w, layer.d_out);
    add_bias(y, y_rs, m, n, &layer.b, post);
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
    matmul(1, n, l, pre, n, z0, l, &layer.w, layer.d_out);
    for (p, b) in pre.iter_mut().zip(&layer.b[..n]) {
        *p += *b;
    }
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
/// `pre` for a shared `z0`); the first `n_out` outputs of the last layer go
/// to `y` (stride `y_rs`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward(
    net: &Net,
    m: usize,
    x: Input<'_>,
    ha: &mut [f32],
    hb: &mut [f32],
    pre: &mut [f32],
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
                (0, Input::Rows(x, x_rs)) => dense(layer, n, m, x, x_rs, dst, dst_rs, post),
                (0, Input::SharedZ0 { z0, actions, a_rs }) => {
                    dense_shared_z0(layer, n, m, z0, actions, a_rs, pre, dst, dst_rs, post)
                }
                _ => dense(layer, n, m, cur, net.layers[i - 1].d_out, dst, dst_rs, post),
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
        ..
    } = s;
    forward(&model.reward, m, x, ha, hb, pre, 1, head, 1);
    for i in 0..m {
        rewards[i * h + t] = head[i];
    }
    forward(&model.dynamics, m, x, ha, hb, pre, c.latent_dim, xb, w);
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
        ..
    } = s;
    forward(
        &model.policy,
        m,
        Input::Rows(xa, w),
        ha,
        hb,
        pre,
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
        forward(q, m, Input::Rows(xa, w), ha, hb, pre, 1, out, 1);
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
        forward(&model.policy, rows, x, ha, hb, pre, 2 * a, head, 2 * a);
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
            forward(&model.dynamics, m, x, ha, hb, pre, l, xb, w);
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

/// What a worker is asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Job {
    #[default]
    Nothing,
    Rollout,
    Policy,
    Encode,
}

/// A worker's inputs, outputs and scratch, owned by the engine and handed
/// to the worker for each call (copies of its rows: the caller's slices
/// cannot be lent to a persistent thread without unsafe code, and copying
/// a share's inputs and outputs costs ~1% of a rollout).
#[derive(Debug, Default)]
struct Slot {
    job: Job,
    rows: usize,
    h: usize,
    z0: Vec<f32>,
    /// Actions, noise or observations of the rows.
    input: Vec<f32>,
    rewards: Vec<f32>,
    values: Vec<f32>,
    latents: Vec<f32>,
    /// Policy actions or encoded latents of the rows.
    output: Vec<f32>,
    scratch: Scratch,
    panicked: bool,
}

impl Slot {
    fn run(&mut self, model: &InferenceModel) {
        let (l, a, o) = (
            model.config.latent_dim,
            model.config.act_dim,
            model.config.obs_dim,
        );
        let (rows, h) = (self.rows, self.h);
        let work = match self.job {
            Job::Nothing => Work::Nothing,
            Job::Rollout => Work::Rollout {
                z0: &self.z0,
                actions: &self.input[..rows * h * a],
                h,
                rewards: &mut self.rewards[..rows * h],
                values: &mut self.values[..rows],
                latents: &mut self.latents[..rows * l],
            },
            Job::Policy => Work::Policy {
                z0: &self.z0,
                noise: &self.input[..rows * h * a],
                h,
                actions: &mut self.output[..rows * h * a],
            },
            Job::Encode => Work::Encode {
                obs: &self.input[..rows * o],
                z: &mut self.output[..rows * l],
            },
        };
        compute(model, &mut self.scratch, rows, work);
    }
}

/// How long the caller polls for its workers to finish before it sleeps.
/// Waking a sleeping thread costs 30-70 us on a VM (an idle vCPU must be
/// rescheduled); the workers usually finish within this.
const CALLER_SPIN: std::time::Duration = std::time::Duration::from_micros(200);

/// How long a worker polls for the next call before it sleeps: a planner
/// makes several calls per control tick back to back (policy samples, then
/// each iteration's rollout), and this spares each of them a wake-up.
const WORKER_SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// Receives one message, polling for up to `spin` before blocking; false
/// when the sender is gone.
fn recv_spinning(rx: &Receiver<()>, spin: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
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

fn worker_loop(
    model: Arc<InferenceModel>,
    slot: Arc<Mutex<Slot>>,
    go: Receiver<()>,
    done: SyncSender<()>,
) {
    while recv_spinning(&go, WORKER_SPIN) {
        if let Ok(mut s) = slot.lock() {
            // A panic here would be a bug; catching it keeps the caller from
            // waiting forever and lets it report the failure.
            let r = catch_unwind(AssertUnwindSafe(|| s.run(&model)));
            s.panicked = r.is_err();
        }
        if done.send(()).is_err() {
            break;
        }
    }
}

struct Worker {
    slot: Arc<Mutex<Slot>>,
    go: SyncSender<()>,
}

/// Scratch buffers and worker threads for batched rollouts of one
/// [`InferenceModel`]. Calls take `&mut self`: one call at a time.
pub struct RolloutEngine {
    model: Arc<InferenceModel>,
    max_samples: usize,
    max_horizon: usize,
    threads: usize,
    /// The calling thread's scratch.
    scratch: Scratch,
    workers: Vec<Worker>,
    done: Receiver<()>,
    handles: Vec<JoinHandle<()>>,
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

/// Rows of share `k` of `threads` for `n` samples: whole tiles, so that tile
/// boundaries (and results) do not depend on the thread count.
fn share(n: usize, threads: usize, k: usize) -> std::ops::Range<usize> {
    let tiles = n.div_ceil(TILE_ROWS);
    let t0 = k * tiles / threads;
    let t1 = (k + 1) * tiles / threads;
    (t0 * TILE_ROWS).min(n)..(t1 * TILE_ROWS).min(n)
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
        let c = model.config.clone();
        let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
        // The most rows any share gets, for any n <= max_samples.
        let rows = max_samples.div_ceil(TILE_ROWS).div_ceil(threads) * TILE_ROWS;
        let rows = rows.min(max_samples);
        let (done_tx, done) = sync_channel(threads);
        let mut workers = Vec::with_capacity(threads - 1);
        let mut handles = Vec::with_capacity(threads - 1);
        for k in 1..threads {
            let slot = Arc::new(Mutex::new(Slot {
                z0: vec![0.0; l],
                input: vec![0.0; rows * (max_horizon * a).max(o)],
                rewards: vec![0.0; rows * max_horizon],
                values: vec![0.0; rows],
                latents: vec![0.0; rows * l],
                output: vec![0.0; rows * (max_horizon * a).max(l)],
                scratch: Scratch::new(&c),
                ..Slot::default()
            }));
            let (go, go_rx) = sync_channel(1);
            let (m, s, d) = (model.clone(), slot.clone(), done_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("rollout-{k}"))
                .spawn(move || worker_loop(m, s, go_rx, d))
                .map_err(|e| ModelError::Config(format!("starting rollout thread {k}: {e}")))?;
            workers.push(Worker { slot, go });
            handles.push(handle);
        }
        Ok(Self {
            scratch: Scratch::new(&c),
            model,
            max_samples,
            max_horizon,
            threads,
            workers,
            done,
            handles,
        })
    }

    /// The model this engine runs.
    pub fn model(&self) -> &InferenceModel {
        &self.model
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

    /// Hands each worker with rows its share (`fill` copies its inputs in),
    /// computes share 0 on the calling thread (`own`), waits for the
    /// workers and copies their outputs out (`collect`).
    fn run(
        &mut self,
        n: usize,
        job: Job,
        h: usize,
        mut fill: impl FnMut(&mut Slot, std::ops::Range<usize>),
        own: impl FnOnce(&InferenceModel, &mut Scratch, usize),
        mut collect: impl FnMut(&Slot, std::ops::Range<usize>),
    ) -> Result<(), ModelError> {
        let mut started = 0;
        let mut failure = None;
        for (k, w) in self.workers.iter().enumerate() {
            let rows = share(n, self.threads, k + 1);
            if rows.is_empty() && job != Job::Nothing {
                continue;
            }
            match w.slot.lock() {
                Ok(mut s) => {
                    s.job = job;
                    s.rows = rows.len();
                    s.h = h;
                    s.panicked = false;
                    fill(&mut s, rows);
                }
                Err(_) => {
                    failure = Some(k + 1);
                    break;
                }
            }
            if w.go.send(()).is_err() {
                failure = Some(k + 1);
                break;
            }
            started += 1;
        }
        if failure.is_none() {
            own(
                &self.model,
                &mut self.scratch,
                share(n, self.threads, 0).len(),
            );
        }
        // Wait for every started worker even after a failure: they hold
        // their slots until they are done.
        for _ in 0..started {
            if !recv_spinning(&self.done, CALLER_SPIN) {
                return Err(ModelError::Data("a rollout thread stopped".into()));
            }
        }
        if let Some(k) = failure {
            return Err(ModelError::Data(format!(
                "rollout thread {k} is not running"
            )));
        }
        for (k, w) in self.workers.iter().enumerate() {
            let rows = share(n, self.threads, k + 1);
            if rows.is_empty() {
                continue;
            }
            let s = w
                .slot
                .lock()
                .map_err(|_| ModelError::Data(format!("rollout thread {} failed", k + 1)))?;
            if s.panicked {
                return Err(ModelError::Data(format!(
                    "rollout thread {} panicked",
                    k + 1
                )));
            }
            collect(&s, rows);
        }
        Ok(())
    }

    /// Wakes every worker with no work and waits for it: the fixed cost of
    /// handing a call to the threads (for benchmarks).
    pub fn ping_workers(&mut self) -> Result<(), ModelError> {
        self.run(0, Job::Nothing, 0, |_, _| {}, |_, _, _| {}, |_, _| {})
    }

    /// Encodes `b` normalised observations (`b x obs_dim`, row-major) into
    /// latents (`b x latent_dim`), as [`WorldModel::encode`].
    pub fn encode(&mut self, obs: &[f32], b: usize, z: &mut [f32]) -> Result<(), ModelError> {
        let c = &self.model.config;
        let (o, l) = (c.obs_dim, c.latent_dim);
        self.check_batch("encode", b, 0)?;
        check_len("encode observations", obs.len(), b * o, "b x obs_dim")?;
        check_len("encode latents", z.len(), b * l, "b x latent_dim")?;
        check_finite("encode observations", obs)?;
        let (own_obs, own_z) = {
            let r = share(b, self.threads, 0);
            (&obs[..r.end * o], r.end * l)
        };
        let (head, tail) = z.split_at_mut(own_z);
        self.run(
            b,
            Job::Encode,
            0,
            |s, r| s.input[..r.len() * o].copy_from_slice(&obs[r.start * o..r.end * o]),
            |m, s, rows| {
                compute(
                    m,
                    s,
                    rows,
                    Work::Encode {
                        obs: own_obs,
                        z: head,
                    },
                )
            },
            |s, r| {
                tail[(r.start * l - own_z)..(r.end * l - own_z)]
                    .copy_from_slice(&s.output[..r.len() * l])
            },
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
        let c = &self.model.config;
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
        let own = share(n, self.threads, 0).end;
        let (own_r, tail_r) = out.rewards.split_at_mut(own * h);
        let (own_v, tail_v) = out.values.split_at_mut(own);
        let (own_z, tail_z) = out.final_latents.split_at_mut(own * l);
        self.run(
            n,
            Job::Rollout,
            h,
            |s, r| {
                s.z0.copy_from_slice(z0);
                s.input[..r.len() * h * a]
                    .copy_from_slice(&actions[r.start * h * a..r.end * h * a]);
            },
            |m, s, rows| {
                compute(
                    m,
                    s,
                    rows,
                    Work::Rollout {
                        z0,
                        actions,
                        h,
                        rewards: own_r,
                        values: own_v,
                        latents: own_z,
                    },
                )
            },
            |s, r| {
                let k = r.len();
                tail_r[(r.start - own) * h..(r.end - own) * h].copy_from_slice(&s.rewards[..k * h]);
                tail_v[r.start - own..r.end - own].copy_from_slice(&s.values[..k]);
                tail_z[(r.start - own) * l..(r.end - own) * l].copy_from_slice(&s.latents[..k * l]);
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
        let c = &self.model.config;
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
        let own = share(n, self.threads, 0).end;
        let (own_a, tail_a) = actions.split_at_mut(own * h * a);
        self.run(
            n,
            Job::Policy,
            h,
            |s, r| {
                s.z0.copy_from_slice(z0);
                s.input[..r.len() * h * a].copy_from_slice(&noise[r.start * h * a..r.end * h * a]);
            },
            |m, s, rows| {
                compute(
                    m,
                    s,
                    rows,
                    Work::Policy {
                        z0,
                        noise,
                        h,
                        actions: own_a,
                    },
                )
            },
            |s, r| {
                tail_a[(r.start - own) * h * a..(r.end - own) * h * a]
                    .copy_from_slice(&s.output[..r.len() * h * a])
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

    #[test]
    fn shares_are_whole_tiles_covering_the_batch() {
        for n in [0, 1, 63, 64, 65, 200, 512, 1000] {
            for threads in 1..5 {
                let mut next = 0;
                for k in 0..threads {
                    let r = share(n, threads, k);
                    assert_eq!(r.start, next);
                    assert!(r.start.is_multiple_of(TILE_ROWS) || r.is_empty());
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }
}
