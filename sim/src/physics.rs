//! A rapier3d multibody with named, one-degree-of-freedom joints: the physical
//! robot underneath every simulated environment.
//!
//! Joints use rapier's reduced-coordinate multibodies, so joint positions and
//! velocities are exact generalised coordinates (no joint drift), and joint
//! damping, dry friction and armature act per degree of freedom, as in MuJoCo.

use rapier3d::prelude::*;

use crate::error::{Result, SimError};

/// The type of a one-degree-of-freedom joint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JointKind {
    /// Rotation about an axis (rad, rad/s, N*m).
    Revolute,
    /// Translation along an axis (m, m/s, N).
    Prismatic,
}

impl JointKind {
    /// Unit of the joint position.
    pub fn position_unit(self) -> &'static str {
        match self {
            JointKind::Revolute => "rad",
            JointKind::Prismatic => "m",
        }
    }
    /// Unit of the joint velocity.
    pub fn velocity_unit(self) -> &'static str {
        match self {
            JointKind::Revolute => "rad/s",
            JointKind::Prismatic => "m/s",
        }
    }
    /// Unit of the joint effort.
    pub fn effort_unit(self) -> &'static str {
        match self {
            JointKind::Revolute => "N*m",
            JointKind::Prismatic => "N",
        }
    }
}

/// rapier's axis for index `coord` of its 6-D joint coordinates.
fn joint_axis(coord: usize) -> JointAxis {
    match coord {
        0 => JointAxis::LinX,
        1 => JointAxis::LinY,
        2 => JointAxis::LinZ,
        3 => JointAxis::AngX,
        4 => JointAxis::AngY,
        _ => JointAxis::AngZ,
    }
}

#[derive(Clone, Debug)]
struct JointRef {
    kind: JointKind,
    child: RigidBodyHandle,
    parent: RigidBodyHandle,
    /// Joint axis in the child body's frame.
    axis_local: Vector,
    /// Index of the free axis in rapier's 6-D joint coordinates.
    coord: usize,
    multibody: MultibodyIndex,
    link: usize,
}

/// A simulated articulated robot: a rapier world holding one multibody.
pub struct Articulation {
    world: PhysicsWorld,
    joints: Vec<JointRef>,
}

impl Articulation {
    /// Wraps `world`, whose multibody joints attach each of `children` (one
    /// per robot joint, in the robot's joint order) to its parent link.
    pub fn new(mut world: PhysicsWorld, children: &[(String, RigidBodyHandle)]) -> Result<Self> {
        // Settle the root type (fixed roots drop their six free DoFs) before
        // reading DoF indices.
        let mbs: Vec<MultibodyIndex> = {
            let mut v: Vec<MultibodyIndex> = children
                .iter()
                .filter_map(|(_, h)| {
                    world
                        .multibody_joints
                        .rigid_body_link(*h)
                        .map(|l| l.multibody)
                })
                .collect();
            v.dedup();
            v
        };
        for mb in &mbs {
            if let Some(m) = world.multibody_joints.get_multibody_mut(*mb) {
                m.forward_kinematics(&world.bodies, true);
                m.update_rigid_bodies(&mut world.bodies, true);
            }
        }
        let mut joints = Vec::with_capacity(children.len());
        for (name, child) in children {
            let err = |message: String| SimError::Config {
                origin: "robot model".into(),
                message,
            };
            let link_id = world
                .multibody_joints
                .rigid_body_link(*child)
                .copied()
                .ok_or_else(|| err(format!("joint `{name}` is not a multibody joint")))?;
            let mb = world
                .multibody_joints
                .get_multibody(link_id.multibody)
                .ok_or_else(|| err(format!("joint `{name}`: missing multibody")))?;
            let link = mb
                .link(link_id.id)
                .ok_or_else(|| err(format!("joint `{name}`: missing link")))?;
            let parent = link
                .parent_id()
                .and_then(|p| mb.link(p))
                .map(|l| l.rigid_body_handle())
                .ok_or_else(|| err(format!("joint `{name}` has no parent link")))?;
            let data = &link.joint().data;
            let free = !data.locked_axes.bits() & 0b11_1111;
            if free.count_ones() != 1 {
                return Err(err(format!(
                    "joint `{name}` has {} degrees of freedom; only revolute and prismatic joints are supported",
                    free.count_ones()
                )));
            }
            let coord = free.trailing_zeros() as usize;
            let kind = if coord < 3 {
                JointKind::Prismatic
            } else {
                JointKind::Revolute
            };
            joints.push(JointRef {
                kind,
                child: *child,
                parent,
                axis_local: data.local_axis2(),
                coord,
                multibody: link_id.multibody,
                link: link_id.id,
            });
        }
        for h in children.iter().map(|(_, h)| *h) {
            if let Some(rb) = world.bodies.get_mut(h) {
                // A robot never sleeps: a sleeping body ignores commands.
                rb.activation_mut().normalized_linear_threshold = -1.0;
                rb.activation_mut().angular_threshold = -1.0;
                rb.wake_up(true);
            }
        }
        Ok(Self { world, joints })
    }

