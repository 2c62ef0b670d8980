//! Tasks: initial-state distributions, rewards, success and the observation
//! features of each robot's tasks.
//!
//! Rewards follow the DeepMind Control Suite where it defines them
//! (`cartpole`, `pendulum`, `reacher`), so that returns over 1000-step
//! episodes can be set beside published results.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rapier3d::prelude::Vector;

use crate::config::{RobotConfig, RobotKind};
use crate::error::{Result, SimError};
use crate::relabel::GoalReward;
use crate::rewards::{Sigmoid, tolerance, tolerance_default};
use crate::robots::Model;
use crate::scene::Marker;

/// Episode length of every built-in task, in control steps.
pub const EPISODE_STEPS: u32 = 1000;

/// A task's public description.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TaskInfo {
    /// The task's name.
    pub name: &'static str,
    /// What the robot must do and how it is rewarded.
    pub description: &'static str,
    /// When an episode counts as a success.
    pub success: &'static str,
}

/// The tasks of a robot.
pub fn tasks_of(robot: RobotKind) -> &'static [TaskInfo] {
    match robot {
        RobotKind::Cartpole => &[
            TaskInfo {
                name: "balance",
                description: "keep the pole upright, starting near upright; dm_control smooth reward upright x centered x small_control x small_velocity",
                success: "the pole stays within 12 deg of upright on every step",
            },
            TaskInfo {
                name: "swingup",
                description: "swing the pole up from hanging and balance it; dm_control smooth reward",
                success: "the pole is within 12 deg of upright on each of the final 100 steps (1 s)",
            },
        ],
        RobotKind::Pendulum => &[TaskInfo {
            name: "swingup",
            description: "pump a torque-limited pendulum up from a random angle and hold it; reward 1 within 8 deg of upright, else 0 (dm_control)",
            success: "within 8 deg of upright on each of the final 50 steps (1 s)",
        }],
        RobotKind::Reacher => &[
            TaskInfo {
                name: "easy",
                description: "put the fingertip on a random target of radius 0.05 m; reward 1 while touching it (dm_control)",
                success: "the fingertip touches the target on each of the final 50 steps (1 s)",
            },
            TaskInfo {
                name: "hard",
                description: "as easy, with a target of radius 0.015 m",
                success: "the fingertip touches the target on each of the final 50 steps (1 s)",
            },
        ],
        RobotKind::Arm => &[TaskInfo {
            name: "reach",
            description: "bring the end effector to a random 3D target; reward 1 within 0.05 m, Gaussian fall-off (0.1 at 0.25 m beyond)",
            success: "the end effector is within 0.05 m of the target on each of the final 50 steps (1 s)",
        }],
    }
}

/// How an episode's success is judged from the per-step goal condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SuccessRule {
    /// The goal condition holds on every step.
    Always,
    /// The goal condition holds on each of the last `n` steps.
    Final(u32),
}

/// A named observation channel the task adds to the sensor frame.
#[derive(Clone, Debug)]
pub(crate) struct Channel {
    pub name: &'static str,
    pub low: f32,
    pub high: f32,
    pub unit: &'static str,
}

/// The task-specific part of an environment.
pub(crate) trait TaskLogic: Send + Sync {
    /// Feature names of the policy observation (see [`crate::observation`]).
    fn features(&self) -> Vec<String>;
    /// Task channels of the sensor frame.
    fn channels(&self) -> Vec<Channel>;
    /// How success is judged.
    fn success_rule(&self) -> SuccessRule;
    /// Samples the initial joint positions and velocities (and the task's own
    /// state, such as a target).
    fn reset(&mut self, rng: &mut ChaCha8Rng, q: &mut [f32], qd: &mut [f32]);
    /// Writes the task channels.
    fn read_channels(&self, model: &Model, out: &mut Vec<f32>);
    /// Takes the task's own state (such as a target) from a measurement's
    /// task channels at the model's current pose; tasks without hidden
    /// state ignore it.
    fn sync_channels(&mut self, _model: &Model, _channels: &[f32]) {}
    /// Reward of the current state under `control` (each actuator's command
    /// divided by its limit), and whether the goal condition holds.
    fn evaluate(&self, model: &Model, q: &[f32], qd: &[f32], control: &[f32]) -> (f64, bool);
    /// For a goal-reaching task whose reward is a function of a
    /// robot-to-goal vector in its task channels alone: those channels and
    /// the rule ([`crate::relabel`]). `evaluate` must use that same rule.
    fn goal(&self) -> Option<(Vec<&'static str>, GoalReward)> {
        None
    }
    /// What the task shows beside the robot in a picture (a target).
    fn markers(&self, _model: &Model) -> Vec<Marker> {
        Vec::new()
    }
}

