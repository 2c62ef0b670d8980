//! `umwelt train`: a world model from an episode dataset, into a checkpoint.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use umwelt_models::dataset::{Dataset, Episode};
use umwelt_models::world_model::Backend;
use umwelt_models::world_model::{
    Batch, Checkpoint, CheckpointMeta, LossTerms, Normalization, PredictionReport, TrainConfig,
    Trainer, ValidationLosses, WorldModelConfig, evaluate_prediction,
};

/// Horizons of the prediction report at the end of training.
const REPORT_HORIZONS: [usize; 3] = [1, 5, 10];

/// Arguments of `umwelt train` (explained in `umwelt train --help`, from
/// the subcommand's doc comment in `main.rs`).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  umwelt collect --robot cartpole --task swingup --episodes 40 --policy random --out data/cp\n  umwelt train --data data/cp --out cp.uwwm --steps 5000\n  umwelt model info cp.uwwm"
)]
pub struct Args {
    /// Training backend: `cpu` (always), `wgpu` or `cuda` (builds with
    /// `--features wgpu|cuda` only).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Dataset directory (from `umwelt collect`).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Checkpoint file to write. An existing file is never replaced unless
    /// it is the `--resume` checkpoint itself, or `--force` is given.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Optimiser steps to take in this run (added to a resumed checkpoint's).
    #[arg(long, default_value_t = 5000, value_parser = umwelt_runtime::cli::args::count::<u64>(1, 1_000_000_000))]
    steps: u64,
    /// Continue training this checkpoint: its weights, normalisation, step
    /// count and hyper-parameters (flags given here override the latter);
    /// its robot/task spec must equal the dataset's. Adam's moments continue
    /// from FILE.adam where present and current, else restart at zero.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// Train a model that steps N control periods at a time (TD-MPC2's
    /// action repeat); the episodes must hold each action that long
    /// (`umwelt collect --hold N`), and a planner using the model needs
    /// `action_repeat = N`. On --resume, the checkpoint's [default: 1].
    #[arg(long, value_name = "N", value_parser = umwelt_runtime::cli::args::count::<u32>(1, 1_000))]
    action_repeat: Option<u32>,
    /// Replace `--out` if it exists.
    #[arg(long)]
    force: bool,
    /// Share of the episodes held out for validation (at least one episode).
    #[arg(long, default_value_t = 0.1, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::open_fraction))]
    val_fraction: f64,
    /// Measure validation losses every N steps (0: only at the end).
    #[arg(long, default_value_t = 500, value_name = "N")]
    eval_every: u64,
    /// Batches of held-out windows per validation (fixed for the whole run).
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = umwelt_runtime::cli::args::count::<usize>(1, 10_000))]
    val_batches: usize,
    /// Save the checkpoint every N steps (0: only at the end).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    save_every: u64,
    /// Prediction report: every N-th step of the held-out episodes is a start.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_000_000))]
    eval_stride: usize,
    /// Sequences per batch [default: 256].
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_BATCH))]
    batch_size: Option<usize>,
    /// Unrolled horizon H of the loss [default: 3].
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_000))]
    horizon: Option<usize>,
    /// Adam learning rate [default: 3e-4].
    #[arg(long, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::learning_rate))]
    lr: Option<f64>,
    /// Weight of the observation-decoder loss [default: 1].
    #[arg(long, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::weight))]
    decoder_coef: Option<f32>,
    /// Seed of initialisation, batch sampling and the held-out split [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Discount of the value targets [default: 0.95; `umwelt learn` uses 0.99].
    #[arg(long, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::discount))]
    gamma: Option<f32>,
    /// Width of every hidden layer [default: 128]; new models only.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_WIDTH))]
    hidden: Option<usize>,
    /// Hidden layers of the dynamics, reward, inverse and decoder networks
    /// (what a planning rollout runs every step) [default: 1]; new models only.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(0, umwelt_runtime::cli::args::MAX_CLI_LAYERS))]
    hidden_layers: Option<usize>,
    /// Hidden layers of the encoder, Q heads and policy prior [default: 1];
    /// new models only.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(0, umwelt_runtime::cli::args::MAX_CLI_LAYERS))]
    head_layers: Option<usize>,
    /// No LayerNorm after the hidden layers (the default has them); new models only.
    #[arg(long)]
    no_layer_norm: bool,
    /// Latent size, a multiple of 8 [default: 64]; new models only.
    #[arg(long, value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::cli::args::MAX_CLI_WIDTH))]
    latent: Option<usize>,
    /// Print one JSON summary on stdout instead of a table (and no progress bar).
    #[arg(long)]
    json: bool,
}

