//! `umwelt sim` as a separate process, driven over real zenoh on loopback.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, unbounded};
use umwelt_runtime::nodes::transport::{ZenohArgs, free_loopback_endpoint, wait_for_peer};
use umwelt_runtime::wire::{
    self, CommandMode, Estop, Message, MotorCommand, NodeState, SensorFrame,
};
use zenoh::{Session, Wait};

/// A child process killed when the test ends, however it ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_sim(endpoint: &str, extra: &[&str]) -> Node {
    let mut args = vec!["sim", "--zenoh-endpoint", endpoint];
    args.extend_from_slice(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start umwelt sim");
    Node(child)
}

fn frames(session: &Session, robot: &str) -> (Receiver<SensorFrame>, impl Drop) {
    let (tx, rx) = unbounded();
    let sub = session
        .declare_subscriber(format!("umwelt/{robot}/sensors"))
        .callback(move |s| {
            let f = wire::decode_sensor_frame(&s.payload().to_bytes())
                .expect("the simulator publishes valid frames");
            let _ = tx.send(f);
        })
        .wait()
        .unwrap();
    (rx, sub)
}

/// Status messages (state, text) the robot's nodes publish, as they arrive.
type Statuses = Arc<Mutex<Vec<(NodeState, String)>>>;

fn statuses(session: &Session, robot: &str) -> (Statuses, impl Drop) {
    let seen = Statuses::default();
    let sink = seen.clone();
    let sub = session
        .declare_subscriber(format!("umwelt/{robot}/status"))
        .callback(move |x| {
            if let Ok(st) = wire::decode_status(&x.payload().to_bytes()) {
                sink.lock().unwrap().push((st.state, st.message));
            }
        })
        .wait()
        .unwrap();
    (seen, sub)
}

fn command(seq: u64, answers: &SensorFrame, values: Vec<f32>) -> Vec<u8> {
    wire::encode(&Message::MotorCommand(MotorCommand {
        seq,
        stamp_ns: wire::now_ns(),
        answers_seq: answers.seq,
        deadline_ns: wire::now_ns() + 100_000_000,
        mode: CommandMode::Torque,
        values,
    }))
}

fn session(endpoint: &str) -> Session {
    let s = ZenohArgs::at(endpoint).open().unwrap();
    assert!(
        wait_for_peer(&s, Duration::from_secs(10)),
        "no peer at {endpoint}"
    );
    s
}

#[test]
fn a_constant_cart_force_sent_over_zenoh_moves_the_cart() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _sim = spawn_sim(
        &endpoint,
        &[
            "--robot",
            "cartpole",
            "--task",
            "balance",
            "--duration",
            "20",
        ],
    );
    let s = session(&endpoint);
    let (rx, _sub) = frames(&s, "cartpole");
    let publisher = s.declare_publisher("umwelt/cartpole/cmd").wait().unwrap();
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("frames arrive");
    assert_eq!(first.positions.len(), 2);
    let mut last = first.clone();
    let mut applied = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) && applied < 60 {
        let Ok(f) = rx.recv_timeout(Duration::from_secs(2)) else {
            break;
        };
        // The frame after a command carries the effort the simulator applied.
        if f.efforts[0] == 5.0 {
            applied += 1;
        }
        publisher.put(command(f.seq, &f, vec![5.0])).wait().unwrap();
        last = f;
    }
    assert!(
        applied >= 50,
        "only {applied} frames showed the commanded 5 N"
    );
    assert!(
        last.velocities[0] > 0.5,
        "5 N for 0.5 s+ must move the cart forward: v = {}",
        last.velocities[0]
    );
    assert!(
        last.positions[0] > first.positions[0] + 0.1,
        "cart from {} to {}",
        first.positions[0],
        last.positions[0]
    );
}

