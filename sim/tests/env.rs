//! The gym-style API: determinism, rewards at known states, bad input, realism.

use umwelt_sim::{Env, RobotConfig, RobotKind, SimError, tasks_of};

fn all_tasks() -> Vec<(&'static str, &'static str)> {
    RobotKind::ALL
        .iter()
        .flat_map(|k| tasks_of(*k).iter().map(move |t| (k.name(), t.name)))
        .collect()
}

/// A deterministic, state-dependent action sequence.
fn wiggle(step: usize, n: usize, high: &[f32]) -> Vec<f32> {
    (0..n)
        .map(|i| high[i] * ((step as f32 * 0.37 + i as f32).sin()))
        .collect()
}

fn trajectory(robot: &str, task: &str, seed: u64, steps: usize) -> Vec<u32> {
    let mut env = Env::new(robot, task).unwrap();
    let high: Vec<f32> = env.action_spec().entries.iter().map(|e| e.high).collect();
    let mut bits = Vec::new();
    let obs = env.reset(seed).unwrap();
    bits.extend(obs.vector.iter().map(|v| v.to_bits()));
    for t in 0..steps {
        let s = env.step(&wiggle(t, high.len(), &high)).unwrap();
        bits.extend(s.observation.vector.iter().map(|v| v.to_bits()));
        bits.push(s.reward.to_bits());
    }
    bits
}

#[test]
fn one_seed_gives_a_bit_identical_trajectory_and_two_seeds_differ() {
    for (robot, task) in all_tasks() {
        let a = trajectory(robot, task, 11, 100);
        let b = trajectory(robot, task, 11, 100);
        assert_eq!(a, b, "{robot}/{task}: same seed, different trajectory");
        let c = trajectory(robot, task, 12, 100);
        assert_ne!(
            a, c,
            "{robot}/{task}: seeds 11 and 12 gave the same trajectory"
        );
    }
}

#[test]
fn reset_reproduces_after_other_episodes() {
    let mut env = Env::new("reacher", "hard").unwrap();
    let first = env.reset(5).unwrap();
    env.reset(6).unwrap();
    for _ in 0..10 {
        env.step(&[0.05, -0.02]).unwrap();
    }
    assert_eq!(env.reset(5).unwrap(), first);
}

#[test]
fn cartpole_reward_is_near_one_upright_and_near_zero_hanging() {
    let mut env = Env::new("cartpole", "swingup").unwrap();
    env.reset(0).unwrap();
    env.set_state(&[0.0, 0.0], &[0.0, 0.0]).unwrap();
    let up = env.step(&[0.0]).unwrap();
    assert!(up.reward > 0.99, "upright, centred, still: {}", up.reward);
    env.set_state(&[0.0, std::f32::consts::PI], &[0.0, 0.0])
        .unwrap();
    let down = env.step(&[0.0]).unwrap();
    assert!(down.reward < 0.01, "hanging: {}", down.reward);
    // Full force costs a fifth (small_control = (4 + 0) / 5), off-centre and spinning cost more.
    env.set_state(&[0.0, 0.0], &[0.0, 0.0]).unwrap();
    let pushed = env.step(&[10.0]).unwrap();
    assert!(
        (pushed.reward - 0.8).abs() < 0.02,
        "full force: {}",
        pushed.reward
    );
}

#[test]
fn pendulum_and_reacher_rewards_at_known_states() {
    let mut env = Env::new("pendulum", "swingup").unwrap();
    env.reset(0).unwrap();
    env.set_state(&[0.05], &[0.0]).unwrap();
    assert_eq!(env.step(&[0.0]).unwrap().reward, 1.0);
    env.set_state(&[1.0], &[0.0]).unwrap();
    assert_eq!(env.step(&[0.0]).unwrap().reward, 0.0);

    // Reacher: the finger is where the observation's to_target vector says.
    let mut env = Env::new("reacher", "easy").unwrap();
    let obs = env.reset(3).unwrap();
    let d = (obs.sensors.channels[0].powi(2) + obs.sensors.channels[1].powi(2)).sqrt();
    let s = env.step(&[0.0, 0.0]).unwrap();
    assert_eq!(s.reward, if d < 0.06 { 1.0 } else { 0.0 });
}

