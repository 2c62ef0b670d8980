//! `umwelt collect`: episodes of a robot into a dataset on disk, from
//! umwelt's simulator, a robot behind its driver (`--remote`), or a
//! recording.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use umwelt_models::dataset::{DatasetSpec, DatasetWriter};
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::offline::collect::{CollectOptions, CollectedEpisode, collect};
use umwelt_runtime::offline::explore::{Exploration, SimplePolicy};
use umwelt_runtime::offline::plant::Plant;
use umwelt_runtime::robot::{LoadedRobot, load_robot};

use super::progress::Progress;

/// Arguments of `umwelt collect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Robot: a built-in name (see `umwelt envs`), a simulator config, or a
    /// robot description file (`umwelt robot describe`; with --remote or
    /// --from-recording).
    #[arg(long)]
    robot: String,
    /// Task of that robot (a description file has its own; may be omitted).
    #[arg(long, default_value = "")]
    task: String,
    /// Robot config file (TOML) replacing a built-in robot's defaults, e.g.
    /// configs/robots/cartpole.toml (`--config` is a deprecated spelling).
    #[arg(long = "robot-config", alias = "config", value_name = "FILE")]
    robot_config: Option<PathBuf>,
    /// Policy that chooses the actions: `random` (uniform, a fresh draw
    /// each step), `smooth` (coloured noise with a correlation time of
    /// --explore-time), `hold` (uniform actions held for random spans up
    /// to --explore-time), `zero`. Every action stays inside the robot's
    /// command limits.
    #[arg(long, value_enum, default_value = "random")]
    policy: SimplePolicy,
    /// Seconds: the correlation time of `smooth` noise, the longest hold
    /// of `hold`.
    #[arg(long, default_value_t = umwelt_runtime::offline::explore::DEFAULT_EXPLORE_TIME_S, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    explore_time: f64,
    /// Number of episodes to collect.
    #[arg(long, default_value_t = 1, value_parser = umwelt_runtime::cli::args::count::<u32>(1, 1_000_000))]
    episodes: u32,
    /// Start no episode once this many control steps are written (whole
    /// episodes only: the last may pass it).
    #[arg(long, value_name = "N", value_parser = umwelt_runtime::cli::args::count::<u64>(1, 1_000_000_000_000))]
    max_steps: Option<u64>,
    /// Dataset directory: created if missing, appended to if it holds a
    /// dataset of the same robot, task and specs (see docs/DATASET.md).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Base seed: the episode stored as file index k uses seed + k, so
    /// appending to a dataset continues with new seeds.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hold each action for N control steps, so that `umwelt train
    /// --action-repeat N` can train a model that steps N periods at a time
    /// on these episodes.
    #[arg(long, default_value_t = 1, value_name = "N")]
    hold: usize,
    /// Collect on the robot a driver serves over zenoh (`umwelt sim`,
    /// hardware, any driver speaking the protocol) instead of umwelt's
    /// simulator: each episode starts with a seeded Reset; lockstep when
    /// the driver offers it, real time otherwise (each frame answered, the
    /// action the driver says it applied recorded). Ctrl-C drops the
    /// episode in progress and leaves the robot at its safe action.
    #[arg(long, conflicts_with = "from_recording")]
    remote: bool,
    /// The robot's name on the wire (`umwelt/<name>/...`; default: the
    /// robot's kind), with --remote or --from-recording, so that one of
    /// several robots of a kind can be chosen.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Seconds to wait for a driver's first frame after a Reset (--remote).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    remote_timeout: f64,
    /// Instead of running episodes, take them from this MCAP recording of
    /// the robot (`umwelt record`): each sensor frame, the action the next
    /// frame says the driver applied (a recorded command, or the safe
    /// action) and the next frame make a transition, the reward being the
    /// task's (the description's rule: the `reward` channel of umwelt's
    /// robots). Episodes follow the frames' `episode` channel and are cut
    /// only where the action is unknown (frames lost, a frame not saying);
    /// late commands are counted, never imported as on time.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["policy", "episodes", "seed", "hold", "max_steps", "explore_time"])]
    from_recording: Option<PathBuf>,
    /// Instead of running episodes, import them from this LeRobot dataset
    /// folder (v3.0, or v2.1) with `observation.state` and `action`
    /// columns, checked against the robot: widths and names, fps against
    /// the control period, every number finite, every action inside the
    /// command limits (an action outside is refused, naming the episode
    /// and frame). Rewards from `next.reward`, else from the task's rule
    /// applied to the observations (docs/DATASET.md).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["policy", "episodes", "seed", "hold", "max_steps", "explore_time", "from_recording", "remote"])]
    from_lerobot: Option<PathBuf>,
    /// Keep this camera's image of every observation in the dataset (one
    /// zstd frames file beside each episode), for `umwelt train --obs
    /// pixels --camera NAME`: rendered by umwelt's simulator (`umwelt envs`
    /// lists each robot's cameras), or taken from the frames of a driver
    /// (--remote) or a recording (--from-recording; a step whose frames
    /// lack the image is cut and counted). RGB or grey cameras only.
    #[arg(long, value_name = "NAME", conflicts_with = "from_lerobot")]
    camera: Option<String>,
    /// With --from-recording: frames need no reward or success channel;
    /// rewards are stored as 0 (for a model that plans towards goal
    /// observations).
    #[arg(long, requires = "from_recording")]
    zero_rewards: bool,
    /// Print one JSON document on stdout instead of a summary (and no
    /// progress bar).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// What `umwelt collect --from-recording --json` prints.
