//! The fixed-rate control loop: newest frame -> observation -> controller
//! -> safety -> motor command, with timing, status and telemetry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::warn;

use super::config::Trigger;
use umwelt_sim::Measurement;
use zenoh::Wait;
use zenoh::pubsub::Publisher;

use super::controller::{ControlInput, Controller, keep_images};
pub use super::loop_inbox::EpisodeSeen;
use super::loop_inbox::Shared;
use super::resolve::Resolved;
use super::safety::{Interventions, SafeReason, Safety};
use super::tick;

/// The node name the controller's status messages carry.
pub const CONTROLLER_NODE_NAME: &str = "controller";
use super::timing::{Percentiles, Timing, apply_realtime, percentiles, record};
use crate::nodes::node;
use crate::nodes::transport::{TransportError, ZenohArgs};
use crate::ros2::link::Ros2Link;
use crate::wire::channels::EPISODE;
use crate::wire::driver::InboxKey;
use crate::wire::{
    self, CommandMode, Message, MessageKind, MotorCommand, NodeState, Status, Stepping, Telemetry,
};

/// How the loop runs.
#[derive(Clone, Debug, Default)]
pub struct LoopOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// zenoh settings.
    pub zenoh: ZenohArgs,
    /// When the driver starts an episode (its frames' `episode` channel
    /// changes), reseed the controller with this plus the episode's index and
    /// restart it from rest (controller state and slew reference), as
    /// `umwelt eval` does per episode: reproducible simulator-in-the-loop runs.
    pub episode_seed: Option<u64>,
    /// Print a one-line status on stderr at every telemetry period (ticks,
    /// controller time, the episode's return so far, interventions): live
    /// status for people watching a run.
    pub print_status: bool,
}

/// Errors that stop the loop from starting.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// zenoh failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The control thread could not start or died.
    #[error("control thread: {0}")]
    Thread(String),
}

/// What the loop did, printed when it stops.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoopSummary {
    /// Robot name.
    pub robot: String,
    /// Controller name.
    pub controller: String,
    /// Control rate (Hz).
    pub rate_hz: f64,
    /// Control period (us).
    pub period_us: f64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks whose work overran into the next period.
    pub misses: u64,
    /// Tick-to-tick period.
    pub period: Percentiles,
    /// Lateness of each tick against its schedule.
    pub jitter: Percentiles,
    /// Time in the controller.
    pub controller_time: Percentiles,
    /// Frame sensor stamp to the publication of the first command
    /// answering that frame (ticks that answer the same frame again, while
    /// no newer one has come, are not counted twice).
    pub latency: Percentiles,
    /// Safety interventions.
    pub interventions: Interventions,
    /// Ticks that commanded the safe action.
    pub safe_ticks: u64,
    /// Valid frames received.
    pub frames_received: u64,
    /// Invalid messages dropped, by class.
    pub dropped: Vec<(String, u64)>,
    /// Episodes the driver finished (simulators report them).
    pub episodes: Vec<EpisodeSeen>,
    /// The episode in progress when the loop stopped.
    pub current_episode: EpisodeSeen,
    /// Real-time options that could not be applied.
    pub realtime_not_applied: Vec<String>,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

