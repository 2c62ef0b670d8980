//! What the commands that run episodes on a robot behind its driver
//! (`learn`, `eval`, `collect` with `--remote`) share: connecting, and the
//! line that says what happened on the wire.

use std::time::Duration;

use umwelt_runtime::nodes::remote_robot::{RemoteRobot, RemoteStats, RemoteTimeouts};
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::robot::RobotDescription;

/// The robot of `description` served as `wire_name`, its commands expiring
/// `deadline` after they are sent, a Reset waiting `reset_timeout_s` (the
/// `--remote-timeout` flag) for the episode's first frame.
pub fn connect(
    zenoh: &ZenohArgs,
    wire_name: &str,
    description: RobotDescription,
    deadline: Duration,
    reset_timeout_s: f64,
) -> anyhow::Result<RemoteRobot> {
    let timeouts = RemoteTimeouts {
        reset: super::duration("--remote-timeout", reset_timeout_s)?,
        ..RemoteTimeouts::default()
    };
    Ok(RemoteRobot::connect(
        zenoh,
        wire_name,
        description,
        deadline,
        timeouts,
    )?)
}

/// Two control periods to answer, as `umwelt run` allows by default.
pub fn default_deadline(control_period: f64) -> Duration {
    Duration::from_secs_f64((2.0 * control_period).clamp(1e-3, 1.0))
}

/// One line on what happened on the wire.
pub fn summary(stats: &RemoteStats) -> String {
    format!(
        "remote: {} frames ({} missed), {} late commands, {} safe steps, {} cuts, {}",
        stats.frames,
        stats.frames_missed,
        stats.late_commands,
        stats.safe_steps,
        stats.cuts,
        if stats.lockstep {
            "lockstep"
        } else {
            "real time"
        }
    )
}
