//! Freshness: which valid messages a node may act on.
//!
//! Decoding proves a message is well formed, not that it is current or that
//! it answers anything. Over a network that may replay, reorder or forge
//! traffic, a node acts on a message only if it is also fresh
//! (`docs/PROTOCOL.md`, "Freshness"):
//!
//! - a **command** ([`CommandGate`]) has a deadline in the future and at
//!   most [`MAX_DEADLINE_AHEAD_NS`] ahead, and answers a frame the driver
//!   itself sent within the last [`ANSWER_WINDOW_NS`];
//! - a **frame** ([`FrameGate`]) has a stamp newer than the last accepted
//!   frame's and not older than [`MAX_AGE_NS`] nor ahead of the receiver's
//!   clock by more than [`MAX_SKEW_NS`]; its `seq` rises by one normally,
//!   repeats when the driver re-sends a frame, and falls only when the
//!   driver restarted (counted, not refused: the stamp proves it is new);
//! - a **privileged message** (Reset, estop release: [`StampGate`]) has a
//!   stamp newer than the last one accepted on its key, within the same
//!   age and skew bounds.
//!
//! Every rule is a pure function of the message, the node's own history and
//! its clock, so the rules are the same in every node and testable without
//! a network. Times are nanoseconds since the UNIX epoch ([`super::now_ns`]).

use std::collections::VecDeque;

use super::{ErrorClass, MotorCommand, SensorFrame};

/// Furthest a command's `deadline_ns` may lie ahead of the driver's clock
/// (1 s). A command valid for longer could outlive the situation it was
/// computed for; a forged far deadline must not keep a command alive.
pub const MAX_DEADLINE_AHEAD_NS: u64 = 1_000_000_000;
/// How long after a driver sent a frame a command may still answer it (1 s).
pub const ANSWER_WINDOW_NS: u64 = 1_000_000_000;
/// Oldest stamp a frame, Reset or estop release may carry against the
/// receiver's clock (1 s): older ones are replays or lost in the network.
pub const MAX_AGE_NS: u64 = 1_000_000_000;
/// Furthest a stamp may lie ahead of the receiver's clock (0.5 s): clocks
/// are synchronised (`docs/PROTOCOL.md`), so more means a forged stamp.
pub const MAX_SKEW_NS: u64 = 500_000_000;
/// Frames a [`CommandGate`] remembers at most (a 4 kHz driver's window).
pub const MAX_REMEMBERED_FRAMES: usize = 4096;

/// Checks a stamp against the receiver's clock: not older than
/// [`MAX_AGE_NS`], not ahead by more than [`MAX_SKEW_NS`].
pub fn check_stamp(stamp_ns: u64, now_ns: u64) -> Result<(), ErrorClass> {
    if stamp_ns > now_ns.saturating_add(MAX_SKEW_NS) {
        return Err(ErrorClass::FutureStamp);
    }
    if now_ns.saturating_sub(stamp_ns) > MAX_AGE_NS {
        return Err(ErrorClass::Stale);
    }
    Ok(())
}

/// The driver's side: which commands answer frames it really sent, recently.
///
/// The driver calls [`frame_sent`](Self::frame_sent) for every frame it
/// publishes (a re-sent frame included) and [`check`](Self::check) on every
/// valid command before queueing it; [`supersedes`](Self::supersedes) then
/// picks the command to apply among those that passed.
#[derive(Debug, Clone, Default)]
pub struct CommandGate {
    /// (seq, stamp_ns) of the frames sent, oldest first.
    sent: VecDeque<(u64, u64)>,
}

impl CommandGate {
    /// A gate that has seen no frame: every command is unanswered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a frame the driver published (`seq`, `stamp_ns` as sent).
    /// A frame sent again with the same `seq` refreshes its stamp. Frames
    /// beyond [`MAX_REMEMBERED_FRAMES`] or older than [`ANSWER_WINDOW_NS`]
    /// are forgotten.
    pub fn frame_sent(&mut self, seq: u64, stamp_ns: u64) {
        if let Some(entry) = self.sent.iter_mut().find(|(s, _)| *s == seq) {
            entry.1 = entry.1.max(stamp_ns);
        } else {
            if self.sent.len() == MAX_REMEMBERED_FRAMES {
                self.sent.pop_front();
            }
            self.sent.push_back((seq, stamp_ns));
        }
        let oldest = stamp_ns.saturating_sub(ANSWER_WINDOW_NS);
        while self.sent.front().is_some_and(|&(_, t)| t < oldest) {
            self.sent.pop_front();
        }
    }

