//! A call's rows cut into tiles of [`TILE_ROWS`], each rolled through
//! the whole horizon on one thread's scratch before the next starts.

use super::super::config::WorldModelConfig;
use super::TILE_ROWS;
use super::bf16::Bf16Scratch;
use super::dispatch::{Input, forward};
use super::f32_dispatch::simnorm_rows;
use super::inference_model::InferenceModel;
use super::maths::{fast_exp, fast_tanh};

/// Per-thread scratch for one tile.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// `[z | a]` of the current step, `TILE_ROWS x (latent + act)`.
    pub(super) xa: Vec<f32>,
    /// `[z' | a']` being written, same shape.
    pub(super) xb: Vec<f32>,
    /// Hidden activations, `TILE_ROWS x hidden` each.
    pub(super) ha: Vec<f32>,
    pub(super) hb: Vec<f32>,
    /// One row of a first layer for a shared `z0`.
    pub(super) pre: Vec<f32>,
    /// Small head outputs, `TILE_ROWS x max(2 act, 1)`.
    pub(super) head: Vec<f32>,
    /// Q head outputs, `TILE_ROWS` each.
    pub(super) q0: Vec<f32>,
    pub(super) q1: Vec<f32>,
    /// A layer's inputs rounded to bfloat16.
    pub(super) bf16: Bf16Scratch,
}

impl Scratch {
    pub(super) fn new(c: &WorldModelConfig) -> Self {
        let t = TILE_ROWS;
        let w = c.latent_dim + c.act_dim;
        let head = (2 * c.act_dim).max(1);
        Self {
            xa: vec![0.0; t * w],
            xb: vec![0.0; t * w],
            ha: vec![0.0; t * c.hidden],
            hb: vec![0.0; t * c.hidden],
            pre: vec![0.0; c.hidden.max(c.latent_dim).max(head)],
            head: vec![0.0; t * head],
            q0: vec![0.0; t],
            q1: vec![0.0; t],
            bf16: Bf16Scratch::new(t, w.max(c.hidden).max(c.obs_dim)),
        }
    }
}

/// The reward of each row into `rewards[i * h + t]` and the next latent
/// (SimNorm) into `s.xb`, for step `t` from input `x`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_tile(
    model: &InferenceModel,
    s: &mut Scratch,
    x: Input<'_>,
    m: usize,
    t: usize,
    h: usize,
    rewards: &mut [f32],
) {
    let c = &model.config;
    let w = c.latent_dim + c.act_dim;
    let Scratch {
        xb,
        ha,
        hb,
        pre,
        head,
        bf16,
        ..
    } = s;
    forward(&model.reward, m, x, ha, hb, pre, bf16, 1, head, 1);
    for i in 0..m {
        rewards[i * h + t] = head[i];
    }
    forward(
        &model.dynamics,
        m,
        x,
        ha,
        hb,
        pre,
        bf16,
        c.latent_dim,
        xb,
        w,
    );
    simnorm_rows(xb, w, m, c.latent_dim, c.simnorm_group);
}

/// Rolls `m <= TILE_ROWS` samples from `z0` under `actions` (`m x h x A`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rollout_tile(
    model: &InferenceModel,
    s: &mut Scratch,
    z0: &[f32],
    actions: &[f32],
    m: usize,
    h: usize,
    rewards: &mut [f32],
    values: &mut [f32],
    latents: &mut [f32],
) {
    let c = &model.config;
    let (l, a) = (c.latent_dim, c.act_dim);
    let w = l + a;
    if h == 0 {
        for i in 0..m {
            s.xa[i * w..i * w + l].copy_from_slice(z0);
        }
    }
    for t in 0..h {
        if t == 0 {
            let x = Input::SharedZ0 {
                z0,
                actions,
                a_rs: h * a,
            };
            step_tile(model, s, x, m, t, h, rewards);
        } else {
            for i in 0..m {
                let src = (i * h + t) * a;
                s.xa[i * w + l..(i + 1) * w].copy_from_slice(&actions[src..src + a]);
            }
            let xa = std::mem::take(&mut s.xa);
            step_tile(model, s, Input::Rows(&xa, w), m, t, h, rewards);
            s.xa = xa;
        }
        std::mem::swap(&mut s.xa, &mut s.xb);
    }
    // Terminal value: mean of Q0, Q1 at (z_H, tanh(mu(z_H))); only the
    // policy's mean outputs are computed.
    let Scratch {
        xa,
        ha,
        hb,
        pre,
        head,
        q0,
        q1,
        bf16,
        ..
    } = s;
    forward(
        &model.policy,
        m,
        Input::Rows(xa, w),
        ha,
        hb,
        pre,
        bf16,
        a,
        head,
        a,
    );
    for i in 0..m {
        for j in 0..a {
            xa[i * w + l + j] = fast_tanh(head[i * a + j]);
        }
    }
    for (q, out) in model.q.iter().zip([&mut *q0, &mut *q1]) {
        forward(q, m, Input::Rows(xa, w), ha, hb, pre, bf16, 1, out, 1);
    }
    for i in 0..m {
        values[i] = (q0[i] + q1[i]) * 0.5;
        latents[i * l..(i + 1) * l].copy_from_slice(&xa[i * w..i * w + l]);
    }
}

