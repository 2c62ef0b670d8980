//! What the recorder knows of a robot (joint and actuator names, and for a
//! robot umwelt simulates, a simulator to pose its bodies), and a
//! simulator's [`Scene`] as Foxglove's `FrameTransforms` and `SceneUpdate`.

use serde::Serialize;
use umwelt_sim::scene::{Geometry, Pose, Scene, Solid};
use umwelt_sim::{Env, Measurement};

use super::messages::Time;
use crate::robot::LoadedRobot;

/// The parent of every body frame on `/tf`.
pub const WORLD_FRAME: &str = "world";

/// A robot as the decoded channels need it.
pub struct RobotModel {
    /// Joint names in wire order.
    pub joints: Vec<String>,
    /// Actuated joints in command order.
    pub actuators: Vec<String>,
    /// A simulator of the robot, reset once, that frames are synced into to
    /// pose its bodies; `None` for a robot umwelt does not simulate.
    env: Option<Env>,
}

impl std::fmt::Debug for RobotModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RobotModel")
            .field("joints", &self.joints)
            .field("actuators", &self.actuators)
            .field("scene", &self.env.is_some())
            .finish()
    }
}

impl RobotModel {
    /// From a loaded robot: names from its description; a scene when it
    /// has a simulator config (an error building or resetting the
    /// simulator leaves it without one, and says why).
    pub fn from_loaded(robot: &LoadedRobot) -> (Self, Option<String>) {
        let d = &robot.description;
        let mut note = None;
        let env = match robot.env().map_err(|e| e.to_string()).and_then(|mut env| {
            env.reset(0).map_err(|e| e.to_string())?;
            Ok(env)
        }) {
            Ok(env) => Some(env),
            Err(why) if robot.sim.is_some() => {
                note = Some(format!("no 3D scene: its simulator failed ({why})"));
                None
            }
            Err(_) => None,
        };
        (
            RobotModel {
                joints: d.joint_names(),
                actuators: d.actuation.joints.clone(),
                env,
            },
            note,
        )
    }

    /// A robot known by nothing but its frames: joints `joint_0`, ... and
    /// actuators `actuator_0`, ..., as many as the messages carry.
    pub fn unknown() -> Self {
        RobotModel {
            joints: Vec::new(),
            actuators: Vec::new(),
            env: None,
        }
    }

    /// Whether frames of this robot get a 3D scene.
    pub fn has_scene(&self) -> bool {
        self.env.is_some()
    }

    /// The scene at a measured state: positions and velocities in wire
    /// order, channels by name (every task channel must be there). `None`
    /// without a simulator; an error when the frame does not fit it.
    pub fn scene(
        &mut self,
        positions: &[f32],
        velocities: &[f32],
        channels: &[(String, f32)],
    ) -> Option<Result<Scene, String>> {
        let env = self.env.as_mut()?;
        let mut values = Vec::with_capacity(env.channel_names().len());
        for name in env.channel_names() {
            match channels.iter().find(|(n, _)| n == name) {
                Some((_, v)) if v.is_finite() => values.push(*v),
                Some(_) => return Some(Err(format!("channel `{name}` is not finite"))),
                None => return Some(Err(format!("no channel `{name}`"))),
            }
        }
        let m = Measurement {
            positions: positions.to_vec(),
            velocities: velocities.to_vec(),
            efforts: vec![0.0; positions.len()],
            channels: values,
        };
        Some(
            env.sync_to_measurement(&m)
                .and_then(|()| env.scene())
                .map_err(|e| e.to_string()),
        )
    }
}

/// The name of `robot`'s body `body` on `/tf`: `<robot>/<body>`, so that
/// several robots in one recording keep their frames apart.
pub fn frame_id(robot: &str, body: &str) -> String {
    format!("{robot}/{body}")
}

#[derive(Serialize)]
struct Vector3 {
    x: f32,
    y: f32,
    z: f32,
}

#[derive(Serialize)]
struct Quaternion {
    x: f32,
    y: f32,
    z: f32,
    w: f32,
}

#[derive(Serialize)]
struct FPose {
    position: Vector3,
    orientation: Quaternion,
}

impl From<Pose> for FPose {
    fn from(p: Pose) -> Self {
        let [x, y, z] = p.position;
        let [qx, qy, qz, qw] = p.orientation;
        FPose {
            position: Vector3 { x, y, z },
            orientation: Quaternion {
                x: qx,
                y: qy,
                z: qz,
                w: qw,
            },
        }
    }
}

#[derive(Serialize)]
struct Transform {
    timestamp: Time,
    parent_frame_id: &'static str,
    child_frame_id: String,
    translation: Vector3,
    rotation: Quaternion,
}

/// `foxglove.FrameTransforms`.
#[derive(Serialize)]
pub(crate) struct FrameTransforms {
    transforms: Vec<Transform>,
}

