//! The `umwelt` binary's simulator commands, run as a user would.

mod common;
use common::{json, umwelt};

#[test]
fn envs_lists_every_robot_and_task_with_specs() {
    let v = json(&["envs", "--json"]);
    let robots = v.as_array().unwrap();
    let names: Vec<&str> = robots
        .iter()
        .map(|r| r["robot"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cartpole", "pendulum", "reacher", "arm"]);
    let arm = &robots[3];
    assert!(
        arm["joints"].as_array().unwrap().len() >= 6,
        "the arm has at least 6 joints"
    );
    for r in robots {
        for t in r["tasks"].as_array().unwrap() {
            assert!(!t["observation"]["entries"].as_array().unwrap().is_empty());
            for a in t["action"]["entries"].as_array().unwrap() {
                assert!(a["low"].as_f64().unwrap() < a["high"].as_f64().unwrap());
                assert!(!a["unit"].as_str().unwrap().is_empty());
            }
        }
    }
    let text = umwelt(&["envs"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("cartpole/swingup"));
}

#[test]
fn rollout_json_runs_every_robot_and_task_reproducibly() {
    let v = json(&["envs", "--json"]);
    for r in v.as_array().unwrap() {
        let robot = r["robot"].as_str().unwrap();
        for t in r["tasks"].as_array().unwrap() {
            let task = t["name"].as_str().unwrap();
            let args = [
                "rollout",
                "--robot",
                robot,
                "--task",
                task,
                "--policy",
                "random",
                "--episodes",
                "2",
                "--seed",
                "5",
                "--json",
            ];
            let a = json(&args);
            let eps = a["episodes"].as_array().unwrap();
            assert_eq!(eps.len(), 2);
            for e in eps {
                assert_eq!(e["length"], 1000, "{robot}/{task}");
                let ret = e["return"].as_f64().unwrap();
                assert!(
                    (0.0..=1000.0).contains(&ret),
                    "{robot}/{task}: return {ret}"
                );
                assert!(e["physics_steps_per_s"].as_f64().unwrap() > 0.0);
                assert!(e["success"].is_boolean());
            }
            let b = json(&args);
            assert_eq!(
                a["episodes"][1]["return"], b["episodes"][1]["return"],
                "{robot}/{task}: same seed, same return"
            );
        }
    }
}

#[test]
fn zero_policy_leaves_the_hanging_pendulum_with_nothing() {
    let v = json(&[
        "rollout", "--robot", "pendulum", "--task", "swingup", "--policy", "zero", "--seed", "3",
        "--json",
    ]);
    assert_eq!(v["episodes"][0]["success"], false);
    assert!(v["mean_return"].as_f64().unwrap() < 100.0);
}

#[test]
fn bad_names_and_files_give_clear_errors_and_a_failing_exit() {
    let out = umwelt(&["rollout", "--robot", "hexapod", "--task", "walk"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown robot `hexapod`") && err.contains("cartpole"),
        "{err}"
    );

    let out = umwelt(&["rollout", "--robot", "reacher", "--task", "medium"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("easy, hard"), "{err}");

    let out = umwelt(&[
        "rollout",
        "--robot",
        "arm",
        "--task",
        "reach",
        "--robot-config",
        "/nonexistent/arm.toml",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/nonexistent/arm.toml"),
        "{err}"
    );
}

#[test]
fn shipped_configs_load_through_the_cli() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/robots/arm.toml");
    let v = json(&[
        "rollout",
        "--robot",
        "arm",
        "--task",
        "reach",
        "--robot-config",
        root.to_str().unwrap(),
        "--policy",
        "zero",
        "--json",
    ]);
    assert_eq!(v["episodes"][0]["length"], 1000);
}
