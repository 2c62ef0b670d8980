//! The secure profile end to end: `umwelt sim` (driver certificate) and
//! `umwelt run` (controller certificate) as real processes over mutual TLS
//! on loopback, with peers that must not get in or must not be obeyed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use umwelt_models::dataset::{Dataset, Episode};
use umwelt_runtime::nodes::transport::{
    free_loopback_endpoint, free_loopback_endpoint_over, wait_for_peer,
};
use umwelt_runtime::wire::{self, CommandMode, Estop, Message, MotorCommand, Reset};
use zenoh::{Session, Wait};

/// The value every forged command carries: exactly representable, inside
/// the cart-pole's force limits, and not something the swing-up controller
/// outputs.
const FORGED: f32 = 1.234_567_9;
const SEED: &str = "7";

fn config(name: &str) -> String {
    format!("{}/../configs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `umwelt sim --lockstep --record DIR` and `umwelt run --trigger
/// frame` for one cart-pole episode with `zenoh` options (the same for
/// both, or per node), and returns the recorded episode and the loop's
/// summary. `during` runs once the simulator is up, before the controller
/// starts.
fn lockstep_episode(
    sim_zenoh: &[String],
    run_zenoh: &[String],
    record: &Path,
    during: impl FnOnce(),
) -> (Episode, serde_json::Value) {
    let exe = env!("CARGO_BIN_EXE_umwelt");
    let rec = record.display().to_string();
    let mut sim_args: Vec<String> = [
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--lockstep",
        "--lockstep-timeout",
        "0.5",
        "--seed",
        SEED,
        "--episodes",
        "1",
        "--record",
        &rec,
    ]
    .map(String::from)
    .to_vec();
    sim_args.extend_from_slice(sim_zenoh);
    let mut sim = Killed(Some(
        Command::new(exe)
            .args(&sim_args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(record.with_extension("sim.log")).expect("log"))
            .spawn()
            .expect("start sim"),
    ));
    // The simulator serves (and re-sends) its first frame until a command
    // answers it: peers set up here are linked before the controller runs.
    during();
    let mut run_args: Vec<String> = [
        "run",
        "--config",
        &config("cartpole_swingup.toml"),
        "--trigger",
        "lockstep",
        "--seed",
        SEED,
        "--json",
    ]
    .map(String::from)
    .to_vec();
    run_args.extend_from_slice(run_zenoh);
    let run = Command::new(exe)
        .args(&run_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start run");
    let run = Killed(Some(run));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = sim.try_wait() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the episode did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "sim {sim_args:?}: {status}");
    let out = run.stop();
    assert!(
        out.status.success(),
        "run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = serde_json::from_slice(&out.stdout).expect("run --json");
    let data = Dataset::open(record).expect("the sim recorded");
    assert_eq!(data.len(), 1);
    (data.load(0).expect("episode"), summary)
}

/// A child process, killed when dropped.
struct Killed(Option<Child>);

impl Killed {
    /// Whether it has exited (and how).
    fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().expect("wait"))
    }

    /// SIGINT, then its output.
    fn stop(mut self) -> std::process::Output {
        let child = self.0.take().expect("running");
        // SAFETY: signalling our own child, not yet waited for.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait_with_output().expect("wait")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Opens a session from a node's config, with its own access control off:
/// an attacker does not enforce rules on itself.
fn open_as(config: &Path) -> Session {
    let mut c = zenoh::Config::from_file(config).expect("config");
    c.insert_json5("access_control/enabled", "false").unwrap();
    zenoh::open(c).wait().expect("open")
}

/// A peer that counts the frames it receives and answers each with a
/// forged command (fresh deadline) and, with `admin`, forged admin
/// messages (estop release, reset) every 50 frames.
struct Forger {
    session: Session,
    frames: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    _sub: zenoh::pubsub::Subscriber<()>,
}

fn forge(session: Session, admin_too: bool) -> Forger {
    let frames = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let (f, s) = (frames.clone(), sent.clone());
    let cmd = session
        .declare_publisher("umwelt/cartpole/cmd")
        .express(true)
        .wait()
        .unwrap();
    let admin = session
        .declare_publisher("umwelt/cartpole/admin")
        .wait()
        .unwrap();
    let sub = session
        .declare_subscriber("umwelt/cartpole/sensors")
        .callback(move |x| {
            let Ok(frame) = wire::decode_sensor_frame(&x.payload().to_bytes()) else {
                return;
            };
            f.fetch_add(1, Ordering::SeqCst);
            let now = wire::now_ns();
            let forged = MotorCommand {
                seq: frame.seq,
                stamp_ns: now,
                answers_seq: frame.seq,
                deadline_ns: now + 20_000_000,
                mode: CommandMode::Torque,
                values: vec![FORGED],
            };
            let n = s.fetch_add(1, Ordering::SeqCst);
            let _ = cmd.put(wire::encode(&Message::MotorCommand(forged))).wait();
            if admin_too && n % 50 == 0 {
                for m in [
                    Message::Estop(Estop {
                        seq: n,
                        stamp_ns: now,
                        engage: false,
                        reason: "forged".into(),
                    }),
                    Message::Reset(Reset {
                        seq: n,
                        stamp_ns: now,
                        seed: Some(999),
                    }),
                ] {
                    let _ = admin.put(wire::encode(&m)).wait();
                }
            }
        })
        .wait()
        .unwrap();
    Forger {
        session,
        frames,
        sent,
        _sub: sub,
    }
}

/// A peer that has no way in: it subscribes and sends forged commands
/// blindly, every 5 ms, until `stop`.
fn blind_forger(
    session: Session,
    stop: Arc<AtomicBool>,
) -> (std::thread::JoinHandle<(Session, u64)>, Arc<AtomicU64>) {
    let frames = Arc::new(AtomicU64::new(0));
    let f = frames.clone();
    let handle = std::thread::spawn(move || {
        let _sub = session
            .declare_subscriber("umwelt/cartpole/sensors")
            .callback(move |_| {
                f.fetch_add(1, Ordering::SeqCst);
            })
            .wait()
            .unwrap();
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            let now = wire::now_ns();
            let forged = MotorCommand {
                seq: sent,
                stamp_ns: now,
                answers_seq: sent,
                deadline_ns: now + 20_000_000,
                mode: CommandMode::Torque,
                values: vec![FORGED],
            };
            let msg = wire::encode(&Message::MotorCommand(forged));
            let _ = session.put("umwelt/cartpole/cmd", msg).wait();
            sent += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        (session, sent)
    });
    (handle, frames)
}

/// A session config for `endpoint` with `tls` settings (json5 object).
fn outsider(endpoint: &str, tls: Option<String>) -> Session {
    let mut c = zenoh::Config::default();
    for (k, v) in [
        ("mode", "\"peer\"".to_string()),
        ("scouting/multicast/enabled", "false".into()),
        ("connect/endpoints", format!("[\"{endpoint}\"]")),
        ("connect/timeout_ms", "-1".into()),
        ("connect/exit_on_failure", "false".into()),
    ] {
        c.insert_json5(k, &v).unwrap();
    }
    if let Some(tls) = tls {
        c.insert_json5("transport/link/tls", &tls).unwrap();
    }
    zenoh::open(c).wait().expect("open")
}

/// `umwelt keys` into `dir` for `nodes` meeting at `endpoint`.
fn keys(dir: &Path, endpoint: &str, nodes: &[&str]) -> PathBuf {
    let mut args = vec![
        "keys",
        "--out",
        dir.to_str().unwrap(),
        "--endpoint",
        endpoint,
    ];
    for n in nodes {
        args.extend(["--node", n]);
    }
    args.push("--json");
    let v = common::json(&args);
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(nodes.len()));
    dir.to_path_buf()
}

#[test]
fn only_the_controller_moves_the_robot_and_the_secure_run_matches_the_default_one() {
    let dir = common::fresh_dir("secure");
    let endpoint = free_loopback_endpoint_over("quic").unwrap();
    let port = endpoint.rsplit_once(':').unwrap().1;
    let nodes = ["driver", "controller", "operator", "monitor", "auditor"];
    let k = keys(&dir.join("keys"), &endpoint, &nodes);
    // A rogue CA's "controller": the right name, the wrong signature.
    let rogue = keys(&dir.join("rogue"), &endpoint, &["driver", "controller"]);
    let cfg = |n: &str| k.join(format!("{n}.json5")).display().to_string();
    let zc = |n: &str| vec!["--zenoh-config".to_string(), cfg(n)];

    let mut forger = None;
    let mut admin_seen = None;
    let mut blind = Vec::new();
    let stop_blind = Arc::new(AtomicBool::new(false));
    let secure_rec = dir.join("secure_rec");
    let (secure, secure_run) = lockstep_episode(
        &zc("driver"),
        &zc("controller"),
        &secure_rec,
        || {
            // An authenticated auditor counts what arrives on admin, its
            // own rules on: it is a receiver the rules protect.
            let (from_monitor, from_operator) =
                (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let (m, o) = (from_monitor.clone(), from_operator.clone());
            let auditor_rules =
                zenoh::open(zenoh::Config::from_file(k.join("auditor.json5")).unwrap())
                    .wait()
                    .unwrap();
            let sub = auditor_rules
                .declare_subscriber("umwelt/cartpole/admin")
                .callback(move |x| match wire::decode(&x.payload().to_bytes()) {
                    Ok(Message::Estop(e)) if e.reason == "forged" => {
                        m.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Message::Estop(e)) if e.reason == "operator" => {
                        o.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                })
                .wait()
                .unwrap();
            let f = forge(open_as(&k.join("monitor.json5")), true);
            let operator = open_as(&k.join("operator.json5"));
            // Unauthenticated: plain TCP and plain UDP to the port; QUIC
            // without a client certificate; a certificate from another CA.
            let ca = k.join("ca.pem").display().to_string();
            let tcp = outsider(&format!("tcp/127.0.0.1:{port}"), None);
            let udp = outsider(&format!("udp/127.0.0.1:{port}"), None);
            let no_cert = outsider(
                &endpoint,
                Some(format!(
                    "{{ root_ca_certificate: \"{ca}\", enable_mtls: false }}"
                )),
            );
            let r = |f: &str| rogue.join(f).display().to_string();
            let rogue_cert = outsider(
                &endpoint,
                Some(format!(
                    "{{ root_ca_certificate: \"{ca}\", enable_mtls: true, connect_certificate: \"{}\", connect_private_key: \"{}\" }}",
                    r("controller.pem"),
                    r("controller.key")
                )),
            );
            for s in [tcp, udp, no_cert, rogue_cert] {
                blind.push(blind_forger(s, stop_blind.clone()));
            }
            // The forger must really be in: it sees frames.
            let start = Instant::now();
            while f.frames.load(Ordering::SeqCst) < 1 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the monitor never received frames"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(wait_for_peer(&operator, Duration::from_secs(5)));
            assert!(wait_for_peer(&auditor_rules, Duration::from_secs(5)));
            let op_admin = operator
                .declare_publisher("umwelt/cartpole/admin")
                .wait()
                .unwrap();
            for seq in 0..20 {
                let m = Message::Estop(Estop {
                    seq,
                    stamp_ns: wire::now_ns(),
                    // A release while nothing is engaged: privileged,
                    // harmless.
                    engage: false,
                    reason: "operator".into(),
                });
                op_admin.put(wire::encode(&m)).wait().unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
            forger = Some(f);
            admin_seen = Some((from_monitor, from_operator, sub, auditor_rules, operator));
        },
    );
    std::thread::sleep(Duration::from_millis(200));
    stop_blind.store(true, Ordering::SeqCst);

    // The episode completed under the controller, whole.
    assert!(secure.len() >= 100, "{} steps", secure.len());
    let forged_applied = secure.actions.iter().filter(|a| **a == FORGED).count();
    let f = forger.expect("forger ran");
    let (sent, seen) = (
        f.sent.load(Ordering::SeqCst),
        f.frames.load(Ordering::SeqCst),
    );
    assert!(
        sent > 0 && seen > 0,
        "forger sent {sent}, saw {seen} frames"
    );
    assert_eq!(
        forged_applied, 0,
        "{forged_applied} of {sent} forged commands applied"
    );
    eprintln!("monitor: saw {seen} frames, sent {sent} forged commands, 0 applied");
    let (from_monitor, from_operator, _sub, _auditor, _operator) = admin_seen.expect("auditor");
    assert_eq!(
        from_monitor.load(Ordering::SeqCst),
        0,
        "monitor puts on admin delivered"
    );
    assert!(
        from_operator.load(Ordering::SeqCst) > 0,
        "operator puts on admin not delivered"
    );
    for (handle, frames) in blind {
        let (session, sent) = handle.join().expect("blind forger");
        assert!(sent > 0);
        assert_eq!(
            frames.load(Ordering::SeqCst),
            0,
            "an outsider received frames"
        );
        assert!(
            !wait_for_peer(&session, Duration::from_millis(100)),
            "an outsider linked"
        );
    }
    let _ = f.session.close().wait();

    // The same attack on a driver that does not enforce the rules: the
    // forged commands are applied (the rules, not something else, stopped
    // them above).
    let open_driver = dir.join("driver-no-rules.json5");
    let text = std::fs::read_to_string(k.join("driver.json5")).unwrap();
    let json: String = text.lines().filter(|l| !l.starts_with("//")).collect();
    let mut v: serde_json::Value = serde_json::from_str(&json).expect("JSON config");
    v["access_control"]["enabled"] = false.into();
    std::fs::write(&open_driver, v.to_string()).unwrap();
    let mut forger = None;
    let zd = vec![
        "--zenoh-config".to_string(),
        open_driver.display().to_string(),
    ];
    let (open, _) = lockstep_episode(&zd, &zc("controller"), &dir.join("open_rec"), || {
        // Commands only: forged resets would restart the episode forever.
        let f = forge(open_as(&k.join("monitor.json5")), false);
        let start = Instant::now();
        while f.frames.load(Ordering::SeqCst) < 1 {
            assert!(start.elapsed() < Duration::from_secs(30), "no frames");
            std::thread::sleep(Duration::from_millis(5));
        }
        forger = Some(f);
    });
    let f = forger.expect("forger ran");
    let applied = open.actions.iter().filter(|a| **a == FORGED).count();
    eprintln!(
        "without the rules: {applied} of {} forged commands applied",
        f.sent.load(Ordering::SeqCst)
    );
    assert!(
        applied > 0,
        "the attack does nothing even without the rules"
    );
    let _ = f.session.close().wait();

    // The same seed on the default profile: the same episode, bit for bit.
    let plain = free_loopback_endpoint().unwrap();
    let ze = vec!["--zenoh-endpoint".to_string(), plain];
    let (default, default_run) = lockstep_episode(&ze, &ze, &dir.join("default_rec"), || {});
    let first = secure
        .actions
        .iter()
        .zip(&default.actions)
        .position(|(a, b)| a != b);
    assert_eq!(
        secure.actions,
        default.actions,
        "actions differ from step {first:?} ({} and {} steps)",
        secure.len(),
        default.len()
    );
    assert_eq!(secure.episode_return(), default.episode_return());
    assert_eq!(
        secure_run["episodes"][0]["return"], default_run["episodes"][0]["return"],
        "{secure_run}\n{default_run}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_shipped_secure_launch_file_runs_the_cartpole_over_mutual_tls() {
    // Run it where its relative paths lead to the repository's configs and
    // to this test's runs/keys.
    let dir = common::fresh_dir("secure-launch");
    std::fs::create_dir_all(&dir).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::os::unix::fs::symlink(repo.join("configs"), dir.join("configs")).expect("symlink");
    let endpoint = free_loopback_endpoint_over("quic").unwrap();
    keys(
        &dir.join("runs/keys"),
        &endpoint,
        &["driver", "controller", "operator", "monitor"],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args(["launch", "--duration", "3", "--json"])
        .arg(repo.join("launch/cartpole_secure.toml"))
        .current_dir(&dir)
        .output()
        .expect("launch");
    let v = common::json_of(&out, "umwelt launch launch/cartpole_secure.toml");
    assert_eq!(v["ok"], true, "{v}");
    let controller = &v["nodes"][1];
    assert_eq!(controller["name"], "controller");
    let frames = common::num(controller, "/stdout_json/frames_received");
    assert!(
        frames > 50.0,
        "the controller received {frames} frames: {v}"
    );
    // Over the secure profile, nobody says the session is unauthenticated.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unauthenticated"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
