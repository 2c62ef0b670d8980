//! The gym-style environment: `reset(seed)` and `step(action)`.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::config::{RobotConfig, RobotKind};
use crate::error::{Result, SimError};
use crate::observation::{FeatureKind, ObservationMap};
use crate::physics::JointKind;
use crate::relabel::GoalRelabel;
use crate::robots::{self, Model, Scales, UrdfTemplate};
use crate::spec::{
    ActionSpec, ActuationMode, Measurement, Observation, ObservationSpec, SpecEntry, Step, StepInfo,
};
use crate::task::{self, EPISODE_STEPS, SuccessRule, TaskLogic};

/// Random streams of one episode, all derived from the reset seed.
const STREAM_INIT: u64 = 0;
const STREAM_DOMAIN: u64 = 1;
const STREAM_NOISE: u64 = 2;

struct Episode {
    model: Model,
    scales: Scales,
    step: u32,
    ended: bool,
    noise: ChaCha8Rng,
    delayed: VecDeque<Measurement>,
    goal_streak: u32,
    goal_always: bool,
    q: Vec<f32>,
    qd: Vec<f32>,
    efforts: Vec<f32>,
    /// Integral of each velocity servo's error.
    servo_integral: Vec<f32>,
}

/// The dynamic state of an episode: what [`Env::save_state`] captures and
/// [`Env::restore_state`] puts back, in place, without rebuilding the physics.
/// Planners that roll the true simulator out many times from one state use it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpisodeState {
    q: Vec<f32>,
    qd: Vec<f32>,
    efforts: Vec<f32>,
    servo_integral: Vec<f32>,
    step: u32,
    ended: bool,
    goal_streak: u32,
    goal_always: bool,
}

impl EpisodeState {
    /// Joint positions (declared joint order).
    pub fn positions(&self) -> &[f32] {
        &self.q
    }
    /// Joint velocities (declared joint order).
    pub fn velocities(&self) -> &[f32] {
        &self.qd
    }
    /// Control steps taken in the episode.
    pub fn step(&self) -> u32 {
        self.step
    }
}

/// A simulated robot doing a task, stepped by the caller.
///
/// The same seed gives a bit-identical trajectory: every random draw (initial
/// state, target, domain randomisation, sensor noise) comes from streams
/// seeded by [`Env::reset`], and the physics is rebuilt at each reset.
pub struct Env {
    cfg: RobotConfig,
    task_name: String,
    task: Box<dyn TaskLogic>,
    urdf: Option<UrdfTemplate>,
    joint_names: Vec<String>,
    joint_kinds: Vec<JointKind>,
    channel_names: Vec<String>,
    obs_map: ObservationMap,
    obs_spec: ObservationSpec,
    action_spec: ActionSpec,
    /// Joint index of each actuator.
    actuated: Vec<usize>,
    episode: Option<Episode>,
}

impl Env {
    /// A built-in robot with its default config.
    pub fn new(robot: &str, task: &str) -> Result<Self> {
        let kind = RobotKind::from_name(robot)?;
        Self::from_config(RobotConfig::builtin(kind), task)
    }

