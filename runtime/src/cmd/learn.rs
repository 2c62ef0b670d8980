//! `umwelt learn`: the model-based learning loop (see `umwelt_runtime::learn`).

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use umwelt_runtime::learn::{LearnEvent, learn};
use umwelt_runtime::recipe::LearnRecipe;

/// Arguments of `umwelt learn`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A learning recipe (TOML): any of the options below, keys spelt as
    /// the flags with underscores (`action_repeat = 2`). Flags given here
    /// win over the file. `configs/learn/` holds the recipe of every
    /// shipped model.
    #[arg(long, value_name = "FILE")]
    recipe: Option<PathBuf>,
    /// Robot to learn (see `umwelt envs`); required unless the recipe sets it.
    #[arg(long)]
    robot: Option<String>,
    /// Task of that robot; required unless the recipe sets it.
    #[arg(long)]
    task: Option<String>,
    /// Robot config file (TOML) replacing the built-in defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Environment steps in all (seed episodes included); with --resume, a
    /// larger value extends the run [default: 100000].
    #[arg(long)]
    steps: Option<u64>,
    /// Run directory: dataset, checkpoint, learn.json, curve.csv, curve.svg.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out (its own options are kept; only a larger
    /// --steps, given or in the recipe, extends it).
    #[arg(long)]
    resume: bool,
    /// Seed of model, batches, planner noise and episodes [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Random-policy episodes before the planner takes over [default: 5].
    #[arg(long)]
    seed_episodes: Option<usize>,
    /// Gradient updates per environment step [default: 0.5].
    #[arg(long)]
    updates_per_step: Option<f64>,
    /// Evaluate after every this many planner episodes [default: 5].
    #[arg(long)]
    eval_every: Option<usize>,
    /// Noise-free episodes per evaluation [default: 3].
    #[arg(long)]
    eval_episodes: Option<usize>,
    /// Planner samples per iteration (TD-MPC2: 512).
    #[arg(long)]
    samples: Option<usize>,
    /// Planner iterations per decision (TD-MPC2: 6).
    #[arg(long)]
    iterations: Option<usize>,
    /// Planner horizon (TD-MPC2: 3).
    #[arg(long)]
    horizon: Option<usize>,
    /// Control steps each action is held, and each model step covers
    /// (TD-MPC2: 2 on DMControl). Run configs for the checkpoint need
    /// `controller.planner.action_repeat` set to the same value [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    action_repeat: Option<u32>,
    /// Width of the model's hidden layers.
    #[arg(long)]
    hidden: Option<usize>,
    /// Discount factor of the value targets [default: 0.99].
    #[arg(long)]
    gamma: Option<f32>,
    /// Weight of the value (TD) loss in the model's joint objective
    /// (default 0.1, as TD-MPC2). Its gradient reaches the encoder too, and
    /// grows with the values' scale, so it also sets how much the latent is
    /// shaped by the value rather than by the dynamics' consistency.
    #[arg(long)]
    value_coef: Option<f32>,
    /// Q heads in the value ensemble (TD-MPC2: 5). Each TD target is the
    /// minimum of two heads drawn at random; the planner uses the first two.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=16))]
    q_heads: Option<u32>,
    /// Hindsight copies of every episode to train on besides it (0: none;
    /// at most 16). Each copy moves the goal to where the robot was at a
    /// step drawn at random and recomputes the rewards, so the model sees
    /// the goal reached from many more states than its own successes show.
    /// Only tasks whose reward is a function of a robot-to-goal vector in
    /// the observation (the reacher's and the arm's reach) can be
    /// relabelled; the copies are never written to the dataset [default: 0].
    #[arg(long)]
    relabel: Option<usize>,
    /// No progress bar; print one JSON document at the end.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// The options given as flags.
    fn flags(&self) -> LearnRecipe {
        LearnRecipe {
            robot: self.robot.clone(),
            task: self.task.clone(),
            robot_config: self.config.clone(),
            steps: self.steps,
            seed: self.seed,
            seed_episodes: self.seed_episodes,
            updates_per_step: self.updates_per_step,
            eval_every: self.eval_every,
            eval_episodes: self.eval_episodes,
            samples: self.samples,
            iterations: self.iterations,
            horizon: self.horizon,
            action_repeat: self.action_repeat.map(|v| v as usize),
            hidden: self.hidden,
            gamma: self.gamma,
            value_coef: self.value_coef,
            q_heads: self.q_heads.map(|v| v as usize),
            relabel: self.relabel,
        }
    }
}

/// Runs `umwelt learn`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let recipe = match &args.recipe {
        Some(path) => args.flags().or(LearnRecipe::load(path)?),
        None => args.flags(),
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
        println!(
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
        println!(
            "run directory {}: model.uwwm, curve.csv, curve.svg, learn.json, data/",
            args.out.display()
        );
    }
    Ok(())
}