fn joint_index(cfg: &RobotConfig, name: &str) -> Result<usize> {
    cfg.joints
        .iter()
        .position(|j| j.name == name)
        .ok_or_else(|| SimError::Config {
            origin: format!("for robot `{}`", cfg.robot.name()),
            message: format!("joints: the task needs joint `{name}`"),
        })
}

fn randn(rng: &mut ChaCha8Rng) -> f32 {
    StandardNormal.sample(rng)
}

/// Builds a task's logic for a robot config.
pub(crate) fn make(cfg: &RobotConfig, task: &str) -> Result<Box<dyn TaskLogic>> {
    let unknown = || SimError::UnknownTask {
        robot: cfg.robot.name().to_string(),
        task: task.to_string(),
        available: tasks_of(cfg.robot)
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", "),
    };
    Ok(match (cfg.robot, task) {
        (RobotKind::Cartpole, "balance" | "swingup") => Box::new(Cartpole {
            slider: joint_index(cfg, "slider")?,
            hinge: joint_index(cfg, "hinge")?,
            swingup: task == "swingup",
        }),
        (RobotKind::Pendulum, "swingup") => Box::new(Pendulum {
            hinge: joint_index(cfg, "hinge")?,
        }),
        (RobotKind::Reacher, "easy" | "hard") => Box::new(Reacher {
            shoulder: joint_index(cfg, "shoulder")?,
            wrist: joint_index(cfg, "wrist")?,
            wrist_limits: cfg
                .joints
                .iter()
                .find(|j| j.name == "wrist")
                .and_then(|j| j.limits),
            target_radius: if task == "easy" { 0.05 } else { 0.015 },
            target: [0.0; 2],
        }),
        (RobotKind::Arm, "reach") => Box::new(ArmReach {
            joints: cfg.joints.iter().map(|j| j.name.clone()).collect(),
            limits: cfg.joints.iter().map(|j| j.limits).collect(),
            target: Vector::ZERO,
        }),
        _ => return Err(unknown()),
    })
}

/// dm_control cartpole: `balance` starts near upright, `swingup` hanging.
struct Cartpole {
    slider: usize,
    hinge: usize,
    swingup: bool,
}

/// 12 degrees, the classic cart-pole failure angle.
fn cos_12deg() -> f32 {
    12f32.to_radians().cos()
}

impl TaskLogic for Cartpole {
    fn features(&self) -> Vec<String> {
        [
            "slider.pos",
            "hinge.cos",
            "hinge.sin",
            "slider.vel",
            "hinge.vel",
        ]
        .map(String::from)
        .to_vec()
    }
    fn channels(&self) -> Vec<Channel> {
        Vec::new()
    }
    fn success_rule(&self) -> SuccessRule {
        if self.swingup {
            SuccessRule::Final(100)
        } else {
            SuccessRule::Always
        }
    }
    fn reset(&mut self, rng: &mut ChaCha8Rng, q: &mut [f32], qd: &mut [f32]) {
        if self.swingup {
            q[self.slider] = 0.01 * randn(rng);
            q[self.hinge] = std::f32::consts::PI + 0.01 * randn(rng);
        } else {
            q[self.slider] = rng.random_range(-0.1..0.1);
            q[self.hinge] = rng.random_range(-0.034..0.034);
        }
        for v in qd.iter_mut() {
            *v = 0.01 * randn(rng);
        }
    }
    fn read_channels(&self, _: &Model, _: &mut Vec<f32>) {}
    fn evaluate(&self, _: &Model, q: &[f32], qd: &[f32], control: &[f32]) -> (f64, bool) {
        let cos = q[self.hinge].cos();
        let upright = (cos as f64 + 1.0) / 2.0;
        let centered = (1.0 + tolerance_default(q[self.slider] as f64, (0.0, 0.0), 2.0)) / 2.0;
        let u = control.first().copied().unwrap_or(0.0) as f64;
        let small_control = (4.0 + tolerance(u, (0.0, 0.0), 1.0, Sigmoid::Quadratic, 0.0)) / 5.0;
        let small_velocity =
            (1.0 + tolerance_default(qd[self.hinge] as f64, (0.0, 0.0), 5.0)) / 2.0;
        (
            upright * small_control * small_velocity * centered,
            cos >= cos_12deg(),
        )
    }
}

