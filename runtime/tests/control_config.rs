//! Controller configs: every mistake is an error naming its field.

use std::path::PathBuf;

use umwelt_runtime::control::{self, RunConfig};

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("umwelt-control-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn err(name: &str, text: &str) -> String {
    match RunConfig::load(&write(name, text)) {
        Ok(_) => panic!("{name} should not load"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "robot = \"cartpole\"\ntask = \"swingup\"\n";

#[test]
fn shipped_controller_configs_load_and_keep_up_with_their_rate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    for name in [
        "cartpole_swingup",
        "cartpole_zero",
        "cartpole_hold",
        "cartpole_random",
        "cartpole_faults",
    ] {
        let r = RunConfig::load(&dir.join(format!("{name}.toml")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut c = control::build(&r).unwrap();
        control::check_rate(&r, c.as_mut()).unwrap();
    }
}

#[test]
fn shipped_mpc_and_oracle_configs_load_and_the_oracle_ones_match_the_presets() {
    use umwelt_runtime::control::ControllerConfig;
    use umwelt_runtime::plan::presets::oracle_planner;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    for name in [
        "cartpole_swingup",
        "pendulum_swingup",
        "reacher_easy",
        "reacher_hard",
        "arm_reach",
    ] {
        let r = RunConfig::load(&dir.join(format!("oracle_{name}.toml")))
            .unwrap_or_else(|e| panic!("oracle_{name}: {e}"));
        let ControllerConfig::Mpc(m) = &r.config.controller else {
            panic!("oracle_{name}: not mpc");
        };
        assert_eq!(m.planner, oracle_planner(&r.config.robot), "oracle_{name}");
        control::build(&r).unwrap_or_else(|e| panic!("oracle_{name}: {e}"));
        let r = RunConfig::load(&dir.join(format!("mpc_{name}.toml")))
            .unwrap_or_else(|e| panic!("mpc_{name}: {e}"));
        let ControllerConfig::Mpc(m) = &r.config.controller else {
            panic!("mpc_{name}: not mpc");
        };
        assert!(m.planner.sample_steps() >= 8192, "mpc_{name}");
        assert_eq!(
            m.precision,
            umwelt_models::world_model::Precision::Bf16,
            "mpc_{name}"
        );
        let ck = m.checkpoint.as_ref().expect("a checkpoint");
        assert!(
            ck.starts_with(&dir),
            "checkpoint path resolved against the config"
        );
        match control::build(&r) {
            // A shipped checkpoint loads, checked against the robot config.
            Ok(c) => assert_eq!(c.name(), "mpc"),
            // One not shipped (learn it with `umwelt learn`) is an error
            // naming the file.
            Err(e) => {
                assert!(!ck.exists(), "mpc_{name}: {e}");
                assert!(e.to_string().contains(&format!("{name}.uwwm")), "{e}");
            }
        }
    }
    for shipped in [
        "cartpole_swingup",
        "pendulum_swingup",
        "reacher_easy",
        "reacher_hard",
        "arm_reach",
    ] {
        let r = RunConfig::load(&dir.join(format!("mpc_{shipped}.toml"))).unwrap();
        control::build(&r).unwrap_or_else(|e| panic!("mpc_{shipped}: {e}"));
    }
}

#[test]
fn a_checkpoint_of_another_task_is_refused_naming_the_difference() {
    // The cart-pole's model under the reacher's config.
    let path = reacher_mpc_with(
        "other-task.toml",
        ("reacher_easy.uwwm", "cartpole_swingup.uwwm"),
    );
    let r = RunConfig::load(&path).unwrap();
    let e = match control::build(&r) {
        Ok(_) => panic!("a cart-pole model accepted for the reacher"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("cartpole") && e.contains("reacher"), "{e}");
}

/// The shipped reacher MPC config with absolute paths and `swap.0`
/// replaced by `swap.1` (it must be there), written to `name`.
fn reacher_mpc_with(name: &str, swap: (&str, &str)) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let text = std::fs::read_to_string(dir.join("mpc_reacher_easy.toml")).unwrap();
    assert!(text.contains(swap.0), "the shipped config has {}", swap.0);
    let text = text.replacen(swap.0, swap.1, 1);
    let text = text
        .replace(
            "robots/reacher.toml",
            &dir.join("robots/reacher.toml").display().to_string(),
        )
        .replace(
            "../models/checkpoints/",
            &format!("{}/", dir.join("../models/checkpoints").display()),
        );
    write(name, &text)
}

/// The shipped reacher MPC config with `workers = ...` as given.
fn reacher_mpc_workers(name: &str, workers: &str) -> PathBuf {
    reacher_mpc_with(name, ("workers = \"spread\"", workers))
}

#[test]
fn precision_is_bf16_unless_the_config_says_f32_and_nothing_else() {
    use umwelt_models::world_model::Precision;
    use umwelt_runtime::control::ControllerConfig;
    let line = "precision = \"bf16\"";
    let precision = |r: &umwelt_runtime::control::Resolved| match &r.config.controller {
        ControllerConfig::Mpc(m) => m.precision,
        _ => panic!("not mpc"),
    };
    let r = RunConfig::load(&reacher_mpc_with("p-none.toml", (line, ""))).unwrap();
    assert_eq!(precision(&r), Precision::Bf16, "the default");
    let r = RunConfig::load(&reacher_mpc_with(
        "p-f32.toml",
        (line, "precision = \"f32\""),
    ))
    .unwrap();
    assert_eq!(precision(&r), Precision::F32);
    control::build(&r).unwrap();
    let e = match RunConfig::load(&reacher_mpc_with(
        "p-bad.toml",
        (line, "precision = \"fp8\""),
    )) {
        Ok(_) => panic!("precision fp8 accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("fp8") && e.contains("bf16") && e.contains("f32"),
        "{e}"
    );
}

#[test]
fn rollout_workers_are_placed_as_the_config_says() {
    for ok in ["workers = \"float\"", "workers = \"spread\""] {
        let r = RunConfig::load(&reacher_mpc_workers("w-ok.toml", ok)).unwrap();
        control::build(&r).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let e = match RunConfig::load(&reacher_mpc_workers("w-bad.toml", "workers = \"nowhere\"")) {
        Ok(_) => panic!("an unknown placement accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("nowhere") && e.contains("spread"), "{e}");
    let e = match RunConfig::load(&reacher_mpc_workers("w-empty.toml", "workers = []")) {
        Ok(_) => panic!("an empty CPU list accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("at least one CPU"), "{e}");
    // A CPU this process may not use loads (it is the machine's business)
    // but the controller refuses to start, naming the field and the CPU.
    let r = RunConfig::load(&reacher_mpc_workers("w-cpu.toml", "workers = [100000]")).unwrap();
    let e = match control::build(&r) {
        Ok(_) => panic!("CPU 100000 accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("controller.workers") && e.contains("100000"),
        "{e}"
    );
}

#[test]
fn mistakes_name_the_file_and_the_field() {
    let e = err(
        "a.toml",
        &format!("{HEAD}observation = [\"elbow.pos\"]\n[controller]\nkind = \"zero\"\n"),
    );
    assert!(
        e.contains("a.toml") && e.contains("observation") && e.contains("unknown joint `elbow`"),
        "{e}"
    );

    let e = err(
        "b.toml",
        &format!("{HEAD}[controller]\nkind = \"zero\"\n[safety]\nlimits = [[5.0, -5.0]]\n"),
    );
    assert!(
        e.contains("safety.limits[0]") && e.contains("lower must be below upper"),
        "{e}"
    );

    let e = err(
        "c.toml",
        &format!("{HEAD}[controller]\nkind = \"zero\"\n[safety]\nlimits = [[-50.0, 50.0]]\n"),
    );
    assert!(e.contains("outside the actuator's range"), "{e}");

    let e = err(
        "d.toml",
        &format!("{HEAD}rate_hz = 50000\n[controller]\nkind = \"zero\"\n"),
    );
    assert!(e.contains("rate_hz"), "{e}");

    let e = err(
        "e.toml",
        &format!("{HEAD}[controller]\nkind = \"telepathy\"\n"),
    );
    assert!(e.contains("telepathy") && e.contains("controller"), "{e}");

    let e = err(
        "f.toml",
        "robot = \"pendulum\"\ntask = \"swingup\"\n[controller]\nkind = \"cartpole_swingup\"\n",
    );
    assert!(
        e.contains("controller.kind") && e.contains("cartpole"),
        "{e}"
    );

    let e = err(
        "g.toml",
        &format!("{HEAD}robot_config = \"missing.toml\"\n[controller]\nkind = \"zero\"\n"),
    );
    assert!(
        e.contains("robot_config") && e.contains("missing.toml"),
        "{e}"
    );

    let e = err(
        "h.toml",
        "robot = \"cartpole\"\ntask = \"juggle\"\n[controller]\nkind = \"zero\"\n",
    );
    assert!(e.contains("task") && e.contains("balance, swingup"), "{e}");

    let e = err(
        "i.toml",
        &format!("{HEAD}[controller]\nkind = \"zero\"\n[safety]\nslew_rate = [1.0, 2.0, 3.0]\n"),
    );
    assert!(e.contains("safety.slew_rate"), "{e}");
}

#[test]
fn a_rate_the_controller_cannot_meet_is_an_error_naming_rate_hz() {
    // A controller that needs 8 ms per tick cannot run at 100 Hz (10 ms, of
    // which the check allows half).
    struct Slow;
    impl umwelt_runtime::control::Controller for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        fn reset(&mut self) {}
        fn act(
            &mut self,
            _: &umwelt_runtime::control::ControlInput<'_>,
            _: &mut [f32],
        ) -> Result<(), umwelt_runtime::control::ControllerError> {
            std::thread::sleep(std::time::Duration::from_millis(8));
            Ok(())
        }
    }
    let r = RunConfig::load(&write(
        "slow.toml",
        &format!("{HEAD}rate_hz = 100\n[controller]\nkind = \"zero\"\n"),
    ))
    .unwrap();
    let e = control::check_rate(&r, &mut Slow).unwrap_err().to_string();
    assert!(e.contains("rate_hz = 100") && e.contains("`slow`"), "{e}");
}

/// Each number that would panic a thread or silently disable control, and
/// the key its error must name (with the value as written).
const BAD_NUMBERS: &[(&str, &str, &str)] = &[
    // In range by itself, but at 10 Hz commands would live 2 s: past the
    // protocol's 1 s, so every driver would refuse them.
    (
        "rate_hz = 10.0\n[safety]\ndeadline_periods = 20.0\n",
        "zero",
        "past the protocol's 1 s limit",
    ),
    (
        "telemetry_period_s = 1e300\n",
        "zero",
        "telemetry_period_s = 1e300",
    ),
    (
        "telemetry_period_s = nan\n",
        "zero",
        "telemetry_period_s = NaN",
    ),
    (
        "telemetry_period_s = 0.0\n",
        "zero",
        "telemetry_period_s = 0.0",
    ),
    ("rate_hz = 1e-300\n", "zero", "rate_hz = 1e-300"),
    ("rate_hz = nan\n", "zero", "rate_hz = NaN"),
    (
        "[safety]\nstale_after_periods = 1e300\n",
        "zero",
        "safety.stale_after_periods = 1e300",
    ),
    (
        "[safety]\nstale_after_periods = nan\n",
        "zero",
        "safety.stale_after_periods = NaN",
    ),
    (
        "[safety]\ndeadline_periods = 1e300\n",
        "zero",
        "safety.deadline_periods = 1e300",
    ),
    (
        "[safety]\ndeadline_periods = 1e-300\n",
        "zero",
        "safety.deadline_periods = 1e-300",
    ),
    (
        "[safety]\ndeadline_periods = -1.0\n",
        "zero",
        "safety.deadline_periods = -1.0",
    ),
    (
        "[safety]\nslew_rate = [nan]\n",
        "zero",
        "safety.slew_rate: NaN",
    ),
    (
        "[realtime]\ncpu = 100000\n",
        "zero",
        "realtime.cpu = 100000",
    ),
    (
        "[realtime]\nspin_us = 100000000000\n",
        "zero",
        "realtime.spin_us = 100000000000",
    ),
    (
        "",
        "cartpole_swingup\nmax_force = nan",
        "controller.max_force = NaN",
    ),
    (
        "",
        "cartpole_swingup\nmax_force = -1.0",
        "controller.max_force = -1.0",
    ),
    (
        "",
        "cartpole_swingup\nlqr_q = [nan, 1.0, 1.0, 1.0]",
        "controller.lqr_q[0] = NaN",
    ),
    (
        "",
        "cartpole_swingup\nlqr_q = [1.0, -2.0, 1.0, 1.0]",
        "controller.lqr_q[1] = -2.0",
    ),
    (
        "",
        "cartpole_swingup\nlqr_r = 0.0",
        "controller.lqr_r = 0.0",
    ),
    (
        "",
        "cartpole_swingup\ncart_mass = inf",
        "controller.cart_mass = inf",
    ),
    (
        "",
        "cartpole_swingup\npole_length = 0.0",
        "controller.pole_length = 0.0",
    ),
    (
        "",
        "cartpole_swingup\nswitch_deg = 720.0",
        "controller.switch_deg = 720.0",
    ),
    (
        "",
        "cartpole_swingup\ncentre_gains = [1.0, nan]",
        "controller.centre_gains[1] = NaN",
    ),
    ("", "hold\nkp = nan", "controller.kp = NaN"),
    ("", "hold\nkd = -3.0", "controller.kd = -3.0"),
    ("", "fault_injection\nvalue = inf", "controller.value = inf"),
    (
        "",
        "mpc\nmodel = \"oracle\"\nthreads = 0",
        "controller.threads = 0",
    ),
    (
        "",
        "mpc\nmodel = \"oracle\"\n[controller.planner]\nsamples = 100000000",
        "samples = 100000000",
    ),
    (
        "",
        "mpc\nmodel = \"oracle\"\n[controller.planner]\nhorizon = 1000000",
        "horizon = 1000000",
    ),
    (
        "",
        "mpc\nmodel = \"oracle\"\n[controller.planner]\ndeadline_margin_us = 9223372036854775807",
        "deadline_margin_us = 9223372036854775807",
    ),
    (
        "",
        "mpc\nmodel = \"oracle\"\n[controller.planner]\ntemperature = inf",
        "temperature (inf)",
    ),
];

#[test]
fn every_number_out_of_range_is_refused_at_load_naming_its_key_and_value() {
    for (i, (top, controller, want)) in BAD_NUMBERS.iter().enumerate() {
        // Top-level keys go before the controller table, tables after it.
        let (before, after) = if top.starts_with('[') {
            ("", *top)
        } else {
            (*top, "")
        };
        let text = format!(
            "{HEAD}{before}[controller]\nkind = {}{after}",
            quote_kind(controller)
        );
        let e = err(&format!("bad{i}.toml"), &text);
        assert!(e.contains(want), "{text}\n-> {e}\n(want {want:?})");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

/// `kind = "NAME"` and the lines after it, from `NAME\nkey = value...`.
fn quote_kind(controller: &str) -> String {
    let (kind, rest) = controller.split_once('\n').unwrap_or((controller, ""));
    format!("\"{kind}\"\n{rest}\n")
}

#[test]
fn values_at_the_edges_of_their_ranges_load() {
    let ok = format!(
        "{HEAD}telemetry_period_s = 3600.0\n[controller]\nkind = \"cartpole_swingup\"\nmax_force = 1.0\n[safety]\nstale_after_periods = 1000.0\ndeadline_periods = 100.0\n"
    );
    let r = RunConfig::load(&write("edges.toml", &ok)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.config.safety.deadline_periods, 100.0);
    control::build(&r).unwrap_or_else(|e| panic!("{e}"));
}
