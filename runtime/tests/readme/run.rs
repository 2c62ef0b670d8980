//! The README's ```sh blocks run, shortened (fewer steps, episodes and seconds)
//! but otherwise as written, in a copy of the folders they read: each
//! command ends well and writes only under `runs/`.

use super::*;

/// The ```sh blocks of a Markdown file, each as its lines.
fn sh_blocks(text: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut block: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(fence) = line.trim().strip_prefix("```") {
            match block.take() {
                Some(b) => blocks.push(b),
                None if fence.trim() == "sh" => block = Some(Vec::new()),
                None => {}
            }
            continue;
        }
        if let Some(b) = &mut block {
            b.push(line.trim().to_string());
        }
    }
    blocks
}

/// The subcommand words at the front of `args` (`bench plan`, `topic hz`).
fn subcommand_of(args: &[String]) -> Vec<&str> {
    args.iter()
        .map(String::as_str)
        .take_while(|w| !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase()))
        .take(2)
        .collect()
}

/// Sets `flag`'s value in `args` to `value`, adding the flag if missing.
fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|a| a == flag) {
        Some(i) if i + 1 < args.len() => args[i + 1] = value.to_string(),
        _ => args.extend([flag.to_string(), value.to_string()]),
    }
}

/// One README command as the test runs it: the same command, made short
/// (a few seconds of each real-time run, one episode, a learning run of a
/// seed episode and one planner episode, a few plans, a small fuzz), and
/// whether it runs until Ctrl-C (a node: `&`, or `run`, `sim` and `launch`
/// without `--duration`), which the test sends when its block ends.
fn shortened(bin: &str, args: &[String], background: bool, quic: &str) -> (Vec<String>, bool) {
    let mut a = args.to_vec();
    let sub: Vec<String> = subcommand_of(args).into_iter().map(String::from).collect();
    let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
    let node = matches!(sub.first(), Some(&"run" | &"sim" | &"launch"));
    let until_stopped = background || (node && !a.iter().any(|w| w == "--duration"));
    if a.iter().any(|w| w == "--duration") {
        // A launch needs its nodes ready (a checkpoint loaded) within it.
        let secs = if sub == ["launch"] { "8" } else { "2" };
        set_flag(&mut a, "--duration", secs);
    }
    if a.iter().any(|w| w == "--episodes") {
        set_flag(&mut a, "--episodes", "1");
    }
    match (bin == ATTACK, sub.as_slice()) {
        (false, ["learn"]) => {
            for (flag, value) in [
                ("--steps", "2000"),
                ("--seed-episodes", "1"),
                ("--updates-per-step", "0.01"),
                ("--eval-every", "1"),
                ("--eval-episodes", "1"),
                ("--samples", "32"),
                ("--iterations", "1"),
                ("--select-episodes", "1"),
            ] {
                set_flag(&mut a, flag, value);
            }
        }
        (false, ["bench", "plan"]) => set_flag(&mut a, "--plans", "3"),
        // The secure profile's endpoint is written into the configs: a
        // free one, not the default port another test may hold.
        (false, ["keys"]) => set_flag(&mut a, "--endpoint", quic),
        (true, ["fuzz"]) => {
            set_flag(&mut a, "--messages", "1000");
            set_flag(&mut a, "--sequences", "100");
        }
        _ => {}
    }
    (a, until_stopped)
}

