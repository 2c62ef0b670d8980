//! The message types: plain data with public fields.
//!
//! Every message carries the sender's sequence number `seq` and its clock
//! `stamp_ns` (nanoseconds since the UNIX epoch) at creation.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a fieldless enum that travels as one byte.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $var:ident = $val:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $var = $val,)+
        }

        impl $name {
            /// Every value, in the order of their wire bytes.
            pub const ALL: &[Self] = &[$(Self::$var),+];

            /// The value a wire byte stands for, if any.
            pub fn from_u8(byte: u8) -> Option<Self> {
                match byte {
                    $($val => Some(Self::$var),)+
                    _ => None,
                }
            }
        }
    };
}

wire_enum! {
    /// The `kind` byte of the header: which message follows.
    MessageKind {
        /// [`SensorFrame`]: robot state, driver -> controller.
        SensorFrame = 1,
        /// [`MotorCommand`]: actuator targets, controller -> driver.
        MotorCommand = 2,
        /// [`Status`]: a node's lifecycle state.
        Status = 3,
        /// [`Telemetry`]: named metrics.
        Telemetry = 4,
        /// [`Estop`]: engage or release the emergency stop.
        Estop = 5,
        /// [`Reset`]: start a new episode.
        Reset = 6,
    }
}

impl MessageKind {
    /// The type's name, as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::SensorFrame => "SensorFrame",
            Self::MotorCommand => "MotorCommand",
            Self::Status => "Status",
            Self::Telemetry => "Telemetry",
            Self::Estop => "Estop",
            Self::Reset => "Reset",
        }
    }

    /// The last chunk of the key expression `umwelt/<robot>/<topic>` that
    /// carries this kind. A [`Reset`] travels on `cmd` with the commands,
    /// since the driver is what it addresses.
    pub fn topic(self) -> &'static str {
        match self {
            Self::SensorFrame => "sensors",
            Self::MotorCommand | Self::Reset => "cmd",
            Self::Status => "status",
            Self::Telemetry => "telemetry",
            Self::Estop => "estop",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

wire_enum! {
    /// How an [`Image`]'s pixels are stored, row-major from the top left.
    ImageEncoding {
        /// Depth in metres, one little-endian `f32` per pixel (may be
        /// non-finite where the sensor saw nothing).
        DepthF32 = 0,
        /// Red, green, blue: three bytes per pixel.
        Rgb8 = 1,
        /// Grey level: one byte per pixel.
        Mono8 = 2,
    }
}

impl ImageEncoding {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::DepthF32 => 4,
            Self::Rgb8 => 3,
            Self::Mono8 => 1,
        }
    }

    /// The encoding's name in files and messages for people: `rgb8`,
    /// `mono8`, `depth_f32` (as serde writes it).
    pub fn name(self) -> &'static str {
        match self {
            Self::DepthF32 => "depth_f32",
            Self::Rgb8 => "rgb8",
            Self::Mono8 => "mono8",
        }
    }

    /// The 8-bit encoding with `channels` bytes per pixel: [`Self::Mono8`]
    /// for 1, [`Self::Rgb8`] for 3, `None` otherwise (a pixel model's
    /// images, or a dataset's frames, are one of these two).
    pub fn for_channels(channels: usize) -> Option<Self> {
        match channels {
            1 => Some(Self::Mono8),
            3 => Some(Self::Rgb8),
            _ => None,
        }
    }
}

wire_enum! {
    /// What a [`MotorCommand`]'s values are.
    CommandMode {
        /// Joint torques (N m) or forces (N).
        Torque = 0,
        /// Joint velocity targets (rad/s or m/s).
        Velocity = 1,
        /// Joint position targets (rad or m).
        Position = 2,
    }
}

wire_enum! {
    /// How a node steps, reported by [`Status`]: a driver that offers
    /// lockstep says so here, and a client that needs it waits for it.
    Stepping {
        /// Steps on its own clock, every control period (every controller,
        /// and every hardware driver).
        RealTime = 0,
        /// Steps only when a command answers its newest frame (simulators).
        Lockstep = 1,
    }
}

/// Which command a driver applied for the step that led to a
/// [`SensorFrame`], so that a learner pairs each frame with the action that
/// really produced it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// No step led to this frame: the first frame of an episode the
    /// driver began on its own (at start-up, or after an episode's end),
    /// or a driver that does not say.
    #[default]
    None,
    /// No step led to this frame: the first frame of the episode that the
    /// [`Reset`] with this `seq` asked for, so that its sender knows which
    /// frame begins its episode.
    Reset(u64),
    /// The [`MotorCommand`] with this `seq` was in force for the whole step.
    Command(u64),
    /// The safe action was applied for (part of) the step: no fresh command
    /// was in force, or an estop held the robot.
    Safe,
}

