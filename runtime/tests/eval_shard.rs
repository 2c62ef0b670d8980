//! `umwelt eval --shard K/N` and `umwelt eval merge`: shards of one
//! evaluation merge into the report of one run of all episodes, equal to
//! the bit but for times; bad shards and bad `--shard` values are refused
//! with one line saying why; and the Slurm and Kubernetes examples in
//! launch/ run their shards (and learning sweeps) as they say.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::umwelt;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn config(name: &str) -> String {
    repo().join("configs").join(name).display().to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

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

/// A folder of stand-ins on PATH: `umwelt` as the real binary or a
/// recorder of its arguments, and `sbatch` recording its arguments and
/// answering job ids 1001, 1002, ...
fn stubs(dir: &Path, real_umwelt: bool) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    let write = |name: &str, body: String| {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let log = log.display();
    if real_umwelt {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_umwelt"), bin.join("umwelt")).unwrap();
    } else {
        write(
            "umwelt",
            format!("#!/bin/sh\nprintf '%s\\n' \"umwelt $*\" >> '{log}'\n"),
        );
    }
    write(
        "sbatch",
        format!(
            "#!/bin/sh\nn=$(grep -c '^sbatch' '{log}' 2>/dev/null)\nfor a in sbatch \"$@\"; do printf '%s\\n' \"$a\"; done >> '{log}'\necho $((1001 + n))\n"
        ),
    );
    bin
}

/// `bash SCRIPT` (or `bash -c SCRIPT` with `inline`) in the repository
/// root, with `bin` first on PATH and `env`; its output.
fn bash(script: &str, inline: bool, bin: &Path, env: &[(&str, String)]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    if inline {
        c.arg("-c");
    }
    c.arg(script).current_dir(repo()).env("PATH", path);
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run bash")
}

