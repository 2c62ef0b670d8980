//! `umwelt sim`: a simulated robot served over zenoh exactly as a hardware
//! driver would serve a real one.
//!
//! Each control period the node applies the newest valid motor command (or
//! the safe action when it is past its deadline, absent, or an estop is
//! engaged), steps the simulation, and publishes a [`SensorFrame`]. In
//! lockstep it instead steps only when the command answering its last frame
//! arrives, which makes simulator-in-the-loop runs deterministic.
//!
//! What it acts on is decided by the protocol's [`DriverInbox`]: commands
//! only when fresh and answering a frame it sent, estop releases and resets
//! only as `docs/PROTOCOL.md` allows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, bounded};
use serde::Serialize;
use tracing::{info, warn};
use umwelt_sim::{Env, Observation, SimError};
use zenoh::Wait;
use zenoh::pubsub::Publisher;

use crate::nodes::node::{self, DropLog};
use crate::nodes::sim_images::FrameImages;
use crate::nodes::transport::{TransportError, ZenohArgs};
use crate::wire::driver::{Accepted, Decision, DriverInbox, InboxKey};
use crate::wire::{
    self, Applied, Message, MessageKind, NodeState, SensorFrame, Status, Stepping, Telemetry,
};

/// Channels the simulator adds to every frame besides the task's own (the
/// protocol's names, [`crate::wire::channels`]).
pub const REWARD_CHANNEL: &str = crate::wire::channels::REWARD;
/// 1 when the task's success condition holds, else 0.
pub const SUCCESS_CHANNEL: &str = crate::wire::channels::SUCCESS;
/// The episode's index (0, 1, ...; its seed is the node's seed plus it).
pub const EPISODE_CHANNEL: &str = crate::wire::channels::EPISODE;

/// How the simulator node runs.
#[derive(Clone, Debug)]
pub struct SimNodeOptions {
    /// Seed of the first episode; episode i uses seed + i.
    pub seed: u64,
    /// The robot's name on the wire (`umwelt/<name>/...`); `None`: the
    /// robot's kind.
    pub name: Option<String>,
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
    /// Cameras whose images every frame carries, by name (`all`: every
    /// one of the robot's cameras); empty: none, the cheap default.
    pub cameras: Vec<String>,
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
    /// `cameras` names a camera the robot does not have.
    #[error("{0}")]
    Cameras(String),
    /// A zenoh callback panicked while holding the inbox.
    #[error("the message inbox was poisoned by a panic in a zenoh callback")]
    Poisoned,
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
    /// The return of each finished episode, summed by the simulator itself
    /// (the ground truth, whatever any controller saw).
    pub returns: Vec<f64>,
    /// Messages dropped as invalid, by class.
    pub dropped: Vec<(String, u64)>,
    /// Wall-clock seconds the node ran.
    pub wall_s: f64,
}

/// State shared with the zenoh callbacks: the protocol's driver inbox, the
/// drop counts, and a wake-up for a lockstep loop waiting on an answer.
struct Inbox {
    inbox: Mutex<DriverInbox>,
    wake: (Sender<()>, Receiver<()>),
    drops: DropLog,
}

