//! The arithmetic of one optimiser step, counted from the objective's
//! structure ([`super::objective::losses`]): what a training benchmark
//! divides its time by.
//!
//! Only the dense layers' and convolutions' matrix products are counted
//! (a convolution as the product of its patches and kernels), at 2 FLOPs per
//! multiply-add; biases, LayerNorm, SimNorm, activations and Adam are left
//! out (they are a few percent of the products at the shipped sizes, and
//! leaving them out keeps the count comparable with an sgemm peak).

use crate::world_model::config::{MlpShape, WorldModelConfig};
use crate::world_model::pixels::{KERNEL, PixelConfig};

/// Matrix-product FLOPs of one optimiser step, forward and backward apart.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateFlops {
    /// The forward pass: every network application of the objective,
    /// detached targets included.
    pub forward: f64,
    /// The backward pass: for every layer that carries a gradient, the
    /// weight gradient (when its parameters train) and the input gradient
    /// (when what feeds it needs one), each as many FLOPs as its forward.
    pub backward: f64,
}

impl UpdateFlops {
    /// Forward and backward together.
    pub fn total(&self) -> f64 {
        self.forward + self.backward
    }

    /// One application of an MLP to `rows` rows: its forward FLOPs, and
    /// its backward FLOPs given whether its parameters train and whether
    /// its input needs a gradient (then every layer passes one back;
    /// otherwise all but the first, whose input is a leaf).
    fn apply(&mut self, rows: usize, widths: &[usize], params: bool, input: bool) {
        for (i, w) in widths.windows(2).enumerate() {
            let f = 2.0 * rows as f64 * w[0] as f64 * w[1] as f64;
            self.forward += f;
            if params {
                self.backward += f;
            }
            // Hidden activations need a gradient whenever anything before
            // them does, i.e. the parameters of earlier layers or the input.
            let feeds_grad = input || (params && i > 0);
            if feeds_grad {
                self.backward += f;
            }
        }
    }
}

/// A pixel model's convolutions on `images` stacked inputs, each layer a
/// product of `images x pixels` patch rows and its kernels; with `params`
/// they train (every layer's weight gradient, every layer's but the
/// first's input gradient: the images are leaves).
fn convs(f: &mut UpdateFlops, p: &PixelConfig, images: usize, params: bool) {
    let mut c_in = p.input_channels();
    for (i, (h, w)) in p.conv_sides().into_iter().enumerate() {
        let widths = [KERNEL * KERNEL * c_in, p.conv_channels];
        f.apply(images * h * w, &widths, params, params && i > 0);
        c_in = p.conv_channels;
    }
}

/// The layer widths of an MLP of shape `m` and width `hidden`.
fn widths(m: MlpShape, hidden: usize) -> Vec<usize> {
    let mut w = vec![m.d_in];
    w.extend(std::iter::repeat_n(hidden, m.layers));
    w.push(m.d_out);
    w
}

