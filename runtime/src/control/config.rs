//! The controller config (`umwelt run --config FILE`): which robot, how its
//! sensor frames become an observation vector, which controller, the safety
//! layer and the real-time options.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Errors in a controller config; each names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value is missing, malformed or inconsistent.
    #[error("invalid controller config {origin}: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Which built-in controller to run, with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControllerConfig {
    /// Always the zero action.
    Zero,
    /// Holds the joint positions of the first frame with a PD law (torque
    /// robots) or commands zero velocity (velocity robots).
    Hold {
        /// Position gain (effort per m or rad).
        #[serde(default = "default_kp")]
        kp: f32,
        /// Velocity gain (effort per m/s or rad/s).
        #[serde(default = "default_kd")]
        kd: f32,
    },
    /// Uniform random actions within the limits.
    Random {
        /// Seed of the action stream.
        #[serde(default)]
        seed: u64,
    },
    /// Model-free cart-pole baseline: energy-shaping swing-up, LQR balance.
    CartpoleSwingup(crate::control::baseline::CartpoleParams),
    /// Model-predictive control: a sampling planner over the learned world
    /// model of a checkpoint, or over the true simulator (`model = "oracle"`).
    Mpc(crate::control::mpc::MpcConfig),
    /// A constant action with injected faults, for testing the safety layer
    /// of a deployment: every `nan_every`-th tick returns NaN, every
    /// `panic_every`-th panics, every `error_every`-th fails (0 = never).
    FaultInjection {
        /// The action on healthy ticks (one value for every actuator).
        #[serde(default)]
        value: f32,
        /// Period of NaN outputs, in ticks.
        #[serde(default)]
        nan_every: u64,
        /// Period of panics, in ticks.
        #[serde(default)]
        panic_every: u64,
        /// Period of errors, in ticks.
        #[serde(default)]
        error_every: u64,
    },
}

fn default_kp() -> f32 {
    20.0
}
fn default_kd() -> f32 {
    2.0
}

/// What starts a control tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A fixed-rate timer: ticks at `rate_hz` whatever the driver does.
    #[default]
    Timer,
    /// Each new sensor frame: lowest latency, one command per frame; a frame
    /// older than `stale_after_periods` when the loop gets to it, or no
    /// frame for that long, gets the safe action.
    Frame,
    /// Each new sensor frame of a lockstep driver (`umwelt sim --lockstep`),
    /// which waits for the answer before it steps: a new frame is answered
    /// by the controller however late the loop gets to it (the driver's
    /// world has not moved on), so a run is deterministic even on a busy
    /// machine; no frame for `stale_after_periods` still gets the safe
    /// action.
    Lockstep,
}

/// The safety layer's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// A frame older than this many periods (by arrival time; the longer
    /// of the loop's period and the robot's control period, at which the
    /// driver publishes) is stale: the loop commands the safe action.
    #[serde(default = "default_stale")]
    pub stale_after_periods: f64,
    /// Largest change of each action value per second (units/s); absent
    /// means no slew limit. One value per actuator, or one for all.
    #[serde(default)]
    pub slew_rate: Option<Vec<f32>>,
    /// Action limits `[low, high]` per actuator, tighter than the robot's;
    /// absent means the robot config's effort (or velocity) limits.
    #[serde(default)]
    pub limits: Option<Vec<[f32; 2]>>,
    /// Commands expire this many control periods after they are sent.
    #[serde(default = "default_deadline")]
    pub deadline_periods: f64,
}

fn default_stale() -> f64 {
    3.0
}
fn default_deadline() -> f64 {
    2.0
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            stale_after_periods: default_stale(),
            slew_rate: None,
            limits: None,
            deadline_periods: default_deadline(),
        }
    }
}

/// Real-time options; each falls back with a warning where not permitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeConfig {
    /// SCHED_FIFO priority of the control thread (1-99); absent: normal scheduling.
    #[serde(default)]
    pub fifo_priority: Option<i32>,
    /// CPU to pin the control thread to.
    #[serde(default)]
    pub cpu: Option<usize>,
    /// Lock all memory (mlockall) so page faults cannot stall the loop.
    #[serde(default)]
    pub mlockall: bool,
    /// Busy-wait this many microseconds before each tick instead of
    /// sleeping, for lower jitter at a CPU cost.
    #[serde(default = "default_spin")]
    pub spin_us: u64,
}

fn default_spin() -> u64 {
    100
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            fifo_priority: None,
            cpu: None,
            mlockall: false,
            spin_us: default_spin(),
        }
    }
}

/// The whole controller config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The robot: a built-in name (`cartpole`) or a robot description
    /// file (relative to this file; `umwelt robot describe`).
    pub robot: String,
    /// The robot's name on the wire (`umwelt/<name>/...`); absent: the
    /// robot's kind. Several robots of one kind need names of their own.
    #[serde(default)]
    pub name: Option<String>,
    /// The task whose observation features the controller uses (a
    /// description's own task if empty).
    #[serde(default)]
    pub task: String,
    /// A simulator config or description file for the robot (relative to
    /// this file); absent: the built-in one.
    #[serde(default)]
    pub robot_config: Option<PathBuf>,
    /// Observation features (`JOINT.pos|vel|effort|cos|sin` or channel
    /// names); absent: the task's own features.
    #[serde(default)]
    pub observation: Option<Vec<String>>,
    /// Control rate in Hz; absent: the robot config's control rate.
    #[serde(default)]
    pub rate_hz: Option<f64>,
    /// What starts a tick.
    #[serde(default)]
    pub trigger: Trigger,
    /// Seconds between telemetry messages.
    #[serde(default = "default_telemetry")]
    pub telemetry_period_s: f64,
    /// The controller.
    pub controller: ControllerConfig,
    /// The safety layer.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// Real-time options.
    #[serde(default)]
    pub realtime: RealtimeConfig,
}

fn default_telemetry() -> f64 {
    1.0
}

impl RunConfig {
    /// A config of `robot` and `task` with the built-in robot config, the
    /// task's observation features, the robot's control rate, default safety
    /// and real-time settings, and the zero controller.
    pub fn minimal(robot: &str, task: &str) -> Self {
        Self {
            robot: robot.into(),
            name: None,
            task: task.into(),
            robot_config: None,
            observation: None,
            rate_hz: None,
            trigger: Trigger::default(),
            telemetry_period_s: default_telemetry(),
            controller: ControllerConfig::Zero,
            safety: SafetyConfig::default(),
            realtime: RealtimeConfig::default(),
        }
    }
}
