//! `umwelt rollout`: headless episodes under a simple policy.

use serde::Serialize;
use umwelt_runtime::offline::explore::SimplePolicy;
use umwelt_runtime::offline::rollout::{EpisodeReport, episode_seed, run_episode};

/// Arguments of `umwelt rollout`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    env: super::EnvArgs,
    /// Policy that chooses the actions.
    #[arg(long, value_enum, default_value = "random")]
    policy: SimplePolicy,
    /// Number of episodes.
    #[arg(long, default_value_t = 1, value_parser = umwelt_runtime::cli::args::count::<u32>(1, 1_000_000))]
    episodes: u32,
    /// Seed of the first episode; episode i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    robot: &'a str,
    task: &'a str,
    policy: SimplePolicy,
    seed: u64,
    episodes: Vec<EpisodeReport>,
    mean_return: f64,
    success_rate: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.episodes > 0, "--episodes must be at least 1");
    let mut env = args.env.env()?;
    let bar = super::progress::Progress::bar(
        u64::from(args.episodes),
        "episodes",
        "{bar:30} {pos}/{len} episodes  {msg}  [{elapsed}<{eta}]",
        args.json || args.episodes < 2,
    )?;
    let mut episodes = Vec::with_capacity(args.episodes as usize);
    for i in 0..args.episodes {
        let r = run_episode(&mut env, args.policy, episode_seed(args.seed, i), i)?;
        bar.inc(format!("last return {:.1}", r.episode_return));
        episodes.push(r);
    }
    bar.finish_and_clear();
    let n = episodes.len() as f64;
    let report = Report {
        robot: &args.env.robot,
        task: &args.env.task,
        policy: args.policy,
        seed: args.seed,
        mean_return: episodes.iter().map(|e| e.episode_return).sum::<f64>() / n,
        success_rate: episodes.iter().filter(|e| e.success).count() as f64 / n,
        episodes,
    };
    if args.json {
        return super::print_json(&report);
    }
    outln!(
        "{}/{} with the {:?} policy",
        report.robot,
        report.task,
        report.policy
    );
    outln!(
        "{:>8} {:>20} {:>9} {:>7} {:>8} {:>16} {:>11}",
        "episode",
        "seed",
        "return",
        "length",
        "success",
        "physics steps/s",
        "x realtime"
    );
    for e in &report.episodes {
        outln!(
            "{:>8} {:>20} {:>9.1} {:>7} {:>8} {:>16.0} {:>11.0}",
            e.episode,
            e.seed,
            e.episode_return,
            e.length,
            e.success,
            e.physics_steps_per_s,
            e.realtime_factor
        );
    }
    outln!(
        "mean return {:.1}, success rate {:.0}%",
        report.mean_return,
        report.success_rate * 100.0
    );
    Ok(())
}
