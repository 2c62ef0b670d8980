//! The fused gradient against burn's autodiff of the same objective, on
//! the same parameters and batch, tensor by tensor.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Fused;
use crate::dataset::Episode;
use crate::world_model::config::{TrainConfig, WorldModelConfig};
use crate::world_model::normalize::Normalization;
use crate::world_model::pixels::PixelConfig;
use crate::world_model::train::objective::losses;
use crate::world_model::train::{TrainEngine, Trainer};

/// Six random episodes; with `camera`, each observation has a random
/// frame of the camera's size.
fn episodes(obs: usize, act: usize, camera: Option<&PixelConfig>) -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    (0..6)
        .map(|i| {
            let len = 30;
            let mut r =
                |k: usize| -> Vec<f32> { (0..k).map(|_| rng.random_range(-1.0..1.0)).collect() };
            let mut e = Episode {
                seed: i,
                observations: r((len + 1) * obs),
                actions: r(len * act),
                rewards: r(len),
                terminated: i == 2,
                truncated: i != 2,
                success: false,
                frames: None,
            };
            if let Some(c) = camera {
                for _ in 0..=len {
                    let frame: Vec<u8> = (0..c.image_len()).map(|_| rng.random()).collect();
                    e.push_frame(c.width as u16, c.height as u16, c.channels as u8, &frame)
                        .expect("a frame of the camera's size");
                }
            }
            e
        })
        .collect()
}

/// Each parameter's gradient, flat in visit order.
struct Grads<'a>(&'a GradientsParams, Vec<Vec<f32>>);

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self
            .0
            .get::<D>(param.id)
            .map(|t| t.into_data().try_into_vec::<f32>().unwrap_or_default())
            .unwrap_or_default();
        self.1.push(g);
    }
}

fn check(model: WorldModelConfig, threads: usize) {
    let (o, a) = (model.obs_dim, model.act_dim);
    let config = TrainConfig {
        batch_size: 23,
        horizon: 3,
        seed: 4,
        // Steps with a large rate first, so that the zero-initialised
        // reward and Q outputs and the LayerNorms move off their start.
        learning_rate: 3e-2,
        target_tau: 0.3,
        ..TrainConfig::default()
    };
    let data = episodes(o, a, model.pixels.as_ref());
    let mut t = Trainer::new(
        &model,
        config.clone(),
        Normalization::identity(o, a),
        &data,
        &Device::flex(),
    )
    .expect("a trainer");
    for _ in 0..5 {
        t.step();
    }
    let batch = t.sample_batch();
    let pair = t.target_pair();
    let (loss, terms) = losses(&t.model, &t.target_q, pair, &config, &batch, &t.device);
    let grads = GradientsParams::from_grads(loss.backward(), &t.model);
    let mut burn = Grads(&grads, Vec::new());
    t.model.visit(&mut burn);

    t.set_engine(TrainEngine::Fused).expect("the fused engine");
    let fused: &mut Fused = t.fused.as_mut().expect("fused");
    let (fterms, flat) = fused.gradient(&batch, pair, &config, threads);
    let close = |x: f32, y: f32| (x - y).abs() <= 1e-4 * (1.0 + x.abs().max(y.abs()));
    for (name, x, y) in [
        ("consistency", terms.consistency, fterms.consistency),
        ("reward", terms.reward, fterms.reward),
        ("value", terms.value, fterms.value),
        ("policy", terms.policy, fterms.policy),
        ("inverse", terms.inverse, fterms.inverse),
        ("decoder", terms.decoder, fterms.decoder),
        ("total", terms.total, fterms.total),
    ] {
        assert!(close(x, y), "{name}: burn {x}, fused {y}");
    }
    assert_eq!(burn.1.len(), fused.layout().tensors.len());
    let mut nonzero = 0;
    for (i, (g, range)) in burn.1.iter().zip(&fused.layout().tensors).enumerate() {
        let f = &flat[range.clone()];
        assert_eq!(g.len(), f.len(), "tensor {i}");
        let scale = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = g
            .iter()
            .zip(f)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            err <= 1e-3 * scale + 1e-7,
            "tensor {i} ({} values): max |burn - fused| {err}, max |burn| {scale}",
            g.len()
        );
        if scale > 1e-6 {
            nonzero += 1;
        }
    }
    // Every tensor carries a gradient after the warm-up steps.
    assert_eq!(nonzero, burn.1.len(), "tensors with a gradient");
}

#[test]
fn the_fused_gradient_is_burns_with_layer_norm() {
    let model = WorldModelConfig {
        latent_dim: 16,
        hidden: 32,
        num_q: 3,
        hidden_layers: 2,
        ..WorldModelConfig::new(4, 2)
    };
    check(model.clone(), 1);
    check(model, 2);
}

#[test]
fn the_fused_gradient_is_burns_without_layer_norm() {
    let model = WorldModelConfig {
        latent_dim: 24,
        hidden: 16,
        simnorm_group: 6,
        layer_norm: false,
        head_layers: 2,
        ..WorldModelConfig::new(3, 1)
    };
    check(model, 3);
}

#[test]
fn the_fused_gradient_is_burns_for_pixel_models() {
    let mut camera = PixelConfig::new("cam", 36, 40);
    camera.frames = 2;
    camera.conv_channels = 6;
    camera.shift = 2;
    let pixels_only = WorldModelConfig {
        latent_dim: 16,
        hidden: 24,
        pixels: Some(camera.clone()),
        ..WorldModelConfig::new(4, 2)
    };
    check(pixels_only, 2);
    camera.state = true;
    camera.channels = 1;
    let both = WorldModelConfig {
        latent_dim: 16,
        hidden: 24,
        layer_norm: false,
        pixels: Some(camera),
        ..WorldModelConfig::new(3, 1)
    };
    check(both, 1);
}
