//! The README's commands cannot go stale: every `umwelt` and `umwelt-attack`
//! command in its ```sh blocks (and in docs/GUIDE.md's), and every row of its
//! command table, must name subcommands that exist (`umwelt <subcommand>
//! --help` succeeds) and flags that their `--help` lists. Nothing is run
//! beyond `--help`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const UMWELT: &str = env!("CARGO_BIN_EXE_umwelt");
const ATTACK: &str = env!("CARGO_BIN_EXE_umwelt-attack");

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line's shell words, quotes removed and a trailing comment dropped;
/// `|`, `&`, `;`, `&&` and `||` come out as words of their own.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            '#' if !in_word => break,
            '|' | '&' | ';' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                let mut op = c.to_string();
                if c != ';' && chars.peek() == Some(&c) {
                    op.push(chars.next().unwrap_or(c));
                }
                words.push(op);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The binary and arguments of one shell command if it calls umwelt:
/// `umwelt ...`, `umwelt-attack ...`, `target/release/umwelt ...` or
/// `cargo run ... -- ...`. Anything else (`cargo test`, `kill`) is `None`.
fn umwelt_call(cmd: &[String]) -> Option<(&'static str, Vec<String>)> {
    let first = cmd.first()?;
    let name = first.rsplit('/').next().unwrap_or(first);
    match name {
        "umwelt" => Some((UMWELT, cmd[1..].to_vec())),
        "umwelt-attack" => Some((ATTACK, cmd[1..].to_vec())),
        "cargo" if cmd.get(1).map(String::as_str) == Some("run") => {
            let dashes = cmd.iter().position(|w| w == "--")?;
            let bin = if cmd
                .windows(2)
                .any(|w| w[0] == "--bin" && w[1] == "umwelt-attack")
            {
                ATTACK
            } else {
                UMWELT
            };
            Some((bin, cmd[dashes + 1..].to_vec()))
        }
        _ => None,
    }
}

/// Every umwelt call in the README's ```sh blocks, with its line.
fn sh_calls(readme: &str) -> Vec<(String, &'static str, Vec<String>)> {
    let mut calls = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if let Some(fence) = trimmed.strip_prefix("```") {
            in_sh = !in_sh && fence.trim() == "sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let words = shell_words(trimmed);
        for cmd in words.split(|w| matches!(w.as_str(), "|" | "&" | ";" | "&&" | "||")) {
            if let Some((bin, args)) = umwelt_call(cmd) {
                calls.push((line.to_string(), bin, args));
            }
        }
    }
    calls
}

/// The command cell of every `| \`umwelt ...\` |` row of the command table.
fn table_rows(readme: &str) -> Vec<(String, &'static str, Vec<String>)> {
    let mut rows = Vec::new();
    for line in readme.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some(end) = rest.find('`') else {
            continue;
        };
        let cell = rest[..end].replace("\\|", " ");
        let mut words = cell.split_whitespace();
        let bin = match words.next() {
            Some("umwelt") => UMWELT,
            Some("umwelt-attack") => ATTACK,
            _ => continue,
        };
        // Subcommand words as they are, then only the flags out of the
        // placeholders and brackets: `[--policy random|zero]`, `(--recipe FILE`.
        let mut args = Vec::new();
        let mut words = words.peekable();
        while let Some(w) = words.next_if(|w| w.chars().all(|c| c.is_ascii_lowercase())) {
            args.push(w.to_string());
        }
        for w in words {
            if let Some(i) = w.find("--") {
                let flag: String = w[i..]
                    .chars()
                    .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
                    .collect();
                args.push(flag);
            }
        }
        rows.push((line.to_string(), bin, args));
    }
    rows
}

