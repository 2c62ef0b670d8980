//! Where encoded bytes go: the [`Sink`] a message is written into (a buffer,
//! or a byte counter for `encoded_len`), with the field primitives of the
//! wire format (little-endian scalars, names, texts, counts, blobs).

use crate::MAX_NAME_LEN;

/// Where encoded bytes go: a buffer, or a counter for
/// [`encoded_len`](super::encoded_len).
pub(super) trait Sink {
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

/// Counts the bytes put into it, writing none.
pub(super) struct Counter(pub(super) usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}
