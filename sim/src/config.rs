//! Robot configuration (TOML): timing, joints and their limits, actuation,
//! and the realism settings (sensor noise and delay, actuator saturation,
//! domain randomisation).
//!
//! Every built-in robot has a default, [`RobotConfig::builtin`], which the
//! files in `configs/robots/` reproduce; a file may change any value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::camera::{self, CameraConfig};
use crate::error::{Result, SimError};
pub use crate::kind::RobotKind;
use crate::spec::ActuationMode;

/// The longest `control_period` a robot config may have, in seconds.
pub const MAX_CONTROL_PERIOD_S: f64 = 10.0;

/// One joint of the robot, in the order sensor frames and actions use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointConfig {
    /// The joint's name in the robot model.
    pub name: String,
    /// Whether an actuator drives this joint (it then has an action entry).
    #[serde(default = "default_true")]
    pub actuated: bool,
    /// Largest effort the actuator can apply (N or N*m).
    #[serde(default)]
    pub effort_limit: f32,
    /// Largest commanded velocity in velocity mode, and the velocity bound of
    /// the observation spec (m/s or rad/s).
    pub velocity_limit: f32,
    /// Viscous joint damping (N*s/m or N*m*s/rad).
    #[serde(default)]
    pub damping: f32,
    /// Dry joint friction (N or N*m).
    #[serde(default)]
    pub friction: f32,
    /// Rotor inertia reflected to the joint (kg or kg*m^2).
    #[serde(default)]
    pub armature: f32,
    /// Gain of the simulated velocity servo (effort per unit velocity error);
    /// used in velocity mode only.
    #[serde(default)]
    pub velocity_gain: f32,
    /// Integral gain of the velocity servo (effort per unit of accumulated
    /// velocity error, i.e. per m or rad): holds a velocity against a load.
    #[serde(default)]
    pub velocity_integral_gain: f32,
    /// Position limits `[lower, upper]` (m or rad); absent for a continuous joint.
    #[serde(default)]
    pub limits: Option<[f32; 2]>,
}

fn default_true() -> bool {
    true
}

/// Uniform domain randomisation: each quantity is scaled, per episode and per
/// body or joint, by a factor drawn from `[1 - x, 1 + x]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Randomize {
    /// Relative spread of link masses.
    #[serde(default)]
    pub mass: f32,
    /// Relative spread of link lengths (built-in geometry; URDF robots keep theirs).
    #[serde(default)]
    pub length: f32,
    /// Relative spread of joint dry friction.
    #[serde(default)]
    pub friction: f32,
    /// Relative spread of joint damping.
    #[serde(default)]
    pub damping: f32,
}

impl Randomize {
    /// True when nothing is randomised.
    pub fn is_off(&self) -> bool {
        self.mass == 0.0 && self.length == 0.0 && self.friction == 0.0 && self.damping == 0.0
    }
}

/// The gap between a simulation and a real robot, all seeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Realism {
    /// Standard deviation of Gaussian noise on measured joint positions.
    #[serde(default)]
    pub position_noise_std: f32,
    /// Standard deviation of Gaussian noise on measured joint velocities.
    #[serde(default)]
    pub velocity_noise_std: f32,
    /// Sensor delay in control steps: an observation shows the state this
    /// many steps ago.
    #[serde(default)]
    pub sensor_delay: u32,
    /// Fraction of each `effort_limit` the actuators can actually deliver.
    #[serde(default = "one")]
    pub actuator_saturation: f32,
    /// Domain randomisation.
    #[serde(default)]
    pub randomize: Randomize,
}

fn one() -> f32 {
    1.0
}

impl Default for Realism {
    fn default() -> Self {
        Self {
            position_noise_std: 0.0,
            velocity_noise_std: 0.0,
            sensor_delay: 0,
            actuator_saturation: 1.0,
            randomize: Randomize::default(),
        }
    }
}

/// A robot's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotConfig {
    /// Which robot model to build.
    pub robot: RobotKind,
    /// Physics time step (s).
    pub physics_dt: f64,
    /// Control period (s): a whole multiple of `physics_dt`; each action is
    /// held for `control_period / physics_dt` physics steps.
    pub control_period: f64,
    /// How actions are interpreted.
    #[serde(default)]
    pub actuation: ActuationMode,
    /// URDF file of URDF-based robots, relative to the config file; absent
    /// means the URDF built into umwelt.
    #[serde(default)]
    pub urdf: Option<PathBuf>,
    /// Joints in the robot's declared order (the order of sensor frames and
    /// actions).
    pub joints: Vec<JointConfig>,
    /// Realism settings.
    #[serde(default)]
    pub realism: Realism,
    /// Cameras (`[[camera]]` entries, see [`crate::camera`]); none means the
    /// robot's default camera ([`crate::camera::default_camera`]).
    #[serde(default, rename = "camera", skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<CameraConfig>,
}

