//! The arithmetic of the fused training step, on row-major `f32` slices:
//! matrix products through the `gemm` crate (plain, with either operand
//! transposed, overwriting or accumulating) and the element-wise layers
//! with their backward passes, each one pass over its rows, vectorised
//! for the CPU at run time ([`super::simd`]).

use super::simd::multiversion;

/// A row-major matrix operand of a product: its values, and the strides
/// between rows and between columns (a transposed matrix swaps them).
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Whether an `r x c` matrix with these strides lies inside `data`.
    fn fits(&self, r: usize, c: usize) -> bool {
        r == 0 || c == 0 || (r - 1) * self.row_stride + (c - 1) * self.col_stride < self.data.len()
    }
}

/// `dst (m x n, row-major, contiguous) = lhs (m x k) rhs (k x n)`, or
/// `dst += ...` when `accumulate`, on the calling thread.
pub(super) fn matmul(
    dst: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand<'_>,
    rhs: Operand<'_>,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // The shapes come from the model's layout, never from input: a failure
    // is a bug in this module.
    assert!(dst.len() >= m * n, "matmul: dst too short");
    // SAFETY: `dst` holds the m x n values (asserted) and is exclusively
    // borrowed, so it aliases neither operand.
    unsafe { gemm_into(dst.as_mut_ptr(), m, n, k, lhs, rhs, accumulate) }
}

/// `lhs (m x k) rhs (k x n)` as a new row-major `m x n` matrix (written
/// by the product, never zeroed first).
pub(super) fn product(
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand<'_>,
    rhs: Operand<'_>,
) -> Vec<f32> {
    product_in(Vec::new(), m, n, k, lhs, rhs)
}

/// [`product`] written into `out`'s memory (its values are replaced; only
/// its capacity is reused, grown if short).
pub(super) fn product_in(
    mut out: Vec<f32>,
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand<'_>,
    rhs: Operand<'_>,
) -> Vec<f32> {
    out.clear();
    if k == 0 || m == 0 || n == 0 {
        out.resize(m * n, 0.0);
        return out;
    }
    out.reserve(m * n);
    // SAFETY: the capacity holds m x n values and is no one else's; gemm
    // writes every one of them without reading any (`accumulate` false),
    // so they are initialised when the length is set.
    unsafe {
        gemm_into(out.as_mut_ptr(), m, n, k, lhs, rhs, false);
        out.set_len(m * n);
    }
    out
}

/// The `gemm` call behind [`matmul`] and [`product`], for `m, n, k > 0`:
/// checks that both operands lie inside their slices (a failure is a bug
/// in this module), then writes (or, with `accumulate`, adds) the product
/// into the `m x n` row-major values at `dst`.
///
/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads) of
/// `m * n` values that no operand overlaps.
unsafe fn gemm_into(
    dst: *mut f32,
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand<'_>,
    rhs: Operand<'_>,
    accumulate: bool,
) {
    assert!(lhs.fits(m, k), "gemm: lhs too short");
    assert!(rhs.fits(k, n), "gemm: rhs too short");
    // SAFETY: the asserts keep every index gemm reads inside the operands;
    // the caller vouches for `dst`, whose rows (stride n) do not overlap.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

multiversion! {
/// `dst = src / 255 - 0.5`, byte by byte (burn's pixel scaling,
/// `pixels_tensor`, to the bit: a vector division rounds as a scalar one).
pub(super) fn scale_bytes(dst: &mut [f32], src: &[u8]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = f32::from(v) / 255.0 - 0.5;
    }
}
}

multiversion! {
/// Adds `bias` (`cols` values) to every row of `x`.
pub(super) fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}
}

multiversion! {
/// `acc += ` the column sums of `x` (`acc.len()` columns).
pub(super) fn add_column_sums(acc: &mut [f32], x: &[f32]) {
    for row in x.chunks_exact(acc.len()) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}
}

/// Rows are processed in blocks of this many values with independent
/// partial sums per lane: what lets the compiler vectorise a reduction
/// (one running `f32` sum is a chain of dependent adds).
const LANES: usize = 16;

