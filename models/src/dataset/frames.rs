//! Camera frames of an episode: one RGB8 (or grey) image per observation,
//! kept as bytes (a pixel model's stack of recent frames is assembled when
//! a batch is drawn), and their file beside the episode's.
//!
//! File `000123.ep.frames` beside episode `000123.ep` (little-endian):
//!
//! ```text
//! 0   4  magic "UWFR"
//! 4   4  u32 format version (1)
//! 8   2  u16 width
//! 10  2  u16 height
//! 12  1  u8  channels (1 grey, 3 RGB)
//! 13  3  zero
//! 16  8  u64 frames N
//! 24  8  u64 compressed length C
//! 32  4  u32 CRC32 of the C bytes that follow
//! 36  C  zstd of N frames, each height x width x channels bytes, row-major from the top left
//! ```
//!
//! zstd, not PNG per frame: a learning run writes ~10^5 frames, and one
//! compressed plane per episode is smaller and far faster to read back.

use std::path::{Path, PathBuf};

use super::{DatasetError, Result};

/// First four bytes of a frames file.
pub const FRAMES_MAGIC: [u8; 4] = *b"UWFR";
/// Version of the frames file this build writes and reads.
pub const FRAMES_VERSION: u32 = 1;
/// Length of a frames file's header.
pub const FRAMES_HEADER_LEN: usize = 36;
/// The largest side of a frame, pixels.
pub const MAX_FRAME_SIDE: u16 = 1024;
/// The most frames one episode may hold (a frame per control step).
pub const MAX_FRAMES: u64 = 1 << 20;

/// An episode's camera frames: `len()` images of `width x height x
/// channels` bytes, frame `t` seen with observation `t`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frames {
    width: u16,
    height: u16,
    channels: u8,
    data: Vec<u8>,
}

