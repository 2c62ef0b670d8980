//! `umwelt eval`: headless policy evaluation with a report and figures,
//! on one machine or as shards of one evaluation on several
//! (`--shard K/N`, then `umwelt eval merge`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use umwelt_runtime::control::Controller;
use umwelt_runtime::control::config::{ControllerConfig, RunConfig};
use umwelt_runtime::control::mpc::{MpcConfig, MpcModel, Objective};
use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::control::{self, ControllerError};
use umwelt_runtime::nodes::remote_robot::{RemoteRobot, RemoteStats};
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::offline::eval::{
    EpisodeReport, EvalOptions, Evaluation, evaluate, evaluate_on,
};
use umwelt_runtime::offline::eval_runs;
use umwelt_runtime::offline::eval_shard::{EvalIdentity, ShardInfo, ShardSpec, fingerprint};
use umwelt_runtime::plan::GoalDistance;
use umwelt_runtime::plan::presets::oracle_planner;

use super::eval_report::{Baseline, ReportInput, write_report};
use super::eval_sil::{SilRun, run_sil};

/// Arguments of `umwelt eval`: an evaluation's flags, or `merge`.
#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Two forms:\n  \
        umwelt eval --config FILE [--episodes E --seed S] [--shard K/N] [OPTIONS]   \
        evaluate (all episodes, or shard K of N of them)\n  \
        umwelt eval merge --out DIR SHARD_DIR...   \
        the report of the whole evaluation from its N shards' folders\n\n\
        A shard runs the K-th of N contiguous blocks of the E episodes (seeds S+i as in \
        one run of all); the merged report has the same episodes and numbers as one run \
        of all. See `umwelt eval merge --help`."
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<EvalCommand>,
    #[command(flatten)]
    eval: EvalArgs,
}

/// `umwelt eval`'s subcommands.
#[derive(clap::Subcommand, Debug)]
enum EvalCommand {
    /// Merge the report folders of `umwelt eval --shard K/N` into the
    /// report of the whole evaluation.
    ///
    /// Every K of 1..N must be given once, all shards of one evaluation
    /// (the same config files, seed, episodes, N, flags). The report is
    /// the one a run of all episodes writes: the same eval.json (LeRobot's
    /// layout too), episodes.csv, figures and report.html, every episode's
    /// and every aggregate's numbers identical to the bit. Wall times:
    /// `eval_s` is the slowest shard's (shards run at once),
    /// `merged.machine_s` their sum, `merged.span_s` from the first start
    /// to the last end.
    Merge(super::eval_merge::Args),
}

