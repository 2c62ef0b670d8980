//! The objective's gradient over several threads: the batch split into
//! parts, each part's forward and backward pass on its own thread against
//! its own copy of the parameters (its own autodiff graph), and the parts'
//! gradients combined in a fixed order.
//!
//! burn's CPU backend runs every operation on the calling thread, and an
//! optimiser step is some hundreds of small operations whose fixed cost
//! no intra-op threading removes (`umwelt bench train`); a part per core
//! halves what each thread does. Every loss term is a weighted mean over
//! the batch's rows, so the full batch's gradient is the parts' gradients
//! weighted by their share of the rows: the same step as one thread's, up
//! to the order of floating-point sums (deterministic for a thread count).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

use super::objective::losses;
use super::sampler::Batch;
use crate::world_model::config::TrainConfig;
use crate::world_model::model::WorldModel;
use crate::world_model::nn::Mlp;
use crate::world_model::record::LossTerms;

/// Rows of `batch` split into `parts` nearly equal contiguous parts (no
/// empty part: at most `batch.batch` of them).
pub(super) fn split(batch: &Batch, parts: usize) -> Vec<Batch> {
    let b = batch.batch;
    let parts = parts.clamp(1, b.max(1));
    let rows = |blocks: &[Vec<f32>], lo: usize, hi: usize| -> Vec<Vec<f32>> {
        blocks
            .iter()
            .map(|block| {
                let cols = block.len() / b.max(1);
                block[lo * cols..hi * cols].to_vec()
            })
            .collect()
    };
    (0..parts)
        .map(|p| {
            let (lo, hi) = (p * b / parts, (p + 1) * b / parts);
            Batch {
                batch: hi - lo,
                horizon: batch.horizon,
                obs: rows(&batch.obs, lo, hi),
                actions: rows(&batch.actions, lo, hi),
                rewards: rows(&batch.rewards, lo, hi),
                terminal: rows(&batch.terminal, lo, hi),
                eps_policy: rows(&batch.eps_policy, lo, hi),
                eps_target: rows(&batch.eps_target, lo, hi),
                pixels: batch
                    .pixels
                    .iter()
                    .map(|block| {
                        let cols = block.len() / b.max(1);
                        block[lo * cols..hi * cols].to_vec()
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The gradients of the objective on `batch` at `model`'s parameters
/// (keyed by its parameter ids) and the loss terms, computed on `threads`
/// threads.
pub(super) fn gradients(
    model: &WorldModel,
    target_q: &[Mlp],
    pair: (usize, usize),
    config: &TrainConfig,
    batch: &Batch,
    device: &Device,
    threads: usize,
) -> (GradientsParams, LossTerms) {
    let parts = split(batch, threads);
    let results: Vec<(GradientsParams, LossTerms, f32)> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                s.spawn(move || {
                    // A copy with fresh leaves: each thread builds its own
                    // graph, so no lock is shared while it computes.
                    let copy = model.clone().map(&mut Fork);
                    let (loss, terms) = losses(&copy, target_q, pair, config, part, device);
                    let grads = GradientsParams::from_grads(loss.backward(), &copy);
                    let share = part.batch as f32 / batch.batch.max(1) as f32;
                    (grads, terms, share)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                // A panic in a worker is a bug in the objective: re-raise
                // it where one thread's step would have raised it.
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    });
    let mut terms = LossTerms::default();
    let mut sum = Combine {
        parts: Vec::with_capacity(results.len()),
        out: GradientsParams::new(),
    };
    for (grads, t, share) in results {
        terms = add_terms(terms, t, share);
        sum.parts.push((grads, share));
    }
    model.visit(&mut sum);
    (sum.out, terms)
}

/// `acc + share * t`, term by term.
fn add_terms(acc: LossTerms, t: LossTerms, share: f32) -> LossTerms {
    LossTerms {
        consistency: acc.consistency + share * t.consistency,
        reward: acc.reward + share * t.reward,
        value: acc.value + share * t.value,
        policy: acc.policy + share * t.policy,
        inverse: acc.inverse + share * t.inverse,
        decoder: acc.decoder + share * t.decoder,
        total: acc.total + share * t.total,
    }
}

/// Gives every parameter a detached copy of its value as a new leaf that
/// requires a gradient, keeping its id.
struct Fork;

impl ModuleMapper for Fork {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.detach().require_grad(), mapper)
    }
}

/// Sums the parts' gradients of each parameter, weighted by their shares,
/// in part order.
struct Combine {
    parts: Vec<(GradientsParams, f32)>,
    out: GradientsParams,
}

impl ModuleVisitor for Combine {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id: ParamId = param.id;
        let mut total: Option<Tensor<D>> = None;
        for (grads, share) in &mut self.parts {
            if let Some(g) = grads.remove::<D>(id) {
                let g = g.mul_scalar(*share);
                total = Some(match total {
                    Some(t) => t + g,
                    None => g,
                });
            }
        }
        if let Some(t) = total {
            self.out.register(id, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(b: usize) -> Batch {
        let block = |cols: usize, base: f32| -> Vec<f32> {
            (0..b * cols).map(|i| base + i as f32).collect()
        };
        Batch {
            batch: b,
            horizon: 2,
            obs: vec![block(3, 0.0), block(3, 100.0), block(3, 200.0)],
            actions: vec![block(2, 300.0), block(2, 400.0)],
            rewards: vec![block(1, 500.0), block(1, 600.0)],
            terminal: vec![block(1, 0.0), block(1, 0.0)],
            eps_policy: vec![block(2, 700.0), block(2, 800.0)],
            eps_target: vec![block(2, 900.0), block(2, 1000.0)],
            pixels: Vec::new(),
        }
    }

    #[test]
    fn the_parts_are_the_batch_rows_in_order() {
        let whole = batch(7);
        for parts in [1, 2, 3, 7, 20] {
            let split = split(&whole, parts);
            assert_eq!(split.len(), parts.min(7));
            assert_eq!(split.iter().map(|p| p.batch).sum::<usize>(), 7);
            assert!(split.iter().all(|p| p.batch > 0 && p.horizon == 2));
            let joined = |f: &dyn Fn(&Batch) -> &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
                (0..f(&whole).len())
                    .map(|k| split.iter().flat_map(|p| f(p)[k].clone()).collect())
                    .collect()
            };
            assert_eq!(joined(&|b| &b.obs), whole.obs);
            assert_eq!(joined(&|b| &b.actions), whole.actions);
            assert_eq!(joined(&|b| &b.rewards), whole.rewards);
            assert_eq!(joined(&|b| &b.eps_target), whole.eps_target);
        }
    }
}
