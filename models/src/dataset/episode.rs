//! One episode, and its binary file: a 36-byte header, then `f32` data.

use std::path::Path;
use std::sync::Arc;

use super::{DatasetError, FORMAT_VERSION, Frames, Result};

/// The first four bytes of every episode file.
pub const MAGIC: [u8; 4] = *b"UWEP";
/// Length of an episode file's header in bytes; the payload follows.
pub const HEADER_LEN: usize = 36;
/// Flag bit: the episode ended by the task's own logic (or a physics failure).
pub const FLAG_TERMINATED: u8 = 1 << 0;
/// Flag bit: the episode ended by its time limit.
pub const FLAG_TRUNCATED: u8 = 1 << 1;
/// Flag bit: the task's success held at the last step.
pub const FLAG_SUCCESS: u8 = 1 << 2;
const KNOWN_FLAGS: u8 = FLAG_TERMINATED | FLAG_TRUNCATED | FLAG_SUCCESS;

/// One episode: `len` steps of a robot under some policy.
///
/// `observations` holds `len + 1` rows of `obs_dim` values (the observation
/// after reset, then the one after each step), `actions` `len` rows of
/// `act_dim` values (as applied, in physical units) and `rewards` `len`
/// values; all row-major. Step `t` goes from `obs(t)` with `action(t)` to
/// `obs(t + 1)` and earns `rewards[t]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// The seed the environment was reset with.
    pub seed: u64,
    /// `(len + 1) x obs_dim` values, row-major.
    pub observations: Vec<f32>,
    /// `len x act_dim` values, row-major.
    pub actions: Vec<f32>,
    /// `len` values.
    pub rewards: Vec<f32>,
    /// The episode ended by the task's own logic (or a physics failure).
    pub terminated: bool,
    /// The episode ended by its time limit.
    pub truncated: bool,
    /// The task's success at the last step.
    pub success: bool,
    /// Camera frames, one per observation (`len + 1`), for pixel models;
    /// shared, so that copies of an episode (a sampler's normalised one, a
    /// piece) do not copy its images. Stored beside the episode's file.
    pub frames: Option<Arc<Frames>>,
}

impl Episode {
    /// The one way an episode is recorded, step by step, by every producer
    /// (collection, evaluation, learning, the sim node, recordings): starts
    /// an episode of `seed` at the observation after reset, with room for
    /// `capacity` steps of `act_dim` actions. Not yet ended: neither
    /// terminated, truncated nor successful until [`Episode::end`].
    pub fn begin(seed: u64, first_obs: &[f32], act_dim: usize, capacity: usize) -> Episode {
        let mut observations = Vec::with_capacity((capacity + 1) * first_obs.len());
        observations.extend_from_slice(first_obs);
        Episode {
            seed,
            observations,
            actions: Vec::with_capacity(capacity * act_dim),
            rewards: Vec::with_capacity(capacity),
            terminated: false,
            truncated: false,
            success: false,
            frames: None,
        }
    }

    /// Records the camera frame of the latest observation (call after
    /// [`Episode::begin`] and after each [`Episode::push_step`]); the first
    /// call fixes the frames' size, a frame of another size is an error.
    pub fn push_frame(
        &mut self,
        width: u16,
        height: u16,
        channels: u8,
        frame: &[u8],
    ) -> Result<()> {
        let frames = match &mut self.frames {
            Some(f) => f,
            None => self
                .frames
                .insert(Arc::new(Frames::new(width, height, channels)?)),
        };
        let f = Arc::make_mut(frames);
        if (f.width(), f.height(), f.channels()) != (width, height, channels) {
            return Err(DatasetError::InvalidFrames(format!(
                "a {width}x{height}x{channels} frame in an episode of {}x{}x{} frames",
                f.width(),
                f.height(),
                f.channels()
            )));
        }
        f.push(frame)
    }

