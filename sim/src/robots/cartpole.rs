//! Cart-pole after dm_control's `cartpole.xml`: a 1 kg cart on a rail along
//! x, and a 1 m, 0.1 kg capsule pole hinged about y at the cart's centre.
//! Joints: `slider` (prismatic, actuated) and `hinge` (revolute; 0 = upright,
//! positive tilts the pole towards +x). Site 0: the pole tip.

use rapier3d::prelude::*;

use super::{Model, Scales, Site, finish, mass_shape, new_world};
use crate::config::RobotConfig;
use crate::error::Result;

pub(crate) fn build(cfg: &RobotConfig, s: &Scales) -> Result<Model> {
    let mut w = new_world(cfg);
    let ground = w.insert_body(RigidBodyBuilder::fixed());
    let cart = w.insert_body(RigidBodyBuilder::dynamic().can_sleep(false));
    w.insert_collider(
        mass_shape(ColliderBuilder::cuboid(0.2, 0.15, 0.1)).mass(1.0 * s.mass(0)),
        Some(cart),
    );
    let length = 1.0 * s.length(1);
    let pole = w.insert_body(RigidBodyBuilder::dynamic().can_sleep(false));
    w.insert_collider(
        mass_shape(ColliderBuilder::capsule_from_endpoints(
            Vector::ZERO,
            Vector::new(0.0, 0.0, length),
            0.045,
        ))
        .mass(0.1 * s.mass(1)),
        Some(pole),
    );
    w.insert_multibody_joint(ground, cart, PrismaticJointBuilder::new(Vector::X));
    w.insert_multibody_joint(cart, pole, RevoluteJointBuilder::new(Vector::Y));
    let art = finish(
        w,
        &[("slider".into(), cart), ("hinge".into(), pole)],
        cfg,
        s,
    )?;
    Ok(Model {
        art,
        sites: vec![Site {
            body: pole,
            local: Vector::new(0.0, 0.0, length),
        }],
    })
}