/// The flags of one evaluation (or of one shard of it).
#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// Controller config (as for `umwelt run`), e.g. configs/mpc_cartpole_swingup.toml.
    // An Option only so that `umwelt eval merge` can go without it: clap
    // still requires it of an evaluation.
    #[arg(long, value_name = "FILE", required = true)]
    config: Option<PathBuf>,
    /// Episodes to run (of the whole evaluation, with --shard).
    #[arg(long, default_value_t = 20, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_000_000))]
    episodes: usize,
    /// Seed of episode 0; episode k uses seed + k (its start state, target
    /// and the controller's noise).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Episodes run in parallel (one simulator and controller each).
    #[arg(long, default_value_t = 1, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_024))]
    jobs: usize,
    /// Report directory: eval.json, episodes.csv, report.html, returns.svg,
    /// traces.svg, controller_time.svg, and videos/ with --video.
    #[arg(long, value_name = "DIR", default_value = "eval")]
    out: PathBuf,
    /// Also evaluate these on the same seeds and report ratios:
    /// `random` (uniform actions) and/or `oracle` (the planner over the true
    /// simulator), comma-separated.
    #[arg(long, value_delimiter = ',')]
    baselines: Vec<Baseline>,
    /// Run only shard K of N (1 <= K <= N) of the evaluation that
    /// --episodes and --seed describe: the K-th of N contiguous blocks of
    /// its episodes, each with its own seed as in one run of all. The
    /// report folder is marked as a shard and holds its runs (runs.bin)
    /// for `umwelt eval merge`, which writes the report of the whole
    /// evaluation. Not with --sil or --video (give --video to the merge).
    #[arg(long, value_name = "K/N")]
    shard: Option<ShardSpec>,
    /// Print eval.json on stdout too (and no progress bar).
    #[arg(long)]
    json: bool,
    /// Also run the evaluation simulator-in-the-loop: `umwelt sim
    /// --lockstep` and `umwelt run` as separate processes over zenoh on
    /// loopback (the whole wire path), and compare every action, reward and
    /// observation with the in-process run of the same seed, bit for bit.
    #[arg(long)]
    sil: bool,
    /// Seconds the simulator-in-the-loop run may take.
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    sil_timeout: f64,
    /// Run every planner iteration of every decision, whatever the
    /// deadline (`min_iterations = iterations`): returns then depend only on
    /// the seeds, not on how loaded the machine is. Deadlines are still
    /// measured and reported. Not with --sil, whose `umwelt run` keeps the
    /// config's deadline rule.
    #[arg(long, conflicts_with = "sil")]
    full_budget: bool,
    /// Run the episodes on the robot a driver serves over zenoh (`umwelt
    /// sim`, hardware, any driver speaking the protocol) instead of
    /// in-process: each episode starts with a seeded Reset; lockstep when
    /// the driver offers it, real time otherwise. The robot's wire name is
    /// the config's `name` (default: the robot's kind).
    #[arg(long, conflicts_with_all = ["sil", "baselines"])]
    remote: bool,
    /// Draw this many episodes into MP4 videos (H.264, 640x360, at most 50
    /// frames/s) a browser plays, in DIR/videos/episode_<seed>.mp4 with a
    /// poster PNG: the best, median and worst for 3; evenly spaced ranks
    /// of the return otherwise (best and worst from 2 on, the median for
    /// 1). Each is replayed in the simulator from its seed with the
    /// commands it applied, every reward checked bit for bit.
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "remote", value_parser = umwelt_runtime::cli::args::count::<usize>(0, 1000))]
    video: usize,
    /// Seconds to wait for a driver's first frame after a Reset (--remote).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    remote_timeout: f64,
    /// Also write every episode to this MCAP file, with the channels
    /// Foxglove decodes (joint states, commands, the 3D scene), in episode
    /// time, one after another; never replaced if it exists.
    #[arg(long, value_name = "FILE", conflicts_with = "remote")]
    record: Option<PathBuf>,
    /// Goal reaching instead of the task: for each seed the demonstrator
    /// (`oracle`: the planner over the true simulator) plays the task, and
    /// where it ends is the goal, the image the model's camera saw there
    /// (a pixel model; saved as DIR/goals/goal_<seed>.png) or the
    /// observation vector (a state model). The config's learned model then
    /// plans towards that goal alone from the same start; the task's
    /// success rule judges its end. Writes DIR/goals.json and goals.csv.
    #[arg(long, value_enum, value_name = "DEMONSTRATOR", conflicts_with_all = ["remote", "sil", "shard", "baselines", "record", "video"])]
    goals_from: Option<GoalsFrom>,
    /// With --goals-from: how closeness to a goal is measured at the end
    /// of each sampled rollout (the config's objective is replaced by the
    /// goal)
    #[arg(
        long,
        value_enum,
        value_name = "DISTANCE",
        default_value_t = GoalDistance::default(),
        requires = "goals_from"
    )]
    goal_distance: GoalDistance,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// `--goals-from`: whose episodes' ends are the goals.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum GoalsFrom {
    /// The sampling planner over the true simulator.
    Oracle,
}

/// Runs `umwelt eval` or `umwelt eval merge`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(EvalCommand::Merge(m)) => super::eval_merge::run(m),
        None => run_eval(args.eval),
    }
}

