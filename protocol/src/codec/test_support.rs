//! Shared helpers of the codec's unit tests: sample messages of each kind,
//! typed decoding by kind, and byte patches.

use super::Result;
use crate::messages::samples;
use crate::{
    Message, MessageKind, SensorFrame, decode_estop, decode_motor_command, decode_reset,
    decode_sensor_frame, decode_status, decode_telemetry,
};

pub(super) fn sample(kind: MessageKind) -> Message {
    samples().into_iter().find(|m| m.kind() == kind).unwrap()
}

pub(super) fn frame() -> SensorFrame {
    match sample(MessageKind::SensorFrame) {
        Message::SensorFrame(f) => f,
        _ => unreachable!(),
    }
}

/// Replaces the one occurrence of `needle` in `bytes`.
pub(super) fn patch(bytes: &mut [u8], needle: &[u8], with: &[u8]) {
    let hits: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(needle))
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} occurs {} times", hits.len());
    bytes[hits[0]..hits[0] + with.len()].copy_from_slice(with);
}

pub(super) fn decoded_typed(bytes: &[u8], kind: MessageKind) -> Result<Message> {
    match kind {
        MessageKind::SensorFrame => decode_sensor_frame(bytes).map(Into::into),
        MessageKind::MotorCommand => decode_motor_command(bytes).map(Into::into),
        MessageKind::Status => decode_status(bytes).map(Into::into),
        MessageKind::Telemetry => decode_telemetry(bytes).map(Into::into),
        MessageKind::Estop => decode_estop(bytes).map(Into::into),
        MessageKind::Reset => decode_reset(bytes).map(Into::into),
    }
}
