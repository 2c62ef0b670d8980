//! Benchmarks reported as ratios against a baseline measured in the same run.

use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_sim::{Env, RobotKind, SimError, tasks_of};

use crate::rollout::{SimplePolicy, run_episode};

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
) -> Result<WireBench, crate::transport::TransportError> {
    use std::sync::{Arc, Mutex};

    use zenoh::Wait;

    use crate::transport::{TransportError, ZenohArgs, free_loopback_endpoint, wait_for_peer};
    use crate::wire::{self, Message, RobotWireSpec, SensorFrame};

    let endpoint = free_loopback_endpoint().map_err(|e| TransportError::Open(e.to_string()))?;
    let args = ZenohArgs::at(endpoint);
    let a = args.open()?;
    let b = args.open()?;
    if !(wait_for_peer(&a, Duration::from_secs(5)) && wait_for_peer(&b, Duration::from_secs(5))) {
        return Err(TransportError::Open(
            "the two benchmark sessions did not link".into(),
        ));
    }
    let declare = |what: &'static str, key: &str| {
        let key = key.to_string();
        move |e: zenoh::Error| TransportError::Declare {
            what,
            key,
            message: e.to_string(),
        }
    };
    let spec = RobotWireSpec {
        robot: "arm".into(),
        joints: 6,
        channels: vec![
            "to_target_x".into(),
            "to_target_y".into(),
            "to_target_z".into(),
        ],
        actuators: 6,
    };
    let frame_us = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let raw_us = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let (sink, check) = (frame_us.clone(), spec.clone());
    let _fs = b
        .declare_subscriber("umwelt/bench/sensors")
        .callback(move |s| {
            if let Ok(f) = wire::decode_sensor_frame(&s.payload().to_bytes())
                && check.check_frame(&f).is_ok()
                && let Ok(mut v) = sink.lock()
            {
                v.push(wire::now_ns().saturating_sub(f.stamp_ns) as f64 / 1e3);
            }
        })
        .wait()
        .map_err(declare("subscriber", "umwelt/bench/sensors"))?;
    let sink = raw_us.clone();
    let _rs = b
        .declare_subscriber("umwelt/bench/raw")
        .callback(move |s| {
            let bytes = s.payload().to_bytes();
            if let Some(sent) = bytes
                .get(..8)
                .and_then(|h| h.try_into().ok())
                .map(u64::from_le_bytes)
                && let Ok(mut v) = sink.lock()
            {
                v.push(wire::now_ns().saturating_sub(sent) as f64 / 1e3);
            }
        })
        .wait()
        .map_err(declare("subscriber", "umwelt/bench/raw"))?;
    let frames = a
        .declare_publisher("umwelt/bench/sensors")
        .express(true)
        .wait()
        .map_err(declare("publisher", "umwelt/bench/sensors"))?;
    let raw = a
        .declare_publisher("umwelt/bench/raw")
        .express(true)
        .wait()
        .map_err(declare("publisher", "umwelt/bench/raw"))?;
    let mut frame = SensorFrame {
        seq: 0,
        stamp_ns: 0,
        robot: "arm".into(),
        positions: vec![0.1; 6],
        velocities: vec![0.2; 6],
        efforts: vec![0.3; 6],
        channels: spec.channels.iter().map(|c| (c.clone(), 0.5)).collect(),
        images: Vec::new(),
    };
    let bytes = wire::encode(&Message::SensorFrame(frame.clone())).len();
    let mut payload = vec![0u8; bytes];
    let mut buf = Vec::with_capacity(bytes);
    let period = Duration::from_secs_f64(1.0 / rate_hz.max(1.0));
    let put_err = |key: &str| {
        let key = key.to_string();
        move |e: zenoh::Error| TransportError::Put {
            key,
            message: e.to_string(),
        }
    };
    // Warm-up: links, buffers, caches.
    for _ in 0..50 {
        raw.put(payload.clone())
            .wait()
            .map_err(put_err("umwelt/bench/raw"))?;
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    raw_us.lock().map(|mut v| v.clear()).ok();
    let mut next = Instant::now();
    for i in 0..messages {
        for kind in 0..2 {
            next += period / 2;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if (i + kind) % 2 == 0 {
                frame.seq = i as u64;
                frame.stamp_ns = wire::now_ns();
                buf.clear();
                wire::encode_into(&Message::SensorFrame(frame.clone()), &mut buf);
                frames
                    .put(buf.as_slice())
                    .wait()
                    .map_err(put_err("umwelt/bench/sensors"))?;
            } else {
                payload[..8].copy_from_slice(&wire::now_ns().to_le_bytes());
                raw.put(payload.as_slice())
                    .wait()
                    .map_err(put_err("umwelt/bench/raw"))?;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut f = frame_us.lock().map(|v| v.clone()).unwrap_or_default();
    let mut r = raw_us.lock().map(|v| v.clone()).unwrap_or_default();
    let _ = a.close().wait();
    let _ = b.close().wait();
    let (frame, raw) = (Latency::of(&mut f), Latency::of(&mut r));
    Ok(WireBench {
        bytes,
        rate_hz,
        p50_ratio: frame.p50_us / raw.p50_us,
        p99_ratio: frame.p99_us / raw.p99_us,
        frames_lost: messages.saturating_sub(frame.samples),
        raw,
        frame,
    })
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

    use crate::control::{ControllerConfig, RunConfig, controller, run_loop};
    use crate::sim_node::{SimNodeOptions, run_sim_node};
    use crate::transport::{ZenohArgs, free_loopback_endpoint};

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
    let ctl = controller::build(&resolved)?;
    let opts = run_loop::LoopOptions {
        duration: Some(Duration::from_secs_f64(seconds)),
        zenoh,
    };
    let summary = std::thread::scope(|scope| {
        let sim = scope.spawn(|| run_sim_node(env, &sim_opts, &stop));
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
