//! A pixel model's convolutions in the fused step: forward and backward
//! of burn's [`crate::world_model::pixels::PixelEncoder`] (3x3 kernels, no
//! padding, ReLU after each) as one matrix product per layer over the
//! whole part of a batch.
//!
//! Why: burn's CPU convolutions ran at ~28 GFLOP/s of a 300 GFLOP/s
//! machine and were 93% of a pixel model's learning run
//! (`docs/results/pixels/`). Here each layer gathers its input patches
//! into rows (im2col) and multiplies them by the kernels through `gemm`,
//! so a layer costs one product the size of its multiply-adds.
//!
//! Activations are kept height x width x channels per image (a patch's
//! 3x3 neighbours are then 9 runs of `channels` contiguous values); the
//! last layer's output is flattened channels first, as burn's `reshape`
//! of its `[B, C, H, W]` output, so the encoder MLP's weights mean the
//! same in both engines.

use std::ops::Range;

use super::kernels::{
    Operand, add_bias, add_column_sums, matmul, product_in, relu, relu_backward, scale_bytes,
};
use super::scratch;
use crate::world_model::pixels::{KERNEL, PixelConfig, STRIDES};

/// Values of a 3x3 patch per input channel.
const TAPS: usize = KERNEL * KERNEL;

/// One convolution's place in the flat buffer (burn's visit order: weight
/// `[out, in, 3, 3]`, then bias `[out]`) and its sizes.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ConvAt {
    pub weight: Range<usize>,
    pub bias: Range<usize>,
    pub c_in: usize,
    pub c_out: usize,
    pub stride: usize,
    /// Input `(height, width)`.
    pub input: (usize, usize),
    /// Output `(height, width)`.
    pub output: (usize, usize),
}

impl ConvAt {
    /// Values of one image's input, `height x width x c_in`.
    fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.c_in
    }

    /// Output pixels of one image.
    fn output_pixels(&self) -> usize {
        self.output.0 * self.output.1
    }

    /// Columns of a patch row: `3 x 3 x c_in`, neighbour-major.
    fn patch_len(&self) -> usize {
        TAPS * self.c_in
    }
}

/// The convolutions of a pixel model, input first.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ConvStackAt {
    pub convs: Vec<ConvAt>,
    /// Input channels of the first (`frames x channels`).
    pub channels: usize,
    /// Image `(height, width)`.
    pub image: (usize, usize),
}

impl ConvStackAt {
    /// The layout of `c`'s convolutions from `*next` on (which moves past
    /// them), each tensor's range appended to `tensors`.
    pub fn new(c: &PixelConfig, next: &mut usize, tensors: &mut Vec<Range<usize>>) -> Self {
        let mut take = |n: usize| {
            let r = *next..*next + n;
            *next += n;
            tensors.push(r.clone());
            r
        };
        let mut c_in = c.input_channels();
        let mut input = (c.height, c.width);
        let convs = STRIDES
            .iter()
            .zip(c.conv_sides())
            .map(|(&stride, output)| {
                let c_out = c.conv_channels;
                let at = ConvAt {
                    weight: take(c_out * c_in * TAPS),
                    bias: take(c_out),
                    c_in,
                    c_out,
                    stride,
                    input,
                    output,
                };
                (c_in, input) = (c_out, output);
                at
            })
            .collect();
        Self {
            convs,
            channels: c.input_channels(),
            image: (c.height, c.width),
        }
    }

    /// Length of one image's flattened features.
    pub fn feature_len(&self) -> usize {
        self.convs.last().map_or(0, |c| c.c_out * c.output_pixels())
    }

    /// Bytes of one stacked input.
    fn input_bytes(&self) -> usize {
        self.channels * self.image.0 * self.image.1
    }
}

/// What a forward pass over `rows` images keeps for its backward pass:
/// each layer's patch rows and output (after ReLU).
pub(super) struct ConvPass {
    rows: usize,
    patches: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
    /// Flattened features, `rows x feature_len`, channels first per image.
    pub features: Vec<f32>,
}

