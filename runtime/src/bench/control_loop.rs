//! `umwelt bench loop`: control-loop jitter and frame-to-command latency
//! with the `zero` controller against a simulated cart-pole, as fractions
//! of the control period.

use std::time::Duration;

use serde::Serialize;
use umwelt_sim::Env;

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
        name: None,
        lockstep: false,
        lockstep_timeout: Duration::from_secs(1),
        duration: Some(Duration::from_secs_f64(seconds + 2.0)),
        episodes: None,
        record: None,
        cameras: Vec::new(),
        zenoh: zenoh.clone(),
    };
    let cfg = RunConfig {
        robot: "cartpole".into(),
        name: None,
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
