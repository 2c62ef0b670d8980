//! Encoding: a [`Message`] to its bytes (layout in `docs/PROTOCOL.md`).

use super::sink::{Counter, Sink};
use crate::{Applied, MAGIC, Message, PROTOCOL_VERSION};

/// Encodes `msg` into a new buffer of exactly [`encoded_len`] bytes.
///
/// Encoding does not fail; see [`encode_into`] for messages that break the
/// protocol's rules.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut buf = Vec::with_capacity(encoded_len(msg));
    write(msg, &mut buf);
    buf
}

/// Appends the encoding of `msg` to `buf` (clear it first to reuse it); does
/// not allocate if `buf` has [`encoded_len`] bytes of spare capacity.
///
/// A message that fails [`validate`](crate::validate()) is still encoded, so
/// that every receiver rejects it rather than see something else: values are
/// written as they are (NaN stays NaN), counts and lengths too large for
/// their field saturate (and so exceed the limit), joint arrays shorter than
/// the longest are padded with NaN, and an overlong name becomes 255 bytes
/// of `0xFF` (not UTF-8).
pub fn encode_into(msg: &Message, buf: &mut Vec<u8>) {
    buf.reserve(encoded_len(msg));
    write(msg, buf);
}

/// Length in bytes of the encoding of `msg`.
pub fn encoded_len(msg: &Message) -> usize {
    let mut n = Counter(0);
    write(msg, &mut n);
    n.0
}

/// Writes `msg` (header, then its kind's body) into `w`.
fn write(msg: &Message, w: &mut impl Sink) {
    w.put(&MAGIC);
    w.u8(PROTOCOL_VERSION);
    w.u8(msg.kind() as u8);
    w.u64(msg.seq());
    w.u64(msg.stamp_ns());
    match msg {
        Message::SensorFrame(f) => {
            w.name(&f.robot);
            match f.applied {
                Applied::None => w.u8(0),
                Applied::Command(seq) => {
                    w.u8(1);
                    w.u64(seq);
                }
                Applied::Safe => w.u8(2),
                Applied::Reset(seq) => {
                    w.u8(3);
                    w.u64(seq);
                }
            }
            let joints = f
                .positions
                .len()
                .max(f.velocities.len())
                .max(f.efforts.len());
            let n = w.count16(joints);
            for v in [&f.positions, &f.velocities, &f.efforts] {
                let padded = v.iter().copied().chain(std::iter::repeat(f32::NAN));
                padded.take(n).for_each(|x| w.f32(x));
            }
            let n = w.count16(f.channels.len());
            for (name, v) in f.channels.iter().take(n) {
                w.name(name);
                w.f32(*v);
            }
            let n = w.count8(f.images.len());
            for im in f.images.iter().take(n) {
                w.name(&im.name);
                w.u16(im.width);
                w.u16(im.height);
                w.u8(im.encoding as u8);
                w.blob32(&im.data);
            }
        }
        Message::MotorCommand(c) => {
            w.u64(c.answers_seq);
            w.u64(c.deadline_ns);
            w.u8(c.mode as u8);
            let n = w.count16(c.values.len());
            c.values.iter().take(n).for_each(|x| w.f32(*x));
        }
        Message::Status(s) => {
            w.name(&s.node);
            w.u8(s.stepping as u8);
            w.u8(s.state as u8);
            w.u32(s.episode);
            w.u32(s.step);
            w.text(&s.message);
        }
        Message::Telemetry(t) => {
            let n = w.count16(t.values.len());
            for (name, v) in t.values.iter().take(n) {
                w.name(name);
                w.f64(*v);
            }
            w.text(&t.note);
        }
        Message::Estop(e) => {
            w.u8(u8::from(e.engage));
            w.text(&e.reason);
        }
        Message::Reset(r) => match r.seed {
            Some(seed) => {
                w.u8(1);
                w.u64(seed);
            }
            None => w.u8(0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{encode, encode_into, encoded_len};
    use crate::codec::test_support::{decoded_typed, frame, sample};
    use crate::messages::samples;
    use crate::{DecodeError, Message, MessageKind, decode, peek_header, validate};

    #[test]
    fn round_trips_every_kind() {
        for m in samples() {
            let bytes = encode(&m);
            assert_eq!(bytes.len(), encoded_len(&m));
            assert_eq!(decode(&bytes).as_ref(), Ok(&m));
            assert_eq!(decoded_typed(&bytes, m.kind()).as_ref(), Ok(&m));
            let h = peek_header(&bytes).unwrap();
            assert_eq!(
                (h.kind, h.seq, h.stamp_ns),
                (m.kind(), m.seq(), m.stamp_ns())
            );
        }
    }

    #[test]
    fn mismatched_joint_arrays_never_decode() {
        let mut f = frame();
        f.velocities.pop();
        let m = Message::from(f);
        assert!(validate(&m).is_err());
        assert_eq!(
            decode(&encode(&m)),
            Err(DecodeError::NonFinite {
                field: "SensorFrame.velocities",
                index: 1
            })
        );
    }

    #[test]
    fn overlong_names_never_decode() {
        let mut f = frame();
        f.channels[0].0 = "é".repeat(200);
        let m = Message::from(f);
        assert_eq!(
            validate(&m),
            Err(DecodeError::TooLarge {
                field: "SensorFrame.channels.name",
                len: 400,
                max: 255
            })
        );
        assert_eq!(
            decode(&encode(&m)),
            Err(DecodeError::InvalidUtf8 {
                field: "SensorFrame.channels.name"
            })
        );
    }

    #[test]
    fn encode_into_appends_without_allocating() {
        let m = sample(MessageKind::SensorFrame);
        let mut buf = Vec::with_capacity(2 * encoded_len(&m));
        let ptr = buf.as_ptr();
        encode_into(&m, &mut buf);
        encode_into(&m, &mut buf);
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf, [encode(&m), encode(&m)].concat());
    }
}
