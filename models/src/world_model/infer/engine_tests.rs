//! The engine's own tests (beside it: they reach its shared buffers).

use std::time::Duration;

use super::*;
use crate::world_model::WorldModelConfig;

/// A worker stuck mid-tile (here: blocked on its tile's output, which
/// the test holds) neither hangs the calls nor changes their results:
/// the caller computes the stuck tile itself, and two calls later,
/// finding the stuck worker still reading that call's buffers, runs the
/// call alone.
#[test]
fn a_stuck_worker_neither_hangs_calls_nor_changes_results() {
    let c = WorldModelConfig {
        obs_dim: 3,
        act_dim: 1,
        ..WorldModelConfig::default()
    };
    let model =
        crate::world_model::WorldModel::new(&c, 0, &burn::tensor::Device::flex()).expect("model");
    let im = Arc::new(InferenceModel::from_model(&model).expect("inference model"));
    let (n, h) = (512, 3);
    let z0 = vec![1.0 / 8.0; c.latent_dim];
    let actions: Vec<f32> = (0..n * h)
        .map(|i| ((i * 37 % 200) as f32 / 100.0) - 1.0)
        .collect();
    let mut one = RolloutEngine::new(im.clone(), n, h, 1).expect("engine");
    let mut want = RolloutOutput::default();
    one.rollout(&z0, &actions, n, h, &mut want)
        .expect("rollout");

    let mut engine = RolloutEngine::new(im, n, h, 2).expect("engine");
    let shared = engine.shared.clone();
    // The first call uses the odd buffers: hold every tile's output, so a
    // worker that claims one blocks there, still reading the batch.
    let held: Vec<_> = shared
        .buffers(1)
        .tiles
        .iter()
        .map(|t| t.lock().expect("lock"))
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let (z, a) = (z0.clone(), actions.clone());
    let calls = std::thread::spawn(move || {
        let mut outs = Vec::new();
        for _ in 0..4 {
            let mut out = RolloutOutput::default();
            engine.rollout(&z, &a, n, h, &mut out).expect("rollout");
            outs.push(out);
        }
        let _ = tx.send(outs);
        engine
    });
    let outs = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the calls finished while a worker was stuck");
    drop(held);
    let mut engine = calls.join().expect("calls");
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.values, want.values, "call {i}");
        assert_eq!(out.rewards, want.rewards, "call {i}");
        assert_eq!(out.final_latents, want.final_latents, "call {i}");
    }
    // Once released, the worker rejoins and results stay the same.
    let mut out = RolloutOutput::default();
    engine
        .rollout(&z0, &actions, n, h, &mut out)
        .expect("rollout");
    assert_eq!(out.values, want.values);
}
