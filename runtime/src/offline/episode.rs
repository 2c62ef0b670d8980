//! One episode in-process and in lockstep: the simulator steps only when the
//! controller has answered. The controller is called exactly as the control
//! loop calls it (observation from the config's feature map, a deadline one
//! period ahead, panics caught, the safety layer's clamp and slew limit, the
//! safe action on any failure), so headless evaluation and data collection
//! exercise the code that runs on the robot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use umwelt_models::dataset::Episode;

use crate::offline::plant::{Plant, PlantError, PlantStep};

use crate::control::safety::{Interventions, Safety};
use crate::control::tick;
use crate::control::{ControlInput, Controller, Resolved};

/// What happened in one episode.
#[derive(Clone, Debug, Default)]
pub struct EpisodeRun {
    /// The episode's seed.
    pub seed: u64,
    /// Sum of rewards.
    pub ret: f64,
    /// Control steps taken.
    pub length: u32,
    /// The task's success rule at the last step.
    pub success: bool,
    /// Largest single-step reward.
    pub max_reward: f32,
    /// Each step's reward.
    pub rewards: Vec<f32>,
    /// Each step's command after the safety layer, `length x act_dim`.
    pub actions: Vec<f32>,
    /// Controller time of each tick, microseconds.
    pub controller_us: Vec<f32>,
    /// Ticks whose controller took longer than the control period.
    pub deadline_misses: u64,
    /// Why and how often the safety layer stepped in.
    pub interventions: Interventions,
    /// Steps whose command the robot did not apply as sent (it arrived
    /// late); the record holds what was applied.
    pub late: u64,
    /// The episode ended early at an unknown transition (frames lost).
    pub cut: bool,
    /// The episode was abandoned when asked to stop (Ctrl-C): its record,
    /// if any, is incomplete and must not be kept.
    pub stopped: bool,
    /// The episode as a dataset record (observation vectors, commands,
    /// rewards, end flags), when asked for.
    pub record: Option<Episode>,
}

/// Runs `controller` on `env` (a simulator, or a robot behind its driver)
/// for one episode from `seed`. `record` keeps the trajectory for a
/// dataset, with the actions the robot really applied, and with the images
/// of camera `frames` when given (what a pixel model learns from). Plant errors end the
/// run with the error; controller failures never do (the safe action is
/// commanded and counted). A cut (an unknown transition) ends the episode,
/// truncated, before that step. `stop`, checked before every step, ends
/// the episode at once with [`EpisodeRun::stopped`] set (a robot behind a
/// driver is then left to its safe action when its command expires).
pub fn run_controller_episode(
    r: &Resolved,
    env: &mut dyn Plant,
    controller: &mut dyn Controller,
    seed: u64,
    record: bool,
    frames: Option<&str>,
    stop: Option<&AtomicBool>,
) -> Result<EpisodeRun, PlantError> {
    let period = Duration::from_secs_f64(r.period);
    let mut safety = Safety::new(r.limits.clone(), r.slew.clone());
    let n_act = env.action_entries().len();
    let mut obs_vec = Vec::with_capacity(r.observation.len());
    let mut action = vec![0.0f32; n_act];
    let mut run = EpisodeRun {
        seed,
        max_reward: f32::NEG_INFINITY,
        ..EpisodeRun::default()
    };
    // The cameras the controller reads, then the one the record keeps.
    let mut cameras = controller.cameras();
    let kept = frames.filter(|_| record).map(|name| {
        cameras.iter().position(|c| c == name).unwrap_or_else(|| {
            cameras.push(name.to_string());
            cameras.len() - 1
        })
    });
    let mut images = Vec::with_capacity(cameras.len());
    controller.reset();
    let mut obs = env.reset(seed)?;
    r.observation.fill(&obs.sensors, &mut obs_vec);
    let mut ep = record.then(|| Episode::begin(seed, &obs_vec, n_act, 0));
    let see = |env: &mut dyn Plant,
               images: &mut Vec<crate::wire::Image>,
               ep: Option<&mut Episode>|
     -> Result<(), PlantError> {
        if cameras.is_empty() {
            return Ok(());
        }
        env.images(&cameras, images)?;
        if let (Some(k), Some(ep)) = (kept, ep) {
            let im = &images[k];
            let channels = im.encoding.bytes_per_pixel() as u8;
            ep.push_frame(im.width, im.height, channels, &im.data)
                .map_err(|e| PlantError::Camera(format!("`{}`: {e}", im.name)))?;
        }
        Ok(())
    };
    see(env, &mut images, ep.as_mut())?;
    loop {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            run.stopped = true;
            break;
        }
        let input = ControlInput {
            observation: &obs_vec,
            sensors: &obs.sensors,
            images: &images,
            deadline: Instant::now() + period,
        };
        let d = tick::decide(controller, &mut safety, &input, &mut action, period);
        run.controller_us
            .push(d.controller_time.as_secs_f32() * 1e6);
        run.deadline_misses += u64::from(d.controller_time > period);
        let PlantStep { step, applied, cut } = env.step(&action)?;
        if cut {
            run.cut = true;
            if let Some(e) = ep.as_mut() {
                e.end(false, true, false);
            }
            break;
        }
        if let Some(a) = applied {
            action.copy_from_slice(&a);
            run.late += 1;
        }
        run.ret += step.reward as f64;
        run.max_reward = run.max_reward.max(step.reward);
        run.rewards.push(step.reward);
        run.actions.extend_from_slice(&action);
        run.length += 1;
        run.success = step.info.success;
        obs = step.observation;
        r.observation.fill(&obs.sensors, &mut obs_vec);
        if let Some(e) = ep.as_mut() {
            e.push_step(&action, step.reward, &obs_vec);
        }
        see(env, &mut images, ep.as_mut())?;
        if step.terminated || step.truncated {
            if let Some(e) = ep.as_mut() {
                e.end(step.terminated, step.truncated, step.info.success);
            }
            break;
        }
    }
    run.interventions = safety.counts.clone();
    run.record = ep;
    Ok(run)
}
