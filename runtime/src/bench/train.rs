//! `umwelt bench train`: one optimiser step of each shipped model, timed
//! phase by phase (batch, forward, backward, Adam, target heads), and its
//! matrix-product GFLOP/s beside the sgemm peak measured in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use umwelt_models::dataset::{Episode, Frames};
use umwelt_models::world_model::{
    Checkpoint, StepTimes, TrainEngine, Trainer, UpdateFlops, WorldModelConfig, update_flops,
};

use super::{BenchError, quantile, sgemm_gflops};

/// Options of [`bench_train`].
#[derive(Clone, Debug)]
pub struct TrainBenchOptions {
    /// Checkpoints whose sizes and training settings (batch, horizon) are
    /// timed; their weights are the starting point.
    pub checkpoints: Vec<PathBuf>,
    /// Optimiser steps timed per checkpoint, after `warmup` untimed ones.
    pub steps: usize,
    /// Untimed steps first (allocator and caches warm up).
    pub warmup: usize,
    /// Threads of the all-core sgemm baseline.
    pub threads: usize,
    /// Thread counts each model's step is timed on, in turn
    /// ([`Trainer::set_threads`]).
    pub train_threads: Vec<usize>,
    /// Engines to time each model's step with ([`TrainEngine`]); a model
    /// an engine does not support is left out of that engine's rows.
    pub engines: Vec<TrainEngine>,
    /// Seconds each sgemm baseline runs.
    pub sgemm_seconds: f64,
}

/// One phase of the step: its median time and, for the passes, their
/// arithmetic rate.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseBench {
    /// `sample`, `forward`, `backward` (or, on several threads, both as
    /// `gradient`), `optimizer`, `target` or `update` (the whole step).
    pub phase: String,
    /// Median wall time, ms.
    pub ms_p50: f64,
    /// Share of the median step.
    pub share: f64,
    /// Matrix-product GFLOP/s at the median (forward, backward, update).
    pub gflops: Option<f64>,
    /// `gflops` over the one-thread sgemm peak of this run.
    pub of_peak_1_thread: Option<f64>,
    /// `gflops` over the all-core sgemm peak of this run.
    pub of_peak_all: Option<f64>,
}

/// What one checkpoint's training step measured.
#[derive(Clone, Debug, Serialize)]
pub struct ModelTrainBench {
    /// The checkpoint.
    pub checkpoint: String,
    /// Its robot and task.
    pub robot: String,
    /// Its sizes.
    pub model: WorldModelConfig,
    /// Windows per batch.
    pub batch_size: usize,
    /// Steps per window.
    pub horizon: usize,
    /// Matrix-product GFLOP of the forward pass.
    pub forward_gflop: f64,
    /// Matrix-product GFLOP of the backward pass.
    pub backward_gflop: f64,
    /// The engine the step ran on.
    pub engine: TrainEngine,
    /// Threads the step's gradient was computed on.
    pub train_threads: usize,
    /// Steps timed.
    pub steps: usize,
    /// Optimiser steps per second (mean over the timed steps).
    pub updates_per_s: f64,
    /// sgemm of the update's widest layer shape (`horizon x batch` rows,
    /// `hidden x hidden`) on one thread, GFLOP/s, this run.
    pub sgemm_1_thread: f64,
    /// The same on `threads` threads.
    pub sgemm_all: f64,
    /// Threads of `sgemm_all`.
    pub threads: usize,
    /// Each phase, then the whole update.
    pub phases: Vec<PhaseBench>,
}

/// Everything `umwelt bench train` measures.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchReport {
    /// One entry per checkpoint.
    pub models: Vec<ModelTrainBench>,
    /// The 1-minute load average when done (other work lowers the figures).
    pub load_average: Option<f64>,
}

/// The shipped checkpoints: every `*.uwwm` in `dir`, by name.
pub fn shipped_checkpoints(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "{}: {e} (run from the repository root, or pass --checkpoint FILE)",
            dir.display()
        )
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "uwwm") {
            found.push(path);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(format!("{}: no *.uwwm checkpoints", dir.display()).into());
    }
    Ok(found)
}

