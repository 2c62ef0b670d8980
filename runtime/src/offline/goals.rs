//! Goal-reaching evaluation, as DINO-WM and V-JEPA 2-AC evaluate: for each
//! seed, a demonstrator (the oracle planner over the true simulator) plays
//! the task's episode, and where it ends becomes the goal: the image the
//! model's camera saw there (a pixel model) or the observation vector (a
//! state model). The controller under test then plays the same seed
//! planning towards that goal alone (latent distance, never the task's
//! reward), and the task's success rule judges where it ends.
//!
//! Where the task's reward is a distance to a target that the observation
//! carries as a robot-to-target vector (the reacher's, the arm's reach),
//! each episode also says how far the controller ended from where the
//! demonstration ended: both episodes share the seed's target, so the
//! difference of their final robot-to-target vectors is the distance
//! between the two end points. Within the task's full-reward distance
//! counts as reached. This judges goal reaching even where the
//! demonstrator missed the task's target.
//!
//! Goal images are written as PNG files (what `objective.kind =
//! "goal_image"` reads, and what people look at), so the planner reads
//! each goal exactly as a user's goal image would be read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use umwelt_sim::Env;

use super::episode::run_controller_episode;
use super::eval::EvalError;
use crate::control::config::{ControllerConfig, RunConfig};
use crate::control::resolve::Resolved;
use crate::control::{self, ControllerError};
use crate::plan::{GoalDistance, Objective};
use crate::view::png::write_png;
use crate::wire::{Image, ImageEncoding};

/// One goal episode.
#[derive(Clone, Debug, Serialize)]
pub struct GoalEpisode {
    /// Episode index (seed = base seed + index).
    pub index: usize,
    /// The seed of both episodes: start state and task target.
    pub seed: u64,
    /// The demonstrator's return on the task.
    pub demo_return: f64,
    /// Whether the demonstrator met the task's success rule (its end is
    /// the goal, so an unsuccessful demonstration shows a goal that does
    /// not meet the task).
    pub demo_success: bool,
    /// The goal-seeking controller's return on the task (reported, never
    /// planned for).
    #[serde(rename = "return")]
    pub ret: f64,
    /// Whether it met the task's success rule.
    pub success: bool,
    /// Metres between where it ended and where the demonstration ended
    /// (see the module docs); `None` for a task without a target vector.
    pub goal_distance: Option<f64>,
    /// `goal_distance` is within the task's full-reward distance.
    pub reached: Option<bool>,
    /// The goal image's file, for a pixel model.
    pub goal_image: Option<String>,
}

/// What the goals are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    /// Observation vectors (`objective.kind = "goal"`).
    Observation,
    /// Camera images (`objective.kind = "goal_image"`).
    Image,
}

