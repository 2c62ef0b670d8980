//! Checking a valid message's dimensions against the robot it is meant for.

use super::{MotorCommand, SensorFrame};
use serde::{Deserialize, Serialize};

/// What a robot's messages must look like: its name, joint count, the
/// channels its frames must carry, and its actuator count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotWireSpec {
    /// The robot's name, as in [`SensorFrame::robot`].
    pub robot: String,
    /// Joints in every frame.
    pub joints: usize,
    /// Channels every frame must carry, in any order; others are allowed.
    pub channels: Vec<String>,
    /// Values in every command.
    pub actuators: usize,
}

/// Why a message does not fit a [`RobotWireSpec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The frame is from another robot.
    #[error("frame is from robot {got:?}, expected {expected:?}")]
    WrongRobot {
        /// The spec's robot.
        expected: String,
        /// The frame's robot.
        got: String,
    },
    /// The frame has the wrong number of joints.
    #[error("robot {robot:?}: frame has {got} joints, expected {expected}")]
    JointCount {
        /// The robot.
        robot: String,
        /// Joints in the spec.
        expected: usize,
        /// Joints in the frame.
        got: usize,
    },
    /// The frame lacks channels the spec requires.
    #[error("robot {robot:?}: frame lacks channels {missing:?}")]
    MissingChannels {
        /// The robot.
        robot: String,
        /// The required channels not in the frame, in spec order.
        missing: Vec<String>,
    },
    /// The command has the wrong number of values.
    #[error("robot {robot:?}: command has {got} values, expected {expected} (one per actuator)")]
    ActuatorCount {
        /// The robot.
        robot: String,
        /// Actuators in the spec.
        expected: usize,
        /// Values in the command.
        got: usize,
    },
}

impl RobotWireSpec {
    /// Checks a frame's robot name, joint count and required channels.
    pub fn check_frame(&self, frame: &SensorFrame) -> Result<(), SpecError> {
        if frame.robot != self.robot {
            return Err(SpecError::WrongRobot {
                expected: self.robot.clone(),
                got: frame.robot.clone(),
            });
        }
        if frame.positions.len() != self.joints {
            return Err(SpecError::JointCount {
                robot: self.robot.clone(),
                expected: self.joints,
                got: frame.positions.len(),
            });
        }
        let missing: Vec<String> = self
            .channels
            .iter()
            .filter(|c| frame.channel(c).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(SpecError::MissingChannels {
                robot: self.robot.clone(),
                missing,
            });
        }
        Ok(())
    }

    /// Checks that a command has one value per actuator.
    pub fn check_command(&self, cmd: &MotorCommand) -> Result<(), SpecError> {
        if cmd.values.len() != self.actuators {
            return Err(SpecError::ActuatorCount {
                robot: self.robot.clone(),
                expected: self.actuators,
                got: cmd.values.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommandMode, Message, messages::samples};

    fn spec() -> RobotWireSpec {
        RobotWireSpec {
            robot: "arm2".into(),
            joints: 2,
            channels: vec!["grip".into(), "to_target_x".into()],
            actuators: 3,
        }
    }

    fn frame() -> SensorFrame {
        match samples().swap_remove(0) {
            Message::SensorFrame(f) => f,
            _ => unreachable!(),
        }
    }

    #[test]
    fn accepts_matching_frames_in_any_channel_order() {
        let mut f = frame();
        assert_eq!(spec().check_frame(&f), Ok(()));
        f.channels.reverse();
        f.channels.push(("extra".into(), 0.0));
        assert_eq!(spec().check_frame(&f), Ok(()));
    }

    #[test]
    fn rejects_other_robots() {
        let mut f = frame();
        f.robot = "cartpole".into();
        let err = spec().check_frame(&f).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"frame is from robot "cartpole", expected "arm2""#
        );
    }

    #[test]
    fn rejects_wrong_joint_count() {
        let mut f = frame();
        for v in [&mut f.positions, &mut f.velocities, &mut f.efforts] {
            v.push(0.0);
        }
        let err = spec().check_frame(&f).unwrap_err();
        assert_eq!(
            err,
            SpecError::JointCount {
                robot: "arm2".into(),
                expected: 2,
                got: 3
            }
        );
        assert_eq!(
            err.to_string(),
            r#"robot "arm2": frame has 3 joints, expected 2"#
        );
    }

    #[test]
    fn names_every_missing_channel() {
        let mut f = frame();
        f.channels.clear();
        let err = spec().check_frame(&f).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"robot "arm2": frame lacks channels ["grip", "to_target_x"]"#
        );
    }

    #[test]
    fn commands_need_one_value_per_actuator() {
        let mut cmd = MotorCommand {
            seq: 0,
            stamp_ns: 0,
            answers_seq: 0,
            deadline_ns: 0,
            mode: CommandMode::Position,
            values: vec![0.0; 3],
        };
        assert_eq!(spec().check_command(&cmd), Ok(()));
        cmd.values.pop();
        let err = spec().check_command(&cmd).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"robot "arm2": command has 2 values, expected 3 (one per actuator)"#
        );
    }
}
