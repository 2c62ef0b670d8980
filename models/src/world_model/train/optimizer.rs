//! Adam: the optimiser a [`Trainer`] steps with, and its state saved beside
//! a checkpoint and restored on resume (keyed by parameter ids).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Bytes, Tensor};

use super::fused::{FUSED_ADAM_MAGIC, Fused};
use super::{TrainEngine, Trainer};
use crate::world_model::config::ModelError;
use crate::world_model::record::OptimizerState;

/// Adam with per-tensor gradient-norm clipping at `grad_clip_norm`.
pub(super) fn adam(grad_clip_norm: f32) -> ModuleOptimizer {
    AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(grad_clip_norm)))
        .init()
}

impl Trainer {
    /// Adam's state and the parameter ids it is keyed by, to persist beside
    /// a checkpoint.
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
        })
    }

    /// Restores Adam's state saved by [`Self::optimizer_state`] from a run
    /// of the same architecture: the model's parameters take the saved ids
    /// (their values stay), then the optimiser loads its record. The
    /// record's engine ([`TrainEngine`]) becomes this trainer's: Adam's
    /// moments continue where they were only on the engine that kept them.
    pub fn restore_optimizer_state(&mut self, state: &OptimizerState) -> Result<(), ModelError> {
        if state.record.starts_with(FUSED_ADAM_MAGIC) {
            let mut fused = match &self.fused {
                Some(f) => f.clone(),
                None => Fused::new(&self.model, &self.target_q)?,
            };
            fused.restore_adam(&state.record)?;
            self.reid(state)?;
            self.fused = Some(fused);
            return Ok(());
        }
        self.set_engine(TrainEngine::Burn)?;
        self.check_ids(state)?;
        let optim = adam(self.config.grad_clip_norm)
            .from_bytes(Bytes::from_bytes_vec(state.record.clone()))
            .map_err(|e| ModelError::Data(format!("optimiser state: {e}")))?;
        self.reid(state)?;
        self.optim = optim;
        Ok(())
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
