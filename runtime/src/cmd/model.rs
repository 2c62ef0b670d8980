//! `umwelt model`: inspect world-model checkpoints.

use std::path::PathBuf;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;
use serde::Serialize;
use umwelt_models::dataset::DatasetSpec;
use umwelt_models::world_model::{Checkpoint, PredictionReport, TrainSummary, WorldModelConfig};

/// Arguments of `umwelt model`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Show what a checkpoint holds: format version, robot/task spec,
    /// observation and action names, model sizes and parameter count,
    /// normalisation, how it was trained (steps, episodes, losses,
    /// validation losses) and its prediction report on held-out episodes.
    Info(InfoArgs),
}

/// Arguments of `umwelt model info`.
#[derive(clap::Args, Debug)]
struct InfoArgs {
    /// Checkpoint file (from `umwelt train`).
    file: PathBuf,
    /// Print one JSON document instead of a readable summary.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Info {
    path: String,
    file_bytes: u64,
    format_version: u32,
    robot: String,
    task: String,
    control_period: f64,
    /// Control steps per model step (a planner holds each action this long).
    action_repeat: u32,
    observation: Vec<String>,
    action: Vec<String>,
    spec: DatasetSpec,
    model: WorldModelConfig,
    parameters: usize,
    parameters_per_network: Vec<(&'static str, usize)>,
    normalization: NormInfo,
    train: TrainSummary,
    prediction: Option<PredictionReport>,
    /// `FILE.adam`: "current", "absent", or why it cannot be used.
    adam_state: String,
}

#[derive(Serialize)]
struct NormInfo {
    observation: Vec<ObsNorm>,
    action: Vec<ActNorm>,
}

#[derive(Serialize)]
struct ObsNorm {
    name: String,
    unit: String,
    mean: f32,
    std: f32,
}

#[derive(Serialize)]
struct ActNorm {
    name: String,
    unit: String,
    center: f32,
    half_range: f32,
}

/// Runs `umwelt model`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Info(a) => info(a),
    }
}

fn info(args: InfoArgs) -> anyhow::Result<()> {
    let ckpt = Checkpoint::load(&args.file, &Device::flex())?;
    let file_bytes = std::fs::metadata(&args.file)
        .with_context(|| args.file.display().to_string())?
        .len();
    let adam_state = match Checkpoint::load_optimizer(&args.file) {
        Ok(Some(_)) => "current".to_string(),
        Ok(None) => "absent".to_string(),
        Err(e) => e.to_string(),
    };
    let meta = ckpt.meta;
    let m = &ckpt.model;
    let mut per_network = vec![
        (
            "pixel encoder",
            m.pixel.as_ref().map_or(0, |p| p.num_params()),
        ),
        ("encoder", m.encoder.num_params()),
        ("dynamics", m.dynamics.num_params()),
        ("reward", m.reward.num_params()),
        ("q", m.q.num_params()),
        ("policy", m.policy.num_params()),
        ("inverse", m.inverse.num_params()),
        ("decoder", m.decoder.num_params()),
    ];
    per_network.retain(|(_, n)| *n > 0);
    let n = &meta.normalization;
    let normalization = NormInfo {
        observation: meta
            .spec
            .observation
            .iter()
            .zip(n.obs_mean.iter().zip(&n.obs_std))
            .map(|(f, (&mean, &std))| ObsNorm {
                name: f.name.clone(),
                unit: f.unit.clone(),
                mean,
                std,
            })
            .collect(),
        action: meta
            .spec
            .action
            .iter()
            .zip(n.act_center.iter().zip(&n.act_half_range))
            .map(|(f, (&center, &half_range))| ActNorm {
                name: f.name.clone(),
                unit: f.unit.clone(),
                center,
                half_range,
            })
            .collect(),
    };
    let info = Info {
        path: args.file.display().to_string(),
        file_bytes,
        format_version: meta.format_version,
        robot: meta.spec.robot.clone(),
        task: meta.spec.task.clone(),
        control_period: meta.spec.control_period,
        action_repeat: meta.action_repeat,
        observation: meta
            .spec
            .observation
            .iter()
            .map(|f| f.name.clone())
            .collect(),
        action: meta.spec.action.iter().map(|f| f.name.clone()).collect(),
        parameters: m.num_params(),
        parameters_per_network: per_network,
        spec: meta.spec.clone(),
        model: meta.model.clone(),
        normalization,
        train: meta.train.clone(),
        prediction: meta.prediction.clone(),
        adam_state,
    };
    if args.json {
        return super::print_json(&info);
    }
    print_info(&info)?;
    Ok(())
}

