//! Resolving a run config against its robot: reading the file, checking
//! every number and name, and deriving what the loop needs (the robot's
//! description, observation map, period, limits, slew).

use std::path::Path;

use umwelt_sim::RobotConfig;

use crate::plan::Objective;
use crate::robot::{RobotDescription, is_file, load_robot};

use super::config::{ConfigError, ControllerConfig, RunConfig};
use super::ranges::check_ranges;

/// A config resolved against its robot: everything the loop needs.
pub struct Resolved {
    /// The config as written (paths resolved).
    pub config: RunConfig,
    /// What the controller knows of the robot: joints, channels, actuation,
    /// task.
    pub description: RobotDescription,
    /// The simulator config, for a robot umwelt simulates (in-process
    /// episodes, the oracle); `None` for a robot only a driver serves.
    pub sim: Option<RobotConfig>,
    /// The robot's name on the wire.
    pub wire_name: String,
    /// Observation map from frames to vectors.
    pub observation: umwelt_sim::ObservationMap,
    /// Control period in seconds.
    pub period: f64,
    /// Action limits per actuator.
    pub limits: Vec<[f32; 2]>,
    /// Slew limit per actuator (units/s), if any.
    pub slew: Option<Vec<f32>>,
}

impl RunConfig {
    /// Reads a config file and resolves it.
    pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        let mut cfg: RunConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        if let Some(rc) = &cfg.robot_config
            && rc.is_relative()
        {
            cfg.robot_config = Some(base.join(rc));
        }
        if is_file(&cfg.robot) && Path::new(&cfg.robot).is_relative() {
            cfg.robot = base.join(&cfg.robot).display().to_string();
        }
        if let ControllerConfig::Mpc(m) = &mut cfg.controller {
            if let Some(ck) = &m.checkpoint
                && ck.is_relative()
            {
                m.checkpoint = Some(base.join(ck));
            }
            if let Objective::GoalImage { image, .. } = &mut m.objective
                && image.is_relative()
            {
                *image = base.join(&*image);
            }
        }
        cfg.resolve(&origin)
    }

    /// Checks the config, and the config against its robot; errors name
    /// the field and its value. Every number is checked here (see
    /// [`super::ranges`]), before anything starts.
    pub fn resolve(self, origin: &str) -> Result<Resolved, ConfigError> {
        let bad = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        check_ranges(&self).map_err(bad)?;
        let loaded =
            load_robot(&self.robot, self.robot_config.as_deref(), &self.task).map_err(|e| {
                let field = if self.robot_config.is_some() {
                    "robot_config"
                } else {
                    "robot"
                };
                bad(format!("{field}: {e}"))
            })?;
        let d = &loaded.description;
        if !is_file(&self.robot) && d.robot != self.robot {
            return Err(bad(format!(
                "robot = {:?}, but robot_config describes `{}`",
                self.robot, d.robot
            )));
        }
        let wire_name = self.name.clone().unwrap_or_else(|| d.robot.clone());
        if wire_name.is_empty()
            || wire_name.len() > crate::wire::MAX_NAME_LEN
            || wire_name.contains(['/', '*', '$', '#', '?'])
        {
            return Err(bad(format!(
                "name = {wire_name:?}: a robot's wire name is 1 to {} bytes without / * $ # ?",
                crate::wire::MAX_NAME_LEN
            )));
        }
        let features: Vec<String> = match &self.observation {
            Some(f) => f.clone(),
            None => d.observation.clone(),
        };
        let observation =
            umwelt_sim::ObservationMap::new(&features, &d.joint_names(), &d.channel_names())
                .map_err(|e| bad(format!("observation: {e}")))?;
        let period = match self.rate_hz {
            None => d.control_period,
            Some(hz) if (0.1..=10_000.0).contains(&hz) => 1.0 / hz,
            Some(hz) => return Err(bad(format!("rate_hz = {hz:?}: must be in [0.1, 10000]"))),
        };
        // Drivers refuse deadlines further ahead than the protocol allows.
        let deadline_s = period * self.safety.deadline_periods;
        let max_s = crate::wire::fresh::MAX_DEADLINE_AHEAD_NS as f64 / 1e9;
        if deadline_s > max_s {
            return Err(bad(format!(
                "safety.deadline_periods = {:?}: commands would expire {deadline_s:.3} s after sending, \
                 past the protocol's {max_s} s limit (drivers would refuse every one)",
                self.safety.deadline_periods
            )));
        }
        let action = d.action_spec();
        let n = action.len();
        let limits: Vec<[f32; 2]> = match &self.safety.limits {
            None => action.iter().map(|e| [e.low, e.high]).collect(),
            Some(l) if l.len() == n => l.clone(),
            Some(l) => {
                return Err(bad(format!(
                    "safety.limits: {} pairs for {n} actuators",
                    l.len()
                )));
            }
        };
        for (i, ([lo, hi], spec)) in limits.iter().zip(&action).enumerate() {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(bad(format!(
                    "safety.limits[{i}] (`{}`) = [{lo}, {hi}]: lower must be below upper",
                    spec.name
                )));
            }
            if *lo < spec.low || *hi > spec.high {
                return Err(bad(format!(
                    "safety.limits[{i}] (`{}`) = [{lo}, {hi}]: outside the actuator's range [{}, {}]",
                    spec.name, spec.low, spec.high
                )));
            }
        }
        let slew = match &self.safety.slew_rate {
            None => None,
            Some(v) if v.len() == 1 => Some(vec![v[0]; n]),
            Some(v) if v.len() == n => Some(v.clone()),
            Some(v) => {
                return Err(bad(format!(
                    "safety.slew_rate: {} values for {n} actuators (give 1 or {n})",
                    v.len()
                )));
            }
        };
        if let Some(s) = &slew
            && let Some(bad_rate) = s.iter().find(|r| !(r.is_finite() && **r > 0.0))
        {
            return Err(bad(format!(
                "safety.slew_rate: {bad_rate:?} is not a positive rate"
            )));
        }
        if let ControllerConfig::CartpoleSwingup(_) = &self.controller
            && d.robot != "cartpole"
        {
            return Err(bad(format!(
                "controller.kind = \"cartpole_swingup\" needs robot \"cartpole\", not {:?}",
                self.robot
            )));
        }
        let (description, sim) = (loaded.description, loaded.sim);
        Ok(Resolved {
            config: self,
            description,
            sim,
            wire_name,
            observation,
            period,
            limits,
            slew,
        })
    }
}
