//! What the command-line tools share: typed flag parsers (used by the
//! `umwelt` binary's subcommands, `umwelt-attack` and learn recipes).

pub mod args;
