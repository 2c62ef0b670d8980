//! The world model: encoder, latent dynamics, reward, Q ensemble, policy
//! prior and inverse dynamics, and the batched inference API.

use burn::module::Module;
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::{MlpShape, ModelError, WorldModelConfig};
use super::nn::{Mlp, simnorm};
use super::pixels::PixelEncoder;

/// All networks of the world model. Observations and actions are the
/// *normalised* ones (see [`super::Normalization`]): actions in `[-1, 1]`.
///
/// Batch-first shapes: observations `[B, obs_dim]`, actions `[B, act_dim]`,
/// latents `[B, latent_dim]`.
#[derive(Module, Debug)]
pub struct WorldModel {
    /// Observation -> latent (SimNorm).
    pub encoder: Mlp,
    /// `[z, a]` -> next latent (SimNorm).
    pub dynamics: Mlp,
    /// `[z, a]` -> reward.
    pub reward: Mlp,
    /// `[z, a]` -> Q, one MLP per ensemble member.
    pub q: Vec<Mlp>,
    /// `z` -> mean and pre-squash log-std of a tanh-squashed Gaussian.
    pub policy: Mlp,
    /// `[z, z']` -> action (tanh).
    pub inverse: Mlp,
    /// `z` -> normalised observation: makes the latent's predictions
    /// measurable in observation space (see [`super::prediction`]).
    pub decoder: Mlp,
    /// The convolutions of a pixel model (`config.pixels`), in front of
    /// `encoder`.
    pub pixel: Option<PixelEncoder>,
    /// The sizes this model was built with.
    #[module(skip)]
    pub config: WorldModelConfig,
}

/// Output of [`WorldModel::policy_sample`].
#[derive(Debug, Clone)]
pub struct PolicySample {
    /// Squashed action `[B, act_dim]`, in `[-1, 1]`.
    pub action: Tensor<2>,
    /// Log-probability of the action `[B, 1]` (with the tanh correction).
    pub log_prob: Tensor<2>,
    /// The squashed mean action `[B, act_dim]`.
    pub mean_action: Tensor<2>,
}

/// Result of [`WorldModel::rollout`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Samples `N`.
    pub samples: usize,
    /// Steps `H`.
    pub horizon: usize,
    /// Predicted reward of each step, `N x H`, row-major by sample.
    pub rewards: Vec<f32>,
    /// Value of the last latent, `N` (mean of two Q heads at the policy's mean action).
    pub terminal_values: Vec<f32>,
}

impl Rollout {
    /// `sum_t gamma^t r_t + gamma^H V(z_H)` of each sample.
    pub fn returns(&self, gamma: f32) -> Vec<f32> {
        (0..self.samples)
            .map(|i| {
                let mut g = 0.0f32;
                let mut d = 1.0f32;
                for t in 0..self.horizon {
                    g += d * self.rewards[i * self.horizon + t];
                    d *= gamma;
                }
                g + d * self.terminal_values[i]
            })
            .collect()
    }
}

impl WorldModel {
    /// A freshly initialised model; the same seed gives the same parameters.
    /// An invalid config ([`WorldModelConfig::validate`]) is an error.
    pub fn new(config: &WorldModelConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        config.validate().map_err(ModelError::Config)?;
        let c = config;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (h, ln, s) = (c.hidden, c.layer_norm, c.shapes());
        let mut mlp = |m: MlpShape, zero_last: bool| {
            Mlp::new(
                m.d_in, h, m.layers, m.d_out, zero_last, ln, &mut rng, device,
            )
        };
        let encoder = mlp(s.encoder, false);
        let dynamics = mlp(s.dynamics, false);
        let reward = mlp(s.reward, true);
        let q = (0..c.num_q).map(|_| mlp(s.q, true)).collect();
        let policy = mlp(s.policy, false);
        let inverse = mlp(s.inverse, false);
        // Initialised last, so the other networks of a seed are the same as
        // in models without a decoder.
        let decoder = mlp(s.decoder, false);
        let pixel = c
            .pixels
            .as_ref()
            .map(|p| PixelEncoder::new(p, &mut rng, device));
        Ok(Self {
            encoder,
            dynamics,
            reward,
            q,
            policy,
            inverse,
            decoder,
            pixel,
            config: config.clone(),
        })
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.encoder.layers[0].weight.val().device()
    }

