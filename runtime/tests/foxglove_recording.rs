//! A recording of the cart-pole demo (`umwelt sim` + `umwelt run` with the
//! shipped learned MPC, over zenoh on loopback) that Foxglove decodes,
//! checked with an independent MCAP reader (the Python `mcap` package), and
//! replayed byte for byte; and `umwelt eval --record`.

mod common;

use common::process::{Node, interrupt, spawn, wait_exit};

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::recording::Recording;
use zenoh::Wait;

/// This test's loopback ports.
const PORTS: std::ops::Range<u16> = 27500..27600;

/// A loopback endpoint in [`PORTS`] that nothing listens on now, starting
/// from `offset` (each use in a test its own) and this process's id.
fn free_endpoint(offset: u16) -> String {
    let n = PORTS.end - PORTS.start;
    let start = ((std::process::id() % u32::from(n)) as u16 + offset) % n;
    (0..n)
        .map(|i| PORTS.start + (start + i) % n)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .map(|p| format!("tcp/127.0.0.1:{p}"))
        .expect("a free port in 27500..27600")
}

/// `umwelt ARGS` run to completion in the repository root (where the
/// configs' relative paths resolve).
fn umwelt_in_root(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run umwelt")
}

fn checker() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/foxglove/check_recording.py")
}

/// Why python3 cannot read MCAP here, if it cannot.
fn python_missing() -> Option<String> {
    match Command::new("python3").args(["-c", "import mcap"]).output() {
        Ok(o) if o.status.success() => None,
        // The last line of a traceback says what is missing.
        Ok(o) => Some(
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string(),
        ),
        Err(e) => Some(format!("python3: {e}")),
    }
}

