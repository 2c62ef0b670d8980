//! The fused training step: TD-MPC2's objective, its gradient, Adam and
//! the target heads' update written by hand over one flat `f32` buffer
//! per network set, on the CPU; a pixel model's convolutions as one
//! product per layer ([`conv`]).
//!
//! Why by hand: burn's CPU backend runs the step as some hundreds of
//! small eager operations (a few hundred rows each), and their fixed cost
//! and memory traffic, not the matrix products, take most of the step
//! (`umwelt bench train`). Here each layer is one `gemm` product plus one
//! pass over its rows, the optimiser one loop over the buffer.
//!
//! burn stays the model's source of truth: a [`Fused`] is made from a
//! burn model and writes its values back into one (checkpoints, GPU
//! backends, evaluation); its gradients are checked against burn's
//! autodiff (`models/tests/fused_training.rs`).

mod adam;
#[cfg(test)]
mod check;
mod conv;
mod kernels;
mod layout;
mod mlp;
mod objective;
mod scratch;
mod simd;
mod workers;

use burn::module::Module;
use std::sync::Arc;
use std::time::Instant;

use super::parallel::split;
use super::params::{flat_values, with_flat_values};
use super::sampler::Batch;
use crate::world_model::config::{ModelError, TrainConfig, WorldModelConfig};
use crate::world_model::model::WorldModel;
use crate::world_model::nn::Mlp;
use crate::world_model::record::LossTerms;
use adam::{Adam, polyak};
use layout::ModelLayout;
use workers::{Job, Shape, Workers};

/// The first bytes of a fused trainer's saved optimiser state (in an
/// [`crate::world_model::OptimizerState`]'s `record`, where burn's
/// trainer keeps its own format).
pub(super) const FUSED_ADAM_MAGIC: &[u8; 8] = b"UWFADAM1";

/// Why a model cannot train on the fused path (`None`: it can).
pub(super) fn unsupported(c: &WorldModelConfig) -> Option<&'static str> {
    if c.num_q < 2 {
        return Some("the fused path needs at least two Q heads");
    }
    None
}

/// A model's parameters, Adam's moments and the target heads, flat.
#[derive(Clone, Debug)]
pub(super) struct Fused {
    shape: Arc<Shape>,
    /// Shared with the workers during a step only (then updated in place).
    params: Arc<Vec<f32>>,
    target: Arc<Vec<f32>>,
    adam: Adam,
    workers: Workers,
}

/// Seconds of a fused step's phases.
pub(super) struct FusedTimes {
    pub gradient_s: f64,
    pub optimizer_s: f64,
    pub target_s: f64,
}

impl Fused {
    /// The values of `model` and of the target heads `target_q`, Adam's
    /// moments at zero. Fails for a model the path does not support
    /// ([`unsupported`]) or whose tensors differ from its config's layout.
    pub fn new(model: &WorldModel, target_q: &[Mlp]) -> Result<Self, ModelError> {
        if let Some(why) = unsupported(&model.config) {
            return Err(ModelError::Config(why.into()));
        }
        let layout = ModelLayout::new(&model.config);
        let params = read_values(model, &layout.tensors, "model")?;
        let q = &layout.q_range;
        let target_tensors: Vec<_> = layout
            .tensors
            .iter()
            .filter(|r| r.start >= q.start && r.end <= q.end)
            .map(|r| r.start - q.start..r.end - q.start)
            .collect();
        let target = read_values(&target_q.to_vec(), &target_tensors, "target heads")?;
        Ok(Self {
            adam: Adam::new(layout.len),
            shape: Arc::new(Shape {
                targets: layout.target_heads(),
                config: model.config.clone(),
                layout,
            }),
            params: Arc::new(params),
            target: Arc::new(target),
            workers: Workers::default(),
        })
    }

    /// Where each parameter lies in the flat buffers.
    fn layout(&self) -> &ModelLayout {
        &self.shape.layout
    }

    /// The objective's loss terms and gradient on `batch` at the current
    /// parameters, the batch split over `threads` threads (the parts'
    /// gradients summed in part order: deterministic for a thread count).
    pub fn gradient(
        &mut self,
        batch: &Batch,
        pair: (usize, usize),
        c: &TrainConfig,
        threads: usize,
    ) -> (LossTerms, Vec<f32>) {
        let whole = batch.batch;
        let jobs = split(batch, threads.max(1))
            .into_iter()
            .map(|part| Job {
                shape: self.shape.clone(),
                params: self.params.clone(),
                target: self.target.clone(),
                train: c.clone(),
                pair,
                batch: part,
                whole,
            })
            .collect();
        let results = self.workers.run(jobs);
        let mut results = results.into_iter();
        let Some(first) = results.next() else {
            return (LossTerms::default(), vec![0.0; self.layout().len]);
        };
        let (mut terms, mut grads) = (first.terms, first.grads);
        for r in results {
            terms = add_terms(terms, r.terms);
            for (a, b) in grads.iter_mut().zip(&r.grads) {
                *a += b;
            }
        }
        (terms, grads)
    }