    /// A robot from a config (validated here too).
    pub fn from_config(mut cfg: RobotConfig, task: &str) -> Result<Self> {
        cfg.validate(&format!("for robot `{}`", cfg.robot.name()))?;
        let urdf = match cfg.robot {
            RobotKind::Arm => Some(UrdfTemplate::load(&cfg)?),
            _ => None,
        };
        // Build once now so that a bad model or joint list fails here, not at
        // the first reset.
        let probe = robots::build(&cfg, &Scales::ones(), urdf.as_ref())?;
        // Limits the config leaves to the model (e.g. from URDF) become explicit.
        for (i, j) in cfg.joints.iter_mut().enumerate() {
            j.limits = j.limits.or(probe.art.limits(i));
        }
        let task_logic = task::make(&cfg, task)?;
        let joint_kinds: Vec<JointKind> = (0..probe.art.len()).map(|i| probe.art.kind(i)).collect();
        let joint_names = cfg.joint_names();
        let channels = task_logic.channels();
        let channel_names: Vec<String> = channels.iter().map(|c| c.name.to_string()).collect();
        let features = task_logic.features();
        let obs_map =
            ObservationMap::new(&features, &joint_names, &channel_names).map_err(|e| {
                SimError::Config {
                    origin: format!("for robot `{}`", cfg.robot.name()),
                    message: e.to_string(),
                }
            })?;
        let obs_spec = ObservationSpec {
            entries: obs_map
                .features()
                .iter()
                .map(|f| {
                    let j = &cfg.joints[f.index.min(cfg.joints.len() - 1)];
                    let kind = joint_kinds[f.index.min(joint_kinds.len() - 1)];
                    let (lo, hi, unit) = match f.kind {
                        FeatureKind::Position => {
                            let [lo, hi] = j.limits.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
                            (lo, hi, kind.position_unit())
                        }
                        FeatureKind::Velocity => {
                            (-j.velocity_limit, j.velocity_limit, kind.velocity_unit())
                        }
                        FeatureKind::Effort => {
                            (-j.effort_limit, j.effort_limit, kind.effort_unit())
                        }
                        FeatureKind::Cos | FeatureKind::Sin => (-1.0, 1.0, "1"),
                        FeatureKind::Channel => {
                            let c = &channels[f.index];
                            (c.low, c.high, c.unit)
                        }
                    };
                    SpecEntry::new(f.name.clone(), lo, hi, unit)
                })
                .collect(),
        };
        let actuated: Vec<usize> = cfg
            .joints
            .iter()
            .enumerate()
            .filter(|(_, j)| j.actuated)
            .map(|(i, _)| i)
            .collect();
        let action_spec = ActionSpec {
            mode: cfg.actuation,
            entries: actuated
                .iter()
                .map(|&i| {
                    let j = &cfg.joints[i];
                    match cfg.actuation {
                        ActuationMode::Torque => SpecEntry::new(
                            j.name.clone(),
                            -j.effort_limit,
                            j.effort_limit,
                            joint_kinds[i].effort_unit(),
                        ),
                        ActuationMode::Velocity => SpecEntry::new(
                            j.name.clone(),
                            -j.velocity_limit,
                            j.velocity_limit,
                            joint_kinds[i].velocity_unit(),
                        ),
                    }
                })
                .collect(),
        };
        Ok(Self {
            cfg,
            task_name: task.to_string(),
            task: task_logic,
            urdf,
            joint_names,
            joint_kinds,
            channel_names,
            obs_map,
            obs_spec,
            action_spec,
            actuated,
            episode: None,
        })
    }

