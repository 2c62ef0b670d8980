//! `umwelt robot`: robot descriptions (what a controller needs to know
//! about a robot, without physics): print a built-in robot's, or check one.

use std::path::PathBuf;

use umwelt_runtime::robot::{RobotDescription, load_robot};

/// Arguments of `umwelt robot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand, Debug)]
enum Verb {
    /// Print the description of a built-in robot and task (TOML), the
    /// starting point for describing a robot of your own.
    Describe {
        /// A built-in robot (see `umwelt envs`) or a simulator config file.
        robot: String,
        /// The task (default: the robot's first).
        #[arg(long, default_value = "")]
        task: String,
        /// Write it to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a description file: every name, number and reference; prints
    /// a one-line summary, or the first problem (exit status 1).
    Check {
        /// The description file.
        file: PathBuf,
        /// Print the derived observation and action specs as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.verb {
        Verb::Describe { robot, task, out } => {
            let loaded = load_robot(&robot, None, &task)?;
            let text = loaded.description.to_toml()?;
            match out {
                Some(path) => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
                    }
                    std::fs::write(&path, text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => out!("{text}"),
            }
        }
        Verb::Check { file, json } => {
            let d = RobotDescription::load(&file)?;
            let spec = d.dataset_spec()?;
            if json {
                return super::print_json(&spec);
            }
            let transport = match d.ros2_settings() {
                None => String::new(),
                Some(r) => {
                    use umwelt_runtime::ros2::{graph, msgs};
                    let cmd = msgs::command_type(r.command_type);
                    format!(
                        ", ROS 2 (JointState from {}, {} to {})",
                        graph::topic_key(r.domain_id, &r.joint_state_topic(), &msgs::JOINT_STATE),
                        cmd.ros_name,
                        graph::topic_key(r.domain_id, &r.command_topic(d.actuation.mode), &cmd)
                    )
                }
            };
            let cameras: String = d
                .cameras
                .iter()
                .map(|c| {
                    let encodings: Vec<&str> = c.encodings.iter().map(|e| e.name()).collect();
                    format!(
                        ", camera `{}` {}x{} {}",
                        c.name,
                        c.width,
                        c.height,
                        encodings.join("+")
                    )
                })
                .collect();
            outln!(
                "{}: robot `{}`, task `{}`: {} joints, {} actuated ({:?}), {} channels{cameras}, {} observation features, {:.0} Hz, {} steps per episode{}: ok",
                file.display(),
                d.robot,
                d.task.name,
                d.joints.len(),
                d.act_dim(),
                d.actuation.mode,
                d.channels.len(),
                spec.observation.len(),
                1.0 / d.control_period,
                d.task.episode_steps,
                transport
            );
        }
    }
    Ok(())
}
