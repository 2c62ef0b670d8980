//! `umwelt learn`: the model-based learning loop (see `umwelt_runtime::offline::learn`).

use std::path::PathBuf;

use std::path::Path;
use std::time::Instant;

use super::progress::{PhaseEta, Progress, short_span};
use umwelt_runtime::nodes::remote_robot::RemoteRobot;
use umwelt_runtime::nodes::transport::ZenohArgs;
use umwelt_runtime::offline::learn::{LearnEvent, LearnOptions, LearnState, RunDir, learn};
use umwelt_runtime::offline::plant::Plant;
use umwelt_runtime::offline::recipe::LearnRecipe;
use umwelt_runtime::robot::load_robot;

/// Arguments of `umwelt learn`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A learning recipe (TOML): any of the options below, keys spelt as
    /// the flags with underscores (`action_repeat = 2`; `robot_config` for
    /// --robot-config). Flags given here win over the file. `configs/learn/`
    /// holds the recipe of every shipped model.
    #[arg(long, value_name = "FILE")]
    recipe: Option<PathBuf>,
    /// The run's options.
    #[command(flatten)]
    options: LearnRecipe,
    /// Run directory: final.uwwm (what the run ships: the checkpoint best on
    /// held-out seeds at its end, see --select-episodes), model.uwwm (the
    /// last), best.uwwm (the best curve evaluation, on few episodes),
    /// candidates/, dataset, learn.json, curve.csv, curve.svg.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out (its own options are kept; only a larger
    /// --steps, given or in the recipe, extends it, and the run selects
    /// final.uwwm again at its new end).
    #[arg(long)]
    resume: bool,
    /// No progress bar; print one JSON document at the end.
    #[arg(long)]
    json: bool,
    /// Learn on the robot a driver serves over zenoh (`umwelt sim`,
    /// hardware, any driver speaking the protocol) instead of umwelt's
    /// simulator in-process: every episode (random seed episodes, planner
    /// episodes, evaluations) starts with a seeded Reset and runs through
    /// the wire; lockstep when the driver offers it, real time otherwise.
    /// --robot may be a description file (`umwelt robot describe`).
    #[arg(long)]
    remote: bool,
    /// The robot's name on the wire with --remote (`umwelt/<name>/...`;
    /// default: the robot's kind), so that one of several robots of a kind
    /// can be chosen.
    #[arg(long, value_name = "NAME", requires = "remote")]
    name: Option<String>,
    /// Collect at most this many episodes in this session (seed and
    /// planner episodes; evaluations come on top), then stop as Ctrl-C
    /// does: everything is saved, and --resume carries on. For runs on
    /// hardware an operator watches a few episodes at a time.
    #[arg(long, value_name = "N", value_parser = umwelt_runtime::cli::args::count::<usize>(1, 1_000_000_000))]
    max_episodes: Option<usize>,
    /// Seconds to wait for a driver's first frame after a Reset (--remote).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    remote_timeout: f64,
    #[command(flatten)]
    zenoh: ZenohArgs,
}

/// The options of the run in `out` (its learn.json), which a resumed run
/// keeps whatever recipe or flags are given: only `steps`, when larger than
/// its budget, extends it. So `--resume --out DIR`, what a stopped run
/// prints, is the whole command.
fn resumed_options(out: &Path, steps: Option<u64>) -> anyhow::Result<LearnOptions> {
    let path = RunDir {
        root: out.to_path_buf(),
    }
    .state();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (no run to resume there)", path.display()))?;
    let state: LearnState =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut o = state.options;
    o.env_steps = o.env_steps.max(steps.unwrap_or(0));
    Ok(o)
}