wire_enum! {
    /// A node's lifecycle state, reported by [`Status`].
    NodeState {
        /// Starting up; not yet in control.
        Starting = 0,
        /// In control.
        Running = 1,
        /// Commanding the safe action (stale data, bad model output, ...).
        SafeHold = 2,
        /// Stopped by an emergency stop.
        Estopped = 3,
        /// Between episodes.
        EpisodeReset = 4,
        /// Shutting down.
        Stopping = 5,
    }
}

/// A camera or depth image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Camera name, e.g. `"wrist_depth"`.
    pub name: String,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Pixel format.
    pub encoding: ImageEncoding,
    /// Pixels, exactly `width * height * encoding.bytes_per_pixel()` bytes.
    pub data: Vec<u8>,
}

/// One sample of a robot's state, published by its driver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SensorFrame {
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock when the state was sampled, ns since the UNIX epoch.
    pub stamp_ns: u64,
    /// Name of the robot.
    pub robot: String,
    /// What the driver applied for the step that led to this frame.
    pub applied: Applied,
    /// Joint positions, in the robot's joint order.
    pub positions: Vec<f32>,
    /// Joint velocities; as many as `positions`.
    pub velocities: Vec<f32>,
    /// Joint efforts (torques or forces); as many as `positions`.
    pub efforts: Vec<f32>,
    /// Named extra channels, e.g. `("to_target_x", 0.1)`.
    pub channels: Vec<(String, f32)>,
    /// Camera and depth images.
    pub images: Vec<Image>,
}

impl SensorFrame {
    /// The value of the first channel called `name`.
    pub fn channel(&self, name: &str) -> Option<f32> {
        self.channels
            .iter()
            .find_map(|(n, v)| (n == name).then_some(*v))
    }
}

/// Actuator targets, published by the controller in answer to a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotorCommand {
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock at creation, ns since the UNIX epoch.
    pub stamp_ns: u64,
    /// `seq` of the [`SensorFrame`] this command answers.
    pub answers_seq: u64,
    /// Absolute time, same clock as `stamp_ns`, after which a driver must
    /// not apply this command.
    pub deadline_ns: u64,
    /// What `values` are.
    pub mode: CommandMode,
    /// One value per actuator.
    pub values: Vec<f32>,
}

/// A node's lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock at creation, ns since the UNIX epoch.
    pub stamp_ns: u64,
    /// The sending node's name (e.g. `"sim"`, `"controller"`, a driver's
    /// name), so that the statuses of several nodes on one key can be told
    /// apart.
    pub node: String,
    /// How the sender steps; a driver offering lockstep says
    /// [`Stepping::Lockstep`].
    pub stepping: Stepping,
    /// The state.
    pub state: NodeState,
    /// Current episode number.
    pub episode: u32,
    /// Step within the episode.
    pub step: u32,
    /// Free text for humans, e.g. why the node is in safe hold.
    pub message: String,
}

/// Named metrics, e.g. loop timing or planner cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock at creation, ns since the UNIX epoch.
    pub stamp_ns: u64,
    /// Named metrics (`f64`).
    pub values: Vec<(String, f64)>,
    /// Free text for humans.
    pub note: String,
}

/// Engage or release the emergency stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estop {
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock at creation, ns since the UNIX epoch.
    pub stamp_ns: u64,
    /// `true` engages the stop, `false` releases it.
    pub engage: bool,
    /// Why, for humans.
    pub reason: String,
}

/// Start a new episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock at creation, ns since the UNIX epoch.
    pub stamp_ns: u64,
    /// Seed for the new episode; `None` lets the receiver choose.
    pub seed: Option<u64>,
}

/// Any message. In JSON, the variant is the `"kind"` field
/// (`"sensor_frame"`, `"motor_command"`, ...) beside the message's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// See [`SensorFrame`].
    SensorFrame(SensorFrame),
    /// See [`MotorCommand`].
    MotorCommand(MotorCommand),
    /// See [`Status`].
    Status(Status),
    /// See [`Telemetry`].
    Telemetry(Telemetry),
    /// See [`Estop`].
    Estop(Estop),
    /// See [`Reset`].
    Reset(Reset),
}

/// Applies `$e` to the inner message, whatever its kind.
macro_rules! each {
    ($msg:expr, $m:ident => $e:expr) => {
        match $msg {
            Message::SensorFrame($m) => $e,
            Message::MotorCommand($m) => $e,
            Message::Status($m) => $e,
            Message::Telemetry($m) => $e,
            Message::Estop($m) => $e,
            Message::Reset($m) => $e,
        }
    };
}

