//! Pixel models: encoder shapes and gradients, a trainer on episodes with
//! camera frames, checkpoints, and frames in datasets.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use umwelt_models::dataset::{
    Dataset, DatasetSpec, DatasetWriter, Episode, FieldSpec, Frames, frames_path,
};
use umwelt_models::world_model::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointMeta, Normalization, PixelConfig, TrainConfig,
    Trainer, WorldModel, WorldModelConfig, pixels_tensor, stack_at, tensor_from_rows,
    tensor_to_vec,
};

const SIDE: usize = 32;

/// A 32x32 RGB frame showing a white 6x6 block whose column is `x` in
/// [-1, 1] on a dark background.
fn frame(x: f32) -> Vec<u8> {
    let col = (((x + 1.0) / 2.0) * (SIDE - 6) as f32).round() as usize;
    let mut f = vec![20u8; SIDE * SIDE * 3];
    for y in 13..19 {
        for c in col..col + 6 {
            f[(y * SIDE + c) * 3..(y * SIDE + c) * 3 + 3].copy_from_slice(&[250, 250, 250]);
        }
    }
    f
}

/// A block moved by its action: `x' = clamp(x + 0.2 a)`, rewarded for
/// being near the centre; the observation is `x`, the frames show it.
fn episode(seed: u64, steps: usize) -> Episode {
    let mut x = ((seed * 37 % 17) as f32 / 8.0) - 1.0;
    let mut e = Episode::begin(seed, &[x], 1, steps);
    e.push_frame(SIDE as u16, SIDE as u16, 3, &frame(x))
        .unwrap();
    for t in 0..steps {
        let a = (((seed + t as u64) * 7919 % 13) as f32 / 6.0) - 1.0;
        x = (x + 0.2 * a).clamp(-1.0, 1.0);
        e.push_step(&[a], 1.0 - x.abs(), &[x]);
        e.push_frame(SIDE as u16, SIDE as u16, 3, &frame(x))
            .unwrap();
    }
    e.end(false, true, false);
    e
}

fn config() -> WorldModelConfig {
    let mut p = PixelConfig::new("cam", SIDE, SIDE);
    p.conv_channels = 8;
    p.frames = 2;
    p.shift = 2;
    WorldModelConfig {
        pixels: Some(p),
        latent_dim: 16,
        hidden: 32,
        ..WorldModelConfig::new(1, 1)
    }
}

fn train_config() -> TrainConfig {
    TrainConfig {
        batch_size: 16,
        learning_rate: 1e-3,
        seed: 3,
        ..TrainConfig::default()
    }
}

fn normalization(episodes: &[Episode]) -> Normalization {
    Normalization::fit(&spec(), episodes)
}