/// Runs `umwelt learn`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let recipe = match &args.recipe {
        Some(path) => args.options.clone().or(LearnRecipe::load(path)?),
        None => args.options.clone(),
    };
    // Without --steps a resumed run keeps its own budget: the default would
    // otherwise extend any run to 100,000 steps.
    let o = match args.resume {
        true => resumed_options(&args.out, recipe.steps)?,
        false => recipe.options()?,
    };
    let steps = o.env_steps;
    let stop = super::stop_flag()?;
    // The time left is our own, per phase: indicatif's `{eta}` divides by
    // a rate measured over the random seed episodes and the pre-training
    // pause together, and read "2w left" there.
    let bar = Progress::bar(
        steps,
        "env steps",
        "{elapsed_precise} [{bar:30}] {pos}/{len} env steps {msg}",
        args.json,
    )?;
    let mut last_eval = String::new();
    let mut eta = PhaseEta::default();
    let mut on_event = |e: LearnEvent<'_>| match e {
        LearnEvent::Collected {
            env_steps,
            ret,
            planner,
        } => {
            let who = if planner { "planner" } else { "random" };
            let left = eta
                .update(u32::from(planner), env_steps, steps, Instant::now())
                .map(|d| format!("({} left) ", short_span(d)))
                .unwrap_or_default();
            bar.set_message(format!("{left}{last_eval} | last {who} episode {ret:.0}"));
            bar.set_position(env_steps);
        }
        LearnEvent::Trained { updates, losses } => {
            bar.println(format!(
                "  {updates} updates: consistency {:.4} reward {:.4} value {:.4} policy {:.3} inverse {:.4}",
                losses.consistency, losses.reward, losses.value, losses.policy, losses.inverse
            ));
        }
        LearnEvent::Evaluated(p) => {
            last_eval = format!("eval {:.0}±{:.0}", p.eval_return, p.eval_return_std);
            bar.println(format!(
                "{} env steps, {:.0} s: eval return {:.1} ± {:.1}, success {:.0}%",
                p.env_steps,
                p.wall_s,
                p.eval_return,
                p.eval_return_std,
                100.0 * p.eval_success
            ));
        }
        LearnEvent::Selecting {
            candidate,
            of,
            env_steps,
        } => {
            bar.set_message(format!(
                "held-out selection: candidate {candidate} of {of} ({env_steps} steps)"
            ));
        }
        // In every mode, --json included: it changes what the run is.
        LearnEvent::Warning(why) => bar.suspend(|| eprintln!("warning: {why}")),
        LearnEvent::Selected(sel) => {
            for c in &sel.candidates {
                bar.println(format!(
                    "held-out {} episodes from seed {}: {} steps {:.1} ± {:.1}, success {:.0}% (curve {})",
                    sel.episodes,
                    sel.seeds_from,
                    c.env_steps,
                    c.held_out_return,
                    c.held_out_std,
                    100.0 * c.held_out_success,
                    c.curve_return
                        .map(|r| format!("{r:.1}"))
                        .unwrap_or_else(|| "none".into())
                ));
            }
        }
    };
    let mut robot = match args.remote {
        true => Some(connect(&o, &args)?),
        false => None,
    };
    let t0 = Instant::now();
    let plant = robot.as_mut().map(|r| r as &mut dyn Plant);
    let state = learn(
        o,
        &args.out,
        args.resume,
        plant,
        args.max_episodes,
        &stop,
        &mut on_event,
    )?;
    bar.finish_and_clear();
    if let Some(r) = &robot {
        let stats = r.stats();
        eprintln!(
            "{}; {:.0} s wall",
            super::remote::summary(&stats),
            t0.elapsed().as_secs_f64()
        );
        let json = serde_json::to_vec_pretty(&stats)?;
        std::fs::write(args.out.join("remote.json"), json)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.join("remote.json").display()))?;
    }
    let unselected = state.options.select_episodes > 0
        && state.selection.as_ref().map(|s| s.env_steps) != Some(state.env_steps);
    if state.env_steps < state.options.env_steps {
        // On stderr in every mode: a --json run's reader learns it from
        // learn.json's env_steps.
        eprintln!(
            "stopped at {} of {} env steps with whole episodes saved; continue with --resume --out {}",
            state.env_steps,
            state.options.env_steps,
            args.out.display()
        );
    } else if unselected {
        eprintln!(
            "stopped before the held-out selection of final.uwwm; it runs with --resume --out {}",
            args.out.display()
        );
    }
    let selection = state
        .selection
        .as_ref()
        .filter(|s| s.env_steps == state.env_steps);
    if args.json {
        if let Some(sel) = selection {
            // stdout holds the one JSON document; the choice, on stderr.
            eprintln!("{}", sel.summary());
        }
        super::print_json(&state)?;
    } else {
        let last = state.curve.last();
        outln!(
            "{}/{}: {} env steps, {} episodes, {} updates in {:.0} s; last evaluation {}",
            state.options.robot,
            state.options.task,
            state.env_steps,
            state.episodes,
            state.updates,
            state.wall_s,
            last.map(|p| format!("{:.1} ± {:.1}", p.eval_return, p.eval_return_std))
                .unwrap_or_else(|| "none".into())
        );
        if let Some(sel) = selection {
            outln!("{}", sel.summary());
        }
        outln!("where the time went: {}", state.time.line(state.wall_s));
        outln!(
            "run directory {}: {}",
            args.out.display(),
            existing(&args.out, RUN_FILES).join(", ")
        );
    }
    Ok(())
}

/// The robot of the run's options behind its driver, for `--remote`.
fn connect(o: &LearnOptions, args: &Args) -> anyhow::Result<RemoteRobot> {
    let robot = load_robot(&o.robot, o.robot_config.as_deref(), &o.task)?;
    let d = robot.description;
    let name = args.name.clone().unwrap_or_else(|| d.robot.clone());
    let deadline = super::remote::default_deadline(d.control_period);
    super::remote::connect(&args.zenoh, &name, d, deadline, args.remote_timeout)
}

/// What a learning run's directory may hold, in the order to list it.
const RUN_FILES: &[&str] = &[
    "final.uwwm",
    "model.uwwm",
    "best.uwwm",
    "candidates/",
    "curve.csv",
    "curve.svg",
    "learn.json",
    "remote.json",
    "data/",
];

/// The names among `names` that exist in `dir` (a trailing `/`: a
/// directory), so that the run's summary lists only what is there: a run
/// stopped before its first evaluation has no learning curve.
fn existing<'a>(dir: &Path, names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|n| match n.strip_suffix('/') {
            Some(d) => dir.join(d).is_dir(),
            None => dir.join(n).is_file(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_only_files_that_exist() {
        let dir =
            std::env::temp_dir().join(format!("umwelt-learn-existing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("temp dir");
        std::fs::write(dir.join("model.uwwm"), b"x").expect("temp file");
        std::fs::write(dir.join("learn.json"), b"{}").expect("temp file");
        assert_eq!(
            existing(&dir, RUN_FILES),
            ["model.uwwm", "learn.json", "data/"]
        );
        std::fs::write(dir.join("curve.csv"), b"").expect("temp file");
        assert_eq!(
            existing(&dir, RUN_FILES),
            ["model.uwwm", "curve.csv", "learn.json", "data/"]
        );
        std::fs::write(dir.join("final.uwwm"), b"x").expect("temp file");
        assert_eq!(existing(&dir, RUN_FILES)[0], "final.uwwm");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
