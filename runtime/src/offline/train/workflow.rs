//! The offline training workflow: an episode dataset into a checkpoint.
//! [`Training::prepare`] checks the options and the output, loads and
//! splits the dataset and builds (or resumes) the trainer; [`Training::run`]
//! takes the steps, validates, saves periodically, and ends with the final
//! losses, the prediction report and the checkpoint.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use umwelt_models::dataset::{Dataset, DatasetSpec, Episode};
use umwelt_models::world_model::{
    Backend, Batch, Checkpoint, PixelConfig, PredictionReport, Trainer, WorldModelConfig,
    evaluate_prediction,
};

use crate::offline::learn::ObsMode;

use super::engine;
use super::session::{self, CheckpointOrigin};
use super::{TrainError, TrainEvent, TrainOptions, TrainReport};

/// Horizons of the prediction report at the end of training.
const REPORT_HORIZONS: [usize; 3] = [1, 5, 10];

/// A training run ready to take its steps (see the module docs).
pub struct Training {
    options: TrainOptions,
    /// When [`Self::prepare`] began (for the report's wall time).
    started: Instant,
    spec: DatasetSpec,
    repeat: u32,
    trainer: Trainer,
    /// `new`, `restored` or `restarted` (see [`TrainReport::adam`]).
    adam: &'static str,
    model_config: WorldModelConfig,
    train_episodes: usize,
    validation_episodes: Vec<usize>,
    val_eps: Vec<Episode>,
    val_batches: Vec<Batch>,
    train_batches: Vec<Batch>,
}

