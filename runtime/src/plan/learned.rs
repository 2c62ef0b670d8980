//! The learned world model as a [`PlanModel`]: observations encoded once per
//! tick, action sequences rolled out in latent space by the allocation-free
//! [`RolloutEngine`].

use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use umwelt_models::world_model::{
    Checkpoint, InferenceModel, Normalization, PixelConfig, PixelEncoder, Precision, RolloutEngine,
    RolloutOutput, WorkerPlacement, WorldModel, pixels_tensor, stack_frames, tensor_to_vec,
};

use umwelt_models::dataset::DatasetSpec;
use umwelt_sim::ObservationMap;

use super::model::{PlanError, PlanModel, PlanState};
use crate::wire::{Image, ImageEncoding};

/// A pixel model's eyes: its convolutions (run by burn on the CPU, once
/// per model step) and the latest frames of its camera.
struct Eyes {
    config: PixelConfig,
    conv: PixelEncoder,
    device: Device,
    /// The latest `config.frames` images, oldest first; empty at an
    /// episode's start (the first image then fills the stack).
    history: std::collections::VecDeque<Vec<u8>>,
    /// The stacked input, reused.
    stacked: Vec<u8>,
}

impl Eyes {
    /// Takes this step's image of the model's camera from `images` and
    /// returns the convolution features of the latest stack.
    fn see(&mut self, images: &[Image]) -> Result<Vec<f32>, PlanError> {
        let c = &self.config;
        let encoding = ImageEncoding::for_channels(c.channels).ok_or_else(|| {
            PlanError::Input(format!(
                "the model sees {} bytes per pixel; images are 1 (grey) or 3 (RGB)",
                c.channels
            ))
        })?;
        // A camera may send several images under its name (colour and
        // depth): the one in the model's encoding, else the first, whose
        // mismatch the check below reports.
        let named = || images.iter().filter(|i| i.name == c.camera);
        let Some(im) = named()
            .find(|i| i.encoding == encoding)
            .or_else(|| named().next())
        else {
            let have: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
            return Err(PlanError::Input(format!(
                "no image from camera `{}` in the frame (it has: {}); the model sees through it",
                c.camera,
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            )));
        };
        if (im.width as usize, im.height as usize, im.encoding) != (c.width, c.height, encoding)
            || im.data.len() != c.image_len()
        {
            return Err(PlanError::Input(format!(
                "camera `{}` sent a {}x{} {:?} image of {} bytes; the model sees {}x{} {encoding:?}",
                c.camera,
                im.width,
                im.height,
                im.encoding,
                im.data.len(),
                c.width,
                c.height
            )));
        }
        if self.history.is_empty() {
            for _ in 0..c.frames {
                self.history.push_back(im.data.clone());
            }
        } else {
            let mut oldest = self.history.pop_front().unwrap_or_default();
            oldest.clone_from(&im.data);
            self.history.push_back(oldest);
        }
        let frames: Vec<&[u8]> = self.history.iter().map(Vec::as_slice).collect();
        self.stacked.clear();
        // No shift: augmentation is for training only.
        stack_frames(c, &frames, (c.shift, c.shift), &mut self.stacked);
        let x = pixels_tensor(&self.stacked, 1, c, &self.device);
        Ok(tensor_to_vec(self.conv.forward(x)))
    }
}
use super::objective::{GoalDistance, Objective};

/// Where goal mode plans towards, in the space its distance is measured in.
enum Goal {
    /// The goal's latent.
    Latent(Vec<f32>),
    /// What the decoder reads from the goal's latent (a normalised
    /// observation vector).
    Observation(Vec<f32>),
}

