//! TD-MPC2's joint objective on rows of a batch, forward and backward by
//! hand: the same terms, in the same order, as burn's
//! [`crate::world_model::train`] objective (which the tests check these
//! gradients against), for a state or a pixel model.

use super::conv;
use super::kernels::{add_column_block, concat_columns, simnorm, simnorm_backward};
use super::layout::{MlpAt, ModelLayout};
use super::mlp::{InputGrad, backward, forward};
use crate::world_model::config::{TrainConfig, WorldModelConfig};
use crate::world_model::record::LossTerms;
use crate::world_model::train::Batch;

/// What one part of a batch contributes: the loss terms (already weighted
/// as shares of the whole batch) and the gradient of the total.
pub(super) struct PartResult {
    pub terms: LossTerms,
    pub grads: Vec<f32>,
}

/// The networks a step reads: the online parameters and the target Q heads.
pub(super) struct Nets<'a> {
    pub layout: &'a ModelLayout,
    pub params: &'a [f32],
    pub targets: &'a [MlpAt],
    pub target_params: &'a [f32],
    pub pair: (usize, usize),
}

/// Each row's weight `rho^t / (B sum_t rho^t)` for `steps` steps of `b`
/// rows, `B` the whole batch's rows: the weighted sum of per-row losses
/// over all parts is the rho-weighted average over steps of batch means.
fn step_weights(rho: f32, steps: usize, b: usize, whole: usize) -> Vec<f32> {
    let ws: Vec<f32> = (0..steps).map(|t| rho.powi(t as i32)).collect();
    let total: f32 = ws.iter().sum();
    ws.iter()
        .flat_map(|w| std::iter::repeat_n(w / (total * whole as f32), b))
        .collect()
}

/// The tanh-squashed Gaussian policy sample of `policy`'s output `out`
/// (`rows x 2A`: mean, pre-squash log-std) with noise `eps`.
struct Squashed {
    /// `tanh(u)`, `rows x A`.
    action: Vec<f32>,
    /// `exp(log_std)`, `rows x A`.
    std: Vec<f32>,
    /// `tanh` of the raw log-std, `rows x A`.
    tanh_raw: Vec<f32>,
    /// Each row's log-probability (with the tanh correction).
    log_prob: Vec<f32>,
}

fn squash(m: &WorldModelConfig, out: &[f32], eps: &[f32], rows: usize) -> Squashed {
    let a = m.act_dim;
    let (lo, hi) = (m.log_std_min, m.log_std_max);
    let half_log_2pi = 0.5 * (2.0 * std::f32::consts::PI).ln();
    let mut s = Squashed {
        action: vec![0.0; rows * a],
        std: vec![0.0; rows * a],
        tanh_raw: vec![0.0; rows * a],
        log_prob: vec![0.0; rows],
    };
    for r in 0..rows {
        let mut lp = 0.0f32;
        for j in 0..a {
            let (mean, raw) = (out[r * 2 * a + j], out[r * 2 * a + a + j]);
            let tr = raw.tanh();
            let log_std = (tr + 1.0) * (0.5 * (hi - lo)) + lo;
            let std = log_std.exp();
            let e = eps[r * a + j];
            let act = (mean + e * std).tanh();
            lp += (-0.5 * e * e - log_std) - half_log_2pi;
            lp -= (1.0 + 1e-6 - act * act).ln();
            s.action[r * a + j] = act;
            s.std[r * a + j] = std;
            s.tanh_raw[r * a + j] = tr;
        }
        s.log_prob[r] = lp;
    }
    s
}

