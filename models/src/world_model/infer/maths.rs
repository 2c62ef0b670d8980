//! Scalar maths of the engine, the reference the vector kernels follow:
//! the `gemm` product, the polynomial `exp` and `tanh`, and the portable
//! ReLU, LayerNorm and softmax passes. Nothing here chooses a kernel by
//! CPU (`f32_dispatch` does), so the intrinsics files can build on it.

use super::super::config::ModelError;
use super::super::nn::LAYER_NORM_EPS;
use super::weights::Norm;

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

/// [`super::f32_dispatch::norm_relu`] without explicit SIMD, for CPUs
/// without AVX2 (LLVM vectorises it only in part).
#[inline(always)]
pub(super) fn norm_relu_portable(row: &mut [f32], bias: Option<&[f32]>, norm: &Norm) {
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
}
