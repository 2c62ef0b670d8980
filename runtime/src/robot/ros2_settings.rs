//! How a robot description says "this robot speaks ROS 2": the
//! `transport` field and the `[ros2]` table (domain, node, topics, command
//! type, freshness limits), with their checks. What the names become on
//! zenoh is [`crate::ros2::graph`]'s business; `docs/ROS2.md` has the
//! mapping.

use serde::{Deserialize, Serialize};

use crate::wire::CommandMode;

/// Which protocol carries the robot's frames and commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// umwelt's own protocol (`docs/PROTOCOL.md`) on `umwelt/<robot>/**`.
    #[default]
    Umwelt,
    /// ROS 2 messages as rmw_zenoh puts them on zenoh: JointState in,
    /// forward-controller commands out (`docs/ROS2.md`).
    Ros2,
}

impl Transport {
    /// True for the default, so descriptions written by umwelt omit it.
    pub fn is_umwelt(&self) -> bool {
        *self == Transport::Umwelt
    }
}

/// The ROS 2 message type commands are published as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ros2CommandType {
    /// One value per actuated joint, in `actuation.joints` order: what
    /// ros2_control's forward_command_controller family subscribes to.
    #[default]
    #[serde(rename = "std_msgs/msg/Float64MultiArray")]
    Float64MultiArray,
    /// A one-point trajectory naming the actuated joints, reached one
    /// control period after it is sent (joint_trajectory_controller).
    #[serde(rename = "trajectory_msgs/msg/JointTrajectory")]
    JointTrajectory,
}

/// The largest ROS domain id (ROS 2 documents 0 to 232 as usable).
pub const MAX_DOMAIN_ID: u32 = 232;
/// The longest allowed JointState stamp age, seconds.
pub const MAX_STAMP_AGE_S: f64 = 10.0;
/// The most a JointState stamp may lie ahead of umwelt's clock, seconds
/// (umwelt's own protocol allows 0.5 s of skew).
pub const MAX_STAMP_AHEAD_S: f64 = 0.5;

/// The `[ros2]` table of a description whose `transport` is `"ros2"`.
/// Every field has a default, so `transport = "ros2"` alone talks to a
/// ros2_control robot on domain 0 with its default topics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ros2Settings {
    /// ROS_DOMAIN_ID: the first chunk of every rmw_zenoh key (0 to 232).
    #[serde(default)]
    pub domain_id: u32,
    /// The node name umwelt appears under in `ros2 node list`.
    #[serde(default = "default_node_name")]
    pub node_name: String,
    /// The node's namespace (absolute); relative topic names resolve in it.
    #[serde(default = "root")]
    pub namespace: String,
    /// Where `sensor_msgs/msg/JointState` comes from.
    #[serde(default = "default_joint_states")]
    pub joint_state_topic: String,
    /// The ros2_control controller that takes the commands; default by
    /// actuation mode: `forward_effort_controller` (torque),
    /// `forward_velocity_controller` (velocity), `forward_position_controller`
    /// (position), or `joint_trajectory_controller` for trajectories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// Where commands go; default `/<controller>/commands`
    /// (`/<controller>/joint_trajectory` for trajectories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_topic: Option<String>,
    /// The message type of commands.
    #[serde(default)]
    pub command_type: Ros2CommandType,
    /// A JointState whose `header.stamp` is older than this (seconds, on
    /// umwelt's clock) is dropped as stale. ROS messages carry no deadline
    /// of their own, so this is the freshness rule on the way in.
    #[serde(default = "default_max_age")]
    pub max_stamp_age_s: f64,
    /// A JointState stamped further ahead of umwelt's clock than this
    /// (seconds) is dropped: the clocks disagree or the stamp is forged.
    #[serde(default = "default_max_ahead")]
    pub max_stamp_ahead_s: f64,
}

fn default_node_name() -> String {
    "umwelt".into()
}
fn root() -> String {
    "/".into()
}
fn default_joint_states() -> String {
    "/joint_states".into()
}
fn default_max_age() -> f64 {
    0.25
}
fn default_max_ahead() -> f64 {
    0.05
}

impl Default for Ros2Settings {
    fn default() -> Self {
        Self {
            domain_id: 0,
            node_name: default_node_name(),
            namespace: root(),
            joint_state_topic: default_joint_states(),
            controller: None,
            command_topic: None,
            command_type: Ros2CommandType::default(),
            max_stamp_age_s: default_max_age(),
            max_stamp_ahead_s: default_max_ahead(),
        }
    }
}

impl Ros2Settings {
    /// The controller commands go to: the configured one, or the
    /// ros2_controllers default for `mode` and the command type.
    pub fn controller_name(&self, mode: CommandMode) -> String {
        if let Some(c) = &self.controller {
            return c.clone();
        }
        match (self.command_type, mode) {
            (Ros2CommandType::JointTrajectory, _) => "joint_trajectory_controller",
            (_, CommandMode::Torque) => "forward_effort_controller",
            (_, CommandMode::Velocity) => "forward_velocity_controller",
            (_, CommandMode::Position) => "forward_position_controller",
        }
        .into()
    }

    /// The fully qualified command topic for `mode`.
    pub fn command_topic(&self, mode: CommandMode) -> String {
        let topic = match &self.command_topic {
            Some(t) => t.clone(),
            None => {
                let leaf = match self.command_type {
                    Ros2CommandType::Float64MultiArray => "commands",
                    Ros2CommandType::JointTrajectory => "joint_trajectory",
                };
                format!("/{}/{leaf}", self.controller_name(mode))
            }
        };
        self.resolve(&topic)
    }

    /// The fully qualified JointState topic.
    pub fn joint_state_topic(&self) -> String {
        self.resolve(&self.joint_state_topic)
    }