/// The objective's terms and gradient on one part of a batch, `whole` the
/// batch's rows (the part's terms are its share of the batch's).
pub(super) fn part(
    nets: &Nets<'_>,
    m: &WorldModelConfig,
    c: &TrainConfig,
    batch: &Batch,
    whole: usize,
) -> PartResult {
    let (b, h) = (batch.batch, batch.horizon);
    let (o, a, l, g) = (m.obs_dim, m.act_dim, m.latent_dim, m.simnorm_group);
    let lay = nets.layout;
    let p = nets.params;
    let hb = h * b;
    let obs_all = batch.obs.concat();
    let obs_next = &obs_all[b * o..];
    let act = batch.actions.concat();
    let rew = batch.rewards.concat();
    let term = batch.terminal.concat();
    let eps_target = batch.eps_target.concat();
    let eps_policy = batch.eps_policy.concat();
    let w = step_weights(c.rho, h, b, whole);
    let w_all = step_weights(c.rho, h + 1, b, whole);
    let mut grads = vec![0.0f32; lay.len];

    // What the encoder MLP reads: the observations, or a pixel model's
    // convolution features (joined by the observations when it reads both).
    let stack = lay.pixel.as_ref();
    let reads_state = m.pixels.as_ref().is_some_and(|pc| pc.state);
    // Stacked images of steps `t` (none given: zeros, as burn's).
    let images = |t: std::ops::Range<usize>| -> Vec<u8> {
        if batch.pixels.len() == h + 1 {
            batch.pixels[t].concat()
        } else {
            Vec::new()
        }
    };
    let encoder_input = |features: Vec<f32>, obs: &[f32], rows: usize, f: usize| {
        if reads_state {
            concat_columns(&features, f, obs, o, rows)
        } else {
            features
        }
    };

    // Targets: the encoder's latents of the true next observations.
    let next_in = match stack {
        Some(st) => {
            let f = conv::forward(st, p, &images(1..h + 1), hb, false).into_features();
            encoder_input(f, obs_next, hb, st.feature_len())
        }
        None => obs_next.to_vec(),
    };
    let mut next_z = forward(&lay.encoder, p, &next_in, hb).out;
    simnorm(&mut next_z, g);
    drop(next_in);

    // The latent rollout; z_all holds z_0..z_H, t-major.
    let obs0 = &obs_all[..b * o];
    let (x0, conv0) = match stack {
        Some(st) => {
            let mut pass = conv::forward(st, p, &images(0..1), b, true);
            let f = std::mem::take(&mut pass.features);
            (
                encoder_input(f, obs0, b, st.feature_len()),
                Some((st, pass)),
            )
        }
        None => (obs0.to_vec(), None),
    };
    let enc = forward(&lay.encoder, p, &x0, b);
    let mut z_all = enc.out.clone();
    simnorm(&mut z_all, g);
    let mut dyn_passes = Vec::with_capacity(h);
    for t in 0..h {
        let x = concat_columns(&z_all[t * b * l..], l, &act[t * b * a..], a, b);
        let pass = forward(&lay.dynamics, p, &x, b);
        let mut z = pass.out.clone();
        simnorm(&mut z, g);
        z_all.extend_from_slice(&z);
        dyn_passes.push((x, pass));
    }
    let z_now = &z_all[..hb * l];
    let z_next = &z_all[b * l..];
    let mut dz = vec![0.0f32; (h + 1) * b * l];

    // Consistency.
    let mut consistency = 0.0f32;
    for r in 0..hb {
        let mut sq = 0.0;
        for j in 0..l {
            let e = z_next[r * l + j] - next_z[r * l + j];
            sq += e * e;
            dz[(b + r) * l + j] += c.consistency_coef * w[r] * 2.0 * e / l as f32;
        }
        consistency += w[r] * sq / l as f32;
    }

    // Reward, and every Q head, on [z, a].
    let za = concat_columns(z_now, l, &act, a, hb);
    let mut reward = 0.0f32;
    let rp = forward(&lay.reward, p, &za, hb);
    let mut dr = vec![0.0f32; hb];
    for r in 0..hb {
        let e = rp.out[r] - rew[r];
        reward += w[r] * e * e;
        dr[r] = c.reward_coef * w[r] * 2.0 * e;
    }
    let dzr = backward(
        &lay.reward,
        p,
        &za,
        &rp,
        dr,
        Some(&mut grads),
        InputGrad::Columns(0, l),
    );
    add_rows(&mut dz[..hb * l], &dzr);

    // TD target: the policy's sample at the true next latent, the minimum
    // of the drawn pair of target heads there.
    let tp = &nets.target_params;
    let pol_next = forward(&lay.policy, p, &next_z, hb);
    let a_next = squash(m, &pol_next.out, &eps_target, hb).action;
    let zn_a = concat_columns(&next_z, l, &a_next, a, hb);
    let q0 = forward(&nets.targets[nets.pair.0], tp, &zn_a, hb).out;
    let q1 = forward(&nets.targets[nets.pair.1], tp, &zn_a, hb).out;
    let td: Vec<f32> = (0..hb)
        .map(|r| {
            let q = if q1[r] < q0[r] { q1[r] } else { q0[r] };
            rew[r] + q * (1.0 - term[r]) * c.gamma
        })
        .collect();
    let nq = lay.q.len() as f32;
    let mut value = 0.0f32;
    for head in &lay.q {
        let qp = forward(head, p, &za, hb);
        let mut dq = vec![0.0f32; hb];
        for r in 0..hb {
            let e = qp.out[r] - td[r];
            value += w[r] * e * e / nq;
            dq[r] = c.value_coef * w[r] * 2.0 * e / nq;
        }
        let dzq = backward(
            head,
            p,
            &za,
            &qp,
            dq,
            Some(&mut grads),
            InputGrad::Columns(0, l),
        );
        add_rows(&mut dz[..hb * l], &dzq);
    }

    // Policy prior on the detached latents, scored by target heads 0 and 1.
    let pol = forward(&lay.policy, p, z_now, hb);
    let s = squash(m, &pol.out, &eps_policy, hb);
    let z_pi = concat_columns(z_now, l, &s.action, a, hb);
    let (ta, tb) = (&nets.targets[0], &nets.targets[1]);
    let qa = forward(ta, tp, &z_pi, hb);
    let qb = forward(tb, tp, &z_pi, hb);
    let mut policy = 0.0f32;
    let mut dq_pi = vec![0.0f32; hb];
    for r in 0..hb {
        let q_pi = 0.5 * (qa.out[r] + qb.out[r]);
        policy += w[r] * (c.entropy_coef * s.log_prob[r] - q_pi);
        dq_pi[r] = -0.5 * c.policy_coef * w[r];
    }
    let cols = InputGrad::Columns(l, l + a);
    let mut da = backward(ta, tp, &z_pi, &qa, dq_pi.clone(), None, cols);
    let db = backward(
        tb,
        tp,
        &z_pi,
        &qb,
        dq_pi,
        None,
        InputGrad::Columns(l, l + a),
    );
    add_rows(&mut da, &db);
    let (lo, hi) = (m.log_std_min, m.log_std_max);
    let mut dpol = vec![0.0f32; hb * 2 * a];
    for r in 0..hb {
        let dlp = c.policy_coef * w[r] * c.entropy_coef;
        for j in 0..a {
            let k = r * a + j;
            let act_v = s.action[k];
            let d_act = da[k] + dlp * 2.0 * act_v / (1.0 + 1e-6 - act_v * act_v);
            let du = d_act * (1.0 - act_v * act_v);
            let dlog_std = du * eps_policy[k] * s.std[k] - dlp;
            dpol[r * 2 * a + j] = du;
            dpol[r * 2 * a + a + j] =
                dlog_std * 0.5 * (hi - lo) * (1.0 - s.tanh_raw[k] * s.tanh_raw[k]);
        }
    }
    backward(
        &lay.policy,
        p,
        z_now,
        &pol,
        dpol,
        Some(&mut grads),
        InputGrad::None,
    );

    // Inverse dynamics between successive predicted latents.
    let zz = concat_columns(z_now, l, z_next, l, hb);
    let ip = forward(&lay.inverse, p, &zz, hb);
    let mut inverse = 0.0f32;
    let mut di = vec![0.0f32; hb * a];
    for r in 0..hb {
        for j in 0..a {
            let ai = ip.out[r * a + j].tanh();
            let e = ai - act[r * a + j];
            inverse += w[r] * e * e / a as f32;
            di[r * a + j] = c.inverse_coef * w[r] * 2.0 * e / a as f32 * (1.0 - ai * ai);
        }
    }
    let dzz = backward(
        &lay.inverse,
        p,
        &zz,
        &ip,
        di,
        Some(&mut grads),
        InputGrad::Columns(0, 2 * l),
    );
    add_column_block(&mut dz[..hb * l], l, &dzz, 2 * l, 0);
    add_column_block(&mut dz[b * l..], l, &dzz, 2 * l, l);

    // Observation decoder on every rolled-out latent.
    let dp = forward(&lay.decoder, p, &z_all, (h + 1) * b);
    let mut decoder = 0.0f32;
    let mut dd = vec![0.0f32; (h + 1) * b * o];
    for r in 0..(h + 1) * b {
        for j in 0..o {
            let e = dp.out[r * o + j] - obs_all[r * o + j];
            decoder += w_all[r] * e * e / o as f32;
            dd[r * o + j] = c.decoder_coef * w_all[r] * 2.0 * e / o as f32;
        }
    }
    // A pixel model that sees no observation vector keeps the decoder from
    // shaping its latent (a probe, as burn's objective detaches it there).
    let pixels_only = m.pixels.as_ref().is_some_and(|pc| !pc.state);
    let wanted = if pixels_only {
        InputGrad::None
    } else {
        InputGrad::Columns(0, l)
    };
    let dzd = backward(&lay.decoder, p, &z_all, &dp, dd, Some(&mut grads), wanted);
    if !pixels_only {
        add_rows(&mut dz, &dzd);
    }

    // Back through the rollout, last step first, then the encoder.
    for t in (0..h).rev() {
        let (x, pass) = &dyn_passes[t];
        let s_out = &z_all[(t + 1) * b * l..(t + 2) * b * l];
        let mut dpre = dz[(t + 1) * b * l..(t + 2) * b * l].to_vec();
        simnorm_backward(&mut dpre, s_out, g);
        let dzt = backward(
            &lay.dynamics,
            p,
            x,
            pass,
            dpre,
            Some(&mut grads),
            InputGrad::Columns(0, l),
        );
        add_rows(&mut dz[t * b * l..(t + 1) * b * l], &dzt);
    }
    let mut d0 = dz[..b * l].to_vec();
    simnorm_backward(&mut d0, &z_all[..b * l], g);
    let wanted = match &conv0 {
        Some((st, _)) => InputGrad::Columns(0, st.feature_len()),
        None => InputGrad::None,
    };
    let dfeatures = backward(&lay.encoder, p, &x0, &enc, d0, Some(&mut grads), wanted);
    if let Some((st, pass)) = &conv0 {
        conv::backward(st, p, pass, &dfeatures, &mut grads);
    }

    let total = c.consistency_coef * consistency
        + c.reward_coef * reward
        + c.value_coef * value
        + c.policy_coef * policy
        + c.inverse_coef * inverse
        + c.decoder_coef * decoder;
    PartResult {
        terms: LossTerms {
            consistency,
            reward,
            value,
            policy,
            inverse,
            decoder,
            total,
        },
        grads,
    }
}

/// `acc += x`, element by element.
fn add_rows(acc: &mut [f32], x: &[f32]) {
    for (a, v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}
