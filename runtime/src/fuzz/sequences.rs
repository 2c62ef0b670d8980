//! Random message sequences through a driver's inbox, with the invariants
//! of [`super`] checked after every event against the checker's own account.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{ACTUATORS, MS, T0, Violation, fuzzed_payload, spec};
use crate::wire::driver::{Accepted, Decision, DriverInbox, InboxKey};
use crate::wire::fresh;
use crate::wire::{self, CommandMode, Estop, Message, MotorCommand, Reset};

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
    fn a_seeded_share_of_random_sequences_keeps_the_invariants() {
        let r = check_sequences(2_000, 200, 7).unwrap();
        assert_eq!(r.sequences, 2_000);
        // The generator must reach the interesting cases, or the check means little.
        assert!(r.applied > 500, "{r:?}");
        assert!(r.releases > 20, "{r:?}");
        assert!(r.resets > 20, "{r:?}");
    }
}
