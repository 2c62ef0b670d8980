//! The ROS 2 messages umwelt reads and writes, as serde structs in field
//! order of their `.msg` definitions (common_interfaces, Jazzy), and their
//! CDR payloads: the 4-byte encapsulation header `00 01 00 00` (plain CDR,
//! little endian) followed by the message in XCDR1, alignment counted from
//! after the header. That is what rmw_zenoh puts on zenoh (it serialises
//! with Fast CDR in `rmw_zenoh_cpp/src/detail/rmw_publisher_data.cpp`).
//! Encoding and decoding are cdr-encoding's; this module adds the header,
//! a size limit, and the type names and RIHS01 hashes rmw_zenoh's keys
//! carry.

use byteorder::{BigEndian, LittleEndian};
use serde::{Deserialize, Serialize};

/// The largest payload accepted, bytes: a JointState of the protocol's
/// most joints with long names fits many times over; anything larger is
/// refused before decoding.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Encapsulation header of plain CDR, little endian (`CDR_LE`).
const CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// One ROS 2 message type: its name as rmw_zenoh writes it in key
/// expressions, and its RIHS01 type hash (REP 2011), as
/// `rosidl_stringify_type_hash` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RosType {
    /// `pkg/msg/Name`, as `ros2 topic list -t` prints it.
    pub ros_name: &'static str,
    /// `pkg::msg::dds_::Name_`: rmw_zenoh's name in keys and tokens
    /// (`_create_type_name` in `rmw_zenoh_cpp/src/detail/type_support_common.cpp`).
    pub dds_name: &'static str,
    /// `RIHS01_<sha256 hex>` of the type description (Jazzy and later; the
    /// values are those of the interface definitions and were checked
    /// against rosbags' `hash_rihs01`, see `tests/fixtures/ros2/`).
    pub hash: &'static str,
}

/// `sensor_msgs/msg/JointState`.
pub const JOINT_STATE: RosType = RosType {
    ros_name: "sensor_msgs/msg/JointState",
    dds_name: "sensor_msgs::msg::dds_::JointState_",
    hash: "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e",
};

/// `std_msgs/msg/Float64MultiArray`.
pub const FLOAT64_MULTI_ARRAY: RosType = RosType {
    ros_name: "std_msgs/msg/Float64MultiArray",
    dds_name: "std_msgs::msg::dds_::Float64MultiArray_",
    hash: "RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f",
};

/// `trajectory_msgs/msg/JointTrajectory`.
pub const JOINT_TRAJECTORY: RosType = RosType {
    ros_name: "trajectory_msgs/msg/JointTrajectory",
    dds_name: "trajectory_msgs::msg::dds_::JointTrajectory_",
    hash: "RIHS01_179b33eba59d676f6d967ac71fe35e7ca2f64b2f3928f4a018cec115e213796e",
};

/// The message type of commands of `kind`.
pub fn command_type(kind: crate::robot::Ros2CommandType) -> RosType {
    match kind {
        crate::robot::Ros2CommandType::Float64MultiArray => FLOAT64_MULTI_ARRAY,
        crate::robot::Ros2CommandType::JointTrajectory => JOINT_TRAJECTORY,
    }
}

/// `builtin_interfaces/msg/Time`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds (may be negative in ROS; a stamp before 1970 is refused
    /// where umwelt reads one).
    pub sec: i32,
    /// Nanoseconds within the second, `[0, 1e9)`.
    pub nanosec: u32,
}

impl Time {
    /// The time `ns` nanoseconds after the UNIX epoch (seconds saturate at
    /// `i32::MAX`, in 2038).
    pub fn from_ns(ns: u64) -> Self {
        Self {
            sec: i32::try_from(ns / 1_000_000_000).unwrap_or(i32::MAX),
            nanosec: (ns % 1_000_000_000) as u32,
        }
    }

    /// Nanoseconds since the UNIX epoch; `None` for a negative or
    /// malformed time (`nanosec` of a second or more).
    pub fn to_ns(self) -> Option<u64> {
        if self.sec < 0 || self.nanosec >= 1_000_000_000 {
            return None;
        }
        Some(self.sec as u64 * 1_000_000_000 + u64::from(self.nanosec))
    }
}

/// `builtin_interfaces/msg/Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Duration {
    /// Seconds.
    pub sec: i32,
    /// Nanoseconds within the second.
    pub nanosec: u32,
}

/// `std_msgs/msg/Header`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// When the data was sampled.
    pub stamp: Time,
    /// The frame the data is in.
    pub frame_id: String,
}

/// `sensor_msgs/msg/JointState`: named joints, each with a position and
/// optionally a velocity and an effort (the arrays are empty or as long
/// as `name`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JointState {
    /// Stamp and frame.
    pub header: Header,
    /// Joint names.
    pub name: Vec<String>,
    /// Positions (rad or m).
    pub position: Vec<f64>,
    /// Velocities (rad/s or m/s).
    pub velocity: Vec<f64>,
    /// Efforts (N m or N).
    pub effort: Vec<f64>,
}

