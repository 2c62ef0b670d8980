//! One node's state under the supervisor: its current process, readiness,
//! restarts, how its last run ended, and what it printed.

use std::collections::VecDeque;
use std::time::Instant;

use super::child::{Program, Running, Stream};
use super::report::{Exit, NodeReport};
use super::spec::NodeSpec;

/// Output lines kept per node for error messages.
const TAIL: usize = 10;
/// Stdout kept per node for its JSON (more is dropped).
const MAX_STDOUT: usize = 16 << 20;

/// A node of the launch file and its state.
pub(crate) struct Node {
    pub spec: NodeSpec,
    pub program: Program,
    pub running: Option<Running>,
    /// Starts so far; output of older instances is only forwarded.
    pub instance: u32,
    /// Output pipes of the current instance not closed yet.
    pub open_pipes: u8,
    pub restarts: u32,
    pub restart_at: Option<Instant>,
    /// A restart was pending when launch stopped: its failed run was being
    /// handled by its policy, so it does not fail the launch.
    pub restart_cancelled: bool,
    pub pid: Option<u32>,
    pub first_start: Option<Instant>,
    pub started_s: Option<f64>,
    pub ready_s: Option<f64>,
    pub exit: Option<Exit>,
    pub stopped_by_launch: bool,
    pub killed: bool,
    stdout: Vec<u8>,
    stdout_overflow: bool,
    tail: VecDeque<String>,
}

impl Node {
    /// A node not started yet.
    pub fn new(spec: &NodeSpec, program: Program) -> Self {
        Self {
            spec: spec.clone(),
            program,
            running: None,
            instance: 0,
            open_pipes: 0,
            restarts: 0,
            restart_at: None,
            restart_cancelled: false,
            pid: None,
            first_start: None,
            started_s: None,
            ready_s: None,
            exit: None,
            stopped_by_launch: false,
            killed: false,
            stdout: Vec::new(),
            stdout_overflow: false,
            tail: VecDeque::new(),
        }
    }

    /// A new instance is starting: forget the last one's stdout and exit.
    pub fn next_instance(&mut self) -> u32 {
        self.instance += 1;
        self.stdout.clear();
        self.stdout_overflow = false;
        self.exit = None;
        self.instance
    }

    /// A line the node printed: kept for its JSON (stdout of the current
    /// instance), for error messages, and checked for the ready text.
    pub fn on_line(&mut self, instance: u32, stream: Stream, text: String) {
        if instance != self.instance {
            return;
        }
        if stream == Stream::Stdout && !self.stdout_overflow {
            if self.stdout.len() + text.len() < MAX_STDOUT {
                self.stdout.extend_from_slice(text.as_bytes());
                self.stdout.push(b'\n');
            } else {
                self.stdout_overflow = true;
            }
        }
        if self.ready_s.is_none()
            && let (Some(ready), Some(t0)) = (&self.spec.ready, self.first_start)
            && text.contains(ready.as_str())
        {
            self.ready_s = Some(t0.elapsed().as_secs_f64());
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(text);
    }

    /// One of the current instance's pipes closed.
    pub fn on_eof(&mut self, instance: u32) {
        if instance == self.instance {
            self.open_pipes = self.open_pipes.saturating_sub(1);
        }
    }

    /// The node's last output lines, as the end of an error message.
    pub fn tail_text(&self) -> String {
        if self.tail.is_empty() {
            return "; it printed nothing".to_string();
        }
        let mut s = String::from("; its last output:");
        for line in &self.tail {
            s.push_str(&format!("\n  [{}] {line}", self.spec.name));
        }
        s
    }

    /// Its part of the launch report.
    pub fn report(&self) -> NodeReport {
        let mut cmd = vec![self.program.program.to_string_lossy().into_owned()];
        cmd.extend(self.program.args.iter().cloned());
        let stdout_json = if self.stdout_overflow {
            None
        } else {
            serde_json::from_slice(&self.stdout).ok()
        };
        NodeReport {
            name: self.spec.name.clone(),
            cmd,
            pid: self.pid,
            exit_code: self.exit.and_then(|e| e.code),
            signal: self.exit.and_then(|e| e.signal),
            restarts: self.restarts,
            started_s: self.started_s,
            ready_s: self.ready_s,
            stopped_by_launch: self.stopped_by_launch,
            killed: self.killed,
            stdout_json,
        }
    }
}
