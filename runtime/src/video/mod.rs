//! Video files a web browser plays: RGBA frames encoded to H.264
//! (Constrained Baseline, by Cisco's OpenH264 built from source) in an MP4
//! container (the `mp4` crate). One video track, constant frame rate, a
//! key frame every two seconds (so players can seek).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode,
};
use openh264::formats::{RgbaSliceU8, YUVBuffer};

/// Ticks per second of the MP4 track's clock (the usual video clock).
const TIMESCALE: u32 = 90_000;
/// Quantiser range of the encoder (lower is finer, 0..=51).
const QP_MIN: u8 = 34;
/// See [`QP_MIN`].
const QP_MAX: u8 = 46;
/// The encoder checks a target exists; buffer-based control ignores it.
const TARGET_BPS: u32 = 250_000;

/// Why a video could not be written.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The file could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The video file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The encoder failed.
    #[error("{path}: H.264 encoder: {message}")]
    Encode {
        /// The video file.
        path: PathBuf,
        /// What it said.
        message: String,
    },
    /// The MP4 muxer failed.
    #[error("{path}: MP4: {message}")]
    Mux {
        /// The video file.
        path: PathBuf,
        /// What it said.
        message: String,
    },
    /// A size, rate or frame that cannot make a video.
    #[error("{path}: {message}")]
    Invalid {
        /// The video file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// What was written.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VideoInfo {
    /// The file.
    pub path: PathBuf,
    /// Frames in the file.
    pub frames: u64,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// File size, bytes.
    pub bytes: u64,
}

/// An MP4 file being written, one RGBA frame at a time.
pub struct Mp4Writer {
    path: PathBuf,
    encoder: Encoder,
    mux: mp4::Mp4Writer<BufWriter<File>>,
    yuv: YUVBuffer,
    width: u32,
    height: u32,
    frame_ticks: u32,
    track: bool,
    frames: u64,
    /// The last encoded frame, written once the next one (or the end)
    /// says how long it lasts: `(start tick, sync, AVCC bytes)`.
    pending: Option<(u64, bool, Vec<u8>)>,
    next_tick: u64,
}

