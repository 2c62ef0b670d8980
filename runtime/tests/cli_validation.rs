//! Every number a user types is checked: a bad one is an error of one line
//! naming the flag (or the config key), never a panic; errors print each
//! cause once; a closed stdout pipe ends quietly.
//!
//! Every command here fails before opening a zenoh session.

#[allow(dead_code)] // not every helper of the shared module is used here
mod common;

use std::process::{Command, Stdio};

use common::umwelt;

#[path = "cli_validation/robot_check.rs"]
mod robot_check;

/// A command line with a bad number, and the flag the error must name.
/// Each runs to its clap error (exit status 2).
const BAD_FLAGS: &[(&[&str], &str)] = &[
    (
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--duration=-1",
        ],
        "--duration",
    ),
    (
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--duration=nan",
        ],
        "--duration",
    ),
    (
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--duration=inf",
        ],
        "--duration",
    ),
    (
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--lockstep-timeout",
            "inf",
        ],
        "--lockstep-timeout",
    ),
    (
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--lockstep-timeout",
            "1e300",
        ],
        "--lockstep-timeout",
    ),
    (
        &[
            "sim", "--robot", "cartpole", "--task", "swingup", "--rate", "0",
        ],
        "--rate",
    ),
    (
        &[
            "sim", "--robot", "cartpole", "--task", "swingup", "--rate", "nan",
        ],
        "--rate",
    ),
    (
        &[
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--episodes",
            "0",
        ],
        "--episodes",
    ),
    (
        &[
            "run",
            "--config",
            "configs/cartpole_zero.toml",
            "--duration=-1",
        ],
        "--duration",
    ),
    (
        &[
            "run",
            "--config",
            "configs/cartpole_zero.toml",
            "--duration=nan",
        ],
        "--duration",
    ),
    (
        &[
            "run",
            "--config",
            "configs/cartpole_zero.toml",
            "--duration=inf",
        ],
        "--duration",
    ),
    (
        &["launch", "launch/demo.toml", "--duration=-1"],
        "--duration",
    ),
    (
        &["launch", "launch/demo.toml", "--duration=1e300"],
        "--duration",
    ),
    (
        &["topic", "hz", "umwelt/x/sensors", "--duration=-1"],
        "--duration",
    ),
    (&["topic", "list", "--duration=nan"], "--duration"),
    (
        &["topic", "echo", "umwelt/x/sensors", "--duration=inf"],
        "--duration",
    ),
    (
        &["topic", "echo", "umwelt/x/sensors", "--count", "0"],
        "--count",
    ),
    (
        &["record", "--out", "x.mcap", "--duration=nan"],
        "--duration",
    ),
    (&["record", "--out", "x.mcap", "--count", "0"], "--count"),
    (&["replay", "x.mcap", "--speed", "0"], "--speed"),
    (&["replay", "x.mcap", "--speed", "inf"], "--speed"),
    (&["replay", "x.mcap", "--speed", "1e-300"], "--speed"),
    (&["replay", "x.mcap", "--wait=-1"], "--wait"),
    (
        &[
            "rollout",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--episodes",
            "0",
        ],
        "--episodes",
    ),
    (
        &[
            "collect",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--out",
            "d",
            "--episodes",
            "0",
        ],
        "--episodes",
    ),
    (
        &["eval", "--config", "c.toml", "--episodes", "0"],
        "--episodes",
    ),
    (&["eval", "--config", "c.toml", "--jobs", "0"], "--jobs"),
    (&["eval", "--config", "c.toml", "--video", "1.5"], "--video"),
    (
        &["eval", "--config", "c.toml", "--video", "1001"],
        "--video",
    ),
    (
        &["eval", "--config", "c.toml", "--sil-timeout", "nan"],
        "--sil-timeout",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--val-fraction", "1"],
        "--val-fraction",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--lr", "nan"],
        "--lr",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--gamma", "2"],
        "--gamma",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--steps", "0"],
        "--steps",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--batch-size", "0"],
        "--batch-size",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--hidden", "50000000"],
        "--hidden",
    ),
    (
        &["train", "--data", "d", "--out", "m", "--decoder-coef=-1"],
        "--decoder-coef",
    ),
    (
        &["learn", "--out", "d", "--updates-per-step", "nan"],
        "--updates-per-step",
    ),
    (&["learn", "--out", "d", "--gamma=-1"], "--gamma"),
    (&["learn", "--out", "d", "--samples", "0"], "--samples"),
    (
        &["learn", "--out", "d", "--horizon", "100000000"],
        "--horizon",
    ),
    (&["learn", "--out", "d", "--hidden", "50000000"], "--hidden"),
    (
        &["learn", "--out", "d", "--explore-time", "nan"],
        "--explore-time",
    ),
    (
        &["learn", "--out", "d", "--max-episodes", "0"],
        "--max-episodes",
    ),
    (
        &["learn", "--out", "d", "--seed-policy", "brownian"],
        "--seed-policy",
    ),
    (
        &[
            "collect",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--out",
            "d",
            "--max-steps",
            "0",
        ],
        "--max-steps",
    ),
    (
        &[
            "collect",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--out",
            "d",
            "--explore-time=-1",
        ],
        "--explore-time",
    ),
    (&["bench", "sim", "--duration=-1"], "--duration"),
    (
        &["bench", "train", "--engine", "burn,torch"],
        "burn or fused",
    ),
    (&["bench", "loop", "--rates", "100,0"], "--rates"),
    (&["bench", "loop", "--duration", "inf"], "--duration"),
    (&["bench", "wire", "--rate", "inf"], "--rate"),
    (&["bench", "wire", "--messages", "0"], "--messages"),
    (&["bench", "record", "--image", "65535x65535"], "--image"),
    (&["bench", "plan", "--period-ms", "nan"], "--period-ms"),
    (&["bench", "plan", "--threads", "0"], "--threads"),
    (&["bench", "plan", "--samples", "100000000"], "--samples"),
    (&["bench", "model", "--duration", "1e300"], "--duration"),
    (&["bench", "model", "--hidden", "50000000"], "--hidden"),
    (
        &["dataset", "export", "d", "--format", "csv", "--out", "x"],
        "--format",
    ),
];

