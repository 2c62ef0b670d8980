//! One running instance of a node: the process, a reader thread per pipe
//! that turns its output into [`Event`]s, and signals to its process group.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crossbeam::channel::Sender;

/// Which pipe of a node a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// What the reader threads tell the supervisor. `node` indexes the launch
/// file's nodes; `instance` counts the node's starts from 1, so that lines of
/// an instance that was restarted are told apart.
#[derive(Debug)]
pub(crate) enum Event {
    /// A line without its line ending (invalid UTF-8 replaced).
    Line {
        node: usize,
        instance: u32,
        stream: Stream,
        text: String,
    },
    /// The pipe closed: the process (and whatever inherited the pipe) ended.
    Eof { node: usize, instance: u32 },
}

/// How to start a node: the launch file's `cmd`, `env` and `cwd`, resolved.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub program: OsString,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

/// A started process of a node.
#[derive(Debug)]
pub(crate) struct Running {
    pub child: Child,
    pub pid: u32,
    pub started: Instant,
}

/// Starts `program` in its own process group with stdin closed and both
/// output pipes read by threads that send [`Event`]s on `tx`.
///
/// On Linux the process also gets SIGTERM if the thread that started it
/// dies (e.g. launch killed with SIGKILL), so nodes never outlive it.
pub(crate) fn spawn(
    program: &Program,
    node: usize,
    instance: u32,
    tx: &Sender<Event>,
) -> std::io::Result<Running> {
    use std::os::unix::process::CommandExt;

    let mut command = Command::new(&program.program);
    command
        .args(&program.args)
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a terminal's Ctrl-C reaches launch only, which then
        // stops the nodes in order; signals to the group reach grandchildren.
        .process_group(0);
    if let Some(dir) = &program.cwd {
        command.current_dir(dir);
    }
    #[cfg(target_os = "linux")]
    {
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs between fork and exec and calls only
        // async-signal-safe system calls, without allocating.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if parent > 0 && libc::getppid() != parent {
                    // launch died before the death signal was armed.
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn()?;
    let pid = child.id();
    let pipes: [(Option<Box<dyn Read + Send>>, Stream); 2] = [
        (
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            Stream::Stdout,
        ),
        (
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            Stream::Stderr,
        ),
    ];
    for (pipe, stream) in pipes {
        let tx = tx.clone();
        let started = std::thread::Builder::new()
            .name(format!("launch-{node}-{stream:?}"))
            .spawn(move || read_lines(pipe, node, instance, stream, &tx));
        if let Err(e) = started {
            signal(pid, libc::SIGKILL);
            let _ = child.wait();
            return Err(e);
        }
    }
    Ok(Running {
        child,
        pid,
        started: Instant::now(),
    })
}

/// Sends each line of `pipe` as an event, then `Eof`.
fn read_lines(
    pipe: Option<Box<dyn Read + Send>>,
    node: usize,
    instance: u32,
    stream: Stream,
    tx: &Sender<Event>,
) {
    if let Some(pipe) = pipe {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        buf.pop();
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let line = Event::Line {
                        node,
                        instance,
                        stream,
                        text,
                    };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = tx.send(Event::Eof { node, instance });
}

/// Sends `sig` to the process group led by `pid` (the node and whatever it
/// started), or to `pid` alone if it left that group. True if delivered.
pub(crate) fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; pid > 0, so -pid
    // names exactly that one process group.
    unsafe { libc::kill(-pid, sig) == 0 || libc::kill(pid, sig) == 0 }
}

/// The name of a signal number, for messages.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}
