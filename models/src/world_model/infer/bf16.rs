//! bfloat16 products for the wide layers ([`Precision::Bf16`]).
//!
//! A plan's time is almost all in the wide layers' `x W` products, and in
//! `f32` they already run at the CPU's multiply-add peak. `vdpbf16ps`
//! (AVX512-BF16: Zen 4, Intel since Cooper Lake) multiplies pairs of
//! bfloat16 values and adds both products to an `f32` accumulator, which
//! is twice the multiply-adds per instruction (measured on a Zen 4 VM:
//! 205-230 against 107-115 GFLOP/s per core). The inputs and weights are
//! rounded to bfloat16 (8 significant bits, the exponent range of `f32`);
//! the sums, the bias, LayerNorm, SimNorm and the heads stay `f32`.
//!
//! `vdpbf16ps` adds the odd product of each pair to the accumulator and
//! then the even one, each rounded to `f32`, and a product of two bfloat16
//! values is exact in `f32`. So the `f32` kernels, run over the rounded
//! values with each pair's two rows swapped, compute the very same sums:
//! CPUs without the instruction get the same plans to the bit (tested
//! against the instruction), only not faster. The one exception is
//! subnormal products (below 1.2e-38), which the instruction flushes to
//! zero and a multiply-add keeps; rounding flushes subnormal inputs
//! (`vcvtneps2bf16` does too), so only a product below 1.2e-38 of two
//! normal numbers (two values near 1e-19, or a weight of 1e-30) would
//! differ, which activations and weights of a trained model do not come
//! near.
//!
//! Whether the instruction is faster depends on the CPU: Zen 4 runs it at
//! twice f32's multiply-adds per cycle, but an Intel server core issues
//! it on one port where it issues f32 multiply-adds on two, and a plan
//! took longer with it than in f32 on a lent Xeon. Since both ways give
//! the same bits, the engine times the two on a hidden layer once per
//! process ([`Bf16Kernel::chosen`]) and keeps the faster.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Post, dense_with};

/// How a planning model multiplies its wide layers (hidden layers and the
/// latent outputs; the one-output heads, the policy's outputs and the
/// first step's shared `z0` row stay `f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `f32` throughout: the model as trained.
    F32,
    /// Inputs and weights rounded to bfloat16, sums in `f32`: plans ~30%
    /// faster on Zen 4, whose `vdpbf16ps` does twice the multiply-adds of
    /// f32's; the same results at about f32's speed elsewhere.
    Bf16,
}

impl Precision {
    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }

    /// Whether this CPU has bfloat16 multiply-adds (AVX512-BF16): whether
    /// [`Bf16Kernel::Dpbf16`] can run here.
    pub fn bf16_native() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512bf16")
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// How [`Precision::Bf16`]'s products are computed on this CPU (the same
/// bits either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bf16Kernel {
    /// `vdpbf16ps`, eight rows x 32 columns.
    Dpbf16,
    /// The `f32` kernels over the rounded, pair-swapped values.
    F32,
}

impl Bf16Kernel {
    /// The kernel this process uses: `vdpbf16ps` where the CPU has it and
    /// it ran a hidden layer faster than the `f32` kernels when first
    /// asked (a few milliseconds of timing, once).
    pub fn chosen() -> Self {
        choice().0
    }

    /// What the choice timed (where the CPU has AVX512-BF16): the fastest
    /// of 20 runs of four calls of a hidden layer (64 rows, 128 to 128)
    /// with `vdpbf16ps` and with the `f32` kernels.
    pub fn timings() -> Option<(Duration, Duration)> {
        choice().1
    }
}

/// [`Bf16Kernel::chosen`] and what it timed, decided once per process.
fn choice() -> (Bf16Kernel, Option<(Duration, Duration)>) {
    static CHOICE: OnceLock<(Bf16Kernel, Option<(Duration, Duration)>)> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        if !Precision::bf16_native() {
            return (Bf16Kernel::F32, None);
        }
        let (dp, f32) = time_kernels();
        // A clear win only: a wrong pick costs speed, never results.
        let kernel = if dp.as_secs_f64() < 0.9 * f32.as_secs_f64() {
            Bf16Kernel::Dpbf16
        } else {
            Bf16Kernel::F32
        };
        (kernel, Some((dp, f32)))
    })
}