impl Frames {
    /// No frames yet, of the given size; 1 (grey) or 3 (RGB) channels, sides
    /// in `1..=1024`.
    pub fn new(width: u16, height: u16, channels: u8) -> Result<Self> {
        if !(1..=MAX_FRAME_SIDE).contains(&width)
            || !(1..=MAX_FRAME_SIDE).contains(&height)
            || !matches!(channels, 1 | 3)
        {
            return Err(DatasetError::InvalidFrames(format!(
                "frames of {width}x{height}x{channels}: sides must lie in 1..={MAX_FRAME_SIDE} \
                 and channels be 1 or 3"
            )));
        }
        Ok(Self {
            width,
            height,
            channels,
            data: Vec::new(),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u16 {
        self.height
    }

    /// Bytes per pixel.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// Bytes of one frame.
    pub fn frame_len(&self) -> usize {
        self.width as usize * self.height as usize * self.channels as usize
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.data.len() / self.frame_len()
    }

    /// True without frames.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Frame `t`.
    ///
    /// # Panics
    /// If `t >= len()`, like slice indexing.
    pub fn frame(&self, t: usize) -> &[u8] {
        let n = self.frame_len();
        &self.data[t * n..(t + 1) * n]
    }

    /// Appends a frame; one of another size is an error.
    pub fn push(&mut self, frame: &[u8]) -> Result<()> {
        if frame.len() != self.frame_len() {
            return Err(DatasetError::InvalidFrames(format!(
                "a frame of {} bytes, {}x{}x{} needs {}",
                frame.len(),
                self.width,
                self.height,
                self.channels,
                self.frame_len()
            )));
        }
        self.data.extend_from_slice(frame);
        Ok(())
    }

    /// The frames at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: impl Iterator<Item = usize>) -> Frames {
        let mut out = Frames {
            data: Vec::new(),
            ..*self
        };
        for t in indices {
            out.data.extend_from_slice(self.frame(t));
        }
        out
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let packed = zstd::bulk::compress(&self.data, 3)
            .map_err(|e| DatasetError::InvalidFrames(format!("compressing frames: {e}")))?;
        let mut out = Vec::with_capacity(FRAMES_HEADER_LEN + packed.len());
        out.extend_from_slice(&FRAMES_MAGIC);
        out.extend_from_slice(&FRAMES_VERSION.to_le_bytes());
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&[self.channels, 0, 0, 0]);
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        out.extend_from_slice(&(packed.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&packed).to_le_bytes());
        out.extend_from_slice(&packed);
        Ok(out)
    }

    /// Parses a frames file's bytes; `path` names the source in errors.
    /// Every size is checked before anything is allocated.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Frames> {
        let bad = |m: String| DatasetError::InvalidFrames(format!("{}: {m}", path.display()));
        if bytes.len() < FRAMES_HEADER_LEN || bytes[..4] != FRAMES_MAGIC {
            return Err(bad("not a frames file (magic UWFR, 36-byte header)".into()));
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let version = u32_at(4);
        if version != FRAMES_VERSION {
            return Err(bad(format!(
                "format version {version}, this build reads {FRAMES_VERSION}"
            )));
        }
        let mut frames =
            Frames::new(u16_at(8), u16_at(10), bytes[12]).map_err(|e| bad(e.to_string()))?;
        let (n, c) = (u64_at(16), u64_at(24));
        if n > MAX_FRAMES {
            return Err(bad(format!("{n} frames, at most {MAX_FRAMES}")));
        }
        if c != (bytes.len() - FRAMES_HEADER_LEN) as u64 {
            return Err(bad(format!(
                "{} compressed bytes follow the header, it says {c}",
                bytes.len() - FRAMES_HEADER_LEN
            )));
        }
        let packed = &bytes[FRAMES_HEADER_LEN..];
        if crc32fast::hash(packed) != u32_at(32) {
            return Err(bad("checksum mismatch".into()));
        }
        let expected = n as usize * frames.frame_len();
        let data = zstd::bulk::decompress(packed, expected)
            .map_err(|e| bad(format!("decompressing: {e}")))?;
        if data.len() != expected {
            return Err(bad(format!(
                "{} bytes of frames, {n} frames need {expected}",
                data.len()
            )));
        }
        frames.data = data;
        Ok(frames)
    }

    /// Reads a frames file.
    pub fn read(path: &Path) -> Result<Frames> {
        let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }
}

/// The frames file of the episode file `episode`: `000123.ep.frames`.
pub fn frames_path(episode: &Path) -> PathBuf {
    let mut p = episode.as_os_str().to_owned();
    p.push(".frames");
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Frames {
        let mut f = Frames::new(4, 3, 3).unwrap();
        for t in 0..5u8 {
            let frame: Vec<u8> = (0..36u8)
                .map(|i| i.wrapping_mul(7).wrapping_add(t))
                .collect();
            f.push(&frame).unwrap();
        }
        f
    }

    #[test]
    fn round_trips_and_selects() {
        let f = sample();
        assert_eq!(f.len(), 5);
        let back = Frames::from_bytes(&f.to_bytes().unwrap(), Path::new("x")).unwrap();
        assert_eq!(back, f);
        let s = f.select([4, 0].into_iter());
        assert_eq!(s.frame(0), f.frame(4));
        assert_eq!(s.frame(1), f.frame(0));
    }

    #[test]
    fn bad_files_and_frames_are_errors() {
        let f = sample();
        let mut bytes = f.to_bytes().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let e = Frames::from_bytes(&bytes, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum"), "{e}");
        let e = Frames::from_bytes(&bytes[..20], Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a frames file"), "{e}");
        let mut huge = f.to_bytes().unwrap();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = Frames::from_bytes(&huge, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most"), "{e}");
        assert!(Frames::new(0, 3, 3).is_err() && Frames::new(4, 3, 2).is_err());
        let mut g = Frames::new(2, 2, 1).unwrap();
        assert!(g.push(&[0; 3]).unwrap_err().to_string().contains("needs 4"));
    }
}