/// A checkpoint's world model, planning for the task (predicted rewards and
/// terminal value) or towards a goal observation or image (the distance of
/// the rollout's last latent to the goal's, or of their decodings).
pub struct LearnedModel {
    engine: RolloutEngine,
    norm: Normalization,
    gamma: f32,
    /// Control steps per model step (the checkpoint's action repeat).
    action_repeat: usize,
    /// The goal in goal mode.
    goal: Option<Goal>,
    /// How goal mode measures closeness (kept for a goal image set later).
    distance: GoalDistance,
    /// The rollouts' last latents decoded (observation distance only).
    decoded: Vec<f32>,
    /// A pixel model's convolutions and frame history.
    eyes: Option<Eyes>,
    /// The encoder MLP's input: the normalised observation, or a pixel
    /// model's features (and observation).
    input: Vec<f32>,
    obs: Vec<f32>,
    z0: Vec<f32>,
    out: RolloutOutput,
}

impl LearnedModel {
    /// Loads `checkpoint` for a robot and task whose episodes have the
    /// dataset spec `expected`, observed through `observation`, multiplying
    /// in `precision`, sized for `max_samples` sequences of up to
    /// `max_horizon` steps.
    /// A checkpoint of another robot, task or observation layout is refused
    /// with what differs.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        checkpoint: &Path,
        expected: &DatasetSpec,
        observation: &ObservationMap,
        objective: &Objective,
        precision: Precision,
        threads: usize,
        max_samples: usize,
        max_horizon: usize,
    ) -> Result<Self, PlanError> {
        let ck = Checkpoint::load(checkpoint, &Device::flex())
            .map_err(|e| PlanError::Config(e.to_string()))?;
        ck.check_spec(expected)
            .map_err(|e| PlanError::Config(format!("{}: {e}", checkpoint.display())))?;
        let features: Vec<&str> = observation
            .features()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let trained: Vec<&str> = ck
            .meta
            .spec
            .observation
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        if features != trained {
            return Err(PlanError::Config(format!(
                "{}: trained on observation [{}], the config observes [{}]",
                checkpoint.display(),
                trained.join(", "),
                features.join(", ")
            )));
        }
        Self::from_model(
            &ck.model,
            ck.meta.normalization.clone(),
            ck.meta.train.config.gamma,
            ck.meta.action_repeat as usize,
            objective,
            precision,
            threads,
            max_samples,
            max_horizon,
        )
        .map_err(|e| PlanError::Config(format!("{}: {e}", checkpoint.display())))
    }

    /// A planning model of an in-memory world model (a learning loop's
    /// latest), with its normalisation, discount and action repeat (control
    /// steps per model step; 1 for a model of single control steps),
    /// multiplying in `precision`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_model(
        model: &WorldModel,
        norm: Normalization,
        gamma: f32,
        action_repeat: usize,
        objective: &Objective,
        precision: Precision,
        threads: usize,
        max_samples: usize,
        max_horizon: usize,
    ) -> Result<Self, PlanError> {
        let eyes = match (&model.config.pixels, &model.pixel) {
            (Some(config), Some(conv)) => Some(Eyes {
                config: config.clone(),
                conv: conv.clone(),
                device: Device::flex(),
                history: Default::default(),
                stacked: Vec::with_capacity(config.input_len()),
            }),
            (None, None) => None,
            _ => {
                return Err(PlanError::Config(
                    "the model's pixel config and convolutions disagree".into(),
                ));
            }
        };
        let obs_dim = model.config.obs_dim;
        let model = InferenceModel::from_model(model)
            .map_err(|e| PlanError::Config(e.to_string()))?
            .with_precision(precision);
        let latent = model.config().latent_dim;
        let input_dim = model.config().obs_dim;
        if norm.obs_dim() != obs_dim || norm.act_dim() != model.config().act_dim {
            return Err(PlanError::Config(format!(
                "normalisation of {} observations and {} actions, the model takes {} and {}",
                norm.obs_dim(),
                norm.act_dim(),
                obs_dim,
                model.config().act_dim
            )));
        }
        if action_repeat == 0 {
            return Err(PlanError::Config("an action repeat of 0".into()));
        }
        let engine = RolloutEngine::new(Arc::new(model), max_samples, max_horizon, threads.max(1))
            .map_err(|e| PlanError::Config(e.to_string()))?;
        let mut m = Self {
            engine,
            norm,
            gamma,
            action_repeat,
            goal: None,
            distance: GoalDistance::Latent,
            decoded: Vec::new(),
            eyes,
            input: vec![0.0; input_dim],
            obs: vec![0.0; obs_dim],
            z0: vec![0.0; latent],
            out: RolloutOutput::default(),
        };
        match objective {
            Objective::Task => {}
            Objective::Goal {
                observation,
                distance,
            } => {
                if m.eyes.is_some() {
                    return Err(PlanError::Config(
                        "goal mode of a pixel model needs a goal image (objective.kind = \
                         \"goal_image\"), not a goal observation"
                            .into(),
                    ));
                }
                m.distance = *distance;
                m.encode(observation, &[])?;
                m.set_goal_at_z0()?;
            }
            Objective::GoalImage { image, distance } => {
                let Some(eyes) = &m.eyes else {
                    return Err(PlanError::Config(
                        "a goal image needs a pixel model; this one sees the state \
                         (objective.kind = \"goal\" takes a goal observation)"
                            .into(),
                    ));
                };
                let c = &eyes.config;
                if c.state {
                    return Err(PlanError::Config(format!(
                        "the model sees camera `{}` and the state; a goal image shows no \
                         state: goal images need a pixels-only model",
                        c.camera
                    )));
                }
                let goal = crate::view::png::read_png(image, &c.camera, c.channels == 1)
                    .map_err(|e| PlanError::Config(format!("goal image: {e}")))?;
                m.distance = *distance;
                m.set_goal_image(&goal)?;
            }
        }
        Ok(m)
    }

    /// Control steps each model step covers: a planner must hold each
    /// action this long (`action_repeat` in its config).
    pub fn action_repeat(&self) -> usize {
        self.action_repeat
    }

    /// Moves the rollout workers (see [`RolloutEngine::place_workers`]).
    pub fn place_workers(&mut self, placement: &WorkerPlacement) -> Result<(), PlanError> {
        self.engine
            .place_workers(placement)
            .map_err(|e| PlanError::Config(e.to_string()))
    }

    /// Where each rollout worker is bound (`None`: it floats).
    pub fn worker_cpus(&self) -> &[Option<usize>] {
        self.engine.worker_cpus()
    }

    /// The inference model the planner runs (its precision and bfloat16
    /// kernel).
    pub fn inference_model(&self) -> &InferenceModel {
        self.engine.model()
    }

    /// Plans towards `image` from now on: what the model's camera would
    /// see at the goal, held still (the image fills the model's frame
    /// stack). It must have the camera's name, size and encoding.
    pub fn set_goal_image(&mut self, image: &Image) -> Result<(), PlanError> {
        let Some(eyes) = &mut self.eyes else {
            return Err(PlanError::Config("a goal image needs a pixel model".into()));
        };
        // The goal is encoded as a first image of an episode, then the
        // history is emptied for the episode's own images.
        eyes.history.clear();
        let zeros = vec![0.0; self.obs.len()];
        let encoded = self.encode(&zeros, std::slice::from_ref(image));
        if let Some(eyes) = &mut self.eyes {
            eyes.history.clear();
        }
        encoded.map_err(|e| PlanError::Config(format!("goal image: {e}")))?;
        self.set_goal_at_z0()
    }

    /// The goal is the latent just encoded (`self.z0`), or what the
    /// decoder reads from it, as `self.distance` says.
    fn set_goal_at_z0(&mut self) -> Result<(), PlanError> {
        self.goal = Some(match self.distance {
            GoalDistance::Latent => Goal::Latent(self.z0.clone()),
            GoalDistance::Observation => {
                let mut decoded = vec![0.0; self.engine.model().decoded_dim()];
                self.engine
                    .decode(&self.z0, 1, &mut decoded)
                    .map_err(|e| PlanError::Model(format!("decoding the goal: {e}")))?;
                Goal::Observation(decoded)
            }
        });
        Ok(())
    }

    /// Encodes one physical observation (and a pixel model's image from
    /// `images`) into `self.z0` (reused buffers: this runs every model step).
    fn encode(&mut self, observation: &[f32], images: &[Image]) -> Result<(), PlanError> {
        if observation.len() != self.obs.len() {
            return Err(PlanError::Input(format!(
                "observation of {} values, the model takes {}",
                observation.len(),
                self.obs.len()
            )));
        }
        if let Some(i) = observation.iter().position(|v| !v.is_finite()) {
            return Err(PlanError::Input(format!(
                "observation component {i} is {}",
                observation[i]
            )));
        }
        self.obs.copy_from_slice(observation);
        self.norm.normalize_obs(&mut self.obs);
        match &mut self.eyes {
            None => self.input.copy_from_slice(&self.obs),
            Some(eyes) => {
                let features = eyes.see(images)?;
                self.input.clear();
                self.input.extend_from_slice(&features);
                if eyes.config.state {
                    self.input.extend_from_slice(&self.obs);
                }
            }
        }
        self.engine
            .encode(&self.input, 1, &mut self.z0)
            .map_err(|e| PlanError::Model(e.to_string()))
    }
}

