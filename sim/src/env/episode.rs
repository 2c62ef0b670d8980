//! An episode's lifecycle: its live state, the seeded start of one
//! ([`Env::reset`]), and the sensors read from it (noise and delay).

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::Env;
use crate::error::Result;
use crate::robots::{self, Model, Scales};
use crate::spec::{Measurement, Observation};

/// Random streams of one episode, all derived from the reset seed.
const STREAM_INIT: u64 = 0;
const STREAM_DOMAIN: u64 = 1;
const STREAM_NOISE: u64 = 2;

/// The live state of the current episode.
pub(super) struct Episode {
    pub(super) model: Model,
    pub(super) scales: Scales,
    pub(super) step: u32,
    pub(super) ended: bool,
    noise: ChaCha8Rng,
    pub(super) delayed: VecDeque<Measurement>,
    pub(super) goal_streak: u32,
    pub(super) goal_always: bool,
    pub(super) q: Vec<f32>,
    pub(super) qd: Vec<f32>,
    pub(super) efforts: Vec<f32>,
    /// Integral of each velocity servo's error.
    pub(super) servo_integral: Vec<f32>,
}

impl Env {
    /// Starts an episode. Everything random in it derives from `seed`.
    pub fn reset(&mut self, seed: u64) -> Result<Observation> {
        let stream = |s: u64| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            r.set_stream(s);
            r
        };
        let mut init = stream(STREAM_INIT);
        let scales = if self.cfg.realism.randomize.is_off() {
            Scales::ones()
        } else {
            Scales::sample(&self.cfg.realism.randomize, &mut stream(STREAM_DOMAIN))
        };
        let mut model = robots::build(&self.cfg, &scales, self.urdf.as_ref())?;
        let n = self.joint_names.len();
        let (mut q, mut qd) = (vec![0.0; n], vec![0.0; n]);
        self.task.reset(&mut init, &mut q, &mut qd);
        model.art.set_state(&q, &qd);
        model.art.positions(&mut q);
        model.art.velocities(&mut qd);
        let mut ep = Episode {
            model,
            scales,
            step: 0,
            ended: false,
            noise: stream(STREAM_NOISE),
            delayed: VecDeque::new(),
            goal_streak: 0,
            goal_always: true,
            q,
            qd,
            efforts: vec![0.0; n],
            servo_integral: vec![0.0; n],
        };
        let m = self.measure(&mut ep);
        for _ in 0..self.cfg.realism.sensor_delay {
            ep.delayed.push_back(m.clone());
        }
        ep.delayed.push_back(m);
        let obs = self.observe(&mut ep);
        self.episode = Some(ep);
        Ok(obs)
    }

    /// Reads the sensors (with noise) at the current state.
    pub(super) fn measure(&self, ep: &mut Episode) -> Measurement {
        let mut positions = ep.q.clone();
        let mut velocities = ep.qd.clone();
        let r = &self.cfg.realism;
        for (v, std) in [
            (&mut positions, r.position_noise_std),
            (&mut velocities, r.velocity_noise_std),
        ] {
            if std > 0.0
                && let Ok(n) = Normal::new(0.0f32, std)
            {
                for x in v.iter_mut() {
                    *x += n.sample(&mut ep.noise);
                }
            }
        }
        let mut channels = Vec::with_capacity(self.channel_names.len());
        self.task.read_channels(&ep.model, &mut channels);
        Measurement {
            positions,
            velocities,
            efforts: ep.efforts.clone(),
            channels,
        }
    }

    /// Pops the measurement that is `sensor_delay` steps old.
    pub(super) fn observe(&self, ep: &mut Episode) -> Observation {
        while ep.delayed.len() > self.cfg.realism.sensor_delay as usize + 1 {
            ep.delayed.pop_front();
        }
        let m = ep.delayed.front().cloned().unwrap_or_default();
        let vector = self.obs_map.vector(&m);
        Observation { sensors: m, vector }
    }
}
