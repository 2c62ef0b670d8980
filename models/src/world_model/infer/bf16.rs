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
//! the same bits, a model set to bfloat16 times the two on a hidden layer
//! ([`Bf16Kernel::choose`]) and keeps the faster in its layers' weights.

use super::f32_dispatch::dense_with;
use super::maths::Post;
use super::precision::{Bf16Kernel, Precision};
use super::weights::Bf16Weights;
#[cfg(target_arch = "x86_64")]
use super::{x86_avx2, x86_avx512_bf16};

/// `x` rounded to bfloat16, as `f32`: `widen(round_bf16(x))` without
/// branches, so that loops over it vectorise.
#[inline(always)]
pub(super) fn rounded(x: f32) -> f32 {
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
/// the kernel chosen for them ([`Bf16Weights::new`]).
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
    dense_bf16_with(w.kernel, w, w_rs, d_in, b, n, m, x, x_rs, y, y_rs, post, s);
}

/// [`dense_bf16`] with `kernel`: `vdpbf16ps` when asked for, where the CPU
/// has it and `n % 32 == 0`; else the `f32` kernels over the rounded
/// values, to the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn dense_bf16_with(
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
            unsafe { x86_avx512_bf16::pack_row(&x[i * x_rs..i * x_rs + d_in], row) };
        }
        // SAFETY: the CPU has AVX512-BF16, AVX-512F, AVX2 and FMA,
        // n % 32 == 0, and the asserts above keep every access inside the
        // slices (`xq` holds m rows of k2).
        unsafe {
            x86_avx512_bf16::dense_bf16_avx512(m, n, k2, xq, k2, &w.pairs, w_rs, b, y, y_rs, post)
        };
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
pub(super) fn swap_row(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let whole = x.len() / 8 * 8;
        let (head, tail) = out.split_at_mut(whole);
        // SAFETY: the CPU has AVX2.
        unsafe { x86_avx2::swap_chunks_avx2(&x[..whole], head) };
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

#[cfg(test)]
mod tests {
    use super::super::dispatch::dense;
    use super::super::weights::{Layer, Norm, round_bf16, widen};
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
        unsafe { x86_avx512_bf16::pack_row(&x, &mut got) };
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
            bf16: Some(Bf16Weights::new(&w, d_in, d_out, Bf16Kernel::choose().0)),
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
                    // Each kernel, whatever the layer chose; on a
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
