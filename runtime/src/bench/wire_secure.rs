//! `umwelt bench wire --transport quic|tls|all`: what the secure profile
//! costs, namely sensor-frame latency over mutual TLS with access control
//! (over QUIC, the profile's default, and over zenoh's `tls/` TCP link),
//! beside plain TCP, in the same run.

use std::path::{Path, PathBuf};

use serde::Serialize;
use zenoh::Wait;

use super::wire::{WIRE_KEYS, WireBench, WireKeys, WireLink, bench_wire_links};
use crate::nodes::transport::{TransportError, ZenohArgs, free_loopback_endpoint};
use crate::secure::{CONTROLLER, DRIVER, GeneratedKeys, KeysOptions, generate};

/// The keys of a secure link: the driver may put on both under the
/// access rules (frames on `sensors`, raw messages on `telemetry`).
const SECURE_KEYS: WireKeys<'static> = WireKeys {
    frames: "umwelt/bench/sensors",
    raw: "umwelt/bench/telemetry",
};

/// Sensor-frame latency over the default profile (plain TCP) and the
/// secure profile (mutual TLS and access control) over QUIC and over TCP,
/// measured in the same run with the messages of all three interleaved.
#[derive(Clone, Debug, Serialize)]
pub struct TransportBench {
    /// Plain TCP, no authentication (the default profile).
    pub tcp: WireBench,
    /// The secure profile over QUIC (`quic/`, its default).
    pub quic: WireBench,
    /// The secure profile over TLS on TCP (`tls/`).
    pub tls: WireBench,
    /// QUIC frame p50 / TCP frame p50.
    pub quic_p50_ratio: f64,
    /// QUIC frame p99 / TCP frame p99.
    pub quic_p99_ratio: f64,
    /// TLS frame p50 / TCP frame p50.
    pub tls_p50_ratio: f64,
    /// TLS frame p99 / TCP frame p99.
    pub tls_p99_ratio: f64,
}

/// A throw-away deployment: keys in a temporary folder, removed on drop.
struct TempKeys {
    dir: PathBuf,
    keys: GeneratedKeys,
}

impl TempKeys {
    /// `driver` and `controller` keys meeting over `proto` (`quic` or
    /// `tls`) on a free loopback port.
    fn new(proto: &str) -> Result<Self, TransportError> {
        let open_err = |e: &dyn std::fmt::Display| TransportError::Open(e.to_string());
        let dir = std::env::temp_dir().join(format!("umwelt-bench-{proto}-{}", std::process::id()));
        let tcp = free_loopback_endpoint().map_err(|e| open_err(&e))?;
        let port = tcp.rsplit_once(':').map_or("0", |(_, p)| p);
        let mut o = KeysOptions::new(&dir);
        o.nodes = vec![DRIVER.to_string(), CONTROLLER.to_string()];
        o.endpoint = format!("{proto}/127.0.0.1:{port}");
        o.days = 1;
        o.force = true;
        let keys = generate(&o).map_err(|e| open_err(&e))?;
        Ok(Self { dir, keys })
    }

    /// Opens a session as node `name`.
    fn open(&self, name: &str) -> Result<zenoh::Session, TransportError> {
        let node = self
            .keys
            .nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| TransportError::Open(format!("no {name} keys")))?;
        open_config(&node.config)
    }

    /// The driver-to-controller link.
    fn link(&self) -> Result<WireLink, TransportError> {
        Ok(WireLink {
            publisher: self.open(DRIVER)?,
            subscriber: self.open(CONTROLLER)?,
            keys: SECURE_KEYS,
        })
    }
}

impl Drop for TempKeys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens a session from a zenoh config file.
fn open_config(path: &Path) -> Result<zenoh::Session, TransportError> {
    let config = zenoh::Config::from_file(path).map_err(|e| TransportError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    zenoh::open(config)
        .wait()
        .map_err(|e| TransportError::Open(e.to_string()))
}

/// [`super::bench_wire`] over a TCP link (the default profile) and
/// the secure profile over QUIC and over TLS (throw-away certificates) at
/// once, their messages interleaved one by one.
pub fn bench_wire_transports(
    messages: usize,
    rate_hz: f64,
) -> Result<TransportBench, TransportError> {
    let (quic_keys, tls_keys) = (TempKeys::new("quic")?, TempKeys::new("tls")?);
    let endpoint = free_loopback_endpoint().map_err(|e| TransportError::Open(e.to_string()))?;
    let args = ZenohArgs::at(endpoint);
    let tcp = WireLink {
        publisher: args.open()?,
        subscriber: args.open()?,
        keys: WIRE_KEYS,
    };
    let links = vec![tcp, quic_keys.link()?, tls_keys.link()?];
    let mut r = bench_wire_links(links, messages, rate_hz)?.into_iter();
    let (Some(tcp), Some(quic), Some(tls)) = (r.next(), r.next(), r.next()) else {
        return Err(TransportError::Open("missing benchmark results".into()));
    };
    Ok(TransportBench {
        quic_p50_ratio: quic.frame.p50_us / tcp.frame.p50_us,
        quic_p99_ratio: quic.frame.p99_us / tcp.frame.p99_us,
        tls_p50_ratio: tls.frame.p50_us / tcp.frame.p50_us,
        tls_p99_ratio: tls.frame.p99_us / tcp.frame.p99_us,
        tcp,
        quic,
        tls,
    })
}

/// [`super::bench_wire`] over the secure profile only, over `proto`
/// (`quic` or `tls`): the driver publishing, the controller receiving, on
/// loopback.
pub fn bench_wire_secure(
    proto: &str,
    messages: usize,
    rate_hz: f64,
) -> Result<WireBench, TransportError> {
    let keys = TempKeys::new(proto)?;
    bench_wire_links(vec![keys.link()?], messages, rate_hz)?
        .pop()
        .ok_or_else(|| TransportError::Open("no benchmark link".into()))
}
