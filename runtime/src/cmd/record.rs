//! `umwelt record`: capture zenoh traffic into an MCAP file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use umwelt_runtime::nodes::transport::{ZenohArgs, wait_for_peer};
use umwelt_runtime::recording::foxglove::{DecodeStats, Decoder};
use umwelt_runtime::recording::{Recorder, RecordingSummary};
use umwelt_runtime::robot::load_robot;
use umwelt_runtime::wire;
use zenoh::Wait;

/// Samples that may wait for the disk before new ones are dropped (and
/// counted): a few seconds of a busy robot's traffic...
const QUEUE: usize = 1 << 16;
/// ...and at most this many payload bytes (camera frames are large).
const QUEUE_BYTES: usize = 256 << 20;

/// Arguments of `umwelt record`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Key expression to record, e.g. `umwelt/cartpole/**` (default: every
    /// umwelt robot's topics).
    #[arg(default_value = "umwelt/**")]
    key: String,
    /// MCAP file to write; it must not exist (see --force). A folder (an
    /// existing one, or a path ending in `/`) gets a new file named for
    /// the time, `umwelt-YYYYMMDD-HHMMSS.mcap` (UTC). Folders are created
    /// as needed.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_name = "S", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    duration: Option<f64>,
    /// Stop after this many messages.
    #[arg(long, value_name = "N", value_parser = umwelt_runtime::cli::args::count::<u64>(1, u64::MAX))]
    count: Option<u64>,
    /// Print the recording's summary as one JSON document on stdout (and
    /// no progress spinner).
    #[arg(long)]
    json: bool,
    /// Write only the byte-exact `umwelt/2` channels, without the decoded
    /// channels Foxglove reads (joint states with names, commands,
    /// telemetry, status, images, `/tf` and the 3D scene).
    #[arg(long)]
    no_foxglove: bool,
    /// A robot whose frames are recorded, for the decoded channels' joint
    /// names and 3D scene: a built-in name, a simulator config or a
    /// description file (its frames arrive on `umwelt/<its name>/...`).
    /// Repeatable. Built-in robots are known without it; a robot known by
    /// neither gets joints `joint_0`, ... and no scene.
    #[arg(long, value_name = "R")]
    robot: Vec<String>,
    /// The task of the robots of --robot (default: a description's own,
    /// or a built-in robot's first).
    #[arg(long, value_name = "T", default_value = "")]
    task: String,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// What `umwelt record --json` prints.
