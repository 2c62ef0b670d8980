//! Why a message was rejected.

use super::MessageKind;

/// Why bytes are not a valid message (from [`decode`](super::decode)), or
/// why a message may not be sent (from [`validate`](super::validate)).
///
/// `field` names what was being read or checked, as `Type.field`, e.g.
/// `"SensorFrame.positions"`, so that a log line says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the message does.
    #[error("truncated while reading {field}: needed {needed} bytes, {got} left")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        got: usize,
    },
    /// The first two bytes are not `"UW"`.
    #[error("bad magic {got:02x?}, expected \"UW\" [55, 57]")]
    BadMagic {
        /// The first two bytes.
        got: [u8; 2],
    },
    /// The version byte is not one this build reads.
    #[error("unsupported protocol version {got} (this build speaks version {supported})")]
    UnsupportedVersion {
        /// The version byte.
        got: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// The kind byte names no message.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// A typed decoder (e.g. [`decode_sensor_frame`](super::decode_sensor_frame))
    /// was given another kind of message.
    #[error("expected a {expected} message, got a {got}")]
    WrongKind {
        /// The kind asked for.
        expected: MessageKind,
        /// The kind in the header.
        got: MessageKind,
    },
    /// An enum or boolean byte has a value that stands for nothing.
    #[error("{field}: invalid value {value}")]
    BadEnum {
        /// The field.
        field: &'static str,
        /// The byte.
        value: u8,
    },
    /// A length disagrees with the length it must equal.
    #[error("{field}: length {got}, expected {expected}")]
    LengthMismatch {
        /// The field.
        field: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A count or length is over the protocol's limit.
    #[error("{field}: length {len} exceeds the limit of {max}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The count or length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string is not UTF-8.
    #[error("{field}: invalid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A float is NaN or infinite.
    #[error("{field}[{index}] is not finite")]
    NonFinite {
        /// The field.
        field: &'static str,
        /// Index of the first non-finite value.
        index: usize,
    },
    /// Bytes follow the end of the message.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}
