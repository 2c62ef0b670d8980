//! `umwelt bench train`: the optimiser step of each shipped model, phase by
//! phase, beside the sgemm peak.

use std::path::PathBuf;

use umwelt_models::world_model::TrainEngine;

use umwelt_runtime::bench::{
    TrainBenchOptions, TrainBenchReport, bench_train, shipped_checkpoints,
};

/// Flags of `umwelt bench train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A checkpoint to time (repeatable). Default: every shipped model in
    /// models/checkpoints/.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
    /// Optimiser steps timed per model.
    #[arg(long, default_value_t = 50, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_000_000))]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 5, value_parser = umwelt_runtime::cli::args::count::<usize>(0, 1_000_000))]
    warmup: usize,
    /// Threads of the all-core sgemm baseline (default: the cores this
    /// process may run on).
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_THREADS))]
    threads: Option<usize>,
    /// Training threads to time each model's step on, comma-separated
    /// (default: 1 and the cores this process may run on).
    #[arg(long, value_delimiter = ',', value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_THREADS))]
    train_threads: Vec<usize>,
    /// Training engines to time, comma-separated: `burn` (burn's autodiff
    /// and optimiser), `fused` (the hand-written step).
    /// Default: both.
    #[arg(long = "engine", value_delimiter = ',', value_parser = umwelt_runtime::cli::args::train_engine)]
    engines: Vec<TrainEngine>,
    /// Seconds each sgemm baseline runs.
    #[arg(long = "duration", value_name = "SECONDS", default_value_t = 1.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    seconds: f64,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench train` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let checkpoints = if args.checkpoints.is_empty() {
        shipped_checkpoints(std::path::Path::new("models/checkpoints"))
            .map_err(|e| anyhow::anyhow!("bench train: {e}"))?
    } else {
        args.checkpoints
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut train_threads = args.train_threads;
    if train_threads.is_empty() {
        train_threads.push(1);
        if threads > 1 {
            train_threads.push(threads);
        }
    }
    let engines = if args.engines.is_empty() {
        vec![TrainEngine::Burn, TrainEngine::Fused]
    } else {
        args.engines
    };
    let r = bench_train(&TrainBenchOptions {
        checkpoints,
        train_threads,
        engines,
        steps: args.steps,
        warmup: args.warmup,
        threads,
        sgemm_seconds: args.seconds,
    })
    .map_err(|e| anyhow::anyhow!("bench train: {e}"))?;
    if args.json {
        return crate::cmd::print_json(&r);
    }
    print(&r)
}

/// Prints what `umwelt bench train` measured, for people.
fn print(r: &TrainBenchReport) -> anyhow::Result<()> {
    for m in &r.models {
        let c = &m.model;
        outln!(
            "{} ({}), {} engine, {} training thread(s): obs {}, act {}, latent {}, hidden {} x {} (heads {}), \
             {} Q heads; batch {} x horizon {}: {:.3} GFLOP per update (forward {:.3}, backward {:.3})",
            m.robot,
            m.checkpoint,
            m.engine.name(),
            m.train_threads,
            c.obs_dim,
            c.act_dim,
            c.latent_dim,
            c.hidden,
            c.hidden_layers,
            c.head_layers,
            c.num_q,
            m.batch_size,
            m.horizon,
            m.forward_gflop + m.backward_gflop,
            m.forward_gflop,
            m.backward_gflop
        );
        outln!(
            "  sgemm {} x {} x {}: {:.1} GFLOP/s on 1 thread, {:.1} on {}",
            m.horizon * m.batch_size,
            c.hidden,
            c.hidden,
            m.sgemm_1_thread,
            m.sgemm_all,
            m.threads
        );
        outln!(
            "  {:<10} {:>8} {:>7} {:>8} {:>10} {:>10}",
            "phase",
            "ms p50",
            "share",
            "GFLOP/s",
            "/ 1 thread",
            format!("/ {} threads", m.threads)
        );
        for p in &m.phases {
            let pct = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{:.1}%", v * 100.0));
            outln!(
                "  {:<10} {:>8.3} {:>6.1}% {:>8} {:>10} {:>10}",
                p.phase,
                p.ms_p50,
                p.share * 100.0,
                p.gflops.map_or_else(String::new, |g| format!("{g:.1}")),
                pct(p.of_peak_1_thread),
                pct(p.of_peak_all)
            );
        }
        outln!("  {:.1} updates/s over {} steps", m.updates_per_s, m.steps);
    }
    if let Some(load) = r.load_average {
        outln!("load average {load:.2}: other work lowers these figures");
    }
    Ok(())
}