#[derive(Serialize)]
struct ImportedReport<'a> {
    robot: &'a str,
    task: &'a str,
    recording: String,
    path: String,
    episodes_written: usize,
    steps: u64,
    mean_return: Option<f64>,
    success_rate: Option<f64>,
    dataset_episodes: usize,
    #[serde(flatten)]
    import: &'a umwelt_runtime::recording::ImportReport,
}

#[derive(Serialize)]
struct Report<'a> {
    robot: &'a str,
    task: &'a str,
    policy: SimplePolicy,
    explore_time_s: f64,
    seed: u64,
    hold: usize,
    path: String,
    episodes_written: usize,
    steps: u64,
    mean_return: Option<f64>,
    success_rate: Option<f64>,
    stopped: bool,
    dataset_episodes: usize,
    stale_temp_files: Vec<String>,
    /// With --remote: what happened on the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<umwelt_runtime::nodes::remote_robot::RemoteStats>,
    episodes: Vec<CollectedEpisode>,
}

/// Runs `umwelt collect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.episodes > 0, "--episodes must be at least 1");
    anyhow::ensure!(args.hold > 0, "--hold must be at least 1");
    let robot = load_robot(&args.robot, args.robot_config.as_deref(), &args.task)?;
    let wire_name = args
        .name
        .clone()
        .unwrap_or_else(|| robot.description.robot.clone());
    if let Some(file) = &args.from_recording {
        return import(&args, file, &robot, &wire_name);
    }
    if let Some(dir) = &args.from_lerobot {
        anyhow::ensure!(
            args.name.is_none(),
            "--name is the robot's name on the wire: not with --from-lerobot"
        );
        return import_lerobot(&args, dir, &robot);
    }
    anyhow::ensure!(
        args.name.is_none() || args.remote,
        "--name is the robot's name on the wire: with --remote or --from-recording"
    );
    let exploration = Exploration {
        policy: args.policy,
        time_s: args.explore_time,
    };
    exploration
        .validate()
        .map_err(|e| anyhow::anyhow!("--explore-time: {e}"))?;
    let spec = robot.description.dataset_spec()?;
    // The robot before the dataset: a robot that cannot be reached or
    // built leaves no dataset folder behind.
    let mut remote = None;
    let mut sim = None;
    let plant: &mut dyn Plant = if args.remote {
        let d = robot.description.clone();
        let deadline = super::remote::default_deadline(d.control_period);
        remote.insert(super::remote::connect(
            &args.zenoh,
            &wire_name,
            d,
            deadline,
            args.remote_timeout,
        )?)
    } else {
        sim.insert(robot.env()?)
    };
    let (mut writer, stale) = open_dataset(&args, &spec)?;
    let stop = super::stop_flag()?;
    let bar = Progress::bar(
        u64::from(args.episodes),
        "episodes",
        "{bar:30} {pos}/{len} episodes  {msg}  [{elapsed}<{eta}]",
        args.json,
    )?;
    let options = CollectOptions {
        exploration,
        episodes: args.episodes,
        max_steps: args.max_steps,
        seed: args.seed,
        hold: args.hold,
        camera: args.camera.clone(),
    };
    let summary = collect(plant, &spec, &mut writer, options, &stop, |e| {
        bar.inc(format!("last return {:.1}", e.episode_return));
    })
    .with_context(|| format!("collecting into {}", args.out.display()))?;
    bar.finish_and_clear();
    let stats = remote.as_ref().map(|r| r.stats());
    if let Some(s) = &stats {
        eprintln!("{}", super::remote::summary(s));
    }
    // Leave the robot at its safe action now, not when the process ends.
    drop(remote);
    let written = summary.episodes.len();
    let report = Report {
        robot: &robot.description.robot,
        task: &robot.description.task.name,
        policy: args.policy,
        explore_time_s: args.explore_time,
        seed: args.seed,
        hold: args.hold,
        path: args.out.display().to_string(),
        episodes_written: written,
        steps: summary.steps,
        mean_return: summary.mean_return,
        success_rate: (written > 0)
            .then(|| summary.episodes.iter().filter(|e| e.success).count() as f64 / written as f64),
        stopped: summary.stopped,
        dataset_episodes: summary.dataset_episodes,
        stale_temp_files: stale,
        remote: stats,
        episodes: summary.episodes,
    };
    if args.json {
        return super::print_json(&report);
    }
    if report.stopped {
        outln!("stopped: the episode in progress was dropped; episodes already written stay");
    }
    match (report.mean_return, report.success_rate) {
        (Some(mean), Some(success)) => outln!(
            "wrote {} episodes ({} steps) of {}/{} with the {:?} policy to {}: mean return {:.1}, success rate {:.0}%",
            written,
            report.steps,
            report.robot,
            report.task,
            report.policy,
            report.path,
            mean,
            success * 100.0
        ),
        _ => outln!("wrote no episode to {}", report.path),
    }
    outln!("the dataset now has {} episodes", report.dataset_episodes);
    Ok(())
}

