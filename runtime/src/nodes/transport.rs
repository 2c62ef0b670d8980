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

    /// The zenoh config of a node: `hub` nodes listen on the meeting
    /// endpoint, the others connect to it. Both listen on a free port of the
    /// same host for the direct links gossip sets up.
    pub fn config(&self, hub: bool) -> Result<Config, TransportError> {
        if let Some(path) = &self.zenoh_config {
            return Config::from_file(path).map_err(|e| TransportError::Config {
                path: path.clone(),
                message: e.to_string(),
            });
        }
        let endpoint = &self.zenoh_endpoint;
        let (proto, host) = split_locator(endpoint)?;
        let private = format!("{proto}/{host}:0");
        let (listen, connect) = if hub {
            (format!("[\"{endpoint}\", \"{private}\"]"), "[]".to_string())
        } else {
            (format!("[\"{private}\"]"), format!("[\"{endpoint}\"]"))
        };
        let mut c = Config::default();
        let settings = [
            ("mode", "\"peer\"".to_string()),
            ("scouting/multicast/enabled", "false".into()),
            ("scouting/gossip/enabled", "true".into()),
            ("listen/endpoints", listen),
            ("listen/exit_on_failure", "true".into()),
            ("connect/endpoints", connect),
            ("connect/exit_on_failure", "false".into()),
            // Non-zero: members retry the meeting endpoint in the background
            // (zenoh connects once and gives up when it is 0).
            ("connect/timeout_ms", "-1".into()),
            (
                "connect/retry",
                "{ period_init_ms: 50, period_max_ms: 500, period_increase_factor: 2 }".into(),
            ),
        ];
        for (key, value) in settings {
            c.insert_json5(key, &value)
                .map_err(|e| TransportError::Endpoint {
                    endpoint: endpoint.clone(),
                    message: format!("setting {key} = {value}: {e}"),
                })?;
        }
        Ok(c)
    }

    /// Opens a session: as the hub when the meeting endpoint is free, else
    /// as a member connecting to it (also when another node wins a race for
    /// the endpoint).
    pub fn open(&self) -> Result<Session, TransportError> {
        if self.zenoh_config.is_none() {
            warn_unauthenticated(&self.zenoh_endpoint);
        }
        if self.zenoh_config.is_some() {
            return zenoh::open(self.config(false)?)
                .wait()
                .map_err(|e| TransportError::Open(e.to_string()));
        }
        let (proto, host) = split_locator(&self.zenoh_endpoint)?;
        let addr = self
            .zenoh_endpoint
            .split_once('/')
            .map(|(_, a)| a)
            .unwrap_or(host);
        let free = proto == "tcp" && std::net::TcpListener::bind(addr).is_ok();
        if free && let Ok(session) = zenoh::open(self.config(true)?).wait() {
            return Ok(session);
        }
        zenoh::open(self.config(false)?)
            .wait()
            .map_err(|e| TransportError::Open(e.to_string()))
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

/// Splits `tcp/127.0.0.1:7447` into (`tcp`, `127.0.0.1`).
fn split_locator(endpoint: &str) -> Result<(&str, &str), TransportError> {
    let bad = |message: &str| TransportError::Endpoint {
        endpoint: endpoint.to_string(),
        message: message.to_string(),
    };
    if endpoint.contains('"') {
        return Err(bad("quotes are not allowed"));
    }
    let (proto, addr) = endpoint
        .split_once('/')
        .ok_or_else(|| bad("not a locator"))?;
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if port.parse::<u16>().is_err() {
        return Err(bad("the port is not a number"));
    }
    Ok((proto, host))
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
