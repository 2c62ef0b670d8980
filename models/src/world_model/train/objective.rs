//! TD-MPC2's joint objective: the loss terms of one batch, and the draw of
//! the two target Q heads each optimiser step bootstraps from.

use burn::tensor::{Device, Tensor};

use super::sampler::Batch;
use crate::world_model::config::TrainConfig;
use crate::world_model::model::{WorldModel, min_of_heads, tensor_from_rows};
use crate::world_model::nn::Mlp;
use crate::world_model::pixels::pixels_tensor;
use crate::world_model::record::LossTerms;

/// The two target Q heads whose minimum is the TD target of optimiser
/// step `step` of a run seeded `seed`, in an ensemble of `n >= 2` heads.
/// As TD-MPC2, the pair is drawn afresh from a larger ensemble at every
/// step: pessimistic enough to curb the overestimation a planner exploits,
/// less so than the minimum of all heads. The draw is a hash of seed and
/// step, not taken from the batch sampler, so the batches of a seed stay
/// the same whatever the ensemble's size, and a resumed run draws the same
/// pairs as an uninterrupted one. With two heads it is always both.
pub fn target_pair(seed: u64, step: u64, n: usize) -> (usize, usize) {
    // splitmix64's finaliser: consecutive steps give unrelated draws.
    let mut x = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let draw = x ^ (x >> 31);
    let n = n.max(2) as u64;
    let i = draw % n;
    let j = (i + 1 + (draw / n) % (n - 1)) % n;
    (i as usize, j as usize)
}