    /// The robot's config.
    pub fn config(&self) -> &RobotConfig {
        &self.cfg
    }
    /// The robot's name.
    pub fn robot_name(&self) -> &'static str {
        self.cfg.robot.name()
    }
    /// The task's name.
    pub fn task_name(&self) -> &str {
        &self.task_name
    }
    /// Joint names in the declared order.
    pub fn joint_names(&self) -> &[String] {
        &self.joint_names
    }
    /// Joint kinds in the declared order.
    pub fn joint_kinds(&self) -> &[JointKind] {
        &self.joint_kinds
    }
    /// Names of the task channels of a sensor frame.
    pub fn channel_names(&self) -> &[String] {
        &self.channel_names
    }
    /// The map from sensor measurement to the observation vector.
    pub fn observation_map(&self) -> &ObservationMap {
        &self.obs_map
    }
    /// The observation vector's specification.
    pub fn observation_spec(&self) -> &ObservationSpec {
        &self.obs_spec
    }
    /// The action's specification.
    pub fn action_spec(&self) -> &ActionSpec {
        &self.action_spec
    }
    /// Control period in seconds.
    pub fn control_period(&self) -> f64 {
        self.cfg.control_period
    }
    /// Physics steps per control step.
    pub fn action_repeat(&self) -> u32 {
        self.cfg.action_repeat()
    }
    /// Episode length in control steps.
    pub fn max_episode_steps(&self) -> u32 {
        EPISODE_STEPS
    }
    /// The action that commands nothing: zero effort, or zero velocity.
    pub fn safe_action(&self) -> Vec<f32> {
        vec![0.0; self.actuated.len()]
    }
    /// Total mechanical energy of the robot (J), for physics checks.
    pub fn energy(&self) -> Option<f64> {
        self.episode.as_ref().map(|e| e.model.art.energy())
    }
    /// True joint positions and velocities (without noise or delay).
    pub fn true_state(&self) -> Option<(&[f32], &[f32])> {
        self.episode
            .as_ref()
            .map(|e| (e.q.as_slice(), e.qd.as_slice()))
    }

    /// Hindsight goals for this task ([`crate::relabel`]): where the
    /// robot-to-goal vector sits in the observation vector and how the
    /// reward follows from it: the reacher's tasks and the arm's reach.
    /// Refused for the swing-ups (no goal), for an observation that leaves
    /// out part of the vector, and for delayed sensors (an observation then
    /// lags the state its step's reward judges).
    pub fn goal_relabel(&self) -> Result<GoalRelabel> {
        let no = |reason: String| SimError::NoGoal {
            robot: self.robot_name().to_string(),
            task: self.task_name.clone(),
            reason,
        };
        let (channels, reward) = self
            .task
            .goal()
            .ok_or_else(|| no("its reward is not a goal radius around a goal vector".into()))?;
        if self.cfg.realism.sensor_delay > 0 {
            return Err(no(format!(
                "realism.sensor_delay = {}: observations lag the state each reward judges",
                self.cfg.realism.sensor_delay
            )));
        }
        let columns = channels
            .iter()
            .map(|name| {
                self.obs_map
                    .features()
                    .iter()
                    .position(|f| {
                        f.kind == FeatureKind::Channel && self.channel_names[f.index] == *name
                    })
                    .ok_or_else(|| no(format!("the observation leaves out channel `{name}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GoalRelabel::new(self.obs_map.len(), columns, reward))
    }

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

    /// Puts the robot of the current episode into the joint state `q`, `qd`
    /// (declared joint order), keeping the episode's task state (target,
    /// randomised parameters, step count). For tests, and for planners that
    /// roll the true simulator out from a measured state.
    pub fn set_state(&mut self, q: &[f32], qd: &[f32]) -> Result<Observation> {
        let n = self.joint_names.len();
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if q.len() != n || qd.len() != n || !q.iter().chain(qd).all(|v| v.is_finite()) {
            self.episode = Some(ep);
            return Err(SimError::BadState {
                expected: n,
                got_q: q.len(),
                got_qd: qd.len(),
            });
        }
        let built = robots::build(&self.cfg, &ep.scales, self.urdf.as_ref());
        let mut model = match built {
            Ok(m) => m,
            Err(e) => {
                self.episode = Some(ep);
                return Err(e);
            }
        };
        model.art.set_state(q, qd);
        model.art.positions(&mut ep.q);
        model.art.velocities(&mut ep.qd);
        ep.model = model;
        ep.delayed.clear();
        let m = self.measure(&mut ep);
        for _ in 0..=self.cfg.realism.sensor_delay {
            ep.delayed.push_back(m.clone());
        }
        let obs = self.observe(&mut ep);
        self.episode = Some(ep);
        Ok(obs)
    }

    /// The episode's dynamic state (joints, servo integrals, step count and
    /// success bookkeeping); restore it with [`Env::restore_state`].
    pub fn save_state(&self) -> Result<EpisodeState> {
        let ep = self.episode.as_ref().ok_or(SimError::NotReset)?;
        Ok(EpisodeState {
            q: ep.q.clone(),
            qd: ep.qd.clone(),
            efforts: ep.efforts.clone(),
            servo_integral: ep.servo_integral.clone(),
            step: ep.step,
            ended: ep.ended,
            goal_streak: ep.goal_streak,
            goal_always: ep.goal_always,
        })
    }

    /// Puts back a state saved from this episode, in place: much cheaper
    /// than [`Env::set_state`], which rebuilds the physics. The task's own
    /// state (target) and the sensor-noise stream are left as they are, and
    /// the sensor-delay queue restarts from the restored state.
    pub fn restore_state(&mut self, s: &EpisodeState) -> Result<()> {
        let n = self.joint_names.len();
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if s.q.len() != n || s.qd.len() != n || s.servo_integral.len() != n {
            self.episode = Some(ep);
            return Err(SimError::BadState {
                expected: n,
                got_q: s.q.len(),
                got_qd: s.qd.len(),
            });
        }
        ep.model.art.set_state(&s.q, &s.qd);
        ep.q.clone_from(&s.q);
        ep.qd.clone_from(&s.qd);
        ep.efforts.clone_from(&s.efforts);
        ep.servo_integral.clone_from(&s.servo_integral);
        ep.step = s.step;
        ep.ended = s.ended;
        ep.goal_streak = s.goal_streak;
        ep.goal_always = s.goal_always;
        ep.delayed.clear();
        let m = self.measure(&mut ep);
        for _ in 0..=self.cfg.realism.sensor_delay {
            ep.delayed.push_back(m.clone());
        }
        self.episode = Some(ep);
        Ok(())
    }

    /// Moves the current episode to a measured state: joint positions and
    /// velocities from `m`, and the task's own state (a target) from its
    /// channels. This is how a planner holding its own simulator follows a
    /// robot it only knows through sensor frames. The step count is kept.
    pub fn sync_to_measurement(&mut self, m: &Measurement) -> Result<()> {
        let n = self.joint_names.len();
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if m.positions.len() != n
            || m.velocities.len() != n
            || !m
                .positions
                .iter()
                .chain(&m.velocities)
                .all(|v| v.is_finite())
        {
            self.episode = Some(ep);
            return Err(SimError::BadState {
                expected: n,
                got_q: m.positions.len(),
                got_qd: m.velocities.len(),
            });
        }
        ep.model.art.set_state(&m.positions, &m.velocities);
        ep.model.art.positions(&mut ep.q);
        ep.model.art.velocities(&mut ep.qd);
        self.task.sync_channels(&ep.model, &m.channels);
        ep.ended = false;
        ep.delayed.clear();
        let now = self.measure(&mut ep);
        for _ in 0..=self.cfg.realism.sensor_delay {
            ep.delayed.push_back(now.clone());
        }
        self.episode = Some(ep);
        Ok(())
    }

    /// Checks an action without stepping: its length and finiteness.
    pub fn check_action(&self, action: &[f32]) -> Result<()> {
        if action.len() != self.actuated.len() {
            return Err(SimError::ActionLength {
                robot: self.robot_name().to_string(),
                expected: self.actuated.len(),
                got: action.len(),
                names: self
                    .action_spec
                    .entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if let Some((index, &value)) = action.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SimError::NonFiniteAction {
                index,
                name: self.action_spec.entries[index].name.clone(),
                value,
            });
        }
        Ok(())
    }

    /// Applies `action` for one control period. Values beyond the action
    /// bounds saturate at them, as real actuators do. A wrong length or a
    /// non-finite value is an error and nothing moves.
    pub fn step(&mut self, action: &[f32]) -> Result<Step> {
        self.check_action(action)?;
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if ep.ended {
            let steps = ep.step;
            self.episode = Some(ep);
            return Err(SimError::EpisodeOver { steps });
        }
        let sat = self.cfg.realism.actuator_saturation;
        let mut control = Vec::with_capacity(action.len());
        for (a, e) in action.iter().zip(&self.action_spec.entries) {
            control.push(a.clamp(e.low, e.high));
        }
        let mut efforts = vec![0.0f32; self.joint_names.len()];
        let dt = self.cfg.physics_dt as f32;
        for _ in 0..self.cfg.action_repeat() {
            if self.cfg.actuation == ActuationMode::Velocity {
                ep.model.art.velocities(&mut ep.qd);
            }
            for (k, &i) in self.actuated.iter().enumerate() {
                let j = &self.cfg.joints[i];
                let limit = j.effort_limit * sat;
                let wanted = match self.cfg.actuation {
                    ActuationMode::Torque => control[k],
                    ActuationMode::Velocity => {
                        // A PI velocity servo, its integral clamped to what the
                        // actuator can deliver (anti-windup).
                        let err = control[k] - ep.qd[i];
                        let integral = &mut ep.servo_integral[i];
                        *integral += err * dt;
                        if j.velocity_integral_gain > 0.0 {
                            let cap = limit / j.velocity_integral_gain;
                            *integral = integral.clamp(-cap, cap);
                        }
                        j.velocity_gain * err + j.velocity_integral_gain * *integral
                    }
                };
                efforts[i] = wanted.clamp(-limit, limit);
            }
            ep.model.art.apply_efforts(&efforts);
            ep.model.art.step();
        }
        ep.efforts = efforts;
        ep.step += 1;
        let diverged = !ep.model.art.is_finite();
        ep.model.art.positions(&mut ep.q);
        ep.model.art.velocities(&mut ep.qd);
        let normalized: Vec<f32> = control
            .iter()
            .zip(&self.action_spec.entries)
            .map(|(c, e)| c / e.high.max(f32::MIN_POSITIVE))
            .collect();
        let (reward, goal) = if diverged {
            (0.0, false)
        } else {
            self.task.evaluate(&ep.model, &ep.q, &ep.qd, &normalized)
        };
        ep.goal_streak = if goal { ep.goal_streak + 1 } else { 0 };
        ep.goal_always &= goal;
        let success = match self.task.success_rule() {
            SuccessRule::Always => ep.goal_always,
            SuccessRule::Final(n) => ep.goal_streak >= n,
        };
        let truncated = ep.step >= EPISODE_STEPS;
        let terminated = diverged;
        ep.ended = truncated || terminated;
        let observation = if diverged {
            // Keep the last good observation rather than hand NaNs onward.
            ep.delayed
                .back()
                .map(|m| Observation {
                    sensors: m.clone(),
                    vector: self.obs_map.vector(m),
                })
                .unwrap_or_default()
        } else {
            let m = self.measure(&mut ep);
            ep.delayed.push_back(m);
            self.observe(&mut ep)
        };
        let info = StepInfo {
            success,
            step: ep.step,
            time: ep.step as f64 * self.cfg.control_period,
            diverged,
        };
        self.episode = Some(ep);
        Ok(Step {
            observation,
            reward: reward as f32,
            terminated,
            truncated,
            info,
        })
    }

    /// Reads the sensors (with noise) at the current state.
    fn measure(&self, ep: &mut Episode) -> Measurement {
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
    fn observe(&self, ep: &mut Episode) -> Observation {
        while ep.delayed.len() > self.cfg.realism.sensor_delay as usize + 1 {
            ep.delayed.pop_front();
        }
        let m = ep.delayed.front().cloned().unwrap_or_default();
        let vector = self.obs_map.vector(&m);
        Observation { sensors: m, vector }
    }
}
