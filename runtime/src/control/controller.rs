//! The `Controller` trait and the model-free controllers built in.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use umwelt_sim::{ActuationMode, Measurement};

use super::baseline::CartpoleSwingup;
use super::config::{ControllerConfig, Resolved};

/// What a controller sees each tick.
pub struct ControlInput<'a> {
    /// The observation vector (features of the config's observation map).
    pub observation: &'a [f32],
    /// The raw sensor values, joints in the robot's declared order.
    pub sensors: &'a Measurement,
    /// When the command must be ready: an anytime controller returns its
    /// best answer before this.
    pub deadline: Instant,
}

/// A controller's failure; the loop then commands the safe action.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControllerError {
    /// The controller could not be built.
    #[error("controller setup: {0}")]
    Setup(String),
    /// The controller could not produce an action this tick.
    #[error("controller failed: {0}")]
    Failed(String),
}

/// Turns observations into actions; called once per control tick.
pub trait Controller: Send {
    /// A short name for logs and reports.
    fn name(&self) -> &str;
    /// Forgets per-episode state (called at start and after a gap in frames).
    fn reset(&mut self);
    /// Restarts any random stream from `seed`, so that an evaluation gives
    /// each episode the same draws whichever worker runs it. Deterministic
    /// controllers ignore it.
    fn reseed(&mut self, _seed: u64) {}
    /// Writes one value per actuator into `out` (pre-filled with zeros).
    fn act(&mut self, input: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError>;
}

/// Always zero.
pub struct Zero;

impl Controller for Zero {
    fn name(&self) -> &str {
        "zero"
    }
    fn reset(&mut self) {}
    fn act(&mut self, _: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
        out.fill(0.0);
        Ok(())
    }
}

/// Holds the first positions it sees (PD on torque robots; zero velocity on
/// velocity robots).
pub struct Hold {
    kp: f32,
    kd: f32,
    mode: ActuationMode,
    actuated: Vec<usize>,
    target: Option<Vec<f32>>,
}

impl Controller for Hold {
    fn name(&self) -> &str {
        "hold"
    }
    fn reset(&mut self) {
        self.target = None;
    }
    fn act(&mut self, input: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
        let s = input.sensors;
        let target = self.target.get_or_insert_with(|| s.positions.clone());
        for (o, &j) in out.iter_mut().zip(&self.actuated) {
            *o = match self.mode {
                ActuationMode::Torque => {
                    self.kp * (target[j] - s.positions[j]) - self.kd * s.velocities[j]
                }
                ActuationMode::Velocity => 0.0,
            };
        }
        Ok(())
    }
}

/// Uniform random actions within the limits.
pub struct Random {
    rng: ChaCha8Rng,
    limits: Vec<[f32; 2]>,
}

impl Controller for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn reset(&mut self) {}
    fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }
    fn act(&mut self, _: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
        for (o, [lo, hi]) in out.iter_mut().zip(&self.limits) {
            *o = self.rng.random_range(*lo..=*hi);
        }
        Ok(())
    }
}

/// A constant action with periodic faults (see
/// [`ControllerConfig::FaultInjection`]).
pub struct FaultInjection {
    value: f32,
    nan_every: u64,
    panic_every: u64,
    error_every: u64,
    tick: u64,
}

impl Controller for FaultInjection {
    fn name(&self) -> &str {
        "fault_injection"
    }
    fn reset(&mut self) {}
    fn act(&mut self, _: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
        self.tick += 1;
        let due = |every: u64| every > 0 && self.tick.is_multiple_of(every);
        if due(self.panic_every) {
            panic!("fault injection: panic at tick {}", self.tick);
        }
        if due(self.error_every) {
            return Err(ControllerError::Failed(format!(
                "fault injection: error at tick {}",
                self.tick
            )));
        }
        out.fill(if due(self.nan_every) {
            f32::NAN
        } else {
            self.value
        });
        Ok(())
    }
}

/// Checks that `controller` can keep up with the configured rate: times 20
/// calls on a neutral input (all joints at zero) and fails, naming
/// `rate_hz`, when the median exceeds half the period. Returns the median.
pub fn check_rate(
    r: &Resolved,
    controller: &mut dyn Controller,
) -> Result<std::time::Duration, super::ConfigError> {
    let n = r.env.joint_names().len();
    let sensors = Measurement {
        positions: vec![0.0; n],
        velocities: vec![0.0; n],
        efforts: vec![0.0; n],
        channels: vec![0.0; r.env.channel_names().len()],
    };
    let observation = r.observation.vector(&sensors);
    let mut out = vec![0.0; r.limits.len()];
    let mut times = Vec::with_capacity(20);
    controller.reset();
    for _ in 0..20 {
        let input = ControlInput {
            observation: &observation,
            sensors: &sensors,
            deadline: Instant::now(),
        };
        let t0 = Instant::now();
        // Errors and panics are the safety layer's business at run time; here only speed matters.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            controller.act(&input, &mut out)
        }));
        times.push(t0.elapsed());
    }
    controller.reset();
    times.sort();
    let median = times[times.len() / 2];
    if median.as_secs_f64() > 0.5 * r.period {
        return Err(super::ConfigError::Invalid {
            origin: "controller config".into(),
            message: format!(
                "rate_hz = {:.0}: controller `{}` takes {:.0} us per tick (median of 20 trial runs), more than half the {:.0} us period; lower rate_hz",
                1.0 / r.period,
                controller.name(),
                median.as_secs_f64() * 1e6,
                r.period * 1e6
            ),
        });
    }
    Ok(median)
}

/// Builds the configured controller.
pub fn build(r: &Resolved) -> Result<Box<dyn Controller>, ControllerError> {
    let actuated: Vec<usize> = r
        .robot
        .joints
        .iter()
        .enumerate()
        .filter(|(_, j)| j.actuated)
        .map(|(i, _)| i)
        .collect();
    Ok(match &r.config.controller {
        ControllerConfig::Zero => Box::new(Zero),
        ControllerConfig::Hold { kp, kd } => Box::new(Hold {
            kp: *kp,
            kd: *kd,
            mode: r.robot.actuation,
            actuated,
            target: None,
        }),
        ControllerConfig::Random { seed } => Box::new(Random {
            rng: ChaCha8Rng::seed_from_u64(*seed),
            limits: r.limits.clone(),
        }),
        ControllerConfig::FaultInjection {
            value,
            nan_every,
            panic_every,
            error_every,
        } => Box::new(FaultInjection {
            value: *value,
            nan_every: *nan_every,
            panic_every: *panic_every,
            error_every: *error_every,
            tick: 0,
        }),
        ControllerConfig::Mpc(c) => Box::new(super::mpc::Mpc::from_config(r, c)?),
        ControllerConfig::CartpoleSwingup(p) => Box::new(CartpoleSwingup::new(
            p.clone(),
            r.env.joint_names(),
            r.period,
        )?),
    })
}
