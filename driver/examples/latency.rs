//! Frame→command round trip of the example pendulum driver beside
//! `umwelt sim --robot pendulum`, with the same responder, in one run.
//!
//! Both drivers run as their own processes in lockstep, each on its own
//! loopback endpoint; this process is the responder on both: a minimal
//! controller that answers each frame from inside the zenoh callback that
//! delivers it. Rounds alternate between the two drivers, so that both see
//! the same machine load. A round trip is what the driver sees between
//! publishing frame n and publishing frame n+1, which it does as soon as
//! the command answering n arrives and one step is taken: the difference
//! of the two frames' `stamp_ns`, both on the driver's clock, counted only
//! when frame n+1 says it applied that very command. Lockstep is the one
//! mode in which this round trip can be seen from outside the simulator
//! without changing it; both drivers are configured for the same rate
//! (50 Hz), which lockstep does not wait for.
//!
//! ```sh
//! cargo build --release -p umwelt-runtime --bin umwelt
//! cargo build --release -p umwelt-driver --examples
//! target/release/examples/latency --out docs/results/drivers/rust_latency.json
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use umwelt_driver::umwelt_protocol::{
    self as wire, Applied, CommandMode, Message, MessageKind, MotorCommand, SensorFrame,
};
use umwelt_driver::{RoundTrip, Transport};
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::{Session, Wait};

/// Where `umwelt sim` and the example meet this responder (this crate's
/// loopback ports are 17600-17699).
const SIM_ENDPOINT: &str = "tcp/127.0.0.1:17690";
/// The example driver's meeting endpoint.
const EXAMPLE_ENDPOINT: &str = "tcp/127.0.0.1:17691";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The answer to the newest frame, as sent.
#[derive(Clone, Copy)]
struct Answered {
    stamp_ns: u64,
    cmd_seq: u64,
    /// The first answer of a round: its frame waited out the last round.
    kick: bool,
}

/// What a responder's callback shares with the round loop.
#[derive(Default)]
struct Shared {
    active: AtomicBool,
    next_seq: AtomicU64,
    latest: Mutex<Option<SensorFrame>>,
    answered: Mutex<Option<Answered>>,
    samples_us: Mutex<Vec<f32>>,
}

/// The responder of one driver: its session, subscriber and publisher.
struct Responder {
    name: &'static str,
    shared: Arc<Shared>,
    cmd: Arc<Publisher<'static>>,
    _sub: Subscriber<()>,
    child: Child,
}

impl Shared {
    /// Answers `frame` at once with a zero torque; `kick` marks a round's first.
    fn answer(&self, cmd: &Publisher<'_>, frame: &SensorFrame, kick: bool) {
        let now = wire::now_ns();
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let msg = Message::MotorCommand(MotorCommand {
            seq,
            stamp_ns: now,
            answers_seq: frame.seq,
            deadline_ns: now + 500_000_000,
            mode: CommandMode::Torque,
            values: vec![0.0],
        });
        if let Ok(mut a) = self.answered.lock() {
            *a = Some(Answered {
                stamp_ns: frame.stamp_ns,
                cmd_seq: seq,
                kick,
            });
        }
        if let Err(e) = cmd.put(wire::encode(&msg)).wait() {
            eprintln!("answering: {e}");
        }
    }

    /// A frame arrived: time it against the answer it says it applied,
    /// keep it, and answer it while the round is this driver's.
    fn frame(&self, cmd: &Publisher<'_>, f: SensorFrame) {
        let last = self.answered.lock().ok().and_then(|a| *a);
        if let (Some(a), Applied::Command(seq)) = (last, f.applied)
            && a.cmd_seq == seq
            && !a.kick
            && self.active.load(Ordering::SeqCst)
            && let Ok(mut v) = self.samples_us.lock()
        {
            v.push(f.stamp_ns.saturating_sub(a.stamp_ns) as f32 / 1e3);
        }
        if self.active.load(Ordering::SeqCst) {
            self.answer(cmd, &f, false);
        }
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(f);
        }
    }

    fn samples(&self) -> usize {
        self.samples_us.lock().map(|v| v.len()).unwrap_or(0)
    }
}

