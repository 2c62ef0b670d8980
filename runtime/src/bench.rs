//! Benchmarks reported as ratios against a baseline measured in the same run.

use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_sim::{Env, RobotKind, SimError, tasks_of};

use crate::offline::rollout::{SimplePolicy, run_episode};

/// Simulation speed of one robot on one thread.
#[derive(Clone, Debug, Serialize)]
pub struct SimBench {
    /// Robot name.
    pub robot: String,
    /// Task used.
    pub task: String,
    /// Physics time step (s).
    pub physics_dt: f64,
    /// Physics steps simulated.
    pub physics_steps: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Physics steps per second.
    pub physics_steps_per_s: f64,
    /// Simulated time per wall-clock time: the baseline is real time itself.
    pub realtime_factor: f64,
}

/// Steps each robot (its first task, random actions) on the calling thread
/// for at least `seconds`, in whole episodes.
pub fn bench_sim(seconds: f64, seed: u64) -> Result<Vec<SimBench>, SimError> {
    let mut out = Vec::new();
    for kind in RobotKind::ALL {
        let task = tasks_of(kind)[0].name;
        let mut env = Env::new(kind.name(), task)?;
        // Warm up once (page faults, caches), then measure whole episodes.
        run_episode(&mut env, SimplePolicy::Random, seed, 0)?;
        let start = Instant::now();
        let (mut steps, mut episodes) = (0u64, 0u32);
        while start.elapsed().as_secs_f64() < seconds || episodes == 0 {
            steps += run_episode(
                &mut env,
                SimplePolicy::Random,
                seed + 1 + episodes as u64,
                episodes,
            )?
            .physics_steps;
            episodes += 1;
        }
        let wall_s = start.elapsed().as_secs_f64();
        let dt = env.config().physics_dt;
        out.push(SimBench {
            robot: kind.name().to_string(),
            task: task.to_string(),
            physics_dt: dt,
            physics_steps: steps,
            wall_s,
            physics_steps_per_s: steps as f64 / wall_s,
            realtime_factor: steps as f64 * dt / wall_s,
        });
    }
    Ok(out)
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Samples.
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of `us` (sorted in place).
    pub fn of(us: &mut [f64]) -> Self {
        us.sort_by(f64::total_cmp);
        let at = |q: f64| {
            us.get(((us.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        Self {
            samples: us.len(),
            p50_us: at(0.5),
            p99_us: at(0.99),
            max_us: us.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Sensor-frame latency over zenoh on loopback beside raw zenoh.
#[derive(Clone, Debug, Serialize)]
pub struct WireBench {
    /// Encoded frame size in bytes (the raw payload has the same size).
    pub bytes: usize,
    /// Messages per second sent of each kind (interleaved).
    pub rate_hz: f64,
    /// Raw zenoh: put to receive.
    pub raw: Latency,
    /// umwelt frame: encode, put, receive, decode and check against the robot spec.
    pub frame: Latency,
    /// frame p50 / raw p50.
    pub p50_ratio: f64,
    /// frame p99 / raw p99.
    pub p99_ratio: f64,
    /// Frames lost or rejected.
    pub frames_lost: usize,
}

/// Measures publish-to-decoded latency of `messages` arm sensor frames (6
/// joints, 3 channels), interleaved with raw zenoh puts of the same size, at
/// `rate_hz`, between two zenoh sessions linked over TCP loopback.
pub fn bench_wire(
    messages: usize,
    rate_hz: f64,
) -> Result<WireBench, crate::nodes::transport::TransportError> {
    use crate::nodes::transport::{TransportError, ZenohArgs, free_loopback_endpoint};
    use crate::wire_bench::{WIRE_KEYS, WireLink, bench_wire_links};

    let endpoint = free_loopback_endpoint().map_err(|e| TransportError::Open(e.to_string()))?;
    let args = ZenohArgs::at(endpoint);
    let link = WireLink {
        publisher: args.open()?,
        subscriber: args.open()?,
        keys: WIRE_KEYS,
    };
    bench_wire_links(vec![link], messages, rate_hz)?
        .pop()
        .ok_or_else(|| TransportError::Open("no benchmark link".into()))
}

/// Control-loop timing with the `zero` controller against a simulated
/// cart-pole at the same rate, both over zenoh on loopback.
#[derive(Clone, Debug, Serialize)]
pub struct LoopBench {
    /// Control rate (Hz).
    pub rate_hz: f64,
    /// What started each tick.
    pub trigger: crate::control::config::Trigger,
    /// Control period (us): the baseline of the ratios.
    pub period_us: f64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks that overran their period.
    pub misses: u64,
    /// Tick start lateness.
    pub jitter: crate::control::timing::Percentiles,
    /// Frame sensor stamp to command publication.
    pub latency: crate::control::timing::Percentiles,
    /// jitter p99 / period.
    pub jitter_p99_per_period: f64,
    /// latency p99 / period.
    pub latency_p99_per_period: f64,
}

/// Runs the loop at `rate_hz` for `seconds` against a simulator thread.
pub fn bench_loop(
    rate_hz: f64,
    seconds: f64,
    trigger: crate::control::config::Trigger,
) -> Result<LoopBench, Box<dyn std::error::Error + Send + Sync>> {
    use std::sync::atomic::AtomicBool;

    use crate::control::{self, ControllerConfig, RunConfig, run_loop};
    use crate::nodes::sim_node::{SimNodeOptions, run_sim_node};
    use crate::nodes::transport::{ZenohArgs, free_loopback_endpoint};

    let zenoh = ZenohArgs::at(free_loopback_endpoint()?);
    let period = 1.0 / rate_hz;
    let mut robot = umwelt_sim::RobotConfig::builtin(umwelt_sim::RobotKind::Cartpole);
    robot.physics_dt = robot.physics_dt.min(period);
    robot.control_period = period;
    let env = Env::from_config(robot.clone(), "balance")?;
    let stop = AtomicBool::new(false);
    let sim_opts = SimNodeOptions {
        seed: 0,
        lockstep: false,
        lockstep_timeout: Duration::from_secs(1),
        duration: Some(Duration::from_secs_f64(seconds + 2.0)),
        episodes: None,
        record: None,
        zenoh: zenoh.clone(),
    };
    let cfg = RunConfig {
        robot: "cartpole".into(),
        task: "balance".into(),
        robot_config: None,
        observation: None,
        rate_hz: Some(rate_hz),
        trigger,
        telemetry_period_s: 1.0,
        controller: ControllerConfig::Zero,
        safety: Default::default(),
        realtime: Default::default(),
    };
    let resolved = cfg.resolve("bench loop")?;
    let ctl = control::build(&resolved)?;
    let opts = run_loop::LoopOptions {
        duration: Some(Duration::from_secs_f64(seconds)),
        zenoh,
        episode_seed: None,
        print_status: false,
    };
    let summary = std::thread::scope(|scope| {
        let sim = scope.spawn(|| run_sim_node(env, &sim_opts, &stop, &|| {}));
        // Let the simulator come up before timing starts.
        std::thread::sleep(Duration::from_millis(300));
        let s = run_loop(resolved, ctl, &opts, &AtomicBool::new(false), &|| {});
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = sim.join();
        s
    })?;
    let period_us = period * 1e6;
    Ok(LoopBench {
        rate_hz,
        trigger,
        period_us,
        ticks: summary.ticks,
        misses: summary.misses,
        jitter_p99_per_period: summary.jitter.p99_us / period_us,
        latency_p99_per_period: summary.latency.p99_us / period_us,
        jitter: summary.jitter,
        latency: summary.latency,
    })
}

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

type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Fixed `m x k` and `k x n` operands for the sgemm measurements (small
/// values, so no denormals or overflow; the same work every run).
fn sgemm_operands(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    (
        (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect(),
        (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect(),
    )
}

/// GFLOP/s of `m x k` times `k x n` with rows split over `threads` threads
/// (each multiplying its rows on its own, like the engine), run for about
/// `seconds`.
pub fn sgemm_gflops(
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
    seconds: f64,
) -> Result<f64, BenchError> {
    use umwelt_models::world_model::sgemm;
    let (lhs, rhs) = sgemm_operands(m, k, n);
    let one = |rows: std::ops::Range<usize>, dst: &mut [f32]| {
        sgemm(rows.len(), n, k, dst, n, &lhs[rows.start * k..], k, &rhs, n)
    };
    // Calibrate the count on one call, so every thread runs the same number.
    let mut dst = vec![0.0; m * n];
    for _ in 0..3 {
        one(0..m, &mut dst)?;
    }
    let t = Instant::now();
    one(0..m, &mut dst)?;
    let per_call = t.elapsed().as_secs_f64().max(1e-7) * threads as f64 / threads.min(m) as f64;
    let iters = ((seconds / per_call) as usize).clamp(3, 1_000_000);
    let chunks: Vec<std::ops::Range<usize>> = (0..threads)
        .map(|t| t * m / threads..(t + 1) * m / threads)
        .collect();
    let mut parts: Vec<Vec<f32>> = chunks.iter().map(|r| vec![0.0; r.len() * n]).collect();
    let start = Instant::now();
    std::thread::scope(|s| -> Result<(), BenchError> {
        let handles: Vec<_> = chunks
            .iter()
            .cloned()
            .zip(parts.iter_mut())
            .map(|(rows, dst)| {
                s.spawn(
                    move || -> Result<(), umwelt_models::world_model::ModelError> {
                        for _ in 0..iters {
                            one(rows.clone(), dst)?;
                        }
                        Ok(())
                    },
                )
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "sgemm thread panicked")??;
        }
        Ok(())
    })?;
    let wall = start.elapsed().as_secs_f64();
    Ok(2.0 * (m * n * k) as f64 * iters as f64 / wall / 1e9)
}

/// Times `call` repeatedly for about `seconds` (at least 5 calls, after 3
/// warm-up calls); wall times in seconds, sorted.
fn time_calls(
    seconds: f64,
    mut call: impl FnMut() -> Result<(), BenchError>,
) -> Result<Vec<f64>, BenchError> {
    for _ in 0..3 {
        call()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        call()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
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

/// Options of [`bench_plan`].
#[derive(Clone, Debug)]
pub struct PlanBenchOptions {
    /// Robot (its first task) whose sizes the model gets.
    pub robot: String,
    /// A checkpoint to plan with instead of a randomly initialised model.
    pub checkpoint: Option<std::path::PathBuf>,
    /// The planner (its budget is what is timed).
    pub planner: crate::plan::PlannerConfig,
    /// Model sizes when no checkpoint is given.
    pub model: umwelt_models::world_model::WorldModelConfig,
    /// Rollout threads.
    pub threads: usize,
    /// Plans to time (back to back, and as many paced).
    pub plans: usize,
    /// Also time plans paced at this control period.
    pub period: Option<Duration>,
    /// Where the rollout workers run.
    pub workers: umwelt_models::world_model::WorkerPlacement,
    /// How the model multiplies its wide layers.
    pub precision: umwelt_models::world_model::Precision,
}

/// What `umwelt bench plan` measures.
#[derive(Clone, Debug, Serialize)]
pub struct PlanBench {
    /// Robot and task.
    pub robot: String,
    /// Task.
    pub task: String,
    /// Where the model came from.
    pub model_source: String,
    /// Its sizes.
    pub model: umwelt_models::world_model::WorldModelConfig,
    /// The planner's budget.
    pub planner: crate::plan::PlannerConfig,
    /// How the model multiplied its wide layers.
    pub precision: umwelt_models::world_model::Precision,
    /// Whether this CPU has bfloat16 multiply-adds (AVX512-BF16).
    pub bf16_native: bool,
    /// How `bf16` products are computed here: `dpbf16` where the CPU has
    /// the instruction and it timed faster than the `f32` kernels, else
    /// `f32` (the same bits, at about f32's speed).
    pub bf16_kernel: umwelt_models::world_model::Bf16Kernel,
    /// What that choice timed, microseconds for four calls of a hidden
    /// layer (64 rows, 128 to 128): `[vdpbf16ps, f32 kernels]`; absent
    /// without AVX512-BF16.
    pub bf16_kernel_timing_us: Option<[f64; 2]>,
    /// Rollout threads.
    pub threads: usize,
    /// The CPU each rollout worker was bound to (`None`: it floated).
    pub worker_cpus: Vec<Option<usize>>,
    /// Latent sample-steps scored per plan.
    pub sample_steps: usize,
    /// FLOPs per plan (rollouts, terminal values and policy-prior samples).
    pub flops_per_plan: f64,
    /// Plans timed.
    pub plans: usize,
    /// Plan time percentiles, milliseconds (encoding included).
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
    /// GFLOP/s at the median plan time.
    pub gflops: f64,
    /// sgemm (512 x 256 x 256, gemm crate) on as many threads, this run.
    pub sgemm_gflops: f64,
    /// `gflops / sgemm_gflops`. Above 1 in `bf16` with bfloat16
    /// instructions, which do twice the multiply-adds of f32's.
    pub fraction_of_sgemm: f64,
    /// Plans per second at the median.
    pub plans_per_s: f64,
    /// `ms_p99 / ms_p50`: how far the slow plans stand out.
    pub tail: f64,
    /// The reference job, timed in blocks between the blocks of plans: a
    /// fixed count of sgemm calls split over as many threads, sized to
    /// take about a plan's time. Its tail is the machine's (preemption, a
    /// slowed vCPU), since the job does the same arithmetic every time.
    pub reference: ReferenceJob,
    /// Plans paced at a control period (`umwelt bench plan --period-ms`),
    /// if asked for.
    pub paced: Option<PacedPlans>,
}

/// Plan times when one plan starts every control period, as `umwelt run`
/// plans (the threads idle between plans).
#[derive(Clone, Debug, Serialize)]
pub struct PacedPlans {
    /// The period, milliseconds.
    pub period_ms: f64,
    /// Plan time percentiles, milliseconds.
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
}

/// What [`PlanBench::reference`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct ReferenceJob {
    /// sgemm calls per job (`m x k x n` each, see `shape`).
    pub calls: usize,
    /// The product's shape, `[m, k, n]`.
    pub shape: [usize; 3],
    /// Job time percentiles, milliseconds.
    pub ms_p50: f64,
    /// 99th percentile.
    pub ms_p99: f64,
    /// Largest.
    pub ms_max: f64,
    /// `ms_p99 / ms_p50`.
    pub tail: f64,
    /// Threads the calls are split over.
    pub threads: usize,
}

/// Times the MPC planner over the learned model (a checkpoint's or a
/// randomly initialised one of the same sizes; speed does not depend on
/// the weights) from observations of a random-policy episode, with the
/// deadline far away so every iteration runs: the full budget is timed.
/// Blocks of plans alternate with blocks of a fixed reference job of about
/// a plan's length on as many threads, so that the report can say how
/// much of the plans' tail is the machine's; then, with `period`, as many
/// plans paced one per period, as the control loop plans.
pub fn bench_plan(o: &PlanBenchOptions) -> Result<PlanBench, BenchError> {
    use burn::tensor::Device;
    use umwelt_models::world_model::{Checkpoint, InferenceModel, Normalization, WorldModel};

    use crate::control::mpc::Objective;
    use crate::control::{ControlInput, Controller};
    use crate::plan::LearnedModel;

    let kind = RobotKind::from_name(&o.robot)?;
    let task = tasks_of(kind)
        .first()
        .map(|t| t.name.to_string())
        .ok_or("robot without tasks")?;
    let mut env = Env::new(&o.robot, &task)?;
    let (od, ad) = (env.observation_spec().len(), env.action_spec().len());
    let device = Device::flex();
    let (model, norm, gamma, repeat, source) = match &o.checkpoint {
        Some(path) => {
            let ck = Checkpoint::load(path, &device)?;
            let g = ck.meta.train.config.gamma;
            (
                ck.model,
                ck.meta.normalization,
                g,
                ck.meta.action_repeat as usize,
                path.display().to_string(),
            )
        }
        None => {
            let cfg = umwelt_models::world_model::WorldModelConfig {
                obs_dim: od,
                act_dim: ad,
                ..o.model.clone()
            };
            (
                WorldModel::new(&cfg, 0, &device)?,
                Normalization::identity(od, ad),
                0.99,
                1,
                "random initialisation".to_string(),
            )
        }
    };
    // A model of several control steps per step plans with that repeat; no
    // holding, so that every call is a full plan and is timed.
    let p = &crate::plan::PlannerConfig {
        action_repeat: repeat,
        hold: false,
        ..o.planner.clone()
    };
    let flops_model = InferenceModel::from_model(&model)?;
    let mut learned = LearnedModel::from_model(
        &model,
        norm,
        gamma,
        repeat,
        &Objective::Task,
        o.precision,
        o.threads,
        p.samples,
        p.horizon,
    )?;
    learned.place_workers(&o.workers)?;
    let worker_cpus = learned.worker_cpus().to_vec();
    // The planner's model chose its bfloat16 kernel; an f32 run reports
    // what a bf16 model would choose here.
    let (bf16_kernel, bf16_timings) = match o.precision {
        umwelt_models::world_model::Precision::Bf16 => {
            let m = learned.inference_model();
            (m.bf16_kernel(), m.bf16_kernel_timings())
        }
        umwelt_models::world_model::Precision::F32 => {
            umwelt_models::world_model::Bf16Kernel::choose()
        }
    };
    let flops_per_plan = p.iterations as f64 * flops_model.flops_rollout(p.samples, p.horizon)
        + flops_model.flops_policy_rollout(p.policy_samples, p.horizon);
    let mut mpc = crate::control::mpc::Mpc::new(p.clone(), Box::new(learned))?;
    mpc.reset();
    let mut obs = env.reset(0)?;
    let mut out = vec![0.0; ad];
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let spec = env.action_spec().clone();
    // The deadline is far away in every plan: the full budget is timed.
    let mut plan = |i: usize| -> Result<f64, BenchError> {
        let input = ControlInput {
            observation: &obs.vector,
            sensors: &obs.sensors,
            deadline: Instant::now() + Duration::from_secs(10),
        };
        let t = Instant::now();
        mpc.act(&input, &mut out)?;
        let took = t.elapsed().as_secs_f64();
        // Move on with random actions: plans from varied states.
        let mut a = Vec::new();
        SimplePolicy::Random.act(&obs, &spec, &mut rng, &mut a);
        let s = env.step(&a)?;
        obs = if s.terminated || s.truncated {
            env.reset(i as u64)?
        } else {
            s.observation
        };
        Ok(took)
    };
    for i in 0..5 {
        plan(i)?;
    }
    let mut reference = Reference::new(o.threads);
    // Back to back, in blocks of plans and of reference jobs in turn: both
    // keep every thread busy, and each block sees the machine as the
    // neighbouring ones do.
    let mut times = Vec::with_capacity(o.plans);
    let mut job_times = Vec::with_capacity(o.plans);
    let mut i = 5;
    while times.len() < o.plans {
        let block = (o.plans - times.len()).min(Reference::BLOCK);
        for _ in 0..block {
            times.push(plan(i)?);
            i += 1;
        }
        if job_times.is_empty() {
            // Sized on the first block of timed plans: the first few plans
            // of a fresh engine run slow.
            let mut first = times.clone();
            first.sort_by(f64::total_cmp);
            reference.size_to(quantile(&first, 0.5))?;
        }
        for _ in 0..block {
            job_times.push(reference.run()?);
        }
    }
    // Paced: one plan per control period, as `umwelt run` plans, the
    // threads idle in between.
    let mut paced = Vec::with_capacity(o.plans);
    if let Some(period) = o.period {
        let mut next = Instant::now() + period;
        for _ in 0..o.plans {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next = Instant::now().max(next) + period;
            paced.push(plan(i)?);
            i += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    job_times.sort_by(f64::total_cmp);
    paced.sort_by(f64::total_cmp);
    let sgemm = sgemm_gflops(512, 256, 256, o.threads, 1.0)?;
    let p50 = quantile(&times, 0.5);
    let gflops = flops_per_plan / p50 / 1e9;
    let ms = |q: f64, t: &[f64]| quantile(t, q) * 1e3;
    let reference = ReferenceJob {
        calls: reference.calls,
        shape: [Reference::M, Reference::K, Reference::N],
        ms_p50: ms(0.5, &job_times),
        ms_p99: ms(0.99, &job_times),
        ms_max: job_times.last().copied().unwrap_or(f64::NAN) * 1e3,
        tail: quantile(&job_times, 0.99) / quantile(&job_times, 0.5),
        threads: reference.threads,
    };
    let paced = o.period.map(|period| PacedPlans {
        period_ms: period.as_secs_f64() * 1e3,
        ms_p50: ms(0.5, &paced),
        ms_p99: ms(0.99, &paced),
        ms_max: paced.last().copied().unwrap_or(f64::NAN) * 1e3,
    });
    Ok(PlanBench {
        robot: o.robot.clone(),
        task,
        model_source: source,
        model: flops_model.config().clone(),
        planner: p.clone(),
        precision: o.precision,
        bf16_native: umwelt_models::world_model::Precision::bf16_native(),
        bf16_kernel,
        bf16_kernel_timing_us: bf16_timings
            .map(|(dp, f)| [dp.as_secs_f64() * 1e6, f.as_secs_f64() * 1e6]),
        threads: o.threads,
        worker_cpus,
        sample_steps: p.sample_steps(),
        flops_per_plan,
        plans: times.len(),
        ms_p50: p50 * 1e3,
        ms_p99: quantile(&times, 0.99) * 1e3,
        ms_max: times.last().copied().unwrap_or(f64::NAN) * 1e3,
        gflops,
        sgemm_gflops: sgemm,
        fraction_of_sgemm: gflops / sgemm,
        plans_per_s: 1.0 / p50,
        tail: quantile(&times, 0.99) / p50,
        reference,
        paced,
    })
}

/// The fixed job [`bench_plan`] times between its blocks of plans (see
/// [`PlanBench::reference`]).
struct Reference {
    lhs: Vec<f32>,
    rhs: Vec<f32>,
    /// One output buffer per thread.
    dst: Vec<Vec<f32>>,
    calls: usize,
    threads: usize,
}

impl Reference {
    /// One call's shape: a rollout tile's rows, twice a hidden layer's width.
    const M: usize = 64;
    const K: usize = 256;
    const N: usize = 256;
    /// Plans, then as many jobs, in turn.
    const BLOCK: usize = 10;

    fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (lhs, rhs) = sgemm_operands(Self::M, Self::K, Self::N);
        Self {
            lhs,
            rhs,
            dst: vec![vec![0.0; Self::M * Self::N]; threads],
            calls: threads,
            threads,
        }
    }

    /// Sets the call count so that a job takes about `seconds`.
    fn size_to(&mut self, seconds: f64) -> Result<(), BenchError> {
        // Rescaled on whole jobs, not single calls: a short call can fit
        // between two preemptions that a plan-long job cannot avoid.
        self.calls = self.threads;
        for _ in 0..4 {
            let mut t = (0..3).map(|_| self.run()).collect::<Result<Vec<_>, _>>()?;
            t.sort_by(f64::total_cmp);
            let per_call = t[1].max(1e-7) / self.calls as f64;
            self.calls = ((seconds / per_call).round() as usize).clamp(self.threads, 1_000_000);
        }
        Ok(())
    }

    /// Runs the job, its calls split evenly over the threads (the calling
    /// one and scoped helpers); its wall time in seconds.
    fn run(&mut self) -> Result<f64, BenchError> {
        use umwelt_models::world_model::{ModelError, sgemm};
        let (m, k, n) = (Self::M, Self::K, Self::N);
        let (lhs, rhs, threads) = (&self.lhs, &self.rhs, self.threads);
        let calls = self.calls;
        let work = |t: usize, dst: &mut Vec<f32>| -> Result<(), ModelError> {
            for _ in 0..(calls * (t + 1) / threads - calls * t / threads) {
                sgemm(m, n, k, dst, n, lhs, k, rhs, n)?;
            }
            Ok(())
        };
        let start = Instant::now();
        std::thread::scope(|s| -> Result<(), BenchError> {
            let (first, rest) = self.dst.split_at_mut(1);
            let helpers: Vec<_> = rest
                .iter_mut()
                .enumerate()
                .map(|(t, dst)| s.spawn(move || work(t + 1, dst)))
                .collect();
            work(0, &mut first[0])?;
            for h in helpers {
                h.join().map_err(|_| "reference job thread panicked")??;
            }
            Ok(())
        })?;
        Ok(start.elapsed().as_secs_f64())
    }
}

/// Options of [`bench_record`].
#[derive(Clone, Debug)]
pub struct RecordBenchOptions {
    /// Sensor frames to record (an arm reaching under random actions).
    pub messages: usize,
    /// An RGB image of this many pixels (width, height) in every frame, of
    /// seeded random bytes (the worst case for compression); none if `None`.
    pub image: Option<(u16, u16)>,
    /// Folder for the two files written (removed at the end).
    pub dir: std::path::PathBuf,
}

/// What `umwelt bench record` measures.
#[derive(Clone, Debug, Serialize)]
pub struct RecordBench {
    /// Frames recorded.
    pub messages: usize,
    /// Bytes of one frame on the wire.
    pub frame_bytes: usize,
    /// Recorder: frames written per second (MCAP, zstd chunks, summary
    /// counts, index and footer, synced to disk).
    pub record_msgs_per_s: f64,
    /// Recorder: payload MB (1e6 bytes) written per second.
    pub record_mb_per_s: f64,
    /// Baseline: the same payloads written back to back to a plain file
    /// (buffered, synced), MB per second.
    pub raw_mb_per_s: f64,
    /// Recorder throughput as a share of the plain file's.
    pub record_vs_raw: f64,
    /// Recording file size over payload bytes (zstd on real sensor data).
    pub file_vs_payload: f64,
    /// Reading the recording back (decompress, frames in order): frames per second.
    pub read_msgs_per_s: f64,
    /// Recorder frames per second as a multiple of a 100 Hz robot's.
    pub record_vs_100hz: f64,
}

/// Times [`crate::recording::Recorder`] writing `o.messages` real sensor
/// frames of the arm (as `umwelt sim` publishes them), beside writing the
/// same bytes to a plain file in the same run, and reading the recording
/// back.
pub fn bench_record(o: &RecordBenchOptions) -> Result<RecordBench, BenchError> {
    use std::io::Write;

    use rand::{Rng, SeedableRng};

    use crate::recording::{Recorder, Recording};
    use crate::wire::{self, Image, ImageEncoding, Message, SensorFrame};

    let mut env = Env::new("arm", "reach")?;
    let spec = env.action_spec().clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut obs = env.reset(0)?;
    let mut action = Vec::new();
    let mut payloads = Vec::with_capacity(o.messages);
    for seq in 0..o.messages as u64 {
        let images = match o.image {
            Some((w, h)) => {
                let mut data = vec![0u8; usize::from(w) * usize::from(h) * 3];
                rng.fill(&mut data[..]);
                vec![Image {
                    name: "camera".into(),
                    width: w,
                    height: h,
                    encoding: ImageEncoding::Rgb8,
                    data,
                }]
            }
            None => Vec::new(),
        };
        let frame = SensorFrame {
            seq,
            stamp_ns: 1_700_000_000_000_000_000 + seq * 20_000_000,
            robot: env.robot_name().to_string(),
            positions: obs.sensors.positions.clone(),
            velocities: obs.sensors.velocities.clone(),
            efforts: obs.sensors.efforts.clone(),
            channels: env
                .channel_names()
                .iter()
                .cloned()
                .zip(obs.sensors.channels.iter().copied())
                .collect(),
            images,
        };
        payloads.push(wire::encode(&Message::SensorFrame(frame)));
        SimplePolicy::Random.act(&obs, &spec, &mut rng, &mut action);
        let step = env.step(&action)?;
        obs = if step.terminated || step.truncated {
            env.reset(seq)?
        } else {
            step.observation
        };
    }
    let total: usize = payloads.iter().map(Vec::len).sum();
    std::fs::create_dir_all(&o.dir)?;
    let (mcap_path, raw_path) = (o.dir.join("bench.mcap"), o.dir.join("bench.raw"));
    for p in [&mcap_path, &raw_path] {
        if p.exists() {
            std::fs::remove_file(p)?;
        }
    }

    let t = Instant::now();
    let mut raw = std::io::BufWriter::new(std::fs::File::create(&raw_path)?);
    for p in &payloads {
        raw.write_all(p)?;
    }
    raw.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let raw_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut rec = Recorder::create(&mcap_path, &Default::default())?;
    for (i, p) in payloads.iter().enumerate() {
        rec.write("umwelt/arm/sensors", p, i as u64 * 20_000_000)?;
    }
    rec.finish()?;
    let record_s = t.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(&mcap_path)?.len();

    let t = Instant::now();
    let mut read = 0usize;
    let incomplete = Recording::open(&mcap_path)?.scan(|m| {
        read += usize::from(m.payload == payloads[read]);
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    let read_s = t.elapsed().as_secs_f64();
    if read != payloads.len() || incomplete.is_some() {
        return Err(format!("read back {read} of {} frames intact", payloads.len()).into());
    }
    std::fs::remove_file(&mcap_path).ok();
    std::fs::remove_file(&raw_path).ok();
    std::fs::remove_dir(&o.dir).ok();
    let n = payloads.len() as f64;
    let mb = total as f64 / 1e6;
    Ok(RecordBench {
        messages: payloads.len(),
        frame_bytes: total / payloads.len().max(1),
        record_msgs_per_s: n / record_s,
        record_mb_per_s: mb / record_s,
        raw_mb_per_s: mb / raw_s,
        record_vs_raw: raw_s / record_s,
        file_vs_payload: file_bytes as f64 / total as f64,
        read_msgs_per_s: n / read_s,
        record_vs_100hz: n / record_s / 100.0,
    })
}