/// dm_control pendulum swingup.
struct Pendulum {
    hinge: usize,
}

impl TaskLogic for Pendulum {
    fn features(&self) -> Vec<String> {
        ["hinge.cos", "hinge.sin", "hinge.vel"]
            .map(String::from)
            .to_vec()
    }
    fn channels(&self) -> Vec<Channel> {
        Vec::new()
    }
    fn success_rule(&self) -> SuccessRule {
        SuccessRule::Final(50)
    }
    fn reset(&mut self, rng: &mut ChaCha8Rng, q: &mut [f32], qd: &mut [f32]) {
        q[self.hinge] = rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
        qd.fill(0.0);
    }
    fn read_channels(&self, _: &Model, _: &mut Vec<f32>) {}
    fn evaluate(&self, _: &Model, q: &[f32], _: &[f32], _: &[f32]) -> (f64, bool) {
        let bound = 8f64.to_radians().cos();
        let r = tolerance_default(q[self.hinge].cos() as f64, (bound, 1.0), 0.0);
        (r, r >= 1.0)
    }
}

/// dm_control reacher: a random target in the plane.
struct Reacher {
    shoulder: usize,
    wrist: usize,
    wrist_limits: Option<[f32; 2]>,
    target_radius: f32,
    target: [f32; 2],
}

const FINGER_RADIUS: f32 = 0.01;

impl Reacher {
    /// The finger touches the target.
    fn goal_reward(&self) -> GoalReward {
        GoalReward {
            within: (self.target_radius + FINGER_RADIUS) as f64,
            margin: 0.0,
        }
    }

    fn to_target(&self, model: &Model) -> [f32; 2] {
        let f = model.site(0);
        [self.target[0] - f.x, self.target[1] - f.y]
    }
}

impl TaskLogic for Reacher {
    fn features(&self) -> Vec<String> {
        [
            "shoulder.cos",
            "shoulder.sin",
            "wrist.pos",
            "to_target_x",
            "to_target_y",
            "shoulder.vel",
            "wrist.vel",
        ]
        .map(String::from)
        .to_vec()
    }
    fn channels(&self) -> Vec<Channel> {
        vec![
            Channel {
                name: "to_target_x",
                low: -0.5,
                high: 0.5,
                unit: "m",
            },
            Channel {
                name: "to_target_y",
                low: -0.5,
                high: 0.5,
                unit: "m",
            },
        ]
    }
    fn success_rule(&self) -> SuccessRule {
        SuccessRule::Final(50)
    }
    fn reset(&mut self, rng: &mut ChaCha8Rng, q: &mut [f32], qd: &mut [f32]) {
        use std::f32::consts::PI;
        q[self.shoulder] = rng.random_range(-PI..PI);
        let [lo, hi] = self.wrist_limits.unwrap_or([-PI, PI]);
        q[self.wrist] = rng.random_range(lo..hi);
        qd.fill(0.0);
        let angle = rng.random_range(0.0..2.0 * PI);
        let radius = rng.random_range(0.05..0.20);
        self.target = [radius * angle.cos(), radius * angle.sin()];
    }
    fn read_channels(&self, model: &Model, out: &mut Vec<f32>) {
        out.extend(self.to_target(model));
    }
    fn sync_channels(&mut self, model: &Model, channels: &[f32]) {
        if let [dx, dy, ..] = *channels {
            let f = model.site(0);
            self.target = [f.x + dx, f.y + dy];
        }
    }
    fn evaluate(&self, model: &Model, _: &[f32], _: &[f32], _: &[f32]) -> (f64, bool) {
        let r = self.goal_reward().reward(&self.to_target(model));
        (r, r >= 1.0)
    }
    fn goal(&self) -> Option<(Vec<&'static str>, GoalReward)> {
        Some((vec!["to_target_x", "to_target_y"], self.goal_reward()))
    }
    fn markers(&self, _: &Model) -> Vec<Marker> {
        vec![Marker::target(
            [self.target[0], self.target[1], 0.0],
            self.target_radius,
        )]
    }
}

