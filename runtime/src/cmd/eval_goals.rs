//! `umwelt eval --goals-from oracle`: goal-reaching episodes (see
//! [`umwelt_runtime::offline::goals`]) and their report: `goals.json`,
//! `goals.csv` and the goal images.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::offline::eval::wilson95;
use umwelt_runtime::offline::goals::{GoalEpisode, GoalKind, goal_episodes};
use umwelt_runtime::plan::GoalDistance;

/// One goal evaluation to run.
pub(super) struct GoalRun<'a> {
    /// The controller config's file.
    pub config: &'a Path,
    /// The controller under test (learned MPC).
    pub r: &'a Resolved,
    /// The demonstrator whose episodes' ends are the goals.
    pub demo: &'a Resolved,
    /// Its name in the report.
    pub demo_name: &'a str,
    pub episodes: usize,
    pub seed: u64,
    pub out: &'a Path,
    pub full_budget: bool,
    /// How the controller measures closeness to a goal.
    pub distance: GoalDistance,
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    config: String,
    robot: &'a str,
    task: &'a str,
    demonstrator: &'a str,
    goals: GoalKind,
    /// How the controller measured closeness to a goal.
    goal_distance: GoalDistance,
    seed: u64,
    full_budget: bool,
    episodes: usize,
    /// Percent of episodes whose end met the task's success rule.
    success_pct: f64,
    /// Wilson 95% interval of it, percent.
    success_ci95_pct: [f64; 2],
    /// The demonstrator's success, percent (its ends are the goals).
    demo_success_pct: f64,
    /// Of the episodes whose demonstration succeeded, the percent the goal
    /// controller also succeeded in.
    success_given_demo_success_pct: Option<f64>,
    /// Percent of episodes that ended within the task's full-reward
    /// distance of where the demonstration ended (tasks with a target
    /// vector), and its Wilson 95% interval.
    reached_pct: Option<f64>,
    reached_ci95_pct: Option<[f64; 2]>,
    /// Mean metres between the two end points.
    mean_goal_distance: Option<f64>,
    mean_return: f64,
    demo_mean_return: f64,
    wall_s: f64,
    per_episode: &'a [GoalEpisode],
}

/// Runs the goal episodes and writes the report into `g.out`.
pub(super) fn run(g: &GoalRun, stop: &std::sync::atomic::AtomicBool) -> anyhow::Result<()> {
    let images = g.out.join("goals");
    let bar = super::progress::Progress::bar(
        g.episodes as u64,
        "episodes",
        "goals [{bar:30}] {pos}/{len} episodes ({elapsed} / ~{eta} left) {msg}",
        g.json,
    )?;
    let t0 = Instant::now();
    let on_done = |e: &GoalEpisode| {
        bar.inc(format!(
            "seed {}: {} (demonstration {})",
            e.seed,
            if e.success { "reached" } else { "missed" },
            if e.demo_success {
                "succeeded"
            } else {
                "failed"
            }
        ));
    };
    let (kind, eps) = goal_episodes(
        g.r, g.demo, g.distance, g.episodes, g.seed, &images, stop, &on_done,
    )?;
    bar.finish_and_clear();
    let n = eps.len().max(1) as f64;
    let wins = eps.iter().filter(|e| e.success).count();
    let demo_wins: Vec<&GoalEpisode> = eps.iter().filter(|e| e.demo_success).collect();
    // Goals reached, where every episode could say (a task with a target).
    let reached: Vec<bool> = eps.iter().filter_map(|e| e.reached).collect();
    let hits = (reached.len() == eps.len()).then(|| reached.iter().filter(|r| **r).count());
    let distances: Vec<f64> = eps.iter().filter_map(|e| e.goal_distance).collect();
    let report = Report {
        config: g.config.display().to_string(),
        robot: &g.r.description.robot,
        task: &g.r.description.task.name,
        demonstrator: g.demo_name,
        goals: kind,
        goal_distance: g.distance,
        seed: g.seed,
        full_budget: g.full_budget,
        episodes: eps.len(),
        success_pct: 100.0 * wins as f64 / n,
        success_ci95_pct: wilson95(wins, eps.len()),
        demo_success_pct: 100.0 * demo_wins.len() as f64 / n,
        success_given_demo_success_pct: (!demo_wins.is_empty()).then(|| {
            100.0 * demo_wins.iter().filter(|e| e.success).count() as f64 / demo_wins.len() as f64
        }),
        reached_pct: hits.map(|h| 100.0 * h as f64 / n),
        reached_ci95_pct: hits.map(|h| wilson95(h, eps.len())),
        mean_goal_distance: (distances.len() == eps.len())
            .then(|| distances.iter().sum::<f64>() / n),
        mean_return: eps.iter().map(|e| e.ret).sum::<f64>() / n,
        demo_mean_return: eps.iter().map(|e| e.demo_return).sum::<f64>() / n,
        wall_s: t0.elapsed().as_secs_f64(),
        per_episode: &eps,
    };
    let path = g.out.join("goals.json");
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    let mut csv = String::from(
        "index,seed,demo_return,demo_success,return,success,goal_distance,reached,goal_image\n",
    );
    for e in &eps {
        csv.push_str(&format!(
            "{},{},{:.3},{},{:.3},{},{},{},{}\n",
            e.index,
            e.seed,
            e.demo_return,
            e.demo_success,
            e.ret,
            e.success,
            e.goal_distance.map_or(String::new(), |d| format!("{d:.4}")),
            e.reached.map_or(String::new(), |r| r.to_string()),
            e.goal_image.as_deref().unwrap_or("")
        ));
    }
    let path = g.out.join("goals.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    if g.json {
        println!("{text}");
    } else {
        outln!(
            "{} of {} goals ({}) reached: {:.0}% (95% CI {:.0}-{:.0}%); the {} reached {:.0}% of its own; report in {}",
            wins,
            eps.len(),
            match kind {
                GoalKind::Image => "images",
                GoalKind::Observation => "observations",
            },
            report.success_pct,
            report.success_ci95_pct[0],
            report.success_ci95_pct[1],
            g.demo_name,
            report.demo_success_pct,
            g.out.display()
        );
        if let (Some(pct), Some(d)) = (report.reached_pct, report.mean_goal_distance) {
            outln!(
                "ended within the task's distance of where the {} ended: {pct:.0}% (mean {d:.3} m apart)",
                g.demo_name
            );
        }
    }
    Ok(())
}
