//! What a pixel model of a learning run sees: `--obs` and `--camera`
//! turned into the model's [`PixelConfig`], from the robot's cameras.

use umwelt_models::world_model::PixelConfig;

use super::LearnError;
use super::options::{LearnOptions, ObsMode};
use crate::robot::LoadedRobot;

/// The pixel config of a run's model: `None` for `--obs state`; else the
/// camera named by `--camera` (or the robot's first) at its own size, from
/// the robot's description (a simulated robot's cameras, or a described
/// robot's `[[camera]]` entries), in colour if it sends colour, else grey.
pub(super) fn pixel_config(
    opts: &LearnOptions,
    robot: &LoadedRobot,
) -> Result<Option<PixelConfig>, LearnError> {
    if opts.obs == ObsMode::State {
        return Ok(None);
    }
    let cameras = &robot.description.cameras;
    let camera = match &opts.camera {
        Some(name) => robot.description.camera(name),
        None => cameras.first(),
    }
    .ok_or_else(|| {
        let have: Vec<&str> = cameras.iter().map(|c| c.name.as_str()).collect();
        LearnError::Setup(format!(
            "--camera {}: the robot's cameras are: {}",
            opts.camera.as_deref().unwrap_or("(first)"),
            if have.is_empty() {
                "none (a described robot lists its cameras as [[camera]] entries)".into()
            } else {
                have.join(", ")
            }
        ))
    })?;
    let encoding = camera.pixel_encoding().ok_or_else(|| {
        LearnError::Setup(format!(
            "camera `{}` sends no RGB8 or Mono8 image; a pixel model needs one",
            camera.name
        ))
    })?;
    let mut p = PixelConfig::new(
        &camera.name,
        usize::from(camera.width),
        usize::from(camera.height),
    );
    p.channels = encoding.bytes_per_pixel();
    p.state = opts.obs == ObsMode::Both;
    p.validate()
        .map_err(|e| LearnError::Setup(format!("camera `{}`: {e}", camera.name)))?;
    Ok(Some(p))
}
