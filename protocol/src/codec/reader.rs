//! The bounds-checked [`Reader`] of the wire format's fields: every read of
//! a decoder goes through it, so that no input can make decoding panic.

use super::{Header, Result};
use crate::validate::{count, finite, image_data};
use crate::{
    DecodeError, Image, ImageEncoding, MAGIC, MAX_TEXT_LEN, MessageKind, PROTOCOL_VERSION,
};

/// The unread rest of the input. Every read is bounds-checked.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

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

    pub(super) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| self.truncated(field, N))?;
        self.0 = rest;
        Ok(*head)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8> {
        self.array::<1>(field).map(|[b]| b)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16> {
        self.array(field).map(u16::from_le_bytes)
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32> {
        self.array(field).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64> {
        self.array(field).map(u64::from_le_bytes)
    }

    pub(super) fn f32(&mut self, field: &'static str) -> Result<f32> {
        self.array(field).map(f32::from_le_bytes)
    }

    pub(super) fn enum_u8<T>(
        &mut self,
        field: &'static str,
        from: fn(u8) -> Option<T>,
    ) -> Result<T> {
        let value = self.u8(field)?;
        from(value).ok_or(DecodeError::BadEnum { field, value })
    }

    pub(super) fn bool(&mut self, field: &'static str) -> Result<bool> {
        self.enum_u8(field, |b| match b {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        })
    }

    /// A u16 count, at most `max`.
    pub(super) fn count16(&mut self, field: &'static str, max: usize) -> Result<usize> {
        let n = usize::from(self.u16(field)?);
        count(field, n, max)?;
        Ok(n)
    }

    pub(super) fn finite_f32s(&mut self, field: &'static str, n: usize) -> Result<Vec<f32>> {
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

    pub(super) fn name(&mut self, field: &'static str) -> Result<String> {
        let n = usize::from(self.u8(field)?);
        self.utf8(field, n)
    }

    pub(super) fn text(&mut self, field: &'static str) -> Result<String> {
        let n = usize::from(self.u16(field)?);
        count(field, n, MAX_TEXT_LEN)?;
        self.utf8(field, n)
    }

    pub(super) fn image(&mut self) -> Result<Image> {
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

    pub(super) fn header(&mut self) -> Result<Header> {
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

    pub(super) fn finish(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::test_support::{frame, sample};
    use crate::messages::samples;
    use crate::{
        DecodeError, HEADER_LEN, MessageKind, decode, decode_estop, decode_reset, encode,
        peek_header,
    };

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
        for version in [0, 1, 3, 255] {
            let mut bytes = encode(&sample(MessageKind::Reset));
            bytes[2] = version;
            let err = decode(&bytes).unwrap_err();
            assert_eq!(
                err,
                DecodeError::UnsupportedVersion {
                    got: version,
                    supported: 2
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
}