/// Drives a lockstep simulator with a deterministic law for `steps` frames.
fn lockstep_run(seed: &str, steps: usize) -> Vec<u32> {
    let endpoint = free_loopback_endpoint().unwrap();
    let _sim = spawn_sim(
        &endpoint,
        &[
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--lockstep",
            "--seed",
            seed,
            "--duration",
            "60",
        ],
    );
    let s = session(&endpoint);
    let (rx, _sub) = frames(&s, "cartpole");
    let publisher = s.declare_publisher("umwelt/cartpole/cmd").wait().unwrap();
    let mut bits = Vec::new();
    let mut seq = 0;
    let mut last_seq = 0;
    while bits.len() < steps * 4 {
        let f = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("lockstep frames keep coming");
        if f.seq <= last_seq {
            continue; // a resent frame
        }
        last_seq = f.seq;
        bits.extend(f.positions.iter().chain(&f.velocities).map(|v| v.to_bits()));
        // A bang-bang energy pump (the cart accelerates against th' cos th):
        // deterministic in the frame's contents.
        let u = if f.velocities[1] * f.positions[1].cos() > 0.0 {
            -10.0
        } else {
            10.0
        };
        seq += 1;
        publisher.put(command(seq, &f, vec![u])).wait().unwrap();
    }
    bits
}

#[test]
fn lockstep_with_the_same_commands_gives_a_bit_identical_trajectory() {
    let a = lockstep_run("3", 150);
    let b = lockstep_run("3", 150);
    assert_eq!(a, b, "same seed and command stream, different trajectories");
    let c = lockstep_run("4", 150);
    assert_ne!(a, c);
    // And the pump really swings: the trajectory is not at rest.
    let max_angle_vel = a
        .chunks(4)
        .map(|c| f32::from_bits(c[3]).abs())
        .fold(0.0, f32::max);
    assert!(max_angle_vel > 1.0, "pole never moved: {max_angle_vel}");
}

#[test]
fn garbage_and_wrong_commands_are_counted_and_dropped_and_estop_holds_the_robot() {
    let endpoint = free_loopback_endpoint().unwrap();
    let sim = spawn_sim(
        &endpoint,
        &[
            "--robot",
            "cartpole",
            "--task",
            "balance",
            "--duration",
            "4",
            "--json",
        ],
    );
    let s = session(&endpoint);
    let (rx, _sub) = frames(&s, "cartpole");
    let (statuses, _status_sub) = statuses(&s, "cartpole");
    let cmd = s.declare_publisher("umwelt/cartpole/cmd").wait().unwrap();
    let estop = s.declare_publisher("umwelt/cartpole/estop").wait().unwrap();
    let f = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    cmd.put(vec![0xde, 0xad, 0xbe, 0xef]).wait().unwrap(); // bad magic
    cmd.put(command(1, &f, vec![1.0, 2.0])).wait().unwrap(); // two values for one actuator
    let mut truncated = command(2, &f, vec![1.0]);
    truncated.truncate(truncated.len() - 2);
    cmd.put(truncated).wait().unwrap();
    let mut nan = command(3, &f, vec![1.0]);
    let n = nan.len();
    nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    cmd.put(nan).wait().unwrap();
    // Estop: latched safe action even while valid commands arrive.
    let engage = wire::encode(&Message::Estop(Estop {
        seq: 1,
        stamp_ns: wire::now_ns(),
        engage: true,
        reason: "test".into(),
    }));
    estop.put(engage).wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut held = 0;
    for _ in 0..20 {
        let f = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        if f.efforts[0] == 0.0 {
            held += 1;
        }
        cmd.put(command(10 + f.seq, &f, vec![7.0])).wait().unwrap();
    }
    assert_eq!(held, 20, "estopped robot must get the safe action");
    let out = sim.wait_output();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let dropped: std::collections::HashMap<String, u64> = summary["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_u64().unwrap()))
        .collect();
    for class in ["bad_magic", "spec", "truncated", "non_finite"] {
        assert_eq!(dropped.get(class), Some(&1), "{class}: {dropped:?}");
    }
    assert!(
        statuses
            .lock()
            .unwrap()
            .iter()
            .any(|(st, _)| *st == NodeState::Estopped)
    );
}

impl Node {
    fn wait_output(mut self) -> std::process::Output {
        let child = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap());
        std::mem::forget(self);
        child.wait_with_output().unwrap()
    }
}

