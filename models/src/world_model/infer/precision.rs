//! How a model multiplies its wide layers ([`Precision`]) and which
//! bfloat16 kernel computes its products ([`Bf16Kernel`]): plain names
//! (and whether the CPU has the instruction), at the bottom so that the
//! layouts can carry them; `bf16_choice` times the kernels and picks one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