#[test]
fn holding_the_goal_is_success_and_episodes_truncate_at_1000_steps() {
    let mut env = Env::new("pendulum", "swingup").unwrap();
    env.reset(0).unwrap();
    env.set_state(&[0.0], &[0.0]).unwrap();
    let mut last = None;
    for _ in 0..1000 {
        // Hold upright with a PD law: success needs the final 50 steps inside 8 deg.
        let (q, qd) = env.true_state().unwrap();
        let u = (-5.0 * q[0].sin() - 1.0 * qd[0]).clamp(-1.0, 1.0);
        last = Some(env.step(&[u]).unwrap());
    }
    let last = last.unwrap();
    assert!(last.truncated && !last.terminated && last.info.success);
    assert_eq!(last.info.step, 1000);
    assert!(matches!(
        env.step(&[0.0]),
        Err(SimError::EpisodeOver { steps: 1000 })
    ));
}

#[test]
fn bad_actions_are_typed_errors_and_nothing_moves() {
    let mut env = Env::new("reacher", "easy").unwrap();
    assert!(matches!(env.step(&[0.0, 0.0]), Err(SimError::NotReset)));
    env.reset(1).unwrap();
    let before = env.true_state().map(|(q, v)| (q.to_vec(), v.to_vec()));
    let e = env.step(&[0.0]).unwrap_err();
    assert!(
        matches!(
            e,
            SimError::ActionLength {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("shoulder, wrist"), "{e}");
    let e = env.step(&[0.0, f32::NAN]).unwrap_err();
    assert!(
        matches!(e, SimError::NonFiniteAction { index: 1, .. }),
        "{e}"
    );
    let e = env.step(&[f32::INFINITY, 0.0]).unwrap_err();
    assert!(
        matches!(e, SimError::NonFiniteAction { index: 0, .. }),
        "{e}"
    );
    let after = env.true_state().map(|(q, v)| (q.to_vec(), v.to_vec()));
    assert_eq!(before, after, "a rejected action must not step the physics");
    // And the episode goes on normally afterwards.
    assert_eq!(env.step(&[0.0, 0.0]).unwrap().info.step, 1);
}

#[test]
fn unknown_robots_and_tasks_list_the_valid_ones() {
    let e = Env::new("hexapod", "walk").err().unwrap().to_string();
    assert!(e.contains("cartpole, pendulum, reacher, arm"), "{e}");
    let e = Env::new("cartpole", "walk").err().unwrap().to_string();
    assert!(e.contains("balance, swingup"), "{e}");
}

#[test]
fn missing_and_invalid_files_name_the_file_and_the_problem() {
    let dir = std::env::temp_dir().join(format!("umwelt-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = RobotConfig::load(&dir.join("nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.toml"), "{e}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "robot = \"cartpole\"\nphysics_dt = \"fast\"\n").unwrap();
    let e = RobotConfig::load(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.toml") && e.contains("physics_dt"), "{e}");

    // A config naming a joint the model does not have.
    let mut cfg = RobotConfig::builtin(RobotKind::Cartpole);
    cfg.joints[1].name = "elbow".into();
    let e = Env::from_config(cfg, "balance").err().unwrap().to_string();
    assert!(
        e.contains("unknown joint `elbow`") && e.contains("slider, hinge"),
        "{e}"
    );

    // URDF: missing file, malformed XML, no end effector.
    let mut cfg = RobotConfig::builtin(RobotKind::Arm);
    cfg.urdf = Some(dir.join("missing.urdf"));
    let e = Env::from_config(cfg.clone(), "reach")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing.urdf"), "{e}");
    let broken = dir.join("broken.urdf");
    std::fs::write(&broken, "<robot name=\"x\"><link name=\"a\"></robot>").unwrap();
    cfg.urdf = Some(broken);
    let e = Env::from_config(cfg.clone(), "reach")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("broken.urdf") && e.contains("invalid URDF"),
        "{e}"
    );
    let no_ee = dir.join("no_ee.urdf");
    std::fs::write(&no_ee, "<robot name=\"x\"><link name=\"a\"/><link name=\"b\"/><joint name=\"j\" type=\"revolute\"><parent link=\"a\"/><child link=\"b\"/><axis xyz=\"0 0 1\"/><limit lower=\"-1\" upper=\"1\" effort=\"1\" velocity=\"1\"/></joint></robot>").unwrap();
    cfg.urdf = Some(no_ee);
    let e = Env::from_config(cfg, "reach").err().unwrap().to_string();
    assert!(e.contains("end_effector"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shipped_config_files_equal_the_built_in_defaults() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/robots");
    for kind in RobotKind::ALL {
        let path = root.join(format!("{}.toml", kind.name()));
        let mut loaded = RobotConfig::load(&path).unwrap();
        let builtin = RobotConfig::builtin(kind);
        if kind == RobotKind::Arm {
            assert!(
                loaded
                    .urdf
                    .as_ref()
                    .is_some_and(|u| u.ends_with("arm.urdf"))
            );
            loaded.urdf = None;
        }
        assert_eq!(
            loaded,
            builtin,
            "{} drifted from RobotConfig::builtin",
            path.display()
        );
    }
}

#[test]
fn sensor_noise_delay_and_randomisation_are_seeded_and_do_what_they_say() {
    let mut cfg = RobotConfig::builtin(RobotKind::Pendulum);
    cfg.realism.sensor_delay = 3;
    let mut env = Env::from_config(cfg.clone(), "swingup").unwrap();
    let first = env.reset(4).unwrap();
    let mut seen = vec![];
    for _ in 0..6 {
        seen.push(env.step(&[1.0]).unwrap().observation.sensors.positions[0]);
    }
    // The first three observations still show the initial state.
    assert!(
        seen[..3].iter().all(|p| *p == first.sensors.positions[0]),
        "{seen:?}"
    );
    assert_ne!(seen[3], first.sensors.positions[0]);

    cfg.realism.sensor_delay = 0;
    cfg.realism.position_noise_std = 0.01;
    let mut noisy = Env::from_config(cfg.clone(), "swingup").unwrap();
    let a = noisy.reset(4).unwrap();
    let (q, _) = noisy.true_state().unwrap();
    assert_ne!(a.sensors.positions[0], q[0]);
    assert!((a.sensors.positions[0] - q[0]).abs() < 0.1);
    assert_eq!(noisy.reset(4).unwrap(), a, "noise must be seeded");

    cfg.realism.position_noise_std = 0.0;
    cfg.realism.randomize.mass = 0.5;
    let mut rand_env = Env::from_config(cfg.clone(), "swingup").unwrap();
    let energies: Vec<f64> = (0..3)
        .map(|seed| {
            rand_env.reset(seed).unwrap();
            rand_env.set_state(&[0.0], &[0.0]).unwrap();
            rand_env.energy().unwrap()
        })
        .collect();
    assert!(
        energies[0] != energies[1] && energies[1] != energies[2],
        "masses must vary: {energies:?}"
    );

    // Saturation: half the actuator strength halves the spin-up.
    let spin = |sat: f32| {
        let mut c = RobotConfig::builtin(RobotKind::Pendulum);
        c.realism.actuator_saturation = sat;
        let mut e = Env::from_config(c, "swingup").unwrap();
        e.reset(0).unwrap();
        e.set_state(&[std::f32::consts::PI], &[0.0]).unwrap();
        e.step(&[1.0]).unwrap();
        e.true_state().unwrap().1[0]
    };
    let (full, half) = (spin(1.0), spin(0.5));
    assert!((half / full - 0.5).abs() < 0.05, "{half} vs {full}");
}

#[test]
fn velocity_mode_tracks_the_commanded_velocity() {
    let mut cfg = RobotConfig::builtin(RobotKind::Arm);
    cfg.actuation = umwelt_sim::ActuationMode::Velocity;
    let mut env = Env::from_config(cfg, "reach").unwrap();
    env.reset(0).unwrap();
    let mut a = env.safe_action();
    a[0] = 1.0; // shoulder yaw: no gravity load
    for _ in 0..25 {
        env.step(&a).unwrap();
    }
    let (_, qd) = env.true_state().unwrap();
    assert!((qd[0] - 1.0).abs() < 0.1, "yaw velocity {}", qd[0]);
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

/// Steps `k` wiggle actions; returns the rewards and final observation.
fn steps(env: &mut Env, k: usize) -> (Vec<f32>, Vec<f32>) {
    let high: Vec<f32> = env.action_spec().entries.iter().map(|e| e.high).collect();
    let mut rewards = Vec::new();
    let mut obs = Vec::new();
    for i in 0..k {
        let s = env.step(&wiggle(i, high.len(), &high)).unwrap();
        rewards.push(s.reward);
        obs = s.observation.vector;
    }
    (rewards, obs)
}

/// A planner restores one state thousands of times, from wherever its
/// last rollout ended: the future must not depend on that history, to the
/// bit, or its plans (and an evaluation's returns) depend on which rollouts
/// ran before.
#[test]
fn a_restored_state_replays_the_same_future_to_the_bit_whatever_ran_before() {
    for (robot, task) in all_tasks() {
        let mut env = Env::new(robot, task).unwrap();
        env.reset(4).unwrap();
        steps(&mut env, 37);
        let saved = env.save_state().unwrap();
        let (r1, o1) = steps(&mut env, 25);
        let after = env.save_state().unwrap();
        for detour in [3, 11, 40, 150, 400] {
            env.restore_state(&saved).unwrap();
            // Drift somewhere else first, with other actions.
            let n = env.action_spec().len();
            for i in 0..detour {
                let a: Vec<f32> = (0..n)
                    .map(|k| if (i + k) % 3 == 0 { -0.7 } else { 0.4 })
                    .collect();
                env.step(&a).unwrap();
            }
            env.restore_state(&saved).unwrap();
            assert_eq!(env.save_state().unwrap(), saved, "{robot}/{task}");
            let (r2, o2) = steps(&mut env, 25);
            assert_eq!(r1, r2, "{robot}/{task} after a detour of {detour} steps");
            assert_eq!(o1, o2, "{robot}/{task} after a detour of {detour} steps");
            assert_eq!(env.save_state().unwrap(), after, "{robot}/{task}");
        }
        // The step count came back too: the episode still ends at 1000.
        assert_eq!(saved.step(), 37);
    }
}

#[test]
fn syncing_to_a_measurement_reproduces_the_robot_and_its_target() {
    for (robot, task) in all_tasks() {
        let mut real = Env::new(robot, task).unwrap();
        real.reset(11).unwrap();
        steps(&mut real, 6);
        let n = real.action_spec().len();
        let frame = real.step(&vec![0.0; n]).unwrap().observation.sensors;
        let mut copy = Env::new(robot, task).unwrap();
        copy.reset(12).unwrap(); // another start, and another target
        copy.sync_to_measurement(&frame).unwrap();
        let (r_real, o_real) = steps(&mut real, 15);
        let (r_copy, o_copy) = steps(&mut copy, 15);
        assert!(
            close(&r_real, &r_copy, 1e-3),
            "{robot}/{task}: {r_real:?} vs {r_copy:?}"
        );
        assert!(
            close(&o_real, &o_copy, 1e-3),
            "{robot}/{task}: {o_real:?} vs {o_copy:?}"
        );
    }
    // A frame of the wrong size is an error and the episode goes on.
    let mut env = Env::new("reacher", "easy").unwrap();
    let obs = env.reset(0).unwrap();
    let mut bad = obs.sensors.clone();
    bad.positions.pop();
    assert!(matches!(
        env.sync_to_measurement(&bad),
        Err(SimError::BadState { .. })
    ));
    bad = obs.sensors.clone();
    bad.velocities[0] = f32::NAN;
    assert!(env.sync_to_measurement(&bad).is_err());
    env.step(&[0.0, 0.0]).unwrap();
}
