//! `umwelt eval --shard K/N` and `umwelt eval merge`: shards of one
//! evaluation merge into the report of one run of all episodes, equal to
//! the bit but for times (in-process and on a robot behind its driver);
//! bad shards and bad `--shard` values are refused with one line saying
//! why. The cluster examples that run shards: launch_clusters.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{config, read_json, repo, umwelt};

/// Runs `umwelt ARGS`, which must succeed.
fn ok(args: &[&str]) {
    let out = umwelt(args);
    assert!(
        out.status.success(),
        "umwelt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `umwelt ARGS`, which must fail with one line on stderr that
/// contains `want`; returns that line.
fn refused(args: &[&str], want: &str) -> String {
    let out = umwelt(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "umwelt {args:?} succeeded");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    // clap adds a hint line of its own after its one-line error.
    let first = lines.first().copied().unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains(want),
        "umwelt {args:?}: wanted one line with {want:?}, got:\n{err}"
    );
    assert!(
        lines.len() == 1 || lines[1].starts_with("For more information"),
        "umwelt {args:?}: more than one line:\n{err}"
    );
    first.to_string()
}

/// The shipped cart-pole MPC config (its learned checkpoint) with a
/// smaller planner, which keeps the test short; with --full-budget its
/// returns depend only on the seeds.
fn small_mpc(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config("mpc_cartpole_swingup.toml")).unwrap();
    let ck = repo().join("models/checkpoints/cartpole_swingup.uwwm");
    let text = text
        .lines()
        .map(|l| match l.split('=').next().map(str::trim) {
            Some("checkpoint") => format!("checkpoint = {:?}", ck.display().to_string()),
            Some("robot_config") => format!("robot_config = {:?}", config("robots/cartpole.toml")),
            Some("samples") => "samples = 64".into(),
            Some("elites") => "elites = 8".into(),
            Some("policy_samples") => "policy_samples = 8".into(),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = dir.join("mpc.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Fields measured with a clock (they differ between any two runs).
const TIMED: &[&str] = &[
    "eval_s",
    "eval_ep_s",
    "episodes_per_minute",
    "realtime_factor",
    "controller_p50_us",
    "controller_p99_us",
    "deadline_misses",
    "jobs",
    "render_s",
    "encode_s",
];

/// eval.json's text with the value of every timed field replaced and the
/// `merged` section left out: what must be equal to the byte.
fn untimed_json(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut skip_depth: Option<usize> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(depth) = skip_depth {
            let indent = line.len() - t.len();
            if indent == depth && t.starts_with('}') {
                skip_depth = None;
            }
            continue;
        }
        if t.starts_with("\"merged\": {") {
            skip_depth = Some(line.len() - t.len());
            continue;
        }
        let timed = TIMED.iter().any(|k| t.starts_with(&format!("\"{k}\": ")));
        out.push(if timed {
            format!("{}: <timed>", t.split(':').next().unwrap_or_default())
        } else {
            line.to_string()
        });
    }
    out.join("\n")
}

/// episodes.csv without its timed columns (controller p50, p99, deadline
/// misses).
fn untimed_csv(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let kept: Vec<&str> = cells
                .iter()
                .enumerate()
                .filter(|(i, _)| !(6..=8).contains(i))
                .map(|(_, c)| *c)
                .collect();
            kept.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Panics at the first line where `a` and `b` differ.
fn same_text(a: &str, b: &str, what: &str) {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
        assert!(
            x == y,
            "{what}, line {}: unsharded {x:?}, merged {y:?}",
            i + 1
        );
    }
    assert_eq!(la.len(), lb.len(), "{what}: line counts");
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn shards_merge_into_the_report_of_one_run_to_the_bit() {
    let dir = common::fresh_dir("eval-shard-equal");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = small_mpc(&dir);
    let cfg = cfg.to_str().unwrap();
    let d = |name: &str| dir.join(name).display().to_string();
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--config",
            cfg,
            "--full-budget",
            "--episodes",
            "4",
            "--seed",
            "100",
            "--baselines",
            "random",
        ];
        args.extend(extra);
        ok(&args);
    };
    let (whole, merged) = (d("whole"), d("merged"));
    eval(&["--out", &whole, "--video", "1"]);
    for k in 1..=3 {
        eval(&["--shard", &format!("{k}/3"), "--out", &d(&format!("s{k}"))]);
    }
    // In any order.
    ok(&[
        "eval",
        "merge",
        "--out",
        &merged,
        "--video",
        "1",
        &d("s2"),
        &d("s3"),
        &d("s1"),
    ]);
    let (w, m) = (Path::new(&whole), Path::new(&merged));
    // Every episode's seed, return, success, every aggregate (LeRobot's
    // layout too), the baseline and its ratio: the same text, so the same
    // bits (floats are printed shortest-round-trip).
    let json = |d: &Path| untimed_json(&d.join("eval.json"));
    same_text(&json(w), &json(m), "eval.json");
    let csv = |d: &Path| untimed_csv(&d.join("episodes.csv"));
    same_text(&csv(w), &csv(m), "episodes.csv");
    for f in ["returns.svg", "traces.svg"] {
        assert!(bytes(&w.join(f)) == bytes(&m.join(f)), "{f} differs");
    }
    let wj = read_json(&w.join("eval.json"));
    let mj = read_json(&m.join("eval.json"));
    let video = mj["videos"][0]["path"].as_str().unwrap();
    assert_eq!(wj["videos"][0]["path"], video);
    assert!(
        bytes(&w.join(video)) == bytes(&m.join(video)),
        "{video} differs"
    );
    for (i, e) in mj["episodes"].as_array().unwrap().iter().enumerate() {
        assert_eq!(e["index"], i);
        assert_eq!(e["seed"], 100 + i as u64);
        assert_eq!(e["ret"], wj["episodes"][i]["ret"]);
        assert_eq!(e["success"], wj["episodes"][i]["success"]);
    }
    assert_eq!(mj["summary"]["episodes"], 4);
    assert_eq!(mj["avg_sum_reward"], wj["avg_sum_reward"]);
    assert!(mj["avg_sum_reward"].as_f64().unwrap() > 0.0, "{mj}");
    // Each shard holds its block; the merge's times are the shards'.
    let mut shard_s = Vec::new();
    for (k, want) in [(1, vec![0, 1]), (2, vec![2]), (3, vec![3])] {
        let s = read_json(&dir.join(format!("s{k}")).join("eval.json"));
        assert_eq!(s["shard"]["index"], k);
        assert_eq!(s["shard"]["count"], 3);
        assert_eq!(s["shard"]["episodes"], serde_json::json!(want));
        assert_eq!(s["shard"]["evaluation"]["episodes"], 4);
        assert_eq!(s["episodes"][0]["index"], want[0]);
        shard_s.push(s["summary"]["eval_s"].as_f64().unwrap());
    }
    let info = &mj["merged"];
    assert_eq!(info["count"], 3);
    let max = shard_s.iter().copied().fold(0.0, f64::max);
    assert_eq!(info["wall_s"].as_f64(), Some(max));
    assert_eq!(mj["eval_s"].as_f64(), Some(max));
    let sum = info["machine_s"].as_f64().unwrap();
    assert!((sum - shard_s.iter().sum::<f64>()).abs() < 1e-9, "{info}");
    assert_eq!(mj["summary"]["jobs"], 3);
    assert!(wj.get("merged").is_none() && wj.get("shard").is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn merge_refuses_missing_duplicate_foreign_and_damaged_shards() {
    let dir = common::fresh_dir("eval-shard-errors");
    let cfg = config("cartpole_random.toml");
    let d = |name: &str| dir.join(name).display().to_string();
    let eval = |seed: &str, shard: Option<&str>, out: &str| {
        let mut args = vec![
            "eval",
            "--config",
            &cfg,
            "--episodes",
            "3",
            "--seed",
            seed,
            "--out",
            out,
        ];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        ok(&args);
    };
    let (s1, s2, other, whole) = (d("s1"), d("s2"), d("other"), d("whole"));
    eval("0", Some("1/2"), &s1);
    eval("0", Some("2/2"), &s2);
    eval("1", Some("2/2"), &other);
    eval("0", None, &whole);
    let merge = |args: &[&str], want: &str| {
        let mut all = vec!["eval", "merge", "--out"];
        let out = d("merged");
        all.push(&out);
        all.extend(args);
        refused(&all, want)
    };
    merge(&[&s1], "missing shard(s) 2 of 2");
    merge(&[&s1, &s2, &s1], "are both shard 1/2");
    let line = merge(&[&s1, &other], "is a shard of another evaluation");
    assert!(line.contains("seed 0 vs 1"), "{line}");
    merge(&[&s1, &whole], "nothing to merge");
    merge(&[&s1, &d("nowhere")], "no eval.json");
    merge(
        &[&s1, &s2, "--config", &config("cartpole_zero.toml")],
        "not the files the shards ran",
    );
    refused(
        &["eval", "merge", "--out", &s1, &s1, &s2],
        "is a shard's folder",
    );
    // A copy of shard 2 that claims an episode of shard 1.
    let copy = |name: &str| {
        let to = dir.join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in ["eval.json", "runs.bin"] {
            std::fs::copy(Path::new(&s2).join(f), to.join(f)).unwrap();
        }
        to
    };
    let overlap = copy("overlap");
    let mut j = read_json(&overlap.join("eval.json"));
    j["shard"]["episodes"] = serde_json::json!([1, 2]);
    std::fs::write(overlap.join("eval.json"), j.to_string()).unwrap();
    merge(
        &[&s1, overlap.to_str().unwrap()],
        "must hold episodes 2..3, it holds 2 episodes, 1 to 2",
    );
    // Damaged files.
    let damaged = copy("damaged");
    let mut runs = bytes(&damaged.join("runs.bin"));
    let at = runs.len() / 2;
    runs[at] ^= 1;
    std::fs::write(damaged.join("runs.bin"), runs).unwrap();
    merge(
        &[&s1, damaged.to_str().unwrap()],
        "corrupted or not this shard's",
    );
    let cut = copy("cut");
    let text = bytes(&cut.join("eval.json"));
    std::fs::write(cut.join("eval.json"), &text[..text.len() / 2]).unwrap();
    merge(&[&s1, cut.to_str().unwrap()], "corrupted or not umwelt's");
    // And the shards themselves do merge.
    ok(&["eval", "merge", "--out", &d("merged"), &s2, &s1]);
    let m = read_json(&dir.join("merged/eval.json"));
    assert_eq!(m["per_episode"].as_array().unwrap().len(), 3);
    assert_eq!(m["summary"]["episodes"], 3);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_shard_flags_are_refused_before_anything_runs() {
    let dir = common::fresh_dir("eval-shard-flags");
    let cfg = config("cartpole_random.toml");
    let out = dir.display().to_string();
    let eval = |extra: &[&str], want: &str| {
        let mut args = vec!["eval", "--config", &cfg, "--episodes", "3", "--out", &out];
        args.extend(extra);
        refused(&args, want);
    };
    eval(&["--shard", "3/2"], "shard 3/2: K must be 1 to N");
    eval(&["--shard", "0/2"], "shard 0/2: K must be 1 to N");
    eval(&["--shard", "1/0"], "N must be 1 to");
    eval(&["--shard", "a/b"], "expected K/N");
    eval(&["--shard", "2"], "expected K/N");
    eval(&["--shard", "4/4"], "more shards than episodes");
    eval(
        &["--shard", "1/2", "--video", "1"],
        "pass --video to `umwelt eval merge`",
    );
    eval(&["--shard", "1/2", "--sil"], "--sil with --shard");
    assert!(
        !dir.exists(),
        "a refused evaluation wrote {}",
        dir.display()
    );
    // clap's own: what is required, on the lines after the first.
    for (args, want) in [
        (vec!["eval", "merge", "--out", &out], "<SHARD_DIR>"),
        (vec!["eval", "--episodes", "3"], "--config <FILE>"),
    ] {
        let o = umwelt(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
    let help = umwelt(&["eval", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for want in [
        "merge",
        "--shard <K/N>",
        "umwelt eval merge --out DIR SHARD_DIR...",
    ] {
        assert!(
            help.contains(want),
            "`umwelt eval --help` lacks {want:?}:\n{help}"
        );
    }
}

/// A free loopback endpoint in 28000-28099 (the ports this project's
/// tests may use on a shared machine).
fn free_endpoint() -> String {
    let port = (28000..28100)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 28000-28099");
    format!("tcp/127.0.0.1:{port}")
}

/// Shards on a robot behind its driver (`--remote`; here `umwelt sim
/// --lockstep` on loopback, one robot for both shards, one after the
/// other) merge into the in-process evaluation's episodes, with the wire's
/// counts added up.
#[test]
fn remote_shards_merge_into_the_in_process_episodes() {
    let dir = common::fresh_dir("eval-shard-remote");
    let endpoint = free_endpoint();
    let _sim = common::process::Node(
        Command::new(env!("CARGO_BIN_EXE_umwelt"))
            .args([
                "sim",
                "--robot",
                "cartpole",
                "--task",
                "swingup",
                "--lockstep",
            ])
            .args(["--lockstep-timeout", "0.5", "--zenoh-endpoint", &endpoint])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start umwelt sim"),
    );
    let cfg = config("cartpole_swingup.toml");
    let d = |name: &str| dir.join(name).display().to_string();
    let base = ["eval", "--config", &cfg, "--episodes", "3", "--seed", "100"];
    for k in 1..=2 {
        let mut args = base.to_vec();
        let (shard, out) = (format!("{k}/2"), d(&format!("s{k}")));
        args.extend(["--shard", &shard, "--out", &out]);
        args.extend(["--remote", "--zenoh-endpoint", &endpoint]);
        ok(&args);
    }
    let mut whole = base.to_vec();
    let whole_out = d("whole");
    whole.extend(["--out", &whole_out]);
    ok(&whole);
    ok(&["eval", "merge", "--out", &d("merged"), &d("s1"), &d("s2")]);
    let m = read_json(&dir.join("merged/eval.json"));
    let w = read_json(&dir.join("whole/eval.json"));
    assert_eq!(m["per_episode"], w["per_episode"]);
    assert_eq!(m["avg_sum_reward"], w["avg_sum_reward"]);
    let frames: Vec<u64> = (1..=2)
        .map(|k| {
            read_json(&dir.join(format!("s{k}/eval.json")))["remote"]["frames"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(frames.iter().all(|f| *f > 0), "{frames:?}");
    assert_eq!(m["remote"]["frames"], frames.iter().sum::<u64>());
    assert_eq!(m["remote"]["lockstep"], true);
    // Episodes on a driver's robot are not replayed: no videos.
    refused(
        &[
            "eval",
            "merge",
            "--out",
            &d("m2"),
            "--video",
            "1",
            &d("s1"),
            &d("s2"),
        ],
        "robot behind its driver",
    );
    std::fs::remove_dir_all(&dir).ok();
}
