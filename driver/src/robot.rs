//! What a driver author writes: a [`Robot`] that starts episodes and steps,
//! and the [`Measurement`] it returns.

use std::fmt;

use umwelt_protocol::{Image, MAX_IMAGES};

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
    /// Camera images taken with this reading, sent in the frame (at most
    /// [`MAX_IMAGES`], each with a unique name and exactly
    /// `width * height * bytes_per_pixel` bytes). A camera a controller
    /// plans from must be in every frame, under the same name and size.
    pub images: Vec<Image>,
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
        if self.images.len() > MAX_IMAGES {
            return Err(RobotError::new(format!(
                "measurement has {} images, a frame carries at most {MAX_IMAGES}",
                self.images.len()
            )));
        }
        for (i, im) in self.images.iter().enumerate() {
            if self.images[..i].iter().any(|o| o.name == im.name) {
                return Err(RobotError::new(format!(
                    "measurement has two images named `{}`",
                    im.name
                )));
            }
            let expected = im.width as usize * im.height as usize * im.encoding.bytes_per_pixel();
            if im.data.len() != expected || im.width == 0 || im.height == 0 {
                return Err(RobotError::new(format!(
                    "measurement image `{}`: {} bytes for {}x{} {:?}, which needs {expected} \
                     (and no side may be 0)",
                    im.name,
                    im.data.len(),
                    im.width,
                    im.height,
                    im.encoding
                )));
            }
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
    use umwelt_protocol::ImageEncoding;

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
            ..m.clone()
        };
        assert!(inf.check(1, 2).is_err());
    }

    #[test]
    fn a_measurements_images_must_be_whole_and_named_once() {
        let image = |name: &str, bytes: usize| Image {
            name: name.into(),
            width: 2,
            height: 2,
            encoding: ImageEncoding::Rgb8,
            data: vec![7; bytes],
        };
        let m = Measurement {
            positions: vec![0.5],
            velocities: vec![0.0],
            efforts: vec![0.0],
            images: vec![image("front", 12)],
            ..Measurement::default()
        };
        assert_eq!(m.check(1, 0), Ok(()));
        let short = Measurement {
            images: vec![image("front", 11)],
            ..m.clone()
        };
        let e = short.check(1, 0).unwrap_err().message;
        assert!(e.contains("`front`") && e.contains("needs 12"), "{e}");
        let twice = Measurement {
            images: vec![image("front", 12), image("front", 12)],
            ..m.clone()
        };
        assert!(
            twice
                .check(1, 0)
                .unwrap_err()
                .message
                .contains("two images")
        );
        let many = Measurement {
            images: (0..=MAX_IMAGES)
                .map(|i| image(&format!("c{i}"), 12))
                .collect(),
            ..m
        };
        assert!(many.check(1, 0).unwrap_err().message.contains("at most"));
    }
}