fn print_info(i: &Info) -> anyhow::Result<()> {
    outln!(
        "{}: umwelt world model, checkpoint format {}, {} bytes",
        i.path,
        i.format_version,
        i.file_bytes
    );
    outln!(
        "robot/task: {}/{}, control period {} s",
        i.robot,
        i.task,
        i.control_period
    );
    let m = &i.model;
    outln!(
        "model: latent {} (SimNorm groups of {}), hidden {} x {} layer(s) (encoder, Q and policy {}){}, {} Q heads; {} parameters ({})",
        m.latent_dim,
        m.simnorm_group,
        m.hidden,
        m.hidden_layers,
        m.head_layers,
        if m.layer_norm { ", LayerNorm" } else { "" },
        m.num_q,
        i.parameters,
        i.parameters_per_network
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(p) = &m.pixels {
        let (h, w) = p.conv_sides()[3];
        outln!(
            "sees: camera `{}`, {}x{} {} images, the latest {} stacked; 4 convolutions of {} filters (3x3, strides 2, 2, 2, 1) to {}x{}x{} features{}; random shift of {} px in training",
            p.camera,
            p.width,
            p.height,
            if p.channels == 3 { "RGB" } else { "grey" },
            p.frames,
            p.conv_channels,
            p.conv_channels,
            h,
            w,
            if p.state {
                ", then the observation vector"
            } else {
                " (pixels only: the observation below is decoded from the latent, never read)"
            },
            p.shift
        );
    }
    outln!("observation (normalised as (x - mean) / std):");
    for o in &i.normalization.observation {
        outln!(
            "  {:<20} {:<6} mean {:>10.4}  std {:>9.4}",
            o.name,
            o.unit,
            o.mean,
            o.std
        );
    }
    outln!("action (normalised as (a - center) / half_range, clamped to [-1, 1]):");
    for a in &i.normalization.action {
        outln!(
            "  {:<20} {:<6} center {:>8.4}  half range {:>8.4}",
            a.name,
            a.unit,
            a.center,
            a.half_range
        );
    }
    let t = &i.train;
    let c = &t.config;
    outln!(
        "training: {} steps ({:.1} s in steps), {} episodes ({} transitions){}, {} held out; \
         horizon {}, batch {}, lr {}, seed {}; action repeat {}; Adam state beside it: {}",
        t.steps,
        t.train_seconds,
        t.episodes,
        t.transitions,
        match t.hindsight_episodes {
            0 => String::new(),
            n => format!(" of which {n} hindsight copies"),
        },
        t.validation_episodes,
        c.horizon,
        c.batch_size,
        c.learning_rate,
        c.seed,
        i.action_repeat,
        i.adam_state
    );
    if let Some(l) = &t.first_losses {
        outln!(
            "  first step loss   {}",
            umwelt_runtime::offline::train::terms_short(l)
        );
    }
    if let Some(l) = &t.last_losses {
        outln!(
            "  last step loss    {}",
            umwelt_runtime::offline::train::terms_short(l)
        );
    }
    if let Some(v) = t.validation.last() {
        outln!(
            "  held-out loss     {} (step {}; {} measurements)",
            umwelt_runtime::offline::train::terms_short(&v.losses),
            v.step,
            t.validation.len()
        );
    }
    match &i.prediction {
        Some(p) => print_prediction(p, &i.spec)?,
        None => outln!("no prediction report stored"),
    }
    Ok(())
}

/// Prints a prediction report as two tables: errors per horizon, then RMSE
/// per observation dimension.
pub fn print_prediction(p: &PredictionReport, spec: &DatasetSpec) -> anyhow::Result<()> {
    outln!(
        "open-loop prediction on {} held-out episodes ({} starts, every {} step(s)); baseline: {}",
        p.episodes,
        p.starts,
        p.stride,
        p.baseline
    );
    outln!(
        "  {:>5}  {:>12}  {:>12}  {:>7}  {:>12}  {:>12}",
        "steps",
        "obs MSE",
        "constant",
        "ratio",
        "reward MSE",
        "mean reward"
    );
    for h in &p.horizons {
        outln!(
            "  {:>5}  {:>12.5}  {:>12.5}  {:>7.3}  {:>12.6}  {:>12.6}",
            h.k,
            h.model_mse,
            h.baseline_mse,
            h.model_mse / h.baseline_mse.max(f32::MIN_POSITIVE),
            h.model_reward_mse,
            h.baseline_reward_mse
        );
    }
    outln!("  (obs MSE in normalised units, mean over dimensions; ratio = model / constant state)");
    outln!("  RMSE per dimension in physical units, model / constant state:");
    out!("  {:<20} {:<6}", "dimension", "unit");
    for h in &p.horizons {
        out!("  {:>21}", format!("{} step(s)", h.k));
    }
    outln!();
    for (j, f) in spec.observation.iter().enumerate() {
        out!("  {:<20} {:<6}", f.name, f.unit);
        for h in &p.horizons {
            let (m, b) = (
                h.model_rmse.get(j).copied().unwrap_or(f32::NAN),
                h.baseline_rmse.get(j).copied().unwrap_or(f32::NAN),
            );
            out!("  {:>21}", format!("{m:.4} / {b:.4}"));
        }
        outln!();
    }
    Ok(())
}
