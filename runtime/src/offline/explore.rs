//! Exploration without a model: the policies that choose the actions of
//! seed data and baselines. Every action they choose lies inside the
//! actuators' ranges (the description's limits), so seed episodes on
//! hardware command nothing a controller could not.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use umwelt_sim::SpecEntry;

/// A policy that needs no model: for seed data, smoke tests, baselines and
/// benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimplePolicy {
    /// Uniform random actions within the action bounds, drawn afresh at
    /// every decision (white noise: on a slow or heavy robot it mostly
    /// cancels out).
    #[default]
    Random,
    /// The zero action (no effort, or zero velocity), or the bound nearest
    /// to it.
    Zero,
    /// Smoothed (coloured) noise: each actuator follows a first-order
    /// autoregressive process whose correlation time is the exploration
    /// time, scaled to its range and clamped to it. It moves a robot much
    /// further than white noise of the same spread.
    Smooth,
    /// A uniform random action held for a random number of decisions (1 up
    /// to the exploration time's worth), then another.
    Hold,
}

/// The exploration time when none is given, seconds: a tenth to a fifth
/// of the swing of the robots umwelt ships.
pub const DEFAULT_EXPLORE_TIME_S: f64 = 0.2;

/// How a model-free policy explores: which policy, and its time scale.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exploration {
    /// The policy.
    pub policy: SimplePolicy,
    /// Seconds: the correlation time of `smooth` noise, the longest hold of
    /// `hold` (unused by `random` and `zero`). Finite and positive.
    pub time_s: f64,
}

impl Exploration {
    /// `policy` with the default time scale.
    pub fn new(policy: SimplePolicy) -> Self {
        Self {
            policy,
            time_s: DEFAULT_EXPLORE_TIME_S,
        }
    }

    /// Checks the time scale; says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.time_s.is_finite() && self.time_s > 0.0 && self.time_s <= 3600.0 {
            Ok(())
        } else {
            Err(format!(
                "exploration time {} s: must be a finite number of seconds in (0, 3600]",
                self.time_s
            ))
        }
    }
}

/// One episode's model-free actions: an [`Exploration`] with its random
/// stream and state. Deterministic for a seed.
#[derive(Clone, Debug)]
pub struct Explorer {
    policy: SimplePolicy,
    rng: ChaCha8Rng,
    /// `smooth`: the share of the noise kept from one decision to the next.
    keep: f32,
    /// `hold`: the longest hold, decisions.
    max_hold: u32,
    /// `smooth`: each actuator's noise (unit variance); `hold`: the held
    /// action.
    state: Vec<f32>,
    /// `hold`: decisions left of the current hold.
    left: u32,
}

impl Explorer {
    /// The explorer of an episode from `seed` that decides every
    /// `decision_period` seconds. The policy draws from
    /// `ChaCha8Rng::seed_from_u64(seed)` on stream 7, apart from the
    /// environment's own randomness, so `random` chooses what it always has
    /// for a seed.
    pub fn new(exploration: Exploration, seed: u64, decision_period: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(7);
        let decisions = if decision_period.is_finite() && decision_period > 0.0 {
            (exploration.time_s / decision_period).max(1.0)
        } else {
            1.0
        };
        Self {
            policy: exploration.policy,
            rng,
            keep: (-1.0 / decisions).exp() as f32,
            max_hold: decisions.round().clamp(1.0, u32::MAX as f64) as u32,
            state: Vec::new(),
            left: 0,
        }
    }

    /// Writes the next action for actuators `spec` into `out`.
    pub fn act(&mut self, spec: &[SpecEntry], out: &mut Vec<f32>) {
        out.clear();
        match self.policy {
            SimplePolicy::Zero => out.extend(spec.iter().map(|e| clamp(0.0, e))),
            SimplePolicy::Random => uniform_action(spec, &mut self.rng, out),
            SimplePolicy::Smooth => {
                if self.state.len() != spec.len() {
                    // Start from the process's stationary distribution.
                    self.state = (0..spec.len())
                        .map(|_| self.rng.sample(StandardNormal))
                        .collect();
                } else {
                    let fresh = (1.0 - self.keep * self.keep).sqrt();
                    for x in &mut self.state {
                        let e: f32 = self.rng.sample(StandardNormal);
                        *x = self.keep * *x + fresh * e;
                    }
                }
                out.extend(spec.iter().zip(&self.state).map(|(e, x)| {
                    // 0.6 spreads the noise about as widely as a uniform
                    // draw (std 0.6 against 0.58 of the half-range).
                    let u = (SMOOTH_SCALE * x).clamp(-1.0, 1.0);
                    clamp(mid(e) + half(e) * u, e)
                }));
            }
            SimplePolicy::Hold => {
                if self.left == 0 || self.state.len() != spec.len() {
                    uniform_action(spec, &mut self.rng, &mut self.state);
                    self.left = self.rng.random_range(1..=self.max_hold);
                }
                self.left -= 1;
                out.extend_from_slice(&self.state);
            }
        }
    }
}

