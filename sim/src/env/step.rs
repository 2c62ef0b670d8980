//! The control step: an action checked, saturated and applied for one
//! control period (torques, or a PI velocity servo), then reward, success
//! and the next observation.

use super::Env;
use crate::error::{Result, SimError};
use crate::spec::{ActuationMode, Observation, Step, StepInfo};
use crate::task::{EPISODE_STEPS, SuccessRule};

impl Env {
    /// Checks an action without stepping: its length and finiteness.
    pub fn check_action(&self, action: &[f32]) -> Result<()> {
        if action.len() != self.actuated.len() {
            return Err(SimError::ActionLength {
                robot: self.robot_name().to_string(),
                expected: self.actuated.len(),
                got: action.len(),
                names: self
                    .action_spec
                    .entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if let Some((index, &value)) = action.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SimError::NonFiniteAction {
                index,
                name: self.action_spec.entries[index].name.clone(),
                value,
            });
        }
        Ok(())
    }

    /// Applies `action` for one control period. Values beyond the action
    /// bounds saturate at them, as real actuators do. A wrong length or a
    /// non-finite value is an error and nothing moves.
    pub fn step(&mut self, action: &[f32]) -> Result<Step> {
        self.check_action(action)?;
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if ep.ended {
            let steps = ep.step;
            self.episode = Some(ep);
            return Err(SimError::EpisodeOver { steps });
        }
        let sat = self.cfg.realism.actuator_saturation;
        let mut control = Vec::with_capacity(action.len());
        for (a, e) in action.iter().zip(&self.action_spec.entries) {
            control.push(a.clamp(e.low, e.high));
        }
        let mut efforts = vec![0.0f32; self.joint_names.len()];
        let dt = self.cfg.physics_dt as f32;
        for _ in 0..self.cfg.action_repeat() {
            if self.cfg.actuation == ActuationMode::Velocity {
                ep.model.art.velocities(&mut ep.qd);
            }
            for (k, &i) in self.actuated.iter().enumerate() {
                let j = &self.cfg.joints[i];
                let limit = j.effort_limit * sat;
                let wanted = match self.cfg.actuation {
                    ActuationMode::Torque => control[k],
                    ActuationMode::Velocity => {
                        // A PI velocity servo, its integral clamped to what the
                        // actuator can deliver (anti-windup).
                        let err = control[k] - ep.qd[i];
                        let integral = &mut ep.servo_integral[i];
                        *integral += err * dt;
                        if j.velocity_integral_gain > 0.0 {
                            let cap = limit / j.velocity_integral_gain;
                            *integral = integral.clamp(-cap, cap);
                        }
                        j.velocity_gain * err + j.velocity_integral_gain * *integral
                    }
                };
                efforts[i] = wanted.clamp(-limit, limit);
            }
            ep.model.art.apply_efforts(&efforts);
            ep.model.art.step();
        }
        ep.efforts = efforts;
        ep.step += 1;
        let diverged = !ep.model.art.is_finite();
        ep.model.art.positions(&mut ep.q);
        ep.model.art.velocities(&mut ep.qd);
        let normalized: Vec<f32> = control
            .iter()
            .zip(&self.action_spec.entries)
            .map(|(c, e)| c / e.high.max(f32::MIN_POSITIVE))
            .collect();
        let (reward, goal) = if diverged {
            (0.0, false)
        } else {
            self.task.evaluate(&ep.model, &ep.q, &ep.qd, &normalized)
        };
        ep.goal_streak = if goal { ep.goal_streak + 1 } else { 0 };
        ep.goal_always &= goal;
        let success = match self.task.success_rule() {
            SuccessRule::Always => ep.goal_always,
            SuccessRule::Final(n) => ep.goal_streak >= n,
        };
        let truncated = ep.step >= EPISODE_STEPS;
        let terminated = diverged;
        ep.ended = truncated || terminated;
        let observation = if diverged {
            // Keep the last good observation rather than hand NaNs onward.
            ep.delayed
                .back()
                .map(|m| Observation {
                    sensors: m.clone(),
                    vector: self.obs_map.vector(m),
                })
                .unwrap_or_default()
        } else {
            let m = self.measure(&mut ep);
            ep.delayed.push_back(m);
            self.observe(&mut ep)
        };
        let info = StepInfo {
            success,
            step: ep.step,
            time: ep.step as f64 * self.cfg.control_period,
            diverged,
        };
        self.episode = Some(ep);
        Ok(Step {
            observation,
            reward: reward as f32,
            terminated,
            truncated,
            info,
        })
    }
}
