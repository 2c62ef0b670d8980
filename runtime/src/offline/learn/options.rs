//! The settings of a learning run, as stored in `learn.json`, and their
//! checks before anything is written.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use umwelt_models::world_model::{TrainConfig, TrainEngine, WorldModelConfig};

use super::LearnError;
use super::select::{MAX_SELECT_CANDIDATES, MAX_SELECT_EPISODES};
use crate::offline::explore::{DEFAULT_EXPLORE_TIME_S, Exploration, SimplePolicy};
use crate::plan::PlannerConfig;

/// Settings of a learning run (stored in `learn.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnOptions {
    /// Robot name.
    pub robot: String,
    /// Task name.
    pub task: String,
    /// A robot config file instead of the built-in one.
    pub robot_config: Option<PathBuf>,
    /// Stop after this many environment steps (seed episodes included).
    pub env_steps: u64,
    /// Seed of everything: model, batches, planner noise, episodes.
    pub seed: u64,
    /// Model-free episodes before the planner takes over.
    pub seed_episodes: usize,
    /// The policy of the seed episodes (uniform random by default).
    #[serde(default)]
    pub seed_policy: SimplePolicy,
    /// Its time scale, seconds: the correlation time of `smooth` noise, the
    /// longest hold of `hold`.
    #[serde(default = "explore_time")]
    pub explore_time: f64,
    /// Gradient updates per environment step collected.
    pub updates_per_step: f64,
    /// Evaluate after every this many planner episodes, counted over the
    /// whole run (a resumed run keeps an uninterrupted run's schedule).
    pub eval_every: usize,
    /// Noise-free planner episodes per evaluation.
    pub eval_episodes: usize,
    /// Rollout threads of the planner.
    pub threads: usize,
    /// Model sizes (dimensions are taken from the robot).
    pub model: WorldModelConfig,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// The planner (exploration noise is switched on for collection, off
    /// for evaluation; `min_iterations` is raised to `iterations`, so every
    /// refit runs however loaded the machine is).
    pub planner: PlannerConfig,
    /// Control steps per decision and per model step: every action (the
    /// random seed policy's and the planner's) is held this long, and the
    /// model learns blocks of this many steps. TD-MPC2 repeats each action
    /// twice on DMControl. Environment steps still count control steps.
    #[serde(default = "one")]
    pub action_repeat: usize,
    /// Hindsight copies of every episode the model trains on (0: none):
    /// each copy moves the task's goal to where the robot was at a step
    /// drawn at random, and recomputes the rewards ([`umwelt_sim::relabel`]).
    /// Only for goal-reaching tasks (the reacher's, the arm's); the copies are
    /// derived from the dataset, never written to it.
    #[serde(default)]
    pub relabel: usize,
    /// Candidates for the held-out selection besides the last checkpoint:
    /// the checkpoints of this many best curve evaluations are kept in
    /// `candidates/` (with the last, at most this many + 1 files).
    #[serde(default = "select_candidates")]
    pub select_candidates: usize,
    /// Held-out episodes per candidate when the budget is spent (0: no
    /// selection, no `final.uwwm`).
    #[serde(default = "select_episodes")]
    pub select_episodes: usize,
    /// Threads each training step's gradient is computed on, the batch
    /// split between them ([`umwelt_models::world_model::Trainer::set_threads`]).
    /// A fixed number, not the machine's core count, so that a run is the
    /// same on every machine; runs from before the field read as 1 (their
    /// one-thread steps, bit for bit).
    #[serde(default = "one_train_thread")]
    pub train_threads: usize,
    /// How each training step is computed ([`TrainEngine`]): new runs use
    /// the hand-written `fused` step; runs from before the field read as
    /// burn (what they ran).
    #[serde(default)]
    pub train_engine: TrainEngine,
    /// What the model sees (older `learn.json`: the observation vector).
    #[serde(default)]
    pub obs: ObsMode,
    /// The camera a pixel model sees; `None`: the robot's first.
    #[serde(default)]
    pub camera: Option<String>,
}

/// What a model learns from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ObsMode {
    /// The observation vector: joint readings and task channels.
    #[default]
    State,
    /// Camera images only (a stack of the latest frames).
    Pixels,
    /// Camera images and the observation vector.
    Both,
}

impl ObsMode {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ObsMode::State => "state",
            ObsMode::Pixels => "pixels",
            ObsMode::Both => "both",
        }
    }
}

/// The serde default of [`LearnOptions::train_threads`] (older `learn.json`).
fn one_train_thread() -> usize {
    1
}

/// Training threads of a new run: the two cores umwelt is built to learn on.
pub const DEFAULT_TRAIN_THREADS: usize = 2;

/// Most training threads (`--train-threads`).
pub const MAX_TRAIN_THREADS: usize = 64;

/// The default of [`LearnOptions::select_candidates`] (older `learn.json`
/// too: a resumed run selects among what it keeps from then on).
fn select_candidates() -> usize {
    DEFAULT_SELECT_CANDIDATES
}

/// The default of [`LearnOptions::select_episodes`] (older `learn.json` too).
fn select_episodes() -> usize {
    DEFAULT_SELECT_EPISODES
}