    /// Forgets every frame (a new episode: commands for the last one answer
    /// nothing any more).
    pub fn clear(&mut self) {
        self.sent.clear();
    }

    /// The stamp of the sent frame `seq`, if it is still answerable at `now_ns`.
    pub fn sent_stamp(&self, seq: u64, now_ns: u64) -> Option<u64> {
        self.sent
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|&(_, t)| t)
            .filter(|&t| now_ns.saturating_sub(t) <= ANSWER_WINDOW_NS)
    }

    /// Whether a valid command may be applied in real time at `now_ns`:
    /// its deadline has not passed ([`ErrorClass::Expired`]), lies at most
    /// [`MAX_DEADLINE_AHEAD_NS`] ahead ([`ErrorClass::FarDeadline`]), and it
    /// answers a frame sent within [`ANSWER_WINDOW_NS`]
    /// ([`ErrorClass::Unanswered`]).
    pub fn check(&self, cmd: &MotorCommand, now_ns: u64) -> Result<(), ErrorClass> {
        if cmd.deadline_ns <= now_ns {
            return Err(ErrorClass::Expired);
        }
        if cmd.deadline_ns - now_ns > MAX_DEADLINE_AHEAD_NS {
            return Err(ErrorClass::FarDeadline);
        }
        match self.sent_stamp(cmd.answers_seq, now_ns) {
            Some(_) => Ok(()),
            None => Err(ErrorClass::Unanswered),
        }
    }

    /// Whether a valid command may be applied in lockstep, where simulated
    /// time waits for the answer to the newest frame `(frame_seq,
    /// frame_stamp_ns)`: it answers that frame ([`ErrorClass::Unanswered`]),
    /// its deadline is later than the frame's stamp, so it was made for this
    /// frame and not replayed from an earlier run ([`ErrorClass::Expired`]),
    /// and lies at most [`MAX_DEADLINE_AHEAD_NS`] ahead of `now_ns`
    /// ([`ErrorClass::FarDeadline`]). The wall clock's passing is not held
    /// against it: a slow controller only slows the simulation.
    pub fn check_lockstep(
        cmd: &MotorCommand,
        frame_seq: u64,
        frame_stamp_ns: u64,
        now_ns: u64,
    ) -> Result<(), ErrorClass> {
        if cmd.answers_seq != frame_seq {
            return Err(ErrorClass::Unanswered);
        }
        if cmd.deadline_ns <= frame_stamp_ns {
            return Err(ErrorClass::Expired);
        }
        if cmd.deadline_ns.saturating_sub(now_ns) > MAX_DEADLINE_AHEAD_NS {
            return Err(ErrorClass::FarDeadline);
        }
        Ok(())
    }

    /// Whether `candidate`, which arrived after `current`, replaces it as
    /// the command to apply: it answers the same frame or a later one. The
    /// sender's `seq` plays no part, so a forged `seq = u64::MAX` wins
    /// nothing and a restarted controller is not locked out.
    pub fn supersedes(candidate: &MotorCommand, current: Option<&MotorCommand>) -> bool {
        current.is_none_or(|c| candidate.answers_seq >= c.answers_seq)
    }
}

/// How a frame accepted by a [`FrameGate`] relates to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOrder {
    /// The first frame seen.
    First,
    /// `seq` rose: the next frame (a jump means frames were lost).
    Next,
    /// Same `seq`, newer stamp: the driver sent the frame again.
    Resent,
    /// `seq` fell with a newer stamp: the driver restarted.
    Restarted,
}

/// The controller's side: accepts a robot's frames only in order and fresh.
#[derive(Debug, Clone, Default)]
pub struct FrameGate {
    last: Option<(u64, u64)>,
    restarts: u64,
}

