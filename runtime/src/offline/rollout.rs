//! Headless episodes of a simulated robot under a simple policy.

use std::time::Instant;

use serde::Serialize;
use umwelt_sim::{Env, SimError};

use crate::offline::explore::{Exploration, Explorer, SimplePolicy};

/// The outcome of one episode.
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeReport {
    /// Episode index within the run.
    pub episode: u32,
    /// The seed the environment was reset with.
    pub seed: u64,
    /// Sum of rewards.
    #[serde(rename = "return")]
    pub episode_return: f64,
    /// Control steps taken.
    pub length: u32,
    /// The task's success at the last step.
    pub success: bool,
    /// Physics steps simulated.
    pub physics_steps: u64,
    /// Wall-clock seconds the episode took.
    pub wall_s: f64,
    /// Physics steps per wall-clock second.
    pub physics_steps_per_s: f64,
    /// Simulated seconds per wall-clock second.
    pub realtime_factor: f64,
}

/// The seed of episode `i` of a run seeded with `seed`.
pub fn episode_seed(seed: u64, i: u32) -> u64 {
    seed.wrapping_add(i as u64)
}

/// Runs one episode from `seed` to its end.
pub fn run_episode(
    env: &mut Env,
    policy: SimplePolicy,
    seed: u64,
    episode: u32,
) -> Result<EpisodeReport, SimError> {
    let mut explorer = Explorer::new(Exploration::new(policy), seed, env.control_period());
    let spec = env.action_spec().entries.clone();
    let start = Instant::now();
    env.reset(seed)?;
    let mut action = Vec::with_capacity(spec.len());
    let mut ret = 0.0f64;
    let last = loop {
        explorer.act(&spec, &mut action);
        let step = env.step(&action)?;
        ret += step.reward as f64;
        if step.terminated || step.truncated {
            break step.info;
        }
    };
    let (length, success) = (last.step, last.success);
    let wall_s = start.elapsed().as_secs_f64().max(1e-9);
    let physics_steps = length as u64 * env.action_repeat() as u64;
    Ok(EpisodeReport {
        episode,
        seed,
        episode_return: ret,
        length,
        success,
        physics_steps,
        wall_s,
        physics_steps_per_s: physics_steps as f64 / wall_s,
        realtime_factor: length as f64 * env.control_period() / wall_s,
    })
}
