//! Decoded channels beside the byte-exact ones, so that Foxglove (and any
//! tool that reads JSON with JSON Schema) can plot and show a recording.
//!
//! For each wire message the recorder also writes, on channels of message
//! encoding `json` with a `jsonschema` schema:
//!
//! | wire message | topic | schema |
//! |---|---|---|
//! | sensor frame | `/umwelt/<robot>/joint_states` | `umwelt.JointState` (joint names, positions, velocities, efforts, named channels: reward, success, task channels) |
//! | sensor frame | `/tf` | `foxglove.FrameTransforms`: `world` to `<robot>/<body>` for each body (robots umwelt simulates) |
//! | sensor frame | `/umwelt/<robot>/scene` | `foxglove.SceneUpdate`: each body's boxes, spheres, cylinders (a capsule is a cylinder and two balls) in its own frame, the task's target in `world`; written when the shapes change and every second |
//! | sensor frame image | `/umwelt/<robot>/camera/<name>` | `foxglove.RawImage` (`rgb8`, `mono8`, `32FC1`) |
//! | motor command | `/umwelt/<robot>/command` | `umwelt.MotorCommand` (actuator names) |
//! | telemetry | `/umwelt/<robot>/telemetry` | `umwelt.Telemetry` |
//! | status | `/umwelt/<robot>/status` | `umwelt.Status`, and a line on `/umwelt/<robot>/log` when its state or message changes |
//! | estop, reset | `/umwelt/<robot>/log` | `foxglove.Log` |
//!
//! The `foxglove.*` schemas are Foxglove's own JSON Schemas, embedded
//! verbatim from github.com/foxglove/foxglove-sdk (`schemas/jsonschema`,
//! MIT licence, `schemas/LICENSE-foxglove`); the `umwelt.*` ones are ours.
//! Joint names come from the robot's description; the scene from its
//! simulator, set to each frame's joints and task channels. A robot known
//! only by a description (no simulator) gets no `/tf` or scene; one not
//! known at all gets joints named `joint_0`, `joint_1`, ....
//!
//! A payload that does not decode, or a message whose numbers cannot be
//! JSON (not finite) or that does not fit its robot, is skipped on the
//! decoded channels only (the byte-exact channel keeps it) and counted.

mod episodes;
mod messages;
mod scene;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use umwelt_sim::RobotKind;
use umwelt_sim::scene::Scene;

use crate::robot::{LoadedRobot, load_robot};
use crate::wire::{self, Message};
pub use episodes::record_episodes;
use messages::{Level, Log, RawImage, Time};
pub use scene::{RobotModel, WORLD_FRAME, frame_id};

/// Channel metadata key marking a decoded channel (its value: the wire
/// encoding it was decoded from); readers of the byte-exact channels skip
/// channels that carry it.
pub const DECODED_METADATA: &str = "umwelt.decoded_from";
/// Message encoding of the decoded channels.
pub const JSON_ENCODING: &str = "json";
/// Schema encoding of the decoded channels.
pub const SCHEMA_ENCODING: &str = "jsonschema";
/// Topic of the body frames.
pub const TF_TOPIC: &str = "/tf";
/// Longest time between two `SceneUpdate`s of a robot, ns, so that a
/// viewer that seeks finds one nearby.
const SCENE_EVERY_NS: u64 = 1_000_000_000;

/// A decoded channel's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Schema {
    /// `umwelt.JointState`.
    JointState,
    /// `umwelt.MotorCommand`.
    MotorCommand,
    /// `umwelt.Telemetry`.
    Telemetry,
    /// `umwelt.Status`.
    Status,
    /// `foxglove.Log`.
    Log,
    /// `foxglove.RawImage`.
    RawImage,
    /// `foxglove.FrameTransforms`.
    FrameTransforms,
    /// `foxglove.SceneUpdate`.
    SceneUpdate,
}