#[test]
fn topic_hz_sees_the_configured_rate() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _sim = spawn_sim(
        &endpoint,
        &[
            "--robot",
            "pendulum",
            "--task",
            "swingup",
            "--rate",
            "50",
            "--duration",
            "20",
        ],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args([
            "topic",
            "hz",
            "umwelt/pendulum/sensors",
            "--duration",
            "2",
            "--json",
            "--zenoh-endpoint",
            &endpoint,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rate = v["rate_hz"].as_f64().unwrap();
    // Loose: this checks the configuration took effect (50 Hz, not 20 or 100), not timing quality.
    assert!((35.0..65.0).contains(&rate), "rate {rate} Hz");
}

#[test]
fn a_reset_request_starts_an_episode_from_the_requested_seed() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _sim = spawn_sim(
        &endpoint,
        &[
            "--robot",
            "cartpole",
            "--task",
            "balance",
            "--duration",
            "20",
        ],
    );
    let s = session(&endpoint);
    let (rx, _sub) = frames(&s, "cartpole");
    let (statuses, _status_sub) = statuses(&s, "cartpole");
    rx.recv_timeout(Duration::from_secs(10))
        .expect("frames arrive");
    let reset = wire::encode(&Message::Reset(wire::Reset {
        seq: 1,
        stamp_ns: wire::now_ns(),
        seed: Some(42),
    }));
    s.declare_publisher("umwelt/cartpole/cmd")
        .wait()
        .unwrap()
        .put(reset)
        .wait()
        .unwrap();
    let start = Instant::now();
    let expected = umwelt_sim::Env::new("cartpole", "balance")
        .unwrap()
        .reset(42)
        .unwrap()
        .sensors
        .positions;
    loop {
        let f = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("frames keep coming");
        if f.positions == expected {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no frame showed the seed-42 initial state"
        );
    }
    let start = Instant::now();
    while !statuses
        .lock()
        .unwrap()
        .iter()
        .any(|(st, m)| *st == NodeState::EpisodeReset && m.contains("seed 42"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no episode_reset status naming seed 42"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_ready_line_waits_for_zenoh_and_a_clean_shutdown_logs_no_errors() {
    // zenoh cannot start: no ready line (so `umwelt launch` does not count
    // the node ready), one error line.
    let out = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args([
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--zenoh-config",
            "/nonexistent/zenoh.json5",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!err.contains("Ctrl-C stops"), "ready before zenoh: {err}");
    assert!(err.contains("zenoh config"), "{err}");

    // Simulator and controller stopped with Ctrl-C, in either order: no
    // ERROR lines (zenoh complained of undeclared key expressions before).
    for controller_first in [true, false] {
        let endpoint = free_loopback_endpoint().unwrap();
        let sim = spawn_sim(&endpoint, &["--robot", "cartpole", "--task", "swingup"]);
        let run = Command::new(env!("CARGO_BIN_EXE_umwelt"))
            .args([
                "run",
                "--config",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../configs/cartpole_swingup.toml"
                ),
                "--zenoh-endpoint",
                &endpoint,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut nodes = [Node(run), sim];
        // Ready, and running for a while.
        std::thread::sleep(Duration::from_millis(1500));
        if !controller_first {
            nodes.reverse();
        }
        let mut logs = Vec::new();
        for node in &mut nodes {
            // SAFETY: kill(2) on our own child, not yet waited for.
            unsafe {
                libc::kill(node.0.id() as i32, libc::SIGINT);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        for node in &mut nodes {
            let mut err = String::new();
            use std::io::Read;
            node.0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(node.0.wait().unwrap().success(), "{err}");
            logs.push(err);
        }
        for log in &logs {
            assert!(!log.contains("ERROR"), "errors at a clean shutdown:\n{log}");
            assert!(
                !log.contains('\x1b'),
                "colour codes in a log that is not a terminal"
            );
            assert!(log.contains("Ctrl-C stops"), "{log}");
        }
    }
}