/// What `umwelt train --json` prints.
#[derive(Serialize)]
struct Summary {
    out: String,
    data: String,
    resumed_from: Option<String>,
    robot: String,
    task: String,
    observation: Vec<String>,
    /// Control steps per model step.
    action_repeat: u32,
    /// Optimiser steps of the checkpoint (all runs).
    steps: u64,
    steps_this_run: u64,
    stopped: bool,
    wall_seconds: f64,
    /// Seconds in optimiser steps in this run.
    train_seconds: f64,
    steps_per_second: f64,
    adam: &'static str,
    train_episodes: usize,
    validation_episodes: Vec<usize>,
    transitions: u64,
    parameters: usize,
    model: WorldModelConfig,
    config: TrainConfig,
    /// Losses of the final model on fixed training batches.
    final_train_losses: LossTerms,
    /// Losses of the final model on the held-out batches.
    final_validation_losses: LossTerms,
    validation: Vec<ValidationLosses>,
    prediction: Option<PredictionReport>,
}

/// `--device`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DeviceArg {
    /// burn's flex CPU backend.
    Cpu,
    /// A GPU through wgpu.
    Wgpu,
    /// An NVIDIA GPU through CUDA.
    Cuda,
}

/// Runs `umwelt train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let wall = Instant::now();
    check_out(&args)?;

    let device: Device = match args.device {
        DeviceArg::Cpu => Backend::Cpu,
        DeviceArg::Wgpu => Backend::Wgpu,
        DeviceArg::Cuda => Backend::Cuda,
    }
    .device()?;
    let data = Dataset::open(&args.data)?;
    let spec = data.spec().clone();
    let resumed = match &args.resume {
        Some(path) => {
            let ckpt = Checkpoint::load(path, &device)
                .with_context(|| format!("cannot resume from {}", path.display()))?;
            ckpt.check_spec(&spec).with_context(|| {
                format!(
                    "cannot resume {} on {}: the dataset's spec differs from the checkpoint's \
                     (each difference: dataset value vs checkpoint value)",
                    path.display(),
                    args.data.display()
                )
            })?;
            Some(ckpt)
        }
        None => None,
    };

    anyhow::ensure!(
        data.len() >= 2,
        "{}: {} episode(s); training needs at least 2 (one is held out for validation)",
        args.data.display(),
        data.len()
    );
    let split_seed = args
        .seed
        .or(resumed.as_ref().map(|c| c.meta.train.config.seed))
        .unwrap_or(0);
    let repeat = match (&resumed, args.action_repeat) {
        (Some(c), Some(r)) if r != c.meta.action_repeat => bail!(
            "--action-repeat {r}: the resumed checkpoint's model steps {} control periods at a time; \
             it cannot change on --resume",
            c.meta.action_repeat
        ),
        (Some(c), _) => c.meta.action_repeat,
        (None, r) => r.unwrap_or(1),
    };
    anyhow::ensure!(repeat > 0, "--action-repeat must be at least 1");
    let (train_idx, val_idx) = data.split(args.val_fraction, split_seed);
    // A model with an action repeat sees each episode in blocks of that many
    // control steps.
    let load = |idx: &[usize]| -> anyhow::Result<Vec<Episode>> {
        idx.iter()
            .map(|&i| {
                let e = data.load(i)?;
                e.with_action_repeat(repeat as usize).with_context(|| {
                    format!(
                        "{}: episode {i} cannot train a model with --action-repeat {repeat} \
                         (collect with `umwelt collect --hold {repeat}`)",
                        args.data.display()
                    )
                })
            })
            .collect()
    };
    let train_eps = load(&train_idx)?;
    let val_eps = load(&val_idx)?;

    // Hyper-parameters: the checkpoint's when resuming, else the defaults;
    // flags given override either.
    let mut config = resumed
        .as_ref()
        .map(|c| c.meta.train.config.clone())
        .unwrap_or_default();
    if let Some(v) = args.batch_size {
        config.batch_size = v;
    }
    if let Some(v) = args.horizon {
        config.horizon = v;
    }
    if let Some(v) = args.lr {
        config.learning_rate = v;
    }
    if let Some(v) = args.seed {
        config.seed = v;
    }
    if let Some(v) = args.decoder_coef {
        config.decoder_coef = v;
    }
    if let Some(v) = args.gamma {
        config.gamma = v;
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid training options: {e}"))?;

    let (mut trainer, adam) = match &resumed {
        Some(ckpt) => {
            let m = &ckpt.meta.model;
            for (flag, given, has) in [
                ("--hidden", args.hidden, m.hidden),
                ("--hidden-layers", args.hidden_layers, m.hidden_layers),
                ("--head-layers", args.head_layers, m.head_layers),
                ("--latent", args.latent, m.latent_dim),
            ] {
                if let Some(v) = given.filter(|&v| v != has) {
                    bail!(
                        "{flag} {v}: the resumed checkpoint's model has {has}; sizes cannot change on --resume"
                    );
                }
            }
            if args.no_layer_norm && m.layer_norm {
                bail!(
                    "--no-layer-norm: the resumed checkpoint's model has LayerNorms; sizes cannot change on --resume"
                );
            }
            let mut t = Trainer::resume(ckpt, config.clone(), &train_eps, &device)?;
            let path = args.resume.as_deref().unwrap_or(Path::new(""));
            let adam = match Checkpoint::load_optimizer(path) {
                Ok(Some(state)) => match t.restore_optimizer_state(&state) {
                    Ok(()) => "restored",
                    Err(e) => {
                        warn(&format!("{e}; Adam's moments restart at zero"));
                        "restarted"
                    }
                },
                Ok(None) => {
                    warn(&format!(
                        "no {}.adam beside the checkpoint; Adam's moments restart at zero",
                        path.display()
                    ));
                    "restarted"
                }
                Err(e) => {
                    warn(&format!("{e}; Adam's moments restart at zero"));
                    "restarted"
                }
            };
            (t, adam)
        }
        None => {
            let defaults = WorldModelConfig::new(spec.obs_dim(), spec.act_dim());
            let model = WorldModelConfig {
                hidden: args.hidden.unwrap_or(defaults.hidden),
                hidden_layers: args.hidden_layers.unwrap_or(defaults.hidden_layers),
                head_layers: args.head_layers.unwrap_or(defaults.head_layers),
                layer_norm: !args.no_layer_norm,
                latent_dim: args.latent.unwrap_or(defaults.latent_dim),
                ..defaults
            };
            model
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid model options: {e}"))?;
            let norm = Normalization::fit(&spec, &train_eps);
            let t = Trainer::new(&model, config.clone(), norm, &train_eps, &device)?;
            (t, "new")
        }
    };
    let model_config = trainer.model().config.clone();
    let val_sampler = trainer.sampler_for(&val_eps).with_context(|| {
        format!(
            "the {} held-out episode(s) have no window of {} steps",
            val_eps.len(),
            config.horizon
        )
    })?;
    // Fixed batches, so that validation losses compare across steps.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x0076_616c);
    let val_batches: Vec<Batch> = (0..args.val_batches)
        .map(|_| val_sampler.sample(config.batch_size, &mut rng))
        .collect();
    let train_batches: Vec<Batch> = (0..args.val_batches)
        .map(|_| trainer.sample_batch_with(&mut rng))
        .collect();

    let meta_for = |trainer: &Trainer, prediction: Option<PredictionReport>| CheckpointMeta {
        format_version: umwelt_models::world_model::CHECKPOINT_VERSION,
        spec: spec.clone(),
        model: model_config.clone(),
        normalization: trainer.normalization().clone(),
        train: trainer.summary().clone(),
        prediction,
        action_repeat: repeat,
    };
    let save = |trainer: &Trainer, prediction: Option<PredictionReport>| -> anyhow::Result<()> {
        let state = trainer.optimizer_state()?;
        Checkpoint::save_with_optimizer(
            &args.out,
            &trainer.inference_model(),
            &meta_for(trainer, prediction),
            Some(&state),
        )?;
        Ok(())
    };

    let stop = super::stop_flag()?;
    let start_steps = trainer.summary().steps;
    let start_seconds = trainer.summary().train_seconds;
    // Without a terminal: a line every 5% of the run (and at the end).
    let bar = super::progress::Progress::bar(
        start_steps + args.steps,
        "steps",
        "step {pos}/{len} {bar:20} {per_sec} [{elapsed}<{eta}]  loss {msg}",
        args.json,
    )?
    .every(args.steps.div_ceil(20));
    bar.start_at(start_steps);
    let mut last_validated = None;
    for i in 1..=args.steps {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let l = trainer.step();
        if !l.total.is_finite() {
            bar.abandon();
            bail!(
                "the loss became non-finite at step {} ({l:?}): training diverged (try a lower --lr); \
                 not saved ({} holds the last periodic save of this run, if any)",
                trainer.summary().steps,
                args.out.display(),
            );
        }
        bar.inc(terms_short(&l));
        if args.eval_every > 0 && i % args.eval_every == 0 {
            let v = mean_losses(&trainer, &val_batches);
            trainer.record_validation(v, val_eps.len());
            last_validated = Some(trainer.summary().steps);
            if !args.json {
                let line = format!(
                    "step {}: held-out {}",
                    trainer.summary().steps,
                    terms_short(&v)
                );
                bar.println(line);
            }
        }
        if args.save_every > 0 && i % args.save_every == 0 && i < args.steps {
            save(&trainer, None)?;
        }
    }
    bar.finish_and_clear();
    let stopped = stop.load(Ordering::SeqCst);

    let final_val = mean_losses(&trainer, &val_batches);
    if last_validated != Some(trainer.summary().steps) {
        trainer.record_validation(final_val, val_eps.len());
    }
    let final_train = mean_losses(&trainer, &train_batches);
    let model = trainer.inference_model();
    let prediction = match evaluate_prediction(
        &model,
        trainer.normalization(),
        &val_eps,
        &REPORT_HORIZONS,
        args.eval_stride,
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            warn(&format!("no prediction report: {e}"));
            None
        }
    };
    save(&trainer, prediction.clone())?;

    let s = trainer.summary();
    let steps_this_run = s.steps - start_steps;
    let train_seconds = s.train_seconds - start_seconds;
    let summary = Summary {
        out: args.out.display().to_string(),
        data: args.data.display().to_string(),
        resumed_from: args.resume.as_ref().map(|p| p.display().to_string()),
        robot: spec.robot.clone(),
        task: spec.task.clone(),
        observation: spec.observation.iter().map(|f| f.name.clone()).collect(),
        action_repeat: repeat,
        steps: s.steps,
        steps_this_run,
        stopped,
        wall_seconds: wall.elapsed().as_secs_f64(),
        train_seconds,
        steps_per_second: if train_seconds > 0.0 {
            steps_this_run as f64 / train_seconds
        } else {
            0.0
        },
        adam,
        train_episodes: train_idx.len(),
        validation_episodes: val_idx
            .iter()
            .filter_map(|&i| data.file_index(i).map(|n| n as usize))
            .collect(),
        transitions: s.transitions,
        parameters: burn::module::Module::num_params(&model),
        model: model_config.clone(),
        config: trainer.config().clone(),
        final_train_losses: final_train,
        final_validation_losses: final_val,
        validation: s.validation.clone(),
        prediction,
    };
    if args.json {
        return super::print_json(&summary);
    }
    print_summary(&summary, &spec)?;
    Ok(())
}

