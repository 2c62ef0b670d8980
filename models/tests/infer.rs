//! The hand-written inference engine against the burn world model: same
//! encodings, rollouts, policy trajectories and decodings up to float rounding,
//! bit-identical whatever the thread count, typed errors for bad input.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use umwelt_models::dataset::Episode;
use umwelt_models::world_model::*;

#[path = "infer/decode.rs"]
mod decode;
#[path = "infer/workers.rs"]
mod workers;

const TOL: f32 = 1e-4;

/// A fresh model whose zero-initialised output layers (reward, Q) and
/// identity-initialised LayerNorms are made random too, so that every
/// output and every parameter is a real test.
fn random_model(c: &WorldModelConfig, seed: u64) -> WorldModel {
    let device = Device::flex();
    let mut m = WorldModel::new(c, seed, &device).expect("valid config");
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1000);
    let width = |layers: usize| {
        if layers == 0 {
            c.latent_dim + c.act_dim
        } else {
            c.hidden
        }
    };
    m.reward.layers[c.hidden_layers] = Dense::new(width(c.hidden_layers), 1, &mut rng, &device);
    for q in &mut m.q {
        q.layers[c.head_layers] = Dense::new(width(c.head_layers), 1, &mut rng, &device);
    }
    let mut random_vec = |n: usize, center: f32| -> Tensor<1> {
        let v: Vec<f32> = (0..n)
            .map(|_| center + rng.random_range(-0.5..0.5))
            .collect();
        Tensor::from_data(burn::tensor::TensorData::new(v, [n]), &device)
    };
    let nets = [
        &mut m.encoder,
        &mut m.dynamics,
        &mut m.reward,
        &mut m.policy,
        &mut m.decoder,
    ];
    for net in nets.into_iter().chain(m.q.iter_mut()) {
        for norm in &mut net.norms {
            norm.gamma = burn::module::Param::from_tensor(random_vec(c.hidden, 1.0));
            norm.beta = Some(burn::module::Param::from_tensor(random_vec(c.hidden, 0.0)));
        }
    }
    m
}

