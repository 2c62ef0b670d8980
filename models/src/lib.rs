//! # umwelt-models
//!
//! Learned world models for umwelt, and the data they learn from.
//!
//! Built today: [`dataset`], episodes of a robot doing a task stored on disk
//! (one checksummed binary file per episode, the specification in
//! `dataset.json`), written crash-safely and validated on every load; and
//! [`world_model`], the burn world model (TD-MPC2 style), its training loop,
//! checkpoints, a multi-step prediction-error evaluation (driven by
//! `umwelt train` and `umwelt model info`), and a hand-written CPU inference
//! engine for planning ([`world_model::RolloutEngine`]).
//!
//! This crate knows nothing of the simulator or of zenoh: the runtime
//! converts a simulated robot's specs into a [`dataset::DatasetSpec`].

#![warn(missing_docs)]

pub mod atomic;
pub mod dataset;
pub mod world_model;
