//! # umwelt-runtime
//!
//! The robot control runtime: zenoh nodes, the control loop, the planner,
//! offline work and the `umwelt` command-line tool. `umwelt-sim` and
//! `umwelt-models` meet only here. Data flows one way:
//! driver -> [`wire`] -> [`nodes`] -> [`control`] (one tick) -> [`plan`]
//! -> [`wire`] -> actuators; [`offline`] runs the same tick in-process.
//!
//! Folders by job: [`nodes`] (zenoh sessions, the sim node, operator
//! messages), [`control`] (config, controllers, safety, the tick, the
//! real-time loop), [`plan`] (the sampling planner and its models; it never
//! imports `control`), [`offline`] (rollout, collect, episodes, eval,
//! recipes), [`recording`] (record and replay), [`launch`] (several nodes
//! from one file), [`secure`] (authenticated zenoh), [`fuzz`] (the attack
//! tool's generators), [`bench`] (benchmarks), [`cli`] (flag parsers), [`view`] (drawings of
//! simulated robots) and [`video`] (MP4 files of them).

#![warn(missing_docs)]

pub mod bench;
pub mod cli;
pub mod control;
pub mod fuzz;
pub mod launch;
pub mod nodes;
pub mod offline;
pub mod plan;
pub mod recording;
pub mod robot;
pub mod ros2;
pub mod secure;
pub mod spec;
pub mod video;
pub mod view;

/// The wire protocol, from its own crate (`umwelt-protocol`), under the
/// name the runtime has always used for it.
pub use umwelt_protocol as wire;
