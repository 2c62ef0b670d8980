//! `umwelt launch`: start several nodes together and supervise them, like a
//! minimal `roslaunch`.
//!
//! A launch file (TOML, see `launch/README.md`) lists nodes: a command, the
//! text it prints when ready, a restart policy. The [`Supervisor`] starts
//! them in file order, each once the one before is ready, forwards every
//! output line to stderr as `[name] line`, keeps each node's stdout (so a
//! node's JSON summary reaches the [`LaunchReport`]), restarts nodes by
//! policy, and stops them all in reverse order (SIGINT, then SIGKILL after
//! the stop timeout) on Ctrl-C, after a duration, or when a node ends.

mod child;
mod node;
mod report;
mod spec;
mod supervisor;

pub use report::{Exit, Failure, LaunchReport, NodeReport};
pub use spec::{
    DEFAULT_MAX_RESTARTS, DEFAULT_READY_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S, LaunchError, LaunchFile,
    NodeSpec, RestartPolicy,
};
pub use supervisor::{LaunchOptions, Supervisor, ZENOH_ENDPOINT_ENV};
