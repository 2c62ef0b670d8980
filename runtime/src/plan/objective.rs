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
    /// Closeness to the encoding of a goal observation (learned models
    /// only), measured as `distance` says.
    Goal {
        /// The goal observation, in the config's observation features.
        observation: Vec<f32>,
        /// How closeness is measured.
        #[serde(default)]
        distance: GoalDistance,
    },
    /// Closeness to the encoding of a goal image: what the model's camera
    /// would see at the goal (pixel-only learned models), measured as
    /// `distance` says. The image is a PNG of the camera's size (`umwelt
    /// topic echo --save` writes one from a frame), opaque, RGB or grey as
    /// the model sees.
    GoalImage {
        /// The PNG file (relative paths: to the run config's folder).
        image: PathBuf,
        /// How closeness is measured.
        #[serde(default)]
        distance: GoalDistance,
    },
}

/// How a goal objective scores a sampled action sequence: by where the
/// model's rollout ends (its last latent), against the goal's encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GoalDistance {
    /// Squared Euclidean distance between the latents (DINO-WM's and
    /// V-JEPA 2-AC's measure, in their embeddings).
    #[default]
    Latent,
    /// Squared Euclidean distance between what the model's decoder reads
    /// from the two latents: normalised observation vectors (joint
    /// positions, velocities, task features), each unit of spread weighing
    /// alike. The decoder is trained beside the model on the robot's
    /// recorded observations (for a pixel model too), so a goal image is
    /// compared as the robot state it shows.
    Observation,
}
