//! `umwelt sim`: a simulated robot served over zenoh exactly as a hardware
//! driver would serve a real one.
//!
//! Each control period the node applies the newest valid motor command (or
//! the safe action when it is past its deadline, absent, or an estop is
//! engaged), steps the simulation, and publishes a [`SensorFrame`]. In
//! lockstep it instead steps only when the command answering its last frame
//! arrives, which makes simulator-in-the-loop runs deterministic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, bounded};
use serde::Serialize;
use tracing::{info, warn};
use umwelt_sim::{Env, Observation, SimError};
use zenoh::Wait;
use zenoh::pubsub::Publisher;

use crate::node::{self, DropLog, EstopLatch};
use crate::transport::{TransportError, ZenohArgs};
use crate::wire::{
    self, ErrorClass, Message, MessageKind, MotorCommand, NodeState, SensorFrame, Status,
};

/// Channels the simulator adds to every frame besides the task's own.
pub const REWARD_CHANNEL: &str = "reward";
/// 1 when the task's success condition holds, else 0.
pub const SUCCESS_CHANNEL: &str = "success";
/// The channel a simulator adds to every frame: the episode's index (0, 1,
/// ...; its seed is the node's seed plus it), so a controller can tell
/// episodes apart and reseed per episode for reproducible runs.
pub const EPISODE_CHANNEL: &str = "episode";

/// How the simulator node runs.
#[derive(Clone, Debug)]
pub struct SimNodeOptions {
    /// Seed of the first episode; episode i uses seed + i.
    pub seed: u64,
    /// Step only on the command answering the last frame.
    pub lockstep: bool,
    /// In lockstep: how long to wait for a command before publishing the
    /// frame again and warning.
    pub lockstep_timeout: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many episodes.
    pub episodes: Option<u32>,
    /// Append every finished episode (observation vectors, the actions
    /// applied, rewards, end flags) to this dataset directory.
    pub record: Option<std::path::PathBuf>,
    /// zenoh settings.
    pub zenoh: ZenohArgs,
}

/// Errors of the simulator node.
#[derive(Debug, thiserror::Error)]
pub enum SimNodeError {
    /// The simulation failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// zenoh failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The recording could not be written.
    #[error(transparent)]
    Record(#[from] umwelt_models::dataset::DatasetError),
}

/// What the node did, printed when it stops.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimNodeSummary {
    /// Sensor frames published.
    pub frames: u64,
    /// Control steps that applied a command.
    pub commands_applied: u64,
    /// Control steps that applied the safe action.
    pub safe_steps: u64,
    /// Ticks that started more than one period late (real-time mode).
    pub overruns: u64,
    /// Episodes finished.
    pub episodes: u32,
    /// Messages dropped as invalid, by class.
    pub dropped: Vec<(String, u64)>,
    /// Wall-clock seconds the node ran.
    pub wall_s: f64,
}

/// State shared with the zenoh callbacks.
struct Inbox {
    commands: Sender<MotorCommand>,
    estop: EstopLatch,
    reset: Mutex<Option<Option<u64>>>,
    drops: DropLog,
}

