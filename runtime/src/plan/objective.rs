//! What the planner maximises: the task's reward, or closeness to a goal.

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
}