/// Bad numbers refused after parsing (with status 1), by checks whose
/// messages other tests hold to.
const BAD_FLAGS_CHECKED_LATER: &[(&[&str], &str)] = &[
    (
        &[
            "collect", "--robot", "cartpole", "--task", "swingup", "--out", "d", "--hold", "0",
        ],
        "--hold",
    ),
    (
        &[
            "collect",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--out",
            "d",
            "--explore-time",
            "1e5",
        ],
        "--explore-time",
    ),
    (
        &["run", "--config", "configs/cartpole_zero.toml", "--explore"],
        "--explore",
    ),
    (
        &[
            "topic",
            "echo",
            "umwelt/x/sensors",
            "--zenoh-endpoint",
            "unixsock-stream/",
        ],
        "unixsock-stream needs a socket path",
    ),
    (
        &["record", "--out", "x.mcap", "--robot", "no_such_robot"],
        "--robot",
    ),
];

/// The runtime crate's directory, where `configs/` and `launch/` resolve
/// (through the workspace root).
fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_in_workspace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run umwelt")
}

/// Checks that `out` failed cleanly: not 0, not a panic (101), no panic
/// message, and exactly one `error:` line, which names each of `names`.
fn assert_one_line_error(out: &std::process::Output, what: &str, names: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        code.is_some() && code != Some(0) && code != Some(101),
        "{what}: exit {code:?}\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{what}: one error line\n{stderr}");
    for n in names {
        assert!(errors[0].contains(n), "{what}: `{n}` not named\n{stderr}");
    }
}

#[test]
fn every_bad_number_on_the_command_line_is_a_one_line_error_naming_its_flag() {
    for (args, flag) in BAD_FLAGS {
        let out = run_in_workspace(args);
        let what = format!("umwelt {}", args.join(" "));
        assert_one_line_error(&out, &what, &[flag]);
        assert_eq!(out.status.code(), Some(2), "{what}: clap's usage status");
    }
    for (args, flag) in BAD_FLAGS_CHECKED_LATER {
        let out = run_in_workspace(args);
        assert_one_line_error(&out, &format!("umwelt {}", args.join(" ")), &[flag]);
    }
}

