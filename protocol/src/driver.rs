//! What a driver does with the messages it receives, without a network:
//! the rules of `docs/PROTOCOL.md` ("What a driver does", "Freshness") as one
//! state machine that `umwelt sim` and driver kits share, and that tests can
//! feed any sequence of bytes.
//!
//! The driver tells the inbox each frame it publishes
//! ([`DriverInbox::frame_sent`]) and hands it every payload with the key it
//! came on ([`DriverInbox::receive`]); each control step it asks what to
//! apply ([`DriverInbox::decide`] in real time,
//! [`DriverInbox::take_answer`] in lockstep) and whether a Reset is pending.

use super::fresh::{CommandGate, StampGate};
use super::{
    CommandMode, ErrorClass, Estop, Message, MotorCommand, RobotWireSpec, decode, decode_estop,
};

/// The key a payload arrived on (`umwelt/<robot>/<topic>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxKey {
    /// `cmd`: MotorCommands and Resets from the controller.
    Cmd,
    /// `estop`: Estop engages from anyone.
    Estop,
    /// `admin`: estop releases and Resets from operators.
    Admin,
}

/// A payload the inbox accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A fresh command, now the one to apply (or a candidate in lockstep).
    Command,
    /// A fresh command that an earlier arrival answering a later frame beats.
    Superseded,
    /// The estop was engaged (or stays engaged), with this reason.
    EstopEngaged(String),
    /// The estop was released, with this reason.
    EstopReleased(String),
    /// A Reset is pending: the next episode starts with this seed, or the
    /// driver's next one.
    Reset(Option<u64>),
}

/// Why a payload was dropped: its class (for counts) and a sentence (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The class it is counted under.
    pub class: ErrorClass,
    /// What was wrong, for a log line.
    pub why: String,
}

impl Dropped {
    fn new(class: ErrorClass, why: impl Into<String>) -> Self {
        Self {
            class,
            why: why.into(),
        }
    }

    fn fresh(class: ErrorClass, what: &str) -> Self {
        let why = match class {
            ErrorClass::Expired => format!("{what}: its deadline has passed"),
            ErrorClass::FarDeadline => format!("{what}: its deadline is too far ahead"),
            ErrorClass::Unanswered => format!("{what}: answers no frame sent recently"),
            ErrorClass::Stale => format!("{what}: stale or replayed (stamp not fresh)"),
            ErrorClass::FutureStamp => format!("{what}: stamped in the future"),
            other => format!("{what}: {}", other.name()),
        };
        Self::new(class, why)
    }
}

/// The emergency stop as a latch: any valid Estop engages it on `estop` or
/// `admin`; only a fresh release on `admin` releases it. Shared by drivers
/// and controllers.
#[derive(Debug, Clone, Default)]
pub struct EstopState {
    engaged: bool,
    reason: String,
    releases: StampGate,
}

impl EstopState {
    /// Applies an Estop that arrived on `key` at `now_ns`. Engaging is always
    /// honoured; a release only on [`InboxKey::Admin`]
    /// ([`ErrorClass::Unauthorised`] elsewhere) and only if fresh and newer
    /// than the last release ([`ErrorClass::Stale`]).
    pub fn apply(&mut self, key: InboxKey, e: &Estop, now_ns: u64) -> Result<Accepted, Dropped> {
        if e.engage {
            self.engaged = true;
            self.reason.clone_from(&e.reason);
            return Ok(Accepted::EstopEngaged(e.reason.clone()));
        }
        if key != InboxKey::Admin {
            return Err(Dropped::new(
                ErrorClass::Unauthorised,
                "estop release: honoured only on the admin key",
            ));
        }
        self.releases
            .accept(e.stamp_ns, now_ns)
            .map_err(|c| Dropped::fresh(c, "estop release"))?;
        self.engaged = false;
        self.reason.clone_from(&e.reason);
        Ok(Accepted::EstopReleased(e.reason.clone()))
    }

    /// Whether the stop is engaged.
    pub fn engaged(&self) -> bool {
        self.engaged
    }

    /// The reason given by the last Estop applied.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// What a real-time driver applies for a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Apply this command.
    Apply(MotorCommand),
    /// Apply the safe action: the estop is engaged.
    Estopped,
    /// Apply the safe action: no fresh command is in force.
    NoCommand,
}

/// A Reset a driver accepted and has yet to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetRequest {
    /// The seed of the new episode (`None`: the driver's choice).
    pub seed: Option<u64>,
    /// The Reset's `seq`, echoed in the new episode's first frame.
    pub seq: u64,
}

/// A driver's inbox: commands, estops and resets, checked and kept.
#[derive(Debug, Clone)]
pub struct DriverInbox {
    spec: RobotWireSpec,
    mode: CommandMode,
    lockstep: bool,
    gate: CommandGate,
    /// The newest frame sent (seq, stamp): what lockstep waits to be answered.
    newest_frame: Option<(u64, u64)>,
    /// Real time: the command in force. Lockstep: the answer to the newest frame.
    command: Option<MotorCommand>,
    estop: EstopState,
    resets_cmd: StampGate,
    resets_admin: StampGate,
    reset: Option<ResetRequest>,
}

