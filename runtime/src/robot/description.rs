//! A robot description: what a controller needs to know about a robot, and
//! nothing of physics. Joints in wire order, actuation, named channels,
//! control rate, safe action, observation features and the task (reward,
//! success, episode length). Written as TOML; `umwelt robot describe`
//! prints a built-in robot's, `umwelt robot check` validates one.
//!
//! Everything derived from a description (observation and action specs,
//! the dataset spec checkpoints are checked against, the wire spec frames
//! are checked against) is derived here, so that a simulated robot and a
//! robot behind a driver are treated alike.

use serde::{Deserialize, Serialize};
use umwelt_models::dataset::{DatasetSpec, FieldSpec};
use umwelt_sim::observation::{FeatureError, FeatureKind};
use umwelt_sim::rewards::Sigmoid;
use umwelt_sim::{JointKind, ObservationMap};

use super::camera::CameraDescription;
use super::ros2_settings::{Ros2Settings, Transport};
use crate::wire::{CommandMode, RobotWireSpec};

/// The description file format this build writes and reads.
pub const DESCRIPTION_FORMAT: u32 = 1;

/// A robot as a controller sees it. See the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotDescription {
    /// Format version, [`DESCRIPTION_FORMAT`].
    pub description_format: u32,
    /// The robot's kind: names its datasets and checkpoints (e.g.
    /// `cartpole`). The name on the wire, which may differ (several robots
    /// of one kind), is chosen where the robot is served or controlled.
    pub robot: String,
    /// Seconds between two frames (one command each).
    pub control_period: f64,
    /// Joints in the order frames list them.
    pub joints: Vec<JointDescription>,
    /// How commands drive the actuated joints.
    pub actuation: Actuation,
    /// Named extra signals every frame carries, beyond joint states.
    #[serde(default)]
    pub channels: Vec<ChannelDescription>,
    /// The cameras whose images every frame carries (`[[camera]]`), if any:
    /// what a pixel model of the robot sees.
    #[serde(default, rename = "camera", skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<CameraDescription>,
    /// The policy's observation features (`JOINT.pos|vel|effort|cos|sin`
    /// or a channel name), in vector order.
    pub observation: Vec<String>,
    /// What the robot is asked to do.
    pub task: TaskDescription,
    /// The protocol frames and commands travel in: umwelt's own (the
    /// default) or ROS 2 over rmw_zenoh (`docs/ROS2.md`).
    #[serde(default, skip_serializing_if = "Transport::is_umwelt")]
    pub transport: Transport,
    /// ROS 2 names and freshness limits; only with `transport = "ros2"`
    /// (every field has a default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ros2: Option<Ros2Settings>,
}

/// Whether a joint rotates or slides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JointType {
    /// Rotation about an axis: rad, rad/s, N m.
    Revolute,
    /// Translation along an axis: m, m/s, N.
    Prismatic,
}

impl JointType {
    /// The simulator's name for this kind of joint (which carries units).
    pub fn sim_kind(self) -> JointKind {
        match self {
            JointType::Revolute => JointKind::Revolute,
            JointType::Prismatic => JointKind::Prismatic,
        }
    }
}

/// One joint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointDescription {
    /// The joint's name (unique).
    pub name: String,
    /// Revolute or prismatic.
    #[serde(rename = "type")]
    pub joint_type: JointType,
    /// Position range `[low, high]`, if the joint has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_limits: Option<[f32; 2]>,
    /// Largest speed, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity_limit: Option<f32>,
    /// Largest effort (N m or N), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort_limit: Option<f32>,
}

/// How commands drive the robot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actuation {
    /// What a command's values are.
    pub mode: CommandMode,
    /// The actuated joints, in command order.
    pub joints: Vec<String>,
    /// The action the robot holds when no fresh command is in force; one
    /// value per actuated joint. Default: zero effort or velocity (a
    /// position-controlled robot must give one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_action: Option<Vec<f32>>,
}

/// One named channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDescription {
    /// The channel's name (unique, distinct from the feature syntax).
    pub name: String,
    /// Lowest value the policy should expect.
    pub low: f32,
    /// Highest value the policy should expect.
    pub high: f32,
    /// Physical unit, `1` if none.
    #[serde(default = "one")]
    pub unit: String,
}

fn one() -> String {
    "1".into()
}

/// The task: reward, success and episode length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDescription {
    /// The task's name (e.g. `swingup`).
    pub name: String,
    /// Control steps per episode: the controller ends an episode after so
    /// many commands.
    pub episode_steps: u32,
    /// The reward of a step, read from the frame that step led to.
    pub reward: RewardRule,
    /// Whether the goal holds at a step; an episode succeeds if it holds
    /// on each of its last `success.final_steps` steps.
    pub success: SuccessRule,
}

/// Where a step's reward comes from: a channel the driver computes, or
/// dm_control-style tolerance terms over features (their product).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardRule {
    /// The channel carrying the reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Terms whose product is the reward.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<ToleranceTerm>,
}

/// `tolerance(x, bounds, margin, sigmoid, value_at_margin)` of dm_control,
/// where `x` is one feature, or the Euclidean norm of several (a distance
/// to a goal, from its components).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToleranceTerm {
    /// The feature(s) the term reads.
    pub features: Vec<String>,
    /// The term is 1 while `x` is within `[low, high]`.
    pub bounds: [f64; 2],
    /// Distance outside the bounds over which it falls to `value_at_margin`
    /// (0: a step from 1 to 0).
    #[serde(default)]
    pub margin: f64,
    /// Shape of the fall-off.
    #[serde(default = "gaussian")]
    pub sigmoid: Sigmoid,
    /// The term's value at one margin from the bounds, in (0, 1).
    #[serde(default = "tenth")]
    pub value_at_margin: f64,
}

