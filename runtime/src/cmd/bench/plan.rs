//! `umwelt bench plan`: the planner's time per decision beside the sgemm
//! peak and the machine's own tail.

use umwelt_runtime::bench::{PlanBench, PlanBenchOptions, bench_plan};

use super::{MAX_HORIZON, MAX_ITERATIONS, MAX_SAMPLES};

/// Flags of `umwelt bench plan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Robot whose sizes the model gets.
    #[arg(long, default_value = "cartpole")]
    robot: String,
    /// Plan with this checkpoint's model (default: a random one of the
    /// default sizes; speed does not depend on the weights).
    #[arg(long)]
    checkpoint: Option<std::path::PathBuf>,
    /// Samples per iteration.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, MAX_SAMPLES))]
    samples: Option<usize>,
    /// Iterations per plan.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, MAX_ITERATIONS))]
    iterations: Option<usize>,
    /// Planning horizon.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, MAX_HORIZON))]
    horizon: Option<usize>,
    /// Hidden layer width of the random model.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_WIDTH))]
    hidden: Option<usize>,
    /// Rollout threads.
    #[arg(long, default_value_t = 2, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_THREADS))]
    threads: usize,
    /// Plans to time back to back, and as many paced.
    #[arg(long, default_value_t = 500, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 10_000_000))]
    plans: usize,
    /// Also time plans started one per this many milliseconds, as the
    /// control loop plans (10: cart-pole's 100 Hz); 0 skips them.
    #[arg(long, default_value_t = 10.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::milliseconds_or_zero))]
    period_ms: f64,
    /// Where the rollout workers run, as `controller.workers` says:
    /// `spread` (each on a CPU of its own), `float` (where the OS puts
    /// them) or CPUs separated by commas (`1` or `2,3`).
    #[arg(long, default_value = "spread")]
    workers: umwelt_models::world_model::WorkerPlacement,
    /// How the model multiplies its wide layers, as
    /// `controller.precision` says: `bf16` (its default: bfloat16
    /// inputs and weights, f32 sums; twice the multiply-adds per
    /// instruction where the CPU has AVX512-BF16) or `f32`.
    #[arg(long, default_value = "bf16")]
    precision: umwelt_models::world_model::Precision,
    /// What the random model sees: `pixels` or `both` put the
    /// convolutional encoder of the robot's first camera (64x64 RGB, 3
    /// frames) in every plan, its images rendered each time; a
    /// checkpoint's own config wins [default: state].
    #[arg(long, value_enum, default_value = "state")]
    obs: umwelt_runtime::offline::learn::ObsMode,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench plan` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        robot,
        checkpoint,
        samples,
        iterations,
        horizon,
        hidden,
        threads,
        plans,
        period_ms,
        workers,
        precision,
        obs,
        json,
    } = args;
    let mut planner = umwelt_runtime::plan::PlannerConfig::default();
    if let Some(v) = samples {
        planner.samples = v;
        planner.elites = planner.elites.min(v);
        planner.policy_samples = planner.policy_samples.min(v.saturating_sub(1));
    }
    if let Some(v) = iterations {
        planner.iterations = v;
        planner.min_iterations = planner.min_iterations.min(v);
    }
    if let Some(v) = horizon {
        planner.horizon = v;
    }
    let mut model = umwelt_models::world_model::WorldModelConfig::default();
    if let Some(h) = hidden {
        model.hidden = h;
    }
    let r = bench_plan(&PlanBenchOptions {
        robot,
        checkpoint,
        planner,
        model,
        threads,
        plans: plans.max(1),
        period: (period_ms > 0.0)
            .then(|| crate::cmd::duration("--period-ms", period_ms / 1e3))
            .transpose()?,
        workers,
        precision,
        obs,
    })
    .map_err(|e| anyhow::anyhow!("bench plan: {e}"))?;
    if json {
        return crate::cmd::print_json(&r);
    }
    print(&r)
}

/// Prints what `umwelt bench plan` measured, for people.
fn print(r: &PlanBench) -> anyhow::Result<()> {
    let p = &r.planner;
    outln!(
        "{}/{} ({}: latent {}, hidden {}): {} samples x {} steps{} x {} iterations = {} latent sample-steps per plan ({} policy-prior samples), {:.3} GFLOP, {} threads",
        r.robot,
        r.task,
        r.model_source,
        r.model.latent_dim,
        r.model.hidden,
        p.samples,
        p.horizon,
        if p.action_repeat > 1 {
            format!(" of {} control steps each", p.action_repeat)
        } else {
            String::new()
        },
        p.iterations,
        r.sample_steps,
        p.policy_samples,
        r.flops_per_plan / 1e9,
        r.threads
    );
    {
        use umwelt_models::world_model::{Bf16Kernel, Precision};
        outln!(
            "wide layers multiplied in {}{}",
            r.precision,
            match (r.precision, r.bf16_native, r.bf16_kernel) {
                (Precision::F32, ..) => "",
                (_, _, Bf16Kernel::Dpbf16) => " with vdpbf16ps",
                (_, false, _) => {
                    " (no bfloat16 instructions on this CPU: the f32 kernels compute the same bits)"
                }
                (_, true, Bf16Kernel::F32) => {
                    " (vdpbf16ps timed slower than the f32 kernels on this CPU: they compute the same bits)"
                }
            }
        );
    }
    if !r.worker_cpus.is_empty() {
        let at: Vec<String> = r
            .worker_cpus
            .iter()
            .map(|c| c.map_or("floating".to_string(), |c| format!("CPU {c}")))
            .collect();
        outln!("rollout workers: {}", at.join(", "));
    }
    if let Some(e) = &r.encoder {
        outln!(
            "pixel encoder (camera `{}`, {}x{}, {} frames, {:.1} M multiply-adds), timed on its own: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; the plan times below include it",
            e.camera,
            e.image[0],
            e.image[1],
            e.frames,
            e.macs / 1e6,
            e.ms_p50,
            e.ms_p99,
            e.ms_max
        );
    }
    outln!(
        "plan time over {} plans: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({:.0} plans/s)",
        r.plans,
        r.ms_p50,
        r.ms_p99,
        r.ms_max,
        r.plans_per_s
    );
    outln!(
        "{:.1} GFLOP/s = {:.2} of this run's sgemm peak ({:.1} GFLOP/s on {} threads)",
        r.gflops,
        r.fraction_of_sgemm,
        r.sgemm_gflops,
        r.threads
    );
    let j = &r.reference;
    outln!(
        "tail: plan p99/p50 {:.2}; a fixed job in blocks between the plans' ({} sgemm {}x{}x{} on {} threads, the same work every time): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, p99/p50 {:.2} (the machine's own tail)",
        r.tail,
        j.calls,
        j.shape[0],
        j.shape[1],
        j.shape[2],
        j.threads,
        j.ms_p50,
        j.ms_p99,
        j.ms_max,
        j.tail
    );
    if let Some(p) = &r.paced {
        outln!(
            "paced, one plan every {} ms as the control loop plans: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p.period_ms,
            p.ms_p50,
            p.ms_p99,
            p.ms_max
        );
    }
    Ok(())
}