/// The config of `r` with the baseline `b` as its controller.
fn baseline_resolved(r: &Resolved, b: Baseline) -> anyhow::Result<Resolved> {
    let controller = match b {
        Baseline::Random => ControllerConfig::Random { seed: 0 },
        Baseline::Oracle => ControllerConfig::Mpc(MpcConfig {
            model: MpcModel::Oracle,
            checkpoint: None,
            objective: Objective::Task,
            threads: 1,
            workers: Default::default(),
            // The oracle has no network.
            precision: umwelt_models::world_model::Precision::F32,
            planner: oracle_planner(&r.config.robot),
        }),
    };
    let cfg = RunConfig {
        controller,
        ..r.config.clone()
    };
    Ok(cfg.resolve(&format!("baseline {b:?}"))?)
}

/// Runs the episodes `block` of the evaluation of `r` (labelled `label`
/// on the progress bar), in-process or, with --remote, on the robot
/// behind its driver; `record` keeps each episode's dataset record.
fn run_one(
    r: &Resolved,
    label: &str,
    args: &EvalArgs,
    block: &std::ops::Range<usize>,
    record: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<(Evaluation, Option<RemoteStats>)> {
    let bar = super::progress::Progress::bar(
        block.len() as u64,
        "episodes",
        "{prefix:>8} [{bar:30}] {pos}/{len} episodes ({elapsed} / ~{eta} left) {msg}",
        args.json,
    )?;
    bar.set_prefix(label);
    let make = || -> Result<Box<dyn Controller>, ControllerError> { control::build(r) };
    let on_done = |e: &EpisodeReport| {
        bar.inc(format!(
            "last: return {:.1}{}",
            e.ret,
            if e.success { ", success" } else { "" }
        ));
    };
    let o = EvalOptions {
        episodes: block.len(),
        first: block.start,
        seed: args.seed,
        jobs: args.jobs,
        record,
    };
    let (ev, remote) = if args.remote {
        anyhow::ensure!(args.jobs == 1, "--remote runs one robot: --jobs must be 1");
        let mut robot = connect(r, args)?;
        let ev = evaluate_on(r, &mut robot, &make, o, stop, &on_done)?;
        let stats = robot.stats();
        eprintln!("{}", super::remote::summary(&stats));
        (ev, Some(stats))
    } else {
        (evaluate(r, &make, o, stop, &on_done)?, None)
    };
    bar.finish_and_clear();
    Ok((ev, remote))
}

/// The robot of `r` behind its driver, for `--remote`.
fn connect(r: &Resolved, args: &EvalArgs) -> anyhow::Result<RemoteRobot> {
    let deadline = std::time::Duration::from_secs_f64(
        (r.period * r.config.safety.deadline_periods).clamp(1e-3, 1.0),
    );
    super::remote::connect(
        &args.zenoh,
        &r.wire_name,
        r.description.clone(),
        deadline,
        args.remote_timeout,
    )
}

/// The episodes this run evaluates: all, or a shard's block, which
/// `--shard` refuses with --sil and --video (they need every episode).
fn episodes_of(args: &EvalArgs) -> anyhow::Result<std::ops::Range<usize>> {
    let Some(shard) = args.shard else {
        return Ok(0..args.episodes);
    };
    anyhow::ensure!(
        !args.sil,
        "--sil with --shard: the simulator-in-the-loop check compares a whole run on one machine; run it without --shard"
    );
    anyhow::ensure!(
        args.video == 0,
        "--video with --shard: videos show episodes by rank over the whole evaluation, which no shard knows; pass --video to `umwelt eval merge`"
    );
    Ok(shard.episodes(args.episodes)?)
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes a shard's runs to `out/runs.bin` and returns its `shard`
/// section.
fn write_shard(
    args: &EvalArgs,
    config: &Path,
    r: &Resolved,
    spec: ShardSpec,
    started_unix_s: f64,
    main: &Evaluation,
    base: &[(Baseline, Evaluation)],
) -> anyhow::Result<ShardInfo> {
    let mut groups: Vec<(String, &Evaluation)> = vec![("config".into(), main)];
    groups.extend(base.iter().map(|(b, e)| (b.label(), e)));
    let refs: Vec<(&str, &Evaluation)> = groups.iter().map(|(l, e)| (l.as_str(), *e)).collect();
    let bytes = eval_runs::encode(&refs);
    let runs_file = "runs.bin";
    let path = args.out.join(runs_file);
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(ShardInfo {
        index: spec.index,
        count: spec.count,
        episodes: main.episodes.iter().map(|e| e.index).collect(),
        evaluation: EvalIdentity {
            config: config.display().to_string(),
            fingerprint: fingerprint(config, r)?,
            robot: r.config.robot.clone(),
            task: r.config.task.clone(),
            seed: args.seed,
            episodes: args.episodes,
            full_budget: args.full_budget,
            remote: args.remote,
            baselines: args.baselines.iter().map(|b| b.label()).collect(),
            umwelt_version: env!("CARGO_PKG_VERSION").to_string(),
        },
        runs_file: runs_file.into(),
        runs_xxh3: eval_runs::digest(&bytes),
        started_unix_s,
    })
}

/// Runs one evaluation (or one shard of it) and writes its report.
fn run_eval(args: EvalArgs) -> anyhow::Result<()> {
    // clap requires --config without a subcommand; this is its guard.
    let config = args.config.clone().context("--config FILE is required")?;
    let block = episodes_of(&args)?;
    let mut r = RunConfig::load(&config)?;
    if args.full_budget
        && let ControllerConfig::Mpc(m) = &mut r.config.controller
    {
        m.planner.min_iterations = m.planner.iterations;
    }
    let stop = super::stop_flag()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if let Some(GoalsFrom::Oracle) = args.goals_from {
        let mut demo = baseline_resolved(&r, Baseline::Oracle)?;
        if args.full_budget
            && let ControllerConfig::Mpc(m) = &mut demo.config.controller
        {
            m.planner.min_iterations = m.planner.iterations;
        }
        let g = super::eval_goals::GoalRun {
            config: &config,
            r: &r,
            demo: &demo,
            demo_name: "oracle",
            episodes: args.episodes,
            seed: args.seed,
            out: &args.out,
            full_budget: args.full_budget,
            distance: args.goal_distance,
            json: args.json,
        };
        return super::eval_goals::run(&g, &stop);
    }
    if let Some(path) = &args.record {
        super::eval_record::prepare(path)?;
    }
    let started_unix_s = unix_now();
    let (main, remote) = run_one(&r, "config", &args, &block, args.sil, &stop)?;
    if let Some(path) = &args.record {
        super::eval_record::write(path, &r, &main.runs)?;
    }
    let sil = if args.sil {
        let what = SilRun {
            config: &config,
            out: &args.out,
            seed: args.seed,
            episodes: args.episodes,
            timeout: args.sil_timeout,
            json: args.json,
        };
        Some(run_sil(&what, &r, &main, &stop)?)
    } else {
        None
    };
    let mut base = Vec::new();
    for b in &args.baselines {
        let rb = baseline_resolved(&r, *b)?;
        base.push((*b, run_one(&rb, &b.label(), &args, &block, false, &stop)?.0));
    }
    let shard = match args.shard {
        Some(spec) => Some(write_shard(
            &args,
            &config,
            &r,
            spec,
            started_unix_s,
            &main,
            &base,
        )?),
        None => None,
    };
    let media = super::eval_report::media(&r, &main, args.remote, args.video, &args.out)?;
    let heading = match args.shard {
        Some(spec) => format!(
            "shard {spec}: episodes {} to {} of {} from seed {}",
            block.start,
            block.end - 1,
            args.episodes,
            args.seed
        ),
        None => format!("{} episodes from seed {}", args.episodes, args.seed),
    };
    write_report(&ReportInput {
        config: &config.display().to_string(),
        r: &r,
        seed: args.seed,
        full_budget: args.full_budget,
        main: &main,
        base: &base,
        sil: sil.as_ref(),
        remote: remote.as_ref(),
        media: &media,
        shard: shard.as_ref(),
        merged: None,
        out: &args.out,
        heading,
        json: args.json,
    })
}
