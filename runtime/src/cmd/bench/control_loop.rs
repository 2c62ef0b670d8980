//! `umwelt bench loop`: control-loop jitter and frame-to-command latency
//! against a simulator, as fractions of the period.

use umwelt_runtime::bench::bench_loop;
use umwelt_runtime::control::config::Trigger;

/// Flags of `umwelt bench loop`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Control rates to measure (Hz).
    #[arg(long, value_delimiter = ',', default_value = "100,1000", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::positive_hz))]
    rates: Vec<f64>,
    /// Seconds per rate.
    #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 5.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    seconds: f64,
    /// What starts a tick: a fixed-rate timer, or each new frame.
    #[arg(long, value_delimiter = ',', default_value = "timer,frame")]
    triggers: Vec<String>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench loop` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        rates,
        seconds,
        triggers,
        json,
    } = args;
    let mut all = Vec::new();
    for t in &triggers {
        let trigger = match t.as_str() {
            "timer" => Trigger::Timer,
            "frame" => Trigger::Frame,
            other => anyhow::bail!("--triggers: `{other}` is neither `timer` nor `frame`"),
        };
        for &rate in &rates {
            all.push(
                bench_loop(rate, seconds, trigger)
                    .map_err(|e| anyhow::anyhow!("bench loop at {rate} Hz ({t}): {e}"))?,
            );
        }
    }
    if json {
        return crate::cmd::print_json(&all);
    }
    outln!(
        "{:>7} {:>8} {:>10} {:>8} {:>7} {:>13} {:>13} {:>12} {:>14} {:>12}",
        "trigger",
        "rate Hz",
        "period us",
        "ticks",
        "misses",
        "jitter p50 us",
        "jitter p99 us",
        "p99/period",
        "latency p99 us",
        "p99/period"
    );
    for b in &all {
        outln!(
            "{:>7} {:>8.0} {:>10.0} {:>8} {:>7} {:>13.0} {:>13.0} {:>12.3} {:>14.0} {:>12.3}",
            format!("{:?}", b.trigger).to_lowercase(),
            b.rate_hz,
            b.period_us,
            b.ticks,
            b.misses,
            b.jitter.p50_us,
            b.jitter.p99_us,
            b.jitter_p99_per_period,
            b.latency.p99_us,
            b.latency_p99_per_period
        );
    }
    Ok(())
}
