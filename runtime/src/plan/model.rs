//! What the planner rolls out: the interface both the learned world model
//! and the oracle simulator implement.

use crate::wire::Image;
use umwelt_sim::Measurement;

/// The state a plan starts from: the controller's observation vector (in
/// the config's observation features) and the measurement it was made of.
#[derive(Clone, Copy, Debug)]
pub struct PlanState<'a> {
    /// The observation features, as the learned model was trained on them.
    pub observation: &'a [f32],
    /// The raw joint readings and channels (what the oracle syncs to).
    pub sensors: &'a Measurement,
    /// The frame's camera images (a pixel model reads its camera's).
    pub images: &'a [Image],
}

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The planner or model config is unusable.
    #[error("planner config: {0}")]
    Config(String),
    /// The model could not take the current observation.
    #[error("planning model input: {0}")]
    Input(String),
    /// The model failed, or scored every sequence as NaN.
    #[error("planning model: {0}")]
    Model(String),
}

/// A model the planner scores action sequences with. Actions are
/// normalised to `[-1, 1]` per component; [`PlanModel::action_scale`] maps
/// them to physical units.
pub trait PlanModel: Send {
    /// A short name for logs and reports (`oracle`, `learned`).
    fn name(&self) -> &str;
    /// Length of an action.
    fn act_dim(&self) -> usize;
    /// Per component `(center, half_range)`: physical = center + a * half_range.
    fn action_scale(&self) -> (&[f32], &[f32]);
    /// The cameras whose images the model reads (a pixel model's); none by
    /// default.
    fn cameras(&self) -> Vec<String> {
        Vec::new()
    }
    /// Starts a new episode (forget any per-episode state).
    fn reset(&mut self) {}
    /// Takes the state to plan from.
    fn begin(&mut self, state: &PlanState<'_>) -> Result<(), PlanError>;
    /// Scores `n` sequences of `h` actions (`n x h x act_dim`, row-major by
    /// sample, each action held for `repeat` control steps): discounted
    /// return plus terminal value, or the goal objective; higher is better.
    fn evaluate(
        &mut self,
        actions: &[f32],
        n: usize,
        h: usize,
        repeat: usize,
        values: &mut [f32],
    ) -> Result<(), PlanError>;
    /// Fills `actions` (`n x h x act_dim`) with sequences of the model's
    /// policy prior under standard-normal `noise` of the same shape. Returns
    /// `false` when the model has no prior (nothing written).
    fn policy_actions(
        &mut self,
        _noise: &[f32],
        _n: usize,
        _h: usize,
        _actions: &mut [f32],
    ) -> Result<bool, PlanError> {
        Ok(false)
    }
}
