//! `umwelt collect`: episodes of a simulated robot into a dataset on disk.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use umwelt_models::dataset::DatasetWriter;
use umwelt_runtime::collect::{CollectOptions, CollectedEpisode, collect, dataset_spec};
use umwelt_runtime::rollout::SimplePolicy;

/// Arguments of `umwelt collect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    env: super::EnvArgs,
    /// Policy that chooses the actions.
    #[arg(long, value_enum, default_value = "random")]
    policy: SimplePolicy,
    /// Number of episodes to collect.
    #[arg(long, default_value_t = 1)]
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
    /// Print one JSON document on stdout instead of a summary (and no
    /// progress bar).
    #[arg(long)]
    json: bool,
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
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.episodes as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} episodes  {msg}  [{elapsed}<{eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let options = CollectOptions {
        policy: args.policy,
        episodes: args.episodes,
        seed: args.seed,
        hold: args.hold,
    };
    let summary = collect(&mut env, &mut writer, options, &stop, |e| {
        bar.set_message(format!("last return {:.1}", e.episode_return));
        bar.inc(1);
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
        println!("stopped: the episode in progress was dropped; episodes already written stay");
    }
    match (report.mean_return, report.success_rate) {
        (Some(mean), Some(success)) => println!(
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
        _ => println!("wrote no episode to {}", report.path),
    }
    println!("the dataset now has {} episodes", report.dataset_episodes);
    Ok(())
}
