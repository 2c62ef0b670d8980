//! `umwelt bench sim`: simulation speed of each robot on one thread, as a
//! multiple of real time (the baseline is real time itself).

use std::time::Instant;

use serde::Serialize;
use umwelt_sim::{Env, RobotKind, SimError, tasks_of};

use crate::offline::explore::SimplePolicy;
use crate::offline::rollout::run_episode;

/// Simulation speed of one robot on one thread.
#[derive(Clone, Debug, Serialize)]
pub struct SimBench {
    /// Robot name.
    pub robot: String,
    /// Task used.
    pub task: String,
    /// Physics time step (s).
    pub physics_dt: f64,
    /// Physics steps simulated.
    pub physics_steps: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Physics steps per second.
    pub physics_steps_per_s: f64,
    /// Simulated time per wall-clock time: the baseline is real time itself.
    pub realtime_factor: f64,
}

/// Steps each robot (its first task, random actions) on the calling thread
/// for at least `seconds`, in whole episodes.
pub fn bench_sim(seconds: f64, seed: u64) -> Result<Vec<SimBench>, SimError> {
    let mut out = Vec::new();
    for kind in RobotKind::ALL {
        let task = tasks_of(kind)[0].name;
        let mut env = Env::new(kind.name(), task)?;
        // Warm up once (page faults, caches), then measure whole episodes.
        run_episode(&mut env, SimplePolicy::Random, seed, 0)?;
        let start = Instant::now();
        let (mut steps, mut episodes) = (0u64, 0u32);
        while start.elapsed().as_secs_f64() < seconds || episodes == 0 {
            steps += run_episode(
                &mut env,
                SimplePolicy::Random,
                seed + 1 + episodes as u64,
                episodes,
            )?
            .physics_steps;
            episodes += 1;
        }
        let wall_s = start.elapsed().as_secs_f64();
        let dt = env.config().physics_dt;
        out.push(SimBench {
            robot: kind.name().to_string(),
            task: task.to_string(),
            physics_dt: dt,
            physics_steps: steps,
            wall_s,
            physics_steps_per_s: steps as f64 / wall_s,
            realtime_factor: steps as f64 * dt / wall_s,
        });
    }
    Ok(out)
}
