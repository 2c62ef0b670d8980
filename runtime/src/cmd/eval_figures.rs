//! `umwelt eval`'s files beside `eval.json`: `episodes.csv` and the SVG
//! figures (returns, traces of the best, median and worst episodes,
//! controller time).

use std::path::Path;

use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::offline::eval::{EpisodeReport, Evaluation};
use umwelt_runtime::offline::media::EvalMedia;
use umwelt_runtime::offline::plot;

use anyhow::Context;

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Writes `episodes.csv`: one row per episode.
pub(super) fn write_csv(path: &Path, rows: &[EpisodeReport]) -> anyhow::Result<()> {
    let mut csv = String::from(
        "index,seed,return,length,success,max_reward,controller_p50_us,controller_p99_us,deadline_misses,safe_ticks,clamped,slew_limited\n",
    );
    for e in rows {
        csv.push_str(&format!(
            "{},{},{:.3},{},{},{:.4},{:.1},{:.1},{},{},{},{}\n",
            e.index,
            e.seed,
            e.ret,
            e.length,
            e.success,
            e.max_reward,
            e.controller_p50_us,
            e.controller_p99_us,
            e.deadline_misses,
            e.safe_ticks,
            e.interventions.clamped,
            e.interventions.slew_limited
        ));
    }
    write(path, csv.as_bytes())
}

/// Writes `returns.svg` (with each named baseline of `base`), `traces.svg`
/// and `controller_time.svg`.
pub(super) fn write_figures(
    dir: &Path,
    r: &Resolved,
    main: &Evaluation,
    base: &[(String, &Evaluation)],
    media: &EvalMedia,
) -> anyhow::Result<()> {
    let name = format!("{}/{}", r.description.robot, r.description.task.name);
    let mut groups = vec![(
        main.summary.controller.clone(),
        main.episodes.iter().map(|e| e.ret).collect::<Vec<f64>>(),
    )];
    for (b, e) in base {
        groups.push((b.clone(), e.episodes.iter().map(|e| e.ret).collect()));
    }
    let svg = plot::returns_histogram_svg(&format!("{name}: episode returns"), &groups)
        .map_err(anyhow::Error::msg)?;
    write(&dir.join("returns.svg"), svg.as_bytes())?;
    // Best, median and worst episode of the configured controller, with
    // their state when they could be replayed.
    let picks = if media.traced.is_empty() {
        let returns: Vec<f64> = main.runs.iter().map(|r| r.ret).collect();
        umwelt_runtime::offline::media::pick_episodes(&returns, 3)
    } else {
        media.traced.iter().map(|m| m.pick.clone()).collect()
    };
    let labels: Vec<String> = picks
        .iter()
        .map(|p| {
            let run = &main.runs[p.index];
            format!("{}: seed {} return {:.0}", p.label, run.seed, run.ret)
        })
        .collect();
    let states: Vec<Vec<Vec<f32>>> = picks
        .iter()
        .map(|p| {
            media
                .traced
                .iter()
                .find(|m| m.pick.index == p.index)
                .map(|m| m.states.iter().map(|s| s.values.clone()).collect())
                .unwrap_or_default()
        })
        .collect();
    let traces: Vec<plot::Trace<'_>> = picks
        .iter()
        .zip(&labels)
        .zip(&states)
        .map(|((p, label), states)| {
            let run = &main.runs[p.index];
            plot::Trace {
                label,
                rewards: &run.rewards,
                actions: &run.actions,
                states,
            }
        })
        .collect();
    let state_names: Vec<String> = media
        .traced
        .first()
        .map(|m| m.states.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let action_names: Vec<String> = r
        .description
        .action_spec()
        .iter()
        .map(|e| format!("{} ({})", e.name, e.unit))
        .collect();
    let svg = plot::traces_svg(
        &format!("{name}: best, median and worst episode"),
        r.period,
        &state_names,
        &action_names,
        &traces,
    )
    .map_err(anyhow::Error::msg)?;
    write(&dir.join("traces.svg"), svg.as_bytes())?;
    let times: Vec<f32> = main
        .runs
        .iter()
        .flat_map(|r| r.controller_us.iter().copied())
        .collect();
    let svg = plot::controller_time_svg(
        &format!(
            "{name}: controller time per tick ({})",
            main.summary.controller
        ),
        &times,
        r.period * 1e6,
    )
    .map_err(anyhow::Error::msg)?;
    write(&dir.join("controller_time.svg"), svg.as_bytes())?;
    Ok(())
}
