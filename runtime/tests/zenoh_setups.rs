//! The zenoh set-ups that ship in configs/zenoh work as shipped, with
//! only their addresses edited (here: to loopback ports of this test's
//! range): a router with clients, peers on several hosts; and the meeting
//! endpoint may be a unix socket. Each time `umwelt sim` serves the
//! cart-pole and `umwelt topic echo` decodes its frames.

#[allow(dead_code)] // not every helper of the shared module is used here
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::fresh_dir;
use common::process::{Node, spawn, wait_exit};

/// The loopback ports this test may use.
const PORTS: std::ops::Range<u16> = 27800..27900;

/// `n` distinct loopback ports in [`PORTS`] that nothing listens on now,
/// starting from a place picked by this process's id.
fn free_ports(n: usize) -> Vec<u16> {
    let span = PORTS.end - PORTS.start;
    let start = (std::process::id() % u32::from(span)) as u16;
    let ports: Vec<u16> = (0..span)
        .map(|i| PORTS.start + (start + i) % span)
        .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .take(n)
        .collect();
    assert_eq!(ports.len(), n, "{n} free ports in {PORTS:?}");
    ports
}

/// The shipped config `name` with each `(from, to)` replaced, written into
/// `dir`.
fn edited(dir: &Path, name: &str, out: &str, edits: &[(&str, String)]) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/zenoh")
        .join(name);
    let mut text = std::fs::read_to_string(&shipped).expect("a shipped zenoh config");
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no `{from}` to edit");
        text = text.replace(from, to);
    }
    let path = dir.join(out);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `umwelt sim` of the cart-pole for 20 s with these zenoh flags.
fn sim(zenoh: &[&str]) -> Node {
    let mut args = vec![
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--duration",
        "20",
    ];
    args.extend_from_slice(zenoh);
    spawn(&args)
}

/// Runs `umwelt topic echo` of three cart-pole frames with these zenoh
/// flags and checks what it decoded.
fn echo_three_frames(zenoh: &[&str]) {
    let mut args = vec![
        "topic",
        "echo",
        "umwelt/cartpole/sensors",
        "--count",
        "3",
        "--duration",
        "15",
        "--json",
    ];
    args.extend_from_slice(zenoh);
    let mut echo = spawn(&args);
    let status = wait_exit(&mut echo, Duration::from_secs(30), "topic echo to end");
    let out = std::io::read_to_string(echo.0.stdout.take().unwrap()).unwrap();
    let err = std::io::read_to_string(echo.0.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "topic echo failed: {err}");
    let frames: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    assert_eq!(frames.len(), 3, "{out}\n{err}");
    for f in &frames {
        assert_eq!(f["kind"], "sensor_frame", "{f}");
        assert_eq!(f["robot"], "cartpole", "{f}");
        assert_eq!(f["positions"].as_array().map(Vec::len), Some(2), "{f}");
    }
}

#[test]
fn clients_meet_through_the_shipped_router_config() {
    let dir = fresh_dir("zenoh-router");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_ports(1)[0];
    let router = edited(
        &dir,
        "router.json5",
        "router.json5",
        &[("tcp/0.0.0.0:7447", format!("tcp/127.0.0.1:{port}"))],
    );
    let client = edited(
        &dir,
        "client.json5",
        "client.json5",
        &[("tcp/127.0.0.1:7447", format!("tcp/127.0.0.1:{port}"))],
    );
    // The simulator first: a client waits for its router (start order
    // does not matter). Any umwelt node plays the router with its config.
    let _sim = sim(&["--zenoh-config", s(&client)]);
    std::thread::sleep(Duration::from_millis(300));
    let _router = spawn(&[
        "topic",
        "list",
        "--duration",
        "25",
        "--zenoh-config",
        s(&router),
    ]);
    echo_three_frames(&["--zenoh-config", s(&client)]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn peers_on_two_hosts_meet_through_the_shipped_multihost_config() {
    let dir = fresh_dir("zenoh-multihost");
    std::fs::create_dir_all(&dir).unwrap();
    let ports = free_ports(2);
    // Two "hosts" on loopback: each listens on its port and connects to
    // the other's.
    let host = |me: u16, other: u16, name: &str| {
        edited(
            &dir,
            "peer-multihost.json5",
            name,
            &[
                ("tcp/0.0.0.0:7447", format!("tcp/127.0.0.1:{me}")),
                (
                    r#"["tcp/192.0.2.11:7447", "tcp/192.0.2.12:7447"]"#,
                    format!(r#"["tcp/127.0.0.1:{other}"]"#),
                ),
            ],
        )
    };
    let a = host(ports[0], ports[1], "a.json5");
    let b = host(ports[1], ports[0], "b.json5");
    let _sim = sim(&["--zenoh-config", s(&a)]);
    echo_three_frames(&["--zenoh-config", s(&b)]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sim_and_a_subscriber_meet_on_a_unix_socket() {
    let dir = fresh_dir("zenoh-unix");
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("umwelt.sock");
    let endpoint = format!("unixsock-stream/{}", s(&socket));
    let mut sim = spawn(&[
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--duration",
        "4",
        "--zenoh-endpoint",
        &endpoint,
    ]);
    echo_three_frames(&["--zenoh-endpoint", &endpoint]);
    let status = wait_exit(&mut sim, Duration::from_secs(30), "the simulator to end");
    assert!(status.success());
    // zenoh removes the socket files of sessions that close.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir_all(&dir).ok();
}
