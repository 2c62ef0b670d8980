//! `umwelt bench`: performance figures as ratios against same-run baselines.
//! One module per benchmark, each a thin adapter: its flags, the call into
//! [`umwelt_runtime::bench`], and the printout.

mod control_loop;
mod model;
mod plan;
mod record;
mod render;
mod sim;
mod train;
mod wire;

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
    Sim(sim::Args),
    /// Camera speed: RGB frames per second of each robot's default camera
    /// on one thread at 64x64 and 84x84, beside env steps per second
    /// measured in the same run and as a multiple of the control rate;
    /// `--frames DIR` also writes each robot's first frame as PNG.
    Render(render::Args),
    /// Control-loop jitter and frame-to-command latency with the `zero`
    /// controller against a simulator at the same rate, beside the period.
    Loop(control_loop::Args),
    /// Sensor-frame latency over zenoh on loopback (encode, publish, receive,
    /// decode, check), beside raw zenoh put-to-receive of the same size.
    Wire(wire::Args),
    /// Recording speed: `umwelt record`'s writer (MCAP, zstd, index, synced)
    /// on real arm sensor frames, beside writing the same bytes to a plain
    /// file in the same run; and reading the recording back.
    Record(record::Args),
    /// Planning speed: the MPC planner's time per decision over the learned
    /// model at its full budget (every iteration), and its GFLOP/s beside
    /// the sgemm peak on as many threads, measured in the same run. Blocks
    /// of plans alternate with blocks of a fixed sgemm job of about a
    /// plan's length on as many threads: its p99/p50 is the machine's own
    /// tail, beside the plans'. Then as many plans paced one per
    /// `--period-ms`, as the control loop plans.
    Plan(plan::Args),
    /// World-model speed: sgemm peak of the `gemm` crate, rollouts of the
    /// hand-written inference engine (samples x horizon latent steps, as a
    /// planner runs them) beside burn's, and training steps per second.
    Model(model::Args),
    /// Training speed: one optimiser step of each shipped model (its sizes,
    /// batch and horizon), phase by phase (batch, forward, backward, Adam,
    /// target heads), and the passes' matrix-product GFLOP/s beside the
    /// sgemm peak of the step's widest layer on one thread and on every
    /// core, measured in the same run.
    Train(train::Args),
}

/// The most planner samples `--samples` takes (as `controller.planner.samples`).
const MAX_SAMPLES: u64 = umwelt_runtime::plan::MAX_SAMPLES as u64;
/// The longest `--horizon` (as `controller.planner.horizon`).
const MAX_HORIZON: u64 = umwelt_runtime::plan::MAX_HORIZON as u64;
/// The most `--iterations` (as `controller.planner.iterations`).
const MAX_ITERATIONS: u64 = umwelt_runtime::plan::MAX_ITERATIONS as u64;

/// Runs the benchmark asked for.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Sim(a) => sim::run(a),
        What::Render(a) => render::run(a),
        What::Loop(a) => control_loop::run(a),
        What::Wire(a) => wire::run(a),
        What::Record(a) => record::run(a),
        What::Plan(a) => plan::run(a),
        What::Model(a) => model::run(a),
        What::Train(a) => train::run(a),
    }
}
