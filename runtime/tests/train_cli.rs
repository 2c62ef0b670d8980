//! `umwelt train` and `umwelt model info`, run as a user would, on a tiny
//! cartpole dataset written by `umwelt collect`: tiny models and few steps,
//! so each run takes a fraction of a second.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

mod common;
use common::{json, umwelt};
use serde_json::Value;

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "umwelt-train-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `umwelt collect` of `episodes` random episodes of `robot`/swingup into `dir`.
fn collect(dir: &Path, robot: &str, episodes: u32) {
    collect_with(dir, robot, episodes, &[]);
}

/// [`collect`] with `extra` arguments; returns its report.
fn collect_with(dir: &Path, robot: &str, episodes: u32, extra: &[&str]) -> Value {
    let n = episodes.to_string();
    let mut args = vec![
        "collect",
        "--robot",
        robot,
        "--task",
        "swingup",
        "--episodes",
        &n,
        "--policy",
        "random",
        "--seed",
        "3",
        "--out",
        s(dir),
        "--json",
    ];
    args.extend_from_slice(extra);
    json(&args)
}

/// `umwelt train` with tiny sizes, and `extra` arguments.
fn train_args<'a>(data: &'a str, out: &'a str, steps: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "train",
        "--data",
        data,
        "--out",
        out,
        "--steps",
        steps,
        "--batch-size",
        "16",
        "--hidden",
        "16",
        "--latent",
        "16",
        "--horizon",
        "2",
        "--eval-every",
        "10",
        "--save-every",
        "20",
        "--eval-stride",
        "7",
    ];
    a.extend_from_slice(extra);
    a
}

/// Runs `umwelt ARGS`, which must fail; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = umwelt(args);
    assert!(
        !out.status.success(),
        "umwelt {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_contains(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "`{p}` missing from: {text}");
    }
}

/// `collect --hold 2` episodes train a model of 2 control steps per step,
/// which `model info` and a resume keep; episodes not held that long, a
/// changed repeat on resume and a hold of 0 are clear errors that write
/// nothing.
#[test]
fn held_episodes_train_a_model_with_an_action_repeat() {
    let tmp = TempDir::new("repeat");
    let held = tmp.join("held");
    let report = collect_with(&held, "cartpole", 3, &["--hold", "2"]);
    assert_eq!(report["hold"], 2);
    let out = tmp.join("r2.uwwm");
    let (d, o) = (s(&held), s(&out));
    let r = json(&train_args(d, o, "10", &["--action-repeat", "2", "--json"]));
    assert_eq!(r["action_repeat"], 2);
    // Two training episodes of 1000 control steps: 500 model steps each.
    assert_eq!(r["transitions"], 1000);
    assert_eq!(json(&["model", "info", o, "--json"])["action_repeat"], 2);

    let again = tmp.join("r2b.uwwm");
    let a = s(&again);
    let e = fails(&train_args(
        d,
        a,
        "5",
        &["--resume", o, "--action-repeat", "3"],
    ));
    assert_contains(&e, &["--action-repeat 3", "cannot change on --resume"]);
    assert!(!again.exists());
    let r = json(&train_args(d, a, "5", &["--resume", o, "--json"]));
    assert_eq!(r["action_repeat"], 2);
    assert_eq!(r["steps"], 15);

    let plain = tmp.join("plain");
    collect(&plain, "cartpole", 2);
    let bad = tmp.join("bad.uwwm");
    let e = fails(&train_args(
        s(&plain),
        s(&bad),
        "5",
        &["--action-repeat", "2"],
    ));
    assert_contains(
        &e,
        &[
            "--action-repeat 2",
            "umwelt collect --hold 2",
            "not recorded with an action repeat of 2",
        ],
    );
    assert!(!bad.exists());

    let e = fails(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--hold",
        "0",
        "--out",
        s(&tmp.join("none")),
    ]);
    assert_contains(&e, &["--hold must be at least 1"]);
    assert!(!tmp.join("none").exists());
}