/// `world` to each body of `scene`.
pub(crate) fn transforms(robot: &str, scene: &Scene, t: Time) -> FrameTransforms {
    FrameTransforms {
        transforms: scene
            .bodies
            .iter()
            .map(|b| {
                let p = FPose::from(b.pose);
                Transform {
                    timestamp: t,
                    parent_frame_id: WORLD_FRAME,
                    child_frame_id: frame_id(robot, &b.name),
                    translation: p.position,
                    rotation: p.orientation,
                }
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct Color {
    r: f32,
    g: f32,
    b: f32,
    a: f32,
}

impl From<[f32; 4]> for Color {
    fn from([r, g, b, a]: [f32; 4]) -> Self {
        Color { r, g, b, a }
    }
}

/// A cube or a sphere (Foxglove's sphere `size` is its bounding box).
#[derive(Serialize)]
struct Sized {
    pose: FPose,
    size: Vector3,
    color: Color,
}

#[derive(Serialize)]
struct Cylinder {
    pose: FPose,
    size: Vector3,
    bottom_scale: f32,
    top_scale: f32,
    color: Color,
}

#[derive(Serialize)]
struct Duration {
    sec: i64,
    nsec: u32,
}

#[derive(Serialize)]
struct Entity {
    timestamp: Time,
    frame_id: String,
    id: String,
    /// Zero: shown until replaced.
    lifetime: Duration,
    frame_locked: bool,
    metadata: [(); 0],
    arrows: [(); 0],
    cubes: Vec<Sized>,
    spheres: Vec<Sized>,
    cylinders: Vec<Cylinder>,
    lines: [(); 0],
    triangles: [(); 0],
    texts: [(); 0],
    models: [(); 0],
}

impl Entity {
    fn new(t: Time, frame_id: String, id: String) -> Self {
        Entity {
            timestamp: t,
            frame_id,
            id,
            lifetime: Duration { sec: 0, nsec: 0 },
            // Bodies move with their frames as `/tf` says.
            frame_locked: true,
            metadata: [],
            arrows: [],
            cubes: Vec::new(),
            spheres: Vec::new(),
            cylinders: Vec::new(),
            lines: [],
            triangles: [],
            texts: [],
            models: [],
        }
    }

    fn add(&mut self, s: &Solid) {
        let ball = |pose: Pose, r: f32| Sized {
            pose: pose.into(),
            size: Vector3 {
                x: 2.0 * r,
                y: 2.0 * r,
                z: 2.0 * r,
            },
            color: s.color.into(),
        };
        let cylinder = |radius: f32, length: f32| Cylinder {
            pose: s.pose.into(),
            size: Vector3 {
                x: 2.0 * radius,
                y: 2.0 * radius,
                z: length,
            },
            bottom_scale: 1.0,
            top_scale: 1.0,
            color: s.color.into(),
        };
        match s.geometry {
            Geometry::Box { size: [x, y, z] } => self.cubes.push(Sized {
                pose: s.pose.into(),
                size: Vector3 { x, y, z },
                color: s.color.into(),
            }),
            Geometry::Sphere { radius } => self.spheres.push(ball(s.pose, radius)),
            Geometry::Cylinder { radius, length } => {
                self.cylinders.push(cylinder(radius, length));
            }
            // Foxglove has no capsule: a cylinder and a ball at each end.
            Geometry::Capsule { radius, length } => {
                self.cylinders.push(cylinder(radius, length));
                for end in [-0.5, 0.5] {
                    let at = Pose {
                        position: [0.0, 0.0, end * length],
                        orientation: Pose::IDENTITY.orientation,
                    };
                    self.spheres.push(ball(s.pose.then(at), radius));
                }
            }
        }
    }
}

/// `foxglove.SceneUpdate`.
#[derive(Serialize)]
pub(crate) struct SceneUpdate {
    deletions: [(); 0],
    entities: Vec<Entity>,
}

/// One entity per body with solids, in the body's frame (so `/tf` moves
/// it), and one per task marker, in the world frame.
pub(crate) fn scene_update(robot: &str, scene: &Scene, t: Time) -> SceneUpdate {
    let mut entities = Vec::new();
    for b in scene.bodies.iter().filter(|b| !b.solids.is_empty()) {
        let frame = frame_id(robot, &b.name);
        let mut e = Entity::new(t, frame.clone(), frame);
        for s in &b.solids {
            e.add(s);
        }
        entities.push(e);
    }
    for m in &scene.markers {
        let mut e = Entity::new(
            t,
            WORLD_FRAME.to_string(),
            format!("{robot}/marker/{}", m.name),
        );
        e.add(&Solid {
            pose: Pose {
                position: m.position,
                orientation: Pose::IDENTITY.orientation,
            },
            geometry: Geometry::Sphere { radius: m.radius },
            color: m.color,
        });
        entities.push(e);
    }
    SceneUpdate {
        deletions: [],
        entities,
    }
}

/// What of a scene a `SceneUpdate` carries (the shapes and markers, not
/// the bodies' poses, which `/tf` carries): a new update is needed only
/// when this changes.
pub(crate) fn shapes(scene: &Scene) -> Scene {
    let mut s = scene.clone();
    for b in &mut s.bodies {
        b.pose = Pose::IDENTITY;
    }
    s
}
