//! What the secure profile costs: sensor-frame latency over mutual TLS with
//! access control, beside plain TCP, in the same run.

use serde::Serialize;
use zenoh::Wait;

use crate::bench::{WireBench, WireKeys, bench_wire, bench_wire_between};
use crate::transport::{TransportError, free_loopback_endpoint};

use super::{CONTROLLER, DRIVER, KeysOptions, generate};

/// The keys of the TLS run: the driver may put on both under the access
/// rules (frames on `sensors`, raw messages on `telemetry`).
const TLS_KEYS: WireKeys<'static> = WireKeys {
    frames: "umwelt/bench/sensors",
    raw: "umwelt/bench/telemetry",
};

/// Sensor-frame latency over the default profile (plain TCP) and the
/// secure profile (mutual TLS and access control), measured one after the
/// other in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct TransportBench {
    /// Plain TCP, no authentication (the default profile).
    pub tcp: WireBench,
    /// Mutual TLS with the secure profile's access rules.
    pub tls: WireBench,
    /// TLS frame p50 / TCP frame p50.
    pub tls_p50_ratio: f64,
    /// TLS frame p99 / TCP frame p99.
    pub tls_p99_ratio: f64,
}

/// Runs [`bench_wire_tls`] and [`bench_wire`] (TCP) with the same settings.
pub fn bench_wire_transports(
    messages: usize,
    rate_hz: f64,
) -> Result<TransportBench, TransportError> {
    let tcp = bench_wire(messages, rate_hz)?;
    let tls = bench_wire_tls(messages, rate_hz)?;
    Ok(TransportBench {
        tls_p50_ratio: tls.frame.p50_us / tcp.frame.p50_us,
        tls_p99_ratio: tls.frame.p99_us / tcp.frame.p99_us,
        tcp,
        tls,
    })
}

/// [`bench_wire`] over the secure profile on loopback: a throw-away CA and
/// `driver` and `controller` certificates in a temporary folder (removed
/// at the end), the driver publishing, the controller receiving.
pub fn bench_wire_tls(messages: usize, rate_hz: f64) -> Result<WireBench, TransportError> {
    let open_err = |e: &dyn std::fmt::Display| TransportError::Open(e.to_string());
    let dir = std::env::temp_dir().join(format!("umwelt-bench-tls-{}", std::process::id()));
    let port = free_loopback_endpoint()
        .map_err(|e| open_err(&e))?
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    let mut o = KeysOptions::new(&dir);
    o.nodes = vec![DRIVER.to_string(), CONTROLLER.to_string()];
    o.endpoint = format!("tls/127.0.0.1:{port}");
    o.days = 1;
    o.force = true;
    let result = generate(&o).map_err(|e| open_err(&e)).and_then(|keys| {
        let open = |name: &str| -> Result<zenoh::Session, TransportError> {
            let node = keys
                .nodes
                .iter()
                .find(|n| n.name == name)
                .ok_or_else(|| TransportError::Open(format!("no {name} keys")))?;
            let config =
                zenoh::Config::from_file(&node.config).map_err(|e| TransportError::Config {
                    path: node.config.clone(),
                    message: e.to_string(),
                })?;
            zenoh::open(config).wait().map_err(|e| open_err(&e))
        };
        let a = open(DRIVER)?;
        let b = open(CONTROLLER)?;
        bench_wire_between(a, b, &TLS_KEYS, messages, rate_hz)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