impl Inbox {
    /// Hands a payload that arrived on `key` to the driver inbox; logs
    /// estops, counts drops, and wakes the loop when there is news for it.
    fn receive(&self, key: InboxKey, payload: &[u8]) {
        let Ok(mut inbox) = self.inbox.lock() else {
            return;
        };
        let outcome = inbox.receive(key, payload, wire::now_ns());
        drop(inbox);
        match outcome {
            Err(d) => self.drops.record(d.class, "message", &d.why),
            Ok(Accepted::EstopEngaged(why)) => {
                warn!("estop engaged ({why}): safe action until released on the admin key")
            }
            Ok(Accepted::EstopReleased(why)) => warn!("estop released ({why})"),
            Ok(Accepted::Superseded) => {}
            Ok(Accepted::Command | Accepted::Reset(_)) => {
                let _ = self.wake.0.try_send(());
            }
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, DriverInbox>, SimNodeError> {
        self.inbox.lock().map_err(|_| SimNodeError::Poisoned)
    }
}

/// Serves `env` over zenoh until `stop` is set, the duration passes or the
/// episodes are done. `ready` is called once zenoh is up and the first
/// frame is about to be published.
pub fn run_sim_node(
    mut env: Env,
    opts: &SimNodeOptions,
    stop: &AtomicBool,
    ready: &dyn Fn(),
) -> Result<SimNodeSummary, SimNodeError> {
    let robot = opts
        .name
        .clone()
        .unwrap_or_else(|| env.robot_name().to_string());
    let images = FrameImages::select(&env, &opts.cameras).map_err(SimNodeError::Cameras)?;
    let spec = node::wire_spec(&env, &robot);
    let mode = node::command_mode(env.action_spec().mode);
    let session = opts.zenoh.open()?;

    let inbox = Arc::new(Inbox {
        inbox: Mutex::new(DriverInbox::new(spec, mode, opts.lockstep)),
        wake: bounded(1),
        drops: DropLog::default(),
    });

    // Commands and the controller's resets share `cmd`; engages come on
    // `estop`; releases and operators' resets on `admin`.
    let mut subscribers = Vec::new();
    for (key, at) in [
        (
            InboxKey::Cmd,
            wire::key_expr(&robot, MessageKind::MotorCommand),
        ),
        (InboxKey::Estop, wire::key_expr(&robot, MessageKind::Estop)),
        (InboxKey::Admin, wire::admin_key_expr(&robot)),
    ] {
        let inbox = inbox.clone();
        subscribers.push(node::subscriber_on(&session, at, move |sample| {
            inbox.receive(key, &sample.payload().to_bytes())
        })?);
    }

    let sensors = node::publisher(&session, &robot, MessageKind::SensorFrame, true)?;
    let status_pub = node::publisher(&session, &robot, MessageKind::Status, false)?;
    let telemetry_pub = node::publisher(&session, &robot, MessageKind::Telemetry, false)?;

    let mut node = Node {
        robot: robot.clone(),
        frame_seq: 0,
        status_seq: 0,
        telemetry_seq: 0,
        last_frame: None,
        buf: Vec::with_capacity(1024),
        episode: 0,
        summary: SimNodeSummary::default(),
        images,
        state: NodeState::Starting,
        stepping: if opts.lockstep {
            Stepping::Lockstep
        } else {
            Stepping::RealTime
        },
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
            &crate::spec::dataset_spec(&env),
        )?),
        None => None,
    };
    let mut obs = env.reset(opts.seed)?;
    let mut recording = recorder.as_ref().map(|_| new_record(opts.seed, &obs));
    ready();
    node.status(
        &status_pub,
        NodeState::EpisodeReset,
        "episode 0 started",
        &env,
    );
    node.frame(&sensors, &obs, 0.0, false, Applied::None, &env, &inbox)?;
    let mut next_tick = Instant::now() + period;
    let mut last_status = Instant::now();
    let mut waited_since = Instant::now();
    let mut episode_return = 0.0f64;