/// The fastest of several timings of a default hidden layer (64 rows,
/// 128 to 128, LayerNorm) with each kernel, alternating: (`vdpbf16ps`,
/// the `f32` kernels). Call only where the CPU has AVX512-BF16.
fn time_kernels() -> (Duration, Duration) {
    const ROWS: usize = 64;
    const D: usize = 128;
    // Any values do: a fixed pattern of moderate size.
    let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2;
    let w: Vec<f32> = (0..D * D).map(value).collect();
    let weights = Bf16Weights::new(&w, D, D);
    let x: Vec<f32> = (0..ROWS * D).map(|i| value(i + 17) * 10.0).collect();
    let b = vec![0.01; D];
    let norm = super::Norm {
        gamma: vec![1.0; D],
        beta: vec![0.0; D],
    };
    let mut y = vec![0.0; ROWS * D];
    let mut s = Bf16Scratch::new(ROWS, D);
    let post = Post::Hidden(Some(&norm));
    let mut best = [Duration::MAX; 2];
    for _ in 0..20 {
        for (k, kernel) in [Bf16Kernel::Dpbf16, Bf16Kernel::F32]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            for _ in 0..4 {
                dense_bf16_with(
                    kernel, &weights, D, D, &b, D, ROWS, &x, D, &mut y, D, post, &mut s,
                );
            }
            best[k] = best[k].min(t.elapsed());
        }
    }
    (best[0], best[1])
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(format!("precision {s:?}: expected \"f32\" or \"bf16\"")),
        }
    }
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

/// `x` rounded to bfloat16, as `f32`: `widen(round_bf16(x))` without
/// branches, so that loops over it vectorise.
#[inline(always)]
fn rounded(x: f32) -> f32 {
    let b = x.to_bits();
    let mag = b & 0x7fff_ffff;
    let r = b.wrapping_add(0x7fff + ((b >> 16) & 1)) & 0xffff_0000;
    let r = if mag < 0x0080_0000 {
        b & 0x8000_0000
    } else {
        r
    };
    let r = if mag > 0x7f80_0000 {
        (b | 0x0040_0000) & 0xffff_0000
    } else {
        r
    };
    f32::from_bits(r)
}

/// A bfloat16 value as `f32` (exact).
#[inline(always)]
fn widen(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// A wide layer's weights rounded to bfloat16, in two layouts.
#[derive(Clone, Debug)]
pub(super) struct Bf16Weights {
    /// Input pairs `(2p, 2p + 1)`, an odd last input paired with a zero.
    k2: usize,
    /// `pairs[p * d_out + j]` holds `W[2p, j]` in its low half and
    /// `W[2p + 1, j]` in its high half: `vdpbf16ps`'s layout.
    pairs: Vec<u32>,
    /// The same values as `f32`, `2 k2` rows of `d_out` with each pair's
    /// rows swapped (`2p + 1`, then `2p`): summed in order by the `f32`
    /// kernels, they give `vdpbf16ps`'s results.
    swapped: Vec<f32>,
}

impl Bf16Weights {
    /// Rounds the row-major `d_in x d_out` matrix `w`.
    pub(super) fn new(w: &[f32], d_in: usize, d_out: usize) -> Self {
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
        Self { k2, pairs, swapped }
    }
}

/// Per-thread buffers for a layer's rounded inputs.
#[derive(Debug, Default)]
pub(super) struct Bf16Scratch {
    /// `TILE_ROWS` rows of input pairs, for `vdpbf16ps`.
    pairs: Vec<u32>,
    /// `TILE_ROWS` rows of rounded, pair-swapped inputs, for the `f32`
    /// kernels.
    swapped: Vec<f32>,
}

impl Bf16Scratch {
    /// Buffers for `rows` rows of up to `d_in` inputs.
    pub(super) fn new(rows: usize, d_in: usize) -> Self {
        let k2 = d_in.div_ceil(2);
        Self {
            pairs: vec![0; rows * k2],
            swapped: vec![0.0; rows * 2 * k2],
        }
    }
}

/// `y = x W + b` (then `post`) for the first `n` outputs (`n % 16 == 0`)
/// of a layer of `d_in` inputs whose weights are `w` (row stride `w_rs`,
/// the layer's width), from inputs and weights rounded to bfloat16, with
/// [`Bf16Kernel::chosen`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn dense_bf16(
    w: &Bf16Weights,
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
    s: &mut Bf16Scratch,
) {
    let kernel = Bf16Kernel::chosen();
    dense_bf16_with(kernel, w, w_rs, d_in, b, n, m, x, x_rs, y, y_rs, post, s);
}

