//! `umwelt envs`: the simulated robots, their tasks and specs.

use serde::Serialize;
use umwelt_sim::{ActionSpec, Env, ObservationSpec, RobotKind, TaskInfo, tasks_of};

/// Arguments of `umwelt envs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON document instead of a readable listing.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RobotListing {
    robot: &'static str,
    joints: Vec<String>,
    channels: Vec<String>,
    physics_dt: f64,
    control_period: f64,
    episode_steps: u32,
    /// The default cameras (`umwelt sim --cameras`, `collect --camera`,
    /// `learn --camera`).
    cameras: Vec<umwelt_sim::CameraConfig>,
    tasks: Vec<TaskListing>,
}

#[derive(Serialize)]
struct TaskListing {
    #[serde(flatten)]
    info: TaskInfo,
    observation: ObservationSpec,
    action: ActionSpec,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut robots = Vec::new();
    for kind in RobotKind::ALL {
        let mut tasks = Vec::new();
        let mut first: Option<Env> = None;
        for info in tasks_of(kind) {
            let env = Env::new(kind.name(), info.name)?;
            tasks.push(TaskListing {
                info: info.clone(),
                observation: env.observation_spec().clone(),
                action: env.action_spec().clone(),
            });
            first.get_or_insert(env);
        }
        let Some(env) = first else { continue };
        robots.push(RobotListing {
            robot: kind.name(),
            joints: env.joint_names().to_vec(),
            channels: env.channel_names().to_vec(),
            physics_dt: env.config().physics_dt,
            control_period: env.control_period(),
            episode_steps: env.max_episode_steps(),
            cameras: env.cameras().to_vec(),
            tasks,
        });
    }
    if args.json {
        return super::print_json(&robots);
    }
    for r in &robots {
        outln!(
            "{}  joints: {}  ({} Hz control, {} physics steps each, {} steps per episode)",
            r.robot,
            r.joints.join(", "),
            (1.0 / r.control_period).round(),
            (r.control_period / r.physics_dt).round(),
            r.episode_steps
        );
        let cams: Vec<String> = r
            .cameras
            .iter()
            .map(|c| {
                let kinds: Vec<&str> = [(c.rgb, "RGB"), (c.depth, "depth")]
                    .into_iter()
                    .filter_map(|(on, k)| on.then_some(k))
                    .collect();
                format!("{} ({}x{} {})", c.name, c.width, c.height, kinds.join("+"))
            })
            .collect();
        outln!("  cameras: {}", cams.join(", "));
        for t in &r.tasks {
            outln!("  {}/{}: {}", r.robot, t.info.name, t.info.description);
            outln!("    success: {}", t.info.success);
            let act: Vec<String> = t
                .action
                .entries
                .iter()
                .map(|e| format!("{} [{}, {}] {}", e.name, e.low, e.high, e.unit))
                .collect();
            outln!("    action ({}): {}", t.action.mode, act.join("; "));
            let obs: Vec<String> = t
                .observation
                .entries
                .iter()
                .map(|e| format!("{} ({})", e.name, e.unit))
                .collect();
            outln!("    observation: {}", obs.join(", "));
        }
    }
    Ok(())
}
