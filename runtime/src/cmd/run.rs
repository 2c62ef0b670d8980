//! `umwelt run`: the control loop.

use std::path::PathBuf;

use umwelt_runtime::control::{self, RunConfig, run_loop};
use umwelt_runtime::nodes::transport::ZenohArgs;

/// Arguments of `umwelt run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Controller config (TOML), e.g. configs/cartpole_swingup.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    duration: Option<f64>,
    /// Print the loop summary as one JSON document on stdout when stopping.
    #[arg(long)]
    json: bool,
    /// What starts a tick, overriding the config: `lockstep` answers every
    /// frame of a `umwelt sim --lockstep` simulator however late (it
    /// waits), `frame` answers every frame of a real-time driver while it
    /// is fresh, `timer` runs at the fixed rate.
    #[arg(long, value_enum)]
    trigger: Option<TriggerArg>,
    /// Reseed the controller with this plus the episode index whenever the
    /// simulator starts an episode (its frames' `episode` channel), so that
    /// a lockstep run repeats `umwelt eval --seed` exactly (once spelt
    /// `--episode-seed`, still accepted).
    #[arg(long = "seed", alias = "episode-seed", value_name = "SEED")]
    episode_seed: Option<u64>,
    /// Print a one-line live status every telemetry period on stderr.
    #[arg(long)]
    status: bool,
    /// Add the planner's exploration noise to every planned action (an MPC
    /// controller only; as `[controller.planner] explore = true`): to
    /// collect data with `umwelt record` for `collect --from-recording`.
    /// The noisy action is clamped to the command limits and passes the
    /// safety layer like any other.
    #[arg(long)]
    explore: bool,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// `--trigger`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum TriggerArg {
    /// Each new frame starts a tick; frames the loop reaches too late get
    /// the safe action.
    Frame,
    /// Each new frame of a lockstep simulator starts a tick and is answered
    /// by the controller however late.
    Lockstep,
    /// Ticks at the fixed rate.
    Timer,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut resolved = RunConfig::load(&args.config)?;
    match args.trigger {
        Some(TriggerArg::Frame) => resolved.config.trigger = control::config::Trigger::Frame,
        Some(TriggerArg::Timer) => resolved.config.trigger = control::config::Trigger::Timer,
        Some(TriggerArg::Lockstep) => resolved.config.trigger = control::config::Trigger::Lockstep,
        None => {}
    }
    if args.explore {
        match &mut resolved.config.controller {
            control::config::ControllerConfig::Mpc(c) => c.planner.explore = true,
            _ => anyhow::bail!(
                "{}: --explore adds a planner's exploration noise; this controller is not an MPC planner",
                args.config.display()
            ),
        }
    }
    let mut controller = control::build(&resolved)?;
    control::check_rate(&resolved, controller.as_mut())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    quiet_repeated_controller_panics();
    let stop = super::stop_flag()?;
    let (robot, task, hz, name) = (
        resolved.config.robot.clone(),
        resolved.config.task.clone(),
        1.0 / resolved.period,
        controller.name().to_string(),
    );
    let opts = control::run_loop::LoopOptions {
        duration: args
            .duration
            .map(|s| super::duration("--duration", s))
            .transpose()?,
        zenoh: args.zenoh,
        episode_seed: args.episode_seed,
        print_status: args.status,
    };
    let ready = || {
        eprintln!(
            "umwelt run: {robot}/{task} control loop running at {hz:.0} Hz with `{name}`; Ctrl-C stops"
        )
    };
    let s = run_loop(resolved, controller, &opts, &stop, &ready)?;
    if args.json {
        return super::print_json(&s);
    }
    eprintln!(
        "umwelt run: {} ticks, {} misses; jitter p50 {:.0} us, p99 {:.0} us, max {:.0} us (period {:.0} us); latency p99 {:.0} us; {} safe ticks; interventions: {}; {} frames; dropped {:?}",
        s.ticks,
        s.misses,
        s.jitter.p50_us,
        s.jitter.p99_us,
        s.jitter.max_us,
        s.period_us,
        s.latency.p99_us,
        s.safe_ticks,
        s.interventions,
        s.frames_received,
        s.dropped
    );
    for (i, e) in s
        .episodes
        .iter()
        .chain(std::iter::once(&s.current_episode))
        .enumerate()
    {
        if e.frames > 0 {
            eprintln!(
                "  episode {i}: return {:.1} over {} frames, success {}",
                e.episode_return, e.frames, e.success
            );
        }
    }
    Ok(())
}

/// A panicking controller would print Rust's panic message every tick; the
/// loop already counts each panic and reports it on `status`. Keep the first
/// message of the control thread and then at most one a second.
fn quiet_repeated_controller_panics() {
    use std::sync::Mutex;
    use std::time::Instant;
    let default = std::panic::take_hook();
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("umwelt-control")
            && let Ok(mut last) = last.lock()
        {
            if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
                return;
            }
            *last = Some(Instant::now());
        }
        default(info);
    }));
}
