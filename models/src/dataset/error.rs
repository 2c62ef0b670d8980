//! Everything that can go wrong reading or writing a dataset.

use std::path::PathBuf;

/// An error reading or writing a dataset. Errors about a file name it (the
/// full path), and say what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The dataset directory does not exist.
    #[error("{}: no such dataset directory", path.display())]
    MissingDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The directory has no `dataset.json`.
    #[error("{}: not found (is the directory a dataset?)", path.display())]
    MissingSpec {
        /// Where `dataset.json` should be.
        path: PathBuf,
    },
    /// A directory that is neither a dataset nor empty, where a new dataset
    /// was to be created.
    #[error(
        "{}: not a dataset (no dataset.json) and not empty; choose a new or empty directory",
        path.display()
    )]
    NotADataset {
        /// The directory.
        path: PathBuf,
    },
    /// [`DatasetWriter::create`](super::DatasetWriter::create) found a dataset already there.
    #[error("{}: a dataset already exists here (append to it instead)", path.display())]
    AlreadyExists {
        /// The dataset directory.
        path: PathBuf,
    },
    /// `dataset.json` cannot be parsed, or describes something invalid.
    #[error("{}: invalid dataset spec: {message}", path.display())]
    InvalidSpec {
        /// The spec file (or the dataset directory for a spec not yet written).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two specs differ (see [`DatasetSpec::check_compatible`](super::DatasetSpec::check_compatible)).
    #[error("spec mismatch: expected {expected}, got {found}: {}", differences.join("; "))]
    SpecMismatch {
        /// Summary of the expected spec: robot/task and dimensions.
        expected: String,
        /// Summary of the other spec.
        found: String,
        /// Each difference, e.g. "robot: `cartpole` vs `pendulum`".
        differences: Vec<String>,
    },
    /// Appending episodes of one spec to a dataset of another.
    #[error(
        "{}: cannot append: the dataset holds {existing}, the new episodes are {new}: {}",
        path.display(),
        differences.join("; ")
    )]
    AppendMismatch {
        /// The dataset directory.
        path: PathBuf,
        /// Summary of the dataset's spec.
        existing: String,
        /// Summary of the new episodes' spec.
        new: String,
        /// Each difference, existing value first.
        differences: Vec<String>,
    },
    /// An I/O error on a file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An episode file shorter than the header.
    #[error("{}: truncated: {size} bytes, shorter than the {header}-byte header", file.display())]
    TooShort {
        /// The episode file.
        file: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The header's length in bytes.
        header: usize,
    },
    /// An episode file that does not start with `UWEP`.
    #[error("{}: not an episode file: magic \"{}\", expected \"UWEP\"", file.display(), found.escape_ascii())]
    BadMagic {
        /// The episode file.
        file: PathBuf,
        /// The first four bytes.
        found: [u8; 4],
    },
    /// An episode file of another format version.
    #[error("{}: format version {found}, this build reads version {supported}", file.display())]
    UnsupportedVersion {
        /// The episode file.
        file: PathBuf,
        /// The version in its header.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// An episode whose dimensions differ from the dataset's spec.
    #[error("{}: {what} dim {found} in the header, dataset.json says {expected}", file.display())]
    DimMismatch {
        /// The episode file.
        file: PathBuf,
        /// `observation` or `action`.
        what: &'static str,
        /// The dimension in the header.
        found: u32,
        /// The dimension in the spec.
        expected: usize,
    },
    /// A header field with an invalid value (unknown flag bits, reserved
    /// bytes that are not zero, a size that overflows).
    #[error("{}: bad header: {message}", file.display())]
    BadHeader {
        /// The episode file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An episode file shorter than its header says.
    #[error("{}: truncated: {size} bytes, header says {expected}", file.display())]
    Truncated {
        /// The episode file.
        file: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The size its header implies.
        expected: u128,
    },
    /// An episode file longer than its header says.
    #[error("{}: trailing bytes: {size} bytes, header says {expected}", file.display())]
    TrailingBytes {
        /// The episode file.
        file: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The size its header implies.
        expected: u128,
    },
    /// The payload's CRC32 differs from the header's: the data is corrupt.
    #[error(
        "{}: CRC mismatch: header says {stored:#010x}, payload has {computed:#010x} (corrupt data)",
        file.display()
    )]
    Checksum {
        /// The episode file.
        file: PathBuf,
        /// The CRC32 in the header.
        stored: u32,
        /// The CRC32 of the payload as read.
        computed: u32,
    },
    /// A NaN or infinite value in an episode file.
    #[error("{}: non-finite value {value} in {array} at step {step}, component {component}", file.display())]
    NonFinite {
        /// The episode file.
        file: PathBuf,
        /// `observations`, `actions` or `rewards`.
        array: &'static str,
        /// Row (time step) of the value.
        step: usize,
        /// Column of the value.
        component: usize,
        /// The value.
        value: f32,
    },
    /// An episode that cannot be written: inconsistent lengths, non-finite values.
    #[error("invalid episode (seed {seed}): {message}")]
    InvalidEpisode {
        /// The episode's seed.
        seed: u64,
        /// What is wrong.
        message: String,
    },
    /// Camera frames of the wrong size, or an unreadable frames file.
    #[error("episode frames: {0}")]
    InvalidFrames(String),
    /// An episode index beyond the dataset.
    #[error("{}: episode {index} out of range: the dataset has {len}", path.display())]
    OutOfRange {
        /// The dataset directory.
        path: PathBuf,
        /// The index asked for.
        index: usize,
        /// Number of episodes.
        len: usize,
    },
}

impl DatasetError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
