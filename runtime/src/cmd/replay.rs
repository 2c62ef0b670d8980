//! `umwelt replay`: play an MCAP recording back onto zenoh, or look into it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::recording::{
    Pace, PlayReport, RecordedMessage, Recording, RecordingSummary, acts_on_robot, play, restamp,
};
use umwelt_runtime::wire;
use zenoh::Wait;
use zenoh::key_expr::{KeyExpr, keyexpr};
use zenoh::qos::CongestionControl;

/// Arguments of `umwelt replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// MCAP file written by `umwelt record`.
    file: PathBuf,
    /// Only the keys that intersect this key expression, e.g.
    /// `umwelt/*/sensors` to feed recorded sensor frames to a new
    /// controller without the old one's commands.
    #[arg(long, default_value = "**", value_name = "EXPR")]
    key: String,
    /// Playback speed: 1 keeps the recorded intervals, 2 halves them.
    #[arg(long, default_value_t = 1.0, conflicts_with = "fast", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::speed))]
    speed: f64,
    /// No pacing: publish every message as soon as the last one is out.
    #[arg(long)]
    fast: bool,
    /// Print what the recording holds (keys, counts, rates, kinds, seq
    /// breaks, invalid messages, how it was made) and exit, publishing nothing.
    #[arg(long, conflicts_with = "print")]
    info: bool,
    /// Print the selected messages decoded, one JSON document per line
    /// (invalid ones say why), and exit, publishing nothing.
    #[arg(long)]
    print: bool,
    /// Also replay estop and reset messages, which act on whatever robot
    /// listens (an estop release frees it). Withheld by default.
    #[arg(long)]
    control: bool,
    /// Set each valid message's `stamp_ns` to the time it is replayed, so
    /// that a controller's latency figures refer to the replay (motor
    /// commands keep their recorded, expired deadlines).
    #[arg(long)]
    restamp: bool,
    /// Seconds to wait for a subscriber to the replayed keys before
    /// starting (the replay starts anyway after that, with a warning).
    #[arg(long, default_value_t = 2.0, value_name = "S", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds_or_zero))]
    wait: f64,
    /// One JSON document on stdout (for --info and the replay's report).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// What `umwelt replay --info --json` prints.
#[derive(Serialize)]
struct Info<'a> {
    file: String,
    metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    summary: &'a RecordingSummary,
}