impl Schema {
    /// The schema's name (its `title`), e.g. `foxglove.SceneUpdate`.
    pub fn name(self) -> &'static str {
        match self {
            Schema::JointState => "umwelt.JointState",
            Schema::MotorCommand => "umwelt.MotorCommand",
            Schema::Telemetry => "umwelt.Telemetry",
            Schema::Status => "umwelt.Status",
            Schema::Log => "foxglove.Log",
            Schema::RawImage => "foxglove.RawImage",
            Schema::FrameTransforms => "foxglove.FrameTransforms",
            Schema::SceneUpdate => "foxglove.SceneUpdate",
        }
    }

    /// The JSON Schema document.
    pub fn text(self) -> &'static str {
        match self {
            Schema::JointState => include_str!("schemas/umwelt.JointState.json"),
            Schema::MotorCommand => include_str!("schemas/umwelt.MotorCommand.json"),
            Schema::Telemetry => include_str!("schemas/umwelt.Telemetry.json"),
            Schema::Status => include_str!("schemas/umwelt.Status.json"),
            Schema::Log => include_str!("schemas/foxglove.Log.json"),
            Schema::RawImage => include_str!("schemas/foxglove.RawImage.json"),
            Schema::FrameTransforms => include_str!("schemas/foxglove.FrameTransforms.json"),
            Schema::SceneUpdate => include_str!("schemas/foxglove.SceneUpdate.json"),
        }
    }
}

/// One decoded message to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Its topic, e.g. `/umwelt/cartpole/joint_states`.
    pub topic: String,
    /// Its schema.
    pub schema: Schema,
    /// The JSON document.
    pub json: Vec<u8>,
}

/// What the decoded channels hold so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecodeStats {
    /// Decoded messages written, by topic.
    pub topics: BTreeMap<String, u64>,
    /// Wire messages the decoded channels skipped (malformed, not finite,
    /// or not fitting their robot); the byte-exact channels hold them.
    pub skipped: u64,
    /// Robots seen, and whether each has a 3D scene.
    pub robots: BTreeMap<String, bool>,
    /// Frames of a simulated robot written without `/tf` and scene: the
    /// simulator could not take them (a task channel missing, say).
    pub scene_skipped: u64,
}

/// A robot's decoding state.
struct RobotState {
    model: RobotModel,
    /// The shapes of the last `SceneUpdate`, and its log time.
    last_scene: Option<(Scene, u64)>,
    /// The last status's state and message, per node.
    last_status: HashMap<String, (wire::NodeState, String)>,
    generic_joints: Vec<String>,
    generic_actuators: Vec<String>,
}

/// Turns wire messages into decoded messages, robot by robot.
pub struct Decoder {
    /// Robots the user named, by wire name.
    given: HashMap<String, LoadedRobot>,
    robots: HashMap<String, RobotState>,
    stats: DecodeStats,
    notes: Vec<String>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder that knows `robots` by their names on the wire (the
    /// `<robot>` of `umwelt/<robot>/...`); any other robot is looked up by
    /// that name (a built-in robot, with its first task) or known by its
    /// frames only.
    pub fn new(robots: Vec<(String, LoadedRobot)>) -> Self {
        Decoder {
            given: robots.into_iter().collect(),
            robots: HashMap::new(),
            stats: DecodeStats::default(),
            notes: Vec::new(),
        }
    }

    /// What has been decoded so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Messages for people that arose since the last call (once per robot:
    /// no scene for it, and why), to print.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn robot(&mut self, name: &str) -> &mut RobotState {
        let (given, notes, stats) = (&self.given, &mut self.notes, &mut self.stats);
        self.robots
            .entry(name.to_string())
            .or_insert_with(|| new_robot(name, given, notes, stats))
    }

    /// The decoded messages of one wire message that arrived on `key` at
    /// `log_time_ns`; none (and one more skipped) when it does not decode.
    pub fn decode(&mut self, key: &str, payload: &[u8], log_time_ns: u64) -> Vec<Decoded> {
        let out = wire::decode(payload)
            .map_err(|e| e.to_string())
            .and_then(|msg| {
                let robot = robot_of(key, &msg);
                let state = self.robot(&robot);
                decode_message(state, &robot, &msg, log_time_ns)
            });
        match out {
            Ok((out, scene_failed)) => {
                self.stats.scene_skipped += u64::from(scene_failed);
                for d in &out {
                    match self.stats.topics.get_mut(&d.topic) {
                        Some(n) => *n += 1,
                        None => {
                            self.stats.topics.insert(d.topic.clone(), 1);
                        }
                    }
                }
                out
            }
            Err(_) => {
                self.stats.skipped += 1;
                Vec::new()
            }
        }
    }
}

