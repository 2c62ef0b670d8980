//! The model-free controllers built in: zero, hold, random and fault
//! injection (the last for testing the safety layer).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::wire::CommandMode;

use super::controller::{ControlInput, Controller, ControllerError};

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

/// Holds the first positions it sees (PD on torque robots, zero velocity
/// on velocity robots, the positions themselves on position robots).
pub struct Hold {
    kp: f32,
    kd: f32,
    mode: CommandMode,
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
                CommandMode::Torque => {
                    self.kp * (target[j] - s.positions[j]) - self.kd * s.velocities[j]
                }
                CommandMode::Velocity => 0.0,
                CommandMode::Position => target[j],
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
/// [`ControllerConfig::FaultInjection`](super::config::ControllerConfig::FaultInjection)).
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

impl Hold {
    /// Holds with gains `kp`, `kd` on the `actuated` joints (indices into the
    /// robot's joints, one per actuator), under actuation `mode`.
    pub fn new(kp: f32, kd: f32, mode: CommandMode, actuated: Vec<usize>) -> Self {
        Self {
            kp,
            kd,
            mode,
            actuated,
            target: None,
        }
    }
}

impl Random {
    /// Uniform draws within `limits` (one `[low, high]` per actuator) from
    /// a stream seeded with `seed`.
    pub fn new(seed: u64, limits: Vec<[f32; 2]>) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            limits,
        }
    }
}

impl FaultInjection {
    /// `value` on every actuator; a NaN, a panic or an error every
    /// `nan_every`, `panic_every`, `error_every` ticks (0: never).
    pub fn new(value: f32, nan_every: u64, panic_every: u64, error_every: u64) -> Self {
        Self {
            value,
            nan_every,
            panic_every,
            error_every,
            tick: 0,
        }
    }
}
