//! `umwelt topic`: look at what flows on zenoh.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use umwelt_runtime::nodes::transport::{ZenohArgs, wait_for_peer};
use umwelt_runtime::wire;
use zenoh::Wait;

/// Arguments of `umwelt topic`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Listen for a while and list the keys messages arrive on, with rates.
    List {
        /// Key expression to listen to.
        #[arg(default_value = "umwelt/**")]
        key: String,
        /// Seconds to listen.
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
        duration: f64,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print each message on a key, decoded; invalid ones say why. Camera
    /// images are summarised (name, width x height, encoding, bytes), not
    /// printed.
    Echo {
        /// Key expression, e.g. umwelt/cartpole/sensors.
        key: String,
        /// Stop after this many messages.
        #[arg(long, value_parser = umwelt_runtime::cli::args::count::<u64>(1, u64::MAX))]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
        duration: Option<f64>,
        /// One JSON document per line instead of indented JSON.
        #[arg(long)]
        json: bool,
        /// Write each received camera image into this folder as a PNG file,
        /// `<robot>_<seq>_<camera>_<encoding>.png` (depth drawn in grey, near
        /// bright).
        #[arg(long, value_name = "DIR")]
        save: Option<std::path::PathBuf>,
    },
    /// Publish a message given as JSON (docs/PROTOCOL.md, "JSON") on a
    /// robot's key, for testing: checked like a received one, refused on a
    /// key it does not belong on, and stamped when sent (a MotorCommand's
    /// deadline set --deadline-ms ahead), so that nodes take it as fresh.
    Pub {
        /// Key, e.g. umwelt/cartpole/cmd.
        key: String,
        /// The message, e.g. '{"kind":"motor_command","seq":1,"stamp_ns":0,
        /// "answers_seq":42,"deadline_ns":0,"mode":"torque","values":[0.5]}'.
        message: String,
        /// Send it this many times (re-stamped each time).
        #[arg(long, default_value_t = 1, value_parser = umwelt_runtime::cli::args::count::<u64>(1, 1_000_000))]
        count: u64,
        /// Messages per second when --count is above 1.
        #[arg(long, default_value_t = 10.0, value_name = "HZ", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::positive_hz))]
        rate: f64,
        /// A MotorCommand's lifetime in milliseconds (at most the protocol's 1000).
        #[arg(long, default_value_t = 20.0, value_name = "MS", value_parser = umwelt_runtime::cli::args::flag(deadline_ms))]
        deadline_ms: f64,
        /// Seconds to wait for a node to listen before giving up.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
        wait: f64,
    },
    /// Measure the rate of messages on a key.
    Hz {
        /// Key expression, e.g. umwelt/cartpole/sensors.
        key: String,
        /// Seconds to measure.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
        duration: f64,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize, Default, Clone)]
struct KeyStats {
    messages: u64,
    bytes: u64,
    rate_hz: f64,
}

#[derive(Serialize)]
struct HzReport {
    key: String,
    messages: u64,
    duration_s: f64,
    rate_hz: f64,
    period_mean_ms: f64,
    period_std_ms: f64,
    period_min_ms: f64,
    period_max_ms: f64,
}

