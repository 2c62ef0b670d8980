//! LeRobot datasets: `umwelt dataset export --format lerobot` writes what
//! an independent parquet reader (pyarrow) loads with LeRobot's columns and
//! the source's values; a LeRobot dataset written by pyarrow (v3.0 and
//! v2.1) imports with `collect --from-lerobot` and trains; export then
//! import gives back every episode exactly; bad data is refused naming the
//! episode and frame.

#[allow(dead_code)] // not every helper of the shared module is used here
mod common;

use std::path::Path;
use std::process::Command;

use common::{fresh_dir, json, umwelt};
use umwelt_models::dataset::Dataset;

/// The folder of this test's Python scripts.
fn script(name: &str) -> String {
    format!("{}/tests/lerobot/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Why the Python side cannot run here, if it cannot.
fn python_missing() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import pyarrow, numpy"])
        .output();
    match out {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Some(format!("python3: {e}")),
    }
}

/// Runs a Python script of this test, which must succeed.
fn python(name: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg(script(name))
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Collects `episodes` random episodes of the cart-pole swing-up (1000
/// steps each) into `dir`.
fn collect(dir: &Path, episodes: &str, seed: &str) {
    let r = json(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--episodes",
        episodes,
        "--policy",
        "smooth",
        "--seed",
        seed,
        "--out",
        s(dir),
        "--json",
    ]);
    assert_eq!(r["episodes_written"].as_u64(), episodes.parse().ok());
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

#[test]
fn export_then_import_gives_back_every_episode() {
    let root = fresh_dir("lerobot-roundtrip");
    let (src, lr, back) = (root.join("src"), root.join("lr"), root.join("back"));
    collect(&src, "2", "5");
    let r = json(&[
        "dataset",
        "export",
        s(&src),
        "--format",
        "lerobot",
        "--out",
        s(&lr),
        "--json",
    ]);
    assert_eq!(r["episodes"], 2);
    assert_eq!(r["frames"], 2000);
    assert_eq!(r["fps"], 100);
    // A second export into the same folder is refused; the first stays.
    let err = fails(&[
        "dataset",
        "export",
        s(&src),
        "--format",
        "lerobot",
        "--out",
        s(&lr),
    ]);
    assert!(err.contains("not empty"), "{err}");
    let info = json(&["dataset", "info", s(&lr), "--json"]);
    assert_eq!(info["format"], "lerobot");
    assert_eq!(info["episodes"], 2);
    assert_eq!(info["frames"], 2000);

    let r = json(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--from-lerobot",
        s(&lr),
        "--out",
        s(&back),
        "--json",
    ]);
    assert_eq!(r["episodes_written"], 2);
    assert_eq!(r["import"]["with_final_observation"], 2);
    assert_eq!(r["import"]["rewards"], "next_reward");
    let (a, b) = (Dataset::open(&src).unwrap(), Dataset::open(&back).unwrap());
    assert_eq!(a.spec(), b.spec());
    assert_eq!(a.load_all().unwrap(), b.load_all().unwrap());
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn an_export_loads_in_pyarrow_with_lerobots_columns_and_the_sources_values() {
    if let Some(why) = python_missing() {
        println!("SKIPPED: python3 with pyarrow and numpy is needed: {why}");
        return;
    }
    let root = fresh_dir("lerobot-export");
    let (src, lr) = (root.join("src"), root.join("lr"));
    collect(&src, "3", "11");
    json(&[
        "dataset",
        "export",
        s(&src),
        "--format",
        "lerobot",
        "--out",
        s(&lr),
        "--json",
    ]);
    let out = python("check_export.py", &[&src, &lr]);
    assert!(out.contains("OK 3 episodes, 3000 frames"), "{out}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_lerobot_dataset_written_by_pyarrow_imports_and_trains() {
    if let Some(why) = python_missing() {
        println!("SKIPPED: python3 with pyarrow and numpy is needed: {why}");
        return;
    }
    let root = fresh_dir("lerobot-import");
    let (v30, v21, bad) = (root.join("v30"), root.join("v21"), root.join("bad"));
    std::fs::create_dir_all(&root).unwrap();
    python("write_lerobot.py", &[&v30, &v21, &bad]);
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v30.join("expected.json")).unwrap()).unwrap();

    for (lr, version) in [(&v30, "v3.0"), (&v21, "v2.1")] {
        let out = root.join(format!("data-{version}"));
        let r = json(&[
            "collect",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--from-lerobot",
            s(lr),
            "--out",
            s(&out),
            "--json",
        ]);
        assert_eq!(r["import"]["version"], version);
        assert_eq!(r["episodes_written"], 3);
        // 60 frames: 59 transitions each (the last frame's action leads
        // to no observation a foreign dataset holds).
        assert_eq!(r["steps"], 3 * 59);
        assert_eq!(r["import"]["with_final_observation"], 0);
        let data = Dataset::open(&out).unwrap();
        for (i, want) in expected.as_array().unwrap().iter().enumerate() {
            let ep = data.load(i).unwrap();
            let flat = |v: &serde_json::Value| -> Vec<f32> {
                let mut out = Vec::new();
                for row in v.as_array().unwrap() {
                    match row.as_array() {
                        Some(r) => out.extend(r.iter().map(|x| x.as_f64().unwrap() as f32)),
                        None => out.push(row.as_f64().unwrap() as f32),
                    }
                }
                out
            };
            assert_eq!(ep.observations, flat(&want["states"]), "episode {i}");
            assert_eq!(ep.actions, flat(&want["actions"])[..59], "episode {i}");
            assert_eq!(ep.rewards, flat(&want["rewards"])[..59], "episode {i}");
            assert_eq!(ep.seed, i as u64);
            assert!(ep.truncated && !ep.terminated);
        }
    }

    // The imported data train.
    let data = root.join("data-v3.0");
    let model = root.join("model.uwwm");
    let r = json(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(&model),
        "--steps",
        "10",
        "--batch-size",
        "8",
        "--hidden",
        "16",
        "--latent",
        "16",
        "--horizon",
        "2",
        "--eval-every",
        "5",
        "--json",
    ]);
    assert_eq!(r["steps"], 10, "{r}");
    assert!(model.is_file());

    // An action outside the slider's limits is refused, naming where.
    let err = fails(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--from-lerobot",
        s(&bad),
        "--out",
        s(&root.join("never")),
    ]);
    assert!(err.contains("episode 1, frame 7"), "{err}");
    assert!(err.contains("outside its limits [-10, 10]"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!root.join("never").exists());
    // A rate that is not the robot's control period is refused.
    let info = v30.join("meta/info.json");
    let text = std::fs::read_to_string(&info).unwrap();
    std::fs::write(&info, text.replace("\"fps\": 100", "\"fps\": 50")).unwrap();
    let err = fails(&[
        "collect",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--from-lerobot",
        s(&v30),
        "--out",
        s(&root.join("never")),
    ]);
    assert!(
        err.contains("fps 50 does not match the control period 0.01 s"),
        "{err}"
    );
    // So is a robot of another shape.
    let err = fails(&[
        "collect",
        "--robot",
        "pendulum",
        "--task",
        "swingup",
        "--from-lerobot",
        s(&v21),
        "--out",
        s(&root.join("never")),
    ]);
    assert!(
        err.contains("observation.state holds 5 values a frame"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).ok();
}
