//! The fused training engine takes burn's steps (up to rounding), is
//! for state and pixel models, is deterministic, saves and restores its
//! optimiser state exactly (a resumed run, on either engine, takes the
//! uninterrupted run's steps), and refuses what it cannot train.

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use umwelt_models::dataset::Episode;
use umwelt_models::world_model::*;

mod common;
use common::{largest_difference, params};

const OBS: usize = 4;
const ACT: usize = 2;

fn episodes() -> Vec<Episode> {
    common::random_episodes(6, OBS, ACT)
}

fn model_config() -> WorldModelConfig {
    WorldModelConfig {
        latent_dim: 16,
        hidden: 32,
        simnorm_group: 8,
        num_q: 3,
        ..WorldModelConfig::new(OBS, ACT)
    }
}

fn train_config() -> TrainConfig {
    TrainConfig {
        batch_size: 37,
        horizon: 3,
        seed: 12,
        ..TrainConfig::default()
    }
}

fn trainer(engine: TrainEngine, threads: usize) -> Trainer {
    trainer_of(&model_config(), &episodes(), engine, threads)
}

fn trainer_of(
    model: &WorldModelConfig,
    data: &[Episode],
    engine: TrainEngine,
    threads: usize,
) -> Trainer {
    let mut t = Trainer::new(
        model,
        train_config(),
        Normalization::identity(model.obs_dim, model.act_dim),
        data,
        &Device::flex(),
    )
    .expect("a valid trainer");
    t.set_threads(threads);
    t.set_engine(engine).expect("an engine for the model");
    assert_eq!(t.engine(), engine);
    t
}

fn terms(l: &LossTerms) -> [f32; 7] {
    [
        l.consistency,
        l.reward,
        l.value,
        l.policy,
        l.inverse,
        l.decoder,
        l.total,
    ]
}

