//! What a pixel model of a learning run sees: `--obs` and `--camera`
//! turned into the model's [`PixelConfig`], from the robot's cameras.

use umwelt_models::world_model::PixelConfig;

use super::LearnError;
use super::options::{LearnOptions, ObsMode};
use crate::robot::LoadedRobot;

/// The pixel config of a run's model: `None` for `--obs state`; else the
/// camera named by `--camera` (or the robot's first) at its own size.
/// Only a simulated robot's cameras are known before its first frame.
pub(super) fn pixel_config(
    opts: &LearnOptions,
    robot: &LoadedRobot,
) -> Result<Option<PixelConfig>, LearnError> {
    if opts.obs == ObsMode::State {
        return Ok(None);
    }
    let env = robot.env().map_err(|e| {
        LearnError::Setup(format!(
            "--obs {} needs the robot's cameras, known for simulated robots only: {e}",
            opts.obs.name()
        ))
    })?;
    let cameras = env.cameras();
    let camera = match &opts.camera {
        Some(name) => cameras.iter().find(|c| &c.name == name),
        None => cameras.first(),
    }
    .ok_or_else(|| {
        let have: Vec<&str> = cameras.iter().map(|c| c.name.as_str()).collect();
        LearnError::Setup(format!(
            "--camera {}: the robot's cameras are: {}",
            opts.camera.as_deref().unwrap_or("(first)"),
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        ))
    })?;
    if !camera.rgb {
        return Err(LearnError::Setup(format!(
            "camera `{}` renders no RGB image; a pixel model needs one",
            camera.name
        )));
    }
    let mut p = PixelConfig::new(&camera.name, camera.width as usize, camera.height as usize);
    p.state = opts.obs == ObsMode::Both;
    p.validate()
        .map_err(|e| LearnError::Setup(format!("camera `{}`: {e}", camera.name)))?;
    Ok(Some(p))
}
