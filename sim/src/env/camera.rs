//! The robot's cameras: [`Env::cameras`], [`Env::render_rgb`],
//! [`Env::render_depth`].

use super::Env;
use crate::camera::CameraConfig;
use crate::error::{Result, SimError};
use crate::render::{Backdrop, Renderer, View};
use crate::robots::Model;
use crate::scene::{Pose, Scene};

impl Env {
    /// The cameras of this robot: its config's `[[camera]]` entries, or the
    /// robot's default camera when it lists none.
    pub fn cameras(&self) -> &[CameraConfig] {
        &self.cameras
    }

    /// Renders camera `camera` (index into [`Env::cameras`]) at the current
    /// state: `out` is cleared and filled with `width * height * 3` RGB8
    /// bytes, row-major from the top left (whatever the camera's `rgb` flag,
    /// which says only what it publishes). Fails before the first reset or
    /// for a bad index. The picture is of the true state (no sensor noise or
    /// delay), as [`Env::scene`] is.
    pub fn render_rgb(&self, camera: usize, out: &mut Vec<u8>) -> Result<()> {
        let (scene, view) = self.camera_view(camera)?;
        Renderer::new().render(&scene, &view, &self.backdrop(), Some(out), None);
        Ok(())
    }

    /// The same for depth: `width * height` `f32` z-depths in metres (the
    /// distance from the camera's plane along its line of sight), `+inf`
    /// where nothing is hit.
    pub fn render_depth(&self, camera: usize, out: &mut Vec<f32>) -> Result<()> {
        let (scene, view) = self.camera_view(camera)?;
        Renderer::new().render(&scene, &view, &self.backdrop(), None, Some(out));
        Ok(())
    }

    /// Both images of camera `camera` in one pass, with the caller's
    /// renderer (whose scratch is kept): for a node that publishes both.
    pub fn render_into(
        &self,
        renderer: &mut Renderer,
        camera: usize,
        rgb: Option<&mut Vec<u8>>,
        depth: Option<&mut Vec<f32>>,
    ) -> Result<()> {
        let (scene, view) = self.camera_view(camera)?;
        renderer.render(&scene, &view, &self.backdrop(), rgb, depth);
        Ok(())
    }

    /// What is drawn behind this robot.
    pub fn backdrop(&self) -> Backdrop {
        Backdrop::of(self.cfg.robot)
    }

    /// The scene now and camera `index`'s view of it.
    fn camera_view(&self, index: usize) -> Result<(Scene, View)> {
        let cam = self.cameras.get(index).ok_or_else(|| SimError::NoCamera {
            robot: self.robot_name().to_string(),
            index,
            count: self.cameras.len(),
            names: self
                .cameras
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let scene = self.scene()?;
        let frame = frame_of(&scene, &cam.attach).unwrap_or(Pose::IDENTITY);
        let view = View::new(cam, &frame);
        Ok((scene, view))
    }

    /// Fails when a camera is attached to a body the robot does not have.
    pub(super) fn check_camera_frames(&self, probe: &Model) -> Result<()> {
        let scene = self.scene_of(probe);
        for (i, cam) in self.cameras.iter().enumerate() {
            if frame_of(&scene, &cam.attach).is_none() {
                let names: Vec<&str> = scene.bodies.iter().map(|b| b.name.as_str()).collect();
                return Err(SimError::Config {
                    origin: format!("for robot `{}`", self.robot_name()),
                    message: format!(
                        "camera[{i}] (`{}`).attach = {:?}: no such frame; \"world\" or a body: {}",
                        cam.name,
                        cam.attach,
                        names.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The pose in the world of frame `attach`: the world or a body.
fn frame_of(scene: &Scene, attach: &str) -> Option<Pose> {
    if attach == "world" {
        return Some(Pose::IDENTITY);
    }
    scene
        .bodies
        .iter()
        .find(|b| b.name == attach)
        .map(|b| b.pose)
}