/// Refuses to replace an existing `--out` (unless it is the checkpoint
/// being resumed, or `--force`), and checks that its folder exists, before
/// any work.
fn check_out(args: &Args) -> anyhow::Result<()> {
    let out = &args.out;
    if out.is_dir() {
        bail!("--out {} is a directory; give a file name", out.display());
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!(
            "--out {}: the folder {} does not exist",
            out.display(),
            parent.display()
        );
    }
    if out.exists() && !args.force {
        let same = match &args.resume {
            Some(r) => match (std::fs::canonicalize(r), std::fs::canonicalize(out)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            },
            None => false,
        };
        if !same {
            bail!(
                "{} exists; not replacing it (pass --force to replace it, or --resume {} to continue training it)",
                out.display(),
                out.display()
            );
        }
    }
    Ok(())
}

/// A warning on stderr (also under `--json`, whose document goes to stdout).
fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// The mean loss terms of `batches` under the current parameters.
fn mean_losses(trainer: &Trainer, batches: &[Batch]) -> LossTerms {
    let n = batches.len().max(1) as f32;
    let mut m = LossTerms::default();
    for b in batches {
        let l = trainer.evaluate(b);
        m.consistency += l.consistency / n;
        m.reward += l.reward / n;
        m.value += l.value / n;
        m.policy += l.policy / n;
        m.inverse += l.inverse / n;
        m.decoder += l.decoder / n;
        m.total += l.total / n;
    }
    m
}