#[test]
fn bad_numbers_in_a_controller_config_are_one_line_errors_naming_the_key() {
    let dir = common::fresh_dir("cli-validation-config");
    std::fs::create_dir_all(&dir).expect("dir");
    let cases = [
        (
            "telemetry_period_s = 1e300\n[controller]\nkind = \"zero\"\n",
            "telemetry_period_s",
        ),
        (
            "[controller]\nkind = \"zero\"\n[safety]\nstale_after_periods = 1e300\n",
            "safety.stale_after_periods",
        ),
        (
            "[controller]\nkind = \"zero\"\n[safety]\ndeadline_periods = 1e300\n",
            "safety.deadline_periods",
        ),
        (
            "[controller]\nkind = \"cartpole_swingup\"\nmax_force = nan\n",
            "controller.max_force",
        ),
        (
            "[controller]\nkind = \"cartpole_swingup\"\nmax_force = -1.0\n",
            "controller.max_force",
        ),
        (
            "[controller]\nkind = \"cartpole_swingup\"\nlqr_q = [nan, 20.0, 0.5, 0.5]\n",
            "controller.lqr_q[0]",
        ),
    ];
    for (i, (body, key)) in cases.iter().enumerate() {
        let path = dir.join(format!("c{i}.toml"));
        let text = format!("robot = \"cartpole\"\ntask = \"swingup\"\n{body}");
        std::fs::write(&path, &text).expect("write");
        let p = path.to_string_lossy().into_owned();
        for args in [
            vec!["run", "--config", &p, "--duration", "1"],
            vec!["eval", "--config", &p, "--episodes", "1", "--out", &p],
        ] {
            let out = umwelt(&args);
            assert_one_line_error(&out, &format!("{text}\n{args:?}"), &[key, &p]);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_file_is_reported_once() {
    let dir = common::fresh_dir("cli-validation-missing");
    let out_dir = dir.join("out");
    let out_dir = out_dir.to_string_lossy();
    for args in [
        vec!["eval", "--config", "missing.toml"],
        vec!["model", "info", "missing.uwwm"],
        vec!["run", "--config", "missing.toml"],
        vec!["learn", "--recipe", "missing.toml", "--out", &out_dir],
        vec![
            "sim",
            "--robot",
            "cartpole",
            "--task",
            "swingup",
            "--config",
            "missing.toml",
        ],
    ] {
        let out = umwelt(&args);
        let what = format!("umwelt {}", args.join(" "));
        assert_one_line_error(&out, &what, &["missing."]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{what}: the cause once\n{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_stdout_pipe_ends_quietly_with_status_0() {
    for args in [
        &["envs"][..],
        &["envs", "--json"],
        &[
            "rollout", "--robot", "cartpole", "--task", "balance", "--json",
        ],
        &["rollout", "--robot", "cartpole", "--task", "balance"],
    ] {
        // The reading end is closed before the child starts: its first
        // write to stdout fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_umwelt"))
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn umwelt")
            .wait_with_output()
            .expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "umwelt {args:?}: {:?}\n{stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "umwelt {args:?}: {stderr}");
        assert!(!stderr.contains("error"), "umwelt {args:?}: {stderr}");
    }
}

/// Renamed flags (one meaning per name across commands): the old
/// spellings still work, with a one-line note naming the new one.
#[test]
fn old_flag_spellings_still_work_with_a_note() {
    let robot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/robots/cartpole.toml"
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "rollout", "--robot", "cartpole", "--task", "swingup", "--config", robot, "--json",
            ],
            "note: umwelt rollout --config is deprecated; use --robot-config",
        ),
        (
            &["bench", "sim", "--seconds=0.01", "--json"],
            "note: umwelt bench sim --seconds is deprecated; use --duration",
        ),
    ];
    for (args, note) in cases {
        let out = umwelt(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert_eq!(
            err.lines()
                .filter(|l| l.starts_with("note:"))
                .collect::<Vec<_>>(),
            [*note],
            "{args:?}"
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("the JSON report");
    }
    // The new spellings: no note.
    let out = umwelt(&[
        "rollout",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--robot-config",
        robot,
        "--json",
    ]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("note:"));
    // `run --episode-seed` parses as `--seed` (the config then fails to load).
    let out = umwelt(&[
        "run",
        "--config",
        "/nonexistent/c.toml",
        "--episode-seed",
        "3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: umwelt run --episode-seed is deprecated; use --seed")
            && err.contains("/nonexistent/c.toml"),
        "{err}"
    );
}
