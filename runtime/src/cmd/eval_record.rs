//! `umwelt eval --record FILE.mcap`: the evaluation's episodes as a
//! recording with Foxglove's decoded channels (see
//! `umwelt_runtime::recording::foxglove::record_episodes`).

use std::path::Path;

use anyhow::Context;
use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::offline::episode::EpisodeRun;

/// Refuses, before any episode runs, a file that exists (a recording is
/// never replaced) and makes its folder.
pub fn prepare(path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !path.exists(),
        "--record {}: already exists; a recording is never replaced",
        path.display()
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    Ok(())
}

/// Writes the episodes `runs` of the robot of `r` to `path` and says what
/// it holds on stderr.
pub fn write(path: &Path, r: &Resolved, runs: &[EpisodeRun]) -> anyhow::Result<()> {
    let summary = umwelt_runtime::recording::foxglove::record_episodes(path, r, runs)?;
    eprintln!(
        "recording of {} episodes: {} ({} wire messages, {} decoded for Foxglove)",
        runs.len(),
        path.display(),
        summary.messages,
        summary.decoded.values().sum::<u64>()
    );
    Ok(())
}