impl ConvPass {
    /// The features alone (the pass's other buffers go back to the pool).
    pub fn into_features(mut self) -> Vec<f32> {
        std::mem::take(&mut self.features)
    }
}

impl Drop for ConvPass {
    /// The pass's buffers go back to this thread's pool for the next step.
    fn drop(&mut self) {
        for v in self.patches.drain(..).chain(self.outputs.drain(..)) {
            scratch::give(v);
        }
    }
}

/// `rows` stacked inputs of bytes (channel-major, as the sampler writes
/// them; empty: a model given no images sees zeros, as burn's) scaled to
/// `[-0.5, 0.5]`, height x width x channels per image.
fn input(stack: &ConvStackAt, bytes: &[u8], rows: usize) -> Vec<f32> {
    let (h, w, c) = (stack.image.0, stack.image.1, stack.channels);
    let n = stack.input_bytes();
    let mut x = scratch::zeroed(rows * n);
    if bytes.len() != rows * n {
        return x;
    }
    // A plane at a time, scaled in one vectorised pass, then woven into
    // its pixels' channels: a scalar division per value was most of this
    // function's ~9% of a pixel step (`perf`).
    let mut plane = vec![0.0f32; h * w];
    for (img, out) in bytes.chunks_exact(n).zip(x.chunks_exact_mut(n)) {
        for (ch, src) in img.chunks_exact(h * w).enumerate() {
            scale_bytes(&mut plane, src);
            for (px, &v) in out[ch..].iter_mut().step_by(c).zip(&plane) {
                *px = v;
            }
        }
    }
    x
}

/// Each output pixel's 3x3 input patch as one row, `rows x pixels` rows of
/// `3 x 3 x c_in` (neighbour-major, channels contiguous).
fn im2col(conv: &ConvAt, x: &[f32], rows: usize) -> Vec<f32> {
    let (c, k) = (conv.c_in, conv.patch_len());
    let (ho, wo) = conv.output;
    let w_in = conv.input.1;
    // Every value is written once, in order: no zeroing first (these are
    // the step's largest buffers).
    let mut cols = scratch::take(rows * ho * wo * k);
    for img in x.chunks_exact(conv.input_len()).take(rows) {
        for oy in 0..ho {
            for ox in 0..wo {
                for ky in 0..KERNEL {
                    let src = ((oy * conv.stride + ky) * w_in + ox * conv.stride) * c;
                    cols.extend_from_slice(&img[src..src + KERNEL * c]);
                }
            }
        }
    }
    cols
}

/// The backward of [`im2col`]: each patch row's gradient added back onto
/// the input pixels it was gathered from.
fn col2im(conv: &ConvAt, dcols: &[f32], rows: usize) -> Vec<f32> {
    let (c, k) = (conv.c_in, conv.patch_len());
    let (ho, wo) = conv.output;
    let w_in = conv.input.1;
    let mut dx = scratch::zeroed(rows * conv.input_len());
    let mut at = 0;
    for img in dx.chunks_exact_mut(conv.input_len()) {
        for oy in 0..ho {
            for ox in 0..wo {
                let row = &dcols[at..at + k];
                for ky in 0..KERNEL {
                    let dst = ((oy * conv.stride + ky) * w_in + ox * conv.stride) * c;
                    let src = ky * KERNEL * c;
                    for (d, s) in img[dst..dst + KERNEL * c]
                        .iter_mut()
                        .zip(&row[src..src + KERNEL * c])
                    {
                        *d += s;
                    }
                }
                at += k;
            }
        }
    }
    dx
}

/// burn's kernels `[out, in, 3, 3]` as the `(3 x 3 x in) x out` matrix
/// the patch rows multiply.
fn kernels(conv: &ConvAt, params: &[f32]) -> Vec<f32> {
    let w = &params[conv.weight.clone()];
    let (ci, co) = (conv.c_in, conv.c_out);
    let mut m = vec![0.0f32; TAPS * ci * co];
    for o in 0..co {
        for i in 0..ci {
            for t in 0..TAPS {
                m[(t * ci + i) * co + o] = w[(o * ci + i) * TAPS + t];
            }
        }
    }
    m
}

