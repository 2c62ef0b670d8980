//! The learned world model as a [`PlanModel`]: observations encoded once per
//! tick, action sequences rolled out in latent space by the allocation-free
//! [`RolloutEngine`].

use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use umwelt_models::world_model::{
    Checkpoint, InferenceModel, Normalization, Precision, RolloutEngine, RolloutOutput,
    WorkerPlacement, WorldModel,
};

use umwelt_models::dataset::DatasetSpec;
use umwelt_sim::ObservationMap;

use super::model::{PlanError, PlanModel, PlanState};
use super::objective::Objective;

/// A checkpoint's world model, planning for the task (predicted rewards and
/// terminal value) or towards a goal observation (latent distance).
pub struct LearnedModel {
    engine: RolloutEngine,
    norm: Normalization,
    gamma: f32,
    /// Control steps per model step (the checkpoint's action repeat).
    action_repeat: usize,
    /// The goal's latent in goal mode.
    goal: Option<Vec<f32>>,
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
        let model = InferenceModel::from_model(model)
            .map_err(|e| PlanError::Config(e.to_string()))?
            .with_precision(precision);
        let (latent, obs_dim) = (model.config().latent_dim, model.config().obs_dim);
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
            obs: vec![0.0; obs_dim],
            z0: vec![0.0; latent],
            out: RolloutOutput::default(),
        };
        if let Objective::Goal { observation } = objective {
            m.encode(observation)?;
            m.goal = Some(m.z0.clone());
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

    /// Encodes one physical observation into `self.z0` (reused buffers:
    /// this runs every control tick).
    fn encode(&mut self, observation: &[f32]) -> Result<(), PlanError> {
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
        self.engine
            .encode(&self.obs, 1, &mut self.z0)
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

    fn begin(&mut self, state: &PlanState<'_>) -> Result<(), PlanError> {
        self.encode(state.observation)
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
            Some(goal) => {
                let l = goal.len();
                for (i, v) in values[..n].iter_mut().enumerate() {
                    let z = &self.out.final_latents[i * l..(i + 1) * l];
                    *v = -z
                        .iter()
                        .zip(goal)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>();
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
