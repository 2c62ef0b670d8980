//! From a ROS 2 JointState to the frame umwelt's control loop reads, and
//! from an action to the command message a ros2_control controller reads.
//!
//! A JointState names its joints, in any order: they are mapped by name
//! into the description's joint order. A message is refused whole (and
//! counted, like a malformed umwelt frame) when it names a joint the
//! description lacks or lacks one it has, names one twice, has arrays of
//! the wrong length, a non-finite value umwelt would read, or a stamp
//! that is stale, ahead of umwelt's clock or not newer than the last
//! accepted one. ROS messages carry no sequence of umwelt's nor deadline,
//! so the stamp is the freshness rule.

use std::collections::HashMap;

use umwelt_sim::ObservationMap;
use umwelt_sim::observation::FeatureKind;

use super::msgs::{
    Duration, Float64MultiArray, Header, JointState, JointTrajectory, JointTrajectoryPoint, Time,
};
use crate::robot::{Ros2CommandType, Ros2Settings};
use crate::wire::{Applied, CommandMode, ErrorClass, SensorFrame};

/// Why a JointState was refused: the drop class it is counted under and
/// a one-line reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The counter it goes to.
    pub class: ErrorClass,
    /// What was wrong.
    pub why: String,
}

fn refuse(class: ErrorClass, why: String) -> Refused {
    Refused { class, why }
}

/// Maps JointStates of one robot into frames; keeps the last accepted
/// stamp (a replayed or reordered message is refused).
#[derive(Clone, Debug)]
pub struct JointMapper {
    robot: String,
    /// Description joint index of each name.
    index: HashMap<String, usize>,
    /// Whether the observation reads each joint's effort (if not, a
    /// missing or NaN effort is allowed and reads as 0).
    effort_read: Vec<bool>,
    max_age_ns: u64,
    max_ahead_ns: u64,
    last_stamp: Option<u64>,
    accepted: u64,
}

impl JointMapper {
    /// A mapper for the description's `joints` (in frame order), whose
    /// observation is `observation`, with the freshness limits of
    /// `settings`.
    pub fn new(
        robot: &str,
        joints: &[String],
        observation: &ObservationMap,
        settings: &Ros2Settings,
    ) -> Self {
        let mut effort_read = vec![false; joints.len()];
        for f in observation.features() {
            if f.kind == FeatureKind::Effort
                && let Some(e) = effort_read.get_mut(f.index)
            {
                *e = true;
            }
        }
        Self {
            robot: robot.to_string(),
            index: joints
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            effort_read,
            max_age_ns: (settings.max_stamp_age_s * 1e9) as u64,
            max_ahead_ns: (settings.max_stamp_ahead_s * 1e9) as u64,
            last_stamp: None,
            accepted: 0,
        }
    }

