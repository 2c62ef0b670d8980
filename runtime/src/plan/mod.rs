//! Model-predictive control by sampling: an MPPI/CEM planner (in the manner
//! of TD-MPC2) over a [`PlanModel`], which is either the learned world model
//! rolled out in latent space or the true simulator (the oracle).

pub mod config;
pub mod learned;
pub mod model;
pub mod mppi;
pub mod objective;
pub mod oracle;
pub mod presets;

pub use config::{
    MAX_ACTION_REPEAT, MAX_DEADLINE_MARGIN_US, MAX_HORIZON, MAX_ITERATIONS, MAX_SAMPLES,
    PlannerConfig,
};
pub use learned::LearnedModel;
pub use model::{PlanError, PlanModel, PlanState};
pub use mppi::{PlanOutcome, Planner};
pub use objective::{GoalDistance, Objective};
pub use oracle::OracleModel;
