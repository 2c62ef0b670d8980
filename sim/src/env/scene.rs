//! [`Env::scene`]: the simulator's bodies and colliders as a [`Scene`].

use rapier3d::prelude::{Rotation, TypedShape, Vector};

use super::Env;
use crate::error::{Result, SimError};
use crate::robots::Model;
use crate::scene::{Body, Geometry, Pose, Scene, Solid};

/// Colours of the bodies, in order (fixed bases are grey).
const PALETTE: [[f32; 4]; 4] = [
    [0.95, 0.55, 0.15, 1.0],
    [0.20, 0.45, 0.80, 1.0],
    [0.30, 0.65, 0.35, 1.0],
    [0.55, 0.35, 0.70, 1.0],
];
const BASE_COLOR: [f32; 4] = [0.45, 0.45, 0.45, 1.0];

impl Env {
    /// The scene of the current episode's state: see [`Scene`]. Fails with
    /// [`SimError::NotReset`] before the first reset. Follow a robot known
    /// only through frames with [`Env::sync_to_measurement`] first.
    pub fn scene(&self) -> Result<Scene> {
        let ep = self.episode.as_ref().ok_or(SimError::NotReset)?;
        Ok(self.scene_of(&ep.model))
    }

    /// The scene of `model` (the episode's, or a probe built before any).
    pub(super) fn scene_of(&self, model: &Model) -> Scene {
        let art = &model.art;
        let world = art.world();
        let joint_bodies: Vec<_> = (0..art.len()).map(|i| art.joint_body(i)).collect();
        let mut named = Vec::new();
        let mut bases = 0usize;
        for (handle, body) in world.bodies.iter() {
            if joint_bodies.contains(&handle) {
                continue;
            }
            // Bodies no joint moves: fixed roots, or links welded to a
            // moving one (a URDF's tool frame).
            let name = match (body.is_fixed(), bases) {
                (true, 0) => "base".to_string(),
                (true, n) => format!("base_{n}"),
                (false, n) => format!("link_{n}"),
            };
            bases += 1;
            named.push((handle, name, BASE_COLOR, body));
        }
        for (i, handle) in joint_bodies.iter().enumerate() {
            let body = &world.bodies[*handle];
            let color = PALETTE[i % PALETTE.len()];
            named.push((*handle, self.joint_names()[i].clone(), color, body));
        }
        let bodies = named
            .into_iter()
            .map(|(handle, name, color, body)| Body {
                name,
                pose: Pose::from_rapier(body.position()),
                solids: body
                    .colliders()
                    .iter()
                    .filter_map(|c| world.colliders.get(*c))
                    .filter(|c| c.parent() == Some(handle))
                    .filter_map(|c| {
                        let local = c.position_wrt_parent().copied().unwrap_or_default();
                        solid(Pose::from_rapier(&local), c.shape().as_typed_shape(), color)
                    })
                    .collect(),
            })
            .collect();
        Scene {
            bodies,
            markers: self.task.markers(model),
        }
    }
}

/// The solid for a collider shape at `local` in its body; `None` for shapes
/// the robots here do not use (meshes, height fields).
fn solid(local: Pose, shape: TypedShape<'_>, color: [f32; 4]) -> Option<Solid> {
    let (inner, geometry) = match shape {
        TypedShape::Ball(b) => (Pose::IDENTITY, Geometry::Sphere { radius: b.radius }),
        TypedShape::Cuboid(c) => {
            let h = c.half_extents;
            let size = [2.0 * h.x, 2.0 * h.y, 2.0 * h.z];
            (Pose::IDENTITY, Geometry::Box { size })
        }
        TypedShape::Cylinder(c) => {
            // parry's cylinders run along y; ours along z.
            let r = Rotation::from_rotation_arc(Vector::Z, Vector::Y);
            let geometry = Geometry::Cylinder {
                radius: c.radius,
                length: 2.0 * c.half_height,
            };
            (rotation_pose(Vector::ZERO, r), geometry)
        }
        TypedShape::Capsule(c) => {
            let (a, b) = (c.segment.a, c.segment.b);
            let axis = b - a;
            let length = axis.length();
            let r = if length > 0.0 {
                Rotation::from_rotation_arc(Vector::Z, axis / length)
            } else {
                Rotation::IDENTITY
            };
            let geometry = Geometry::Capsule {
                radius: c.radius,
                length,
            };
            (rotation_pose((a + b) * 0.5, r), geometry)
        }
        _ => return None,
    };
    Some(Solid {
        pose: local.then(inner),
        geometry,
        color,
    })
}

fn rotation_pose(at: Vector, r: Rotation) -> Pose {
    Pose {
        position: [at.x, at.y, at.z],
        orientation: [r.x, r.y, r.z, r.w],
    }
}
