//! What an evaluation shows of its episodes beyond numbers: some episodes
//! replayed in the simulator ([`crate::offline::replay`]) to trace the
//! task's meaningful state (pole angle and cart position, pendulum angle,
//! fingertip–target distance) and, when asked, drawn
//! ([`crate::view`]) into MP4 videos ([`crate::video`]) with a poster frame.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use umwelt_sim::{Env, Observation, RobotConfig, RobotKind};

use crate::offline::episode::EpisodeRun;
use crate::offline::replay::{ReplayError, replay};
use crate::video::{Mp4Writer, VideoError};
use crate::view::{Overlay, RenderError, Renderer, scene_points};

/// Video frame size, pixels.
pub const FRAME_SIZE: (u32, u32) = (640, 360);
/// Most video frames per second: faster control rates draw every k-th
/// step (100 Hz: every 2nd, 50 frames/s).
pub const MAX_FPS: f64 = 50.0;

/// An episode chosen for pictures: its index in the evaluation and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pick {
    /// Index in the evaluation.
    pub index: usize,
    /// `best`, `median`, `worst`, or `rank R of N` (by return, 1 = best).
    pub label: String,
}

/// `n` episodes at evenly spaced ranks of `returns` (highest first, ties by
/// index): for `n = 3` the best, the median and the worst; for `n = 1` the
/// median; the best and the worst whenever `n >= 2`. Never more than there
/// are episodes, never one twice.
pub fn pick_episodes(returns: &[f64], n: usize) -> Vec<Pick> {
    let total = returns.len();
    let n = n.min(total);
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by(|a, b| returns[*b].total_cmp(&returns[*a]).then(a.cmp(b)));
    let ranks: Vec<usize> = match n {
        0 => vec![],
        1 => vec![total / 2],
        _ => (0..n)
            .map(|k| (k * (total - 1) + (n - 1) / 2) / (n - 1))
            .collect(),
    };
    let mut out: Vec<Pick> = Vec::with_capacity(n);
    for rank in ranks {
        let label = if rank == 0 {
            "best".to_string()
        } else if rank + 1 == total {
            "worst".to_string()
        } else if rank == total / 2 {
            "median".to_string()
        } else {
            format!("rank {} of {total}", rank + 1)
        };
        if !out.iter().any(|p| p.index == order[rank]) {
            out.push(Pick {
                index: order[rank],
                label,
            });
        }
    }
    out
}

/// One state variable of an episode, one value per state from the reset
/// on (`length + 1` values).
#[derive(Clone, Debug, PartialEq)]
pub struct StateSeries {
    /// What it is, with its unit.
    pub name: String,
    /// Its values.
    pub values: Vec<f32>,
}

/// The names of the state variables traced for `kind`.
pub fn state_names(kind: RobotKind) -> Vec<&'static str> {
    match kind {
        RobotKind::Cartpole => vec!["pole angle (rad, 0 up)", "cart position (m)"],
        RobotKind::Pendulum => vec!["angle (rad, 0 up)"],
        RobotKind::Reacher | RobotKind::Arm => vec!["fingertip-target distance (m)"],
    }
}

/// The traced state of `kind` now: joint angles from the simulator's true
/// state (wrapped to (-pi, pi]), distances from the `to_target_*` channels
/// as measured.
fn state_now(kind: RobotKind, env: &Env, obs: &Observation) -> Vec<f32> {
    let q = env.true_state().map(|(q, _)| q).unwrap_or(&[]);
    let at = |i: usize| q.get(i).copied().unwrap_or(f32::NAN);
    match kind {
        RobotKind::Cartpole => vec![wrap(at(1)), at(0)],
        RobotKind::Pendulum => vec![wrap(at(0))],
        RobotKind::Reacher | RobotKind::Arm => {
            let d2: f32 = env
                .channel_names()
                .iter()
                .zip(&obs.sensors.channels)
                .filter(|(n, _)| n.starts_with("to_target"))
                .map(|(_, v)| v * v)
                .sum();
            vec![d2.sqrt()]
        }
    }
}

fn wrap(a: f32) -> f32 {
    let t = std::f32::consts::TAU;
    let w = a - t * (a / t).round();
    if w <= -std::f32::consts::PI { w + t } else { w }
}

