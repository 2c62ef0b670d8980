//! Hostile input for the node logic, without a network: fuzzed payloads
//! through the decoder, a driver's inbox and a controller's frame gate, and
//! random message sequences through a driver's inbox with its invariants
//! checked after every event. `umwelt-attack fuzz` runs it at scale; the
//! test suite runs a seeded share.
//!
//! The invariants (`docs/PROTOCOL.md`, "Freshness"):
//! - a real-time driver applies a command only before its deadline, only if
//!   on arrival its deadline was in the future and at most
//!   [`fresh::MAX_DEADLINE_AHEAD_NS`] ahead, and only if it answered a frame
//!   of the current episode sent at most [`fresh::ANSWER_WINDOW_NS`] before;
//! - a lockstep driver steps only on an answer to its newest frame whose
//!   deadline is later than that frame's stamp;
//! - once engaged, the estop holds until a release arrives on `admin` with
//!   a fresh stamp newer than every release honoured before;
//! - a Reset is honoured only fresh, and never twice with the same stamp on
//!   one key;
//! - a payload that decodes re-encodes to the same bytes;
//! - nothing panics.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::wire::driver::{Accepted, Decision, DriverInbox, InboxKey};
use crate::wire::fresh::{self, FrameGate};
use crate::wire::{
    self, CommandMode, Estop, Message, MotorCommand, Reset, RobotWireSpec, SensorFrame, Status,
    Telemetry,
};

/// A broken invariant, with what is needed to replay it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed {seed}, case {case}: {what}")]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// The message or sequence index where it broke.
    pub case: u64,
    /// What broke.
    pub what: String,
}

/// What [`fuzz_messages`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FuzzReport {
    /// Payloads tried.
    pub messages: u64,
    /// Payloads that decoded (and re-encoded to the same bytes).
    pub decoded: u64,
    /// Payloads a driver inbox acted on (on any key).
    pub accepted: u64,
    /// Drops by class, over all keys.
    pub dropped: HashMap<String, u64>,
}

/// What [`check_sequences`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SequenceReport {
    /// Sequences run (half real time, half lockstep).
    pub sequences: u64,
    /// Events fed in all.
    pub events: u64,
    /// Commands applied (real time) or stepped on (lockstep), all checked.
    pub applied: u64,
    /// Estop releases honoured, all checked.
    pub releases: u64,
    /// Resets honoured, all checked.
    pub resets: u64,
}

const ROBOT: &str = "fuzzbot";
const ACTUATORS: usize = 2;
const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn spec() -> RobotWireSpec {
    RobotWireSpec {
        robot: ROBOT.into(),
        joints: 2,
        channels: vec![],
        actuators: ACTUATORS,
    }
}

/// One valid message of a random kind, fields drawn near the edges.
fn valid_message(rng: &mut ChaCha8Rng, now: u64) -> Message {
    let stamp = now
        .wrapping_add(rng.random_range(0..3 * MS))
        .wrapping_sub(MS);
    let seq = if rng.random_bool(0.1) {
        u64::MAX
    } else {
        rng.random_range(0..64)
    };
    match rng.random_range(0..6) {
        0 => Message::SensorFrame(SensorFrame {
            seq,
            stamp_ns: stamp,
            robot: ROBOT.into(),
            positions: vec![0.5, -1.0],
            velocities: vec![0.0, 0.25],
            efforts: vec![1.5, 0.0],
            channels: vec![("reward".into(), 0.5)],
            images: vec![],
        }),
        1 => Message::MotorCommand(MotorCommand {
            seq,
            stamp_ns: stamp,
            answers_seq: rng.random_range(0..64),
            deadline_ns: now
                .wrapping_add(rng.random_range(0..40 * MS))
                .wrapping_sub(10 * MS),
            mode: CommandMode::Torque,
            values: vec![0.5; ACTUATORS],
        }),
        2 => Message::Status(Status {
            seq,
            stamp_ns: stamp,
            state: wire::NodeState::Running,
            episode: 1,
            step: 2,
            message: "ok".into(),
        }),
        3 => Message::Telemetry(Telemetry {
            seq,
            stamp_ns: stamp,
            values: vec![("ticks".into(), 3.0)],
            note: String::new(),
        }),
        4 => Message::Estop(Estop {
            seq,
            stamp_ns: stamp,
            engage: rng.random_bool(0.5),
            reason: "why".into(),
        }),
        _ => Message::Reset(Reset {
            seq,
            stamp_ns: stamp,
            seed: rng.random_bool(0.5).then_some(42),
        }),
    }
}

