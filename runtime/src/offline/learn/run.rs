//! The learning loop itself: seed episodes, then collect with the planner,
//! train, evaluate and save, until the budget of environment steps is spent.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::Device;
use umwelt_models::dataset::{Dataset, DatasetWriter, Episode};
use umwelt_models::world_model::{Checkpoint, Trainer, WorldModelConfig};

use super::curve::{mean_std, write_curve};
use super::error::io;
use super::hindsight::{Hindsight, TrainingSet};
use super::options::check_options;
use super::planner::{evaluate, planner_for, resolved};
use super::select::{self, CURVE_SEED_BASE, Candidate};
use super::state::TimeSplit;
use super::{CurvePoint, LearnError, LearnEvent, LearnOptions, LearnState, RunDir, write_atomic};
use crate::control::Controller;
use crate::offline::collect::record_held_episode;
use crate::offline::episode::run_controller_episode;
use crate::offline::plant::Plant;
use crate::offline::train::session::{self, CheckpointOrigin};
use crate::robot::load_robot;

/// Runs (or, with `resume`, continues) a learning run in `dir`, on
/// umwelt's simulator of the robot in-process, or, given `remote`, on a
/// robot served by a driver (every episode through the wire).
///
/// The session ends when the run's budget of environment steps is spent,
/// after `max_episodes` collected episodes (seed and planner episodes;
/// evaluations come on top), or when `stop` is set. `stop` is read before
/// every control step: the episode in progress is abandoned and not
/// written, so the dataset holds whole episodes only, and the state saved
/// lets `resume` carry on.
pub fn learn(
    options: LearnOptions,
    dir: &Path,
    resume: bool,
    remote: Option<&mut dyn Plant>,
    max_episodes: Option<usize>,
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
            dropped_blocks: 0,
            time: TimeSplit::default(),
            candidates: Vec::new(),
            selection: None,
        }
    };
    if resume {
        // A stop or crash between pruning the candidates and saving
        // learn.json leaves the two to agree again.
        select::reconcile(&run, &mut state)?;
    }
    let opts = state.options.clone();
    let repeat = opts.action_repeat;
    let robot = load_robot(&opts.robot, opts.robot_config.as_deref(), &opts.task)
        .map_err(|e| LearnError::Setup(e.to_string()))?;
    let mut sim_env = match remote {
        Some(_) => None,
        None => Some(robot.env().map_err(|e| LearnError::Setup(e.to_string()))?),
    };
    let spec = robot
        .description
        .dataset_spec()
        .map_err(|e| LearnError::Setup(e.to_string()))?;
    let mut model_cfg = WorldModelConfig {
        obs_dim: spec.obs_dim(),
        act_dim: spec.act_dim(),
        ..opts.model.clone()
    };
    if model_cfg.pixels.is_none() {
        model_cfg.pixels = super::pixels::pixel_config(&opts, &robot)?;
    }
    // Every option is checked before anything is written or collected: a
    // bad value is an error at once, not after the seed episodes.
    check_options(&opts, &model_cfg)?;
    let hindsight = if opts.relabel > 0 {
        // The goal rule is the task's: for one of umwelt's robots served by
        // a driver, it comes from the simulator's task all the same.
        let relabel = match (&sim_env, &robot.sim) {
            (Some(e), _) => e.goal_relabel()?,
            (None, Some(_)) => robot
                .env()
                .map_err(|e| LearnError::Setup(e.to_string()))?
                .goal_relabel()?,
            (None, None) => {
                return Err(LearnError::Setup(
                    "--relabel needs a goal rule, which only umwelt's own tasks have; not with a described robot".into(),
                ));
            }
        };
        Some(Hindsight {
            relabel,
            copies: opts.relabel,
            seed: opts.seed,
        })
    } else {
        None
    };
    let hindsight = hindsight.as_ref();
    // The camera whose frames every recorded episode keeps (a pixel model's).
    let camera = model_cfg.pixels.as_ref().map(|p| p.camera.clone());
    let env: &mut dyn Plant = match (remote, sim_env.as_mut()) {
        (Some(p), _) => p,
        (None, Some(e)) => e,
        (None, None) => return Err(LearnError::Setup("internal: no robot to learn on".into())),
    };
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
    if !resume {
        // A dataset left by a run stopped before it saved its state: its
        // episodes count as collected.
        state.episodes = episodes.len();
    }
    let session = Instant::now();
    let wall0 = state.wall_s;
    let wall = |s: &Instant| wall0 + s.elapsed().as_secs_f64();

    let mut collected = 0usize;
    let spent = |collected: usize| max_episodes.is_some_and(|m| collected >= m);
    let mut empty = 0usize;
    // Seed episodes: a model-free policy.
    while state.episodes < opts.seed_episodes && !stop.load(Ordering::SeqCst) && !spent(collected) {
        let seed = opts.seed.wrapping_add(writer.next_index());
        let t = Instant::now();
        let held = record_held_episode(
            env,
            opts.seed_exploration(),
            seed,
            repeat,
            camera.as_deref(),
            stop,
        )?;
        state.time.seed_episodes_s += t.elapsed().as_secs_f64();
        let Some(e) = held else {
            // Stopped, or cut before its first step: then try again, but
            // not forever.
            empty += 1;
            if empty >= MAX_EMPTY_EPISODES && !stop.load(Ordering::SeqCst) {
                return Err(LearnError::Setup(format!(
                    "{empty} episodes in a row ended before their first step (frames lost, or the \
                     driver began episodes of its own): is the robot's link sound?"
                )));
            }
            continue;
        };
        empty = 0;
        collected += 1;
        state.env_steps += e.len() as u64;
        state.episodes += 1;
        let ret = e.episode_return();
        let pieces = store(e, repeat, hindsight, &mut writer, &mut set)?;
        state.dropped_blocks += pieces.dropped as u64;
        episodes.extend(pieces.episodes);
        state.wall_s = wall(&session);
        // Saved as it goes: a stopped run resumes where it was.
        save_state(&run, &mut state)?;
        on_event(LearnEvent::Collected {
            env_steps: state.env_steps,
            ret,
            planner: false,
        });
    }
    if stop.load(Ordering::SeqCst) || state.episodes < opts.seed_episodes {
        // Stopped, or the session's budget ended the seed episodes: they
        // are written; a resumed run collects the rest.
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
        t.set_threads(opts.train_threads);
        t.set_engine(opts.train_engine)?;
        // Unlike `umwelt train`, a sidecar that cannot be used stops the
        // run: its own files should never disagree.
        if session::restore_adam(&mut t, &run.model())? == session::Restored::MomentsOnly {
            on_event(LearnEvent::Warning(&session::inexact_resume(&run.model())));
        }
        t
    } else {
        let mut t = session::new_trainer(
            &spec,
            &model_cfg,
            opts.train.clone(),
            &episodes,
            &set.blocks,
            &device,
        )?;
        t.set_hindsight_episodes(set.copies);
        t.set_threads(opts.train_threads);
        t.set_engine(opts.train_engine)?;
        // Pre-train on the seed data, as TD-MPC2 does.
        let n = (state.env_steps as f64 * opts.updates_per_step).round() as u64;
        let t0 = Instant::now();
        let last = session::run_updates(&mut t, n, Some(stop), |i, losses| {
            state.updates += 1;
            if i % 100 == 99 {
                on_event(LearnEvent::Trained {
                    updates: state.updates,
                    losses,
                });
            }
        });
        state.time.train_s += t0.elapsed().as_secs_f64();
        on_event(LearnEvent::Trained {
            updates: state.updates,
            losses: &last,
        });
        t
    };
    let gamma = opts.train.gamma;
    let collect_cfg = resolved(&opts, true, opts.seed)?;
    let eval_cfg = resolved(&opts, false, opts.seed)?;
    // Counted from the last evaluation (or the seed episodes), not from
    // this session's start: a run stopped and resumed evaluates at the
    // episodes an uninterrupted run would, and one resumed a few episodes
    // at a time (`--max-episodes` on hardware) still evaluates at all. An
    // evaluation a stop interrupted is made up after the next episode.
    let evaluated_at = state
        .curve
        .last()
        .map_or(opts.seed_episodes, |p| p.episodes);
    let mut since_eval = state.episodes.saturating_sub(evaluated_at);
    let origin = CheckpointOrigin {
        spec: &spec,
        model: &model_cfg,
        action_repeat: repeat as u32,
    };
    let save = |trainer: &Trainer, state: &mut LearnState| -> Result<(), LearnError> {
        let t = Instant::now();
        session::save_checkpoint(&run.model(), trainer, &origin, None)?;
        state.time.save_s += t.elapsed().as_secs_f64();
        save_state(&run, state)
    };
    while state.env_steps < opts.env_steps && !stop.load(Ordering::SeqCst) && !spent(collected) {
        let model = trainer.inference_model();
        let mut mpc = planner_for(&collect_cfg, &model, trainer.normalization(), gamma)?;
        mpc.reseed(opts.seed.wrapping_add(state.episodes as u64));
        let seed = opts.seed.wrapping_add(writer.next_index());
        let t = Instant::now();
        let ran = run_controller_episode(
            &collect_cfg,
            env,
            &mut mpc,
            seed,
            true,
            camera.as_deref(),
            Some(stop),
        )?;
        let plan_s = ran.controller_us.iter().map(|&us| us as f64).sum::<f64>() * 1e-6;
        state.time.plan_s += plan_s;
        state.time.robot_s += (t.elapsed().as_secs_f64() - plan_s).max(0.0);
        if ran.stopped {
            break;
        }
        collected += 1;
        let Some(e) = ran.record else {
            return Err(LearnError::Setup("internal: episode not recorded".into()));
        };
        let len = e.len();
        state.dropped_blocks += store(e, repeat, hindsight, &mut writer, &mut set)?.dropped as u64;
        state.env_steps += len as u64;
        state.episodes += 1;
        let last_collect = ran.ret;
        on_event(LearnEvent::Collected {
            env_steps: state.env_steps,
            ret: ran.ret,
            planner: true,
        });
        let n = (len as f64 * opts.updates_per_step).round() as u64;
        trainer.set_episodes(&set.blocks)?;
        trainer.set_hindsight_episodes(set.copies);
        // A round of updates is never cut short: the stop flag is read
        // between episodes.
        let t = Instant::now();
        let last = session::run_updates(&mut trainer, n, None, |_, _| state.updates += 1);
        state.time.train_s += t.elapsed().as_secs_f64();
        on_event(LearnEvent::Trained {
            updates: state.updates,
            losses: &last,
        });
        since_eval += 1;
        let done = state.env_steps >= opts.env_steps;
        if since_eval >= opts.eval_every || done {
            since_eval = 0;
            let t = Instant::now();
            let evaluated = evaluate(
                &eval_cfg,
                env,
                &trainer.inference_model(),
                trainer.normalization(),
                gamma,
                (CURVE_SEED_BASE, opts.eval_episodes),
                opts.seed,
                stop,
            )?;
            state.time.eval_s += t.elapsed().as_secs_f64();
            let Some((returns, successes)) = evaluated else {
                // Stopped: the episode and its updates are kept, the
                // evaluation is not.
                break;
            };
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
            let t = Instant::now();
            write_curve(&run, &state)?;
            state.time.save_s += t.elapsed().as_secs_f64();
            state.wall_s = wall(&session);
            save(&trainer, &mut state)?;
            let t = Instant::now();
            if improved {
                let bytes = std::fs::read(run.model()).map_err(io(&run.model()))?;
                write_atomic(&run.best(), &bytes)?;
            }
            if opts.select_episodes > 0 {
                let new = Candidate {
                    env_steps: state.env_steps,
                    curve_return: Some(mean),
                };
                select::keep(&run, &mut state, new, opts.select_candidates)?;
            }
            state.time.save_s += t.elapsed().as_secs_f64();
            save_state(&run, &mut state)?;
            continue;
        }
        state.wall_s = wall(&session);
        save(&trainer, &mut state)?;
    }
    state.wall_s = wall(&session);
    save(&trainer, &mut state)?;
    let selected = state.selection.as_ref().map(|s| s.env_steps);
    if state.env_steps >= opts.env_steps
        && opts.select_episodes > 0
        && selected != Some(state.env_steps)
        && !stop.load(Ordering::SeqCst)
    {
        // The budget is spent: choose what ships on seeds nothing else
        // used. A run stopped before its end selects nothing; one resumed
        // with a larger budget selects again at its new end.
        let selector = select::Selector {
            run: &run,
            spec: &spec,
            device: &device,
            eval_cfg: &eval_cfg,
            gamma,
            dataset_len: writer.next_index(),
            stop,
        };
        let chosen = select::select(&selector, &mut state, env, on_event)?;
        if let Some(sel) = chosen {
            on_event(LearnEvent::Selected(&sel));
            state.selection = Some(sel);
        }
        state.wall_s = wall(&session);
        save_state(&run, &mut state)?;
    }
    Ok(state)
}