impl Mp4Writer {
    /// Creates `path` (replacing it) for frames of `width x height`
    /// (even, 16..=4096) at `fps` frames per second (0.5..=240).
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self, VideoError> {
        let invalid = |message: String| VideoError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if !(16..=4096).contains(&width)
            || !(16..=4096).contains(&height)
            || !width.is_multiple_of(2)
            || !height.is_multiple_of(2)
        {
            return Err(invalid(format!(
                "frame size {width}x{height}: both must be even and in 16..=4096"
            )));
        }
        if !(fps.is_finite() && (0.5..=240.0).contains(&fps)) {
            return Err(invalid(format!("{fps} frames/s: must be in 0.5..=240")));
        }
        let config = EncoderConfig::new()
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            // Quality from the buffer's state within a QP range, no frame
            // ever skipped (the bit-rate modes warn on stderr without
            // skipping). Flat drawings look clean at QP 34-46: the
            // cart-pole's 10 s take about 150 KB.
            .rate_control_mode(RateControlMode::Bufferbased)
            .qp(QpRange::new(QP_MIN, QP_MAX))
            .bitrate(BitRate::from_bps(TARGET_BPS))
            // Every frame becomes a sample: the file's frame count is the
            // count pushed.
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                (2.0 * fps).round().max(1.0) as u32,
            ))
            // One thread: the same bytes on every machine.
            .num_threads(1);
        let encoder = Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
            .map_err(|e| VideoError::Encode {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let file = File::create(path).map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mux_config = mp4::Mp4Config {
            major_brand: str::parse("isom").map_err(|e| mux_err(path, e))?,
            minor_version: 512,
            compatible_brands: ["isom", "iso2", "avc1", "mp41"]
                .iter()
                .map(|b| str::parse(b))
                .collect::<Result<_, _>>()
                .map_err(|e| mux_err(path, e))?,
            timescale: 1000,
        };
        let mux = mp4::Mp4Writer::write_start(BufWriter::new(file), &mux_config)
            .map_err(|e| mux_err(path, e))?;
        Ok(Mp4Writer {
            path: path.to_path_buf(),
            encoder,
            mux,
            yuv: YUVBuffer::new(width as usize, height as usize),
            width,
            height,
            frame_ticks: (f64::from(TIMESCALE) / fps).round() as u32,
            track: false,
            frames: 0,
            pending: None,
            next_tick: 0,
        })
    }

    /// Encodes one frame: `rgba` holds `width x height` pixels, 4 bytes
    /// each, rows top to bottom (alpha is ignored).
    pub fn push_rgba(&mut self, rgba: &[u8]) -> Result<(), VideoError> {
        let (w, h) = (self.width as usize, self.height as usize);
        if rgba.len() != w * h * 4 {
            return Err(VideoError::Invalid {
                path: self.path.clone(),
                message: format!("a frame of {} bytes, not {w}x{h}x4", rgba.len()),
            });
        }
        self.yuv.read_rgb(RgbaSliceU8::new(rgba, (w, h)));
        let bs = self
            .encoder
            .encode(&self.yuv)
            .map_err(|e| VideoError::Encode {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        let sync = bs.frame_type() == FrameType::IDR;
        let (mut sps, mut pps, mut sample) = (None, None, Vec::new());
        for l in 0..bs.num_layers() {
            let Some(layer) = bs.layer(l) else { continue };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n).map(strip_start_code) else {
                    continue;
                };
                match nal.first().map(|b| b & 0x1f) {
                    None => {}
                    Some(7) => sps = Some(nal.to_vec()),
                    Some(8) => pps = Some(nal.to_vec()),
                    Some(_) => {
                        // AVCC: each NAL unit behind its 4-byte length.
                        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                }
            }
        }
        if !self.track {
            let (Some(sps), Some(pps)) = (sps, pps) else {
                return Err(VideoError::Encode {
                    path: self.path.clone(),
                    message: "the first frame carries no SPS/PPS".into(),
                });
            };
            let conf = mp4::TrackConfig {
                track_type: mp4::TrackType::Video,
                timescale: TIMESCALE,
                language: "und".into(),
                media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
                    width: self.width as u16,
                    height: self.height as u16,
                    seq_param_set: sps,
                    pic_param_set: pps,
                }),
            };
            self.mux
                .add_track(&conf)
                .map_err(|e| mux_err(&self.path, e))?;
            self.track = true;
        }
        if sample.is_empty() {
            // A skipped frame: the previous one lasts longer.
            self.next_tick += u64::from(self.frame_ticks);
            return Ok(());
        }
        self.flush_pending()?;
        self.pending = Some((self.next_tick, sync, sample));
        self.next_tick += u64::from(self.frame_ticks);
        self.frames += 1;
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<(), VideoError> {
        if let Some((start, sync, bytes)) = self.pending.take() {
            let duration =
                u32::try_from(self.next_tick - start).map_err(|_| VideoError::Invalid {
                    path: self.path.clone(),
                    message: "a frame lasts too long".into(),
                })?;
            let sample = mp4::Mp4Sample {
                start_time: start,
                duration,
                rendering_offset: 0,
                is_sync: sync,
                bytes: bytes.into(),
            };
            self.mux
                .write_sample(1, &sample)
                .map_err(|e| mux_err(&self.path, e))?;
        }
        Ok(())
    }

    /// Writes the last frame and the index, closes the file.
    pub fn finish(mut self) -> Result<VideoInfo, VideoError> {
        if self.frames == 0 {
            return Err(VideoError::Invalid {
                path: self.path.clone(),
                message: "no frames".into(),
            });
        }
        self.flush_pending()?;
        self.mux.write_end().map_err(|e| mux_err(&self.path, e))?;
        let writer = self.mux.into_writer();
        writer.into_inner().map_err(|e| VideoError::Io {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        let bytes = std::fs::metadata(&self.path)
            .map_err(|source| VideoError::Io {
                path: self.path.clone(),
                source,
            })?
            .len();
        Ok(VideoInfo {
            path: self.path,
            frames: self.frames,
            width: self.width,
            height: self.height,
            fps: f64::from(TIMESCALE) / f64::from(self.frame_ticks),
            bytes,
        })
    }
}

fn mux_err(path: &Path, e: impl std::fmt::Display) -> VideoError {
    VideoError::Mux {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A NAL unit without its Annex B start code (`00 00 01` or `00 00 00 01`).
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}