/// Default of `--select-candidates`: a few, since each costs
/// `--select-episodes` episodes at the end.
pub const DEFAULT_SELECT_CANDIDATES: usize = 3;

/// Default of `--select-episodes`: enough that the choice is not the
/// luckiest of 3 episodes, few enough to cost well under the learning.
pub const DEFAULT_SELECT_EPISODES: usize = 10;

/// The serde default of [`LearnOptions::action_repeat`] (older `learn.json`).
fn one() -> usize {
    1
}

/// The serde default of [`LearnOptions::explore_time`] (older `learn.json`).
fn explore_time() -> f64 {
    DEFAULT_EXPLORE_TIME_S
}

impl LearnOptions {
    /// Defaults for a robot and task.
    pub fn new(robot: &str, task: &str) -> Self {
        Self {
            robot: robot.into(),
            task: task.into(),
            robot_config: None,
            env_steps: 100_000,
            seed: 0,
            seed_episodes: 5,
            seed_policy: SimplePolicy::Random,
            explore_time: DEFAULT_EXPLORE_TIME_S,
            updates_per_step: 0.5,
            eval_every: 5,
            eval_episodes: 3,
            threads: 2,
            model: WorldModelConfig::default(),
            // A discount of 0.99 looks ~100 control steps ahead (1 s of
            // cart-pole, 2 s of reacher): the planner's horizon is short, the
            // value carries the rest. TD-MPC2's rule (episode length / 5)
            // gives 0.99 for DMControl's 500 decisions but 0.995 for our
            // 1000; runs at 0.995 did worse on all three tasks
            // (docs/results/planning.md).
            train: TrainConfig {
                gamma: 0.99,
                ..TrainConfig::default()
            },
            planner: PlannerConfig::default(),
            action_repeat: 1,
            relabel: 0,
            select_candidates: DEFAULT_SELECT_CANDIDATES,
            select_episodes: DEFAULT_SELECT_EPISODES,
            train_threads: DEFAULT_TRAIN_THREADS,
            train_engine: TrainEngine::Fused,
            obs: ObsMode::State,
            camera: None,
        }
    }

    /// How the seed episodes explore.
    pub fn seed_exploration(&self) -> Exploration {
        Exploration {
            policy: self.seed_policy,
            time_s: self.explore_time,
        }
    }
}

/// Most curve evaluation episodes (`--eval-episodes`): their seeds, from
/// 1,000,000, stay clear of the held-out selection's (from 3,000,000).
pub const MAX_EVAL_EPISODES: usize = 10_000;

/// Most hindsight copies per episode: beyond a few, the copies crowd the
/// episodes' own rewards out of the batches.
const MAX_RELABEL: usize = 16;

/// The options' own checks (model sizes with the robot's dimensions,
/// training, planner, action repeat), with the option named.
pub(super) fn check_options(
    opts: &LearnOptions,
    model: &WorldModelConfig,
) -> Result<(), LearnError> {
    let bad = |what: &str, e: String| LearnError::Setup(format!("invalid {what}: {e}"));
    if opts.action_repeat == 0 {
        return Err(LearnError::Setup(
            "the action repeat must be at least 1".into(),
        ));
    }
    if !(opts.updates_per_step.is_finite() && opts.updates_per_step >= 0.0) {
        return Err(LearnError::Setup(format!(
            "--updates-per-step {}: must be a finite number >= 0",
            opts.updates_per_step
        )));
    }
    if opts.relabel > 0 && opts.obs != ObsMode::State {
        return Err(LearnError::Setup(format!(
            "--relabel moves the goal in the observation vector, but the camera images would \
             still show it where it was: not with --obs {}",
            opts.obs.name()
        )));
    }
    if opts.relabel > MAX_RELABEL {
        return Err(LearnError::Setup(format!(
            "--relabel {}: at most {MAX_RELABEL} hindsight copies of an episode",
            opts.relabel
        )));
    }
    if opts.select_candidates > MAX_SELECT_CANDIDATES {
        return Err(LearnError::Setup(format!(
            "--select-candidates {}: at most {MAX_SELECT_CANDIDATES}",
            opts.select_candidates
        )));
    }
    if opts.select_episodes > MAX_SELECT_EPISODES {
        return Err(LearnError::Setup(format!(
            "--select-episodes {}: at most {MAX_SELECT_EPISODES}",
            opts.select_episodes
        )));
    }
    if opts.train_threads == 0 || opts.train_threads > MAX_TRAIN_THREADS {
        return Err(LearnError::Setup(format!(
            "--train-threads {}: must be from 1 to {MAX_TRAIN_THREADS}",
            opts.train_threads
        )));
    }
    if opts.eval_episodes == 0 || opts.eval_episodes > MAX_EVAL_EPISODES {
        return Err(LearnError::Setup(format!(
            "--eval-episodes {}: must be from 1 to {MAX_EVAL_EPISODES}",
            opts.eval_episodes
        )));
    }
    opts.seed_exploration()
        .validate()
        .map_err(|e| LearnError::Setup(format!("--explore-time: {e}")))?;
    model.validate().map_err(|e| bad("model", e))?;
    opts.train
        .validate()
        .map_err(|e| bad("training options", e))?;
    opts.planner.validate().map_err(|e| bad("planner", e))
}
