//! Checkpoints of other format versions and edited metadata: version 1 is
//! refused, version 2 loads without layer norm, the action repeat round-trips.

use super::*;

#[test]
fn version_1_checkpoints_are_refused() {
    let device = Device::flex();
    let (dir, path, _) = saved_untrained("v1");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Checkpoint::load(&path, &device).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::UnsupportedVersion {
                found: 1,
                supported: CHECKPOINT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!(
            "checkpoint format version 1, this build reads versions 2 to {CHECKPOINT_VERSION}"
        )),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn version_2_checkpoints_load_as_models_without_layer_norm() {
    // A version-2 file as the previous build wrote it: a model with every
    // network equally deep and no LayerNorm, whose metadata lacks the
    // fields version 3 added.
    let device = Device::flex();
    let cfg = WorldModelConfig {
        latent_dim: 16,
        hidden: 32,
        ..WorldModelConfig::new(OBS, ACT)
    }
    .legacy();
    let model = WorldModel::new(&cfg, 3, &device).unwrap();
    let meta = CheckpointMeta {
        format_version: 2,
        spec: spec("linear"),
        model: cfg.clone(),
        normalization: Normalization::identity(OBS, ACT),
        train: TrainSummary::default(),
        prediction: None,
        action_repeat: 1,
    };
    let v3 = Checkpoint::to_bytes(&model, &meta).unwrap();
    let mut v2 = common::with_meta_edited(&v3, |json| {
        let fields = json["model"].as_object_mut().unwrap();
        assert!(fields.remove("head_layers").is_some() && fields.remove("layer_norm").is_some());
    });
    assert_eq!(v2[..4], CHECKPOINT_MAGIC);
    v2[4..8].copy_from_slice(&2u32.to_le_bytes());

    let dir = tempdir("v2");
    let path = dir.join("v2.uwwm");
    std::fs::write(&path, &v2).unwrap();
    let loaded = Checkpoint::load(&path, &device).unwrap();
    assert_eq!(loaded.meta.model, cfg);
    assert_eq!(loaded.meta.model.head_layers, cfg.hidden_layers);
    assert!(!loaded.meta.model.layer_norm);
    let obs = tensor_from_rows(vec![0.3, -0.2, 0.1, 0.5], 1, OBS, &device);
    assert_eq!(
        bits(&tensor_to_vec(loaded.model.encode(obs.clone()))),
        bits(&tensor_to_vec(model.encode(obs)))
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_action_repeat_round_trips_defaults_to_1_and_0_is_refused() {
    let device = Device::flex();
    let (model, mut meta) = untrained();
    meta.action_repeat = 2;
    let bytes = Checkpoint::to_bytes(&model, &meta).unwrap();
    let p = Path::new("mem.uwwm");
    let back = Checkpoint::from_bytes(&bytes, p, &device).unwrap();
    assert_eq!(back.meta.action_repeat, 2);
    // Checkpoints written before the field existed: one control step.
    let old = common::with_meta_edited(&bytes, |j| {
        assert!(j.as_object_mut().unwrap().remove("action_repeat").is_some());
    });
    assert_eq!(
        Checkpoint::from_bytes(&old, p, &device)
            .unwrap()
            .meta
            .action_repeat,
        1
    );
    let zero = common::with_meta_edited(&bytes, |j| j["action_repeat"] = 0.into());
    let err = Checkpoint::from_bytes(&zero, p, &device).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Metadata { .. })
            && err.to_string().contains("action_repeat"),
        "{err}"
    );
}