/// One line of `umwelt replay --print`.
#[derive(Serialize)]
struct Printed<'a> {
    key: &'a str,
    log_time_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid: Option<String>,
    bytes: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let recording = Recording::open(&args.file)?;
    let filter = KeyExpr::try_from(args.key.clone())
        .map_err(|e| anyhow::anyhow!("--key {}: not a key expression: {e}", args.key))?;
    let key_matches = |key: &str| keyexpr::new(key).is_ok_and(|k| filter.intersects(k));
    // Estops and resets are withheld unless --control: counted here.
    let withheld = std::cell::Cell::new(0u64);
    let select = |m: &RecordedMessage| {
        if !key_matches(&m.key) {
            return false;
        }
        if !args.control && acts_on_robot(&m.payload) {
            withheld.set(withheld.get() + 1);
            return false;
        }
        true
    };
    if args.info {
        let summary = recording.summary();
        if args.json {
            return super::print_json(&Info {
                file: args.file.display().to_string(),
                metadata: recording.metadata(),
                summary: &summary,
            });
        }
        for (k, v) in recording.metadata() {
            outln!("{k}: {v}");
        }
        out!("{}", summary.to_text());
        return Ok(());
    }
    if args.print {
        return print_messages(&recording, &|m| key_matches(&m.key));
    }
    let pace = if args.fast {
        Pace::Fast
    } else {
        Pace::Speed(args.speed)
    };

    let summary = recording.summary();
    let keys: Vec<&String> = summary.keys.keys().filter(|k| key_matches(k)).collect();
    if keys.is_empty() {
        anyhow::bail!(
            "{}: no messages on keys matching `{}` (it holds: {})",
            args.file.display(),
            args.key,
            summary
                .keys
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let session = args.zenoh.open()?;
    let mut publishers = BTreeMap::new();
    for key in keys {
        let p = session
            .declare_publisher(key.clone())
            // A replay is not a control path: it waits rather than drops.
            .congestion_control(CongestionControl::Block)
            .express(!args.fast)
            .wait()
            .map_err(|e| anyhow::anyhow!("declaring a publisher on `{key}`: {e}"))?;
        publishers.insert(key.clone(), p);
    }
    let stop = super::stop_flag()?;
    let waited = Instant::now();
    let subscribed = loop {
        let any = publishers
            .values()
            .any(|p| p.matching_status().wait().is_ok_and(|s| s.matching()));
        if any || waited.elapsed().as_secs_f64() >= args.wait || stop.load(Ordering::SeqCst) {
            break any;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if !subscribed {
        eprintln!(
            "warning: nothing subscribes to the replayed keys after {:.1} s; replaying anyway",
            args.wait
        );
    }
    eprintln!(
        "replaying {}: {} keys, {:.1} s recorded, {} (Ctrl-C stops)",
        args.file.display(),
        publishers.len(),
        summary.duration_s,
        match pace {
            Pace::Fast => "as fast as possible".to_string(),
            Pace::Speed(f) => format!("at {f}x"),
        }
    );
    let report = play(&recording, &select, pace, &stop, &mut |m| {
        let p = publishers
            .get(&m.key)
            .ok_or_else(|| format!("no publisher for `{}`", m.key))?;
        let restamped = if args.restamp {
            restamp(&m.payload, wire::now_ns())
        } else {
            None
        };
        let payload = restamped.as_deref().unwrap_or(&m.payload);
        p.put(payload).wait().map_err(|e| e.to_string())
    })?;
    // Closing sends what zenoh still holds in its batches before the
    // process ends.
    drop(publishers);
    if let Err(e) = session.close().wait() {
        eprintln!("warning: closing the zenoh session: {e}");
    }
    print_report(&args, &report, withheld.get())
}

/// `--print`: the selected messages decoded, one JSON document per line.
fn print_messages(
    recording: &Recording,
    select: &dyn Fn(&RecordedMessage) -> bool,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for m in recording.messages() {
        let m = match m {
            Ok(m) => m,
            Err(umwelt_runtime::recording::RecordingError::Mcap { source, .. }) => {
                eprintln!("warning: the recording ends early: {source}");
                break;
            }
            Err(e) => return Err(e.into()),
        };
        if !select(&m) {
            continue;
        }
        let (message, invalid) = match wire::decode(&m.payload) {
            Ok(msg) => (Some(serde_json::from_str(&wire::to_json(&msg))?), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let line = Printed {
            key: &m.key,
            log_time_ns: m.log_time_ns,
            message,
            invalid,
            bytes: m.payload.len(),
        };
        let written = serde_json::to_writer(&mut out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out));
        match written {
            // The reader has seen enough (`| head`): not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
    }
    Ok(())
}

/// What `umwelt replay --json` prints.
#[derive(Serialize)]
struct Replayed<'a> {
    #[serde(flatten)]
    play: &'a PlayReport,
    /// Estop and reset messages not replayed (no --control); also counted
    /// in `skipped`.
    withheld: u64,
}

/// The replay's report: one JSON document, or a few lines on stderr.
fn print_report(args: &Args, r: &PlayReport, withheld: u64) -> anyhow::Result<()> {
    if let Some(why) = &r.incomplete {
        eprintln!(
            "warning: {} ends early ({why}); everything before that was replayed",
            args.file.display()
        );
    }
    if withheld > 0 {
        eprintln!(
            "note: {withheld} estop or reset messages were not replayed (they act on a robot; --control replays them)"
        );
    }
    if args.json {
        return super::print_json(&Replayed { play: r, withheld });
    }
    eprintln!(
        "replayed {} messages on {} keys ({} left out by --key) in {:.2} s, {:.2} s recorded; latest {:.1} ms behind schedule{}",
        r.messages,
        r.keys.len(),
        r.skipped,
        r.wall_s,
        r.recorded_s,
        r.late_max_ms,
        if r.stopped { "; stopped early" } else { "" }
    );
    Ok(())
}
