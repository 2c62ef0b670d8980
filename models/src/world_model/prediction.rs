//! Multi-step prediction error on held-out episodes, in observation space.
//!
//! From every start `t` (every `stride`-th step) of each episode, the model
//! encodes `o_t`, rolls its latent dynamics `k` steps under the logged
//! actions `a_t .. a_{t+k-1}`, decodes the latent and compares it with the
//! true `o_{t+k}`; the reward head's prediction of the `k`-th step's reward
//! `r_{t+k-1}` is compared with the logged reward. Beside it, two
//! baselines that need no model:
//!
//! - observations: the *constant state*, `o_{t+k} = o_t`;
//! - rewards: the *mean reward* of the compared rewards (the best constant
//!   in hindsight, so its MSE is their variance).
//!
//! Every horizon uses the same starts: those with `t + max(horizons)` within
//! the episode.

use serde::{Deserialize, Serialize};

use super::config::ModelError;
use super::model::{WorldModel, tensor_from_rows, tensor_to_vec};
use super::normalize::Normalization;
use super::pixels::{pixels_tensor, stack_at};
use crate::dataset::Episode;

/// Starts rolled out together: bounds memory on long data sets.
const CHUNK: usize = 2048;

/// Errors of the model and of the baselines at one horizon `k`.
///
/// Computed in `f64`, stored as `f32`: `f32` survives the JSON of a
/// checkpoint's metadata exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HorizonError {
    /// Steps ahead.
    pub k: usize,
    /// MSE of the decoded prediction of `o_{t+k}`, normalised units, mean over dimensions.
    pub model_mse: f32,
    /// The same for the constant-state baseline `o_t`.
    pub baseline_mse: f32,
    /// RMSE of the prediction per observation dimension, physical units.
    pub model_rmse: Vec<f32>,
    /// The same for the constant-state baseline.
    pub baseline_rmse: Vec<f32>,
    /// MSE of the predicted reward of step `k` (`r_{t+k-1}`).
    pub model_reward_mse: f32,
    /// MSE of the mean reward at step `k` (their variance).
    pub baseline_reward_mse: f32,
}

/// Result of [`evaluate_prediction`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionReport {
    /// Episodes evaluated (those long enough for the longest horizon).
    pub episodes: usize,
    /// Start steps evaluated, the same for every horizon.
    pub starts: usize,
    /// Every `stride`-th step was a start.
    pub stride: usize,
    /// What the baselines are, in words.
    pub baseline: String,
    /// One entry per horizon, in the order asked for.
    pub horizons: Vec<HorizonError>,
}

/// The description stored in [`PredictionReport::baseline`].
pub const BASELINE_DESCRIPTION: &str = "observations: constant state (o[t+k] = o[t]); \
     rewards: the mean of the compared rewards (MSE = their variance)";