    /// The frame `js` says, received at `now_ns`, or why it is refused.
    /// The frame's `seq` counts accepted messages from 1 (the publisher's
    /// own sequence number is not umwelt's to trust); its stamp is the
    /// header's.
    pub fn frame(&mut self, js: &JointState, now_ns: u64) -> Result<SensorFrame, Refused> {
        let n = self.index.len();
        let stamp = js.header.stamp.to_ns().ok_or_else(|| {
            refuse(
                ErrorClass::Stale,
                format!("header.stamp {:?} is not a time", js.header.stamp),
            )
        })?;
        if stamp.saturating_add(self.max_age_ns) < now_ns {
            return Err(refuse(
                ErrorClass::Stale,
                format!(
                    "stamped {} ms ago (limit {} ms)",
                    (now_ns - stamp) / 1_000_000,
                    self.max_age_ns / 1_000_000
                ),
            ));
        }
        if stamp > now_ns.saturating_add(self.max_ahead_ns) {
            return Err(refuse(
                ErrorClass::FutureStamp,
                format!("stamped {} us ahead of this clock", (stamp - now_ns) / 1000),
            ));
        }
        if self.last_stamp.is_some_and(|l| stamp <= l) {
            return Err(refuse(
                ErrorClass::Stale,
                "stamp not newer than the last accepted JointState (a replay or reordering)".into(),
            ));
        }
        let k = js.name.len();
        let len_ok = |len: usize, optional: bool| len == k || (optional && len == 0);
        if !(len_ok(js.position.len(), false)
            && len_ok(js.velocity.len(), false)
            && len_ok(js.effort.len(), true))
        {
            return Err(refuse(
                ErrorClass::LengthMismatch,
                format!(
                    "{k} names, {} positions, {} velocities, {} efforts",
                    js.position.len(),
                    js.velocity.len(),
                    js.effort.len()
                ),
            ));
        }
        let mut slot = vec![usize::MAX; n];
        for (i, name) in js.name.iter().enumerate() {
            let Some(&j) = self.index.get(name) else {
                return Err(refuse(ErrorClass::Spec, format!("unknown joint `{name}`")));
            };
            if slot[j] != usize::MAX {
                return Err(refuse(ErrorClass::Spec, format!("joint `{name}` twice")));
            }
            slot[j] = i;
        }
        if let Some(j) = slot.iter().position(|s| *s == usize::MAX) {
            let missing = self
                .index
                .iter()
                .find_map(|(name, i)| (*i == j).then_some(name.as_str()))
                .unwrap_or("?");
            return Err(refuse(
                ErrorClass::Spec,
                format!("joint `{missing}` missing"),
            ));
        }
        let mut frame = SensorFrame {
            seq: self.accepted + 1,
            stamp_ns: stamp,
            robot: self.robot.clone(),
            applied: Applied::None,
            positions: Vec::with_capacity(n),
            velocities: Vec::with_capacity(n),
            efforts: Vec::with_capacity(n),
            channels: Vec::new(),
            images: Vec::new(),
        };
        for (j, &i) in slot.iter().enumerate() {
            let effort = js.effort.get(i).copied();
            let effort = match effort {
                Some(e) if e.is_finite() => e,
                _ if !self.effort_read[j] => 0.0,
                _ => {
                    return Err(refuse(
                        ErrorClass::NonFinite,
                        format!(
                            "joint `{}`: no finite effort, and the observation reads it",
                            js.name.get(i).map_or("?", |s| s)
                        ),
                    ));
                }
            };
            for (what, v) in [
                ("position", js.position[i]),
                ("velocity", js.velocity[i]),
                ("effort", effort),
            ] {
                if !(v.is_finite() && v.abs() <= f64::from(f32::MAX)) {
                    return Err(refuse(
                        ErrorClass::NonFinite,
                        format!("joint `{}`: {what} {v}", js.name[i]),
                    ));
                }
            }
            frame.positions.push(js.position[i] as f32);
            frame.velocities.push(js.velocity[i] as f32);
            frame.efforts.push(effort as f32);
        }
        self.last_stamp = Some(stamp);
        self.accepted += 1;
        Ok(frame)
    }
}

/// Builds command messages for the actuated joints.
#[derive(Clone, Debug)]
pub struct CommandBuilder {
    kind: Ros2CommandType,
    mode: CommandMode,
    joints: Vec<String>,
    /// One control period: when a trajectory point is to be reached.
    period: Duration,
}

impl CommandBuilder {
    /// Commands of `kind` in `mode` for `joints` (command order), for a
    /// robot stepping every `period_s` seconds.
    pub fn new(kind: Ros2CommandType, mode: CommandMode, joints: &[String], period_s: f64) -> Self {
        let ns = Time::from_ns((period_s.max(0.0) * 1e9) as u64);
        Self {
            kind,
            mode,
            joints: joints.to_vec(),
            period: Duration {
                sec: ns.sec,
                nanosec: ns.nanosec,
            },
        }
    }

    /// The CDR payload commanding `values` (one per actuated joint) at
    /// `now_ns`.
    pub fn payload(&self, values: &[f32], now_ns: u64) -> Result<Vec<u8>, super::msgs::CdrError> {
        let data: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
        match self.kind {
            Ros2CommandType::Float64MultiArray => super::msgs::encode(&Float64MultiArray {
                layout: Default::default(),
                data,
            }),
            Ros2CommandType::JointTrajectory => {
                let mut point = JointTrajectoryPoint {
                    time_from_start: self.period,
                    ..Default::default()
                };
                match self.mode {
                    CommandMode::Torque => point.effort = data,
                    CommandMode::Velocity => point.velocities = data,
                    CommandMode::Position => point.positions = data,
                }
                super::msgs::encode(&JointTrajectory {
                    header: Header {
                        stamp: Time::from_ns(now_ns),
                        frame_id: String::new(),
                    },
                    joint_names: self.joints.clone(),
                    points: vec![point],
                })
            }
        }
    }
}
