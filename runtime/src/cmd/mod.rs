//! The subcommands of `umwelt`, one module each.

pub mod bench;
pub mod collect;
pub mod envs;
pub mod launch;
pub mod rollout;
pub mod run;
pub mod sim;
pub mod topic;

use std::io::Write;

/// Prints one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Builds an environment from a robot name, or from a robot config file.
pub fn make_env(
    robot: &str,
    task: &str,
    config: Option<&std::path::Path>,
) -> anyhow::Result<umwelt_sim::Env> {
    let Some(path) = config else {
        return Ok(umwelt_sim::Env::new(robot, task)?);
    };
    let cfg = umwelt_sim::RobotConfig::load(path)?;
    if cfg.robot.name() != robot {
        anyhow::bail!(
            "{} configures robot `{}`, not `{robot}`",
            path.display(),
            cfg.robot.name()
        );
    }
    Ok(umwelt_sim::Env::from_config(cfg, task)?)
}

/// A flag set by Ctrl-C or SIGTERM, so that nodes stop cleanly.
pub fn stop_flag() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))?;
    Ok(stop)
}
