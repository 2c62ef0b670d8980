//! Replaying an evaluated episode in the simulator: the same seed, then the
//! commands the episode applied, one per control step. The simulator is
//! deterministic per seed, so the replay passes through exactly the states
//! the evaluation saw; every reward is checked against the recorded one,
//! bit for bit, and a difference is an error (it would mean the pictures
//! show another episode). The controller is not run again: its decisions
//! may depend on time (a planner's deadline), the commands it made do not.

use umwelt_sim::{Env, Observation, RobotConfig, SimError};

use crate::offline::episode::EpisodeRun;

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The simulator failed.
    #[error("replaying seed {seed}: {source}")]
    Sim {
        /// The episode's seed.
        seed: u64,
        /// What failed.
        source: SimError,
    },
    /// The replay left the recorded episode.
    #[error(
        "replaying seed {seed}: step {step} gave reward {replayed:e}, the evaluation {recorded:e}: the simulator is not deterministic for this robot, so no video or state trace of it can be trusted"
    )]
    Diverged {
        /// The episode's seed.
        seed: u64,
        /// The first step that differs.
        step: usize,
        /// The recorded reward.
        recorded: f32,
        /// The replayed one.
        replayed: f32,
    },
    /// The episode ended at another step than recorded.
    #[error(
        "replaying seed {seed}: it ended after {replayed} steps, the evaluation after {recorded}"
    )]
    Length {
        /// The episode's seed.
        seed: u64,
        /// Recorded steps.
        recorded: u32,
        /// Replayed steps.
        replayed: u32,
    },
    /// What a step visitor returned.
    #[error("replaying seed {seed}: {message}")]
    Visit {
        /// The episode's seed.
        seed: u64,
        /// Its message.
        message: String,
    },
}

/// A replay's visitor: `(env, step, reward, observation)`.
pub type Visit<'a> = dyn FnMut(&Env, usize, Option<f32>, &Observation) -> Result<(), String> + 'a;

/// Replays `run` on a new simulator of `robot` and `task`. `visit` sees
/// the state after the reset (`step` 0, no reward) and after every control
/// step `k` (1-based, with that step's reward), with the observation then.
/// The replayed return is checked to equal the recorded one to the bit.
pub fn replay(
    robot: &RobotConfig,
    task: &str,
    run: &EpisodeRun,
    visit: &mut Visit<'_>,
) -> Result<(), ReplayError> {
    let seed = run.seed;
    let sim = |source| ReplayError::Sim { seed, source };
    let mut env = Env::from_config(robot.clone(), task).map_err(sim)?;
    let obs = env.reset(seed).map_err(sim)?;
    let visit_err = |message| ReplayError::Visit { seed, message };
    visit(&env, 0, None, &obs).map_err(visit_err)?;
    let n = run.length as usize;
    let act = run.actions.len().checked_div(n).unwrap_or(0);
    let mut ret = 0.0f64;
    for k in 0..n {
        let step = env
            .step(&run.actions[k * act..(k + 1) * act])
            .map_err(sim)?;
        let recorded = run.rewards[k];
        if step.reward.to_bits() != recorded.to_bits() {
            return Err(ReplayError::Diverged {
                seed,
                step: k,
                recorded,
                replayed: step.reward,
            });
        }
        ret += step.reward as f64;
        visit(&env, k + 1, Some(step.reward), &step.observation).map_err(visit_err)?;
        if (step.terminated || step.truncated) && k + 1 < n {
            return Err(ReplayError::Length {
                seed,
                recorded: run.length,
                replayed: k as u32 + 1,
            });
        }
    }
    // Summed in the evaluation's order, so equal rewards give an equal sum.
    if ret.to_bits() != run.ret.to_bits() {
        return Err(ReplayError::Diverged {
            seed,
            step: n,
            recorded: run.ret as f32,
            replayed: ret as f32,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten steps of the cart-pole with a fixed command, as an evaluation
    /// would have recorded them.
    fn recorded(robot: &RobotConfig) -> EpisodeRun {
        let mut env = Env::from_config(robot.clone(), "swingup").unwrap();
        env.reset(4).unwrap();
        let mut run = EpisodeRun {
            seed: 4,
            ..EpisodeRun::default()
        };
        for k in 0..10 {
            let a = [if k % 2 == 0 { 0.7 } else { -0.3 }];
            let s = env.step(&a).unwrap();
            run.actions.extend_from_slice(&a);
            run.rewards.push(s.reward);
            run.ret += s.reward as f64;
            run.length += 1;
        }
        run
    }

    #[test]
    fn a_replay_visits_every_state_and_catches_a_changed_reward() {
        let robot = RobotConfig::builtin(umwelt_sim::RobotKind::Cartpole);
        let run = recorded(&robot);
        let mut seen = Vec::new();
        replay(&robot, "swingup", &run, &mut |_, k, r, _| {
            seen.push((k, r));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 11);
        assert_eq!(seen[0], (0, None));
        assert_eq!(seen[3], (3, Some(run.rewards[2])));
        let mut bad = run.clone();
        bad.rewards[6] = f32::from_bits(bad.rewards[6].to_bits() ^ 1);
        let err = replay(&robot, "swingup", &bad, &mut |_, _, _, _| Ok(())).unwrap_err();
        assert!(
            matches!(err, ReplayError::Diverged { step: 6, .. }),
            "{err}"
        );
        let mut other_seed = run.clone();
        other_seed.seed = 5;
        assert!(replay(&robot, "swingup", &other_seed, &mut |_, _, _, _| Ok(())).is_err());
    }
}