/// `std_msgs/msg/MultiArrayDimension`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArrayDimension {
    /// The dimension's label.
    pub label: String,
    /// Its size.
    pub size: u32,
    /// Its stride.
    pub stride: u32,
}

/// `std_msgs/msg/MultiArrayLayout`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArrayLayout {
    /// Dimensions (empty: a flat array, as forward_command_controller
    /// expects).
    pub dim: Vec<MultiArrayDimension>,
    /// Padding elements at the front of `data`.
    pub data_offset: u32,
}

/// `std_msgs/msg/Float64MultiArray`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Float64MultiArray {
    /// Shape of `data`.
    pub layout: MultiArrayLayout,
    /// The values.
    pub data: Vec<f64>,
}

/// `trajectory_msgs/msg/JointTrajectoryPoint`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JointTrajectoryPoint {
    /// Positions, one per joint, or empty.
    pub positions: Vec<f64>,
    /// Velocities, or empty.
    pub velocities: Vec<f64>,
    /// Accelerations, or empty.
    pub accelerations: Vec<f64>,
    /// Efforts, or empty.
    pub effort: Vec<f64>,
    /// When the point is to be reached, from the header's stamp.
    pub time_from_start: Duration,
}

/// `trajectory_msgs/msg/JointTrajectory`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JointTrajectory {
    /// Stamp (when the trajectory starts) and frame.
    pub header: Header,
    /// The joints the points list values for.
    pub joint_names: Vec<String>,
    /// The points.
    pub points: Vec<JointTrajectoryPoint>,
}

/// Why a payload is not the message expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CdrError {
    /// Larger than [`MAX_PAYLOAD`].
    #[error("{0} bytes: larger than the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    /// Shorter than the encapsulation header, or not plain CDR.
    #[error("not a plain CDR payload (encapsulation header {0:02x?})")]
    BadHeader(Vec<u8>),
    /// The body does not decode as the message.
    #[error("malformed CDR: {0}")]
    Malformed(String),
    /// Encoding failed (cdr-encoding's complaint).
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// Encodes `msg` as a little-endian plain CDR payload, header included.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CdrError> {
    let body = cdr_encoding::to_vec::<T, LittleEndian>(msg)
        .map_err(|e| CdrError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&CDR_LE);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a plain CDR payload (either byte order) as `T`. Trailing bytes
/// are allowed: Fast CDR pads a payload to a multiple of 4 and the
/// options bytes of the header say by how much.
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, CdrError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(CdrError::TooLarge(payload.len()));
    }
    let (header, body) = payload
        .split_at_checked(4)
        .ok_or_else(|| CdrError::BadHeader(payload.to_vec()))?;
    let decoded = match [header[0], header[1]] {
        [0x00, 0x01] => cdr_encoding::from_bytes::<T, LittleEndian>(body),
        // CDR_BE: plain CDR, big endian.
        [0x00, 0x00] => cdr_encoding::from_bytes::<T, BigEndian>(body),
        _ => return Err(CdrError::BadHeader(header.to_vec())),
    };
    decoded
        .map(|(msg, _)| msg)
        .map_err(|e| CdrError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let js = JointState {
            header: Header {
                stamp: Time::from_ns(1_700_000_000_123_456_789),
                frame_id: "base".into(),
            },
            name: vec!["slider".into(), "hinge".into()],
            position: vec![0.5, -1.0],
            velocity: vec![0.0, 2.0],
            effort: vec![],
        };
        let bytes = encode(&js).unwrap();
        assert_eq!(&bytes[..4], &[0, 1, 0, 0]);
        assert_eq!(decode::<JointState>(&bytes).unwrap(), js);
        assert_eq!(
            js.header.stamp.to_ns(),
            Some(1_700_000_000_123_456_789),
            "stamps survive"
        );
        assert!(matches!(
            decode::<JointState>(&bytes[..bytes.len() - 9]),
            Err(CdrError::Malformed(_))
        ));
        assert!(matches!(
            decode::<JointState>(&[0, 1]),
            Err(CdrError::BadHeader(_))
        ));
        let mut wrong = bytes.clone();
        wrong[1] = 7;
        assert!(matches!(
            decode::<JointState>(&wrong),
            Err(CdrError::BadHeader(_))
        ));
        assert!(matches!(
            decode::<JointState>(&vec![0; MAX_PAYLOAD + 1]),
            Err(CdrError::TooLarge(_))
        ));
        assert_eq!(
            Time {
                sec: -1,
                nanosec: 0
            }
            .to_ns(),
            None
        );
    }
}