/// Runs `episodes` goal episodes (seeds `seed`, `seed + 1`, ...) of the
/// learned MPC controller of `r`, with goals from the demonstrations of
/// `demo`, one after another. Goal images go to `images_dir`
/// (`goal_<seed>.png`). The goals are images when the controller's model
/// sees a camera, observation vectors otherwise; the controller measures
/// closeness to them as `distance` says. `on_done` hears each episode.
#[allow(clippy::too_many_arguments)]
pub fn goal_episodes(
    r: &Resolved,
    demo: &Resolved,
    distance: GoalDistance,
    episodes: usize,
    seed: u64,
    images_dir: &Path,
    stop: &AtomicBool,
    on_done: &dyn Fn(&GoalEpisode),
) -> Result<(GoalKind, Vec<GoalEpisode>), EvalError> {
    let ControllerConfig::Mpc(_) = &r.config.controller else {
        return Err(EvalError::Setup(
            "goal episodes need a learned MPC controller (controller.kind = \"mpc\")".into(),
        ));
    };
    let sim = r.sim.clone().ok_or_else(|| {
        EvalError::Setup("goal episodes run in-process: a robot umwelt simulates".into())
    })?;
    let mut env =
        Env::from_config(sim, &r.description.task.name).map_err(|source| EvalError::Sim {
            index: 0,
            seed,
            source,
        })?;
    // The camera the model sees, if any (the config's own objective aside).
    let camera = control::build(&with_objective(r, Objective::Task)?)?
        .cameras()
        .into_iter()
        .next();
    let kind = if camera.is_some() {
        GoalKind::Image
    } else {
        GoalKind::Observation
    };
    if camera.is_some() {
        std::fs::create_dir_all(images_dir)
            .map_err(|e| EvalError::Setup(format!("creating {}: {e}", images_dir.display())))?;
    }
    // Where the observation holds the robot-to-target vector, if it does.
    let target = env.goal_relabel().ok();
    let mut demonstrator = control::build(demo)?;
    let mut out = Vec::with_capacity(episodes);
    for index in 0..episodes {
        if stop.load(Ordering::SeqCst) {
            return Err(EvalError::Stopped {
                done: index,
                total: episodes,
            });
        }
        let s = seed.wrapping_add(index as u64);
        let plant = |source| EvalError::Plant {
            index,
            seed: s,
            source,
        };
        demonstrator.reseed(s);
        let shown = run_controller_episode(
            demo,
            &mut env,
            demonstrator.as_mut(),
            s,
            true,
            camera.as_deref(),
            Some(stop),
        )
        .map_err(plant)?;
        if shown.stopped {
            return Err(EvalError::Stopped {
                done: index,
                total: episodes,
            });
        }
        let record = shown
            .record
            .as_ref()
            .ok_or_else(|| EvalError::Setup("the demonstration kept no record".into()))?;
        let last = record.len();
        let (objective, goal_image) = match &camera {
            None => (
                Objective::Goal {
                    observation: record.obs(last).to_vec(),
                    distance,
                },
                None,
            ),
            Some(name) => {
                let frames = record.frames.as_ref().ok_or_else(|| {
                    EvalError::Setup("the demonstration kept no camera frames".into())
                })?;
                let image = Image {
                    name: name.clone(),
                    width: frames.width(),
                    height: frames.height(),
                    encoding: ImageEncoding::for_channels(usize::from(frames.channels()))
                        .ok_or_else(|| {
                            EvalError::Setup(format!(
                                "the demonstration's frames have {} bytes per pixel; 1 or 3 make an image",
                                frames.channels()
                            ))
                        })?,
                    data: frames.frame(frames.len() - 1).to_vec(),
                };
                let path = images_dir.join(format!("goal_{s}.png"));
                write_png(&image, 1, &path).map_err(|e| EvalError::Setup(e.to_string()))?;
                (
                    Objective::GoalImage {
                        image: path.clone(),
                        distance,
                    },
                    Some(path),
                )
            }
        };
        let seeker_config = with_objective(r, objective)?;
        let mut seeker = control::build(&seeker_config)?;
        seeker.reseed(s);
        let run = run_controller_episode(
            &seeker_config,
            &mut env,
            seeker.as_mut(),
            s,
            target.is_some(),
            None,
            Some(stop),
        )
        .map_err(plant)?;
        let goal_distance = match (&target, &run.record) {
            (Some(t), Some(ended)) => Some(t.distance(ended.obs(ended.len()), record.obs(last))),
            _ => None,
        };
        if run.stopped {
            return Err(EvalError::Stopped {
                done: index,
                total: episodes,
            });
        }
        let e = GoalEpisode {
            index,
            seed: s,
            demo_return: shown.ret,
            demo_success: shown.success,
            ret: run.ret,
            success: run.success,
            goal_distance,
            reached: goal_distance
                .zip(target.as_ref())
                .map(|(d, t)| d <= t.goal_reward().within),
            goal_image: goal_image.map(|p: PathBuf| p.display().to_string()),
        };
        on_done(&e);
        out.push(e);
    }
    Ok((kind, out))
}

/// `r` with its MPC controller planning for `objective`.
fn with_objective(r: &Resolved, objective: Objective) -> Result<Resolved, EvalError> {
    let mut controller = r.config.controller.clone();
    if let ControllerConfig::Mpc(m) = &mut controller {
        m.objective = objective;
    }
    let cfg = RunConfig {
        controller,
        ..r.config.clone()
    };
    cfg.resolve("goal evaluation")
        .map_err(|e| EvalError::Controller(ControllerError::Setup(e.to_string())))
}