/// Runs the loop until `stop` is set or the duration passes. `ready` is
/// called once the session is up and the loop about to start.
pub fn run_loop(
    r: Resolved,
    mut controller: Box<dyn Controller>,
    opts: &LoopOptions,
    stop: &AtomicBool,
    ready: &(dyn Fn() + Sync),
) -> Result<LoopSummary, LoopError> {
    let robot = r.wire_name.clone();
    let spec = r.description.wire_spec(&robot);
    let mode = r.description.actuation.mode;
    let session = opts.zenoh.open()?;
    let shared = Arc::new(Shared::default());

    // Frames come from umwelt's sensors key, or from ROS 2 JointStates.
    let ros2_link = super::loop_inbox::open_ros2(&session, &r, &shared)?;
    let (s, check) = (shared.clone(), spec.clone());
    let _sensors = ros2_link
        .is_none()
        .then(|| {
            node::subscriber(&session, &robot, MessageKind::SensorFrame, move |sample| {
                s.frame_payload(&check, &sample.payload().to_bytes())
            })
        })
        .transpose()?;

    let s = shared.clone();
    let _estop = node::subscriber(&session, &robot, MessageKind::Estop, move |sample| {
        s.estop_payload(InboxKey::Estop, &sample.payload().to_bytes())
    })?;
    let s = shared.clone();
    let _admin = node::subscriber_on(&session, wire::admin_key_expr(&robot), move |sample| {
        s.estop_payload(InboxKey::Admin, &sample.payload().to_bytes())
    })?;

    // The driver's episode resets close an episode.
    let s = shared.clone();
    let _status = node::subscriber(&session, &robot, MessageKind::Status, move |sample| {
        s.status_payload(&sample.payload().to_bytes())
    })?;

    let cmd_pub = node::publisher(&session, &robot, MessageKind::MotorCommand, true)?;
    let status_pub = node::publisher(&session, &robot, MessageKind::Status, false)?;
    let telemetry_pub = node::publisher(&session, &robot, MessageKind::Telemetry, false)?;

    let rt = r.config.realtime.clone();
    let telemetry_period = Duration::try_from_secs_f64(r.config.telemetry_period_s)
        .map_err(|e| LoopError::Thread(format!("telemetry_period_s: {e}")))?;
    let summary = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("umwelt-control".into())
            .spawn_scoped(scope, || {
                let not_applied = apply_realtime(&rt);
                ready();
                let mut io = Io {
                    ros2: ros2_link.as_ref(),
                    cmd: &cmd_pub,
                    status: &status_pub,
                    telemetry: &telemetry_pub,
                    buf: Vec::with_capacity(256),
                };
                let mut s = control(
                    &r,
                    controller.as_mut(),
                    &shared,
                    &mut io,
                    mode,
                    opts,
                    stop,
                    telemetry_period,
                );
                s.realtime_not_applied = not_applied;
                s
            })
            .map_err(|e| LoopError::Thread(e.to_string()))?;
        handle
            .join()
            .map_err(|_| LoopError::Thread("the control thread panicked".into()))
    })?;
    let mut summary = summary;
    summary.dropped = shared.drops.by_class();
    if let Ok(f) = shared.frames.lock() {
        summary.frames_received = f.count;
        summary.episodes = f.finished.clone();
        summary.current_episode = f.current.clone();
    }
    // Undeclare before closing, so zenoh has nothing left to complain about.
    drop((_sensors, ros2_link, _estop, _admin, _status));
    drop((cmd_pub, status_pub, telemetry_pub));
    let _ = session.close().wait();
    Ok(summary)
}

/// The loop's publishers and a reusable encoding buffer; commands go to
/// ROS 2 instead of umwelt's cmd key when the robot speaks ROS 2.
struct Io<'a> {
    ros2: Option<&'a Ros2Link<'a>>,
    cmd: &'a Publisher<'a>,
    status: &'a Publisher<'a>,
    telemetry: &'a Publisher<'a>,
    buf: Vec<u8>,
}

impl Io<'_> {
    fn put(&mut self, which: Which, msg: &Message) {
        if let (Which::Cmd, Some(link), Message::MotorCommand(c)) = (which, self.ros2, msg) {
            return link.command(&c.values);
        }
        let p = match which {
            Which::Cmd => self.cmd,
            Which::Status => self.status,
            Which::Telemetry => self.telemetry,
        };
        node::put(p, msg, &mut self.buf);
    }
}

#[derive(Clone, Copy)]
enum Which {
    Cmd,
    Status,
    Telemetry,
}