/// `steps` optimiser steps of burn's engine (one thread) and the fused
/// engine (two) on the same batches stay within rounding of each other.
fn takes_burns_steps(model: &WorldModelConfig, data: &[Episode], steps: usize) {
    let mut burn = trainer_of(model, data, TrainEngine::Burn, 1);
    let mut fused = trainer_of(model, data, TrainEngine::Fused, 2);
    assert_eq!(params(&burn), params(&fused));
    let lr = burn.config().learning_rate as f32;
    for step in 0..steps {
        let batch = burn.sample_batch();
        let a = burn.step_on(&batch);
        let b = fused.step_on(&batch);
        for (u, v) in terms(&a).into_iter().zip(terms(&b)) {
            assert!(
                (u - v).abs() <= 1e-3 * (1.0 + u.abs()),
                "step {step}: burn {a:?}, fused {b:?}"
            );
        }
        // Adam moves a parameter by about a learning rate per step; the
        // engines' rounding by a small fraction of one.
        let d = largest_difference(&params(&burn), &params(&fused));
        eprintln!("step {step}: largest parameter difference {d:e}");
        assert!(d < 0.05 * lr, "step {step}: {d}");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let probe = burn.sample_batch_with(&mut rng);
    let (x, y) = (burn.evaluate(&probe), fused.evaluate(&probe));
    assert!(
        (x.total - y.total).abs() <= 1e-3 * (1.0 + x.total.abs()),
        "{x:?} vs {y:?}"
    );
    // The parameters moved: the comparison is not of untouched models.
    let fresh = trainer_of(model, data, TrainEngine::Burn, 1);
    assert!(largest_difference(&params(&fused), &params(&fresh)) > 3.0 * lr);
    assert_eq!(fused.summary().steps, steps as u64);
}

#[test]
fn the_fused_engine_takes_burns_steps() {
    takes_burns_steps(&model_config(), &episodes(), 8);
}

#[test]
fn the_fused_engine_takes_burns_steps_on_a_pixel_model() {
    let mut camera = PixelConfig::new("cam", 32, 36);
    camera.conv_channels = 8;
    camera.shift = 2;
    let model = WorldModelConfig {
        pixels: Some(camera.clone()),
        ..model_config()
    };
    // Random frames: the gradient, not what is learnt, is compared.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut data = episodes();
    for e in &mut data {
        for _ in 0..e.rewards.len() + 1 {
            let frame: Vec<u8> = (0..camera.image_len()).map(|_| rng.random()).collect();
            e.push_frame(32, 36, 3, &frame).expect("a frame");
        }
    }
    takes_burns_steps(&model, &data, 4);
}

#[test]
fn fused_steps_are_the_same_every_time_and_switching_back_keeps_the_values() {
    let (mut a, mut b) = (
        trainer(TrainEngine::Fused, 2),
        trainer(TrainEngine::Fused, 2),
    );
    for _ in 0..4 {
        assert_eq!(a.step(), b.step());
    }
    assert_eq!(params(&a), params(&b));
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let probe = a.sample_batch_with(&mut rng);
    let before = a.evaluate(&probe);
    a.set_engine(TrainEngine::Burn).unwrap();
    assert_eq!(a.engine(), TrainEngine::Burn);
    assert_eq!(params(&a), params(&b), "burn holds the fused values");
    assert_eq!(a.evaluate(&probe), before, "and the target heads'");
    // Both engines keep learning from there.
    assert_ne!(a.step().total, 0.0);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("umwelt-fused-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_resumed_fused_run_continues_exactly_with_its_saved_adam_state() {
    let device = Device::flex();
    // tau = 1: the target heads equal the online ones after every step, as
    // they do in a trainer resumed without its sidecar, so the one with
    // fresh moments below differs from the others in its moments alone.
    let tc = TrainConfig {
        learning_rate: 3e-3,
        target_tau: 1.0,
        ..train_config()
    };
    let norm = Normalization::identity(OBS, ACT);
    let data = episodes();
    let mut a = Trainer::new(&model_config(), tc.clone(), norm.clone(), &data, &device).unwrap();
    a.set_engine(TrainEngine::Fused).unwrap();
    for _ in 0..10 {
        a.step();
    }
    let dir = tempdir("resume");
    let path = dir.join("m.uwwm");
    let state = save_with_sidecar(&a, &path);
    let ckpt = Checkpoint::load(&path, &device).unwrap();
    let saved = Checkpoint::load_optimizer(&path)
        .unwrap()
        .expect("a sidecar");
    assert_eq!(saved, state);

    // A resumed trainer starts on burn; the saved state brings its engine.
    let mut with_adam = Trainer::resume(&ckpt, tc.clone(), &data, &device).unwrap();
    with_adam.restore_optimizer_state(&saved).unwrap();
    assert_eq!(with_adam.engine(), TrainEngine::Fused);
    let mut fresh_adam = Trainer::resume(&ckpt, tc, &data, &device).unwrap();
    fresh_adam.set_engine(TrainEngine::Fused).unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let step = a.sample_batch_with(&mut rng);
    let probe = a.sample_batch_with(&mut rng);
    assert_eq!(a.evaluate(&probe), with_adam.evaluate(&probe));
    a.step_on(&step);
    with_adam.step_on(&step);
    fresh_adam.step_on(&step);
    assert_eq!(
        params(&a),
        params(&with_adam),
        "the restored moments continue the run exactly"
    );
    assert_ne!(
        params(&a),
        params(&fresh_adam),
        "fresh moments take another step"
    );

    // A corrupt fused state is refused and changes nothing.
    let mut bad = saved.clone();
    bad.record.truncate(bad.record.len() - 4);
    refused_changing_nothing(&mut with_adam, &bad, "fused optimiser state");
    let _ = std::fs::remove_dir_all(dir);
}

/// `state` is refused by `t` with an error that names `needle`, and `t`'s
/// parameters stay as they were.
fn refused_changing_nothing(t: &mut Trainer, state: &OptimizerState, needle: &str) {
    let before = params(t);
    let err = t.restore_optimizer_state(state).unwrap_err().to_string();
    assert!(err.contains(needle), "{err}");
    assert_eq!(params(t), before);
}

/// Saves `t` as checkpoint `path` with its optimiser sidecar, as a learning
/// run does; returns the state it saved.
fn save_with_sidecar(t: &Trainer, path: &std::path::Path) -> OptimizerState {
    let field = |name: String| umwelt_models::dataset::FieldSpec::new(name, -1.0, 1.0, "1");
    let spec = umwelt_models::dataset::DatasetSpec::new(
        "synthetic",
        "none",
        (0..OBS).map(|i| field(format!("o{i}"))).collect(),
        (0..ACT).map(|i| field(format!("a{i}"))).collect(),
        0.02,
    );
    let meta = CheckpointMeta {
        format_version: CHECKPOINT_VERSION,
        spec,
        model: t.model_config().clone(),
        normalization: t.normalization().clone(),
        train: t.summary().clone(),
        prediction: None,
        action_repeat: 1,
    };
    let state = t.optimizer_state().unwrap();
    Checkpoint::save_with_optimizer(path, &t.inference_model(), &meta, Some(&state)).unwrap();
    state
}

/// A run saved with its sidecar and resumed takes the uninterrupted run's
/// next steps bit for bit on either engine: its own batches, and target
/// heads that have lagged the online ones (`target_tau` as trained, not 1).
/// Without the sidecar's resume part (sidecars before version 4) the target
/// heads restart from the online ones and the batches from a new stream:
/// other steps.
#[test]
fn a_resumed_run_takes_the_uninterrupted_runs_steps_on_either_engine() {
    let device = Device::flex();
    let data = episodes();
    for (engine, threads) in [(TrainEngine::Burn, 1), (TrainEngine::Fused, 2)] {
        let mut whole = trainer(engine, threads);
        let mut first = trainer(engine, threads);
        for _ in 0..5 {
            assert_eq!(terms(&whole.step()), terms(&first.step()));
        }
        let dir = tempdir(&format!("exact-{engine:?}"));
        let path = dir.join("m.uwwm");
        save_with_sidecar(&first, &path);
        let ckpt = Checkpoint::load(&path, &device).unwrap();
        let saved = Checkpoint::load_optimizer(&path)
            .unwrap()
            .expect("a sidecar");
        assert!(
            saved.resume.is_some(),
            "version {OPTIMIZER_VERSION} keeps it"
        );
        let resumed = |state: &OptimizerState| {
            let mut t = Trainer::resume(&ckpt, train_config(), &data, &device).unwrap();
            t.set_threads(threads);
            t.set_engine(engine).unwrap();
            t.restore_optimizer_state(state).unwrap();
            assert_eq!(t.engine(), engine);
            t
        };
        let mut exact = resumed(&saved);
        let mut without = resumed(&OptimizerState {
            resume: None,
            ..saved.clone()
        });
        let probe = whole.sample_batch_with(&mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(
            terms(&exact.evaluate(&probe)),
            terms(&whole.evaluate(&probe))
        );
        assert_ne!(
            terms(&without.evaluate(&probe)),
            terms(&whole.evaluate(&probe)),
            "{engine:?}: the target heads had moved off the online ones"
        );
        for _ in 0..5 {
            let step = whole.step();
            assert_eq!(terms(&exact.step()), terms(&step), "{engine:?}");
            without.step();
        }
        assert_eq!(params(&exact), params(&whole), "{engine:?}");
        assert_eq!(
            terms(&exact.evaluate(&probe)),
            terms(&whole.evaluate(&probe))
        );
        assert_ne!(params(&without), params(&whole), "{engine:?}");

        // Target values of another count are refused, changing nothing.
        let mut short = saved.clone();
        short.resume.as_mut().unwrap().target_q.pop();
        refused_changing_nothing(&mut exact, &short, "target-head values");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn engines_are_named() {
    let cfg = WorldModelConfig {
        pixels: Some(PixelConfig::new("side", 64, 64)),
        ..model_config()
    };
    assert!(TrainEngine::Fused.unsupported(&cfg).is_none());
    assert!(TrainEngine::Burn.unsupported(&cfg).is_none());
    let one_head = WorldModelConfig {
        num_q: 1,
        ..model_config()
    };
    assert!(TrainEngine::Fused.unsupported(&one_head).is_some());
    assert_eq!("fused".parse::<TrainEngine>(), Ok(TrainEngine::Fused));
    let err = "torch".parse::<TrainEngine>().unwrap_err();
    assert!(err.contains("burn or fused"), "{err}");
}
