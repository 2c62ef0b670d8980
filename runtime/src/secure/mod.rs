//! The secure profile: mutual TLS between umwelt nodes and zenoh access
//! control keyed on the certificates' common names.
//!
//! [`generate`] (behind `umwelt keys`) creates a deployment's CA, one
//! certificate and private key per node (the common name is the node's
//! name) and, for each node, a ready-to-use zenoh json5 config
//! ([`profile::node_config`]): TLS only, client certificates required, and
//! the rule table of `configs/zenoh/secure/README.md` enforced by every
//! node on what it receives. The default session
//! ([`crate::nodes::transport::ZenohArgs`]) stays as it is: unauthenticated,
//! loopback, no set-up.

mod pki;
pub mod profile;

use std::path::PathBuf;

pub use pki::{GeneratedKeys, KeysOptions, NodeFiles, generate};

/// The node that publishes sensor frames (`umwelt sim` or a hardware driver).
pub const DRIVER: &str = "driver";
/// The node whose motor commands and resets a driver applies (`umwelt run`).
pub const CONTROLLER: &str = "controller";
/// The node allowed on the privileged `admin` key (estop release, reset).
pub const OPERATOR: &str = "operator";
/// A read-only node: it may subscribe, and publish only estop, status and
/// telemetry.
pub const MONITOR: &str = "monitor";
/// The nodes `umwelt keys` creates certificates for by default.
pub const DEFAULT_NODES: [&str; 4] = [DRIVER, CONTROLLER, OPERATOR, MONITOR];
/// The default meeting endpoint of the secure profile: TLS 1.3 over QUIC
/// (zenoh 1.10's `tls/` link reads and writes one rustls stream from two
/// tasks at once, which is unsound: eclipse-zenoh/zenoh#2557), on the
/// default profile's port plus one.
pub const DEFAULT_SECURE_ENDPOINT: &str = "quic/127.0.0.1:7448";
/// Where the secure profile is documented (rules and threat model).
pub const SECURE_DOC: &str = "configs/zenoh/secure/README.md";

/// Errors creating keys, certificates and configs.
#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    /// rcgen could not create a key or certificate.
    #[error("creating {what}: {source}")]
    Cert {
        /// What was being created.
        what: String,
        /// rcgen's complaint.
        source: rcgen::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Files would be overwritten and `force` was not given.
    #[error(
        "{} already exists{}; pass --force to replace the keys",
        .0.first().map(|p| p.display().to_string()).unwrap_or_default(),
        if .0.len() > 1 { format!(" (and {} more files)", .0.len() - 1) } else { String::new() }
    )]
    Exists(Vec<PathBuf>),
    /// A node name is unusable.
    #[error("node name `{0}`: {1}")]
    BadNode(String, &'static str),
    /// The endpoint is not a `quic/HOST:PORT` or `tls/HOST:PORT` locator.
    #[error(
        "endpoint `{0}`: expected quic/HOST:PORT or tls/HOST:PORT, e.g. {DEFAULT_SECURE_ENDPOINT}"
    )]
    BadEndpoint(String),
    /// The hub node is not among the nodes.
    #[error("--hub {0} is not one of the nodes")]
    BadHub(String),
}