/// A payload: a valid message, mutated in one of several ways.
fn fuzzed_payload(rng: &mut ChaCha8Rng, now: u64) -> Vec<u8> {
    let mut b = wire::encode(&valid_message(rng, now));
    match rng.random_range(0..6) {
        0 => {}
        1 => {
            for _ in 0..rng.random_range(1..=8) {
                let bit = rng.random_range(0..b.len() * 8);
                b[bit / 8] ^= 1 << (bit % 8);
            }
        }
        2 => b.truncate(rng.random_range(0..b.len())),
        3 => b.extend((0..rng.random_range(1..16)).map(|_| rng.random::<u8>())),
        4 => {
            let i = rng.random_range(0..b.len());
            b[i] = [0, 0xff, 0x7f, 0x80][rng.random_range(0..4)];
        }
        _ => {
            b = (0..rng.random_range(0..96))
                .map(|_| rng.random::<u8>())
                .collect()
        }
    }
    b
}

/// Feeds `n` fuzzed payloads (seeded) through the decoder, a real-time and
/// a lockstep driver inbox on every key, and a frame gate. Fails on a
/// panic or a payload that decodes but does not re-encode to itself.
pub fn fuzz_messages(n: u64, seed: u64) -> Result<FuzzReport, Violation> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut report = FuzzReport::default();
    let mut realtime = DriverInbox::new(spec(), CommandMode::Torque, false);
    let mut lockstep = DriverInbox::new(spec(), CommandMode::Torque, true);
    let mut frames = FrameGate::new();
    let mut now = T0;
    for case in 0..n {
        let fail = |what: String| Violation { seed, case, what };
        now += rng.random_range(0..MS);
        if case % 16 == 0 {
            let seq = case / 16;
            realtime.frame_sent(seq, now);
            lockstep.frame_sent(seq, now);
        }
        let payload = fuzzed_payload(&mut rng, now);
        let key = [InboxKey::Cmd, InboxKey::Estop, InboxKey::Admin][(case % 3) as usize];
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let decoded = wire::decode(&payload).ok();
            let a = realtime.receive(key, &payload, now);
            let b = lockstep.receive(key, &payload, now);
            let _ = realtime.decide(now);
            if lockstep.has_answer() {
                let _ = lockstep.take_answer();
            }
            let f = wire::decode_sensor_frame(&payload)
                .ok()
                .map(|f| frames.accept(&f, now));
            (decoded, a, b, f)
        }));
        let (decoded, a, b, _) = outcome.map_err(|_| fail("panicked".into()))?;
        report.messages += 1;
        if let Some(m) = decoded {
            report.decoded += 1;
            if wire::encode(&m) != payload {
                return Err(fail(format!(
                    "{} decoded but re-encodes differently",
                    m.kind()
                )));
            }
        }
        for r in [a, b] {
            match r {
                Ok(_) => report.accepted += 1,
                Err(d) => {
                    *report
                        .dropped
                        .entry(d.class.name().to_string())
                        .or_default() += 1
                }
            }
        }
    }
    Ok(report)
}

/// What the checker remembers of a command it sent.
#[derive(Clone, Copy)]
struct Sent {
    arrived: u64,
    deadline: u64,
    answers: u64,
}

/// The checker's own account of a sequence, to hold the inbox against.
#[derive(Default)]
struct Model {
    /// Frames of the current episode: seq -> stamps it was sent with.
    frames: HashMap<u64, Vec<u64>>,
    newest: Option<(u64, u64)>,
    /// Command id -> its arrivals.
    commands: HashMap<u32, Vec<Sent>>,
    engaged: bool,
    last_release: Option<u64>,
    reset_stamps: HashMap<u8, Vec<u64>>,
}