/// What the independent reader found in `file`.
fn independent_read(file: &Path) -> Value {
    let out = Command::new("python3")
        .arg(checker())
        .arg(file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "check_recording.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Every channel: the byte-exact ones `umwelt/2` without a schema, every
/// other one JSON with its JSON Schema, every message parseable.
fn check_channels(found: &Value) {
    let channels = found["channels"].as_object().unwrap();
    for (topic, c) in channels {
        if c["message_encoding"] == "umwelt/2" {
            assert!(topic.starts_with("umwelt/"), "{topic}: {c}");
            assert!(c["schema_name"].is_null(), "{topic}: {c}");
            continue;
        }
        assert_eq!(c["message_encoding"], "json", "{topic}: {c}");
        assert_eq!(c["schema_encoding"], "jsonschema", "{topic}: {c}");
        assert_eq!(c["schema_title"], c["schema_name"], "{topic}: {c}");
        assert_eq!(c["unparsed"], 0, "{topic}: {c}");
        assert!(c["messages"].as_u64().unwrap() > 0, "{topic}: {c}");
        assert_eq!(c["metadata"]["umwelt.decoded_from"], "umwelt/2", "{topic}");
    }
}

fn stdout_json(node: &mut Node) -> Value {
    let mut s = String::new();
    node.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn a_recording_of_the_cartpole_demo_decodes_in_an_independent_reader() {
    let dir = common::fresh_dir("foxglove-demo");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("demo.mcap");
    let e = free_endpoint(0);

    let mut rec = spawn(&[
        "record",
        "umwelt/cartpole/**",
        "--out",
        file.to_str().unwrap(),
        "--json",
        "--zenoh-endpoint",
        &e,
    ]);
    let stderr = rec.0.stderr.take().unwrap();
    let ready = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.contains("unauthenticated zenoh session"))
        .expect("the recorder says it is recording");
    assert!(ready.starts_with("recording"), "{ready}");
    // The demo in lockstep: every frame answered by the learned MPC.
    let mut sim = spawn(&[
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--lockstep",
        "--lockstep-timeout",
        "0.5",
        "--seed",
        "3",
        "--duration",
        "4",
        "--zenoh-endpoint",
        &e,
    ]);
    let mut controller = spawn(&[
        "run",
        "--config",
        "configs/mpc_cartpole_swingup.toml",
        "--trigger",
        "lockstep",
        "--zenoh-endpoint",
        &e,
    ]);
    assert!(wait_exit(&mut sim, Duration::from_secs(60), "the simulator's 4 s").success());
    assert!(interrupt(&mut controller).success());
    assert!(interrupt(&mut rec).success());
    let report = stdout_json(&mut rec);

    // The recorder's own account: decoded channels, nothing skipped.
    let fx = &report["foxglove"];
    assert_eq!(fx["skipped"], 0, "{report}");
    assert_eq!(fx["scene_skipped"], 0, "{report}");
    assert_eq!(fx["robots"]["cartpole"], true, "{report}");
    let frames = report["keys"]["umwelt/cartpole/sensors"]["messages"]
        .as_u64()
        .unwrap();
    assert!(frames >= 20, "{frames} frames: {report}");
    assert_eq!(fx["topics"]["/umwelt/cartpole/joint_states"], frames);
    assert_eq!(fx["topics"]["/tf"], frames);
    let commands = report["keys"]["umwelt/cartpole/cmd"]["kinds"]["MotorCommand"]
        .as_u64()
        .unwrap();
    assert_eq!(fx["topics"]["/umwelt/cartpole/command"], commands);
    assert!(fx["topics"]["/umwelt/cartpole/scene"].as_u64().unwrap() >= 1);

    // umwelt's reader sees the byte-exact channels only, and counts the rest.
    let info = common::json(&["replay", file.to_str().unwrap(), "--info", "--json"]);
    assert_eq!(info["messages"], report["messages"]);
    assert_eq!(info["decoded"], fx["topics"]);

    // Replayed as fast as possible to a subscriber: the same bytes, in order.
    let recorded: Vec<(String, Vec<u8>)> = Recording::open(&file)
        .unwrap()
        .messages()
        .map(|m| m.map(|m| (m.key, m.payload)).unwrap())
        .collect();
    assert_eq!(recorded.len() as u64, report["messages"].as_u64().unwrap());
    let e2 = free_endpoint(50);
    let listener = ZenohArgs::at(&e2).open().unwrap();
    let (tx, rx) = crossbeam::channel::unbounded();
    let _sub = listener
        .declare_subscriber("umwelt/**")
        .callback(move |s| {
            let _ = tx.send((s.key_expr().to_string(), s.payload().to_bytes().to_vec()));
        })
        .wait()
        .unwrap();
    let out = common::umwelt(&[
        "replay",
        file.to_str().unwrap(),
        "--fast",
        "--json",
        "--zenoh-endpoint",
        &e2,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < recorded.len() && Instant::now() < deadline {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            got.push(m);
        }
    }
    assert_eq!(got, recorded, "the replayed bytes are the recorded ones");

    // The independent reader: every decoded channel has its schema, every
    // message parses, and the bodies sit where the joints put them.
    if let Some(why) = python_missing() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: python3 cannot import mcap ({why}): the independent MCAP check did not run \
             (pip install -r .ci/python-interop.txt)"
        );
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    let found = independent_read(&file);
    check_channels(&found);
    assert_eq!(found["joint_states"], frames, "{found}");
    assert_eq!(found["tf_pairs"], frames, "every frame's bodies: {found}");
    assert!(common::num(&found, "/max_cart_error_m") < 1e-4, "{found}");
    assert!(common::num(&found, "/max_pole_error_rad") < 1e-3, "{found}");
    let entities = &found["scene_entities"]["/umwelt/cartpole/scene"];
    for body in ["cartpole/slider", "cartpole/hinge"] {
        assert!(
            entities.as_array().unwrap().iter().any(|e| e == body),
            "{body} in {entities}"
        );
    }
    for topic in [
        "/umwelt/cartpole/joint_states",
        "/umwelt/cartpole/command",
        "/umwelt/cartpole/scene",
        "/tf",
    ] {
        assert!(found["channels"].get(topic).is_some(), "{topic}: {found}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_record_writes_the_episodes_with_the_same_decoded_channels() {
    let dir = common::fresh_dir("foxglove-eval");
    let file = dir.join("episodes.mcap");
    let out = umwelt_in_root(&[
        "eval",
        "--config",
        "configs/cartpole_swingup.toml",
        "--episodes",
        "2",
        "--seed",
        "5",
        "--out",
        dir.join("eval").to_str().unwrap(),
        "--record",
        file.to_str().unwrap(),
        "--json",
    ]);
    let report = common::json_of(&out, "umwelt eval --record");
    let lengths: Vec<u64> = report["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["length"].as_u64().unwrap())
        .collect();
    assert_eq!(lengths.len(), 2);
    // A frame per step and one after the last, a command per step, a
    // Reset per episode; the imported episodes are the evaluation's.
    let summary = Recording::open(&file).unwrap().summary();
    let frames = lengths.iter().map(|l| l + 1).sum::<u64>();
    let sensors = &summary.keys["umwelt/cartpole/sensors"];
    assert_eq!(sensors.messages, frames);
    assert_eq!(sensors.invalid, 0);
    let cmd = &summary.keys["umwelt/cartpole/cmd"];
    assert_eq!(cmd.kinds["MotorCommand"], lengths.iter().sum::<u64>());
    assert_eq!(cmd.kinds["Reset"], 2);
    assert_eq!(summary.decoded["/umwelt/cartpole/joint_states"], frames);
    assert_eq!(summary.decoded["/tf"], frames);
    // Episode time: the first frame at 0 s.
    assert_eq!(summary.start_ns, Some(0));
    let data = dir.join("imported");
    let imported = common::json(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--from-recording",
        file.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(imported["episodes"], 2, "{imported}");
    assert_eq!(
        imported["transitions"],
        lengths.iter().sum::<u64>(),
        "{imported}"
    );
    // Never replaced.
    let again = umwelt_in_root(&[
        "eval",
        "--config",
        "configs/cartpole_swingup.toml",
        "--episodes",
        "1",
        "--out",
        dir.join("eval2").to_str().unwrap(),
        "--record",
        file.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already exists"), "{err}");

    if let Some(why) = python_missing() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: python3 cannot import mcap ({why}): the independent MCAP check did not run"
        );
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    let found = independent_read(&file);
    check_channels(&found);
    assert_eq!(found["tf_pairs"], frames, "{found}");
    assert!(common::num(&found, "/max_cart_error_m") < 1e-4, "{found}");
    assert!(common::num(&found, "/max_pole_error_rad") < 1e-3, "{found}");
    std::fs::remove_dir_all(&dir).ok();
}