impl RobotConfig {
    /// Reads and validates a robot config from a TOML file. A relative
    /// `urdf` path is resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        let mut cfg: RobotConfig = toml::from_str(&text).map_err(|e| SimError::Config {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        if let Some(u) = &cfg.urdf
            && u.is_relative()
        {
            let base = path.parent().unwrap_or_else(|| Path::new("."));
            cfg.urdf = Some(base.join(u));
        }
        cfg.validate(&origin)?;
        Ok(cfg)
    }

    /// Parses and validates a config from TOML text (`origin` names it in errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let cfg: RobotConfig = toml::from_str(text).map_err(|e| SimError::Config {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Number of physics steps per control step.
    pub fn action_repeat(&self) -> u32 {
        (self.control_period / self.physics_dt).round() as u32
    }

    /// Names of the joints, in order.
    pub fn joint_names(&self) -> Vec<String> {
        self.joints.iter().map(|j| j.name.clone()).collect()
    }

    /// The actuated joints, in order.
    pub fn actuated(&self) -> impl Iterator<Item = &JointConfig> {
        self.joints.iter().filter(|j| j.actuated)
    }

    /// Indices (into [`Self::joints`]) of the actuated joints, in order: the
    /// joint each actuator drives.
    pub fn actuated_indices(&self) -> Vec<usize> {
        self.joints
            .iter()
            .enumerate()
            .filter(|(_, j)| j.actuated)
            .map(|(i, _)| i)
            .collect()
    }

    /// Checks every value that does not depend on the robot model; errors name the field.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |message: String| {
            Err(SimError::Config {
                origin: origin.to_string(),
                message,
            })
        };
        if !(self.physics_dt.is_finite() && self.physics_dt > 0.0 && self.physics_dt <= 0.05) {
            return bad(format!(
                "physics_dt = {}: must be in (0, 0.05] seconds",
                self.physics_dt
            ));
        }
        if !(self.control_period > 0.0 && self.control_period <= MAX_CONTROL_PERIOD_S) {
            return bad(format!(
                "control_period = {:?}: must be in (0, {MAX_CONTROL_PERIOD_S}] seconds",
                self.control_period
            ));
        }
        let ratio = self.control_period / self.physics_dt;
        if !(self.control_period.is_finite()
            && ratio >= 1.0 - 1e-9
            && (ratio - ratio.round()).abs() < 1e-6)
        {
            return bad(format!(
                "control_period = {}: must be a whole multiple (1, 2, ...) of physics_dt = {}",
                self.control_period, self.physics_dt
            ));
        }
        if self.joints.is_empty() {
            return bad("joints: a robot needs at least one joint".into());
        }
        for (i, j) in self.joints.iter().enumerate() {
            let field = |f: &str| format!("joints[{i}] (`{}`).{f}", j.name);
            if self.joints[..i].iter().any(|k| k.name == j.name) {
                return bad(format!(
                    "joints[{i}].name: joint `{}` is listed twice",
                    j.name
                ));
            }
            if j.actuated && !(j.effort_limit.is_finite() && j.effort_limit > 0.0) {
                return bad(format!(
                    "{} = {}: an actuated joint needs a finite effort limit > 0",
                    field("effort_limit"),
                    j.effort_limit
                ));
            }
            if !(j.velocity_limit.is_finite() && j.velocity_limit > 0.0) {
                return bad(format!(
                    "{} = {}: must be > 0",
                    field("velocity_limit"),
                    j.velocity_limit
                ));
            }
            for (name, v) in [
                ("damping", j.damping),
                ("friction", j.friction),
                ("armature", j.armature),
                ("velocity_gain", j.velocity_gain),
                ("velocity_integral_gain", j.velocity_integral_gain),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return bad(format!("{} = {v}: must be finite and >= 0", field(name)));
                }
            }
            if let Some([lo, hi]) = j.limits
                && !(lo.is_finite() && hi.is_finite() && lo < hi)
            {
                return bad(format!(
                    "{} = [{lo}, {hi}]: lower must be below upper, both finite",
                    field("limits")
                ));
            }
            if self.actuation == ActuationMode::Velocity && j.actuated && j.velocity_gain <= 0.0 {
                return bad(format!(
                    "{}: velocity actuation needs a velocity_gain > 0",
                    field("velocity_gain")
                ));
            }
        }
        if self.actuated().count() == 0 {
            return bad("joints: no joint is actuated".into());
        }
        let r = &self.realism;
        for (name, v) in [
            ("realism.position_noise_std", r.position_noise_std),
            ("realism.velocity_noise_std", r.velocity_noise_std),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v}: must be finite and >= 0"));
            }
        }
        if !(r.actuator_saturation > 0.0 && r.actuator_saturation <= 1.0) {
            return bad(format!(
                "realism.actuator_saturation = {}: must be in (0, 1]",
                r.actuator_saturation
            ));
        }
        if r.sensor_delay > 100 {
            return bad(format!(
                "realism.sensor_delay = {}: at most 100 control steps",
                r.sensor_delay
            ));
        }
        let d = &r.randomize;
        for (name, v) in [
            ("mass", d.mass),
            ("length", d.length),
            ("friction", d.friction),
            ("damping", d.damping),
        ] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return bad(format!("realism.randomize.{name} = {v}: must be in [0, 1)"));
            }
        }
        if let Err(message) = camera::validate_all(&self.cameras) {
            return bad(message);
        }
        if self.robot != RobotKind::Arm && self.urdf.is_some() {
            return bad(format!(
                "urdf: robot `{}` is built in code and takes no URDF",
                self.robot.name()
            ));
        }
        Ok(())
    }

    /// The default configuration of a built-in robot, with its default
    /// camera listed.
    pub fn builtin(kind: RobotKind) -> Self {
        let joint = |name: &str, effort: f32, vel: f32, damping: f32, limits: Option<[f32; 2]>| {
            JointConfig {
                name: name.to_string(),
                actuated: effort > 0.0,
                effort_limit: effort,
                velocity_limit: vel,
                damping,
                friction: 0.0,
                armature: 0.0,
                velocity_gain: 0.0,
                velocity_integral_gain: 0.0,
                limits,
            }
        };
        match kind {
            // dm_control cartpole.xml: slider range +-1.8, gear 10, damping 5e-4 / 2e-6; timestep 0.01.
            RobotKind::Cartpole => RobotConfig {
                robot: kind,
                physics_dt: 0.002,
                control_period: 0.01,
                actuation: ActuationMode::Torque,
                urdf: None,
                joints: vec![
                    joint("slider", 10.0, 10.0, 5e-4, Some([-1.8, 1.8])),
                    joint("hinge", 0.0, 50.0, 2e-6, None),
                ],
                realism: Realism::default(),
                cameras: vec![camera::default_camera(kind)],
            },
            // dm_control pendulum.xml: damping 0.1, torque +-1 N*m; timestep 0.02.
            RobotKind::Pendulum => RobotConfig {
                robot: kind,
                physics_dt: 0.002,
                control_period: 0.02,
                actuation: ActuationMode::Torque,
                urdf: None,
                joints: vec![joint("hinge", 1.0, 50.0, 0.1, None)],
                realism: Realism::default(),
                cameras: vec![camera::default_camera(kind)],
            },
            // dm_control suite/reacher.xml: `<option timestep="0.02">`; `<joint type="hinge"
            // axis="0 0 1" damping="0.01"/>`; `<motor gear=".05" ctrlrange="-1 1"/>` as the default
            // of both motors (shoulder and wrist: 0.05 N*m each); wrist `range="-160 160"`.
            RobotKind::Reacher => RobotConfig {
                robot: kind,
                physics_dt: 0.002,
                control_period: 0.02,
                actuation: ActuationMode::Torque,
                urdf: None,
                joints: vec![
                    joint("shoulder", 0.05, 50.0, 0.01, None),
                    joint(
                        "wrist",
                        0.05,
                        50.0,
                        0.01,
                        Some([-160f32.to_radians(), 160f32.to_radians()]),
                    ),
                ],
                realism: Realism::default(),
                cameras: vec![camera::default_camera(kind)],
            },
            RobotKind::Arm => {
                // Armature: reflected rotor inertia of geared joint motors; it
                // also keeps the explicit velocity servo stable on light links.
                let arm_joint = |name: &str, effort: f32, vel: f32, armature: f32| JointConfig {
                    velocity_gain: effort / 2.0,
                    velocity_integral_gain: 5.0 * effort,
                    armature,
                    ..joint(name, effort, vel, 0.5, None)
                };
                RobotConfig {
                    robot: kind,
                    physics_dt: 0.002,
                    control_period: 0.02,
                    actuation: ActuationMode::Torque,
                    urdf: None,
                    joints: vec![
                        arm_joint("shoulder_yaw", 40.0, 3.0, 0.05),
                        arm_joint("shoulder_pitch", 40.0, 3.0, 0.05),
                        arm_joint("elbow", 25.0, 3.0, 0.03),
                        arm_joint("wrist_roll", 6.0, 4.0, 0.01),
                        arm_joint("wrist_pitch", 6.0, 4.0, 0.01),
                        arm_joint("flange", 3.0, 4.0, 0.005),
                    ],
                    realism: Realism::default(),
                    cameras: vec![camera::default_camera(kind)],
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `configs/robots/arm_velocity.toml` repeats `arm.toml` (robot configs
    /// have no includes); only the actuation may differ.
    #[test]
    fn the_velocity_arm_config_is_the_arm_config_but_for_its_actuation() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/robots");
        let torque = RobotConfig::load(&dir.join("arm.toml")).expect("arm.toml");
        let mut velocity = RobotConfig::load(&dir.join("arm_velocity.toml")).expect("arm_velocity");
        assert_eq!(torque.actuation, ActuationMode::Torque);
        assert_eq!(velocity.actuation, ActuationMode::Velocity);
        velocity.actuation = ActuationMode::Torque;
        assert_eq!(velocity, torque);
    }

    /// dm_control's suite `reacher.xml` gives both motors its default
    /// `gear=".05"` (ctrlrange -1..1), every joint `damping="0.01"`, the
    /// wrist `range="-160 160"` and `timestep="0.02"` per control step.
    #[test]
    fn the_reacher_matches_dm_control() {
        let c = RobotConfig::builtin(RobotKind::Reacher);
        assert_eq!(c.control_period, 0.02);
        let names: Vec<&str> = c.joints.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["shoulder", "wrist"]);
        for j in &c.joints {
            assert_eq!(j.effort_limit, 0.05, "{}", j.name);
            assert_eq!(j.damping, 0.01, "{}", j.name);
            assert!(j.actuated, "{}", j.name);
        }
        assert_eq!(c.joints[0].limits, None);
        let [lo, hi] = c.joints[1].limits.expect("wrist limits");
        assert!((lo.to_degrees() + 160.0).abs() < 1e-4 && (hi.to_degrees() - 160.0).abs() < 1e-4);
    }

    #[test]
    fn builtins_are_valid() {
        for k in RobotKind::ALL {
            RobotConfig::builtin(k).validate("test").unwrap();
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut c = RobotConfig::builtin(RobotKind::Cartpole);
        c.control_period = 0.015;
        c.physics_dt = 0.01;
        let e = c.validate("x.toml").unwrap_err().to_string();
        assert!(e.contains("control_period") && e.contains("x.toml"), "{e}");

        let mut c = RobotConfig::builtin(RobotKind::Cartpole);
        c.joints[0].limits = Some([1.0, -1.0]);
        let e = c.validate("x.toml").unwrap_err().to_string();
        assert!(e.contains("joints[0] (`slider`).limits"), "{e}");

        let mut c = RobotConfig::builtin(RobotKind::Cartpole);
        c.joints[0].effort_limit = f32::NAN;
        let e = c.validate("x.toml").unwrap_err().to_string();
        assert!(e.contains("effort_limit"), "{e}");

        let mut c = RobotConfig::builtin(RobotKind::Pendulum);
        c.realism.randomize.mass = 1.5;
        let e = c.validate("x.toml").unwrap_err().to_string();
        assert!(e.contains("realism.randomize.mass"), "{e}");

        // A whole multiple of physics_dt, but longer than any Duration
        // the simulator's pacing could hold.
        for period in [1e300, f64::INFINITY, f64::NAN, -0.01] {
            let mut c = RobotConfig::builtin(RobotKind::Cartpole);
            c.control_period = period;
            let e = c.validate("x.toml").unwrap_err().to_string();
            assert!(e.contains(&format!("control_period = {period:?}")), "{e}");
        }
    }

    #[test]
    fn unknown_fields_and_robots_are_errors() {
        let e = RobotConfig::from_toml("robot = \"cartpole\"\nphysics_dt = 0.002\ncontrol_period = 0.01\nwheels = 4\njoints = []", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wheels"), "{e}");
        let e = RobotConfig::from_toml(
            "robot = \"tank\"\nphysics_dt = 0.002\ncontrol_period = 0.01\njoints = []",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("tank"), "{e}");
        let e = RobotKind::from_name("tank").unwrap_err().to_string();
        assert!(e.contains("cartpole, pendulum, reacher, arm"), "{e}");
    }
}