/// Matrix-product FLOPs of one optimiser step of a model of sizes `m` on
/// `batch` windows of `horizon` steps, following the objective term by
/// term: the encoder on the true next observations (no gradient), the
/// latent rollout, reward, the TD target (policy sample and two target
/// heads, no gradient), every Q head, the policy prior scored by two
/// target heads (gradient into the action only), inverse dynamics and the
/// decoder on all `horizon + 1` latents.
pub fn update_flops(m: &WorldModelConfig, batch: usize, horizon: usize) -> UpdateFlops {
    let (s, h) = (m.shapes(), m.hidden);
    let hb = horizon * batch;
    let encoder = widths(s.encoder, h);
    let dynamics = widths(s.dynamics, h);
    let reward = widths(s.reward, h);
    let q = widths(s.q, h);
    let policy = widths(s.policy, h);
    let inverse = widths(s.inverse, h);
    let decoder = widths(s.decoder, h);
    let mut f = UpdateFlops::default();
    // Targets: latents of the true next observations, detached.
    if let Some(p) = &m.pixels {
        convs(&mut f, p, hb, false);
    }
    f.apply(hb, &encoder, false, false);
    // The rollout: the first latent, then `horizon` dynamics steps.
    f.apply(batch, &encoder, true, m.pixels.is_some());
    if let Some(p) = &m.pixels {
        convs(&mut f, p, batch, true);
    }
    for _ in 0..horizon {
        f.apply(batch, &dynamics, true, true);
    }
    f.apply(hb, &reward, true, true);
    // TD target: detached.
    f.apply(hb, &policy, false, false);
    f.apply(hb, &q, false, false);
    f.apply(hb, &q, false, false);
    for _ in 0..m.num_q {
        f.apply(hb, &q, true, true);
    }
    // Policy prior on detached latents, scored by two target heads whose
    // parameters do not train but which pass the action's gradient back.
    f.apply(hb, &policy, true, false);
    f.apply(hb, &q, false, true);
    f.apply(hb, &q, false, true);
    f.apply(hb, &inverse, true, true);
    // A pixel model that reads no observation vector keeps the decoder
    // off its latent (a probe): no gradient into the latents there.
    let probe = m.pixels.as_ref().is_some_and(|p| !p.state);
    f.apply((horizon + 1) * batch, &decoder, true, !probe);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_layer_counts_by_hand() {
        // 10 rows through 3 -> 4 -> 2: forward 2*10*(3*4 + 4*2) = 400.
        let w = [3, 4, 2];
        let mut f = UpdateFlops::default();
        f.apply(10, &w, false, false);
        assert_eq!(
            f,
            UpdateFlops {
                forward: 400.0,
                backward: 0.0
            }
        );
        // Training parameters on a leaf input: both weight gradients (400)
        // and the hidden layer's input gradient (160), not the leaf's (240).
        let mut f = UpdateFlops::default();
        f.apply(10, &w, true, false);
        assert_eq!(f.backward, 400.0 + 160.0);
        // Frozen parameters, input needing a gradient: input gradients only.
        let mut f = UpdateFlops::default();
        f.apply(10, &w, false, true);
        assert_eq!(f.backward, 400.0);
        let mut f = UpdateFlops::default();
        f.apply(10, &w, true, true);
        assert_eq!(f.backward, 800.0);
    }

    #[test]
    fn the_default_model_is_about_half_a_gigaflop_per_step() {
        let m = WorldModelConfig::new(5, 1);
        let f = update_flops(&m, 256, 3);
        // Backward is a bit under twice forward: detached targets have none.
        assert!(
            f.backward > f.forward && f.backward < 2.0 * f.forward,
            "{f:?}"
        );
        assert!((0.3e9..0.8e9).contains(&f.total()), "{f:?}");
        // Linear in the batch.
        let g = update_flops(&m, 512, 3);
        assert!((g.total() / f.total() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_pixel_models_convolutions_count_by_hand() {
        let p = PixelConfig::new("side", 64, 64);
        let m = WorldModelConfig {
            pixels: Some(p.clone()),
            ..WorldModelConfig::new(5, 1)
        };
        let (b, h) = (32, 3);
        let f = update_flops(&m, b, h);
        let state = update_flops(&WorldModelConfig::new(5, 1), b, h);
        // Forward: the convolutions on all (h + 1) b stacked inputs, 2
        // FLOPs per multiply-add, on top of the MLPs (whose encoder now
        // reads the features).
        let conv_forward = 2.0 * p.forward_macs() * ((h + 1) * b) as f64;
        assert!(f.forward > state.forward + conv_forward, "{f:?}");
        // Backward on the b kept inputs: weight gradients of all four
        // layers, input gradients of the last three.
        let first = 2.0 * 31.0 * 31.0 * 81.0 * 32.0 * b as f64;
        let conv_backward = 2.0 * 2.0 * p.forward_macs() * b as f64 - first;
        let mut c = UpdateFlops::default();
        convs(&mut c, &p, b, true);
        assert!((c.backward - conv_backward).abs() < 1.0, "{c:?}");
        assert!(f.total() > 1.8e9 && f.total() < 2.2e9, "{f:?}");
    }
}