/// A process started for the rest of its block, its output gathered.
struct Node {
    line: String,
    child: std::process::Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Node {
    /// Starts `bin args` in `dir` and waits until it says it is ready
    /// (`Ctrl-C stops`; a launch: all its nodes ready).
    fn start(bin: &str, args: &[String], dir: &Path, endpoint: &str, line: &str) -> Node {
        use std::io::BufRead;
        let mut child = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .env("UMWELT_ZENOH_ENDPOINT", endpoint)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{line}`: {e}"));
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        for stream in streams {
            let out = output.clone();
            std::thread::spawn(move || {
                for l in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut o = out.lock().expect("output");
                    o.push_str(&l);
                    o.push('\n');
                }
            });
        }
        let marker = if args.first().map(String::as_str) == Some("launch") {
            "ready; Ctrl-C stops"
        } else {
            "Ctrl-C stops"
        };
        let mut node = Node {
            line: line.to_string(),
            child,
            output,
        };
        // A hang guard, not a timing assertion: a node that never gets
        // ready fails the test instead of stalling it.
        let t0 = std::time::Instant::now();
        while !node.output().contains(marker) {
            if let Ok(Some(st)) = node.child.try_wait() {
                panic!(
                    "`{line}` ended ({st}) before it was ready:\n{}",
                    node.output()
                );
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(300),
                "`{line}` not ready:\n{}",
                node.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        node
    }

    fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// Ctrl-C, as a person would; the node must then end successfully.
    fn stop(mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
        let st = self.child.wait().expect("wait");
        // The reader threads end with the pipes; give them the last lines.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            st.success(),
            "`{}` failed on Ctrl-C ({st}):\n{}",
            self.line,
            self.output()
        );
    }
}

/// Runs `bin args` in `dir` to completion; it must succeed.
fn run_to_end(bin: &str, args: &[String], dir: &Path, endpoint: &str, line: &str) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("UMWELT_ZENOH_ENDPOINT", endpoint)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running `{line}`: {e}"));
    assert!(
        out.status.success(),
        "README command failed: `{line}`\n  ran: {args:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies the folders the README's commands read (configs, launch files,
/// the shipped checkpoints) into a fresh working directory.
fn work_copy(tag: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("umwelt-readme-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    for sub in ["configs", "launch", "models/checkpoints"] {
        copy_tree(&root.join(sub), &dir.join(sub));
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Every file under `dir` but `runs/`, with its size and modification time.
fn files_outside_runs(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let path = e.path();
            if path == dir.join("runs") {
                continue;
            }
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(path);
            } else {
                files.push((path, meta.len(), meta.modified().expect("mtime")));
            }
        }
    }
    files.sort();
    files
}

/// The README's commands are run, every one, in its order (shortened: see
/// [`shortened`]), from a copy of the folders they read: each must
/// succeed, and they may write only under `runs/`. Nodes (`&`, or `run`,
/// `sim`, `launch` without `--duration`) run until their block ends, and
/// must then end cleanly on Ctrl-C. Each block meets on a free loopback
/// endpoint (`UMWELT_ZENOH_ENDPOINT`); a launch gets one of its own, since
/// it brings its own simulator. The block for real hardware gets a
/// simulator as its driver. `cargo test` is not run: it is this suite.
#[test]
fn readme_commands_run() {
    let readme = repo_file("README.md");
    let dir = work_copy("run");
    let before = files_outside_runs(&dir);
    let quic =
        umwelt_runtime::nodes::transport::free_loopback_endpoint_over("quic").expect("a free port");
    let mut ran = 0;
    for block in sh_blocks(&readme) {
        let endpoint =
            umwelt_runtime::nodes::transport::free_loopback_endpoint().expect("endpoint");
        let calls: Vec<(String, &'static str, Vec<String>, bool)> = block
            .iter()
            .flat_map(|line| {
                let words = shell_words(line);
                let mut calls = Vec::new();
                let mut rest = words.as_slice();
                while !rest.is_empty() {
                    let end = rest
                        .iter()
                        .position(|w| matches!(w.as_str(), "|" | "&" | ";" | "&&" | "||"))
                        .unwrap_or(rest.len());
                    let background = rest.get(end).map(String::as_str) == Some("&");
                    if let Some((bin, args)) = umwelt_call(&rest[..end]) {
                        calls.push((line.clone(), bin, args, background));
                    }
                    rest = rest.get(end + 1..).unwrap_or_default();
                }
                calls
            })
            .collect();
        let mut nodes: Vec<Node> = Vec::new();
        let has_driver = calls
            .iter()
            .any(|(_, _, a, _)| matches!(subcommand_of(a).as_slice(), ["sim"] | ["launch"]));
        let needs_driver = calls.iter().any(|(_, _, a, _)| subcommand_of(a) == ["run"]);
        if needs_driver && !has_driver {
            let driver: Vec<String> = ["sim", "--robot", "cartpole", "--task", "swingup"]
                .map(String::from)
                .to_vec();
            nodes.push(Node::start(
                UMWELT,
                &driver,
                &dir,
                &endpoint,
                "(the driver)",
            ));
        }
        for (line, bin, args, background) in &calls {
            let (args, until_stopped) = shortened(bin, args, *background, &quic);
            let own = umwelt_runtime::nodes::transport::free_loopback_endpoint().expect("endpoint");
            let at = if subcommand_of(&args) == ["launch"] {
                &own
            } else {
                &endpoint
            };
            if until_stopped {
                nodes.push(Node::start(bin, &args, &dir, at, line));
            } else {
                run_to_end(bin, &args, &dir, at, line);
            }
            ran += 1;
        }
        for node in nodes.into_iter().rev() {
            node.stop();
        }
    }
    assert!(ran >= 15, "only {ran} README commands ran");
    assert_eq!(
        files_outside_runs(&dir),
        before,
        "README commands wrote outside runs/"
    );
    for made in [
        "runs/drive.mcap",
        "runs/eval-sil/eval.json",
        "runs/eval-cartpole/eval.json",
        "runs/eval-merged/eval.json",
        "runs/reacher_easy/model.uwwm",
        "runs/keys/monitor.json5",
    ] {
        assert!(dir.join(made).exists(), "{made} not written");
    }
    std::fs::remove_dir_all(&dir).ok();
}