/// Times training steps of every checkpoint in `o`, on each of
/// `o.train_threads` thread counts: each resumed from its weights with its
/// own training settings, on synthetic episodes of
/// its sizes (the step's cost does not depend on the values), beside the
/// sgemm peak of its widest layer shape, measured just before.
pub fn bench_train(o: &TrainBenchOptions) -> Result<TrainBenchReport, BenchError> {
    if o.steps == 0 || o.train_threads.contains(&0) {
        return Err("bench train: --steps and every thread count must be at least 1".into());
    }
    let device = burn::tensor::Device::flex();
    let mut models = Vec::new();
    for path in &o.checkpoints {
        let ck = Checkpoint::load(path, &device).map_err(|e| format!("{e}"))?;
        let config = ck.meta.train.config.clone();
        let m = ck.meta.model.clone();
        let episodes = synthetic_episodes(&m, config.horizon)?;
        let rows = config.horizon * config.batch_size;
        let sgemm_1_thread = sgemm_gflops(rows, m.hidden, m.hidden, 1, o.sgemm_seconds)?;
        let sgemm_all = sgemm_gflops(rows, m.hidden, m.hidden, o.threads, o.sgemm_seconds)?;
        let flops = update_flops(&m, config.batch_size, config.horizon);
        let runs = o
            .engines
            .iter()
            .filter(|e| e.unsupported(&m).is_none())
            .flat_map(|&e| o.train_threads.iter().map(move |&t| (e, t)));
        for (engine, train_threads) in runs {
            let mut trainer = Trainer::resume(&ck, config.clone(), &episodes, &device)?;
            trainer.set_engine(engine)?;
            trainer.set_threads(train_threads);
            for _ in 0..o.warmup {
                trainer.step();
            }
            let mut times: Vec<StepTimes> = Vec::with_capacity(o.steps);
            let start = Instant::now();
            for _ in 0..o.steps {
                times.push(trainer.step_timed().1);
            }
            let wall = start.elapsed().as_secs_f64();
            models.push(ModelTrainBench {
                checkpoint: path.display().to_string(),
                robot: format!("{} {}", ck.meta.spec.robot, ck.meta.spec.task),
                phases: phases(&times, &flops, sgemm_1_thread, sgemm_all),
                model: m.clone(),
                batch_size: config.batch_size,
                horizon: config.horizon,
                forward_gflop: flops.forward / 1e9,
                backward_gflop: flops.backward / 1e9,
                engine: trainer.engine(),
                train_threads: trainer.threads(),
                steps: o.steps,
                updates_per_s: o.steps as f64 / wall,
                sgemm_1_thread,
                sgemm_all,
                threads: o.threads,
            });
        }
    }
    Ok(TrainBenchReport {
        models,
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok()),
    })
}

/// Per-phase medians of `times`, and the rate of the passes that do the
/// counted arithmetic.
fn phases(times: &[StepTimes], flops: &UpdateFlops, peak_1: f64, peak_all: f64) -> Vec<PhaseBench> {
    let median = |f: &dyn Fn(&StepTimes) -> f64| {
        let mut v: Vec<f64> = times.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        quantile(&v, 0.5)
    };
    let step = median(&|t| t.total_s());
    let phase = |name: &str, s: f64, work: Option<f64>| {
        let gflops = work.map(|w| w / s.max(1e-12) / 1e9);
        PhaseBench {
            phase: name.into(),
            ms_p50: s * 1e3,
            share: s / step.max(1e-12),
            gflops,
            of_peak_1_thread: gflops.map(|g| g / peak_1),
            of_peak_all: gflops.map(|g| g / peak_all),
        }
    };
    // On several threads the two passes run together, as one phase.
    let passes = if times.iter().any(|t| t.gradient_s > 0.0) {
        vec![phase(
            "gradient",
            median(&|t| t.gradient_s),
            Some(flops.total()),
        )]
    } else {
        vec![
            phase("forward", median(&|t| t.forward_s), Some(flops.forward)),
            phase("backward", median(&|t| t.backward_s), Some(flops.backward)),
        ]
    };
    let mut all = vec![phase("sample", median(&|t| t.sample_s), None)];
    all.extend(passes);
    all.extend([
        phase("optimizer", median(&|t| t.optimizer_s), None),
        phase("target", median(&|t| t.target_s), None),
        phase("update", step, Some(flops.total())),
    ]);
    all
}

/// Four seeded episodes of random values with `m`'s sizes, long enough
/// for windows of `horizon` steps; with random camera frames of its size
/// for a pixel model.
fn synthetic_episodes(m: &WorldModelConfig, horizon: usize) -> Result<Vec<Episode>, BenchError> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let len = (4 * horizon).max(100);
    (0..4)
        .map(|i| {
            let mut r =
                |k: usize| -> Vec<f32> { (0..k).map(|_| rng.random_range(-1.0..1.0)).collect() };
            let (observations, actions, rewards) =
                (r((len + 1) * m.obs_dim), r(len * m.act_dim), r(len));
            let frames = match &m.pixels {
                None => None,
                Some(p) => {
                    let side = |v: usize| u16::try_from(v).map_err(|_| format!("image side {v}"));
                    let channels = u8::try_from(p.channels).map_err(|_| "image channels")?;
                    let mut f = Frames::new(side(p.width)?, side(p.height)?, channels)
                        .map_err(|e| format!("synthetic frames: {e}"))?;
                    for _ in 0..=len {
                        let frame: Vec<u8> = (0..f.frame_len()).map(|_| rng.random()).collect();
                        f.push(&frame)
                            .map_err(|e| format!("synthetic frames: {e}"))?;
                    }
                    Some(Arc::new(f))
                }
            };
            Ok(Episode {
                seed: i,
                observations,
                actions,
                rewards,
                terminated: false,
                truncated: true,
                success: false,
                frames,
            })
        })
        .collect()
}
