//! What an operator sends a robot by hand: an estop, its release, a Reset,
//! or any message for testing, each checked like any other message and
//! stamped fresh when sent (`docs/PROTOCOL.md`, "Freshness").

use std::time::{Duration, Instant};

use zenoh::{Session, Wait};

use crate::wire::{self, Estop, Message, MessageKind, Reset};

/// Errors sending an operator's message.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The key is not one of a robot's keys, or the message does not belong on it.
    #[error("{0}")]
    Key(String),
    /// The message (JSON) is not a valid protocol message.
    #[error("not a valid message: {0}")]
    Message(String),
    /// Nobody subscribes to the key.
    #[error(
        "no node listens on {key} after {waited_s:.1} s: is `umwelt sim`, a driver or a controller running there?"
    )]
    NoListener {
        /// The key.
        key: String,
        /// Seconds waited.
        waited_s: f64,
    },
    /// zenoh failed.
    #[error("zenoh on {key}: {message}")]
    Zenoh {
        /// The key.
        key: String,
        /// zenoh's complaint.
        message: String,
    },
}

/// An Estop for `robot` and the key it goes on: engages on
/// `umwelt/<robot>/estop` (open to every node), releases on
/// `umwelt/<robot>/admin` (the only key where a release is honoured).
pub fn estop(robot: &str, engage: bool, reason: &str) -> (String, Message) {
    let key = if engage {
        wire::key_expr(robot, MessageKind::Estop)
    } else {
        wire::admin_key_expr(robot)
    };
    let msg = Message::Estop(Estop {
        seq: 1,
        stamp_ns: wire::now_ns(),
        engage,
        reason: reason.to_string(),
    });
    (key, msg)
}

/// A Reset for `robot` on `umwelt/<robot>/admin`, with `seed` or the
/// driver's choice.
pub fn reset(robot: &str, seed: Option<u64>) -> (String, Message) {
    let msg = Message::Reset(Reset {
        seq: 1,
        stamp_ns: wire::now_ns(),
        seed,
    });
    (wire::admin_key_expr(robot), msg)
}

/// Checks that `key` is a concrete robot key `umwelt/<robot>/<topic>` and
/// that `kind` belongs on it (Estop and Reset also on `admin`).
pub fn check_key(key: &str, kind: MessageKind) -> Result<(), OperatorError> {
    let parts: Vec<&str> = key.split('/').collect();
    let [prefix, robot, topic] = parts.as_slice() else {
        return Err(OperatorError::Key(format!(
            "key `{key}`: expected umwelt/<robot>/<topic>"
        )));
    };
    if *prefix != "umwelt" || robot.is_empty() || robot.contains(['*', '$', '?', '#']) {
        return Err(OperatorError::Key(format!(
            "key `{key}`: expected umwelt/<robot>/<topic> with a robot name, no wildcards"
        )));
    }
    let on_admin =
        *topic == wire::ADMIN_TOPIC && matches!(kind, MessageKind::Estop | MessageKind::Reset);
    if on_admin || *topic == kind.topic() {
        Ok(())
    } else {
        Err(OperatorError::Key(format!(
            "a {kind} does not belong on `{key}` (it goes on umwelt/<robot>/{}{})",
            kind.topic(),
            if matches!(kind, MessageKind::Estop | MessageKind::Reset) {
                " or admin"
            } else {
                ""
            }
        )))
    }
}

/// A message from its JSON form (`docs/PROTOCOL.md`, "JSON"), checked like
/// a received one, then stamped now; a MotorCommand's deadline is set to
/// `deadline` from now (the JSON's own `stamp_ns` and `deadline_ns` are
/// replaced: a message stamped in the past would be refused as stale).
pub fn from_json_fresh(json: &str, deadline: Duration) -> Result<Message, OperatorError> {
    let mut msg = wire::from_json(json).map_err(|e| OperatorError::Message(e.to_string()))?;
    let now = wire::now_ns();
    msg.set_stamp_ns(now);
    if let Message::MotorCommand(c) = &mut msg {
        let ahead = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
        c.deadline_ns = now.saturating_add(ahead);
    }
    Ok(msg)
}

