//! Training data: windows of `H + 1` normalised observations drawn from
//! episodes, and the [`Batch`] of them (with policy noise) that one
//! optimiser step or one validation pass evaluates.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::dataset::Episode;
use crate::world_model::config::ModelError;
use crate::world_model::normalize::Normalization;
use crate::world_model::pixels::{PixelConfig, stack_at};

/// A batch of `B` windows of `H + 1` normalised observations; plain data,
/// turned into tensors on whichever device evaluates it.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Sequences `B`.
    pub batch: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// `H + 1` rows-blocks of `B x obs_dim`.
    pub obs: Vec<Vec<f32>>,
    /// `H` blocks of `B x act_dim` (normalised).
    pub actions: Vec<Vec<f32>>,
    /// `H` blocks of `B` rewards.
    pub rewards: Vec<Vec<f32>>,
    /// `H` blocks of `B`: 1 where the step ended the episode by termination (no bootstrap).
    pub terminal: Vec<Vec<f32>>,
    /// `H` blocks of `B x act_dim` standard-normal noise for the policy at `z_t`.
    pub eps_policy: Vec<Vec<f32>>,
    /// `H` blocks of `B x act_dim` standard-normal noise for the policy at `z_{t+1}` (TD target).
    pub eps_target: Vec<Vec<f32>>,
    /// A pixel model's stacked camera inputs: `H + 1` blocks of `B x
    /// PixelConfig::input_len` bytes, randomly shifted; empty for a state
    /// model.
    pub pixels: Vec<Vec<u8>>,
}

/// Windows of `H + 1` observations from a set of episodes, normalised
/// once, sampled uniformly: the training data of a [`Trainer`], or held-out
/// episodes for validation ([`Trainer::evaluate`]).
#[derive(Clone, Debug)]
pub struct WindowSampler {
    episodes: Vec<Episode>,
    /// Cumulative count of windows per episode, for uniform sampling.
    windows: Vec<u64>,
    horizon: usize,
    obs_dim: usize,
    act_dim: usize,
    pixels: Option<PixelConfig>,
}

impl WindowSampler {
    /// Windows of `horizon` steps of `episodes` (physical units), normalised
    /// with `norm`. Fails when an episode has other dimensions than `norm`,
    /// or no episode has `horizon` steps.
    pub fn new(
        norm: &Normalization,
        episodes: &[Episode],
        horizon: usize,
    ) -> Result<Self, ModelError> {
        Self::with_pixels(norm, episodes, horizon, None)
    }

    /// [`Self::new`] for a pixel model seeing `pixels`' camera (none: a
    /// state model): every episode must carry its frames, of that size.
    pub fn with_pixels(
        norm: &Normalization,
        episodes: &[Episode],
        horizon: usize,
        pixels: Option<&PixelConfig>,
    ) -> Result<Self, ModelError> {
        let (od, ad) = (norm.obs_dim(), norm.act_dim());
        if let Some(p) = pixels {
            for (i, e) in episodes.iter().enumerate() {
                let Some(f) = &e.frames else {
                    return Err(ModelError::Data(format!(
                        "episode {i} has no camera frames; the model sees camera `{}`",
                        p.camera
                    )));
                };
                if f.len() != e.len() + 1 {
                    return Err(ModelError::Data(format!(
                        "episode {i} has {} frames for {} observations",
                        f.len(),
                        e.len() + 1
                    )));
                }
                let mut probe = Vec::new();
                stack_at(p, f, 0, (p.shift, p.shift), &mut probe)
                    .map_err(|m| ModelError::Data(format!("episode {i}: {m}")))?;
            }
        }
        let mut normalized = Vec::with_capacity(episodes.len());
        let mut windows = Vec::with_capacity(episodes.len());
        let mut total = 0u64;
        for (i, e) in episodes.iter().enumerate() {
            if !e.is_empty() && (e.obs_dim() != od || e.act_dim() != ad) {
                return Err(ModelError::Data(format!(
                    "episode {i} has obs_dim {} and act_dim {}, the model {od} and {ad}",
                    e.obs_dim(),
                    e.act_dim()
                )));
            }
            let mut e = e.clone();
            norm.normalize_obs(&mut e.observations);
            norm.normalize_action(&mut e.actions);
            total += (e.len() + 1).saturating_sub(horizon) as u64;
            windows.push(total);
            normalized.push(e);
        }
        if total == 0 || horizon == 0 {
            return Err(ModelError::Data(format!(
                "no episode has {horizon} steps (the horizon)"
            )));
        }
        Ok(Self {
            episodes: normalized,
            windows,
            horizon,
            obs_dim: od,
            act_dim: ad,
            pixels: pixels.cloned(),
        })
    }

    /// Number of distinct windows.
    pub fn windows(&self) -> u64 {
        self.windows.last().copied().unwrap_or(0)
    }

    /// The horizon `H` of the windows.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// A batch of `batch_size` windows drawn uniformly with `rng`, with the
    /// policy noise it needs.
    pub fn sample(&self, batch_size: usize, rng: &mut ChaCha8Rng) -> Batch {
        let (bsz, h) = (batch_size, self.horizon);
        let (od, ad) = (self.obs_dim, self.act_dim);
        // `new` guarantees at least one window.
        let total = self.windows().max(1);
        let mut batch = Batch {
            batch: bsz,
            horizon: h,
            obs: vec![Vec::with_capacity(bsz * od); h + 1],
            actions: vec![Vec::with_capacity(bsz * ad); h],
            rewards: vec![Vec::with_capacity(bsz); h],
            terminal: vec![Vec::with_capacity(bsz); h],
            eps_policy: vec![Vec::with_capacity(bsz * ad); h],
            eps_target: vec![Vec::with_capacity(bsz * ad); h],
            pixels: Vec::new(),
        };
        let mut windows = Vec::with_capacity(bsz);
        for _ in 0..bsz {
            let w = rng.random_range(0..total);
            let ei = self.windows.partition_point(|&c| c <= w);
            let start = (w - if ei == 0 { 0 } else { self.windows[ei - 1] }) as usize;
            windows.push((ei, start));
            let e = &self.episodes[ei];
            for t in 0..=h {
                batch.obs[t].extend_from_slice(e.obs(start + t));
            }
            for t in 0..h {
                batch.actions[t].extend_from_slice(e.action(start + t));
                batch.rewards[t].push(e.rewards[start + t]);
                let end = start + t + 1 == e.len() && e.terminated;
                batch.terminal[t].push(end as u8 as f32);
            }
        }
        for t in 0..h {
            for _ in 0..bsz * ad {
                batch.eps_policy[t].push(StandardNormal.sample(rng));
                batch.eps_target[t].push(StandardNormal.sample(rng));
            }
        }
        // Drawn last, so that a state model's batches are what they were
        // before pixel models existed.
        if let Some(p) = &self.pixels {
            batch.pixels = (0..=h)
                .map(|_| Vec::with_capacity(bsz * p.input_len()))
                .collect();
            for t in 0..=h {
                for &(ei, start) in &windows {
                    let shift = (
                        rng.random_range(0..=2 * p.shift),
                        rng.random_range(0..=2 * p.shift),
                    );
                    if let Some(f) = &self.episodes[ei].frames {
                        // `with_pixels` checked every episode's frames.
                        let _ = stack_at(p, f, start + t, shift, &mut batch.pixels[t]);
                    }
                }
            }
        }
        batch
    }
}
