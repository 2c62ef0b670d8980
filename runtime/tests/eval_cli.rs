//! `umwelt eval`: the report, the figures, baselines, and results that do
//! not depend on the number of parallel jobs.

mod common;

use common::json;

fn tempdir(name: &str) -> std::path::PathBuf {
    common::fresh_dir(&format!("eval-{name}"))
}

fn config(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn eval_writes_its_report_and_figures_and_jobs_do_not_change_results() {
    let cfg = config("cartpole_random.toml");
    let d1 = tempdir("j1");
    let d2 = tempdir("j2");
    let one = json(&[
        "eval",
        "--json",
        "--config",
        &cfg,
        "--episodes",
        "4",
        "--seed",
        "3",
        "--jobs",
        "1",
        "--out",
        d1.to_str().unwrap(),
        "--baselines",
        "random",
    ]);
    let two = json(&[
        "eval",
        "--json",
        "--config",
        &cfg,
        "--episodes",
        "4",
        "--seed",
        "3",
        "--jobs",
        "2",
        "--out",
        d2.to_str().unwrap(),
    ]);
    for k in [
        "pc_success",
        "avg_sum_reward",
        "avg_max_reward",
        "eval_s",
        "eval_ep_s",
    ] {
        assert!(one[k].is_number(), "{k}");
    }
    let eps = one["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 4);
    for (i, e) in eps.iter().enumerate() {
        assert_eq!(e["seed"], 3 + i as u64);
        assert_eq!(e["length"], 1000);
        // The same seeds, whatever the number of jobs: the same returns.
        assert_eq!(e["ret"], two["episodes"][i]["ret"]);
    }
    assert_eq!(one["avg_sum_reward"], two["avg_sum_reward"]);
    assert_eq!(two["summary"]["jobs"], 2);
    // The random baseline on the same seeds is the configured random controller.
    let b = &one["baselines"][0];
    assert_eq!(b["baseline"], "random");
    assert_eq!(b["return_ratio"], 1.0);
    let s = &one["summary"];
    let [lo, hi] = [
        s["avg_sum_reward_ci95"][0].as_f64().unwrap(),
        s["avg_sum_reward_ci95"][1].as_f64().unwrap(),
    ];
    let mean = one["avg_sum_reward"].as_f64().unwrap();
    assert!(lo <= mean && mean <= hi, "{lo} {mean} {hi}");
    let csv = std::fs::read_to_string(d1.join("episodes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(csv.starts_with("index,seed,return"));
    for f in [
        "returns.svg",
        "traces.svg",
        "controller_time.svg",
        "eval.json",
    ] {
        let text = std::fs::read_to_string(d1.join(f)).unwrap();
        assert!(text.len() > 200, "{f}");
    }
    std::fs::remove_dir_all(d1).ok();
    std::fs::remove_dir_all(d2).ok();
}

#[test]
fn eval_of_a_missing_config_says_which_file() {
    let out = common::umwelt(&["eval", "--config", "/nonexistent/c.toml", "--episodes", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/c.toml"), "{err}");
}

/// `--sil`: `umwelt sim --lockstep` and `umwelt run` as separate processes
/// over zenoh on loopback give, for each seed, exactly the in-process
/// episodes: a seeded random controller (reseeded per episode through the
/// frames' `episode` channel) and the model-free swing-up with its slew limit.
#[test]
fn simulator_in_the_loop_and_in_process_evaluation_agree_for_a_seed() {
    for (name, episodes) in [
        ("cartpole_random.toml", "3"),
        ("cartpole_swingup.toml", "2"),
    ] {
        let d = tempdir(&format!("sil-{name}"));
        let r = json(&[
            "eval",
            "--json",
            "--sil",
            "--config",
            &config(name),
            "--episodes",
            episodes,
            "--seed",
            "7",
            "--out",
            d.to_str().unwrap(),
            "--sil-timeout",
            "120",
        ]);
        let sil = &r["sil"];
        assert_eq!(sil["identical"], true, "{name}: {sil}");
        assert_eq!(sil["episodes"].as_u64(), episodes.parse().ok(), "{name}");
        for (i, e) in r["episodes"].as_array().unwrap().iter().enumerate() {
            let a = e["ret"].as_f64().unwrap();
            let b = sil["returns"][i].as_f64().unwrap();
            assert!(
                (a - b).abs() < 1e-6 * a.abs().max(1.0),
                "{name} episode {i}: {a} vs {b}"
            );
        }
        assert!(d.join("sil_episodes").is_dir());
        std::fs::remove_dir_all(d).ok();
    }
}

/// `--full-budget` runs every planner iteration whatever the deadline, so a
/// learned planner's returns depend only on the seeds: the same with one
/// job as with two competing for the cores. It says so in the report, and
/// refuses `--sil` (whose `umwelt run` keeps the deadline rule).
#[test]
fn a_full_budget_evaluation_depends_only_on_its_seeds() {
    let shipped = config("mpc_cartpole_swingup.toml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let ck = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/checkpoints/cartpole_swingup.uwwm");
    // A smaller budget keeps the test short; iterations still above one.
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
    let dir = tempdir("full-budget");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("mpc.toml");
    std::fs::write(&cfg, text).unwrap();
    let run = |jobs: &str| {
        json(&[
            "eval",
            "--json",
            "--full-budget",
            "--config",
            cfg.to_str().unwrap(),
            "--episodes",
            "2",
            "--seed",
            "5",
            "--jobs",
            jobs,
            "--out",
            dir.join(format!("j{jobs}")).to_str().unwrap(),
        ])
    };
    let (one, two) = (run("1"), run("2"));
    assert_eq!(one["full_budget"], true);
    for i in 0..2 {
        assert!(one["episodes"][i]["ret"].is_number(), "{one}");
        assert_eq!(one["episodes"][i]["ret"], two["episodes"][i]["ret"], "{i}");
    }
    let refused = common::umwelt(&[
        "eval",
        "--full-budget",
        "--sil",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--sil"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn without_a_terminal_eval_prints_one_line_per_episode() {
    // `output()` pipes stderr: no terminal, so no (hidden) bar but lines.
    let dir = tempdir("lines");
    let out = common::umwelt(&[
        "eval",
        "--config",
        &config("cartpole_random.toml"),
        "--episodes",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("config ") && l.contains("/3 episodes"))
        .collect();
    assert_eq!(lines.len(), 3, "one line per episode expected:\n{err}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains(&format!("{}/3 episodes", i + 1)), "{l}");
        assert!(l.contains("return"), "{l}");
    }
    // No terminal control codes in a log.
    assert!(!err.contains('\u{1b}'), "{err:?}");
    std::fs::remove_dir_all(&dir).ok();
}