    /// Number of joints.
    pub fn len(&self) -> usize {
        self.joints.len()
    }

    /// True when there is no joint.
    pub fn is_empty(&self) -> bool {
        self.joints.is_empty()
    }

    /// The kind of joint `i`.
    pub fn kind(&self, i: usize) -> JointKind {
        self.joints[i].kind
    }

    /// Position limits of joint `i`, if the joint has any.
    pub fn limits(&self, i: usize) -> Option<[f32; 2]> {
        let j = &self.joints[i];
        let axis = joint_axis(j.coord);
        self.link(j)
            .1
            .joint()
            .data
            .limits(axis)
            .map(|l| [l.min, l.max])
    }

    /// Sets the position limits `[lower, upper]` of joint `i`.
    pub fn set_limits(&mut self, i: usize, limits: [f32; 2]) {
        let j = &self.joints[i];
        if let Some(link) = self
            .world
            .multibody_joints
            .get_multibody_mut(j.multibody)
            .and_then(|m| m.link_mut(j.link))
        {
            link.joint.data.set_limits(joint_axis(j.coord), limits);
        }
    }

    /// The body that joint `i` moves (its child link).
    pub fn joint_body(&self, i: usize) -> RigidBodyHandle {
        self.joints[i].child
    }

    /// The physics time step in seconds.
    pub fn dt(&self) -> f32 {
        self.world.integration_parameters.dt
    }

    /// Read-only access to the rapier world (bodies, colliders, ray casts).
    pub fn world(&self) -> &PhysicsWorld {
        &self.world
    }

    fn link(&self, j: &JointRef) -> (&Multibody, &MultibodyLink) {
        let mb = &self.world.multibody_joints[j.multibody];
        let link = mb.link(j.link).unwrap_or_else(|| mb.root());
        (mb, link)
    }

    /// Joint positions, in joint order.
    pub fn positions(&self, out: &mut [f32]) {
        for (o, j) in out.iter_mut().zip(&self.joints) {
            *o = self.link(j).1.joint().coords()[j.coord];
        }
    }

    /// Joint velocities, in joint order.
    pub fn velocities(&self, out: &mut [f32]) {
        for (o, j) in out.iter_mut().zip(&self.joints) {
            let (mb, link) = self.link(j);
            *o = mb.joint_velocity(link)[0];
        }
    }

    /// Sets the per-DoF damping (N*s/m or N*m*s/rad), dry friction (N or N*m)
    /// and armature (kg or kg*m^2) of joint `i`.
    pub fn set_dof_params(&mut self, i: usize, damping: f32, friction: f32, armature: f32) {
        let j = &self.joints[i];
        let Some(mb) = self.world.multibody_joints.get_multibody_mut(j.multibody) else {
            return;
        };
        let Some(dof) = mb.link(j.link).map(|l| l.assembly_id()) else {
            return;
        };
        mb.damping_mut()[dof] = damping;
        mb.frictions_mut()[dof] = friction;
        mb.armature_mut()[dof] = armature;
    }