#[test]
fn the_encoder_maps_stacked_images_to_simnorm_latents() {
    let c = config();
    let p = c.pixels.clone().unwrap();
    assert_eq!(c.encoder_input_dim(), p.feature_len());
    let model = WorldModel::new(&c, 1, &Device::flex()).unwrap();
    let e = episode(1, 5);
    let mut bytes = Vec::new();
    for t in [0, 3] {
        stack_at(
            &p,
            e.frames.as_ref().unwrap(),
            t,
            (p.shift, p.shift),
            &mut bytes,
        )
        .unwrap();
    }
    let px = pixels_tensor(&bytes, 2, &p, &Device::flex());
    let obs = tensor_from_rows(vec![0.0, 0.0], 2, 1, &Device::flex());
    let z = tensor_to_vec(model.encode_input(obs, Some(px)));
    assert_eq!(z.len(), 2 * 16);
    // SimNorm: every group of 8 is a softmax.
    for g in z.chunks(8) {
        assert!((g.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{g:?}");
    }
    // Different images, different latents.
    assert_ne!(&z[..16], &z[16..]);
    // The parameter count computed without building the model is exact.
    assert_eq!(c.parameter_count().unwrap(), model.num_params() as u64);
}

#[test]
fn training_moves_the_convolutions_and_lowers_the_losses() {
    let episodes: Vec<Episode> = (0..6).map(|s| episode(s, 40)).collect();
    let norm = normalization(&episodes);
    let mut t = Trainer::new(&config(), train_config(), norm, &episodes, &Device::flex()).unwrap();
    let batch = t.sample_batch();
    let p = config().pixels.unwrap();
    assert_eq!(batch.pixels.len(), batch.horizon + 1);
    assert_eq!(batch.pixels[0].len(), 16 * p.input_len());
    let before = tensor_to_vec(t.model().pixel.as_ref().unwrap().convs[0].weight.val());
    let first = t.evaluate(&batch);
    for _ in 0..60 {
        t.step();
    }
    let after = tensor_to_vec(t.model().pixel.as_ref().unwrap().convs[0].weight.val());
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert!(
        moved > before.len() / 2,
        "{moved} of {} first-layer weights moved",
        before.len()
    );
    let last = t.evaluate(&batch);
    assert!(
        last.reward < first.reward * 0.5,
        "reward loss {} -> {}",
        first.reward,
        last.reward
    );
    assert!(last.total.is_finite());
}

#[test]
fn a_state_model_never_asks_for_frames_and_a_pixel_model_needs_them() {
    let mut episodes: Vec<Episode> = (0..3).map(|s| episode(s, 20)).collect();
    let norm = normalization(&episodes);
    // The same episodes train a state model (frames ignored).
    let state = WorldModelConfig {
        pixels: None,
        ..config()
    };
    assert!(
        Trainer::new(
            &state,
            train_config(),
            norm.clone(),
            &episodes,
            &Device::flex()
        )
        .is_ok()
    );
    episodes[1].frames = None;
    let e = Trainer::new(&config(), train_config(), norm, &episodes, &Device::flex())
        .err()
        .expect("an episode without frames")
        .to_string();
    assert!(e.contains("episode 1 has no camera frames"), "{e}");
}

#[test]
fn checkpoints_keep_the_convolutions() {
    let episodes: Vec<Episode> = (0..3).map(|s| episode(s, 20)).collect();
    let norm = normalization(&episodes);
    let mut t = Trainer::new(
        &config(),
        train_config(),
        norm.clone(),
        &episodes,
        &Device::flex(),
    )
    .unwrap();
    t.step();
    let model = t.inference_model();
    let meta = CheckpointMeta {
        format_version: CHECKPOINT_VERSION,
        spec: spec(),
        model: config(),
        normalization: norm,
        train: t.summary().clone(),
        prediction: None,
        action_repeat: 1,
    };
    let bytes = Checkpoint::to_bytes(&model, &meta).unwrap();
    let back = Checkpoint::from_bytes(&bytes, std::path::Path::new("x"), &Device::flex()).unwrap();
    assert_eq!(back.meta.model.pixels, config().pixels);
    let p = config().pixels.unwrap();
    let mut px = Vec::new();
    stack_at(&p, episodes[0].frames.as_ref().unwrap(), 7, (2, 2), &mut px).unwrap();
    let encode = |m: &WorldModel| {
        tensor_to_vec(m.encode_input(
            Tensor::zeros([1, 1], &Device::flex()),
            Some(pixels_tensor(&px, 1, &p, &Device::flex())),
        ))
    };
    assert_eq!(encode(&model), encode(&back.model));
}

fn spec() -> DatasetSpec {
    DatasetSpec::new(
        "block",
        "centre",
        vec![FieldSpec::new("x", -1.0, 1.0, "m")],
        vec![FieldSpec::new("a", -1.0, 1.0, "1")],
        0.1,
    )
}

#[test]
fn datasets_store_frames_beside_episodes() {
    let dir = std::env::temp_dir().join(format!("umwelt-frames-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut w = DatasetWriter::create(&dir, &spec()).unwrap();
    let with = episode(4, 30);
    let mut without = episode(5, 10);
    without.frames = None;
    let i = w.write(&with).unwrap();
    w.write(&without).unwrap();
    let d = Dataset::open(&dir).unwrap();
    let back = d.load_all().unwrap();
    assert_eq!(back[0], with);
    assert_eq!(back[1].frames, None);
    // Frames that do not match their episode are refused with the file named.
    let path = d.episode_path(i as usize).unwrap().to_path_buf();
    let short = Frames::clone(with.frames.as_ref().unwrap()).select(0..5);
    std::fs::write(frames_path(&path), short.to_bytes().unwrap()).unwrap();
    let e = d.load(0).unwrap_err().to_string();
    assert!(
        e.contains("5 frames for an episode of 31 observations"),
        "{e}"
    );
    // Pieces and action-repeat blocks keep the frame of each observation.
    let blocks = with.with_action_repeat(1).unwrap();
    assert_eq!(blocks.frames, with.frames);
    let mut held = episode(6, 8);
    held.actions = vec![0.5; 8];
    let f = Arc::clone(held.frames.as_ref().unwrap());
    let r = held.with_action_repeat(4).unwrap();
    let rf = r.frames.unwrap();
    assert_eq!(
        (rf.len(), rf.frame(1), rf.frame(2)),
        (3, f.frame(4), f.frame(8))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