/// `--help` of a binary's subcommand path, which must succeed.
struct Helps(HashMap<(&'static str, Vec<String>), String>);

impl Helps {
    fn get(&mut self, bin: &'static str, path: &[String], line: &str) -> &str {
        self.0
            .entry((bin, path.to_vec()))
            .or_insert_with(|| {
                let out = Command::new(bin)
                    .args(path)
                    .arg("--help")
                    .output()
                    .expect("run --help");
                assert!(
                    out.status.success(),
                    "README: `{} --help` failed for\n  {line}\n{}",
                    path.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .as_str()
    }
}

/// The subcommand names a `--help` lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Whether a `--help` lists a flag as itself (`--out`, not `--output`).
fn lists_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().next_back();
        let after = help[i + flag.len()..].chars().next();
        !before.is_some_and(|c| c == '-' || c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c == '-' || c.is_ascii_alphanumeric())
    })
}

/// Checks one call: its subcommands exist and its flags are in their help.
fn check(helps: &mut Helps, line: &str, bin: &'static str, args: &[String]) -> Result<(), String> {
    let mut path: Vec<String> = Vec::new();
    for arg in args {
        if arg.starts_with('-') || !subcommands(helps.get(bin, &path, line)).contains(arg) {
            break;
        }
        path.push(arg.clone());
    }
    if path.is_empty() {
        return Err(format!("no subcommand in\n  {line}"));
    }
    let help = helps.get(bin, &path, line).to_string();
    for arg in args {
        let flag = arg.split('=').next().unwrap_or(arg);
        let is_flag = flag.len() > 1
            && flag.starts_with('-')
            && flag != "--"
            && !flag[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.');
        if is_flag && !lists_flag(&help, flag) {
            return Err(format!(
                "`{flag}` is not in `{} --help`, used in\n  {line}",
                path.join(" ")
            ));
        }
    }
    Ok(())
}

#[test]
fn readme_commands_name_real_subcommands_and_flags() {
    let readme = repo_file("README.md");
    let calls = sh_calls(&readme);
    let rows = table_rows(&readme);
    assert!(
        calls.len() >= 10,
        "only {} umwelt commands found in the README's sh blocks",
        calls.len()
    );
    assert!(
        rows.len() >= 20,
        "only {} rows found in the README's command table",
        rows.len()
    );
    assert!(
        calls.iter().chain(&rows).any(|(_, bin, _)| *bin == ATTACK),
        "no umwelt-attack command checked"
    );
    let mut helps = Helps(HashMap::new());
    let errors: Vec<String> = calls
        .iter()
        .chain(&rows)
        .filter_map(|(line, bin, args)| check(&mut helps, line, bin, args).err())
        .collect();
    assert!(
        errors.is_empty(),
        "stale README commands:\n{}",
        errors.join("\n")
    );
}

#[test]
fn guide_commands_name_real_subcommands_and_flags() {
    let guide = repo_file("docs/GUIDE.md");
    let calls = sh_calls(&guide);
    assert!(
        calls.len() >= 10,
        "only {} umwelt commands found in docs/GUIDE.md's sh blocks",
        calls.len()
    );
    let mut helps = Helps(HashMap::new());
    let errors: Vec<String> = calls
        .iter()
        .filter_map(|(line, bin, args)| check(&mut helps, line, bin, args).err())
        .collect();
    assert!(
        errors.is_empty(),
        "stale docs/GUIDE.md commands:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_checker_catches_a_stale_flag_and_subcommand() {
    let readme = "```sh\numwelt launch launch/demo.toml --zenoh-config x.json5 &\n\
                  cargo run --release -- no-such-command\nkill %1\n```\n\
                  | `umwelt run --config FILE [--status] [--no-such-flag]` | x |\n";
    let calls = sh_calls(readme);
    let rows = table_rows(readme);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let mut helps = Helps(HashMap::new());
    let err = check(&mut helps, &calls[0].0, calls[0].1, &calls[0].2).unwrap_err();
    assert!(err.contains("--zenoh-config"), "{err}");
    let err = check(&mut helps, &calls[1].0, calls[1].1, &calls[1].2).unwrap_err();
    assert!(err.contains("no subcommand"), "{err}");
    let err = check(&mut helps, &rows[0].0, rows[0].1, &rows[0].2).unwrap_err();
    assert!(err.contains("--no-such-flag"), "{err}");
    assert_eq!(
        shell_words("a 'b c' \"d\"|e # f"),
        ["a", "b c", "d", "|", "e"]
    );
}

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
