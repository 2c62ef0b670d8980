//! Hindsight goals (Andrychowicz et al., *Hindsight Experience Replay*,
//! 2017): an episode of a goal-reaching task, rewritten as if its goal had
//! been where the robot was at one of its steps. The robot's motion is the
//! same; only the goal vector in each observation and the rewards change.
//! A learner then sees the goal reached, and the sparse reward earned, from
//! far more states than its own few successes show it.
//!
//! This is exact only where the reward is a function of the robot-to-goal
//! vector that the observation carries, with nothing else hidden: the
//! [`Env::goal_relabel`](crate::Env::goal_relabel) that hands out a
//! [`GoalRelabel`] checks that.

use crate::rewards::tolerance_default;

/// The reward of a goal-reaching task as a function of the robot-to-goal
/// vector: dm_control's `tolerance(distance, (0, within), margin)` with its
/// Gaussian fall-off (0.1 at `margin` beyond `within`). With no margin: 1
/// within `within` of the goal, 0 beyond.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoalReward {
    /// Distance (m) at or under which the reward is 1.
    pub within: f64,
    /// Distance (m) beyond `within` over which the reward falls to 0.1; 0
    /// for a sparse reward.
    pub margin: f64,
}

impl GoalReward {
    /// The reward for the robot-to-goal vector `to_goal`. The task's own
    /// reward calls this, so a relabelled reward is the reward the task
    /// would have given, to the bit.
    pub fn reward(&self, to_goal: &[f32]) -> f64 {
        self.reward_of_squares(to_goal.iter().copied())
    }

    /// The reward for the vector whose components are `v`: squares summed
    /// in order in f32, then one square root, as the tasks always computed
    /// the distance.
    fn reward_of_squares(&self, v: impl Iterator<Item = f32>) -> f64 {
        let d = v.fold(0.0f32, |s, x| s + x * x).sqrt() as f64;
        tolerance_default(d, (0.0, self.within), self.margin)
    }
}

/// Why an episode could not be relabelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// The arrays do not describe one episode of this observation size.
    #[error(
        "{observations} observation values and {rewards} rewards are not {rewards} steps of {obs_dim}-value observations (plus the first)"
    )]
    Shape {
        /// Observation values given.
        observations: usize,
        /// Rewards given.
        rewards: usize,
        /// Values per observation.
        obs_dim: usize,
    },
    /// The step to take the goal from is past the episode's end.
    #[error("goal taken at observation {at}, but the episode has {len} steps")]
    PastEnd {
        /// The observation asked for.
        at: usize,
        /// Steps in the episode.
        len: usize,
    },
}

/// Where a task's robot-to-goal vector sits in its observation vector, and
/// how its reward follows from that vector.
#[derive(Clone, Debug, PartialEq)]
pub struct GoalRelabel {
    obs_dim: usize,
    columns: Vec<usize>,
    reward: GoalReward,
}

impl GoalRelabel {
    /// A relabelling for observations of `obs_dim` values whose columns
    /// `columns` hold the robot-to-goal vector.
    pub(crate) fn new(obs_dim: usize, columns: Vec<usize>, reward: GoalReward) -> Self {
        Self {
            obs_dim,
            columns,
            reward,
        }
    }

    /// Columns of the observation vector that hold the robot-to-goal vector.
    pub fn columns(&self) -> &[usize] {
        &self.columns
    }

    /// The reward rule.
    pub fn goal_reward(&self) -> GoalReward {
        self.reward
    }