    /// Normalised observations `[B, obs_dim]` -> latents `[B, latent_dim]`
    /// (a model of the observation vector; see [`Self::encode_input`]).
    pub fn encode(&self, obs: Tensor<2>) -> Tensor<2> {
        simnorm(self.encoder.forward(obs), self.config.simnorm_group)
    }

    /// The encoder MLP's input of a batch: the observations of a state
    /// model, a pixel model's convolution features of `pixels` (stacked
    /// inputs from [`super::pixels_tensor`]) followed by the observations
    /// when it reads both. A pixel model given no pixels sees blank
    /// (mid-grey) images: callers always pass them.
    pub fn encoder_input(&self, obs: Tensor<2>, pixels: Option<Tensor<4>>) -> Tensor<2> {
        let (Some(conv), Some(pc)) = (&self.pixel, &self.config.pixels) else {
            return obs;
        };
        let [b, _] = obs.dims();
        let px = pixels.unwrap_or_else(|| {
            Tensor::zeros([b, pc.input_channels(), pc.height, pc.width], &obs.device())
        });
        let features = conv.forward(px);
        if pc.state {
            Tensor::cat(vec![features, obs], 1)
        } else {
            features
        }
    }

    /// Latents of a batch of observations and (for a pixel model) their
    /// stacked images: [`Self::encoder_input`] through the encoder MLP.
    pub fn encode_input(&self, obs: Tensor<2>, pixels: Option<Tensor<4>>) -> Tensor<2> {
        self.encode(self.encoder_input(obs, pixels))
    }

    /// `(z, a)` -> next latent.
    pub fn next(&self, z: Tensor<2>, a: Tensor<2>) -> Tensor<2> {
        let x = Tensor::cat(vec![z, a], 1);
        simnorm(self.dynamics.forward(x), self.config.simnorm_group)
    }

    /// `(z, a)` -> reward `[B, 1]`.
    pub fn reward(&self, z: Tensor<2>, a: Tensor<2>) -> Tensor<2> {
        self.reward.forward(Tensor::cat(vec![z, a], 1))
    }

    /// `(z, a)` -> each Q head's value, `[B, 1]` each.
    pub fn q_all(&self, z: Tensor<2>, a: Tensor<2>) -> Vec<Tensor<2>> {
        let x = Tensor::cat(vec![z, a], 1);
        self.q.iter().map(|q| q.forward(x.clone())).collect()
    }

    /// Mean of the first two Q heads, `[B, 1]` (the value the planner uses).
    pub fn q_mean(&self, z: Tensor<2>, a: Tensor<2>) -> Tensor<2> {
        let x = Tensor::cat(vec![z, a], 1);
        (self.q[0].forward(x.clone()) + self.q[1].forward(x)).mul_scalar(0.5)
    }

    /// Minimum of the first two Q heads, `[B, 1]` (a pessimistic value; the
    /// trainer's TD target is the minimum of a pair drawn per step, see
    /// [`super::train::target_pair`]).
    pub fn q_min(&self, z: Tensor<2>, a: Tensor<2>) -> Tensor<2> {
        min_of_heads(&self.q, (0, 1), Tensor::cat(vec![z, a], 1))
    }

    /// The policy prior's mean and log-std, `[B, act_dim]` each (log-std in
    /// `[log_std_min, log_std_max]`).
    pub fn policy_params(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let a = self.config.act_dim;
        let out = self.policy.forward(z);
        let mean = out.clone().narrow(1, 0, a);
        let raw = out.narrow(1, a, a);
        let (lo, hi) = (self.config.log_std_min, self.config.log_std_max);
        let log_std = (tanh(raw) + 1.0).mul_scalar(0.5 * (hi - lo)).add_scalar(lo);
        (mean, log_std)
    }

    /// The policy prior's squashed mean action `[B, act_dim]`.
    pub fn policy_mean(&self, z: Tensor<2>) -> Tensor<2> {
        tanh(self.policy_params(z).0)
    }

