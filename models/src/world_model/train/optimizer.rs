//! Adam: the optimiser a [`Trainer`] steps with, and the trainer's state
//! saved beside a checkpoint and restored on resume: Adam's moments (keyed
//! by parameter ids), the target heads and the batch generator.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Bytes, Tensor};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::fused::{FUSED_ADAM_MAGIC, Fused};
use super::params::{flat_len, flat_values, with_flat_values};
use super::{TrainEngine, Trainer};
use crate::world_model::config::ModelError;
use crate::world_model::nn::Mlp;
use crate::world_model::record::{OptimizerState, ResumeState};

/// Adam with per-tensor gradient-norm clipping at `grad_clip_norm`.
pub(super) fn adam(grad_clip_norm: f32) -> ModuleOptimizer {
    AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(grad_clip_norm)))
        .init()
}

impl Trainer {
    /// The state a resumed trainer needs besides the weights, to persist
    /// beside a checkpoint: Adam's moments keyed by the parameter ids, the
    /// target Q heads and the batch generator's position
    /// ([`crate::world_model::ResumeState`]).
    pub fn optimizer_state(&self) -> Result<OptimizerState, ModelError> {
        let record = match &self.fused {
            Some(f) => f.adam_bytes(),
            None => self
                .optim
                .into_bytes()
                .map_err(|e| ModelError::Data(format!("optimiser state: {e}")))?
                .to_vec(),
        };
        let mut ids = Ids(Vec::new());
        self.model.visit(&mut ids);
        Ok(OptimizerState {
            param_ids: ids.0,
            record,
            resume: Some(ResumeState {
                target_q: flat_values(&self.targets()).0,
                rng_seed: self.rng.get_seed(),
                rng_stream: self.rng.get_stream(),
                rng_word_pos: self.rng.get_word_pos(),
            }),
        })
    }

    /// Restores the state saved by [`Self::optimizer_state`] from a run of
    /// the same architecture: the model's parameters take the saved ids
    /// (their values stay), the optimiser loads its record, and, where the
    /// sidecar has them (version 4 on), the target heads and the batch
    /// generator continue where they were: the next steps are the ones the
    /// saving run would have taken, bit for bit (same engine and thread
    /// count). The record's engine ([`TrainEngine`]) becomes this
    /// trainer's: Adam's moments continue only on the engine that kept
    /// them. An error changes nothing.
    pub fn restore_optimizer_state(&mut self, state: &OptimizerState) -> Result<(), ModelError> {
        self.check_ids(state)?;
        let targets = match &state.resume {
            Some(r) => Some(self.targets_of(&r.target_q)?),
            None => None,
        };
        if state.record.starts_with(FUSED_ADAM_MAGIC) {
            // The engine's current values into the model first: the new
            // engine state is made from it.
            let model = self.model();
            let target_q = targets.unwrap_or_else(|| self.targets());
            let mut fused = Fused::new(&model, &target_q)?;
            fused.restore_adam(&state.record)?;
            self.model = model;
            self.target_q = target_q;
            self.fused = Some(fused);
        } else {
            let optim = adam(self.config.grad_clip_norm)
                .from_bytes(Bytes::from_bytes_vec(state.record.clone()))
                .map_err(|e| ModelError::Data(format!("optimiser state: {e}")))?;
            self.set_engine(TrainEngine::Burn)?;
            self.optim = optim;
            if let Some(t) = targets {
                self.target_q = t;
            }
        }
        self.reid(state)?;
        if let Some(r) = &state.resume {
            let mut rng = ChaCha8Rng::from_seed(r.rng_seed);
            rng.set_stream(r.rng_stream);
            rng.set_word_pos(r.rng_word_pos);
            self.rng = rng;
        }
        Ok(())
    }

    /// Target heads of this model's shape holding `values` (flat, visit
    /// order); an error for another count or a value that is not finite.
    fn targets_of(&self, values: &[f32]) -> Result<Vec<Mlp>, ModelError> {
        let expected = flat_len(&self.target_q);
        if values.len() != expected {
            return Err(ModelError::Data(format!(
                "optimiser state: {} target-head values, the model's target heads have {expected}",
                values.len()
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Data(
                "optimiser state: a target-head value is not finite".into(),
            ));
        }
        Ok(with_flat_values(self.target_q.clone(), values, false).no_grad())
    }

    /// An error unless `state` has one id per parameter of the model.
    fn check_ids(&self, state: &OptimizerState) -> Result<(), ModelError> {
        let mut ids = Ids(Vec::new());
        self.model.visit(&mut ids);
        if ids.0.len() != state.param_ids.len() {
            return Err(ModelError::Data(format!(
                "optimiser state has {} parameters, the model {}",
                state.param_ids.len(),
                ids.0.len()
            )));
        }
        Ok(())
    }

    /// Gives the model's parameters `state`'s ids (their values stay).
    fn reid(&mut self, state: &OptimizerState) -> Result<(), ModelError> {
        self.check_ids(state)?;
        let mut reid = Reid(state.param_ids.clone().into_iter());
        self.model = self.model.clone().map(&mut reid);
        Ok(())
    }
}

/// Collects parameter ids in visit order.
struct Ids(Vec<u64>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
}

/// Gives parameters the ids it yields, in visit order.
struct Reid(std::vec::IntoIter<u64>);

impl ModuleMapper for Reid {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let id = self.0.next().map(ParamId::from).unwrap_or(id);
        Param::from_mapped_value(id, tensor, mapper)
    }
}
