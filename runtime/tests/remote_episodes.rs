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

/// `umwelt sim` of the cart-pole in lockstep on `endpoint` as `name`, with
/// `extra` flags, killed when dropped.
fn start_sim(endpoint: &str, task: &str, name: &str, extra: &[&str]) -> Node {
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
        .args(extra)
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
    let _sim = start_sim(&endpoint, "swingup", "cartpole", &[]);
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
    let _sim = start_sim(&endpoint, "balance", "cart_2", &[]);
    let (a, b) = (fresh_dir("learn-remote"), fresh_dir("learn-local"));
    let remote = learn(a.to_str().unwrap(), Some(&endpoint));
    let local = learn(b.to_str().unwrap(), None);
    assert_eq!(remote["env_steps"], 2000);
    assert_eq!(
        remote["curve"],
        local["curve"].clone().with_wall_time_of(&remote["curve"])
    );
    // The held-out selection too: the same episodes through the driver.
    assert!(remote["selection"]["chosen"].is_u64(), "{remote}");
    assert_eq!(remote["selection"], local["selection"]);
    // The checkpoints and the datasets (dataset.json and 2 episodes).
    assert_eq!(same_checkpoint_and_dataset(&a, &b), 3);
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("remote.json")).unwrap()).unwrap();
    assert_eq!(stats["lockstep"], true, "{stats}");
    for zero in ["frames_missed", "late_commands", "safe_steps", "cuts"] {
        assert_eq!(stats[zero], 0, "{zero}: {stats}");
    }
    std::fs::remove_dir_all(a).ok();
    std::fs::remove_dir_all(b).ok();
}

/// Asserts that the learning runs in `a` and `b` shipped the same
/// checkpoint (but for its path and training wall time) and wrote the same
/// dataset, byte for byte; returns how many dataset files were compared.
fn same_checkpoint_and_dataset(a: &std::path::Path, b: &std::path::Path) -> usize {
    let info = |d: &std::path::Path| {
        let mut v = json(&[
            "model",
            "info",
            "--json",
            d.join("final.uwwm").to_str().unwrap(),
        ]);
        v["path"] = serde_json::Value::Null;
        v["train"]["train_seconds"] = serde_json::Value::Null;
        // The wall time's digits change the file's length, nothing else.
        v["file_bytes"] = serde_json::Value::Null;
        v
    };
    assert_eq!(info(a), info(b));
    let mut files = vec!["data/dataset.json".to_string()];
    for e in std::fs::read_dir(b.join("data/episodes")).unwrap() {
        files.push(format!(
            "data/episodes/{}",
            e.unwrap().file_name().to_string_lossy()
        ));
    }
    for f in &files {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs");
    }
    files.len()
}