    /// Metres between the robot's positions in observations `a` and `b` of
    /// one goal: their robot-to-goal vectors differ by exactly that.
    ///
    /// # Panics
    /// If either is shorter than the observation vector, like slice indexing.
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f64 {
        self.columns
            .iter()
            .map(|&c| (f64::from(a[c]) - f64::from(b[c])).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// The reward of a step that ended in observation `obs`.
    ///
    /// # Panics
    /// If `obs` is shorter than the observation vector, like slice indexing.
    pub fn reward(&self, obs: &[f32]) -> f32 {
        self.reward
            .reward_of_squares(self.columns.iter().map(|&c| obs[c])) as f32
    }

    /// Rewrites an episode (`len + 1` observations row-major, `len` rewards,
    /// physical units, as recorded) as if its goal had been where the robot
    /// was at observation `at`: the goal vector of `at` is subtracted from
    /// every observation's (the goal moves, the robot does not), and every
    /// reward is recomputed from the observation its step ended in.
    pub fn relabel(
        &self,
        observations: &mut [f32],
        rewards: &mut [f32],
        at: usize,
    ) -> Result<(), RelabelError> {
        let (d, len) = (self.obs_dim, rewards.len());
        if d == 0 || observations.len() != (len + 1) * d {
            return Err(RelabelError::Shape {
                observations: observations.len(),
                rewards: len,
                obs_dim: d,
            });
        }
        if at > len {
            return Err(RelabelError::PastEnd { at, len });
        }
        let shift: Vec<f32> = self
            .columns
            .iter()
            .map(|&c| observations[at * d + c])
            .collect();
        for row in observations.chunks_exact_mut(d) {
            for (&c, s) in self.columns.iter().zip(&shift) {
                row[c] -= s;
            }
        }
        for (t, r) in rewards.iter_mut().enumerate() {
            *r = self.reward(&observations[(t + 1) * d..(t + 2) * d]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(within: f64) -> GoalRelabel {
        GoalRelabel::new(
            3,
            vec![1, 2],
            GoalReward {
                within,
                margin: 0.0,
            },
        )
    }

    #[test]
    fn the_distance_between_two_observations_reads_only_the_goal_vector() {
        let r = reach(0.06);
        assert!((r.distance(&[9.0, 0.3, 0.4], &[-9.0, 0.0, 0.0]) - 0.5).abs() < 1e-7);
        assert_eq!(r.distance(&[1.0, 0.3, 0.4], &[2.0, 0.3, 0.4]), 0.0);
    }

    #[test]
    fn the_goal_moves_to_the_chosen_step_and_rewards_follow_it() {
        // Three steps; column 0 is a joint, columns 1-2 the goal vector.
        let mut obs = vec![
            0.0, 0.30, 0.0, //
            1.0, 0.20, 0.0, //
            2.0, 0.10, 0.0, //
            3.0, 0.05, 0.0,
        ];
        let mut rewards = vec![0.0, 0.0, 1.0];
        reach(0.06).relabel(&mut obs, &mut rewards, 1).unwrap();
        let goal_x: Vec<f32> = obs.chunks(3).map(|r| r[1]).collect();
        assert_eq!(goal_x, [0.3 - 0.2, 0.0, 0.1 - 0.2, 0.05 - 0.2]);
        // The joint column is untouched.
        assert_eq!(
            obs.chunks(3).map(|r| r[0]).collect::<Vec<_>>(),
            [0.0, 1.0, 2.0, 3.0]
        );
        // Step 0 ends at the new goal; step 2 ends 0.15 from it.
        assert_eq!(rewards, [1.0, 0.0, 0.0]);
    }

    #[test]
    fn the_reward_is_one_up_to_the_radius_and_zero_or_shaped_past_it() {
        let g = GoalReward {
            within: 0.06,
            margin: 0.0,
        };
        assert_eq!(g.reward(&[0.06, 0.0]), 1.0);
        assert_eq!(g.reward(&[0.03, -0.04]), 1.0);
        assert_eq!(g.reward(&[0.0601, 0.0]), 0.0);
        assert_eq!(g.reward(&[0.0, 0.0, 0.07]), 0.0);
        // With a margin it falls off smoothly: 0.1 a margin beyond.
        let shaped = GoalReward {
            within: 0.05,
            margin: 0.25,
        };
        assert_eq!(shaped.reward(&[0.0, 0.05, 0.0]), 1.0);
        assert!((shaped.reward(&[0.3, 0.0]) - 0.1).abs() < 1e-6);
        let mid = shaped.reward(&[0.0, 0.0, 0.15]);
        assert!(0.1 < mid && mid < 1.0, "{mid}");
    }

    #[test]
    fn episodes_of_the_wrong_shape_or_goals_past_the_end_are_refused() {
        let r = reach(0.06);
        let mut obs = vec![0.0; 9];
        let mut rewards = vec![0.0; 3];
        assert!(matches!(
            r.relabel(&mut obs, &mut rewards, 0),
            Err(RelabelError::Shape {
                observations: 9,
                ..
            })
        ));
        let mut obs = vec![0.0; 12];
        let e = r.relabel(&mut obs, &mut rewards, 4).unwrap_err();
        assert_eq!(e, RelabelError::PastEnd { at: 4, len: 3 });
        assert!(e.to_string().contains("3 steps"), "{e}");
        // Nothing was changed by the refusals.
        assert!(obs.iter().all(|&v| v == 0.0) && rewards.iter().all(|&v| v == 0.0));
    }
}