impl Responder {
    /// Opens a session on `endpoint` (as its hub), subscribes to the
    /// pendulum's frames, then starts `child` to connect to it.
    fn start(name: &'static str, endpoint: &str, mut child: Command) -> Result<Self, Error> {
        let session: &'static Session = Box::leak(Box::new(Transport::at(endpoint).open()?));
        let cmd = Arc::new(
            session
                .declare_publisher(wire::key_expr("pendulum", MessageKind::MotorCommand))
                .express(true)
                .wait()?,
        );
        let shared = Arc::new(Shared::default());
        let (s, c) = (shared.clone(), cmd.clone());
        let sub = session
            .declare_subscriber(wire::key_expr("pendulum", MessageKind::SensorFrame))
            .callback(move |sample| {
                if let Ok(f) = wire::decode_sensor_frame(&sample.payload().to_bytes()) {
                    s.frame(&c, f);
                }
            })
            .wait()?;
        let child = child
            .env("UMWELT_ZENOH_ENDPOINT", endpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the {name} driver: {e}"))?;
        Ok(Self {
            name,
            shared,
            cmd,
            _sub: sub,
            child,
        })
    }

    /// Runs one round of `steps` round trips (or until `guard` passes);
    /// returns the round's median in µs.
    fn round(&self, steps: usize, guard: Duration) -> Result<f64, Error> {
        let start = Instant::now();
        let first = self.shared.samples();
        let want = first + steps;
        self.shared.active.store(true, Ordering::SeqCst);
        let latest = self.shared.latest.lock().map_err(|_| "poisoned")?.clone();
        let f = latest.ok_or_else(|| format!("the {} driver sent no frame", self.name))?;
        self.shared.answer(&self.cmd, &f, true);
        while self.shared.samples() < want && start.elapsed() < guard {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.shared.active.store(false, Ordering::SeqCst);
        // Let the last answer land, so the next round starts from a waiting driver.
        std::thread::sleep(Duration::from_millis(20));
        if self.shared.samples() < want {
            return Err(format!("the {} driver stalled in a round", self.name).into());
        }
        let mut this_round =
            self.shared.samples_us.lock().map_err(|_| "poisoned")?[first..].to_vec();
        Ok(RoundTrip::of(&mut this_round).map_or(f64::NAN, |r| r.p50_us))
    }

    /// Waits for the driver's first frame.
    fn ready(&self, guard: Duration) -> Result<(), Error> {
        let start = Instant::now();
        while start.elapsed() < guard {
            if self
                .shared
                .latest
                .lock()
                .map(|l| l.is_some())
                .unwrap_or(false)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("the {} driver sent no frame in {guard:?}", self.name).into())
    }

    fn latency(&self) -> Option<RoundTrip> {
        RoundTrip::of(&mut self.shared.samples_us.lock().ok()?.clone())
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value after `--name`, parsed, or `default`.
fn flag<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Error> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name} {v}: not a valid value").into())
        }
    }
}

/// The CPU's model name from `lscpu`.
fn cpu() -> String {
    let out = Command::new("lscpu")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// The median of `v` (NaN when empty).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The 1-minute load average (other work on the machine skews the figures).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn json(rt: &Option<RoundTrip>) -> serde_json::Value {
    match rt {
        Some(r) => serde_json::json!({
            "samples": r.samples, "p50_us": r.p50_us, "p99_us": r.p99_us, "max_us": r.max_us
        }),
        None => serde_json::Value::Null,
    }
}

fn main() -> Result<(), Error> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(PathBuf::from)
        .ok_or("no directory of this program")?;
    let umwelt: PathBuf = flag("--umwelt", exe_dir.join("../umwelt"))?;
    let pendulum: PathBuf = flag("--pendulum", exe_dir.join("pendulum"))?;
    let rounds: usize = flag("--rounds", 10)?;
    let steps: usize = flag("--steps", 300)?;
    let out: PathBuf = flag(
        "--out",
        PathBuf::from("docs/results/drivers/rust_latency.json"),
    )?;
    if !(1..=1000).contains(&rounds) || !(10..=100_000).contains(&steps) {
        return Err("--rounds must be 1..=1000 and --steps 10..=100000".into());
    }
    let guard = Duration::from_secs(30);

    let mut sim_cmd = Command::new(&umwelt);
    sim_cmd.args([
        "sim",
        "--robot",
        "pendulum",
        "--task",
        "swingup",
        "--lockstep",
        "--rate",
        "50",
    ]);
    let sim = Responder::start("umwelt sim", SIM_ENDPOINT, sim_cmd)?;
    let mut ex_cmd = Command::new(&pendulum);
    ex_cmd.arg("--lockstep");
    let example = Responder::start("example", EXAMPLE_ENDPOINT, ex_cmd)?;
    sim.ready(guard)?;
    example.ready(guard)?;
    // Warm-up: links, caches, both drivers' first steps.
    sim.round(100, guard)?;
    example.round(100, guard)?;
    for r in [&sim, &example] {
        r.shared.samples_us.lock().map_err(|_| "poisoned")?.clear();
    }
    let load_before = load_average();
    let (mut sim_rounds, mut example_rounds) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            sim_rounds.push(sim.round(steps, guard)?);
            example_rounds.push(example.round(steps, guard)?);
        } else {
            example_rounds.push(example.round(steps, guard)?);
            sim_rounds.push(sim.round(steps, guard)?);
        }
    }
    let (ex, si) = (example.latency(), sim.latency());
    let ratio = |f: fn(&RoundTrip) -> f64| match (&ex, &si) {
        (Some(e), Some(s)) => serde_json::json!(f(e) / f(s)),
        _ => serde_json::Value::Null,
    };
    let report = serde_json::json!({
        "what": "frame->command round trip seen by a lockstep driver: stamp of frame n+1 minus stamp of frame n, both on the driver's clock, counted when frame n+1 applied the command answering frame n (answered at once from the zenoh callback by the same responder for both drivers)",
        "cpu": cpu(),
        "rate_hz": 50,
        "rounds": rounds,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_average_before_after": [load_before, load_average()],
        // Robust to a burst of load from elsewhere: the median round of each.
        "ratio_median_round_p50_example_over_sim": median(&example_rounds) / median(&sim_rounds),
        "example_round_p50_us": example_rounds,
        "umwelt_sim_round_p50_us": sim_rounds,
        "steps_per_round": steps,
        "example": json(&ex),
        "umwelt_sim": json(&si),
        "ratio_p50_example_over_sim": ratio(|r| r.p50_us),
        "ratio_p99_example_over_sim": ratio(|r| r.p99_us),
        "command": format!("target/release/examples/latency --rounds {rounds} --steps {steps}"),
    });
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, text + "\n")?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
