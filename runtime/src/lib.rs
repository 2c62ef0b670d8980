//! # umwelt-runtime
//!
//! The robot control runtime: wire protocol, zenoh transport, control loop,
//! and the `umwelt` command-line tool. `umwelt-sim` and `umwelt-models` meet
//! only here.

#![warn(missing_docs)]

pub mod args;
pub mod bench;
pub mod collect;
pub mod control;
pub mod episode;
pub mod eval;
pub mod fuzz;
pub mod launch;
pub mod node;
pub mod offline;
pub mod operator;
pub mod plan;
pub mod recipe;
pub mod recording;
pub mod rollout;
pub mod secure;
pub mod sim_node;
pub mod transport;
pub mod wire_bench;

// The learning loop and the figures lived at the crate's root before
// `offline/`; their old paths still work.
pub use offline::{learn, plot};

/// The wire protocol, from its own crate (`umwelt-protocol`), under the
/// name the runtime has always used for it.
pub use umwelt_protocol as wire;
