//! The `Controller` trait: what a controller sees each tick and how it
//! answers or fails.

use std::time::Instant;

use crate::wire::Image;
use umwelt_sim::Measurement;

/// What a controller sees each tick.
pub struct ControlInput<'a> {
    /// The observation vector (features of the config's observation map).
    pub observation: &'a [f32],
    /// The raw sensor values, joints in the robot's declared order.
    pub sensors: &'a Measurement,
    /// The frame's camera images (as received: a controller checks the
    /// ones it reads); only those of [`Controller::cameras`] need be here.
    pub images: &'a [Image],
    /// When the command must be ready: an anytime controller returns its
    /// best answer before this.
    pub deadline: Instant,
}

/// A controller's failure; the loop then commands the safe action.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControllerError {
    /// The controller could not be built.
    #[error("controller setup: {0}")]
    Setup(String),
    /// The controller could not produce an action this tick.
    #[error("controller failed: {0}")]
    Failed(String),
}

/// Turns observations into actions; called once per control tick.
pub trait Controller: Send {
    /// A short name for logs and reports.
    fn name(&self) -> &str;
    /// Forgets per-episode state (called at start and after a gap in frames).
    fn reset(&mut self);
    /// Restarts any random stream from `seed`, so that an evaluation gives
    /// each episode the same draws whichever worker runs it. Deterministic
    /// controllers ignore it.
    fn reseed(&mut self, _seed: u64) {}
    /// The cameras whose images this controller reads from every frame
    /// ([`ControlInput::images`]); none by default.
    fn cameras(&self) -> Vec<String> {
        Vec::new()
    }
    /// Writes one value per actuator into `out` (pre-filled with zeros).
    fn act(&mut self, input: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError>;
}

/// Copies the images of `cameras` among a frame's `images` into `kept`,
/// reusing its buffers from tick to tick (the control loop keeps only what
/// its controller reads).
pub(crate) fn keep_images(images: &[Image], cameras: &[String], kept: &mut Vec<Image>) {
    let mut n = 0;
    for im in images.iter().filter(|im| cameras.contains(&im.name)) {
        if n == kept.len() {
            kept.push(im.clone());
        } else {
            kept[n].clone_from(im);
        }
        n += 1;
    }
    kept.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ImageEncoding;

    fn image(name: &str, v: u8) -> Image {
        Image {
            name: name.into(),
            width: 1,
            height: 1,
            encoding: ImageEncoding::Mono8,
            data: vec![v],
        }
    }

    #[test]
    fn only_the_controllers_cameras_are_kept_in_frame_order() {
        let cams = vec!["side".to_string(), "top".to_string()];
        let mut kept = vec![image("old", 0); 3];
        keep_images(
            &[image("top", 1), image("wrist", 2), image("side", 3)],
            &cams,
            &mut kept,
        );
        assert_eq!(kept, vec![image("top", 1), image("side", 3)]);
        keep_images(&[image("wrist", 2)], &cams, &mut kept);
        assert!(kept.is_empty());
    }
}
