//! `umwelt learn`: a tiny run end to end (seed data, planner episodes,
//! training, evaluation, checkpoint, curve), resumed, and refusing to
//! overwrite a run.

mod common;

use common::{json, umwelt};

fn tempdir(name: &str) -> std::path::PathBuf {
    common::fresh_dir(&format!("learn-{name}"))
}

const TINY: [&str; 20] = [
    "--robot",
    "cartpole",
    "--task",
    "balance",
    "--seed-episodes",
    "1",
    "--eval-every",
    "1",
    "--eval-episodes",
    "1",
    "--samples",
    "16",
    "--iterations",
    "1",
    "--horizon",
    "2",
    "--hidden",
    "16",
    "--updates-per-step",
    "0.01",
];

#[test]
fn a_tiny_run_learns_checkpoints_and_resumes() {
    let dir = tempdir("tiny");
    let out = dir.to_str().unwrap();
    let mut args: Vec<&str> = vec!["learn", "--json", "--out", out, "--steps", "2000"];
    args.extend(TINY);
    let s = json(&args);
    assert_eq!(s["env_steps"], 2000);
    assert_eq!(s["episodes"], 2);
    // 1000 seed steps x 0.01 + 1000 planner steps x 0.01.
    assert_eq!(s["updates"], 20);
    let curve = s["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 1);
    assert!(curve[0]["eval_return"].as_f64().unwrap().is_finite());
    for f in [
        "model.uwwm",
        "best.uwwm",
        "learn.json",
        "curve.csv",
        "curve.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(dir.join("curve.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let svg = std::fs::read_to_string(dir.join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("environment steps"));
    // The checkpoint is a model of this robot.
    let info = json(&[
        "model",
        "info",
        "--json",
        dir.join("model.uwwm").to_str().unwrap(),
    ]);
    assert_eq!(info["spec"]["robot"], "cartpole");

    // The same directory again without --resume: refused, nothing lost.
    let again = umwelt(&args);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--resume"), "{err}");
    assert!(dir.join("model.uwwm").is_file());

    // Resumed with a larger budget: one more planner episode.
    let mut args: Vec<&str> = vec![
        "learn", "--json", "--resume", "--out", out, "--steps", "3000",
    ];
    args.extend(TINY);
    let s = json(&args);
    assert_eq!(s["env_steps"], 3000);
    assert_eq!(s["episodes"], 3);
    assert_eq!(s["updates"], 30);
    assert_eq!(s["curve"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(dir).ok();
}
