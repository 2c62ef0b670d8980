//! `umwelt-attack`: a hostile zenoh peer, for checking that a deployment
//! holds (and for the test suite). It never forges a *live* command: on the
//! default, unauthenticated profile anyone who reads the frames can answer
//! them, which only the secure profile prevents (configs/zenoh/secure/README.md). What it
//! sends are the attacks a driver and a controller must shrug off by
//! themselves: replays, bit flips, forged `seq`/deadlines, commands that
//! answer nothing, stale privileged messages, estop releases on the wrong
//! key, replayed frames and garbage.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use umwelt_runtime::cli::args;
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::wire::{
    self, Estop, Message, MessageKind, MotorCommand, Reset, SensorFrame, fresh,
};
use zenoh::Wait;

/// Every attack, in the order they take turns.
const ATTACKS: [&str; 11] = [
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
];

/// Hostile input for umwelt nodes: over zenoh (`flood`), or straight into
/// the node logic (`fuzz`).
#[derive(Parser, Debug)]
#[command(name = "umwelt-attack", version)]
enum Cli {
    /// Flood a robot's keys with replayed, bit-flipped, forged, stale and
    /// malformed messages at a fixed rate, and print what was sent. Nothing
    /// it sends may move, release or reset the robot.
    Flood(Args),
    /// Fuzzed payloads through the decoder, a driver's inbox and a frame
    /// gate, then random message sequences through a driver's inbox with
    /// the protocol's invariants checked after every event; fails on the
    /// first violation or panic, naming the seed and case.
    Fuzz(FuzzArgs),
}