impl Message {
    /// Which kind of message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::SensorFrame(_) => MessageKind::SensorFrame,
            Self::MotorCommand(_) => MessageKind::MotorCommand,
            Self::Status(_) => MessageKind::Status,
            Self::Telemetry(_) => MessageKind::Telemetry,
            Self::Estop(_) => MessageKind::Estop,
            Self::Reset(_) => MessageKind::Reset,
        }
    }

    /// The sender's sequence number.
    pub fn seq(&self) -> u64 {
        each!(self, m => m.seq)
    }

    /// The sender's clock at creation, ns since the UNIX epoch.
    pub fn stamp_ns(&self) -> u64 {
        each!(self, m => m.stamp_ns)
    }

    /// Sets `stamp_ns` (and nothing else: a command's deadline stays).
    pub fn set_stamp_ns(&mut self, stamp_ns: u64) {
        each!(self, m => m.stamp_ns = stamp_ns)
    }
}

macro_rules! impl_from {
    ($($t:ident),+) => {$(
        impl From<$t> for Message {
            fn from(m: $t) -> Self {
                Self::$t(m)
            }
        }
    )+};
}
impl_from!(SensorFrame, MotorCommand, Status, Telemetry, Estop, Reset);

/// One small but complete message of every kind, for tests.
#[cfg(test)]
pub(crate) fn samples() -> Vec<Message> {
    vec![
        SensorFrame {
            seq: 42,
            stamp_ns: 1_700_000_000_000_000_000,
            robot: "arm2".into(),
            applied: Applied::Command(41),
            positions: vec![0.5, -1.0],
            velocities: vec![0.0, 0.25],
            efforts: vec![1.5, -0.0],
            channels: vec![("to_target_x".into(), 0.125), ("grip".into(), 1.0)],
            images: vec![
                Image {
                    name: "cam".into(),
                    width: 2,
                    height: 1,
                    encoding: ImageEncoding::Rgb8,
                    data: vec![1, 2, 3, 4, 5, 6],
                },
                Image {
                    name: "depth".into(),
                    width: 1,
                    height: 1,
                    encoding: ImageEncoding::DepthF32,
                    data: 0.75f32.to_le_bytes().to_vec(),
                },
            ],
        }
        .into(),
        MotorCommand {
            seq: 7,
            stamp_ns: 1_700_000_000_002_000_000,
            answers_seq: 42,
            deadline_ns: 1_700_000_000_022_000_000,
            mode: CommandMode::Velocity,
            values: vec![0.5, -0.25, 3.0],
        }
        .into(),
        Status {
            seq: 3,
            stamp_ns: 5,
            node: "sim".into(),
            stepping: Stepping::Lockstep,
            state: NodeState::SafeHold,
            episode: 2,
            step: 100,
            message: "stale frame (42 ms)".into(),
        }
        .into(),
        Telemetry {
            seq: 9,
            stamp_ns: 11,
            values: vec![("plan_ms".into(), 1.25), ("cost".into(), -3e40)],
            note: "ok".into(),
        }
        .into(),
        Estop {
            seq: 1,
            stamp_ns: 2,
            engage: true,
            reason: "button".into(),
        }
        .into(),
        Reset {
            seq: 4,
            stamp_ns: 8,
            seed: Some(u64::MAX),
        }
        .into(),
        Reset {
            seq: 5,
            stamp_ns: 9,
            seed: None,
        }
        .into(),
        SensorFrame {
            seq: 43,
            stamp_ns: 1_700_000_000_010_000_000,
            robot: "arm2".into(),
            applied: Applied::Safe,
            ..SensorFrame::default()
        }
        .into(),
        SensorFrame {
            seq: 44,
            stamp_ns: 1_700_000_000_015_000_000,
            robot: "arm2".into(),
            applied: Applied::Reset(5),
            ..SensorFrame::default()
        }
        .into(),
        SensorFrame {
            seq: 0,
            stamp_ns: 1_700_000_000_020_000_000,
            robot: "arm2".into(),
            ..SensorFrame::default()
        }
        .into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_8_bit_encoding_is_found_from_its_bytes_per_pixel_and_no_other() {
        for e in [ImageEncoding::Mono8, ImageEncoding::Rgb8] {
            assert_eq!(ImageEncoding::for_channels(e.bytes_per_pixel()), Some(e));
        }
        for c in [0, 2, 4, 5] {
            assert_eq!(ImageEncoding::for_channels(c), None, "{c}");
        }
        for e in ImageEncoding::ALL {
            let json = serde_json::to_string(e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.name()));
        }
    }
}
