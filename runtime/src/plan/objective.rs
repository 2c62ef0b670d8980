//! What the planner maximises: the task's reward, or closeness to a goal.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the planner maximises.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Objective {
    /// The model's predicted rewards plus its terminal value.
    #[default]
    Task,
    /// Closeness in latent space to the encoding of a goal observation
    /// (learned models only).
    Goal {
        /// The goal observation, in the config's observation features.
        observation: Vec<f32>,
    },
    /// Closeness in latent space to the encoding of a goal image: what the
    /// model's camera would see at the goal (pixel-only learned models).
    /// The image is a PNG of the camera's size (`umwelt topic echo --save`
    /// writes one from a frame), opaque, RGB or grey as the model sees.
    GoalImage {
        /// The PNG file (relative paths: to the run config's folder).
        image: PathBuf,
    },
}
