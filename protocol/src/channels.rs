//! Names of the channels a driver adds to its frames beside the robot's own
//! signals, so that controllers, recorders and learners can follow a task.

/// The task's reward for the step that led to this frame.
pub const REWARD: &str = "reward";
/// 1 when the task's success condition holds, else 0.
pub const SUCCESS: &str = "success";
/// The episode's index (0, 1, ...): a controller can tell episodes apart and
/// reseed per episode for reproducible runs.
pub const EPISODE: &str = "episode";