    /// One optimiser step on `batch`: gradient, Adam with per-tensor
    /// clipping, then the target heads' Polyak update. Returns the loss
    /// terms before the step.
    pub fn step(
        &mut self,
        batch: &Batch,
        pair: (usize, usize),
        c: &TrainConfig,
        threads: usize,
    ) -> (LossTerms, FusedTimes) {
        let t0 = Instant::now();
        let (terms, mut grads) = self.gradient(batch, pair, c, threads);
        let t1 = Instant::now();
        // The workers have let go of the buffers: no copy is made here.
        let params = Arc::make_mut(&mut self.params);
        self.adam.step(
            params,
            &mut grads,
            &self.shape.layout.tensors,
            c.learning_rate as f32,
            c.grad_clip_norm,
        );
        let t2 = Instant::now();
        let target: &mut Vec<f32> = Arc::make_mut(&mut self.target);
        polyak(
            target,
            &params[self.shape.layout.q_range.clone()],
            c.target_tau,
        );
        let times = FusedTimes {
            gradient_s: (t1 - t0).as_secs_f64(),
            optimizer_s: (t2 - t1).as_secs_f64(),
            target_s: t2.elapsed().as_secs_f64(),
        };
        (terms, times)
    }

    /// `model` (this layout's architecture) holding the current values,
    /// each parameter keeping its id and its device, trainable.
    pub fn write_model(&self, model: WorldModel) -> WorldModel {
        with_flat_values(model, &self.params, true)
    }

    /// `targets` holding the target heads' current values, without gradient.
    pub fn write_targets(&self, targets: Vec<Mlp>) -> Vec<Mlp> {
        with_flat_values(targets, &self.target, false).no_grad()
    }

    /// Adam's state as bytes: [`FUSED_ADAM_MAGIC`], the step count, the
    /// number of values, then both moments (little-endian `f32`).
    pub fn adam_bytes(&self) -> Vec<u8> {
        let n = self.adam.moment_1.len();
        let mut out = Vec::with_capacity(24 + 8 * n);
        out.extend_from_slice(FUSED_ADAM_MAGIC);
        out.extend_from_slice(&self.adam.time.to_le_bytes());
        out.extend_from_slice(&(n as u64).to_le_bytes());
        for v in self.adam.moment_1.iter().chain(&self.adam.moment_2) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Restores Adam's state from [`Self::adam_bytes`] of a model of this
    /// layout; an error for other bytes, leaving the state as it was.
    pub fn restore_adam(&mut self, bytes: &[u8]) -> Result<(), ModelError> {
        let bad = |m: String| ModelError::Data(format!("fused optimiser state: {m}"));
        let rest = bytes
            .strip_prefix(FUSED_ADAM_MAGIC.as_slice())
            .ok_or_else(|| bad("not one (wrong magic)".into()))?;
        let word = |i: usize| -> Result<u64, ModelError> {
            let b = rest
                .get(i * 8..i * 8 + 8)
                .ok_or_else(|| bad("truncated header".into()))?;
            Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let (time, n) = (word(0)?, word(1)?);
        let len = self.layout().len;
        if n != len as u64 {
            return Err(bad(format!("{n} values, the model has {len}")));
        }
        let body = &rest[16..];
        if body.len() as u64 != 8 * n {
            return Err(bad(format!(
                "{} bytes of moments, expected {}",
                body.len(),
                8 * n
            )));
        }
        let values: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad("a moment is not finite".into()));
        }
        let (m1, m2) = values.split_at(len);
        self.adam = Adam {
            moment_1: m1.to_vec(),
            moment_2: m2.to_vec(),
            time,
        };
        Ok(())
    }
}

/// `acc + t`, term by term (each part's terms are already its share).
fn add_terms(acc: LossTerms, t: LossTerms) -> LossTerms {
    LossTerms {
        consistency: acc.consistency + t.consistency,
        reward: acc.reward + t.reward,
        value: acc.value + t.value,
        policy: acc.policy + t.policy,
        inverse: acc.inverse + t.inverse,
        decoder: acc.decoder + t.decoder,
        total: acc.total + t.total,
    }
}

/// The values of `module`'s parameters, flat in visit order, checked
/// against the `expected` tensor ranges.
fn read_values<M: Module>(
    module: &M,
    expected: &[std::ops::Range<usize>],
    what: &str,
) -> Result<Vec<f32>, ModelError> {
    let (values, found) = flat_values(module);
    let sizes: Vec<usize> = expected.iter().map(|r| r.len()).collect();
    if found != sizes {
        return Err(ModelError::Data(format!(
            "{what}: its tensors ({} of them) do not have the fused layout's sizes ({})",
            found.len(),
            sizes.len()
        )));
    }
    Ok(values)
}
