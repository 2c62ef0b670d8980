//! Physics sanity: energy, rest, and the direction of a fall.

use umwelt_sim::{Env, RobotConfig, RobotKind};

#[test]
fn undamped_pendulum_keeps_its_energy_within_one_percent_over_ten_seconds() {
    let mut cfg = RobotConfig::builtin(RobotKind::Pendulum);
    cfg.joints[0].damping = 0.0;
    let mut env = Env::from_config(cfg, "swingup").unwrap();
    env.reset(0).unwrap();
    // Energy of the pendulum hanging at rest: the reference for "how much energy it has".
    env.set_state(&[std::f32::consts::PI], &[0.0]).unwrap();
    let bottom = env.energy().unwrap();
    env.set_state(&[std::f32::consts::FRAC_PI_2], &[0.0])
        .unwrap();
    env.step(&[0.0]).unwrap();
    let e0 = env.energy().unwrap();
    let swing = e0 - bottom;
    assert!(
        swing > 2.0,
        "a horizontal 1.1 kg pendulum holds ~2.7 J above its rest: {swing}"
    );
    let steps = (10.0 / env.control_period()).round() as usize;
    let mut worst: f64 = 0.0;
    let mut crossed_bottom = false;
    for _ in 0..steps {
        env.step(&[0.0]).unwrap();
        let e = env.energy().unwrap();
        worst = worst.max((e - e0).abs() / swing);
        let (q, _) = env.true_state().unwrap();
        crossed_bottom |= q[0].cos() < -0.99;
    }
    assert!(crossed_bottom, "the pendulum must actually swing");
    assert!(
        worst < 0.01,
        "energy drifted by {:.3}% of its swing energy",
        worst * 100.0
    );
}

#[test]
fn cart_under_zero_force_stays_put() {
    let mut env = Env::new("cartpole", "balance").unwrap();
    env.reset(3).unwrap();
    env.set_state(&[0.3, 0.0], &[0.0, 0.0]).unwrap();
    for _ in 0..200 {
        env.step(&[0.0]).unwrap();
    }
    let (q, qd) = env.true_state().unwrap();
    assert!((q[0] - 0.3).abs() < 1e-4, "cart drifted to {}", q[0]);
    assert!(
        q[1].abs() < 1e-4 && qd[0].abs() < 1e-4,
        "upright pole at rest stays at rest: {q:?} {qd:?}"
    );
}

#[test]
fn a_tilted_pole_falls_towards_its_tilt_as_the_linearised_equations_predict() {
    // Cart M = 1 kg, pole m = 0.1 kg, 1 m long (centre l = 0.5 m, I = m L^2 / 12).
    // Linearised: (I + m l^2 - m^2 l^2 / (M + m)) th'' = m g l th, so th = th0 cosh(lambda t).
    let (big_m, m, l, g) = (1.0f64, 0.1f64, 0.5f64, 9.81f64);
    let inertia = m / 12.0;
    let lambda = (m * g * l / (inertia + m * l * l - m * m * l * l / (big_m + m))).sqrt();
    for tilt in [0.05f32, -0.05] {
        let mut env = Env::new("cartpole", "balance").unwrap();
        env.reset(0).unwrap();
        env.set_state(&[0.0, tilt], &[0.0, 0.0]).unwrap();
        for _ in 0..30 {
            env.step(&[0.0]).unwrap();
        }
        let (q, _) = env.true_state().unwrap();
        let predicted = tilt as f64 * (lambda * 0.3).cosh();
        let rel = (q[1] as f64 - predicted).abs() / predicted.abs();
        assert!(
            rel < 0.05,
            "tilt {tilt}: pole at {} rad after 0.3 s, linear theory {predicted}",
            q[1]
        );
        // No horizontal external force: the centre of mass stays put, so the cart recoils.
        let com_x =
            (big_m * q[0] as f64 + m * (q[0] as f64 + l * (q[1] as f64).sin())) / (big_m + m);
        let com_x0 = m * l * (tilt as f64).sin() / (big_m + m);
        assert!(
            (com_x - com_x0).abs() < 1e-3,
            "tilt {tilt}: centre of mass moved {}",
            com_x - com_x0
        );
        assert!(
            q[0].signum() == -tilt.signum(),
            "tilt {tilt}: cart at {}",
            q[0]
        );
    }
}

#[test]
fn positive_force_accelerates_the_cart_forwards() {
    let mut env = Env::new("cartpole", "balance").unwrap();
    env.reset(0).unwrap();
    env.set_state(&[0.0, 0.0], &[0.0, 0.0]).unwrap();
    for _ in 0..10 {
        env.step(&[10.0]).unwrap();
    }
    let (q, qd) = env.true_state().unwrap();
    // F = 10 N on 1.1 kg for 0.1 s: v ~ 0.9 m/s, x ~ 0.045 m (the pole takes some).
    assert!(qd[0] > 0.5 && qd[0] < 1.2, "cart velocity {}", qd[0]);
    assert!(q[0] > 0.02 && q[0] < 0.07, "cart position {}", q[0]);
}

#[test]
fn positive_torque_turns_every_revolute_joint_positively() {
    for (robot, task) in [
        ("pendulum", "swingup"),
        ("reacher", "easy"),
        ("arm", "reach"),
    ] {
        let mut cfg = RobotConfig::builtin(RobotKind::from_name(robot).unwrap());
        for j in &mut cfg.joints {
            j.limits = None;
        }
        let mut env = Env::from_config(cfg, task).unwrap();
        env.reset(0).unwrap();
        let n = env.joint_names().len();
        for k in 0..env.action_spec().len() {
            let q0 = vec![0.0; n];
            env.set_state(&q0, &q0).unwrap();
            let (before, _) = env.true_state().unwrap();
            let before = before.to_vec();
            let mut a = env.safe_action();
            a[k] = env.action_spec().entries[k].high;
            let mut zero_run = Env::from_config(env.config().clone(), task).unwrap();
            zero_run.reset(0).unwrap();
            zero_run.set_state(&q0, &q0).unwrap();
            env.step(&a).unwrap();
            zero_run.step(&zero_run.safe_action()).unwrap();
            let (after, _) = env.true_state().unwrap();
            let (passive, _) = zero_run.true_state().unwrap();
            assert!(
                after[k] - passive[k] > 1e-5,
                "{robot}: torque on joint {k} moved it {} vs {} without (from {})",
                after[k],
                passive[k],
                before[k]
            );
        }
    }
}
