//! The planner's learned model: its task and goal objectives agree with the
//! burn model they were copied from (closely in bfloat16), and planning over
//! it is deterministic for a seed, whatever the thread count, and stays
//! within the action bounds. A goal image is planned towards as its
//! encoding; with the observation distance, as the decoder's reading of
//! both latents.

use std::time::Instant;

use burn::tensor::Device;
use umwelt_models::world_model::{
    Normalization, PixelConfig, Precision, WorldModel, WorldModelConfig, pixels_tensor,
    stack_frames, tensor_from_rows, tensor_to_vec,
};
use umwelt_runtime::control::mpc::{Mpc, Objective};
use umwelt_runtime::control::{ControlInput, Controller};
use umwelt_runtime::plan::{GoalDistance, LearnedModel, PlanModel, PlanState, PlannerConfig};
use umwelt_runtime::view::png::write_png;
use umwelt_runtime::wire::{Image, ImageEncoding};
use umwelt_sim::Env;

const OBS: usize = 5;
const ACT: usize = 1;

fn model() -> WorldModel {
    let cfg = WorldModelConfig {
        hidden: 32,
        latent_dim: 16,
        simnorm_group: 4,
        ..WorldModelConfig::new(OBS, ACT)
    };
    WorldModel::new(&cfg, 3, &Device::flex()).unwrap()
}

fn actions(n: usize, h: usize) -> Vec<f32> {
    (0..n * h * ACT)
        .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0).clamp(-1.0, 1.0))
        .collect()
}

/// The burn model's latents after `h` steps of the `n` sequences `acts`
/// (row-major, `h` actions each) from `z`.
fn roll(
    wm: &WorldModel,
    mut z: burn::tensor::Tensor<2>,
    acts: &[f32],
    n: usize,
    h: usize,
) -> Vec<f32> {
    let device = Device::flex();
    for t in 0..h {
        let a: Vec<f32> = (0..n).map(|i| acts[i * h + t]).collect();
        z = wm.next(z, tensor_from_rows(a, n, ACT, &device));
    }
    tensor_to_vec(z)
}

/// Squared distance of each latent row of `zh` to the goal latent `zg`.
fn goal_distances(zh: &[f32], zg: &[f32]) -> Vec<f32> {
    zh.chunks_exact(zg.len())
        .map(|row| row.iter().zip(zg).map(|(a, b)| (a - b) * (a - b)).sum())
        .collect()
}

fn begin(m: &mut LearnedModel, obs: &[f32]) {
    let env = Env::new("cartpole", "swingup").unwrap();
    let mut e = env;
    let o = e.reset(0).unwrap();
    let input = PlanState {
        observation: obs,
        sensors: &o.sensors,
        images: &[],
    };
    m.begin(&input).unwrap();
}

#[test]
fn task_and_goal_values_match_the_burn_model() {
    let wm = model();
    let device = Device::flex();
    let (n, h, gamma) = (7, 3, 0.9f32);
    let obs = [0.1, -0.2, 0.9, 0.3, -0.5];
    let goal = [0.0, 1.0, 0.0, 0.0, 0.0];
    let acts = actions(n, h);

    // Task: discounted predicted rewards plus the discounted terminal value.
    let mut task = LearnedModel::from_model(
        &wm,
        Normalization::identity(OBS, ACT),
        gamma,
        1,
        &Objective::Task,
        Precision::F32,
        1,
        n,
        h,
    )
    .unwrap();
    begin(&mut task, &obs);
    let mut values = vec![0.0; n];
    task.evaluate(&acts, n, h, 1, &mut values).unwrap();
    let z0 = wm.encode(tensor_from_rows(obs.repeat(n), n, OBS, &device));
    let expected = wm
        .rollout_flat(z0.clone(), &acts, h)
        .unwrap()
        .returns(gamma);
    for (v, e) in values.iter().zip(&expected) {
        assert!((v - e).abs() < 1e-4, "task {v} vs burn {e}");
    }

    // Goal: minus the squared latent distance of the last state to the goal's.
    let goal_values = |distance, precision, threads| {
        let mut m = LearnedModel::from_model(
            &wm,
            Normalization::identity(OBS, ACT),
            gamma,
            1,
            &Objective::Goal {
                observation: goal.to_vec(),
                distance,
            },
            precision,
            threads,
            n,
            h,
        )
        .unwrap();
        begin(&mut m, &obs);
        let mut v = vec![0.0; n];
        m.evaluate(&acts, n, h, 1, &mut v).unwrap();
        v
    };
    let mut values = goal_values(GoalDistance::Latent, Precision::F32, 2);
    // And in bfloat16 (a fresh model's reward and Q heads are zero, so the
    // task values above would not show it).
    let rounded = goal_values(GoalDistance::Latent, Precision::Bf16, 2);
    let zh = roll(&wm, z0, &acts, n, h);
    let zg = tensor_to_vec(wm.encode(tensor_from_rows(goal.to_vec(), 1, OBS, &device)));
    for (i, (v, d)) in values.iter().zip(goal_distances(&zh, &zg)).enumerate() {
        assert!((v + d).abs() < 1e-4, "goal {v} vs -{d}");
        assert!(*v <= 0.0);
        // Close, not equal: 8 significant bits in the products' inputs.
        let r = rounded[i];
        assert!((r + d).abs() < 2e-2 * d.max(0.1), "bf16 goal {r} vs -{d}");
        assert_ne!(
            r.to_bits(),
            v.to_bits(),
            "bf16 gave f32's value: it did not round"
        );
    }

    // By observation: minus the squared distance between the decoder's
    // readings of the last latent and of the goal's.
    let obs_values = goal_values(GoalDistance::Observation, Precision::F32, 1);
    assert_eq!(
        goal_values(GoalDistance::Observation, Precision::F32, 2),
        obs_values
    );
    let decode = |z: &[f32], rows: usize| {
        tensor_to_vec(wm.decode(tensor_from_rows(z.to_vec(), rows, zg.len(), &device)))
    };
    let (oh, og) = (decode(&zh, n), decode(&zg, 1));
    for (v, d) in obs_values.iter().zip(goal_distances(&oh, &og)) {
        assert!(
            (v + d).abs() < 1e-4 * d.max(1.0),
            "goal by observation {v} vs -{d}"
        );
    }

    // Bad input: a wrong observation length, NaN, and action repeat.
    let env_obs = [0.0; OBS + 1];
    let mut e = Env::new("cartpole", "swingup").unwrap();
    let o = e.reset(0).unwrap();
    let input = PlanState {
        observation: &env_obs,
        sensors: &o.sensors,
        images: &[],
    };
    assert!(task.begin(&input).is_err());
    let nan = [f32::NAN; OBS];
    let input = PlanState {
        observation: &nan,
        ..input
    };
    assert!(task.begin(&input).is_err());
    assert!(task.evaluate(&acts, n, h, 2, &mut values).is_err());
}