/// Arguments of `umwelt-attack fuzz`.
#[derive(clap::Args, Debug)]
struct FuzzArgs {
    /// Fuzzed payloads.
    #[arg(long, default_value_t = 10_000_000)]
    messages: u64,
    /// Random message sequences (half of them in lockstep).
    #[arg(long, default_value_t = 100_000)]
    sequences: u64,
    /// Events per sequence.
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the reports as one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Arguments of `umwelt-attack flood`.
#[derive(clap::Args, Debug)]
struct Args {
    /// The robot's wire name (`umwelt/<robot>/...`).
    #[arg(long, default_value = "cartpole")]
    robot: String,
    /// Messages per second, all attacks together.
    #[arg(long, default_value_t = 1000.0, value_parser = args::flag(args::positive_hz))]
    rate: f64,
    /// Seconds to attack.
    #[arg(long, default_value_t = 10.0, value_parser = args::flag(args::seconds))]
    duration: f64,
    /// Which attacks (comma-separated; default all).
    #[arg(long, value_delimiter = ',', default_values_t = ATTACKS.map(String::from))]
    attacks: Vec<String>,
    /// Seed of the bit flips and garbage.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the counts as one JSON document on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// What the attacker has overheard.
#[derive(Default)]
struct Overheard {
    /// Real commands with their arrival, oldest first (bounded).
    commands: Vec<(Instant, Vec<u8>)>,
    /// Real frames' payloads, oldest first (bounded).
    frames: Vec<(Instant, Vec<u8>)>,
    /// The newest frame seen.
    newest: Option<SensorFrame>,
}

const KEEP: usize = 512;

/// Keeps a payload, at most one per 4 ms so that the kept ones span about
/// two seconds even from a fast lockstep simulator.
fn keep(v: &mut Vec<(Instant, Vec<u8>)>, bytes: Vec<u8>) {
    if v.last()
        .is_some_and(|(t, _)| t.elapsed() < Duration::from_millis(4))
    {
        return;
    }
    if v.len() == KEEP {
        v.remove(0);
    }
    v.push((Instant::now(), bytes));
}

/// A payload overheard at least `age` ago (so its deadline has passed).
fn old(v: &[(Instant, Vec<u8>)], age: Duration, rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
    let n = v.iter().take_while(|(t, _)| t.elapsed() >= age).count();
    (n > 0).then(|| v[rng.random_range(0..n)].1.clone())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        // Colour only for people: not in logs written to files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli {
        Cli::Flood(args) => run(&args),
        Cli::Fuzz(args) => fuzz(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn fuzz(args: &FuzzArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let messages = umwelt_runtime::fuzz::fuzz_messages(args.messages, args.seed)?;
    let messages_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let sequences = umwelt_runtime::fuzz::check_sequences(args.sequences, args.events, args.seed)?;
    let sequences_s = start.elapsed().as_secs_f64();
    if args.json {
        let doc = serde_json::json!({
            "messages": messages, "messages_s": messages_s,
            "sequences": sequences, "sequences_s": sequences_s,
        });
        println!("{doc}");
    } else {
        println!(
            "{} fuzzed payloads in {messages_s:.1} s: {} decoded, {} acted on, no panic, every decoded one re-encodes to itself",
            messages.messages, messages.decoded, messages.accepted
        );
        println!(
            "{} random sequences ({} events) in {sequences_s:.1} s: {} commands applied, {} releases, {} resets, every invariant held",
            sequences.sequences,
            sequences.events,
            sequences.applied,
            sequences.releases,
            sequences.resets
        );
    }
    Ok(())
}

fn run(args: &Args) -> anyhow::Result<()> {
    for a in &args.attacks {
        anyhow::ensure!(
            ATTACKS.contains(&a.as_str()),
            "--attacks: unknown attack `{a}` (known: {})",
            ATTACKS.join(", ")
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
    let session = args.zenoh.open().context("zenoh")?;
    let robot = &args.robot;
    let heard = Arc::new(Mutex::new(Overheard::default()));

    let h = heard.clone();
    let _cmd_sub = session
        .declare_subscriber(wire::key_expr(robot, MessageKind::MotorCommand))
        .callback(move |s| {
            let bytes = s.payload().to_bytes().to_vec();
            if wire::decode_motor_command(&bytes).is_ok()
                && let Ok(mut h) = h.lock()
            {
                keep(&mut h.commands, bytes);
            }
        })
        .wait()
        .map_err(|e| anyhow::anyhow!("subscribing: {e}"))?;
    let h = heard.clone();
    let _frame_sub = session
        .declare_subscriber(wire::key_expr(robot, MessageKind::SensorFrame))
        .callback(move |s| {
            let bytes = s.payload().to_bytes().to_vec();
            if let Ok(f) = wire::decode_sensor_frame(&bytes)
                && let Ok(mut h) = h.lock()
            {
                h.newest = Some(f);
                keep(&mut h.frames, bytes);
            }
        })
        .wait()
        .map_err(|e| anyhow::anyhow!("subscribing: {e}"))?;

    let put = |key: String| {
        session
            .declare_publisher(key)
            .wait()
            .map_err(|e| anyhow::anyhow!("declaring a publisher: {e}"))
    };
    let cmd = put(wire::key_expr(robot, MessageKind::MotorCommand))?;
    let estop = put(wire::key_expr(robot, MessageKind::Estop))?;
    let admin = put(wire::admin_key_expr(robot))?;
    let sensors = put(wire::key_expr(robot, MessageKind::SensorFrame))?;

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut k = 0u64;
    // Stamps from the past: what a recording of yesterday's traffic holds.
    let past = || wire::now_ns().saturating_sub(5 * fresh::MAX_AGE_NS);
    while !stop.load(Ordering::SeqCst) && start.elapsed().as_secs_f64() < args.duration {
        let due = start + period.mul_f64(k as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let attack = args.attacks[(k % args.attacks.len() as u64) as usize].as_str();
        k += 1;
        let (newest, old_cmd, old_frame) = {
            let h = heard.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let age = Duration::from_millis(200);
            (
                h.newest.clone(),
                old(&h.commands, age, &mut rng),
                old(&h.frames, age, &mut rng),
            )
        };
        let now = wire::now_ns();
        let answers = newest.as_ref().map_or(1, |f| f.seq);
        let values = || vec![7.25f32; args_actuators(&old_cmd)];
        let forged = |answers_seq, deadline_ns| {
            wire::encode(&Message::MotorCommand(MotorCommand {
                seq: u64::MAX,
                stamp_ns: now,
                answers_seq,
                deadline_ns,
                mode: wire::CommandMode::Torque,
                values: values(),
            }))
        };
        let (publisher, payload) = match attack {
            "replay" => match old_cmd.clone() {
                Some(b) => (&cmd, b),
                None => continue,
            },
            "bitflip" => match old_cmd.clone() {
                Some(mut b) => {
                    let bit = rng.random_range(0..b.len() * 8);
                    b[bit / 8] ^= 1 << (bit % 8);
                    (&cmd, b)
                }
                None => continue,
            },
            "max_seq" => (&cmd, forged(u64::MAX, u64::MAX)),
            // Answering a real frame, with a deadline before that frame was
            // even sent: stale in real time and in lockstep alike.
            "expired" => match &newest {
                Some(f) => (&cmd, forged(f.seq, f.stamp_ns.saturating_sub(1_000_000))),
                None => continue,
            },
            "far_deadline" => (
                &cmd,
                forged(answers, now + 10 * fresh::MAX_DEADLINE_AHEAD_NS),
            ),
            // A frame the driver will never send (a near guess of the next
            // seq would be a live forgery, which only authentication stops).
            "unanswered" => (
                &cmd,
                forged(answers.wrapping_add(1 << 40), now + 20_000_000),
            ),
            "estop_release_on_estop" => (
                &estop,
                wire::encode(&Message::Estop(Estop {
                    seq: k,
                    stamp_ns: now,
                    engage: false,
                    reason: "forged release".into(),
                })),
            ),
            "stale_release" => (
                &admin,
                wire::encode(&Message::Estop(Estop {
                    seq: k,
                    stamp_ns: past(),
                    engage: false,
                    reason: "replayed release".into(),
                })),
            ),
            "stale_reset" => (
                if k.is_multiple_of(2) { &cmd } else { &admin },
                wire::encode(&Message::Reset(Reset {
                    seq: k,
                    stamp_ns: past(),
                    seed: Some(666),
                })),
            ),
            "frame_replay" => match old_frame.clone() {
                Some(mut b) => {
                    // A recorded frame with its seq bumped to the top.
                    b[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
                    (&sensors, b)
                }
                None => continue,
            },
            _ => {
                let n = rng.random_range(0..64);
                let mut b: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                if n >= 4 && rng.random_bool(0.5) {
                    // Past the magic check, so the decoder's later checks work too.
                    b[..4].copy_from_slice(&[b'U', b'W', 1, rng.random_range(1..=6)]);
                }
                let p = [&cmd, &estop, &admin, &sensors][rng.random_range(0..4)];
                (p, b)
            }
        };
        if publisher.put(payload).wait().is_ok() {
            *sent.entry(attack.to_string()).or_default() += 1;
        }
    }
    let total: u64 = sent.values().sum();
    let wall = start.elapsed().as_secs_f64();
    if args.json {
        let doc = serde_json::json!({
            "robot": robot,
            "sent": sent,
            "total": total,
            "wall_s": wall,
            "rate_hz": total as f64 / wall.max(1e-9),
        });
        println!("{doc}");
    } else {
        eprintln!(
            "umwelt-attack: {total} messages in {wall:.1} s ({:.0}/s): {sent:?}",
            total as f64 / wall.max(1e-9)
        );
    }
    drop((_cmd_sub, _frame_sub, cmd, estop, admin, sensors));
    let _ = session.close().wait();
    Ok(())
}

/// Actuators of the robot, as overheard (1 before any command is heard).
fn args_actuators(old_cmd: &Option<Vec<u8>>) -> usize {
    old_cmd
        .as_deref()
        .and_then(|b| wire::decode_motor_command(b).ok())
        .map_or(1, |c| c.values.len())
}