/// A model after a few training steps on random-walk episodes.
fn trained_model(c: &WorldModelConfig) -> WorldModel {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (o, a) = (c.obs_dim, c.act_dim);
    let episodes: Vec<Episode> = (0..8)
        .map(|i| {
            let len = 40;
            let mut x: Vec<f32> = (0..o).map(|_| StandardNormal.sample(&mut rng)).collect();
            let mut e = Episode {
                seed: i,
                observations: x.clone(),
                actions: Vec::new(),
                rewards: Vec::new(),
                terminated: false,
                truncated: true,
                success: false,
                frames: None,
            };
            for _ in 0..len {
                let u: Vec<f32> = (0..a).map(|_| rng.random_range(-1.0..1.0)).collect();
                for (k, v) in x.iter_mut().enumerate() {
                    *v = 0.9 * *v + 0.2 * u[k % a];
                }
                e.rewards.push(-x.iter().map(|v| v * v).sum::<f32>());
                e.actions.extend_from_slice(&u);
                e.observations.extend_from_slice(&x);
            }
            e
        })
        .collect();
    let tc = TrainConfig {
        batch_size: 32,
        learning_rate: 3e-3,
        seed: 3,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(
        c,
        tc,
        Normalization::identity(o, a),
        &episodes,
        &Device::flex(),
    )
    .expect("trainer");
    for _ in 0..15 {
        t.step();
    }
    t.inference_model()
}

fn normal(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

fn uniform(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn rows(v: Vec<f32>, r: usize, c: usize) -> Tensor<2> {
    tensor_from_rows(v, r, c, &Device::flex())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Actions of step `t` of every sample, `n x act`, from `n x h x act`.
fn step_actions(actions: &[f32], n: usize, h: usize, a: usize, t: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| actions[(i * h + t) * a..(i * h + t + 1) * a].to_vec())
        .collect()
}

/// burn's encode, rollout (rewards, values) and final latents.
fn burn_reference(
    m: &WorldModel,
    obs: &[f32],
    actions: &[f32],
    n: usize,
    h: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let c = &m.config;
    let z = m.encode(rows(obs.to_vec(), 1, c.obs_dim));
    let z_vec = tensor_to_vec(z.clone());
    let z0 = z.repeat_dim(0, n);
    let r = m
        .rollout_flat(z0.clone(), actions, h)
        .expect("burn rollout");
    let mut zt = z0;
    for t in 0..h {
        let at = rows(step_actions(actions, n, h, c.act_dim, t), n, c.act_dim);
        zt = m.next(zt, at);
    }
    (z_vec, r.rewards, r.terminal_values, tensor_to_vec(zt))
}

/// burn's policy trajectories: a_t = policy_sample(z_t, eps_t).action.
fn burn_policy(m: &WorldModel, z0: &[f32], noise: &[f32], n: usize, h: usize) -> Vec<f32> {
    let (l, a) = (m.config.latent_dim, m.config.act_dim);
    let mut z = rows(z0.to_vec(), 1, l).repeat_dim(0, n);
    let mut out = vec![0.0; n * h * a];
    for t in 0..h {
        let eps = rows(step_actions(noise, n, h, a, t), n, a);
        let act = m.policy_sample(z.clone(), eps).action;
        let v = tensor_to_vec(act.clone());
        for i in 0..n {
            out[(i * h + t) * a..(i * h + t + 1) * a].copy_from_slice(&v[i * a..(i + 1) * a]);
        }
        z = m.next(z, act);
    }
    out
}

/// Compares the engine with burn for several batch shapes and thread counts.
fn check_against_burn(m: &WorldModel, label: &str) {
    let c = m.config.clone();
    let (o, l, a) = (c.obs_dim, c.latent_dim, c.act_dim);
    let im = Arc::new(InferenceModel::from_model(m).expect("inference model"));
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for threads in [1, 2] {
        let mut eng = RolloutEngine::new(im.clone(), 200, 6, threads).expect("engine");
        for (n, h) in [(1, 1), (70, 1), (130, 5), (200, 6), (3, 0)] {
            let obs = normal(o, &mut rng);
            let actions = uniform(n * h * a, &mut rng);
            let (z_ref, r_ref, v_ref, zh_ref) = burn_reference(m, &obs, &actions, n, h);
            let mut z = vec![0.0; l];
            eng.encode(&obs, 1, &mut z).expect("encode");
            assert!(
                max_diff(&z, &z_ref) < TOL,
                "{label}: encode {}",
                max_diff(&z, &z_ref)
            );
            let mut out = RolloutOutput::default();
            eng.rollout(&z, &actions, n, h, &mut out).expect("rollout");
            let ctx = format!("{label}, threads {threads}, n {n}, h {h}");
            eprintln!(
                "{ctx}: max diff rewards {:.1e} values {:.1e} latents {:.1e}",
                max_diff(&out.rewards, &r_ref),
                max_diff(&out.values, &v_ref),
                max_diff(&out.final_latents, &zh_ref)
            );
            assert!(max_diff(&out.rewards, &r_ref) < TOL, "{ctx}: rewards");
            assert!(max_diff(&out.values, &v_ref) < TOL, "{ctx}: values");
            assert!(
                max_diff(&out.final_latents, &zh_ref) < TOL,
                "{ctx}: latents"
            );
            assert!(
                out.values.iter().any(|v| v.abs() > 1e-3),
                "{ctx}: values all ~0"
            );
            if h > 0 {
                assert!(
                    out.rewards.iter().any(|v| v.abs() > 1e-3),
                    "{ctx}: rewards ~0"
                );
            }

            let noise = normal(n * h * a, &mut rng);
            let mut acts = vec![0.0; n * h * a];
            eng.policy_rollout(&z, &noise, n, h, &mut acts)
                .expect("policy rollout");
            let acts_ref = burn_policy(m, &z, &noise, n, h);
            assert!(max_diff(&acts, &acts_ref) < TOL, "{ctx}: policy actions");
        }
        // A batch of observations.
        let b = 150;
        let obs = normal(b * o, &mut rng);
        let z_ref = tensor_to_vec(m.encode(rows(obs.clone(), b, o)));
        let mut z = vec![0.0; b * l];
        eng.encode(&obs, b, &mut z).expect("encode batch");
        assert!(max_diff(&z, &z_ref) < TOL, "{label}: batch encode");
    }
}

/// The message of `r`'s data error; a panic naming `what` for anything
/// else.
fn data_error(r: Result<(), ModelError>, what: &str) -> String {
    match r {
        Err(ModelError::Data(msg)) => msg,
        other => panic!("{what}: expected a data error, got {other:?}"),
    }
}

fn cartpole_sized() -> WorldModelConfig {
    WorldModelConfig::new(5, 1)
}

#[test]
fn matches_burn_on_a_random_model_of_default_size() {
    check_against_burn(&random_model(&cartpole_sized(), 1), "default size");
}

#[test]
fn matches_burn_on_other_shapes() {
    for (label, c) in [
        (
            "2 hidden layers, group 4, act 3",
            WorldModelConfig {
                latent_dim: 32,
                hidden: 48,
                hidden_layers: 2,
                simnorm_group: 4,
                ..WorldModelConfig::new(7, 3)
            },
        ),
        (
            "no hidden layer",
            WorldModelConfig {
                latent_dim: 16,
                hidden_layers: 0,
                head_layers: 0,
                ..WorldModelConfig::new(4, 2)
            },
        ),
        (
            "3-layer heads over 1-layer dynamics",
            WorldModelConfig {
                latent_dim: 32,
                hidden: 40,
                head_layers: 3,
                ..WorldModelConfig::new(6, 2)
            },
        ),
        (
            "version 2 layout: no LayerNorm, heads as deep as the dynamics",
            WorldModelConfig::new(5, 1).legacy(),
        ),
    ] {
        check_against_burn(&random_model(&c, 2), label);
    }
}

#[test]
fn matches_burn_on_a_briefly_trained_model() {
    let c = WorldModelConfig {
        latent_dim: 32,
        hidden: 64,
        ..WorldModelConfig::new(4, 2)
    };
    check_against_burn(&trained_model(&c), "trained");
}

#[test]
fn results_are_bit_identical_whatever_the_thread_count() {
    let c = cartpole_sized();
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 3)).expect("model"));
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (n, h, a, l) = (333, 5, c.act_dim, c.latent_dim);
    let obs = normal(c.obs_dim * n, &mut rng);
    let actions = uniform(n * h * a, &mut rng);
    let noise = normal(n * h * a, &mut rng);
    let mut results = Vec::new();
    for threads in [1, 2, 3, 4] {
        let mut eng = RolloutEngine::new(im.clone(), 512, 8, threads).expect("engine");
        let mut z = vec![0.0; n * l];
        eng.encode(&obs, n, &mut z).expect("encode");
        let mut out = RolloutOutput::default();
        eng.rollout(&z[..l], &actions, n, h, &mut out)
            .expect("rollout");
        let mut acts = vec![0.0; n * h * a];
        eng.policy_rollout(&z[..l], &noise, n, h, &mut acts)
            .expect("policy");
        // The same call again on the same engine.
        let mut again = RolloutOutput::default();
        eng.rollout(&z[..l], &actions, n, h, &mut again)
            .expect("rollout");
        assert_eq!(bits(&out.values), bits(&again.values));
        results.push((bits(&z), bits(&out.rewards), bits(&out.values), bits(&acts)));
    }
    for r in &results[1..] {
        assert!(r == &results[0], "outputs differ between thread counts");
    }
}

