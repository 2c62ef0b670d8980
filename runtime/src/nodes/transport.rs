//! zenoh sessions for umwelt nodes.
//!
//! The default session needs no setup and no router: peer mode on loopback,
//! multicast scouting off. Every node tries to listen on the meeting
//! endpoint (default `tcp/127.0.0.1:7447`) and connects to it: the first node
//! up holds it, the others connect, and gossip over that link tells peers of
//! each other, so they link directly (each also listens on a free loopback
//! port). Start order does not matter; connections are retried. A zenoh
//! json5 config file replaces all of this (router or client mode, several
//! hosts, or the secure profile of [`crate::secure`]).
//!
//! The default session is not authenticated: anyone who can reach the
//! endpoint can read and publish every message. [`ZenohArgs::open`] says so
//! once per process, on one line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use zenoh::{Config, Session, Wait};

/// The default meeting endpoint of umwelt nodes.
pub const DEFAULT_ENDPOINT: &str = "tcp/127.0.0.1:7447";

/// Errors opening or using a zenoh session.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The zenoh config file could not be used.
    #[error("zenoh config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// zenoh's complaint.
        message: String,
    },
    /// The endpoint is not a zenoh locator.
    #[error("zenoh endpoint `{endpoint}`: {message} (expected e.g. tcp/127.0.0.1:7447)")]
    Endpoint {
        /// The endpoint given.
        endpoint: String,
        /// zenoh's complaint.
        message: String,
    },
    /// Opening the session failed.
    #[error("cannot open a zenoh session: {0}")]
    Open(String),
    /// Declaring a publisher, subscriber or queryable failed.
    #[error("zenoh {what} on `{key}`: {message}")]
    Declare {
        /// What was declared.
        what: &'static str,
        /// The key expression.
        key: String,
        /// zenoh's complaint.
        message: String,
    },
    /// Publishing failed.
    #[error("zenoh put on `{key}`: {message}")]
    Put {
        /// The key expression.
        key: String,
        /// zenoh's complaint.
        message: String,
    },
}

impl From<umwelt_driver::TransportError> for TransportError {
    fn from(e: umwelt_driver::TransportError) -> Self {
        use umwelt_driver::TransportError as D;
        match e {
            D::Config { path, message } => Self::Config { path, message },
            D::Endpoint { endpoint, message } => Self::Endpoint { endpoint, message },
            D::Open(m) => Self::Open(m),
            D::Declare { what, key, message } => Self::Declare { what, key, message },
        }
    }
}

/// How to reach the other umwelt nodes (command-line options shared by every
/// networked command).
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct ZenohArgs {
    /// Endpoint where umwelt nodes meet on this machine: the first node
    /// listens on it, the others connect to it.
    #[arg(long, global = true, value_name = "LOCATOR", default_value = DEFAULT_ENDPOINT, env = "UMWELT_ZENOH_ENDPOINT")]
    pub zenoh_endpoint: String,
    /// zenoh json5 config file replacing the default session (e.g. client
    /// mode against a router, for several hosts); --zenoh-endpoint is then ignored.
    #[arg(long, global = true, value_name = "FILE", env = "UMWELT_ZENOH_CONFIG")]
    pub zenoh_config: Option<PathBuf>,
}

impl Default for ZenohArgs {
    fn default() -> Self {
        Self {
            zenoh_endpoint: DEFAULT_ENDPOINT.to_string(),
            zenoh_config: None,
        }
    }
}

impl ZenohArgs {
    /// Settings meeting at `endpoint`.
    pub fn at(endpoint: impl Into<String>) -> Self {
        Self {
            zenoh_endpoint: endpoint.into(),
            zenoh_config: None,
        }
    }

    /// The driver kit's description of the same meeting, whose rules
    /// (`docs/PROTOCOL.md`, "Meeting on zenoh") drivers and umwelt share.
    fn meeting(&self) -> umwelt_driver::Transport {
        umwelt_driver::Transport {
            endpoint: self.zenoh_endpoint.clone(),
            config: self.zenoh_config.clone(),
        }
    }

    /// The zenoh config of a node: `hub` nodes listen on the meeting
    /// endpoint, the others connect to it. Both listen on a free port of the
    /// same host for the direct links gossip sets up.
    pub fn config(&self, hub: bool) -> Result<Config, TransportError> {
        Ok(self.meeting().zenoh_config(hub)?)
    }

    /// Opens a session: as the hub when the meeting endpoint is free, else
    /// as a member connecting to it (also when another node wins a race for
    /// the endpoint).
    pub fn open(&self) -> Result<Session, TransportError> {
        if self.zenoh_config.is_none() {
            warn_unauthenticated(&self.zenoh_endpoint);
        }
        Ok(self.meeting().open_quiet()?)
    }
}

/// Logs, once per process, that the default session on `endpoint` is not
/// authenticated, and where the secure profile is described.
fn warn_unauthenticated(endpoint: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "unauthenticated zenoh session on {endpoint}: anyone who can reach it can read and publish robot messages; for mutual TLS and access rules see {} (`umwelt keys`)",
            crate::secure::SECURE_DOC
        );
    });
}

/// Waits until `session` is linked to at least one other zenoh node, or
/// `timeout` passes. True when linked.
pub fn wait_for_peer(session: &Session, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        let linked = session.info().peers_zid().wait().next().is_some()
            || session.info().routers_zid().wait().next().is_some();
        if linked {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A loopback endpoint on a port that was free a moment ago (for tests and
/// benchmarks that must not meet other nodes).
pub fn free_loopback_endpoint() -> std::io::Result<String> {
    free_loopback_endpoint_over("tcp")
}

/// [`free_loopback_endpoint`] over another zenoh link, e.g. `quic` for the
/// secure profile (`quic/127.0.0.1:PORT`).
pub fn free_loopback_endpoint_over(link: &str) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(format!(
        "{link}/127.0.0.1:{}",
        listener.local_addr()?.port()
    ))
}
