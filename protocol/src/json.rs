//! The JSON form, for humans: logs, debugging, hand-written test messages.
//!
//! A message is an object with a `"kind"` field (`"sensor_frame"`,
//! `"motor_command"`, `"status"`, `"telemetry"`, `"estop"`, `"reset"`) beside
//! its own fields; enums are snake_case strings and pairs are two-element
//! arrays, e.g. `{"kind":"reset","seq":4,"stamp_ns":8,"seed":null}`.
//!
//! JSON keeps every value exactly except `f64` telemetry metrics, which may
//! come back a few units in the last place off (serde_json parses floats fast
//! rather than exactly unless its `float_roundtrip` feature is on). The
//! binary form is exact.

use super::{Message, validate};
use serde::de::Error as _;

/// One line of compact JSON.
pub fn to_json(msg: &Message) -> String {
    serde_json::to_string(msg).unwrap_or_else(failed)
}

/// Indented JSON over several lines.
pub fn to_json_pretty(msg: &Message) -> String {
    serde_json::to_string_pretty(msg).unwrap_or_else(failed)
}

/// Serialising these types cannot fail (no maps; serde_json writes NaN as
/// `null`), but should it ever, say so in JSON rather than panic.
fn failed(e: serde_json::Error) -> String {
    serde_json::json!({ "error": e.to_string() }).to_string()
}

/// Parses a message and checks it with [`validate`], so that it accepts what
/// [`decode`](super::decode) would accept.
pub fn from_json(s: &str) -> Result<Message, serde_json::Error> {
    let msg: Message = serde_json::from_str(s)?;
    validate(&msg).map_err(serde_json::Error::custom)?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommandMode, ImageEncoding, NodeState, SensorFrame, messages::samples};

    #[test]
    fn round_trips_every_kind() {
        for m in samples() {
            assert_eq!(from_json(&to_json(&m)).unwrap(), m);
            assert_eq!(from_json(&to_json_pretty(&m)).unwrap(), m);
        }
    }

    #[test]
    fn is_readable() {
        let m = &samples()[4];
        assert_eq!(
            to_json(m),
            r#"{"kind":"estop","seq":1,"stamp_ns":2,"engage":true,"reason":"button"}"#
        );
        let m = from_json(
            r#"{"kind":"status","seq":1,"stamp_ns":2,"node":"sim","stepping":"lockstep","state":"safe_hold",
                "episode":3,"step":4,"message":"stale frame"}"#,
        )
        .unwrap();
        assert!(to_json_pretty(&m).contains("\n  \"state\": \"safe_hold\",\n"));
        // Enum names as docs/PROTOCOL.md lists them.
        let names = |v: serde_json::Value| v.to_string();
        assert_eq!(
            names(serde_json::json!([
                ImageEncoding::DepthF32,
                ImageEncoding::Rgb8,
                ImageEncoding::Mono8,
                CommandMode::Torque,
                NodeState::EpisodeReset,
            ])),
            r#"["depth_f32","rgb8","mono8","torque","episode_reset"]"#
        );
    }

    #[test]
    fn rejects_what_decode_rejects() {
        let m = SensorFrame {
            positions: vec![1.0],
            ..SensorFrame::default()
        };
        let err = from_json(&to_json(&m.into())).unwrap_err();
        assert!(
            err.to_string()
                .contains("SensorFrame.velocities: length 0, expected 1"),
            "{err}"
        );
        let err = from_json(r#"{"kind":"estop","seq":1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
        let err = from_json(r#"{"kind":"launch","seq":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}
