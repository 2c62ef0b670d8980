//! `umwelt keys`, and authentication settings in a zenoh config being
//! enforced (not accepted silently).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use umwelt_runtime::nodes::transport::{free_loopback_endpoint, wait_for_peer};
use zenoh::Wait;

/// The subject common name of the PEM certificate at `path`.
fn common_name(path: &Path) -> String {
    let pem = std::fs::read(path).expect("read certificate");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
    let cert = pem.parse_x509().expect("X.509");
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .expect("a common name")
        .to_string()
}

/// Whether the certificate at `path` was signed by the CA certificate at `ca`.
fn signed_by(path: &Path, ca: &Path) -> bool {
    let (cert_pem, ca_pem) = (std::fs::read(path).unwrap(), std::fs::read(ca).unwrap());
    let (_, cert) = x509_parser::pem::parse_x509_pem(&cert_pem).unwrap();
    let (_, ca) = x509_parser::pem::parse_x509_pem(&ca_pem).unwrap();
    let (cert, ca) = (cert.parse_x509().unwrap(), ca.parse_x509().unwrap());
    cert.verify_signature(Some(ca.public_key())).is_ok()
}

#[test]
fn keys_writes_a_ca_certificates_private_keys_and_configs_and_refuses_to_overwrite() {
    let dir = common::fresh_dir("keys");
    let d = dir.to_str().unwrap();
    let v = common::json(&["keys", "--out", d, "--json"]);
    let names: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["driver", "controller", "operator", "monitor"]);
    let ca = dir.join("ca.pem");
    assert_eq!(common_name(&ca), "umwelt deployment CA");
    for name in &names {
        let cert = dir.join(format!("{name}.pem"));
        assert_eq!(common_name(&cert), *name);
        assert!(signed_by(&cert, &ca), "{name} is not signed by the CA");
        let mode = std::fs::metadata(dir.join(format!("{name}.key")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}.key mode {mode:o}");
        // The config is a zenoh config with absolute paths to existing files.
        let cfg = dir.join(format!("{name}.json5"));
        let c = zenoh::Config::from_file(&cfg).expect("zenoh reads the config");
        for key in [
            "root_ca_certificate",
            "connect_certificate",
            "listen_private_key",
        ] {
            let p: String =
                serde_json::from_str(&c.get_json(&format!("transport/link/tls/{key}")).expect(key))
                    .unwrap();
            assert!(
                Path::new(&p).is_absolute() && Path::new(&p).is_file(),
                "{p}"
            );
        }
        assert_eq!(
            c.get_json("access_control/default_permission").unwrap(),
            "\"deny\""
        );
    }
    let mode = std::fs::metadata(dir.join("ca.key")).unwrap().permissions();
    assert_eq!(mode.mode() & 0o777, 0o600);

    // Again: refused, nothing replaced.
    let before = std::fs::read(dir.join("driver.key")).unwrap();
    let again = common::umwelt(&["keys", "--out", d]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("driver.key")).unwrap(), before);
    // With --force: new keys, still 0600.
    let forced = common::umwelt(&["keys", "--out", d, "--force", "--node", "driver"]);
    assert!(forced.status.success());
    assert_ne!(std::fs::read(dir.join("driver.key")).unwrap(), before);
    let mode = std::fs::metadata(dir.join("driver.key"))
        .unwrap()
        .permissions();
    assert_eq!(mode.mode() & 0o777, 0o600);
    // Bad node names and hubs are refused.
    for bad in [
        vec!["--node", "a b"],
        vec!["--node", "x", "--node", "x"],
        vec!["--node", "x", "--hub", "y"],
        vec!["--endpoint", "tcp/127.0.0.1:7448"],
    ] {
        let mut args = vec!["keys", "--out", d, "--force"];
        args.extend(bad.iter().copied());
        assert!(!common::umwelt(&args).status.success(), "{bad:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A peer config on `endpoint` with user/password credentials.
fn usrpwd_peer(listen: bool, endpoint: &str, user: &str, pwd: &str, dict: &Path) -> zenoh::Session {
    let mut c = zenoh::Config::default();
    let (l, k) = if listen {
        (format!("[\"{endpoint}\"]"), "[]".to_string())
    } else {
        ("[]".to_string(), format!("[\"{endpoint}\"]"))
    };
    for (key, value) in [
        ("mode", "\"peer\"".to_string()),
        ("scouting/multicast/enabled", "false".into()),
        ("listen/endpoints", l),
        ("connect/endpoints", k),
        ("connect/exit_on_failure", "false".into()),
        ("connect/timeout_ms", "-1".into()),
        (
            "transport/auth/usrpwd",
            format!(
                "{{ user: \"{user}\", password: \"{pwd}\", dictionary_file: \"{}\" }}",
                dict.display()
            ),
        ),
    ] {
        c.insert_json5(key, &value).unwrap();
    }
    zenoh::open(c).wait().expect("open")
}

#[test]
fn a_usrpwd_section_is_enforced_a_wrong_password_is_refused() {
    let dir = common::fresh_dir("usrpwd");
    std::fs::create_dir_all(&dir).unwrap();
    let dict = dir.join("users.txt");
    std::fs::write(&dict, "driver:driver-secret\noperator:operator-secret\n").unwrap();
    let endpoint = free_loopback_endpoint().unwrap();
    let hub = usrpwd_peer(true, &endpoint, "driver", "driver-secret", &dict);
    let wrong = usrpwd_peer(false, &endpoint, "operator", "guess", &dict);
    assert!(
        !wait_for_peer(&wrong, Duration::from_secs(2)),
        "a wrong password linked"
    );
    // No credentials at all: refused too.
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", "\"peer\"").unwrap();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    c.insert_json5("connect/endpoints", &format!("[\"{endpoint}\"]"))
        .unwrap();
    c.insert_json5("connect/timeout_ms", "-1").unwrap();
    let anonymous = zenoh::open(c).wait().expect("open");
    assert!(!wait_for_peer(&anonymous, Duration::from_secs(1)));
    // The right password links (the refusals were not a broken set-up).
    let right = usrpwd_peer(false, &endpoint, "operator", "operator-secret", &dict);
    assert!(wait_for_peer(&right, Duration::from_secs(5)));
    assert!(wait_for_peer(&hub, Duration::from_secs(5)));
    let peers: Vec<_> = hub.info().peers_zid().wait().collect();
    assert_eq!(
        peers,
        vec![right.zid()],
        "only the right password is linked"
    );
    for s in [wrong, anonymous, right, hub] {
        let _ = s.close().wait();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_default_session_says_once_that_it_is_unauthenticated() {
    let endpoint = free_loopback_endpoint().unwrap();
    let out = common::umwelt(&[
        "topic",
        "list",
        "--duration",
        "0.2",
        "--zenoh-endpoint",
        &endpoint,
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("unauthenticated"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(&endpoint) && lines[0].contains("configs/zenoh/secure/README.md"));
}
