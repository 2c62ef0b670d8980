//! Scalar maths of the engine: the `gemm` product, the polynomial `exp`
//! and `tanh`, bias, ReLU, LayerNorm and SimNorm passes (each choosing
//! its AVX2 or AVX-512 form at run time where there is one).

use super::super::config::ModelError;
use super::super::nn::LAYER_NORM_EPS;
use super::weights::Norm;
#[cfg(target_arch = "x86_64")]
use super::{x86_avx2, x86_avx512};

/// `dst[i, j] = sum_k lhs[i, k] * rhs[k, j]` for `i < m`, `j < n`, `k < depth`;
/// all three row-major with the given row strides (column stride 1).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
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
pub(super) mod exp_consts {
    pub(crate) const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest, so that `x - k ln 2`
    // loses no bits for |k| <= 128.
    pub(crate) const LN2_HI: f32 = 0.693_359_4;
    pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to the nearest integer in the low mantissa
    // bits, without a (non-vectorisable on SSE2) round() call.
    pub(crate) const SHIFT: f32 = 12_582_912.0;
    /// Taylor coefficients of `e^r` from `r^2`: 1/2, 1/6, ... 1/720.
    pub(crate) const C2: f32 = 0.5;
    pub(crate) const C3: f32 = 1.0 / 6.0;
    pub(crate) const C4: f32 = 1.0 / 24.0;
    pub(crate) const C5: f32 = 1.0 / 120.0;
    pub(crate) const C6: f32 = 1.0 / 720.0;
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
pub(super) fn norm_relu(row: &mut [f32], bias: Option<&[f32]>, norm: &Norm) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the kernel is compiled for.
        unsafe { x86_avx2::norm_relu_avx2(row, bias, norm) };
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
pub(super) fn mean_inv_std(mut sum: f32, mut sq: f32, tail: &[f32], n: usize) -> (f32, f32) {
    for v in tail {
        sum += *v;
        sq += *v * *v;
    }
    let inv_n = 1.0 / n as f32;
    let mean = sum * inv_n;
    let var = (sq * inv_n - mean * mean).max(0.0);
    (mean, 1.0 / (var + LAYER_NORM_EPS as f32).sqrt())
}

/// What follows a layer's bias: nothing (the output layer), or for a hidden
/// layer its LayerNorm (if any) and ReLU.
#[derive(Clone, Copy)]
pub(super) enum Post<'a> {
    None,
    Hidden(Option<&'a Norm>),
}

#[inline(always)]
pub(super) fn relu_in_place(row: &mut [f32]) {
    for v in row.iter_mut() {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

/// Adds `bias` to the first `n` columns of `m` rows (stride `rs`), then
/// what `post` says.
#[inline(always)]
pub(super) fn add_bias(y: &mut [f32], rs: usize, m: usize, n: usize, bias: &[f32], post: Post<'_>) {
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
pub(super) fn softmax(g: &mut [f32]) {
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
pub(super) fn simnorm_rows(x: &mut [f32], rs: usize, m: usize, width: usize, group: usize) {
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
                unsafe { x86_avx512::simnorm64x2_avx512(a, b) };
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
                unsafe { x86_avx2::simnorm64_avx2(block) };
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
}
