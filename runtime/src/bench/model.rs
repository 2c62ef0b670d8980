//! `umwelt bench model`: world-model speed, namely the `gemm` crate's sgemm
//! peak, rollouts of the hand-written inference engine beside burn's, the
//! workers' hand-off cost and training steps per second, in one run.

use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_sim::{Env, tasks_of};

use super::{BenchError, quantile, sgemm_gflops, time_calls};

/// Options of [`bench_model`].
#[derive(Clone, Debug)]
pub struct ModelBenchOptions {
    /// Robot whose observation and action sizes the model gets (its first task).
    pub robot: String,
    /// Samples per rollout (the planner's batch).
    pub samples: usize,
    /// Steps per rollout.
    pub horizon: usize,
    /// Threads of the rollout engine (and of the multi-threaded sgemm baseline).
    pub threads: usize,
    /// Seconds to measure each rollout variant for.
    pub seconds: f64,
    /// Training steps to time (after one warm-up step).
    pub train_steps: usize,
    /// Training batch size; `None`: [`umwelt_models::world_model::TrainConfig`]'s default.
    pub train_batch: Option<usize>,
    /// Latent size; `None`: the default model's.
    pub latent: Option<usize>,
    /// Hidden width; `None`: the default model's.
    pub hidden: Option<usize>,
}

/// Matrix-multiply speed of the `gemm` crate for one shape.
#[derive(Clone, Debug, Serialize)]
pub struct SgemmBench {
    /// What the shape is.
    pub shape: String,
    /// Rows of the output (split over the threads).
    pub m: usize,
    /// Columns of the output.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Threads.
    pub threads: usize,
    /// Billions of floating-point operations (2 per multiply-add) per second.
    pub gflops: f64,
}

/// Speed of one way of rolling the world model out.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutBench {
    /// Which implementation: `engine` (hand-written, gemm) or `burn` (`WorldModel::rollout_flat`).
    pub path: String,
    /// Threads it ran on.
    pub threads: usize,
    /// Rollouts timed.
    pub calls: usize,
    /// Latent steps per second (samples x horizon per rollout).
    pub sample_steps_per_s: f64,
    /// Median wall time of one rollout (ms).
    pub ms_p50: f64,
    /// 99th percentile (ms).
    pub ms_p99: f64,
    /// GFLOP/s at the median (dynamics, reward and terminal value, 2 per multiply-add).
    pub gflops: f64,
    /// `gflops` / the sgemm peak on as many threads (measured in this run).
    pub fraction_of_sgemm: f64,
}

/// Speed of `Trainer::step`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBench {
    /// Sequences per batch.
    pub batch_size: usize,
    /// Unrolled horizon.
    pub horizon: usize,
    /// Steps timed.
    pub steps: usize,
    /// Optimiser steps per second.
    pub steps_per_s: f64,
    /// Mean wall time of one step (ms).
    pub ms_per_step: f64,
}

/// Everything `umwelt bench model` measures, in one run.
#[derive(Clone, Debug, Serialize)]
pub struct ModelBench {
    /// Robot whose sizes the model has.
    pub robot: String,
    /// The model's sizes.
    pub model: umwelt_models::world_model::WorldModelConfig,
    /// Samples per rollout.
    pub samples: usize,
    /// Steps per rollout.
    pub horizon: usize,
    /// Rows the engine processes together.
    pub tile_rows: usize,
    /// FLOPs of one rollout.
    pub flops_per_rollout: f64,
    /// sgemm baselines: a representative 512 x 256 x 256 on 1 and `threads`
    /// threads, and the rollout's own layer shapes on one tile.
    pub sgemm: Vec<SgemmBench>,
    /// The 512 x 256 x 256 sgemm on 1 thread (GFLOP/s).
    pub sgemm_peak_1_thread: f64,
    /// The 512 x 256 x 256 sgemm on the rollout's thread count (GFLOP/s).
    pub sgemm_peak_threads: f64,
    /// The engine on the requested threads.
    pub rollout: RolloutBench,
    /// The engine on one thread.
    pub rollout_1_thread: RolloutBench,
    /// burn's `WorldModel::rollout_flat`, same model and batch.
    pub burn: RolloutBench,
    /// burn's median time / the engine's.
    pub speedup_over_burn: f64,
    /// Median time of a policy-prior rollout of the same batch (ms).
    pub policy_rollout_ms_p50: f64,
    /// Handing a call to the persistent worker threads and back, calls back
    /// to back (us, median): the workers poll briefly for the next call.
    pub worker_round_trip_us: f64,
    /// The same when the workers have gone to sleep (3 ms after the last
    /// call), as for the first call of a control tick (us, median).
    pub worker_round_trip_cold_us: f64,
    /// Spawning and joining `threads - 1` scoped threads instead (us, median).
    pub scoped_spawn_us: f64,
    /// `Trainer::step` on synthetic data of the robot's sizes.
    pub train: TrainBench,
    /// The 1-minute load average at the end (Linux; `None` elsewhere): other
    /// work on the same cores lowers every figure, the multi-threaded ones most.
    pub load_average: Option<f64>,
}