/// A robot known only by its description file, cameras included, learned
/// from its camera alone through its driver (here `umwelt sim --cameras`
/// in lockstep): the same frames, dataset and checkpoint as the in-process
/// run of the simulated robot.
#[test]
fn a_described_robot_learns_from_its_camera_through_its_driver_as_in_process() {
    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint().unwrap();
    let _sim = start_sim(&endpoint, "balance", "cart_px", &["--cameras", "side"]);
    let (a, b) = (fresh_dir("learn-px-remote"), fresh_dir("learn-px-local"));
    let description = a.with_extension("toml");
    let d = description.to_str().unwrap();
    let described = common::umwelt(&[
        "robot", "describe", "cartpole", "--task", "balance", "--out", d,
    ]);
    assert!(described.status.success(), "{described:?}");
    let text = std::fs::read_to_string(&description).unwrap();
    assert!(text.contains("[[camera]]\nname = \"side\""), "{text}");
    let pixels = ["--obs", "pixels", "--batch-size", "8"];
    let mut remote_args = common::tiny_run(a.to_str().unwrap(), &pixels);
    let at = remote_args.iter().position(|x| *x == "--robot").unwrap();
    remote_args[at + 1] = d;
    remote_args.extend([
        "--remote",
        "--name",
        "cart_px",
        "--zenoh-endpoint",
        &endpoint,
    ]);
    let remote = json(&remote_args);
    let local = json(&common::tiny_run(b.to_str().unwrap(), &pixels));
    assert_eq!(remote["options"]["obs"], "pixels", "{remote}");
    assert_eq!(
        remote["curve"],
        local["curve"].clone().with_wall_time_of(&remote["curve"])
    );
    // dataset.json, and each of 2 episodes with its frames.
    assert_eq!(same_checkpoint_and_dataset(&a, &b), 5);
    let info = json(&[
        "model",
        "info",
        "--json",
        a.join("final.uwwm").to_str().unwrap(),
    ]);
    assert_eq!(info["model"]["pixels"]["camera"], "side", "{info}");

    // A description whose camera differs from what the driver sends: the
    // first frame stops the run, naming both, and nothing is learned.
    std::fs::write(&description, text.replace("width = 64", "width = 48")).unwrap();
    let c = fresh_dir("learn-px-wrong");
    let at = remote_args.iter().position(|x| *x == "--out").unwrap();
    remote_args[at + 1] = c.to_str().unwrap();
    let wrong = common::umwelt(&remote_args);
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(
        err.contains("camera `side` sent a 64x64 rgb8 image; its description says 48x64 rgb8"),
        "{err}"
    );
    assert!(!c.join("final.uwwm").exists());
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).ok();
    }
    std::fs::remove_file(description).ok();
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

/// `umwelt collect --json` of the cart-pole swing-up under `policy` into
/// the fresh dataset `out`, on a robot served as `remote` = (endpoint,
/// wire name), or in-process; `extra` flags last.
fn collect_args<'a>(
    out: &'a str,
    policy: &'a str,
    remote: Option<(&'a str, &'a str)>,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "collect", "--json", "--robot", "cartpole", "--task", "swingup", "--policy", policy,
        "--out", out,
    ];
    if let Some((endpoint, name)) = remote {
        args.extend(["--remote", "--name", name, "--zenoh-endpoint", endpoint]);
    }
    args.extend(extra);
    args
}

/// Five episodes from seed 40 with a budget of 1,500 steps.
fn collect(out: &str, policy: &str, remote: Option<(&str, &str)>) -> serde_json::Value {
    json(&collect_args(
        out,
        policy,
        remote,
        &["--episodes", "5", "--max-steps", "1500", "--seed", "40"],
    ))
}