/// The arm reaches for a random point in a shell around its shoulder.
struct ArmReach {
    joints: Vec<String>,
    limits: Vec<Option<[f32; 2]>>,
    target: Vector,
}

const REACH_RADIUS: f64 = 0.05;
/// 1 within the reach radius, falling to 0.1 at 0.25 m beyond it.
const ARM_GOAL: GoalReward = GoalReward {
    within: REACH_RADIUS,
    margin: 0.25,
};

impl TaskLogic for ArmReach {
    fn features(&self) -> Vec<String> {
        let mut f: Vec<String> = self.joints.iter().map(|j| format!("{j}.pos")).collect();
        f.extend(self.joints.iter().map(|j| format!("{j}.vel")));
        f.extend(["to_target_x", "to_target_y", "to_target_z"].map(String::from));
        f
    }
    fn channels(&self) -> Vec<Channel> {
        ["to_target_x", "to_target_y", "to_target_z"]
            .into_iter()
            .map(|name| Channel {
                name,
                low: -2.0,
                high: 2.0,
                unit: "m",
            })
            .collect()
    }
    fn success_rule(&self) -> SuccessRule {
        SuccessRule::Final(50)
    }
    fn reset(&mut self, rng: &mut ChaCha8Rng, q: &mut [f32], qd: &mut [f32]) {
        for (i, v) in q.iter_mut().enumerate() {
            let x: f32 = rng.random_range(-0.2..0.2);
            *v = match self.limits.get(i).copied().flatten() {
                Some([lo, hi]) => x.clamp(lo, hi),
                None => x,
            };
        }
        qd.fill(0.0);
        let r: f32 = rng.random_range(0.25..0.6);
        let az: f32 = rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
        let el: f32 = rng.random_range(-0.3..1.0);
        let shoulder = Vector::new(0.0, 0.0, 0.2);
        let mut t = shoulder
            + Vector::new(
                r * el.cos() * az.cos(),
                r * el.cos() * az.sin(),
                r * el.sin(),
            );
        t.z = t.z.max(0.05);
        self.target = t;
    }
    fn read_channels(&self, model: &Model, out: &mut Vec<f32>) {
        let d = self.target - model.site(0);
        out.extend([d.x, d.y, d.z]);
    }
    fn sync_channels(&mut self, model: &Model, channels: &[f32]) {
        if let [dx, dy, dz, ..] = *channels {
            self.target = model.site(0) + Vector::new(dx, dy, dz);
        }
    }
    fn evaluate(&self, model: &Model, _: &[f32], _: &[f32], _: &[f32]) -> (f64, bool) {
        let v = self.target - model.site(0);
        let r = ARM_GOAL.reward(&[v.x, v.y, v.z]);
        (r, v.length() as f64 <= REACH_RADIUS)
    }
    fn goal(&self) -> Option<(Vec<&'static str>, GoalReward)> {
        Some((vec!["to_target_x", "to_target_y", "to_target_z"], ARM_GOAL))
    }
    fn markers(&self, _: &Model) -> Vec<Marker> {
        let t = self.target;
        vec![Marker::target([t.x, t.y, t.z], REACH_RADIUS as f32)]
    }
}
