//! The driver's loop: serve a [`Robot`] over zenoh until told to stop.
//!
//! Each control period (real time) or on each accepted answer (lockstep)
//! it decides what to apply with the protocol's [`DriverInbox`], steps the
//! robot, and publishes a frame saying what it applied. The behaviour is
//! `umwelt sim`'s (`runtime/src/nodes/sim_node.rs`), so that a controller
//! cannot tell a driver built on this crate from the simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use zenoh::pubsub::Subscriber;
use zenoh::{Session, Wait};

use umwelt_protocol::driver::{Decision, DriverInbox, InboxKey};
use umwelt_protocol::{self as wire, Applied, MessageKind, MotorCommand, NodeState};

use crate::config::{ConfigError, DriverConfig};
use crate::inbox::{self, Poisoned, Shared};
use crate::outbox::Outbox;
use crate::robot::{Measurement, Robot, RobotError};
use crate::summary::{DriverSummary, RoundTrip};
use crate::transport::TransportError;

/// Longest a lockstep loop sleeps before looking at the stop flag and the
/// once-a-second duties again.
const LOCKSTEP_POLL: Duration = Duration::from_millis(50);

/// Why a driver stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// zenoh failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The robot failed, and the safe action failed after it.
    #[error("robot {robot}: {source}")]
    Robot {
        /// The robot's name.
        robot: String,
        /// What it said.
        source: RobotError,
    },
    /// A zenoh callback panicked.
    #[error(transparent)]
    Poisoned(#[from] Poisoned),
}

/// A driver for one robot, configured and checked; [`run`](Self::run)
/// serves it.
#[derive(Debug, Clone)]
pub struct Driver {
    config: DriverConfig,
}

impl Driver {
    /// A driver with `config`, refused if any setting is out of range.
    pub fn new(config: DriverConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// Its configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// Opens a zenoh session and serves `robot` until `stop` is set or the
    /// configured episodes are done; closes the session and says what it
    /// did. Starts with `robot.reset(seed)` and a frame with
    /// [`Applied::None`]. A failed step (or a measurement that does not fit
    /// the config) is met with the safe action once, and ends the run if
    /// that fails too; a failed reset ends the run.
    pub fn run<R: Robot + ?Sized>(
        &self,
        robot: &mut R,
        stop: &AtomicBool,
    ) -> Result<DriverSummary, DriverError> {
        let session = self.config.transport.open()?;
        let result = self.serve(&session, robot, stop);
        // Closing undeclares what is left, so zenoh has nothing to complain about.
        let _ = session.close().wait();
        result
    }

    fn serve<R: Robot + ?Sized>(
        &self,
        session: &Session,
        robot: &mut R,
        stop: &AtomicBool,
    ) -> Result<DriverSummary, DriverError> {
        let cfg = &self.config;
        let inbox = DriverInbox::new(cfg.wire_spec(), cfg.mode, cfg.lockstep);
        let (shared, woken) = Shared::new(inbox);
        let shared = Arc::new(shared);
        // Commands and the controller's Resets share `cmd`; engages come on
        // `estop`; releases and operators' Resets on `admin`.
        let mut subscribers: Vec<Subscriber<()>> = Vec::new();
        for (key, at) in [
            (
                InboxKey::Cmd,
                wire::key_expr(&cfg.robot, MessageKind::MotorCommand),
            ),
            (
                InboxKey::Estop,
                wire::key_expr(&cfg.robot, MessageKind::Estop),
            ),
            (InboxKey::Admin, wire::admin_key_expr(&cfg.robot)),
        ] {
            let s = shared.clone();
            let sub = session
                .declare_subscriber(at.clone())
                .callback(move |sample| s.receive(key, &sample.payload().to_bytes()))
                .wait()
                .map_err(|e| TransportError::Declare {
                    what: "subscriber",
                    key: at,
                    message: e.to_string(),
                })?;
            subscribers.push(sub);
        }
        let mut run = Run {
            cfg,
            outbox: Outbox::new(session, cfg)?,
            shared: &shared,
            woken,
            episode: 0,
            step: 0,
            state: NodeState::Starting,
            summary: DriverSummary::default(),
            last_periodic: Instant::now(),
            round_trips_seen: 0,
        };
        let out = run.serve(robot, stop);
        run.outbox.status(
            NodeState::Stopping,
            run.episode,
            run.step,
            "driver stopping",
        );
        run.summary.dropped = shared.dropped();
        run.summary.round_trip = RoundTrip::of(&mut shared.round_trips_us(0).0);
        let summary = std::mem::take(&mut run.summary);
        drop(run);
        drop(subscribers);
        out.map(|wall_s| DriverSummary { wall_s, ..summary })
    }
}

/// One run's state.
struct Run<'a> {
    cfg: &'a DriverConfig,
    outbox: Outbox<'a>,
    shared: &'a Shared,
    woken: Receiver<()>,
    episode: u32,
    /// Steps into the episode.
    step: u32,
    /// The state last reported on `status` (an episode reset aside).
    state: NodeState,
    summary: DriverSummary,
    last_periodic: Instant,
    /// Round trips already reported in telemetry.
    round_trips_seen: usize,
}

