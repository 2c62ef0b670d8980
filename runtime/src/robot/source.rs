//! Where a robot comes from: a built-in name (`cartpole`), a simulator
//! config file (`configs/robots/cartpole.toml`, with physics), or a
//! description file (no physics: a robot umwelt does not simulate).
//! Wherever a robot is named, any of the three is accepted.

use std::path::{Path, PathBuf};

use umwelt_sim::{Env, RobotConfig, RobotKind};

use super::builtin::describe;
use super::check::DescriptionError;
use super::description::RobotDescription;

/// A robot as the runtime knows it: its description, and, for robots umwelt
/// simulates, the simulator's config.
#[derive(Clone, Debug)]
pub struct LoadedRobot {
    /// What a controller needs to know.
    pub description: RobotDescription,
    /// The simulator config; `None` for a robot only a driver serves.
    pub sim: Option<RobotConfig>,
}

impl LoadedRobot {
    /// A simulated robot running `task`: its environment, or an error
    /// saying that only a driver serves this robot.
    pub fn env(&self) -> Result<Env, DescriptionError> {
        let Some(cfg) = &self.sim else {
            return Err(DescriptionError::Invalid {
                origin: self.description.robot.clone(),
                message: "this robot is described, not simulated: serve it with its driver and use --remote".into(),
            });
        };
        Env::from_config(cfg.clone(), &self.description.task.name).map_err(|e| {
            DescriptionError::Invalid {
                origin: self.description.robot.clone(),
                message: e.to_string(),
            }
        })
    }
}

/// Whether `robot` (a `--robot` value) names a file rather than a built-in.
pub fn is_file(robot: &str) -> bool {
    robot.ends_with(".toml") || robot.contains('/') || robot.contains('\\')
}

/// Loads the robot named `robot` (a built-in name, or a file as
/// [`is_file`] tells) with the file `config` overriding a built-in's
/// simulator config, for `task` (empty: a description's own task, or a
/// built-in robot's first).
pub fn load_robot(
    robot: &str,
    config: Option<&Path>,
    task: &str,
) -> Result<LoadedRobot, DescriptionError> {
    let file = match config {
        Some(p) => Some(p.to_path_buf()),
        None if is_file(robot) => Some(PathBuf::from(robot)),
        None => None,
    };
    let sim = match &file {
        None => {
            let kind = RobotKind::from_name(robot).map_err(|e| DescriptionError::Invalid {
                origin: "robot".into(),
                message: format!("{e}; or give a robot description file (umwelt robot describe)"),
            })?;
            RobotConfig::builtin(kind)
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Io {
                path: path.clone(),
                source,
            })?;
            if !is_simulator_config(&text) {
                let d = RobotDescription::parse(&text, &path.display().to_string())?;
                if !task.is_empty() && task != d.task.name {
                    return Err(DescriptionError::Invalid {
                        origin: path.display().to_string(),
                        message: format!(
                            "describes task `{}`, not `{task}` (a description has one task)",
                            d.task.name
                        ),
                    });
                }
                return Ok(LoadedRobot {
                    description: d,
                    sim: None,
                });
            }
            RobotConfig::load(path).map_err(|e| DescriptionError::Invalid {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?
        }
    };
    let task = match task {
        "" => umwelt_sim::tasks_of(sim.robot)
            .first()
            .map_or("", |t| t.name)
            .to_string(),
        t => t.to_string(),
    };
    let env = Env::from_config(sim.clone(), &task).map_err(|e| DescriptionError::Invalid {
        origin: sim.robot.name().into(),
        message: e.to_string(),
    })?;
    Ok(LoadedRobot {
        description: describe(&env),
        sim: Some(sim),
    })
}

/// A simulator config has physics (`physics_dt`); a description has none.
fn is_simulator_config(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("physics_dt"))
}
