//! The supervisor: starts the nodes in order, waits for each to be ready,
//! forwards their output, restarts them by policy, and stops them all in
//! reverse order.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, unbounded};

use super::child::{self, Event, Program};
use super::node::Node;
use super::report::{Exit, Failure, LaunchReport};
use super::spec::{LaunchFile, NodeSpec};

/// The environment variable every umwelt networked command reads as the
/// default of `--zenoh-endpoint`.
pub const ZENOH_ENDPOINT_ENV: &str = "UMWELT_ZENOH_ENDPOINT";

/// How often the supervisor checks for exited processes.
const POLL: Duration = Duration::from_millis(20);
/// The first restart waits this long; each further one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Restarts never wait longer than this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After a process exits, how long to wait for the rest of its output.
const DRAIN: Duration = Duration::from_millis(500);
/// After SIGKILL, how long to wait for the process to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// How a launch runs: what comes from the command line rather than the file.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// The executable that a first word `umwelt` in a node's `cmd` stands
    /// for (normally `std::env::current_exe()`).
    pub umwelt_exe: PathBuf,
    /// Stop every node cleanly this long after the start.
    pub duration: Option<Duration>,
    /// zenoh endpoint for every node, over the file's `zenoh_endpoint` and
    /// `env` tables.
    pub zenoh_endpoint: Option<String>,
    /// Set (e.g. by Ctrl-C) to stop every node cleanly.
    pub stop: Arc<AtomicBool>,
    /// Forward each output line of the nodes to stderr as `[name] line`,
    /// with launch's own messages.
    pub forward_output: bool,
}

/// Why the nodes are being stopped.
enum End {
    /// The stop flag was set (Ctrl-C, SIGTERM).
    Requested,
    /// `duration` passed.
    Duration,
    /// A node ended cleanly and was not to be restarted.
    NodeEnded(usize),
    /// A node failed.
    Failed(Failure),
}

/// Starts and supervises the nodes of a launch file.
pub struct Supervisor {
    path: PathBuf,
    nodes: Vec<Node>,
    stop_timeout: Duration,
    opts: LaunchOptions,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    start: Instant,
}

impl Supervisor {
    /// A supervisor for `file` (read from `path`), nothing started yet.
    pub fn new(path: &Path, file: LaunchFile, opts: LaunchOptions) -> Self {
        let (tx, rx) = unbounded();
        let nodes = file
            .nodes
            .iter()
            .map(|spec| Node::new(spec, resolve(spec, &file, &opts)))
            .collect();
        Self {
            path: path.to_path_buf(),
            nodes,
            stop_timeout: Duration::from_secs_f64(file.stop_timeout_s),
            opts,
            tx,
            rx,
            start: Instant::now(),
        }
    }

    /// Runs the launch to its end: starts the nodes in file order, each
    /// once the one before is ready; supervises them until a stop request,
    /// `duration`, a node's end or a failure; then stops the rest in reverse
    /// order (SIGINT, SIGKILL after the stop timeout) and reports.
    ///
    /// Call it on a thread that lives until it returns: on Linux the nodes
    /// get SIGTERM when the thread that started them ends.
    pub fn run(mut self) -> LaunchReport {
        self.start = Instant::now();
        let end = self.start_and_supervise();
        let reason = match &end {
            End::Requested => "stop requested".to_string(),
            End::Duration => format!(
                "--duration {} s elapsed",
                self.opts.duration.unwrap_or_default().as_secs_f64()
            ),
            End::NodeEnded(i) => format!("node `{}` exited", self.nodes[*i].spec.name),
            End::Failed(f) => format!("node `{}` failed", f.node),
        };
        let stopping = self.nodes.iter().filter(|n| n.running.is_some()).count();
        if stopping > 0 {
            self.say(&format!(
                "{reason}; stopping {stopping} node{}",
                if stopping == 1 { "" } else { "s" }
            ));
        }
        self.stop_all();
        let failure = match end {
            End::Failed(f) => Some(f),
            _ => self.first_unclean(),
        };
        LaunchReport {
            file: self.path.display().to_string(),
            duration_s: self.start.elapsed().as_secs_f64(),
            stop_reason: reason,
            ok: failure.is_none(),
            failure,
            nodes: self.nodes.iter().map(Node::report).collect(),
        }
    }

