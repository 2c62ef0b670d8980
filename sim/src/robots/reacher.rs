//! Reacher after dm_control's `reacher.xml`: a planar two-link arm in the xy
//! plane (joints about z, so gravity does no work), links of 0.12 m and
//! 0.1 m (+ a fingertip at 0.12 m), capsules of radius 0.01 at water density.
//! Joints `shoulder` (continuous) and `wrist` (+-160 deg). Site 0: the finger.

use rapier3d::prelude::*;

use super::{Model, Scales, Site, finish, mass_shape, new_world};
use crate::config::RobotConfig;
use crate::error::Result;

const DENSITY: f32 = 1000.0;

pub(crate) fn build(cfg: &RobotConfig, s: &Scales) -> Result<Model> {
    let mut w = new_world(cfg);
    let ground = w.insert_body(RigidBodyBuilder::fixed());
    let upper = 0.12 * s.length(0);
    let lower = 0.12 * s.length(1);
    let arm = w.insert_body(RigidBodyBuilder::dynamic().can_sleep(false));
    w.insert_collider(
        mass_shape(ColliderBuilder::capsule_from_endpoints(
            Vector::ZERO,
            Vector::new(upper, 0.0, 0.0),
            0.01,
        ))
        .density(DENSITY * s.mass(0)),
        Some(arm),
    );
    let hand = w.insert_body(RigidBodyBuilder::dynamic().can_sleep(false));
    w.insert_collider(
        mass_shape(ColliderBuilder::capsule_from_endpoints(
            Vector::ZERO,
            Vector::new(lower - 0.02, 0.0, 0.0),
            0.01,
        ))
        .density(DENSITY * s.mass(1)),
        Some(hand),
    );
    let finger = Vector::new(lower, 0.0, 0.0);
    w.insert_collider(
        mass_shape(ColliderBuilder::ball(0.01))
            .translation(finger)
            .density(DENSITY * s.mass(1)),
        Some(hand),
    );
    w.insert_multibody_joint(ground, arm, RevoluteJointBuilder::new(Vector::Z));
    w.insert_multibody_joint(
        arm,
        hand,
        RevoluteJointBuilder::new(Vector::Z).local_anchor1(Vector::new(upper, 0.0, 0.0)),
    );
    let art = finish(
        w,
        &[("shoulder".into(), arm), ("wrist".into(), hand)],
        cfg,
        s,
    )?;
    Ok(Model {
        art,
        sites: vec![Site {
            body: hand,
            local: finger,
        }],
    })
}