/// [`dense_bf16`] with `kernel`: `vdpbf16ps` when asked for, where the CPU
/// has it and `n % 32 == 0`; else the `f32` kernels over the rounded
/// values, to the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dense_bf16_with(
    kernel: Bf16Kernel,
    w: &Bf16Weights,
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
    s: &mut Bf16Scratch,
) {
    let k2 = w.k2;
    if m == 0 || n == 0 {
        return;
    }
    // The bounds hold by construction (buffers are sized from the config),
    // so a failure is a bug in this module, never bad input.
    assert!(k2 == d_in.div_ceil(2) && n.is_multiple_of(16));
    assert!(x_rs >= d_in && x.len() >= (m - 1) * x_rs + d_in);
    assert!(y_rs >= n && y.len() >= (m - 1) * y_rs + n);
    assert!(w_rs >= n && w.pairs.len() >= k2 * w_rs && b.len() >= n);
    #[cfg(target_arch = "x86_64")]
    if kernel == Bf16Kernel::Dpbf16 && n.is_multiple_of(32) && Precision::bf16_native() {
        let xq = &mut s.pairs[..m * k2];
        for (i, row) in xq.chunks_exact_mut(k2).enumerate() {
            // SAFETY: the CPU has AVX512-BF16 and AVX-512F.
            unsafe { x86::pack_row(&x[i * x_rs..i * x_rs + d_in], row) };
        }
        // SAFETY: the CPU has AVX512-BF16, AVX-512F, AVX2 and FMA,
        // n % 32 == 0, and the asserts above keep every access inside the
        // slices (`xq` holds m rows of k2).
        unsafe { x86::dense_bf16_avx512(m, n, k2, xq, k2, &w.pairs, w_rs, b, y, y_rs, post) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    let xs = &mut s.swapped[..m * 2 * k2];
    for (i, row) in xs.chunks_exact_mut(2 * k2).enumerate() {
        swap_row(&x[i * x_rs..i * x_rs + d_in], row);
    }
    dense_with(&w.swapped, w_rs, 2 * k2, b, n, m, xs, 2 * k2, y, y_rs, post);
}

/// One input row rounded to bfloat16 (as `f32`) with each pair swapped,
/// an odd last input paired with a zero: `out` holds `2 ceil(len / 2)`.
/// Eight values an instruction where the CPU has AVX2.
#[inline(always)]
fn swap_row(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let whole = x.len() / 8 * 8;
        let (head, tail) = out.split_at_mut(whole);
        // SAFETY: the CPU has AVX2.
        unsafe { x86::swap_chunks_avx2(&x[..whole], head) };
        swap_row_scalar(&x[whole..], tail);
        return;
    }
    swap_row_scalar(x, out)
}

/// [`swap_row`] a value at a time.
#[inline(always)]
fn swap_row_scalar(x: &[f32], out: &mut [f32]) {
    let (pairs, last) = x.as_chunks::<2>();
    let (whole, rest) = out.split_at_mut(pairs.len() * 2);
    for (o, p) in whole.as_chunks_mut::<2>().0.iter_mut().zip(pairs) {
        o[0] = rounded(p[1]);
        o[1] = rounded(p[0]);
    }
    if let [v] = last {
        rest[0] = 0.0;
        rest[1] = rounded(*v);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::Post;
    use super::super::x86::{finish512, store512};
    use super::round_bf16;

    /// [`super::swap_row`] of whole eight-value chunks (`out` as long as
    /// `x`): [`super::rounded`]'s operations on eight lanes, then each
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

    /// [`super::super::x86::dense_avx512`] with `vdpbf16ps`:
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
        let mut i = 0;
        while i < m {
            let r = (m - i).min(8);
            let x = &x[i * x_rs..];
            let y = &mut y[i * y_rs..];
            // SAFETY: forwarded from the caller, for rows i.. of x and y.
            unsafe {
                match r {
                    8 => block::<8>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    7 => block::<7>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    6 => block::<6>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    5 => block::<5>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    4 => block::<4>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    3 => block::<3>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    2 => block::<2>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                    _ => block::<1>(n, k2, x, x_rs, w, w_rs, b, y, y_rs, post),
                }
            }
            i += r;
        }
    }

    /// `R` rows of [`dense_bf16_avx512`].
    ///
    /// # Safety
    /// As [`dense_bf16_avx512`], with `R` rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bf16,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const R: usize>(
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
}

#[cfg(test)]
mod tests {
    use super::super::{Layer, Norm, Post, dense};
    use super::*;

    /// A xorshift stream in [-1, 1).
    fn stream(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
    }

    #[test]
    fn rounding_is_to_nearest_even_and_keeps_specials() {
        assert_eq!(round_bf16(1.0), 0x3f80);
        // Halfway between 1.0 and the next bfloat16: to the even one.
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(round_bf16(-0.0), 0x8000);
        assert_eq!(round_bf16(1e-40), 0x0000);
        assert_eq!(round_bf16(-1e-40), 0x8000);
        assert_eq!(round_bf16(f32::MAX), 0x7f80);
        assert_eq!(round_bf16(f32::NEG_INFINITY), 0xff80);
        assert!(widen(round_bf16(f32::NAN)).is_nan());
        assert!(widen(round_bf16(f32::from_bits(0x7f80_0001))).is_nan());
        // The branch-free form gives the same bits, specials included.
        let mut next = stream(3);
        let specials = [
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7f80_0001),
            f32::from_bits(0xffff_ffff),
            1.0 + 1.0 / 256.0,
        ];
        let values: Vec<f32> = (0..100_000)
            .map(|i| next() * 10f32.powi(i % 77 - 38))
            .chain(specials)
            .collect();
        for v in &values {
            let (a, b) = (rounded(*v).to_bits(), widen(round_bf16(*v)).to_bits());
            assert_eq!(a, b, "{v:e}");
        }
        // Rows as the vector form rounds and swaps them, odd lengths
        // included, are those of the scalar form.
        for len in [1, 2, 7, 8, 9, 16, 64, 65, 128, 129] {
            for row in values.chunks_exact(len).step_by(97) {
                let k2 = len.div_ceil(2);
                let (mut fast, mut slow) = (vec![f32::NAN; 2 * k2], vec![f32::NAN; 2 * k2]);
                swap_row(row, &mut fast);
                swap_row_scalar(row, &mut slow);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&slow), "{row:?}");
            }
        }
    }

    #[test]
    fn rounding_matches_the_instruction() {
        if !Precision::bf16_native() {
            eprintln!("no AVX512-BF16 on this CPU: the instruction's rounding is not checked");
            return;
        }
        let mut next = stream(7);
        let mut x: Vec<f32> = (0..4096).map(|i| next() * 10f32.powi(i % 13 - 6)).collect();
        x.extend([
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            f32::MIN_POSITIVE,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NAN,
            f32::from_bits(0x7f80_0001),
            f32::from_bits(0xffc0_0000),
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
        ]);
        x.resize(x.len().next_multiple_of(16) + 3, 0.5);
        let mut got = vec![0u32; x.len().div_ceil(2)];
        // SAFETY: the CPU has AVX512-BF16 and AVX-512F.
        unsafe { x86::pack_row(&x, &mut got) };
        for (i, v) in x.iter().enumerate() {
            let half = (got[i / 2] >> (16 * (i % 2))) as u16;
            assert_eq!(half, round_bf16(*v), "{v:e} ({:#010x})", v.to_bits());
        }
    }

    /// A layer of random weights (and LayerNorm) of the given shape.
    fn layer(d_in: usize, d_out: usize, next: &mut impl FnMut() -> f32) -> Layer {
        let scale = 1.0 / (d_in as f32).sqrt();
        let w = (0..d_in * d_out)
            .map(|_| next() * scale)
            .collect::<Vec<_>>();
        Layer {
            bf16: Some(Bf16Weights::new(&w, d_in, d_out)),
            w,
            b: (0..d_out).map(|_| next() * 0.1).collect(),
            d_in,
            d_out,
            norm: Some(Norm {
                gamma: (0..d_out).map(|_| 1.0 + next() * 0.2).collect(),
                beta: (0..d_out).map(|_| next() * 0.2).collect(),
            }),
        }
    }

    /// `vdpbf16ps` gives what the f32 kernels give over the rounded,
    /// pair-swapped values, so every CPU plans alike; and both stay close
    /// to the f32 product.
    #[test]
    fn bf16_products_are_the_emulations_to_the_bit_and_close_to_f32() {
        let mut next = stream(11);
        let mut compared = 0;
        for (d_in, d_out) in [
            (65, 128),
            (128, 64),
            (64, 128),
            (5, 128),
            (128, 32),
            (7, 16),
        ] {
            let l = layer(d_in, d_out, &mut next);
            let x_rs = d_in + 3;
            let x: Vec<f32> = (0..64 * x_rs).map(|_| next() * 2.0).collect();
            let norm = l.norm.as_ref();
            for post in [Post::None, Post::Hidden(None), Post::Hidden(norm)] {
                for m in [1, 2, 7, 8, 9, 33, 64] {
                    let y_rs = d_out + 5;
                    let mut s = Bf16Scratch::new(64, d_in);
                    // Each kernel, whatever this process chose; on a
                    // CPU without AVX512-BF16 both are the f32 kernels.
                    let w = l.bf16.as_ref().unwrap();
                    let mut by = |kernel| {
                        let mut y = vec![0.0; m * y_rs];
                        let (b, x) = (&l.b, &x[..]);
                        dense_bf16_with(
                            kernel, w, d_out, d_in, b, d_out, m, x, x_rs, &mut y, y_rs, post,
                            &mut s,
                        );
                        y
                    };
                    let (got, want) = (by(Bf16Kernel::Dpbf16), by(Bf16Kernel::F32));
                    // And the engine's own dispatch.
                    let mut chosen = vec![0.0; m * y_rs];
                    dense(&l, d_out, m, &x, x_rs, &mut chosen, y_rs, post, &mut s);
                    assert_eq!(chosen, want);
                    // The f32 layer.
                    let mut f = l.clone();
                    f.bf16 = None;
                    let mut exact = vec![0.0; m * y_rs];
                    dense(&f, d_out, m, &x, x_rs, &mut exact, y_rs, post, &mut s);
                    for i in 0..m {
                        for j in 0..d_out {
                            let (g, e, r) =
                                (got[i * y_rs + j], want[i * y_rs + j], exact[i * y_rs + j]);
                            assert_eq!(
                                g.to_bits(),
                                e.to_bits(),
                                "{d_in}x{d_out} m {m} ({i}, {j}): {g} != {e}"
                            );
                            // bfloat16 keeps 8 bits: a few parts in a
                            // thousand of the terms' size.
                            assert!(
                                (g - r).abs() < 0.03,
                                "{d_in}x{d_out} ({i}, {j}): {g} against f32 {r}"
                            );
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert!(compared > 50_000);
    }
}
