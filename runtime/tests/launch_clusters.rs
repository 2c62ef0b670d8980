//! The cluster examples in launch/ do what they say: the Slurm job array
//! and the Kubernetes indexed Job run every shard of an evaluation
//! (`umwelt eval --shard K/N`, the real binary) and their merge step
//! merges them; the learning sweeps run every (recipe, seed) once. `sbatch`
//! is a stand-in that records its arguments; the Jobs' scripts run under
//! bash here, their YAML read by Python's yaml.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{config, read_json, repo, umwelt};

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
