//! `umwelt eval`: headless policy evaluation with a report and figures.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use umwelt_runtime::control::Controller;
use umwelt_runtime::control::config::{ControllerConfig, RunConfig};
use umwelt_runtime::control::mpc::{MpcConfig, MpcModel, Objective};
use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::control::{self, ControllerError};
use umwelt_runtime::nodes::remote_robot::{RemoteRobot, RemoteStats};
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::offline::eval::evaluate_on;
use umwelt_runtime::offline::eval::{
    Divergence, EpisodeReport, EvalOptions, EvalSummary, Evaluation, evaluate, first_divergence,
};
use umwelt_runtime::offline::eval_info::{LeRobotInfo, lerobot_info};
use umwelt_runtime::offline::media::{EpisodeVideo, EvalMedia, evaluation_media};
use umwelt_runtime::plan::presets::oracle_planner;

/// Arguments of `umwelt eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Controller config (as for `umwelt run`), e.g. configs/mpc_cartpole_swingup.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Episodes to run.
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
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// The simulator-in-the-loop part of the report.
#[derive(Serialize)]
struct SilReport {
    /// Episodes the simulator recorded.
    episodes: usize,
    /// Every action, reward and observation equal to the in-process run.
    identical: bool,
    /// Episodes that differ somewhere.
    episodes_diverging: usize,
    /// The first difference of each diverging episode.
    divergences: Vec<Divergence>,
    /// Returns seen in the simulator-in-the-loop run.
    returns: Vec<f64>,
    /// Wall time of the simulator-in-the-loop run, seconds.
    wall_s: f64,
    /// The control loop's summary (timing, interventions).
    run_summary: serde_json::Value,
}

