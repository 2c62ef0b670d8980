//! What a launch did: per node, how it started and ended; and why launch
//! stopped.

use serde::Serialize;

use super::child::signal_name;

/// How a process ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Exit {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal killed it.
    pub signal: Option<i32>,
}

impl Exit {
    /// From a process's wait status.
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
        }
    }

    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Clean for a node that launch asked to stop: exit 0, the shells'
    /// "interrupted" code 130, or death by the signals launch sends.
    pub fn clean_after_stop(&self) -> bool {
        matches!(self.code, Some(0 | 130))
            || matches!(
                self.signal,
                Some(libc::SIGINT | libc::SIGTERM | libc::SIGKILL)
            )
    }

    /// The exit status a shell would show: the code, or 128 + the signal;
    /// 1 when unknown or 0 (for a failure that must not read as success).
    pub fn failure_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) if c != 0 => c,
            (_, Some(s)) => 128 + s,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by {} ({s})", signal_name(s)),
            (None, None) => write!(f, "unknown exit status"),
        }
    }
}

/// The node that made a launch fail, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    /// The node's name.
    pub node: String,
    /// What went wrong, with the node's last output lines.
    pub message: String,
    /// The exit status launch should end with: the node's non-zero exit
    /// code, 128 + the signal that killed it, or 1.
    pub exit_code: i32,
}

/// One node's part of a [`LaunchReport`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeReport {
    /// The node's name.
    pub name: String,
    /// The command as run (`umwelt` replaced by the running executable).
    pub cmd: Vec<String>,
    /// Process id of its last start; `None` if it never started.
    pub pid: Option<u32>,
    /// Exit code of its last run, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended its last run, if one did.
    pub signal: Option<i32>,
    /// How many times it was started again.
    pub restarts: u32,
    /// Seconds from the start of launch to the node's first start.
    pub started_s: Option<f64>,
    /// Seconds from the node's first start until it was ready.
    pub ready_s: Option<f64>,
    /// Whether launch sent it SIGINT to stop it.
    pub stopped_by_launch: bool,
    /// Whether launch had to SIGKILL it after the stop timeout.
    pub killed: bool,
    /// Its last run's whole stdout parsed as one JSON value, if it parses
    /// (e.g. the summary `umwelt sim --json` prints).
    pub stdout_json: Option<serde_json::Value>,
}

/// What a launch did, from start to the last node's end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LaunchReport {
    /// The launch file.
    pub file: String,
    /// Seconds from start until every node had ended.
    pub duration_s: f64,
    /// Why launch stopped the nodes, in words.
    pub stop_reason: String,
    /// True when every node ended cleanly.
    pub ok: bool,
    /// The node that failed, if one did.
    pub failure: Option<Failure>,
    /// The nodes, in file order.
    pub nodes: Vec<NodeReport>,
}

impl LaunchReport {
    /// The exit status for the `umwelt launch` process.
    pub fn exit_code(&self) -> i32 {
        self.failure.as_ref().map_or(0, |f| f.exit_code)
    }

    /// A short table for people: one row per node.
    pub fn table(&self) -> String {
        let width = self
            .nodes
            .iter()
            .map(|n| n.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!(
            "umwelt launch: {} after {:.1} s ({})\n  {:<width$}  {:>8}  {:>8}  {:>8}  end\n",
            if self.ok { "done" } else { "FAILED" },
            self.duration_s,
            self.stop_reason,
            "node",
            "pid",
            "ready",
            "restarts",
        );
        for n in &self.nodes {
            let pid = n.pid.map_or("-".to_string(), |p| p.to_string());
            let ready = n.ready_s.map_or("-".to_string(), |r| format!("{r:.2} s"));
            let exit = Exit {
                code: n.exit_code,
                signal: n.signal,
            };
            let end = match (n.pid, n.exit_code, n.signal) {
                (None, _, _) => "not started".to_string(),
                (Some(_), None, None) => "unknown".to_string(),
                _ if n.killed => format!("{exit} (after the stop timeout)"),
                _ if n.stopped_by_launch => format!("{exit} (stopped)"),
                _ => exit.to_string(),
            };
            out.push_str(&format!(
                "  {:<width$}  {pid:>8}  {ready:>8}  {:>8}  {end}\n",
                n.name, n.restarts
            ));
        }
        out
    }
}
