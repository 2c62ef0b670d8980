//! `umwelt bench`: performance figures as ratios against same-run baselines.

use umwelt_runtime::bench::{bench_loop, bench_sim, bench_wire};
use umwelt_runtime::control::config::Trigger;

/// Arguments of `umwelt bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Simulated physics steps per second of each robot on one thread, as a
    /// multiple of real time.
    Sim {
        /// Seconds to measure each robot for (whole episodes).
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Seed of the episodes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Control-loop jitter and frame-to-command latency with the `zero`
    /// controller against a simulator at the same rate, beside the period.
    Loop {
        /// Control rates to measure (Hz).
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        rates: Vec<f64>,
        /// Seconds per rate.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// What starts a tick: a fixed-rate timer, or each new frame.
        #[arg(long, value_delimiter = ',', default_value = "timer,frame")]
        triggers: Vec<String>,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Sensor-frame latency over zenoh on loopback (encode, publish, receive,
    /// decode, check), beside raw zenoh put-to-receive of the same size.
    Wire {
        /// Frames to send (as many raw messages are interleaved).
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Frames per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Sim {
            seconds,
            seed,
            json,
        } => {
            let results = bench_sim(seconds, seed)?;
            if json {
                return super::print_json(&results);
            }
            println!(
                "{:<10} {:<8} {:>9} {:>16} {:>12}",
                "robot", "task", "dt (s)", "physics steps/s", "x realtime"
            );
            for r in &results {
                println!(
                    "{:<10} {:<8} {:>9} {:>16.0} {:>12.0}",
                    r.robot, r.task, r.physics_dt, r.physics_steps_per_s, r.realtime_factor
                );
            }
            Ok(())
        }
        What::Loop {
            rates,
            seconds,
            triggers,
            json,
        } => {
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
                return super::print_json(&all);
            }
            println!(
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
                println!(
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
        What::Wire {
            messages,
            rate,
            json,
        } => {
            let r = bench_wire(messages, rate)?;
            if json {
                return super::print_json(&r);
            }
            println!(
                "{} B messages at {} Hz over zenoh on loopback, {} each:",
                r.bytes, r.rate_hz, r.frame.samples
            );
            println!("{:<44} {:>9} {:>9} {:>9}", "", "p50 us", "p99 us", "max us");
            for (name, l) in [
                ("raw zenoh put -> receive", &r.raw),
                ("sensor frame encode -> decoded and checked", &r.frame),
            ] {
                println!(
                    "{name:<44} {:>9.1} {:>9.1} {:>9.1}",
                    l.p50_us, l.p99_us, l.max_us
                );
            }
            println!(
                "ratio frame/raw: p50 {:.2}, p99 {:.2}; frames lost {}",
                r.p50_ratio, r.p99_ratio, r.frames_lost
            );
            Ok(())
        }
    }
}