/// Serves `env` over zenoh until `stop` is set, the duration passes or the
/// episodes are done.
pub fn run_sim_node(
    mut env: Env,
    opts: &SimNodeOptions,
    stop: &AtomicBool,
) -> Result<SimNodeSummary, SimNodeError> {
    let robot = env.robot_name().to_string();
    let spec = node::wire_spec(&env);
    let mode = node::command_mode(env.action_spec().mode);
    let session = opts.zenoh.open()?;

    let (tx, rx): (Sender<MotorCommand>, Receiver<MotorCommand>) = bounded(256);
    let inbox = Arc::new(Inbox {
        commands: tx,
        estop: EstopLatch::default(),
        reset: Mutex::new(None),
        drops: DropLog::default(),
    });

    // Commands and reset requests share the `cmd` key: both address the driver.
    let cmd_inbox = inbox.clone();
    let cmd_spec = spec.clone();
    let _cmd_sub = node::subscriber(&session, &robot, MessageKind::MotorCommand, move |sample| {
        let drops = &cmd_inbox.drops;
        match wire::decode(&sample.payload().to_bytes()) {
            Err(e) => drops.record(ErrorClass::from(&e), "message on cmd", &e),
            Ok(Message::MotorCommand(cmd)) => {
                if let Err(e) = cmd_spec.check_command(&cmd) {
                    drops.record(ErrorClass::Spec, "motor command", &e);
                } else if cmd.mode != mode {
                    let e = format!(
                        "mode {:?}, but this robot takes {mode:?} commands",
                        cmd.mode
                    );
                    drops.record(ErrorClass::Spec, "motor command", &e);
                } else if cmd_inbox.commands.try_send(cmd).is_err() {
                    warn!("command queue full: the simulator is falling behind");
                }
            }
            Ok(Message::Reset(r)) => {
                if let Ok(mut slot) = cmd_inbox.reset.lock() {
                    *slot = Some(r.seed);
                }
            }
            Ok(other) => {
                let e = format!("a {} message does not belong on cmd", other.kind());
                drops.record(ErrorClass::WrongKind, "message on cmd", &e);
            }
        }
    })?;

    let estop_inbox = inbox.clone();
    let _estop_sub = node::subscriber(&session, &robot, MessageKind::Estop, move |sample| {
        match wire::decode_estop(&sample.payload().to_bytes()) {
            Ok(e) => estop_inbox.estop.apply(&e),
            Err(e) => estop_inbox.drops.record(ErrorClass::from(&e), "estop", &e),
        }
    })?;

    let sensors = node::publisher(&session, &robot, MessageKind::SensorFrame, true)?;
    let status_pub = node::publisher(&session, &robot, MessageKind::Status, false)?;

    let mut node = Node {
        robot: robot.clone(),
        frame_seq: 0,
        status_seq: 0,
        buf: Vec::with_capacity(1024),
        episode: 0,
        summary: SimNodeSummary::default(),
        state: NodeState::Starting,
    };
    let start = Instant::now();
    let period = Duration::from_secs_f64(env.control_period());
    let safe = env.safe_action();
    info!(
        "serving {robot}/{} on {} at {:.0} Hz{}",
        env.task_name(),
        wire::key_expr(&robot, MessageKind::SensorFrame),
        1.0 / env.control_period(),
        if opts.lockstep { " in lockstep" } else { "" }
    );

    let mut recorder = match &opts.record {
        Some(dir) => Some(umwelt_models::dataset::DatasetWriter::create_or_append(
            dir,
            &crate::collect::dataset_spec(&env),
        )?),
        None => None,
    };
    let mut obs = env.reset(opts.seed)?;
    let mut recording = recorder.as_ref().map(|_| new_record(opts.seed, &obs));
    node.status(
        &status_pub,
        NodeState::EpisodeReset,
        "episode 0 started",
        &env,
    );
    node.frame(&sensors, &obs, 0.0, false, &env);
    let mut next_tick = Instant::now() + period;
    let mut last_status = Instant::now();
    let mut newest: Option<MotorCommand> = None;
    let mut waited_since = Instant::now();

    while !stop.load(Ordering::SeqCst) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        // 1. Choose the command to apply.
        let command = if opts.lockstep {
            match rx.recv_timeout(Duration::from_millis(50).min(opts.lockstep_timeout)) {
                Ok(cmd) if cmd.answers_seq == node.frame_seq => {
                    waited_since = Instant::now();
                    Some(cmd)
                }
                // A command answering an older frame (e.g. a controller's
                // safe commands before it saw any frame) does not count as
                // an answer: the frame is still resent on time.
                Ok(_) | Err(RecvTimeoutError::Timeout) => {
                    if waited_since.elapsed() >= opts.lockstep_timeout {
                        warn!(
                            "lockstep: no command answering frame {} after {:.1} s: is a controller running? Sending the frame again",
                            node.frame_seq,
                            opts.lockstep_timeout.as_secs_f64()
                        );
                        node.resend(&sensors);
                        waited_since = Instant::now();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            let now = Instant::now();
            if next_tick > now {
                std::thread::sleep(next_tick - now);
            } else if now - next_tick > period {
                node.summary.overruns += 1;
                next_tick = now;
            }
            next_tick += period;
            while let Ok(cmd) = rx.try_recv() {
                if newest
                    .as_ref()
                    .is_none_or(|n| cmd.seq >= n.seq || cmd.answers_seq > n.answers_seq)
                {
                    newest = Some(cmd);
                }
            }
            newest.clone().filter(|c| wire::now_ns() <= c.deadline_ns)
        };

        // 2. A reset request wins over stepping.
        if let Some(seed) = inbox.reset.lock().ok().and_then(|mut r| r.take()) {
            node.episode += 1;
            let seed = seed.unwrap_or_else(|| opts.seed.wrapping_add(node.episode as u64));
            obs = env.reset(seed)?;
            // An episode cut short by a reset is not recorded.
            recording = recorder.as_ref().map(|_| new_record(seed, &obs));
            newest = None;
            node.status(
                &status_pub,
                NodeState::EpisodeReset,
                &format!("episode {} started on request (seed {seed})", node.episode),
                &env,
            );
            node.frame(&sensors, &obs, 0.0, false, &env);
            continue;
        }

        // 3. Step with the command, or the safe action.
        let estopped = inbox.estop.engaged();
        let (action, state) = match (&command, estopped) {
            (_, true) => (safe.as_slice(), NodeState::Estopped),
            (Some(c), false) => (c.values.as_slice(), NodeState::Running),
            (None, false) => (safe.as_slice(), NodeState::SafeHold),
        };
        if state == NodeState::Running {
            node.summary.commands_applied += 1;
        } else {
            node.summary.safe_steps += 1;
        }
        if state != node.state {
            let why = match state {
                NodeState::SafeHold => {
                    "no valid command within its deadline: applying the safe action"
                }
                NodeState::Estopped => "estop engaged: applying the safe action",
                _ => "commands arriving",
            };
            node.status(&status_pub, state, why, &env);
        }
        let step = match env.step(action) {
            Ok(s) => s,
            Err(e) => {
                warn!("step failed ({e}); applying the safe action");
                env.step(&safe)?
            }
        };
        obs = step.observation;
        if let Some(rec) = recording.as_mut() {
            rec.actions.extend_from_slice(action);
            rec.rewards.push(step.reward);
            rec.observations.extend_from_slice(&obs.vector);
        }
        node.frame(&sensors, &obs, step.reward, step.info.success, &env);

        // 4. Episode ends: start the next one.
        if step.terminated || step.truncated {
            if let (Some(w), Some(mut rec)) = (recorder.as_mut(), recording.take()) {
                rec.terminated = step.terminated;
                rec.truncated = step.truncated;
                rec.success = step.info.success;
                w.write(&rec)?;
            }
            node.episode += 1;
            node.summary.episodes += 1;
            if opts.episodes.is_some_and(|n| node.summary.episodes >= n) {
                break;
            }
            let seed = opts.seed.wrapping_add(node.episode as u64);
            obs = env.reset(seed)?;
            recording = recorder.as_ref().map(|_| new_record(seed, &obs));
            newest = None;
            let why = format!(
                "episode {} started (seed {seed}); the last {}",
                node.episode,
                if step.info.success {
                    "succeeded"
                } else {
                    "did not succeed"
                }
            );
            node.status(&status_pub, NodeState::EpisodeReset, &why, &env);
            node.frame(&sensors, &obs, 0.0, false, &env);
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            last_status = Instant::now();
            let msg = format!(
                "{} frames, {} commands applied, {} safe steps",
                node.summary.frames, node.summary.commands_applied, node.summary.safe_steps
            );
            let s = node.state;
            node.status(&status_pub, s, &msg, &env);
        }
    }
    node.status(&status_pub, NodeState::Stopping, "simulator stopping", &env);
    node.summary.wall_s = start.elapsed().as_secs_f64();
    node.summary.dropped = inbox.drops.by_class();
    let _ = session.close().wait();
    Ok(node.summary)
}

/// An empty recording of an episode that starts at `obs`.
fn new_record(seed: u64, obs: &Observation) -> umwelt_models::dataset::Episode {
    umwelt_models::dataset::Episode {
        seed,
        observations: obs.vector.clone(),
        actions: Vec::new(),
        rewards: Vec::new(),
        terminated: false,
        truncated: false,
        success: false,
    }
}

/// The node's counters and message buffers.
struct Node {
    robot: String,
    frame_seq: u64,
    status_seq: u64,
    buf: Vec<u8>,
    episode: u32,
    summary: SimNodeSummary,
    state: NodeState,
}

impl Node {
    fn frame(
        &mut self,
        publisher: &Publisher<'_>,
        obs: &Observation,
        reward: f32,
        success: bool,
        env: &Env,
    ) {
        self.frame_seq += 1;
        let mut channels: Vec<(String, f32)> = env
            .channel_names()
            .iter()
            .cloned()
            .zip(obs.sensors.channels.iter().copied())
            .collect();
        channels.push((REWARD_CHANNEL.to_string(), reward));
        channels.push((SUCCESS_CHANNEL.to_string(), if success { 1.0 } else { 0.0 }));
        channels.push((EPISODE_CHANNEL.to_string(), self.episode as f32));
        let msg = Message::SensorFrame(SensorFrame {
            seq: self.frame_seq,
            stamp_ns: wire::now_ns(),
            robot: self.robot.clone(),
            positions: obs.sensors.positions.clone(),
            velocities: obs.sensors.velocities.clone(),
            efforts: obs.sensors.efforts.clone(),
            channels,
            images: Vec::new(),
        });
        node::put(publisher, &msg, &mut self.buf);
        self.summary.frames += 1;
    }

    fn resend(&mut self, publisher: &Publisher<'_>) {
        if let Err(e) = publisher.put(self.buf.as_slice()).wait() {
            warn!("publishing on {}: {e}", publisher.key_expr());
        }
    }

    fn status(&mut self, publisher: &Publisher<'_>, state: NodeState, message: &str, env: &Env) {
        if state != NodeState::EpisodeReset {
            self.state = state;
        }
        self.status_seq += 1;
        let msg = Message::Status(Status {
            seq: self.status_seq,
            stamp_ns: wire::now_ns(),
            state,
            episode: self.episode,
            step: 0,
            message: format!("{}/{}: {message}", self.robot, env.task_name()),
        });
        node::put(publisher, &msg, &mut Vec::new());
    }
}