/// Calls back to back, of changing sizes and kinds, with round trips
/// between them: threads claim tiles of each call as it comes, and late
/// workers must never mix calls up. Every result matches one thread's.
#[test]
fn back_to_back_calls_of_changing_sizes_match_one_thread() {
    let c = cartpole_sized();
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 6)).expect("model"));
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (a, l) = (c.act_dim, c.latent_dim);
    let z0: Vec<f32> = {
        let mut one = RolloutEngine::new(im.clone(), 1, 1, 1).expect("engine");
        let mut z = vec![0.0; l];
        one.encode(&normal(c.obs_dim, &mut rng), 1, &mut z)
            .expect("encode");
        z
    };
    let calls: Vec<(usize, usize, Vec<f32>)> = (0..60)
        .map(|i| {
            let n = [512, 1, 64, 65, 300, 128][i % 6];
            let h = 1 + i % 5;
            (n, h, uniform(n * h * a, &mut rng))
        })
        .collect();
    let run = |threads: usize| {
        let mut eng = RolloutEngine::new(im.clone(), 512, 5, threads).expect("engine");
        let mut out = RolloutOutput::default();
        let mut all = Vec::new();
        for (i, (n, h, actions)) in calls.iter().enumerate() {
            if i % 2 == 0 {
                eng.rollout(&z0, actions, *n, *h, &mut out)
                    .expect("rollout");
                all.push((
                    bits(&out.rewards),
                    bits(&out.values),
                    bits(&out.final_latents),
                ));
            } else {
                let mut acts = vec![0.0; n * h * a];
                eng.policy_rollout(&z0, actions, *n, *h, &mut acts)
                    .expect("policy");
                all.push((bits(&acts), Vec::new(), Vec::new()));
            }
            if i % 7 == 0 {
                eng.ping_workers().expect("round trip");
            }
        }
        all
    };
    let want = run(1);
    for threads in [2, 4] {
        let got = run(threads);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g == w, "call {i} differs with {threads} threads");
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn outputs_are_resized_to_the_call_and_reused() {
    let c = cartpole_sized();
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 5)).expect("model"));
    let mut eng = RolloutEngine::new(im, 256, 5, 2).expect("engine");
    let z0 = vec![1.0 / 8.0; c.latent_dim];
    let mut out = RolloutOutput::default();
    eng.rollout(&z0, &vec![0.5; 256 * 5], 256, 5, &mut out)
        .expect("rollout");
    let caps = (out.rewards.capacity(), out.final_latents.capacity());
    eng.rollout(&z0, &[0.5; 10 * 2], 10, 2, &mut out)
        .expect("rollout");
    assert_eq!(out.rewards.len(), 20);
    assert_eq!(out.values.len(), 10);
    assert_eq!(out.final_latents.len(), 10 * c.latent_dim);
    assert_eq!(
        (out.rewards.capacity(), out.final_latents.capacity()),
        caps,
        "no reallocation"
    );
    // n = 0 is an empty batch, not an error.
    eng.rollout(&z0, &[], 0, 3, &mut out).expect("empty");
    assert!(out.rewards.is_empty() && out.values.is_empty());
}