fn gaussian() -> Sigmoid {
    Sigmoid::Gaussian
}

fn tenth() -> f64 {
    0.1
}

/// When a step meets the goal: a channel above 0.5, or a reward at least
/// `reward_at_least`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessRule {
    /// The channel carrying the per-step goal condition (1 or 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The goal holds when the step's reward is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_at_least: Option<f32>,
    /// An episode succeeds when the goal holds on each of its last so many
    /// steps (1: the last step's value).
    #[serde(default = "one_step")]
    pub final_steps: u32,
}

fn one_step() -> u32 {
    1
}

/// A feature's spec entry, or a derived spec's: name, bounds, unit.
fn entry(name: &str, lo: f32, hi: f32, unit: &str) -> FieldSpec {
    FieldSpec::new(name, lo, hi, unit)
}

impl RobotDescription {
    /// Joint names in wire order.
    pub fn joint_names(&self) -> Vec<String> {
        self.joints.iter().map(|j| j.name.clone()).collect()
    }

    /// The camera named `name`, if the robot has one.
    pub fn camera(&self, name: &str) -> Option<&CameraDescription> {
        self.cameras.iter().find(|c| c.name == name)
    }

    /// Channel names in the description's order.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels.iter().map(|c| c.name.clone()).collect()
    }

    /// Indices (in wire order) of the actuated joints, in command order.
    /// Names that match no joint are left out (see [`super::check`]).
    pub fn actuated_indices(&self) -> Vec<usize> {
        self.actuation
            .joints
            .iter()
            .filter_map(|a| self.joints.iter().position(|j| &j.name == a))
            .collect()
    }

    /// Number of actuators (values per command).
    pub fn act_dim(&self) -> usize {
        self.actuation.joints.len()
    }

    /// The observation map over the description's joints and channels.
    pub fn observation_map(&self) -> Result<ObservationMap, FeatureError> {
        ObservationMap::new(
            &self.observation,
            &self.joint_names(),
            &self.channel_names(),
        )
    }

    /// One spec entry per observation feature: bounds from the joint's
    /// limits (unbounded where the description gives none), `[-1, 1]` for
    /// sines and cosines, a channel's own bounds.
    pub fn observation_spec(&self) -> Result<Vec<FieldSpec>, FeatureError> {
        let map = self.observation_map()?;
        let inf = f32::INFINITY;
        Ok(map
            .features()
            .iter()
            .map(|f| {
                // The map resolved every index against these very lists.
                if f.kind == FeatureKind::Channel {
                    let c = &self.channels[f.index];
                    return entry(&f.name, c.low, c.high, &c.unit);
                }
                let j = &self.joints[f.index];
                let k = j.joint_type.sim_kind();
                let sym = |l: Option<f32>| l.map_or([-inf, inf], |l| [-l, l]);
                match f.kind {
                    FeatureKind::Position => {
                        let [lo, hi] = j.position_limits.unwrap_or([-inf, inf]);
                        entry(&f.name, lo, hi, k.position_unit())
                    }
                    FeatureKind::Velocity => {
                        let [lo, hi] = sym(j.velocity_limit);
                        entry(&f.name, lo, hi, k.velocity_unit())
                    }
                    FeatureKind::Effort => {
                        let [lo, hi] = sym(j.effort_limit);
                        entry(&f.name, lo, hi, k.effort_unit())
                    }
                    FeatureKind::Cos | FeatureKind::Sin | FeatureKind::Channel => {
                        entry(&f.name, -1.0, 1.0, "1")
                    }
                }
            })
            .collect())
    }

    /// One spec entry per actuator: the command's range by mode (effort,
    /// velocity or position limits of the joint). Checked descriptions
    /// have a finite range for each.
    pub fn action_spec(&self) -> Vec<FieldSpec> {
        self.actuated_indices()
            .into_iter()
            .map(|i| {
                let j = &self.joints[i];
                let k = j.joint_type.sim_kind();
                let sym = |l: Option<f32>| l.map_or([f32::NAN, f32::NAN], |l| [-l, l]);
                let ([lo, hi], unit) = match self.actuation.mode {
                    CommandMode::Torque => (sym(j.effort_limit), k.effort_unit()),
                    CommandMode::Velocity => (sym(j.velocity_limit), k.velocity_unit()),
                    CommandMode::Position => (
                        j.position_limits.unwrap_or([f32::NAN, f32::NAN]),
                        k.position_unit(),
                    ),
                };
                entry(&j.name, lo, hi, unit)
            })
            .collect()
    }

    /// The safe action: the description's, or zeros.
    pub fn safe_action(&self) -> Vec<f32> {
        self.actuation
            .safe_action
            .clone()
            .unwrap_or_else(|| vec![0.0; self.act_dim()])
    }

    /// The dataset spec of this robot's episodes (what checkpoints are
    /// checked against).
    pub fn dataset_spec(&self) -> Result<DatasetSpec, FeatureError> {
        Ok(DatasetSpec::new(
            self.robot.clone(),
            self.task.name.clone(),
            self.observation_spec()?,
            self.action_spec(),
            self.control_period,
        ))
    }

    /// The ROS 2 settings when the robot speaks ROS 2 (its `[ros2]`
    /// table, or the defaults), `None` for umwelt's own protocol.
    pub fn ros2_settings(&self) -> Option<Ros2Settings> {
        (self.transport == Transport::Ros2).then(|| self.ros2.clone().unwrap_or_default())
    }

    /// What frames and commands on the wire must look like for this robot
    /// served under the wire name `name`.
    pub fn wire_spec(&self, name: &str) -> RobotWireSpec {
        RobotWireSpec {
            robot: name.to_string(),
            joints: self.joints.len(),
            channels: self.channel_names(),
            actuators: self.act_dim(),
        }
    }
}