    /// Records one step: `action` applied at the latest observation earned
    /// `reward` and led to `next_obs`.
    pub fn push_step(&mut self, action: &[f32], reward: f32, next_obs: &[f32]) {
        self.actions.extend_from_slice(action);
        self.rewards.push(reward);
        self.observations.extend_from_slice(next_obs);
    }

    /// Records how the episode ended.
    pub fn end(&mut self, terminated: bool, truncated: bool, success: bool) {
        self.terminated = terminated;
        self.truncated = truncated;
        self.success = success;
    }

    /// Number of steps (actions taken).
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// True for an episode without steps (only the initial observation).
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// Length of an observation vector (`observations.len() / (len + 1)`).
    pub fn obs_dim(&self) -> usize {
        self.observations.len() / (self.len() + 1)
    }

    /// Length of an action vector (`actions.len() / len`; 0 without steps).
    pub fn act_dim(&self) -> usize {
        self.actions.len().checked_div(self.len()).unwrap_or(0)
    }

    /// The observation at time `t` (0 = after reset, `len` = the last).
    ///
    /// # Panics
    /// If `t > len`, like slice indexing.
    pub fn obs(&self, t: usize) -> &[f32] {
        let d = self.obs_dim();
        &self.observations[t * d..(t + 1) * d]
    }

    /// The action applied at step `t`.
    ///
    /// # Panics
    /// If `t >= len`, like slice indexing.
    pub fn action(&self, t: usize) -> &[f32] {
        let d = self.act_dim();
        &self.actions[t * d..(t + 1) * d]
    }

    /// Sum of the rewards, accumulated in `f64` from the first step on.
    pub fn episode_return(&self) -> f64 {
        self.rewards.iter().map(|&r| r as f64).sum()
    }

    /// The episode as a model with an action repeat of `repeat` sees it:
    /// one step per block of `repeat` control steps, from the block's first
    /// observation with its action to the next block's first observation,
    /// earning the sum of the block's rewards. A trailing partial block is
    /// dropped (its reward covers fewer control steps than the others).
    ///
    /// The actions must be held within each block, as a planner with
    /// `action_repeat = repeat, hold = true` and a random policy recorded
    /// with that repeat hold them; an episode whose actions change inside a
    /// block is refused, since no single action explains its block.
    pub fn with_action_repeat(&self, repeat: usize) -> Result<Episode> {
        let bad = |message: String| DatasetError::InvalidEpisode {
            seed: self.seed,
            message,
        };
        if repeat == 0 {
            return Err(bad("an action repeat of 0".into()));
        }
        if repeat == 1 {
            return Ok(self.clone());
        }
        let blocks = self.len() / repeat;
        let (od, ad) = (self.obs_dim(), self.act_dim());
        let mut out = Episode {
            seed: self.seed,
            observations: Vec::with_capacity((blocks + 1) * od),
            actions: Vec::with_capacity(blocks * ad),
            rewards: Vec::with_capacity(blocks),
            // Cut short, the episode no longer ends where it ended.
            terminated: self.terminated && blocks * repeat == self.len(),
            truncated: self.truncated,
            success: self.success,
            frames: self
                .frames
                .as_ref()
                .map(|f| Arc::new(f.select((0..=blocks).map(|b| (b * repeat).min(f.len() - 1))))),
        };
        for b in 0..blocks {
            let t0 = b * repeat;
            let first = self.action(t0);
            for t in t0 + 1..t0 + repeat {
                if self.action(t) != first {
                    return Err(bad(format!(
                        "the action changes at step {t}, inside the block of {repeat} steps \
                         from step {t0}: it was not recorded with an action repeat of {repeat}"
                    )));
                }
            }
            out.observations.extend_from_slice(self.obs(t0));
            out.actions.extend_from_slice(first);
            out.rewards
                .push(self.rewards[t0..t0 + repeat].iter().sum::<f32>());
        }
        out.observations
            .extend_from_slice(self.obs(blocks * repeat));
        Ok(out)
    }