#[test]
fn the_model_is_shareable_and_the_engine_movable_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<InferenceModel>();
    send::<RolloutEngine>();
    send_sync::<RolloutOutput>();
}

#[test]
fn flop_counts_follow_the_layer_shapes() {
    let c = cartpole_sized();
    let im = InferenceModel::from_model(&random_model(&c, 6)).expect("model");
    let (l, a, h) = (c.latent_dim as f64, c.act_dim as f64, c.hidden as f64);
    let step = 2.0 * ((l + a) * h + h * l) + 2.0 * ((l + a) * h + h);
    assert_eq!(im.flops_per_step(), step);
    let terminal = 2.0 * (l * h + h * a) + 2.0 * 2.0 * ((l + a) * h + h);
    assert_eq!(im.flops_terminal(), terminal);
    assert_eq!(im.flops_rollout(10, 5), 10.0 * (5.0 * step + terminal));
    assert_eq!(im.config(), &c);
}

#[test]
fn bad_input_is_a_data_error_not_a_panic() {
    let c = cartpole_sized();
    let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 7)).expect("model"));
    let mut eng = RolloutEngine::new(im, 100, 4, 2).expect("engine");
    let z0 = vec![0.125; l];
    let mut out = RolloutOutput::default();
    let is_data = |r: Result<(), ModelError>, what: &str| {
        eprintln!("{what}: {}", data_error(r, what));
    };
    is_data(
        eng.rollout(&z0, &[0.0; 50], 10, 5, &mut out),
        "h > max_horizon",
    );
    is_data(
        eng.rollout(&z0, &vec![0.0; 101 * 4], 101, 4, &mut out),
        "n > max",
    );
    is_data(
        eng.rollout(&z0, &[0.0; 7], 2, 4, &mut out),
        "actions length",
    );
    is_data(
        eng.rollout(&z0[1..], &vec![0.0; 8 * a], 2, 4, &mut out),
        "z0 length",
    );
    let mut nan = vec![0.0; 8 * a];
    nan[5] = f32::NAN;
    is_data(eng.rollout(&z0, &nan, 2, 4, &mut out), "NaN action");
    let mut inf_z = z0.clone();
    inf_z[3] = f32::INFINITY;
    is_data(
        eng.rollout(&inf_z, &vec![0.0; 8 * a], 2, 4, &mut out),
        "inf z0",
    );
    let mut acts = vec![0.0; 8 * a];
    is_data(eng.policy_rollout(&z0, &nan, 2, 4, &mut acts), "NaN noise");
    is_data(
        eng.policy_rollout(&z0, &vec![0.0; 8 * a], 2, 4, &mut acts[1..]),
        "policy actions length",
    );
    let mut z = vec![0.0; 2 * l];
    is_data(eng.encode(&vec![0.0; 2 * o + 1], 2, &mut z), "obs length");
    is_data(
        eng.encode(&vec![0.0; 2 * o], 2, &mut z[1..]),
        "latents length",
    );
    let mut bad_obs = vec![0.0; 2 * o];
    bad_obs[0] = f32::NEG_INFINITY;
    is_data(eng.encode(&bad_obs, 2, &mut z), "non-finite obs");
    // The engine still works after refusing bad input.
    eng.rollout(&z0, &vec![0.0; 8 * a], 2, 4, &mut out)
        .expect("good call");
    assert!(out.values.iter().all(|v| v.is_finite()));
    // Zero threads or sizes are config errors.
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 7)).expect("model"));
    assert!(matches!(
        RolloutEngine::new(im.clone(), 10, 5, 0),
        Err(ModelError::Config(_))
    ));
    assert!(matches!(
        RolloutEngine::new(im, 0, 5, 1),
        Err(ModelError::Config(_))
    ));
}
