//! `umwelt train`: a world model from an episode dataset, into a checkpoint.
//! The workflow is the library's ([`umwelt_runtime::offline::train`]); this
//! is its command line: flags in, progress and summary out.

use std::path::PathBuf;

use umwelt_models::world_model::Backend;
use umwelt_runtime::offline::train::{
    TrainEvent, TrainOptions, TrainReport, Training, terms_short,
};

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
    /// What a new model learns from: `state` (the observation vector),
    /// `pixels` (the latest 3 frames of --camera, through a convolutional
    /// encoder) or `both` [default: state; on --resume, the checkpoint's].
    /// Pixel models need the dataset's frames (`umwelt collect --camera`).
    #[arg(long, value_enum)]
    obs: Option<umwelt_runtime::offline::learn::ObsMode>,
    /// With --obs pixels|both: the camera whose frames the dataset holds;
    /// a controller running the model reads that camera's images.
    #[arg(long, value_name = "NAME")]
    camera: Option<String>,
    /// How each training step is computed: `fused`, a hand-written step on
    /// the CPU (about 3x burn's on two cores, pixel models included,
    /// `umwelt bench train`), or `burn`, burn's autodiff and optimiser (the
    /// only engine on a GPU). The same objective either way, up to rounding.
    /// [default: fused on the CPU, burn on a GPU; on --resume, the engine of
    /// the checkpoint's Adam sidecar, whose moments another engine restarts]
    #[arg(long, value_name = "ENGINE", value_parser = umwelt_runtime::cli::args::train_engine)]
    train_engine: Option<umwelt_models::world_model::TrainEngine>,
    /// Threads each training step's gradient is computed on, the batch
    /// split between them: the same step up to rounding, about 1.5x faster
    /// on two cores. A fixed count, so a run is the same on every machine.
    #[arg(long, value_name = "N", default_value_t = umwelt_runtime::offline::learn::DEFAULT_TRAIN_THREADS,
          value_parser = umwelt_runtime::cli::args::count::<usize>(1, umwelt_runtime::offline::learn::MAX_TRAIN_THREADS as u64))]
    train_threads: usize,
    /// Print one JSON summary on stdout instead of a table (and no progress bar).
    #[arg(long)]
    json: bool,
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

impl Args {
    /// The library's options: every flag but `--device` and `--json`.
    fn options(&self) -> TrainOptions {
        TrainOptions {
            data: self.data.clone(),
            out: self.out.clone(),
            steps: self.steps,
            resume: self.resume.clone(),
            action_repeat: self.action_repeat,
            force: self.force,
            val_fraction: self.val_fraction,
            eval_every: self.eval_every,
            val_batches: self.val_batches,
            save_every: self.save_every,
            eval_stride: self.eval_stride,
            batch_size: self.batch_size,
            horizon: self.horizon,
            lr: self.lr,
            decoder_coef: self.decoder_coef,
            seed: self.seed,
            gamma: self.gamma,
            hidden: self.hidden,
            hidden_layers: self.hidden_layers,
            head_layers: self.head_layers,
            no_layer_norm: self.no_layer_norm,
            latent: self.latent,
            obs: self.obs,
            camera: self.camera.clone(),
            engine: self.train_engine,
            threads: self.train_threads,
        }
    }
}

/// Runs `umwelt train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let backend = match args.device {
        DeviceArg::Cpu => Backend::Cpu,
        DeviceArg::Wgpu => Backend::Wgpu,
        DeviceArg::Cuda => Backend::Cuda,
    };
    let training = Training::prepare(args.options(), backend, &mut |w| warn(&w))?;

    let stop = super::stop_flag()?;
    let start_steps = training.start_steps();
    // Without a terminal: a line every 5% of the run (and at the end).
    let bar = super::progress::Progress::bar(
        start_steps + args.steps,
        "steps",
        "step {pos}/{len} {bar:20} {per_sec} [{elapsed}<{eta}]  loss {msg}",
        args.json,
    )?
    .every(args.steps.div_ceil(20));
    bar.start_at(start_steps);
    let mut on_event = |e: TrainEvent<'_>| match e {
        TrainEvent::Stepped(l) => {
            bar.inc(terms_short(l));
        }
        TrainEvent::Validated { steps, losses } => {
            if !args.json {
                let line = format!("step {steps}: held-out {}", terms_short(losses));
                bar.println(line);
            }
        }
        TrainEvent::StepsDone => bar.finish_and_clear(),
        TrainEvent::Warning(w) => warn(&w),
    };
    let report = match training.run(&stop, &mut on_event) {
        Ok(r) => r,
        Err(e) => {
            bar.abandon();
            return Err(e.into());
        }
    };
    if args.json {
        return super::print_json(&report);
    }
    print_summary(&report)
}

/// A warning on stderr (also under `--json`, whose document goes to stdout).
fn warn(message: &str) {
    eprintln!("warning: {message}");
}

fn print_summary(s: &TrainReport) -> anyhow::Result<()> {
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
        "{:.1} s wall, {:.1} s in optimiser steps: {:.1} steps/s ({} engine, {} thread{}); {} parameters",
        s.wall_seconds,
        s.train_seconds,
        s.steps_per_second,
        s.engine,
        s.threads,
        if s.threads == 1 { "" } else { "s" },
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
        super::model::print_prediction(p, &s.spec)?;
    }
    outln!("saved {}", s.out);
    Ok(())
}
