//! Hindsight relabelling: what the model trains on from each recorded
//! episode (the episode in blocks of the action repeat, and copies of it
//! with the goal moved to where the robot went).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use umwelt_models::dataset::Episode;
use umwelt_sim::GoalRelabel;

use super::LearnError;

/// Hindsight relabelling of a run's episodes.
pub(super) struct Hindsight {
    /// How the task's goal moves and its rewards follow.
    pub(super) relabel: GoalRelabel,
    /// Copies per episode.
    pub(super) copies: usize,
    /// The run's seed.
    pub(super) seed: u64,
}

/// What the model trains on from recorded episode number `index`: the
/// episode in blocks of `repeat`, then its hindsight copies, each with the
/// goal where the robot was at a step drawn from the run's seed and
/// `index` (so a resumed run rebuilds the same copies), also in blocks.
fn training_blocks(
    e: &Episode,
    index: usize,
    repeat: usize,
    hindsight: Option<&Hindsight>,
) -> Result<Vec<Episode>, LearnError> {
    let mut out = vec![e.with_action_repeat(repeat)?];
    let Some(h) = hindsight.filter(|_| !e.is_empty()) else {
        return Ok(out);
    };
    let mut rng = ChaCha8Rng::seed_from_u64(h.seed);
    rng.set_stream(index as u64);
    for _ in 0..h.copies {
        let at = rng.random_range(1..=e.len());
        let mut copy = e.clone();
        h.relabel
            .relabel(&mut copy.observations, &mut copy.rewards, at)
            .map_err(|err| LearnError::Setup(format!("episode {index}: {err}")))?;
        // The task's success rule was not judged for the moved goal.
        copy.success = false;
        out.push(copy.with_action_repeat(repeat)?);
    }
    Ok(out)
}

/// The episodes the model trains on: every recorded episode in blocks,
/// and its hindsight copies, counted apart for the training summary.
#[derive(Default)]
pub(super) struct TrainingSet {
    /// The episodes in blocks, copies included.
    pub(super) blocks: Vec<Episode>,
    /// How many of them are hindsight copies.
    pub(super) copies: usize,
}

impl TrainingSet {
    /// Adds recorded episode number `index` (see [`training_blocks`]).
    pub(super) fn add(
        &mut self,
        e: &Episode,
        index: usize,
        repeat: usize,
        hindsight: Option<&Hindsight>,
    ) -> Result<(), LearnError> {
        let b = training_blocks(e, index, repeat, hindsight)?;
        self.copies += b.len() - 1;
        self.blocks.extend(b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::offline::collect::record_held_episode;
    use crate::offline::explore::{Exploration, SimplePolicy};
    use umwelt_sim::Env;

    fn random_reacher_episode(env: &mut Env, seed: u64) -> Episode {
        let stop = AtomicBool::new(false);
        record_held_episode(
            env,
            Exploration::new(SimplePolicy::Random),
            seed,
            2,
            None,
            &stop,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn hindsight_copies_move_the_goal_keep_the_motion_and_repeat_for_an_index() {
        let mut env = Env::new("reacher", "easy").unwrap();
        let e = random_reacher_episode(&mut env, 3);
        let relabel = env.goal_relabel().unwrap();
        let cols = relabel.columns().to_vec();
        let h = Hindsight {
            relabel,
            copies: 3,
            seed: 9,
        };
        let blocks = training_blocks(&e, 4, 2, Some(&h)).unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0], e.with_action_repeat(2).unwrap());
        let d = e.obs_dim();
        for copy in &blocks[1..] {
            assert_eq!(copy.len(), e.len() / 2);
            assert_eq!(copy.actions, blocks[0].actions);
            let mut moved_goal = false;
            let pairs = copy.observations.iter().zip(&blocks[0].observations);
            for (i, (a, b)) in pairs.enumerate() {
                if cols.contains(&(i % d)) {
                    moved_goal |= a != b;
                } else {
                    assert_eq!(a, b, "value {i}: the motion changed");
                }
            }
            assert!(moved_goal);
            // The goal is where the finger was at some step, so the copy
            // earns a reward there: a block reward is a sum of two steps'.
            assert!(copy.rewards.iter().any(|&r| r >= 1.0), "no reward");
            assert!(copy.rewards.iter().all(|&r| [0.0, 1.0, 2.0].contains(&r)));
        }
        // Three different goals.
        assert_ne!(blocks[1], blocks[2]);
        assert_ne!(blocks[2], blocks[3]);
        // The same index and seed give the same copies (a resumed run
        // rebuilds them); another index other ones.
        assert_eq!(training_blocks(&e, 4, 2, Some(&h)).unwrap(), blocks);
        assert_ne!(training_blocks(&e, 5, 2, Some(&h)).unwrap()[1], blocks[1]);
        // Without hindsight, the episode alone.
        assert_eq!(training_blocks(&e, 4, 2, None).unwrap(), blocks[..1]);
    }
}
