//! The protocol's rules on a message's contents, shared by the sender
//! ([`validate`]) and the decoder.

use super::{
    DecodeError, Image, MAX_CHANNELS, MAX_IMAGE_BYTES, MAX_IMAGES, MAX_JOINTS, MAX_NAME_LEN,
    MAX_TEXT_LEN, MAX_VALUES, Message,
};

type Result<T = ()> = std::result::Result<T, DecodeError>;

/// Checks that `msg` may be sent: every count, length and string within its
/// limit, joint arrays of one length, image data of the size its header
/// declares, and every float finite (image pixels excepted).
///
/// A message passes if and only if its encoding decodes, to an equal
/// message; it fails with the error the decoder would report, except that an
/// overlong name decodes as [`DecodeError::InvalidUtf8`] and joint arrays of
/// different lengths as [`DecodeError::NonFinite`] (see
/// [`encode_into`](super::encode_into)). Checks run in wire order.
pub fn validate(msg: &Message) -> Result {
    match msg {
        Message::SensorFrame(f) => {
            name("SensorFrame.robot", &f.robot)?;
            let n = f.positions.len();
            count("SensorFrame.joints", n, MAX_JOINTS)?;
            for (field, v) in [
                ("SensorFrame.velocities", &f.velocities),
                ("SensorFrame.efforts", &f.efforts),
            ] {
                if v.len() != n {
                    return Err(DecodeError::LengthMismatch {
                        field,
                        expected: n,
                        got: v.len(),
                    });
                }
            }
            finite("SensorFrame.positions", f.positions.iter().copied())?;
            finite("SensorFrame.velocities", f.velocities.iter().copied())?;
            finite("SensorFrame.efforts", f.efforts.iter().copied())?;
            count("SensorFrame.channels", f.channels.len(), MAX_CHANNELS)?;
            for (n, _) in &f.channels {
                name("SensorFrame.channels.name", n)?;
            }
            finite(
                "SensorFrame.channels.value",
                f.channels.iter().map(|(_, v)| *v),
            )?;
            count("SensorFrame.images", f.images.len(), MAX_IMAGES)?;
            f.images.iter().try_for_each(|im| {
                name("Image.name", &im.name)?;
                image_data("Image.data", im, im.data.len())
            })
        }
        Message::MotorCommand(c) => {
            count("MotorCommand.values", c.values.len(), MAX_VALUES)?;
            finite("MotorCommand.values", c.values.iter().copied())
        }
        Message::Status(s) => {
            name("Status.node", &s.node)?;
            text("Status.message", &s.message)
        }
        Message::Telemetry(t) => {
            count("Telemetry.values", t.values.len(), MAX_VALUES)?;
            for (n, _) in &t.values {
                name("Telemetry.values.name", n)?;
            }
            finite("Telemetry.values.value", t.values.iter().map(|(_, v)| *v))?;
            text("Telemetry.note", &t.note)
        }
        Message::Estop(e) => text("Estop.reason", &e.reason),
        Message::Reset(_) => Ok(()),
    }
}

/// `len` must not exceed `max`.
pub(super) fn count(field: &'static str, len: usize, max: usize) -> Result {
    if len > max {
        return Err(DecodeError::TooLarge { field, len, max });
    }
    Ok(())
}

fn name(field: &'static str, s: &str) -> Result {
    count(field, s.len(), MAX_NAME_LEN)
}

fn text(field: &'static str, s: &str) -> Result {
    count(field, s.len(), MAX_TEXT_LEN)
}

/// Every value must be finite; the error names the first that is not.
pub(super) fn finite<T: Into<f64>>(
    field: &'static str,
    values: impl IntoIterator<Item = T>,
) -> Result {
    match values.into_iter().position(|v| !v.into().is_finite()) {
        Some(index) => Err(DecodeError::NonFinite { field, index }),
        None => Ok(()),
    }
}

/// An image's payload of `len` bytes must be within the limit and match its
/// width, height and encoding (`im.data` is not looked at).
pub(super) fn image_data(field: &'static str, im: &Image, len: usize) -> Result {
    count(field, len, MAX_IMAGE_BYTES)?;
    let expected = usize::from(im.width)
        .saturating_mul(usize::from(im.height))
        .saturating_mul(im.encoding.bytes_per_pixel());
    if len != expected {
        return Err(DecodeError::LengthMismatch {
            field,
            expected,
            got: len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageEncoding, MotorCommand, SensorFrame, messages::samples};

    fn frame() -> SensorFrame {
        match samples().swap_remove(0) {
            Message::SensorFrame(f) => f,
            _ => unreachable!(),
        }
    }

    #[test]
    fn samples_are_valid() {
        for m in samples() {
            assert_eq!(validate(&m), Ok(()), "{m:?}");
        }
    }

    #[test]
    fn joint_arrays_must_have_one_length() {
        let mut f = frame();
        f.efforts.push(0.0);
        assert_eq!(
            validate(&f.into()),
            Err(DecodeError::LengthMismatch {
                field: "SensorFrame.efforts",
                expected: 2,
                got: 3
            })
        );
        let mut f = frame();
        f.velocities.clear();
        assert_eq!(
            validate(&f.into()),
            Err(DecodeError::LengthMismatch {
                field: "SensorFrame.velocities",
                expected: 2,
                got: 0
            })
        );
    }

    #[test]
    fn image_size_must_match() {
        let mut f = frame();
        f.images[1].encoding = ImageEncoding::Mono8;
        assert_eq!(
            validate(&f.into()),
            Err(DecodeError::LengthMismatch {
                field: "Image.data",
                expected: 1,
                got: 4
            })
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let mut f = frame();
        f.robot = "r".repeat(MAX_NAME_LEN);
        assert_eq!(validate(&f.clone().into()), Ok(()));
        f.robot.push('r');
        assert_eq!(
            validate(&f.into()),
            Err(DecodeError::TooLarge {
                field: "SensorFrame.robot",
                len: 256,
                max: 255
            })
        );
        let cmd = |n| MotorCommand {
            seq: 0,
            stamp_ns: 0,
            answers_seq: 0,
            deadline_ns: 0,
            mode: crate::CommandMode::Torque,
            values: vec![0.0; n],
        };
        assert_eq!(validate(&cmd(MAX_VALUES).into()), Ok(()));
        assert!(matches!(
            validate(&cmd(MAX_VALUES + 1).into()),
            Err(DecodeError::TooLarge {
                field: "MotorCommand.values",
                len: 1025,
                max: 1024
            })
        ));
    }

    #[test]
    fn first_non_finite_is_named() {
        assert_eq!(
            finite("x", [1.0f32, f32::NAN, f32::INFINITY]),
            Err(DecodeError::NonFinite {
                field: "x",
                index: 1
            })
        );
        assert_eq!(finite("x", [f64::MAX, f64::MIN_POSITIVE, -0.0]), Ok(()));
    }
}
