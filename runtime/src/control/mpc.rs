//! `kind = "mpc"`: the sampling planner over the learned world model or the
//! oracle simulator, as a [`Controller`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::controller::{ControlInput, Controller, ControllerError};
pub use crate::plan::Objective;
use crate::plan::{PlanModel, PlanOutcome, PlanState, Planner, PlannerConfig};
use umwelt_models::world_model::{Precision, WorkerPlacement};

/// Which model the planner rolls out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MpcModel {
    /// The learned world model of `checkpoint`.
    #[default]
    Learned,
    /// The true simulator of the robot config (upper bound; tests).
    Oracle,
}

/// `[controller]` with `kind = "mpc"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpcConfig {
    /// `learned` (default) or `oracle`.
    #[serde(default)]
    pub model: MpcModel,
    /// The world-model checkpoint (`learned`); relative to the config file.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// What to maximise.
    #[serde(default)]
    pub objective: Objective,
    /// Threads for the learned model's rollouts.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Where the rollout workers (`threads - 1` of them) run: `"spread"`
    /// (default), `"float"`, or a list of CPUs.
    #[serde(default)]
    pub workers: Workers,
    /// How the learned model multiplies its wide layers: `"bf16"` (default:
    /// inputs and weights rounded to bfloat16, sums in f32; plans ~30%
    /// faster on Zen 4, whose `vdpbf16ps` does twice f32's multiply-adds,
    /// and the same plans at about f32's speed on other CPUs; the shipped
    /// models score as in f32) or `"f32"` (the model as trained).
    #[serde(default = "default_precision")]
    pub precision: Precision,
    /// Search parameters and budget.
    #[serde(default)]
    pub planner: PlannerConfig,
}

fn default_threads() -> usize {
    2
}

fn default_precision() -> Precision {
    Precision::Bf16
}

/// `controller.workers`: where the learned model's rollout workers run.
/// `"spread"`: each on a CPU of its own among those the process may use
/// (`taskset`, cpusets), so that a worker woken at each tick does not
/// queue behind the planner; `"float"`: where the OS puts them; `[2, 3]`:
/// worker `k` on the `k`-th listed CPU (cycling), for hand-partitioned
/// machines (isolated cores, other real-time threads).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WorkersRepr", into = "WorkersRepr")]
pub struct Workers(pub WorkerPlacement);

/// How [`Workers`] is written in TOML.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WorkersRepr {
    Name(String),
    Cpus(Vec<usize>),
}

impl TryFrom<WorkersRepr> for Workers {
    type Error = String;
    fn try_from(r: WorkersRepr) -> Result<Self, String> {
        match r {
            WorkersRepr::Name(n) => n
                .parse::<WorkerPlacement>()
                .map(Self)
                .map_err(|e| format!("workers = {e}, or a list such as [2, 3]")),
            WorkersRepr::Cpus(c) if c.is_empty() => {
                Err("workers = []: list at least one CPU, or say \"float\"".into())
            }
            WorkersRepr::Cpus(c) => Ok(Self(WorkerPlacement::Cpus(c))),
        }
    }
}

impl From<Workers> for WorkersRepr {
    fn from(w: Workers) -> Self {
        match w.0 {
            WorkerPlacement::Spread => Self::Name("spread".into()),
            WorkerPlacement::Float => Self::Name("float".into()),
            WorkerPlacement::Cpus(c) => Self::Cpus(c),
        }
    }
}

/// The MPC controller: plans every tick, commands the first action.
pub struct Mpc {
    planner: Planner,
    model: Box<dyn PlanModel>,
    action: Vec<f32>,
    seed: u64,
    episodes: u64,
    last: PlanOutcome,
}

impl Mpc {
    /// A controller over an already built model.
    pub fn new(config: PlannerConfig, model: Box<dyn PlanModel>) -> Result<Self, ControllerError> {
        let a = model.act_dim();
        let seed = config.seed;
        let planner = Planner::new(config, a).map_err(|e| ControllerError::Setup(e.to_string()))?;
        Ok(Self {
            planner,
            model,
            action: vec![0.0; a],
            seed,
            episodes: 0,
            last: PlanOutcome::default(),
        })
    }

    /// What the last plan did.
    pub fn last_outcome(&self) -> PlanOutcome {
        self.last
    }
}

impl Controller for Mpc {
    fn name(&self) -> &str {
        "mpc"
    }

    fn reset(&mut self) {
        // Each episode its own noise stream, still determined by the seed.
        self.planner.reset(
            self.seed
                .wrapping_add(self.episodes.wrapping_mul(0x9e37_79b9)),
        );
        self.episodes += 1;
        self.model.reset();
    }

    fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.episodes = 0;
        self.planner.reset(seed);
    }

    fn cameras(&self) -> Vec<String> {
        self.model.cameras()
    }

    fn act(&mut self, input: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
        let fail = |e: crate::plan::PlanError| ControllerError::Failed(e.to_string());
        if out.len() != self.action.len() {
            return Err(ControllerError::Failed(format!(
                "{} actuators, the model plans {} actions",
                out.len(),
                self.action.len()
            )));
        }
        // Inside a hold block the planner repeats its action without the
        // model: skip encoding the frame (a learned model's encoder pass).
        if !self.planner.holds_next() {
            let state = PlanState {
                observation: input.observation,
                sensors: input.sensors,
                images: input.images,
            };
            self.model.begin(&state).map_err(fail)?;
        }
        self.last = self
            .planner
            .plan(self.model.as_mut(), input.deadline, &mut self.action)
            .map_err(fail)?;
        let (center, half) = self.model.action_scale();
        for (((o, a), c), h) in out.iter_mut().zip(&self.action).zip(center).zip(half) {
            *o = c + a * h;
        }
        Ok(())
    }
}
