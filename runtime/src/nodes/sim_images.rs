//! The camera images `umwelt sim` puts in its sensor frames: the cameras
//! asked for by name (`--cameras`), each giving an RGB8 image if its config
//! says `rgb` and a depth image if it says `depth`, named after the camera.

use umwelt_protocol::{Image, ImageEncoding};
use umwelt_sim::render::Renderer;
use umwelt_sim::{Env, SimError};

/// Which cameras' images a frame carries, and the scratch they are drawn in.
#[derive(Debug, Default)]
pub struct FrameImages {
    /// Indices into [`Env::cameras`].
    cameras: Vec<usize>,
    renderer: Renderer,
    rgb: Vec<u8>,
    depth: Vec<f32>,
}

impl FrameImages {
    /// The cameras of `env` named in `names` (`all` for every one), in the
    /// order given; an unknown or repeated name is an error that lists the
    /// robot's cameras. No names: frames carry no images (and cost nothing).
    pub fn select(env: &Env, names: &[String]) -> Result<Self, String> {
        let available = || {
            env.cameras()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut cameras = Vec::new();
        for name in names {
            if name == "all" {
                for i in 0..env.cameras().len() {
                    if !cameras.contains(&i) {
                        cameras.push(i);
                    }
                }
                continue;
            }
            let i = env
                .cameras()
                .iter()
                .position(|c| c.name == *name)
                .ok_or_else(|| {
                    format!(
                        "--cameras: robot `{}` has no camera `{name}`; its cameras: {} (or `all`)",
                        env.robot_name(),
                        available()
                    )
                })?;
            if cameras.contains(&i) {
                return Err(format!("--cameras: camera `{name}` is named twice"));
            }
            cameras.push(i);
        }
        Ok(FrameImages {
            cameras,
            ..Self::default()
        })
    }

    /// Whether frames carry any image.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
    }

    /// The images of the selected cameras at `env`'s current state.
    pub fn render(&mut self, env: &Env) -> Result<Vec<Image>, SimError> {
        let mut out = Vec::new();
        for &i in &self.cameras {
            let cam = &env.cameras()[i];
            let rgb = cam.rgb.then_some(&mut self.rgb);
            let depth = cam.depth.then_some(&mut self.depth);
            env.render_into(&mut self.renderer, i, rgb, depth)?;
            let image = |encoding, data| Image {
                name: cam.name.clone(),
                width: cam.width,
                height: cam.height,
                encoding,
                data,
            };
            if cam.rgb {
                out.push(image(ImageEncoding::Rgb8, self.rgb.clone()));
            }
            if cam.depth {
                let bytes = self.depth.iter().flat_map(|d| d.to_le_bytes()).collect();
                out.push(image(ImageEncoding::DepthF32, bytes));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_are_selected_by_name_and_rendered() {
        let mut cfg = umwelt_sim::RobotConfig::builtin(umwelt_sim::RobotKind::Pendulum);
        cfg.cameras[0].depth = true;
        let mut env = Env::from_config(cfg, "swingup").unwrap();
        env.reset(0).unwrap();
        assert!(FrameImages::select(&env, &[]).unwrap().is_empty());
        let e = FrameImages::select(&env, &["nose".into()]).unwrap_err();
        assert!(e.contains("no camera `nose`") && e.contains("side"), "{e}");
        let mut images = FrameImages::select(&env, &["all".into()]).unwrap();
        let got = images.render(&env).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].encoding, got[0].data.len()),
            (ImageEncoding::Rgb8, 64 * 64 * 3)
        );
        assert_eq!(
            (got[1].encoding, got[1].data.len()),
            (ImageEncoding::DepthF32, 64 * 64 * 4)
        );
        assert!(got.iter().all(|i| i.name == "side"));
    }
}
