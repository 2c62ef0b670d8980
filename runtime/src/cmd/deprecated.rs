//! Old flag spellings: still accepted, as hidden clap aliases, so that
//! scripts keep working, with a one-line note on stderr naming the new one.
//!
//! The aliases themselves are the table: every hidden alias of a flag is a
//! deprecated spelling of it (`#[arg(long = "robot-config", alias =
//! "config")]`), so a rename needs no second list kept in step.

use std::ffi::OsString;

/// The notes to print for the deprecated spellings among `raw` (the
/// process's arguments) in the subcommand that `matches` chose: one line
/// per spelling used, `note: umwelt rollout --config is deprecated; use
/// --robot-config`.
pub fn notes(root: &clap::Command, matches: &clap::ArgMatches, raw: &[OsString]) -> Vec<String> {
    let mut path = vec![root.get_name().to_string()];
    let mut commands = vec![root];
    let (mut cmd, mut m) = (root, matches);
    while let Some((name, sub)) = m.subcommand() {
        let Some(next) = cmd.find_subcommand(name) else {
            break;
        };
        path.push(name.to_string());
        commands.push(next);
        (cmd, m) = (next, sub);
    }
    // Words after `--` are values, never flags.
    let words: Vec<String> = raw
        .iter()
        .skip(1)
        .map(|w| w.to_string_lossy().into_owned())
        .take_while(|w| w != "--")
        .collect();
    let mut notes = Vec::new();
    for arg in commands.iter().flat_map(|c| c.get_arguments()) {
        let Some(long) = arg.get_long() else {
            continue;
        };
        for old in hidden_aliases(arg) {
            let spelt = format!("--{old}");
            let used = words
                .iter()
                .any(|w| *w == spelt || w.starts_with(&format!("{spelt}=")));
            if used {
                notes.push(format!(
                    "note: {} {spelt} is deprecated; use --{long}",
                    path.join(" ")
                ));
            }
        }
    }
    notes
}

/// The long aliases of `arg` that its help does not show: the deprecated
/// spellings.
pub fn hidden_aliases(arg: &clap::Arg) -> Vec<&str> {
    let visible = arg.get_visible_aliases().unwrap_or_default();
    arg.get_all_aliases()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !visible.contains(a))
        .collect()
}