/// Adds a `(3 x 3 x in) x out` gradient ([`kernels`]' layout) into burn's
/// `[out, in, 3, 3]` at `conv.weight` of `grads`.
fn add_kernel_grads(conv: &ConvAt, dm: &[f32], grads: &mut [f32]) {
    let g = &mut grads[conv.weight.clone()];
    let (ci, co) = (conv.c_in, conv.c_out);
    for o in 0..co {
        for i in 0..ci {
            for t in 0..TAPS {
                g[(o * ci + i) * TAPS + t] += dm[(t * ci + i) * co + o];
            }
        }
    }
}

/// Images per piece of a pass without gradient: what keeps the first
/// layer's patch rows (~0.3 MB an image at 64x64) within the caches.
const PIECE: usize = 4;

/// The convolutions at `params` on `rows` stacked inputs `bytes`. With
/// `keep` the pass keeps what [`backward`] needs; without, only the
/// features (the targets' pass, which has no gradient), computed a few
/// images at a time.
pub(super) fn forward(
    stack: &ConvStackAt,
    params: &[f32],
    bytes: &[u8],
    rows: usize,
    keep: bool,
) -> ConvPass {
    let kernels: Vec<Vec<f32>> = stack.convs.iter().map(|c| kernels(c, params)).collect();
    if keep {
        let x = input(stack, bytes, rows);
        let (patches, outputs) = layers(stack, params, &kernels, x, rows, true);
        let features = outputs
            .last()
            .map_or_else(Vec::new, |y| channels_first(stack, y, rows));
        return ConvPass {
            rows,
            patches,
            outputs,
            features,
        };
    }
    let mut features = Vec::with_capacity(rows * stack.feature_len());
    let n = stack.input_bytes();
    // Images missing or of the wrong size: zeros, as `input` gives.
    let given = bytes.len() == rows * n;
    for lo in (0..rows).step_by(PIECE) {
        let k = PIECE.min(rows - lo);
        let piece = if given {
            &bytes[lo * n..(lo + k) * n]
        } else {
            &[]
        };
        let (_, outputs) = layers(stack, params, &kernels, input(stack, piece, k), k, false);
        if let Some(y) = outputs.last() {
            features.extend(channels_first(stack, y, k));
        }
        outputs.into_iter().for_each(scratch::give);
    }
    ConvPass {
        rows,
        patches: Vec::new(),
        outputs: Vec::new(),
        features,
    }
}

/// Every layer on `rows` images `x` (height x width x channels): each
/// layer's patch rows and output when `keep`, else the last output only.
fn layers(
    stack: &ConvStackAt,
    params: &[f32],
    kernels: &[Vec<f32>],
    x: Vec<f32>,
    rows: usize,
    keep: bool,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    // `outputs` starts with the input: each layer reads the last entry.
    let (mut patches, mut outputs) = (Vec::new(), vec![x]);
    for (conv, k) in stack.convs.iter().zip(kernels) {
        let cols = im2col(conv, &outputs[outputs.len() - 1], rows);
        let mut y = product_in(
            scratch::take(rows * conv.output_pixels() * conv.c_out),
            rows * conv.output_pixels(),
            conv.c_out,
            conv.patch_len(),
            Operand::rows(&cols, conv.patch_len()),
            Operand::rows(k, conv.c_out),
        );
        add_bias(&mut y, &params[conv.bias.clone()]);
        relu(&mut y);
        if keep {
            patches.push(cols);
        } else {
            scratch::give(cols);
            outputs.drain(..).for_each(scratch::give);
        }
        outputs.push(y);
    }
    if keep {
        // The input is not a layer's output.
        scratch::give(outputs.remove(0));
    }
    (patches, outputs)
}

/// The last layer's `pixels x channels` per image as `channels x pixels`.
fn channels_first(stack: &ConvStackAt, y: &[f32], rows: usize) -> Vec<f32> {
    let Some(last) = stack.convs.last() else {
        return Vec::new();
    };
    let (p, c) = (last.output_pixels(), last.c_out);
    let mut out = vec![0.0f32; rows * p * c];
    for (src, dst) in y.chunks_exact(p * c).zip(out.chunks_exact_mut(p * c)) {
        for i in 0..p {
            for j in 0..c {
                dst[j * p + i] = src[i * c + j];
            }
        }
    }
    out
}

