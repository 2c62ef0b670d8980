//! `umwelt collect`, run as a user would, read back with the dataset API.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use umwelt_models::dataset::Dataset;

/// A fresh temporary directory (not created), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "umwelt-collect-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn arg(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

mod common;
use common::{json, umwelt};

fn collect(out: &str, robot: &str, task: &str, episodes: &str, seed: &str) -> Vec<String> {
    [
        "collect",
        "--robot",
        robot,
        "--task",
        task,
        "--episodes",
        episodes,
        "--policy",
        "random",
        "--seed",
        seed,
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

fn run_json(args: &[String]) -> serde_json::Value {
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--json");
    json(&args)
}

#[test]
fn collect_writes_a_dataset_that_appends_and_matches_rollout() {
    let tmp = TempDir::new("cartpole");
    let report = run_json(&collect(tmp.arg(), "cartpole", "swingup", "3", "5"));
    assert_eq!(report["episodes_written"], 3);
    assert_eq!(report["steps"], 3000);
    assert_eq!(report["dataset_episodes"], 3);
    assert_eq!(report["stopped"], false);
    assert_eq!(report["path"], tmp.arg());

    let data = Dataset::open(tmp.path()).expect("open the collected dataset");
    assert_eq!(data.len(), 3);
    assert_eq!(
        (data.spec().robot.as_str(), data.spec().task.as_str()),
        ("cartpole", "swingup")
    );
    assert_eq!((data.spec().obs_dim(), data.spec().act_dim()), (5, 1));
    assert_eq!(data.total_steps().expect("steps"), 3000);
    let episodes = data.load_all().expect("load");
    for (i, e) in episodes.iter().enumerate() {
        assert_eq!(e.seed, 5 + i as u64);
        assert_eq!((e.len(), e.obs_dim(), e.act_dim()), (1000, 5, 1));
        assert!(e.truncated && !e.terminated);
        assert!(e.actions.iter().all(|a| (-10.0..=10.0).contains(a)));
        assert!(
            e.actions.iter().any(|&a| a != e.actions[0]),
            "random actions vary"
        );
        assert_eq!(
            report["episodes"][i]["return"].as_f64().expect("return"),
            e.episode_return()
        );
    }

    // The same seeds and policy under `umwelt rollout` give the same returns.
    let rollout = json(&[
        "rollout",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--policy",
        "random",
        "--episodes",
        "3",
        "--seed",
        "5",
        "--json",
    ]);
    for (i, e) in episodes.iter().enumerate() {
        let r = &rollout["episodes"][i];
        assert_eq!(r["seed"].as_u64(), Some(e.seed));
        assert_eq!(r["length"].as_u64(), Some(e.len() as u64));
        let expected = r["return"].as_f64().expect("return");
        let got = e.episode_return();
        assert!(
            (expected - got).abs() <= 1e-12 * expected.abs().max(1.0),
            "episode {i}: rollout return {expected}, dataset rewards sum to {got}"
        );
    }

    // A second collect into the same directory appends, with new seeds.
    let report = run_json(&collect(tmp.arg(), "cartpole", "swingup", "3", "5"));
    assert_eq!(report["episodes_written"], 3);
    assert_eq!(report["dataset_episodes"], 6);
    let data = Dataset::open(tmp.path()).expect("open");
    assert_eq!(data.len(), 6);
    let seeds: Vec<u64> = data.iter().map(|e| e.expect("load").seed).collect();
    assert_eq!(seeds, [5, 6, 7, 8, 9, 10]);
    assert_bit_identical_prefix(&episodes, &data);

    // Another robot into it fails, naming both, and changes nothing.
    let out = umwelt(
        &collect(tmp.arg(), "pendulum", "swingup", "1", "5")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for part in [
        "cartpole/swingup",
        "pendulum/swingup",
        "robot: `cartpole` vs `pendulum`",
        tmp.arg(),
    ] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
    assert_eq!(Dataset::open(tmp.path()).expect("open").len(), 6);
}

/// The first episodes of `data` are still exactly `before`.
fn assert_bit_identical_prefix(before: &[umwelt_models::dataset::Episode], data: &Dataset) {
    for (i, b) in before.iter().enumerate() {
        let now = data.load(i).expect("load");
        assert_eq!(&now, b, "episode {i} changed");
    }
}

#[test]
fn collect_text_summary_and_zero_policy() {
    let tmp = TempDir::new("text");
    let out = umwelt(&[
        "collect",
        "--robot",
        "pendulum",
        "--task",
        "swingup",
        "--episodes",
        "2",
        "--policy",
        "zero",
        "--out",
        tmp.arg(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("wrote 2 episodes (2000 steps)"), "{text}");
    assert!(text.contains("mean return"), "{text}");
    assert!(text.contains(tmp.arg()), "{text}");
    let data = Dataset::open(tmp.path()).expect("open");
    let e = data.load(1).expect("load");
    assert_eq!(e.seed, 1);
    assert!(e.actions.iter().all(|&a| a == 0.0));
}

#[test]
fn collect_refuses_bad_arguments() {
    let tmp = TempDir::new("bad");
    let out = umwelt(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--episodes",
        "0",
        "--out",
        tmp.arg(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--episodes"));
    let out = umwelt(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "nope",
        "--out",
        tmp.arg(),
    ]);
    assert!(!out.status.success());
    assert!(!tmp.path().exists(), "nothing created for a bad task");
}

#[cfg(unix)]
#[test]
fn ctrl_c_drops_the_episode_in_progress_and_keeps_the_rest() {
    let tmp = TempDir::new("ctrlc");
    let child = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args([
            "collect",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--episodes",
            "1000000",
            "--out",
            tmp.arg(),
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn umwelt");
    let first = tmp.path().join("episodes").join("000000.ep");
    let start = Instant::now();
    while !first.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no episode written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    // SAFETY: sending a signal to our own child process.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["stopped"], true);
    let written = report["episodes_written"].as_u64().expect("count");
    assert!((1..1_000_000).contains(&written), "{written}");
    let data = Dataset::open(tmp.path()).expect("open");
    assert_eq!(data.len() as u64, written);
    assert!(data.stale_temp_files().is_empty());
    for e in data.iter() {
        assert_eq!(e.expect("every written episode is whole").len(), 1000);
    }
}
