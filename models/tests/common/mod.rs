//! What several training tests build on: random episodes and a trainer's
//! parameter values.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use umwelt_models::dataset::Episode;
use umwelt_models::world_model::{Trainer, tensor_to_vec};

/// Eight 40-step episodes of uniform values in [-1, 1) with `obs`
/// observations and `act` actions, drawn from `seed`; episode 3 ends
/// terminal, so the TD target's mask is exercised.
pub fn random_episodes(seed: u64, obs: usize, act: usize) -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..8)
        .map(|i| {
            let len = 40;
            let mut r =
                |k: usize| -> Vec<f32> { (0..k).map(|_| rng.random_range(-1.0..1.0)).collect() };
            Episode {
                seed: i,
                observations: r((len + 1) * obs),
                actions: r(len * act),
                rewards: r(len),
                terminated: i == 3,
                truncated: i != 3,
                success: false,
                frames: None,
            }
        })
        .collect()
}

/// Every parameter value of `t`'s model, in visit order.
pub fn params(t: &Trainer) -> Vec<f32> {
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

/// The largest `|a_i - b_i|` (same lengths).
pub fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
