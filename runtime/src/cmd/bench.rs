//! `umwelt bench`: performance figures as ratios against same-run baselines.

use umwelt_runtime::bench::{
    ModelBenchOptions, RecordBenchOptions, bench_loop, bench_model, bench_record, bench_sim,
    bench_wire,
};
use umwelt_runtime::control::config::Trigger;
use umwelt_runtime::secure::bench::{bench_wire_secure, bench_wire_transports};

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
        #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 2.0, value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::seconds))]
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
        #[arg(long, value_delimiter = ',', default_value = "100,1000", value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::positive_hz))]
        rates: Vec<f64>,
        /// Seconds per rate.
        #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 5.0, value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::seconds))]
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
        #[arg(long, default_value_t = 2000, value_parser = umwelt_runtime::args::count::<usize>(1, 10_000_000))]
        messages: usize,
        /// Frames per second.
        #[arg(long, default_value_t = 1000.0, value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::positive_hz))]
        rate: f64,
        /// Which link: plain TCP (the default profile), the secure profile
        /// (mutual TLS and access rules, throw-away certificates) over QUIC
        /// or over TLS on TCP, or all three at once with ratios to TCP.
        #[arg(long, value_enum, default_value_t = WireTransport::Tcp)]
        transport: WireTransport,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Recording speed: `umwelt record`'s writer (MCAP, zstd, index, synced)
    /// on real arm sensor frames, beside writing the same bytes to a plain
    /// file in the same run; and reading the recording back.
    Record {
        /// Frames to record.
        #[arg(long, default_value_t = 20_000, value_parser = umwelt_runtime::args::count::<usize>(1, 10_000_000))]
        messages: usize,
        /// Add a WIDTHxHEIGHT RGB image of random bytes to every frame
        /// (incompressible: the worst case), e.g. 320x240.
        #[arg(long, value_name = "WxH", value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::image_size))]
        image: Option<(u16, u16)>,
        /// Folder for the files written (removed at the end).
        #[arg(long, default_value_os_t = std::env::temp_dir().join("umwelt-bench-record"))]
        dir: std::path::PathBuf,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Planning speed: the MPC planner's time per decision over the learned
    /// model at its full budget (every iteration), and its GFLOP/s beside
    /// the sgemm peak on as many threads, measured in the same run. Blocks
    /// of plans alternate with blocks of a fixed sgemm job of about a
    /// plan's length on as many threads: its p99/p50 is the machine's own
    /// tail, beside the plans'. Then as many plans paced one per
    /// `--period-ms`, as the control loop plans.
    Plan {
        /// Robot whose sizes the model gets.
        #[arg(long, default_value = "cartpole")]
        robot: String,
        /// Plan with this checkpoint's model (default: a random one of the
        /// default sizes; speed does not depend on the weights).
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        /// Samples per iteration.
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, MAX_SAMPLES))]
        samples: Option<usize>,
        /// Iterations per plan.
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, MAX_ITERATIONS))]
        iterations: Option<usize>,
        /// Planning horizon.
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, MAX_HORIZON))]
        horizon: Option<usize>,
        /// Hidden layer width of the random model.
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, umwelt_runtime::args::MAX_CLI_WIDTH))]
        hidden: Option<usize>,
        /// Rollout threads.
        #[arg(long, default_value_t = 2, value_parser = umwelt_runtime::args::count::<usize>(1, umwelt_runtime::args::MAX_THREADS))]
        threads: usize,
        /// Plans to time back to back, and as many paced.
        #[arg(long, default_value_t = 500, value_parser = umwelt_runtime::args::count::<usize>(1, 10_000_000))]
        plans: usize,
        /// Also time plans started one per this many milliseconds, as the
        /// control loop plans (10: cart-pole's 100 Hz); 0 skips them.
        #[arg(long, default_value_t = 10.0, value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::milliseconds_or_zero))]
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
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// World-model speed: sgemm peak of the `gemm` crate, rollouts of the
    /// hand-written inference engine (samples x horizon latent steps, as a
    /// planner runs them) beside burn's, and training steps per second.
    Model {
        /// Robot whose observation and action sizes the model gets.
        #[arg(long, default_value = "cartpole")]
        robot: String,
        /// Samples per rollout (the planner's batch).
        #[arg(long, default_value_t = 512, value_parser = umwelt_runtime::args::count::<usize>(1, MAX_SAMPLES))]
        samples: usize,
        /// Horizon: steps per rollout.
        #[arg(long, default_value_t = 5, value_parser = umwelt_runtime::args::count::<usize>(1, MAX_HORIZON))]
        horizon: usize,
        /// Threads of the rollout engine and of the sgemm baseline.
        #[arg(long, default_value_t = 2, value_parser = umwelt_runtime::args::count::<usize>(1, umwelt_runtime::args::MAX_THREADS))]
        threads: usize,
        /// Seconds to time each rollout variant for.
        #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 2.0, value_parser = umwelt_runtime::args::flag(umwelt_runtime::args::seconds))]
        seconds: f64,
        /// Training steps to time.
        #[arg(long, default_value_t = 20, value_parser = umwelt_runtime::args::count::<usize>(1, 1_000_000))]
        train_steps: usize,
        /// Training batch size (default: the training default).
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, umwelt_runtime::args::MAX_CLI_BATCH))]
        train_batch: Option<usize>,
        /// Latent size (default: the model default).
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, umwelt_runtime::args::MAX_CLI_WIDTH))]
        latent: Option<usize>,
        /// Hidden layer width (default: the model default).
        #[arg(long, value_parser = umwelt_runtime::args::count::<usize>(1, umwelt_runtime::args::MAX_CLI_WIDTH))]
        hidden: Option<usize>,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// The most planner samples `--samples` takes (as `controller.planner.samples`).
