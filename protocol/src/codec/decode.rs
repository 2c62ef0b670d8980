//! Decoding entry points: any message ([`decode`]), its header alone
//! ([`peek_header`]), or one of a known kind (`decode_sensor_frame`, ...).

use super::body::{estop, motor_command, reset, sensor_frame, status, telemetry};
use super::reader::Reader;
use super::{Header, Result};
use crate::{
    DecodeError, Estop, Message, MessageKind, MotorCommand, Reset, SensorFrame, Status, Telemetry,
};

/// Decodes one message, validating all of it (see [`DecodeError`]).
/// Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Message> {
    let mut r = Reader(bytes);
    let h = r.header()?;
    let msg: Message = match h.kind {
        MessageKind::SensorFrame => sensor_frame(&mut r, h)?.into(),
        MessageKind::MotorCommand => motor_command(&mut r, h)?.into(),
        MessageKind::Status => status(&mut r, h)?.into(),
        MessageKind::Telemetry => telemetry(&mut r, h)?.into(),
        MessageKind::Estop => estop(&mut r, h)?.into(),
        MessageKind::Reset => reset(&mut r, h)?.into(),
    };
    r.finish()?;
    Ok(msg)
}

/// Reads and checks the header (magic, version, kind), leaving the body
/// unread: enough to route or log a message.
pub fn peek_header(bytes: &[u8]) -> Result<Header> {
    Reader(bytes).header()
}

/// Decodes a message that must be of kind `expected`.
fn decode_as<T>(
    bytes: &[u8],
    expected: MessageKind,
    body: fn(&mut Reader<'_>, Header) -> Result<T>,
) -> Result<T> {
    let mut r = Reader(bytes);
    let h = r.header()?;
    if h.kind != expected {
        return Err(DecodeError::WrongKind {
            expected,
            got: h.kind,
        });
    }
    let msg = body(&mut r, h)?;
    r.finish()?;
    Ok(msg)
}

macro_rules! typed_decoders {
    ($($(#[$doc:meta])* $f:ident -> $t:ident via $body:ident;)+) => {$(
        $(#[$doc])*
        ///
        /// Fails with [`DecodeError::WrongKind`] on a valid message of another kind.
        pub fn $f(bytes: &[u8]) -> Result<$t> {
            decode_as(bytes, MessageKind::$t, $body)
        }
    )+};
}

typed_decoders! {
    /// Decodes a [`SensorFrame`], validating all of it.
    decode_sensor_frame -> SensorFrame via sensor_frame;
    /// Decodes a [`MotorCommand`], validating all of it.
    decode_motor_command -> MotorCommand via motor_command;
    /// Decodes a [`Status`], validating all of it.
    decode_status -> Status via status;
    /// Decodes a [`Telemetry`] message, validating all of it.
    decode_telemetry -> Telemetry via telemetry;
    /// Decodes an [`Estop`], validating all of it.
    decode_estop -> Estop via estop;
    /// Decodes a [`Reset`], validating all of it.
    decode_reset -> Reset via reset;
}

#[cfg(test)]
mod tests {
    use super::decode;
    use crate::codec::test_support::decoded_typed;
    use crate::messages::samples;
    use crate::{DecodeError, MessageKind, encode};

    #[test]
    fn typed_decoders_reject_other_kinds() {
        for m in samples() {
            let bytes = encode(&m);
            for &kind in MessageKind::ALL.iter().filter(|&&k| k != m.kind()) {
                assert_eq!(
                    decoded_typed(&bytes, kind),
                    Err(DecodeError::WrongKind {
                        expected: kind,
                        got: m.kind()
                    })
                );
            }
        }
    }

    #[test]
    fn trailing_bytes() {
        for m in samples() {
            for extra in [1, 5] {
                let mut bytes = encode(&m);
                bytes.extend(std::iter::repeat_n(0, extra));
                let want = Err(DecodeError::TrailingBytes { count: extra });
                assert_eq!(decode(&bytes), want);
                assert_eq!(decoded_typed(&bytes, m.kind()), want);
            }
        }
    }
}
