//! `umwelt launch`: start several nodes together and supervise them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use umwelt_runtime::launch::{LaunchFile, LaunchOptions, Supervisor};

/// Arguments of `umwelt launch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Launch file (TOML), e.g. launch/cartpole_sil.toml; see launch/README.md.
    file: PathBuf,
    /// Stop every node cleanly after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds_or_zero))]
    duration: Option<f64>,
    /// At the end, print one JSON document on stdout: each node's pid, exit,
    /// restarts, readiness time and its stdout parsed as JSON.
    #[arg(long)]
    json: bool,
    /// zenoh endpoint for every node (exported to them as
    /// UMWELT_ZENOH_ENDPOINT), over the launch file's `zenoh_endpoint`.
    #[arg(long, value_name = "LOCATOR")]
    zenoh_endpoint: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = LaunchFile::load(&args.file)?;
    let duration = args
        .duration
        .map(|s| super::duration("--duration", s))
        .transpose()?;
    let umwelt_exe = std::env::current_exe().context("finding the umwelt executable")?;
    let opts = LaunchOptions {
        umwelt_exe,
        duration,
        zenoh_endpoint: args.zenoh_endpoint,
        stop: super::stop_flag()?,
        forward_output: true,
    };
    let report = Supervisor::new(&args.file, file, opts).run();
    if args.json {
        super::print_json(&report)?;
    } else {
        eprint!("{}", report.table());
    }
    let Some(failure) = &report.failure else {
        return Ok(());
    };
    let code = report.exit_code();
    if code == 1 {
        anyhow::bail!("{}", failure.message);
    }
    // Exit with the failed node's own status, as a shell would.
    eprintln!("error: {}", failure.message);
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}
