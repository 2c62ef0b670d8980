//! `umwelt launch` run as a user would: real processes, each test on its own
//! loopback zenoh endpoint and temporary folder.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, unbounded};
use serde_json::Value;
use umwelt_runtime::launch::{LaunchError, LaunchFile, RestartPolicy};
use umwelt_runtime::nodes::transport::free_loopback_endpoint;

#[path = "launch/shipped.rs"]
mod shipped;

/// A folder of its own for one test's launch files, removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn temp_dir(test: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("umwelt-launch-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    TempDir(dir)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a launch file");
    path
}

/// `umwelt launch`, killed when the test ends however it ends.
struct Launch {
    child: Child,
    stderr: Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Drop for Launch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launch {
    fn start(file: &Path, extra: &[&str]) -> Self {
        Self::start_in(file, extra, Path::new("."))
    }

    /// [`Launch::start`] in the working directory `cwd`.
    fn start_in(file: &Path, extra: &[&str], cwd: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_umwelt"))
            .arg("launch")
            .arg(file)
            .args(extra)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start umwelt launch");
        let (tx, stderr) = unbounded();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Self {
            child,
            stderr,
            stdout,
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid")
    }

    /// Reads stderr until a line contains `text`; returns what was read.
    fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = String::new();
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(text) {
                return seen;
            }
        }
        panic!("no `{text}` on launch's stderr within {timeout:?}; it printed:\n{seen}");
    }

    /// Waits for launch to exit: its status, stdout and the rest of stderr.
    fn finish(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for launch") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "umwelt launch still running after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut err = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            err.push_str(&line);
            err.push('\n');
        }
        let stdout = std::mem::replace(&mut self.stdout, std::thread::spawn(String::new));
        let out = stdout.join().expect("stdout reader");
        (status, out, err)
    }
}

/// Runs launch to its end.
fn launch(file: &Path, extra: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    Launch::start(file, extra).finish(timeout)
}

fn report(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

fn node<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no node `{name}` in {report}"))
}

fn pid(node: &Value) -> i32 {
    let pid = node["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid: {node}"));
    i32::try_from(pid).expect("a pid")
}

/// No process with this pid, and none left in its process group.
fn gone(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the target exists.
    unsafe { libc::kill(pid, 0) != 0 && libc::kill(-pid, 0) != 0 }
}

/// A shell node that prints `up`, then sleeps until stopped.
const SLEEPER: &str = r#"cmd = ["sh", "-c", "echo up; exec sleep 30"]
ready = "up""#;

#[test]
fn sim_and_topic_hz_run_together_and_report_their_json() {
    let dir = temp_dir("sim-topic");
    let endpoint = free_loopback_endpoint().unwrap();
    let file = write(
        &dir,
        "sil.toml",
        r#"
[[node]]
name = "sim"
cmd = ["umwelt", "sim", "--robot", "cartpole", "--task", "swingup", "--json"]
ready = "Ctrl-C stops"
ready_timeout_s = 10

[[node]]
name = "hz"
cmd = ["umwelt", "topic", "hz", "umwelt/cartpole/sensors", "--duration", "30", "--json"]
"#,
    );
    let t0 = Instant::now();
    let (status, out, err) = launch(
        &file,
        &["--duration", "3", "--json", "--zenoh-endpoint", &endpoint],
        Duration::from_secs(20),
    );
    let wall = t0.elapsed().as_secs_f64();
    assert!(status.success(), "launch failed: {status}\n{err}");
    let r = report(&out, &err);
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["failure"].is_null());
    let d = r["duration_s"].as_f64().unwrap();
    assert!(
        (3.0..8.0).contains(&d) && wall < 10.0,
        "took {d} s ({wall} s)"
    );

    let sim = node(&r, "sim");
    let hz = node(&r, "hz");
    assert_eq!(
        sim["cmd"][0],
        env!("CARGO_BIN_EXE_umwelt"),
        "umwelt = this exe"
    );
    // Readiness honoured: hz started only once the sim had said it was ready.
    let sim_ready = sim["started_s"].as_f64().unwrap() + sim["ready_s"].as_f64().unwrap();
    assert!(hz["started_s"].as_f64().unwrap() >= sim_ready, "{r}");
    for n in [sim, hz] {
        assert_eq!(n["exit_code"], 0, "{n}");
        assert!(n["signal"].is_null(), "{n}");
        assert_eq!(n["restarts"], 0);
        assert_eq!(n["stopped_by_launch"], true);
        assert!(gone(pid(n)), "{} still running", n["name"]);
    }
    assert!(sim["stdout_json"]["frames"].as_u64().unwrap() > 0, "{sim}");
    assert_eq!(hz["stdout_json"]["key"], "umwelt/cartpole/sensors", "{hz}");
    assert!(
        hz["stdout_json"]["messages"].as_u64().unwrap() > 0,
        "hz met the sim on {endpoint}: {hz}"
    );
    // Every line is forwarded with its node's name.
    assert!(err.contains("[sim] umwelt sim: cartpole/swingup"), "{err}");
    assert!(err.contains("[hz] {"), "{err}");
}