    while !stop.load(Ordering::SeqCst) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        // 1. Choose the command to apply: the inbox has checked every
        // command's freshness on arrival; in real time it is checked again
        // against the deadline now.
        let command = if opts.lockstep {
            let answer = {
                let mut ib = inbox.lock()?;
                if ib.has_answer() {
                    ib.take_answer()
                } else {
                    None
                }
            };
            match answer {
                Some(cmd) => {
                    waited_since = Instant::now();
                    Some(cmd)
                }
                None if inbox.lock()?.has_pending_reset() => None,
                None => {
                    // No answer yet: wait for news, and send the frame again
                    // (with a new stamp, the same seq) after the timeout.
                    let _ = inbox
                        .wake
                        .1
                        .recv_timeout(Duration::from_millis(50).min(opts.lockstep_timeout));
                    if waited_since.elapsed() >= opts.lockstep_timeout {
                        warn!(
                            "lockstep: no command answering frame {} after {:.1} s: is a controller running? Sending the frame again",
                            node.frame_seq,
                            opts.lockstep_timeout.as_secs_f64()
                        );
                        node.resend(&sensors, &inbox)?;
                        waited_since = Instant::now();
                    }
                    node.periodic(&mut last_status, &status_pub, &telemetry_pub, &inbox, &env);
                    continue;
                }
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
            match inbox.lock()?.decide(wire::now_ns()) {
                Decision::Apply(cmd) => Some(cmd),
                Decision::Estopped | Decision::NoCommand => None,
            }
        };

        // 2. A reset request wins over stepping.
        let reset = inbox.lock()?.take_reset_request();
        if let Some(request) = reset {
            node.episode += 1;
            let seed = request
                .seed
                .unwrap_or_else(|| opts.seed.wrapping_add(node.episode as u64));
            obs = env.reset(seed)?;
            // An episode cut short by a reset is not recorded.
            recording = recorder.as_ref().map(|_| new_record(seed, &obs));
            inbox.lock()?.new_episode();
            episode_return = 0.0;
            node.status(
                &status_pub,
                NodeState::EpisodeReset,
                &format!("episode {} started on request (seed {seed})", node.episode),
                &env,
            );
            let first = Applied::Reset(request.seq);
            node.frame(&sensors, &obs, 0.0, false, first, &env, &inbox)?;
            waited_since = Instant::now();
            continue;
        }

        // 3. Step with the command, or the safe action.
        let estopped = inbox.lock()?.estop().engaged();
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
                    "no fresh command within its deadline: applying the safe action"
                }
                NodeState::Estopped => "estop engaged: applying the safe action",
                _ => "commands arriving",
            };
            node.status(&status_pub, state, why, &env);
        }
        let mut fell_back = false;
        let step = match env.step(action) {
            Ok(s) => s,
            Err(e) => {
                warn!("step failed ({e}); applying the safe action");
                fell_back = true;
                env.step(&safe)?
            }
        };
        obs = step.observation;
        episode_return += f64::from(step.reward);
        if let Some(rec) = recording.as_mut() {
            rec.push_step(
                if fell_back { &safe } else { action },
                step.reward,
                &obs.vector,
            );
        }
        // The frame says what really moved the robot: a command the
        // simulator refused fell back to the safe action.
        let applied = match (&command, state) {
            (Some(c), NodeState::Running) if !fell_back => Applied::Command(c.seq),
            _ => Applied::Safe,
        };
        node.frame(
            &sensors,
            &obs,
            step.reward,
            step.info.success,
            applied,
            &env,
            &inbox,
        )?;

        // 4. Episode ends: start the next one.
        if step.terminated || step.truncated {
            if let (Some(w), Some(mut rec)) = (recorder.as_mut(), recording.take()) {
                rec.end(step.terminated, step.truncated, step.info.success);
                w.write(&rec)?;
            }
            node.episode += 1;
            node.summary.episodes += 1;
            node.summary
                .returns
                .push(std::mem::take(&mut episode_return));
            if opts.episodes.is_some_and(|n| node.summary.episodes >= n) {
                break;
            }
            let seed = opts.seed.wrapping_add(node.episode as u64);
            obs = env.reset(seed)?;
            recording = recorder.as_ref().map(|_| new_record(seed, &obs));
            inbox.lock()?.new_episode();
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
            node.frame(&sensors, &obs, 0.0, false, Applied::None, &env, &inbox)?;
        }
        node.periodic(&mut last_status, &status_pub, &telemetry_pub, &inbox, &env);
    }
    node.status(&status_pub, NodeState::Stopping, "simulator stopping", &env);
    node.summary.wall_s = start.elapsed().as_secs_f64();
    node.summary.dropped = inbox.drops.by_class();
    // Undeclare before closing, so zenoh has nothing left to complain about.
    drop(subscribers);
    drop((sensors, status_pub, telemetry_pub));
    let _ = session.close().wait();
    Ok(node.summary)
}

/// An empty recording of an episode that starts at `obs`.
fn new_record(seed: u64, obs: &Observation) -> umwelt_models::dataset::Episode {
    umwelt_models::dataset::Episode::begin(seed, &obs.vector, 0, 0)
}

/// The node's counters and message buffers.
struct Node {
    robot: String,
    frame_seq: u64,
    status_seq: u64,
    telemetry_seq: u64,
    /// The last frame published, to send again in lockstep.
    last_frame: Option<Message>,
    buf: Vec<u8>,
    episode: u32,
    summary: SimNodeSummary,
    /// The camera images each frame carries.
    images: FrameImages,
    state: NodeState,
    stepping: Stepping,
}