/// Every file of a dataset directory, by path relative to it.
fn dataset_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![(
        "dataset.json".to_string(),
        std::fs::read(dir.join("dataset.json")).unwrap(),
    )];
    let mut eps: Vec<_> = std::fs::read_dir(dir.join("episodes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    eps.sort();
    for p in eps {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        files.push((name, std::fs::read(&p).unwrap()));
    }
    files
}

#[test]
fn remote_collection_with_smooth_noise_and_a_step_budget_equals_the_in_process_one() {
    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint().unwrap();
    let _sim = start_sim(&endpoint, "swingup", "cart_3", &[]);
    for policy in ["smooth", "hold"] {
        let (a, b) = (
            fresh_dir(&format!("collect-remote-{policy}")),
            fresh_dir(&format!("collect-local-{policy}")),
        );
        let remote = collect(a.to_str().unwrap(), policy, Some((&endpoint, "cart_3")));
        let local = collect(b.to_str().unwrap(), policy, None);
        // The budget: 1,000-step episodes, no new one once 1,500 are in.
        assert_eq!(remote["episodes_written"], 2, "{remote}");
        assert_eq!(remote["steps"], 2000, "{remote}");
        assert_eq!(remote["remote"]["lockstep"], true, "{remote}");
        for zero in ["frames_missed", "late_commands", "safe_steps", "cuts"] {
            assert_eq!(remote["remote"][zero], 0, "{zero}: {remote}");
        }
        assert_eq!(remote["episodes"], local["episodes"], "{policy}");
        let (x, y) = (dataset_files(&a), dataset_files(&b));
        assert_eq!(x.len(), 3, "{policy}");
        for ((name, p), (_, q)) in x.iter().zip(&y) {
            assert!(p == q, "{policy}: {name} differs");
        }
        std::fs::remove_dir_all(a).ok();
        std::fs::remove_dir_all(b).ok();
    }
}

#[test]
fn ctrl_c_during_remote_collection_keeps_whole_episodes_and_leaves_the_safe_action() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    use umwelt_runtime::wire::{self, Message};
    use zenoh::Wait;

    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint().unwrap();
    let _sim = start_sim(&endpoint, "swingup", "cart_4", &[]);
    // What the collector commands, as the robot sees it.
    let session = umwelt_runtime::nodes::transport::ZenohArgs::at(&endpoint)
        .open()
        .unwrap();
    let last = Arc::new(Mutex::new(None::<Vec<f32>>));
    let sink = last.clone();
    let _sub = session
        .declare_subscriber("umwelt/cart_4/cmd")
        .callback(move |s| {
            if let Ok(Message::MotorCommand(c)) = wire::decode(&s.payload().to_bytes()) {
                *sink.lock().unwrap() = Some(c.values);
            }
        })
        .wait()
        .unwrap();
    let out = fresh_dir("collect-interrupted");
    let out_s = out.to_str().unwrap();
    let mut node = common::process::spawn(&collect_args(
        out_s,
        "hold",
        Some((&endpoint, "cart_4")),
        &["--episodes", "1000"],
    ));
    // Interrupt in the middle of an episode, once some are written.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let written = std::fs::read_dir(out.join("episodes")).map_or(0, |d| d.count());
        if written >= 2 {
            break;
        }
        assert!(Instant::now() < until, "no episodes written");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    let status = common::process::interrupt(&mut node);
    assert!(status.success(), "{status:?}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(node.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["stopped"], true, "{report}");
    let written = report["episodes_written"].as_u64().unwrap();
    assert!(written >= 2, "{report}");
    // Whole episodes only, every one readable, and no temporary file left.
    let ds = umwelt_models::dataset::Dataset::open(&out).unwrap();
    let eps = ds.load_all().unwrap();
    assert_eq!(eps.len() as u64, written);
    assert!(eps.iter().all(|e| e.len() == 1000), "an episode cut short");
    let names: Vec<String> = std::fs::read_dir(out.join("episodes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".ep")), "{names:?}");
    // The collector's last word to the robot: the safe action.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(last.lock().unwrap().as_deref(), Some(&[0.0f32][..]));
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn a_session_budget_stops_learning_between_episodes_and_resume_carries_on() {
    let dir = fresh_dir("learn-budget");
    let d = dir.to_str().unwrap();
    let mut args = common::tiny_run(d, &[]);
    args.extend(["--max-episodes", "1"]);
    let out = common::umwelt(&args);
    let first = common::json_of(&out, "learn --max-episodes 1");
    assert_eq!(first["env_steps"], 1000, "{first}");
    assert_eq!(first["episodes"], 1, "{first}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("continue with --resume"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = common::tiny_run(d, &[]);
    args.push("--resume");
    let second = json(&args);
    assert_eq!(second["env_steps"], 2000, "{second}");
    assert_eq!(second["episodes"], 2, "{second}");
    let eps = umwelt_models::dataset::Dataset::open(dir.join("data"))
        .unwrap()
        .load_all()
        .unwrap();
    assert_eq!(eps.len(), 2);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_wire_comparisons_checkpoints_give_their_recorded_first_episodes() {
    // docs/results/remote/wire_vs_inprocess: each learned checkpoint's
    // first evaluation episode (seed 100), against its episodes.csv; the
    // 20,000-step runs' last checkpoints and the 100,000-step runs' final.
    let dir = format!(
        "{}/../docs/results/remote/wire_vs_inprocess",
        env!("CARGO_MANIFEST_DIR")
    );
    let tmp = fresh_dir("wire-configs");
    std::fs::create_dir_all(&tmp).unwrap();
    for run in ["inprocess", "realtime"] {
        for (checkpoint, episodes) in [
            (
                format!("output/{run}/model.uwwm"),
                format!("output/eval_{run}/episodes.csv"),
            ),
            (
                format!("output_100k/{run}/final.uwwm"),
                format!("output_100k/eval_{run}_final/episodes.csv"),
            ),
        ] {
            // The run's config with that checkpoint, its paths made whole.
            let text = std::fs::read_to_string(format!("{dir}/mpc_{run}.toml")).unwrap();
            let shipped = format!("\"output/{run}/model.uwwm\"");
            assert!(text.contains(&shipped), "{text}");
            let text = text
                .replace(&shipped, &format!("\"{dir}/{checkpoint}\""))
                .replace(
                    "\"reacher_dmc.toml\"",
                    &format!("\"{dir}/reacher_dmc.toml\""),
                );
            let cfg = tmp.join(format!("{run}.toml"));
            std::fs::write(&cfg, text).unwrap();
            let v = eval(cfg.to_str().unwrap(), "1", None, &format!("wire-{run}"));
            let got = v["episodes"][0]["ret"].as_f64().unwrap();
            let csv = std::fs::read_to_string(format!("{dir}/{episodes}")).unwrap();
            let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
            assert_eq!(row[1], "100", "{episodes}: {csv}");
            let want: f64 = row[2].parse().unwrap();
            // The planner runs in bfloat16 with kernels chosen for the CPU
            // (AVX512-BF16 or AVX2), whose roundings may move the trajectory a
            // little: a step or two of reward, never more.
            assert!(
                (got - want).abs() <= 2.0,
                "{checkpoint}: {got} against {want}"
            );
        }
    }
    std::fs::remove_dir_all(tmp).ok();
}

/// Ctrl-C during the held-out selection of a `--remote` run: the episode in
/// progress through the driver is abandoned at once (the run exits cleanly
/// within the interrupt's 10 s, far short of its 1000 held-out episodes),
/// nothing is chosen (no `final.uwwm`, no `selection`), and the run says
/// that `--resume` selects.
#[test]
fn ctrl_c_during_a_remote_held_out_selection_chooses_nothing() {
    use std::time::{Duration, Instant};

    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint().unwrap();
    let _sim = start_sim(&endpoint, "balance", "cart_5", &[]);
    let dir = fresh_dir("learn-select-stop");
    let d = dir.to_str().unwrap();
    let remote = [
        "--remote",
        "--name",
        "cart_5",
        "--zenoh-endpoint",
        &endpoint,
    ];
    let mut args = common::tiny_run(d, &remote);
    // TINY's --select-episodes: enough held-out episodes that the
    // selection is still running when the interrupt comes.
    let n = args.len();
    assert_eq!(args[n - 2], "--select-episodes");
    args[n - 1] = "1000";
    let mut node = common::process::spawn(&args);
    // The budget is spent when learn.json has its evaluation at 2000
    // steps; the selection begins right after that save.
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(dir.join("learn.json")).unwrap_or_default();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if state["curve"].as_array().is_some_and(|c| !c.is_empty()) {
            break;
        }
        assert!(Instant::now() < until, "the run never reached its end");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = common::process::interrupt(&mut node);
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(node.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(node.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["env_steps"], 2000, "{s}");
    assert!(s["selection"].is_null(), "{s}");
    assert!(
        s["time"]["select_s"].as_f64().is_some_and(|t| t > 0.0),
        "{s}"
    );
    assert!(
        err.contains("stopped before the held-out selection"),
        "{err}"
    );
    assert!(!dir.join("final.uwwm").exists());
    // learn.json on disk says the same.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("learn.json")).unwrap()).unwrap();
    assert!(on_disk["selection"].is_null());
    assert_eq!(on_disk["candidates"].as_array().map(Vec::len), Some(1));
    std::fs::remove_dir_all(dir).ok();
}
