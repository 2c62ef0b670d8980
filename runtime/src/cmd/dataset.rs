//! `umwelt dataset`: look into a dataset (`info`) and write it in another
//! format (`export --format lerobot`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use umwelt_models::dataset::{Dataset, DatasetSpec};
use umwelt_runtime::offline::lerobot;

/// Arguments of `umwelt dataset`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// What a dataset folder holds: an umwelt dataset (robot, task, specs,
    /// episodes, steps, mean return, success rate) or a LeRobot dataset
    /// (version, fps, episodes, frames, features).
    Info(InfoArgs),
    /// Write an umwelt dataset in another format: `lerobot`, the
    /// LeRobotDataset v3.0 layout (parquet frames with observation.state,
    /// action, next.reward, next.done, next.success and LeRobot's indices;
    /// meta/info.json, stats.json, tasks.parquet and the episodes table),
    /// which LeRobot and any parquet reader load (docs/DATASET.md).
    Export(ExportArgs),
}

/// Arguments of `umwelt dataset info`.
#[derive(clap::Args, Debug)]
struct InfoArgs {
    /// Dataset folder: umwelt's (`dataset.json`) or LeRobot's (`meta/info.json`).
    dir: PathBuf,
    /// Print one JSON document instead of a readable summary.
    #[arg(long)]
    json: bool,
}

/// The formats `dataset export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    /// LeRobotDataset v3.0.
    Lerobot,
}

/// Arguments of `umwelt dataset export`.
#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// The umwelt dataset folder to export (from `umwelt collect`).
    dir: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    format: Format,
    /// The folder to create (it must not exist, or be empty): written
    /// beside it first and renamed into place, so a failed export leaves
    /// nothing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print one JSON document instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt dataset`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Info(a) => info(a),
        Command::Export(a) => export(a),
    }
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    let data = Dataset::open(&a.dir)?;
    let summary = match a.format {
        Format::Lerobot => lerobot::export(&data, &a.out)?,
    };
    if a.json {
        return super::print_json(&summary);
    }
    outln!(
        "wrote {} episodes ({} frames at {} fps) of {} as a LeRobotDataset {} to {}",
        summary.episodes,
        summary.frames,
        summary.fps,
        data.spec().summary(),
        lerobot::CODEBASE_VERSION,
        summary.path.display()
    );
    if summary.skipped_empty > 0 {
        outln!(
            "left out {} episodes of no step (LeRobot has no frame-less episode)",
            summary.skipped_empty
        );
    }
    Ok(())
}

/// `umwelt dataset info --json` of an umwelt dataset.
#[derive(Serialize)]
struct UmweltInfo {
    format: &'static str,
    path: String,
    spec: DatasetSpec,
    episodes: usize,
    steps: u64,
    mean_return: Option<f64>,
    success_rate: Option<f64>,
    mean_length: Option<f64>,
}

/// `umwelt dataset info --json` of a LeRobot dataset.
#[derive(Serialize)]
struct LerobotInfo {
    format: &'static str,
    path: String,
    codebase_version: String,
    robot_type: Option<String>,
    fps: f64,
    episodes: usize,
    frames: u64,
    data_files: usize,
    features: Vec<String>,
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    if a.dir.join("meta/info.json").is_file() {
        return lerobot_info(&a.dir, a.json);
    }
    let data = Dataset::open(&a.dir)?;
    let (mut ret, mut succ, mut steps) = (0.0f64, 0usize, 0u64);
    for e in data.iter() {
        let e = e?;
        ret += e.episode_return();
        succ += usize::from(e.success);
        steps += e.len() as u64;
    }
    let n = data.len();
    let per = |x: f64| (n > 0).then(|| x / n as f64);
    let report = UmweltInfo {
        format: "umwelt",
        path: a.dir.display().to_string(),
        spec: data.spec().clone(),
        episodes: n,
        steps,
        mean_return: per(ret),
        success_rate: per(succ as f64),
        mean_length: per(steps as f64),
    };
    if a.json {
        return super::print_json(&report);
    }
    let s = &report.spec;
    outln!("{}: umwelt dataset of {}", report.path, s.summary());
    outln!("control period {} s", s.control_period);
    let names = |f: &[umwelt_models::dataset::FieldSpec]| {
        f.iter()
            .map(|x| x.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    outln!("observation: {}", names(&s.observation));
    outln!("action: {}", names(&s.action));
    outln!(
        "{n} episodes, {steps} steps, mean return {:.1}, success rate {:.0}%",
        report.mean_return.unwrap_or(0.0),
        report.success_rate.unwrap_or(0.0) * 100.0
    );
    Ok(())
}

fn lerobot_info(dir: &Path, json: bool) -> anyhow::Result<()> {
    let data = lerobot::read(dir)?;
    let report = LerobotInfo {
        format: "lerobot",
        path: dir.display().to_string(),
        codebase_version: data.info.codebase_version.clone(),
        robot_type: data.info.robot_type.clone(),
        fps: data.info.fps,
        episodes: data.episodes.len(),
        frames: data.episodes.iter().map(|e| e.frames as u64).sum(),
        data_files: data.data_files,
        features: data.info.features.keys().cloned().collect(),
    };
    if json {
        return super::print_json(&report);
    }
    outln!(
        "{}: LeRobotDataset {} of {} at {} fps",
        report.path,
        report.codebase_version,
        report.robot_type.as_deref().unwrap_or("an unnamed robot"),
        report.fps
    );
    outln!(
        "{} episodes, {} frames in {} data files",
        report.episodes,
        report.frames,
        report.data_files
    );
    outln!("features: {}", report.features.join(", "));
    Ok(())
}
