//! Learning recipes: the options of an `umwelt learn` run in a TOML file
//! (`configs/learn/`), so that a shipped model is one command away
//! (`umwelt learn --recipe configs/learn/reacher_easy.toml --out DIR`).
//!
//! Every key is a flag of `umwelt learn` with underscores for dashes
//! (`action_repeat = 2` is `--action-repeat 2`); a flag given on the command
//! line wins over the file, and a key in neither keeps `umwelt learn`'s
//! default ([`LearnOptions::new`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::args;
use crate::offline::learn::LearnOptions;
use umwelt_models::world_model::TrainEngine;

/// Why a recipe could not be read or turned into options.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The recipe file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a recipe (bad TOML, an unknown key, a wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The recipe file.
        path: PathBuf,
        /// What the parser said, with the line.
        message: String,
    },
    /// Neither the recipe nor the command line names the robot or the task.
    #[error("no {0} given: pass --{0}, or a --recipe whose file sets `{0}`")]
    Missing(&'static str),
}

/// The options of a learning run, each one optional: a recipe file, or the
/// flags given on the command line (this struct is both: `umwelt learn`'s
/// flags are its fields). [`LearnRecipe::or`] layers two of them,
/// [`LearnRecipe::options`] fills the rest with the defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LearnRecipe {
    /// Robot to learn (see `umwelt envs`); required unless the recipe sets it.
    #[arg(long)]
    pub robot: Option<String>,
    /// Task of that robot; required unless the recipe sets it.
    #[arg(long)]
    pub task: Option<String>,
    /// Robot config file (TOML) replacing the built-in defaults; in a
    /// recipe file, relative to the file's directory (`--config`, the
    /// controller config elsewhere, is a deprecated spelling here).
    #[arg(long = "robot-config", alias = "config", value_name = "FILE")]
    pub robot_config: Option<PathBuf>,
    /// Environment steps in all (seed episodes included); with --resume, a
    /// larger value extends the run [default: 100000].
    #[arg(long, value_parser = args::count::<u64>(1, 1_000_000_000))]
    pub steps: Option<u64>,
    /// Seed of model, batches, planner noise and episodes [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Model-free episodes before the planner takes over [default: 5].
    #[arg(long, value_parser = args::count::<usize>(0, 1_000_000))]
    pub seed_episodes: Option<usize>,
    /// The policy of the seed episodes: `random` (uniform, a fresh draw
    /// each step), `smooth` (coloured noise), `hold` (random actions held
    /// for random spans), `zero`. Every one stays inside the actuators'
    /// limits [default: random].
    #[arg(long, value_enum)]
    pub seed_policy: Option<crate::offline::explore::SimplePolicy>,
    /// Seconds: the correlation time of `smooth` seed noise, the longest
    /// hold of `hold` [default: 0.2].
    #[arg(long, value_name = "SECONDS", value_parser = args::flag(args::seconds))]
    pub explore_time: Option<f64>,
    /// Gradient updates per environment step [default: 0.5].
    #[arg(long, value_parser = args::flag(args::ratio))]
    pub updates_per_step: Option<f64>,
    /// Evaluate after every this many planner episodes [default: 5].
    #[arg(long, value_parser = args::count::<usize>(1, 1_000_000))]
    pub eval_every: Option<usize>,
    /// Noise-free episodes per evaluation [default: 3].
    #[arg(long, value_parser = args::count::<usize>(1, crate::offline::learn::MAX_EVAL_EPISODES as u64))]
    pub eval_episodes: Option<usize>,
    /// Planner samples per iteration (TD-MPC2: 512).
    #[arg(long, value_parser = args::count::<usize>(1, crate::plan::MAX_SAMPLES as u64))]
    pub samples: Option<usize>,
    /// Planner iterations per decision (TD-MPC2: 6).
    #[arg(long, value_parser = args::count::<usize>(1, crate::plan::MAX_ITERATIONS as u64))]
    pub iterations: Option<usize>,
    /// Planner horizon (TD-MPC2: 3).
    #[arg(long, value_parser = args::count::<usize>(1, crate::plan::MAX_HORIZON as u64))]
    pub horizon: Option<usize>,
    /// Control steps each action is held, and each model step covers
    /// (TD-MPC2: 2 on DMControl). Run configs for the checkpoint need
    /// `controller.planner.action_repeat` set to the same value [default: 1].
    #[arg(long, value_parser = args::count::<u32>(1, crate::plan::MAX_ACTION_REPEAT as u64))]
    pub action_repeat: Option<u32>,
    /// Width of the model's hidden layers.
    #[arg(long, value_parser = args::count::<usize>(1, args::MAX_CLI_WIDTH))]
    pub hidden: Option<usize>,
    /// Discount factor of the value targets [default: 0.99].
    #[arg(long, value_parser = args::flag(args::discount))]
    pub gamma: Option<f32>,
    /// Weight of the value (TD) loss in the model's joint objective
    /// (default 0.1, as TD-MPC2). Its gradient reaches the encoder too, and
    /// grows with the values' scale, so it also sets how much the latent is
    /// shaped by the value rather than by the dynamics' consistency.
    // Checked with the training options, whose error names `value_coef`.
    #[arg(long)]
    pub value_coef: Option<f32>,
    /// Q heads in the value ensemble (TD-MPC2: 5). Each TD target is the
    /// minimum of two heads drawn at random; the planner uses the first two.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=16))]
    pub q_heads: Option<u32>,
    /// Hindsight copies of every episode to train on besides it (0: none;
    /// at most 16). Each copy moves the goal to where the robot was at a
    /// step drawn at random and recomputes the rewards, so the model sees
    /// the goal reached from many more states than its own successes show.
    /// Only tasks whose reward is a function of a robot-to-goal vector in
    /// the observation (the reacher's and the arm's reach) can be
    /// relabelled; the copies are never written to the dataset [default: 0].
    #[arg(long)]
    pub relabel: Option<usize>,
    /// Candidates for the held-out selection at the run's end besides the
    /// last checkpoint: the checkpoints of this many best curve evaluations
    /// are kept in `candidates/` (at most this many + 1 files) [default: 3].
    #[arg(long, value_name = "K", value_parser = args::count::<usize>(0, crate::offline::learn::MAX_SELECT_CANDIDATES as u64))]
    pub select_candidates: Option<usize>,
    /// Threads each training step's gradient is computed on, the batch
    /// split between them: the same step up to rounding, about 1.5x faster
    /// on two cores (`umwelt bench train`). A fixed count, so a run is the
    /// same on every machine [default: 2].
    #[arg(long, value_name = "N", value_parser = args::count::<usize>(1, crate::offline::learn::MAX_TRAIN_THREADS as u64))]
    pub train_threads: Option<usize>,
    /// How each training step is computed: `fused`, a hand-written step
    /// on the CPU (about 3x burn's on two cores, pixel models included,
    /// `umwelt bench train`), or `burn`, burn's autodiff and
    /// optimiser (the engine of runs from before `fused`). The same
    /// objective either way, up to rounding [default: fused].
    #[arg(long, value_name = "ENGINE", value_parser = args::train_engine)]
    pub train_engine: Option<TrainEngine>,
    /// Held-out episodes per candidate when the budget is spent (seeds from
    /// 3,000,000, disjoint from the curve's, the training episodes' and the
    /// reporting seeds 100-119 and 2000-2019); the best becomes
    /// `final.uwwm`, what a run ships. 0: no selection [default: 10].
    #[arg(long, value_name = "M", value_parser = args::count::<usize>(0, crate::offline::learn::MAX_SELECT_EPISODES as u64))]
    pub select_episodes: Option<usize>,
    /// What the model learns from: `state` (joint readings and task
    /// channels), `pixels` (the latest 3 images of a camera, through a
    /// convolutional encoder) or `both`. Pixel runs record every episode's
    /// frames beside it in the dataset [default: state].
    #[arg(long, value_enum)]
    pub obs: Option<crate::offline::learn::ObsMode>,
    /// The camera a pixel model sees (a `[[camera]]` of the robot config,
    /// or a built-in robot's default) [default: the robot's first camera].
    #[arg(long, value_name = "NAME")]
    pub camera: Option<String>,
    /// Training sequences per batch. Pixel models cost about a
    /// convolution pass per image of a batch, so CPU runs use fewer than a
    /// state model's [default: 256].
    #[arg(long, value_name = "B", value_parser = args::count::<usize>(1, 4096))]
    pub batch_size: Option<usize>,
}

