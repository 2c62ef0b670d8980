//! `umwelt estop` and `umwelt reset`: what an operator sends a robot.

use umwelt_runtime::cli::args;
use umwelt_runtime::nodes::operator;
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::wire;

/// Arguments of `umwelt estop`.
#[derive(clap::Args, Debug)]
pub struct EstopArgs {
    /// The robot's wire name (`umwelt/<robot>/...`).
    robot: String,
    /// Release the stop instead of engaging it. Releases go on
    /// `umwelt/<robot>/admin`, the only key where nodes honour them (the
    /// secure profile lets only the `operator` identity put there).
    #[arg(long)]
    release: bool,
    /// Why: shown in every node's log and status.
    #[arg(long, default_value = "operator")]
    reason: String,
    /// Seconds to wait for a node to listen before giving up.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = args::flag(args::seconds))]
    wait: f64,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// Arguments of `umwelt reset`.
#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    /// The robot's wire name (`umwelt/<robot>/...`).
    robot: String,
    /// Seed of the new episode (default: the driver's next).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds to wait for a node to listen before giving up.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = args::flag(args::seconds))]
    wait: f64,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

pub fn estop(a: EstopArgs) -> anyhow::Result<()> {
    let (key, msg) = operator::estop(&a.robot, !a.release, &a.reason);
    send(&a.zenoh, &key, &msg, a.wait)
}

pub fn reset(a: ResetArgs) -> anyhow::Result<()> {
    let (key, msg) = operator::reset(&a.robot, a.seed);
    send(&a.zenoh, &key, &msg, a.wait)
}

fn send(zenoh: &ZenohArgs, key: &str, msg: &wire::Message, wait: f64) -> anyhow::Result<()> {
    let session = zenoh.open()?;
    let wait = super::duration("--wait", wait)?;
    operator::publish(&session, key, [wire::encode(msg)], None, wait)?;
    eprintln!("sent on {key}: {}", wire::to_json(msg));
    Ok(())
}