#[test]
fn planning_over_the_learned_model_is_seeded_and_bounded() {
    let wm = model();
    let run_with = |seed: u64, precision: Precision, threads: usize| -> Vec<u32> {
        let m = LearnedModel::from_model(
            &wm,
            Normalization::identity(OBS, ACT),
            0.99,
            1,
            &Objective::Task,
            precision,
            threads,
            64,
            4,
        )
        .unwrap();
        let cfg = PlannerConfig {
            samples: 64,
            elites: 8,
            iterations: 3,
            min_iterations: 3,
            horizon: 4,
            policy_samples: 8,
            seed,
            ..PlannerConfig::default()
        };
        let mut mpc = Mpc::new(cfg, Box::new(m)).unwrap();
        mpc.reset();
        let mut env = Env::new("cartpole", "swingup").unwrap();
        let mut obs = env.reset(1).unwrap();
        let mut out = vec![0.0; ACT];
        let mut bits = Vec::new();
        for _ in 0..30 {
            let input = ControlInput {
                observation: &obs.vector,
                sensors: &obs.sensors,
                images: &[],
                deadline: Instant::now(),
            };
            mpc.act(&input, &mut out).unwrap();
            assert!(
                out.iter()
                    .all(|a| a.is_finite() && (-1.0..=1.0).contains(a))
            );
            assert_eq!(mpc.last_outcome().iterations, 3);
            bits.extend(out.iter().map(|v| v.to_bits()));
            obs = env.step(&out).unwrap().observation;
        }
        bits
    };
    let run = |seed: u64| run_with(seed, Precision::F32, 2);
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
    assert_eq!(run(4), run_with(4, Precision::F32, 1));
    // bfloat16: as deterministic, on one thread or two, and its own plans.
    let bf16 = run_with(4, Precision::Bf16, 2);
    assert_eq!(bf16, run_with(4, Precision::Bf16, 1));
    assert_eq!(bf16, run_with(4, Precision::Bf16, 2));
    assert_ne!(bf16, run(4));
}

/// A tiny pixels-only model of a 32x32 RGB camera `cam`.
fn pixel_model() -> WorldModel {
    let mut cfg = WorldModelConfig {
        hidden: 32,
        latent_dim: 16,
        simnorm_group: 4,
        ..WorldModelConfig::new(OBS, ACT)
    };
    let mut p = PixelConfig::new("cam", 32, 32);
    p.conv_channels = 4;
    cfg.pixels = Some(p);
    WorldModel::new(&cfg, 5, &Device::flex()).unwrap()
}

/// A 32x32 RGB image of camera `cam` with a pattern set by `k`.
fn picture(k: u8) -> Image {
    Image {
        name: "cam".into(),
        width: 32,
        height: 32,
        encoding: ImageEncoding::Rgb8,
        data: (0..32 * 32 * 3)
            .map(|i| ((i * 7 + usize::from(k) * 31) % 251) as u8)
            .collect(),
    }
}

