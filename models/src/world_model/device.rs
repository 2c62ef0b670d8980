//! Which burn device trains the model: the CPU (flex) always, a GPU when
//! the crate is built with the `wgpu` or `cuda` feature.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::ModelError;

/// A training backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// burn's flex CPU backend (always built).
    #[default]
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal, DX12); feature `wgpu`.
    Wgpu,
    /// An NVIDIA GPU through CUDA; feature `cuda`.
    Cuda,
}

impl Backend {
    /// Whether this build can use the backend.
    pub fn available(self) -> bool {
        match self {
            Backend::Cpu => true,
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backend's default device; an error names the cargo feature a
    /// build without it is missing.
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => Err(ModelError::Config(format!(
                "this umwelt was built without the `{0}` feature; rebuild with \
                 `cargo build --release --features {0}` for {other:?} training",
                format!("{other:?}").to_lowercase()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_there_and_missing_features_say_which() {
        assert!(Backend::Cpu.available());
        assert!(Backend::Cpu.device().is_ok());
        if !Backend::Wgpu.available() {
            let e = Backend::Wgpu.device().unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
        if !Backend::Cuda.available() {
            let e = Backend::Cuda.device().unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
