//! The README's commands cannot go stale: every `umwelt` and `umwelt-attack`
//! command in its ```sh blocks (and in those of docs/GUIDE.md and
//! docs/EVALUATION.md), and every row of its command table, must name
//! subcommands that exist (`umwelt <subcommand> --help` succeeds) and flags
//! that their `--help` lists, checked with `--help` alone; [`run`] then
//! runs the ```sh blocks' commands.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

#[path = "readme/run.rs"]
mod run;

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
    // The reference pages beside the README: the guide and its evaluation page.
    let pages = ["docs/GUIDE.md", "docs/EVALUATION.md"];
    let mut calls = Vec::new();
    for page in pages {
        let found = sh_calls(&repo_file(page));
        assert!(
            !found.is_empty(),
            "no umwelt commands found in {page}'s sh blocks"
        );
        calls.extend(
            found
                .into_iter()
                .map(|(line, bin, args)| (format!("{page}: {line}"), bin, args)),
        );
    }
    assert!(
        calls.len() >= 10,
        "only {} umwelt commands found in the guide's sh blocks",
        calls.len()
    );
    let mut helps = Helps(HashMap::new());
    let errors: Vec<String> = calls
        .iter()
        .filter_map(|(line, bin, args)| check(&mut helps, line, bin, args).err())
        .collect();
    assert!(
        errors.is_empty(),
        "stale guide commands:\n{}",
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
