//! `umwelt bench`: performance figures as ratios against same-run baselines.

use umwelt_runtime::bench::bench_sim;

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
    }
}