    fn start_and_supervise(&mut self) -> End {
        for i in 0..self.nodes.len() {
            if let Some(end) = self.stop_requested() {
                return end;
            }
            if let Err(f) = self.spawn(i) {
                return End::Failed(f);
            }
            let timeout = Duration::from_secs_f64(self.nodes[i].spec.ready_timeout_s);
            let deadline = Instant::now() + timeout;
            while self.nodes[i].ready_s.is_none() {
                if let Some(end) = self.stop_requested() {
                    return end;
                }
                if Instant::now() >= deadline {
                    return End::Failed(self.not_ready(i, timeout));
                }
                if let Some(end) = self.step(Some(deadline)) {
                    return end;
                }
            }
            if let (Some(text), Some(s)) = (&self.nodes[i].spec.ready, self.nodes[i].ready_s) {
                let name = &self.nodes[i].spec.name;
                self.say(&format!("`{name}` ready after {s:.2} s (printed `{text}`)"));
            }
        }
        self.say(&match self.nodes.len() {
            1 => "the node is ready; Ctrl-C stops it".to_string(),
            n => format!("all {n} nodes ready; Ctrl-C stops them"),
        });
        loop {
            if let Some(end) = self.stop_requested() {
                return end;
            }
            if let Some(end) = self.step(None) {
                return end;
            }
        }
    }

    fn stop_requested(&self) -> Option<End> {
        if self.opts.stop.load(Ordering::SeqCst) {
            return Some(End::Requested);
        }
        match self.opts.duration {
            Some(d) if self.start.elapsed() >= d => Some(End::Duration),
            _ => None,
        }
    }

    /// Waits a moment for output, then handles exits and due restarts.
    fn step(&mut self, until: Option<Instant>) -> Option<End> {
        let now = Instant::now();
        let mut wake = now + POLL;
        let restarts = self.nodes.iter().filter_map(|n| n.restart_at);
        let duration_end = self.opts.duration.map(|d| self.start + d);
        for t in restarts.chain(until).chain(duration_end) {
            wake = wake.min(t);
        }
        self.pump(wake.saturating_duration_since(now));
        for i in 0..self.nodes.len() {
            if let Some(exit) = self.reap(i)
                && let Some(end) = self.after_exit(i, exit)
            {
                return Some(end);
            }
        }
        let now = Instant::now();
        for i in 0..self.nodes.len() {
            if self.nodes[i].restart_at.is_some_and(|t| t <= now) {
                self.nodes[i].restart_at = None;
                if let Err(f) = self.spawn(i) {
                    return Some(End::Failed(f));
                }
            }
        }
        None
    }

