//! The pixel encoder: what a world model that sees through a camera puts in
//! front of its encoder MLP. A stack of the latest `frames` camera images
//! goes through four 3x3 convolutions (strides 2, 2, 2, 1, ReLU after each,
//! as DrQ's and TD-MPC2's encoders), is flattened, and (when the model also
//! reads the observation vector) joined with it; the encoder MLP then maps
//! that to the SimNorm latent. Everything after the latent is the same as a
//! state model's, so the planner's per-tick cost is one pass of this plus
//! the usual plan.
//!
//! Pixels enter as bytes and are scaled to `[-0.5, 0.5]` here, so that
//! batches and episodes keep one byte per pixel.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::Frames;

/// Strides of the four convolutions.
pub(crate) const STRIDES: [usize; 4] = [2, 2, 2, 1];
/// Their kernel size.
pub(crate) const KERNEL: usize = 3;
/// The smallest image side the four convolutions leave a pixel of.
pub const MIN_IMAGE_SIDE: usize = 32;
/// The largest image side.
pub const MAX_IMAGE_SIDE: usize = 256;
/// The most frames in a stack.
pub const MAX_FRAMES: usize = 8;
/// The most filters per convolution.
pub const MAX_CONV_CHANNELS: usize = 256;
/// The largest random shift, pixels.
pub const MAX_SHIFT: usize = 16;

/// What a pixel model sees and how its convolutions are sized. Serialised
/// into checkpoints (within [`super::WorldModelConfig`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelConfig {
    /// Name of the camera whose images the model reads (an `Image.name` in
    /// sensor frames, a `[[camera]]` of the simulator).
    pub camera: String,
    /// Image width, pixels.
    pub width: usize,
    /// Image height, pixels.
    pub height: usize,
    /// Bytes per pixel: 3 (RGB8) or 1 (grey).
    pub channels: usize,
    /// Latest frames stacked into one input (motion is seen across them;
    /// DrQ and TD-MPC2 stack 3).
    pub frames: usize,
    /// Filters of every convolution.
    pub conv_channels: usize,
    /// The model also reads the observation vector (joint readings,
    /// channels); `false`: pixels only.
    pub state: bool,
    /// DrQ's augmentation in training: each image padded by this many
    /// pixels (edges repeated) and cropped back at a random offset; 0 for
    /// none. Never applied when planning.
    pub shift: usize,
}

impl PixelConfig {
    /// A camera's `width x height` RGB images, 3 stacked, 32 filters, DrQ's
    /// shift of 4 pixels, pixels only.
    pub fn new(camera: &str, width: usize, height: usize) -> Self {
        Self {
            camera: camera.to_string(),
            width,
            height,
            channels: 3,
            frames: 3,
            conv_channels: 32,
            state: false,
            shift: 4,
        }
    }

    /// Checks the sizes; returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.camera.is_empty() {
            return Err("pixels.camera is empty".into());
        }
        for (name, v) in [("pixels.width", self.width), ("pixels.height", self.height)] {
            if !(MIN_IMAGE_SIDE..=MAX_IMAGE_SIDE).contains(&v) {
                return Err(format!(
                    "{name} = {v} must lie in {MIN_IMAGE_SIDE}..={MAX_IMAGE_SIDE}"
                ));
            }
        }
        if !matches!(self.channels, 1 | 3) {
            return Err(format!(
                "pixels.channels = {} must be 1 or 3",
                self.channels
            ));
        }
        for (name, v, max) in [
            ("pixels.frames", self.frames, MAX_FRAMES),
            (
                "pixels.conv_channels",
                self.conv_channels,
                MAX_CONV_CHANNELS,
            ),
        ] {
            if !(1..=max).contains(&v) {
                return Err(format!("{name} = {v} must lie in 1..={max}"));
            }
        }
        if self.shift > MAX_SHIFT {
            return Err(format!("pixels.shift = {} exceeds {MAX_SHIFT}", self.shift));
        }
        Ok(())
    }

    /// Bytes of one camera image.
    pub fn image_len(&self) -> usize {
        self.width * self.height * self.channels
    }

    /// Input channels of the first convolution (`frames x channels`).
    pub fn input_channels(&self) -> usize {
        self.frames * self.channels
    }

    /// Bytes of one stacked input (`frames x channels x height x width`).
    pub fn input_len(&self) -> usize {
        self.frames * self.image_len()
    }

    /// Side lengths `(height, width)` after each convolution.
    pub fn conv_sides(&self) -> [(usize, usize); 4] {
        let mut s = (self.height, self.width);
        STRIDES.map(|stride| {
            s = ((s.0 - KERNEL) / stride + 1, (s.1 - KERNEL) / stride + 1);
            s
        })
    }

    /// Length of the flattened features the convolutions produce.
    pub fn feature_len(&self) -> usize {
        let (h, w) = self.conv_sides()[3];
        self.conv_channels * h * w
    }

    /// Parameters of the convolutions.
    pub fn parameter_count(&self) -> u64 {
        let c = self.conv_channels as u64;
        let first = self.input_channels() as u64 * c * (KERNEL * KERNEL) as u64 + c;
        let rest = 3 * (c * c * (KERNEL * KERNEL) as u64 + c);
        first + rest
    }

    /// Multiply-adds of one forward pass over one stacked input.
    pub fn forward_macs(&self) -> f64 {
        let mut cin = self.input_channels();
        self.conv_sides()
            .iter()
            .map(|&(h, w)| {
                let m = (h * w * self.conv_channels * cin * KERNEL * KERNEL) as f64;
                cin = self.conv_channels;
                m
            })
            .sum()
    }
}

