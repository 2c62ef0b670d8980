//! `umwelt`: the command-line front of the umwelt robot runtime.

mod cmd;

// burn's eager CPU backend allocates every intermediate tensor; glibc mmaps
// every block over 128 KiB, so every op page-faults: measured 23.7 -> 13.4
// ms per rollout with mimalloc (2-vCPU AMD EPYC). mimalloc keeps freed
// blocks for reuse, and its small allocations are cheap for the gemm
// crate's per-call buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// umwelt drives robots with a learned world model: sensor frames in over
/// zenoh, latent model-predictive control, motor commands out.
///
/// Simulated robots (rapier3d) stand in for hardware in tests and
/// evaluations. Run `umwelt envs` to see them.
///
/// A flag means the same in every command: --config is a controller config
/// (run, eval), --robot-config a robot description (rollout, collect, sim,
/// learn), --duration seconds, --seed the seed of the first episode, --out
/// where results go. Old spellings (--config for a robot description,
/// bench's --seconds, run's --episode-seed) still work, with a note.
#[derive(Parser, Debug)]
#[command(name = "umwelt", version, about, long_about)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `umwelt_runtime=trace` (or set RUST_LOG).
    #[arg(
        long,
        global = true,
        default_value = "warn,zenoh::net::runtime::orchestrator=error"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the simulated robots and their tasks, with observation and action specs.
    Envs(cmd::envs::Args),
    /// Robot descriptions without physics: `describe` a built-in robot,
    /// `check` a description of your own.
    Robot(cmd::robot::Args),
    /// Run episodes of a simulated robot headless under a simple policy and
    /// report return, length, success and simulation speed.
    Rollout(cmd::rollout::Args),
    /// Run episodes of a simulated robot under a simple policy and append
    /// them to a dataset directory on disk (for training world models).
    Collect(cmd::collect::Args),
    /// Look into a dataset (`info`) and write it as a LeRobotDataset v3.0
    /// (`export --format lerobot`); `collect --from-lerobot` reads one back.
    Dataset(cmd::dataset::Args),
    /// Train a world model on a dataset of episodes (from `umwelt collect`)
    /// and save it as a checkpoint; report its multi-step prediction error
    /// on held-out episodes against a constant-state baseline.
    ///
    /// The model is TD-MPC2-style: encoder, latent dynamics, reward, Q
    /// ensemble, policy prior, inverse dynamics and an observation decoder,
    /// trained jointly over a horizon of H steps (Adam, seeded). A seeded
    /// share of the episodes (--val-fraction, at least one) is held out:
    /// validation losses are measured on fixed batches of them every
    /// --eval-every steps, and at the end the model's open-loop 1-, 5- and
    /// 10-step predictions of the held-out observations (encode o[t], roll
    /// the dynamics under the logged actions, decode) are compared with
    /// the constant-state baseline o[t+k] = o[t].
    ///
    /// The checkpoint holds weights, normalisation, robot/task spec, the
    /// training summary and that report (`umwelt model info FILE`). It is
    /// written atomically (temporary file, then rename) every --save-every
    /// steps and at the end, and never replaces an existing file unless it
    /// is the --resume checkpoint or --force is given. Adam's state goes
    /// beside it in FILE.adam, so that --resume FILE continues the run
    /// exactly. Ctrl-C stops after the current step and saves.
    Train(cmd::train::Args),
    /// Inspect world-model checkpoints (`umwelt model info FILE`).
    Model(cmd::model::Args),
    /// Learn a world model by planning with it: seed episodes, then collect
    /// with the MPC planner, train, evaluate and checkpoint, round after
    /// round (resumable; learning curve as CSV and SVG); at the end, ship
    /// as final.uwwm the checkpoint best on held-out seeds.
    // Boxed: its many options would make every command's value large.
    Learn(Box<cmd::learn::Args>),
    /// Evaluate a controller config headless: episodes in lockstep and
    /// in-process, several at a time, with a report (eval.json,
    /// episodes.csv) and figures, optionally beside random and oracle
    /// baselines.
    Eval(cmd::eval::Args),
    /// Run the control loop against whatever serves the robot's topics
    /// (a hardware driver or `umwelt sim`).
    Run(cmd::run::Args),
    /// Start several nodes together (e.g. simulator + controller) from a
    /// launch file; Ctrl-C stops them all cleanly.
    Launch(cmd::launch::Args),
    /// Serve a simulated robot over zenoh, as a hardware driver would
    /// (real-time paced, or lockstep for deterministic tests).
    Sim(cmd::sim::Args),
    /// Create a deployment's CA, one certificate and private key per node
    /// (common name = node name) and each node's zenoh config for the
    /// secure profile: mutual TLS, and access rules on who may put where
    /// (configs/zenoh/secure/README.md). Use a node's config with
    /// `--zenoh-config`.
    Keys(cmd::keys::Args),
    /// Inspect zenoh traffic: list keys, echo decoded messages, measure rates.
    Topic(cmd::topic::Args),
    /// Engage a robot's emergency stop (on umwelt/<robot>/estop, which any
    /// node may use), or release it with --release (on umwelt/<robot>/admin,
    /// the only key where a release is honoured).
    Estop(cmd::operator::EstopArgs),
    /// Ask a robot's driver to start a new episode (on umwelt/<robot>/admin),
    /// with --seed or the driver's next seed.
    Reset(cmd::operator::ResetArgs),
    /// Capture zenoh traffic into an MCAP file: every message on the keys
    /// (default `umwelt/**`) exactly as it travelled, malformed ones
    /// included, with its arrival time; Ctrl-C stops and closes the file.
    ///
    /// One MCAP channel per key (message encoding `umwelt/2`, the wire
    /// protocol of docs/PROTOCOL.md), so MCAP tools such as Foxglove can
    /// index it. Chunks are closed every second: a recorder that is killed
    /// loses at most the last second, and the rest still replays.
    Record(cmd::record::Args),
    /// Play an MCAP recording (from `umwelt record`) back onto zenoh at its
    /// recorded pace (or --speed, --fast), or look into it (--info,
    /// --print).
    ///
    /// Messages go out byte for byte on the keys they were recorded on.
    /// Recorded motor commands keep their original deadlines, which have
    /// passed, so a driver that follows the protocol ignores them, and
    /// estop and reset messages are withheld unless --control: a replay
    /// cannot move, release or reset a robot. To see what a controller
    /// makes of recorded sensor data, replay only the frames: `--key
    /// 'umwelt/*/sensors'`.
    Replay(cmd::replay::Args),
    /// Measure performance as ratios against baselines measured in the same run.
    Bench(cmd::bench::Args),
}

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    for note in cmd::deprecated::notes(&Cli::command(), &matches, &raw) {
        eprintln!("{note}");
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for people: not in logs written to files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Envs(a) => cmd::envs::run(a),
        Command::Robot(a) => cmd::robot::run(a),
        Command::Rollout(a) => cmd::rollout::run(a),
        Command::Collect(a) => cmd::collect::run(a),
        Command::Dataset(a) => cmd::dataset::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Model(a) => cmd::model::run(a),
        Command::Learn(a) => cmd::learn::run(*a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Sim(a) => cmd::sim::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Launch(a) => cmd::launch::run(a),
        Command::Keys(a) => cmd::keys::run(a),
        Command::Topic(a) => cmd::topic::run(a),
        Command::Estop(a) => cmd::operator::estop(a),
        Command::Reset(a) => cmd::operator::reset(a),
        Command::Record(a) => cmd::record::run(a),
        Command::Replay(a) => cmd::replay::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of our output went away (`umwelt envs | head -1`):
        // nothing is wrong, and there is no one left to tell.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_message(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes as one message, each cause once: many error
/// types already print their source in their own message (`cannot read
/// FILE: No such file...`) and also return it from `source()`, so anyhow's
/// `{:#}` would repeat it. A cause whose text the message already holds is
/// left out.
fn one_message(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Whether `e` comes from writing to a closed pipe (stdout's reader exited).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}