    /// Handles events for up to `wait`, returning after the first batch.
    fn pump(&mut self, wait: Duration) {
        match self.rx.recv_timeout(wait) {
            Ok(event) => self.handle(event),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(event) = self.rx.try_recv() {
            self.handle(event);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Line {
                node,
                instance,
                stream,
                text,
            } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    if self.opts.forward_output {
                        let _ = writeln!(std::io::stderr().lock(), "[{}] {text}", n.spec.name);
                    }
                    n.on_line(instance, stream, text);
                }
            }
            Event::Eof { node, instance } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.on_eof(instance);
                }
            }
        }
    }

    /// Starts node `i` (again).
    fn spawn(&mut self, i: usize) -> Result<(), Failure> {
        let n = &mut self.nodes[i];
        let instance = n.next_instance();
        let running = match child::spawn(&n.program, i, instance, &self.tx) {
            Ok(r) => r,
            Err(e) => {
                return Err(Failure {
                    node: n.spec.name.clone(),
                    message: format!(
                        "node `{}`: cannot start `{}`: {e}",
                        n.spec.name,
                        n.program.program.to_string_lossy()
                    ),
                    exit_code: 1,
                });
            }
        };
        n.open_pipes = 2;
        n.pid = Some(running.pid);
        if n.first_start.is_none() {
            n.first_start = Some(running.started);
            n.started_s = Some(running.started.duration_since(self.start).as_secs_f64());
            if n.spec.ready.is_none() {
                n.ready_s = Some(0.0);
            }
        }
        let msg = format!(
            "started `{}` (pid {}{})",
            n.spec.name,
            running.pid,
            if n.restarts > 0 {
                format!(", restart {} of {}", n.restarts, n.spec.max_restarts)
            } else {
                String::new()
            }
        );
        n.running = Some(running);
        self.say(&msg);
        Ok(())
    }

    /// If node `i` has exited: reaps it, reads the rest of its output and
    /// records how it ended.
    fn reap(&mut self, i: usize) -> Option<Exit> {
        let running = self.nodes[i].running.as_mut()?;
        let pid = running.pid;
        let exit = match running.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => Exit::from_status(status),
            // Not ours to wait for any more (ECHILD): gone, status unknown.
            Err(_) => Exit::default(),
        };
        self.nodes[i].running = None;
        let deadline = Instant::now() + DRAIN;
        while self.nodes[i].open_pipes > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.pump(deadline - now);
        }
        if self.nodes[i].open_pipes > 0 {
            // Its output is still open: it left processes behind in its
            // group (e.g. `sh -c "server &"`). They must not outlive it.
            let name = &self.nodes[i].spec.name;
            self.say(&format!(
                "`{name}` exited but left processes behind; killing its process group"
            ));
            child::signal(pid, libc::SIGKILL);
        }
        self.nodes[i].exit = Some(exit);
        Some(exit)
    }

    /// Decides what an exit of node `i` means: a restart, the end of the
    /// launch, or a failure.
    fn after_exit(&mut self, i: usize, exit: Exit) -> Option<End> {
        let n = &mut self.nodes[i];
        let name = n.spec.name.clone();
        if n.ready_s.is_none() {
            let ready = n.spec.ready.as_deref().unwrap_or_default();
            let message = format!(
                "node `{name}` ended ({exit}) before it was ready (it never printed `{ready}`){}",
                n.tail_text()
            );
            return Some(End::Failed(Failure {
                node: name,
                message,
                exit_code: exit.failure_code(),
            }));
        }
        let clean = exit.success();
        if n.spec.restart.wants_restart(clean) {
            if n.restarts < n.spec.max_restarts {
                n.restarts += 1;
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << (n.restarts - 1).min(16))
                    .min(MAX_BACKOFF);
                n.restart_at = Some(Instant::now() + backoff);
                let msg = format!(
                    "`{name}` ended ({exit}); restarting in {:.1} s ({} of {} restarts)",
                    backoff.as_secs_f64(),
                    n.restarts,
                    n.spec.max_restarts
                );
                self.say(&msg);
                return None;
            }
            if !clean {
                let message = format!(
                    "node `{name}` ended ({exit}) after {} restart{} (max_restarts = {}){}",
                    n.restarts,
                    if n.restarts == 1 { "" } else { "s" },
                    n.spec.max_restarts,
                    n.tail_text()
                );
                return Some(End::Failed(Failure {
                    node: name,
                    message,
                    exit_code: exit.failure_code(),
                }));
            }
        }
        if clean {
            self.say(&format!("`{name}` ended ({exit})"));
            return Some(End::NodeEnded(i));
        }
        let message = format!("node `{name}` ended ({exit}){}", n.tail_text());
        Some(End::Failed(Failure {
            node: name,
            message,
            exit_code: exit.failure_code(),
        }))
    }

    /// Stops every running node in reverse file order (the order they
    /// started in), one at a time: SIGINT, then SIGKILL after the stop
    /// timeout. Pending restarts are dropped.
    fn stop_all(&mut self) {
        for n in &mut self.nodes {
            if n.restart_at.take().is_some() {
                n.restart_cancelled = true;
            }
        }
        for i in (0..self.nodes.len()).rev() {
            let Some(pid) = self.nodes[i].running.as_ref().map(|r| r.pid) else {
                continue;
            };
            self.nodes[i].stopped_by_launch = true;
            child::signal(pid, libc::SIGINT);
            if !self.wait_exit(i, self.stop_timeout) {
                let name = &self.nodes[i].spec.name;
                self.say(&format!(
                    "`{name}` still running {:.1} s after SIGINT: sending SIGKILL",
                    self.stop_timeout.as_secs_f64()
                ));
                self.nodes[i].killed = true;
                child::signal(pid, libc::SIGKILL);
                if !self.wait_exit(i, KILL_WAIT) {
                    // Unkillable for now (e.g. in uninterruptible sleep):
                    // block until the kernel lets it go.
                    if let Some(mut r) = self.nodes[i].running.take() {
                        let exit = r.child.wait().map(Exit::from_status).unwrap_or_default();
                        self.nodes[i].exit = Some(exit);
                    }
                }
            }
        }
    }

    /// Handles output and exits of every node until node `i` has exited or
    /// `timeout` passes; true if it exited.
    fn wait_exit(&mut self, i: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            for j in 0..self.nodes.len() {
                self.reap(j);
            }
            if self.nodes[i].running.is_none() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.pump((deadline - now).min(POLL));
        }
    }

    /// After a stop: the first node whose last run did not end cleanly.
    fn first_unclean(&self) -> Option<Failure> {
        self.nodes.iter().find_map(|n| {
            let exit = n.exit?;
            let clean = exit.success()
                || n.restart_cancelled
                || (n.stopped_by_launch && exit.clean_after_stop());
            (!clean).then(|| Failure {
                node: n.spec.name.clone(),
                message: format!(
                    "node `{}` ended ({exit}){}{}",
                    n.spec.name,
                    if n.stopped_by_launch {
                        " when launch stopped it"
                    } else {
                        ""
                    },
                    n.tail_text()
                ),
                exit_code: exit.failure_code(),
            })
        })
    }

    fn not_ready(&self, i: usize, timeout: Duration) -> Failure {
        let n = &self.nodes[i];
        Failure {
            node: n.spec.name.clone(),
            message: format!(
                "node `{}` did not print `{}` within {} s (ready_timeout_s){}",
                n.spec.name,
                n.spec.ready.as_deref().unwrap_or_default(),
                timeout.as_secs_f64(),
                n.tail_text()
            ),
            exit_code: 1,
        }
    }

    /// A message of launch itself, on stderr.
    fn say(&self, msg: &str) {
        if self.opts.forward_output {
            let _ = writeln!(std::io::stderr().lock(), "umwelt launch: {msg}");
        }
    }
}

/// The program, arguments and environment of a node.
fn resolve(spec: &NodeSpec, file: &LaunchFile, opts: &LaunchOptions) -> Program {
    let mut env = BTreeMap::new();
    if let Some(e) = &file.zenoh_endpoint {
        env.insert(ZENOH_ENDPOINT_ENV.to_string(), e.clone());
    }
    env.extend(file.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(e) = &opts.zenoh_endpoint {
        env.insert(ZENOH_ENDPOINT_ENV.to_string(), e.clone());
    }
    let first = spec.cmd.first().map(String::as_str).unwrap_or_default();
    let program = if first == "umwelt" {
        opts.umwelt_exe.clone().into_os_string()
    } else {
        OsString::from(first)
    };
    Program {
        program,
        args: spec.cmd.iter().skip(1).cloned().collect(),
        env: env.into_iter().collect(),
        cwd: spec.cwd.clone(),
    }
}
