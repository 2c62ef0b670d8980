//! Kernels written with AVX2/FMA intrinsics, where LLVM's vectoriser
//! leaves the portable code half scalar (it did so for LayerNorm's pass
//! over a row: a third of a plan's time went there).

use std::arch::x86_64::*;

use super::maths::{Post, mean_inv_std};
use super::weights::Norm;

/// Sum of the eight lanes in the order the portable kernel folds them:
/// `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn fold(v: __m256) -> f32 {
    let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let mut l = [0.0f32; 4];
    // SAFETY: `l` holds four floats.
    unsafe { _mm_storeu_ps(l.as_mut_ptr(), t) };
    (l[0] + l[1]) + (l[2] + l[3])
}

/// [`super::f32_dispatch::norm_relu`] on AVX2: eight lanes a register, one fused
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

/// [`super::dispatch::dense`] on AVX2 for `n` a multiple of 16: `y = post(x W +
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
/// followed by [`super::f32_dispatch::add_bias`] (tested).
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
    row_blocks!(
        m,
        BLOCK_ROWS,
        [6, 5, 4, 3, 2],
        x,
        x_rs,
        y,
        y_rs,
        block(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post)
    );
}

/// `R` rows of [`dense_avx2`].
///
/// # Safety
/// As [`dense_avx2`], with `R` rows.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn block<const R: usize>(
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
pub(super) fn transpose8(r: &mut [__m256; 8]) {
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

/// [`super::maths::fast_exp`] of eight lanes: the same operations in the same
/// order (no fused multiply-adds), so the same bits.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn fast_exp8(x: __m256) -> __m256 {
    use super::maths::exp_consts::*;
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
/// group's [`super::maths::softmax`], for all eight at once. The block is
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

/// The normalising pass of LayerNorm + ReLU over a row of whole
/// eight-lane chunks, given its mean and `1 / sqrt(var + eps)`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn normalise_relu(row: &mut [f32], mean: f32, inv_std: f32, norm: &Norm) {
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
            let y = _mm256_fmadd_ps(x, _mm256_loadu_ps(g.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_max_ps(y, zero));
        }
    }
    for ((v, g), b) in tail.iter_mut().zip(gt).zip(bt) {
        let y = (*v - mean) * inv_std * g + b;
        *v = if y > 0.0 { y } else { 0.0 };
    }
}
/// [`super::bf16::swap_row`] of whole eight-value chunks (`out` as long as
/// `x`): [`super::bf16::rounded`]'s operations on eight lanes, then each
/// pair's lanes swapped.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn swap_chunks_avx2(x: &[f32], out: &mut [f32]) {
    let c = |v: u32| _mm256_set1_epi32(v as i32);
    let (xs, _) = x.as_chunks::<8>();
    let (os, _) = out.as_chunks_mut::<8>();
    for (o, x) in os.iter_mut().zip(xs) {
        // SAFETY: `x` and `o` are eight floats each.
        let b = unsafe { _mm256_loadu_si256(x.as_ptr().cast()) };
        let mag = _mm256_and_si256(b, c(0x7fff_ffff));
        let lsb = _mm256_and_si256(_mm256_srli_epi32::<16>(b), c(1));
        let r = _mm256_and_si256(
            _mm256_add_epi32(b, _mm256_add_epi32(c(0x7fff), lsb)),
            c(0xffff_0000),
        );
        // Magnitudes are below 2^31, so signed compares are right.
        let sub = _mm256_cmpgt_epi32(c(0x0080_0000), mag);
        let r = _mm256_blendv_epi8(r, _mm256_and_si256(b, c(0x8000_0000)), sub);
        let nan = _mm256_cmpgt_epi32(mag, c(0x7f80_0000));
        let quiet = _mm256_and_si256(_mm256_or_si256(b, c(0x0040_0000)), c(0xffff_0000));
        let r = _mm256_blendv_epi8(r, quiet, nan);
        // Lanes 1, 0, 3, 2 of each half.
        let swapped = _mm256_permute_ps::<0b10_11_00_01>(_mm256_castsi256_ps(r));
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), swapped) };
    }
}

#[cfg(test)]
mod tests {
    use crate::world_model::infer::f32_dispatch::simnorm_rows;
    use crate::world_model::infer::maths::softmax;
    use crate::world_model::infer::{x86_avx2, x86_avx512};

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
            unsafe { x86_avx2::simnorm64_avx2(&mut got) };
            same(&got, "alone");
            if avx512 {
                // Paired with another row, in either half of the
                // registers.
                let other = rows[(i * 7 + 3) % rows.len()];
                let (mut a, mut b) = (*row, other);
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA.
                unsafe { x86_avx512::simnorm64x2_avx512(&mut a, &mut b) };
                same(&a, "low half");
                let (mut a, mut b) = (other, *row);
                // SAFETY: as above.
                unsafe { x86_avx512::simnorm64x2_avx512(&mut a, &mut b) };
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
}
