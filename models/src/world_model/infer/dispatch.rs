//! Layer dispatch: which kernel runs a dense layer (bfloat16 for a layer
//! rounded to it, else `f32_dispatch`'s fused AVX-512 or AVX2 kernel, the
//! one-output dot products, or `gemm` and the passes), and a network's
//! layers run in turn.

use super::bf16::{Bf16Scratch, dense_bf16};
use super::f32_dispatch::{dense_with, norm_relu};
use super::maths::{Post, relu_in_place};
use super::weights::{Layer, Net};

/// `y = x W + b` (then `post`) for the first `n` outputs of `layer`: see
/// [`dense_with`], or [`dense_bf16`] for a wide layer rounded to
/// bfloat16 (its rounded inputs in `s`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn dense(
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

/// The input rows of a network.
#[derive(Clone, Copy)]
pub(super) enum Input<'a> {
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
pub(super) fn forward(
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

#[cfg(test)]
mod tests {
    use super::super::f32_dispatch::add_bias;
    use super::super::maths::matmul;
    use super::*;
    use crate::world_model::infer::TILE_ROWS;
    use crate::world_model::infer::weights::Norm;

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
}
