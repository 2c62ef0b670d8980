//! The binary encoding of umwelt/2 (byte layout in `docs/PROTOCOL.md`),
//! one job per module: `encode` writes a message through a byte `sink`;
//! `decode` reads the header and then one `body` per message kind, every
//! field through the bounds-checked `reader`.

mod body;
mod decode;
mod encode;
mod reader;
mod sink;
#[cfg(test)]
mod test_support;

pub use decode::{
    decode, decode_estop, decode_motor_command, decode_reset, decode_sensor_frame, decode_status,
    decode_telemetry, peek_header,
};
pub use encode::{encode, encode_into, encoded_len};

use crate::{DecodeError, HEADER_LEN, MessageKind};

/// What every decoder returns.
type Result<T> = std::result::Result<T, DecodeError>;

/// The common header of every message, after magic and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which message follows.
    pub kind: MessageKind,
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock at creation, ns since the UNIX epoch.
    pub stamp_ns: u64,
}

const _: () = assert!(HEADER_LEN == 2 + 1 + 1 + 8 + 8);