/// What the decoder learns of a robot when it first sees it.
fn new_robot(
    name: &str,
    given: &HashMap<String, LoadedRobot>,
    notes: &mut Vec<String>,
    stats: &mut DecodeStats,
) -> RobotState {
    let loaded = match given.get(name) {
        Some(r) => Some(r.clone()),
        None if RobotKind::from_name(name).is_ok() => load_robot(name, None, "").ok(),
        None => None,
    };
    let model = match loaded {
        Some(r) => {
            let (model, note) = RobotModel::from_loaded(&r);
            if let Some(n) = note {
                notes.push(format!("robot `{name}`: {n}"));
            } else if !model.has_scene() {
                notes.push(format!(
                    "robot `{name}` is described, not simulated: its recording has joint names but no 3D scene"
                ));
            }
            model
        }
        None => {
            notes.push(format!(
                "robot `{name}` is not a built-in robot and no description names it (--robot): its joints are recorded as joint_0, joint_1, ..., without a 3D scene"
            ));
            RobotModel::unknown()
        }
    };
    stats.robots.insert(name.to_string(), model.has_scene());
    RobotState {
        model,
        last_scene: None,
        last_status: HashMap::new(),
        generic_joints: Vec::new(),
        generic_actuators: Vec::new(),
    }
}

/// The robot a message is about: the second chunk of an
/// `umwelt/<robot>/...` key, else a frame's own robot name, else `unknown`.
fn robot_of(key: &str, msg: &Message) -> String {
    let mut parts = key.split('/');
    match (parts.next(), parts.next()) {
        (Some("umwelt"), Some(r)) if !r.is_empty() && !r.contains(['*', '$']) => r.to_string(),
        _ => match msg {
            Message::SensorFrame(f) if !f.robot.is_empty() => f.robot.clone(),
            _ => "unknown".to_string(),
        },
    }
}

fn json<T: Serialize>(topic: String, schema: Schema, value: &T) -> Result<Decoded, String> {
    Ok(Decoded {
        topic,
        schema,
        json: serde_json::to_vec(value).map_err(|e| e.to_string())?,
    })
}

fn finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// `joint_0`, `joint_1`, ... up to `n` (kept, grown as needed).
fn generic<'a>(names: &'a mut Vec<String>, prefix: &str, n: usize) -> &'a [String] {
    while names.len() < n {
        names.push(format!("{prefix}_{}", names.len()));
    }
    &names[..n]
}