/// Loss terms on one line.
pub fn terms_short(l: &LossTerms) -> String {
    format!(
        "{:.4} (consistency {:.2e}, reward {:.2e}, value {:.2e}, policy {:.3}, inverse {:.2e}, decoder {:.2e})",
        l.total, l.consistency, l.reward, l.value, l.policy, l.inverse, l.decoder
    )
}

fn print_summary(s: &Summary, spec: &umwelt_models::dataset::DatasetSpec) -> anyhow::Result<()> {
    if s.stopped {
        outln!(
            "stopped by Ctrl-C after {} steps of this run",
            s.steps_this_run
        );
    }
    outln!(
        "trained {}/{} for {} steps{} on {} episodes ({} transitions{}), {} held out; Adam {}",
        s.robot,
        s.task,
        s.steps_this_run,
        if s.resumed_from.is_some() {
            format!(" (now {} in all)", s.steps)
        } else {
            String::new()
        },
        s.train_episodes,
        s.transitions,
        if s.action_repeat > 1 {
            format!(" of {} control steps each", s.action_repeat)
        } else {
            String::new()
        },
        s.validation_episodes.len(),
        s.adam,
    );
    outln!(
        "{:.1} s wall, {:.1} s in optimiser steps: {:.1} steps/s; {} parameters",
        s.wall_seconds,
        s.train_seconds,
        s.steps_per_second,
        s.parameters
    );
    outln!(
        "final losses, training batches: {}",
        terms_short(&s.final_train_losses)
    );
    outln!(
        "final losses, held-out batches: {}",
        terms_short(&s.final_validation_losses)
    );
    if let Some(p) = &s.prediction {
        super::model::print_prediction(p, spec)?;
    }
    outln!("saved {}", s.out);
    Ok(())
}
