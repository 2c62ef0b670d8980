//! The AVX-512 forms of the AVX2 kernels ([`super::x86_avx2`]): the same
//! operations per output, sixteen lanes a register, so the same bits.

use std::arch::x86_64::*;

use super::maths::{Post, mean_inv_std};
use super::weights::Norm;
use super::x86_avx2::fold;

/// Rows per register block of [`dense_avx512`]: 8 rows x 32 columns
/// make 16 accumulators, half of AVX-512's 32 registers, with room for
/// the two weight vectors (the broadcasts fold into the multiply-adds).
const BLOCK_ROWS_512: usize = 8;

/// [`super::x86_avx2::dense_avx2`] on AVX-512 for `n` a multiple of 32: the same
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
/// slices must hold the shapes, as for [`super::x86_avx2::dense_avx2`].
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
    row_blocks!(
        m,
        BLOCK_ROWS_512,
        [8, 7, 6, 5, 4, 3, 2],
        x,
        x_rs,
        y,
        y_rs,
        block512(n, depth, x, x_rs, w, w_rs, b, y, y_rs, post)
    );
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

/// [`super::x86_avx2::normalise_relu`] sixteen lanes a register, for a row of whole
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
            let y = _mm512_fmadd_ps(x, _mm512_loadu_ps(g.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
            _mm512_storeu_ps(c.as_mut_ptr(), _mm512_max_ps(y, zero));
        }
    }
}

/// [`super::x86_avx2::transpose8`] of two 8 x 8 blocks at once: block `A` in the low
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

/// [`super::x86_avx2::fast_exp8`] on sixteen lanes: the same operations in the same
/// order, so the same bits.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn fast_exp16(x: __m512) -> __m512 {
    use super::maths::exp_consts::*;
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

/// [`super::x86_avx2::simnorm64_avx2`] of two rows at once, one in each 256-bit half of
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::infer::{TILE_ROWS, x86_avx2, x86_avx512};

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
                        x86_avx2::dense_avx2(m, n, depth, &x, depth, &w, n, &b, &mut a, n, post);
                        x86_avx512::dense_avx512(
                            m, n, depth, &x, depth, &w, n, &b, &mut v, n, post,
                        );
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
}
