//! The cart-pole baseline controller on the simulator, in process.

use std::time::Instant;

use umwelt_runtime::control::baseline::{CartpoleParams, CartpoleSwingup, lqr_gain};
use umwelt_runtime::control::{ControlInput, Controller};
use umwelt_sim::Env;

#[test]
fn lqr_gain_converges_with_the_expected_signs() {
    let k = lqr_gain(&CartpoleParams::default(), 0.01).expect("converges");
    // u = -K s: a pole leaning +x needs a push +x (K_theta < 0); the cart
    // position gain has the sign of a non-minimum-phase plant (K_x < 0).
    assert!(k[1] < -10.0 && k[3] < 0.0 && k[0] < 0.0, "{k:?}");
}

#[test]
fn baseline_swings_up_and_balances_the_simulated_cartpole() {
    for seed in 0..3 {
        let mut env = Env::new("cartpole", "swingup").unwrap();
        let mut ctl = CartpoleSwingup::new(
            CartpoleParams::default(),
            env.joint_names(),
            env.control_period(),
        )
        .unwrap();
        ctl.reset();
        let mut obs = env.reset(seed).unwrap();
        let mut action = [0.0f32];
        let (mut ret, mut last) = (0.0, None);
        for _ in 0..1000 {
            let input = ControlInput {
                observation: &obs.vector,
                sensors: &obs.sensors,
                images: &[],
                deadline: Instant::now(),
            };
            ctl.act(&input, &mut action).unwrap();
            let step = env.step(&action).unwrap();
            ret += step.reward;
            obs = step.observation.clone();
            last = Some(step);
        }
        let last = last.unwrap();
        assert!(
            last.info.success,
            "seed {seed}: not upright at the end (return {ret})"
        );
        assert!(ret > 600.0, "seed {seed}: return {ret}");
    }
}
