//! `umwelt bench render`: camera frames per second of each built-in
//! robot's default camera on one thread, at 64x64 and 84x84 (the sizes
//! pixel-based learners use), beside the same robot's environment steps per
//! second measured in the same run and its control rate.

use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_protocol::{Image, ImageEncoding};
use umwelt_sim::render::Renderer;
use umwelt_sim::{Env, RobotConfig, RobotKind, SimError, tasks_of};

/// The image sides measured, pixels.
pub const SIDES: [u16; 2] = [64, 84];

/// Rendering speed of one robot's default camera at one size.
#[derive(Clone, Debug, Serialize)]
pub struct RenderBench {
    /// Robot name.
    pub robot: String,
    /// Task used (its first).
    pub task: String,
    /// Camera name.
    pub camera: String,
    /// Image width, pixels.
    pub width: u16,
    /// Image height, pixels.
    pub height: u16,
    /// RGB frames rendered in the measurement.
    pub frames: u64,
    /// RGB frames per second on one thread (scene built and rendered).
    pub frames_per_s: f64,
    /// Environment (control) steps per second on the same thread, between
    /// the frames: the baseline.
    pub env_steps_per_s: f64,
    /// Physics steps per second (env steps times the action repeat).
    pub physics_steps_per_s: f64,
    /// The control rate, 1 / control_period, Hz.
    pub control_rate_hz: f64,
    /// Frames per second as a multiple of the control rate: how many
    /// cameras one core could serve in real time.
    pub frames_per_control_rate: f64,
    /// Environment steps one frame costs as much as.
    pub env_steps_per_frame: f64,
}

/// For each built-in robot and each of [`SIDES`]: alternates an
/// environment step (deterministic actions: a sweep over the action range)
/// and an RGB frame of its default camera for about `seconds`, timing each
/// apart, on the calling thread.
pub fn bench_render(seconds: f64, seed: u64) -> Result<Vec<RenderBench>, SimError> {
    let mut out = Vec::new();
    for kind in RobotKind::ALL {
        for side in SIDES {
            out.push(bench_one(kind, side, seconds, seed)?);
        }
    }
    Ok(out)
}

/// The default camera of `kind`, `side` pixels square.
fn env_with_side(kind: RobotKind, side: u16) -> Result<(Env, &'static str), SimError> {
    let task = tasks_of(kind)[0].name;
    let mut cfg = RobotConfig::builtin(kind);
    let mut cam = umwelt_sim::camera::default_camera(kind);
    cam.width = side;
    cam.height = side;
    cfg.cameras = vec![cam];
    Ok((Env::from_config(cfg, task)?, task))
}

fn bench_one(kind: RobotKind, side: u16, seconds: f64, seed: u64) -> Result<RenderBench, SimError> {
    let (mut env, task) = env_with_side(kind, side)?;
    let mut renderer = Renderer::new();
    let mut rgb = Vec::new();
    env.reset(seed)?;
    let spec = env.action_spec().clone();
    let mut action = env.safe_action();
    let (mut step_time, mut frame_time) = (Duration::ZERO, Duration::ZERO);
    let (mut steps, mut frames) = (0u64, 0u64);
    let mut episodes = 0u64;
    // Warm-up: caches, page faults, the buffers' first growth.
    for _ in 0..20 {
        env.render_into(&mut renderer, 0, Some(&mut rgb), None)?;
    }
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds || frames < 10 {
        for (i, (a, e)) in action.iter_mut().zip(&spec.entries).enumerate() {
            *a = e.high * ((steps as f32) * 0.05 + i as f32).sin();
        }
        let t = Instant::now();
        let step = env.step(&action)?;
        step_time += t.elapsed();
        steps += 1;
        if step.terminated || step.truncated {
            episodes += 1;
            env.reset(seed + episodes)?;
        }
        let t = Instant::now();
        env.render_into(&mut renderer, 0, Some(&mut rgb), None)?;
        frame_time += t.elapsed();
        frames += 1;
    }
    let frames_per_s = frames as f64 / frame_time.as_secs_f64().max(1e-9);
    let env_steps_per_s = steps as f64 / step_time.as_secs_f64().max(1e-9);
    let control_rate_hz = 1.0 / env.control_period();
    Ok(RenderBench {
        robot: kind.name().to_string(),
        task: task.to_string(),
        camera: env.cameras()[0].name.clone(),
        width: side,
        height: side,
        frames,
        frames_per_s,
        env_steps_per_s,
        physics_steps_per_s: env_steps_per_s * f64::from(env.action_repeat()),
        control_rate_hz,
        frames_per_control_rate: frames_per_s / control_rate_hz,
        env_steps_per_frame: env_steps_per_s / frames_per_s,
    })
}

/// The first frame (after reset with `seed`) of each built-in robot's
/// default camera, RGB8 at its default size: what a learner sees.
pub fn first_frames(seed: u64) -> Result<Vec<Image>, SimError> {
    RobotKind::ALL
        .into_iter()
        .map(|kind| {
            let mut env = Env::new(kind.name(), tasks_of(kind)[0].name)?;
            env.reset(seed)?;
            let mut data = Vec::new();
            env.render_rgb(0, &mut data)?;
            let cam = &env.cameras()[0];
            Ok(Image {
                name: format!("{}_{}", kind.name(), cam.name),
                width: cam.width,
                height: cam.height,
                encoding: ImageEncoding::Rgb8,
                data,
            })
        })
        .collect()
}
