//! What several tests build on: random episodes, a trainer's parameter
//! values, and checkpoints with edited metadata.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

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

/// `bytes` (a current checkpoint) with its metadata JSON changed by `edit`,
/// re-checksummed.
pub fn with_meta_edited(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    let h = umwelt_models::world_model::CHECKPOINT_HEADER_LEN;
    let (m, w) = (u64_at(8), u64_at(16));
    let mut json: serde_json::Value = serde_json::from_slice(&bytes[h..h + m]).unwrap();
    edit(&mut json);
    let json = serde_json::to_vec_pretty(&json).unwrap();
    let weights = &bytes[h + m..h + m + w];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&json);
    crc.update(weights);
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(weights);
    out
}