    /// The episode in pieces a model with an action repeat of `repeat` can
    /// learn from: every block of `repeat` control steps (counted from the
    /// first) whose action changes inside it is dropped, and the runs of
    /// held blocks around it become episodes of their own (truncated, as at
    /// a time limit; only the last keeps the episode's end and success).
    /// On a real-time robot a command that arrives late leaves the previous
    /// one in force for a step, so a block can hold two actions; what the
    /// robot did there is known, but no single action explains the block.
    ///
    /// An episode with no such block comes back whole, as the only piece.
    /// Returns the pieces (none shorter than one block, except a whole
    /// episode) and how many blocks were dropped.
    pub fn split_held(&self, repeat: usize) -> (Vec<Episode>, usize) {
        let repeat = repeat.max(1);
        let held = |t0: usize| (t0 + 1..t0 + repeat).all(|t| self.action(t) == self.action(t0));
        let blocks = self.len() / repeat;
        let mixed: Vec<usize> = (0..blocks).filter(|b| !held(b * repeat)).collect();
        if mixed.is_empty() {
            return (vec![self.clone()], 0);
        }
        let mut pieces = Vec::new();
        let mut start = 0usize;
        // Each mixed block ends the piece before it; the last piece runs to
        // the episode's end (a trailing partial block included, as in the
        // episode).
        for b in mixed.iter().copied().chain(std::iter::once(usize::MAX)) {
            let (end, last) = match b {
                usize::MAX => (self.len(), true),
                b => (b * repeat, false),
            };
            if end >= start + repeat {
                pieces.push(self.piece(start, end, last));
            }
            if !last {
                start = end + repeat;
            }
        }
        (pieces, mixed.len())
    }

    /// Steps `start..end` as an episode; `last`: it ends where this one
    /// does.
    fn piece(&self, start: usize, end: usize, last: bool) -> Episode {
        let (od, ad) = (self.obs_dim(), self.act_dim());
        Episode {
            seed: self.seed,
            observations: self.observations[start * od..(end + 1) * od].to_vec(),
            actions: self.actions[start * ad..end * ad].to_vec(),
            rewards: self.rewards[start..end].to_vec(),
            terminated: last && self.terminated,
            truncated: !last || self.truncated,
            success: last && self.success,
            frames: self
                .frames
                .as_ref()
                .map(|f| Arc::new(f.select(start..=end))),
        }
    }

    /// The header's flags byte for this episode.
    pub fn flags(&self) -> u8 {
        (self.terminated as u8 * FLAG_TERMINATED)
            | (self.truncated as u8 * FLAG_TRUNCATED)
            | (self.success as u8 * FLAG_SUCCESS)
    }

    /// Checks that the episode fits `obs_dim` and `act_dim` and holds only
    /// finite values; what [`encode_episode`] requires.
    pub fn validate(&self, obs_dim: usize, act_dim: usize) -> Result<()> {
        let bad = |message: String| DatasetError::InvalidEpisode {
            seed: self.seed,
            message,
        };
        let len = self.len();
        if [len, obs_dim, act_dim]
            .iter()
            .any(|&n| u32::try_from(n).is_err())
        {
            return Err(bad(format!(
                "{len} steps of dims {obs_dim} and {act_dim} do not fit the header"
            )));
        }
        let expect = [
            ("observations", self.observations.len(), (len + 1) * obs_dim),
            ("actions", self.actions.len(), len * act_dim),
        ];
        for (what, got, want) in expect {
            if got != want {
                return Err(bad(format!(
                    "{got} {what} values, expected {want} for {len} steps \
                     (observation dim {obs_dim}, action dim {act_dim})"
                )));
            }
        }
        for (what, values, dim) in [
            ("observations", &self.observations, obs_dim),
            ("actions", &self.actions, act_dim),
            ("rewards", &self.rewards, 1),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "non-finite value {} in {what} at step {}, component {}",
                    values[i],
                    i / dim.max(1),
                    i % dim.max(1)
                )));
            }
        }
        if let Some(f) = &self.frames
            && f.len() != len + 1
        {
            return Err(bad(format!(
                "{} camera frames for {} observations",
                f.len(),
                len + 1
            )));
        }
        Ok(())
    }
}