#[derive(Serialize)]
struct Report<'a> {
    file: String,
    key: &'a str,
    /// Samples lost because the disk fell behind (see QUEUE).
    dropped: u64,
    #[serde(flatten)]
    summary: &'a RecordingSummary,
    /// The decoded channels: messages by topic, skipped messages, robots
    /// (with a scene or not); absent with --no-foxglove.
    foxglove: Option<&'a DecodeStats>,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    // Before any file or folder is made: a robot that does not load is a
    // mistake on the command line.
    let robots = args
        .robot
        .iter()
        .map(|r| {
            let robot = load_robot(r, None, &args.task).with_context(|| format!("--robot {r}"))?;
            Ok((robot.description.robot.clone(), robot))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.out.is_dir() || args.out.as_os_str().to_string_lossy().ends_with('/') {
        args.out = args
            .out
            .join(timestamped_name(wire::now_ns() / 1_000_000_000));
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    if args.force && args.out.is_file() {
        std::fs::remove_file(&args.out)
            .with_context(|| format!("replacing {}", args.out.display()))?;
    }
    let metadata: BTreeMap<String, String> = [
        ("key", args.key.clone()),
        ("started_ns", wire::now_ns().to_string()),
        ("umwelt_version", env!("CARGO_PKG_VERSION").to_string()),
        ("zenoh_endpoint", args.zenoh.zenoh_endpoint.clone()),
        ("command", std::env::args().collect::<Vec<_>>().join(" ")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut recorder = Recorder::create(&args.out, &metadata).map_err(|e| match e {
        umwelt_runtime::recording::RecordingError::Exists { .. } => {
            anyhow::anyhow!("{e} (pass --force to replace it)")
        }
        e => e.into(),
    })?;
    if !args.no_foxglove {
        recorder = recorder.with_foxglove(Decoder::new(robots));
    }
    let stop = super::stop_flag()?;
    let session = args.zenoh.open()?;
    let (tx, rx) = crossbeam::channel::bounded::<(String, Vec<u8>, u64)>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let lost = dropped.clone();
    let queued = Arc::new(AtomicUsize::new(0));
    let in_queue = queued.clone();
    let subscriber = session
        .declare_subscriber(&args.key)
        .callback(move |s| {
            // The arrival time, taken before the sample waits in the queue.
            let t = wire::now_ns();
            let len = s.payload().len();
            if in_queue.fetch_add(len, Ordering::Relaxed) + len > QUEUE_BYTES {
                in_queue.fetch_sub(len, Ordering::Relaxed);
                lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let sample = (s.key_expr().to_string(), s.payload().to_bytes().to_vec(), t);
            if tx.try_send(sample).is_err() {
                in_queue.fetch_sub(len, Ordering::Relaxed);
                lost.fetch_add(1, Ordering::Relaxed);
            }
        })
        .wait()
        .map_err(|e| anyhow::anyhow!("subscribing to {}: {e}", args.key))?;
    eprintln!(
        "recording {} to {} (Ctrl-C stops)",
        args.key,
        args.out.display()
    );
    let start = Instant::now();
    let mut peer_checked = false;
    let bar = super::progress::Progress::spinner("", args.json);
    let mut last_status = Instant::now();
    let mut failure = None;
    let limit = args
        .duration
        .map(|s| super::duration("--duration", s))
        .transpose()?;
    let write = |recorder: &mut Recorder, (key, payload, t): (String, Vec<u8>, u64)| {
        queued.fetch_sub(payload.len(), Ordering::Relaxed);
        recorder.write(&key, &payload, t)
    };
    while !stop.load(Ordering::SeqCst)
        && limit.is_none_or(|l| start.elapsed() < l)
        && args.count.is_none_or(|c| recorder.summary().messages < c)
    {
        if let Ok(sample) = rx.recv_timeout(Duration::from_millis(50))
            && let Err(e) = write(&mut recorder, sample)
        {
            failure = Some(e);
            break;
        }
        // Once per robot: what the decoded channels can show of it.
        for note in recorder
            .decoder()
            .map(Decoder::take_notes)
            .unwrap_or_default()
        {
            bar.suspend(|| eprintln!("note: {note}"));
        }
        // Nobody to record after a while: say so once, and go on (a driver
        // may start later).
        if !peer_checked && start.elapsed() >= Duration::from_secs(2) {
            peer_checked = true;
            if !wait_for_peer(&session, Duration::ZERO) {
                bar.suspend(|| {
                    eprintln!(
                        "warning: no other zenoh node reachable at {} after 2 s; recording whatever comes",
                        args.zenoh.zenoh_endpoint
                    )
                });
            }
        }
        if last_status.elapsed() >= Duration::from_millis(500) {
            last_status = Instant::now();
            let s = recorder.summary();
            bar.set_message(format!(
                "{} messages on {} keys, {:.1} KiB, {:.0} s",
                s.messages,
                s.keys.len(),
                s.bytes as f64 / 1024.0,
                start.elapsed().as_secs_f64()
            ));
        }
    }
    // No more samples: then write those still queued (unless a count was
    // reached), and close the file properly.
    drop(subscriber);
    if failure.is_none() {
        while args.count.is_none_or(|c| recorder.summary().messages < c)
            && let Ok(sample) = rx.try_recv()
        {
            if let Err(e) = write(&mut recorder, sample) {
                failure = Some(e);
                break;
            }
        }
    }
    bar.finish_and_clear();
    let written = recorder.summary().messages;
    let decoded = recorder.decoder().map(|d| d.stats().clone());
    let summary = recorder.finish();
    if let Some(e) = failure {
        return Err(anyhow::Error::new(e).context(format!(
            "recording stopped after {written} messages (those are in the file)"
        )));
    }
    let summary = summary?;
    let dropped = dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        eprintln!("warning: {dropped} messages lost: the disk could not keep up");
    }
    if args.json {
        return super::print_json(&Report {
            file: args.out.display().to_string(),
            key: &args.key,
            dropped,
            summary: &summary,
            foxglove: decoded.as_ref(),
        });
    }
    eprint!("{}: {}", args.out.display(), summary.to_text());
    if let Some(d) = decoded.as_ref().filter(|d| d.skipped > 0) {
        eprintln!(
            "  {} messages not decoded for Foxglove (malformed or not fitting their robot; the byte-exact channels hold them)",
            d.skipped
        );
    }
    if let Some(d) = decoded.as_ref().filter(|d| d.scene_skipped > 0) {
        eprintln!(
            "  {} frames without a 3D scene (their robot's simulator could not take them; their joint states are there)",
            d.scene_skipped
        );
    }
    Ok(())
}

/// `umwelt-YYYYMMDD-HHMMSS.mcap` for `unix_s` seconds since the epoch (UTC).
fn timestamped_name(unix_s: u64) -> String {
    let (days, secs) = (unix_s / 86_400, unix_s % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "umwelt-{year:04}{month:02}{day:02}-{:02}{:02}{:02}.mcap",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::timestamped_name;

    #[test]
    fn names_carry_the_utc_date_and_time() {
        assert_eq!(timestamped_name(0), "umwelt-19700101-000000.mcap");
        // 2000-02-29 (a leap day) 12:34:56 UTC.
        assert_eq!(timestamped_name(951_827_696), "umwelt-20000229-123456.mcap");
        // 2026-11-26 15:41:56 UTC.
        assert_eq!(
            timestamped_name(1_795_707_716),
            "umwelt-20261126-154156.mcap"
        );
    }
}
