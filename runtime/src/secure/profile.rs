//! The zenoh json5 config of a node in the secure profile: transport and
//! access rules.

use std::path::Path;

use serde_json::{Value, json};

use super::{CONTROLLER, DRIVER, OPERATOR, SecureError};

/// Who may put on which key of every robot, as (rule id, keys, subject):
/// the subject is a node name, or `None` for every authenticated node.
/// Everything not listed is denied.
pub const PUT_RULES: [(&str, &[&str], Option<&str>); 4] = [
    ("put_sensors", &["umwelt/*/sensors"], Some(DRIVER)),
    ("put_cmd", &["umwelt/*/cmd"], Some(CONTROLLER)),
    ("put_admin", &["umwelt/*/admin"], Some(OPERATOR)),
    (
        "put_shared",
        &["umwelt/*/estop", "umwelt/*/status", "umwelt/*/telemetry"],
        None,
    ),
];

/// The subject id standing for every node of the deployment.
const EVERYONE: &str = "authenticated";

/// The TLS files of one node.
#[derive(Clone, Copy, Debug)]
pub struct TlsFiles<'a> {
    /// The deployment's CA certificate (PEM): the only trust anchor.
    pub ca: &'a Path,
    /// The node's certificate (PEM), signed by the CA.
    pub cert: &'a Path,
    /// The node's private key (PEM, PKCS#8).
    pub key: &'a Path,
}

/// Splits `quic/HOST:PORT` or `tls/HOST:PORT` into (protocol, `HOST`,
/// `PORT`); anything else is refused.
pub fn split_secure_endpoint(endpoint: &str) -> Result<(&str, &str, u16), SecureError> {
    let bad = || SecureError::BadEndpoint(endpoint.to_string());
    let (proto, addr) = endpoint.split_once('/').ok_or_else(bad)?;
    if proto != "quic" && proto != "tls" {
        return Err(bad());
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() || host.contains(['"', '/', '?', '#']) {
        return Err(bad());
    }
    Ok((proto, host, port))
}

/// The zenoh config of `node` in the secure profile: peer mode, TLS 1.3
/// (over QUIC for `quic/` endpoints) with client certificates required both
/// ways, multicast scouting off. The
/// `hub` listens on `endpoint`; every other node connects to it (retrying
/// until it is up, so start order does not matter) and listens on a free
/// port of the same host for the direct links gossip sets up. Every node
/// enforces [`access_control`] on what it receives.
pub fn node_config(
    files: TlsFiles<'_>,
    endpoint: &str,
    hub: bool,
    nodes: &[String],
) -> Result<Value, SecureError> {
    let (proto, host, _) = split_secure_endpoint(endpoint)?;
    let private = format!("{proto}/{host}:0");
    let (listen, connect) = if hub {
        (vec![endpoint.to_string()], vec![])
    } else {
        (vec![private], vec![endpoint.to_string()])
    };
    let path = |p: &Path| p.to_string_lossy().into_owned();
    Ok(json!({
        "mode": "peer",
        "listen": { "endpoints": listen, "exit_on_failure": true },
        "connect": {
            "endpoints": connect,
            "exit_on_failure": false,
            "timeout_ms": -1,
            "retry": { "period_init_ms": 50, "period_max_ms": 500, "period_increase_factor": 2 },
        },
        "scouting": { "multicast": { "enabled": false }, "gossip": { "enabled": true } },
        "transport": { "link": { "tls": {
            "root_ca_certificate": path(files.ca),
            "listen_private_key": path(files.key),
            "listen_certificate": path(files.cert),
            "connect_private_key": path(files.key),
            "connect_certificate": path(files.cert),
            "enable_mtls": true,
            "verify_name_on_connect": true,
            "close_link_on_expiration": true,
        } } },
        "access_control": access_control(nodes),
    }))
}

/// zenoh's `access_control` section for a deployment of `nodes`: deny by
/// default; every node may declare subscribers on `umwelt/**` and receive
/// every put; on what a node receives, [`PUT_RULES`] say who may put
/// where. Subjects are certificate common names.
pub fn access_control(nodes: &[String]) -> Value {
    let mut rules = vec![
        json!({ "id": "subscribe", "messages": ["declare_subscriber"],
                "flows": ["ingress", "egress"], "permission": "allow", "key_exprs": ["umwelt/**"] }),
        json!({ "id": "deliver", "messages": ["put"],
                "flows": ["egress"], "permission": "allow", "key_exprs": ["umwelt/**"] }),
    ];
    let mut subjects = vec![json!({ "id": EVERYONE, "cert_common_names": nodes })];
    let mut policies = vec![json!({ "rules": ["subscribe", "deliver"], "subjects": [EVERYONE] })];
    for (id, keys, who) in PUT_RULES {
        rules.push(json!({ "id": id, "messages": ["put"], "flows": ["ingress"],
                           "permission": "allow", "key_exprs": keys }));
        let subject = match who {
            Some(name) => {
                subjects.push(json!({ "id": name, "cert_common_names": [name] }));
                name
            }
            None => EVERYONE,
        };
        policies.push(json!({ "rules": [id], "subjects": [subject] }));
    }
    json!({
        "enabled": true,
        "default_permission": "deny",
        "rules": rules,
        "subjects": subjects,
        "policies": policies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_quic_or_tls() {
        assert_eq!(
            split_secure_endpoint("quic/127.0.0.1:7448").ok(),
            Some(("quic", "127.0.0.1", 7448))
        );
        assert_eq!(
            split_secure_endpoint("tls/localhost:1").ok(),
            Some(("tls", "localhost", 1))
        );
        for bad in [
            "tcp/127.0.0.1:7448",
            "tls/127.0.0.1",
            "quic/:1",
            "tls/a\":1",
        ] {
            assert!(split_secure_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_config_parses_as_a_zenoh_config_with_the_rules() {
        let nodes: Vec<String> = super::super::DEFAULT_NODES.map(String::from).to_vec();
        let p = Path::new("/tmp/x.pem");
        let files = TlsFiles {
            ca: p,
            cert: p,
            key: p,
        };
        for hub in [true, false] {
            let v = node_config(files, "quic/127.0.0.1:7448", hub, &nodes).expect("config");
            let c = zenoh::Config::from_json5(&v.to_string()).expect("zenoh accepts it");
            let acl = c
                .get_json("access_control/default_permission")
                .expect("acl");
            assert_eq!(acl, "\"deny\"");
        }
        let acl = access_control(&nodes);
        let cmd = &acl["policies"]
            .as_array()
            .expect("policies")
            .iter()
            .find(|p| p["rules"][0] == "put_cmd")
            .expect("put_cmd policy")["subjects"];
        assert_eq!(cmd, &json!(["controller"]));
    }
}
