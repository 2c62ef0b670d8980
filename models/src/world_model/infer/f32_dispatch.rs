//! The f32 kernels by CPU: each pass that has a vector form (LayerNorm
//! and ReLU, bias, SimNorm) and the dense product, in their AVX-512, AVX2
//! or portable form, chosen at run time by what the CPU has. All forms
//! give the same bits (tested), so the choice changes speed only.

use super::maths::{Post, matmul, norm_relu_portable, softmax};
use super::weights::Norm;
#[cfg(target_arch = "x86_64")]
use super::{x86_avx2, x86_avx512};

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

/// `y = x W + b` (then `post`) for the first `n` outputs of the `d_in` rows
/// of `w` (row stride `w_rs`): the fused AVX-512 or AVX2 kernel for widths
/// of 32s or 16s where the CPU has it, else `gemm` and the passes (the
/// same results to the bit).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn dense_with(
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
            unsafe { x86_avx512::dense_avx512(m, n, d, x, x_rs, w, w_rs, b, y, y_rs, post) };
        } else {
            // SAFETY: the CPU has AVX2 and FMA, n is a multiple of 16, and
            // the asserts above keep every access inside the slices.
            unsafe { x86_avx2::dense_avx2(m, n, d, x, x_rs, w, w_rs, b, y, y_rs, post) };
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
        unsafe { x86_avx2::dot1_avx2(m, d, x, x_rs, w, b[0], y, y_rs) };
        return;
    }
    matmul(m, n, d_in, y, y_rs, x, x_rs, w, w_rs);
    add_bias(y, y_rs, m, n, b, post);
}

#[cfg(test)]
mod tests {
    use super::super::super::nn::LAYER_NORM_EPS;
    use super::*;

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
