//! What a [`crate::Driver`] is told about its robot and how to serve it,
//! and the checks every setting passes before anything is opened.

use std::time::Duration;

use umwelt_protocol::{
    CommandMode, MAX_CHANNELS, MAX_JOINTS, MAX_NAME_LEN, MAX_VALUES, RobotWireSpec, channels,
};

use crate::transport::Transport;

/// The default lockstep re-send timeout (as `umwelt sim --lockstep-timeout`).
pub const DEFAULT_LOCKSTEP_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest lockstep re-send timeout: shorter would flood the network
/// with re-sends while a controller thinks.
pub const MIN_LOCKSTEP_TIMEOUT: Duration = Duration::from_millis(10);
/// The task channels a driver adds after the robot's own when
/// [`DriverConfig::task_channels`] is set, in the order a frame carries them.
pub const TASK_CHANNELS: [&str; 3] = [channels::REWARD, channels::SUCCESS, channels::EPISODE];
/// The fastest control rate the driver accepts (Hz).
pub const MAX_RATE_HZ: f64 = 10_000.0;

/// How to serve a robot. [`DriverConfig::new`] fills the defaults; every
/// field is public so that a driver sets what it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverConfig {
    /// The robot's name: its messages travel on `umwelt/<robot>/...`.
    pub robot: String,
    /// This node's name, sent in every Status (default `"driver"`).
    pub node: String,
    /// Joints in every frame.
    pub joints: usize,
    /// Names of the robot's own channels, in [`crate::Measurement::channels`]
    /// order (default none).
    pub channels: Vec<String>,
    /// Also send the task channels `reward`, `success` and `episode`
    /// ([`umwelt_protocol::channels`]) after the robot's own (default off:
    /// hardware usually has no reward).
    pub task_channels: bool,
    /// The command mode the robot takes; commands in another mode are
    /// dropped.
    pub mode: CommandMode,
    /// What to apply when no fresh command is in force or an estop holds
    /// the robot (zero torque, zero velocity, ...): one value per actuator.
    pub safe_action: Vec<f32>,
    /// Control rate in Hz in real time (frames per second; default 50).
    pub rate_hz: f64,
    /// Step only when a command answers the newest frame (simulators only:
    /// a real robot's time does not wait).
    pub lockstep: bool,
    /// In lockstep, how long to wait for an answer before sending the frame
    /// again (same `seq`, new stamp; default 2 s).
    pub lockstep_timeout: Duration,
    /// Seed of the first episode; episode `i` uses `seed + i` unless a
    /// Reset names its own.
    pub seed: u64,
    /// Stop after this many finished episodes (default: never).
    pub episodes: Option<u32>,
    /// How to reach the other nodes (default: [`Transport::from_env`]).
    pub transport: Transport,
}

/// A setting the driver cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A name is empty, too long, or not one key-expression chunk.
    #[error("{what} `{name}`: {why}")]
    Name {
        /// Which name.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A count or number is out of range.
    #[error("{what} = {value}: {why}")]
    Range {
        /// Which setting.
        what: &'static str,
        /// Its value, printed.
        value: String,
        /// The range it must be in.
        why: String,
    },
}

impl DriverConfig {
    /// A robot called `robot` with `joints` joints, taking `mode` commands,
    /// whose safe action is `safe_action` (its length is the actuator
    /// count); everything else at its default.
    pub fn new(
        robot: impl Into<String>,
        joints: usize,
        mode: CommandMode,
        safe_action: Vec<f32>,
    ) -> Self {
        Self {
            robot: robot.into(),
            node: "driver".into(),
            joints,
            channels: Vec::new(),
            task_channels: false,
            mode,
            safe_action,
            rate_hz: 50.0,
            lockstep: false,
            lockstep_timeout: DEFAULT_LOCKSTEP_TIMEOUT,
            seed: 0,
            episodes: None,
            transport: Transport::from_env(),
        }
    }