fn rollout_bench(
    path: &str,
    threads: usize,
    times: &[f64],
    steps: usize,
    flops: f64,
    peak: f64,
) -> RolloutBench {
    let p50 = quantile(times, 0.5);
    let gflops = flops / p50 / 1e9;
    RolloutBench {
        path: path.into(),
        threads,
        calls: times.len(),
        sample_steps_per_s: steps as f64 / p50,
        ms_p50: p50 * 1e3,
        ms_p99: quantile(times, 0.99) * 1e3,
        gflops,
        fraction_of_sgemm: gflops / peak,
    }
}

/// Measures, in one run, the `gemm` crate's sgemm speed, world-model
/// rollouts of the hand-written engine (on `threads` threads and on one)
/// and of burn, the workers' hand-off cost and `Trainer::step`, for the
/// default model sized for `robot`. The model is randomly initialised (speed
/// does not depend on the weights), with its zero-initialised reward and Q
/// output layers left as they are.
pub fn bench_model(o: &ModelBenchOptions) -> Result<ModelBench, BenchError> {
    use std::sync::Arc;

    use burn::tensor::Device;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use umwelt_models::dataset::Episode;
    use umwelt_models::world_model::{
        InferenceModel, Normalization, RolloutEngine, RolloutOutput, TILE_ROWS, TrainConfig,
        Trainer, WorldModel, WorldModelConfig, tensor_from_rows,
    };

    if o.samples == 0 || o.horizon == 0 || o.threads == 0 {
        return Err("--samples, --horizon and --threads must be positive".into());
    }
    let kind = umwelt_sim::RobotKind::from_name(&o.robot)?;
    let env = Env::new(kind.name(), tasks_of(kind)[0].name)?;
    let (obs_dim, act_dim) = (env.observation_spec().len(), env.action_spec().len());
    let mut config = WorldModelConfig::new(obs_dim, act_dim);
    config.latent_dim = o.latent.unwrap_or(config.latent_dim);
    config.hidden = o.hidden.unwrap_or(config.hidden);
    let device = Device::flex();
    let model = WorldModel::new(&config, 0, &device)?;
    let im = Arc::new(InferenceModel::from_model(&model)?);
    let (n, h, l) = (o.samples, o.horizon, config.latent_dim);
    let flops = im.flops_rollout(n, h);

    // Baselines.
    let shape_secs = (o.seconds / 4.0).max(0.02);
    let mut sgemm = Vec::new();
    let mut peak = |threads: usize| -> Result<f64, BenchError> {
        let g = sgemm_gflops(512, 256, 256, threads, shape_secs)?;
        sgemm.push(SgemmBench {
            shape: "representative".into(),
            m: 512,
            n: 256,
            k: 256,
            threads,
            gflops: g,
        });
        Ok(g)
    };
    let peak_1 = peak(1)?;
    let peak_t = if o.threads == 1 {
        peak_1
    } else {
        peak(o.threads)?
    };
    for (shape, k, cols) in [
        ("tile [z, a] -> hidden", l + act_dim, config.hidden),
        ("tile hidden -> latent", config.hidden, l),
        ("tile hidden -> 1 (reward, Q)", config.hidden, 1),
    ] {
        sgemm.push(SgemmBench {
            shape: shape.into(),
            m: TILE_ROWS,
            n: cols,
            k,
            threads: 1,
            gflops: sgemm_gflops(TILE_ROWS, cols, k, 1, shape_secs)?,
        });
    }

    // The engine.
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let obs: Vec<f32> = (0..obs_dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let actions: Vec<f32> = (0..n * h * act_dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut z0 = vec![0.0; l];
    let mut out = RolloutOutput::default();
    let mut engine = RolloutEngine::new(im.clone(), n, h, o.threads)?;
    engine.encode(&obs, 1, &mut z0)?;
    let times = time_calls(o.seconds, || {
        Ok(engine.rollout(&z0, &actions, n, h, &mut out)?)
    })?;
    let rollout = rollout_bench("engine", o.threads, &times, n * h, flops, peak_t);
    let mut policy_actions = vec![0.0; n * h * act_dim];
    let noise: Vec<f32> = (0..n * h * act_dim)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let times = time_calls(o.seconds / 4.0, || {
        Ok(engine.policy_rollout(&z0, &noise, n, h, &mut policy_actions)?)
    })?;
    let policy_rollout_ms_p50 = quantile(&times, 0.5) * 1e3;
    let times = time_calls(0.05, || Ok(engine.ping_workers()?))?;
    let worker_round_trip_us = quantile(&times, 0.5) * 1e6;
    // The same after the workers have gone to sleep, as at the first call
    // of a control tick.
    let mut cold = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(3));
        let t = Instant::now();
        engine.ping_workers()?;
        cold.push(t.elapsed().as_secs_f64());
    }
    cold.sort_by(f64::total_cmp);
    let worker_round_trip_cold_us = quantile(&cold, 0.5) * 1e6;
    let times = time_calls(0.05, || {
        std::thread::scope(|s| {
            for _ in 1..o.threads {
                s.spawn(|| {});
            }
        });
        Ok(())
    })?;
    let scoped_spawn_us = quantile(&times, 0.5) * 1e6;
    drop(engine);
    let rollout_1_thread = if o.threads == 1 {
        rollout.clone()
    } else {
        let mut engine = RolloutEngine::new(im.clone(), n, h, 1)?;
        let times = time_calls(o.seconds, || {
            Ok(engine.rollout(&z0, &actions, n, h, &mut out)?)
        })?;
        rollout_bench("engine", 1, &times, n * h, flops, peak_1)
    };

    // burn.
    let z0_t = tensor_from_rows(z0.repeat(n), n, l, &device);
    let times = time_calls(o.seconds, || {
        model.rollout_flat(z0_t.clone(), &actions, h)?;
        Ok(())
    })?;
    // burn's flex backend runs each op on the calling thread (its rayon
    // feature is off), so its baseline is the one-thread sgemm.
    let burn = rollout_bench("burn", 1, &times, n * h, flops, peak_1);
    let speedup_over_burn = burn.ms_p50 / rollout.ms_p50;

    // Training on synthetic episodes of the robot's sizes.
    let tc = TrainConfig {
        batch_size: o.train_batch.unwrap_or(TrainConfig::default().batch_size),
        ..TrainConfig::default()
    };
    let episodes: Vec<Episode> = (0..4)
        .map(|i| {
            let len = 100;
            let mut r =
                |k: usize| -> Vec<f32> { (0..k).map(|_| rng.random_range(-1.0..1.0)).collect() };
            Episode {
                seed: i,
                observations: r((len + 1) * obs_dim),
                actions: r(len * act_dim),
                rewards: r(len),
                terminated: false,
                truncated: true,
                success: false,
                frames: None,
            }
        })
        .collect();
    let mut trainer = Trainer::new(
        &config,
        tc.clone(),
        Normalization::identity(obs_dim, act_dim),
        &episodes,
        &device,
    )?;
    trainer.step();
    let steps = o.train_steps.max(1);
    let start = Instant::now();
    for _ in 0..steps {
        trainer.step();
    }
    let wall = start.elapsed().as_secs_f64();
    let train = TrainBench {
        batch_size: tc.batch_size,
        horizon: tc.horizon,
        steps,
        steps_per_s: steps as f64 / wall,
        ms_per_step: wall / steps as f64 * 1e3,
    };

    Ok(ModelBench {
        robot: kind.name().into(),
        model: config,
        samples: n,
        horizon: h,
        tile_rows: TILE_ROWS,
        flops_per_rollout: flops,
        sgemm,
        sgemm_peak_1_thread: peak_1,
        sgemm_peak_threads: peak_t,
        rollout,
        rollout_1_thread,
        burn,
        speedup_over_burn,
        policy_rollout_ms_p50,
        worker_round_trip_us,
        worker_round_trip_cold_us,
        scoped_spawn_us,
        train,
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok()),
    })
}
