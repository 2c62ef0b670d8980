//! `umwelt collect`: episodes of a simulated robot into a dataset on disk.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use umwelt_models::dataset::DatasetWriter;
use umwelt_runtime::offline::collect::{CollectOptions, CollectedEpisode, collect};
use umwelt_runtime::offline::rollout::SimplePolicy;
use umwelt_runtime::spec::dataset_spec;

/// Arguments of `umwelt collect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    env: super::EnvArgs,
    /// Policy that chooses the actions.
    #[arg(long, value_enum, default_value = "random")]
    policy: SimplePolicy,
    /// Number of episodes to collect.
    #[arg(long, default_value_t = 1, value_parser = umwelt_runtime::cli::args::count::<u32>(1, 1_000_000))]
    episodes: u32,
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
    /// Instead of simulating, take the episodes from this MCAP recording of
    /// the robot (`umwelt record`): each sensor frame, the action the next
    /// frame says the driver applied (a recorded command, or the safe
    /// action) and the next frame make a transition, the reward being the
    /// next frame's `reward` channel. Episodes follow the frames' `episode`
    /// channel and are cut only where the action is unknown (frames lost,
    /// a frame not saying); late commands are counted, never imported as
    /// on time.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["policy", "episodes", "seed", "hold"])]
    from_recording: Option<PathBuf>,
    /// With --from-recording: frames need no `reward` channel; rewards are
    /// stored as 0 (for a model that plans towards goal observations).
    #[arg(long, requires = "from_recording")]
    zero_rewards: bool,
    /// Print one JSON document on stdout instead of a summary (and no
    /// progress bar).
    #[arg(long)]
    json: bool,
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
    episodes: Vec<CollectedEpisode>,
}

/// Runs `umwelt collect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.episodes > 0, "--episodes must be at least 1");
    anyhow::ensure!(args.hold > 0, "--hold must be at least 1");
    let mut env = args.env.env()?;
    if let Some(file) = &args.from_recording {
        return import(&args, file, &env);
    }
    let spec = dataset_spec(&env);
    // Dataset errors name the directory or file themselves.
    let mut writer = DatasetWriter::create_or_append(&args.out, &spec)?;
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
    let stop = super::stop_flag()?;
    let bar = super::progress::Progress::bar(
        u64::from(args.episodes),
        "episodes",
        "{bar:30} {pos}/{len} episodes  {msg}  [{elapsed}<{eta}]",
        args.json,
    )?;
    let options = CollectOptions {
        policy: args.policy,
        episodes: args.episodes,
        seed: args.seed,
        hold: args.hold,
    };
    let summary = collect(&mut env, &mut writer, options, &stop, |e| {
        bar.inc(format!("last return {:.1}", e.episode_return));
    })
    .with_context(|| format!("collecting into {}", args.out.display()))?;
    bar.finish_and_clear();
    let written = summary.episodes.len();
    let report = Report {
        robot: &args.env.robot,
        task: &args.env.task,
        policy: args.policy,
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

/// `--from-recording`: the recording's episodes into the dataset.
fn import(args: &Args, file: &std::path::Path, env: &umwelt_sim::Env) -> anyhow::Result<()> {
    use umwelt_runtime::recording::{Recording, episodes};

    // The recording first: a bad one leaves no dataset folder behind.
    let recording = Recording::open(file)?;
    let (eps, import) = episodes(&recording, &args.env.robot, env, args.zero_rewards)?;
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
        args.env.robot
    );
    if import.safe_steps == import.transitions {
        tracing::warn!(
            "{}: every imported step applied the safe action: was a controller answering?",
            file.display()
        );
    }
    let mut writer = DatasetWriter::create_or_append(&args.out, &dataset_spec(env))?;
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
        robot: &args.env.robot,
        task: &args.env.task,
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