/// `sum_i x_i`, in [`LANES`] partial sums.
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let blocks = x.chunks_exact(LANES);
    let tail: f32 = blocks.remainder().iter().sum();
    for b in blocks {
        for i in 0..LANES {
            acc[i] += b[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `sum_i x_i y_i`, in [`LANES`] partial sums.
#[inline(always)]
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (xb, yb) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let tail: f32 = xb
        .remainder()
        .iter()
        .zip(yb.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xb.zip(yb) {
        for i in 0..LANES {
            acc[i] += a[i] * b[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

multiversion! {
/// LayerNorm then ReLU, in place, row by row: `x` becomes
/// `relu(gamma * xhat + beta)`; `xhat` and `rstd` (the normalised values
/// and each row's `1 / sqrt(var + eps)`) are kept for the backward pass.
/// The variance is of the
/// centred values (two passes), as burn computes it.
pub(super) fn layer_norm_relu(
    x: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    xhat: &mut [f32],
    rstd: &mut [f32],
) {
    let d = gamma.len();
    let inv_d = 1.0 / d as f32;
    for ((row, xh), r) in x
        .chunks_exact_mut(d)
        .zip(xhat.chunks_exact_mut(d))
        .zip(rstd.iter_mut())
    {
        let mean = sum(row) * inv_d;
        for (h, v) in xh.iter_mut().zip(row.iter()) {
            *h = v - mean;
        }
        let var = dot(xh, xh) * inv_d;
        let s = 1.0 / (var + eps).sqrt();
        *r = s;
        for (((v, h), g), b) in row.iter_mut().zip(xh.iter_mut()).zip(gamma).zip(beta) {
            *h *= s;
            *v = (*h * g + b).max(0.0);
        }
    }
}
}

multiversion! {
/// The backward pass of [`layer_norm_relu`]: `dy` (the gradient of its
/// output) becomes the gradient of its input, in place; `out` is its
/// output (the ReLU's mask), `dgamma`/`dbeta` accumulate. Two passes per
/// row: the masked gradient with its sums, then the input's gradient.
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_norm_relu_backward(
    dy: &mut [f32],
    out: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: Option<&mut [f32]>,
) {
    let d = gamma.len();
    let inv_d = 1.0 / d as f32;
    let mut scratch = Vec::new();
    let dbeta = match dbeta {
        Some(b) => b,
        None => {
            scratch.resize(d, 0.0);
            &mut scratch[..]
        }
    };
    let (dgamma, dbeta, gamma) = (&mut dgamma[..d], &mut dbeta[..d], &gamma[..d]);
    for (((g, o), xh), s) in dy
        .chunks_exact_mut(d)
        .zip(out.chunks_exact(d))
        .zip(xhat.chunks_exact(d))
        .zip(rstd)
    {
        // Simple passes over the row, each of which the compiler
        // vectorises (one loop doing all of it was left scalar).
        for (gv, o) in g.iter_mut().zip(o) {
            // Through the ReLU: no gradient where it clipped.
            *gv = if *o > 0.0 { *gv } else { 0.0 };
        }
        for ((dg, gv), h) in dgamma.iter_mut().zip(g.iter()).zip(xh) {
            *dg += gv * h;
        }
        for (db, gv) in dbeta.iter_mut().zip(g.iter()) {
            *db += gv;
        }
        for (gv, gm) in g.iter_mut().zip(gamma) {
            *gv *= gm;
        }
        let (mean, mean_dot) = (sum(g) * inv_d, dot(g, xh) * inv_d);
        for (gv, h) in g.iter_mut().zip(xh) {
            *gv = s * (*gv - mean - h * mean_dot);
        }
    }
}
}

multiversion! {
/// ReLU in place.
pub(super) fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}
}

multiversion! {
/// The backward pass of [`relu`]: no gradient where the output `out` is 0.
pub(super) fn relu_backward(dy: &mut [f32], out: &[f32]) {
    for (g, o) in dy.iter_mut().zip(out) {
        if *o <= 0.0 {
            *g = 0.0;
        }
    }
}
}

/// SimNorm in place: each group of `group` entries a softmax.
pub(super) fn simnorm(x: &mut [f32], group: usize) {
    for g in x.chunks_exact_mut(group) {
        let max = g.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        let mut sum = 0.0;
        for v in g.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in g.iter_mut() {
            *v *= inv;
        }
    }
}

multiversion! {
/// The backward pass of [`simnorm`]: `dy` (the gradient of its output
/// `s`) becomes the gradient of its input, in place.
pub(super) fn simnorm_backward(dy: &mut [f32], s: &[f32], group: usize) {
    for (g, s) in dy.chunks_exact_mut(group).zip(s.chunks_exact(group)) {
        let dot: f32 = g.iter().zip(s).map(|(a, b)| a * b).sum();
        for (a, b) in g.iter_mut().zip(s) {
            *a = b * (*a - dot);
        }
    }
}
}

/// Rows of `[a | b]`: `rows` rows of `a` (`ca` columns) beside `b` (`cb`).
pub(super) fn concat_columns(a: &[f32], ca: usize, b: &[f32], cb: usize, rows: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * (ca + cb));
    for r in 0..rows {
        out.extend_from_slice(&a[r * ca..(r + 1) * ca]);
        out.extend_from_slice(&b[r * cb..(r + 1) * cb]);
    }
    out
}

/// `dst[r][..] += src[r][lo..lo + dst_cols]` for every row: a column block
/// of a gradient added where that block came from.
pub(super) fn add_column_block(
    dst: &mut [f32],
    dst_cols: usize,
    src: &[f32],
    src_cols: usize,
    lo: usize,
) {
    for (d, s) in dst
        .chunks_exact_mut(dst_cols)
        .zip(src.chunks_exact(src_cols))
    {
        for (a, b) in d.iter_mut().zip(&s[lo..lo + dst_cols]) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_with_either_operand_transposed_match_by_hand() {
        // a: 2x3, b: 3x2.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let mut c = [0.0; 4];
        matmul(
            &mut c,
            2,
            2,
            3,
            Operand::rows(&a, 3),
            Operand::rows(&b, 2),
            false,
        );
        assert_eq!(c, [58.0, 64.0, 139.0, 154.0]);
        // a^T a (3x3) accumulated onto ones.
        let mut d = [1.0; 9];
        matmul(
            &mut d,
            3,
            3,
            2,
            Operand::transposed(&a, 3),
            Operand::rows(&a, 3),
            true,
        );
        assert_eq!(d, [18.0, 23.0, 28.0, 23.0, 30.0, 37.0, 28.0, 37.0, 46.0]);
        // a b^T with b read as 2x3: (2x3)(3x2).
        let mut e = [0.0; 4];
        matmul(
            &mut e,
            2,
            2,
            3,
            Operand::rows(&a, 3),
            Operand::transposed(&b, 3),
            false,
        );
        assert_eq!(e, [50.0, 68.0, 122.0, 167.0]);
    }

    /// Central differences of `f` at `x` along every coordinate.
    fn numeric_grad(x: &[f32], f: &dyn Fn(&[f32]) -> f64) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let h = 1e-3f32;
                let (mut p, mut m) = (x.to_vec(), x.to_vec());
                p[i] += h;
                m[i] -= h;
                (f(&p) - f(&m)) / (2.0 * h as f64)
            })
            .collect()
    }

    #[test]
    fn layer_norm_relu_and_simnorm_backward_match_finite_differences() {
        let d = 6;
        let x: Vec<f32> = (0..2 * d)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let gamma: Vec<f32> = (0..d).map(|i| 0.5 + 0.1 * i as f32).collect();
        let beta: Vec<f32> = (0..d).map(|i| 0.05 * i as f32 - 0.1).collect();
        let probe: Vec<f32> = (0..2 * d).map(|i| (i as f32 * 0.37).sin()).collect();
        let loss = |x: &[f32]| -> f64 {
            let mut y = x.to_vec();
            let (mut xh, mut r) = (vec![0.0; 2 * d], vec![0.0; 2]);
            layer_norm_relu(&mut y, &gamma, &beta, 1e-5, &mut xh, &mut r);
            y.iter().zip(&probe).map(|(a, b)| (a * b) as f64).sum()
        };
        let mut y = x.clone();
        let (mut xh, mut r) = (vec![0.0; 2 * d], vec![0.0; 2]);
        layer_norm_relu(&mut y, &gamma, &beta, 1e-5, &mut xh, &mut r);
        let mut g = probe.clone();
        let (mut dg, mut db) = (vec![0.0; d], vec![0.0; d]);
        layer_norm_relu_backward(&mut g, &y, &xh, &r, &gamma, &mut dg, Some(&mut db));
        for (a, b) in g.iter().zip(numeric_grad(&x, &loss)) {
            assert!((*a as f64 - b).abs() < 2e-3, "{a} vs {b}");
        }

        let s_loss = |x: &[f32]| -> f64 {
            let mut y = x.to_vec();
            simnorm(&mut y, 3);
            y.iter().zip(&probe).map(|(a, b)| (a * b) as f64).sum()
        };
        let mut s = x.clone();
        simnorm(&mut s, 3);
        let mut g = probe.clone();
        simnorm_backward(&mut g, &s, 3);
        for (a, b) in g.iter().zip(numeric_grad(&x, &s_loss)) {
            assert!((*a as f64 - b).abs() < 1e-3, "{a} vs {b}");
        }
    }
}
