//! Checkpoints: one file holding metadata (JSON) and weights (safetensors,
//! written by burn's `SafetensorsStore`), checksummed.
//!
//! Layout (little-endian):
//!
//! ```text
//! 0   4  magic "UWWM"
//! 4   4  u32 format version (CHECKPOINT_VERSION)
//! 8   8  u64 metadata length M
//! 16  8  u64 weights length W
//! 24  4  u32 CRC32 of the M + W bytes that follow
//! 28  M  metadata, UTF-8 JSON (CheckpointMeta)
//! 28+M W weights, safetensors
//! ```
//!
//! Version 2 added the observation decoder's weights and, in the metadata,
//! the validation losses and the prediction report; version 1 files are
//! refused (the model lacks its decoder). Version 3 added `head_layers` and
//! `layer_norm` to the model config (and the LayerNorm weights); version 2
//! files still load, as models without either.
//!
//! A trainer's state beyond its weights (Adam's moments, the target heads,
//! the batch generator) may sit beside a checkpoint `FILE` in `FILE.adam`
//! ([`optimizer_sidecar_path`]), tied to that exact checkpoint by its CRC;
//! its layout is in [`super::sidecar`].

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::WorldModelConfig;
use super::model::WorldModel;
use super::normalize::Normalization;
use super::prediction::PredictionReport;
use super::record::{OptimizerState, TrainSummary};
use super::sidecar;
use crate::dataset::DatasetSpec;

/// First four bytes of a checkpoint file.
pub const CHECKPOINT_MAGIC: [u8; 4] = *b"UWWM";
/// Checkpoint format version this build writes.
pub const CHECKPOINT_VERSION: u32 = 3;

/// The oldest format version this build still reads: version 2 files have
/// no `head_layers`/`layer_norm` in their model config and are read as
/// [`WorldModelConfig::legacy`] models.
pub const CHECKPOINT_OLDEST_VERSION: u32 = 2;

/// The optimiser-state sidecar of checkpoint `path`: `path` + `.adam`.
pub fn optimizer_sidecar_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".adam");
    PathBuf::from(p)
}
/// Length of the fixed header.
pub const CHECKPOINT_HEADER_LEN: usize = 28;

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a checkpoint (wrong magic).
    #[error("{path}: not an umwelt world-model checkpoint (bad magic)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// A format version this build does not read.
    #[error(
        "{path}: checkpoint format version {found}, this build reads versions {oldest} to {supported}",
        oldest = CHECKPOINT_OLDEST_VERSION
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The file is shorter (or longer) than its header says.
    #[error("{path}: truncated or padded checkpoint: {actual} bytes, header says {expected}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Size the header implies.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// The payload's checksum does not match.
    #[error("{path}: checksum mismatch (corrupted checkpoint)")]
    Checksum {
        /// The file.
        path: PathBuf,
    },
    /// The metadata is not valid.
    #[error("{path}: invalid metadata: {message}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The weights do not fit the model the metadata describes.
    #[error("{path}: invalid weights: {message}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The optimiser-state sidecar is unreadable, corrupt, or belongs to
    /// another version of the checkpoint.
    #[error("{path}: optimiser state: {message}")]
    Optimizer {
        /// The sidecar file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint is for another robot, task or observation/action spec.
    #[error("checkpoint is for {found}, expected {expected}: {}", differences.join("; "))]
    SpecMismatch {
        /// The spec asked for.
        expected: String,
        /// The checkpoint's spec.
        found: String,
        /// Each difference.
        differences: Vec<String>,
    },
}

/// Everything in a checkpoint besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_VERSION`] when written.
    pub format_version: u32,
    /// Robot, task, observation and action spec the model was trained for.
    pub spec: DatasetSpec,
    /// Model architecture.
    pub model: WorldModelConfig,
    /// Observation and action normalisation.
    pub normalization: Normalization,
    /// How it was trained.
    pub train: TrainSummary,
    /// Multi-step prediction error on the held-out episodes at the end of
    /// training, if measured.
    #[serde(default)]
    pub prediction: Option<PredictionReport>,
    /// Control steps per model step: the model was trained on blocks of
    /// this many control steps with the action held (rewards summed), so
    /// a planner must hold each action that long. 1 in checkpoints written
    /// before the field existed.
    #[serde(default = "one")]
    pub action_repeat: u32,
}