/// A command lifetime in ms: (0, 1000], the protocol's limit.
fn deadline_ms(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err("must be a number of milliseconds in (0, 1000]".into()),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (what, zenoh) = (args.what, args.zenoh);
    if let What::Pub {
        key,
        message,
        count,
        rate,
        deadline_ms,
        wait,
    } = what
    {
        return publish(&zenoh, &key, &message, count, rate, deadline_ms, wait);
    }
    let stop = super::stop_flag()?;
    let session = zenoh.open()?;
    if !wait_for_peer(&session, Duration::from_secs(2)) {
        eprintln!(
            "warning: no other zenoh node reachable at {} after 2 s: is `umwelt sim` or a driver running?",
            zenoh.zenoh_endpoint
        );
    }
    match what {
        // Sent above: it needs no listening session.
        What::Pub { .. } => {}
        What::List {
            key,
            duration,
            json,
        } => {
            let seen: Arc<Mutex<BTreeMap<String, KeyStats>>> = Arc::default();
            let sink = seen.clone();
            let _sub = session
                .declare_subscriber(&key)
                .callback(move |s| {
                    if let Ok(mut m) = sink.lock() {
                        let e = m.entry(s.key_expr().to_string()).or_default();
                        e.messages += 1;
                        e.bytes += s.payload().len() as u64;
                    }
                })
                .wait()
                .map_err(|e| anyhow::anyhow!("subscribing to {key}: {e}"))?;
            let listened = sleep_unless_stopped(super::duration("--duration", duration)?, &stop);
            let mut seen = seen
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .clone();
            for s in seen.values_mut() {
                s.rate_hz = s.messages as f64 / listened;
            }
            if json {
                return super::print_json(&seen);
            }
            if seen.is_empty() {
                outln!("no messages on {key} in {listened:.1} s");
            }
            for (k, s) in &seen {
                outln!(
                    "{k:<40} {:>8} msgs {:>9.1} Hz {:>8.0} B/msg",
                    s.messages,
                    s.rate_hz,
                    s.bytes as f64 / s.messages as f64
                );
            }
        }
        What::Echo {
            key,
            count,
            duration,
            json,
            save,
        } => {
            if let Some(dir) = &save {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("--save {}: {e}", dir.display()))?;
            }
            let (tx, rx) = crossbeam::channel::bounded::<(String, Vec<u8>)>(1024);
            let _sub = session
                .declare_subscriber(&key)
                .callback(move |s| {
                    let _ =
                        tx.try_send((s.key_expr().to_string(), s.payload().to_bytes().to_vec()));
                })
                .wait()
                .map_err(|e| anyhow::anyhow!("subscribing to {key}: {e}"))?;
            let start = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst)
                && count.is_none_or(|c| n < c)
                && duration.is_none_or(|d| start.elapsed().as_secs_f64() < d)
            {
                let Ok((k, bytes)) = rx.recv_timeout(Duration::from_millis(100)) else {
                    continue;
                };
                n += 1;
                let decoded = wire::decode(&bytes);
                if let (Ok(msg), Some(dir)) = (&decoded, &save) {
                    super::topic_images::save(msg, dir)?;
                }
                match decoded {
                    Ok(msg) if json => outln!("{}", super::topic_images::to_json(&msg, false)),
                    Ok(msg) => outln!("--- {k}\n{}", super::topic_images::to_json(&msg, true)),
                    Err(e) => outln!("--- {k}: invalid message ({} bytes): {e}", bytes.len()),
                }
            }
        }
        What::Hz {
            key,
            duration,
            json,
        } => {
            let stamps: Arc<Mutex<Vec<Instant>>> = Arc::default();
            let sink = stamps.clone();
            let _sub = session
                .declare_subscriber(&key)
                .callback(move |_| {
                    if let Ok(mut v) = sink.lock() {
                        v.push(Instant::now());
                    }
                })
                .wait()
                .map_err(|e| anyhow::anyhow!("subscribing to {key}: {e}"))?;
            let listened = sleep_unless_stopped(super::duration("--duration", duration)?, &stop);
            let stamps = stamps
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .clone();
            let periods: Vec<f64> = stamps
                .windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
                .collect();
            let mean = periods.iter().sum::<f64>() / periods.len().max(1) as f64;
            let var = periods.iter().map(|p| (p - mean).powi(2)).sum::<f64>()
                / periods.len().max(1) as f64;
            let span = match (stamps.first(), stamps.last()) {
                (Some(a), Some(b)) if stamps.len() > 1 => (*b - *a).as_secs_f64(),
                _ => 0.0,
            };
            let report = HzReport {
                key: key.clone(),
                messages: stamps.len() as u64,
                duration_s: listened,
                rate_hz: if span > 0.0 {
                    (stamps.len() - 1) as f64 / span
                } else {
                    0.0
                },
                period_mean_ms: mean,
                period_std_ms: var.sqrt(),
                period_min_ms: periods.iter().copied().fold(f64::INFINITY, f64::min),
                period_max_ms: periods.iter().copied().fold(0.0, f64::max),
            };
            if json {
                return super::print_json(&report);
            }
            if report.messages < 2 {
                outln!(
                    "{key}: {} messages in {duration} s: no rate",
                    report.messages
                );
            } else {
                outln!(
                    "{key}: {:.1} Hz over {} messages; period {:.2} ms mean, {:.2} std, {:.2} min, {:.2} max",
                    report.rate_hz,
                    report.messages,
                    report.period_mean_ms,
                    report.period_std_ms,
                    report.period_min_ms,
                    report.period_max_ms
                );
            }
        }
    }
    let _ = session.close().wait();
    Ok(())
}

/// Sleeps for `d` or until Ctrl-C; returns the seconds actually slept.
fn sleep_unless_stopped(d: Duration, stop: &std::sync::atomic::AtomicBool) -> f64 {
    let start = Instant::now();
    while start.elapsed() < d && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20).min(d.saturating_sub(start.elapsed())));
    }
    start.elapsed().as_secs_f64()
}

/// `umwelt topic pub`: checks the message and its key, then sends it
/// `count` times at `rate`, stamped fresh each time.
fn publish(
    zenoh: &ZenohArgs,
    key: &str,
    json: &str,
    count: u64,
    rate: f64,
    deadline_ms: f64,
    wait: f64,
) -> anyhow::Result<()> {
    use umwelt_runtime::nodes::operator;
    let deadline = super::duration("--deadline-ms", deadline_ms / 1e3)?;
    let first = operator::from_json_fresh(json, deadline)?;
    operator::check_key(key, first.kind())?;
    let session = zenoh.open()?;
    let wait = super::duration("--wait", wait)?;
    let period = super::duration("--rate", 1.0 / rate)?;
    let payloads = (0..count).map(|i| {
        // Re-stamped as each goes out: a later copy must not look stale.
        let msg = if i == 0 {
            first.clone()
        } else {
            operator::from_json_fresh(json, deadline).unwrap_or_else(|_| first.clone())
        };
        wire::encode(&msg)
    });
    let sent = operator::publish(&session, key, payloads, Some(period), wait)?;
    eprintln!("sent {sent} {} on {key}", first.kind());
    Ok(())
}