#[test]
fn ctrl_c_stops_every_node_within_the_stop_timeout() {
    let dir = temp_dir("ctrl-c");
    let endpoint = free_loopback_endpoint().unwrap();
    let file = write(
        &dir,
        "ctrl_c.toml",
        &format!(
            r#"
zenoh_endpoint = "{endpoint}"
stop_timeout_s = 3

[[node]]
name = "sim"
cmd = ["umwelt", "sim", "--robot", "cartpole", "--task", "swingup", "--json"]
ready = "Ctrl-C stops"

[[node]]
name = "sleeper"
{SLEEPER}
"#
        ),
    );
    let l = Launch::start(&file, &["--json"]);
    l.wait_for("all 2 nodes ready", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signals the launch process this test started.
    assert_eq!(unsafe { libc::kill(l.pid(), libc::SIGINT) }, 0);
    let t0 = Instant::now();
    let (status, out, err) = l.finish(Duration::from_secs(10));
    let stop_s = t0.elapsed().as_secs_f64();
    assert!(status.success(), "launch failed: {status}\n{err}");
    assert!(
        stop_s < 3.0,
        "stopping took {stop_s} s, over the stop timeout"
    );
    let r = report(&out, &err);
    assert_eq!(r["stop_reason"], "stop requested");
    let sim = node(&r, "sim");
    let sleeper = node(&r, "sleeper");
    assert_eq!(sim["exit_code"], 0, "the sim handles SIGINT: {sim}");
    assert!(sim["stdout_json"]["frames"].as_u64().unwrap() > 0, "{sim}");
    assert_eq!(
        sleeper["signal"],
        libc::SIGINT,
        "killed by launch's SIGINT: {sleeper}"
    );
    for n in [sim, sleeper] {
        assert_eq!(n["stopped_by_launch"], true);
        assert_eq!(n["killed"], false);
        assert!(gone(pid(n)), "{} still running", n["name"]);
    }
}

#[test]
fn nodes_start_after_the_one_before_is_ready_and_stop_in_reverse() {
    let dir = temp_dir("order");
    let file = write(
        &dir,
        "order.toml",
        r#"
[[node]]
name = "first"
cmd = ["sh", "-c", "trap 'echo first-stopped; exit 0' INT; sleep 0.5; echo warmed up; while :; do sleep 0.05; done"]
ready = "warmed up"

[[node]]
name = "second"
cmd = ["sh", "-c", "trap 'echo second-stopped; exit 0' INT; while :; do sleep 0.05; done"]
"#,
    );
    let (status, out, err) = launch(
        &file,
        &["--duration", "1.5", "--json"],
        Duration::from_secs(15),
    );
    assert!(status.success(), "launch failed: {status}\n{err}");
    let r = report(&out, &err);
    let first = node(&r, "first");
    let second = node(&r, "second");
    let ready = first["ready_s"].as_f64().unwrap();
    assert!(ready >= 0.5, "ready after its sleep: {first}");
    assert!(
        second["started_s"].as_f64().unwrap() >= first["started_s"].as_f64().unwrap() + ready,
        "second waited for first: {r}"
    );
    for n in [first, second] {
        assert_eq!(n["exit_code"], 0, "handled SIGINT: {n}");
        assert!(gone(pid(n)));
    }
    let (a, b) = (
        err.find("[second] second-stopped"),
        err.find("[first] first-stopped"),
    );
    assert!(
        matches!((a, b), (Some(a), Some(b)) if a < b),
        "second stops before first:\n{err}"
    );
}

#[test]
fn a_node_that_never_gets_ready_fails_launch_and_nothing_stays_running() {
    let dir = temp_dir("not-ready");
    let file = write(
        &dir,
        "stuck.toml",
        &format!(
            r#"
[[node]]
name = "first"
{SLEEPER}

[[node]]
name = "stuck"
cmd = ["sh", "-c", "echo starting; exec sleep 30"]
ready = "never printed"
ready_timeout_s = 1

[[node]]
name = "third"
cmd = ["sh", "-c", "exec sleep 30"]
"#
        ),
    );
    let t0 = Instant::now();
    let (status, out, err) = launch(&file, &["--json"], Duration::from_secs(15));
    assert!(!status.success(), "launch should fail:\n{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(
        err.contains("node `stuck` did not print `never printed` within 1 s"),
        "{err}"
    );
    assert!(
        err.contains("[stuck] starting"),
        "names its last output: {err}"
    );
    let r = report(&out, &err);
    assert_eq!(r["ok"], false);
    assert_eq!(r["failure"]["node"], "stuck");
    assert!(node(&r, "third")["pid"].is_null(), "never started: {r}");
    for name in ["first", "stuck"] {
        let n = node(&r, name);
        assert_eq!(n["stopped_by_launch"], true, "{n}");
        assert!(gone(pid(n)), "{name} still running");
    }
}

#[test]
fn on_failure_restarts_up_to_max_restarts_then_fails_naming_the_node() {
    let dir = temp_dir("restart");
    let file = write(
        &dir,
        "flaky.toml",
        &format!(
            r#"
[[node]]
name = "steady"
{SLEEPER}

[[node]]
name = "flaky"
cmd = ["sh", "-c", "echo trying; exit 3"]
restart = "on-failure"
max_restarts = 2
"#
        ),
    );
    let t0 = Instant::now();
    let (status, out, err) = launch(&file, &["--json"], Duration::from_secs(15));
    assert_eq!(status.code(), Some(3), "the node's exit code:\n{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(
        err.contains("node `flaky` ended (exit code 3) after 2 restarts"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| *l == "[flaky] trying").count(),
        3,
        "{err}"
    );
    let r = report(&out, &err);
    assert_eq!(r["failure"]["node"], "flaky");
    assert_eq!(r["failure"]["exit_code"], 3);
    let flaky = node(&r, "flaky");
    assert_eq!(flaky["restarts"], 2);
    assert_eq!(flaky["exit_code"], 3);
    let steady = node(&r, "steady");
    assert_eq!(steady["stopped_by_launch"], true);
    assert!(gone(pid(steady)) && gone(pid(flaky)));

    // `never` (the default): it fails at once.
    let once = write(
        &dir,
        "once.toml",
        &format!(
            r#"
[[node]]
name = "steady"
{SLEEPER}

[[node]]
name = "flaky"
cmd = ["sh", "-c", "echo trying; exit 3"]
"#
        ),
    );
    let (status, out, err) = launch(&once, &["--json"], Duration::from_secs(15));
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("node `flaky` ended (exit code 3)"), "{err}");
    assert_eq!(
        err.lines().filter(|l| *l == "[flaky] trying").count(),
        1,
        "{err}"
    );
    let r = report(&out, &err);
    assert_eq!(node(&r, "flaky")["restarts"], 0);
    assert!(gone(pid(node(&r, "steady"))));
}

