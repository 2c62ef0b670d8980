//! # umwelt-driver
//!
//! A small driver helper on zenoh: serve any robot, simulated or real, to
//! umwelt controllers over the wire protocol (`docs/PROTOCOL.md`), without
//! the runtime (no burn, rapier or `umwelt-runtime`).
//!
//! A driver author implements [`Robot`] (`reset` with a seed, `step` with
//! an action, each returning a [`Measurement`]) and hands it to
//! [`Driver::run`]. The driver then does what `umwelt sim` does:
//!
//! - publishes a SensorFrame on `umwelt/<robot>/sensors` every control
//!   period (real time), or on each accepted answer to its newest frame
//!   (lockstep; the same frame is sent again, same `seq`, new stamp, after
//!   [`DriverConfig::lockstep_timeout`]);
//! - applies the newest valid, fresh command before its deadline, else the
//!   safe action, as the protocol's [`umwelt_protocol::driver::DriverInbox`]
//!   decides, and says in every frame what it applied
//!   ([`umwelt_protocol::Applied`]: the command's `seq`, `Safe`, or `None`
//!   on an episode's first frame);
//! - latches the estop (engaged from `estop` or `admin`, released only on
//!   `admin`), starts a new episode on a fresh seeded Reset, and drops and
//!   counts everything stale, forged or malformed;
//! - publishes a Status (with its node name and how it steps) once a second
//!   and on every change of state, and Telemetry with drop counts and the
//!   frame→command round trips it saw.
//!
//! A hardware driver fits the same trait: its `reset` may do nothing and
//! return the current state, and its `step` sets the actuators and reads
//! the sensors at once; the driver keeps the period.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use umwelt_driver::{CommandMode, Driver, DriverConfig, Measurement, Robot, RobotError};
//!
//! struct Wheel(f32);
//! impl Robot for Wheel {
//!     fn reset(&mut self, _seed: u64) -> Result<Measurement, RobotError> {
//!         Ok(self.measure())
//!     }
//!     fn step(&mut self, action: &[f32]) -> Result<Measurement, RobotError> {
//!         self.0 += action[0] * 0.01;
//!         Ok(self.measure())
//!     }
//! }
//! impl Wheel {
//!     fn measure(&self) -> Measurement {
//!         Measurement { positions: vec![self.0], velocities: vec![0.0], efforts: vec![0.0], ..Default::default() }
//!     }
//! }
//!
//! let config = DriverConfig::new("wheel", 1, CommandMode::Velocity, vec![0.0]);
//! let stop = AtomicBool::new(false);
//! let summary = Driver::new(config)?.run(&mut Wheel(0.0), &stop)?;
//! println!("{summary}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod config;
mod inbox;
mod outbox;
mod robot;
mod run;
mod summary;
pub mod transport;

pub use config::{
    ConfigError, DEFAULT_LOCKSTEP_TIMEOUT, DriverConfig, MAX_RATE_HZ, MIN_LOCKSTEP_TIMEOUT,
    TASK_CHANNELS,
};
pub use inbox::{ALARM_PER_SECOND, ALARM_SECONDS, Poisoned};
pub use robot::{Measurement, Robot, RobotError};
pub use run::{Driver, DriverError};
pub use summary::{DriverSummary, RoundTrip};
pub use transport::{Transport, TransportError};
/// The wire protocol this crate speaks, re-exported so that a driver needs
/// no second dependency for its command mode or a test client.
pub use umwelt_protocol;
pub use umwelt_protocol::CommandMode;