/// The control thread's body.
#[allow(clippy::too_many_arguments)]
fn control(
    r: &Resolved,
    controller: &mut dyn Controller,
    shared: &Shared,
    io: &mut Io<'_>,
    mode: CommandMode,
    opts: &LoopOptions,
    stop: &AtomicBool,
    telemetry_period: Duration,
) -> LoopSummary {
    let period = Duration::from_secs_f64(r.period);
    let spin = Duration::from_micros(r.config.realtime.spin_us).min(period / 2);
    // Frames come every robot control period, whatever our own rate.
    let frame_period = Duration::from_secs_f64(r.period.max(r.description.control_period));
    let stale_after = frame_period.mul_f64(r.config.safety.stale_after_periods);
    // Bounded at load (`RunConfig::resolve`): at most the protocol's 1 s.
    let deadline_ns = Duration::try_from_secs_f64(r.period * r.config.safety.deadline_periods)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .min(crate::wire::fresh::MAX_DEADLINE_AHEAD_NS);
    let n_act = r.limits.len();
    let channel_names = r.description.channel_names();
    let mut safety = Safety::new(r.limits.clone(), r.slew.clone());
    let mut timing = Timing::default();
    let mut meas = Measurement {
        positions: Vec::with_capacity(64),
        velocities: Vec::with_capacity(64),
        efforts: Vec::with_capacity(64),
        channels: Vec::with_capacity(channel_names.len()),
    };
    let mut obs = Vec::with_capacity(r.observation.len());
    let cameras = controller.cameras();
    let mut images: Vec<crate::wire::Image> = Vec::with_capacity(cameras.len());
    let mut action = vec![0.0f32; n_act];
    // One command message, updated in place each tick: no allocation.
    let mut cmd_msg = Message::MotorCommand(MotorCommand {
        seq: 0,
        stamp_ns: 0,
        answers_seq: 0,
        deadline_ns: 0,
        mode,
        values: vec![0.0; n_act],
    });
    let (mut frame_seq, mut frame_stamp) = (0u64, 0u64);
    // The frame whose latency was last recorded.
    let mut timed_seq: Option<u64> = None;
    let mut frame_episode: Option<f32> = None;
    let mut last_episode: Option<f32> = None;
    let mut state = NodeState::Starting;
    let mut reason: Option<SafeReason> = None;
    let mut status_seq = 0u64;
    let (mut last_status, mut last_telemetry, mut last_warn, mut last_alarm_check) = (
        Instant::now(),
        Instant::now(),
        Instant::now(),
        Instant::now(),
    );
    // Sustained invalid traffic, checked once a second (`DropLog::second_passed`).
    let mut alarm: Option<String> = None;
    let start = Instant::now();
    let mut prev_tick: Option<Instant> = None;
    controller.reset();

    let mut k: u32 = 0;
    let trigger = r.config.trigger;
    while !stop.load(Ordering::SeqCst) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        let mut woke_on_frame = false;
        let target = match trigger {
            Trigger::Timer => {
                // Wait for this tick's start: sleep, then spin the last stretch.
                let target = start + period * k;
                k = k.wrapping_add(1);
                let now = Instant::now();
                if target > now + spin {
                    std::thread::sleep(target - now - spin);
                }
                while Instant::now() < target {
                    std::hint::spin_loop();
                }
                target
            }
            Trigger::Frame | Trigger::Lockstep => {
                // A new frame, or a stale tick when none comes in time.
                let waited = Instant::now();
                match shared
                    .new_frame
                    .1
                    .recv_timeout(stale_after.min(Duration::from_millis(100)))
                {
                    Ok(()) => {
                        woke_on_frame = true;
                        shared
                            .latest
                            .lock()
                            .ok()
                            .and_then(|l| l.as_ref().map(|l| l.arrived))
                            .unwrap_or(waited)
                    }
                    Err(_) => Instant::now(),
                }
            }
        };
        let tick = Instant::now();
        record(&mut timing.jitter, (tick - target).as_secs_f64() * 1e6);
        if let Some(p) = prev_tick {
            record(&mut timing.period, (tick - p).as_secs_f64() * 1e6);
        }
        prev_tick = Some(tick);
        timing.ticks += 1;

        // Newest frame, copied into reused buffers.
        let mut age = None;
        if let Ok(guard) = shared.latest.lock()
            && let Some(l) = guard.as_ref()
        {
            let f = &l.frame;
            meas.positions.clone_from(&f.positions);
            meas.velocities.clone_from(&f.velocities);
            meas.efforts.clone_from(&f.efforts);
            meas.channels.clear();
            meas.channels
                .extend(channel_names.iter().map(|c| f.channel(c).unwrap_or(0.0)));
            keep_images(&f.images, &cameras, &mut images);
            frame_seq = f.seq;
            frame_stamp = f.stamp_ns;
            frame_episode = f.channel(EPISODE);
            age = Some(tick.saturating_duration_since(l.arrived));
        }

        // Decide: the controller's action, made safe, or the safe action
        // (one tick, written once in `tick`, shared with evaluation).
        // A lockstep driver waits for this answer: its newest frame is the
        // world as it is, however long the loop took to get to it.
        let waits = trigger == Trigger::Lockstep && woke_on_frame;
        let held = tick::held_back(shared.estopped(), age, stale_after, waits);
        let verdict = match held {
            Some(why) => {
                tick::hold_safe(&mut safety, &why, &mut action);
                Err(why)
            }
            None => {
                if let (Some(base), Some(ep)) = (opts.episode_seed, frame_episode)
                    && last_episode != Some(ep)
                {
                    last_episode = Some(ep);
                    controller.reseed(base.wrapping_add(ep as u64));
                    controller.reset();
                    action.fill(0.0);
                    safety.sent(&action);
                }
                r.observation.fill(&meas, &mut obs);
                let input = ControlInput {
                    observation: &obs,
                    sensors: &meas,
                    images: &images,
                    deadline: target + period,
                };
                let d = tick::decide(controller, &mut safety, &input, &mut action, period);
                record(
                    &mut timing.controller,
                    d.controller_time.as_secs_f64() * 1e6,
                );
                d.verdict
            }
        };

        // Publish the command answering the frame; before any frame there
        // is nothing to answer (a driver would drop it as unanswered, and
        // without commands it holds the safe action anyway).
        if frame_seq != 0 || age.is_some() {
            set_command(&mut cmd_msg, frame_seq, deadline_ns, &action);
            io.put(Which::Cmd, &cmd_msg);
        }
        if age.is_some() && timed_seq != Some(frame_seq) {
            timed_seq = Some(frame_seq);
            record(
                &mut timing.latency,
                wire::now_ns().saturating_sub(frame_stamp) as f64 / 1e3,
            );
        }
        if trigger == Trigger::Timer && Instant::now() > target + period {
            timing.misses += 1;
        }

        // Status on every change of state (and of the reason), and at 1 Hz.
        let new_state = match &verdict {
            Ok(()) => NodeState::Running,
            Err(SafeReason::Estop) => NodeState::Estopped,
            Err(_) => NodeState::SafeHold,
        };
        let new_reason = verdict.err();
        let reason_changed = std::mem::discriminant(&new_reason) != std::mem::discriminant(&reason);
        if new_state == NodeState::Running && state == NodeState::SafeHold {
            // Control resumes after a gap: start from fresh controller state.
            controller.reset();
        }
        if last_alarm_check.elapsed() >= Duration::from_secs(1) {
            last_alarm_check = Instant::now();
            alarm = shared.drops.second_passed();
            if let Some(a) = &alarm {
                warn!("{a}");
            }
        }
        if new_state != state || reason_changed || last_status.elapsed() >= Duration::from_secs(1) {
            last_status = Instant::now();
            let text = match (&new_reason, new_state) {
                (Some(SafeReason::Estop), _) => {
                    let why = shared.estop_reason();
                    format!("estop latched ({why}): safe action until an estop release")
                }
                (Some(why), _) => format!("safe action: {why}"),
                (None, _) => format!(
                    "{} in control at {:.0} Hz",
                    controller.name(),
                    1.0 / r.period
                ),
            };
            let text = match &alarm {
                Some(a) => format!("{a}; {text}; {}", shared.drops.summary()),
                None => format!("{text}; {}", shared.drops.summary()),
            };
            if matches!(
                new_reason,
                Some(SafeReason::NoFrame) | Some(SafeReason::Stale { .. })
            ) && last_warn.elapsed() >= Duration::from_secs(2)
            {
                last_warn = Instant::now();
                warn!(
                    "{text}: is a driver or `umwelt sim` publishing on {}?",
                    io.ros2.map_or_else(
                        || wire::key_expr(&r.wire_name, MessageKind::SensorFrame),
                        |l| l.joint_state_key.clone()
                    )
                );
            }
            status_seq += 1;
            let st = Status {
                seq: status_seq,
                stamp_ns: wire::now_ns(),
                node: CONTROLLER_NODE_NAME.into(),
                stepping: Stepping::RealTime,
                state: new_state,
                episode: 0,
                step: 0,
                message: text,
            };
            io.put(Which::Status, &Message::Status(st));
        }
        state = new_state;
        reason = new_reason;

        if last_telemetry.elapsed() >= telemetry_period {
            last_telemetry = Instant::now();
            let mut values = telemetry_values(&timing, &safety.counts, r.period);
            values.extend(shared.drops.telemetry_values());
            let t = Telemetry {
                seq: timing.ticks,
                stamp_ns: wire::now_ns(),
                values,
                note: String::new(),
            };
            io.put(Which::Telemetry, &Message::Telemetry(t));
            if opts.print_status {
                let ct = percentiles(&timing.controller);
                let (ret, frames, success, done) = shared
                    .frames
                    .lock()
                    .map(|f| {
                        (
                            f.current.episode_return,
                            f.current.frames,
                            f.current.success,
                            f.finished.len(),
                        )
                    })
                    .unwrap_or_default();
                eprintln!(
                    "{:>7} ticks | controller p50 {:>6.0} us p99 {:>6.0} us | {} misses | episode {} step {:>4}: return {:>7.1}{} | safe ticks {}",
                    timing.ticks,
                    ct.p50_us,
                    ct.p99_us,
                    timing.misses,
                    done,
                    frames,
                    ret,
                    if success { " (success)" } else { "" },
                    safety.counts.safe_ticks()
                );
            }
        }
    }

    // A final safe command, so nothing stale lingers at the actuators.
    safety.safe_action(&mut action);
    if frame_seq != 0 {
        set_command(&mut cmd_msg, frame_seq, deadline_ns, &action);
        io.put(Which::Cmd, &cmd_msg);
    }
    let st = Status {
        seq: status_seq + 1,
        stamp_ns: wire::now_ns(),
        node: CONTROLLER_NODE_NAME.into(),
        stepping: Stepping::RealTime,
        state: NodeState::Stopping,
        episode: 0,
        step: 0,
        message: "controller stopping: final safe command sent".into(),
    };
    io.put(Which::Status, &Message::Status(st));

    LoopSummary {
        robot: r.wire_name.clone(),
        controller: controller.name().to_string(),
        rate_hz: 1.0 / r.period,
        period_us: r.period * 1e6,
        ticks: timing.ticks,
        misses: timing.misses,
        period: percentiles(&timing.period),
        jitter: percentiles(&timing.jitter),
        controller_time: percentiles(&timing.controller),
        latency: percentiles(&timing.latency),
        safe_ticks: safety.counts.safe_ticks(),
        interventions: safety.counts.clone(),
        wall_s: start.elapsed().as_secs_f64(),
        ..Default::default()
    }
}

