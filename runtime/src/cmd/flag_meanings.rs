//! One meaning per flag name across every `umwelt` command: a test that
//! walks the whole clap definition.
//!
//! Each long flag name is classified in [`MEANINGS`] by a word that every
//! command's help for it must contain; every use of a name must also take
//! the same kind of value (the same value type, a value or none). A new
//! flag fails here until it is classified, and a flag name reused for
//! something else (`--config` for a robot description where it means a
//! controller config elsewhere) fails on its help.

use std::collections::BTreeMap;

use clap::CommandFactory;

/// Every flag name, and the words (lower case; `a|b`: either) that its
/// help says in every command that has it. `--steps` counts each
/// command's own unit of progress (environment steps in `learn`,
/// optimiser steps in `train`), as `--eval-every` does; `--out` is where
/// a command writes, a file or a folder as the command needs.
const MEANINGS: &[(&str, &str)] = &[
    ("action-repeat", "control"),
    ("baselines", "baseline|same seeds"),
    ("batch-size", "per batch"),
    ("camera", "camera"),
    ("cameras", "camera"),
    ("checkpoint", "checkpoint"),
    ("config", "controller config"),
    ("control", "estop and reset"),
    ("count", "this many"),
    ("data", "dataset"),
    ("days", "valid"),
    ("deadline-ms", "milliseconds"),
    ("decoder-coef", "weight"),
    ("device", "backend"),
    ("dir", "folder"),
    ("duration", "seconds"),
    ("endpoint", "endpoint"),
    ("engine", "engine"),
    ("episodes", "episodes"),
    ("eval-episodes", "episodes per evaluation"),
    ("eval-every", "every"),
    ("eval-stride", "every n-th step"),
    ("fast", "no pacing"),
    ("frames", "png"),
    ("name", "name on the wire"),
    ("remote", "driver serves over zenoh"),
    ("remote-timeout", "first frame after a reset"),
    ("force", "replace"),
    ("format", "format"),
    ("from-lerobot", "lerobot dataset"),
    ("from-recording", "recording"),
    ("full-budget", "every planner iteration"),
    ("gamma", "discount"),
    ("goal-distance", "closeness to a goal"),
    ("goals-from", "goal"),
    ("head-layers", "hidden layers"),
    ("hidden", "width"),
    ("hidden-layers", "hidden layers"),
    ("hold", "hold each action"),
    ("horizon", "horizon"),
    ("hub", "listens"),
    ("image", "image"),
    ("info", "what the recording holds"),
    ("iterations", "iterations"),
    ("jobs", "in parallel"),
    ("json", "json"),
    ("key", "key expression"),
    ("latent", "latent size"),
    ("lockstep", "control step"),
    ("lockstep-timeout", "seconds"),
    ("log", "log filter"),
    ("lr", "learning rate"),
    ("messages", "frames"),
    ("no-foxglove", "byte-exact"),
    ("no-layer-norm", "layernorm"),
    ("node", "node"),
    ("out", "directory|folder|file"),
    ("period-ms", "milliseconds"),
    ("plans", "plans"),
    ("policy", "policy"),
    ("explore", "exploration noise"),
    ("explore-time", "correlation time"),
    ("max-episodes", "at most this many episodes"),
    ("max-steps", "control steps"),
    ("precision", "multiplies"),
    ("print", "print"),
    ("q-heads", "q heads"),
    ("rate", "per second"),
    ("rates", "rates"),
    ("reason", "why"),
    ("recipe", "recipe"),
    ("record", "episode"),
    ("relabel", "hindsight"),
    ("release", "release"),
    ("restamp", "stamp"),
    ("resume", "continue"),
    ("robot", "robot"),
    ("robot-config", "robot config"),
    ("samples", "samples"),
    ("san", "dns name"),
    ("obs", "model"),
    ("save", "png"),
    ("save-every", "save"),
    ("seed", "seed"),
    ("seed-episodes", "model-free episodes"),
    ("seed-policy", "policy of the seed episodes"),
    ("select-candidates", "held-out selection"),
    ("select-episodes", "held-out episodes per candidate"),
    ("shard", "shard"),
    ("sil", "simulator-in-the-loop"),
    ("sil-timeout", "seconds"),
    ("speed", "speed"),
    ("status", "status"),
    ("steps", "steps"),
    ("task", "task"),
    ("threads", "threads"),
    ("train-batch", "batch size"),
    ("train-engine", "engine"),
    ("train-threads", "threads"),
    ("train-steps", "training steps"),
    ("transport", "link"),
    ("trigger", "starts a tick"),
    ("triggers", "starts a tick"),
    ("updates-per-step", "updates per environment step"),
    ("val-batches", "held-out"),
    ("val-fraction", "held out"),
    ("value-coef", "weight"),
    ("video", "videos"),
    ("wait", "seconds to wait"),
    ("warmup", "untimed"),
    ("workers", "workers"),
    ("zenoh-config", "zenoh json5 config"),
    ("zenoh-endpoint", "endpoint"),
    ("zero-rewards", "rewards"),
];

