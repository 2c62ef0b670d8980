//! What a driver author writes: a [`Robot`] that starts episodes and steps,
//! and the [`Measurement`] it returns.

use std::fmt;

/// One reading of the robot's state, taken right after a reset or a step.
///
/// Its dimensions must match the [`crate::DriverConfig`] (`joints` values
/// in each of `positions`, `velocities`, `efforts`; one value per configured
/// channel) and every value must be finite: the driver refuses to publish
/// anything else, since receivers would drop it anyway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// Joint positions, in the configured joint order.
    pub positions: Vec<f32>,
    /// Joint velocities.
    pub velocities: Vec<f32>,
    /// Joint efforts (torques or forces).
    pub efforts: Vec<f32>,
    /// The robot's own channels, in the order of
    /// [`crate::DriverConfig::channels`].
    pub channels: Vec<f32>,
    /// The task's reward for the step that led here (sent on the `reward`
    /// channel when [`crate::DriverConfig::task_channels`] is set; ignored
    /// after a reset, whose frame carries 0).
    pub reward: f32,
    /// Whether the task's success condition holds (the `success` channel).
    pub success: bool,
    /// The episode is over (a simulated robot's time limit or terminal
    /// state): the driver starts the next one with [`Robot::reset`].
    /// Hardware leaves it `false`.
    pub done: bool,
}

impl Measurement {
    /// Checks the dimensions against `joints` and `channels` and that every
    /// value is finite; says what is wrong otherwise.
    pub fn check(&self, joints: usize, channels: usize) -> Result<(), RobotError> {
        for (what, values, n) in [
            ("positions", &self.positions, joints),
            ("velocities", &self.velocities, joints),
            ("efforts", &self.efforts, joints),
            ("channels", &self.channels, channels),
        ] {
            if values.len() != n {
                return Err(RobotError::new(format!(
                    "measurement has {} {what}, the driver is configured for {n}",
                    values.len()
                )));
            }
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(RobotError::new(format!(
                    "measurement {what}[{i}] is not finite ({})",
                    values[i]
                )));
            }
        }
        if !self.reward.is_finite() {
            return Err(RobotError::new(format!(
                "measurement reward is not finite ({})",
                self.reward
            )));
        }
        Ok(())
    }
}

/// A robot failed to reset, step or measure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RobotError {
    /// What went wrong, one line.
    pub message: String,
}

impl RobotError {
    /// An error saying `message`.
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
        }
    }
}

/// A robot a [`crate::Driver`] serves: simulated or real.
///
/// The driver calls these from one thread, never concurrently, and always
/// starts with [`reset`](Self::reset).
pub trait Robot {
    /// Starts an episode and returns the state it starts in. A simulated
    /// robot puts itself into the state `seed` determines, so that the same
    /// seed and command stream give the same trajectory; hardware, which
    /// cannot do that, may do nothing and return the current state.
    fn reset(&mut self, seed: u64) -> Result<Measurement, RobotError>;

    /// Applies `action` (one value per actuator, in the configured command
    /// mode; the safe action when no fresh command is in force) for one
    /// control period and returns the state after it. A simulated robot
    /// advances its time by the period; hardware sets its actuators and
    /// reads its sensors at once (the driver keeps the period). An error
    /// makes the driver try the safe action once, then stop.
    fn step(&mut self, action: &[f32]) -> Result<Measurement, RobotError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_must_fit_the_config_and_be_finite() {
        let m = Measurement {
            positions: vec![0.5],
            velocities: vec![0.0],
            efforts: vec![0.0],
            channels: vec![1.0, 2.0],
            ..Measurement::default()
        };
        assert_eq!(m.check(1, 2), Ok(()));
        assert!(m.check(2, 2).unwrap_err().message.contains("1 positions"));
        assert!(m.check(1, 1).unwrap_err().message.contains("2 channels"));
        let nan = Measurement {
            velocities: vec![f32::NAN],
            ..m.clone()
        };
        assert!(
            nan.check(1, 2)
                .unwrap_err()
                .message
                .contains("velocities[0]")
        );
        let inf = Measurement {
            reward: f32::INFINITY,
            ..m
        };
        assert!(inf.check(1, 2).is_err());
    }
}
