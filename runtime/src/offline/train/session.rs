//! The steps of training that `umwelt train` ([`super::Training`]) and the
//! learning loop (`umwelt learn`, [`crate::offline::learn`]) share: a new
//! trainer, Adam's moments on resume, a round of updates, the checkpoint
//! with its optimiser sidecar, and the losses of fixed batches.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use umwelt_models::dataset::{DatasetSpec, Episode};
use umwelt_models::world_model::{
    Batch, CHECKPOINT_VERSION, Checkpoint, CheckpointMeta, LossTerms, Normalization,
    PredictionReport, TrainConfig, Trainer, WorldModelConfig,
};

use super::TrainError;

/// A trainer of a new model of `model` sizes, its normalisation fitted to
/// `norm_episodes` (the episodes as recorded), training on `episodes` (the
/// same, or their blocks and copies).
pub fn new_trainer(
    spec: &DatasetSpec,
    model: &WorldModelConfig,
    config: TrainConfig,
    norm_episodes: &[Episode],
    episodes: &[Episode],
    device: &Device,
) -> Result<Trainer, TrainError> {
    let norm = Normalization::fit(spec, norm_episodes);
    Ok(Trainer::new(model, config, norm, episodes, device)?)
}

/// What [`restore_adam`] brought back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// No sidecar: Adam's moments start at zero.
    Nothing,
    /// A sidecar from before version 4: Adam's moments continue, the target
    /// heads restart from the online ones and batches come from a new
    /// stream ([`inexact_resume`]).
    MomentsOnly,
    /// Everything the next step depends on: the run continues bit for bit.
    Everything,
}

/// The warning for a run resumed from `checkpoint` whose sidecar predates
/// version 4: why it is not the run that was stopped.
pub fn inexact_resume(checkpoint: &Path) -> String {
    format!(
        "{}.adam: the sidecar predates version 4: Adam's moments continue, but the target Q \
         heads restart from the online ones and batches come from a new stream, so the run is \
         not bit-identical to one never stopped",
        checkpoint.display()
    )
}

/// Restores the trainer state saved beside `checkpoint` into `trainer`
/// ([`Restored`] says how much). An error for a sidecar that is unreadable,
/// corrupt, stale, or does not fit the model; the caller decides whether
/// that stops it.
pub fn restore_adam(trainer: &mut Trainer, checkpoint: &Path) -> Result<Restored, TrainError> {
    let Some(state) = Checkpoint::load_optimizer(checkpoint)? else {
        return Ok(Restored::Nothing);
    };
    trainer.restore_optimizer_state(&state)?;
    Ok(match state.resume {
        Some(_) => Restored::Everything,
        None => Restored::MomentsOnly,
    })
}

/// Takes `n` optimiser steps, fewer if `stop` is given and gets set (checked
/// before each step); `on_step` sees each step's index in this round and its
/// losses. Returns the last step's losses (zeros when none was taken).
pub fn run_updates(
    trainer: &mut Trainer,
    n: u64,
    stop: Option<&AtomicBool>,
    mut on_step: impl FnMut(u64, &LossTerms),
) -> LossTerms {
    let mut last = LossTerms::default();
    for i in 0..n {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            break;
        }
        last = trainer.step();
        on_step(i, &last);
    }
    last
}

/// Where a checkpoint's model comes from, for its metadata: the data's spec,
/// the model's sizes and its action repeat.
pub struct CheckpointOrigin<'a> {
    /// The spec of the data the model learns.
    pub spec: &'a DatasetSpec,
    /// The model's sizes.
    pub model: &'a WorldModelConfig,
    /// Control steps per model step.
    pub action_repeat: u32,
}

/// Saves `trainer`'s model as checkpoint `path`, with Adam's moments in its
/// sidecar (so that a resumed run continues the optimiser where it was), and
/// `prediction` in its metadata. Atomic: a crash leaves the old or the new.
pub fn save_checkpoint(
    path: &Path,
    trainer: &Trainer,
    origin: &CheckpointOrigin<'_>,
    prediction: Option<PredictionReport>,
) -> Result<(), TrainError> {
    let meta = CheckpointMeta {
        format_version: CHECKPOINT_VERSION,
        spec: origin.spec.clone(),
        model: origin.model.clone(),
        normalization: trainer.normalization().clone(),
        train: trainer.summary().clone(),
        prediction,
        action_repeat: origin.action_repeat,
    };
    let adam = trainer.optimizer_state()?;
    Checkpoint::save_with_optimizer(path, &trainer.inference_model(), &meta, Some(&adam))?;
    Ok(())
}

/// The mean loss terms of `batches` under `trainer`'s current parameters.
pub fn mean_losses(trainer: &Trainer, batches: &[Batch]) -> LossTerms {
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
