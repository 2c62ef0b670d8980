//! `umwelt eval`'s report: `eval.json` (umwelt's fields and LeRobot's
//! layout), `episodes.csv`, the figures, `report.html` and the summary
//! lines on stdout. One writer for a whole evaluation, a shard of one and
//! a merge of shards, so a merged report cannot drift from an unsharded
//! one.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::nodes::remote_robot::RemoteStats;
use umwelt_runtime::offline::eval::{EpisodeReport, EvalSummary, Evaluation};
use umwelt_runtime::offline::eval_info::{LeRobotInfo, lerobot_info};
use umwelt_runtime::offline::eval_merge::MergeInfo;
use umwelt_runtime::offline::eval_shard::ShardInfo;
use umwelt_runtime::offline::media::{EpisodeVideo, EvalMedia, evaluation_media};

use super::eval_sil::SilReport;

/// A reference controller evaluated beside the one configured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Uniform random actions within the limits.
    Random,
    /// The sampling planner over the true simulator (an upper bound).
    Oracle,
}

impl Baseline {
    /// Its name in flags, reports and shard files: `random`, `oracle`.
    pub fn label(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

#[derive(Serialize)]
struct Report<'a> {
    config: &'a str,
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
    /// With `--shard`: which part of which evaluation this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<&'a ShardInfo>,
    /// From `umwelt eval merge`: the shards and how wall time is counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    merged: Option<&'a MergeInfo>,
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

/// Everything a report is made of.
pub(super) struct ReportInput<'a> {
    /// The controller config's path, as given.
    pub(super) config: &'a str,
    /// The resolved config.
    pub(super) r: &'a Resolved,
    /// Seed of the whole evaluation's episode 0.
    pub(super) seed: u64,
    /// `--full-budget`.
    pub(super) full_budget: bool,
    /// The configured controller's episodes.
    pub(super) main: &'a Evaluation,
    /// Each baseline's, on the same seeds.
    pub(super) base: &'a [(Baseline, Evaluation)],
    /// The simulator-in-the-loop comparison.
    pub(super) sil: Option<&'a SilReport>,
    /// The wire's counts, for a robot behind its driver.
    pub(super) remote: Option<&'a RemoteStats>,
    /// Replayed traces and videos.
    pub(super) media: &'a EvalMedia,
    /// For a shard.
    pub(super) shard: Option<&'a ShardInfo>,
    /// For a merge.
    pub(super) merged: Option<&'a MergeInfo>,
    /// The report folder.
    pub(super) out: &'a Path,
    /// The first line on stdout, after the robot and task (`20 episodes
    /// from seed 0`).
    pub(super) heading: String,
    /// Print eval.json on stdout instead of the summary lines.
    pub(super) json: bool,
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The replays behind the state traces and `video` videos of `main`'s
/// episodes, in `out`; none for episodes of a robot behind a driver
/// (`remote`): only the simulator's own episodes replay exactly.
pub(super) fn media(
    r: &Resolved,
    main: &Evaluation,
    remote: bool,
    video: usize,
    out: &Path,
) -> anyhow::Result<EvalMedia> {
    if remote {
        return Ok(EvalMedia::default());
    }
    Ok(evaluation_media(
        r.sim.as_ref(),
        &r.config.task,
        r.period,
        main,
        video,
        out,
    )?)
}

/// Writes the report folder `i.out` (eval.json, episodes.csv, the
/// figures, report.html) and prints the summary, or eval.json with
/// `i.json`.
pub(super) fn write_report(i: &ReportInput<'_>) -> anyhow::Result<()> {
    let r = i.r;
    let s = &i.main.summary;
    let video_paths: Vec<String> = i.media.videos.iter().map(|v| v.path.clone()).collect();
    let report = Report {
        config: i.config,
        robot: &r.config.robot,
        task: &r.config.task,
        seed: i.seed,
        full_budget: i.full_budget,
        pc_success: s.pc_success,
        avg_sum_reward: s.avg_sum_reward,
        avg_max_reward: s.avg_max_reward,
        eval_s: s.eval_s,
        eval_ep_s: s.eval_ep_s,
        summary: s,
        baselines: i
            .base
            .iter()
            .map(|(b, e)| BaselineReport {
                baseline: *b,
                summary: &e.summary,
                return_ratio: s.avg_sum_reward / e.summary.avg_sum_reward,
            })
            .collect(),
        sil: i.sil,
        remote: i.remote,
        shard: i.shard,
        merged: i.merged,
        episodes: &i.main.episodes,
        videos: &i.media.videos,
        lerobot: lerobot_info(
            &format!("{}_{}", r.config.robot, r.config.task),
            s,
            &i.main.episodes,
            video_paths,
        ),
    };
    let json = serde_json::to_string_pretty(&report)?;
    write(&i.out.join("eval.json"), json.as_bytes())?;
    super::eval_figures::write_csv(&i.out.join("episodes.csv"), &i.main.episodes)?;
    let named: Vec<(String, &Evaluation)> = i.base.iter().map(|(b, e)| (b.label(), e)).collect();
    super::eval_figures::write_figures(i.out, r, i.main, &named, i.media)?;
    let figures = ["returns.svg", "traces.svg", "controller_time.svg"];
    let title = format!("{}/{}", r.description.robot, r.description.task.name);
    let html =
        umwelt_runtime::offline::report_html::report_html(&title, s, &i.media.videos, &figures);
    write(&i.out.join("report.html"), html.as_bytes())?;
    if i.json {
        outln!("{json}");
        return Ok(());
    }
    print_lines(i)
}

/// The summary on stdout: one line per controller, the
/// simulator-in-the-loop verdict, the videos, where the report is.
fn print_lines(i: &ReportInput<'_>) -> anyhow::Result<()> {
    let (r, s) = (i.r, &i.main.summary);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}/{}: {}",
        r.description.robot, r.description.task.name, i.heading
    )?;
    print_summary(&mut out, &s.controller, s)?;
    for (b, e) in i.base {
        print_summary(&mut out, &b.label(), &e.summary)?;
        writeln!(
            out,
            "  {} / {:?}: return ratio {:.2}",
            s.controller,
            b,
            s.avg_sum_reward / e.summary.avg_sum_reward
        )?;
    }
    if let Some(sil) = i.sil {
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
                sil.wall_s,
                sil.episodes_diverging,
                i.main.episodes.len()
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
    if let Some(m) = i.merged {
        writeln!(
            out,
            "  {} shards: wall {:.1} s (the slowest shard), {:.1} s on one machine (their sum), {:.1} s from the first start to the last end",
            m.count, m.wall_s, m.machine_s, m.span_s
        )?;
    }
    for v in &i.media.videos {
        writeln!(
            out,
            "  video ({}, seed {}, return {:.1}): {} ({} frames at {:.0}/s, {} KB; drawn at {:.0} frames/s, encoded at {:.0} frames/s, one thread)",
            v.label,
            v.seed,
            v.sum_reward,
            i.out.join(&v.path).display(),
            v.frames,
            v.fps,
            v.bytes / 1024,
            v.frames as f64 / v.render_s.max(1e-9),
            v.frames as f64 / v.encode_s.max(1e-9),
        )?;
    }
    writeln!(out, "report: {}", i.out.join("eval.json").display())?;
    Ok(())
}

fn print_summary(out: &mut impl Write, name: &str, s: &EvalSummary) -> anyhow::Result<()> {
    writeln!(
        out,
        "  {name:>8}: return {:.1} ({}), success {:.0}% (95% CI {:.0}-{:.0}%), \
         controller p50 {:.1} us p99 {:.1} us, {} deadline misses, {} safe ticks; \
         {:.1} episodes/min ({} jobs, {:.0}x real time)",
        s.avg_sum_reward,
        s.return_interval(),
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