const MAX_SAMPLES: u64 = umwelt_runtime::plan::MAX_SAMPLES as u64;
/// The longest `--horizon` (as `controller.planner.horizon`).
const MAX_HORIZON: u64 = umwelt_runtime::plan::MAX_HORIZON as u64;
/// The most `--iterations` (as `controller.planner.iterations`).
const MAX_ITERATIONS: u64 = umwelt_runtime::plan::MAX_ITERATIONS as u64;
/// The most image bytes `bench record` may hold in memory at once.
const MAX_RECORD_BENCH_BYTES: u64 = 8 << 30;

/// Cores this process may run on.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
        What::Wire {
            messages,
            rate,
            transport,
            json,
        } => match transport {
            WireTransport::All => {
                let r = bench_wire_transports(messages, rate)?;
                if json {
                    return super::print_json(&r);
                }
                print_wire(&r.tcp, "TCP")?;
                print_wire(&r.quic, "secure profile, QUIC")?;
                print_wire(&r.tls, "secure profile, TLS")?;
                outln!(
                    "ratio to TCP (sensor frames): QUIC p50 {:.2}, p99 {:.2}; TLS p50 {:.2}, p99 {:.2}",
                    r.quic_p50_ratio,
                    r.quic_p99_ratio,
                    r.tls_p50_ratio,
                    r.tls_p99_ratio
                );
                Ok(())
            }
            one => {
                let (r, link) = match one {
                    WireTransport::Quic => (
                        bench_wire_secure("quic", messages, rate)?,
                        "secure profile, QUIC",
                    ),
                    WireTransport::Tls => (
                        bench_wire_secure("tls", messages, rate)?,
                        "secure profile, TLS",
                    ),
                    _ => (bench_wire(messages, rate)?, "TCP"),
                };
                if json {
                    return super::print_json(&r);
                }
                print_wire(&r, link)
            }
        },
        What::Record {
            messages,
            image,
            dir,
            json,
        } => {
            if let Some((w, h)) = image {
                let bytes = messages as u64 * u64::from(w) * u64::from(h) * 3;
                anyhow::ensure!(
                    bytes <= MAX_RECORD_BENCH_BYTES,
                    "--messages {messages} with --image {w}x{h}: {bytes} bytes of images, more than the {MAX_RECORD_BENCH_BYTES} this benchmark holds in memory"
                );
            }
            let r = bench_record(&RecordBenchOptions {
                messages,
                image,
                dir,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                return super::print_json(&r);
            }
            outln!(
                "{} arm sensor frames of {} B (recorded, closed and synced):",
                r.messages,
                r.frame_bytes
            );
            outln!(
                "  umwelt record's writer  {:>10.0} frames/s  {:>8.1} MB/s  = {:.2} of a plain file's {:.1} MB/s",
                r.record_msgs_per_s,
                r.record_mb_per_s,
                r.record_vs_raw,
                r.raw_mb_per_s
            );
            outln!(
                "  file size {:.2} of the payload (zstd); read back {:.0} frames/s; the writer keeps up with {:.0} robots at 100 Hz",
                r.file_vs_payload,
                r.read_msgs_per_s,
                r.record_vs_100hz
            );
            Ok(())
        }
        What::Plan {
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
            json,
        } => {
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
            let r = umwelt_runtime::bench::bench_plan(&umwelt_runtime::bench::PlanBenchOptions {
                robot,
                checkpoint,
                planner,
                model,
                threads,
                plans: plans.max(1),
                period: (period_ms > 0.0)
                    .then(|| super::duration("--period-ms", period_ms / 1e3))
                    .transpose()?,
                workers,
                precision,
            })
            .map_err(|e| anyhow::anyhow!("bench plan: {e}"))?;
            if json {
                return super::print_json(&r);
            }
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
        What::Model {
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
        } => {
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
                return super::print_json(&r);
            }
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
    }
}

/// `umwelt bench wire --transport`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum WireTransport {
    /// Plain TCP (the default profile).
    Tcp,
    /// The secure profile over QUIC (its default).
    Quic,
    /// The secure profile over TLS on TCP.
    Tls,
    /// All three at once, with ratios to TCP.
    All,
}

/// Prints one wire benchmark over `link`.
fn print_wire(r: &umwelt_runtime::bench::WireBench, link: &str) -> anyhow::Result<()> {
    outln!(
        "{} B messages at {} Hz over zenoh on loopback ({link}), {} each:",
        r.bytes,
        r.rate_hz,
        r.frame.samples
    );
    outln!("{:<44} {:>9} {:>9} {:>9}", "", "p50 us", "p99 us", "max us");
    for (name, l) in [
        ("raw zenoh put -> receive", &r.raw),
        ("sensor frame encode -> decoded and checked", &r.frame),
    ] {
        outln!(
            "{name:<44} {:>9.1} {:>9.1} {:>9.1}",
            l.p50_us,
            l.p99_us,
            l.max_us
        );
    }
    outln!(
        "ratio frame/raw: p50 {:.2}, p99 {:.2}; frames lost {}",
        r.p50_ratio,
        r.p99_ratio,
        r.frames_lost
    );
    Ok(())
}
