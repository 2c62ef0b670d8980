//! `umwelt learn`: the model-based learning loop (see `umwelt_runtime::offline::learn`).

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use umwelt_runtime::offline::learn::{LearnEvent, learn};
use umwelt_runtime::recipe::LearnRecipe;

/// Arguments of `umwelt learn`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A learning recipe (TOML): any of the options below, keys spelt as
    /// the flags with underscores (`action_repeat = 2`; `robot_config` for
    /// --config). Flags given here win over the file. `configs/learn/`
    /// holds the recipe of every shipped model.
    #[arg(long, value_name = "FILE")]
    recipe: Option<PathBuf>,
    /// The run's options.
    #[command(flatten)]
    options: LearnRecipe,
    /// Run directory: dataset, checkpoint, learn.json, curve.csv, curve.svg.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out (its own options are kept; only a larger
    /// --steps, given or in the recipe, extends it).
    #[arg(long)]
    resume: bool,
    /// No progress bar; print one JSON document at the end.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt learn`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let recipe = match &args.recipe {
        Some(path) => args.options.clone().or(LearnRecipe::load(path)?),
        None => args.options.clone(),
    };
    let o = recipe.options()?;
    let steps = o.env_steps;
    let stop = super::stop_flag()?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(steps);
        b.set_style(ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} env steps ({eta} left) {msg}",
        )?);
        b
    };
    let mut last_eval = String::new();
    let mut on_event = |e: LearnEvent<'_>| match e {
        LearnEvent::Collected {
            env_steps,
            ret,
            planner,
        } => {
            bar.set_position(env_steps);
            let who = if planner { "planner" } else { "random" };
            bar.set_message(format!("{last_eval} | last {who} episode {ret:.0}"));
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
    };
    let state = learn(o, &args.out, args.resume, &stop, &mut on_event)?;
    bar.finish_and_clear();
    if args.json {
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
        outln!(
            "run directory {}: model.uwwm, curve.csv, curve.svg, learn.json, data/",
            args.out.display()
        );
    }
    Ok(())
}