impl LearnRecipe {
    /// Reads a recipe file; a relative `robot_config` is made relative to
    /// the file's directory, as run configs do.
    pub fn load(path: &Path) -> Result<Self, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut recipe: Self = toml::from_str(&text).map_err(|e| RecipeError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(rc) = recipe.robot_config.as_mut()
            && rc.is_relative()
        {
            let dir = path.parent().unwrap_or(Path::new(""));
            *rc = dir.join(&*rc);
        }
        Ok(recipe)
    }

    /// `self`, with every option it leaves unset taken from `fallback`.
    pub fn or(self, fallback: LearnRecipe) -> LearnRecipe {
        LearnRecipe {
            robot: self.robot.or(fallback.robot),
            task: self.task.or(fallback.task),
            robot_config: self.robot_config.or(fallback.robot_config),
            steps: self.steps.or(fallback.steps),
            seed: self.seed.or(fallback.seed),
            seed_episodes: self.seed_episodes.or(fallback.seed_episodes),
            seed_policy: self.seed_policy.or(fallback.seed_policy),
            explore_time: self.explore_time.or(fallback.explore_time),
            updates_per_step: self.updates_per_step.or(fallback.updates_per_step),
            eval_every: self.eval_every.or(fallback.eval_every),
            eval_episodes: self.eval_episodes.or(fallback.eval_episodes),
            samples: self.samples.or(fallback.samples),
            iterations: self.iterations.or(fallback.iterations),
            horizon: self.horizon.or(fallback.horizon),
            action_repeat: self.action_repeat.or(fallback.action_repeat),
            hidden: self.hidden.or(fallback.hidden),
            gamma: self.gamma.or(fallback.gamma),
            value_coef: self.value_coef.or(fallback.value_coef),
            q_heads: self.q_heads.or(fallback.q_heads),
            relabel: self.relabel.or(fallback.relabel),
            select_candidates: self.select_candidates.or(fallback.select_candidates),
            select_episodes: self.select_episodes.or(fallback.select_episodes),
            train_threads: self.train_threads.or(fallback.train_threads),
            train_engine: self.train_engine.or(fallback.train_engine),
            obs: self.obs.or(fallback.obs),
            camera: self.camera.or(fallback.camera),
            batch_size: self.batch_size.or(fallback.batch_size),
        }
    }

