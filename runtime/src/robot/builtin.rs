//! The description of a simulated robot and task, as `umwelt sim` serves
//! it: the robot's joints and task channels, then the three channels the
//! simulator adds to every frame (`reward`, `success`, `episode`), with the
//! task's reward and success read from those channels.

use umwelt_sim::{ActuationMode, Env};

use super::camera::CameraDescription;
use super::description::{
    Actuation, ChannelDescription, DESCRIPTION_FORMAT, JointDescription, JointType, RewardRule,
    RobotDescription, SuccessRule, TaskDescription,
};
use crate::wire::channels::{EPISODE, REWARD, SUCCESS};
use crate::wire::{CommandMode, ImageEncoding};

/// The description of `env`'s robot and task. Its observation and action
/// specs equal the simulator's, so datasets and checkpoints made either way
/// agree.
pub fn describe(env: &Env) -> RobotDescription {
    let cfg = env.config();
    let joints = cfg
        .joints
        .iter()
        .zip(env.joint_kinds())
        .map(|(j, k)| JointDescription {
            name: j.name.clone(),
            joint_type: match k {
                umwelt_sim::JointKind::Revolute => JointType::Revolute,
                umwelt_sim::JointKind::Prismatic => JointType::Prismatic,
            },
            position_limits: j.limits,
            // An unactuated joint has no effort limit (0 in the simulator).
            velocity_limit: (j.velocity_limit > 0.0).then_some(j.velocity_limit),
            effort_limit: (j.effort_limit > 0.0).then_some(j.effort_limit),
        })
        .collect();
    // A task channel's bounds are those of the feature that reads it.
    let obs = env.observation_spec();
    let mut channels: Vec<ChannelDescription> = env
        .channel_names()
        .iter()
        .map(|name| {
            let e = obs.entries.iter().find(|e| &e.name == name);
            ChannelDescription {
                name: name.clone(),
                low: e.map_or(f32::NEG_INFINITY, |e| e.low),
                high: e.map_or(f32::INFINITY, |e| e.high),
                unit: e.map_or_else(|| "1".to_string(), |e| e.unit.clone()),
            }
        })
        .collect();
    for (name, high) in [(REWARD, 1.0), (SUCCESS, 1.0), (EPISODE, u32::MAX as f32)] {
        channels.push(ChannelDescription {
            name: name.to_string(),
            low: 0.0,
            high,
            unit: "1".into(),
        });
    }
    RobotDescription {
        description_format: DESCRIPTION_FORMAT,
        robot: env.robot_name().to_string(),
        control_period: env.control_period(),
        joints,
        actuation: Actuation {
            mode: match cfg.actuation {
                ActuationMode::Torque => CommandMode::Torque,
                ActuationMode::Velocity => CommandMode::Velocity,
            },
            joints: env
                .action_spec()
                .entries
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            safe_action: Some(env.safe_action()),
        },
        channels,
        cameras: env
            .cameras()
            .iter()
            .map(|c| CameraDescription {
                name: c.name.clone(),
                width: c.width,
                height: c.height,
                encodings: [
                    (c.rgb, ImageEncoding::Rgb8),
                    (c.depth, ImageEncoding::DepthF32),
                ]
                .into_iter()
                .filter_map(|(on, e)| on.then_some(e))
                .collect(),
            })
            .collect(),
        observation: env
            .observation_map()
            .features()
            .iter()
            .map(|f| f.name.clone())
            .collect(),
        task: TaskDescription {
            name: env.task_name().to_string(),
            episode_steps: env.max_episode_steps(),
            reward: RewardRule {
                channel: Some(REWARD.into()),
                terms: Vec::new(),
            },
            // The simulator's `success` at an episode's last step is the
            // episode's success (its own rule over the final steps).
            success: SuccessRule {
                channel: Some(SUCCESS.into()),
                reward_at_least: None,
                final_steps: 1,
            },
        },
        transport: Default::default(),
        ros2: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::dataset_spec;
    use umwelt_sim::{RobotKind, tasks_of};

    #[test]
    fn every_builtin_description_checks_and_derives_the_simulators_specs() {
        for kind in RobotKind::ALL {
            for t in tasks_of(kind) {
                let env = Env::new(kind.name(), t.name).unwrap();
                let d = describe(&env);
                d.check("test").unwrap();
                assert_eq!(
                    d.dataset_spec().unwrap(),
                    dataset_spec(&env),
                    "{kind:?}/{}",
                    t.name
                );
                // Through TOML and back, unchanged.
                let text = d.to_toml().unwrap();
                let back = RobotDescription::parse(&text, "test").unwrap();
                assert_eq!(back, d, "{text}");
            }
        }
    }
}