/// Runs `n` random sequences of `len` events (seeded; odd ones in
/// lockstep) through a driver inbox, checking the invariants of this
/// module after every event.
pub fn check_sequences(n: u64, len: usize, seed: u64) -> Result<SequenceReport, Violation> {
    let mut report = SequenceReport::default();
    for case in 0..n {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let lockstep = case % 2 == 1;
        let run = catch_unwind(AssertUnwindSafe(|| {
            one_sequence(&mut rng, lockstep, len, &mut report)
        }));
        match run {
            Ok(Ok(())) => report.sequences += 1,
            Ok(Err(what)) => return Err(Violation { seed, case, what }),
            Err(_) => {
                return Err(Violation {
                    seed,
                    case,
                    what: "panicked".into(),
                });
            }
        }
    }
    Ok(report)
}

fn one_sequence(
    rng: &mut ChaCha8Rng,
    lockstep: bool,
    len: usize,
    report: &mut SequenceReport,
) -> Result<(), String> {
    let mut inbox = DriverInbox::new(spec(), CommandMode::Torque, lockstep);
    let mut m = Model::default();
    let mut now = T0 + rng.random_range(0..1000 * MS);
    let mut frame_seq = rng.random_range(0..5u64);
    let mut history: Vec<(InboxKey, Vec<u8>)> = Vec::new();
    let mut next_id = 0u32;
    for _ in 0..len {
        report.events += 1;
        now += rng.random_range(0..30 * MS);
        if rng.random_bool(0.002) {
            // A long silence: everything goes stale.
            now += 3 * fresh::MAX_AGE_NS;
        }
        let pick = rng.random_range(0..100);
        match pick {
            0..=14 => {
                // The driver publishes a frame (sometimes re-sends one).
                if !(rng.random_bool(0.1) && m.newest.is_some()) {
                    frame_seq += 1;
                }
                inbox.frame_sent(frame_seq, now);
                m.frames.entry(frame_seq).or_default().push(now);
                m.newest = Some((frame_seq, now));
            }
            15..=16 => {
                inbox.new_episode();
                m.frames.clear();
                m.newest = None;
            }
            17..=44 => {
                let answers = match rng.random_range(0..5) {
                    0 | 1 => frame_seq,
                    2 => frame_seq.saturating_sub(rng.random_range(1..80)),
                    3 => frame_seq + rng.random_range(1..5),
                    _ => rng.random(),
                };
                let deadline = match rng.random_range(0..6) {
                    0..=2 => now + rng.random_range(1..50 * MS),
                    3 => now.saturating_sub(rng.random_range(0..50 * MS)),
                    4 => now + fresh::MAX_DEADLINE_AHEAD_NS + rng.random_range(0..2) * MS,
                    _ => rng.random(),
                };
                next_id += 1;
                let cmd = MotorCommand {
                    seq: rng.random(),
                    stamp_ns: now,
                    answers_seq: answers,
                    deadline_ns: deadline,
                    mode: if rng.random_bool(0.95) {
                        CommandMode::Torque
                    } else {
                        CommandMode::Velocity
                    },
                    values: vec![next_id as f32; if rng.random_bool(0.95) { ACTUATORS } else { 3 }],
                };
                let bytes = wire::encode(&Message::MotorCommand(cmd));
                feed(
                    &mut inbox,
                    &mut m,
                    InboxKey::Cmd,
                    bytes,
                    now,
                    &mut history,
                    report,
                )?;
            }
            45..=59 => {
                let key = [InboxKey::Estop, InboxKey::Admin][rng.random_range(0..2)];
                let stamp = match rng.random_range(0..4) {
                    0 | 1 => now,
                    2 => now.saturating_sub(rng.random_range(0..3 * fresh::MAX_AGE_NS)),
                    _ => now + rng.random_range(0..2 * fresh::MAX_SKEW_NS),
                };
                let e = Estop {
                    seq: rng.random(),
                    stamp_ns: stamp,
                    engage: rng.random_bool(0.4),
                    reason: "x".into(),
                };
                feed(
                    &mut inbox,
                    &mut m,
                    key,
                    wire::encode(&Message::Estop(e)),
                    now,
                    &mut history,
                    report,
                )?;
            }
            60..=69 => {
                let key = [InboxKey::Cmd, InboxKey::Admin, InboxKey::Estop][rng.random_range(0..3)];
                let stamp = match rng.random_range(0..3) {
                    0 => now,
                    1 => now.saturating_sub(rng.random_range(0..3 * fresh::MAX_AGE_NS)),
                    _ => now + rng.random_range(0..2 * fresh::MAX_SKEW_NS),
                };
                let r = Reset {
                    seq: rng.random(),
                    stamp_ns: stamp,
                    seed: Some(rng.random_range(0..5)),
                };
                feed(
                    &mut inbox,
                    &mut m,
                    key,
                    wire::encode(&Message::Reset(r)),
                    now,
                    &mut history,
                    report,
                )?;
            }
            70..=79 if !history.is_empty() => {
                // A replay, exact or with a bit flipped.
                let (key, mut bytes) = history[rng.random_range(0..history.len())].clone();
                if rng.random_bool(0.5) && !bytes.is_empty() {
                    let bit = rng.random_range(0..bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
                feed(&mut inbox, &mut m, key, bytes, now, &mut history, report)?;
            }
            80..=84 => {
                let key = [InboxKey::Cmd, InboxKey::Admin, InboxKey::Estop][rng.random_range(0..3)];
                let bytes = fuzzed_payload(rng, now);
                feed(&mut inbox, &mut m, key, bytes, now, &mut history, report)?;
            }
            _ => {
                if lockstep {
                    if let Some(c) = inbox.take_answer() {
                        check_lockstep_answer(&m, &c)?;
                        report.applied += 1;
                    }
                } else {
                    match inbox.decide(now) {
                        Decision::Apply(c) => {
                            check_applied(&m, &c, now)?;
                            report.applied += 1;
                        }
                        Decision::Estopped if !m.engaged => {
                            return Err("estopped without an engage".into());
                        }
                        Decision::NoCommand if m.engaged => {
                            return Err("not estopped after an engage".into());
                        }
                        _ => {}
                    }
                }
                let _ = inbox.take_reset();
            }
        }
        if inbox.estop().engaged() != m.engaged {
            return Err(format!(
                "estop engaged = {}, but the rules say {}",
                inbox.estop().engaged(),
                m.engaged
            ));
        }
    }
    Ok(())
}

/// Feeds one payload and updates the model by the rules; checks what the
/// inbox says it accepted.
fn feed(
    inbox: &mut DriverInbox,
    m: &mut Model,
    key: InboxKey,
    bytes: Vec<u8>,
    now: u64,
    history: &mut Vec<(InboxKey, Vec<u8>)>,
    report: &mut SequenceReport,
) -> Result<(), String> {
    let outcome = inbox.receive(key, &bytes, now);
    let decoded = wire::decode(&bytes).ok();
    // The model: what the rules let through.
    match (&decoded, key) {
        (Some(Message::MotorCommand(c)), InboxKey::Cmd) if c.values.len() == ACTUATORS => {
            let id = c.values[0] as u32;
            m.commands.entry(id).or_default().push(Sent {
                arrived: now,
                deadline: c.deadline_ns,
                answers: c.answers_seq,
            });
        }
        (Some(Message::Estop(e)), k) if k != InboxKey::Cmd => {
            if e.engage {
                m.engaged = true;
            } else if k == InboxKey::Admin
                && fresh::check_stamp(e.stamp_ns, now).is_ok()
                && m.last_release.is_none_or(|t| e.stamp_ns > t)
            {
                m.engaged = false;
                m.last_release = Some(e.stamp_ns);
            }
        }
        _ => {}
    }
    match (&outcome, &decoded) {
        (Ok(Accepted::EstopReleased(_)), Some(Message::Estop(e))) => {
            report.releases += 1;
            if key != InboxKey::Admin || m.last_release != Some(e.stamp_ns) {
                return Err(format!(
                    "a release on {key:?} stamped {} was honoured",
                    e.stamp_ns
                ));
            }
        }
        (Ok(Accepted::Reset(_)), Some(Message::Reset(r))) => {
            report.resets += 1;
            let k = key as u8;
            let seen = m.reset_stamps.entry(k).or_default();
            if key == InboxKey::Estop
                || fresh::check_stamp(r.stamp_ns, now).is_err()
                || seen.iter().any(|&t| t >= r.stamp_ns)
            {
                return Err(format!("a stale or replayed reset on {key:?} was honoured"));
            }
            seen.push(r.stamp_ns);
        }
        (Ok(_), None) => return Err("accepted a payload that does not decode".into()),
        _ => {}
    }
    if history.len() < 256 {
        history.push((key, bytes));
    }
    Ok(())
}

fn check_applied(m: &Model, c: &MotorCommand, now: u64) -> Result<(), String> {
    if now >= c.deadline_ns {
        return Err(format!(
            "applied a command past its deadline ({} >= {})",
            now, c.deadline_ns
        ));
    }
    if m.engaged {
        return Err("applied a command while estopped".into());
    }
    let id = c.values[0] as u32;
    let ok = m.commands.get(&id).is_some_and(|arrivals| {
        arrivals.iter().any(|s| {
            s.deadline == c.deadline_ns
                && s.answers == c.answers_seq
                && s.arrived < s.deadline
                && s.deadline - s.arrived <= fresh::MAX_DEADLINE_AHEAD_NS
                && m.frames.get(&s.answers).is_some_and(|stamps| {
                    stamps
                        .iter()
                        .any(|&t| t <= s.arrived && s.arrived - t <= fresh::ANSWER_WINDOW_NS)
                })
        })
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "applied command {id} (answers {}, deadline {}) that was never fresh or answered nothing sent",
            c.answers_seq, c.deadline_ns
        ))
    }
}

fn check_lockstep_answer(m: &Model, c: &MotorCommand) -> Result<(), String> {
    let Some((seq, _)) = m.newest else {
        return Err("stepped on a command before any frame".into());
    };
    // The frame's first stamp: a re-send does not void an answer already made.
    let stamp = m
        .frames
        .get(&seq)
        .and_then(|s| s.iter().min().copied())
        .unwrap_or(u64::MAX);
    if c.answers_seq != seq || c.deadline_ns <= stamp {
        return Err(format!(
            "stepped on a command answering {} (deadline {}) for frame {seq} stamped {stamp}",
            c.answers_seq, c.deadline_ns
        ));
    }
    let id = c.values[0] as u32;
    let ok = m.commands.get(&id).is_some_and(|a| {
        a.iter().any(|s| {
            s.deadline == c.deadline_ns
                && s.deadline.saturating_sub(s.arrived) <= fresh::MAX_DEADLINE_AHEAD_NS
        })
    });
    if !ok {
        return Err(format!(
            "stepped on command {id} whose deadline was too far ahead"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_share_of_fuzzed_messages_passes() {
        let r = fuzz_messages(200_000, 1).unwrap();
        assert_eq!(r.messages, 200_000);
        assert!(
            r.decoded > 2_000,
            "too few valid payloads to mean much: {r:?}"
        );
        assert!(r.accepted > 0, "nothing was ever accepted: {r:?}");
        for class in ["expired", "unanswered", "truncated", "bad_magic"] {
            assert!(
                r.dropped.get(class).copied().unwrap_or(0) > 0,
                "no {class} drops: {r:?}"
            );
        }
    }

    #[test]
    fn a_seeded_share_of_random_sequences_keeps_the_invariants() {
        let r = check_sequences(2_000, 200, 7).unwrap();
        assert_eq!(r.sequences, 2_000);
        // The generator must reach the interesting cases, or the check means little.
        assert!(r.applied > 500, "{r:?}");
        assert!(r.releases > 20, "{r:?}");
        assert!(r.resets > 20, "{r:?}");
    }
}