#[test]
fn env_cwd_and_zenoh_endpoint_reach_the_nodes_and_a_clean_exit_ends_launch() {
    let dir = temp_dir("env");
    let file = write(
        &dir,
        "env.toml",
        &format!(
            r#"
zenoh_endpoint = "tcp/127.0.0.1:1"

[env]
SHARED = "from the file"
OVERRIDDEN = "file"

[[node]]
name = "steady"
{SLEEPER}

[[node]]
name = "printer"
cmd = ["sh", "-c", "printf '{{\"shared\":\"%s\",\"over\":\"%s\",\"ep\":\"%s\",\"cwd\":\"%s\"}}\n' \"$SHARED\" \"$OVERRIDDEN\" \"$UMWELT_ZENOH_ENDPOINT\" \"$(pwd -P)\""]
cwd = "{}"
env = {{ OVERRIDDEN = "node" }}
"#,
            std::env::temp_dir().display()
        ),
    );
    let (status, out, err) = launch(&file, &["--json"], Duration::from_secs(15));
    assert!(status.success(), "{err}");
    let r = report(&out, &err);
    assert_eq!(r["stop_reason"], "node `printer` exited");
    let printed = &node(&r, "printer")["stdout_json"];
    assert_eq!(printed["shared"], "from the file", "{r}");
    assert_eq!(printed["over"], "node");
    assert_eq!(printed["ep"], "tcp/127.0.0.1:1");
    let tmp = std::env::temp_dir().canonicalize().unwrap();
    assert_eq!(printed["cwd"], tmp.to_str().unwrap());
    assert!(gone(pid(node(&r, "steady"))));

    // --zenoh-endpoint wins over the file.
    let (status, out, err) = launch(
        &file,
        &["--json", "--zenoh-endpoint", "tcp/127.0.0.1:2"],
        Duration::from_secs(15),
    );
    assert!(status.success(), "{err}");
    let r = report(&out, &err);
    assert_eq!(node(&r, "printer")["stdout_json"]["ep"], "tcp/127.0.0.1:2");
}

