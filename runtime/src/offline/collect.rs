//! Collecting episodes of a robot (umwelt's simulator in-process, or a
//! robot behind its driver) into an on-disk dataset
//! ([`umwelt_models::dataset`]), for training world models.
//!
//! [`record_episode`] runs one episode exactly as
//! [`run_episode`](crate::offline::rollout::run_episode) does (same seeds, same
//! policy random stream, so the same trajectory and return) and records it;
//! [`collect`] runs several and appends each finished one to a
//! [`DatasetWriter`].

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use umwelt_models::dataset::{DatasetError, DatasetSpec, DatasetWriter, Episode};
use umwelt_sim::Env;

use crate::offline::explore::{Exploration, Explorer, SimplePolicy};
use crate::offline::plant::{Plant, PlantError, PlantStep};

/// An error collecting episodes.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The simulator or the robot failed.
    #[error(transparent)]
    Plant(#[from] PlantError),
    /// Reading or writing the dataset failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// Runs one episode of `env` from `seed` under `policy` and records it: the
/// observation vectors (after reset and after each step), the actions as
/// passed to [`Env::step`], the rewards and the end flags.
///
/// The policy draws from `ChaCha8Rng::seed_from_u64(seed)` on stream 7, as
/// [`run_episode`](crate::offline::rollout::run_episode) does, so both give the same
/// trajectory. `stop` is checked before every step: once set, the episode
/// is abandoned and `Ok(None)` returned.
pub fn record_episode(
    env: &mut Env,
    policy: SimplePolicy,
    seed: u64,
    stop: &AtomicBool,
) -> Result<Option<Episode>, PlantError> {
    record_held_episode(env, Exploration::new(policy), seed, 1, None, stop)
}

/// [`record_episode`] with any [`Exploration`], the policy choosing only
/// every `hold` steps and its action held in between (`hold` of 0 counts
/// as 1): the data a model with an action repeat of `hold` trains on
/// ([`Episode::with_action_repeat`]).
///
/// On a [`Plant`] that reports a different applied action (a late command
/// on a real-time robot), the episode records what was applied; at a cut
/// (an unknown transition) it ends, truncated, before that step.
pub fn record_held_episode(
    env: &mut dyn Plant,
    exploration: Exploration,
    seed: u64,
    hold: usize,
    frames: Option<&str>,
    stop: &AtomicBool,
) -> Result<Option<Episode>, PlantError> {
    let hold = hold.max(1);
    let cameras: Vec<String> = frames.map(str::to_string).into_iter().collect();
    let mut images = Vec::with_capacity(1);
    let mut see = |env: &mut dyn Plant, episode: &mut Episode| -> Result<(), PlantError> {
        if cameras.is_empty() {
            return Ok(());
        }
        env.images(&cameras, &mut images)?;
        let im = &images[0];
        episode
            .push_frame(
                im.width,
                im.height,
                im.encoding.bytes_per_pixel() as u8,
                &im.data,
            )
            .map_err(|e| PlantError::Camera(format!("`{}`: {e}", im.name)))
    };
    // The policy's own stream, as in rollout::run_episode.
    let mut explorer = Explorer::new(exploration, seed, env.control_period() * hold as f64);
    let spec = env.action_entries().to_vec();
    let steps = env.episode_steps();
    let obs = env.reset(seed)?;
    let mut episode = Episode::begin(seed, &obs.vector, spec.len(), steps);
    see(env, &mut episode)?;
    let mut action = Vec::with_capacity(spec.len());
    let mut t = 0usize;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if t.is_multiple_of(hold) {
            explorer.act(&spec, &mut action);
        }
        let PlantStep { step, applied, cut } = env.step(&action)?;
        if cut {
            if episode.is_empty() {
                return Ok(None);
            }
            episode.end(false, true, false);
            return Ok(Some(episode));
        }
        let done = applied.as_deref().unwrap_or(&action);
        episode.push_step(done, step.reward, &step.observation.vector);
        see(env, &mut episode)?;
        if step.terminated || step.truncated {
            episode.end(step.terminated, step.truncated, step.info.success);
            return Ok(Some(episode));
        }
        t += 1;
    }
}

