//! Helpers shared by the integration tests that run the `umwelt` binary.

use std::process::Command;

#[allow(dead_code)] // not every test binary that shares this module needs it
pub mod process;

/// Runs `umwelt ARGS` to completion.
pub fn umwelt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args(args)
        .output()
        .expect("run umwelt")
}

/// Runs `umwelt ARGS`, which must succeed and print one JSON document.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn json(args: &[&str]) -> serde_json::Value {
    json_of(&umwelt(args), &format!("umwelt {args:?}"))
}

/// The one JSON document on the stdout of `what`, which must have
/// succeeded.
pub fn json_of(out: &std::process::Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not one JSON document ({e})"))
}

/// A path under the system's temp directory for one test of this process
/// (`umwelt-TAG-PID`), with any leftover of an earlier run removed; the
/// test creates it (or lets `umwelt` create it) and removes it at the end.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn fresh_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("umwelt-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

/// The number at JSON pointer `path` of `v`; panics, naming both, if it is
/// missing or not a number.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn num(v: &serde_json::Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(|x| x.as_f64())
        .unwrap_or_else(|| panic!("{path} missing or not a number in {v}"))
}

/// The flags of a tiny learning run of the cart-pole (one seed episode,
/// an evaluation after each episode, a small planner and model, 2
/// held-out episodes per candidate at the end; the robot and task first,
/// the selection last).
#[allow(dead_code)] // not every test binary that shares this module needs it
pub const TINY: [&str; 22] = [
    "--robot",
    "cartpole",
    "--task",
    "balance",
    "--seed-episodes",
    "1",
    "--eval-every",
    "1",
    "--eval-episodes",
    "1",
    "--samples",
    "16",
    "--iterations",
    "1",
    "--horizon",
    "2",
    "--hidden",
    "16",
    "--updates-per-step",
    "0.01",
    "--select-episodes",
    "2",
];

/// `umwelt learn --json` of 2000 steps into `out`: `extra`, then [`TINY`].
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn tiny_run<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["learn", "--json", "--out", out, "--steps", "2000"];
    args.extend(extra);
    args.extend(TINY);
    args
}

/// The repository's root.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The path of `configs/NAME`, as a string for a command line.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn config(name: &str) -> String {
    repo().join("configs").join(name).display().to_string()
}

/// The JSON document in the file at `path`; panics, naming it, if it cannot
/// be read or parsed.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