/// Starts `umwelt sim --lockstep --record` and `umwelt run --trigger lockstep
/// --seed` as child processes on a free loopback endpoint, waits for
/// the simulator to finish the episodes, stops the loop, and compares the
/// recorded episodes with `main`'s.
fn run_sil(
    args: &Args,
    r: &Resolved,
    main: &Evaluation,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<SilReport> {
    use std::process::{Command, Stdio};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    let exe = std::env::current_exe().context("finding the umwelt executable")?;
    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint()
        .context("finding a free loopback port")?;
    let record = args.out.join("sil_episodes");
    if record.exists() {
        // Our own output from an earlier run: replaced, never appended to.
        std::fs::remove_dir_all(&record)
            .with_context(|| format!("removing {}", record.display()))?;
    }
    let seed = args.seed.to_string();
    let episodes = args.episodes.to_string();
    let mut sim_args: Vec<String> = vec![
        "sim".into(),
        "--robot".into(),
        r.config.robot.clone(),
        "--task".into(),
        r.config.task.clone(),
        "--lockstep".into(),
        // The first frame goes out before the controller has connected:
        // resend it soon.
        "--lockstep-timeout".into(),
        "0.5".into(),
        "--seed".into(),
        seed.clone(),
        "--episodes".into(),
        episodes,
        "--record".into(),
        record.display().to_string(),
        "--zenoh-endpoint".into(),
        endpoint.clone(),
    ];
    if let Some(rc) = &r.config.robot_config {
        sim_args.push("--robot-config".into());
        sim_args.push(rc.display().to_string());
    }
    let bar = super::progress::Progress::spinner(
        "simulator-in-the-loop: umwelt sim --lockstep + umwelt run over zenoh",
        args.json,
    );
    let t0 = Instant::now();
    let mut sim = Command::new(&exe)
        .args(&sim_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting umwelt sim")?;
    let run = Command::new(&exe)
        .args([
            "run",
            "--config",
            &args.config.display().to_string(),
            "--trigger",
            "lockstep",
            "--seed",
            &seed,
            "--zenoh-endpoint",
            &endpoint,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting umwelt run")?;
    let deadline = t0 + super::duration("--sil-timeout", args.sil_timeout)?;
    let sim_status = loop {
        if let Some(st) = sim.try_wait()? {
            break Some(st);
        }
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            let _ = sim.kill();
            let _ = sim.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SIGINT: the loop sends a final safe command and prints its summary.
    let pid = i32::try_from(run.id()).context("process id")?;
    // SAFETY: kill(2) on the pid of our own child, which we have not yet
    // waited for, so the pid cannot have been reused.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let out = run.wait_with_output().context("waiting for umwelt run")?;
    bar.finish_and_clear();
    let wall_s = t0.elapsed().as_secs_f64();
    match sim_status {
        Some(st) if st.success() => {}
        Some(st) => anyhow::bail!("umwelt sim {sim_args:?} failed ({st})"),
        None => anyhow::bail!(
            "simulator-in-the-loop run did not finish within --sil-timeout {} s",
            args.sil_timeout
        ),
    }
    let run_summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    let data = umwelt_models::dataset::Dataset::open(&record)?;
    let recorded = data.load_all()?;
    let mut divergences = Vec::new();
    for (i, run) in main.runs.iter().enumerate() {
        let Some(local) = run.record.as_ref() else {
            continue;
        };
        match recorded.get(i) {
            Some(remote) => {
                if let Some(d) = first_divergence(i, local, remote) {
                    divergences.push(d);
                }
            }
            None => divergences.push(Divergence {
                episode: i,
                step: 0,
                what: "missing from the simulator-in-the-loop recording".into(),
                in_process: local.len() as f64,
                sil: 0.0,
            }),
        }
    }
    Ok(SilReport {
        episodes: recorded.len(),
        identical: divergences.is_empty() && recorded.len() == main.runs.len(),
        episodes_diverging: divergences.len(),
        divergences,
        returns: recorded.iter().map(|e| e.episode_return()).collect(),
        wall_s,
        run_summary,
    })
}

/// A reference controller evaluated beside the one configured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Uniform random actions within the limits.
    Random,
    /// The sampling planner over the true simulator (an upper bound).
    Oracle,
}

#[derive(Serialize)]
struct Report<'a> {
    config: String,
    robot: &'a str,
    task: &'a str,
    seed: u64,
    /// Every planner iteration ran (`--full-budget`).
    full_budget: bool,
    /// LeRobot-compatible top-level fields, of the configured controller.
    pc_success: f64,
    avg_sum_reward: f64,
    avg_max_reward: f64,
    eval_s: f64,
    eval_ep_s: f64,
    summary: &'a EvalSummary,
    baselines: Vec<BaselineReport<'a>>,
    /// With `--sil`: the simulator-in-the-loop run against the in-process one.
    #[serde(skip_serializing_if = "Option::is_none")]
    sil: Option<&'a SilReport>,
    /// With `--remote`: what happened on the wire (frames missed, cuts,
    /// safe steps, lockstep).
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<&'a RemoteStats>,
    episodes: &'a [EpisodeReport],
    /// With `--video`: each video, its episode and what it cost.
    videos: &'a [EpisodeVideo],
    /// LeRobot's `eval_info.json` keys (`per_episode`, `aggregated`,
    /// `per_task`, `per_group`, `overall`, `video_paths`).
    #[serde(flatten)]
    lerobot: LeRobotInfo,
}

#[derive(Serialize)]
struct BaselineReport<'a> {
    baseline: Baseline,
    summary: &'a EvalSummary,
    /// The configured controller's mean return over this one's.
    return_ratio: f64,
}

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

fn run_one(
    r: &Resolved,
    label: &str,
    args: &Args,
    record: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<(Evaluation, Option<RemoteStats>)> {
    let bar = super::progress::Progress::bar(
        args.episodes as u64,
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
        episodes: args.episodes,
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
fn connect(r: &Resolved, args: &Args) -> anyhow::Result<RemoteRobot> {
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

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Runs `umwelt eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.episodes > 0, "--episodes must be at least 1");
    let mut r = RunConfig::load(&args.config)?;
    if args.full_budget
        && let ControllerConfig::Mpc(m) = &mut r.config.controller
    {
        m.planner.min_iterations = m.planner.iterations;
    }
    let stop = super::stop_flag()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if let Some(path) = &args.record {
        super::eval_record::prepare(path)?;
    }
    let (main, remote) = run_one(&r, "config", &args, args.sil, &stop)?;
    if let Some(path) = &args.record {
        super::eval_record::write(path, &r, &main.runs)?;
    }
    let sil = if args.sil {
        Some(run_sil(&args, &r, &main, &stop)?)
    } else {
        None
    };
    let mut base = Vec::new();
    for b in &args.baselines {
        let rb = baseline_resolved(&r, *b)?;
        let label = format!("{b:?}").to_lowercase();
        base.push((*b, run_one(&rb, &label, &args, false, &stop)?.0));
    }
    // Replays for the state traces and the videos (not of a robot behind a
    // driver: only the simulator's own episodes replay exactly).
    let media = if args.remote {
        EvalMedia::default()
    } else {
        evaluation_media(
            r.sim.as_ref(),
            &r.config.task,
            r.period,
            &main,
            args.video,
            &args.out,
        )?
    };
    let s = &main.summary;
    let video_paths: Vec<String> = media.videos.iter().map(|v| v.path.clone()).collect();
    let report = Report {
        config: args.config.display().to_string(),
        robot: &r.config.robot,
        task: &r.config.task,
        seed: args.seed,
        full_budget: args.full_budget,
        pc_success: s.pc_success,
        avg_sum_reward: s.avg_sum_reward,
        avg_max_reward: s.avg_max_reward,
        eval_s: s.eval_s,
        eval_ep_s: s.eval_ep_s,
        summary: s,
        baselines: base
            .iter()
            .map(|(b, e)| BaselineReport {
                baseline: *b,
                summary: &e.summary,
                return_ratio: s.avg_sum_reward / e.summary.avg_sum_reward,
            })
            .collect(),
        sil: sil.as_ref(),
        remote: remote.as_ref(),
        episodes: &main.episodes,
        videos: &media.videos,
        lerobot: lerobot_info(
            &format!("{}_{}", r.config.robot, r.config.task),
            s,
            &main.episodes,
            video_paths,
        ),
    };
    let json = serde_json::to_string_pretty(&report)?;
    write(&args.out.join("eval.json"), json.as_bytes())?;
    super::eval_figures::write_csv(&args.out.join("episodes.csv"), &main.episodes)?;
    let named: Vec<(String, &Evaluation)> = base
        .iter()
        .map(|(b, e)| (format!("{b:?}").to_lowercase(), e))
        .collect();
    super::eval_figures::write_figures(&args.out, &r, &main, &named, &media)?;
    let figures = ["returns.svg", "traces.svg", "controller_time.svg"];
    let title = format!("{}/{}", r.description.robot, r.description.task.name);
    let html =
        umwelt_runtime::offline::report_html::report_html(&title, s, &media.videos, &figures);
    write(&args.out.join("report.html"), html.as_bytes())?;
    if args.json {
        outln!("{json}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}/{}: {} episodes from seed {}",
        r.description.robot, r.description.task.name, args.episodes, args.seed
    )?;
    print_summary(&mut out, &s.controller, s)?;
    for (b, e) in &base {
        print_summary(&mut out, &format!("{b:?}").to_lowercase(), &e.summary)?;
        writeln!(
            out,
            "  {} / {:?}: return ratio {:.2}",
            s.controller,
            b,
            s.avg_sum_reward / e.summary.avg_sum_reward
        )?;
    }
    if let Some(sil) = &sil {
        if sil.identical {
            writeln!(
                out,
                "  simulator-in-the-loop ({:.1} s): {} episodes, every action, reward and observation identical to in-process",
                sil.wall_s, sil.episodes
            )?;
        } else {
            writeln!(
                out,
                "  simulator-in-the-loop ({:.1} s): {} of {} episodes diverge from in-process:",
                sil.wall_s, sil.episodes_diverging, args.episodes
            )?;
            for d in &sil.divergences {
                writeln!(
                    out,
                    "    episode {} step {}: {} in-process {} vs sil {}",
                    d.episode, d.step, d.what, d.in_process, d.sil
                )?;
            }
        }
    }
    for v in &media.videos {
        writeln!(
            out,
            "  video ({}, seed {}, return {:.1}): {} ({} frames at {:.0}/s, {} KB; drawn at {:.0} frames/s, encoded at {:.0} frames/s, one thread)",
            v.label,
            v.seed,
            v.sum_reward,
            args.out.join(&v.path).display(),
            v.frames,
            v.fps,
            v.bytes / 1024,
            v.frames as f64 / v.render_s.max(1e-9),
            v.frames as f64 / v.encode_s.max(1e-9),
        )?;
    }
    writeln!(out, "report: {}", args.out.join("eval.json").display())?;
    Ok(())
}

fn print_summary(out: &mut impl Write, name: &str, s: &EvalSummary) -> anyhow::Result<()> {
    writeln!(
        out,
        "  {name:>8}: return {:.1} (95% CI {:.1}-{:.1}), success {:.0}% (95% CI {:.0}-{:.0}%), \
         controller p50 {:.1} us p99 {:.1} us, {} deadline misses, {} safe ticks; \
         {:.1} episodes/min ({} jobs, {:.0}x real time)",
        s.avg_sum_reward,
        s.avg_sum_reward_ci95[0],
        s.avg_sum_reward_ci95[1],
        s.pc_success,
        s.pc_success_ci95[0],
        s.pc_success_ci95[1],
        s.controller_p50_us,
        s.controller_p99_us,
        s.deadline_misses,
        s.safe_ticks,
        s.episodes_per_minute,
        s.jobs,
        s.realtime_factor
    )?;
    Ok(())
}