/// The node name the simulator's status messages carry.
pub const SIM_NODE_NAME: &str = "sim";

impl Node {
    /// Publishes the frame of `obs` and tells the inbox it was sent.
    #[allow(clippy::too_many_arguments)] // the frame's parts, each from elsewhere
    fn frame(
        &mut self,
        publisher: &Publisher<'_>,
        obs: &Observation,
        reward: f32,
        success: bool,
        applied: Applied,
        env: &Env,
        inbox: &Inbox,
    ) -> Result<(), SimNodeError> {
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
        let stamp_ns = wire::now_ns();
        let msg = Message::SensorFrame(SensorFrame {
            seq: self.frame_seq,
            stamp_ns,
            robot: self.robot.clone(),
            applied,
            positions: obs.sensors.positions.clone(),
            velocities: obs.sensors.velocities.clone(),
            efforts: obs.sensors.efforts.clone(),
            channels,
            images: self.images.render(env)?,
        });
        // The inbox learns of the frame before anyone can answer it.
        inbox.lock()?.frame_sent(self.frame_seq, stamp_ns);
        node::put(publisher, &msg, &mut self.buf);
        self.last_frame = Some(msg);
        self.summary.frames += 1;
        Ok(())
    }

    /// Sends the last frame again with the same `seq` and a new stamp, so
    /// receivers that check freshness take it as a re-send, not a replay.
    fn resend(&mut self, publisher: &Publisher<'_>, inbox: &Inbox) -> Result<(), SimNodeError> {
        if let Some(Message::SensorFrame(f)) = self.last_frame.as_mut() {
            f.stamp_ns = wire::now_ns();
            inbox.lock()?.frame_sent(f.seq, f.stamp_ns);
        }
        if let Some(msg) = &self.last_frame {
            node::put(publisher, msg, &mut self.buf);
        }
        Ok(())
    }

    /// Once a second: a status line (with drop counts, and a warning when
    /// invalid traffic is sustained) and telemetry.
    fn periodic(
        &mut self,
        last: &mut Instant,
        status_pub: &Publisher<'_>,
        telemetry_pub: &Publisher<'_>,
        inbox: &Inbox,
        env: &Env,
    ) {
        if last.elapsed() < Duration::from_secs(1) {
            return;
        }
        *last = Instant::now();
        let mut msg = format!(
            "{} frames, {} commands applied, {} safe steps; {}",
            self.summary.frames,
            self.summary.commands_applied,
            self.summary.safe_steps,
            inbox.drops.summary()
        );
        if let Some(alarm) = inbox.drops.second_passed() {
            warn!("{alarm}");
            msg = format!("{alarm}; {msg}");
        }
        let s = self.state;
        self.status(status_pub, s, &msg, env);
        self.telemetry_seq += 1;
        let mut values = vec![
            ("frames".to_string(), self.summary.frames as f64),
            (
                "commands_applied".into(),
                self.summary.commands_applied as f64,
            ),
            ("safe_steps".into(), self.summary.safe_steps as f64),
            ("overruns".into(), self.summary.overruns as f64),
            ("episodes".into(), f64::from(self.summary.episodes)),
        ];
        values.extend(inbox.drops.telemetry_values());
        let t = Telemetry {
            seq: self.telemetry_seq,
            stamp_ns: wire::now_ns(),
            values,
            note: String::new(),
        };
        node::put(telemetry_pub, &Message::Telemetry(t), &mut Vec::new());
    }

    fn status(&mut self, publisher: &Publisher<'_>, state: NodeState, message: &str, env: &Env) {
        if state != NodeState::EpisodeReset {
            self.state = state;
        }
        self.status_seq += 1;
        let msg = Message::Status(Status {
            seq: self.status_seq,
            stamp_ns: wire::now_ns(),
            node: SIM_NODE_NAME.into(),
            stepping: self.stepping,
            state,
            episode: self.episode,
            step: 0,
            message: format!("{}/{}: {message}", self.robot, env.task_name()),
        });
        node::put(publisher, &msg, &mut Vec::new());
    }
}