/// Publishes `payload` on `key` once a subscriber matches (waiting up to
/// `wait`), then lingers briefly so the message leaves before the session
/// closes.
pub fn publish(
    session: &Session,
    key: &str,
    payloads: impl IntoIterator<Item = Vec<u8>>,
    period: Option<Duration>,
    wait: Duration,
) -> Result<u64, OperatorError> {
    let zerr = |e: zenoh::Error| OperatorError::Zenoh {
        key: key.to_string(),
        message: e.to_string(),
    };
    let publisher = session
        .declare_publisher(key.to_string())
        .express(true)
        .wait()
        .map_err(zerr)?;
    let start = Instant::now();
    while !publisher.matching_status().wait().map_err(zerr)?.matching() {
        if start.elapsed() >= wait {
            return Err(OperatorError::NoListener {
                key: key.to_string(),
                waited_s: start.elapsed().as_secs_f64(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut sent = 0u64;
    for payload in payloads {
        if sent > 0
            && let Some(p) = period
        {
            std::thread::sleep(p);
        }
        publisher.put(payload).wait().map_err(zerr)?;
        sent += 1;
    }
    // zenoh sends from its own threads: give them a moment before closing.
    std::thread::sleep(Duration::from_millis(100));
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_go_on_admin_and_engages_on_estop() {
        let (key, msg) = estop("arm2", true, "test");
        assert_eq!(key, "umwelt/arm2/estop");
        assert!(matches!(msg, Message::Estop(Estop { engage: true, .. })));
        let (key, _) = estop("arm2", false, "test");
        assert_eq!(key, "umwelt/arm2/admin");
        let (key, msg) = reset("arm2", Some(4));
        assert_eq!(key, "umwelt/arm2/admin");
        assert!(matches!(msg, Message::Reset(Reset { seed: Some(4), .. })));
    }

    #[test]
    fn a_message_must_belong_on_its_key() {
        assert!(check_key("umwelt/arm2/cmd", MessageKind::MotorCommand).is_ok());
        assert!(check_key("umwelt/arm2/admin", MessageKind::Estop).is_ok());
        assert!(check_key("umwelt/arm2/admin", MessageKind::Reset).is_ok());
        assert!(check_key("umwelt/arm2/cmd", MessageKind::Reset).is_ok());
        for (key, kind) in [
            ("umwelt/arm2/admin", MessageKind::MotorCommand),
            ("umwelt/arm2/sensors", MessageKind::MotorCommand),
            ("umwelt/*/cmd", MessageKind::MotorCommand),
            ("umwelt/arm2", MessageKind::MotorCommand),
            ("other/arm2/cmd", MessageKind::MotorCommand),
        ] {
            let e = check_key(key, kind).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn json_messages_are_checked_and_stamped_fresh() {
        let json = r#"{"kind":"motor_command","seq":7,"stamp_ns":1,"answers_seq":42,"deadline_ns":2,"mode":"torque","values":[0.5]}"#;
        let before = wire::now_ns();
        let Message::MotorCommand(c) = from_json_fresh(json, Duration::from_millis(20)).unwrap()
        else {
            panic!("a motor command")
        };
        assert!(c.stamp_ns >= before);
        assert_eq!(c.deadline_ns, c.stamp_ns + 20_000_000);
        assert_eq!(
            (c.seq, c.answers_seq, c.values.as_slice()),
            (7, 42, &[0.5][..])
        );
        let bad = json.replace("0.5", "1e999");
        assert!(from_json_fresh(&bad, Duration::from_millis(20)).is_err());
        assert!(from_json_fresh("{}", Duration::from_millis(20)).is_err());
    }
}
