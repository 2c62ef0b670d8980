//! Hindsight goals against the simulator itself: a relabelled episode is
//! the episode the reacher (or the arm) gives with its target where the
//! relabelling put it, and tasks that cannot be relabelled say why.

use umwelt_sim::{Env, RobotConfig, RobotKind, SimError};

/// A deterministic, state-independent action sequence that sweeps the arm.
fn sweep(step: usize, high: &[f32]) -> Vec<f32> {
    high.iter()
        .enumerate()
        .map(|(i, h)| h * (step as f32 * 0.05 + 1.7 * i as f32).sin())
        .collect()
}

/// An episode of `steps` steps from `seed`, the target first moved so that
/// the task channels read `channels` at the start (`None`: left alone).
/// Returns the observation vectors (row-major), the rewards, and for each
/// step's end the reward computed from its observation alone.
fn run(
    env: &mut Env,
    seed: u64,
    steps: usize,
    channels: Option<Vec<f32>>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let relabel = env.goal_relabel().unwrap();
    let high: Vec<f32> = env.action_spec().entries.iter().map(|e| e.high).collect();
    let mut first = env.reset(seed).unwrap().sensors;
    if let Some(c) = channels {
        first.channels = c;
    }
    // Both runs go through this call, so that they differ only in the target.
    env.sync_to_measurement(&first).unwrap();
    let mut obs = env.observation_map().vector(&first);
    let (mut rewards, mut from_obs) = (Vec::new(), Vec::new());
    for t in 0..steps {
        let s = env.step(&sweep(t, &high)).unwrap();
        rewards.push(s.reward);
        from_obs.push(relabel.reward(&s.observation.vector));
        obs.extend(s.observation.vector);
    }
    (obs, rewards, from_obs)
}

#[test]
fn a_relabelled_episode_is_the_episode_with_the_target_moved_there() {
    let goals: [(&str, &str, &[&str]); 3] = [
        ("reacher", "easy", &["to_target_x", "to_target_y"]),
        ("reacher", "hard", &["to_target_x", "to_target_y"]),
        (
            "arm",
            "reach",
            &["to_target_x", "to_target_y", "to_target_z"],
        ),
    ];
    for (robot, task, goal_names) in goals {
        let mut env = Env::new(robot, task).unwrap();
        let relabel = env.goal_relabel().unwrap();
        let rule = relabel.goal_reward();
        let d = env.observation_spec().entries.len();
        let names: Vec<&str> = relabel
            .columns()
            .iter()
            .map(|&c| env.observation_spec().entries[c].name.as_str())
            .collect();
        assert_eq!(names, goal_names, "{robot}/{task}");
        let steps = 400;
        let (obs, rewards, from_obs) = run(&mut env, 21, steps, None);
        // The task's reward is the rule applied to the observation, to the bit.
        assert_eq!(rewards, from_obs, "{robot}/{task}: recorded rewards");
        for at in [37, 250, steps] {
            let (mut o, mut r) = (obs.clone(), rewards.clone());
            relabel.relabel(&mut o, &mut r, at).unwrap();
            assert_eq!(
                r[at - 1],
                1.0,
                "{robot}/{task}: the robot is at the new goal at {at}"
            );
            // The same actions with the target moved to the robot at `at`.
            let goal0 = relabel.columns().iter().map(|&c| o[c]).collect();
            let (moved, moved_rewards, moved_from_obs) = run(&mut env, 21, steps, Some(goal0));
            assert_eq!(
                moved_rewards, moved_from_obs,
                "{robot}/{task}: moved rewards"
            );
            for (i, (a, b)) in o.iter().zip(&moved).enumerate() {
                if relabel.columns().contains(&(i % d)) {
                    // The two goals differ by rounding only.
                    assert!(
                        (a - b).abs() <= 1e-6,
                        "{robot}/{task} at {at}: value {i}: {a} vs {b}"
                    );
                } else {
                    assert_eq!(
                        a, b,
                        "{robot}/{task} at {at}: the motion changed at value {i}"
                    );
                }
            }
            for (t, (a, b)) in r.iter().zip(&moved_rewards).enumerate() {
                let row = &moved[(t + 1) * d..(t + 2) * d];
                let dist = relabel
                    .columns()
                    .iter()
                    .map(|&c| (row[c] as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if rule.margin > 0.0 {
                    // A shaped reward moves with the rounding of the goal, no more.
                    assert!(
                        (a - b).abs() <= 1e-4,
                        "{robot}/{task} at {at}: step {t}: {a} vs {b}"
                    );
                } else if (dist - rule.within).abs() > 1e-5 {
                    // A sparse one may differ only on the radius.
                    assert_eq!(a, b, "{robot}/{task} at {at}: reward of step {t}");
                }
            }
            let (ra, rb) = (r.iter().sum::<f32>(), moved_rewards.iter().sum::<f32>());
            assert!(
                (ra - rb).abs() <= 1e-2,
                "{robot}/{task} at {at}: returns {ra} vs {rb}"
            );
            if rule.margin == 0.0 {
                assert_eq!(ra, rb, "{robot}/{task} at {at}: returns");
            }
        }
    }
}

#[test]
fn tasks_without_a_goal_radius_or_with_delayed_sensors_are_refused_with_the_reason() {
    for (robot, task) in [("pendulum", "swingup"), ("cartpole", "swingup")] {
        let e = Env::new(robot, task).unwrap().goal_relabel().unwrap_err();
        assert!(matches!(e, SimError::NoGoal { .. }), "{robot}: {e}");
        assert!(e.to_string().contains("goal radius"), "{e}");
    }
    let mut cfg = RobotConfig::builtin(RobotKind::Reacher);
    cfg.realism.sensor_delay = 2;
    let e = Env::from_config(cfg, "easy")
        .unwrap()
        .goal_relabel()
        .unwrap_err();
    assert!(e.to_string().contains("realism.sensor_delay = 2"), "{e}");
}