/// How widely `smooth` noise spreads over an actuator's half-range.
const SMOOTH_SCALE: f32 = 0.6;

/// A uniform random action within `spec`'s bounds, drawn from `rng` (an
/// actuator with no finite range gets 0).
pub fn uniform_action(spec: &[SpecEntry], rng: &mut ChaCha8Rng, out: &mut Vec<f32>) {
    out.clear();
    out.extend(spec.iter().map(|e| {
        if bounded(e) {
            rng.random_range(e.low..=e.high)
        } else {
            0.0
        }
    }));
}

fn bounded(e: &SpecEntry) -> bool {
    e.low.is_finite() && e.high.is_finite() && e.low <= e.high
}

fn mid(e: &SpecEntry) -> f32 {
    if bounded(e) {
        0.5 * (e.low + e.high)
    } else {
        0.0
    }
}

fn half(e: &SpecEntry) -> f32 {
    if bounded(e) {
        0.5 * (e.high - e.low)
    } else {
        0.0
    }
}

fn clamp(v: f32, e: &SpecEntry) -> f32 {
    if bounded(e) {
        v.clamp(e.low, e.high)
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Vec<SpecEntry> {
        vec![
            SpecEntry::new("a", -1.0, 1.0, "N*m"),
            SpecEntry::new("b", 0.2, 3.0, "rad/s"),
            SpecEntry::new("c", -0.05, -0.01, "N"),
        ]
    }

    fn run(p: SimplePolicy, seed: u64, n: usize) -> Vec<Vec<f32>> {
        let mut x = Explorer::new(
            Exploration {
                policy: p,
                time_s: 0.2,
            },
            seed,
            0.02,
        );
        let s = spec();
        let mut out = Vec::new();
        (0..n)
            .map(|_| {
                x.act(&s, &mut out);
                out.clone()
            })
            .collect()
    }

    const ALL: [SimplePolicy; 4] = [
        SimplePolicy::Random,
        SimplePolicy::Zero,
        SimplePolicy::Smooth,
        SimplePolicy::Hold,
    ];

    #[test]
    fn every_action_lies_within_the_bounds_and_a_seed_repeats() {
        let s = spec();
        for p in ALL {
            for seed in 0..20 {
                let a = run(p, seed, 2_000);
                for v in &a {
                    assert_eq!(v.len(), s.len());
                    for (x, e) in v.iter().zip(&s) {
                        assert!(
                            x.is_finite() && *x >= e.low && *x <= e.high,
                            "{p:?} {x} {e:?}"
                        );
                    }
                }
                assert_eq!(a, run(p, seed, 2_000), "{p:?} seed {seed}");
            }
        }
        // Zero where zero is allowed, else the nearest bound.
        assert_eq!(run(SimplePolicy::Zero, 0, 1)[0], [0.0, 0.2, -0.01]);
    }

    #[test]
    fn random_draws_what_the_policy_stream_gives() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        rng.set_stream(7);
        let mut want = Vec::new();
        let mut out = Vec::new();
        for _ in 0..10 {
            uniform_action(&spec(), &mut rng, &mut out);
            want.push(out.clone());
        }
        assert_eq!(run(SimplePolicy::Random, 5, 10), want);
    }

    /// Lag-one correlation of actuator 0, on its normalised value.
    fn lag1(a: &[Vec<f32>]) -> f64 {
        let x: Vec<f64> = a.iter().map(|v| f64::from(v[0])).collect();
        let m = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>();
        let cov = x.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum::<f64>();
        cov / var
    }

    #[test]
    fn smooth_noise_and_holds_are_correlated_in_time_and_cover_the_range() {
        let random = run(SimplePolicy::Random, 1, 20_000);
        let smooth = run(SimplePolicy::Smooth, 1, 20_000);
        let hold = run(SimplePolicy::Hold, 1, 20_000);
        assert!(lag1(&random).abs() < 0.05, "{}", lag1(&random));
        // 10 decisions of correlation time: exp(-1/10) = 0.905 before
        // clamping.
        let c = lag1(&smooth);
        assert!((0.85..0.95).contains(&c), "{c}");
        // Holds of 1..=10 decisions, 5.5 on average: a change on about
        // one decision in five and a half.
        let changes = hold.windows(2).filter(|w| w[0] != w[1]).count();
        let rate = changes as f64 / hold.len() as f64;
        assert!((0.15..0.22).contains(&rate), "{rate}");
        for a in [&smooth, &hold] {
            let lo = a.iter().map(|v| v[0]).fold(f32::INFINITY, f32::min);
            let hi = a.iter().map(|v| v[0]).fold(f32::NEG_INFINITY, f32::max);
            assert!(lo < -0.9 && hi > 0.9, "{lo} {hi}");
        }
    }

    #[test]
    fn bad_time_scales_are_refused() {
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(
                Exploration {
                    policy: SimplePolicy::Smooth,
                    time_s: t
                }
                .validate()
                .is_err(),
                "{t}"
            );
        }
        assert!(Exploration::new(SimplePolicy::Hold).validate().is_ok());
    }
}