#[test]
fn a_goal_image_is_planned_towards_as_the_encoding_of_the_image_held_still() {
    let wm = pixel_model();
    let pc = wm.config.pixels.clone().unwrap();
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("umwelt-goal-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (goal, start) = (picture(1), picture(2));
    let path = dir.join("goal.png");
    write_png(&goal, 1, &path).unwrap();
    let (n, h) = (5, 3);
    let acts = actions(n, h);
    let load = |objective: &Objective| {
        LearnedModel::from_model(
            &wm,
            Normalization::identity(OBS, ACT),
            0.9,
            1,
            objective,
            Precision::F32,
            1,
            n,
            h,
        )
    };
    let mut e = Env::new("cartpole", "swingup").unwrap();
    let o = e.reset(0).unwrap();
    // The values of a plan from `images` towards the goal image.
    let goal_values = |distance, images: &[Image]| {
        let mut m = load(&Objective::GoalImage {
            image: path.clone(),
            distance,
        })
        .unwrap();
        m.begin(&PlanState {
            observation: &o.vector,
            sensors: &o.sensors,
            images,
        })
        .unwrap();
        let mut values = vec![0.0; n];
        m.evaluate(&acts, n, h, 1, &mut values).unwrap();
        values
    };
    let values = goal_values(GoalDistance::Latent, std::slice::from_ref(&start));
    // What burn says: the goal is the encoding of the goal image filling
    // the frame stack, the start the encoding of the start image likewise.
    let encode = |im: &Image, rows: usize| {
        let frames = vec![im.data.as_slice(); pc.frames];
        let mut stacked = Vec::new();
        for _ in 0..rows {
            stack_frames(&pc, &frames, (pc.shift, pc.shift), &mut stacked);
        }
        let px = pixels_tensor(&stacked, rows, &pc, &device);
        wm.encode_input(
            tensor_from_rows(vec![0.0; rows * OBS], rows, OBS, &device),
            Some(px),
        )
    };
    let zh = roll(&wm, encode(&start, n), &acts, n, h);
    let zg = tensor_to_vec(encode(&goal, 1));
    for (v, d) in values.iter().zip(goal_distances(&zh, &zg)) {
        assert!((v + d).abs() < 1e-4, "goal image {v} vs -{d}");
    }
    // By observation: the decoder's reading of both latents (the robot's
    // observation vector, though the model never reads it).
    let obs_values = goal_values(GoalDistance::Observation, std::slice::from_ref(&start));
    let decode = |z: &[f32], rows: usize| {
        tensor_to_vec(wm.decode(tensor_from_rows(z.to_vec(), rows, zg.len(), &device)))
    };
    let (oh, og) = (decode(&zh, n), decode(&zg, 1));
    assert_eq!(og.len(), OBS);
    for (v, d) in obs_values.iter().zip(goal_distances(&oh, &og)) {
        assert!(
            (v + d).abs() < 1e-4 * d.max(1.0),
            "goal image by observation {v} vs -{d}"
        );
    }
    assert_ne!(
        obs_values, values,
        "the two distances are not the same measure"
    );
    // A camera that sends depth before colour under one name: the model
    // reads the colour image, and plans as from it alone.
    let depth = Image {
        name: "cam".into(),
        width: 32,
        height: 32,
        encoding: ImageEncoding::DepthF32,
        data: vec![0; 32 * 32 * 4],
    };
    let from_both = goal_values(GoalDistance::Latent, &[depth, start.clone()]);
    assert_eq!(from_both, values);
    // What cannot work is refused, saying why.
    let err = |o: &Objective, w: &WorldModel| {
        LearnedModel::from_model(
            w,
            Normalization::identity(OBS, ACT),
            0.9,
            1,
            o,
            Precision::F32,
            1,
            n,
            h,
        )
        .err()
        .expect("refused")
        .to_string()
    };
    let by_image = Objective::GoalImage {
        image: path.clone(),
        distance: GoalDistance::Latent,
    };
    assert!(err(&by_image, &model()).contains("needs a pixel model"));
    let by_state = Objective::Goal {
        observation: vec![0.0; OBS],
        distance: GoalDistance::Latent,
    };
    assert!(err(&by_state, &wm).contains("goal_image"));
    let small = Image {
        width: 16,
        height: 16,
        data: vec![9; 16 * 16 * 3],
        ..goal
    };
    write_png(&small, 1, &path).unwrap();
    let e = err(&by_image, &wm);
    assert!(e.contains("16x16") && e.contains("32x32"), "{e}");
    let missing = Objective::GoalImage {
        image: dir.join("missing.png"),
        distance: GoalDistance::Latent,
    };
    assert!(err(&missing, &wm).contains("missing.png"));
    std::fs::remove_dir_all(&dir).ok();
}