/// The dataset in `--out`, created or appended to, and the leftovers of an
/// interrupted writer found there (warned about here).
fn open_dataset(args: &Args, spec: &DatasetSpec) -> anyhow::Result<(DatasetWriter, Vec<String>)> {
    // Dataset errors name the directory or file themselves.
    let writer = DatasetWriter::create_or_append(&args.out, spec)?;
    let stale: Vec<String> = writer
        .stale_temp_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if !stale.is_empty() {
        tracing::warn!(
            "{}: {} leftover temporary file(s) (from an interrupted writer; ignored, safe to delete when no collect runs): {}",
            args.out.display(),
            stale.len(),
            stale.join(", ")
        );
    }
    Ok((writer, stale))
}

/// `--from-recording`: the recording's episodes into the dataset.
fn import(
    args: &Args,
    file: &std::path::Path,
    robot: &LoadedRobot,
    wire_name: &str,
) -> anyhow::Result<()> {
    use umwelt_runtime::recording::{Recording, episodes};

    let d = &robot.description;
    // The recording first: a bad one leaves no dataset folder behind.
    let recording = Recording::open(file)?;
    let (eps, import) = episodes(
        &recording,
        wire_name,
        d,
        args.zero_rewards,
        args.camera.as_deref(),
    )?;
    // The accounting goes to stderr in every mode, so a --json run still
    // shows people what was cut and what came late.
    for line in import.to_text().lines() {
        eprintln!("{}: {line}", file.display());
    }
    anyhow::ensure!(
        !eps.is_empty(),
        "{}: {} frames of {} but no transition (two frames of one episode, the second saying \
         what the driver applied between them): nothing written",
        file.display(),
        import.frames,
        wire_name
    );
    if import.safe_steps == import.transitions {
        tracing::warn!(
            "{}: every imported step applied the safe action: was a controller answering?",
            file.display()
        );
    }
    let (mut writer, _) = open_dataset(args, &d.dataset_spec()?)?;
    if let Some(why) = &import.incomplete {
        tracing::warn!(
            "{}: ends early ({why}); importing what comes before",
            file.display()
        );
    }
    for ep in &eps {
        writer
            .write(ep)
            .with_context(|| format!("writing into {}", args.out.display()))?;
    }
    let returns: Vec<f64> = eps
        .iter()
        .map(|e| e.rewards.iter().map(|r| f64::from(*r)).sum())
        .collect();
    let n = eps.len();
    let report = ImportedReport {
        robot: &d.robot,
        task: &d.task.name,
        recording: file.display().to_string(),
        path: args.out.display().to_string(),
        episodes_written: n,
        steps: import.transitions,
        mean_return: (n > 0).then(|| returns.iter().sum::<f64>() / n as f64),
        success_rate: (n > 0).then(|| eps.iter().filter(|e| e.success).count() as f64 / n as f64),
        dataset_episodes: writer.len(),
        import: &import,
    };
    if args.json {
        return super::print_json(&report);
    }
    outln!(
        "wrote {n} episodes ({} steps) of {}/{} to {}: mean return {:.1}",
        report.steps,
        report.robot,
        report.task,
        report.path,
        report.mean_return.unwrap_or(0.0)
    );
    outln!("the dataset now has {} episodes", report.dataset_episodes);
    Ok(())
}

