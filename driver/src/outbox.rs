//! What the driver publishes: sensor frames (and their re-sends), Status
//! and Telemetry, each numbered and stamped, on the robot's keys.

use tracing::warn;
use zenoh::pubsub::Publisher;
use zenoh::{Session, Wait};

use umwelt_protocol::{
    self as wire, Applied, Message, MessageKind, NodeState, SensorFrame, Status, Stepping,
    Telemetry,
};

use crate::config::DriverConfig;
use crate::inbox::{Poisoned, Shared};
use crate::robot::Measurement;
use crate::transport::{TransportError, publisher};

/// The driver's publishers and its numbering.
pub(crate) struct Outbox<'s> {
    sensors: Publisher<'s>,
    status: Publisher<'s>,
    telemetry: Publisher<'s>,
    robot: String,
    node: String,
    stepping: Stepping,
    /// The names of every channel in a frame, in order.
    channel_names: Vec<String>,
    task_channels: bool,
    frame_seq: u64,
    status_seq: u64,
    telemetry_seq: u64,
    /// The last frame published, to send again in lockstep.
    last_frame: Option<SensorFrame>,
    buf: Vec<u8>,
}

impl<'s> Outbox<'s> {
    /// Declares the robot's `sensors`, `status` and `telemetry` publishers.
    pub(crate) fn new(session: &'s Session, cfg: &DriverConfig) -> Result<Self, TransportError> {
        let robot = cfg.robot.as_str();
        Ok(Self {
            sensors: publisher(session, robot, MessageKind::SensorFrame, true)?,
            status: publisher(session, robot, MessageKind::Status, false)?,
            telemetry: publisher(session, robot, MessageKind::Telemetry, false)?,
            robot: cfg.robot.clone(),
            node: cfg.node.clone(),
            stepping: if cfg.lockstep {
                Stepping::Lockstep
            } else {
                Stepping::RealTime
            },
            channel_names: cfg.wire_spec().channels,
            task_channels: cfg.task_channels,
            frame_seq: 0,
            status_seq: 0,
            telemetry_seq: 0,
            last_frame: None,
            buf: Vec::with_capacity(1024),
        })
    }

    /// The seq of the last frame published (0 before the first).
    pub(crate) fn frame_seq(&self) -> u64 {
        self.frame_seq
    }

    /// Publishes the frame of `m` in `episode`, saying what was `applied`,
    /// after telling the inbox of it (so that no answer can beat the
    /// inbox's knowledge of the frame).
    pub(crate) fn frame(
        &mut self,
        m: &Measurement,
        applied: Applied,
        episode: u32,
        shared: &Shared,
    ) -> Result<(), Poisoned> {
        self.frame_seq += 1;
        let mut values = m.channels.clone();
        if self.task_channels {
            // The first frame of an episode follows no step: no reward.
            let (reward, success) = match applied {
                Applied::None | Applied::Reset(_) => (0.0, false),
                _ => (m.reward, m.success),
            };
            values.extend([reward, f32::from(u8::from(success)), episode as f32]);
        }
        debug_assert_eq!(values.len(), self.channel_names.len());
        let frame = SensorFrame {
            seq: self.frame_seq,
            stamp_ns: wire::now_ns(),
            robot: self.robot.clone(),
            applied,
            positions: m.positions.clone(),
            velocities: m.velocities.clone(),
            efforts: m.efforts.clone(),
            channels: self.channel_names.iter().cloned().zip(values).collect(),
            images: m.images.clone(),
        };
        shared.frame_sent(frame.seq, frame.stamp_ns)?;
        let msg = Message::SensorFrame(frame);
        put(&self.sensors, &msg, &mut self.buf);
        if let Message::SensorFrame(f) = msg {
            self.last_frame = Some(f);
        }
        Ok(())
    }

    /// Sends the last frame again with the same `seq` and a new stamp, so
    /// that receivers checking freshness take it as a re-send, not a replay.
    pub(crate) fn resend(&mut self, shared: &Shared) -> Result<(), Poisoned> {
        let Some(mut f) = self.last_frame.take() else {
            return Ok(());
        };
        f.stamp_ns = wire::now_ns();
        shared.frame_sent(f.seq, f.stamp_ns)?;
        let msg = Message::SensorFrame(f);
        put(&self.sensors, &msg, &mut self.buf);
        if let Message::SensorFrame(f) = msg {
            self.last_frame = Some(f);
        }
        Ok(())
    }

    /// Publishes a Status: `state` in `episode` at `step`, with `message`
    /// prefixed by the robot's name.
    pub(crate) fn status(&mut self, state: NodeState, episode: u32, step: u32, message: &str) {
        self.status_seq += 1;
        let msg = Message::Status(Status {
            seq: self.status_seq,
            stamp_ns: wire::now_ns(),
            node: self.node.clone(),
            stepping: self.stepping,
            state,
            episode,
            step,
            message: clip(format!("{}: {message}", self.robot)),
        });
        put(&self.status, &msg, &mut Vec::new());
    }

    /// Publishes Telemetry with `values` (non-finite values are left out:
    /// they would make the message invalid).
    pub(crate) fn telemetry(&mut self, values: Vec<(String, f64)>) {
        self.telemetry_seq += 1;
        let msg = Message::Telemetry(Telemetry {
            seq: self.telemetry_seq,
            stamp_ns: wire::now_ns(),
            values: values.into_iter().filter(|(_, v)| v.is_finite()).collect(),
            note: String::new(),
        });
        put(&self.telemetry, &msg, &mut Vec::new());
    }
}

/// Cuts free text to the protocol's limit, on a character boundary.
fn clip(mut text: String) -> String {
    if text.len() > wire::MAX_TEXT_LEN {
        let mut end = wire::MAX_TEXT_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Encodes `msg` into `buf` (reused) and publishes it; a failure is logged,
/// not fatal: the next message may go through.
fn put(publisher: &Publisher<'_>, msg: &Message, buf: &mut Vec<u8>) {
    buf.clear();
    wire::encode_into(msg, buf);
    if let Err(e) = publisher.put(buf.as_slice()).wait() {
        warn!("publishing on {}: {e}", publisher.key_expr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        let text = "é".repeat(wire::MAX_TEXT_LEN);
        let clipped = clip(text);
        assert!(clipped.len() <= wire::MAX_TEXT_LEN);
        assert!(clipped.len() >= wire::MAX_TEXT_LEN - 1);
        assert_eq!(clip("short".into()), "short");
    }
}
