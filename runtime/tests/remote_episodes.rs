//! `umwelt eval --remote` and `umwelt learn --remote`: episodes through a
//! driver over zenoh on loopback (here `umwelt sim --lockstep` as its own
//! process) give, seed for seed, exactly the in-process episodes: the
//! shipped cart-pole model and the model-free swing-up evaluate to the same
//! returns to the bit, and a learning run makes the same dataset, curve
//! and checkpoint, byte for byte.

mod common;

use std::process::{Command, Stdio};

use common::process::Node;
use common::{fresh_dir, json};

fn config(name: &str) -> String {
    format!("{}/../configs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `umwelt sim` in lockstep on `endpoint` as `name`, killed when dropped.
fn start_sim(endpoint: &str, task: &str, name: &str) -> Node {
    let child = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args([
            "sim",
            "--name",
            name,
            "--robot",
            "cartpole",
            "--task",
            task,
            "--lockstep",
            "--lockstep-timeout",
            "0.5",
            "--zenoh-endpoint",
            endpoint,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start umwelt sim");
    Node(child)
}

fn eval(cfg: &str, episodes: &str, remote: Option<&str>, tag: &str) -> serde_json::Value {
    let out = fresh_dir(tag);
    let out_s = out.to_str().unwrap().to_string();
    let mut args = vec![
        "eval",
        "--json",
        "--full-budget",
        "--config",
        cfg,
        "--episodes",
        episodes,
        "--seed",
        "100",
        "--out",
        &out_s,
    ];
    if let Some(e) = remote {
        args.extend(["--remote", "--zenoh-endpoint", e]);
    }
    let v = json(&args);
    std::fs::remove_dir_all(&out).ok();
    v
}

#[test]
fn remote_evaluation_against_a_lockstep_simulator_equals_the_in_process_one() {
    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint().unwrap();
    let _sim = start_sim(&endpoint, "swingup", "cartpole");
    for (name, episodes) in [
        ("cartpole_swingup.toml", "3"),
        ("mpc_cartpole_swingup.toml", "2"),
    ] {
        let cfg = config(name);
        let remote = eval(&cfg, episodes, Some(&endpoint), &format!("remote-{name}"));
        let local = eval(&cfg, episodes, None, &format!("local-{name}"));
        let (r, l) = (
            remote["episodes"].as_array().unwrap(),
            local["episodes"].as_array().unwrap(),
        );
        assert_eq!(r.len(), episodes.parse::<usize>().unwrap(), "{name}");
        assert_eq!(r.len(), l.len(), "{name}");
        for (i, (a, b)) in r.iter().zip(l).enumerate() {
            for field in ["seed", "ret", "length", "success", "max_reward"] {
                assert_eq!(a[field], b[field], "{name} episode {i} {field}");
            }
        }
        // Not a trivially equal pair: the episodes differ from each other.
        assert_ne!(r[0]["ret"], r[1]["ret"], "{name}");
    }
}

/// A tiny learning run ([`common::TINY`]): seed episode, planner
/// episode, evaluation.
fn learn(out: &str, remote: Option<&str>) -> serde_json::Value {
    let mut args = common::tiny_run(out, &[]);
    if let Some(e) = remote {
        args.extend(["--remote", "--name", "cart_2", "--zenoh-endpoint", e]);
    }
    json(&args)
}

#[test]
fn remote_learning_against_a_lockstep_simulator_equals_the_in_process_run() {
    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint().unwrap();
    // An instance name: the wire name differs from the robot's kind.
    let _sim = start_sim(&endpoint, "balance", "cart_2");
    let (a, b) = (fresh_dir("learn-remote"), fresh_dir("learn-local"));
    let remote = learn(a.to_str().unwrap(), Some(&endpoint));
    let local = learn(b.to_str().unwrap(), None);
    assert_eq!(remote["env_steps"], 2000);
    assert_eq!(
        remote["curve"],
        local["curve"].clone().with_wall_time_of(&remote["curve"])
    );
    // The checkpoints: equal but for their path and training wall time.
    let info = |d: &std::path::Path| {
        let mut v = json(&[
            "model",
            "info",
            "--json",
            d.join("model.uwwm").to_str().unwrap(),
        ]);
        v["path"] = serde_json::Value::Null;
        v["train"]["train_seconds"] = serde_json::Value::Null;
        // The wall time's digits change the file's length, nothing else.
        v["file_bytes"] = serde_json::Value::Null;
        v
    };
    assert_eq!(info(&a), info(&b));
    // The datasets: byte for byte.
    let mut files = vec!["data/dataset.json".to_string()];
    for e in std::fs::read_dir(b.join("data/episodes")).unwrap() {
        files.push(format!(
            "data/episodes/{}",
            e.unwrap().file_name().to_string_lossy()
        ));
    }
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs");
    }
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("remote.json")).unwrap()).unwrap();
    assert_eq!(stats["lockstep"], true, "{stats}");
    for zero in ["frames_missed", "late_commands", "safe_steps", "cuts"] {
        assert_eq!(stats[zero], 0, "{zero}: {stats}");
    }
    std::fs::remove_dir_all(a).ok();
    std::fs::remove_dir_all(b).ok();
}

/// Curves compared without their wall-clock column.
trait WithWallTime {
    fn with_wall_time_of(self, other: &serde_json::Value) -> serde_json::Value;
}

impl WithWallTime for serde_json::Value {
    fn with_wall_time_of(mut self, other: &serde_json::Value) -> serde_json::Value {
        if let (Some(a), Some(b)) = (self.as_array_mut(), other.as_array()) {
            for (p, q) in a.iter_mut().zip(b) {
                p["wall_s"] = q["wall_s"].clone();
            }
        }
        self
    }
}
