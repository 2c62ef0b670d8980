//! Opening a dataset and loading its episodes.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::episode::{EpisodeHeader, HEADER_LEN, read_episode_file};
use super::{DatasetError, DatasetSpec, Episode, Result, SPEC_FILE, fs};

/// A dataset directory opened for reading: its spec and the list of its
/// episode files (taken at [`Dataset::open`]). Episodes are loaded on
/// demand and validated on every load.
#[derive(Clone, Debug)]
pub struct Dataset {
    root: PathBuf,
    spec: DatasetSpec,
    episodes: Vec<(u64, PathBuf)>,
    temp_files: Vec<PathBuf>,
}

impl Dataset {
    /// Opens the dataset in `dir`: reads and validates `dataset.json` and
    /// lists `episodes/` (finished episode files `NNNNNN.ep` in index
    /// order; temporary files are left out and reported by
    /// [`Dataset::stale_temp_files`]; other files are ignored).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(DatasetError::MissingDirectory { path: root });
        }
        let spec = read_spec(&root)?;
        let listing = fs::list(&root)?;
        Ok(Self {
            root,
            spec,
            episodes: listing.episodes,
            temp_files: listing.temp_files,
        })
    }

    /// The dataset directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The spec from `dataset.json`.
    pub fn spec(&self) -> &DatasetSpec {
        &self.spec
    }

    /// Number of episodes.
    pub fn len(&self) -> usize {
        self.episodes.len()
    }

    /// True when the dataset has no episode.
    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }

    /// The file of episode `i` (the `i`-th in index order).
    pub fn episode_path(&self, i: usize) -> Option<&Path> {
        self.episodes.get(i).map(|(_, p)| p.as_path())
    }

    /// The file index (`NNNNNN` of `NNNNNN.ep`) of episode `i`. Equal to
    /// `i` unless files were removed.
    pub fn file_index(&self, i: usize) -> Option<u64> {
        self.episodes.get(i).map(|(n, _)| *n)
    }

    /// Temporary files (`.NNNNNN.ep.tmp`, `.dataset.json.tmp`) found at
    /// open: left by a writer that crashed, or by one still writing. They
    /// are not part of the dataset and may be deleted once no writer runs.
    pub fn stale_temp_files(&self) -> &[PathBuf] {
        &self.temp_files
    }

    /// Loads and validates episode `i`.
    pub fn load(&self, i: usize) -> Result<Episode> {
        let path = self.path_of(i)?;
        read_episode_file(path, self.spec.obs_dim(), self.spec.act_dim())
    }

    /// Every episode in order, each loaded and validated when reached.
    pub fn iter(&self) -> impl Iterator<Item = Result<Episode>> + '_ {
        (0..self.len()).map(|i| self.load(i))
    }

    /// Loads every episode; the first bad one is the error.
    pub fn load_all(&self) -> Result<Vec<Episode>> {
        self.iter().collect()
    }

    /// Reads and checks the header of episode `i` (dimensions and file
    /// size too) without reading its payload.
    pub fn header(&self, i: usize) -> Result<EpisodeHeader> {
        let path = self.path_of(i)?;
        let io = |e| DatasetError::io(path, e);
        let mut f = std::fs::File::open(path).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let mut bytes = Vec::with_capacity(HEADER_LEN);
        f.by_ref()
            .take(HEADER_LEN as u64)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let header = EpisodeHeader::parse(&bytes, path)?;
        header.check(path, size, self.spec.obs_dim(), self.spec.act_dim())?;
        Ok(header)
    }

    /// Total number of steps (transitions) of all episodes, from their
    /// headers (each checked as by [`Dataset::header`]).
    pub fn total_steps(&self) -> Result<u64> {
        (0..self.len()).try_fold(0u64, |n, i| Ok(n + self.header(i)?.len as u64))
    }

    /// A deterministic split of the episodes into training and validation
    /// (held-out) episodes: `(train, validation)`, each a sorted list of
    /// episode positions `0..len`. See [`split_indices`](super::split_indices)
    /// for the rule; it is keyed by file index, so an episode mostly keeps
    /// its side when episodes are appended.
    pub fn split(&self, validation_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let keys: Vec<u64> = self.episodes.iter().map(|(n, _)| *n).collect();
        super::split_indices(&keys, validation_fraction, seed)
    }

    fn path_of(&self, i: usize) -> Result<&Path> {
        self.episode_path(i)
            .ok_or_else(|| DatasetError::OutOfRange {
                path: self.root.clone(),
                index: i,
                len: self.len(),
            })
    }
}

/// Reads and validates `root/dataset.json`.
pub(crate) fn read_spec(root: &Path) -> Result<DatasetSpec> {
    let path = root.join(SPEC_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DatasetError::MissingSpec { path });
        }
        Err(e) => return Err(DatasetError::io(path, e)),
    };
    let spec = DatasetSpec::from_json(&text).map_err(|e| DatasetError::InvalidSpec {
        path: path.clone(),
        message: e.to_string(),
    })?;
    spec.validate()
        .map_err(|message| DatasetError::InvalidSpec { path, message })?;
    Ok(spec)
}