    /// Checks every setting: names fit the protocol and make one key chunk,
    /// counts are within the protocol's limits, the safe action is finite,
    /// the rate is a positive number of Hz up to [`MAX_RATE_HZ`], the
    /// lockstep timeout at least [`MIN_LOCKSTEP_TIMEOUT`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name("robot", &self.robot, true)?;
        check_name("node", &self.node, false)?;
        let range = |what, value: String, why: String| ConfigError::Range { what, value, why };
        if self.joints > MAX_JOINTS {
            let why = format!("at most {MAX_JOINTS}");
            return Err(range("joints", self.joints.to_string(), why));
        }
        let extra = if self.task_channels { 3 } else { 0 };
        if self.channels.len() + extra > MAX_CHANNELS {
            let why = format!("at most {MAX_CHANNELS} with the task channels");
            return Err(range("channels", self.channels.len().to_string(), why));
        }
        for c in &self.channels {
            check_name("channel", c, false)?;
            if self.task_channels && TASK_CHANNELS.contains(&c.as_str()) {
                return Err(ConfigError::Name {
                    what: "channel",
                    name: c.clone(),
                    why: "is one of the task channels the driver adds",
                });
            }
        }
        let n = self.safe_action.len();
        if n == 0 || n > MAX_VALUES {
            let why = format!("one value per actuator, 1 to {MAX_VALUES}");
            return Err(range("safe_action length", n.to_string(), why));
        }
        if let Some(v) = self.safe_action.iter().find(|v| !v.is_finite()) {
            return Err(range("safe_action", v.to_string(), "must be finite".into()));
        }
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0 && self.rate_hz <= MAX_RATE_HZ) {
            let why = format!("a positive number of Hz up to {MAX_RATE_HZ}");
            return Err(range("rate_hz", self.rate_hz.to_string(), why));
        }
        if self.lockstep_timeout < MIN_LOCKSTEP_TIMEOUT {
            let why = format!("at least {MIN_LOCKSTEP_TIMEOUT:?}");
            return Err(range(
                "lockstep_timeout",
                format!("{:?}", self.lockstep_timeout),
                why,
            ));
        }
        Ok(())
    }

    /// What the robot's messages look like: the frames this driver sends
    /// and the commands it takes.
    pub fn wire_spec(&self) -> RobotWireSpec {
        let mut names = self.channels.clone();
        if self.task_channels {
            names.extend(TASK_CHANNELS.map(String::from));
        }
        RobotWireSpec {
            robot: self.robot.clone(),
            joints: self.joints,
            channels: names,
            actuators: self.safe_action.len(),
        }
    }

    /// The control period (valid once [`validate`](Self::validate) passed).
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate_hz)
    }
}

/// Checks a name: non-empty, at most [`MAX_NAME_LEN`] bytes, and, for a
/// key chunk, free of the characters zenoh gives meaning to.
fn check_name(what: &'static str, name: &str, key_chunk: bool) -> Result<(), ConfigError> {
    let bad = |why| ConfigError::Name {
        what,
        name: name.to_string(),
        why,
    };
    if name.is_empty() {
        return Err(bad("must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("longer than 255 bytes"));
    }
    if key_chunk && name.contains(['/', '*', '$', '?', '#', ' ']) {
        return Err(bad(
            "must be one key-expression chunk (no / * $ ? # or space)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> DriverConfig {
        let mut c = DriverConfig::new("pendulum", 1, CommandMode::Torque, vec![0.0]);
        c.transport = Transport::default();
        c
    }

    #[test]
    fn a_sound_config_passes_and_describes_its_wire_spec() {
        let mut c = good();
        c.channels = vec!["temp".into()];
        c.task_channels = true;
        assert_eq!(c.validate(), Ok(()));
        let spec = c.wire_spec();
        assert_eq!(spec.actuators, 1);
        assert_eq!(spec.channels, ["temp", "reward", "success", "episode"]);
        assert_eq!(c.period(), Duration::from_millis(20));
    }

    #[test]
    fn every_bad_setting_is_refused_with_its_name() {
        type Spoil = Box<dyn Fn(&mut DriverConfig)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("robot", Box::new(|c| c.robot = "a/b".into())),
            ("robot", Box::new(|c| c.robot = String::new())),
            ("node", Box::new(|c| c.node = "n".repeat(256))),
            ("joints", Box::new(|c| c.joints = MAX_JOINTS + 1)),
            ("safe_action", Box::new(|c| c.safe_action = vec![f32::NAN])),
            ("safe_action length", Box::new(|c| c.safe_action.clear())),
            ("rate_hz", Box::new(|c| c.rate_hz = f64::INFINITY)),
            ("rate_hz", Box::new(|c| c.rate_hz = 0.0)),
            ("rate_hz", Box::new(|c| c.rate_hz = MAX_RATE_HZ * 2.0)),
            (
                "lockstep_timeout",
                Box::new(|c| c.lockstep_timeout = Duration::ZERO),
            ),
            (
                "channel",
                Box::new(|c| {
                    c.task_channels = true;
                    c.channels = vec!["reward".into()];
                }),
            ),
        ];
        for (what, spoil) in cases {
            let mut c = good();
            spoil(&mut c);
            let err = c.validate().expect_err(what).to_string();
            assert!(err.starts_with(what), "{what}: {err}");
        }
    }
}
