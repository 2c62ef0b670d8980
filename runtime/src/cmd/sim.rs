//! `umwelt sim`: serve a simulated robot over zenoh.

use umwelt_runtime::nodes::sim_node::{SimNodeOptions, run_sim_node};
use umwelt_runtime::nodes::transport::ZenohArgs;

use super::duration;

/// Arguments of `umwelt sim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    env: super::EnvArgs,
    /// Control rate in Hz (frames published per second); must divide the
    /// physics rate. Default: the robot config's control period.
    #[arg(long, value_name = "HZ", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::positive_hz))]
    rate: Option<f64>,
    /// Advance one control step only when the command answering the last
    /// frame arrives: deterministic simulator-in-the-loop runs.
    #[arg(long)]
    lockstep: bool,
    /// In lockstep, seconds to wait for a command before sending the frame
    /// again (with a warning).
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    lockstep_timeout: f64,
    /// Seed of the first episode; episode i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    duration: Option<f64>,
    /// Stop after this many episodes.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<u32>(1, u64::from(u32::MAX)))]
    episodes: Option<u32>,
    /// Append every finished episode (observations, the actions applied,
    /// rewards) to this dataset directory (docs/DATASET.md).
    #[arg(long, value_name = "DIR")]
    record: Option<std::path::PathBuf>,
    /// Print the summary at exit as one JSON document on stdout.
    #[arg(long)]
    json: bool,
    /// The robot's name on the wire (`umwelt/<name>/...`; default: the
    /// robot's kind), so that several robots of one kind share a network.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Put these cameras' images in every sensor frame, by name, comma
    /// separated (`all`: every camera; the robot config's `[[camera]]`
    /// entries, or its default camera, e.g. `side` for the cart-pole): an
    /// RGB8 image if the camera has `rgb = true`, a depth image (f32
    /// metres) if `depth = true`, named after the camera. Default: none,
    /// so frames stay small and no time goes into rendering (a 64x64 frame
    /// costs ~0.1 ms on one core, `umwelt bench render`).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    cameras: Vec<String>,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = args.env.robot_config()?;
    if let Some(hz) = args.rate {
        anyhow::ensure!(
            hz.is_finite() && hz > 0.0,
            "--rate {hz}: must be a positive number of Hz"
        );
        cfg.control_period = 1.0 / hz;
    }
    let env = umwelt_sim::Env::from_config(cfg, &args.env.task).map_err(|e| match args.rate {
        Some(hz) => anyhow::anyhow!("--rate {hz}: {e}"),
        None => e.into(),
    })?;
    let opts = SimNodeOptions {
        seed: args.seed,
        name: args.name.clone(),
        lockstep: args.lockstep,
        lockstep_timeout: duration("--lockstep-timeout", args.lockstep_timeout.max(0.01))?,
        duration: args
            .duration
            .map(|s| duration("--duration", s))
            .transpose()?,
        episodes: args.episodes,
        record: args.record.clone(),
        cameras: args.cameras.clone(),
        zenoh: args.zenoh,
    };
    let stop = super::stop_flag()?;
    // The ready line (which `umwelt launch` waits for) only once zenoh is up.
    let ready_line = format!(
        "umwelt sim: {}/{} at {:.0} Hz{}; Ctrl-C stops",
        env.robot_name(),
        env.task_name(),
        1.0 / env.control_period(),
        if opts.lockstep { ", lockstep" } else { "" }
    );
    let summary = run_sim_node(env, &opts, &stop, &|| eprintln!("{ready_line}"))?;
    if args.json {
        return super::print_json(&summary);
    }
    eprintln!(
        "umwelt sim: {} frames, {} commands applied, {} safe steps, {} episodes, {} overruns, dropped {:?} in {:.1} s",
        summary.frames,
        summary.commands_applied,
        summary.safe_steps,
        summary.episodes,
        summary.overruns,
        summary.dropped,
        summary.wall_s
    );
    Ok(())
}
