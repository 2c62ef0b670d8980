//! The subcommands of `umwelt`, one module each.

/// `println!` that returns the error instead of panicking (a closed pipe,
/// `umwelt envs | head -1`, is an error `main` ends quietly on). Use it in
/// a function returning `anyhow::Result`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` that returns the error instead of panicking (see `outln!`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub mod bench;
pub mod collect;
pub mod dataset;
pub mod deprecated;
pub mod envs;
pub mod eval;
mod eval_figures;
mod eval_goals;
mod eval_merge;
pub mod eval_record;
mod eval_report;
mod eval_sil;
pub mod keys;
pub mod launch;
pub mod learn;
pub mod model;
pub mod operator;
pub mod progress;
pub mod record;
pub mod remote;
pub mod replay;
pub mod robot;
pub mod rollout;
pub mod run;
pub mod sim;
pub mod topic;
mod topic_images;
pub mod train;

#[cfg(test)]
mod flag_meanings;

use std::io::Write;

/// `secs` from `flag` as a [`std::time::Duration`]: an error, never a panic,
/// for a number the flag's parser did not already bound.
pub fn duration(flag: &str, secs: f64) -> anyhow::Result<std::time::Duration> {
    umwelt_runtime::cli::args::duration(flag, secs).map_err(anyhow::Error::msg)
}

/// Prints one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Which simulated robot and task to run: the options `rollout`, `collect`
/// and `sim` share.
#[derive(clap::Args, Debug)]
pub struct EnvArgs {
    /// Robot to simulate (see `umwelt envs`).
    #[arg(long)]
    pub robot: String,
    /// Task of that robot.
    #[arg(long)]
    pub task: String,
    /// Robot config file (TOML) replacing the built-in defaults, e.g.
    /// configs/robots/cartpole.toml (`--config` is a controller config
    /// everywhere else; here it is a deprecated spelling of this flag).
    #[arg(long = "robot-config", alias = "config", value_name = "FILE")]
    pub robot_config: Option<std::path::PathBuf>,
}

impl EnvArgs {
    /// The robot's config: the file given (which must describe `--robot`),
    /// or the built-in one.
    pub fn robot_config(&self) -> anyhow::Result<umwelt_sim::RobotConfig> {
        let Some(path) = &self.robot_config else {
            return Ok(umwelt_sim::RobotConfig::builtin(
                umwelt_sim::RobotKind::from_name(&self.robot)?,
            ));
        };
        let cfg = umwelt_sim::RobotConfig::load(path)?;
        if cfg.robot.name() != self.robot {
            anyhow::bail!(
                "{} configures robot `{}`, not `{}`",
                path.display(),
                cfg.robot.name(),
                self.robot
            );
        }
        Ok(cfg)
    }

    /// The environment these options describe.
    pub fn env(&self) -> anyhow::Result<umwelt_sim::Env> {
        Ok(umwelt_sim::Env::from_config(
            self.robot_config()?,
            &self.task,
        )?)
    }
}

/// A flag set by Ctrl-C or SIGTERM, so that nodes stop cleanly.
pub fn stop_flag() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))?;
    Ok(stop)
}