fn succeeded(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The N of a script's `#SBATCH --array=1-N`.
fn array_size(script: &str) -> usize {
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array=1-"))
        .expect("an #SBATCH --array=1-N line");
    line.trim().parse().expect("N")
}

/// The merged report of a sharded example run: every episode once, with
/// its seed.
fn check_merged(merged: &Path, episodes: usize, seed: u64, shards: usize) {
    let m = read_json(&merged.join("eval.json"));
    let rows = m["episodes"].as_array().unwrap();
    assert_eq!(rows.len(), episodes);
    for (i, e) in rows.iter().enumerate() {
        assert_eq!(e["seed"], seed + i as u64);
    }
    assert_eq!(m["merged"]["count"], shards);
}

#[test]
fn the_slurm_array_example_runs_its_shards_and_merges_them() {
    let dir = common::fresh_dir("eval-shard-slurm");
    let script = repo().join("launch/slurm/eval-array.sh");
    let n = array_size(&std::fs::read_to_string(&script).unwrap());
    let bin = stubs(&dir, true);
    let out = dir.join("eval");
    let env = |extra: &[(&'static str, String)]| {
        let mut v = vec![
            ("CONFIG", config("cartpole_random.toml")),
            ("EPISODES", "6".to_string()),
            ("SEED", "2".to_string()),
            ("OUT", out.display().to_string()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    let script = script.display().to_string();
    // From the login node: the array, then the merge after it.
    succeeded(&bash(&script, false, &bin, &env(&[])), "submitting");
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    let submits: Vec<&str> = calls.split("sbatch\n").filter(|s| !s.is_empty()).collect();
    assert_eq!(submits.len(), 2, "{calls}");
    assert!(submits[0].lines().any(|l| l == script), "{calls}");
    assert!(submits[1].contains("--dependency=afterok:1001"), "{calls}");
    let wrap = submits[1]
        .lines()
        .find_map(|l| l.strip_prefix("--wrap="))
        .expect("the merge job's command");
    // Each array task, then the merge job.
    for k in 1..=n {
        let task = env(&[
            ("SLURM_ARRAY_TASK_ID", k.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", n.to_string()),
        ]);
        succeeded(&bash(&script, false, &bin, &task), &format!("task {k}"));
    }
    succeeded(&bash(wrap, true, &bin, &env(&[])), "the merge job");
    check_merged(&out.join("merged"), 6, 2, n);
    std::fs::remove_dir_all(&dir).ok();
}

/// Every `(recipe, seed)` of a sweep once: recipes are configs/learn/*,
/// seeds `seeds`, and each run goes to runs/sweep/<task>/seed<S>.
fn check_sweep(calls: &str, out: &str, seeds: &[u64]) {
    let recipes: BTreeSet<String> = std::fs::read_dir(repo().join("configs/learn"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut seen = BTreeSet::new();
    for line in calls.lines().filter(|l| l.starts_with("umwelt learn")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let flag = |f: &str| {
            let i = words
                .iter()
                .position(|w| *w == f)
                .unwrap_or_else(|| panic!("{line}"));
            words[i + 1].to_string()
        };
        let task = Path::new(&flag("--recipe"))
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let seed: u64 = flag("--seed").parse().unwrap();
        assert_eq!(flag("--out"), format!("{out}/{task}/seed{seed}"), "{line}");
        assert!(seen.insert((task, seed)), "twice: {line}");
    }
    let all: BTreeSet<(String, u64)> = recipes
        .iter()
        .flat_map(|r| seeds.iter().map(move |s| (r.clone(), *s)))
        .collect();
    assert_eq!(seen, all);
    // The flags the sweeps use are `umwelt learn`'s.
    let help = umwelt(&["learn", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for f in [
        "--recipe <FILE>",
        "--seed <SEED>",
        "--out <DIR>",
        "--resume",
    ] {
        assert!(help.contains(f), "umwelt learn --help lacks {f}");
    }
}

#[test]
fn the_slurm_learning_sweep_runs_every_recipe_and_seed_once() {
    let dir = common::fresh_dir("eval-shard-sweep");
    let script = repo().join("launch/slurm/learn-sweep.sh");
    let n = array_size(&std::fs::read_to_string(&script).unwrap());
    let bin = stubs(&dir, false);
    let script = script.display().to_string();
    let task = |k: usize, count: usize| {
        let env = [
            ("SLURM_ARRAY_TASK_ID", k.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", count.to_string()),
        ];
        bash(&script, false, &bin, &env)
    };
    for k in 1..=n {
        succeeded(&task(k, n), &format!("task {k}"));
    }
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    check_sweep(&calls, "runs/sweep", &[0, 1, 2]);
    // An array of the wrong size is refused, not half-run.
    let wrong = task(1, n - 1);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains(&format!("--array=1-{n}")));
    std::fs::remove_dir_all(&dir).ok();
}

/// The YAML documents of `file` as JSON, through Python's yaml; `None`
/// (and a note) where python3 with yaml is not installed.
fn yaml_docs(file: &str) -> Option<Vec<serde_json::Value>> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(repo().join(file))
        .output();
    match out {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).unwrap()),
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named 'yaml'") => {
            eprintln!("skipped: python3 has no yaml module");
            None
        }
        Ok(o) => panic!("{file}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            eprintln!("skipped: no python3");
            None
        }
    }
}

/// A Job's container: its bash script and environment.
fn container(job: &serde_json::Value) -> (String, Vec<(String, String)>) {
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"], serde_json::json!(["bash", "-c"]));
    let env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let v = e["value"].as_str().unwrap().to_string();
            (e["name"].as_str().unwrap().to_string(), v)
        })
        .collect();
    (c["args"][0].as_str().unwrap().to_string(), env)
}

fn env_value(env: &[(String, String)], name: &str) -> String {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {name} in {env:?}"))
}

/// `script` of a Job run by bash with the Job's `env`, where `over`
/// replaces values.
fn run_job(
    script: &str,
    env: &[(String, String)],
    over: &[(&str, String)],
    bin: &Path,
) -> std::process::Output {
    let mut all: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    all.extend(over.iter().cloned());
    bash(script, true, bin, &all)
}

#[test]
fn the_kubernetes_indexed_jobs_run_their_shards_and_merge_them() {
    let Some(eval) = yaml_docs("launch/k8s/eval-indexed-job.yaml") else {
        return;
    };
    let Some(sweep) = yaml_docs("launch/k8s/learn-sweep-job.yaml") else {
        return;
    };
    let dir = common::fresh_dir("eval-shard-k8s");
    let (shards, merge) = (&eval[0], &eval[1]);
    assert_eq!(shards["spec"]["completionMode"], "Indexed");
    let n = shards["spec"]["completions"].as_u64().unwrap() as usize;
    assert_eq!(shards["spec"]["parallelism"], n);
    let (script, env) = container(shards);
    let (merge_script, merge_env) = container(merge);
    assert_eq!(env_value(&env, "SHARDS"), n.to_string());
    assert_eq!(env_value(&merge_env, "SHARDS"), n.to_string());
    assert_eq!(env_value(&env, "OUT"), env_value(&merge_env, "OUT"));
    // Every pod of the indexed Job, then the merge Job, on a folder here.
    let bin = stubs(&dir, true);
    let out = dir.join("eval").display().to_string();
    std::fs::create_dir_all(&out).unwrap();
    let over = |i: Option<usize>| {
        let mut v = vec![
            ("CONFIG", config("cartpole_random.toml")),
            ("EPISODES", "6".to_string()),
            ("SEED", "2".to_string()),
            ("OUT", out.clone()),
        ];
        if let Some(i) = i {
            v.push(("JOB_COMPLETION_INDEX", i.to_string()));
        }
        v
    };
    for i in 0..n {
        succeeded(
            &run_job(&script, &env, &over(Some(i)), &bin),
            &format!("pod {i}"),
        );
    }
    succeeded(
        &run_job(&merge_script, &merge_env, &over(None), &bin),
        "the merge Job",
    );
    check_merged(&Path::new(&out).join("merged"), 6, 2, n);
    let partial = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial")
        })
        .count();
    assert_eq!(partial, 0);
    // The learning sweep: every pod's (recipe, seed) once.
    let job = &sweep[0];
    let count = job["spec"]["completions"].as_u64().unwrap() as usize;
    let (script, env) = container(job);
    assert_eq!(env_value(&env, "COUNT"), count.to_string());
    let stub = stubs(&dir.join("sweep"), false);
    for i in 0..count {
        let pod = run_job(
            &script,
            &env,
            &[("JOB_COMPLETION_INDEX", i.to_string())],
            &stub,
        );
        succeeded(&pod, &format!("sweep pod {i}"));
    }
    let calls = std::fs::read_to_string(dir.join("sweep/calls.log")).unwrap();
    check_sweep(&calls, &env_value(&env, "OUT"), &[0, 1, 2]);
    std::fs::remove_dir_all(&dir).ok();
}