/// One convolution: weights `[out, in, 3, 3]`, bias `[out]`.
#[derive(Module, Debug)]
pub struct Conv {
    /// `[out, in, k, k]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
    /// Stride in both directions.
    #[module(skip)]
    pub stride: usize,
}

/// The four convolutions of a pixel model.
#[derive(Module, Debug)]
pub struct PixelEncoder {
    /// In order, input first.
    pub convs: Vec<Conv>,
}

impl PixelEncoder {
    /// Convolutions sized by `c`, uniform `±1/sqrt(fan_in)` from `rng`.
    pub fn new(c: &PixelConfig, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let mut cin = c.input_channels();
        let convs = STRIDES
            .iter()
            .map(|&stride| {
                let cout = c.conv_channels;
                let fan_in = cin * KERNEL * KERNEL;
                let k = 1.0 / (fan_in as f32).sqrt();
                let w: Vec<f32> = (0..cout * fan_in)
                    .map(|_| rng.random_range(-k..k))
                    .collect();
                let b: Vec<f32> = (0..cout).map(|_| rng.random_range(-k..k)).collect();
                let conv = Conv {
                    weight: Param::from_tensor(Tensor::from_data(
                        TensorData::new(w, [cout, cin, KERNEL, KERNEL]),
                        device,
                    )),
                    bias: Param::from_tensor(Tensor::from_data(TensorData::new(b, [cout]), device)),
                    stride,
                };
                cin = cout;
                conv
            })
            .collect();
        Self { convs }
    }

    /// Stacked images `[B, frames x channels, H, W]` scaled to `[-0.5,
    /// 0.5]` -> flattened features `[B, feature_len]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x;
        for c in &self.convs {
            let opts = ConvOptions::new([c.stride, c.stride], [0, 0], [1, 1], 1);
            h = relu(burn::tensor::module::conv2d(
                h,
                c.weight.val(),
                Some(c.bias.val()),
                opts,
            ));
        }
        let [b, ch, hh, ww] = h.dims();
        h.reshape([b, ch * hh * ww])
    }
}

/// `rows` stacked inputs of bytes (`rows x frames x channels x H x W`,
/// channel-major within each row) as a `[rows, frames x channels, H, W]`
/// tensor scaled to `[-0.5, 0.5]`.
pub fn pixels_tensor(bytes: &[u8], rows: usize, c: &PixelConfig, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = bytes.iter().map(|&v| v as f32 / 255.0 - 0.5).collect();
    Tensor::from_data(
        TensorData::new(values, [rows, c.input_channels(), c.height, c.width]),
        device,
    )
}

/// Writes the stacked input of one observation into `out` (appended):
/// the frames `frames` (oldest first, each `height x width x channels`
/// bytes, row-major, channels interleaved) in the channel-major layout of
/// [`pixels_tensor`], shifted by `(dy, dx)` pixels with edges repeated
/// (DrQ's pad-and-crop: a shift of `s` means offsets in `0..=2s`, `s` is
/// no shift).
pub fn stack_frames(c: &PixelConfig, frames: &[&[u8]], shift: (usize, usize), out: &mut Vec<u8>) {
    let (h, w, ch) = (c.height, c.width, c.channels);
    let s = c.shift;
    // Where each output column reads, once per stack (this runs for every
    // image of every training batch).
    let xs: Vec<usize> = (0..w)
        .map(|x| (x + shift.1).saturating_sub(s).min(w - 1) * ch)
        .collect();
    let start = out.len();
    out.resize(start + frames.len() * ch * h * w, 0);
    let mut rows = out[start..].chunks_exact_mut(w);
    for f in frames {
        for k in 0..ch {
            for y in 0..h {
                let sy = (y + shift.0).saturating_sub(s).min(h - 1);
                let row = &f[sy * w * ch + k..(sy + 1) * w * ch];
                let Some(dst) = rows.next() else { return };
                for (d, &i) in dst.iter_mut().zip(&xs) {
                    *d = row[i];
                }
            }
        }
    }
}

