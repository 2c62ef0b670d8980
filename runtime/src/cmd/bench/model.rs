//! `umwelt bench model`: world-model rollouts and training beside the sgemm
//! peak.

use umwelt_runtime::bench::{ModelBench, ModelBenchOptions, bench_model};

use super::{MAX_HORIZON, MAX_SAMPLES};

/// Flags of `umwelt bench model`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Robot whose observation and action sizes the model gets.
    #[arg(long, default_value = "cartpole")]
    robot: String,
    /// Samples per rollout (the planner's batch).
    #[arg(long, default_value_t = 512, value_parser = umwelt_runtime::cli::args::count::<usize>(1, MAX_SAMPLES))]
    samples: usize,
    /// Horizon: steps per rollout.
    #[arg(long, default_value_t = 5, value_parser = umwelt_runtime::cli::args::count::<usize>(1, MAX_HORIZON))]
    horizon: usize,
    /// Threads of the rollout engine and of the sgemm baseline.
    #[arg(long, default_value_t = 2, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_THREADS))]
    threads: usize,
    /// Seconds to time each rollout variant for.
    #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 2.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    seconds: f64,
    /// Training steps to time.
    #[arg(long, default_value_t = 20, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_000_000))]
    train_steps: usize,
    /// Training batch size (default: the training default).
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_BATCH))]
    train_batch: Option<usize>,
    /// Latent size (default: the model default).
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_WIDTH))]
    latent: Option<usize>,
    /// Hidden layer width (default: the model default).
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_WIDTH))]
    hidden: Option<usize>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench model` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        robot,
        samples,
        horizon,
        threads,
        seconds,
        train_steps,
        train_batch,
        latent,
        hidden,
        json,
    } = args;
    let r = bench_model(&ModelBenchOptions {
        robot,
        samples,
        horizon,
        threads,
        seconds,
        train_steps,
        train_batch,
        latent,
        hidden,
    })
    .map_err(|e| anyhow::anyhow!("bench model: {e}"))?;
    if json {
        return crate::cmd::print_json(&r);
    }
    print(&r)
}

/// Prints what `umwelt bench model` measured, for people.
fn print(r: &ModelBench) -> anyhow::Result<()> {
    let m = &r.model;
    outln!(
        "{} model: obs {}, act {}, latent {}, hidden {} x {} (heads {}){}; {} samples x {} steps \
         = {:.3} GFLOP per rollout (tiles of {} rows)",
        r.robot,
        m.obs_dim,
        m.act_dim,
        m.latent_dim,
        m.hidden,
        m.hidden_layers,
        m.head_layers,
        if m.layer_norm { ", LayerNorm" } else { "" },
        r.samples,
        r.horizon,
        r.flops_per_rollout / 1e9,
        r.tile_rows
    );
    outln!(
        "{:<30} {:>5} {:>5} {:>5} {:>8} {:>8}",
        "sgemm (gemm crate)",
        "m",
        "k",
        "n",
        "threads",
        "GFLOP/s"
    );
    for g in &r.sgemm {
        outln!(
            "{:<30} {:>5} {:>5} {:>5} {:>8} {:>8.1}",
            g.shape,
            g.m,
            g.k,
            g.n,
            g.threads,
            g.gflops
        );
    }
    outln!(
        "{:<8} {:>8} {:>16} {:>9} {:>9} {:>8} {:>11}",
        "rollout",
        "threads",
        "sample-steps/s",
        "p50 ms",
        "p99 ms",
        "GFLOP/s",
        "/ sgemm"
    );
    for b in [&r.rollout, &r.rollout_1_thread, &r.burn] {
        outln!(
            "{:<8} {:>8} {:>16.0} {:>9.3} {:>9.3} {:>8.1} {:>11.2}",
            b.path,
            b.threads,
            b.sample_steps_per_s,
            b.ms_p50,
            b.ms_p99,
            b.gflops,
            b.fraction_of_sgemm
        );
    }
    outln!(
        "engine vs burn: {:.1}x faster; policy-prior rollout p50 {:.3} ms",
        r.speedup_over_burn,
        r.policy_rollout_ms_p50
    );
    outln!(
        "hand-off to worker threads and back: {:.1} us back to back, {:.1} us after they \
         slept (spawning scoped threads instead: {:.1} us)",
        r.worker_round_trip_us,
        r.worker_round_trip_cold_us,
        r.scoped_spawn_us
    );
    outln!(
        "training: {:.1} steps/s ({:.1} ms per step, batch {}, horizon {})",
        r.train.steps_per_s,
        r.train.ms_per_step,
        r.train.batch_size,
        r.train.horizon
    );
    if let Some(load) = r.load_average {
        outln!(
            "load average {load:.2} on {} cores: other work lowers these figures",
            cores()
        );
    }
    Ok(())
}

/// Cores this process may run on.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
