//! The real-time control loop and what plugs into it: controller configs,
//! controllers, the safety layer and timing.

pub mod baseline;
pub mod config;
pub mod controller;
mod loop_inbox;
pub mod mpc;
pub mod ranges;
pub mod safety;
pub mod tick;
pub mod timing;

pub mod run_loop;

pub use config::{ConfigError, ControllerConfig, Resolved, RunConfig};
pub use controller::{ControlInput, Controller, ControllerError};
pub use run_loop::{LoopSummary, run_loop};
pub use safety::{Interventions, Safety};
