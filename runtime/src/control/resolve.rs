//! Resolving a run config against its robot: reading the file, checking
//! every number and name, and deriving what the loop needs (environment,
//! observation map, period, limits, slew).

use std::path::Path;

use umwelt_sim::{Env, RobotConfig, RobotKind};

use super::config::{ConfigError, ControllerConfig, RunConfig};
use super::ranges::check_ranges;

/// A config resolved against its robot: everything the loop needs.
pub struct Resolved {
    /// The config as written (paths resolved).
    pub config: RunConfig,
    /// The robot's config.
    pub robot: RobotConfig,
    /// An environment of the robot and task: its specs and observation map.
    pub env: Env,
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
        if let Some(rc) = &cfg.robot_config
            && rc.is_relative()
        {
            cfg.robot_config = Some(path.parent().unwrap_or_else(|| Path::new(".")).join(rc));
        }
        if let ControllerConfig::Mpc(m) = &mut cfg.controller
            && let Some(ck) = &m.checkpoint
            && ck.is_relative()
        {
            m.checkpoint = Some(path.parent().unwrap_or_else(|| Path::new(".")).join(ck));
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
        let robot = match &self.robot_config {
            Some(p) => RobotConfig::load(p).map_err(|e| bad(format!("robot_config: {e}")))?,
            None => RobotConfig::builtin(
                RobotKind::from_name(&self.robot).map_err(|e| bad(format!("robot: {e}")))?,
            ),
        };
        if robot.robot.name() != self.robot {
            return Err(bad(format!(
                "robot = {:?}, but robot_config describes `{}`",
                self.robot,
                robot.robot.name()
            )));
        }
        let env =
            Env::from_config(robot.clone(), &self.task).map_err(|e| bad(format!("task: {e}")))?;
        let features: Vec<String> = match &self.observation {
            Some(f) => f.clone(),
            None => env
                .observation_map()
                .features()
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        };
        let observation =
            umwelt_sim::ObservationMap::new(&features, env.joint_names(), env.channel_names())
                .map_err(|e| bad(format!("observation: {e}")))?;
        let period = match self.rate_hz {
            None => robot.control_period,
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
        let n = env.action_spec().len();
        let limits: Vec<[f32; 2]> = match &self.safety.limits {
            None => env
                .action_spec()
                .entries
                .iter()
                .map(|e| [e.low, e.high])
                .collect(),
            Some(l) if l.len() == n => l.clone(),
            Some(l) => {
                return Err(bad(format!(
                    "safety.limits: {} pairs for {n} actuators",
                    l.len()
                )));
            }
        };
        for (i, ([lo, hi], spec)) in limits.iter().zip(&env.action_spec().entries).enumerate() {
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
            && self.robot != "cartpole"
        {
            return Err(bad(format!(
                "controller.kind = \"cartpole_swingup\" needs robot \"cartpole\", not {:?}",
                self.robot
            )));
        }
        Ok(Resolved {
            config: self,
            robot,
            env,
            observation,
            period,
            limits,
            slew,
        })
    }
}
