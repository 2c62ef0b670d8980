//! The binary encoding (byte layout in `docs/PROTOCOL.md`).

use super::validate::{count, finite, image_data};
use super::{
    CommandMode, DecodeError, Estop, HEADER_LEN, Image, ImageEncoding, MAGIC, MAX_CHANNELS,
    MAX_IMAGES, MAX_JOINTS, MAX_NAME_LEN, MAX_TEXT_LEN, MAX_VALUES, Message, MessageKind,
    MotorCommand, NodeState, PROTOCOL_VERSION, Reset, SensorFrame, Status, Telemetry,
};

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

// ---------------------------------------------------------------- encoding

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
/// A message that fails [`validate`](super::validate) is still encoded, so
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

/// Where encoded bytes go: a buffer, or a counter for [`encoded_len`].
trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.put(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.put(&v.to_le_bytes());
    }
    /// u8 length + UTF-8; an overlong name is written as 255 bytes of 0xFF.
    fn name(&mut self, s: &str) {
        match u8::try_from(s.len()) {
            Ok(n) => {
                self.u8(n);
                self.put(s.as_bytes());
            }
            Err(_) => {
                self.u8(u8::MAX);
                self.put(&[0xFF; MAX_NAME_LEN]);
            }
        }
    }
    /// u16 length + UTF-8, cut at 65535 bytes (over the limit either way).
    fn text(&mut self, s: &str) {
        let n = self.count16(s.len());
        self.put(&s.as_bytes()[..n]);
    }
    /// Writes a u16 count, saturated; returns how many items to write.
    fn count16(&mut self, len: usize) -> usize {
        let n = u16::try_from(len).unwrap_or(u16::MAX);
        self.u16(n);
        usize::from(n)
    }
    /// Writes a u8 count, saturated; returns how many items to write.
    fn count8(&mut self, len: usize) -> usize {
        let n = u8::try_from(len).unwrap_or(u8::MAX);
        self.u8(n);
        usize::from(n)
    }
    /// u32 length + bytes, cut at `u32::MAX` (over the limit either way).
    fn blob32(&mut self, data: &[u8]) {
        let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.u32(n);
        self.put(data.get(..n as usize).unwrap_or(data));
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

struct Counter(usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

fn write(msg: &Message, w: &mut impl Sink) {
    w.put(&MAGIC);
    w.u8(PROTOCOL_VERSION);
    w.u8(msg.kind() as u8);
    w.u64(msg.seq());
    w.u64(msg.stamp_ns());
    match msg {
        Message::SensorFrame(f) => {
            w.name(&f.robot);
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

// ---------------------------------------------------------------- decoding

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

fn sensor_frame(r: &mut Reader<'_>, h: Header) -> Result<SensorFrame> {
    let robot = r.name("SensorFrame.robot")?;
    let n = r.count16("SensorFrame.joints", MAX_JOINTS)?;
    let positions = r.finite_f32s("SensorFrame.positions", n)?;
    let velocities = r.finite_f32s("SensorFrame.velocities", n)?;
    let efforts = r.finite_f32s("SensorFrame.efforts", n)?;
    let n = r.count16("SensorFrame.channels", MAX_CHANNELS)?;
    let channels = (0..n)
        .map(|index| {
            let name = r.name("SensorFrame.channels.name")?;
            let v = r.f32("SensorFrame.channels.value")?;
            if !v.is_finite() {
                let field = "SensorFrame.channels.value";
                return Err(DecodeError::NonFinite { field, index });
            }
            Ok((name, v))
        })
        .collect::<Result<_>>()?;
    let n = usize::from(r.u8("SensorFrame.images")?);
    count("SensorFrame.images", n, MAX_IMAGES)?;
    let images = (0..n).map(|_| r.image()).collect::<Result<_>>()?;
    Ok(SensorFrame {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        robot,
        positions,
        velocities,
        efforts,
        channels,
        images,
    })
}

fn motor_command(r: &mut Reader<'_>, h: Header) -> Result<MotorCommand> {
    let answers_seq = r.u64("MotorCommand.answers_seq")?;
    let deadline_ns = r.u64("MotorCommand.deadline_ns")?;
    let mode = r.enum_u8("MotorCommand.mode", CommandMode::from_u8)?;
    let n = r.count16("MotorCommand.values", MAX_VALUES)?;
    let values = r.finite_f32s("MotorCommand.values", n)?;
    Ok(MotorCommand {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        answers_seq,
        deadline_ns,
        mode,
        values,
    })
}

fn status(r: &mut Reader<'_>, h: Header) -> Result<Status> {
    Ok(Status {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        state: r.enum_u8("Status.state", NodeState::from_u8)?,
        episode: r.u32("Status.episode")?,
        step: r.u32("Status.step")?,
        message: r.text("Status.message")?,
    })
}

fn telemetry(r: &mut Reader<'_>, h: Header) -> Result<Telemetry> {
    let n = r.count16("Telemetry.values", MAX_VALUES)?;
    let values = (0..n)
        .map(|index| {
            let name = r.name("Telemetry.values.name")?;
            let v = f64::from_le_bytes(r.array("Telemetry.values.value")?);
            if !v.is_finite() {
                let field = "Telemetry.values.value";
                return Err(DecodeError::NonFinite { field, index });
            }
            Ok((name, v))
        })
        .collect::<Result<_>>()?;
    Ok(Telemetry {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        values,
        note: r.text("Telemetry.note")?,
    })
}

fn estop(r: &mut Reader<'_>, h: Header) -> Result<Estop> {
    Ok(Estop {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        engage: r.bool("Estop.engage")?,
        reason: r.text("Estop.reason")?,
    })
}

fn reset(r: &mut Reader<'_>, h: Header) -> Result<Reset> {
    let seed = match r.bool("Reset.has_seed")? {
        true => Some(r.u64("Reset.seed")?),
        false => None,
    };
    Ok(Reset {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        seed,
    })
}

/// The unread rest of the input. Every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn truncated(&self, field: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            field,
            needed,
            got: self.0.len(),
        }
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8]> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| self.truncated(field, n))?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| self.truncated(field, N))?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8> {
        self.array::<1>(field).map(|[b]| b)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16> {
        self.array(field).map(u16::from_le_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32> {
        self.array(field).map(u32::from_le_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64> {
        self.array(field).map(u64::from_le_bytes)
    }

    fn f32(&mut self, field: &'static str) -> Result<f32> {
        self.array(field).map(f32::from_le_bytes)
    }

    fn enum_u8<T>(&mut self, field: &'static str, from: fn(u8) -> Option<T>) -> Result<T> {
        let value = self.u8(field)?;
        from(value).ok_or(DecodeError::BadEnum { field, value })
    }

    fn bool(&mut self, field: &'static str) -> Result<bool> {
        self.enum_u8(field, |b| match b {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        })
    }

    /// A u16 count, at most `max`.
    fn count16(&mut self, field: &'static str, max: usize) -> Result<usize> {
        let n = usize::from(self.u16(field)?);
        count(field, n, max)?;
        Ok(n)
    }

    fn finite_f32s(&mut self, field: &'static str, n: usize) -> Result<Vec<f32>> {
        let (chunks, _) = self.take(field, n.saturating_mul(4))?.as_chunks::<4>();
        let values: Vec<f32> = chunks.iter().map(|c| f32::from_le_bytes(*c)).collect();
        finite(field, values.iter().copied())?;
        Ok(values)
    }

    fn utf8(&mut self, field: &'static str, n: usize) -> Result<String> {
        let bytes = self.take(field, n)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })?;
        Ok(s.to_owned())
    }

    fn name(&mut self, field: &'static str) -> Result<String> {
        let n = usize::from(self.u8(field)?);
        self.utf8(field, n)
    }

    fn text(&mut self, field: &'static str) -> Result<String> {
        let n = usize::from(self.u16(field)?);
        count(field, n, MAX_TEXT_LEN)?;
        self.utf8(field, n)
    }

    fn image(&mut self) -> Result<Image> {
        let mut im = Image {
            name: self.name("Image.name")?,
            width: self.u16("Image.width")?,
            height: self.u16("Image.height")?,
            encoding: self.enum_u8("Image.encoding", ImageEncoding::from_u8)?,
            data: Vec::new(),
        };
        let len = usize::try_from(self.u32("Image.data")?).unwrap_or(usize::MAX);
        image_data("Image.data", &im, len)?;
        im.data = self.take("Image.data", len)?.to_vec();
        Ok(im)
    }

    fn header(&mut self) -> Result<Header> {
        let magic = self.array("header.magic")?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { got: magic });
        }
        let version = self.u8("header.version")?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                got: version,
                supported: PROTOCOL_VERSION,
            });
        }
        let kind = self.u8("header.kind")?;
        Ok(Header {
            kind: MessageKind::from_u8(kind).ok_or(DecodeError::UnknownKind(kind))?,
            seq: self.u64("header.seq")?,
            stamp_ns: self.u64("header.stamp_ns")?,
        })
    }

    fn finish(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

const _: () = assert!(HEADER_LEN == 2 + 1 + 1 + 8 + 8);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{messages::samples, validate};

    fn sample(kind: MessageKind) -> Message {
        samples().into_iter().find(|m| m.kind() == kind).unwrap()
    }

    fn frame() -> SensorFrame {
        match sample(MessageKind::SensorFrame) {
            Message::SensorFrame(f) => f,
            _ => unreachable!(),
        }
    }

    /// Replaces the one occurrence of `needle` in `bytes`.
    fn patch(bytes: &mut [u8], needle: &[u8], with: &[u8]) {
        let hits: Vec<usize> = (0..bytes.len())
            .filter(|&i| bytes[i..].starts_with(needle))
            .collect();
        assert_eq!(hits.len(), 1, "{needle:?} occurs {} times", hits.len());
        bytes[hits[0]..hits[0] + with.len()].copy_from_slice(with);
    }

    fn decoded_typed(bytes: &[u8], kind: MessageKind) -> Result<Message> {
        match kind {
            MessageKind::SensorFrame => decode_sensor_frame(bytes).map(Into::into),
            MessageKind::MotorCommand => decode_motor_command(bytes).map(Into::into),
            MessageKind::Status => decode_status(bytes).map(Into::into),
            MessageKind::Telemetry => decode_telemetry(bytes).map(Into::into),
            MessageKind::Estop => decode_estop(bytes).map(Into::into),
            MessageKind::Reset => decode_reset(bytes).map(Into::into),
        }
    }

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
    fn every_cut_is_truncated() {
        for m in samples() {
            let bytes = encode(&m);
            for cut in 0..bytes.len() {
                let err = decode(&bytes[..cut]).unwrap_err();
                assert!(
                    matches!(err, DecodeError::Truncated { needed, got, .. } if got < needed),
                    "{m:?} cut at {cut}: {err}"
                );
            }
        }
    }

    #[test]
    fn truncation_names_the_field() {
        let bytes = encode(&frame().into());
        let err = decode(&bytes[..HEADER_LEN + 3]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                field: "SensorFrame.robot",
                needed: 4,
                got: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "truncated while reading SensorFrame.robot: needed 4 bytes, 2 left"
        );
    }

    #[test]
    fn bad_magic() {
        let mut bytes = encode(&sample(MessageKind::Estop));
        bytes[1] = b'V';
        assert_eq!(decode(&bytes), Err(DecodeError::BadMagic { got: *b"UV" }));
        assert_eq!(
            decode_estop(b"{\"kind\":\"estop\"}"),
            Err(DecodeError::BadMagic { got: *b"{\"" })
        );
    }

    #[test]
    fn other_versions_are_unsupported() {
        for version in [0, 2, 255] {
            let mut bytes = encode(&sample(MessageKind::Reset));
            bytes[2] = version;
            let err = decode(&bytes).unwrap_err();
            assert_eq!(
                err,
                DecodeError::UnsupportedVersion {
                    got: version,
                    supported: 1
                }
            );
            assert_eq!(peek_header(&bytes), Err(err));
        }
    }

    #[test]
    fn unknown_kinds() {
        for kind in [0, 7, 255] {
            let mut bytes = encode(&sample(MessageKind::Reset));
            bytes[3] = kind;
            assert_eq!(decode(&bytes), Err(DecodeError::UnknownKind(kind)));
            assert_eq!(decode_reset(&bytes), Err(DecodeError::UnknownKind(kind)));
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

    #[test]
    fn non_finite_in_every_float_field() {
        type Poke = fn(&mut Message, f32);
        let fields: [(&str, Poke); 6] = [
            ("SensorFrame.positions", |m, x| {
                if let Message::SensorFrame(f) = m {
                    f.positions[1] = x;
                }
            }),
            ("SensorFrame.velocities", |m, x| {
                if let Message::SensorFrame(f) = m {
                    f.velocities[1] = x;
                }
            }),
            ("SensorFrame.efforts", |m, x| {
                if let Message::SensorFrame(f) = m {
                    f.efforts[1] = x;
                }
            }),
            ("SensorFrame.channels.value", |m, x| {
                if let Message::SensorFrame(f) = m {
                    f.channels[1].1 = x;
                }
            }),
            ("MotorCommand.values", |m, x| {
                if let Message::MotorCommand(c) = m {
                    c.values[1] = x;
                }
            }),
            ("Telemetry.values.value", |m, x| {
                if let Message::Telemetry(t) = m {
                    t.values[1].1 = f64::from(x);
                }
            }),
        ];
        for (field, poke) in fields {
            for x in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let kind = if field.starts_with("Sensor") {
                    MessageKind::SensorFrame
                } else if field.starts_with("Motor") {
                    MessageKind::MotorCommand
                } else {
                    MessageKind::Telemetry
                };
                let mut m = sample(kind);
                poke(&mut m, x);
                let want = DecodeError::NonFinite { field, index: 1 };
                assert_eq!(decode(&encode(&m)), Err(want.clone()), "{field} = {x}");
                assert_eq!(validate(&m), Err(want));
            }
        }
        let err = DecodeError::NonFinite {
            field: "SensorFrame.efforts",
            index: 1,
        };
        assert_eq!(err.to_string(), "SensorFrame.efforts[1] is not finite");
    }

    #[test]
    fn depth_pixels_may_be_non_finite() {
        let mut f = frame();
        f.images[1].data = f32::INFINITY.to_le_bytes().to_vec();
        let m = Message::from(f);
        assert_eq!(decode(&encode(&m)), Ok(m));
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
    fn image_size_mismatch() {
        let mut f = frame();
        f.images[0].data.pop();
        assert_eq!(
            decode(&encode(&f.into())),
            Err(DecodeError::LengthMismatch {
                field: "Image.data",
                expected: 6,
                got: 5
            })
        );
        // Width and height declare 2 x 1 RGB pixels; patch the width to 3.
        let mut bytes = encode(&frame().into());
        patch(&mut bytes, b"\x03cam\x02\x00", b"\x03cam\x03\x00");
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::LengthMismatch {
                field: "Image.data",
                expected: 9,
                got: 6
            })
        );
    }

    #[test]
    fn invalid_utf8_in_every_string() {
        let cases: [(MessageKind, &[u8], &str); 7] = [
            (MessageKind::SensorFrame, b"arm2", "SensorFrame.robot"),
            (
                MessageKind::SensorFrame,
                b"grip",
                "SensorFrame.channels.name",
            ),
            (MessageKind::SensorFrame, b"depth", "Image.name"),
            (MessageKind::Status, b"stale", "Status.message"),
            (MessageKind::Telemetry, b"plan_ms", "Telemetry.values.name"),
            (MessageKind::Telemetry, b"\x02\x00ok", "Telemetry.note"),
            (MessageKind::Estop, b"button", "Estop.reason"),
        ];
        for (kind, needle, field) in cases {
            let mut bytes = encode(&sample(kind));
            let at = needle.len() - 1;
            let mut bad = needle.to_vec();
            bad[at] = 0xC3; // a lead byte with no continuation
            patch(&mut bytes, needle, &bad);
            assert_eq!(decode(&bytes), Err(DecodeError::InvalidUtf8 { field }));
        }
    }

    #[test]
    fn bad_enum_values() {
        let at = HEADER_LEN;
        let cases = [
            (MessageKind::MotorCommand, at + 16, 3, "MotorCommand.mode"),
            (MessageKind::Status, at, 6, "Status.state"),
            (MessageKind::Estop, at, 2, "Estop.engage"),
            (MessageKind::Estop, at, 255, "Estop.engage"),
            (MessageKind::Reset, at, 2, "Reset.has_seed"),
        ];
        for (kind, offset, value, field) in cases {
            let mut bytes = encode(&sample(kind));
            bytes[offset] = value;
            assert_eq!(decode(&bytes), Err(DecodeError::BadEnum { field, value }));
        }
        let mut bytes = encode(&frame().into());
        patch(
            &mut bytes,
            b"cam\x02\x00\x01\x00\x01",
            b"cam\x02\x00\x01\x00\x03",
        );
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::BadEnum {
                field: "Image.encoding",
                value: 3
            })
        );
    }

    /// `m` breaks the limit `max` on `field`: `validate` says so, and its
    /// encoding decodes to `TooLarge` with the (saturated) length `wire_len`.
    fn assert_too_large(m: Message, field: &'static str, wire_len: usize, max: usize) {
        let err = validate(&m).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { field: f, max: x, .. } if f == field && x == max),
            "{err}"
        );
        let want = DecodeError::TooLarge {
            field,
            len: wire_len,
            max,
        };
        assert_eq!(decode(&encode(&m)), Err(want));
    }

    #[test]
    fn oversize_counts() {
        let mut f = frame();
        f.positions = vec![0.0; MAX_JOINTS + 1];
        f.velocities = f.positions.clone();
        f.efforts = f.positions.clone();
        assert_too_large(f.into(), "SensorFrame.joints", MAX_JOINTS + 1, MAX_JOINTS);

        let mut f = frame();
        f.channels = vec![("c".into(), 0.0); MAX_CHANNELS + 1];
        let field = "SensorFrame.channels";
        assert_too_large(f.into(), field, MAX_CHANNELS + 1, MAX_CHANNELS);

        let mut f = frame();
        f.images = vec![f.images[0].clone(); 300]; // more than a u8 count holds
        assert_too_large(f.into(), "SensorFrame.images", 255, MAX_IMAGES);

        let Message::MotorCommand(mut c) = sample(MessageKind::MotorCommand) else {
            unreachable!()
        };
        c.values = vec![0.0; 70_000]; // more than a u16 count holds
        assert_too_large(c.into(), "MotorCommand.values", 65_535, MAX_VALUES);

        let t = Telemetry {
            values: vec![("v".into(), 0.0); MAX_VALUES + 1],
            ..Telemetry::default()
        };
        assert_too_large(t.into(), "Telemetry.values", MAX_VALUES + 1, MAX_VALUES);

        let t = Telemetry {
            note: "n".repeat(MAX_TEXT_LEN + 1),
            ..Telemetry::default()
        };
        assert_too_large(t.into(), "Telemetry.note", MAX_TEXT_LEN + 1, MAX_TEXT_LEN);

        let Message::Estop(mut e) = sample(MessageKind::Estop) else {
            unreachable!()
        };
        e.reason = "r".repeat(100_000);
        assert_too_large(e.into(), "Estop.reason", 65_535, MAX_TEXT_LEN);

        // An image length over 64 MiB is refused before its bytes are read.
        let mut bytes = encode(&frame().into());
        let huge = (64u32 << 20) + 1;
        let mut with = vec![1]; // Rgb8, then the length
        with.extend(huge.to_le_bytes());
        patch(&mut bytes, b"\x01\x06\x00\x00\x00", &with);
        let want = DecodeError::TooLarge {
            field: "Image.data",
            len: (64 << 20) + 1,
            max: 64 << 20,
        };
        assert_eq!(decode(&bytes), Err(want));
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
    fn limits_are_inclusive() {
        let mut f = frame();
        f.robot = "r".repeat(MAX_NAME_LEN);
        f.positions = vec![1.0; MAX_JOINTS];
        f.velocities = f.positions.clone();
        f.efforts = f.positions.clone();
        f.images = vec![f.images[0].clone(); MAX_IMAGES];
        let t = Telemetry {
            note: "n".repeat(MAX_TEXT_LEN),
            ..Telemetry::default()
        };
        for m in [Message::from(f), t.into()] {
            assert_eq!(decode(&encode(&m)).as_ref(), Ok(&m));
        }
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
