//! `umwelt run` against `umwelt sim`: two real processes over zenoh on loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use umwelt_runtime::nodes::transport::{ZenohArgs, free_loopback_endpoint};
use umwelt_runtime::wire::{self, Estop, Message, MotorCommand, NodeState};
use zenoh::{Session, Wait};

/// A child process, killed when dropped.
struct Node(Option<Child>);

impl Node {
    /// Starts `umwelt ARGS` and waits until it prints a line containing `ready`.
    fn start(args: &[&str], ready: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_umwelt"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start umwelt");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = crossbeam::channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let start = Instant::now();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("umwelt {args:?} never became ready"));
            if line.contains(ready) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "umwelt {args:?} never became ready"
            );
        }
        Node(Some(child))
    }

    /// SIGINT, then the process's stdout as JSON.
    fn stop_json(mut self) -> serde_json::Value {
        let child = self.0.take().unwrap();
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "exit {:?}", out.status);
        serde_json::from_slice(&out.stdout).expect("one JSON summary on stdout")
    }

    fn kill(mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn config(name: &str) -> String {
    format!("{}/../configs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn sim(endpoint: &str, extra: &[&str]) -> Node {
    let mut a = vec!["sim", "--robot", "cartpole", "--zenoh-endpoint", endpoint];
    a.extend_from_slice(extra);
    Node::start(&a, "Ctrl-C stops")
}

fn run(endpoint: &str, cfg: &str) -> Node {
    let c = config(cfg);
    Node::start(
        &[
            "run",
            "--config",
            &c,
            "--json",
            "--zenoh-endpoint",
            endpoint,
        ],
        "control loop running",
    )
}

/// Commands and status messages seen by a watcher session.
struct Watch {
    _s: Session,
    commands: Arc<Mutex<Vec<MotorCommand>>>,
    states: Arc<Mutex<Vec<(NodeState, String)>>>,
    frames: Arc<Mutex<Vec<u64>>>,
    _subs: Vec<Box<dyn std::any::Any>>,
}

fn watch(endpoint: &str) -> Watch {
    // Opened first, it holds the meeting endpoint; the nodes join it.
    let s = ZenohArgs::at(endpoint).open().unwrap();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let states = Arc::new(Mutex::new(Vec::new()));
    let frames = Arc::new(Mutex::new(Vec::new()));
    let (c, st, f) = (commands.clone(), states.clone(), frames.clone());
    let a = s
        .declare_subscriber("umwelt/cartpole/cmd")
        .callback(move |x| {
            if let Ok(m) = wire::decode_motor_command(&x.payload().to_bytes()) {
                c.lock().unwrap().push(m);
            }
        })
        .wait()
        .unwrap();
    let b = s
        .declare_subscriber("umwelt/cartpole/status")
        .callback(move |x| {
            if let Ok(m) = wire::decode_status(&x.payload().to_bytes()) {
                st.lock().unwrap().push((m.state, m.message));
            }
        })
        .wait()
        .unwrap();
    let d = s
        .declare_subscriber("umwelt/cartpole/sensors")
        .callback(move |x| {
            if let Ok(m) = wire::decode_sensor_frame(&x.payload().to_bytes()) {
                f.lock().unwrap().push(m.seq);
            }
        })
        .wait()
        .unwrap();
    Watch {
        _s: s,
        commands,
        states,
        frames,
        _subs: vec![Box::new(a), Box::new(b), Box::new(d)],
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn has_state(w: &Watch, state: NodeState, text: &str) -> bool {
    w.states
        .lock()
        .unwrap()
        .iter()
        .any(|(s, m)| *s == state && m.contains(text))
}

#[test]
fn the_baseline_swings_up_and_balances_the_cartpole_served_by_umwelt_sim() {
    let endpoint = free_loopback_endpoint().unwrap();
    let controller = run(&endpoint, "cartpole_swingup.toml");
    let simulator = sim(
        &endpoint,
        &[
            "--task",
            "swingup",
            "--seed",
            "1",
            "--episodes",
            "1",
            "--json",
        ],
    );
    let sim_out = simulator.0.as_ref().map(|c| c.id()).unwrap();
    // The simulator stops by itself after its one 10 s episode.
    let start = Instant::now();
    let mut simulator = simulator;
    let child = simulator.0.take().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sim {sim_out} failed");
    assert!(start.elapsed() < Duration::from_secs(60));
    let s = controller.stop_json();
    let episodes = s["episodes"].as_array().unwrap();
    let ep = episodes.first().unwrap_or(&s["current_episode"]);
    assert_eq!(ep["success"], true, "not balanced at the end: {s}");
    assert!(ep["return"].as_f64().unwrap() > 500.0, "{s}");
    assert_eq!(s["interventions"]["non_finite"], 0);
}

#[test]
fn killing_the_simulator_gives_the_safe_action_and_control_resumes_when_it_returns() {
    let endpoint = free_loopback_endpoint().unwrap();
    let w = watch(&endpoint);
    let controller = run(&endpoint, "cartpole_swingup.toml");
    let first = sim(&endpoint, &["--task", "swingup"]);
    wait_until("running", Duration::from_secs(10), || {
        has_state(&w, NodeState::Running, "in control")
    });
    first.kill();
    let last_frame = {
        std::thread::sleep(Duration::from_millis(50));
        *w.frames.lock().unwrap().last().unwrap()
    };
    wait_until("safe hold", Duration::from_secs(5), || {
        has_state(&w, NodeState::SafeHold, "old")
    });
    std::thread::sleep(Duration::from_millis(300));
    {
        let cmds = w.commands.lock().unwrap();
        let after: Vec<&MotorCommand> = cmds
            .iter()
            .filter(|c| c.answers_seq == last_frame)
            .collect();
        // With stale_after_periods = 3 the loop may still act on the last frame
        // until it is 3 periods old; every later command is the safe action.
        let acting = after.iter().filter(|c| c.values[0] != 0.0).count();
        assert!(
            acting <= 4,
            "{acting} non-safe commands after the driver died"
        );
        assert!(
            after.iter().rev().take(10).all(|c| c.values == [0.0]),
            "the loop must hold the safe action"
        );
    }
    w.states.lock().unwrap().clear();
    let _second = sim(&endpoint, &["--task", "swingup"]);
    wait_until("control resumes", Duration::from_secs(10), || {
        has_state(&w, NodeState::Running, "in control")
    });
    let s = controller.stop_json();
    assert!(s["interventions"]["stale"].as_u64().unwrap() > 0);
    // Latency is one sample per frame answered, however many stale ticks
    // answered the last frame again while the driver was gone.
    let (timed, frames) = (
        s["latency"]["samples"].as_u64().unwrap(),
        s["frames_received"].as_u64().unwrap(),
    );
    assert!(
        timed > 0 && timed <= frames,
        "{timed} latency samples for {frames} frames"
    );
    assert!(s["ticks"].as_u64().unwrap() > frames, "{s}");
}

#[test]
fn estop_latches_the_safe_action_until_released() {
    let endpoint = free_loopback_endpoint().unwrap();
    let w = watch(&endpoint);
    let controller = run(&endpoint, "cartpole_swingup.toml");
    let _sim = sim(&endpoint, &["--task", "swingup"]);
    wait_until("running", Duration::from_secs(10), || {
        has_state(&w, NodeState::Running, "in control")
    });
    let estop =
        w._s.declare_publisher("umwelt/cartpole/estop")
            .wait()
            .unwrap();
    let msg = |engage| {
        wire::encode(&Message::Estop(Estop {
            seq: 1,
            stamp_ns: wire::now_ns(),
            engage,
            reason: "test stop".into(),
        }))
    };
    estop.put(msg(true)).wait().unwrap();
    wait_until("estopped", Duration::from_secs(5), || {
        has_state(&w, NodeState::Estopped, "test stop")
    });
    let n = w.commands.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(500));
    {
        let cmds = w.commands.lock().unwrap();
        assert!(
            cmds.len() > n + 20,
            "the loop keeps commanding while estopped"
        );
        assert!(
            cmds[n..].iter().all(|c| c.values == [0.0]),
            "latched: only safe commands"
        );
    }
    // A release on the estop key is not honoured: anyone may stop the
    // robot there, but only the admin key (authorised identities in the
    // secure profile) releases it.
    w.states.lock().unwrap().clear();
    estop.put(msg(false)).wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !has_state(&w, NodeState::Running, "in control"),
        "a release on the estop key must not release"
    );
    let admin =
        w._s.declare_publisher("umwelt/cartpole/admin")
            .wait()
            .unwrap();
    admin.put(msg(false)).wait().unwrap();
    wait_until("released", Duration::from_secs(5), || {
        has_state(&w, NodeState::Running, "in control")
    });
    let s = controller.stop_json();
    assert!(s["interventions"]["estop"].as_u64().unwrap() >= 20);
    let dropped = s["dropped"].as_array().unwrap();
    assert!(
        dropped
            .iter()
            .any(|d| d[0] == "unauthorised" && d[1].as_u64() == Some(1)),
        "the release on the estop key is counted as unauthorised: {dropped:?}"
    );
}

#[test]
fn garbage_is_dropped_and_controller_faults_give_the_safe_action_while_the_loop_keeps_its_rate() {
    let endpoint = free_loopback_endpoint().unwrap();
    let w = watch(&endpoint);
    let controller = run(&endpoint, "cartpole_faults.toml");
    let sim = sim(&endpoint, &["--task", "balance", "--json"]);
    let sensors =
        w._s.declare_publisher("umwelt/cartpole/sensors")
            .wait()
            .unwrap();
    let cmd =
        w._s.declare_publisher("umwelt/cartpole/cmd")
            .wait()
            .unwrap();
    // Links and subscriptions are up once the loop answers frames.
    wait_until("commands", Duration::from_secs(10), || {
        w.commands.lock().unwrap().len() > 5
    });
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    for i in 0..100u32 {
        sensors.put(vec![b'U', b'W', 9, 1, i as u8]).wait().unwrap(); // version 9, truncated
        cmd.put(b"not a command".to_vec()).wait().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let s = controller.stop_json();
    let dropped: u64 = s["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_u64().unwrap())
        .sum();
    assert!(dropped >= 100, "garbage frames counted: {s}");
    let i = &s["interventions"];
    assert!(i["non_finite"].as_u64().unwrap() > 0, "{i}");
    assert!(i["controller_panic"].as_u64().unwrap() > 0, "{i}");
    assert!(i["controller_error"].as_u64().unwrap() > 0, "{i}");
    // The loop kept running through it all (a generous bound: this checks
    // liveness, not timing quality).
    assert!(s["ticks"].as_f64().unwrap() > 0.5 * elapsed * 100.0, "{s}");
    // Nothing non-finite ever reached the wire, and faulty ticks sent zero.
    let cmds = w.commands.lock().unwrap();
    assert!(cmds.iter().all(|c| c.values.iter().all(|v| v.is_finite())));
    assert!(cmds.iter().any(|c| c.values == [0.0]) && cmds.iter().any(|c| c.values == [1.0]));
    drop(cmds);
    let sim_summary = sim.stop_json();
    let sim_dropped: u64 = sim_summary["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_u64().unwrap())
        .sum();
    assert!(
        sim_dropped >= 100,
        "garbage commands counted by the simulator: {sim_summary}"
    );
}