fn one() -> u32 {
    1
}

/// [`crate::atomic::write_atomic`], its error naming `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    crate::atomic::write_atomic(path, bytes).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A world model with its metadata.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Metadata.
    pub meta: CheckpointMeta,
    /// The model (on the device it was loaded to, no autodiff).
    pub model: WorldModel,
}

impl Checkpoint {
    /// Writes `model` and `meta` to `path` (replacing it atomically: a
    /// temporary sibling, synced, then renamed).
    pub fn save(
        path: impl AsRef<Path>,
        model: &WorldModel,
        meta: &CheckpointMeta,
    ) -> Result<(), CheckpointError> {
        Self::save_with_optimizer(path, model, meta, None)
    }

    /// [`Self::save`], and with `optimizer` its sidecar
    /// ([`optimizer_sidecar_path`]), written first (atomically too) and tied
    /// to this checkpoint's CRC, so a crash between the two leaves a sidecar
    /// that [`Self::load_optimizer`] recognises as stale.
    pub fn save_with_optimizer(
        path: impl AsRef<Path>,
        model: &WorldModel,
        meta: &CheckpointMeta,
        optimizer: Option<&OptimizerState>,
    ) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        let bytes = Self::to_bytes(model, meta).map_err(|message| CheckpointError::Weights {
            path: path.to_path_buf(),
            message,
        })?;
        if let Some(state) = optimizer {
            let crc = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
            let side = optimizer_sidecar_path(path);
            write_atomic(&side, &sidecar::encode(state, crc))?;
        }
        write_atomic(path, &bytes)
    }

    /// The trainer state (Adam's moments and, from sidecar version 4, the
    /// target heads and batch generator) saved beside checkpoint `path` by
    /// [`Self::save_with_optimizer`]: `None` without a sidecar; an error if
    /// the sidecar is corrupt or belongs to another version of the checkpoint.
    pub fn load_optimizer(
        path: impl AsRef<Path>,
    ) -> Result<Option<OptimizerState>, CheckpointError> {
        let path = path.as_ref();
        let side = optimizer_sidecar_path(path);
        let bytes = match std::fs::read(&side) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path: side, source }),
        };
        let bad = |message: String| CheckpointError::Optimizer {
            path: side.clone(),
            message,
        };
        let header = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if header.len() < CHECKPOINT_HEADER_LEN {
            return Err(bad("its checkpoint is truncated".into()));
        }
        let crc = u32::from_le_bytes([header[24], header[25], header[26], header[27]]);
        sidecar::decode(&bytes, crc).map(Some).map_err(bad)
    }

    /// The checkpoint file's bytes.
    pub fn to_bytes(model: &WorldModel, meta: &CheckpointMeta) -> Result<Vec<u8>, String> {
        let json = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        let mut store = SafetensorsStore::from_bytes(None);
        model.save_into(&mut store).map_err(|e| e.to_string())?;
        let weights = store.get_bytes().map_err(|e| e.to_string())?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&json);
        crc.update(&weights);
        let mut out = Vec::with_capacity(CHECKPOINT_HEADER_LEN + json.len() + weights.len());
        out.extend_from_slice(&CHECKPOINT_MAGIC);
        out.extend_from_slice(&meta.format_version.to_le_bytes());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&weights);
        Ok(out)
    }

    /// Loads a checkpoint onto `device` (a plain, non-autodiff device).
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path, device)
    }

    /// Loads a checkpoint and checks that it was trained for `expected`
    /// (same robot, task, observation and action names and bounds).
    pub fn load_for(
        path: impl AsRef<Path>,
        expected: &DatasetSpec,
        device: &Device,
    ) -> Result<Self, CheckpointError> {
        let ckpt = Self::load(path, device)?;
        ckpt.check_spec(expected)?;
        Ok(ckpt)
    }

    /// Checks that the checkpoint was trained for `expected`.
    pub fn check_spec(&self, expected: &DatasetSpec) -> Result<(), CheckpointError> {
        match expected.check_compatible(&self.meta.spec) {
            Ok(()) => Ok(()),
            Err(crate::dataset::DatasetError::SpecMismatch {
                expected,
                found,
                differences,
            }) => Err(CheckpointError::SpecMismatch {
                expected,
                found,
                differences,
            }),
            Err(other) => Err(CheckpointError::SpecMismatch {
                expected: expected.summary(),
                found: self.meta.spec.summary(),
                differences: vec![other.to_string()],
            }),
        }
    }

    /// Parses checkpoint bytes; `path` only names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, device: &Device) -> Result<Self, CheckpointError> {
        let p = || path.to_path_buf();
        let actual = bytes.len() as u64;
        if bytes.len() < 4 || bytes[..4] != CHECKPOINT_MAGIC {
            if bytes.len() < 4 && CHECKPOINT_MAGIC.starts_with(bytes) {
                return Err(CheckpointError::Truncated {
                    path: p(),
                    expected: CHECKPOINT_HEADER_LEN as u64,
                    actual,
                });
            }
            return Err(CheckpointError::BadMagic { path: p() });
        }
        if bytes.len() < CHECKPOINT_HEADER_LEN {
            return Err(CheckpointError::Truncated {
                path: p(),
                expected: CHECKPOINT_HEADER_LEN as u64,
                actual,
            });
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        let version = u32_at(4);
        if !(CHECKPOINT_OLDEST_VERSION..=CHECKPOINT_VERSION).contains(&version) {
            return Err(CheckpointError::UnsupportedVersion {
                path: p(),
                found: version,
                supported: CHECKPOINT_VERSION,
            });
        }
        let (m, w, crc) = (u64_at(8), u64_at(16), u32_at(24));
        let expected = (CHECKPOINT_HEADER_LEN as u64)
            .checked_add(m)
            .and_then(|x| x.checked_add(w));
        if expected != Some(actual) {
            return Err(CheckpointError::Truncated {
                path: p(),
                expected: expected.unwrap_or(u64::MAX),
                actual,
            });
        }
        let payload = &bytes[CHECKPOINT_HEADER_LEN..];
        if crc32fast::hash(payload) != crc {
            return Err(CheckpointError::Checksum { path: p() });
        }
        let (json, weights) = payload.split_at(m as usize);
        let mut meta: CheckpointMeta =
            serde_json::from_slice(json).map_err(|e| CheckpointError::Metadata {
                path: p(),
                message: e.to_string(),
            })?;
        if version == 2 {
            meta.model = meta.model.legacy();
        }
        let bad_meta = |message: String| CheckpointError::Metadata { path: p(), message };
        if meta.format_version != version {
            return Err(bad_meta(format!(
                "metadata says format version {}, header {version}",
                meta.format_version
            )));
        }
        meta.model.validate().map_err(bad_meta)?;
        if meta.action_repeat == 0 {
            return Err(bad_meta("action_repeat is 0 (at least 1)".into()));
        }
        meta.normalization.validate().map_err(bad_meta)?;
        // Every parameter is at least one f32 of the weights: sizes that
        // the bytes present cannot hold are refused before allocating.
        let needed = meta
            .model
            .parameter_count()
            .and_then(|n| n.checked_mul(4))
            .unwrap_or(u64::MAX);
        if needed > w {
            return Err(CheckpointError::Weights {
                path: p(),
                message: format!(
                    "the model's sizes need {needed} bytes of weights, the file holds {w}"
                ),
            });
        }
        if meta.normalization.obs_dim() != meta.model.obs_dim
            || meta.normalization.act_dim() != meta.model.act_dim
            || meta.spec.obs_dim() != meta.model.obs_dim
            || meta.spec.act_dim() != meta.model.act_dim
        {
            return Err(bad_meta(
                "spec, normalisation and model dimensions disagree".into(),
            ));
        }
        let mut model =
            WorldModel::new(&meta.model, 0, device).map_err(|e| bad_meta(e.to_string()))?;
        let mut store = SafetensorsStore::from_bytes(Some(weights.to_vec()));
        let result = model
            .load_from(&mut store)
            .map_err(|e| CheckpointError::Weights {
                path: p(),
                message: e.to_string(),
            })?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(CheckpointError::Weights {
                path: p(),
                message: format!(
                    "{} errors, missing {:?}, unused {:?}",
                    result.errors.len(),
                    result.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
                    result.unused
                ),
            });
        }
        let model = model.no_grad();
        Ok(Self { meta, model })
    }
}
