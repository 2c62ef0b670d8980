//! The glue between the learning options and the control config: the MPC
//! planner that collects and evaluates over the model being trained, and
//! its noise-free evaluation episodes (the curve's, the selection's).

use std::sync::atomic::AtomicBool;

use umwelt_models::world_model::{Normalization, Precision, WorldModel};

use super::{LearnError, LearnOptions};
use crate::control::config::{ControllerConfig, RunConfig};
use crate::control::mpc::{Mpc, MpcConfig, MpcModel, Objective};
use crate::control::{Controller, Resolved};
use crate::offline::episode::run_controller_episode;
use crate::offline::plant::Plant;
use crate::plan::{LearnedModel, PlannerConfig};

/// The control config of the run's planner over the learned model:
/// `explore` switches the exploration noise (on to collect, off to evaluate).
pub(super) fn resolved(
    opts: &LearnOptions,
    explore: bool,
    seed: u64,
) -> Result<Resolved, LearnError> {
    // Learning runs in simulated time: every refit runs, whatever the load
    // of the machine, so a run's data and curve depend only on its seed.
    let planner = PlannerConfig {
        explore,
        seed,
        min_iterations: opts.planner.iterations,
        // The model steps whole blocks: plan once per block and hold.
        action_repeat: opts.action_repeat,
        hold: opts.action_repeat > 1,
        ..opts.planner.clone()
    };
    let cfg = RunConfig {
        robot: opts.robot.clone(),
        task: opts.task.clone(),
        robot_config: opts.robot_config.clone(),
        controller: ControllerConfig::Mpc(MpcConfig {
            model: MpcModel::Learned,
            checkpoint: None,
            objective: Objective::Task,
            threads: opts.threads,
            workers: Default::default(),
            // Learning plans with the model as it is trained.
            precision: Precision::F32,
            planner,
        }),
        ..RunConfig::minimal(&opts.robot, &opts.task)
    };
    cfg.resolve("umwelt learn")
        .map_err(|e| LearnError::Setup(e.to_string()))
}

/// The planner of `r` over `model` as it is now.
pub(super) fn planner_for(
    r: &Resolved,
    model: &WorldModel,
    norm: &Normalization,
    gamma: f32,
) -> Result<Mpc, LearnError> {
    let ControllerConfig::Mpc(c) = &r.config.controller else {
        return Err(LearnError::Setup("internal: not an MPC config".into()));
    };
    let learned = LearnedModel::from_model(
        model,
        norm.clone(),
        gamma,
        c.planner.action_repeat,
        &c.objective,
        c.precision,
        c.threads,
        c.planner.samples,
        c.planner.horizon,
    )
    .map_err(|e| LearnError::Setup(e.to_string()))?;
    Mpc::new(c.planner.clone(), Box::new(learned)).map_err(|e| LearnError::Setup(e.to_string()))
}

/// Noise-free episodes of `model` on `seeds` (the first seed and how many;
/// fixed seeds, so that evaluations compare like with like), the planner's
/// noise reseeded with `planner_seed` plus each episode's seed: their
/// returns, and how many met the task's success rule; `None` when `stop`
/// ended them.
#[allow(clippy::too_many_arguments)] // the planner, its model and the episodes, each needed
pub(super) fn evaluate(
    eval_cfg: &Resolved,
    env: &mut dyn Plant,
    model: &WorldModel,
    norm: &Normalization,
    gamma: f32,
    seeds: (u64, usize),
    planner_seed: u64,
    stop: &AtomicBool,
) -> Result<Option<(Vec<f64>, usize)>, LearnError> {
    let (first, n) = seeds;
    let mut returns = Vec::with_capacity(n);
    let mut successes = 0usize;
    for i in 0..n as u64 {
        let seed = first.wrapping_add(i);
        let mut mpc = planner_for(eval_cfg, model, norm, gamma)?;
        mpc.reseed(planner_seed.wrapping_add(seed));
        let r = run_controller_episode(eval_cfg, env, &mut mpc, seed, false, None, Some(stop))?;
        if r.stopped {
            return Ok(None);
        }
        returns.push(r.ret);
        successes += usize::from(r.success);
    }
    Ok(Some((returns, successes)))
}
