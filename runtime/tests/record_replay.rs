//! `umwelt record` and `umwelt replay` as separate processes over real zenoh
//! on loopback, against `umwelt sim` and `umwelt run`.

mod common;

use common::process::{Node, interrupt, spawn, wait_exit};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam::channel::unbounded;
use serde_json::Value;
use umwelt_runtime::nodes::transport::{ZenohArgs, free_loopback_endpoint};
use umwelt_runtime::recording::{RecordedMessage, Recording};
use umwelt_runtime::wire;
use zenoh::Wait;

fn spawn_sim(endpoint: &str) -> Node {
    spawn(&[
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--rate",
        "100",
        "--duration",
        "60",
        "--zenoh-endpoint",
        endpoint,
    ])
}

fn sensors_of(file: &Path) -> Vec<RecordedMessage> {
    Recording::open(file)
        .unwrap()
        .messages()
        .map(Result::unwrap)
        .filter(|m| m.key == "umwelt/cartpole/sensors")
        .collect()
}

/// `umwelt collect --robot R --task swingup --from-recording FILE --out DIR`
/// and `extra`.
fn import(robot: &str, file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "collect",
        "--robot",
        robot,
        "--task",
        "swingup",
        "--from-recording",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::umwelt(&args)
}

#[test]
fn a_recording_of_a_simulated_robot_replays_byte_for_byte_and_drives_a_controller() {
    let dir = common::fresh_dir("record-replay");
    let file = dir.join("run.mcap");
    let file_s = file.to_str().unwrap();

    // Record the simulator's traffic for 1.5 s.
    let e1 = free_loopback_endpoint().unwrap();
    let sim = spawn_sim(&e1);
    let out = common::umwelt(&[
        "record",
        "umwelt/cartpole/**",
        "--out",
        file_s,
        "--duration",
        "1.5",
        "--json",
        "--zenoh-endpoint",
        &e1,
    ]);
    drop(sim);
    let report = common::json_of(&out, "umwelt record");
    let sensors = &report["keys"]["umwelt/cartpole/sensors"];
    let n = sensors["messages"].as_u64().unwrap();
    assert!(n >= 50, "{n} frames in 1.5 s at 100 Hz: {report}");
    assert_eq!(sensors["kinds"]["SensorFrame"], n);
    assert_eq!(sensors["invalid"], 0);
    assert_eq!(report["dropped"], 0);
    assert!(report["incomplete"].is_null());

    // The file holds the frames the simulator sent, in order.
    let frames = sensors_of(&file);
    assert_eq!(frames.len() as u64, n);
    let seqs: Vec<u64> = frames
        .iter()
        .map(|m| wire::decode_sensor_frame(&m.payload).unwrap().seq)
        .collect();
    // The simulator's frames may be dropped on the way (its publisher drops
    // rather than blocks, as a control path should; on a loaded machine it
    // happens): the recorder reports each gap it saw, and it saw them all.
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    let gaps = seqs.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(sensors["seq_breaks"], gaps as u64, "{seqs:?}");
    assert!(gaps <= seqs.len() / 10, "most frames arrive: {seqs:?}");
    assert!(
        frames
            .windows(2)
            .all(|w| w[0].log_time_ns <= w[1].log_time_ns)
    );

    // Nobody answered these frames: the simulator held the safe action and
    // each frame says so. The import takes exactly that, with a warning;
    // each gap is a cut, every other pair of frames a safe step.
    let data = dir.join("no_commands");
    let out = import("cartpole", &file, &data, &["--json"]);
    let imported = common::json_of(&out, "umwelt collect --from-recording");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was a controller answering?"), "{err}");
    assert_eq!(imported["commands"], 0);
    assert_eq!(imported["late_commands"], 0);
    assert_eq!(imported["safe_steps"], n - 1 - gaps as u64, "{imported}");
    assert_eq!(imported["transitions"], imported["safe_steps"]);
    let lost = imported["cuts"]["frames_lost"].as_u64().unwrap_or(0);
    assert_eq!(lost, gaps as u64, "{imported}");

    // --info and --print describe the same file without any zenoh.
    let info = common::json(&["replay", file_s, "--info", "--json"]);
    assert_eq!(info["messages"], report["messages"]);
    assert_eq!(info["metadata"]["key"], "umwelt/cartpole/**");
    let printed = common::umwelt(&["replay", file_s, "--print", "--key", "umwelt/*/sensors"]);
    assert!(printed.status.success());
    let lines: Vec<Value> = String::from_utf8(printed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, n);
    assert!(lines.iter().all(|l| l["message"]["kind"] == "sensor_frame"));

    // Replay only the frames, as fast as possible, to a subscriber on a
    // fresh endpoint: the same bytes in the same order.
    let e2 = free_loopback_endpoint().unwrap();
    let listener = ZenohArgs::at(&e2).open().unwrap();
    let (tx, rx) = unbounded();
    let _sub = listener
        .declare_subscriber("umwelt/**")
        .callback(move |s| {
            let _ = tx.send((s.key_expr().to_string(), s.payload().to_bytes().to_vec()));
        })
        .wait()
        .unwrap();
    let out = common::umwelt(&[
        "replay",
        file_s,
        "--key",
        "umwelt/*/sensors",
        "--fast",
        "--json",
        "--zenoh-endpoint",
        &e2,
    ]);
    let played = common::json_of(&out, "umwelt replay --fast");
    assert_eq!(played["messages"], n);
    assert_eq!(
        played["skipped"].as_u64().unwrap(),
        report["messages"].as_u64().unwrap() - n
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (got.len() as u64) < n && Instant::now() < deadline {
        if let Ok(x) = rx.recv_timeout(Duration::from_millis(100)) {
            got.push(x);
        }
    }
    assert_eq!(got.len() as u64, n, "every replayed frame arrives");
    for ((key, bytes), m) in got.iter().zip(&frames) {
        assert_eq!(key, &m.key);
        assert_eq!(bytes, &m.payload);
    }
    drop(listener);

    // Replay the frames at their recorded pace into the cart-pole's
    // controller: it answers them, naming the recorded frames.
    let e3 = free_loopback_endpoint().unwrap();
    let watcher = ZenohArgs::at(&e3).open().unwrap();
    let (tx, rx) = unbounded();
    let _cmds = watcher
        .declare_subscriber("umwelt/cartpole/cmd")
        .callback(move |s| {
            if let Ok(c) = wire::decode_motor_command(&s.payload().to_bytes()) {
                let _ = tx.send(c);
            }
        })
        .wait()
        .unwrap();
    let _controller = spawn(&[
        "run",
        "--config",
        "configs/cartpole_swingup.toml",
        "--duration",
        "30",
        "--zenoh-endpoint",
        &e3,
    ]);
    let out = common::umwelt(&[
        "replay",
        file_s,
        "--key",
        "umwelt/*/sensors",
        "--restamp",
        "--json",
        "--wait",
        "10",
        "--zenoh-endpoint",
        &e3,
    ]);
    let played = common::json_of(&out, "umwelt replay");
    assert_eq!(played["messages"], n);
    let answered: Vec<u64> = rx
        .try_iter()
        .chain(rx.recv_timeout(Duration::from_secs(1)))
        .map(|c| c.answers_seq)
        .filter(|s| *s != 0)
        .collect();
    assert!(
        answered.len() as u64 >= n / 2,
        "the controller answered {} of {n} replayed frames",
        answered.len()
    );
    assert!(
        answered.iter().all(|s| seqs.contains(s)),
        "commands answer recorded frames: {answered:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ctrl_c_closes_the_recording_with_its_index() {
    let dir = common::fresh_dir("record-sigint");
    let file = dir.join("run.mcap");
    let e = free_loopback_endpoint().unwrap();
    let _sim = spawn_sim(&e);
    let mut rec = spawn(&[
        "record",
        "--out",
        file.to_str().unwrap(),
        "--zenoh-endpoint",
        &e,
    ]);
    let stderr = rec.0.stderr.take().unwrap();
    let (tx, rx) = unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The first line that is not the default session's unauthenticated notice.
    let ready = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the recorder says it is recording");
        if !line.contains("unauthenticated zenoh session") {
            break line;
        }
    };
    assert!(ready.starts_with("recording umwelt/** to "), "{ready}");
    // Until frames have been written.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 2_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = interrupt(&mut rec);
    assert!(status.success());
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.ends_with(mcap::MAGIC), "the file has its footer");
    let summary = Recording::open(&file).unwrap().summary();
    assert!(summary.incomplete.is_none());
    assert!(summary.keys["umwelt/cartpole/sensors"].messages > 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_refused_naming_the_problem_and_nothing_is_overwritten() {
    let dir = common::fresh_dir("record-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let fails = |args: &[&str], want: &[&str]| {
        let out = common::umwelt(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        for w in want {
            assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
        }
    };
    let missing = dir.join("missing.mcap");
    fails(&["replay", missing.to_str().unwrap()], &["missing.mcap"]);
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "my notes").unwrap();
    let notes_s = notes.to_str().unwrap();
    fails(
        &["replay", notes_s, "--info"],
        &["notes.txt", "not an MCAP file"],
    );
    // The recorder refuses to overwrite before it touches zenoh.
    fails(
        &["record", "--out", notes_s, "--duration", "1"],
        &["notes.txt", "already exists", "--force"],
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
    fails(
        &["record", "--out", notes_s, "--duration", "0"],
        &["--duration"],
    );

    // A real, empty recording (nothing was publishing) for the replay's checks.
    let empty = dir.join("empty.mcap");
    let e = free_loopback_endpoint().unwrap();
    let out = common::umwelt(&[
        "record",
        "--out",
        empty.to_str().unwrap(),
        "--duration",
        "0.2",
        "--json",
        "--zenoh-endpoint",
        &e,
    ]);
    assert_eq!(
        common::json_of(&out, "record with no traffic")["messages"],
        0
    );
    let empty_s = empty.to_str().unwrap();
    fails(
        &["replay", empty_s, "--zenoh-endpoint", &e],
        &["no messages on keys matching"],
    );
    fails(&["replay", empty_s, "--speed", "0"], &["--speed"]);
    fails(&["replay", empty_s, "--key", "a//b"], &["--key", "a//b"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_recording_of_a_lockstep_run_imports_as_the_simulators_own_episodes() {
    use umwelt_models::dataset::Dataset;

    let dir = common::fresh_dir("record-import");
    let file = dir.join("run.mcap");
    let (sim_data, imported) = (dir.join("sim_episodes"), dir.join("imported"));
    let e = free_loopback_endpoint().unwrap();
    // The recorder first, so it hears the first frame.
    let mut rec = spawn(&[
        "record",
        "umwelt/cartpole/**",
        "--out",
        file.to_str().unwrap(),
        "--zenoh-endpoint",
        &e,
    ]);
    let stderr = rec.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // The first line that is not the default session's unauthenticated notice.
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| !l.contains("unauthenticated zenoh session"))
        .expect("the recorder says it is recording");
    assert!(ready.starts_with("recording"), "{ready}");
    // Two seeded episodes, each step waiting for the command answering
    // its frame; the simulator records them itself too.
    let mut sim = spawn(&[
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--lockstep",
        "--lockstep-timeout",
        "0.5",
        "--seed",
        "3",
        "--episodes",
        "2",
        "--record",
        sim_data.to_str().unwrap(),
        "--zenoh-endpoint",
        &e,
    ]);
    let mut controller = spawn(&[
        "run",
        "--config",
        "configs/cartpole_swingup.toml",
        "--trigger",
        "lockstep",
        "--zenoh-endpoint",
        &e,
    ]);
    let status = wait_exit(&mut sim, Duration::from_secs(120), "the lockstep run ends");
    assert!(status.success());
    assert!(interrupt(&mut controller).success());
    assert!(interrupt(&mut rec).success());

    let out = import("cartpole", &file, &imported, &["--json"]);
    let report = common::json_of(&out, "umwelt collect --from-recording");
    assert_eq!(report["episodes_written"], 2, "{report}");
    assert_eq!(report["invalid"], 0);
    assert!(report["cuts"].as_object().unwrap().is_empty(), "{report}");

    // Bit for bit what the simulator stepped: observations, actions,
    // rewards, success, the episode numbers and the time-limit ends.
    let want = Dataset::open(&sim_data).unwrap().load_all().unwrap();
    let got = Dataset::open(&imported).unwrap().load_all().unwrap();
    assert_eq!(want.len(), 2);
    assert_eq!(got.len(), 2);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g.observations, w.observations);
        assert_eq!(g.actions, w.actions);
        assert_eq!(g.rewards, w.rewards);
        assert_eq!(
            (g.success, g.truncated, g.terminated),
            (w.success, w.truncated, w.terminated)
        );
    }
    assert_eq!(
        (got[0].seed, got[1].seed),
        (0, 1),
        "episode numbers as the frames carry them"
    );

    // Another robot's traffic is not there: refused, naming what is.
    let text = import("pendulum", &file, &dir.join("wrong_robot"), &[]);
    assert!(!text.status.success());
    let err = String::from_utf8_lossy(&text.stderr);
    assert!(
        err.contains("run.mcap") && err.contains("umwelt/pendulum/sensors"),
        "{err}"
    );
    assert!(err.contains("umwelt/cartpole/sensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_replay_withholds_estops_and_resets_unless_asked() {
    use umwelt_runtime::recording::Recorder;
    use umwelt_runtime::wire::{Estop, Message, Reset};

    let dir = common::fresh_dir("record-control");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("log.mcap");
    let estop = wire::encode(&Message::Estop(Estop {
        seq: 1,
        stamp_ns: 1,
        engage: false,
        reason: "released by the operator".into(),
    }));
    let reset = wire::encode(&Message::Reset(Reset {
        seq: 1,
        stamp_ns: 2,
        seed: None,
    }));
    let status = wire::encode(&Message::Status(wire::Status {
        seq: 1,
        stamp_ns: 3,
        node: "controller".into(),
        stepping: wire::Stepping::RealTime,
        state: wire::NodeState::Running,
        episode: 0,
        step: 0,
        message: "ok".into(),
    }));
    let mut rec = Recorder::create(&file, &Default::default()).unwrap();
    rec.write("umwelt/arm/estop", &estop, 10).unwrap();
    rec.write("umwelt/arm/cmd", &reset, 20).unwrap();
    rec.write("umwelt/arm/status", &status, 30).unwrap();
    rec.finish().unwrap();

    for control in [false, true] {
        let e = free_loopback_endpoint().unwrap();
        let listener = ZenohArgs::at(&e).open().unwrap();
        let (tx, rx) = unbounded();
        let _sub = listener
            .declare_subscriber("umwelt/**")
            .callback(move |s| {
                let _ = tx.send(s.payload().to_bytes().to_vec());
            })
            .wait()
            .unwrap();
        let mut args = vec![
            "replay",
            file.to_str().unwrap(),
            "--fast",
            "--json",
            "--zenoh-endpoint",
            &e,
        ];
        if control {
            args.push("--control");
        }
        let report = common::json_of(&common::umwelt(&args), "umwelt replay");
        let want: Vec<&Vec<u8>> = if control {
            vec![&estop, &reset, &status]
        } else {
            vec![&status]
        };
        assert_eq!(report["messages"], want.len(), "{report}");
        assert_eq!(report["withheld"], 3 - want.len(), "{report}");
        let mut got = Vec::new();
        while got.len() < want.len()
            && let Ok(x) = rx.recv_timeout(Duration::from_secs(10))
        {
            got.push(x);
        }
        // Nothing else comes.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "--control {control}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_record_reports_the_writer_beside_a_plain_file() {
    let dir = common::fresh_dir("bench-record");
    let r = common::json(&[
        "bench",
        "record",
        "--messages",
        "300",
        "--image",
        "16x8",
        "--dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["messages"], 300);
    // An arm frame with a 16 x 8 RGB image: more than the image's 384 bytes.
    assert!(r["frame_bytes"].as_u64().unwrap() > 384, "{r}");
    for key in [
        "record_msgs_per_s",
        "raw_mb_per_s",
        "record_vs_raw",
        "read_msgs_per_s",
        "foxglove_msgs_per_s",
        "foxglove_mb_per_s",
        "foxglove_vs_record",
    ] {
        let v = r[key].as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{key}: {r}");
    }
    let size = r["file_vs_payload"].as_f64().unwrap();
    assert!(size > 0.0 && size < 1.5, "{r}");
    // The decoded channels add JSON beside the same bytes: a larger file.
    assert!(
        r["foxglove_file_vs_payload"].as_f64().unwrap() > size,
        "{r}"
    );
    assert_eq!(r["rounds"], 3);
    assert!(!dir.exists(), "the benchmark removes its files");
}
