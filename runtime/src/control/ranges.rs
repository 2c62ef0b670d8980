//! The sensible range of every number in a controller config, checked when
//! the config is loaded (before any thread starts), so that a value that
//! would panic a thread or silently disable control (a deadline wrapped into
//! the past, a NaN gain) is refused with the key and the value.

use super::baseline::CartpoleParams;
use super::config::{ControllerConfig, RunConfig};
use super::mpc::Objective;

/// Shortest `telemetry_period_s`, in seconds.
pub const MIN_TELEMETRY_PERIOD_S: f64 = 0.01;
/// Longest `telemetry_period_s`, in seconds: one hour.
pub const MAX_TELEMETRY_PERIOD_S: f64 = 3_600.0;
/// Smallest `safety.deadline_periods`: a command must be able to arrive.
pub const MIN_DEADLINE_PERIODS: f64 = 0.5;
/// Largest `safety.deadline_periods`.
pub const MAX_DEADLINE_PERIODS: f64 = 100.0;
/// Smallest `safety.stale_after_periods`: a frame is due every period.
pub const MIN_STALE_AFTER_PERIODS: f64 = 1.0;
/// Largest `safety.stale_after_periods`.
pub const MAX_STALE_AFTER_PERIODS: f64 = 1_000.0;
/// Largest `realtime.spin_us`: one second.
pub const MAX_SPIN_US: u64 = 1_000_000;
/// `realtime.cpu` must be below this (the kernel's CPU set size).
pub const CPU_SET_SIZE: usize = 1_024;
/// The most rollout threads an MPC controller may use.
pub const MAX_MPC_THREADS: usize = 256;
/// Largest gain, weight, mass or force a controller parameter may have.
const BIG: f64 = 1e6;

/// `v` is finite and in `[lo, hi]` (`(lo, hi]` when `open_low`); otherwise
/// a message naming `key` and `v`.
fn check(key: &str, v: f64, lo: f64, open_low: bool, hi: f64) -> Result<(), String> {
    let low_ok = if open_low { v > lo } else { v >= lo };
    if low_ok && v <= hi {
        return Ok(());
    }
    let bracket = if open_low { "(" } else { "[" };
    Err(format!("{key} = {v:?}: must be in {bracket}{lo}, {hi}]"))
}

/// Checks every number of `cfg` that the robot does not constrain (those
/// that it does, `rate_hz` and `safety.limits`, are checked in
/// [`RunConfig::resolve`]); the message names the key and the value.
pub fn check_ranges(cfg: &RunConfig) -> Result<(), String> {
    check(
        "telemetry_period_s",
        cfg.telemetry_period_s,
        MIN_TELEMETRY_PERIOD_S,
        false,
        MAX_TELEMETRY_PERIOD_S,
    )?;
    let sa = &cfg.safety;
    check(
        "safety.stale_after_periods",
        sa.stale_after_periods,
        MIN_STALE_AFTER_PERIODS,
        false,
        MAX_STALE_AFTER_PERIODS,
    )?;
    check(
        "safety.deadline_periods",
        sa.deadline_periods,
        MIN_DEADLINE_PERIODS,
        false,
        MAX_DEADLINE_PERIODS,
    )?;
    let rt = &cfg.realtime;
    if let Some(p) = rt.fifo_priority
        && !(1..=99).contains(&p)
    {
        return Err(format!("realtime.fifo_priority = {p}: must be 1-99"));
    }
    if let Some(c) = rt.cpu
        && c >= CPU_SET_SIZE
    {
        return Err(format!("realtime.cpu = {c}: must be below {CPU_SET_SIZE}"));
    }
    if rt.spin_us > MAX_SPIN_US {
        return Err(format!(
            "realtime.spin_us = {}: must be at most {MAX_SPIN_US}",
            rt.spin_us
        ));
    }
    check_controller(&cfg.controller)
}

/// Checks the numbers of the `[controller]` table.
fn check_controller(c: &ControllerConfig) -> Result<(), String> {
    match c {
        ControllerConfig::Zero | ControllerConfig::Random { .. } => Ok(()),
        ControllerConfig::Hold { kp, kd } => {
            check("controller.kp", f64::from(*kp), 0.0, false, BIG)?;
            check("controller.kd", f64::from(*kd), 0.0, false, BIG)
        }
        ControllerConfig::FaultInjection { value, .. } => {
            check("controller.value", f64::from(*value), -BIG, false, BIG)
        }
        ControllerConfig::CartpoleSwingup(p) => check_cartpole(p),
        ControllerConfig::Mpc(m) => {
            if !(1..=MAX_MPC_THREADS).contains(&m.threads) {
                return Err(format!(
                    "controller.threads = {}: must be 1 to {MAX_MPC_THREADS}",
                    m.threads
                ));
            }
            if let Objective::Goal { observation, .. } = &m.objective
                && let Some(i) = observation.iter().position(|v| !v.is_finite())
            {
                return Err(format!(
                    "controller.objective.observation[{i}] = {:?}: must be finite",
                    observation[i]
                ));
            }
            m.planner
                .validate()
                .map_err(|e| format!("controller.planner: {e}"))
        }
    }
}

/// Checks the cart-pole baseline's model and tuning.
fn check_cartpole(p: &CartpoleParams) -> Result<(), String> {
    check("controller.cart_mass", p.cart_mass, 0.0, true, 1e3)?;
    check("controller.pole_mass", p.pole_mass, 0.0, true, 1e3)?;
    check("controller.pole_length", p.pole_length, 0.0, true, 100.0)?;
    check("controller.energy_gain", p.energy_gain, 0.0, false, BIG)?;
    for (i, g) in p.centre_gains.iter().enumerate() {
        check(
            &format!("controller.centre_gains[{i}]"),
            *g,
            0.0,
            false,
            BIG,
        )?;
    }
    check("controller.switch_deg", p.switch_deg, 0.0, true, 180.0)?;
    for (i, q) in p.lqr_q.iter().enumerate() {
        check(&format!("controller.lqr_q[{i}]"), *q, 0.0, false, BIG)?;
    }
    check("controller.lqr_r", p.lqr_r, 0.0, true, BIG)?;
    check("controller.max_force", p.max_force, 0.0, true, BIG)
}