impl PlanModel for LearnedModel {
    fn name(&self) -> &str {
        "learned"
    }

    fn act_dim(&self) -> usize {
        self.norm.act_dim()
    }

    fn action_scale(&self) -> (&[f32], &[f32]) {
        (&self.norm.act_center, &self.norm.act_half_range)
    }

    fn cameras(&self) -> Vec<String> {
        self.eyes.iter().map(|e| e.config.camera.clone()).collect()
    }

    fn reset(&mut self) {
        if let Some(e) = &mut self.eyes {
            e.history.clear();
        }
    }

    fn begin(&mut self, state: &PlanState<'_>) -> Result<(), PlanError> {
        self.encode(state.observation, state.images)
    }

    fn evaluate(
        &mut self,
        actions: &[f32],
        n: usize,
        h: usize,
        repeat: usize,
        values: &mut [f32],
    ) -> Result<(), PlanError> {
        if repeat != self.action_repeat {
            return Err(PlanError::Config(format!(
                "the model steps {} control period(s) at a time: action_repeat must be {}, not {repeat}",
                self.action_repeat, self.action_repeat
            )));
        }
        if values.len() < n {
            return Err(PlanError::Input(format!(
                "{} value slots for {n} sequences",
                values.len()
            )));
        }
        self.engine
            .rollout(&self.z0, actions, n, h, &mut self.out)
            .map_err(|e| PlanError::Model(e.to_string()))?;
        match &self.goal {
            None => {
                for (i, v) in values[..n].iter_mut().enumerate() {
                    let mut g = 0.0f32;
                    let mut d = 1.0f32;
                    for r in &self.out.rewards[i * h..(i + 1) * h] {
                        g += d * r;
                        d *= self.gamma;
                    }
                    *v = g + d * self.out.values[i];
                }
            }
            Some(Goal::Latent(goal)) => {
                let ends = self.out.final_latents.chunks_exact(goal.len());
                for (v, z) in values[..n].iter_mut().zip(ends) {
                    *v = -squared_distance(z, goal);
                }
            }
            Some(Goal::Observation(goal)) => {
                let l = self.z0.len();
                self.decoded.resize(n * goal.len(), 0.0);
                self.engine
                    .decode(&self.out.final_latents[..n * l], n, &mut self.decoded)
                    .map_err(|e| PlanError::Model(e.to_string()))?;
                let ends = self.decoded.chunks_exact(goal.len());
                for (v, o) in values[..n].iter_mut().zip(ends) {
                    *v = -squared_distance(o, goal);
                }
            }
        }
        Ok(())
    }

    fn policy_actions(
        &mut self,
        noise: &[f32],
        n: usize,
        h: usize,
        actions: &mut [f32],
    ) -> Result<bool, PlanError> {
        self.engine
            .policy_rollout(&self.z0, noise, n, h, actions)
            .map_err(|e| PlanError::Model(e.to_string()))?;
        Ok(true)
    }
}

/// `|a - b|^2`.
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
