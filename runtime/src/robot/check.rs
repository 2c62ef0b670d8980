//! Reading and checking a robot description: every name, number and
//! reference is checked before anything uses the description, and an error
//! names the field and its value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::description::{DESCRIPTION_FORMAT, RobotDescription, TaskDescription};
use super::ros2_settings::Transport;
use crate::wire::{CommandMode, MAX_CHANNELS, MAX_JOINTS, MAX_NAME_LEN, MAX_VALUES};

/// The longest control period a description may have, in seconds.
pub const MAX_CONTROL_PERIOD_S: f64 = 10.0;
/// The most control steps an episode may have.
pub const MAX_EPISODE_STEPS: u32 = 10_000_000;

/// Why a description cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a description, or a value is wrong.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or what the description came from.
        origin: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl RobotDescription {
    /// Reads and checks a description file.
    pub fn load(path: &Path) -> Result<Self, DescriptionError> {
        let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a description; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DescriptionError> {
        let d: RobotDescription = toml::from_str(text).map_err(|e| DescriptionError::Invalid {
            origin: origin.to_string(),
            message: one_line(&e.to_string()),
        })?;
        d.check(origin)?;
        Ok(d)
    }

    /// The description as TOML, with a header comment saying what it is.
    pub fn to_toml(&self) -> Result<String, DescriptionError> {
        let body = toml::to_string_pretty(self).map_err(|e| DescriptionError::Invalid {
            origin: self.robot.clone(),
            message: e.to_string(),
        })?;
        Ok(format!(
            "# umwelt robot description: what a controller needs to know about `{}`,\n\
             # and nothing of physics (`umwelt robot check FILE` validates it).\n\n{body}",
            self.robot
        ))
    }

    /// Checks every field; the error names the first problem.
    pub fn check(&self, origin: &str) -> Result<(), DescriptionError> {
        self.problems()
            .map_err(|message| DescriptionError::Invalid {
                origin: origin.to_string(),
                message,
            })
    }

    fn problems(&self) -> Result<(), String> {
        if self.description_format != DESCRIPTION_FORMAT {
            return Err(format!(
                "description_format = {}: this build reads format {DESCRIPTION_FORMAT}",
                self.description_format
            ));
        }
        name("robot", &self.robot)?;
        if !(self.control_period.is_finite()
            && self.control_period > 0.0
            && self.control_period <= MAX_CONTROL_PERIOD_S)
        {
            return Err(format!(
                "control_period = {:?}: must be seconds in (0, {MAX_CONTROL_PERIOD_S}]",
                self.control_period
            ));
        }
        if self.joints.is_empty() || self.joints.len() > MAX_JOINTS {
            return Err(format!(
                "joints: {} given; a robot has 1 to {MAX_JOINTS}",
                self.joints.len()
            ));
        }
        let mut seen = HashSet::new();
        for (i, j) in self.joints.iter().enumerate() {
            let at = format!("joints[{i}] (`{}`)", j.name);
            name(&format!("joints[{i}].name"), &j.name)?;
            if !seen.insert(j.name.as_str()) {
                return Err(format!("{at}: a second joint of that name"));
            }
            if let Some([lo, hi]) = j.position_limits
                && !(lo.is_finite() && hi.is_finite() && lo < hi)
            {
                return Err(format!(
                    "{at}.position_limits = [{lo}, {hi}]: finite, lower below upper"
                ));
            }
            for (field, v) in [
                ("velocity_limit", j.velocity_limit),
                ("effort_limit", j.effort_limit),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v > 0.0)
                {
                    return Err(format!("{at}.{field} = {v}: must be finite and positive"));
                }
            }
        }
        if self.channels.len() > MAX_CHANNELS {
            return Err(format!(
                "channels: {} given; at most {MAX_CHANNELS}",
                self.channels.len()
            ));
        }
        let mut seen_ch = HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            name(&format!("channels[{i}].name"), &c.name)?;
            if c.name.contains('.') {
                return Err(format!(
                    "channels[{i}].name = {:?}: a channel name has no `.` (that is the JOINT.pos syntax of features)",
                    c.name
                ));
            }
            if !seen_ch.insert(c.name.as_str()) {
                return Err(format!(
                    "channels[{i}] (`{}`): a second channel of that name",
                    c.name
                ));
            }
            if c.low.is_nan() || c.high.is_nan() || c.low > c.high {
                return Err(format!(
                    "channels[{i}] (`{}`): low = {}, high = {}: low must not exceed high",
                    c.name, c.low, c.high
                ));
            }
        }
        super::camera::problems(&self.cameras)?;
        self.check_actuation()?;
        self.check_transport()?;
        let map = self.observation_map().map_err(|e| e.to_string())?;
        if map.is_empty() {
            return Err("observation: no features; list at least one".into());
        }
        self.check_task(&self.task)
    }

    fn check_actuation(&self) -> Result<(), String> {
        let a = &self.actuation;
        if a.joints.is_empty() || a.joints.len() > MAX_VALUES {
            return Err(format!(
                "actuation.joints: {} given; 1 to {MAX_VALUES} actuated joints",
                a.joints.len()
            ));
        }
        let mut seen = HashSet::new();
        for (i, name) in a.joints.iter().enumerate() {
            if !self.joints.iter().any(|j| &j.name == name) {
                return Err(format!(
                    "actuation.joints[{i}] = {name:?}: no such joint; joints: {}",
                    self.joint_names().join(", ")
                ));
            }
            if !seen.insert(name) {
                return Err(format!("actuation.joints[{i}] = {name:?}: listed twice"));
            }
        }
        let limit = match a.mode {
            CommandMode::Torque => "effort_limit",
            CommandMode::Velocity => "velocity_limit",
            CommandMode::Position => "position_limits",
        };
        for (e, name) in self.action_spec().iter().zip(&a.joints) {
            if !(e.low.is_finite() && e.high.is_finite()) {
                return Err(format!(
                    "actuation: joint `{name}` is driven in {:?} mode, so it needs a finite {limit}",
                    a.mode
                ));
            }
        }
        match &a.safe_action {
            None if a.mode == CommandMode::Position => Err(
                "actuation.safe_action: a position-controlled robot must say which position is safe"
                    .into(),
            ),
            None => Ok(()),
            Some(s) if s.len() != a.joints.len() => Err(format!(
                "actuation.safe_action: {} values for {} actuated joints",
                s.len(),
                a.joints.len()
            )),
            Some(s) => {
                for ((v, e), name) in s.iter().zip(self.action_spec()).zip(&a.joints) {
                    if !(v.is_finite() && *v >= e.low && *v <= e.high) {
                        return Err(format!(
                            "actuation.safe_action for `{name}` = {v}: outside the command range [{}, {}]",
                            e.low, e.high
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// A `[ros2]` table needs `transport = "ros2"`; a ROS 2 robot's
    /// JointState carries joints only, so it has no channels (reward and
    /// success come from terms over joint features).
    fn check_transport(&self) -> Result<(), String> {
        if self.transport != Transport::Ros2 {
            return match self.ros2 {
                Some(_) => Err(
                    "[ros2] is given but transport is not \"ros2\" (add transport = \"ros2\")"
                        .into(),
                ),
                None => Ok(()),
            };
        }
        if let Some(c) = self.channels.first() {
            return Err(format!(
                "channels[0] (`{}`): a ROS 2 robot's JointState carries no channels; \
                 use reward terms and success.reward_at_least instead",
                c.name
            ));
        }
        if let Some(c) = self.cameras.first() {
            return Err(format!(
                "camera[0] (`{}`): umwelt reads a ROS 2 robot's JointState only, no images",
                c.name
            ));
        }
        self.ros2
            .clone()
            .unwrap_or_default()
            .problems(self.actuation.mode)
    }

    fn check_task(&self, t: &TaskDescription) -> Result<(), String> {
        name("task.name", &t.name)?;
        if t.episode_steps == 0 || t.episode_steps > MAX_EPISODE_STEPS {
            return Err(format!(
                "task.episode_steps = {}: must be in [1, {MAX_EPISODE_STEPS}]",
                t.episode_steps
            ));
        }
        let channel = |field: &str, c: &str| -> Result<(), String> {
            if self.channels.iter().any(|x| x.name == c) {
                Ok(())
            } else {
                Err(format!(
                    "{field} = {c:?}: not a channel of this robot; declare it under [[channels]]"
                ))
            }
        };
        match (&t.reward.channel, t.reward.terms.is_empty()) {
            (Some(c), true) => channel("task.reward.channel", c)?,
            (None, false) => {}
            (Some(_), false) => {
                return Err("task.reward: give a channel or terms, not both".into());
            }
            (None, true) => {
                return Err("task.reward: give a channel (the driver's reward) or terms".into());
            }
        }
        for (i, term) in t.reward.terms.iter().enumerate() {
            let at = format!("task.reward.terms[{i}]");
            if term.features.is_empty() {
                return Err(format!("{at}.features: list at least one"));
            }
            umwelt_sim::ObservationMap::new(
                &term.features,
                &self.joint_names(),
                &self.channel_names(),
            )
            .map_err(|e| format!("{at}: {e}"))?;
            let [lo, hi] = term.bounds;
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!(
                    "{at}.bounds = [{lo}, {hi}]: finite, lower not above upper"
                ));
            }
            if !(term.margin.is_finite() && term.margin >= 0.0) {
                return Err(format!(
                    "{at}.margin = {}: finite and not negative",
                    term.margin
                ));
            }
            if !(term.value_at_margin > 0.0 && term.value_at_margin < 1.0) {
                return Err(format!(
                    "{at}.value_at_margin = {}: must be in (0, 1)",
                    term.value_at_margin
                ));
            }
        }
        let s = &t.success;
        match (&s.channel, s.reward_at_least) {
            (Some(c), None) => channel("task.success.channel", c)?,
            (None, Some(r)) if r.is_finite() => {}
            (None, Some(r)) => {
                return Err(format!("task.success.reward_at_least = {r}: not finite"));
            }
            (Some(_), Some(_)) => {
                return Err("task.success: give a channel or reward_at_least, not both".into());
            }
            (None, None) => {
                return Err("task.success: give a channel or reward_at_least".into());
            }
        }
        if s.final_steps == 0 || s.final_steps > t.episode_steps {
            return Err(format!(
                "task.success.final_steps = {}: must be in [1, episode_steps = {}]",
                s.final_steps, t.episode_steps
            ));
        }
        Ok(())
    }
}

/// A name must be non-empty and fit the protocol's name field.
fn name(field: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(format!(
            "{field} = {s:?}: must be 1 to {MAX_NAME_LEN} bytes"
        ));
    }
    Ok(())
}

/// toml's messages span lines (a source excerpt); errors here are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
