//! # umwelt-protocol
//!
//! The wire protocol: what robots, drivers and controllers say to each other.
//! A crate of its own, with no zenoh, burn or rapier in it, so that a robot
//! driver (in Rust) can speak it without pulling in the runtime.
//!
//! Every message is one zenoh payload in a compact, versioned, little-endian
//! binary encoding, specified byte by byte in `docs/PROTOCOL.md` so that a
//! client in any language can be written from that document alone. JSON
//! ([`to_json`], [`from_json`]) is the form for humans.
//!
//! Decoding validates everything (lengths, enum values, UTF-8, finiteness,
//! trailing bytes) and never panics; a receiver drops what fails, counts it
//! with a [`DropCounter`], and checks dimensions against the robot it
//! expects with a [`RobotWireSpec`].
//!
//! ```
//! use umwelt_protocol::{self as wire, CommandMode, Message, MotorCommand};
//!
//! let cmd = MotorCommand {
//!     seq: 7,
//!     stamp_ns: wire::now_ns(),
//!     answers_seq: 41,
//!     deadline_ns: wire::now_ns() + 20_000_000,
//!     mode: CommandMode::Torque,
//!     values: vec![0.5, -0.25],
//! };
//! let bytes = wire::encode(&Message::MotorCommand(cmd.clone()));
//! assert_eq!(wire::decode_motor_command(&bytes), Ok(cmd));
//! ```

#![warn(missing_docs)]

pub mod channels;
mod codec;
pub mod driver;
mod drops;
mod error;
pub mod fresh;
mod json;
mod messages;
mod spec;
mod validate;

pub use codec::{
    Header, decode, decode_estop, decode_motor_command, decode_reset, decode_sensor_frame,
    decode_status, decode_telemetry, encode, encode_into, encoded_len, peek_header,
};
pub use drops::{DropCounter, ErrorClass};
pub use error::DecodeError;
pub use json::{from_json, to_json, to_json_pretty};
pub use messages::{
    Applied, CommandMode, Estop, Image, ImageEncoding, Message, MessageKind, MotorCommand,
    NodeState, Reset, SensorFrame, Status, Stepping, Telemetry,
};
pub use spec::{RobotWireSpec, SpecError};
pub use validate::validate;

/// The protocol version this build writes and the only one it reads.
pub const PROTOCOL_VERSION: u8 = 2;
/// The two bytes every message starts with.
pub const MAGIC: [u8; 2] = *b"UW";
/// Length in bytes of the common header (magic, version, kind, seq, stamp_ns).
pub const HEADER_LEN: usize = 20;
/// Longest name (robot, channel, image, metric, node) in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest free-text field (status message, note, estop reason) in UTF-8 bytes.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most joints in a sensor frame.
pub const MAX_JOINTS: usize = 1024;
/// Most named channels in a sensor frame.
pub const MAX_CHANNELS: usize = 1024;
/// Most values in a motor command, and most metrics in a telemetry message.
pub const MAX_VALUES: usize = 1024;
/// Most images in a sensor frame.
pub const MAX_IMAGES: usize = 32;
/// Largest image payload in bytes (64 MiB).
pub const MAX_IMAGE_BYTES: usize = 64 << 20;

/// The current time in nanoseconds since the UNIX epoch, the clock of
/// `stamp_ns` and `deadline_ns` (0 if the system clock is before 1970,
/// saturating in the year 2554).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The zenoh key expression on which messages of `kind` for `robot` are
/// published: `umwelt/<robot>/<topic>` with the topic of
/// [`MessageKind::topic`].
pub fn key_expr(robot: &str, kind: MessageKind) -> String {
    format!("umwelt/{robot}/{}", kind.topic())
}

/// The last chunk of the key on which privileged messages travel: estop
/// releases and Resets from operators (`umwelt/<robot>/admin`). A release is
/// honoured only here, so that access control can let anyone engage a stop
/// on `estop` but only authorised identities release one.
pub const ADMIN_TOPIC: &str = "admin";

/// The key expression of a robot's privileged messages, `umwelt/<robot>/admin`.
pub fn admin_key_expr(robot: &str) -> String {
    format!("umwelt/{robot}/{ADMIN_TOPIC}")
}
