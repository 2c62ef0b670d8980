//! The real-time control loop and what plugs into it: controller configs,
//! controllers, the safety layer and timing.

pub mod baseline;
pub mod build;
pub mod config;
pub mod controller;
mod loop_inbox;
pub mod mpc;
pub mod ranges;
pub mod resolve;
pub mod run_loop;
pub mod safety;
pub mod simple;
pub mod tick;
pub mod timing;

pub use build::{build, check_rate};
pub use config::{ConfigError, ControllerConfig, RunConfig};
pub use controller::{ControlInput, Controller, ControllerError};
pub use resolve::Resolved;
pub use run_loop::{LoopSummary, run_loop};
pub use safety::{Interventions, Safety};
