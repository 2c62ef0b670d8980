//! What a simulated robot looks like at one instant: each body's pose in the
//! world, the shapes it carries (in the body's frame) and the task's markers
//! (a reacher's target). Plain data with no rapier types, for whatever draws
//! or exports it: recordings' 3D scene channels, episode videos.
//!
//! Frames: the world is z up (metres). A body is named after the joint that
//! moves it (`hinge` is the pole of the cart-pole); fixed bodies are `base`,
//! `base_1`, ..., and links welded to a moving one `link_N`. [`crate::Env::scene`] makes one.

use rapier3d::prelude::{Pose as RPose, Rotation, Vector};

/// A rigid transform: a position and a unit quaternion.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pose {
    /// Position in metres.
    pub position: [f32; 3],
    /// Orientation as a unit quaternion `[x, y, z, w]`.
    pub orientation: [f32; 4],
}

impl Pose {
    /// No translation, no rotation.
    pub const IDENTITY: Pose = Pose {
        position: [0.0; 3],
        orientation: [0.0, 0.0, 0.0, 1.0],
    };

    pub(crate) fn from_rapier(p: &RPose) -> Self {
        let (t, r) = (p.translation, p.rotation);
        Pose {
            position: [t.x, t.y, t.z],
            orientation: [r.x, r.y, r.z, r.w],
        }
    }

    fn to_rapier(self) -> RPose {
        let [x, y, z] = self.position;
        let [qx, qy, qz, qw] = self.orientation;
        RPose::from_parts(
            Vector::new(x, y, z),
            Rotation::from_xyzw(qx, qy, qz, qw).normalize(),
        )
    }

    /// `self` followed by `inner`: the pose, in `self`'s parent frame, of a
    /// frame whose pose in `self`'s frame is `inner`.
    pub fn then(self, inner: Pose) -> Pose {
        Pose::from_rapier(&(self.to_rapier() * inner.to_rapier()))
    }

    /// A point given in this frame, in the parent frame.
    pub fn apply(self, p: [f32; 3]) -> [f32; 3] {
        let v = self
            .to_rapier()
            .transform_point(Vector::new(p[0], p[1], p[2]));
        [v.x, v.y, v.z]
    }
}

/// A solid's geometry, centred on its frame's origin.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Geometry {
    /// A box of full side lengths `size` along x, y, z.
    Box {
        /// Full side lengths, m.
        size: [f32; 3],
    },
    /// A ball.
    Sphere {
        /// Radius, m.
        radius: f32,
    },
    /// A cylinder along the frame's z axis.
    Cylinder {
        /// Radius, m.
        radius: f32,
        /// Full length along z, m.
        length: f32,
    },
    /// A capsule along the frame's z axis: a cylinder of `length` with a
    /// half ball of `radius` on each end.
    Capsule {
        /// Radius, m.
        radius: f32,
        /// Length of the cylindrical part along z, m.
        length: f32,
    },
}

/// A solid attached to a body.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Solid {
    /// Pose in the body's frame.
    pub pose: Pose,
    /// Shape.
    pub geometry: Geometry,
    /// Colour, RGBA in `[0, 1]`.
    pub color: [f32; 4],
}

/// A body of the robot (a link).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Body {
    /// Frame name (see the module documentation).
    pub name: String,
    /// Pose in the world.
    pub pose: Pose,
    /// Its solids; empty for a frame with no shape.
    pub solids: Vec<Solid>,
}

/// Something the task shows that is not part of the robot.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    /// What it is, e.g. `target`.
    pub name: String,
    /// Position in the world, m.
    pub position: [f32; 3],
    /// Radius of the ball drawn for it, m.
    pub radius: f32,
    /// Colour, RGBA in `[0, 1]`.
    pub color: [f32; 4],
}

impl Marker {
    /// A task's target: a red ball.
    pub fn target(position: [f32; 3], radius: f32) -> Self {
        Marker {
            name: "target".into(),
            position,
            radius,
            color: [0.85, 0.15, 0.15, 0.8],
        }
    }
}

/// The robot and its task's markers at one instant.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scene {
    /// Every body: those no joint moves first, then one per joint in joint
    /// order.
    pub bodies: Vec<Body>,
    /// The task's markers.
    pub markers: Vec<Marker>,
}
