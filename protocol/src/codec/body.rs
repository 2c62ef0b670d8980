//! The body of each message kind, read after the header: one function per
//! kind, each validating every field it reads.

use super::reader::Reader;
use super::{Header, Result};
use crate::validate::count;
use crate::{
    Applied, CommandMode, DecodeError, Estop, MAX_CHANNELS, MAX_IMAGES, MAX_JOINTS, MAX_VALUES,
    MotorCommand, NodeState, Reset, SensorFrame, Status, Stepping, Telemetry,
};

pub(super) fn sensor_frame(r: &mut Reader<'_>, h: Header) -> Result<SensorFrame> {
    let robot = r.name("SensorFrame.robot")?;
    let applied = match r.u8("SensorFrame.applied")? {
        0 => Applied::None,
        1 => Applied::Command(r.u64("SensorFrame.applied_seq")?),
        2 => Applied::Safe,
        3 => Applied::Reset(r.u64("SensorFrame.applied_seq")?),
        value => {
            let field = "SensorFrame.applied";
            return Err(DecodeError::BadEnum { field, value });
        }
    };
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
        applied,
        positions,
        velocities,
        efforts,
        channels,
        images,
    })
}

pub(super) fn motor_command(r: &mut Reader<'_>, h: Header) -> Result<MotorCommand> {
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

pub(super) fn status(r: &mut Reader<'_>, h: Header) -> Result<Status> {
    Ok(Status {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        node: r.name("Status.node")?,
        stepping: r.enum_u8("Status.stepping", Stepping::from_u8)?,
        state: r.enum_u8("Status.state", NodeState::from_u8)?,
        episode: r.u32("Status.episode")?,
        step: r.u32("Status.step")?,
        message: r.text("Status.message")?,
    })
}

pub(super) fn telemetry(r: &mut Reader<'_>, h: Header) -> Result<Telemetry> {
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

pub(super) fn estop(r: &mut Reader<'_>, h: Header) -> Result<Estop> {
    Ok(Estop {
        seq: h.seq,
        stamp_ns: h.stamp_ns,
        engage: r.bool("Estop.engage")?,
        reason: r.text("Estop.reason")?,
    })
}

pub(super) fn reset(r: &mut Reader<'_>, h: Header) -> Result<Reset> {
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

#[cfg(test)]
mod tests {
    use crate::codec::test_support::{frame, patch, sample};
    use crate::{
        DecodeError, HEADER_LEN, MAX_CHANNELS, MAX_IMAGES, MAX_JOINTS, MAX_NAME_LEN, MAX_TEXT_LEN,
        MAX_VALUES, Message, MessageKind, Telemetry, decode, encode, validate,
    };

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
            // After the 4-byte name "arm2": the applied tag.
            (MessageKind::SensorFrame, at + 5, 4, "SensorFrame.applied"),
            // After the 4-byte node name "sim": stepping, then state.
            (MessageKind::Status, at + 4, 2, "Status.stepping"),
            (MessageKind::Status, at + 5, 6, "Status.state"),
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
}
