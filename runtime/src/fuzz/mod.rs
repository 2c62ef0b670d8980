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

mod sequences;

pub use sequences::{SequenceReport, check_sequences};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::wire::driver::{DriverInbox, InboxKey};
use crate::wire::fresh::FrameGate;
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

pub(crate) const ROBOT: &str = "fuzzbot";
pub(crate) const ACTUATORS: usize = 2;
pub(crate) const T0: u64 = 1_700_000_000_000_000_000;
pub(crate) const MS: u64 = 1_000_000;

pub(crate) fn spec() -> RobotWireSpec {
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
            applied: wire::Applied::Command(rng.random_range(0..64)),
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
            node: "sim".into(),
            stepping: wire::Stepping::RealTime,
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
pub(crate) fn fuzzed_payload(rng: &mut ChaCha8Rng, now: u64) -> Vec<u8> {
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
}
