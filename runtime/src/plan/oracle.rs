//! The oracle: the planner rolling out the true simulator instead of a
//! learned model. It is the upper bound in evaluations, and it tests the
//! planner apart from learning.

use umwelt_sim::{Env, EpisodeState};

use super::model::PlanState;
use super::model::{PlanError, PlanModel};

/// A private copy of the robot's simulator, moved to each measured state
/// ([`Env::sync_to_measurement`]: joints from the sensors, the task's target
/// from its channels) and stepped from there for every sampled sequence.
pub struct OracleModel {
    env: Env,
    base: Option<EpisodeState>,
    center: Vec<f32>,
    half: Vec<f32>,
    discount: f32,
    physical: Vec<f32>,
}

impl OracleModel {
    /// An oracle over `env` (a fresh environment of the same robot, task and
    /// robot config as the one controlled), discounting rewards by `discount`.
    pub fn new(mut env: Env, discount: f32) -> Result<Self, PlanError> {
        env.reset(0)
            .map_err(|e| PlanError::Config(format!("oracle simulator: {e}")))?;
        let spec = env.action_spec();
        let mut center = Vec::new();
        let mut half = Vec::new();
        for e in &spec.entries {
            if !(e.low.is_finite() && e.high.is_finite() && e.high > e.low) {
                return Err(PlanError::Config(format!(
                    "action `{}` has no finite range [{}, {}] to plan in",
                    e.name, e.low, e.high
                )));
            }
            center.push(0.5 * (e.low + e.high));
            half.push(0.5 * (e.high - e.low));
        }
        let a = center.len();
        Ok(Self {
            env,
            base: None,
            center,
            half,
            discount,
            physical: vec![0.0; a],
        })
    }
}

impl PlanModel for OracleModel {
    fn name(&self) -> &str {
        "oracle"
    }

    fn act_dim(&self) -> usize {
        self.center.len()
    }

    fn action_scale(&self) -> (&[f32], &[f32]) {
        (&self.center, &self.half)
    }

    fn reset(&mut self) {
        self.base = None;
    }

    fn begin(&mut self, state: &PlanState<'_>) -> Result<(), PlanError> {
        // Back to the saved state first, so the episode's step count never
        // runs out however many rollouts were made.
        if let Some(base) = &self.base {
            self.env
                .restore_state(base)
                .map_err(|e| PlanError::Model(e.to_string()))?;
        }
        self.env
            .sync_to_measurement(state.sensors)
            .map_err(|e| PlanError::Input(e.to_string()))?;
        self.base = Some(
            self.env
                .save_state()
                .map_err(|e| PlanError::Model(e.to_string()))?,
        );
        Ok(())
    }

    fn evaluate(
        &mut self,
        actions: &[f32],
        n: usize,
        h: usize,
        repeat: usize,
        values: &mut [f32],
    ) -> Result<(), PlanError> {
        let a = self.center.len();
        if actions.len() != n * h * a || values.len() < n {
            return Err(PlanError::Input(format!(
                "{} action values and {} value slots for {n} sequences of {h} x {a}",
                actions.len(),
                values.len()
            )));
        }
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| PlanError::Input("no state to plan from (begin not called)".into()))?;
        for (seq, value) in actions.chunks_exact(h * a).zip(values.iter_mut()) {
            self.env
                .restore_state(base)
                .map_err(|e| PlanError::Model(e.to_string()))?;
            let (mut g, mut d) = (0.0f32, 1.0f32);
            'steps: for step in seq.chunks_exact(a) {
                for ((p, v), (c, hr)) in self
                    .physical
                    .iter_mut()
                    .zip(step)
                    .zip(self.center.iter().zip(&self.half))
                {
                    *p = c + v.clamp(-1.0, 1.0) * hr;
                }
                for _ in 0..repeat {
                    match self.env.step(&self.physical) {
                        Ok(s) => {
                            g += d * s.reward;
                            d *= self.discount;
                            if s.terminated || s.truncated {
                                break 'steps;
                            }
                        }
                        Err(_) => break 'steps,
                    }
                }
            }
            *value = g;
        }
        Ok(())
    }
}