impl Run<'_> {
    /// The loop; returns the seconds it ran.
    fn serve<R: Robot + ?Sized>(
        &mut self,
        robot: &mut R,
        stop: &AtomicBool,
    ) -> Result<f64, DriverError> {
        let cfg = self.cfg;
        let start = Instant::now();
        let period = cfg.period();
        info!(
            "serving {} on {} at {} Hz{}",
            cfg.robot,
            wire::key_expr(&cfg.robot, MessageKind::SensorFrame),
            cfg.rate_hz,
            if cfg.lockstep { " in lockstep" } else { "" }
        );
        self.new_episode(
            robot,
            cfg.seed,
            Applied::None,
            &format!("episode 0 started (seed {})", cfg.seed),
        )?;
        let mut next_tick = Instant::now() + period;
        let mut waited_since = Instant::now();

        while !stop.load(Ordering::SeqCst) {
            self.report_estop_change()?;
            // 1. What to apply: the inbox checked every command's freshness
            // on arrival; in real time it is checked against its deadline now.
            let command = if cfg.lockstep {
                let answer = {
                    let mut ib = self.shared.lock()?;
                    if ib.has_answer() {
                        ib.take_answer()
                    } else {
                        None
                    }
                };
                match answer {
                    Some(cmd) => Some(cmd),
                    None if self.shared.lock()?.has_pending_reset() => None,
                    None => {
                        // No answer yet: wait for news; after the timeout,
                        // send the frame again (same seq, new stamp).
                        inbox::wait(&self.woken, LOCKSTEP_POLL.min(cfg.lockstep_timeout));
                        if waited_since.elapsed() >= cfg.lockstep_timeout {
                            warn!(
                                "lockstep: no command answering frame {} after {:.1} s: is a controller running? Sending the frame again",
                                self.outbox.frame_seq(),
                                cfg.lockstep_timeout.as_secs_f64()
                            );
                            self.outbox.resend(self.shared)?;
                            self.summary.resends += 1;
                            waited_since = Instant::now();
                        }
                        self.periodic();
                        continue;
                    }
                }
            } else {
                let now = Instant::now();
                if next_tick > now {
                    std::thread::sleep(next_tick - now);
                } else if now - next_tick > period {
                    // More than a period late: count it and start afresh
                    // rather than stepping in a burst to catch up.
                    self.summary.overruns += 1;
                    next_tick = now;
                }
                next_tick += period;
                match self.shared.lock()?.decide(wire::now_ns()) {
                    Decision::Apply(cmd) => Some(cmd),
                    Decision::Estopped | Decision::NoCommand => None,
                }
            };

            // 2. A Reset wins over stepping.
            let reset = self.shared.lock()?.take_reset_request();
            if let Some(request) = reset {
                self.episode = self.episode.saturating_add(1);
                let seed = request
                    .seed
                    .unwrap_or_else(|| cfg.seed.wrapping_add(u64::from(self.episode)));
                let why = format!("episode {} started on request (seed {seed})", self.episode);
                self.new_episode(robot, seed, Applied::Reset(request.seq), &why)?;
                waited_since = Instant::now();
                continue;
            }

            // 3. Step with the command, or the safe action.
            let m = self.step(robot, command.as_ref())?;
            waited_since = Instant::now();

            // 4. The episode is over: start the next one.
            if m.done {
                self.summary.episodes += 1;
                if cfg.episodes.is_some_and(|n| self.summary.episodes >= n) {
                    break;
                }
                self.episode = self.episode.saturating_add(1);
                let seed = cfg.seed.wrapping_add(u64::from(self.episode));
                let why = format!(
                    "episode {} started (seed {seed}); the last {}",
                    self.episode,
                    if m.success {
                        "succeeded"
                    } else {
                        "did not succeed"
                    }
                );
                self.new_episode(robot, seed, Applied::None, &why)?;
            }
            self.periodic();
        }
        Ok(start.elapsed().as_secs_f64())
    }

    /// Resets the robot with `seed`, forgets the last episode's frames,
    /// and publishes the episode's first frame (`first`: [`Applied::None`]
    /// for an episode the driver began, [`Applied::Reset`] for one a Reset
    /// asked for).
    fn new_episode<R: Robot + ?Sized>(
        &mut self,
        robot: &mut R,
        seed: u64,
        first: Applied,
        why: &str,
    ) -> Result<(), DriverError> {
        let m = robot
            .reset(seed)
            .and_then(|m| {
                m.check(self.cfg.joints, self.cfg.channels.len())
                    .map(|()| m)
            })
            .map_err(|source| DriverError::Robot {
                robot: self.cfg.robot.clone(),
                source,
            })?;
        self.shared.lock()?.new_episode();
        self.step = 0;
        self.status(NodeState::EpisodeReset, why);
        self.outbox.frame(&m, first, self.episode, self.shared)?;
        self.summary.frames += 1;
        Ok(())
    }

    /// Applies `command` (or the safe action, when there is none or an
    /// estop holds the robot), publishes the frame after it, and returns
    /// the measurement. Reports a change of state on `status`.
    fn step<R: Robot + ?Sized>(
        &mut self,
        robot: &mut R,
        command: Option<&MotorCommand>,
    ) -> Result<Measurement, DriverError> {
        let safe = self.cfg.safe_action.as_slice();
        let estopped = self.shared.lock()?.estop().engaged();
        let (action, state) = match (command, estopped) {
            (_, true) => (safe, NodeState::Estopped),
            (Some(c), false) => (c.values.as_slice(), NodeState::Running),
            (None, false) => (safe, NodeState::SafeHold),
        };
        if state != self.state {
            let why = match state {
                NodeState::SafeHold => {
                    "no fresh command within its deadline: applying the safe action"
                }
                NodeState::Estopped => "estop engaged: applying the safe action",
                _ => "commands arriving",
            };
            self.status(state, why);
        }
        let check = |m: Measurement| {
            m.check(self.cfg.joints, self.cfg.channels.len())
                .map(|()| m)
        };
        let (m, applied) = match robot.step(action).and_then(check) {
            Ok(m) => {
                let applied = match (command, state) {
                    (Some(c), NodeState::Running) => Applied::Command(c.seq),
                    _ => Applied::Safe,
                };
                (m, applied)
            }
            Err(e) => {
                warn!("step failed ({e}); applying the safe action");
                let m = robot
                    .step(safe)
                    .and_then(check)
                    .map_err(|source| DriverError::Robot {
                        robot: self.cfg.robot.clone(),
                        source,
                    })?;
                (m, Applied::Safe)
            }
        };
        match applied {
            Applied::Command(_) => self.summary.commands_applied += 1,
            _ => self.summary.safe_steps += 1,
        }
        self.step = self.step.saturating_add(1);
        self.outbox.frame(&m, applied, self.episode, self.shared)?;
        self.summary.frames += 1;
        Ok(m)
    }

    /// Says on `status` when an estop engaged or released between steps
    /// (a lockstep driver may wait long for its next step).
    fn report_estop_change(&mut self) -> Result<(), Poisoned> {
        let (engaged, reason) = {
            let ib = self.shared.lock()?;
            (ib.estop().engaged(), ib.estop().reason().to_string())
        };
        if engaged && self.state != NodeState::Estopped {
            let why = format!(
                "estop engaged ({reason}): applying the safe action until released on the admin key"
            );
            self.status(NodeState::Estopped, &why);
        } else if !engaged && self.state == NodeState::Estopped {
            let why = format!("estop released ({reason}): the safe action until a fresh command");
            self.status(NodeState::SafeHold, &why);
        }
        Ok(())
    }

    /// Publishes a Status; every state but an episode reset becomes the
    /// state to report changes against.
    fn status(&mut self, state: NodeState, message: &str) {
        if state != NodeState::EpisodeReset {
            self.state = state;
        }
        self.outbox.status(state, self.episode, self.step, message);
    }

    /// Once a second: a status line (with drop counts, and a warning while
    /// invalid traffic is sustained) and telemetry.
    fn periodic(&mut self) {
        if self.last_periodic.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_periodic = Instant::now();
        let s = &self.summary;
        let mut line = format!(
            "{} frames, {} commands applied, {} safe steps; {}",
            s.frames,
            s.commands_applied,
            s.safe_steps,
            self.shared.drop_line()
        );
        if let Some(alarm) = self.shared.second_passed() {
            warn!("{alarm}");
            line = format!("{alarm}; {line}");
        }
        let mut values = vec![
            ("frames".to_string(), s.frames as f64),
            ("resends".into(), s.resends as f64),
            ("commands_applied".into(), s.commands_applied as f64),
            ("safe_steps".into(), s.safe_steps as f64),
            ("overruns".into(), s.overruns as f64),
            ("episodes".into(), f64::from(s.episodes)),
        ];
        // The last second's frame→command round trips, as the driver saw them.
        let (mut recent, seen) = self.shared.round_trips_us(self.round_trips_seen);
        self.round_trips_seen = seen;
        if let Some(rt) = RoundTrip::of(&mut recent) {
            values.push(("round_trip_p50_us".into(), rt.p50_us));
            values.push(("round_trip_p99_us".into(), rt.p99_us));
        }
        values.extend(self.shared.drop_values());
        let state = self.state;
        self.status(state, &line);
        self.outbox.telemetry(values);
    }
}