/// Stamps the next command: answering `frame_seq`, expiring `deadline_ns`
/// from now, carrying `values`.
fn set_command(msg: &mut Message, frame_seq: u64, deadline_ns: u64, values: &[f32]) {
    if let Message::MotorCommand(c) = msg {
        c.seq += 1;
        c.stamp_ns = wire::now_ns();
        c.answers_seq = frame_seq;
        c.deadline_ns = c.stamp_ns + deadline_ns;
        c.values.copy_from_slice(values);
    }
}

fn telemetry_values(t: &Timing, c: &Interventions, period: f64) -> Vec<(String, f64)> {
    let j = percentiles(&t.jitter);
    let l = percentiles(&t.latency);
    let ct = percentiles(&t.controller);
    [
        ("ticks", t.ticks as f64),
        ("misses", t.misses as f64),
        ("period_us", period * 1e6),
        ("jitter_p50_us", j.p50_us),
        ("jitter_p99_us", j.p99_us),
        ("jitter_max_us", j.max_us),
        ("controller_p99_us", ct.p99_us),
        ("latency_p99_us", l.p99_us),
        ("safe_ticks", c.safe_ticks() as f64),
        ("stale", c.stale as f64),
        ("estop", c.estop as f64),
        ("non_finite", c.non_finite as f64),
        ("controller_panic", c.controller_panic as f64),
        ("clamped", c.clamped as f64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