fn decode_message(
    state: &mut RobotState,
    robot: &str,
    msg: &Message,
    log_time_ns: u64,
) -> Result<(Vec<Decoded>, bool), String> {
    let base = format!("/umwelt/{robot}");
    let t = Time::from_ns(msg.stamp_ns());
    let log = |level, node: &str, text: String| {
        json(
            format!("{base}/log"),
            Schema::Log,
            &Log::new(t, level, node, text),
        )
    };
    let mut out = Vec::new();
    let mut scene_failed = false;
    match msg {
        Message::SensorFrame(f) => {
            let n = f.positions.len();
            if f.velocities.len() != n
                || f.efforts.len() != n
                || !finite(&f.positions)
                || !finite(&f.velocities)
                || !finite(&f.efforts)
                || !f.channels.iter().all(|(_, v)| v.is_finite())
            {
                return Err("frame with mismatched or non-finite joints".into());
            }
            let names = if state.model.joints.is_empty() {
                generic(&mut state.generic_joints, "joint", n)
            } else if state.model.joints.len() == n {
                &state.model.joints[..]
            } else {
                return Err(format!(
                    "{n} joints in a frame of a robot with {}",
                    state.model.joints.len()
                ));
            };
            out.push(json(
                format!("{base}/joint_states"),
                Schema::JointState,
                &messages::JointState {
                    timestamp: t,
                    robot,
                    seq: f.seq,
                    applied: messages::applied_text(f.applied),
                    name: names,
                    position: &f.positions,
                    velocity: &f.velocities,
                    effort: &f.efforts,
                    channels: f.channels.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
                },
            )?);
            for im in &f.images {
                let frame = format!("{robot}/{}", im.name);
                out.push(json(
                    format!("{base}/camera/{}", im.name),
                    Schema::RawImage,
                    &RawImage::of(t, &frame, im),
                )?);
            }
            // A frame the simulator cannot take still has its joints.
            let scene = state.model.scene(&f.positions, &f.velocities, &f.channels);
            scene_failed = matches!(scene, Some(Err(_)));
            if let Some(Ok(scene)) = scene {
                out.push(json(
                    TF_TOPIC.to_string(),
                    Schema::FrameTransforms,
                    &scene::transforms(robot, &scene, t),
                )?);
                let shapes = scene::shapes(&scene);
                let due = match &state.last_scene {
                    None => true,
                    Some((s, at)) => {
                        *s != shapes || log_time_ns.saturating_sub(*at) >= SCENE_EVERY_NS
                    }
                };
                if due {
                    out.push(json(
                        format!("{base}/scene"),
                        Schema::SceneUpdate,
                        &scene::scene_update(robot, &scene, t),
                    )?);
                    state.last_scene = Some((shapes, log_time_ns));
                }
            }
        }
        Message::MotorCommand(c) => {
            if !finite(&c.values) {
                return Err("command with non-finite values".into());
            }
            let n = c.values.len();
            let names = if state.model.actuators.is_empty() {
                generic(&mut state.generic_actuators, "actuator", n)
            } else if state.model.actuators.len() == n {
                &state.model.actuators[..]
            } else {
                return Err(format!(
                    "{n} values in a command of a robot with {} actuators",
                    state.model.actuators.len()
                ));
            };
            out.push(json(
                format!("{base}/command"),
                Schema::MotorCommand,
                &messages::Command {
                    timestamp: t,
                    seq: c.seq,
                    answers_seq: c.answers_seq,
                    deadline: Time::from_ns(c.deadline_ns),
                    mode: messages::mode_name(c.mode),
                    name: names,
                    value: &c.values,
                },
            )?);
        }
        Message::Telemetry(m) => {
            if !m.values.iter().all(|(_, v)| v.is_finite()) {
                return Err("telemetry with non-finite values".into());
            }
            out.push(json(
                format!("{base}/telemetry"),
                Schema::Telemetry,
                &messages::Telemetry {
                    timestamp: t,
                    seq: m.seq,
                    values: m.values.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
                    note: &m.note,
                },
            )?);
        }
        Message::Status(s) => {
            out.push(json(
                format!("{base}/status"),
                Schema::Status,
                &messages::Status {
                    timestamp: t,
                    seq: s.seq,
                    node: &s.node,
                    stepping: s.stepping,
                    state: s.state,
                    episode: s.episode,
                    step: s.step,
                    message: &s.message,
                },
            )?);
            let now = (s.state, s.message.clone());
            if state.last_status.get(&s.node) != Some(&now) {
                let text = serde_json::to_value(s.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let level = match s.state {
                    wire::NodeState::SafeHold | wire::NodeState::Estopped => Level::Warning,
                    _ => Level::Info,
                };
                let line = if s.message.is_empty() {
                    text
                } else {
                    format!("{text}: {}", s.message)
                };
                out.push(log(level, &s.node, line)?);
                state.last_status.insert(s.node.clone(), now);
            }
        }
        Message::Estop(e) => {
            let (level, what) = if e.engage {
                (Level::Warning, "estop engaged")
            } else {
                (Level::Info, "estop released")
            };
            out.push(log(level, "estop", format!("{what}: {}", e.reason))?);
        }
        Message::Reset(r) => {
            let seed = r.seed.map_or("any".to_string(), |s| s.to_string());
            out.push(log(
                Level::Info,
                "reset",
                format!("new episode requested (seed {seed})"),
            )?);
        }
    }
    Ok((out, scene_failed))
}

#[cfg(test)]
mod tests;