/// Policy-prior trajectories of `m <= TILE_ROWS` samples from `z0`.
#[inline(always)]
fn policy_tile(
    model: &InferenceModel,
    s: &mut Scratch,
    z0: &[f32],
    noise: &[f32],
    m: usize,
    h: usize,
    actions: &mut [f32],
) {
    let c = &model.config;
    let (l, a) = (c.latent_dim, c.act_dim);
    let w = l + a;
    let (lo, hi) = (c.log_std_min, c.log_std_max);
    let half_range = 0.5 * (hi - lo);
    let Scratch {
        xa,
        xb,
        ha,
        hb,
        pre,
        head,
        bf16,
        ..
    } = s;
    for t in 0..h {
        // At t = 0 every row is z0: one row of policy outputs serves all.
        let (rows, row_stride) = if t == 0 { (1, 0) } else { (m, 2 * a) };
        let x = if t == 0 {
            Input::Rows(z0, l)
        } else {
            Input::Rows(xa, w)
        };
        forward(
            &model.policy,
            rows,
            x,
            ha,
            hb,
            pre,
            bf16,
            2 * a,
            head,
            2 * a,
        );
        for i in 0..m {
            for j in 0..a {
                let mu = head[i * row_stride + j];
                let raw = head[i * row_stride + a + j];
                // The same operations in the same order as WorldModel::policy_params.
                let log_std = (fast_tanh(raw) + 1.0) * half_range + lo;
                let k = (i * h + t) * a + j;
                let act = fast_tanh(mu + noise[k] * fast_exp(log_std));
                xa[i * w + l + j] = act;
                actions[k] = act;
            }
        }
        if t + 1 < h {
            let x = if t == 0 {
                Input::SharedZ0 {
                    z0,
                    actions: &xa[l..],
                    a_rs: w,
                }
            } else {
                Input::Rows(xa, w)
            };
            forward(&model.dynamics, m, x, ha, hb, pre, bf16, l, xb, w);
            simnorm_rows(xb, w, m, l, c.simnorm_group);
            std::mem::swap(xa, xb);
        }
    }
}

/// Encodes `m <= TILE_ROWS` observations into latents.
#[inline(always)]
fn encode_tile(model: &InferenceModel, s: &mut Scratch, obs: &[f32], m: usize, z: &mut [f32]) {
    let c = &model.config;
    let l = c.latent_dim;
    forward(
        &model.encoder,
        m,
        Input::Rows(obs, c.obs_dim),
        &mut s.ha,
        &mut s.hb,
        &mut s.pre,
        &mut s.bf16,
        l,
        z,
        l,
    );
    simnorm_rows(z, l, m, l, c.simnorm_group);
}

/// Decodes `m <= TILE_ROWS` latents into normalised observations.
#[inline(always)]
fn decode_tile(model: &InferenceModel, s: &mut Scratch, z: &[f32], m: usize, obs: &mut [f32]) {
    let d = model.decoded_dim();
    forward(
        &model.decoder,
        m,
        Input::Rows(z, model.config.latent_dim),
        &mut s.ha,
        &mut s.hb,
        &mut s.pre,
        &mut s.bf16,
        d,
        obs,
        d,
    );
}

/// One thread's share of a call: rows `0..rows` of its inputs and outputs.
pub(super) enum Work<'a> {
    /// Nothing (a round trip).
    Nothing,
    Rollout {
        z0: &'a [f32],
        actions: &'a [f32],
        h: usize,
        rewards: &'a mut [f32],
        values: &'a mut [f32],
        latents: &'a mut [f32],
    },
    Policy {
        z0: &'a [f32],
        noise: &'a [f32],
        h: usize,
        actions: &'a mut [f32],
    },
    Encode {
        obs: &'a [f32],
        z: &'a mut [f32],
    },
    Decode {
        z: &'a [f32],
        obs: &'a mut [f32],
    },
}

/// Runs `work` for `rows` rows, tile by tile.
#[inline(always)]
fn run_rows(model: &InferenceModel, s: &mut Scratch, rows: usize, work: Work<'_>) {
    let c = &model.config;
    let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
    let mut r = 0;
    match work {
        Work::Nothing => {}
        Work::Rollout {
            z0,
            actions,
            h,
            rewards,
            values,
            latents,
        } => {
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                rollout_tile(
                    model,
                    s,
                    z0,
                    &actions[r * h * a..],
                    m,
                    h,
                    &mut rewards[r * h..],
                    &mut values[r..],
                    &mut latents[r * l..],
                );
                r += m;
            }
        }
        Work::Policy {
            z0,
            noise,
            h,
            actions,
        } => {
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                policy_tile(
                    model,
                    s,
                    z0,
                    &noise[r * h * a..],
                    m,
                    h,
                    &mut actions[r * h * a..],
                );
                r += m;
            }
        }
        Work::Encode { obs, z } => {
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                encode_tile(model, s, &obs[r * o..], m, &mut z[r * l..]);
                r += m;
            }
        }
        Work::Decode { z, obs } => {
            let d = model.decoded_dim();
            while r < rows {
                let m = TILE_ROWS.min(rows - r);
                decode_tile(model, s, &z[r * l..], m, &mut obs[r * d..]);
                r += m;
            }
        }
    }
}

/// AVX2+FMA build of [`run_rows`]: the kernels are inlined into it, so the
/// compiler vectorises them 8 lanes wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_rows_avx2(model: &InferenceModel, s: &mut Scratch, rows: usize, work: Work<'_>) {
    run_rows(model, s, rows, work)
}

/// [`run_rows`] in the best build this CPU supports.
pub(super) fn compute(model: &InferenceModel, s: &mut Scratch, rows: usize, work: Work<'_>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features run_rows_avx2 is compiled for.
        unsafe { run_rows_avx2(model, s, rows, work) };
        return;
    }
    run_rows(model, s, rows, work)
}
