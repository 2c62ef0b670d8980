//! `umwelt bench sim`: simulated physics steps per second of each robot
//! on one thread, as a multiple of real time.

use umwelt_runtime::bench::bench_sim;

/// Flags of `umwelt bench sim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to measure each robot for (whole episodes).
    #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 2.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    seconds: f64,
    /// Seed of the episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench sim` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        seconds,
        seed,
        json,
    } = args;
    let results = bench_sim(seconds, seed)?;
    if json {
        return crate::cmd::print_json(&results);
    }
    outln!(
        "{:<10} {:<8} {:>9} {:>16} {:>12}",
        "robot",
        "task",
        "dt (s)",
        "physics steps/s",
        "x realtime"
    );
    for r in &results {
        outln!(
            "{:<10} {:<8} {:>9} {:>16.0} {:>12.0}",
            r.robot,
            r.task,
            r.physics_dt,
            r.physics_steps_per_s,
            r.realtime_factor
        );
    }
    Ok(())
}