#[test]
fn train_then_inspect_then_resume() {
    let tmp = TempDir::new("flow");
    let data = tmp.join("data");
    collect(&data, "cartpole", 3);
    let out = tmp.join("cp.uwwm");
    let (d, o) = (s(&data), s(&out));

    let r = json(&train_args(d, o, "30", &["--json"]));
    assert_eq!(r["steps"], 30);
    assert_eq!(r["steps_this_run"], 30);
    assert_eq!(r["robot"], "cartpole");
    assert_eq!(r["adam"], "new");
    assert_eq!(r["train_episodes"], 2);
    assert_eq!(r["validation_episodes"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["transitions"], 2000);
    assert_eq!(r["model"]["hidden"], 16);
    assert_eq!(r["config"]["batch_size"], 16);
    assert!(r["steps_per_second"].as_f64().is_some_and(|v| v > 0.0));
    assert!(r["wall_seconds"].as_f64().is_some_and(|v| v > 0.0));
    for key in ["final_train_losses", "final_validation_losses"] {
        for term in ["total", "consistency", "reward", "decoder"] {
            assert!(
                r[key][term].as_f64().is_some_and(f64::is_finite),
                "{key}.{term}"
            );
        }
    }
    // Validation at steps 10, 20 and 30.
    let steps: Vec<u64> = r["validation"]
        .as_array()
        .expect("validation")
        .iter()
        .map(|v| v["step"].as_u64().expect("step"))
        .collect();
    assert_eq!(steps, [10, 20, 30]);
    let p = &r["prediction"];
    assert_eq!(p["episodes"], 1);
    assert_eq!(p["stride"], 7);
    assert_eq!(p["starts"], (1000 - 10) / 7 + 1);
    let ks: Vec<u64> = p["horizons"]
        .as_array()
        .expect("horizons")
        .iter()
        .map(|h| h["k"].as_u64().expect("k"))
        .collect();
    assert_eq!(ks, [1, 5, 10]);
    for h in p["horizons"].as_array().expect("horizons") {
        assert_eq!(h["model_rmse"].as_array().map(Vec::len), Some(5));
        assert_eq!(h["baseline_rmse"].as_array().map(Vec::len), Some(5));
        assert!(h["baseline_mse"].as_f64().is_some_and(|v| v > 0.0));
        assert!(h["model_reward_mse"].as_f64().is_some_and(f64::is_finite));
    }
    assert!(Path::new(&format!("{o}.adam")).exists());

    // `model info --json` has every field.
    let info = json(&["model", "info", o, "--json"]);
    assert_eq!(info["format_version"], 3);
    assert_eq!(info["model"]["layer_norm"], true);
    assert_eq!(info["robot"], "cartpole");
    assert_eq!(info["task"], "swingup");
    assert_eq!(
        info["observation"],
        serde_json::json!([
            "slider.pos",
            "hinge.cos",
            "hinge.sin",
            "slider.vel",
            "hinge.vel"
        ])
    );
    assert_eq!(info["action"], serde_json::json!(["slider"]));
    assert_eq!(info["model"]["latent_dim"], 16);
    assert_eq!(info["parameters"], r["parameters"]);
    let per_network: u64 = info["parameters_per_network"]
        .as_array()
        .expect("per network")
        .iter()
        .map(|e| e[1].as_u64().expect("count"))
        .sum();
    assert_eq!(Some(per_network), info["parameters"].as_u64());
    assert_eq!(
        info["normalization"]["observation"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(info["normalization"]["action"][0]["half_range"], 10.0);
    assert_eq!(info["train"]["steps"], 30);
    assert_eq!(info["train"]["episodes"], 2);
    assert_eq!(info["train"]["transitions"], 2000);
    assert_eq!(info["train"]["validation_episodes"], 1);
    assert_eq!(info["train"]["validation"], r["validation"]);
    assert!(info["train"]["first_losses"]["total"].is_number());
    assert!(info["train"]["last_losses"]["decoder"].is_number());
    assert_eq!(info["prediction"], r["prediction"]);
    assert_eq!(info["adam_state"], "current");
    let first_losses = info["train"]["first_losses"].clone();

    // The readable form.
    let text = umwelt(&["model", "info", o]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert_contains(
        &text,
        &[
            "cartpole/swingup",
            "checkpoint format 3",
            "LayerNorm",
            "slider.pos",
            "30 steps",
            "open-loop prediction",
            "hinge.vel",
        ],
    );

    // An existing file is not replaced without --force, and stays as it was.
    let before = std::fs::read(&out).expect("read");
    let err = fails(&train_args(d, o, "5", &[]));
    assert_contains(&err, &[o, "exists", "--force"]);
    assert_eq!(std::fs::read(&out).expect("read"), before);

    // --resume continues the step count, the hyper-parameters and Adam.
    let r = json(&train_args(d, o, "20", &["--resume", o, "--json"]));
    assert_eq!(r["steps"], 50);
    assert_eq!(r["steps_this_run"], 20);
    assert_eq!(r["adam"], "restored");
    assert_eq!(r["resumed_from"], o);
    let steps: Vec<u64> = r["validation"]
        .as_array()
        .expect("validation")
        .iter()
        .map(|v| v["step"].as_u64().expect("step"))
        .collect();
    assert_eq!(steps, [10, 20, 30, 40, 50]);
    let info = json(&["model", "info", o, "--json"]);
    assert_eq!(info["train"]["steps"], 50);
    assert_eq!(info["train"]["first_losses"], first_losses);

    // Resuming into another file that exists needs --force; sizes cannot change.
    let other = tmp.join("other.uwwm");
    std::fs::write(&other, b"precious").expect("write");
    let err = fails(&train_args(d, s(&other), "5", &["--resume", o]));
    assert_contains(&err, &[s(&other), "exists"]);
    assert_eq!(std::fs::read(&other).expect("read"), b"precious");
    let mut args = train_args(d, s(&other), "5", &["--resume", o, "--force", "--json"]);
    let at = args
        .iter()
        .position(|a| *a == "--hidden")
        .expect("--hidden");
    args[at + 1] = "32";
    let err = fails(&args);
    assert_contains(&err, &["--hidden 32", "16"]);
    assert_eq!(std::fs::read(&other).expect("read"), b"precious");
    args[at + 1] = "16";
    let r = json(&args);
    assert_eq!(r["steps"], 55);
    assert_eq!(
        json(&["model", "info", s(&other), "--json"])["train"]["steps"],
        55
    );

    // Without its Adam sidecar, a resume says that the moments restart.
    std::fs::remove_file(format!("{}.adam", s(&other))).expect("remove sidecar");
    let out3 = tmp.join("three.uwwm");
    let run = umwelt(&train_args(
        d,
        s(&out3),
        "5",
        &["--resume", s(&other), "--json"],
    ));
    assert!(run.status.success());
    let r: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(r["adam"], "restarted");
    assert_eq!(r["steps"], 60);
    assert_contains(&String::from_utf8_lossy(&run.stderr), &["restart at zero"]);
}

#[test]
fn bad_inputs_are_clear_errors_and_lose_nothing() {
    let tmp = TempDir::new("errors");
    let data = tmp.join("data");
    collect(&data, "cartpole", 3);
    let (d, out) = (s(&data), tmp.join("m.uwwm"));
    let o = s(&out);

    // A missing dataset directory.
    let missing = tmp.join("nope");
    let err = fails(&train_args(s(&missing), o, "5", &[]));
    assert_contains(&err, &[s(&missing), "no such dataset directory"]);
    assert!(!out.exists());

    // Options out of range.
    let err = fails(&train_args(d, o, "5", &["--val-fraction", "0"]));
    assert_contains(&err, &["--val-fraction"]);
    let err = fails(&train_args(d, o, "0", &[]));
    assert_contains(&err, &["--steps"]);
    let mut args = train_args(d, o, "5", &[]);
    let at = args
        .iter()
        .position(|a| *a == "--latent")
        .expect("--latent");
    args[at + 1] = "12";
    let err = fails(&args);
    assert_contains(&err, &["latent_dim 12", "multiple"]);
    let err = fails(&train_args(d, s(&tmp.join("no/such/dir/m.uwwm")), "5", &[]));
    assert_contains(&err, &["does not exist"]);
    assert!(!out.exists());

    // A dataset of one episode leaves none to hold out.
    let one = tmp.join("one");
    collect(&one, "cartpole", 1);
    let err = fails(&train_args(s(&one), o, "5", &[]));
    assert_contains(&err, &[s(&one), "at least 2"]);

    // A truncated episode file.
    let ep = data.join("episodes").join("000001.ep");
    let bytes = std::fs::read(&ep).expect("read");
    std::fs::write(&ep, &bytes[..bytes.len() - 100]).expect("truncate");
    let err = fails(&train_args(d, o, "5", &[]));
    assert_contains(&err, &["000001.ep", "truncated"]);
    assert!(!out.exists());

    // A NaN in an episode, written with a valid checksum as another tool might.
    let mut b = bytes.clone();
    b[36 + 4 * 7..36 + 4 * 8].copy_from_slice(&f32::NAN.to_le_bytes());
    let crc = crc32fast::hash(&b[36..]);
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&ep, &b).expect("write");
    let err = fails(&train_args(d, o, "5", &[]));
    assert_contains(&err, &["000001.ep", "non-finite value NaN"]);
    assert!(!out.exists());
    std::fs::write(&ep, &bytes).expect("restore");

    // A checkpoint of cartpole cannot resume on a pendulum dataset; the
    // error names both and every difference, and nothing changes on disk.
    json(&train_args(d, o, "5", &["--json"]));
    let before = std::fs::read(&out).expect("read");
    let pendulum = tmp.join("pendulum");
    collect(&pendulum, "pendulum", 2);
    let err = fails(&train_args(s(&pendulum), o, "5", &["--resume", o]));
    assert_contains(
        &err,
        &[
            o,
            s(&pendulum),
            "pendulum/swingup",
            "cartpole/swingup",
            "robot: `pendulum` vs `cartpole`",
            "observation dim: 3 vs 5",
        ],
    );
    assert_eq!(std::fs::read(&out).expect("read"), before);

    // Not a checkpoint, and a checkpoint of another format version.
    let junk = tmp.join("junk.uwwm");
    std::fs::write(&junk, b"hello").expect("write");
    let err = fails(&["model", "info", s(&junk)]);
    assert_contains(&err, &[s(&junk), "not an umwelt world-model checkpoint"]);
    let mut v1 = before.clone();
    v1[4..8].copy_from_slice(&1u32.to_le_bytes());
    let old = tmp.join("v1.uwwm");
    std::fs::write(&old, &v1).expect("write");
    let err = fails(&["model", "info", s(&old)]);
    assert_contains(
        &err,
        &[
            s(&old),
            "checkpoint format version 1, this build reads versions 2 to 3",
        ],
    );
    let err = fails(&train_args(
        d,
        s(&tmp.join("x.uwwm")),
        "5",
        &["--resume", s(&old)],
    ));
    assert_contains(&err, &[s(&old), "format version 1"]);
}

/// The engine and threads of each step: fused on two threads by default,
/// burn when asked; both take the same first step (the same objective,
/// up to rounding); a run is repeatable to the bit; a resume keeps the
/// sidecar's engine, and another engine restarts Adam's moments, saying so.
#[test]
fn train_engines_and_threads() {
    let tmp = TempDir::new("engines");
    let data = tmp.join("data");
    collect(&data, "cartpole", 3);
    let d = s(&data);
    let (fused, burn) = (tmp.join("fused.uwwm"), tmp.join("burn.uwwm"));
    let (f, b) = (s(&fused), s(&burn));

    let rf = json(&train_args(d, f, "20", &["--json"]));
    assert_eq!(rf["engine"], "fused");
    assert_eq!(rf["threads"], 2);
    let rb = json(&train_args(
        d,
        b,
        "20",
        &["--train-engine", "burn", "--train-threads", "1", "--json"],
    ));
    assert_eq!(rb["engine"], "burn");
    assert_eq!(rb["threads"], 1);
    let first = |o: &str| json(&["model", "info", o, "--json"])["train"]["first_losses"].clone();
    let (lf, lb) = (first(f), first(b));
    for term in ["total", "consistency", "reward", "value", "decoder"] {
        let (x, y) = (
            lf[term].as_f64().expect("fused loss"),
            lb[term].as_f64().expect("burn loss"),
        );
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "first step's {term}: fused {x}, burn {y}"
        );
    }
    // Twenty steps later they still agree, up to rounding.
    let (x, y) = (
        rf["final_train_losses"]["total"].as_f64().expect("fused"),
        rb["final_train_losses"]["total"].as_f64().expect("burn"),
    );
    assert!(
        (x - y).abs() <= 1e-3 * y.abs(),
        "after 20 steps: fused {x}, burn {y}"
    );
    // The same run again: the same losses to the bit.
    let again = tmp.join("again.uwwm");
    let ra = json(&train_args(d, s(&again), "20", &["--json"]));
    assert_eq!(ra["final_train_losses"], rf["final_train_losses"]);
    assert_eq!(ra["validation"], rf["validation"]);

    // A resume goes on with the sidecar's engine and its moments.
    let r = json(&train_args(d, b, "5", &["--resume", b, "--json"]));
    assert_eq!(
        (&r["engine"], &r["adam"]),
        (&"burn".into(), &"restored".into())
    );
    let r = json(&train_args(d, f, "5", &["--resume", f, "--json"]));
    assert_eq!(
        (&r["engine"], &r["adam"]),
        (&"fused".into(), &"restored".into())
    );
    // Another engine starts the moments afresh, and says so.
    let out = umwelt(&train_args(
        d,
        b,
        "5",
        &["--resume", b, "--train-engine", "fused", "--json"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (&r["engine"], &r["adam"]),
        (&"fused".into(), &"restarted".into())
    );
    assert_eq!(r["steps"], 30);
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        &["--train-engine fused", "burn's moments", "restart at zero"],
    );

    // What cannot run is refused before any work.
    let none = tmp.join("none.uwwm");
    let n = s(&none);
    let err = fails(&train_args(d, n, "5", &["--train-threads", "0"]));
    assert_contains(&err, &["--train-threads", "1 to"]);
    let err = fails(&train_args(d, n, "5", &["--train-engine", "magic"]));
    assert_contains(&err, &["--train-engine", "magic"]);
    let err = fails(&train_args(
        d,
        n,
        "5",
        &["--device", "wgpu", "--train-engine", "fused"],
    ));
    assert_contains(&err, &["--train-engine fused computes on the CPU", "burn"]);
    assert!(!none.exists());
}

#[test]
fn help_explains_train_and_model_info() {
    let out = umwelt(&["train", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_contains(
        &text,
        &[
            "--data",
            "--out",
            "--resume",
            "--force",
            "--val-fraction",
            "--eval-every",
            "--save-every",
            "--batch-size",
            "--horizon",
            "--lr",
            "--seed",
            "--hidden",
            "--latent",
            "--json",
            "--train-engine",
            "--train-threads",
            "constant-state baseline",
        ],
    );
    let out = umwelt(&["model", "info", "--help"]);
    assert!(out.status.success());
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &["--json", "prediction"],
    );
}