/// Appends the stacked input of observation `t` of an episode's `frames`
/// (frames `t - frames + 1 ..= t`, the first repeated before the episode's
/// start, as a robot that has just started has seen nothing else), shifted
/// as [`stack_frames`]. Fails when the frames are not the camera's size or
/// `t` is out of range.
pub fn stack_at(
    c: &PixelConfig,
    frames: &Frames,
    t: usize,
    shift: (usize, usize),
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if (
        frames.width() as usize,
        frames.height() as usize,
        frames.channels() as usize,
    ) != (c.width, c.height, c.channels)
    {
        return Err(format!(
            "frames of {}x{}x{}, the model sees {}x{}x{} images of camera `{}`",
            frames.width(),
            frames.height(),
            frames.channels(),
            c.width,
            c.height,
            c.channels,
            c.camera
        ));
    }
    if t >= frames.len() {
        return Err(format!(
            "frame {t} of an episode of {} frames",
            frames.len()
        ));
    }
    let picked: Vec<&[u8]> = (0..c.frames)
        .map(|k| frames.frame((t + k + 1).saturating_sub(c.frames)))
        .collect();
    stack_frames(c, &picked, shift, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sizes_follow_the_strides() {
        let c = PixelConfig::new("side", 64, 64);
        assert_eq!(c.conv_sides(), [(31, 31), (15, 15), (7, 7), (5, 5)]);
        assert_eq!(c.feature_len(), 32 * 25);
        let c84 = PixelConfig::new("side", 84, 84);
        assert_eq!(c84.conv_sides()[3], (7, 7));
        let enc = PixelEncoder::new(&c, &mut ChaCha8Rng::seed_from_u64(1), &Device::flex());
        let x = pixels_tensor(&vec![128u8; 2 * c.input_len()], 2, &c, &Device::flex());
        assert_eq!(enc.forward(x).dims(), [2, c.feature_len()]);
        let params: usize = enc.num_params();
        assert_eq!(params as u64, c.parameter_count());
    }

    #[test]
    fn bad_sizes_name_the_field() {
        let mut c = PixelConfig::new("side", 16, 64);
        assert!(c.validate().unwrap_err().contains("pixels.width"));
        c.width = 64;
        c.channels = 2;
        assert!(c.validate().unwrap_err().contains("pixels.channels"));
        c.channels = 3;
        c.frames = 0;
        assert!(c.validate().unwrap_err().contains("pixels.frames"));
    }

    #[test]
    fn stacking_is_channel_major_and_shifts_repeat_edges() {
        let mut c = PixelConfig::new("cam", 32, 32);
        c.frames = 2;
        c.shift = 2;
        let frame = |base: u8| -> Vec<u8> {
            (0..32 * 32)
                .flat_map(|i| [base, (i % 32) as u8, (i / 32) as u8])
                .collect()
        };
        let (a, b) = (frame(1), frame(2));
        let mut out = Vec::new();
        stack_frames(&c, &[&a, &b], (2, 2), &mut out);
        assert_eq!(out.len(), c.input_len());
        let plane = 32 * 32;
        // Unshifted: frame 0's red plane, then its x plane, then its y plane.
        assert!(out[..plane].iter().all(|&v| v == 1));
        assert_eq!(out[plane + 5], 5);
        assert_eq!(out[2 * plane + 32 * 7], 7);
        assert!(out[3 * plane..4 * plane].iter().all(|&v| v == 2));
        // Shifted by +2 in x: x plane reads x + 2, clamped at the edge.
        out.clear();
        stack_frames(&c, &[&a, &b], (2, 4), &mut out);
        assert_eq!(out[plane + 5], 7);
        assert_eq!(out[plane + 31], 31);
        // Shifted by -2 in y: row 0 repeats the top edge.
        out.clear();
        stack_frames(&c, &[&a, &b], (0, 2), &mut out);
        assert_eq!(out[2 * plane], 0);
        assert_eq!(out[2 * plane + 32 * 5], 3);
    }
}
