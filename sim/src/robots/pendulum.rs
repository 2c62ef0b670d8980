//! Pendulum after dm_control's `pendulum.xml`: a 0.5 m, 0.1 kg capsule with a
//! 1 kg ball at its end, hinged about y. Joint `hinge` (0 = upright).
//! With 1 N*m of torque against ~5 N*m of gravity it must pump to swing up.
//! Site 0: the ball's centre.

use rapier3d::prelude::*;

use super::{Model, Scales, Site, finish, mass_shape, new_world};
use crate::config::RobotConfig;
use crate::error::Result;

pub(crate) fn build(cfg: &RobotConfig, s: &Scales) -> Result<Model> {
    let mut w = new_world(cfg);
    let ground = w.insert_body(RigidBodyBuilder::fixed());
    let pole = w.insert_body(RigidBodyBuilder::dynamic().can_sleep(false));
    let length = 0.5 * s.length(0);
    let tip = Vector::new(0.0, 0.0, length);
    w.insert_collider(
        mass_shape(ColliderBuilder::capsule_from_endpoints(
            Vector::ZERO,
            tip,
            0.045,
        ))
        .mass(0.1 * s.mass(0)),
        Some(pole),
    );
    w.insert_collider(
        mass_shape(ColliderBuilder::ball(0.15))
            .translation(tip)
            .mass(1.0 * s.mass(1)),
        Some(pole),
    );
    w.insert_multibody_joint(ground, pole, RevoluteJointBuilder::new(Vector::Y));
    let art = finish(w, &[("hinge".into(), pole)], cfg, s)?;
    Ok(Model {
        art,
        sites: vec![Site {
            body: pole,
            local: tip,
        }],
    })
}
