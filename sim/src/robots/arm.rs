//! The 6-DoF arm, loaded from URDF through rapier3d-urdf.
//!
//! The URDF gives geometry, inertia, joint axes and position limits; effort
//! and velocity limits, damping and friction come from the robot config
//! (rapier3d-urdf ignores URDF `dynamics` and `limit effort/velocity`). The
//! URDF must have a link named `end_effector` fixed to the last link: it is
//! site 0.

use std::path::Path;

use rapier3d::prelude::*;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfMultibodyOptions, UrdfRobot};

use super::{Model, Scales, Site, finish};
use crate::config::RobotConfig;
use crate::error::{Result, SimError};

/// The URDF shipped with umwelt (`configs/robots/arm.urdf`).
pub(crate) const BUILTIN_URDF: &str = include_str!("../../../configs/robots/arm.urdf");

/// A parsed URDF, kept to build a fresh world at every reset.
#[derive(Clone)]
pub(crate) struct UrdfTemplate {
    robot: UrdfRobot,
    /// Names of the rapier joints, in `robot.joints` order.
    joint_names: Vec<String>,
    /// (index into `robot.links`, offset) of the end effector.
    end_effector: (usize, Vector),
}

impl UrdfTemplate {
    /// Parses the config's URDF file, or the built-in one.
    pub fn load(cfg: &RobotConfig) -> Result<Self> {
        match &cfg.urdf {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
                    path: path.clone(),
                    source,
                })?;
                let dir = path.parent().unwrap_or_else(|| Path::new("."));
                Self::parse(&text, &path.display().to_string(), dir)
            }
            None => Self::parse(BUILTIN_URDF, "built-in arm.urdf", Path::new(".")),
        }
    }

    fn parse(text: &str, origin: &str, mesh_dir: &Path) -> Result<Self> {
        let err = |message: String| SimError::Urdf {
            origin: origin.to_string(),
            message,
        };
        let options = UrdfLoaderOptions {
            make_roots_fixed: true,
            // Mass and inertia come from <inertial>; shapes carry none and touch nothing.
            collider_blueprint: ColliderBuilder::default()
                .density(0.0)
                .collision_groups(InteractionGroups::none())
                .solver_groups(InteractionGroups::none()),
            rigid_body_blueprint: RigidBodyBuilder::dynamic().can_sleep(false),
            squeeze_empty_fixed_links: false,
            ..Default::default()
        };
        let (robot, urdf) =
            UrdfRobot::from_str(text, options, mesh_dir).map_err(|e| err(format!("{e:#}")))?;
        let joint_names = robot
            .joints
            .iter()
            .map(|j| {
                urdf.joints
                    .get(j.source_urdf_joint_index())
                    .map(|u| u.name.clone())
                    .unwrap_or_default()
            })
            .collect();
        let ee_joint = urdf
            .joints
            .iter()
            .find(|j| j.child.link == "end_effector")
            .ok_or_else(|| err("no link named `end_effector` (fix one to the last link to mark the tool point)".into()))?;
        let parent = robot
            .links
            .iter()
            .position(|l| {
                urdf.links
                    .get(l.urdf_link_index)
                    .is_some_and(|u| u.name == ee_joint.parent.link)
            })
            .ok_or_else(|| {
                err(format!(
                    "end_effector's parent link `{}` not found",
                    ee_joint.parent.link
                ))
            })?;
        let o = ee_joint.origin.xyz;
        let offset = Vector::new(o[0] as f32, o[1] as f32, o[2] as f32);
        Ok(Self {
            robot,
            joint_names,
            end_effector: (parent, offset),
        })
    }
}

pub(crate) fn build(cfg: &RobotConfig, s: &Scales, t: &UrdfTemplate) -> Result<Model> {
    let mut robot = t.robot.clone();
    for (i, link) in robot.links.iter_mut().enumerate() {
        let k = s.mass(i);
        if k != 1.0
            && let Some(extra) = link
                .body
                .mass_properties()
                .additional_local_mprops
                .as_deref()
            && let rapier3d::dynamics::RigidBodyAdditionalMassProps::MassProps(mp) = extra
        {
            let mut mp = *mp;
            mp.inv_mass /= k;
            mp.inv_principal_inertia /= k;
            link.body.set_additional_mass_properties(mp, false);
        }
    }
    let mut w = super::new_world(cfg);
    let handles = robot.insert_using_multibody_joints(
        &mut w.bodies,
        &mut w.colliders,
        &mut w.multibody_joints,
        UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
    );
    let joints: Vec<(String, RigidBodyHandle)> = handles
        .joints
        .iter()
        .zip(&t.joint_names)
        .zip(&t.robot.joints)
        .filter(|((_, _), j)| j.joint.locked_axes.bits().count_ones() == 5)
        .map(|((h, name), _)| (name.clone(), h.link2))
        .collect();
    let ee_body = handles.links[t.end_effector.0].body;
    let art = finish(w, &joints, cfg, s)?;
    Ok(Model {
        art,
        sites: vec![Site {
            body: ee_body,
            local: t.end_effector.1,
        }],
    })
}
