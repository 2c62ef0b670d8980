//! A step's gradient computed on several threads is the one-thread step up
//! to the order of floating-point sums, and deterministic.

use burn::tensor::Device;
use umwelt_models::dataset::Episode;
use umwelt_models::world_model::*;

mod common;
use common::{largest_difference, params};

const OBS: usize = 4;
const ACT: usize = 2;

fn episodes() -> Vec<Episode> {
    common::random_episodes(5, OBS, ACT)
}

fn trainer(threads: usize) -> Trainer {
    let model = WorldModelConfig {
        latent_dim: 16,
        hidden: 32,
        simnorm_group: 8,
        num_q: 3,
        ..WorldModelConfig::new(OBS, ACT)
    };
    let config = TrainConfig {
        batch_size: 37, // odd: the parts differ in size
        horizon: 3,
        seed: 11,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(
        &model,
        config,
        Normalization::identity(OBS, ACT),
        &episodes(),
        &Device::flex(),
    )
    .expect("a valid trainer");
    t.set_threads(threads);
    t
}

#[test]
fn several_threads_take_the_one_thread_step() {
    let (mut one, mut two, mut three) = (trainer(1), trainer(2), trainer(3));
    assert_eq!(params(&one), params(&two));
    for step in 0..5 {
        let batch = one.sample_batch();
        let a = one.step_on(&batch);
        let b = two.step_on(&batch);
        let c = three.step_on(&batch);
        for (x, y) in [(a, b), (a, c)] {
            for (u, v) in [
                (x.consistency, y.consistency),
                (x.reward, y.reward),
                (x.value, y.value),
                (x.policy, y.policy),
                (x.inverse, y.inverse),
                (x.decoder, y.decoder),
                (x.total, y.total),
            ] {
                assert!(
                    (u - v).abs() <= 1e-4 * (1.0 + u.abs()),
                    "step {step}: {x:?} vs {y:?}"
                );
            }
        }
        // Adam moves every parameter by about a learning rate per step;
        // the threads' rounding moves them by far less (3e-8 measured).
        let lr = one.config().learning_rate as f32;
        let d2 = largest_difference(&params(&one), &params(&two));
        let d3 = largest_difference(&params(&one), &params(&three));
        eprintln!("step {step}: largest parameter difference {d2:e} (2 threads), {d3:e} (3)");
        assert!(d2 < 0.01 * lr && d3 < 0.01 * lr, "step {step}: {d2} {d3}");
    }
    // The parameters did move: the comparison is not of untouched models.
    assert!(
        largest_difference(&params(&one), &params(&trainer(1)))
            > 3.0 * one.config().learning_rate as f32
    );
}

#[test]
fn a_thread_count_gives_the_same_steps_every_time() {
    let (mut a, mut b) = (trainer(2), trainer(2));
    for _ in 0..3 {
        assert_eq!(a.step(), b.step());
    }
    assert_eq!(params(&a), params(&b));
    assert_eq!(a.threads(), 2);
    let mut zero = trainer(0);
    assert_eq!(zero.threads(), 1, "0 threads means one");
    zero.step();
}
