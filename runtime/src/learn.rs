//! `umwelt learn`: the model-based learning loop. Seed episodes from a
//! random policy, then repeat: collect an episode with the planner over the
//! current model (with exploration noise), train the model further,
//! evaluate it without noise every few episodes, checkpoint. Everything
//! lives in one directory, so a stopped run resumes where it was.
//!
//! ```text
//! OUT/data/           the dataset (one checksummed file per episode)
//! OUT/model.uwwm      the latest checkpoint
//! OUT/best.uwwm       the checkpoint of the best evaluation so far
//! OUT/learn.json      options and progress (what --resume reads)
//! OUT/curve.csv       evaluation return against environment steps
//! OUT/curve.svg       the same, plotted
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use umwelt_models::dataset::{Dataset, DatasetError, DatasetWriter, Episode};
use umwelt_models::world_model::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointError, CheckpointMeta, LossTerms, ModelError,
    Normalization, Precision, TrainConfig, Trainer, WorldModel, WorldModelConfig,
};
use umwelt_sim::{Env, GoalRelabel, RobotConfig, RobotKind, SimError};

use crate::control::Controller;
use crate::control::config::{ControllerConfig, RunConfig};
use crate::control::mpc::{Mpc, MpcConfig, MpcModel, Objective};
use crate::control::resolve::Resolved;
use crate::offline::collect::{dataset_spec, record_held_episode};
use crate::offline::episode::run_controller_episode;
use crate::offline::rollout::SimplePolicy;
use crate::plan::{LearnedModel, PlannerConfig};

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
    /// Random-policy episodes before the planner takes over.
    pub seed_episodes: usize,
    /// Gradient updates per environment step collected.
    pub updates_per_step: f64,
    /// Evaluate after every this many planner episodes.
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
}

fn one() -> usize {
    1
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
        }
    }
}

/// One evaluation on the learning curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Environment steps collected so far.
    pub env_steps: u64,
    /// Episodes collected so far (seed episodes included).
    pub episodes: usize,
    /// Gradient updates so far.
    pub updates: u64,
    /// Wall time of the run so far, seconds.
    pub wall_s: f64,
    /// Mean return of the evaluation episodes.
    pub eval_return: f64,
    /// Standard deviation of those returns.
    pub eval_return_std: f64,
    /// Share of evaluation episodes that met the task's success rule.
    pub eval_success: f64,
    /// Return of the last collected (exploring) episode.
    pub collect_return: f64,
}

/// Progress of a run, saved after every episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnState {
    /// The settings.
    pub options: LearnOptions,
    /// Environment steps collected.
    pub env_steps: u64,
    /// Episodes collected.
    pub episodes: usize,
    /// Gradient updates made.
    pub updates: u64,
    /// Wall time spent, seconds (over all sessions of the run).
    pub wall_s: f64,
    /// The evaluations.
    pub curve: Vec<CurvePoint>,
    /// Highest evaluation return so far (its checkpoint is `best.uwwm`).
    #[serde(default)]
    pub best_eval_return: Option<f64>,
}

/// What the loop reports as it goes.
#[derive(Debug)]
pub enum LearnEvent<'a> {
    /// An episode was collected (`planner` false: a random seed episode).
    Collected {
        /// Environment steps so far.
        env_steps: u64,
        /// Its return.
        ret: f64,
        /// Whether the planner (rather than the random policy) acted.
        planner: bool,
    },
    /// A round of updates finished.
    Trained {
        /// Updates so far.
        updates: u64,
        /// The last update's losses.
        losses: &'a LossTerms,
    },
    /// An evaluation finished.
    Evaluated(&'a CurvePoint),
}

/// Why learning stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// Bad options or an output directory in the way.
    #[error("{0}")]
    Setup(String),
    /// The dataset could not be read or written.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The model or trainer refused.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LearnError + '_ {
    move |source| LearnError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The paths of a run directory.
pub struct RunDir {
    /// The directory.
    pub root: PathBuf,
}