/// The backward pass of `pass` (a kept [`forward`]) for the features'
/// gradient `dfeatures` (`rows x feature_len`): the kernels' and biases'
/// gradients are added into `grads`. The images get no gradient.
pub(super) fn backward(
    stack: &ConvStackAt,
    params: &[f32],
    pass: &ConvPass,
    dfeatures: &[f32],
    grads: &mut [f32],
) {
    let rows = pass.rows;
    let Some(last) = stack.convs.last() else {
        return;
    };
    // Channels first back to pixels x channels.
    let (p, c) = (last.output_pixels(), last.c_out);
    let mut dy = vec![0.0f32; rows * p * c];
    for (src, dst) in dfeatures
        .chunks_exact(p * c)
        .zip(dy.chunks_exact_mut(p * c))
    {
        for i in 0..p {
            for j in 0..c {
                dst[i * c + j] = src[j * p + i];
            }
        }
    }
    for (i, conv) in stack.convs.iter().enumerate().rev() {
        relu_backward(&mut dy, &pass.outputs[i]);
        let (m, k) = (rows * conv.output_pixels(), conv.patch_len());
        let cols = &pass.patches[i];
        let mut dm = vec![0.0f32; k * conv.c_out];
        matmul(
            &mut dm,
            k,
            conv.c_out,
            m,
            Operand::transposed(cols, k),
            Operand::rows(&dy, conv.c_out),
            false,
        );
        add_kernel_grads(conv, &dm, grads);
        add_column_sums(&mut grads[conv.bias.clone()], &dy);
        if i == 0 {
            break;
        }
        let dcols = product_in(
            scratch::take(m * k),
            m,
            k,
            conv.c_out,
            Operand::rows(&dy, conv.c_out),
            Operand::transposed(&kernels(conv, params), conv.c_out),
        );
        scratch::give(std::mem::replace(&mut dy, col2im(conv, &dcols, rows)));
        scratch::give(dcols);
    }
    scratch::give(dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::world_model::pixels::{PixelEncoder, pixels_tensor};

    fn flat(enc: &PixelEncoder) -> Vec<f32> {
        let mut v = Vec::new();
        for c in &enc.convs {
            v.extend(c.weight.val().into_data().try_to_vec::<f32>().expect("f32"));
            v.extend(c.bias.val().into_data().try_to_vec::<f32>().expect("f32"));
        }
        v
    }

    #[test]
    fn features_are_burns() {
        let mut c = PixelConfig::new("cam", 40, 36);
        c.frames = 2;
        c.conv_channels = 5;
        let device = Device::flex();
        let enc = PixelEncoder::new(&c, &mut ChaCha8Rng::seed_from_u64(3), &device);
        let (mut next, mut tensors) = (0, Vec::new());
        let stack = ConvStackAt::new(&c, &mut next, &mut tensors);
        assert_eq!(next as u64, c.parameter_count());
        assert_eq!(stack.feature_len(), c.feature_len());
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let rows = 3;
        let bytes: Vec<u8> = (0..rows * c.input_len()).map(|_| rng.random()).collect();
        let want = enc
            .forward(pixels_tensor(&bytes, rows, &c, &device))
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let got = forward(&stack, &flat(&enc), &bytes, rows, false).into_features();
        assert_eq!(want.len(), got.len());
        let err = want
            .iter()
            .zip(&got)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-5, "max difference {err}");
        assert!(got.iter().any(|&v| v > 0.0));
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), d> = <x, col2im(d)> for any x and d.
        let conv = ConvAt {
            weight: 0..0,
            bias: 0..0,
            c_in: 2,
            c_out: 1,
            stride: 2,
            input: (9, 7),
            output: (4, 3),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x: Vec<f32> = (0..2 * conv.input_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let cols = im2col(&conv, &x, 2);
        let d: Vec<f32> = (0..cols.len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let back = col2im(&conv, &d, 2);
        let lhs: f64 = cols.iter().zip(&d).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
        assert!(
            (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
