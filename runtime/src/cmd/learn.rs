//! `umwelt learn`: the model-based learning loop (see `umwelt_runtime::learn`).

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use umwelt_runtime::learn::{LearnEvent, LearnOptions, learn};

/// Arguments of `umwelt learn`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Robot to learn (see `umwelt envs`).
    #[arg(long)]
    robot: String,
    /// Task of that robot.
    #[arg(long)]
    task: String,
    /// Robot config file (TOML) replacing the built-in defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Environment steps in all (seed episodes included); with --resume, a
    /// larger value extends the run.
    #[arg(long, default_value_t = 100_000)]
    steps: u64,
    /// Run directory: dataset, checkpoint, learn.json, curve.csv, curve.svg.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out (its own options are kept).
    #[arg(long)]
    resume: bool,
    /// Seed of model, batches, planner noise and episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Random-policy episodes before the planner takes over.
    #[arg(long, default_value_t = 5)]
    seed_episodes: usize,
    /// Gradient updates per environment step.
    #[arg(long, default_value_t = 0.5)]
    updates_per_step: f64,
    /// Evaluate after every this many planner episodes.
    #[arg(long, default_value_t = 5)]
    eval_every: usize,
    /// Noise-free episodes per evaluation.
    #[arg(long, default_value_t = 3)]
    eval_episodes: usize,
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
    /// `controller.planner.action_repeat` set to the same value.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    action_repeat: u32,
    /// Width of the model's hidden layers.
    #[arg(long)]
    hidden: Option<usize>,
    /// Discount factor of the value targets.
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
    /// relabelled; the copies are never written to the dataset.
    #[arg(long, default_value_t = 0)]
    relabel: usize,
    /// No progress bar; print one JSON document at the end.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt learn`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut o = LearnOptions::new(&args.robot, &args.task);
    o.robot_config = args.config.clone();
    o.env_steps = args.steps;
    o.seed = args.seed;
    o.seed_episodes = args.seed_episodes;
    o.updates_per_step = args.updates_per_step;
    o.eval_every = args.eval_every.max(1);
    o.eval_episodes = args.eval_episodes;
    o.train.seed = args.seed;
    o.planner.seed = args.seed;
    if let Some(v) = args.samples {
        o.planner.samples = v;
        o.planner.elites = o.planner.elites.min(v);
        o.planner.policy_samples = o.planner.policy_samples.min(v.saturating_sub(1));
    }
    if let Some(v) = args.iterations {
        o.planner.iterations = v;
        o.planner.min_iterations = o.planner.min_iterations.min(v);
    }
    if let Some(v) = args.horizon {
        o.planner.horizon = v;
    }
    o.action_repeat = args.action_repeat as usize;
    o.relabel = args.relabel;
    if let Some(v) = args.hidden {
        o.model.hidden = v;
    }
    if let Some(v) = args.gamma {
        o.train.gamma = v;
    }
    if let Some(v) = args.value_coef {
        o.train.value_coef = v;
    }
    if let Some(v) = args.q_heads {
        o.model.num_q = v as usize;
    }
    anyhow::ensure!(
        o.updates_per_step.is_finite() && o.updates_per_step >= 0.0,
        "--updates-per-step must be a finite number >= 0"
    );
    let stop = super::stop_flag()?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(args.steps);
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