impl FrameGate {
    /// A gate that has seen no frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `frame` at `now_ns` if its stamp is fresh ([`check_stamp`])
    /// and newer than the last accepted frame's ([`ErrorClass::Stale`]
    /// otherwise: a replay, a duplicate or a reordered frame), and says how
    /// it follows the last one.
    pub fn accept(&mut self, frame: &SensorFrame, now_ns: u64) -> Result<FrameOrder, ErrorClass> {
        check_stamp(frame.stamp_ns, now_ns)?;
        let order = match self.last {
            None => FrameOrder::First,
            Some((_, stamp)) if frame.stamp_ns <= stamp => return Err(ErrorClass::Stale),
            Some((seq, _)) if frame.seq > seq => FrameOrder::Next,
            Some((seq, _)) if frame.seq == seq => FrameOrder::Resent,
            Some(_) => FrameOrder::Restarted,
        };
        if order == FrameOrder::Restarted {
            self.restarts += 1;
        }
        self.last = Some((frame.seq, frame.stamp_ns));
        Ok(order)
    }

    /// How many times the publisher was seen to restart.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }
}

/// Accepts privileged messages (Reset, estop release) on one key only when
/// fresh and newer than the last accepted: a replay of a genuine one is
/// refused.
#[derive(Debug, Clone, Default)]
pub struct StampGate {
    last_stamp: Option<u64>,
}