/// What `umwelt collect --from-lerobot --json` prints.
#[derive(Serialize)]
struct LerobotReport<'a> {
    robot: &'a str,
    task: &'a str,
    lerobot: String,
    path: String,
    episodes_written: usize,
    steps: u64,
    mean_return: Option<f64>,
    success_rate: Option<f64>,
    dataset_episodes: usize,
    import: &'a umwelt_runtime::offline::lerobot::ImportReport,
}

/// `--from-lerobot`: a LeRobot dataset's episodes into the dataset.
fn import_lerobot(args: &Args, dir: &std::path::Path, robot: &LoadedRobot) -> anyhow::Result<()> {
    use umwelt_runtime::offline::lerobot;

    let d = &robot.description;
    // Everything is read and checked first: a bad dataset leaves no
    // dataset folder behind.
    let data = lerobot::read(dir)?;
    let (eps, import) = lerobot::to_episodes(&data, d)?;
    anyhow::ensure!(
        !eps.is_empty(),
        "{}: no episode of two frames or more: nothing written",
        dir.display()
    );
    let (mut writer, _) = open_dataset(args, &d.dataset_spec()?)?;
    for ep in &eps {
        writer
            .write(ep)
            .with_context(|| format!("writing into {}", args.out.display()))?;
    }
    let n = eps.len();
    let returns: f64 = eps.iter().map(|e| e.episode_return()).sum();
    let report = LerobotReport {
        robot: &d.robot,
        task: &d.task.name,
        lerobot: dir.display().to_string(),
        path: args.out.display().to_string(),
        episodes_written: n,
        steps: import.steps,
        mean_return: Some(returns / n as f64),
        success_rate: Some(eps.iter().filter(|e| e.success).count() as f64 / n as f64),
        dataset_episodes: writer.len(),
        import: &import,
    };
    if args.json {
        return super::print_json(&report);
    }
    outln!(
        "wrote {n} episodes ({} steps) of {}/{} from the LeRobotDataset {} to {}: mean return {:.1} (rewards from {})",
        report.steps,
        report.robot,
        report.task,
        import.version,
        report.path,
        report.mean_return.unwrap_or(0.0),
        match import.rewards {
            lerobot::RewardSource::NextReward => "next.reward",
            lerobot::RewardSource::TaskRule => "the task rule",
        }
    );
    if import.skipped_short > 0 {
        outln!(
            "left out {} episodes of a single frame",
            import.skipped_short
        );
    }
    outln!("the dataset now has {} episodes", report.dataset_episodes);
    Ok(())
}
