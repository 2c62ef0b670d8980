//! Building the configured controller from a resolved run config, and
//! checking that it keeps up with the configured rate.

use std::time::Instant;

use umwelt_sim::Measurement;

use super::baseline::CartpoleSwingup;
use super::config::{ConfigError, ControllerConfig};
use super::controller::{ControlInput, Controller, ControllerError};
use super::mpc::{Mpc, MpcConfig, MpcModel, Objective};
use super::resolve::Resolved;
use super::simple::{FaultInjection, Hold, Random, Zero};
use crate::plan::{LearnedModel, OracleModel, PlanModel};

/// Checks that `controller` can keep up with the configured rate: times 20
/// calls on a neutral input (all joints at zero) and fails, naming
/// `rate_hz`, when the median exceeds half the period. Returns the median.
pub fn check_rate(
    r: &Resolved,
    controller: &mut dyn Controller,
) -> Result<std::time::Duration, ConfigError> {
    let n = r.description.joints.len();
    let sensors = Measurement {
        positions: vec![0.0; n],
        velocities: vec![0.0; n],
        efforts: vec![0.0; n],
        channels: vec![0.0; r.description.channels.len()],
    };
    let observation = r.observation.vector(&sensors);
    let mut out = vec![0.0; r.limits.len()];
    let mut times = Vec::with_capacity(20);
    controller.reset();
    for _ in 0..20 {
        let input = ControlInput {
            observation: &observation,
            sensors: &sensors,
            images: &[],
            deadline: Instant::now(),
        };
        let t0 = Instant::now();
        // Errors and panics are the safety layer's business at run time; here only speed matters.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            controller.act(&input, &mut out)
        }));
        times.push(t0.elapsed());
    }
    controller.reset();
    times.sort();
    let median = times[times.len() / 2];
    if median.as_secs_f64() > 0.5 * r.period {
        return Err(ConfigError::Invalid {
            origin: "controller config".into(),
            message: format!(
                "rate_hz = {:.0}: controller `{}` takes {:.0} us per tick (median of 20 trial runs), more than half the {:.0} us period; lower rate_hz",
                1.0 / r.period,
                controller.name(),
                median.as_secs_f64() * 1e6,
                r.period * 1e6
            ),
        });
    }
    Ok(median)
}

/// Builds the configured controller.
pub fn build(r: &Resolved) -> Result<Box<dyn Controller>, ControllerError> {
    let actuated = r.description.actuated_indices();
    Ok(match &r.config.controller {
        ControllerConfig::Zero => Box::new(Zero),
        ControllerConfig::Hold { kp, kd } => {
            Box::new(Hold::new(*kp, *kd, r.description.actuation.mode, actuated))
        }
        ControllerConfig::Random { seed } => Box::new(Random::new(*seed, r.limits.clone())),
        ControllerConfig::FaultInjection {
            value,
            nan_every,
            panic_every,
            error_every,
        } => Box::new(FaultInjection::new(
            *value,
            *nan_every,
            *panic_every,
            *error_every,
        )),
        ControllerConfig::Mpc(c) => Box::new(build_mpc(r, c)?),
        ControllerConfig::CartpoleSwingup(p) => Box::new(CartpoleSwingup::new(
            p.clone(),
            &r.description.joint_names(),
            r.period,
        )?),
    })
}

/// Builds the MPC planner and its model from a resolved run config.
fn build_mpc(r: &Resolved, c: &MpcConfig) -> Result<Mpc, ControllerError> {
    let setup = |e: String| ControllerError::Setup(e);
    let model: Box<dyn PlanModel> = match c.model {
        MpcModel::Oracle => {
            if !matches!(c.objective, Objective::Task) {
                return Err(setup(
                    "the oracle plans for the task's reward only (objective.kind = \"task\")"
                        .into(),
                ));
            }
            let Some(sim) = &r.sim else {
                return Err(setup(
                    "the oracle plans with umwelt's simulator of the robot; this robot is only described"
                        .into(),
                ));
            };
            let env = umwelt_sim::Env::from_config(sim.clone(), &r.description.task.name)
                .map_err(|e| setup(format!("oracle simulator: {e}")))?;
            Box::new(OracleModel::new(env, c.planner.discount).map_err(|e| setup(e.to_string()))?)
        }
        MpcModel::Learned => {
            let path = c.checkpoint.as_ref().ok_or_else(|| {
                setup("controller.model = \"learned\" needs controller.checkpoint".into())
            })?;
            let mut learned = LearnedModel::load(
                path,
                &r.description
                    .dataset_spec()
                    .map_err(|e| setup(e.to_string()))?,
                &r.observation,
                &c.objective,
                c.precision,
                c.threads,
                c.planner.samples,
                c.planner.horizon,
            )
            .map_err(|e| setup(e.to_string()))?;
            // Refused here rather than at the first plan: a mismatch
            // would otherwise only show as a safe command every tick.
            if learned.action_repeat() != c.planner.action_repeat {
                return Err(setup(format!(
                    "{}: the model steps {} control period(s) at a time; set \
                     controller.planner.action_repeat = {} (and hold = true to plan once per block)",
                    path.display(),
                    learned.action_repeat(),
                    learned.action_repeat()
                )));
            }
            learned
                .place_workers(&c.workers.0)
                .map_err(|e| setup(format!("controller.workers: {e}")))?;
            Box::new(learned)
        }
    };
    Mpc::new(c.planner.clone(), model)
}
