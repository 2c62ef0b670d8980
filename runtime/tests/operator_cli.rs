//! `umwelt estop`, `umwelt reset` and `umwelt topic pub` against a real
//! `umwelt sim` over zenoh on loopback.

use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use umwelt_runtime::nodes::transport::{ZenohArgs, free_loopback_endpoint, wait_for_peer};
use umwelt_runtime::wire::{self, NodeState, SensorFrame};
use zenoh::Wait;

const UMWELT: &str = env!("CARGO_BIN_EXE_umwelt");

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn umwelt(args: &[&str], endpoint: &str) -> Output {
    Command::new(UMWELT)
        .args(args)
        .args(["--zenoh-endpoint", endpoint])
        .output()
        .unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_operator_stops_releases_and_resets_a_robot_and_test_commands_move_it() {
    let endpoint = free_loopback_endpoint().unwrap();
    let watcher = ZenohArgs::at(&endpoint).open().unwrap();
    let frames: Arc<Mutex<Vec<SensorFrame>>> = Arc::default();
    let states: Arc<Mutex<Vec<NodeState>>> = Arc::default();
    let (f, st) = (frames.clone(), states.clone());
    let _frames = watcher
        .declare_subscriber("umwelt/cartpole/sensors")
        .callback(move |s| {
            if let Ok(x) = wire::decode_sensor_frame(&s.payload().to_bytes()) {
                f.lock().unwrap().push(x);
            }
        })
        .wait()
        .unwrap();
    let _status = watcher
        .declare_subscriber("umwelt/cartpole/status")
        .callback(move |s| {
            if let Ok(x) = wire::decode_status(&s.payload().to_bytes()) {
                st.lock().unwrap().push(x.state);
            }
        })
        .wait()
        .unwrap();
    let _sim = Node(
        Command::new(UMWELT)
            .args(["sim", "--robot", "cartpole", "--task", "balance"])
            .args(["--duration", "60", "--zenoh-endpoint", &endpoint])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_peer(&watcher, Duration::from_secs(10)));
    wait_until("frames", || !frames.lock().unwrap().is_empty());
    let has = |s: NodeState| states.lock().unwrap().contains(&s);

    // Estop, then release: the sim says so on status.
    let out = umwelt(
        &["estop", "cartpole", "--reason", "operator test"],
        &endpoint,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("estopped", || has(NodeState::Estopped));
    states.lock().unwrap().clear();

    // A test command (answering the newest frame) while estopped is not
    // applied: efforts stay 0.
    let cmd_now = || {
        let newest = frames.lock().unwrap().last().unwrap().seq;
        format!(
            r#"{{"kind":"motor_command","seq":1,"stamp_ns":0,"answers_seq":{newest},"deadline_ns":0,"mode":"torque","values":[4.0]}}"#
        )
    };
    let pub_cmd = |cmd: &str| {
        let out = umwelt(
            &[
                "topic",
                "pub",
                "umwelt/cartpole/cmd",
                cmd,
                "--deadline-ms",
                "500",
            ],
            &endpoint,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    pub_cmd(&cmd_now());
    std::thread::sleep(Duration::from_millis(300));
    assert!(frames.lock().unwrap().iter().all(|f| f.efforts[0] == 0.0));

    let out = umwelt(&["estop", "cartpole", "--release"], &endpoint);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("released (safe hold: no commands)", || {
        has(NodeState::SafeHold)
    });

    // Released, the same kind of command moves the cart.
    let cmd = cmd_now();
    pub_cmd(&cmd);
    wait_until("the test force applied", || {
        frames.lock().unwrap().iter().any(|f| f.efforts[0] == 4.0)
    });

    // A reset with a seed restarts the episode from that seed's state.
    let expected = umwelt_sim::Env::new("cartpole", "balance")
        .unwrap()
        .reset(42)
        .unwrap()
        .sensors
        .positions;
    let out = umwelt(&["reset", "cartpole", "--seed", "42"], &endpoint);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the seed-42 state", || {
        frames
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.positions == expected)
    });

    // Refused before anything is sent: wrong key for the kind, invalid JSON.
    let out = umwelt(&["topic", "pub", "umwelt/cartpole/admin", &cmd], &endpoint);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not belong"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let bad = cmd.replace("4.0", "1e999");
    let out = umwelt(&["topic", "pub", "umwelt/cartpole/cmd", &bad], &endpoint);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a valid message"),
        "{err}"
    );
}

#[test]
fn with_nobody_listening_an_operator_is_told_so() {
    let endpoint = free_loopback_endpoint().unwrap();
    let out = umwelt(&["estop", "nobody", "--wait", "0.5"], &endpoint);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no node listens on umwelt/nobody/estop"),
        "{err}"
    );
}
