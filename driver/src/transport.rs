//! Opening a zenoh session the way umwelt nodes meet (`docs/PROTOCOL.md`,
//! "Meeting on zenoh"), without the runtime.
//!
//! By default: peer mode on loopback, multicast scouting off. The first
//! node up listens on the meeting endpoint (`tcp/127.0.0.1:7447`), the
//! others connect to it with retries, and gossip over that link lets peers
//! link directly (each also listens on a free port of the same host). A
//! zenoh json5 config file replaces all of this (client mode against a
//! router, several hosts, the secure profile).
//!
//! The same environment variables as the `umwelt` command line select the
//! endpoint and the config file, so a driver and `umwelt run` started in
//! the same shell meet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use umwelt_protocol::{self as wire, MessageKind};
use zenoh::pubsub::Publisher;
use zenoh::{Config, Session, Wait};

/// The default meeting endpoint of umwelt nodes.
pub const DEFAULT_ENDPOINT: &str = "tcp/127.0.0.1:7447";
/// The environment variable naming the meeting endpoint (as `umwelt
/// --zenoh-endpoint`).
pub const ENDPOINT_ENV: &str = "UMWELT_ZENOH_ENDPOINT";
/// The environment variable naming a zenoh json5 config file (as `umwelt
/// --zenoh-config`).
pub const CONFIG_ENV: &str = "UMWELT_ZENOH_CONFIG";

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
    /// The endpoint is not a zenoh locator this helper can use.
    #[error("zenoh endpoint `{endpoint}`: {message} (expected e.g. tcp/127.0.0.1:7447)")]
    Endpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// Opening the session failed.
    #[error("cannot open a zenoh session: {0}")]
    Open(String),
    /// Declaring a publisher or subscriber failed.
    #[error("zenoh {what} on `{key}`: {message}")]
    Declare {
        /// What was declared.
        what: &'static str,
        /// The key expression.
        key: String,
        /// zenoh's complaint.
        message: String,
    },
}

/// How to reach the other umwelt nodes: a meeting endpoint, or a zenoh
/// config file that replaces the default session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// Where umwelt nodes meet on this machine: the first node listens on
    /// it, the others connect to it.
    pub endpoint: String,
    /// A zenoh json5 config file used instead of the default session
    /// (`endpoint` is then ignored).
    pub config: Option<PathBuf>,
}

impl Default for Transport {
    /// The default meeting endpoint, no config file.
    fn default() -> Self {
        Self::at(DEFAULT_ENDPOINT)
    }
}

impl Transport {
    /// Meeting at `endpoint` (e.g. `tcp/127.0.0.1:7447`).
    pub fn at(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            config: None,
        }
    }

    /// From [`ENDPOINT_ENV`] and [`CONFIG_ENV`] (the variables `umwelt`
    /// reads), else the default endpoint. An empty variable counts as unset.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self {
            endpoint: var(ENDPOINT_ENV).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            config: var(CONFIG_ENV).map(PathBuf::from),
        }
    }

    /// The zenoh config of a node: the `hub` listens on the meeting
    /// endpoint, the others connect to it; both also listen on a free port
    /// of the same host for the direct links gossip sets up.
    pub fn zenoh_config(&self, hub: bool) -> Result<Config, TransportError> {
        if let Some(path) = &self.config {
            return Config::from_file(path).map_err(|e| TransportError::Config {
                path: path.clone(),
                message: e.to_string(),
            });
        }
        let endpoint = &self.endpoint;
        let private = match split_locator(endpoint)? {
            Locator::Ip { proto, host, .. } => format!("{proto}/{host}:0"),
            // A socket file of this process beside the meeting one (zenoh
            // removes it when the session closes).
            Locator::Unix { path } => format!("unixsock-stream/{}", private_socket(path)),
        };
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
            // Non-zero: a member keeps retrying the meeting endpoint in the
            // background (zenoh tries once and gives up when it is 0), so
            // start order does not matter.
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

    /// Opens a session: from the config file if one is given; else as the
    /// hub when the meeting endpoint is free, or as a member connecting to
    /// it (also when another node wins the race for the endpoint).
    pub fn open(&self) -> Result<Session, TransportError> {
        if self.config.is_none() {
            warn_unauthenticated(&self.endpoint);
        }
        self.open_quiet()
    }

    /// [`open`](Self::open) without its warning that the default session is
    /// not authenticated, for callers that say it in their own words.
    pub fn open_quiet(&self) -> Result<Session, TransportError> {
        if self.config.is_some() {
            return zenoh::open(self.zenoh_config(false)?)
                .wait()
                .map_err(|e| TransportError::Open(e.to_string()));
        }
        // Probing with a plain bind tells "nobody holds it" without zenoh's
        // listen failure, which would end the session.
        let free = match split_locator(&self.endpoint)? {
            Locator::Ip { proto, host, port } => {
                proto == "tcp" && std::net::TcpListener::bind((host, port)).is_ok()
            }
            Locator::Unix { path } => unix_socket_free(path),
        };
        if free && let Ok(session) = zenoh::open(self.zenoh_config(true)?).wait() {
            return Ok(session);
        }
        zenoh::open(self.zenoh_config(false)?)
            .wait()
            .map_err(|e| TransportError::Open(e.to_string()))
    }
}

