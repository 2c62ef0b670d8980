//! The learned world model (TD-MPC2 style) on burn 0.22.
//!
//! - [`WorldModel`]: encoder (observation -> SimNorm latent), latent
//!   dynamics, reward head, Q ensemble, tanh-Gaussian policy prior and
//!   inverse dynamics, observation decoder (latent -> observation), all ReLU
//!   MLPs sized by [`WorldModelConfig`]; batched
//!   encoding and `N x H` rollouts ([`WorldModel::rollout`]).
//! - [`Normalization`]: observation mean/std and action ranges.
//! - [`Trainer`]: TD-MPC2's joint objective over a horizon (latent
//!   consistency, reward, TD value against an EMA target ensemble, policy
//!   prior, inverse dynamics, observation decoder on the rolled-out
//!   latents), Adam with per-tensor gradient-norm clipping, seeded;
//!   resumable from a checkpoint; computed by burn's autodiff or, for
//!   state models, by a hand-written fused step ([`TrainEngine`]).
//! - [`prediction`]: multi-step prediction error on held-out episodes
//!   beside a constant-state baseline.
//! - [`Checkpoint`]: one checksummed file with metadata and weights; Adam's
//!   state optionally in a sidecar file.
//! - [`InferenceModel`] and [`RolloutEngine`]: a plain-f32 copy of the
//!   inference networks run by hand on `gemm` with preallocated scratch and
//!   worker threads: the planner's hot path (`umwelt bench model` compares
//!   it with [`WorldModel::rollout`]).

mod checkpoint;
mod config;
mod device;
mod infer;
mod model;
mod nn;
mod normalize;
mod pixels;
pub mod prediction;
mod record;
mod sidecar;
mod train;

pub use checkpoint::{
    CHECKPOINT_HEADER_LEN, CHECKPOINT_MAGIC, CHECKPOINT_OLDEST_VERSION, CHECKPOINT_VERSION,
    Checkpoint, CheckpointError, CheckpointMeta, optimizer_sidecar_path,
};
pub use config::{
    MAX_MODEL_LAYERS, MAX_MODEL_WIDTH, MAX_Q_HEADS, ModelError, TrainConfig, WorldModelConfig,
};
pub use device::Backend;
pub use infer::{
    Bf16Kernel, InferenceModel, Precision, RolloutEngine, RolloutOutput, TILE_ROWS,
    WorkerPlacement, fast_exp, fast_tanh, sgemm,
};
pub use model::{PolicySample, Rollout, WorldModel, tensor_from_rows, tensor_to_vec};
pub use nn::{Dense, Mlp, simnorm};
pub use normalize::{MIN_SCALE, Normalization};
pub use pixels::{
    Conv, MAX_IMAGE_SIDE, MIN_IMAGE_SIDE, PixelConfig, PixelEncoder, pixels_tensor, stack_at,
    stack_frames,
};
pub use prediction::{HorizonError, PredictionReport, evaluate_prediction};
pub use record::{LossTerms, OptimizerState, ResumeState, TrainSummary, ValidationLosses};
pub use sidecar::{OPTIMIZER_MAGIC, OPTIMIZER_VERSION};
pub use train::{Batch, StepTimes, TrainEngine, Trainer, UpdateFlops, WindowSampler, update_flops};