    /// The run's options: these set, the rest `umwelt learn`'s defaults.
    /// Values are checked when the run starts (`learn`), before anything
    /// is written.
    pub fn options(&self) -> Result<LearnOptions, RecipeError> {
        let robot = self.robot.as_deref().ok_or(RecipeError::Missing("robot"))?;
        let task = self.task.as_deref().ok_or(RecipeError::Missing("task"))?;
        let mut o = LearnOptions::new(robot, task);
        o.robot_config = self.robot_config.clone();
        if let Some(v) = self.steps {
            o.env_steps = v;
        }
        if let Some(v) = self.seed {
            o.seed = v;
        }
        // One seed drives everything.
        o.train.seed = o.seed;
        o.planner.seed = o.seed;
        if let Some(v) = self.seed_episodes {
            o.seed_episodes = v;
        }
        if let Some(v) = self.seed_policy {
            o.seed_policy = v;
        }
        if let Some(v) = self.explore_time {
            o.explore_time = v;
        }
        if let Some(v) = self.updates_per_step {
            o.updates_per_step = v;
        }
        if let Some(v) = self.eval_every {
            o.eval_every = v.max(1);
        }
        if let Some(v) = self.eval_episodes {
            o.eval_episodes = v;
        }
        if let Some(v) = self.samples {
            o.planner.samples = v;
            o.planner.elites = o.planner.elites.min(v);
            o.planner.policy_samples = o.planner.policy_samples.min(v.saturating_sub(1));
        }
        if let Some(v) = self.iterations {
            o.planner.iterations = v;
            o.planner.min_iterations = o.planner.min_iterations.min(v);
        }
        if let Some(v) = self.horizon {
            o.planner.horizon = v;
        }
        if let Some(v) = self.action_repeat {
            o.action_repeat = v as usize;
        }
        if let Some(v) = self.hidden {
            o.model.hidden = v;
        }
        if let Some(v) = self.gamma {
            o.train.gamma = v;
        }
        if let Some(v) = self.value_coef {
            o.train.value_coef = v;
        }
        if let Some(v) = self.q_heads {
            o.model.num_q = v as usize;
        }
        if let Some(v) = self.relabel {
            o.relabel = v;
        }
        if let Some(v) = self.select_candidates {
            o.select_candidates = v;
        }
        if let Some(v) = self.select_episodes {
            o.select_episodes = v;
        }
        if let Some(v) = self.train_threads {
            o.train_threads = v;
        }
        if let Some(v) = self.obs {
            o.obs = v;
        }
        o.train_engine = self.train_engine.unwrap_or(TrainEngine::Fused);
        o.camera.clone_from(&self.camera);
        if let Some(v) = self.batch_size {
            o.train.batch_size = v;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_wins_and_unset_keys_keep_the_defaults() {
        let file: LearnRecipe = toml::from_str(
            "robot = \"reacher\"\ntask = \"easy\"\nseed = 3\ngamma = 0.97\naction_repeat = 2\n",
        )
        .expect("recipe");
        let cli = LearnRecipe {
            seed: Some(7),
            steps: Some(2000),
            ..LearnRecipe::default()
        };
        let o = cli.or(file).options().expect("options");
        let mut want = LearnOptions::new("reacher", "easy");
        want.env_steps = 2000;
        want.seed = 7;
        want.train.seed = 7;
        want.planner.seed = 7;
        want.train.gamma = 0.97;
        want.action_repeat = 2;
        assert_eq!(o, want);
    }

    #[test]
    fn unknown_keys_and_a_missing_robot_are_refused() {
        let e = toml::from_str::<LearnRecipe>("robot = \"reacher\"\nrelable = 3\n")
            .expect_err("a misspelt key");
        assert!(e.to_string().contains("relable"), "{e}");
        let e = LearnRecipe {
            task: Some("easy".into()),
            ..LearnRecipe::default()
        }
        .options()
        .expect_err("no robot");
        assert!(e.to_string().contains("--robot"), "{e}");
    }
}
