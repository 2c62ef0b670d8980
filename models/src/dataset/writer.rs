//! Creating a dataset and appending episodes to it, crash-safely.

use std::path::{Path, PathBuf};

use super::fs::{self, Published};
use super::reader::read_spec;
use super::{DatasetError, DatasetSpec, EPISODES_DIR, Episode, Result, SPEC_FILE, encode_episode};

/// How many taken indices [`DatasetWriter::write`] skips (files appearing
/// under it from another writer) before it gives up.
const MAX_INDEX_RETRIES: u32 = 1000;

/// Appends episodes to a dataset directory.
///
/// Each episode goes to `episodes/.NNNNNN.ep.tmp`, is synced to disk, and is
/// then linked to `episodes/NNNNNN.ep` under the next free index, which
/// fails rather than replace an existing file: a crash loses at most the
/// episode being written, and finished episodes are never rewritten. One
/// writer per dataset at a time is the intended use; a second one cannot
/// overwrite episodes, but may take indices out of order.
#[derive(Debug)]
pub struct DatasetWriter {
    root: PathBuf,
    episodes_dir: PathBuf,
    spec: DatasetSpec,
    next_index: u64,
    episodes: usize,
    written: usize,
    temp_files: Vec<PathBuf>,
}

impl DatasetWriter {
    /// Creates a new dataset in `dir` (created if missing; it must be empty
    /// otherwise), writing `dataset.json` once.
    pub fn create(dir: impl AsRef<Path>, spec: &DatasetSpec) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if root.join(SPEC_FILE).exists() {
            return Err(DatasetError::AlreadyExists { path: root });
        }
        spec.validate()
            .map_err(|message| DatasetError::InvalidSpec {
                path: root.join(SPEC_FILE),
                message,
            })?;
        std::fs::create_dir_all(&root).map_err(|e| DatasetError::io(&root, e))?;
        let entries = std::fs::read_dir(&root).map_err(|e| DatasetError::io(&root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DatasetError::io(&root, e))?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(fs::is_temp_file_name) {
                return Err(DatasetError::NotADataset { path: root });
            }
        }
        let tmp = root.join(".dataset.json.tmp");
        fs::write_synced(&tmp, spec.to_json().as_bytes())?;
        match fs::publish(&tmp, &root.join(SPEC_FILE))? {
            Published::Done => {}
            Published::Exists => return Err(DatasetError::AlreadyExists { path: root }),
        }
        let episodes_dir = root.join(EPISODES_DIR);
        std::fs::create_dir_all(&episodes_dir).map_err(|e| DatasetError::io(&episodes_dir, e))?;
        fs::sync_dir(&root);
        Self::append(root)
    }

    /// Opens the existing dataset in `dir` to append episodes of its spec.
    pub fn append(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(DatasetError::MissingDirectory { path: root });
        }
        let spec = read_spec(&root)?;
        let episodes_dir = root.join(EPISODES_DIR);
        std::fs::create_dir_all(&episodes_dir).map_err(|e| DatasetError::io(&episodes_dir, e))?;
        let listing = fs::list(&root)?;
        Ok(Self {
            next_index: listing.episodes.last().map_or(0, |(i, _)| i + 1),
            episodes: listing.episodes.len(),
            written: 0,
            temp_files: listing.temp_files,
            root,
            episodes_dir,
            spec,
        })
    }

    /// Appends to the dataset in `dir` if there is one, whose spec must
    /// then equal `spec` ([`DatasetError::AppendMismatch`] lists the
    /// differences), or creates it.
    pub fn create_or_append(dir: impl AsRef<Path>, spec: &DatasetSpec) -> Result<Self> {
        let root = dir.as_ref();
        if !root.join(SPEC_FILE).exists() {
            match Self::create(root, spec) {
                // Another process created it meanwhile: append if it matches.
                Err(DatasetError::AlreadyExists { .. }) => {}
                other => return other,
            }
        }
        let writer = Self::append(root)?;
        writer.check_spec(spec)?;
        Ok(writer)
    }

    /// Checks that episodes of `spec` belong in this dataset: its spec,
    /// passed through `dataset.json`'s JSON form, equals the dataset's. The
    /// error ([`DatasetError::AppendMismatch`]) names both and lists every
    /// difference.
    pub fn check_spec(&self, spec: &DatasetSpec) -> Result<()> {
        let normalized = spec
            .normalized()
            .map_err(|message| DatasetError::InvalidSpec {
                path: self.root.join(SPEC_FILE),
                message,
            })?;
        let differences = self.spec.differences(&normalized);
        if differences.is_empty() {
            return Ok(());
        }
        Err(DatasetError::AppendMismatch {
            path: self.root.clone(),
            existing: self.spec.summary(),
            new: spec.summary(),
            differences,
        })
    }

    /// The dataset directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The dataset's spec (as read from `dataset.json`).
    pub fn spec(&self) -> &DatasetSpec {
        &self.spec
    }

    /// The file index the next episode will most likely get: one past the
    /// highest index present when the writer opened, or last written.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Number of episodes in the dataset: those present at open plus those
    /// written since.
    pub fn len(&self) -> usize {
        self.episodes
    }

    /// True when the dataset has no episode.
    pub fn is_empty(&self) -> bool {
        self.episodes == 0
    }

    /// Number of episodes this writer wrote.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Temporary files found at open (see
    /// [`Dataset::stale_temp_files`](super::Dataset::stale_temp_files)).
    pub fn stale_temp_files(&self) -> &[PathBuf] {
        &self.temp_files
    }

    /// Validates `episode` against the spec's dimensions and writes it as
    /// the next episode file. Returns its file index.
    pub fn write(&mut self, episode: &Episode) -> Result<u64> {
        let bytes = encode_episode(episode, self.spec.obs_dim(), self.spec.act_dim())?;
        let frames = episode.frames.as_ref().map(|f| f.to_bytes()).transpose()?;
        for _ in 0..MAX_INDEX_RETRIES {
            let index = self.next_index;
            self.next_index += 1;
            let dest = self.episodes_dir.join(fs::episode_file_name(index));
            if dest.exists() {
                continue;
            }
            // The frames go first, so that a published episode file always
            // has its frames beside it (a reader takes them when present).
            if let Some(frames) = &frames {
                let ftmp = self.episodes_dir.join(format!(".{index:06}.frames.tmp"));
                fs::write_synced(&ftmp, frames)?;
                std::fs::rename(&ftmp, super::frames_path(&dest))
                    .map_err(|e| DatasetError::io(&ftmp, e))?;
            }
            let tmp = self.episodes_dir.join(fs::temp_file_name(index));
            fs::write_synced(&tmp, &bytes)?;
            match fs::publish(&tmp, &dest)? {
                Published::Exists => continue,
                Published::Done => {
                    fs::sync_dir(&self.episodes_dir);
                    self.episodes += 1;
                    self.written += 1;
                    return Ok(index);
                }
            }
        }
        Err(DatasetError::io(
            &self.episodes_dir,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{MAX_INDEX_RETRIES} episode indices in a row were taken by another writer"
                ),
            ),
        ))
    }
}