/// `learn.json`, written atomically, with the time split closed on the
/// run's wall time (the rest is `other`).
fn save_state(run: &RunDir, state: &mut LearnState) -> Result<(), LearnError> {
    state.time.close(state.wall_s);
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| LearnError::Setup(format!("learn.json: {e}")))?;
    write_atomic(&run.state(), &json)
}

/// What [`store`] wrote of an episode.
struct Stored {
    /// The pieces written, in order.
    episodes: Vec<Episode>,
    /// Blocks of `repeat` steps left out: their action changed inside them.
    dropped: usize,
}

/// Writes episode `e` into the dataset and the training set: whole, or, on
/// a real-time robot where late commands changed an action inside a block
/// of `repeat` steps, the pieces around such blocks
/// ([`Episode::split_held`]). Each piece is checked before it is written:
/// nothing the model cannot learn from lands in the dataset.
fn store(
    e: Episode,
    repeat: usize,
    hindsight: Option<&Hindsight>,
    writer: &mut DatasetWriter,
    set: &mut TrainingSet,
) -> Result<Stored, LearnError> {
    let (pieces, dropped) = e.split_held(repeat);
    for p in &pieces {
        set.add(p, writer.len(), repeat, hindsight)?;
        writer.write(p)?;
    }
    Ok(Stored {
        episodes: pieces,
        dropped,
    })
}

/// Seed episodes in a row that may end before their first step before the
/// run gives up on the robot.
const MAX_EMPTY_EPISODES: usize = 10;
