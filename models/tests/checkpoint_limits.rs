//! Checkpoints whose sizes are absurd but whose checksum is valid are
//! refused with an error before anything is allocated, never an abort.

mod common;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use umwelt_models::world_model::{
    Checkpoint, CheckpointError, MAX_MODEL_WIDTH, WorldModel, WorldModelConfig,
};

/// A shipped checkpoint, whose metadata the tests rewrite.
fn shipped() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/cartpole_swingup.uwwm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `bytes` with `model.<key>` of the metadata set to `value`, the header's
/// lengths and CRC rewritten to match (as a valid file would have them).
fn with_model_size(bytes: &[u8], key: &str, value: u64) -> Vec<u8> {
    common::with_meta_edited(bytes, |meta| meta["model"][key] = value.into())
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("umwelt-ckpt-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn load_error(name: &str, bytes: &[u8]) -> (PathBuf, CheckpointError) {
    let path = write(name, bytes);
    match Checkpoint::load(&path, &Device::flex()) {
        Ok(_) => panic!("{name} should not load"),
        Err(e) => (path, e),
    }
}

#[test]
fn the_unmodified_copy_loads() {
    let bytes = with_model_size(&shipped(), "latent_dim", 64);
    let path = write("same.uwwm", &bytes);
    Checkpoint::load(&path, &Device::flex()).expect("a rewritten but equal checkpoint loads");
}

#[test]
fn a_size_beyond_its_limit_is_an_error_naming_it() {
    let bytes = shipped();
    for (key, value) in [
        ("hidden", 50_000_000),
        ("latent_dim", 1 << 40),
        ("obs_dim", u64::MAX),
        ("hidden_layers", 1_000_000),
        ("num_q", 100_000),
    ] {
        let (path, e) = load_error(&format!("{key}.uwwm"), &with_model_size(&bytes, key, value));
        let msg = e.to_string();
        assert!(
            matches!(e, CheckpointError::Metadata { .. }),
            "{key}: {msg}"
        );
        assert!(
            msg.contains(&format!("{key} = {value} exceeds the limit")),
            "{key}: {msg}"
        );
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
    let (_, e) = load_error(
        "hidden50m.uwwm",
        &with_model_size(&bytes, "hidden", 50_000_000),
    );
    assert!(
        e.to_string().ends_with(&format!(
            "hidden = 50000000 exceeds the limit {MAX_MODEL_WIDTH}"
        )),
        "{e}"
    );
}

#[test]
fn sizes_the_weights_present_cannot_hold_are_refused_before_allocating() {
    // Within every limit, but 4096 wide needs far more bytes than the
    // shipped model's weights.
    let bytes = with_model_size(&shipped(), "hidden", 4096);
    let (_, e) = load_error("wide.uwwm", &bytes);
    let msg = e.to_string();
    assert!(matches!(e, CheckpointError::Weights { .. }), "{msg}");
    assert!(msg.contains("bytes of weights, the file holds"), "{msg}");
}

#[test]
fn parameter_count_matches_the_built_model() {
    let device = Device::flex();
    for (hidden_layers, head_layers, layer_norm, num_q) in
        [(1, 1, true, 2), (0, 2, false, 5), (2, 0, true, 3)]
    {
        let cfg = WorldModelConfig {
            latent_dim: 16,
            hidden: 24,
            hidden_layers,
            head_layers,
            layer_norm,
            num_q,
            ..WorldModelConfig::new(5, 2)
        };
        let model = WorldModel::new(&cfg, 0, &device).expect("model");
        assert_eq!(
            cfg.parameter_count(),
            Some(model.num_params() as u64),
            "{cfg:?}"
        );
    }
    let huge = WorldModelConfig {
        hidden: usize::MAX,
        ..WorldModelConfig::new(5, 2)
    };
    assert_eq!(huge.parameter_count(), None);
}
