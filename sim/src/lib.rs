//! # umwelt-sim
//!
//! Simulated robots on rapier3d and a gym-style environment around them.
//!
//! ```no_run
//! use umwelt_sim::Env;
//! let mut env = Env::new("cartpole", "swingup")?;
//! let obs = env.reset(7)?;
//! let step = env.step(&[0.5])?;
//! println!("{:?} -> reward {}", obs.vector, step.reward);
//! # Ok::<(), umwelt_sim::SimError>(())
//! ```
//!
//! Robots (see [`RobotKind`]): `cartpole`, `pendulum`, `reacher` (built in
//! code after the DeepMind Control Suite models) and `arm` (6-DoF, from URDF).
//! Cameras ([`camera`], [`Env::render_rgb`]) render the scene by ray casting
//! ([`render`]). Every random draw is seeded by [`Env::reset`]; the crate knows nothing of
//! zenoh or of learned models.

#![warn(missing_docs)]

pub mod camera;
pub mod config;
pub mod env;
pub mod error;
mod kind;
pub mod observation;
pub mod physics;
pub mod relabel;
pub mod render;
pub mod rewards;
mod robots;
pub mod scene;
pub mod spec;
pub mod task;

pub use camera::CameraConfig;
pub use config::{JointConfig, Randomize, Realism, RobotConfig, RobotKind};
pub use env::{Env, EpisodeState};
pub use error::{Result, SimError};
pub use observation::ObservationMap;
pub use physics::JointKind;
pub use relabel::{GoalRelabel, GoalReward, RelabelError};
pub use spec::{
    ActionSpec, ActuationMode, Measurement, Observation, ObservationSpec, SpecEntry, Step, StepInfo,
};
pub use task::{EPISODE_STEPS, TaskInfo, tasks_of};
