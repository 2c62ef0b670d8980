//! The decoder (latent -> normalised observation, what goal mode's
//! observation distance reads): burn's values up to rounding, for state and
//! pixel models, bit-identical whatever the thread count, bad input refused.

use super::*;

/// burn's decoding of `n` latents, row-major.
fn burn_decode(m: &WorldModel, z: &[f32], n: usize) -> Vec<f32> {
    tensor_to_vec(m.decode(rows(z.to_vec(), n, m.config.latent_dim)))
}

/// `n` SimNorm latents, as the encoder and dynamics give them.
fn latents(m: &WorldModel, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let l = m.config.latent_dim;
    tensor_to_vec(simnorm(
        rows(normal(n * l, rng), n, l),
        m.config.simnorm_group,
    ))
}

#[test]
fn decodes_as_burn_and_alike_on_every_thread_count() {
    let c = WorldModelConfig {
        latent_dim: 32,
        hidden: 48,
        hidden_layers: 2,
        simnorm_group: 4,
        ..WorldModelConfig::new(7, 3)
    };
    let m = random_model(&c, 6);
    let im = Arc::new(InferenceModel::from_model(&m).expect("model"));
    assert_eq!(im.decoded_dim(), 7);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // More rows than one tile, so that workers take some.
    let n = 150;
    let z = latents(&m, n, &mut rng);
    let want = burn_decode(&m, &z, n);
    let mut first: Option<Vec<u32>> = None;
    for threads in [1, 2, 3] {
        let mut eng = RolloutEngine::new(im.clone(), 256, 4, threads).expect("engine");
        let mut obs = vec![0.0; n * 7];
        eng.decode(&z, n, &mut obs).expect("decode");
        assert!(
            max_diff(&obs, &want) < TOL,
            "{threads} threads against burn"
        );
        match &first {
            None => first = Some(bits(&obs)),
            Some(f) => assert!(f == &bits(&obs), "{threads} threads differ from 1"),
        }
    }
}

#[test]
fn a_pixel_models_decoder_writes_the_observation_not_the_features() {
    let mut c = WorldModelConfig {
        latent_dim: 16,
        hidden: 32,
        simnorm_group: 4,
        ..WorldModelConfig::new(5, 1)
    };
    let mut p = PixelConfig::new("cam", 32, 32);
    p.conv_channels = 4;
    c.pixels = Some(p);
    let m = random_model(&c, 8);
    let im = Arc::new(InferenceModel::from_model(&m).expect("model"));
    // The engine's own config reads convolution features; its decoder the
    // robot's 5 observation values.
    assert_ne!(im.config().obs_dim, 5);
    assert_eq!(im.decoded_dim(), 5);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let z = latents(&m, 3, &mut rng);
    let mut eng = RolloutEngine::new(im, 64, 2, 2).expect("engine");
    let mut obs = vec![0.0; 3 * 5];
    eng.decode(&z, 3, &mut obs).expect("decode");
    assert!(max_diff(&obs, &burn_decode(&m, &z, 3)) < TOL);
}

#[test]
fn bad_latents_are_refused_with_a_data_error() {
    let c = cartpole_sized();
    let m = random_model(&c, 10);
    let im = Arc::new(InferenceModel::from_model(&m).expect("model"));
    let (l, o) = (c.latent_dim, c.obs_dim);
    let mut eng = RolloutEngine::new(im, 64, 2, 1).expect("engine");
    let mut obs = vec![0.0; 2 * o];
    let is_data = |r: Result<(), ModelError>, what: &str| {
        let msg = data_error(r, what);
        assert!(msg.contains("decode"), "{what}: {msg}");
    };
    is_data(
        eng.decode(&vec![0.1; 2 * l + 1], 2, &mut obs),
        "latent length",
    );
    is_data(
        eng.decode(&vec![0.1; 2 * l], 2, &mut obs[1..]),
        "output length",
    );
    let mut nan = vec![0.1; 2 * l];
    nan[3] = f32::NAN;
    is_data(eng.decode(&nan, 2, &mut obs), "non-finite latent");
    is_data(
        eng.decode(&vec![0.1; 65 * l], 65, &mut vec![0.0; 65 * o]),
        "too many",
    );
}
