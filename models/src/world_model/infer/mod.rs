//! Fast CPU inference of a trained [`WorldModel`] for planning.
//!
//! burn's eager flex backend allocates every intermediate tensor and runs
//! exp/tanh as scalar libm calls, which makes a planner's thousands of
//! latent steps per control tick too slow (measured on a 2-vCPU AMD EPYC:
//! with ELU a 512-sample, 16-step rollout took 14.6 ms in burn against
//! 6.1-7.5 ms hand-written; with Mish, 49 ms). This
//! module copies the trained weights into plain row-major `f32` buffers
//! ([`InferenceModel`]) and runs them on preallocated scratch
//! ([`RolloutEngine`]):
//!
//! - Layers whose width is a multiple of 16 (the hidden layers and the
//!   latent outputs) run in a fused kernel (AVX-512: eight rows x 32
//!   columns; AVX2/FMA: six rows x 16) straight from the row-major buffers
//!   and apply the bias, ReLU and LayerNorm as the results leave the
//!   registers; the one-output heads run as dot products, and the policy's
//!   outputs and CPUs without AVX2 use the `gemm` crate. The fused kernels
//!   sum every output in `gemm`'s order, so on an AVX2 CPU their results
//!   are those of `gemm` and the separate passes, to the bit.
//! - With [`Precision::Bf16`] ([`InferenceModel::with_precision`]), the
//!   wide layers' inputs and weights are rounded to bfloat16 and multiplied
//!   with `vdpbf16ps` (twice the multiply-adds per instruction) where the
//!   CPU has AVX512-BF16, and by the `f32` kernels over the rounded values,
//!   to the same bits, where it does not (the `bf16` module; `precision`
//!   chooses between them).
//! - Samples are processed in tiles of [`TILE_ROWS`] rows; a tile is rolled
//!   through the whole horizon before the next one starts, so its
//!   activations stay in cache and only the weights stream from L2.
//! - The calling thread and persistent worker threads claim tiles one at a
//!   time (see the Threads section). Tile boundaries depend only on the
//!   sample count, so every sample goes through the same sequence of
//!   floating-point operations whoever computes it: results are
//!   bit-identical for 1, 2 or more threads and any schedule.
//! - Every sample starts at the same latent `z0`, so the first step's
//!   `z0 W_z` product (most of a first layer's work) is computed once per
//!   tile and each sample adds only its actions' share.
//! - Bias, LayerNorm, ReLU, SimNorm (a softmax per group) and tanh run in
//!   fused passes with a branch-free polynomial `exp` that the compiler
//!   vectorises (compiled for AVX2+FMA where the CPU has it, chosen at run
//!   time).
//!
//! Nothing in this module allocates per call once an engine is built; the
//! `gemm` crate itself makes up to two small allocations per matrix product
//! it runs (its packing buffers), cheap with mimalloc, which the `umwelt`
//! binary uses.
//!
//! The rooms, one job each, in layers: each uses only rooms listed before
//! it, never one after (no import circles).
//!
//! 1. `precision`: the names of the choices ([`Precision`], [`Bf16Kernel`]).
//! 2. `weights`: the layouts the kernels read (`f32` layers, bfloat16
//!    pairs), plain data.
//! 3. `maths`: the scalar maths, the reference the vector kernels follow.
//! 4. `x86_avx2`, then `x86_avx512`, then `x86_avx512_bf16`: the
//!    intrinsics, one file per instruction set (`ladder`: their row
//!    blocks).
//! 5. `f32_dispatch`: each `f32` pass and product in the form this CPU
//!    runs.
//! 6. `bf16`: bfloat16 products; `bf16_choice`: which kernel a model
//!    keeps.
//! 7. `dispatch`: which kernel runs a layer, and a network's layers in
//!    turn.
//! 8. `inference_model`: the model ([`InferenceModel`]).
//! 9. `tiling` (a tile through the horizon), `pool` (the workers),
//!    `affinity` (where they run) and `engine` (the [`RolloutEngine`]).

#[cfg(target_arch = "x86_64")]
#[macro_use]
mod ladder;

mod affinity;
mod bf16;
mod bf16_choice;
mod dispatch;
mod engine;
mod f32_dispatch;
mod inference_model;
mod maths;
mod pool;
mod precision;
mod tiling;
mod weights;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;
#[cfg(target_arch = "x86_64")]
mod x86_avx512_bf16;

pub use affinity::WorkerPlacement;
pub use engine::{RolloutEngine, RolloutOutput};
pub use inference_model::InferenceModel;
pub use maths::{fast_exp, fast_tanh, sgemm};
pub use precision::{Bf16Kernel, Precision};

/// Rows of the sample batch processed together through a whole rollout.
///
/// Large enough that each layer's pass amortises its per-call cost,
/// small enough that a tile's activations stay in L1/L2 and that 512
/// samples make enough tiles (8) for threads to even out their speeds.
pub const TILE_ROWS: usize = 64;