impl Training {
    /// Checks `options` and the output path, opens the dataset, splits it
    /// (held-out episodes by the seed), cuts the episodes into blocks of the
    /// action repeat, and builds a trainer on `backend`: a new model, or the
    /// resumed checkpoint with its hyper-parameters (options given override
    /// them) and Adam's moments, stepping with the chosen engine and threads
    /// (see [`TrainOptions::engine`]). A sidecar that cannot be used is no error:
    /// `warn` hears why, and the moments restart at zero.
    pub fn prepare(
        options: TrainOptions,
        backend: Backend,
        warn: &mut dyn FnMut(String),
    ) -> Result<Self, TrainError> {
        let started = Instant::now();
        check_out(&options)?;
        engine::check(options.engine, options.threads, backend)?;
        let device = backend.device()?;
        let args = &options;
        let data = Dataset::open(&args.data)?;
        let spec = data.spec().clone();
        let resumed = match &args.resume {
            Some(path) => {
                let ckpt =
                    Checkpoint::load(path, &device).map_err(|source| TrainError::Resume {
                        path: path.clone(),
                        source: Box::new(source),
                    })?;
                ckpt.check_spec(&spec).map_err(|source| TrainError::Spec {
                    path: path.clone(),
                    data: args.data.clone(),
                    source: Box::new(source),
                })?;
                Some(ckpt)
            }
            None => None,
        };

        if data.len() < 2 {
            return Err(TrainError::Setup(format!(
                "{}: {} episode(s); training needs at least 2 (one is held out for validation)",
                args.data.display(),
                data.len()
            )));
        }
        let split_seed = args
            .seed
            .or(resumed.as_ref().map(|c| c.meta.train.config.seed))
            .unwrap_or(0);
        let repeat = match (&resumed, args.action_repeat) {
            (Some(c), Some(r)) if r != c.meta.action_repeat => {
                return Err(TrainError::Setup(format!(
                    "--action-repeat {r}: the resumed checkpoint's model steps {} control periods at a time; \
                     it cannot change on --resume",
                    c.meta.action_repeat
                )));
            }
            (Some(c), _) => c.meta.action_repeat,
            (None, r) => r.unwrap_or(1),
        };
        if repeat == 0 {
            return Err(TrainError::Setup(
                "--action-repeat must be at least 1".into(),
            ));
        }
        let (train_idx, val_idx) = data.split(args.val_fraction, split_seed);
        // A model with an action repeat sees each episode in blocks of that
        // many control steps.
        let load = |idx: &[usize]| -> Result<Vec<Episode>, TrainError> {
            idx.iter()
                .map(|&i| {
                    let e = data.load(i)?;
                    e.with_action_repeat(repeat as usize)
                        .map_err(|source| TrainError::Blocks {
                            data: args.data.clone(),
                            index: i,
                            repeat,
                            source: Box::new(source),
                        })
                })
                .collect()
        };
        let train_eps = load(&train_idx)?;
        let val_eps = load(&val_idx)?;

        // Hyper-parameters: the checkpoint's when resuming, else the
        // defaults; options given override either.
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
            .map_err(|e| TrainError::Setup(format!("invalid training options: {e}")))?;

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
                        return Err(TrainError::Setup(format!(
                            "{flag} {v}: the resumed checkpoint's model has {has}; sizes cannot change on --resume"
                        )));
                    }
                }
                if args.no_layer_norm && m.layer_norm {
                    return Err(TrainError::Setup(
                        "--no-layer-norm: the resumed checkpoint's model has LayerNorms; sizes cannot change on --resume"
                            .into(),
                    ));
                }
                let had = m.pixels.as_ref();
                let has = match had {
                    None => ObsMode::State,
                    Some(p) if p.state => ObsMode::Both,
                    Some(_) => ObsMode::Pixels,
                };
                if let Some(o) = args.obs.filter(|&o| o != has) {
                    return Err(TrainError::Setup(format!(
                        "--obs {}: the resumed checkpoint's model learns from `{}`; it cannot change on --resume",
                        o.name(),
                        has.name()
                    )));
                }
                if let Some(c) = &args.camera
                    && had.is_none_or(|p| c != &p.camera)
                {
                    return Err(TrainError::Setup(format!(
                        "--camera {c}: the resumed checkpoint's model sees {}; it cannot change on --resume",
                        had.map_or("no camera".to_string(), |p| format!(
                            "camera `{}`",
                            p.camera
                        ))
                    )));
                }
                let mut t = Trainer::resume(ckpt, config.clone(), &train_eps, &device)?;
                let path = args.resume.as_deref().unwrap_or(Path::new(""));
                let adam = match session::restore_adam(&mut t, path) {
                    Ok(session::Restored::Everything) => "restored",
                    Ok(session::Restored::MomentsOnly) => {
                        warn(session::inexact_resume(path));
                        "restored"
                    }
                    Ok(session::Restored::Nothing) => {
                        warn(format!(
                            "no {}.adam beside the checkpoint; Adam's moments restart at zero",
                            path.display()
                        ));
                        "restarted"
                    }
                    Err(e) => {
                        warn(format!("{e}; Adam's moments restart at zero"));
                        "restarted"
                    }
                };
                (t, adam)
            }
            None => {
                let defaults = WorldModelConfig::new(spec.obs_dim(), spec.act_dim());
                let pixels = pixel_config(args, &train_eps)?;
                let model = WorldModelConfig {
                    pixels,
                    hidden: args.hidden.unwrap_or(defaults.hidden),
                    hidden_layers: args.hidden_layers.unwrap_or(defaults.hidden_layers),
                    head_layers: args.head_layers.unwrap_or(defaults.head_layers),
                    layer_norm: !args.no_layer_norm,
                    latent_dim: args.latent.unwrap_or(defaults.latent_dim),
                    ..defaults
                };
                model
                    .validate()
                    .map_err(|e| TrainError::Setup(format!("invalid model options: {e}")))?;
                let t = session::new_trainer(
                    &spec,
                    &model,
                    config.clone(),
                    &train_eps,
                    &train_eps,
                    &device,
                )?;
                (t, "new")
            }
        };
        let adam = engine::apply(&mut trainer, args.engine, args.threads, backend, adam, warn)?;
        let model_config = trainer.model_config().clone();
        let val_sampler =
            trainer
                .sampler_for(&val_eps)
                .map_err(|source| TrainError::Validation {
                    episodes: val_eps.len(),
                    horizon: config.horizon,
                    source: Box::new(source),
                })?;
        // Fixed batches, so that validation losses compare across steps.
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x0076_616c);
        let val_batches: Vec<Batch> = (0..args.val_batches)
            .map(|_| val_sampler.sample(config.batch_size, &mut rng))
            .collect();
        let train_batches: Vec<Batch> = (0..args.val_batches)
            .map(|_| trainer.sample_batch_with(&mut rng))
            .collect();
        let validation_episodes = val_idx
            .iter()
            .filter_map(|&i| data.file_index(i).map(|n| n as usize))
            .collect();
        Ok(Self {
            started,
            spec,
            repeat,
            trainer,
            adam,
            model_config,
            train_episodes: train_idx.len(),
            validation_episodes,
            val_eps,
            val_batches,
            train_batches,
            options,
        })
    }

    /// Optimiser steps of the model before this run (0 for a new model).
    pub fn start_steps(&self) -> u64 {
        self.trainer.summary().steps
    }

    /// Takes the steps (until `stop` is set, checked before each), validates
    /// every `eval_every` steps and saves every `save_every`, then measures
    /// the final losses, makes the prediction report (a [`TrainEvent::Warning`]
    /// where it cannot) and saves the checkpoint. A non-finite loss is an
    /// error, and nothing more is saved (the last periodic save stays).
    pub fn run(
        mut self,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(TrainEvent<'_>),
    ) -> Result<TrainReport, TrainError> {
        let origin = CheckpointOrigin {
            spec: &self.spec,
            model: &self.model_config,
            action_repeat: self.repeat,
        };
        let args = &self.options;
        let trainer = &mut self.trainer;
        let save = |trainer: &Trainer, prediction: Option<PredictionReport>| {
            session::save_checkpoint(&args.out, trainer, &origin, prediction)
        };
        let start_steps = trainer.summary().steps;
        let start_seconds = trainer.summary().train_seconds;
        let mut last_validated = None;
        for i in 1..=args.steps {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let l = trainer.step();
            if !l.total.is_finite() {
                return Err(TrainError::Setup(format!(
                    "the loss became non-finite at step {} ({l:?}): training diverged (try a lower --lr); \
                     not saved ({} holds the last periodic save of this run, if any)",
                    trainer.summary().steps,
                    args.out.display(),
                )));
            }
            on_event(TrainEvent::Stepped(&l));
            if args.eval_every > 0 && i % args.eval_every == 0 {
                let v = session::mean_losses(trainer, &self.val_batches);
                trainer.record_validation(v, self.val_eps.len());
                last_validated = Some(trainer.summary().steps);
                on_event(TrainEvent::Validated {
                    steps: trainer.summary().steps,
                    losses: &v,
                });
            }
            if args.save_every > 0 && i % args.save_every == 0 && i < args.steps {
                save(trainer, None)?;
            }
        }
        on_event(TrainEvent::StepsDone);
        let stopped = stop.load(Ordering::SeqCst);

        let final_val = session::mean_losses(trainer, &self.val_batches);
        if last_validated != Some(trainer.summary().steps) {
            trainer.record_validation(final_val, self.val_eps.len());
        }
        let final_train = session::mean_losses(trainer, &self.train_batches);
        let model = trainer.inference_model();
        let prediction = match evaluate_prediction(
            &model,
            trainer.normalization(),
            &self.val_eps,
            &REPORT_HORIZONS,
            args.eval_stride,
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                on_event(TrainEvent::Warning(format!("no prediction report: {e}")));
                None
            }
        };
        save(trainer, prediction.clone())?;

        let s = trainer.summary();
        let steps_this_run = s.steps - start_steps;
        let train_seconds = s.train_seconds - start_seconds;
        Ok(TrainReport {
            out: args.out.display().to_string(),
            data: args.data.display().to_string(),
            resumed_from: args.resume.as_ref().map(|p| p.display().to_string()),
            robot: self.spec.robot.clone(),
            task: self.spec.task.clone(),
            observation: self
                .spec
                .observation
                .iter()
                .map(|f| f.name.clone())
                .collect(),
            action_repeat: self.repeat,
            steps: s.steps,
            steps_this_run,
            stopped,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            train_seconds,
            steps_per_second: if train_seconds > 0.0 {
                steps_this_run as f64 / train_seconds
            } else {
                0.0
            },
            adam: self.adam,
            engine: trainer.engine().name(),
            threads: trainer.threads(),
            train_episodes: self.train_episodes,
            validation_episodes: self.validation_episodes.clone(),
            transitions: s.transitions,
            parameters: burn::module::Module::num_params(&model),
            model: self.model_config.clone(),
            config: trainer.config().clone(),
            final_train_losses: final_train,
            final_validation_losses: final_val,
            validation: s.validation.clone(),
            prediction,
            spec: self.spec.clone(),
        })
    }
}

