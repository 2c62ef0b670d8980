//! What an episode runs on: a [`Plant`] is umwelt's simulator in-process or
//! a robot served by a driver over zenoh, stepped one command at a time.

use umwelt_sim::{Env, Observation, SimError, SpecEntry, Step};

use crate::wire::{Image, ImageEncoding};

/// Why a plant could not be reset or stepped.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The robot behind the wire did not answer, or answered wrongly.
    #[error("{0}")]
    Remote(String),
    /// A camera the run needs is missing, or its images do not fit.
    #[error("camera: {0}")]
    Camera(String),
}

/// One step of a plant.
#[derive(Clone, Debug)]
pub struct PlantStep {
    /// Observation, reward and end flags after the step.
    pub step: Step,
    /// What the robot applied, when it is not the action sent (a late
    /// command: the previous command or the safe action was in force).
    pub applied: Option<Vec<f32>>,
    /// The transition is unknown (frames lost, or the driver began an
    /// episode of its own): the episode ends before this step, which
    /// must not be recorded.
    pub cut: bool,
}

/// A robot that runs episodes one command at a time.
pub trait Plant {
    /// Each actuator's command range.
    fn action_entries(&self) -> &[SpecEntry];
    /// Control steps in an episode.
    fn episode_steps(&self) -> usize;
    /// Seconds between commands.
    fn control_period(&self) -> f64;
    /// Starts an episode from `seed`; its first observation.
    fn reset(&mut self, seed: u64) -> Result<Observation, PlantError>;
    /// Applies `action` for one control period.
    fn step(&mut self, action: &[f32]) -> Result<PlantStep, PlantError>;
    /// The images of `cameras` at the latest observation (after the last
    /// reset or step), in that order, written into `out` (its buffers are
    /// reused). A camera the robot does not have is an error that says
    /// which it has.
    fn images(&mut self, cameras: &[String], out: &mut Vec<Image>) -> Result<(), PlantError>;
}

/// Keeps `out` at `n` images, reusing the ones already there.
pub(crate) fn resize_images(out: &mut Vec<Image>, n: usize) {
    out.truncate(n);
    while out.len() < n {
        out.push(Image {
            name: String::new(),
            width: 0,
            height: 0,
            encoding: ImageEncoding::Rgb8,
            data: Vec::new(),
        });
    }
}

impl Plant for Env {
    fn action_entries(&self) -> &[SpecEntry] {
        &self.action_spec().entries
    }
    fn episode_steps(&self) -> usize {
        self.max_episode_steps() as usize
    }
    fn control_period(&self) -> f64 {
        Env::control_period(self)
    }
    fn reset(&mut self, seed: u64) -> Result<Observation, PlantError> {
        Ok(Env::reset(self, seed)?)
    }
    fn step(&mut self, action: &[f32]) -> Result<PlantStep, PlantError> {
        Ok(PlantStep {
            step: Env::step(self, action)?,
            applied: None,
            cut: false,
        })
    }
    fn images(&mut self, cameras: &[String], out: &mut Vec<Image>) -> Result<(), PlantError> {
        resize_images(out, cameras.len());
        for (name, im) in cameras.iter().zip(out.iter_mut()) {
            let Some(i) = self.cameras().iter().position(|c| &c.name == name) else {
                let have: Vec<&str> = self.cameras().iter().map(|c| c.name.as_str()).collect();
                return Err(PlantError::Camera(format!(
                    "the simulated robot has no camera `{name}` (it has: {})",
                    have.join(", ")
                )));
            };
            let c = &self.cameras()[i];
            let (width, height) = (c.width, c.height);
            self.render_rgb(i, &mut im.data)?;
            im.name.clone_from(name);
            im.width = width;
            im.height = height;
            im.encoding = ImageEncoding::Rgb8;
        }
        Ok(())
    }
}
