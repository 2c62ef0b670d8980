//! The robot models: rapier3d worlds built from a [`RobotConfig`].
//!
//! Each model returns its joints in the config's declared order and a few
//! named points (sites) that tasks measure, such as a fingertip.

mod arm;
mod cartpole;
mod pendulum;
mod reacher;

use rand::Rng;
use rapier3d::prelude::*;

use crate::config::{Randomize, RobotConfig, RobotKind};
use crate::error::{Result, SimError};
use crate::physics::Articulation;

pub(crate) use arm::UrdfTemplate;

/// A point fixed on a body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    pub body: RigidBodyHandle,
    pub local: Vector,
}

/// A built robot: its articulation, and its sites in the robot's own order
/// (see each robot module).
pub(crate) struct Model {
    pub art: Articulation,
    pub sites: Vec<Site>,
}

impl Model {
    /// World position of site `i`.
    pub fn site(&self, i: usize) -> Vector {
        let s = self.sites[i];
        self.art.point(s.body, s.local)
    }
}

/// Per-episode domain-randomisation factors, indexed by body or joint.
#[derive(Clone, Debug)]
pub(crate) struct Scales {
    mass: Vec<f32>,
    length: Vec<f32>,
    friction: Vec<f32>,
    damping: Vec<f32>,
}

const MAX_PARTS: usize = 16;

impl Scales {
    /// No randomisation.
    pub fn ones() -> Self {
        let v = vec![1.0; MAX_PARTS];
        Self {
            mass: v.clone(),
            length: v.clone(),
            friction: v.clone(),
            damping: v,
        }
    }

    /// Factors drawn from `[1 - x, 1 + x]` for each quantity. Always draws
    /// the same number of values, so the stream stays aligned whatever is on.
    pub fn sample(r: &Randomize, rng: &mut impl Rng) -> Self {
        let mut draw = |x: f32| -> Vec<f32> {
            (0..MAX_PARTS)
                .map(|_| 1.0 + x * (2.0 * rng.random::<f32>() - 1.0))
                .collect()
        };
        Self {
            mass: draw(r.mass),
            length: draw(r.length),
            friction: draw(r.friction),
            damping: draw(r.damping),
        }
    }

    pub fn mass(&self, i: usize) -> f32 {
        self.mass[i % MAX_PARTS]
    }
    pub fn length(&self, i: usize) -> f32 {
        self.length[i % MAX_PARTS]
    }
}

/// A rapier world with z up and the config's time step.
pub(crate) fn new_world(cfg: &RobotConfig) -> PhysicsWorld {
    let mut w = PhysicsWorld::new();
    w.gravity = Vector::new(0.0, 0.0, -9.81);
    w.integration_parameters.dt = cfg.physics_dt as f32;
    // One solver substep per physics step: `physics_dt` alone sets the
    // accuracy (rapier's default of 4 substeps recomputes the multibody mass
    // matrix 4 times a step, for no gain at our 2 ms steps).
    w.integration_parameters.num_solver_iterations = 1;
    w
}

/// A collider that only carries mass and shape: robots in these scenes
/// touch nothing, so contacts are off.
pub(crate) fn mass_shape(b: ColliderBuilder) -> ColliderBuilder {
    b.collision_groups(InteractionGroups::none())
        .solver_groups(InteractionGroups::none())
}

/// Orders the model's joints as the config declares them, applies the
/// config's limits, damping, friction and armature, and wraps the world.
pub(crate) fn finish(
    world: PhysicsWorld,
    model_joints: &[(String, RigidBodyHandle)],
    cfg: &RobotConfig,
    scales: &Scales,
) -> Result<Articulation> {
    let origin = format!("for robot `{}`", cfg.robot.name());
    let known = || {
        model_joints
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut ordered = Vec::with_capacity(cfg.joints.len());
    for (i, j) in cfg.joints.iter().enumerate() {
        let Some((_, h)) = model_joints.iter().find(|(n, _)| *n == j.name) else {
            return Err(SimError::Config {
                origin,
                message: format!(
                    "joints[{i}].name: unknown joint `{}`; the model has joints {}",
                    j.name,
                    known()
                ),
            });
        };
        ordered.push((j.name.clone(), *h));
    }
    if let Some((missing, _)) = model_joints
        .iter()
        .find(|(n, _)| !cfg.joints.iter().any(|j| &j.name == n))
    {
        return Err(SimError::Config {
            origin,
            message: format!(
                "joints: joint `{missing}` of the model is missing; list every joint ({})",
                known()
            ),
        });
    }
    let mut art = Articulation::new(world, &ordered)?;
    for (i, j) in cfg.joints.iter().enumerate() {
        if let Some(limits) = j.limits {
            art.set_limits(i, limits);
        }
        art.set_dof_params(
            i,
            j.damping * scales.damping[i % MAX_PARTS],
            j.friction * scales.friction[i % MAX_PARTS],
            j.armature,
        );
    }
    Ok(art)
}

/// Builds a robot model. `urdf` must be given for URDF-based robots.
pub(crate) fn build(
    cfg: &RobotConfig,
    scales: &Scales,
    urdf: Option<&UrdfTemplate>,
) -> Result<Model> {
    match cfg.robot {
        RobotKind::Cartpole => cartpole::build(cfg, scales),
        RobotKind::Pendulum => pendulum::build(cfg, scales),
        RobotKind::Reacher => reacher::build(cfg, scales),
        RobotKind::Arm => match urdf {
            Some(t) => arm::build(cfg, scales, t),
            None => Err(SimError::Urdf {
                origin: "arm".into(),
                message: "no URDF loaded".into(),
            }),
        },
    }
}
