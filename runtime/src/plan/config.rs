//! The planner's budget and search parameters (`[controller.planner]` in a
//! run config).

use serde::{Deserialize, Serialize};

/// The most sequences a plan may score per iteration (TD-MPC2 uses 512).
pub const MAX_SAMPLES: usize = 65_536;
/// The longest planning horizon, in model steps.
pub const MAX_HORIZON: usize = 1_000;
/// The most refits per plan.
pub const MAX_ITERATIONS: usize = 1_000;
/// The most control steps one planned action may be held.
pub const MAX_ACTION_REPEAT: usize = 1_000;
/// The largest `deadline_margin_us`: one second.
pub const MAX_DEADLINE_MARGIN_US: u64 = 1_000_000;
/// The most latent sample-steps of one rollout (`samples * horizon`): the
/// planner holds this many action vectors.
pub const MAX_SAMPLE_STEPS: usize = 1 << 24;

/// Parameters of [`super::Planner`]. Defaults follow TD-MPC2 (512 samples,
/// 64 elites, 24 policy-prior samples, temperature 0.5, std in [0.05, 2])
/// with 4 iterations over a horizon of 4 instead of 6 over 3: the same
/// 8192+ latent sample-steps per plan for fewer terminal-value evaluations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// Action sequences scored per iteration (policy-prior ones included).
    pub samples: usize,
    /// Best sequences the sampling distribution is refitted to.
    pub elites: usize,
    /// Refits per plan (fewer when the deadline comes first).
    pub iterations: usize,
    /// Refits made whatever the deadline (1: every plan sees the newest
    /// observation; `iterations`: the deadline is ignored, as for an offline
    /// oracle).
    pub min_iterations: usize,
    /// Steps per action sequence.
    pub horizon: usize,
    /// Sequences drawn from the model's policy prior, where it has one.
    pub policy_samples: usize,
    /// MPPI temperature: elite weights are `exp(temperature * (value - max))`.
    pub temperature: f32,
    /// Lower bound of the sampling standard deviation (normalised actions).
    pub min_std: f32,
    /// Upper bound, and the start, of the sampling standard deviation.
    pub max_std: f32,
    /// Discount of the models that have none of their own (the oracle).
    pub discount: f32,
    /// Add `std[0]` Gaussian noise to the chosen action (exploration while
    /// collecting data; off when evaluating).
    pub explore: bool,
    /// Hold each planned action for this many control steps (coarser
    /// planning, a longer look-ahead for the same horizon).
    pub action_repeat: usize,
    /// With `action_repeat > 1`: plan only at the start of each repeat
    /// block and hold the action in between (a lower decision rate, much
    /// less compute), instead of replanning every tick.
    pub hold: bool,
    /// Stop iterating when less than this is left before the tick's
    /// deadline (microseconds).
    pub deadline_margin_us: u64,
    /// Seed of the sampling noise.
    pub seed: u64,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            samples: 512,
            elites: 64,
            iterations: 4,
            min_iterations: 1,
            horizon: 4,
            policy_samples: 24,
            temperature: 0.5,
            min_std: 0.05,
            max_std: 2.0,
            discount: 0.99,
            explore: false,
            action_repeat: 1,
            hold: false,
            deadline_margin_us: 300,
            seed: 0,
        }
    }
}

impl PlannerConfig {
    /// Checks the values; returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.samples == 0 || self.horizon == 0 || self.iterations == 0 {
            return Err(format!(
                "samples ({}), horizon ({}) and iterations ({}) must be positive",
                self.samples, self.horizon, self.iterations
            ));
        }
        for (name, v, max) in [
            ("samples", self.samples, MAX_SAMPLES),
            ("horizon", self.horizon, MAX_HORIZON),
            ("iterations", self.iterations, MAX_ITERATIONS),
            ("action_repeat", self.action_repeat, MAX_ACTION_REPEAT),
        ] {
            if v > max {
                return Err(format!("{name} = {v}: exceeds the limit {max}"));
            }
        }
        if self.samples * self.horizon > MAX_SAMPLE_STEPS {
            return Err(format!(
                "samples ({}) x horizon ({}) = {}: exceeds the limit {MAX_SAMPLE_STEPS} sample-steps per rollout",
                self.samples,
                self.horizon,
                self.samples * self.horizon
            ));
        }
        if self.deadline_margin_us > MAX_DEADLINE_MARGIN_US {
            return Err(format!(
                "deadline_margin_us = {}: exceeds the limit {MAX_DEADLINE_MARGIN_US} (one second)",
                self.deadline_margin_us
            ));
        }
        if self.elites == 0 || self.elites > self.samples {
            return Err(format!(
                "elites ({}) must be between 1 and samples ({})",
                self.elites, self.samples
            ));
        }
        if self.min_iterations > self.iterations {
            return Err(format!(
                "min_iterations ({}) must not exceed iterations ({})",
                self.min_iterations, self.iterations
            ));
        }
        if self.policy_samples >= self.samples {
            return Err(format!(
                "policy_samples ({}) must be below samples ({})",
                self.policy_samples, self.samples
            ));
        }
        if !(self.min_std > 0.0 && self.min_std <= self.max_std && self.max_std <= 100.0) {
            return Err(format!(
                "need 0 < min_std ({}) <= max_std ({}) <= 100",
                self.min_std, self.max_std
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0 && self.temperature <= 1e6) {
            return Err(format!(
                "temperature ({}) must be in (0, 1e6]",
                self.temperature
            ));
        }
        if !(self.discount > 0.0 && self.discount <= 1.0) {
            return Err(format!("discount ({}) must be in (0, 1]", self.discount));
        }
        if self.action_repeat == 0 {
            return Err("action_repeat must be at least 1".into());
        }
        Ok(())
    }

    /// Model steps scored per plan when every iteration runs.
    pub fn sample_steps(&self) -> usize {
        self.samples * self.horizon * self.iterations
    }
}