/// The fields of an episode file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpisodeHeader {
    /// Format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Length of an observation vector.
    pub obs_dim: u32,
    /// Length of an action vector.
    pub act_dim: u32,
    /// Number of steps.
    pub len: u32,
    /// The seed the environment was reset with.
    pub seed: u64,
    /// [`FLAG_TERMINATED`] | [`FLAG_TRUNCATED`] | [`FLAG_SUCCESS`].
    pub flags: u8,
    /// CRC32 (IEEE, as zlib's `crc32`) of the payload bytes.
    pub crc32: u32,
}

impl EpisodeHeader {
    /// Number of `f32` values in the payload:
    /// `(len + 1) * obs_dim + len * act_dim + len`.
    pub fn payload_values(&self) -> u128 {
        let (len, o, a) = (self.len as u128, self.obs_dim as u128, self.act_dim as u128);
        (len + 1) * o + len * a + len
    }

    /// Size in bytes of the whole file this header describes.
    pub fn file_size(&self) -> u128 {
        HEADER_LEN as u128 + 4 * self.payload_values()
    }

    /// The 36 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&self.format_version.to_le_bytes());
        b[8..12].copy_from_slice(&self.obs_dim.to_le_bytes());
        b[12..16].copy_from_slice(&self.act_dim.to_le_bytes());
        b[16..20].copy_from_slice(&self.len.to_le_bytes());
        b[20..28].copy_from_slice(&self.seed.to_le_bytes());
        b[28] = self.flags;
        // 29..32: reserved, zero.
        b[32..36].copy_from_slice(&self.crc32.to_le_bytes());
        b
    }

    /// Parses and checks the header at the start of `bytes` (the file
    /// `file`, for errors): length, magic, version, flags, reserved bytes.
    /// Dimensions and size are checked by the caller.
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Self> {
        let Some(b) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(DatasetError::TooShort {
                file: file.to_path_buf(),
                size: bytes.len() as u64,
                header: HEADER_LEN,
            });
        };
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let magic = [b[0], b[1], b[2], b[3]];
        if magic != MAGIC {
            return Err(DatasetError::BadMagic {
                file: file.to_path_buf(),
                found: magic,
            });
        }
        let format_version = u32_at(4);
        if format_version != FORMAT_VERSION {
            return Err(DatasetError::UnsupportedVersion {
                file: file.to_path_buf(),
                found: format_version,
                supported: FORMAT_VERSION,
            });
        }
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&b[20..28]);
        let header = Self {
            format_version,
            obs_dim: u32_at(8),
            act_dim: u32_at(12),
            len: u32_at(16),
            seed: u64::from_le_bytes(seed),
            flags: b[28],
            crc32: u32_at(32),
        };
        if header.flags & !KNOWN_FLAGS != 0 {
            return Err(DatasetError::BadHeader {
                file: file.to_path_buf(),
                message: format!("unknown flag bits {:#04x}", header.flags & !KNOWN_FLAGS),
            });
        }
        if b[29..32] != [0, 0, 0] {
            return Err(DatasetError::BadHeader {
                file: file.to_path_buf(),
                message: format!("reserved bytes 29..32 are {:?}, not zero", &b[29..32]),
            });
        }
        Ok(header)
    }

    /// Checks the dimensions against the dataset's and the file's size
    /// against the one the header implies.
    pub fn check(&self, file: &Path, size: u64, obs_dim: usize, act_dim: usize) -> Result<()> {
        for (what, found, expected) in [
            ("observation", self.obs_dim, obs_dim),
            ("action", self.act_dim, act_dim),
        ] {
            if found as usize != expected {
                return Err(DatasetError::DimMismatch {
                    file: file.to_path_buf(),
                    what,
                    found,
                    expected,
                });
            }
        }
        let expected = self.file_size();
        let file = file.to_path_buf();
        match (size as u128).cmp(&expected) {
            std::cmp::Ordering::Less => Err(DatasetError::Truncated {
                file,
                size,
                expected,
            }),
            std::cmp::Ordering::Greater => Err(DatasetError::TrailingBytes {
                file,
                size,
                expected,
            }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }
}

/// The bytes of an episode file for `episode` with the given dimensions
/// (checked with [`Episode::validate`] first).
pub fn encode_episode(episode: &Episode, obs_dim: usize, act_dim: usize) -> Result<Vec<u8>> {
    episode.validate(obs_dim, act_dim)?;
    let values = episode.observations.len() + episode.actions.len() + episode.rewards.len();
    let mut out = vec![0u8; HEADER_LEN];
    out.reserve(4 * values);
    for v in episode
        .observations
        .iter()
        .chain(&episode.actions)
        .chain(&episode.rewards)
    {
        out.extend_from_slice(&v.to_le_bytes());
    }
    // The casts cannot truncate: `validate` checked that the sizes fit.
    let header = EpisodeHeader {
        format_version: FORMAT_VERSION,
        obs_dim: obs_dim as u32,
        act_dim: act_dim as u32,
        len: episode.len() as u32,
        seed: episode.seed,
        flags: episode.flags(),
        crc32: crc32fast::hash(&out[HEADER_LEN..]),
    };
    out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
    Ok(out)
}

/// Decodes and validates the bytes of the episode file `file` (named in
/// errors) of a dataset with the given dimensions: header, size, checksum,
/// and that every value is finite.
pub fn decode_episode(
    bytes: &[u8],
    file: &Path,
    obs_dim: usize,
    act_dim: usize,
) -> Result<Episode> {
    let header = EpisodeHeader::parse(bytes, file)?;
    header.check(file, bytes.len() as u64, obs_dim, act_dim)?;
    let payload = &bytes[HEADER_LEN..];
    let computed = crc32fast::hash(payload);
    if computed != header.crc32 {
        return Err(DatasetError::Checksum {
            file: file.to_path_buf(),
            stored: header.crc32,
            computed,
        });
    }
    let len = header.len as usize;
    let mut values = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    let mut take = |array: &'static str, rows: usize, dim: usize| -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(rows * dim);
        for i in 0..rows * dim {
            // The size check above guarantees enough values.
            let v = values.next().unwrap_or(f32::NAN);
            if !v.is_finite() {
                return Err(DatasetError::NonFinite {
                    file: file.to_path_buf(),
                    array,
                    step: i / dim,
                    component: i % dim,
                    value: v,
                });
            }
            out.push(v);
        }
        Ok(out)
    };
    let observations = take("observations", len + 1, obs_dim)?;
    let actions = take("actions", len, act_dim)?;
    let rewards = take("rewards", len, 1)?;
    Ok(Episode {
        seed: header.seed,
        observations,
        actions,
        rewards,
        terminated: header.flags & FLAG_TERMINATED != 0,
        truncated: header.flags & FLAG_TRUNCATED != 0,
        success: header.flags & FLAG_SUCCESS != 0,
        frames: None,
    })
}

/// Reads and validates the episode file at `path` (see [`decode_episode`]).
/// Its camera frames are read too when its frames file
/// ([`super::frames_path`]) exists, and must number one per observation.
pub fn read_episode_file(path: &Path, obs_dim: usize, act_dim: usize) -> Result<Episode> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    let mut episode = decode_episode(&bytes, path, obs_dim, act_dim)?;
    let fp = super::frames_path(path);
    if fp.exists() {
        let frames = Frames::read(&fp)?;
        if frames.len() != episode.len() + 1 {
            return Err(DatasetError::InvalidFrames(format!(
                "{}: {} frames for an episode of {} observations",
                fp.display(),
                frames.len(),
                episode.len() + 1
            )));
        }
        episode.frames = Some(Arc::new(frames));
    }
    Ok(episode)
}
