//! Which engine computes `umwelt train`'s steps, and on how many threads.

use umwelt_models::world_model::{Backend, TrainEngine, Trainer};

use crate::offline::learn::MAX_TRAIN_THREADS;

use super::TrainError;

/// Refuses, before any work, what cannot run: a thread count outside
/// `1..=MAX_TRAIN_THREADS`, and the fused engine (hand-written for the
/// CPU) on a GPU backend.
pub(super) fn check(
    engine: Option<TrainEngine>,
    threads: usize,
    backend: Backend,
) -> Result<(), TrainError> {
    if threads == 0 || threads > MAX_TRAIN_THREADS {
        return Err(TrainError::Setup(format!(
            "--train-threads {threads}: must be from 1 to {MAX_TRAIN_THREADS}"
        )));
    }
    if engine == Some(TrainEngine::Fused) && backend != Backend::Cpu {
        return Err(TrainError::Setup(format!(
            "--train-engine fused computes on the CPU; with --device {} train with --train-engine burn",
            match backend {
                Backend::Cuda => "cuda",
                _ => "wgpu",
            }
        )));
    }
    Ok(())
}

/// Sets `trainer`'s engine and threads and returns Adam's state after it
/// (`adam`: `new`, `restored` or `restarted`, as before the choice). The
/// engine is `requested`, else a restored sidecar's (its moments go on),
/// else `fused` on the CPU where the model allows it and `burn` elsewhere.
/// A requested engine other than a restored sidecar's starts the moments
/// afresh, which `warn` hears.
pub(super) fn apply(
    trainer: &mut Trainer,
    requested: Option<TrainEngine>,
    threads: usize,
    backend: Backend,
    adam: &'static str,
    warn: &mut dyn FnMut(String),
) -> Result<&'static str, TrainError> {
    let restored = adam == "restored";
    let engine = match requested {
        Some(e) => {
            if let Some(why) = e.unsupported(trainer.model_config()) {
                return Err(TrainError::Setup(format!(
                    "--train-engine {}: {why}",
                    e.name()
                )));
            }
            e
        }
        None if restored => trainer.engine(),
        None if backend == Backend::Cpu
            && TrainEngine::Fused
                .unsupported(trainer.model_config())
                .is_none() =>
        {
            TrainEngine::Fused
        }
        None => TrainEngine::Burn,
    };
    let mut adam = adam;
    if engine != trainer.engine() {
        if restored {
            warn(format!(
                "--train-engine {}: the checkpoint's Adam sidecar holds {}'s moments; they restart at zero",
                engine.name(),
                trainer.engine().name()
            ));
            adam = "restarted";
        }
        trainer.set_engine(engine)?;
    }
    trainer.set_threads(threads);
    Ok(adam)
}