/// Declares the publisher of `kind` messages for `robot`; `express` sends
/// each message at once instead of batching (for the control path).
pub fn publisher<'s>(
    session: &'s Session,
    robot: &str,
    kind: MessageKind,
    express: bool,
) -> Result<Publisher<'s>, TransportError> {
    let key = wire::key_expr(robot, kind);
    session
        .declare_publisher(key.clone())
        .express(express)
        .wait()
        .map_err(|e| TransportError::Declare {
            what: "publisher",
            key,
            message: e.to_string(),
        })
}

/// Logs, once per process, that the default session is not authenticated.
fn warn_unauthenticated(endpoint: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "unauthenticated zenoh session on {endpoint}: anyone who can reach it can read and publish robot messages; see configs/zenoh/secure/README.md for mutual TLS"
        );
    });
}

/// A meeting endpoint: an IP locator, or a unix socket's path.
#[derive(Debug, PartialEq)]
enum Locator<'a> {
    /// `tcp/127.0.0.1:7447`: protocol, host, port.
    Ip {
        proto: &'a str,
        host: &'a str,
        port: u16,
    },
    /// `unixsock-stream/PATH`: a unix socket file (no host, no port).
    Unix { path: &'a str },
}

/// Parses `tcp/127.0.0.1:7447` into (`tcp`, `127.0.0.1`, 7447), or
/// `unixsock-stream/PATH` into PATH. Quotes are refused because the parts
/// are spliced into json5.
fn split_locator(endpoint: &str) -> Result<Locator<'_>, TransportError> {
    let bad = |message: &str| TransportError::Endpoint {
        endpoint: endpoint.to_string(),
        message: message.to_string(),
    };
    if endpoint.contains(['"', '\\']) {
        return Err(bad("quotes and backslashes are not allowed"));
    }
    let (proto, addr) = endpoint
        .split_once('/')
        .ok_or_else(|| bad("not a locator"))?;
    if proto == "unixsock-stream" {
        if addr.is_empty() || addr.contains(['?', '#']) {
            return Err(bad("unixsock-stream needs a socket path and no options"));
        }
        return Ok(Locator::Unix { path: addr });
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("no port (a unix socket is unixsock-stream/PATH)"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    if proto.is_empty() || host.is_empty() {
        return Err(bad("no protocol or no host"));
    }
    Ok(Locator::Ip { proto, host, port })
}

/// This process's own socket path beside the meeting socket `path`,
/// unique within the process too (several sessions may open).
fn private_socket(path: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{path}.{}-{n}", std::process::id())
}

/// Whether nobody serves the unix socket `path`: no file, or a socket
/// file nobody accepts on (left by a node that was killed; removed here,
/// as zenoh cannot listen where a file is).
#[cfg(unix)]
fn unix_socket_free(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(_) => true,
        Ok(m) if m.file_type().is_socket() => {
            std::os::unix::net::UnixStream::connect(path).is_err()
                && std::fs::remove_file(path).is_ok()
        }
        Ok(_) => false,
    }
}

/// Unix sockets are for unix hosts: elsewhere every node connects.
#[cfg(not(unix))]
fn unix_socket_free(_path: &str) -> bool {
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_are_split_and_bad_ones_refused() {
        assert_eq!(
            split_locator("tcp/127.0.0.1:7447").ok(),
            Some(Locator::Ip {
                proto: "tcp",
                host: "127.0.0.1",
                port: 7447
            })
        );
        assert_eq!(
            split_locator("unixsock-stream/tmp/umwelt.sock").ok(),
            Some(Locator::Unix {
                path: "tmp/umwelt.sock"
            })
        );
        for bad in [
            "127.0.0.1:7447",
            "tcp/127.0.0.1",
            "tcp/127.0.0.1:99999",
            "tcp/:1",
            "tcp/\"x\":1",
            "unixsock-stream/",
        ] {
            assert!(split_locator(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hub_listens_on_the_endpoint_and_members_connect_to_it() {
        let t = Transport::at("tcp/127.0.0.1:17601");
        let hub = t.zenoh_config(true).expect("hub config");
        let member = t.zenoh_config(false).expect("member config");
        let listen = |c: &Config| c.get_json("listen/endpoints").expect("listen");
        let connect = |c: &Config| c.get_json("connect/endpoints").expect("connect");
        assert!(listen(&hub).contains("tcp/127.0.0.1:17601"));
        assert!(!listen(&member).contains("17601"));
        assert!(connect(&member).contains("tcp/127.0.0.1:17601"));
        assert!(!connect(&hub).contains("17601"));
    }
}