    /// Moves every joint exactly to `q` with velocities `qd`, from wherever
    /// it is: the result does not depend on the joint's history.
    pub fn set_state(&mut self, q: &[f32], qd: &[f32]) {
        let mut current = vec![0.0; self.joints.len()];
        self.positions(&mut current);
        let mut touched: Vec<MultibodyIndex> = Vec::new();
        for (i, j) in self.joints.iter().enumerate() {
            let Some(mb) = self.world.multibody_joints.get_multibody_mut(j.multibody) else {
                continue;
            };
            let Some(dof) = mb.link(j.link).map(|l| l.assembly_id()) else {
                continue;
            };
            let mut disp = vec![0.0; mb.ndofs()];
            // Displacements add to the joint's coordinate. One displacement of
            // `q - current` lands on `q` only up to a rounding that depends on
            // where the joint came from, and then a planner restoring one
            // state many times would see futures that depend on its previous
            // rollouts. `current + (-current)` is exactly 0 and `0 + q` is
            // exactly `q` (a 1-DoF joint's rotation is rebuilt from its
            // coordinate), so two steps put the joint exactly on `q`.
            disp[dof] = -current[i];
            mb.apply_displacements(&disp);
            disp[dof] = q[i];
            mb.apply_displacements(&disp);
            mb.generalized_velocity_mut()[dof] = qd[i];
            if !touched.contains(&j.multibody) {
                touched.push(j.multibody);
            }
        }
        for m in touched {
            let Some(mb) = self.world.multibody_joints.get_multibody_mut(m) else {
                continue;
            };
            mb.forward_kinematics(&self.world.bodies, false);
            mb.update_rigid_bodies(&mut self.world.bodies, true);
        }
    }

    /// Applies joint efforts (N*m on revolute, N on prismatic joints) for the
    /// next physics step: an equal and opposite pair on child and parent link,
    /// which for a revolute joint is exactly a generalised force on its DoF.
    pub fn apply_efforts(&mut self, efforts: &[f32]) {
        for j in &self.joints {
            for h in [j.child, j.parent] {
                if let Some(rb) = self.world.bodies.get_mut(h) {
                    rb.reset_forces(false);
                    rb.reset_torques(false);
                }
            }
        }
        for (j, &e) in self.joints.iter().zip(efforts) {
            if e == 0.0 {
                continue;
            }
            let axis = *self.world.bodies[j.child].rotation() * j.axis_local * e;
            for (h, sign) in [(j.child, 1.0), (j.parent, -1.0)] {
                if let Some(rb) = self.world.bodies.get_mut(h) {
                    match j.kind {
                        JointKind::Revolute => rb.add_torque(axis * sign, true),
                        JointKind::Prismatic => rb.add_force(axis * sign, true),
                    }
                }
            }
        }
    }

    /// Advances the physics by one time step.
    pub fn step(&mut self) {
        self.world.step();
    }

    /// Total mechanical energy (kinetic + gravitational potential, J) of the
    /// dynamic bodies, the potential synchronised with the velocities as
    /// rapier's leap-frog estimate does.
    pub fn energy(&self) -> f64 {
        let dt = self.dt();
        let g = self.world.gravity;
        self.world
            .bodies
            .iter()
            .filter(|(_, rb)| rb.is_dynamic())
            .map(|(_, rb)| {
                rb.kinetic_energy() as f64 + rb.gravitational_potential_energy(dt, g) as f64
            })
            .sum()
    }

    /// World position of a point given in a body's frame.
    pub fn point(&self, body: RigidBodyHandle, local: Vector) -> Vector {
        self.world.bodies[body].position().transform_point(local)
    }

    /// World orientation of a body.
    pub fn rotation(&self, body: RigidBodyHandle) -> Rotation {
        *self.world.bodies[body].rotation()
    }

    /// True when every joint position and velocity is finite.
    pub fn is_finite(&self) -> bool {
        self.joints.iter().all(|j| {
            let (mb, link) = self.link(j);
            link.joint().coords()[j.coord].is_finite() && mb.joint_velocity(link)[0].is_finite()
        })
    }
}
