//! The bfloat16 kernels of [`super::bf16`] with AVX512-BF16
//! (`vcvtneps2bf16`, `vdpbf16ps`).

use std::arch::x86_64::*;

use super::maths::Post;
use super::weights::round_bf16;
use super::x86_avx512::{finish512, store512};

/// `v`'s 32 halves as bfloat16 (the same bits).
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
fn as_bf16(v: __m512i) -> __m512bh {
    // SAFETY: both are 64-byte vectors, and every bit pattern is a
    // valid value of either.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}

/// `x` as bfloat16 pairs into `out` (`ceil(len / 2)` of them), sixteen
/// values an instruction, the rest as [`round_bf16`] (the same
/// rounding, tested).
///
/// # Safety
/// The CPU must support AVX-512F and AVX512-BF16.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn pack_row(x: &[f32], out: &mut [u32]) {
    let (chunks, rest) = x.as_chunks::<16>();
    let (head, tail) = out.split_at_mut(chunks.len() * 8);
    for (o, c) in head.as_chunks_mut::<8>().0.iter_mut().zip(chunks) {
        // SAFETY: `c` is sixteen floats and `o` eight u32s (sixteen
        // halves), the converted vector's size.
        unsafe {
            let v = _mm512_cvtneps_pbh(_mm512_loadu_ps(c.as_ptr()));
            _mm256_storeu_si256(
                o.as_mut_ptr().cast(),
                std::mem::transmute::<__m256bh, __m256i>(v),
            );
        }
    }
    for (o, p) in tail.iter_mut().zip(rest.chunks(2)) {
        let odd = p.get(1).map_or(0, |v| round_bf16(*v));
        *o = u32::from(round_bf16(p[0])) | (u32::from(odd) << 16);
    }
}

/// [`super::x86_avx512::dense_avx512`] with `vdpbf16ps`:
/// `y = post(x W + b)` for `m` rows of `k2` input pairs, eight rows x
/// 32 columns in registers, each output summed over the pairs in order
/// from zero, then the bias, ReLU or LayerNorm as that kernel applies
/// them.
///
/// # Safety
/// The CPU must support AVX512-BF16, AVX-512F, AVX2 and FMA;
/// `n % 32 == 0`; `x` must hold `m` rows of `k2` at stride `x_rs`, `w`
/// `k2` rows of `n` at stride `w_rs`, `b` `n` values and `y` `m` rows
/// of `n` at stride `y_rs`, which the caller asserts.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16,avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn dense_bf16_avx512(
    m: usize,
    n: usize,
    k2: usize,
    x: &[u32],
    x_rs: usize,
    w: &[u32],
    w_rs: usize,
    b: &[f32],
    y: &mut [f32],
    y_rs: usize,
    post: Post<'_>,
) {
    row_blocks!(
        m,
        8,
        [8, 7, 6, 5, 4, 3, 2],
        x,
        x_rs,
        y,
        y_rs,
        block(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post)
    );
}

/// `R` rows of [`dense_bf16_avx512`].
///
/// # Safety
/// As [`dense_bf16_avx512`], with `R` rows.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16,avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn block<const R: usize>(
    n: usize,
    k2: usize,
    x: &[u32],
    x_rs: usize,
    w: &[u32],
    w_rs: usize,
    b: &[f32],
    y: &mut [f32],
    y_rs: usize,
    post: Post<'_>,
) {
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let zero = _mm512_setzero_ps();
    let mut s1 = [_mm256_setzero_ps(); R];
    let mut s2 = [_mm256_setzero_ps(); R];
    let mut j = 0;
    while j < n {
        let mut acc = [[zero; 2]; R];
        for p in 0..k2 {
            // SAFETY (loads): row p < k2 of W holds columns j..j + 32
            // (j + 32 <= n <= w_rs), and row r < R of x holds pair p.
            let (w0, w1) = unsafe {
                let q = wp.add(p * w_rs + j);
                (
                    as_bf16(_mm512_loadu_si512(q.cast())),
                    as_bf16(_mm512_loadu_si512(q.add(16).cast())),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = as_bf16(_mm512_set1_epi32(unsafe { *xp.add(r * x_rs + p) } as i32));
                acc[0] = _mm512_dpbf16_ps(acc[0], a, w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], a, w1);
            }
        }
        // SAFETY: columns j..j + 32 of b and of rows r < R of y exist.
        unsafe { store512::<R>(&acc, b, y, y_rs, j, post, &mut s1, &mut s2) };
        j += 32;
    }
    finish512::<R>(y, y_rs, n, post, &s1, &s2);
}
