//! A hostile peer (`umwelt-attack flood`, its own process) against
//! `umwelt sim --lockstep` and `umwelt run`, over real zenoh on loopback.
//! The simulator's own recording is the ground truth: under attack, every
//! action it applied must be the one it applied without the attack, bit for
//! bit, and every hostile message must be counted where operators look.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use umwelt_models::dataset::Dataset;
use umwelt_runtime::nodes::transport::{ZenohArgs, free_loopback_endpoint};
use umwelt_runtime::wire;
use zenoh::Wait;

/// A child process killed when the test ends, however it ends.
struct Node(Option<Child>);

impl Node {
    fn spawn(exe: &str, args: &[&str]) -> Self {
        let child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a node");
        Self(Some(child))
    }

    /// Ctrl-C, then its JSON summary.
    fn interrupt_json(mut self) -> serde_json::Value {
        let child = self.0.take().unwrap();
        // SAFETY: kill(2) on our own child's pid, not yet waited for.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Waits for it to exit on its own, then its JSON summary.
    fn finish_json(mut self, timeout: Duration) -> serde_json::Value {
        let start = Instant::now();
        let child = self.0.as_mut().unwrap();
        while child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < timeout, "the simulator did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = self.0.take().unwrap().wait_with_output().unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
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

const UMWELT: &str = env!("CARGO_BIN_EXE_umwelt");
const ATTACK: &str = env!("CARGO_BIN_EXE_umwelt-attack");
const EPISODES: &str = "15";

/// Three lockstep episodes of the cart-pole swing-up under the model-free
/// baseline, optionally with the hostile peer flooding at 1,000 msg/s.
/// Returns the recording, the sim's, the loop's and the attacker's
/// summaries, and the largest `dropped` a telemetry message showed.
fn episodes(
    dir: &Path,
    attack: bool,
) -> (
    Vec<umwelt_models::dataset::Episode>,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
    f64,
) {
    let endpoint = free_loopback_endpoint().unwrap();
    // A monitor holds the meeting endpoint and watches telemetry.
    let monitor = ZenohArgs::at(&endpoint).open().unwrap();
    let max_dropped = Arc::new(Mutex::new(0.0f64));
    let m = max_dropped.clone();
    let _telemetry = monitor
        .declare_subscriber("umwelt/cartpole/telemetry")
        .callback(move |s| {
            if let Ok(t) = wire::decode_telemetry(&s.payload().to_bytes())
                && let Some((_, v)) = t.values.iter().find(|(k, _)| k == "dropped")
            {
                let mut m = m.lock().unwrap();
                *m = m.max(*v);
            }
        })
        .wait()
        .unwrap();
    let record = dir.join(if attack { "attacked" } else { "quiet" });
    let sim = Node::spawn(
        UMWELT,
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--lockstep",
            "--lockstep-timeout",
            "0.5",
            "--seed",
            "100",
            "--episodes",
            EPISODES,
            "--record",
            record.to_str().unwrap(),
            "--json",
            "--zenoh-endpoint",
            &endpoint,
        ],
    );
    let run = Node::spawn(
        UMWELT,
        &[
            "run",
            "--config",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../configs/cartpole_swingup.toml"
            ),
            "--trigger",
            "lockstep",
            "--seed",
            "100",
            "--json",
            "--zenoh-endpoint",
            &endpoint,
        ],
    );
    let attacker = attack.then(|| {
        Node::spawn(
            ATTACK,
            &[
                "flood",
                "--robot",
                "cartpole",
                "--rate",
                "1000",
                "--duration",
                "120",
                "--json",
                "--zenoh-endpoint",
                &endpoint,
            ],
        )
    });
    let sim_summary = sim.finish_json(Duration::from_secs(240));
    let attack_summary = attacker.map_or(serde_json::Value::Null, Node::interrupt_json);
    let run_summary = run.interrupt_json();
    let recorded = Dataset::open(&record).unwrap().load_all().unwrap();
    let dropped = *max_dropped.lock().unwrap();
    (recorded, sim_summary, run_summary, attack_summary, dropped)
}

fn dropped(summary: &serde_json::Value, class: &str) -> u64 {
    summary["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d[0] == class)
        .map_or(0, |d| d[1].as_u64().unwrap())
}

#[test]
fn a_hostile_peer_changes_nothing_the_simulator_applies_and_every_attack_is_counted() {
    let dir = std::env::temp_dir().join(format!("umwelt-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (quiet, quiet_sim, _, _, _) = episodes(&dir, false);
    let (attacked, sim, run, attacker, telemetry_dropped) = episodes(&dir, true);

    assert_eq!(quiet.len(), 15);
    eprintln!(
        "sim wall: quiet {} s, attacked {} s",
        quiet_sim["wall_s"], sim["wall_s"]
    );
    assert_eq!(attacked.len(), quiet.len());
    for (i, (a, q)) in attacked.iter().zip(&quiet).enumerate() {
        assert_eq!(a.actions.len(), q.actions.len(), "episode {i} length");
        let same = a
            .actions
            .iter()
            .zip(&q.actions)
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "episode {i}: an attack changed an applied action");
        assert_eq!(a.episode_return().to_bits(), q.episode_return().to_bits());
    }
    assert_eq!(sim["returns"], quiet_sim["returns"]);

    // The attack really happened: every kind of it, at a real rate.
    let sent = &attacker["sent"];
    for attack in [
        "replay",
        "bitflip",
        "max_seq",
        "expired",
        "far_deadline",
        "unanswered",
        "estop_release_on_estop",
        "stale_release",
        "stale_reset",
        "frame_replay",
        "garbage",
    ] {
        assert!(
            sent[attack].as_u64().unwrap_or(0) > 0,
            "{attack}: {attacker}"
        );
    }
    let total = attacker["total"].as_u64().unwrap();
    assert!(total > 500, "only {total} hostile messages: {attacker}");

    // Counted by class where operators look: the sim's and the loop's
    // summaries, and telemetry.
    for class in ["far_deadline", "unanswered", "stale", "unauthorised"] {
        assert!(dropped(&sim, class) > 0, "sim counted no {class}: {sim}");
    }
    assert!(dropped(&sim, "expired") + dropped(&sim, "unanswered") > 0);
    assert!(
        dropped(&run, "stale") > 0,
        "the loop counted no stale frames: {run}"
    );
    assert!(dropped(&run, "unauthorised") > 0, "{run}");
    assert!(telemetry_dropped > 0.0, "telemetry never showed a drop");
    let _ = std::fs::remove_dir_all(&dir);
}