/// Refuses to replace an existing `out` (unless it is the checkpoint being
/// resumed, or `force` is set), and checks that its folder exists, before
/// any work.
fn check_out(args: &TrainOptions) -> Result<(), TrainError> {
    let out = &args.out;
    if out.is_dir() {
        return Err(TrainError::Setup(format!(
            "--out {} is a directory; give a file name",
            out.display()
        )));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(TrainError::Setup(format!(
            "--out {}: the folder {} does not exist",
            out.display(),
            parent.display()
        )));
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
            return Err(TrainError::Setup(format!(
                "{} exists; not replacing it (pass --force to replace it, or --resume {} to continue training it)",
                out.display(),
                out.display()
            )));
        }
    }
    Ok(())
}

/// A new model's pixel config from `--obs` and `--camera`: `None` for the
/// state; else the named camera at the size of the training episodes'
/// frames, which every one of them must hold.
fn pixel_config(
    args: &TrainOptions,
    episodes: &[Episode],
) -> Result<Option<PixelConfig>, TrainError> {
    let obs = args.obs.unwrap_or_default();
    if obs == ObsMode::State {
        if args.camera.is_some() {
            return Err(TrainError::Setup(
                "--camera: only with --obs pixels or both".into(),
            ));
        }
        return Ok(None);
    }
    let camera = args.camera.as_deref().ok_or_else(|| {
        TrainError::Setup(format!(
            "--obs {} needs --camera NAME: the camera whose frames the dataset holds \
             (`umwelt collect --camera NAME`)",
            obs.name()
        ))
    })?;
    let Some(first) = episodes.iter().find_map(|e| e.frames.as_ref()) else {
        return Err(TrainError::Setup(format!(
            "--obs {}: {} holds no camera frames; collect them with `umwelt collect --camera {camera}`",
            obs.name(),
            args.data.display()
        )));
    };
    let (w, h, c) = (first.width(), first.height(), first.channels());
    if let Some(i) = episodes.iter().position(|e| {
        e.frames.as_ref().is_none_or(|f| {
            (f.width(), f.height(), f.channels()) != (w, h, c) || f.len() != e.len() + 1
        })
    }) {
        return Err(TrainError::Setup(format!(
            "--obs {}: training episode {i} of {} lacks frames of {w}x{h}x{c}, one per observation",
            obs.name(),
            args.data.display()
        )));
    }
    let mut p = PixelConfig::new(camera, usize::from(w), usize::from(h));
    p.channels = usize::from(c);
    p.state = obs == ObsMode::Both;
    p.validate()
        .map_err(|e| TrainError::Setup(format!("--camera {camera}: {e}")))?;
    Ok(Some(p))
}
