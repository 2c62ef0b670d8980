//! Observation and action normalisation, fitted from data and stored in checkpoints.

use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetSpec, Episode};

/// Smallest standard deviation / half-range used, so constant features do not blow up.
pub const MIN_SCALE: f32 = 1e-3;

/// Maps physical observations to `(obs - mean) / std` and physical actions
/// to `[-1, 1]` by `(a - center) / half_range` (clamped).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-component observation mean.
    pub obs_mean: Vec<f32>,
    /// Per-component observation standard deviation (at least [`MIN_SCALE`]).
    pub obs_std: Vec<f32>,
    /// Per-component action center.
    pub act_center: Vec<f32>,
    /// Per-component action half range (at least [`MIN_SCALE`]).
    pub act_half_range: Vec<f32>,
}

impl Normalization {
    /// The identity for `obs_dim` observations and actions already in `[-1, 1]`.
    pub fn identity(obs_dim: usize, act_dim: usize) -> Self {
        Self {
            obs_mean: vec![0.0; obs_dim],
            obs_std: vec![1.0; obs_dim],
            act_center: vec![0.0; act_dim],
            act_half_range: vec![1.0; act_dim],
        }
    }

    /// Fitted from episodes: observation mean and std over every
    /// observation; action range from the spec's bounds where finite, else
    /// mean ± 3 std of the actions seen.
    ///
    /// # Panics
    /// If an episode does not match the spec's dimensions.
    pub fn fit(spec: &DatasetSpec, episodes: &[Episode]) -> Self {
        let (od, ad) = (spec.obs_dim(), spec.act_dim());
        let (obs_mean, obs_std) = mean_std(
            od,
            episodes
                .iter()
                .flat_map(|e| e.observations.chunks_exact(od)),
        );
        let (a_mean, a_std) =
            mean_std(ad, episodes.iter().flat_map(|e| e.actions.chunks_exact(ad)));
        let mut act_center = Vec::with_capacity(ad);
        let mut act_half_range = Vec::with_capacity(ad);
        for (j, f) in spec.action.iter().enumerate() {
            if f.low.is_finite() && f.high.is_finite() {
                act_center.push(0.5 * (f.low + f.high));
                act_half_range.push((0.5 * (f.high - f.low)).max(MIN_SCALE));
            } else {
                act_center.push(a_mean[j]);
                act_half_range.push((3.0 * a_std[j]).max(MIN_SCALE));
            }
        }
        Self {
            obs_mean,
            obs_std,
            act_center,
            act_half_range,
        }
    }

    /// Length of an observation vector.
    pub fn obs_dim(&self) -> usize {
        self.obs_mean.len()
    }

    /// Length of an action vector.
    pub fn act_dim(&self) -> usize {
        self.act_center.len()
    }

    /// Normalises observation rows in place.
    pub fn normalize_obs(&self, obs: &mut [f32]) {
        let d = self.obs_dim();
        for row in obs.chunks_exact_mut(d) {
            for ((v, mean), std) in row.iter_mut().zip(&self.obs_mean).zip(&self.obs_std) {
                *v = (*v - mean) / std;
            }
        }
    }

    /// Normalises action rows in place, clamped to `[-1, 1]`.
    pub fn normalize_action(&self, act: &mut [f32]) {
        let d = self.act_dim();
        for row in act.chunks_exact_mut(d) {
            for ((v, center), half) in row
                .iter_mut()
                .zip(&self.act_center)
                .zip(&self.act_half_range)
            {
                *v = ((*v - center) / half).clamp(-1.0, 1.0);
            }
        }
    }

    /// Maps normalised action rows back to physical units in place.
    pub fn denormalize_action(&self, act: &mut [f32]) {
        let d = self.act_dim();
        for row in act.chunks_exact_mut(d) {
            for ((v, center), half) in row
                .iter_mut()
                .zip(&self.act_center)
                .zip(&self.act_half_range)
            {
                *v = center + *v * half;
            }
        }
    }

    /// Checks that every value is finite and every scale positive.
    pub fn validate(&self) -> Result<(), String> {
        let all = self
            .obs_mean
            .iter()
            .chain(&self.obs_std)
            .chain(&self.act_center)
            .chain(&self.act_half_range);
        if all.clone().any(|v| !v.is_finite()) {
            return Err("non-finite normalisation value".into());
        }
        if self.obs_std.len() != self.obs_mean.len()
            || self.act_half_range.len() != self.act_center.len()
        {
            return Err("normalisation vectors of different lengths".into());
        }
        if self
            .obs_std
            .iter()
            .chain(&self.act_half_range)
            .any(|&v| v <= 0.0)
        {
            return Err("non-positive normalisation scale".into());
        }
        Ok(())
    }
}

fn mean_std<'a>(d: usize, rows: impl Iterator<Item = &'a [f32]> + Clone) -> (Vec<f32>, Vec<f32>) {
    let mut n = 0u64;
    let mut sum = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for row in rows {
        n += 1;
        for j in 0..d {
            let v = row[j] as f64;
            sum[j] += v;
            sq[j] += v * v;
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = (0..d)
        .map(|j| {
            let m = sum[j] / n;
            (((sq[j] / n) - m * m).max(0.0).sqrt() as f32).max(MIN_SCALE)
        })
        .collect();
    (mean, std)
}
