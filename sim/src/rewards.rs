//! Reward shaping in the manner of the DeepMind Control Suite.
//!
//! [`tolerance`] follows `dm_control.utils.rewards.tolerance`: 1 inside
//! `bounds`, and outside it falls off with the distance to the nearest bound,
//! measured in units of `margin`, through one of several sigmoids that equal
//! `value_at_margin` at a distance of one margin.

use serde::{Deserialize, Serialize};

/// The shape of the fall-off outside the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sigmoid {
    /// `exp(-0.5 (x s)^2)`.
    Gaussian,
    /// `1 / cosh(x s)`.
    Hyperbolic,
    /// `1 / ((x s)^2 + 1)`.
    LongTail,
    /// `1 / (|x| s + 1)`.
    Reciprocal,
    /// `(1 + cos(pi x s)) / 2` within one period, else 0.
    Cosine,
    /// `1 - x s` within reach, else 0.
    Linear,
    /// `1 - (x s)^2` within reach, else 0.
    Quadratic,
    /// `1 - tanh(x s)^2`.
    TanhSquared,
}

/// Evaluates a sigmoid at a distance `x >= 0` (in margins), scaled so that it
/// equals `value_at_1` at `x = 1`.
pub fn sigmoid(x: f64, value_at_1: f64, kind: Sigmoid) -> f64 {
    use std::f64::consts::PI;
    match kind {
        Sigmoid::Gaussian => {
            let scale = (-2.0 * value_at_1.ln()).sqrt();
            (-0.5 * (x * scale).powi(2)).exp()
        }
        Sigmoid::Hyperbolic => {
            let scale = (1.0 / value_at_1).acosh();
            1.0 / (x * scale).cosh()
        }
        Sigmoid::LongTail => {
            let scale = (1.0 / value_at_1 - 1.0).sqrt();
            1.0 / ((x * scale).powi(2) + 1.0)
        }
        Sigmoid::Reciprocal => {
            let scale = 1.0 / value_at_1 - 1.0;
            1.0 / (x.abs() * scale + 1.0)
        }
        Sigmoid::Cosine => {
            let scale = (2.0 * value_at_1 - 1.0).acos() / PI;
            let sx = x * scale;
            if sx.abs() < 1.0 {
                (1.0 + (PI * sx).cos()) / 2.0
            } else {
                0.0
            }
        }
        Sigmoid::Linear => {
            let sx = x * (1.0 - value_at_1);
            if sx.abs() < 1.0 { 1.0 - sx } else { 0.0 }
        }
        Sigmoid::Quadratic => {
            let sx = x * (1.0 - value_at_1).sqrt();
            if sx.abs() < 1.0 { 1.0 - sx * sx } else { 0.0 }
        }
        Sigmoid::TanhSquared => {
            let scale = (1.0 - value_at_1).sqrt().atanh();
            1.0 - (x * scale).tanh().powi(2)
        }
    }
}

/// `dm_control`'s `tolerance(x, bounds, margin, sigmoid, value_at_margin)`.
///
/// With `margin == 0` the result is 1 inside the bounds and 0 outside.
pub fn tolerance(
    x: f64,
    bounds: (f64, f64),
    margin: f64,
    kind: Sigmoid,
    value_at_margin: f64,
) -> f64 {
    let (lower, upper) = bounds;
    debug_assert!(lower <= upper, "tolerance: lower bound above upper bound");
    let in_bounds = lower <= x && x <= upper;
    if in_bounds {
        return 1.0;
    }
    if margin <= 0.0 {
        return 0.0;
    }
    let d = if x < lower { lower - x } else { x - upper } / margin;
    sigmoid(d, value_at_margin, kind)
}

/// `tolerance` with `dm_control`'s defaults: Gaussian, value 0.1 at the margin.
pub fn tolerance_default(x: f64, bounds: (f64, f64), margin: f64) -> f64 {
    tolerance(x, bounds, margin, Sigmoid::Gaussian, 0.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_bounds_is_one_and_hard_bounds_are_binary() {
        assert_eq!(tolerance_default(0.5, (0.0, 1.0), 0.0), 1.0);
        assert_eq!(tolerance_default(1.5, (0.0, 1.0), 0.0), 0.0);
        assert_eq!(tolerance_default(-0.1, (0.0, 1.0), 0.0), 0.0);
    }

    #[test]
    fn every_sigmoid_hits_value_at_margin_one_margin_out() {
        for kind in [
            Sigmoid::Gaussian,
            Sigmoid::Hyperbolic,
            Sigmoid::LongTail,
            Sigmoid::Reciprocal,
            Sigmoid::Cosine,
            Sigmoid::Linear,
            Sigmoid::Quadratic,
            Sigmoid::TanhSquared,
        ] {
            let v = tolerance(3.0, (0.0, 1.0), 2.0, kind, 0.3);
            assert!((v - 0.3).abs() < 1e-9, "{kind:?}: {v}");
            let closer = tolerance(2.0, (0.0, 1.0), 2.0, kind, 0.3);
            assert!(
                closer > v && closer < 1.0,
                "{kind:?} must fall off monotonically"
            );
        }
    }

    #[test]
    fn quadratic_with_zero_value_at_margin_matches_dm_control_small_control() {
        // dm_control cartpole: tolerance(u, margin=1, value_at_margin=0, sigmoid='quadratic')
        let f = |u: f64| tolerance(u, (0.0, 0.0), 1.0, Sigmoid::Quadratic, 0.0);
        assert_eq!(f(0.0), 1.0);
        assert!((f(0.5) - 0.75).abs() < 1e-12);
        assert_eq!(f(1.0), 0.0);
    }
}