/// Measures `model`'s open-loop prediction error on `episodes` (physical
/// units, normalised here with `norm`) at each of `horizons` steps ahead,
/// from every `stride`-th start, beside the constant-state and mean-reward
/// baselines (see the module docs).
///
/// Fails when `horizons` is empty or holds 0, `stride` is 0, the
/// dimensions disagree, or no episode is as long as the longest horizon.
pub fn evaluate_prediction(
    model: &WorldModel,
    norm: &Normalization,
    episodes: &[Episode],
    horizons: &[usize],
    stride: usize,
) -> Result<PredictionReport, ModelError> {
    let kmax = horizons.iter().copied().max().unwrap_or(0);
    if horizons.contains(&0) || kmax == 0 || stride == 0 {
        return Err(ModelError::Config(format!(
            "prediction horizons {horizons:?} must be positive, stride {stride} too"
        )));
    }
    let (od, ad) = (model.config.obs_dim, model.config.act_dim);
    if norm.obs_dim() != od || norm.act_dim() != ad {
        return Err(ModelError::Data(format!(
            "normalisation has obs_dim {} and act_dim {}, the model {od} and {ad}",
            norm.obs_dim(),
            norm.act_dim()
        )));
    }
    let device = model.device();

    // Normalised copies, and every (episode, start) pair.
    let mut data = Vec::new();
    let mut starts = Vec::new();
    for (i, e) in episodes.iter().enumerate() {
        if e.len() < kmax {
            continue;
        }
        if e.obs_dim() != od || e.act_dim() != ad {
            return Err(ModelError::Data(format!(
                "episode {i} has obs_dim {} and act_dim {}, the model {od} and {ad}",
                e.obs_dim(),
                e.act_dim()
            )));
        }
        if let Some(p) = &model.config.pixels
            && e.frames.as_ref().is_none_or(|f| f.len() != e.len() + 1)
        {
            return Err(ModelError::Data(format!(
                "episode {i} lacks a frame per observation of camera `{}`",
                p.camera
            )));
        }
        let mut n = e.clone();
        norm.normalize_obs(&mut n.observations);
        norm.normalize_action(&mut n.actions);
        let d = data.len();
        starts.extend((0..=e.len() - kmax).step_by(stride).map(|t| (d, t)));
        data.push(n);
    }
    if starts.is_empty() {
        return Err(ModelError::Data(format!(
            "no episode has {kmax} steps (the longest prediction horizon)"
        )));
    }

    // Sums of squared errors per horizon: [model, baseline] per dimension,
    // and the rewards themselves for the mean-reward baseline.
    let nh = horizons.len();
    let mut sq_model = vec![vec![0f64; od]; nh];
    let mut sq_base = vec![vec![0f64; od]; nh];
    let mut rew_sq = vec![0f64; nh];
    let mut rew_sum = vec![0f64; nh];
    let mut rew_sum2 = vec![0f64; nh];
    for chunk in starts.chunks(CHUNK) {
        let n = chunk.len();
        let rows = |f: &dyn Fn(&Episode, usize) -> Vec<f32>| -> Vec<f32> {
            chunk.iter().flat_map(|&(e, t)| f(&data[e], t)).collect()
        };
        let o0 = rows(&|e, t| e.obs(t).to_vec());
        let px0 = match &model.config.pixels {
            Some(p) => {
                let mut bytes = Vec::with_capacity(n * p.input_len());
                for &(e, t) in chunk {
                    if let Some(f) = &data[e].frames {
                        stack_at(p, f, t, (p.shift, p.shift), &mut bytes)
                            .map_err(|m| ModelError::Data(format!("episode {e}: {m}")))?;
                    }
                }
                Some(pixels_tensor(&bytes, n, p, &device))
            }
            None => None,
        };
        let mut z = model.encode_input(tensor_from_rows(o0.clone(), n, od, &device), px0);
        for k in 1..=kmax {
            let a = rows(&|e, t| e.action(t + k - 1).to_vec());
            let a = tensor_from_rows(a, n, ad, &device);
            let r_pred = tensor_to_vec(model.reward(z.clone(), a.clone()));
            z = model.next(z, a);
            let hs: Vec<usize> = (0..nh).filter(|&h| horizons[h] == k).collect();
            if hs.is_empty() {
                continue;
            }
            let pred = tensor_to_vec(model.decode(z.clone()));
            let truth = rows(&|e, t| e.obs(t + k).to_vec());
            let r_true = rows(&|e, t| vec![e.rewards[t + k - 1]]);
            for h in hs {
                accumulate(&mut sq_model[h], &pred, &truth, od);
                accumulate(&mut sq_base[h], &o0, &truth, od);
                for (p, r) in r_pred.iter().zip(&r_true) {
                    rew_sq[h] += ((p - r) as f64).powi(2);
                    rew_sum[h] += *r as f64;
                    rew_sum2[h] += (*r as f64).powi(2);
                }
            }
        }
    }

    let n = starts.len() as f64;
    let to_physical = |sq: &[f64]| -> Vec<f32> {
        sq.iter()
            .zip(&norm.obs_std)
            .map(|(s, std)| ((s / n).sqrt() * *std as f64) as f32)
            .collect()
    };
    let horizons = (0..nh)
        .map(|h| {
            let mean = rew_sum[h] / n;
            HorizonError {
                k: horizons[h],
                model_mse: (sq_model[h].iter().sum::<f64>() / (n * od as f64)) as f32,
                baseline_mse: (sq_base[h].iter().sum::<f64>() / (n * od as f64)) as f32,
                model_rmse: to_physical(&sq_model[h]),
                baseline_rmse: to_physical(&sq_base[h]),
                model_reward_mse: (rew_sq[h] / n) as f32,
                baseline_reward_mse: (rew_sum2[h] / n - mean * mean).max(0.0) as f32,
            }
        })
        .collect();
    Ok(PredictionReport {
        episodes: data.len(),
        starts: starts.len(),
        stride,
        baseline: BASELINE_DESCRIPTION.into(),
        horizons,
    })
}

/// Adds the squared differences of `a` and `b` (rows of `d`) per dimension.
fn accumulate(sums: &mut [f64], a: &[f32], b: &[f32], d: usize) {
    for (ra, rb) in a.chunks_exact(d).zip(b.chunks_exact(d)) {
        for ((s, x), y) in sums.iter_mut().zip(ra).zip(rb) {
            *s += ((x - y) as f64).powi(2);
        }
    }
}
