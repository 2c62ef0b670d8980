//! Typed errors of the simulator.

use std::path::PathBuf;

/// Everything that can go wrong while building or stepping a simulated robot.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The action has the wrong number of values; the step did not happen.
    #[error("action has {got} values, but robot `{robot}` has {expected} actuators ({names})")]
    ActionLength {
        /// Robot name.
        robot: String,
        /// Number of actuators.
        expected: usize,
        /// Number of values given.
        got: usize,
        /// Actuator names, comma separated.
        names: String,
    },
    /// An action value is NaN or infinite; the step did not happen.
    #[error("action value {index} (`{name}`) is {value}: actions must be finite")]
    NonFiniteAction {
        /// Index into the action.
        index: usize,
        /// Actuator name.
        name: String,
        /// The offending value.
        value: f32,
    },
    /// No robot of that name exists.
    #[error("unknown robot `{name}`; available robots: {available}")]
    UnknownRobot {
        /// The name asked for.
        name: String,
        /// The valid names, comma separated.
        available: String,
    },
    /// The robot has no task of that name.
    #[error("unknown task `{task}` for robot `{robot}`; tasks of `{robot}`: {available}")]
    UnknownTask {
        /// Robot name.
        robot: String,
        /// The task asked for.
        task: String,
        /// The valid tasks, comma separated.
        available: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A robot configuration is malformed or inconsistent.
    #[error("invalid robot config {origin}: {message}")]
    Config {
        /// Where the config came from (a path, or `built-in <robot>`).
        origin: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A URDF file could not be parsed or does not describe a usable robot.
    #[error("invalid URDF {origin}: {message}")]
    Urdf {
        /// The file (or `built-in arm.urdf`).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The episode has ended (terminated or truncated); call `reset`.
    #[error("the episode ended after {steps} steps: call Env::reset(seed) to start another")]
    EpisodeOver {
        /// Steps the episode took.
        steps: u32,
    },
    /// A joint state of the wrong size or with non-finite values.
    #[error(
        "joint state must have {expected} finite positions and velocities; got {got_q} and {got_qd} (or a non-finite value)"
    )]
    BadState {
        /// Number of joints.
        expected: usize,
        /// Positions given.
        got_q: usize,
        /// Velocities given.
        got_qd: usize,
    },
    /// Hindsight goals were asked of a task that cannot have them.
    #[error("task `{task}` of `{robot}` cannot relabel its goal: {reason}")]
    NoGoal {
        /// The robot.
        robot: String,
        /// The task.
        task: String,
        /// Why not.
        reason: String,
    },
    /// A camera index past the robot's cameras.
    #[error("robot `{robot}` has {count} camera(s) ({names}); there is no camera {index}")]
    NoCamera {
        /// Robot name.
        robot: String,
        /// The index asked for.
        index: usize,
        /// How many cameras the robot has.
        count: usize,
        /// Their names, comma separated.
        names: String,
    },
    /// `step` was called before the first `reset`.
    #[error("step called before reset: call Env::reset(seed) first")]
    NotReset,
}

/// Result alias of the sim crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