    /// A topic name made absolute in the node's namespace.
    fn resolve(&self, topic: &str) -> String {
        if topic.starts_with('/') {
            topic.to_string()
        } else if self.namespace == "/" {
            format!("/{topic}")
        } else {
            format!("{}/{topic}", self.namespace)
        }
    }

    /// Checks every field; the message names the first bad one.
    pub fn problems(&self, mode: CommandMode) -> Result<(), String> {
        if self.domain_id > MAX_DOMAIN_ID {
            return Err(format!(
                "ros2.domain_id = {}: ROS domain ids are 0 to {MAX_DOMAIN_ID}",
                self.domain_id
            ));
        }
        ros_name("ros2.node_name", &self.node_name, false)?;
        if self.node_name.contains('/') {
            return Err(format!(
                "ros2.node_name = {:?}: a node name has no `/` (put the rest in ros2.namespace)",
                self.node_name
            ));
        }
        if self.namespace != "/" {
            if !self.namespace.starts_with('/') {
                return Err(format!(
                    "ros2.namespace = {:?}: must be absolute (start with `/`)",
                    self.namespace
                ));
            }
            ros_name("ros2.namespace", &self.namespace, true)?;
        }
        ros_name("ros2.joint_state_topic", &self.joint_state_topic, true)?;
        if let Some(c) = &self.controller {
            ros_name("ros2.controller", c, false)?;
        }
        if let Some(t) = &self.command_topic {
            ros_name("ros2.command_topic", t, true)?;
        }
        if self.command_topic(mode) == self.joint_state_topic() {
            return Err(format!(
                "ros2.command_topic: commands and joint states both on `{}`",
                self.joint_state_topic()
            ));
        }
        if !(self.max_stamp_age_s.is_finite()
            && self.max_stamp_age_s > 0.0
            && self.max_stamp_age_s <= MAX_STAMP_AGE_S)
        {
            return Err(format!(
                "ros2.max_stamp_age_s = {:?}: must be seconds in (0, {MAX_STAMP_AGE_S}]",
                self.max_stamp_age_s
            ));
        }
        if !(self.max_stamp_ahead_s.is_finite()
            && (0.0..=MAX_STAMP_AHEAD_S).contains(&self.max_stamp_ahead_s))
        {
            return Err(format!(
                "ros2.max_stamp_ahead_s = {:?}: must be seconds in [0, {MAX_STAMP_AHEAD_S}]",
                self.max_stamp_ahead_s
            ));
        }
        Ok(())
    }
}

/// A ROS 2 name: 1 to 255 bytes of `[A-Za-z0-9_]` tokens separated by
/// single `/` (allowed only when `slashes`), no token starting with a
/// digit, not ending in `/` (the rules of rcl's topic name validation,
/// without `~` and substitutions, which umwelt does not expand).
fn ros_name(field: &str, s: &str, slashes: bool) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{field} = {s:?}: {why}"));
    if s.is_empty() || s.len() > 255 {
        return bad("must be 1 to 255 bytes");
    }
    let body = s.strip_prefix('/').unwrap_or(s);
    if body.is_empty() || body.ends_with('/') {
        return bad("must not be empty or end with `/`");
    }
    if !slashes && s.contains('/') {
        return bad("must not contain `/`");
    }
    for token in body.split('/') {
        if token.is_empty() {
            return bad("has an empty part (`//`)");
        }
        if token.starts_with(|c: char| c.is_ascii_digit()) {
            return bad("a part must not start with a digit");
        }
        if !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad("only letters, digits, `_` and `/` are allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_ros2_controllers_names() {
        let s = Ros2Settings::default();
        assert_eq!(
            s.command_topic(CommandMode::Torque),
            "/forward_effort_controller/commands"
        );
        assert_eq!(
            s.command_topic(CommandMode::Velocity),
            "/forward_velocity_controller/commands"
        );
        assert_eq!(s.joint_state_topic(), "/joint_states");
        let t = Ros2Settings {
            command_type: Ros2CommandType::JointTrajectory,
            namespace: "/robot1".into(),
            joint_state_topic: "joint_states".into(),
            ..Default::default()
        };
        assert_eq!(
            t.command_topic(CommandMode::Position),
            "/joint_trajectory_controller/joint_trajectory"
        );
        assert_eq!(t.joint_state_topic(), "/robot1/joint_states");
        assert!(s.problems(CommandMode::Torque).is_ok());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: [(&str, Ros2Settings); 7] = [
            (
                "ros2.domain_id",
                Ros2Settings {
                    domain_id: 233,
                    ..Default::default()
                },
            ),
            (
                "ros2.joint_state_topic",
                Ros2Settings {
                    joint_state_topic: String::new(),
                    ..Default::default()
                },
            ),
            (
                "ros2.joint_state_topic",
                Ros2Settings {
                    joint_state_topic: "/a//b".into(),
                    ..Default::default()
                },
            ),
            (
                "ros2.node_name",
                Ros2Settings {
                    node_name: "a/b".into(),
                    ..Default::default()
                },
            ),
            (
                "ros2.command_topic",
                Ros2Settings {
                    command_topic: Some("/1st".into()),
                    ..Default::default()
                },
            ),
            (
                "ros2.max_stamp_age_s",
                Ros2Settings {
                    max_stamp_age_s: f64::NAN,
                    ..Default::default()
                },
            ),
            (
                "ros2.max_stamp_ahead_s",
                Ros2Settings {
                    max_stamp_ahead_s: 2.0,
                    ..Default::default()
                },
            ),
        ];
        for (field, s) in cases {
            let e = s.problems(CommandMode::Torque).expect_err(field);
            assert!(e.starts_with(field), "{field}: {e}");
        }
    }
}
