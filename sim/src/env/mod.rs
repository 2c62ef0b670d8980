//! The gym-style environment: `reset(seed)` and `step(action)`.
//!
//! This module holds the [`Env`] itself, how it is built from a robot
//! config and what it tells about the robot and task; the episode's
//! lifecycle (reset and sensing), the saving and moving of its state, and
//! the control step live in the modules below.

mod camera;
mod episode;
mod scene;
mod state;
mod step;

pub use state::EpisodeState;

use crate::camera::{CameraConfig, default_camera};
use crate::config::{RobotConfig, RobotKind};
use crate::error::{Result, SimError};
use crate::observation::{FeatureKind, ObservationMap};
use crate::physics::JointKind;
use crate::relabel::GoalRelabel;
use crate::robots::{self, Scales, UrdfTemplate};
use crate::spec::{ActionSpec, ActuationMode, ObservationSpec, SpecEntry};
use crate::task::{self, EPISODE_STEPS, TaskLogic};
use episode::Episode;

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
    /// The config's cameras, or the robot's default one.
    cameras: Vec<CameraConfig>,
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
        let actuated = cfg.actuated_indices();
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
        let cameras = if cfg.cameras.is_empty() {
            vec![default_camera(cfg.robot)]
        } else {
            cfg.cameras.clone()
        };
        let env = Self {
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
            cameras,
            episode: None,
        };
        env.check_camera_frames(&probe)?;
        Ok(env)
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
}