impl DriverInbox {
    /// An inbox for a robot whose messages fit `spec`, driven in `mode`,
    /// real time or in lockstep.
    pub fn new(spec: RobotWireSpec, mode: CommandMode, lockstep: bool) -> Self {
        Self {
            spec,
            mode,
            lockstep,
            gate: CommandGate::new(),
            newest_frame: None,
            command: None,
            estop: EstopState::default(),
            resets_cmd: StampGate::new(),
            resets_admin: StampGate::new(),
            reset: None,
        }
    }

    /// Records a frame the driver published (a re-sent one included). In
    /// lockstep, an answer to an older frame is discarded.
    pub fn frame_sent(&mut self, seq: u64, stamp_ns: u64) {
        self.gate.frame_sent(seq, stamp_ns);
        if self.lockstep && self.newest_frame.is_none_or(|(s, _)| s != seq) {
            self.command = None;
        }
        self.newest_frame = Some((seq, stamp_ns));
    }

    /// A new episode begins: commands answering the last one's frames no
    /// longer count.
    pub fn new_episode(&mut self) {
        self.gate.clear();
        self.newest_frame = None;
        self.command = None;
    }

    /// Checks a payload that arrived on `key` at `now_ns` and keeps what it
    /// asks for, or says why it was dropped. Never panics.
    pub fn receive(
        &mut self,
        key: InboxKey,
        payload: &[u8],
        now_ns: u64,
    ) -> Result<Accepted, Dropped> {
        if key == InboxKey::Estop {
            let e = decode_estop(payload).map_err(|e| Dropped::new((&e).into(), e.to_string()))?;
            return self.estop.apply(key, &e, now_ns);
        }
        let msg = decode(payload).map_err(|e| Dropped::new((&e).into(), e.to_string()))?;
        match (key, msg) {
            (InboxKey::Cmd, Message::MotorCommand(cmd)) => self.command(cmd, now_ns),
            (_, Message::Reset(r)) => {
                let gate = match key {
                    InboxKey::Admin => &mut self.resets_admin,
                    _ => &mut self.resets_cmd,
                };
                gate.accept(r.stamp_ns, now_ns)
                    .map_err(|c| Dropped::fresh(c, "reset"))?;
                self.reset = Some(ResetRequest {
                    seed: r.seed,
                    seq: r.seq,
                });
                Ok(Accepted::Reset(r.seed))
            }
            (InboxKey::Admin, Message::Estop(e)) => self.estop.apply(key, &e, now_ns),
            (key, other) => Err(Dropped::new(
                ErrorClass::WrongKind,
                format!("a {} message does not belong on {key:?}", other.kind()),
            )),
        }
    }

    fn command(&mut self, cmd: MotorCommand, now_ns: u64) -> Result<Accepted, Dropped> {
        self.spec
            .check_command(&cmd)
            .map_err(|e| Dropped::new(ErrorClass::Spec, e.to_string()))?;
        if cmd.mode != self.mode {
            return Err(Dropped::new(
                ErrorClass::Spec,
                format!(
                    "mode {:?}, but this robot takes {:?} commands",
                    cmd.mode, self.mode
                ),
            ));
        }
        let fresh = if self.lockstep {
            let (seq, stamp) = self.newest_frame.unwrap_or((0, u64::MAX));
            CommandGate::check_lockstep(&cmd, seq, stamp, now_ns)
        } else {
            self.gate.check(&cmd, now_ns)
        };
        fresh.map_err(|c| Dropped::fresh(c, "motor command"))?;
        if CommandGate::supersedes(&cmd, self.command.as_ref()) {
            self.command = Some(cmd);
            Ok(Accepted::Command)
        } else {
            Ok(Accepted::Superseded)
        }
    }

    /// Real time: what to apply for a step starting at `now_ns`: the command
    /// in force while its deadline has not passed, else the safe action.
    pub fn decide(&self, now_ns: u64) -> Decision {
        if self.estop.engaged() {
            return Decision::Estopped;
        }
        match &self.command {
            Some(c) if now_ns < c.deadline_ns => Decision::Apply(c.clone()),
            _ => Decision::NoCommand,
        }
    }

    /// Lockstep: the answer to the newest frame, if one came (taken: the
    /// next frame needs its own).
    pub fn take_answer(&mut self) -> Option<MotorCommand> {
        self.command.take()
    }

    /// Whether an answer to the newest frame is waiting (lockstep).
    pub fn has_answer(&self) -> bool {
        self.lockstep && self.command.is_some()
    }

    /// Whether a Reset is pending.
    pub fn has_pending_reset(&self) -> bool {
        self.reset.is_some()
    }

    /// A pending Reset's seed (`Some(None)`: the driver's choice), taken.
    pub fn take_reset(&mut self) -> Option<Option<u64>> {
        self.reset.take().map(|r| r.seed)
    }

    /// A pending Reset, taken: its seed, and its `seq`, which the new
    /// episode's first frame reports as [`Applied::Reset`](crate::Applied::Reset).
    pub fn take_reset_request(&mut self) -> Option<ResetRequest> {
        self.reset.take()
    }

    /// The estop latch.
    pub fn estop(&self) -> &EstopState {
        &self.estop
    }
}