/// An episode's video, as `eval.json` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeVideo {
    /// Index in the evaluation.
    pub index: usize,
    /// The episode's seed.
    pub seed: u64,
    /// Why it was chosen ([`Pick::label`]).
    pub label: String,
    /// Its return.
    pub sum_reward: f64,
    /// The MP4 file, relative to the report folder.
    pub path: String,
    /// Its poster frame (the step with the largest reward), a PNG, relative
    /// to the report folder.
    pub poster: String,
    /// Frames.
    pub frames: u64,
    /// Frames per second.
    pub fps: f64,
    /// Control steps per frame.
    pub steps_per_frame: usize,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// File size, bytes.
    pub bytes: u64,
    /// Seconds spent drawing its frames (one thread).
    pub render_s: f64,
    /// Seconds spent encoding them (one thread).
    pub encode_s: f64,
}

/// What was made of one picked episode.
#[derive(Clone, Debug)]
pub struct EpisodeMedia {
    /// Which episode and why.
    pub pick: Pick,
    /// Its traced state ([`state_names`]).
    pub states: Vec<StateSeries>,
    /// Its video, when asked for.
    pub video: Option<EpisodeVideo>,
}

/// Why pictures of an episode could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The replay failed or left the episode.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A frame could not be drawn.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The video could not be written.
    #[error(transparent)]
    Video(#[from] VideoError),
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// Replays `run` (on `robot` and `task`, `period` seconds per step),
/// tracing its state; with `report_dir`, also draws it into
/// `report_dir/videos/episode_<seed>.mp4` and its poster
/// `episode_<seed>.png`.
pub fn episode_media(
    robot: &RobotConfig,
    task: &str,
    period: f64,
    run: &EpisodeRun,
    pick: Pick,
    report_dir: Option<&Path>,
) -> Result<EpisodeMedia, MediaError> {
    let kind = robot.robot;
    let names = state_names(kind);
    let mut values: Vec<Vec<f32>> = vec![Vec::with_capacity(run.length as usize + 1); names.len()];
    let stride = steps_per_frame(period);
    let mut scenes = Vec::new();
    let mut rewards = Vec::new();
    replay(robot, task, run, &mut |env, step, reward, obs| {
        for (v, x) in values.iter_mut().zip(state_now(kind, env, obs)) {
            v.push(x);
        }
        if report_dir.is_some() && step % stride == 0 {
            scenes.push((step, env.scene().map_err(|e| e.to_string())?));
            rewards.push(reward);
        }
        Ok(())
    })?;
    let states = names
        .iter()
        .zip(values)
        .map(|(n, values)| StateSeries {
            name: n.to_string(),
            values,
        })
        .collect();
    let video = match report_dir {
        None => None,
        Some(dir) => Some(write_video(
            dir, kind, period, run, &pick, stride, &scenes, &rewards,
        )?),
    };
    Ok(EpisodeMedia {
        pick,
        states,
        video,
    })
}

/// Control steps per video frame: the fewest that keep the frame rate at
/// or under [`MAX_FPS`].
pub fn steps_per_frame(period: f64) -> usize {
    ((1.0 / (period * MAX_FPS)) - 1e-9).ceil().max(1.0) as usize
}

#[allow(clippy::too_many_arguments)]
fn write_video(
    dir: &Path,
    kind: RobotKind,
    period: f64,
    run: &EpisodeRun,
    pick: &Pick,
    stride: usize,
    scenes: &[(usize, umwelt_sim::scene::Scene)],
    rewards: &[Option<f32>],
) -> Result<EpisodeVideo, MediaError> {
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).map_err(|source| MediaError::Io {
        path: videos.display().to_string(),
        source,
    })?;
    let (w, h) = FRAME_SIZE;
    let points: Vec<[f32; 3]> = scenes.iter().flat_map(|(_, s)| scene_points(s)).collect();
    let renderer = Renderer::fit(kind, &points, w, h);
    let name = format!("episode_{}", run.seed);
    let path = videos.join(format!("{name}.mp4"));
    let fps = 1.0 / (period * stride as f64);
    let mut writer = Mp4Writer::create(&path, w, h, fps)?;
    let duration_s = run.length as f64 * period;
    // The poster: the frame of the largest reward (the first of equals).
    let poster_at = rewards
        .iter()
        .enumerate()
        .max_by(|a, b| {
            let (x, y) = (a.1.unwrap_or(f32::MIN), b.1.unwrap_or(f32::MIN));
            x.total_cmp(&y).then(b.0.cmp(&a.0))
        })
        .map(|(i, _)| i)
        .unwrap_or(0);
    let (mut render_s, mut encode_s) = (0.0, 0.0);
    let poster_path = videos.join(format!("{name}.png"));
    for (i, ((step, scene), reward)) in scenes.iter().zip(rewards).enumerate() {
        let overlay = Overlay {
            time_s: *step as f64 * period,
            duration_s,
            reward: *reward,
        };
        let t0 = Instant::now();
        let frame = renderer.render(scene, Some(&overlay))?;
        let t1 = Instant::now();
        writer.push_rgba(frame.data())?;
        render_s += (t1 - t0).as_secs_f64();
        encode_s += t1.elapsed().as_secs_f64();
        if i == poster_at {
            frame.save_png(&poster_path).map_err(|e| MediaError::Io {
                path: poster_path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
    }
    let info = writer.finish()?;
    Ok(EpisodeVideo {
        index: pick.index,
        seed: run.seed,
        label: pick.label.clone(),
        sum_reward: run.ret,
        path: format!("videos/{name}.mp4"),
        poster: format!("videos/{name}.png"),
        frames: info.frames,
        fps: info.fps,
        steps_per_frame: stride,
        width: info.width,
        height: info.height,
        bytes: info.bytes,
        render_s,
        encode_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_best_median_worst_and_never_repeat() {
        let r = [5.0, 9.0, 1.0, 7.0, 3.0];
        let p = pick_episodes(&r, 3);
        let got: Vec<(usize, &str)> = p.iter().map(|p| (p.index, p.label.as_str())).collect();
        assert_eq!(got, [(1, "best"), (0, "median"), (2, "worst")]);
        assert_eq!(pick_episodes(&r, 1)[0].index, 0);
        assert_eq!(pick_episodes(&r, 9).len(), 5);
        assert_eq!(pick_episodes(&r[..1], 3).len(), 1);
        assert!(pick_episodes(&r, 0).is_empty());
        let four: Vec<String> = pick_episodes(&r, 4).into_iter().map(|p| p.label).collect();
        assert_eq!(four, ["best", "rank 2 of 5", "rank 4 of 5", "worst"]);
    }

    #[test]
    fn frames_never_come_faster_than_fifty_per_second() {
        assert_eq!(steps_per_frame(0.01), 2);
        assert_eq!(steps_per_frame(0.02), 1);
        assert_eq!(steps_per_frame(0.001), 20);
        assert_eq!(steps_per_frame(0.05), 1);
        assert!((wrap(3.0 * std::f32::consts::PI) - std::f32::consts::PI).abs() < 1e-5);
        assert!(wrap(-0.5).abs() - 0.5 < 1e-6);
    }
}

/// The pictures of an evaluation: the best, median and worst episodes'
/// state traces, and the videos asked for.
#[derive(Clone, Debug, Default)]
pub struct EvalMedia {
    /// Best, median and worst (fewer with fewer episodes), for the traces.
    pub traced: Vec<EpisodeMedia>,
    /// The videos written, in pick order.
    pub videos: Vec<EpisodeVideo>,
}

/// Replays the best, median and worst episodes of `ev` for their state
/// traces, and draws `videos` episodes ([`pick_episodes`]) into
/// `out/videos/`. Each episode is replayed once. Nothing when `robot` is
/// `None` (a robot umwelt does not simulate).
pub fn evaluation_media(
    robot: Option<&RobotConfig>,
    task: &str,
    period: f64,
    ev: &crate::offline::eval::Evaluation,
    videos: usize,
    out: &Path,
) -> Result<EvalMedia, MediaError> {
    let Some(robot) = robot else {
        return Ok(EvalMedia::default());
    };
    let returns: Vec<f64> = ev.runs.iter().map(|r| r.ret).collect();
    let traced = pick_episodes(&returns, 3);
    let filmed = pick_episodes(&returns, videos);
    let mut all: Vec<EpisodeMedia> = Vec::new();
    for pick in traced.iter().chain(&filmed) {
        if all.iter().any(|m| m.pick.index == pick.index) {
            continue;
        }
        let film = filmed.iter().any(|p| p.index == pick.index);
        let run = &ev.runs[pick.index];
        all.push(episode_media(
            robot,
            task,
            period,
            run,
            pick.clone(),
            film.then_some(out),
        )?);
    }
    let find = |p: &Pick| all.iter().find(|m| m.pick.index == p.index);
    Ok(EvalMedia {
        traced: traced.iter().filter_map(find).cloned().collect(),
        videos: filmed
            .iter()
            .filter_map(|p| find(p).and_then(|m| m.video.clone()))
            .map(|mut v| {
                // The label it was filmed for (`--video 4` ranks differ
                // from the traces').
                if let Some(f) = filmed.iter().find(|f| f.index == v.index) {
                    v.label = f.label.clone();
                }
                v
            })
            .collect(),
    })
}
