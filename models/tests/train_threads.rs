//! A step's gradient computed on several threads is the one-thread step up
//! to the order of floating-point sums, and deterministic.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use umwelt_models::dataset::Episode;
use umwelt_models::world_model::*;

const OBS: usize = 4;
const ACT: usize = 2;

fn episodes() -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    (0..8)
        .map(|i| {
            let len = 40;
            let mut r =
                |k: usize| -> Vec<f32> { (0..k).map(|_| rng.random_range(-1.0..1.0)).collect() };
            Episode {
                seed: i,
                observations: r((len + 1) * OBS),
                actions: r(len * ACT),
                rewards: r(len),
                // A terminal episode, so the TD target's mask is exercised.
                terminated: i == 3,
                truncated: i != 3,
                success: false,
                frames: None,
            }
        })
        .collect()
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

/// Every parameter value, in visit order.
fn params(t: &Trainer) -> Vec<f32> {
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(tensor_to_vec(p.val()));
        }
    }
    let mut all = All(Vec::new());
    t.inference_model().visit(&mut all);
    all.0
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
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
