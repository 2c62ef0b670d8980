//! The built-in robots, by kind and name (its own module so that cameras,
//! the renderer and configs can all name a robot without importing each other).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};

/// The built-in robots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RobotKind {
    /// A cart on a rail, driven by a force, with a hinged pole.
    Cartpole,
    /// A torque-limited pendulum.
    Pendulum,
    /// A planar two-link arm driven by joint torques.
    Reacher,
    /// A 6-DoF serial arm loaded from URDF.
    Arm,
}

impl RobotKind {
    /// Every robot, in display order.
    pub const ALL: [RobotKind; 4] = [
        RobotKind::Cartpole,
        RobotKind::Pendulum,
        RobotKind::Reacher,
        RobotKind::Arm,
    ];

    /// The robot's name.
    pub fn name(self) -> &'static str {
        match self {
            RobotKind::Cartpole => "cartpole",
            RobotKind::Pendulum => "pendulum",
            RobotKind::Reacher => "reacher",
            RobotKind::Arm => "arm",
        }
    }

    /// Looks a robot up by name.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| SimError::UnknownRobot {
                name: name.to_string(),
                available: Self::ALL.map(|k| k.name()).join(", "),
            })
    }
}