impl RunDir {
    /// The dataset directory.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// The latest checkpoint.
    pub fn model(&self) -> PathBuf {
        self.root.join("model.uwwm")
    }
    /// Options and progress.
    pub fn state(&self) -> PathBuf {
        self.root.join("learn.json")
    }
    /// The checkpoint of the best evaluation so far.
    pub fn best(&self) -> PathBuf {
        self.root.join("best.uwwm")
    }
    /// The learning curve as CSV.
    pub fn curve_csv(&self) -> PathBuf {
        self.root.join("curve.csv")
    }
    /// The learning curve as SVG.
    pub fn curve_svg(&self) -> PathBuf {
        self.root.join("curve.svg")
    }
}

/// [`umwelt_models::atomic::write_atomic`]: a crash leaves either the old
/// or the new file, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LearnError> {
    umwelt_models::atomic::write_atomic(path, bytes).map_err(io(path))
}

fn resolved(opts: &LearnOptions, explore: bool, seed: u64) -> Result<Resolved, LearnError> {
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

fn planner_for(
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

/// Most hindsight copies per episode: beyond a few, the copies crowd the
/// episodes' own rewards out of the batches.
const MAX_RELABEL: usize = 16;

/// Hindsight relabelling of a run's episodes.
struct Hindsight {
    relabel: GoalRelabel,
    copies: usize,
    seed: u64,
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
struct TrainingSet {
    blocks: Vec<Episode>,
    copies: usize,
}

impl TrainingSet {
    /// Adds recorded episode number `index` (see [`training_blocks`]).
    fn add(
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

/// The options' own checks (model sizes with the robot's dimensions,
/// training, planner, action repeat), with the option named.
fn check_options(opts: &LearnOptions, model: &WorldModelConfig) -> Result<(), LearnError> {
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
    if opts.relabel > MAX_RELABEL {
        return Err(LearnError::Setup(format!(
            "--relabel {}: at most {MAX_RELABEL} hindsight copies of an episode",
            opts.relabel
        )));
    }
    model.validate().map_err(|e| bad("model", e))?;
    opts.train
        .validate()
        .map_err(|e| bad("training options", e))?;
    opts.planner.validate().map_err(|e| bad("planner", e))
}

/// Runs (or, with `resume`, continues) a learning run in `dir`.
pub fn learn(
    options: LearnOptions,
    dir: &Path,
    resume: bool,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(LearnEvent<'_>),
) -> Result<LearnState, LearnError> {
    let run = RunDir {
        root: dir.to_path_buf(),
    };
    let mut state = if resume {
        let text = std::fs::read_to_string(run.state()).map_err(io(&run.state()))?;
        let mut s: LearnState = serde_json::from_str(&text)
            .map_err(|e| LearnError::Setup(format!("{}: {e}", run.state().display())))?;
        // A resumed run may be given a larger budget.
        s.options.env_steps = s.options.env_steps.max(options.env_steps);
        s
    } else {
        if run.state().exists() {
            return Err(LearnError::Setup(format!(
                "{} already holds a learning run; pass --resume to continue it, or choose another --out",
                dir.display()
            )));
        }
        LearnState {
            options,
            env_steps: 0,
            episodes: 0,
            updates: 0,
            wall_s: 0.0,
            curve: Vec::new(),
            best_eval_return: None,
        }
    };
    let opts = state.options.clone();
    let repeat = opts.action_repeat;
    let robot_cfg = match &opts.robot_config {
        Some(p) => RobotConfig::load(p)?,
        None => RobotConfig::builtin(RobotKind::from_name(&opts.robot)?),
    };
    let mut env = Env::from_config(robot_cfg, &opts.task)?;
    let spec = dataset_spec(&env);
    let mut model_cfg = WorldModelConfig {
        obs_dim: spec.obs_dim(),
        act_dim: spec.act_dim(),
        ..opts.model.clone()
    };
    // Every option is checked before anything is written or collected: a
    // bad value is an error at once, not after the seed episodes.
    check_options(&opts, &model_cfg)?;
    let hindsight = if opts.relabel > 0 {
        Some(Hindsight {
            relabel: env.goal_relabel()?,
            copies: opts.relabel,
            seed: opts.seed,
        })
    } else {
        None
    };
    let hindsight = hindsight.as_ref();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut writer = DatasetWriter::create_or_append(run.data(), &spec)?;
    // The episodes as recorded are needed only to fit the normalisation of
    // a new run (below); the model trains on them in blocks of `repeat`,
    // with their hindsight copies. An episode's index is its place in the
    // dataset (`writer.len()` before it is written), as loaded here.
    let mut episodes: Vec<Episode> = Dataset::open(run.data())?.load_all()?;
    let mut set = TrainingSet::default();
    for (i, e) in episodes.iter().enumerate() {
        set.add(e, i, repeat, hindsight)?;
    }
    let session = Instant::now();
    let wall0 = state.wall_s;
    let wall = |s: &Instant| wall0 + s.elapsed().as_secs_f64();

    // Seed episodes: a random policy.
    while episodes.len() < opts.seed_episodes && !stop.load(Ordering::SeqCst) {
        let seed = opts.seed.wrapping_add(writer.next_index());
        let Some(e) = record_held_episode(&mut env, SimplePolicy::Random, seed, repeat, stop)?
        else {
            break;
        };
        set.add(&e, writer.len(), repeat, hindsight)?;
        writer.write(&e)?;
        state.env_steps += e.len() as u64;
        state.episodes += 1;
        on_event(LearnEvent::Collected {
            env_steps: state.env_steps,
            ret: e.episode_return(),
            planner: false,
        });
        episodes.push(e);
    }
    if stop.load(Ordering::SeqCst) {
        return Ok(state);
    }

    let device = Device::flex();
    let mut trainer = if resume && run.model().exists() {
        let ck = Checkpoint::load_for(run.model(), &spec, &device)?;
        model_cfg = ck.meta.model.clone();
        if ck.meta.action_repeat as usize != repeat {
            return Err(LearnError::Setup(format!(
                "{}: the checkpoint has an action repeat of {}, learn.json {repeat}",
                run.model().display(),
                ck.meta.action_repeat
            )));
        }
        let mut t = Trainer::resume(&ck, opts.train.clone(), &set.blocks, &device)?;
        t.set_hindsight_episodes(set.copies);
        if let Some(adam) = Checkpoint::load_optimizer(run.model())? {
            t.restore_optimizer_state(&adam)?;
        }
        t
    } else {
        let norm = Normalization::fit(&spec, &episodes);
        let mut t = Trainer::new(&model_cfg, opts.train.clone(), norm, &set.blocks, &device)?;
        t.set_hindsight_episodes(set.copies);
        // Pre-train on the seed data, as TD-MPC2 does.
        let n = (state.env_steps as f64 * opts.updates_per_step).round() as u64;
        let mut last = LossTerms::default();
        for i in 0..n {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            last = t.step();
            state.updates += 1;
            if i % 100 == 99 {
                on_event(LearnEvent::Trained {
                    updates: state.updates,
                    losses: &last,
                });
            }
        }
        on_event(LearnEvent::Trained {
            updates: state.updates,
            losses: &last,
        });
        t
    };
    let gamma = opts.train.gamma;
    let collect_cfg = resolved(&opts, true, opts.seed)?;
    let eval_cfg = resolved(&opts, false, opts.seed)?;
    let mut since_eval = 0usize;
    let save = |trainer: &Trainer, state: &LearnState| -> Result<(), LearnError> {
        let meta = CheckpointMeta {
            format_version: CHECKPOINT_VERSION,
            spec: spec.clone(),
            model: model_cfg.clone(),
            normalization: trainer.normalization().clone(),
            train: trainer.summary().clone(),
            prediction: None,
            action_repeat: repeat as u32,
        };
        // Adam's moments go into the sidecar, so --resume continues the
        // optimiser where it was.
        let adam = trainer.optimizer_state()?;
        Checkpoint::save_with_optimizer(
            run.model(),
            &trainer.inference_model(),
            &meta,
            Some(&adam),
        )?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| LearnError::Setup(format!("learn.json: {e}")))?;
        write_atomic(&run.state(), &json)
    };
    while state.env_steps < opts.env_steps && !stop.load(Ordering::SeqCst) {
        let model = trainer.inference_model();
        let mut mpc = planner_for(&collect_cfg, &model, trainer.normalization(), gamma)?;
        mpc.reseed(opts.seed.wrapping_add(state.episodes as u64));
        let seed = opts.seed.wrapping_add(writer.next_index());
        let ran = run_controller_episode(&collect_cfg, &mut env, &mut mpc, seed, true)?;
        let Some(e) = ran.record else {
            return Err(LearnError::Setup("internal: episode not recorded".into()));
        };
        // Checked before writing: an episode the model cannot learn from
        // (an action changed inside a block, e.g. a safe command after a
        // controller failure) must not land in the dataset.
        set.add(&e, writer.len(), repeat, hindsight)?;
        writer.write(&e)?;
        state.env_steps += e.len() as u64;
        state.episodes += 1;
        let last_collect = ran.ret;
        on_event(LearnEvent::Collected {
            env_steps: state.env_steps,
            ret: ran.ret,
            planner: true,
        });
        let n = (e.len() as f64 * opts.updates_per_step).round() as u64;
        trainer.set_episodes(&set.blocks)?;
        trainer.set_hindsight_episodes(set.copies);
        let mut last = LossTerms::default();
        for _ in 0..n {
            last = trainer.step();
            state.updates += 1;
        }
        on_event(LearnEvent::Trained {
            updates: state.updates,
            losses: &last,
        });
        since_eval += 1;
        let done = state.env_steps >= opts.env_steps;
        if since_eval >= opts.eval_every || done {
            since_eval = 0;
            let model = trainer.inference_model();
            let mut returns = Vec::new();
            let mut successes = 0usize;
            for i in 0..opts.eval_episodes {
                let mut mpc = planner_for(&eval_cfg, &model, trainer.normalization(), gamma)?;
                mpc.reseed(opts.seed.wrapping_add(1_000_000 + i as u64));
                // Fixed evaluation seeds: the curve compares like with like.
                let r = run_controller_episode(
                    &eval_cfg,
                    &mut env,
                    &mut mpc,
                    1_000_000 + i as u64,
                    false,
                )?;
                returns.push(r.ret);
                successes += usize::from(r.success);
            }
            let (mean, std) = mean_std(&returns);
            state.wall_s = wall(&session);
            let point = CurvePoint {
                env_steps: state.env_steps,
                episodes: state.episodes,
                updates: state.updates,
                wall_s: state.wall_s,
                eval_return: mean,
                eval_return_std: std,
                eval_success: successes as f64 / opts.eval_episodes.max(1) as f64,
                collect_return: last_collect,
            };
            on_event(LearnEvent::Evaluated(&point));
            let improved = state.best_eval_return.is_none_or(|b| point.eval_return > b);
            if improved {
                state.best_eval_return = Some(point.eval_return);
            }
            state.curve.push(point);
            write_curve(&run, &state)?;
            state.wall_s = wall(&session);
            save(&trainer, &state)?;
            if improved {
                let bytes = std::fs::read(run.model()).map_err(io(&run.model()))?;
                write_atomic(&run.best(), &bytes)?;
            }
            continue;
        }
        state.wall_s = wall(&session);
        save(&trainer, &state)?;
    }
    state.wall_s = wall(&session);
    save(&trainer, &state)?;
    Ok(state)
}

/// Mean and (population) standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn write_curve(run: &RunDir, state: &LearnState) -> Result<(), LearnError> {
    let mut csv = String::from(
        "env_steps,episodes,updates,wall_s,eval_return,eval_return_std,eval_success,collect_return\n",
    );
    for p in &state.curve {
        csv.push_str(&format!(
            "{},{},{},{:.1},{:.2},{:.2},{:.3},{:.2}\n",
            p.env_steps,
            p.episodes,
            p.updates,
            p.wall_s,
            p.eval_return,
            p.eval_return_std,
            p.eval_success,
            p.collect_return
        ));
    }
    write_atomic(&run.curve_csv(), csv.as_bytes())?;
    let title = format!(
        "umwelt learn: {}/{} (seed {})",
        state.options.robot, state.options.task, state.options.seed
    );
    let svg = crate::plot::learning_curve_svg(&title, &state.curve)
        .map_err(|e| LearnError::Setup(format!("plot: {e}")))?;
    write_atomic(&run.curve_svg(), svg.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::collect::record_held_episode;

    fn random_reacher_episode(env: &mut Env, seed: u64) -> Episode {
        let stop = AtomicBool::new(false);
        record_held_episode(env, SimplePolicy::Random, seed, 2, &stop)
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
