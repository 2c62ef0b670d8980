//! A description's task rule applied to measurements: each step's reward
//! and goal condition, and an episode's success.

use umwelt_sim::rewards::tolerance;
use umwelt_sim::{Measurement, ObservationMap};

use super::description::{RobotDescription, ToleranceTerm};

/// Where the reward is read.
#[derive(Clone, Debug)]
enum Reward {
    /// The channel at this index of the description's channels.
    Channel(usize),
    /// The product of terms, each over its resolved features.
    Terms(Vec<(ObservationMap, ToleranceTerm)>),
}

/// Where the goal condition is read.
#[derive(Clone, Debug)]
enum Goal {
    /// The channel at this index holds 1 (above 0.5).
    Channel(usize),
    /// The step's reward is at least this.
    RewardAtLeast(f32),
}

/// Judges steps by a description's task: reward, goal, episode success.
#[derive(Clone, Debug)]
pub struct TaskJudge {
    reward: Reward,
    goal: Goal,
    final_steps: u32,
    streak: u32,
}

impl TaskJudge {
    /// The judge of a checked description (see
    /// [`RobotDescription::check`]); an unchecked reference is an error.
    pub fn new(d: &RobotDescription) -> Result<Self, String> {
        let channels = d.channel_names();
        let channel = |c: &str| {
            channels
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| format!("task: no channel `{c}`"))
        };
        let reward = match &d.task.reward.channel {
            Some(c) => Reward::Channel(channel(c)?),
            None => Reward::Terms(
                d.task
                    .reward
                    .terms
                    .iter()
                    .map(|t| {
                        ObservationMap::new(&t.features, &d.joint_names(), &channels)
                            .map(|m| (m, t.clone()))
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let goal = match (&d.task.success.channel, d.task.success.reward_at_least) {
            (Some(c), _) => Goal::Channel(channel(c)?),
            (None, Some(r)) => Goal::RewardAtLeast(r),
            (None, None) => return Err("task.success: no rule".into()),
        };
        Ok(Self {
            reward,
            goal,
            final_steps: d.task.success.final_steps.max(1),
            streak: 0,
        })
    }

    /// A new episode begins.
    pub fn reset(&mut self) {
        self.streak = 0;
    }

    /// The reward of the step that led to `m` (non-finite values read as 0:
    /// decoding refuses them, so this only guards the arithmetic).
    pub fn reward(&self, m: &Measurement) -> f32 {
        let r = match &self.reward {
            Reward::Channel(i) => f64::from(m.channels.get(*i).copied().unwrap_or(0.0)),
            Reward::Terms(terms) => terms
                .iter()
                .map(|(map, t)| {
                    let v = map.vector(m);
                    let x = if v.len() == 1 {
                        f64::from(v[0])
                    } else {
                        v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
                    };
                    tolerance(
                        x,
                        (t.bounds[0], t.bounds[1]),
                        t.margin,
                        t.sigmoid,
                        t.value_at_margin,
                    )
                })
                .product(),
        };
        if r.is_finite() { r as f32 } else { 0.0 }
    }

    /// Records the step that led to `m` with reward `reward`; returns
    /// whether the episode would succeed if it ended here (the goal held
    /// on each of the last `final_steps` steps).
    pub fn step(&mut self, m: &Measurement, reward: f32) -> bool {
        let goal = match self.goal {
            Goal::Channel(i) => m.channels.get(i).is_some_and(|v| *v > 0.5),
            Goal::RewardAtLeast(r) => reward >= r,
        };
        self.streak = if goal {
            self.streak.saturating_add(1)
        } else {
            0
        };
        self.streak >= self.final_steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PENDULUM: &str = r#"
description_format = 1
robot = "np_pendulum"
control_period = 0.02
observation = ["hinge.cos", "hinge.sin", "hinge.vel"]

[[joints]]
name = "hinge"
type = "revolute"
velocity_limit = 20.0
effort_limit = 2.0

[actuation]
mode = "torque"
joints = ["hinge"]

[task]
name = "swingup"
episode_steps = 10
reward = { terms = [{ features = ["hinge.cos"], bounds = [0.99, 1.0], margin = 1.0, sigmoid = "linear", value_at_margin = 0.5 }] }
success = { reward_at_least = 1.0, final_steps = 2 }
"#;

    fn at(angle: f32) -> Measurement {
        Measurement {
            positions: vec![angle],
            velocities: vec![0.0],
            efforts: vec![0.0],
            channels: vec![],
        }
    }

    #[test]
    fn terms_follow_dm_control_tolerance_and_success_needs_the_final_steps() {
        let d = RobotDescription::parse(PENDULUM, "test").unwrap();
        let mut j = TaskJudge::new(&d).unwrap();
        assert_eq!(j.reward(&at(0.0)), 1.0);
        // cos(pi) = -1 is 1.99 below the bound; linear with value 0.5 at a
        // margin of 1: 1 - 1.99 * 0.5 = 0.005.
        let r = j.reward(&at(std::f32::consts::PI));
        assert!((r - 0.005).abs() < 1e-4, "{r}");
        assert!(!j.step(&at(0.0), 1.0));
        assert!(j.step(&at(0.0), 1.0));
        assert!(!j.step(&at(3.0), 0.0));
        j.reset();
        assert!(!j.step(&at(0.0), 1.0));
    }
}