/// What [`collect`] does.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// The policy choosing the actions, and its time scale.
    pub exploration: Exploration,
    /// Number of episodes to collect.
    pub episodes: u32,
    /// Start no episode once this many steps are written (whole episodes
    /// only: the last may pass it).
    pub max_steps: Option<u64>,
    /// Base seed: the episode written as file index `k` uses seed
    /// `seed + k` (wrapping), so appending to a dataset gives new seeds.
    pub seed: u64,
    /// Control steps each action is held (at least 1), so that a model with
    /// this action repeat can train on the episodes
    /// ([`Episode::with_action_repeat`]).
    pub hold: usize,
    /// Keep this camera's image of every observation (the dataset's frames
    /// files), for a pixel model; `None`: no images.
    pub camera: Option<String>,
}

/// One episode written by [`collect`].
#[derive(Clone, Debug, Serialize)]
pub struct CollectedEpisode {
    /// Its file index in the dataset (`episodes/NNNNNN.ep`).
    pub index: u64,
    /// The seed the environment was reset with.
    pub seed: u64,
    /// Sum of rewards (accumulated in `f64`).
    #[serde(rename = "return")]
    pub episode_return: f64,
    /// Control steps taken.
    pub length: usize,
    /// The task's success at the last step.
    pub success: bool,
    /// The episode ended by the task's own logic (or a physics failure).
    pub terminated: bool,
    /// The episode ended by its time limit.
    pub truncated: bool,
}

/// The outcome of [`collect`].
#[derive(Clone, Debug, Serialize)]
pub struct CollectSummary {
    /// The episodes written, in order.
    pub episodes: Vec<CollectedEpisode>,
    /// Total steps of the episodes written.
    pub steps: u64,
    /// Mean return of the episodes written (`None` if none was).
    pub mean_return: Option<f64>,
    /// True when `stop` ended the run early (the episode in progress was
    /// dropped).
    pub stopped: bool,
    /// Number of episodes in the dataset afterwards.
    pub dataset_episodes: usize,
}

/// Runs up to `options.episodes` episodes of `env` (whose episodes have
/// the dataset spec `spec`) and appends each finished one to `writer`,
/// calling `on_episode` after each write; no episode starts once
/// `options.max_steps` are written. The episode written as file index `k`
/// uses seed `options.seed + k`. When `stop` is set, the episode in
/// progress is dropped (nothing half-written) and the run ends; episodes
/// already written stay. An episode cut short by an unknown transition (a
/// robot's lost frames) is written up to the cut; one cut before its first
/// step is not written.
///
/// Fails before running anything if `spec` does not match the dataset's.
pub fn collect(
    env: &mut dyn Plant,
    spec: &DatasetSpec,
    writer: &mut DatasetWriter,
    options: CollectOptions,
    stop: &AtomicBool,
    mut on_episode: impl FnMut(&CollectedEpisode),
) -> Result<CollectSummary, CollectError> {
    writer.check_spec(spec)?;
    let mut episodes = Vec::with_capacity(options.episodes as usize);
    let mut stopped = false;
    let mut steps = 0u64;
    for _ in 0..options.episodes {
        if options.max_steps.is_some_and(|m| steps >= m) {
            break;
        }
        if stop.load(Ordering::SeqCst) {
            stopped = true;
            break;
        }
        let seed = options.seed.wrapping_add(writer.next_index());
        let Some(episode) = record_held_episode(
            env,
            options.exploration,
            seed,
            options.hold,
            options.camera.as_deref(),
            stop,
        )?
        else {
            if stop.load(Ordering::SeqCst) {
                stopped = true;
                break;
            }
            // Cut before its first step: nothing to keep; try the next seed.
            continue;
        };
        steps += episode.len() as u64;
        let index = writer.write(&episode)?;
        let collected = CollectedEpisode {
            index,
            seed,
            episode_return: episode.episode_return(),
            length: episode.len(),
            success: episode.success,
            terminated: episode.terminated,
            truncated: episode.truncated,
        };
        on_episode(&collected);
        episodes.push(collected);
    }
    let n = episodes.len();
    Ok(CollectSummary {
        steps: episodes.iter().map(|e| e.length as u64).sum(),
        mean_return: (n > 0)
            .then(|| episodes.iter().map(|e| e.episode_return).sum::<f64>() / n as f64),
        stopped,
        dataset_episodes: writer.len(),
        episodes,
    })
}
