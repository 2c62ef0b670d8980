//! Headless episodes of a simulated robot under a simple policy.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use umwelt_sim::{Env, Observation, SimError, SpecEntry};

/// A policy that needs no model: for smoke tests, baselines and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimplePolicy {
    /// Uniform random actions within the action bounds.
    Random,
    /// The zero action (no effort, or zero velocity).
    Zero,
}

impl SimplePolicy {
    /// Writes the action for `obs` into `out`.
    pub fn act(
        &self,
        _obs: &Observation,
        spec: &[SpecEntry],
        rng: &mut ChaCha8Rng,
        out: &mut Vec<f32>,
    ) {
        out.clear();
        match self {
            SimplePolicy::Zero => out.resize(spec.len(), 0.0),
            SimplePolicy::Random => {
                out.extend(spec.iter().map(|e| rng.random_range(e.low..=e.high)))
            }
        }
    }
}

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
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(7); // the policy's own stream, apart from the environment's
    let spec = env.action_spec().entries.clone();
    let start = Instant::now();
    let mut obs = env.reset(seed)?;
    let mut action = Vec::with_capacity(spec.len());
    let mut ret = 0.0f64;
    let last = loop {
        policy.act(&obs, &spec, &mut rng, &mut action);
        let step = env.step(&action)?;
        ret += step.reward as f64;
        if step.terminated || step.truncated {
            break step.info;
        }
        obs = step.observation;
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