/// TD-MPC2's joint objective on one batch: the weighted total (a scalar
/// tensor to differentiate) and the separate terms.
///
/// Only the latent rollout is sequential; every head then runs once on all
/// `H x B` rows at once (`t`-major), with each row weighted by its step's
/// `rho^t`. In an eager backend a few large operations cost far less than
/// `H` times as many small ones.
pub(super) fn losses(
    model: &WorldModel,
    target_q: &[Mlp],
    pair: (usize, usize),
    c: &TrainConfig,
    batch: &Batch,
    device: &Device,
) -> (Tensor<1>, LossTerms) {
    let (b, h) = (batch.batch, batch.horizon);
    let od = model.config.obs_dim;
    let ad = model.config.act_dim;
    let rows = |blocks: &[Vec<f32>], cols: usize| {
        let n = blocks.len();
        tensor_from_rows(blocks.concat(), n * b, cols, device)
    };
    let obs0 = tensor_from_rows(batch.obs[0].clone(), b, od, device);
    // `H x B` rows each, t-major.
    let obs_next = rows(&batch.obs[1..], od);
    let act = rows(&batch.actions, ad);
    let rew = rows(&batch.rewards, 1);
    let term = rows(&batch.terminal, 1);
    let eps_target = rows(&batch.eps_target, ad);
    let eps_policy = rows(&batch.eps_policy, ad);

    // Per-row weights: rho^t / (B sum_t rho^t), so that a weighted sum of
    // per-row means is the rho-weighted average over steps of batch means.
    let step_weights = |steps: usize| {
        let ws: Vec<f32> = (0..steps).map(|t| c.rho.powi(t as i32)).collect();
        let total: f32 = ws.iter().sum();
        let col: Vec<f32> = ws
            .iter()
            .flat_map(|w| std::iter::repeat_n(w / (total * b as f32), b))
            .collect();
        tensor_from_rows(col, steps * b, 1, device)
    };
    let w = step_weights(h);
    let weighted = |per_row: Tensor<2>, w: &Tensor<2>| per_row.mul(w.clone()).sum();

    // A pixel model's stacked images: the first observation's, and the
    // next ones' (`H x B`, t-major like the rows above).
    let (px0, px_next) = match &model.config.pixels {
        Some(p) if batch.pixels.len() == h + 1 => (
            Some(pixels_tensor(&batch.pixels[0], b, p, device)),
            Some(pixels_tensor(&batch.pixels[1..].concat(), h * b, p, device)),
        ),
        _ => (None, None),
    };
    // Only a pixel model that sees no observation vector keeps the decoder
    // from shaping its latent: the decoder then probes what the images
    // told the latent about the state, and teaches it nothing.
    let pixels_only = model.config.pixels.as_ref().is_some_and(|p| !p.state);

    // Targets: the encoder's latents of the true next observations, no gradient.
    let next_z = model.encode_input(obs_next, px_next).detach();

    // Latent rollout from the first observation.
    let mut zs = vec![model.encode_input(obs0, px0)];
    for t in 0..h {
        let a_t = act.clone().narrow(0, t * b, b);
        let z = model.next(zs[t].clone(), a_t);
        zs.push(z);
    }
    let z_now = Tensor::cat(zs[..h].to_vec(), 0);
    let z_next = Tensor::cat(zs[1..].to_vec(), 0);

    let consistency = weighted(
        (z_next.clone() - next_z.clone()).powi_scalar(2).mean_dim(1),
        &w,
    );
    let reward = weighted(
        (model.reward(z_now.clone(), act.clone()) - rew.clone()).powi_scalar(2),
        &w,
    );

    // TD target from the true next latent and the policy prior's sample there.
    let a_next = model
        .policy_sample(next_z.clone(), eps_target)
        .action
        .detach();
    let q_next = min_of_heads(target_q, pair, Tensor::cat(vec![next_z, a_next], 1)).detach();
    let not_done = term.neg().add_scalar(1.0);
    let td = (rew + q_next.mul(not_done).mul_scalar(c.gamma)).detach();
    let qs = model.q_all(z_now.clone(), act.clone());
    let nq = qs.len() as f32;
    let mut value = Tensor::<1>::zeros([1], device);
    for q in qs {
        value = value + weighted((q - td.clone()).powi_scalar(2), &w);
    }
    let value = value.mul_scalar(1.0 / nq);

    // Policy prior on detached latents, scored by the target ensemble.
    let zd = z_now.clone().detach();
    let ps = model.policy_sample(zd.clone(), eps_policy);
    let x = Tensor::cat(vec![zd, ps.action], 1);
    let q_pi = (target_q[0].forward(x.clone()) + target_q[1].forward(x)).mul_scalar(0.5);
    let policy = weighted(ps.log_prob.mul_scalar(c.entropy_coef) - q_pi, &w);

    // Inverse dynamics between successive predicted latents.
    let a_inv = model.inverse(z_now, z_next);
    let inverse = weighted((a_inv - act).powi_scalar(2).mean_dim(1), &w);

    // Observation decoder on the rolled-out latents, t = 0..=H, with
    // gradients into the encoder and the dynamics: it ties every predicted
    // latent to an observation, so multi-step predictions can be measured.
    let all_z = Tensor::cat(zs, 0);
    let all_z = if pixels_only { all_z.detach() } else { all_z };
    let all_obs = rows(&batch.obs, od);
    let decoder = weighted(
        (model.decode(all_z) - all_obs).powi_scalar(2).mean_dim(1),
        &step_weights(h + 1),
    );

    let total = consistency.clone().mul_scalar(c.consistency_coef)
        + reward.clone().mul_scalar(c.reward_coef)
        + value.clone().mul_scalar(c.value_coef)
        + policy.clone().mul_scalar(c.policy_coef)
        + inverse.clone().mul_scalar(c.inverse_coef)
        + decoder.clone().mul_scalar(c.decoder_coef);
    let s = |t: &Tensor<1>| t.clone().into_scalar::<f32>();
    let terms = LossTerms {
        consistency: s(&consistency),
        reward: s(&reward),
        value: s(&value),
        policy: s(&policy),
        inverse: s(&inverse),
        decoder: s(&decoder),
        total: s(&total),
    };
    (total, terms)
}

#[cfg(test)]
mod tests {
    use super::target_pair;

    #[test]
    fn target_pairs_are_distinct_heads_and_cover_every_pair() {
        for n in [2usize, 3, 5] {
            let mut seen = std::collections::BTreeSet::new();
            for step in 0..1000u64 {
                let (i, j) = target_pair(7, step, n);
                assert!(i < n && j < n && i != j, "n {n}, step {step}: ({i}, {j})");
                seen.insert((i.min(j), i.max(j)));
            }
            assert_eq!(seen.len(), n * (n - 1) / 2, "n {n}: pairs {seen:?}");
        }
        // Of five heads, every pair about equally often (1000 steps: ~100 each).
        let mut counts = std::collections::BTreeMap::new();
        for step in 0..1000u64 {
            let (i, j) = target_pair(3, step, 5);
            *counts.entry((i.min(j), i.max(j))).or_insert(0) += 1;
        }
        assert!(
            counts.values().all(|&c| (60..=140).contains(&c)),
            "{counts:?}"
        );
        // Deterministic in seed and step.
        assert_eq!(target_pair(1, 42, 5), target_pair(1, 42, 5));
    }
}
