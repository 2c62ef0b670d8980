//! Adam over the flat parameter buffer, as burn's `Adam` with per-tensor
//! gradient-norm clipping computes it (defaults: betas 0.9 and 0.999,
//! epsilon 1e-5 scaled by the second moment's bias correction), and the
//! target ensemble's Polyak update.

use std::ops::Range;

use super::simd::multiversion;

/// Adam's moments and step count for a flat buffer of parameters.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Adam {
    pub moment_1: Vec<f32>,
    pub moment_2: Vec<f32>,
    /// Steps taken (burn's `time`).
    pub time: u64,
}

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

impl Adam {
    /// Zero moments for `len` parameters.
    pub fn new(len: usize) -> Self {
        Self {
            moment_1: vec![0.0; len],
            moment_2: vec![0.0; len],
            time: 0,
        }
    }

    /// One step: each tensor's gradient clipped to norm `clip`, then
    /// `params -= lr * m_hat / (sqrt(v_hat) + eps)` in burn's arrangement.
    pub fn step(
        &mut self,
        params: &mut [f32],
        grads: &mut [f32],
        tensors: &[Range<usize>],
        lr: f32,
        clip: f32,
    ) {
        self.time += 1;
        let t = self.time.min(i32::MAX as u64) as i32;
        let bc2 = (1.0 - BETA_2.powi(t)).sqrt();
        let factor = bc2 / (1.0 - BETA_1.powi(t));
        for range in tensors {
            let g = &mut grads[range.clone()];
            let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
            let coef = (clip / (norm + f32::MIN_POSITIVE)).min(1.0);
            update(
                &mut params[range.clone()],
                g,
                &mut self.moment_1[range.clone()],
                &mut self.moment_2[range.clone()],
                [coef, lr, factor, EPSILON * bc2],
            );
        }
    }
}

multiversion! {
/// One tensor's Adam update: `k` is the clipping coefficient, the
/// learning rate, the bias-correction factor and the scaled epsilon.
fn update(p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32], k: [f32; 4]) {
    let [coef, lr, factor, eps] = k;
    for (((p, g), m1), m2) in p.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut()) {
        let gi = g * coef;
        *m1 = *m1 * BETA_1 + gi * (1.0 - BETA_1);
        *m2 = *m2 * BETA_2 + gi * gi * (1.0 - BETA_2);
        *p -= lr * (*m1 * factor / (m2.sqrt() + eps));
    }
}
}

multiversion! {
/// `target <- (1 - tau) target + tau online`.
pub(super) fn polyak(target: &mut [f32], online: &[f32], tau: f32) {
    for (t, o) in target.iter_mut().zip(online) {
        *t = *t * (1.0 - tau) + o * tau;
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Range;

    #[test]
    fn the_first_step_moves_each_parameter_by_about_the_learning_rate() {
        // Adam's first step is lr * sign(g) (up to epsilon), whatever |g|.
        let mut p = vec![1.0, 1.0, 1.0];
        let mut g = vec![0.5, -2.0, 0.01];
        let mut adam = Adam::new(3);
        let whole = vec![Range { start: 0, end: 3 }];
        adam.step(&mut p, &mut g, &whole, 0.1, 1e9);
        assert!(
            (p[0] - 0.9).abs() < 1e-4 && (p[1] - 1.1).abs() < 1e-4,
            "{p:?}"
        );
        assert!((p[2] - 0.9).abs() < 1e-2, "{p:?}");
        assert_eq!(adam.time, 1);
    }

    #[test]
    fn clipping_is_per_tensor() {
        // Two tensors: [3, 4] (norm 5) clipped to norm 1, [0.1] untouched.
        let mut p = vec![0.0; 3];
        let mut g = vec![3.0, 4.0, 0.1];
        let mut adam = Adam::new(3);
        adam.step(&mut p, &mut g, &[0..2, 2..3], 1.0, 1.0);
        assert!((adam.moment_1[0] - 0.1 * 0.6).abs() < 1e-6);
        assert!((adam.moment_1[1] - 0.1 * 0.8).abs() < 1e-6);
        assert!((adam.moment_1[2] - 0.1 * 0.1).abs() < 1e-7);
    }
}