impl StampGate {
    /// A gate that has accepted nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts a message stamped `stamp_ns` at `now_ns`: fresh
    /// ([`check_stamp`]) and newer than the last accepted one
    /// ([`ErrorClass::Stale`]).
    pub fn accept(&mut self, stamp_ns: u64, now_ns: u64) -> Result<(), ErrorClass> {
        check_stamp(stamp_ns, now_ns)?;
        if self.last_stamp.is_some_and(|t| stamp_ns <= t) {
            return Err(ErrorClass::Stale);
        }
        self.last_stamp = Some(stamp_ns);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommandMode;

    const T: u64 = 1_700_000_000_000_000_000;
    const MS: u64 = 1_000_000;

    fn cmd(answers_seq: u64, deadline_ns: u64) -> MotorCommand {
        MotorCommand {
            seq: 1,
            stamp_ns: T,
            answers_seq,
            deadline_ns,
            mode: CommandMode::Torque,
            values: vec![0.0],
        }
    }

    fn frame(seq: u64, stamp_ns: u64) -> SensorFrame {
        SensorFrame {
            seq,
            stamp_ns,
            robot: "r".into(),
            ..SensorFrame::default()
        }
    }

    #[test]
    fn a_command_must_answer_a_recent_frame_before_its_deadline() {
        let mut g = CommandGate::new();
        assert_eq!(
            g.check(&cmd(1, T + 20 * MS), T),
            Err(ErrorClass::Unanswered)
        );
        g.frame_sent(1, T);
        g.frame_sent(2, T + 10 * MS);
        assert_eq!(g.check(&cmd(1, T + 20 * MS), T + 10 * MS), Ok(()));
        assert_eq!(g.check(&cmd(2, T + 20 * MS), T + 10 * MS), Ok(()));
        assert_eq!(
            g.check(&cmd(3, T + 20 * MS), T + 10 * MS),
            Err(ErrorClass::Unanswered)
        );
        assert_eq!(
            g.check(&cmd(u64::MAX, u64::MAX), T),
            Err(ErrorClass::FarDeadline)
        );
        assert_eq!(
            g.check(&cmd(2, T + 10 * MS), T + 10 * MS),
            Err(ErrorClass::Expired)
        );
        assert_eq!(g.check(&cmd(2, T), T + 10 * MS), Err(ErrorClass::Expired));
        assert_eq!(
            g.check(
                &cmd(2, T + 10 * MS + MAX_DEADLINE_AHEAD_NS + 1),
                T + 10 * MS
            ),
            Err(ErrorClass::FarDeadline)
        );
        // Frame 1 leaves the answer window.
        let later = T + ANSWER_WINDOW_NS + 5 * MS;
        assert_eq!(
            g.check(&cmd(1, later + MS), later),
            Err(ErrorClass::Unanswered)
        );
        assert_eq!(g.check(&cmd(2, later + MS), later), Ok(()));
    }

    #[test]
    fn the_gate_forgets_old_frames_and_bounds_its_memory() {
        let mut g = CommandGate::new();
        for i in 0..(MAX_REMEMBERED_FRAMES as u64 + 10) {
            g.frame_sent(i, T + i);
        }
        assert_eq!(g.sent.len(), MAX_REMEMBERED_FRAMES);
        g.frame_sent(99_999, T + 2 * ANSWER_WINDOW_NS);
        assert_eq!(g.sent.len(), 1);
        g.clear();
        assert_eq!(g.sent_stamp(99_999, T + 2 * ANSWER_WINDOW_NS), None);
    }

    #[test]
    fn lockstep_takes_only_an_answer_to_the_newest_frame_made_after_it() {
        let now = T + 5 * MS;
        assert_eq!(
            CommandGate::check_lockstep(&cmd(7, T + 20 * MS), 7, T, now),
            Ok(())
        );
        // Late on the wall clock is fine in lockstep.
        assert_eq!(
            CommandGate::check_lockstep(&cmd(7, T + 20 * MS), 7, T, T + 900 * MS),
            Ok(())
        );
        assert_eq!(
            CommandGate::check_lockstep(&cmd(6, T + 20 * MS), 7, T, now),
            Err(ErrorClass::Unanswered)
        );
        // A replay from an earlier run: its deadline precedes the frame.
        assert_eq!(
            CommandGate::check_lockstep(&cmd(7, T - MS), 7, T, now),
            Err(ErrorClass::Expired)
        );
        assert_eq!(
            CommandGate::check_lockstep(&cmd(7, u64::MAX), 7, T, now),
            Err(ErrorClass::FarDeadline)
        );
    }

    #[test]
    fn selection_ignores_the_senders_seq() {
        let mut forged = cmd(5, T);
        forged.seq = u64::MAX;
        let mut real = cmd(6, T);
        real.seq = 1;
        assert!(CommandGate::supersedes(&real, Some(&forged)));
        assert!(!CommandGate::supersedes(&forged, Some(&real)));
        assert!(CommandGate::supersedes(&forged, None));
        assert!(
            CommandGate::supersedes(&cmd(6, T), Some(&real)),
            "same frame: the later arrival"
        );
    }

    #[test]
    fn frames_must_be_fresh_and_in_order() {
        let mut g = FrameGate::new();
        assert_eq!(g.accept(&frame(10, T), T), Ok(FrameOrder::First));
        assert_eq!(g.accept(&frame(11, T + MS), T + MS), Ok(FrameOrder::Next));
        // Replays and duplicates, even with a larger seq.
        assert_eq!(
            g.accept(&frame(11, T + MS), T + 2 * MS),
            Err(ErrorClass::Stale)
        );
        assert_eq!(
            g.accept(&frame(u64::MAX, T), T + 2 * MS),
            Err(ErrorClass::Stale)
        );
        // A re-sent frame keeps its seq with a new stamp.
        assert_eq!(
            g.accept(&frame(11, T + 3 * MS), T + 3 * MS),
            Ok(FrameOrder::Resent)
        );
        // A restarted driver numbers from 1 again with fresh stamps.
        assert_eq!(
            g.accept(&frame(1, T + 4 * MS), T + 4 * MS),
            Ok(FrameOrder::Restarted)
        );
        assert_eq!(g.restarts(), 1);
        // Too old, or from the future.
        let now = T + 4 * MS + 2 * MAX_AGE_NS;
        assert_eq!(g.accept(&frame(2, T + 5 * MS), now), Err(ErrorClass::Stale));
        assert_eq!(
            g.accept(&frame(2, now + MAX_SKEW_NS + 1), now),
            Err(ErrorClass::FutureStamp)
        );
        assert_eq!(g.accept(&frame(2, now), now), Ok(FrameOrder::Next));
    }

    #[test]
    fn privileged_messages_are_accepted_once_and_fresh() {
        let mut g = StampGate::new();
        assert_eq!(g.accept(T, T + MS), Ok(()));
        assert_eq!(g.accept(T, T + 2 * MS), Err(ErrorClass::Stale), "a replay");
        assert_eq!(g.accept(T + MS, T + 2 * MS), Ok(()));
        assert_eq!(g.accept(T - MAX_AGE_NS, T + 2 * MS), Err(ErrorClass::Stale));
        assert_eq!(g.accept(u64::MAX, T), Err(ErrorClass::FutureStamp));
        assert_eq!(check_stamp(0, T), Err(ErrorClass::Stale));
    }
}