#[test]
fn bad_launch_files_give_errors_naming_the_problem() {
    let dir = temp_dir("bad");
    let cases = [
        (
            "unknown.toml",
            "[[node]]\nname = \"a\"\ncmd = [\"true\"]\ncolour = \"red\"\n",
            vec!["unknown field `colour`"],
        ),
        (
            "top_unknown.toml",
            "zenoh = 1\n[[node]]\nname = \"a\"\ncmd = [\"true\"]\n",
            vec!["unknown field `zenoh`"],
        ),
        (
            "duplicate.toml",
            "[[node]]\nname = \"a\"\ncmd = [\"true\"]\n[[node]]\nname = \"a\"\ncmd = [\"true\"]\n",
            vec!["node[1].name", "`a`", "unique"],
        ),
        (
            "empty_cmd.toml",
            "[[node]]\nname = \"a\"\ncmd = []\n",
            vec!["node[0] (`a`).cmd", "must not be empty"],
        ),
        (
            "policy.toml",
            "[[node]]\nname = \"a\"\ncmd = [\"true\"]\nrestart = \"sometimes\"\n",
            vec!["sometimes", "on-failure"],
        ),
        (
            "no_nodes.toml",
            "stop_timeout_s = 1\n",
            vec!["nothing to launch"],
        ),
    ];
    for (name, text, wanted) in cases {
        let file = write(&dir, name, text);
        let (status, _, err) = launch(&file, &[], Duration::from_secs(10));
        assert!(!status.success(), "{name} should fail");
        assert!(
            err.contains(file.to_str().unwrap()),
            "{name}: names the file: {err}"
        );
        for w in wanted {
            assert!(err.contains(w), "{name}: no `{w}` in: {err}");
        }
    }
    let missing = dir.join("missing.toml");
    let (status, _, err) = launch(&missing, &[], Duration::from_secs(10));
    assert!(!status.success());
    assert!(
        err.contains("missing.toml") && err.contains("No such file"),
        "{err}"
    );
    // The library reports the same as typed errors.
    let e = LaunchFile::parse("[[node]]\nname = \"a\"\ncmd = []\n", Path::new("x.toml"));
    assert!(
        matches!(&e, Err(LaunchError::Invalid { field, .. }) if field == "node[0] (`a`).cmd"),
        "{e:?}"
    );
}
