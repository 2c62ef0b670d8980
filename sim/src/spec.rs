//! Observation and action specifications, and what a step returns.

use serde::{Deserialize, Serialize};

/// One named, bounded entry of an observation or action vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpecEntry {
    /// Name, e.g. `slider.pos` or `shoulder`.
    pub name: String,
    /// Lower bound (may be `-inf` for unbounded observations).
    pub low: f32,
    /// Upper bound (may be `inf`).
    pub high: f32,
    /// Physical unit, e.g. `m`, `rad/s`, `N*m`, or `1` for dimensionless.
    pub unit: String,
}

impl SpecEntry {
    /// A new entry.
    pub fn new(name: impl Into<String>, low: f32, high: f32, unit: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            low,
            high,
            unit: unit.into(),
        }
    }
}

/// How an actuator interprets its command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActuationMode {
    /// Commands are joint efforts: N for prismatic, N*m for revolute joints.
    #[default]
    Torque,
    /// Commands are joint velocities (m/s or rad/s), tracked by an
    /// effort-limited velocity servo in the simulated actuator.
    Velocity,
}

impl std::fmt::Display for ActuationMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActuationMode::Torque => "torque",
            ActuationMode::Velocity => "velocity",
        })
    }
}

/// The action space: one entry per actuator, in the robot's declared order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// What the values mean.
    pub mode: ActuationMode,
    /// One entry per actuated joint.
    pub entries: Vec<SpecEntry>,
}

impl ActionSpec {
    /// Number of actuators.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when the robot has no actuator.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The observation vector handed to a policy: one entry per feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservationSpec {
    /// One entry per feature, in vector order.
    pub entries: Vec<SpecEntry>,
}

impl ObservationSpec {
    /// Length of the observation vector.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True for an empty observation.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the robot's sensors report: joint states in the declared joint order
/// plus named task channels (e.g. the vector to a target).
///
/// This is the content of a sensor frame on the wire; the policy's
/// observation vector is derived from it by an
/// [`ObservationMap`](crate::observation::ObservationMap).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Joint positions (m or rad).
    pub positions: Vec<f32>,
    /// Joint velocities (m/s or rad/s).
    pub velocities: Vec<f32>,
    /// Efforts the actuators applied during the last control step (N or N*m).
    pub efforts: Vec<f32>,
    /// Task channels, in the order of the task's channel names.
    pub channels: Vec<f32>,
}

/// An observation: the raw measurement and the feature vector derived from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Sensor readings (with the configured noise and delay).
    pub sensors: Measurement,
    /// The policy's feature vector, following the [`ObservationSpec`].
    pub vector: Vec<f32>,
}

/// Per-step diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Whether the task's success condition holds at this step (see the
    /// task's documentation). The value at an episode's last step is the
    /// episode's success.
    pub success: bool,
    /// Control steps taken in this episode.
    pub step: u32,
    /// Simulated time since reset, in seconds.
    pub time: f64,
    /// True when the physics produced a non-finite state; the episode is
    /// then terminated.
    pub diverged: bool,
}

/// The result of [`Env::step`](crate::Env::step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The observation after the step.
    pub observation: Observation,
    /// The reward for this step, in [0, 1] for every built-in task.
    pub reward: f32,
    /// The episode ended by the task's own logic (or a physics failure).
    pub terminated: bool,
    /// The episode ended by its time limit.
    pub truncated: bool,
    /// Diagnostics.
    pub info: StepInfo,
}