/// Every long flag of `cmd` and its subcommands: (command path, flag).
fn flags(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for arg in cmd.get_arguments() {
        if arg.get_long().is_some() && !matches!(arg.get_id().as_str(), "help" | "version") {
            out.push((path.to_string(), arg.clone()));
        }
    }
    for sub in cmd.get_subcommands() {
        flags(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Whether a flag takes a value (`--out DIR`) or is a switch (`--json`).
/// (Integer widths differ between commands, `u32` or `usize` episodes,
/// without a difference in meaning, so the value's type is not compared.)
fn value_kind(arg: &clap::Arg) -> &'static str {
    if arg.get_action().takes_values() {
        "a value"
    } else {
        "no value"
    }
}

/// Flag names that mean the same but take a value in one command and not
/// in another, with why that stays.
const VALUE_EXCEPTIONS: &[(&str, &str)] = &[(
    "resume",
    "continue a run: `train --resume FILE` names the checkpoint to go on \
     from, `learn --resume` goes on with the run already in its --out",
)];

fn help_of(arg: &clap::Arg) -> String {
    arg.get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string().to_lowercase())
        .unwrap_or_default()
}

#[test]
fn every_flag_name_has_one_meaning() {
    let mut cli = crate::Cli::command();
    cli.build();
    cli.clone().debug_assert();
    let mut all = Vec::new();
    flags(&cli, "umwelt", &mut all);
    let meanings: BTreeMap<&str, &str> = MEANINGS.iter().copied().collect();
    let mut kinds: BTreeMap<String, BTreeMap<&str, Vec<String>>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (path, arg) in &all {
        let long = arg.get_long().unwrap_or_default();
        kinds
            .entry(long.to_string())
            .or_default()
            .entry(value_kind(arg))
            .or_default()
            .push(path.clone());
        let help = help_of(arg);
        match meanings.get(long) {
            None => errors.push(format!("--{long} ({path}) is not in MEANINGS: {help:?}")),
            Some(words) if !words.split('|').any(|w| help.contains(w)) => errors.push(format!(
                "--{long} in `{path}` does not mean `{words}`: {help:?}"
            )),
            Some(_) => {}
        }
    }
    for (long, by_kind) in &kinds {
        let excepted = VALUE_EXCEPTIONS.iter().any(|(name, _)| name == long);
        if by_kind.len() > 1 && !excepted {
            errors.push(format!(
                "--{long} takes different kinds of value: {:?}",
                by_kind.values().collect::<Vec<_>>()
            ));
        }
    }
    // A deprecated spelling (a hidden alias) never shadows a flag of the
    // same command, and never keeps a name that is now another flag's
    // in that command.
    for (path, arg) in &all {
        for old in super::deprecated::hidden_aliases(arg) {
            let clash = all
                .iter()
                .any(|(p, a)| p == path && a.get_long() == Some(old));
            if clash {
                errors.push(format!("`{path}`: deprecated --{old} is also a flag"));
            }
        }
    }
    assert!(
        all.len() > 100,
        "only {} flags found: the walk missed commands",
        all.len()
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
