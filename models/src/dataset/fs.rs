//! File names and file-system helpers of a dataset directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DatasetError, Result};

/// File name of episode `index`: `000123.ep`.
pub(crate) fn episode_file_name(index: u64) -> String {
    format!("{index:06}.ep")
}

/// Name of the temporary file episode `index` is written to: `.000123.ep.tmp`.
pub(crate) fn temp_file_name(index: u64) -> String {
    format!(".{index:06}.ep.tmp")
}

/// The index of an episode file name written by [`episode_file_name`];
/// `None` for any other name.
pub(crate) fn parse_episode_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".ep")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: u64 = digits.parse().ok()?;
    (episode_file_name(index) == name).then_some(index)
}

/// True for the name of a temporary file a writer leaves while writing.
pub(crate) fn is_temp_file_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// What a dataset directory's `episodes/` folder holds.
#[derive(Default)]
pub(crate) struct Listing {
    /// Finished episodes, by index (ascending).
    pub episodes: Vec<(u64, PathBuf)>,
    /// Temporary files left behind (by a crash, or a writer still at work).
    pub temp_files: Vec<PathBuf>,
}

/// Lists `root/episodes/` (empty if the folder does not exist) and the
/// temporary files in `root`.
pub(crate) fn list(root: &Path) -> Result<Listing> {
    let mut listing = Listing::default();
    let dir = root.join(super::EPISODES_DIR);
    for (folder, episodes) in [(root, false), (dir.as_path(), true)] {
        let entries = match std::fs::read_dir(folder) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && episodes => continue,
            Err(e) => return Err(DatasetError::io(folder, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| DatasetError::io(folder, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if is_temp_file_name(name) {
                listing.temp_files.push(entry.path());
            } else if episodes && let Some(index) = parse_episode_file_name(name) {
                listing.episodes.push((index, entry.path()));
            }
        }
    }
    listing.episodes.sort_by_key(|(i, _)| *i);
    listing.temp_files.sort();
    Ok(listing)
}

/// Writes `bytes` to a new file at `path` (replacing a leftover one) and
/// syncs it to disk.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e| DatasetError::io(path, e);
    let mut f = File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Outcome of [`publish`].
pub(crate) enum Published {
    /// The file is in place.
    Done,
    /// Something already exists at the destination; nothing was changed
    /// there (the temporary file is removed).
    Exists,
}

/// Moves the finished temporary file `tmp` to `dest` atomically, never
/// replacing an existing `dest`: a hard link (which fails if `dest` exists)
/// and removal of `tmp`; where hard links are not supported, a rename after
/// checking that `dest` is free.
pub(crate) fn publish(tmp: &Path, dest: &Path) -> Result<Published> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            std::fs::remove_file(tmp).map_err(|e| DatasetError::io(tmp, e))?;
            Ok(Published::Done)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(tmp).map_err(|e| DatasetError::io(tmp, e))?;
            Ok(Published::Exists)
        }
        Err(_) if dest.exists() => {
            std::fs::remove_file(tmp).map_err(|e| DatasetError::io(tmp, e))?;
            Ok(Published::Exists)
        }
        Err(_) => {
            std::fs::rename(tmp, dest).map_err(|e| DatasetError::io(dest, e))?;
            Ok(Published::Done)
        }
    }
}

/// Syncs a directory, so that a file created or renamed in it survives a
/// crash. Best effort: not every platform can open a directory.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