    /// A reparameterised sample of the policy prior with standard-normal
    /// noise `eps` `[B, act_dim]` (the caller draws it, so sampling is seeded).
    pub fn policy_sample(&self, z: Tensor<2>, eps: Tensor<2>) -> PolicySample {
        let (mean, log_std) = self.policy_params(z);
        let u = mean.clone() + eps.clone() * log_std.clone().exp();
        let action = tanh(u);
        let half_log_2pi = 0.5 * (2.0 * std::f32::consts::PI).ln();
        let gauss = (eps.powi_scalar(2).mul_scalar(-0.5) - log_std).sub_scalar(half_log_2pi);
        let squash = (action.clone().powi_scalar(2).neg().add_scalar(1.0 + 1e-6)).log();
        let log_prob = (gauss - squash).sum_dim(1);
        PolicySample {
            action,
            log_prob,
            mean_action: tanh(mean),
        }
    }

    /// `(z, z')` -> the action between them, `[B, act_dim]` in `[-1, 1]`.
    pub fn inverse(&self, z: Tensor<2>, z_next: Tensor<2>) -> Tensor<2> {
        tanh(self.inverse.forward(Tensor::cat(vec![z, z_next], 1)))
    }

    /// Latents `[B, latent_dim]` -> normalised observations `[B, obs_dim]`.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(z)
    }

    /// Batched multi-step rollout: `N` samples from latents `z0` (`[N, latent]`)
    /// under `actions` (`H` tensors `[N, act_dim]`, normalised). Returns
    /// each step's predicted reward and the terminal value
    /// `mean(Q_0, Q_1)(z_H, policy_mean(z_H))`.
    pub fn rollout(&self, z0: Tensor<2>, actions: &[Tensor<2>]) -> Rollout {
        let [n, _] = z0.dims();
        let h = actions.len();
        let mut z = z0;
        let mut rewards = Vec::with_capacity(h);
        for a in actions {
            rewards.push(self.reward(z.clone(), a.clone()));
            z = self.next(z, a.clone());
        }
        let a_h = self.policy_mean(z.clone());
        let v = self.q_mean(z, a_h);
        let rewards = if h == 0 {
            Vec::new()
        } else {
            tensor_to_vec(Tensor::cat(rewards, 1))
        };
        Rollout {
            samples: n,
            horizon: h,
            rewards,
            terminal_values: tensor_to_vec(v),
        }
    }

    /// [`Self::rollout`] with actions given as one flat slice, `N x H x act_dim`
    /// row-major by sample (the layout a sampling planner fills). A slice of
    /// another length is an error.
    pub fn rollout_flat(
        &self,
        z0: Tensor<2>,
        actions: &[f32],
        horizon: usize,
    ) -> Result<Rollout, ModelError> {
        let [n, _] = z0.dims();
        let a = self.config.act_dim;
        if actions.len() != n * horizon * a {
            return Err(ModelError::Data(format!(
                "rollout actions: {} values, expected N x H x act_dim = {n} x {horizon} x {a}",
                actions.len()
            )));
        }
        let device = z0.device();
        let steps: Vec<Tensor<2>> = (0..horizon)
            .map(|t| {
                let mut v = Vec::with_capacity(n * a);
                for i in 0..n {
                    let base = (i * horizon + t) * a;
                    v.extend_from_slice(&actions[base..base + a]);
                }
                Tensor::from_data(TensorData::new(v, [n, a]), &device)
            })
            .collect();
        Ok(self.rollout(z0, &steps))
    }
}

/// Elementwise minimum of heads `pair.0` and `pair.1` of `qs` on the rows
/// `x` (`[z, a]`), `[B, 1]`.
pub(crate) fn min_of_heads(qs: &[Mlp], pair: (usize, usize), x: Tensor<2>) -> Tensor<2> {
    let q0 = qs[pair.0].forward(x.clone());
    let q1 = qs[pair.1].forward(x);
    let mask = q1.clone().lower(q0.clone());
    q0.mask_where(mask, q1)
}

/// A tensor's values, row-major.
pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .as_slice::<f32>()
        .expect("f32 tensor")
        .to_vec()
}

/// `rows x cols` values, row-major, as a `[rows, cols]` tensor.
pub fn tensor_from_rows(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}
