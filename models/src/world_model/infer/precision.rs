//! How a model multiplies its wide layers ([`Precision`]) and which
//! bfloat16 kernel this CPU runs ([`Bf16Kernel`]).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::bf16::{Bf16Scratch, Bf16Weights, dense_bf16_with};
use super::maths::Post;

/// How a planning model multiplies its wide layers (hidden layers and the
/// latent outputs; the one-output heads, the policy's outputs and the
/// first step's shared `z0` row stay `f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `f32` throughout: the model as trained.
    F32,
    /// Inputs and weights rounded to bfloat16, sums in `f32`: plans ~30%
    /// faster on Zen 4, whose `vdpbf16ps` does twice the multiply-adds of
    /// f32's; the same results at about f32's speed elsewhere.
    Bf16,
}

impl Precision {
    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }

    /// Whether this CPU has bfloat16 multiply-adds (AVX512-BF16): whether
    /// [`Bf16Kernel::Dpbf16`] can run here.
    pub fn bf16_native() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512bf16")
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// How [`Precision::Bf16`]'s products are computed on this CPU (the same
/// bits either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bf16Kernel {
    /// `vdpbf16ps`, eight rows x 32 columns.
    Dpbf16,
    /// The `f32` kernels over the rounded, pair-swapped values.
    F32,
}

impl Bf16Kernel {
    /// The kernel for this CPU and what the choice timed: `vdpbf16ps`
    /// where the CPU has it and it ran a hidden layer clearly faster than
    /// the `f32` kernels, with the fastest of 20 runs of four calls of a
    /// hidden layer (64 rows, 128 to 128) with each; else `F32` and no
    /// timings. A few milliseconds where the CPU has AVX512-BF16:
    /// [`super::InferenceModel::with_precision`] asks once per model and
    /// keeps the answer.
    pub fn choose() -> (Self, Option<(Duration, Duration)>) {
        if !Precision::bf16_native() {
            return (Self::F32, None);
        }
        let (dp, f32) = time_kernels();
        // A clear win only: a wrong pick costs speed, never results.
        let kernel = if dp.as_secs_f64() < 0.9 * f32.as_secs_f64() {
            Self::Dpbf16
        } else {
            Self::F32
        };
        (kernel, Some((dp, f32)))
    }
}

/// The fastest of several timings of a default hidden layer (64 rows,
/// 128 to 128, LayerNorm) with each kernel, alternating: (`vdpbf16ps`,
/// the `f32` kernels). Call only where the CPU has AVX512-BF16.
fn time_kernels() -> (Duration, Duration) {
    const ROWS: usize = 64;
    const D: usize = 128;
    // Any values do: a fixed pattern of moderate size.
    let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2;
    let w: Vec<f32> = (0..D * D).map(value).collect();
    let weights = Bf16Weights::new(&w, D, D, Bf16Kernel::F32);
    let x: Vec<f32> = (0..ROWS * D).map(|i| value(i + 17) * 10.0).collect();
    let b = vec![0.01; D];
    let norm = super::weights::Norm {
        gamma: vec![1.0; D],
        beta: vec![0.0; D],
    };
    let mut y = vec![0.0; ROWS * D];
    let mut s = Bf16Scratch::new(ROWS, D);
    let post = Post::Hidden(Some(&norm));
    let mut best = [Duration::MAX; 2];
    for _ in 0..20 {
        for (k, kernel) in [Bf16Kernel::Dpbf16, Bf16Kernel::F32]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            for _ in 0..4 {
                dense_bf16_with(
                    kernel, &weights, D, D, &b, D, ROWS, &x, D, &mut y, D, post, &mut s,
                );
            }
            best[k] = best[k].min(t.elapsed());
        }
    }
    (best[0], best[1])
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(format!("precision {s:?}: expected \"f32\" or \"bf16\"")),
        }
    }
}
