//! `umwelt` as a child process of a test: killed when the test ends,
//! however it ends, and stopped with SIGINT as a user would.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
pub struct Node(pub Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `umwelt ARGS` in the repository root, stdout and stderr piped.
pub fn spawn(args: &[&str]) -> Node {
    let child = Command::new(env!("CARGO_BIN_EXE_umwelt"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start umwelt");
    Node(child)
}

/// Waits up to `timeout` for `node` to exit on its own; `what` says what
/// was expected of it.
pub fn wait_exit(node: &mut Node, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = node.0.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGINT to `node` and waits up to 10 s for it to exit.
pub fn interrupt(node: &mut Node) -> std::process::ExitStatus {
    // SAFETY: kill(2) on the pid of a child this test has not waited for.
    assert_eq!(unsafe { libc::kill(node.0.id() as i32, libc::SIGINT) }, 0);
    wait_exit(node, Duration::from_secs(10), "an exit after SIGINT")
}
