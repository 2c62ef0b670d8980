//! Reading a LeRobot dataset (v3.0, or v2.1 whose frame columns are the
//! same): `meta/info.json`, every parquet file under `data/`, and v3.0's
//! episode table for lengths and umwelt's own columns. Only what umwelt
//! can use is read: `observation.state`, `action`, `next.reward`,
//! `next.success`, `timestamp` and the indices.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::columns::{column, numbers, vectors};
use super::{Info, LerobotError};

/// What an export by umwelt adds to an episode's metadata row, so that it
/// imports back exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct UmweltExtras {
    /// The seed of the episode.
    pub seed: u64,
    /// End flags.
    pub terminated: bool,
    /// End flags.
    pub truncated: bool,
    /// The task's success at the last step.
    pub success: bool,
    /// The observation after the last frame's action.
    pub final_observation: Vec<f32>,
}

/// One episode's frames, in frame order.
#[derive(Clone, Debug)]
pub struct LerobotEpisode {
    /// `episode_index`.
    pub index: i64,
    /// Number of frames.
    pub frames: usize,
    /// Frames x state width, row-major.
    pub states: Vec<f32>,
    /// Frames x action width, row-major.
    pub actions: Vec<f32>,
    /// `next.reward` per frame, if the dataset has it.
    pub rewards: Option<Vec<f32>>,
    /// `next.success` per frame, if the dataset has it.
    pub success: Option<Vec<bool>>,
    /// `timestamp` per frame, if the dataset has it.
    pub timestamps: Option<Vec<f64>>,
    /// umwelt's columns of the episode table, from an umwelt export.
    pub extras: Option<UmweltExtras>,
}

/// A LeRobot dataset read into memory.
#[derive(Clone, Debug)]
pub struct LerobotDataset {
    /// The root folder.
    pub root: PathBuf,
    /// `meta/info.json`.
    pub info: Info,
    /// Width of `observation.state`.
    pub state_dim: usize,
    /// Width of `action`.
    pub action_dim: usize,
    /// Episodes in `episode_index` order.
    pub episodes: Vec<LerobotEpisode>,
    /// Parquet data files read.
    pub data_files: usize,
}

/// Frame columns of all data files, in file order.
#[derive(Default)]
struct Frames {
    episode: Vec<i64>,
    frame: Vec<i64>,
    states: Vec<f32>,
    actions: Vec<f32>,
    rewards: Option<Vec<f32>>,
    success: Option<Vec<bool>>,
    timestamps: Option<Vec<f64>>,
}

/// The width of feature `name` in `info.json`, which must be a float vector.
fn width(info: &Info, name: &str, path: &Path) -> Result<usize, LerobotError> {
    let f = info
        .features
        .get(name)
        .ok_or_else(|| LerobotError::format(path, format!("no feature `{name}`")))?;
    if !matches!(f.dtype.as_str(), "float32" | "float64") || f.shape.len() != 1 || f.shape[0] == 0 {
        return Err(LerobotError::format(
            path,
            format!(
                "feature `{name}` is {} of shape {:?}, not a vector of floats",
                f.dtype, f.shape
            ),
        ));
    }
    Ok(f.shape[0])
}

/// Every `*.parquet` file under `dir`, sorted by path.
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, LerobotError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| LerobotError::io(&d, e))? {
            let p = entry.map_err(|e| LerobotError::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The record batches of the parquet file `path`.
fn batches(path: &Path) -> Result<Vec<RecordBatch>, LerobotError> {
    let file = File::open(path).map_err(|e| LerobotError::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| LerobotError::format(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LerobotError::format(path, e))
}

/// Reads the LeRobot dataset in `root` (see the module docs).
pub fn read(root: &Path) -> Result<LerobotDataset, LerobotError> {
    let info_path = root.join("meta/info.json");
    let text = std::fs::read_to_string(&info_path).map_err(|e| LerobotError::io(&info_path, e))?;
    let info: Info =
        serde_json::from_str(&text).map_err(|e| LerobotError::format(&info_path, e))?;
    if !matches!(info.codebase_version.as_str(), "v3.0" | "v2.1") {
        return Err(LerobotError::format(
            &info_path,
            format!(
                "codebase_version `{}`: this build reads v3.0 and v2.1",
                info.codebase_version
            ),
        ));
    }
    if !(info.fps.is_finite() && info.fps > 0.0) {
        return Err(LerobotError::format(
            &info_path,
            format!("fps {} is not a positive number", info.fps),
        ));
    }
    let state_dim = width(&info, "observation.state", &info_path)?;
    let action_dim = width(&info, "action", &info_path)?;
    let files = parquet_files(&root.join("data"))?;
    if files.is_empty() {
        return Err(LerobotError::format(
            root.join("data"),
            "no parquet data file",
        ));
    }
    let mut f = Frames {
        rewards: info.features.contains_key("next.reward").then(Vec::new),
        success: info.features.contains_key("next.success").then(Vec::new),
        timestamps: info.features.contains_key("timestamp").then(Vec::new),
        ..Frames::default()
    };
    for path in &files {
        for b in batches(path)? {
            read_batch(&b, path, state_dim, action_dim, &mut f)?;
        }
    }
    let mut episodes = group(f, state_dim, action_dim)?;
    if info.codebase_version == "v3.0" {
        attach_meta(root, &mut episodes, state_dim)?;
    }
    Ok(LerobotDataset {
        root: root.to_path_buf(),
        info,
        state_dim,
        action_dim,
        episodes,
        data_files: files.len(),
    })
}

/// Appends the frames of one record batch.
fn read_batch(
    b: &RecordBatch,
    path: &Path,
    state_dim: usize,
    action_dim: usize,
    f: &mut Frames,
) -> Result<(), LerobotError> {
    let ints = |name: &str| -> Result<Vec<i64>, LerobotError> {
        let v = numbers(column(b, name, path)?.as_ref(), name, path)?;
        Ok(v.into_iter().map(|x| x as i64).collect())
    };
    f.episode.extend(ints("episode_index")?);
    f.frame.extend(ints("frame_index")?);
    for (name, dim, out) in [
        ("observation.state", state_dim, &mut f.states),
        ("action", action_dim, &mut f.actions),
    ] {
        let (v, w) = vectors(column(b, name, path)?.as_ref(), name, path)?;
        if w != dim && b.num_rows() > 0 {
            return Err(LerobotError::format(
                path,
                format!("column `{name}` holds {w} values a frame, info.json says {dim}"),
            ));
        }
        out.extend(v);
    }
    if let Some(r) = &mut f.rewards {
        let v = numbers(
            column(b, "next.reward", path)?.as_ref(),
            "next.reward",
            path,
        )?;
        r.extend(v.into_iter().map(|x| x as f32));
    }
    if let Some(s) = &mut f.success {
        let v = numbers(
            column(b, "next.success", path)?.as_ref(),
            "next.success",
            path,
        )?;
        s.extend(v.into_iter().map(|x| x != 0.0));
    }
    if let Some(t) = &mut f.timestamps {
        t.extend(numbers(
            column(b, "timestamp", path)?.as_ref(),
            "timestamp",
            path,
        )?);
    }
    Ok(())
}

/// The frames grouped by episode, each in frame order; frame indices must
/// run 0, 1, 2, ... within each episode.
fn group(f: Frames, sd: usize, ad: usize) -> Result<Vec<LerobotEpisode>, LerobotError> {
    let mut order: Vec<usize> = (0..f.episode.len()).collect();
    order.sort_by_key(|&i| (f.episode[i], f.frame[i]));
    let mut out: Vec<LerobotEpisode> = Vec::new();
    for i in order {
        let e = f.episode[i];
        if out.last().is_none_or(|l| l.index != e) {
            out.push(LerobotEpisode {
                index: e,
                frames: 0,
                states: Vec::new(),
                actions: Vec::new(),
                rewards: f.rewards.as_ref().map(|_| Vec::new()),
                success: f.success.as_ref().map(|_| Vec::new()),
                timestamps: f.timestamps.as_ref().map(|_| Vec::new()),
                extras: None,
            });
        }
        let Some(ep) = out.last_mut() else { continue };
        let t = ep.frames;
        ep.frames += 1;
        if f.frame[i] != t as i64 {
            return Err(LerobotError::Invalid(format!(
                "episode {e}: frame_index {} where {t} was due (frames missing or repeated)",
                f.frame[i]
            )));
        }
        ep.states.extend_from_slice(&f.states[i * sd..(i + 1) * sd]);
        ep.actions
            .extend_from_slice(&f.actions[i * ad..(i + 1) * ad]);
        if let (Some(r), Some(all)) = (&mut ep.rewards, &f.rewards) {
            r.push(all[i]);
        }
        if let (Some(s), Some(all)) = (&mut ep.success, &f.success) {
            s.push(all[i]);
        }
        if let (Some(t), Some(all)) = (&mut ep.timestamps, &f.timestamps) {
            t.push(all[i]);
        }
    }
    Ok(out)
}

/// v3.0's episode table: each episode's `length` must match its frames;
/// umwelt's columns, where present, are attached.
fn attach_meta(
    root: &Path,
    episodes: &mut [LerobotEpisode],
    state_dim: usize,
) -> Result<(), LerobotError> {
    let dir = root.join("meta/episodes");
    if !dir.is_dir() {
        return Ok(());
    }
    let by_index: BTreeMap<i64, usize> = episodes
        .iter()
        .enumerate()
        .map(|(k, e)| (e.index, k))
        .collect();
    for path in parquet_files(&dir)? {
        for b in batches(&path)? {
            let num = |name: &str| numbers(column(&b, name, &path)?.as_ref(), name, &path);
            let index = num("episode_index")?;
            let length = num("length")?;
            let extras = if b.column_by_name("umwelt/final_observation").is_some() {
                let (finals, w) = vectors(
                    column(&b, "umwelt/final_observation", &path)?.as_ref(),
                    "umwelt/final_observation",
                    &path,
                )?;
                if w != state_dim && b.num_rows() > 0 {
                    return Err(LerobotError::format(
                        &path,
                        format!("umwelt/final_observation holds {w} values, the state {state_dim}"),
                    ));
                }
                let seed = column(&b, "umwelt/seed", &path)?;
                let seed = seed
                    .as_any()
                    .downcast_ref::<arrow_array::UInt64Array>()
                    .ok_or_else(|| LerobotError::format(&path, "umwelt/seed is not uint64"))?;
                Some((
                    finals,
                    seed.values().to_vec(),
                    num("umwelt/terminated")?,
                    num("umwelt/truncated")?,
                    num("umwelt/success")?,
                ))
            } else {
                None
            };
            for (row, (e, len)) in index.iter().zip(&length).enumerate() {
                let Some(&k) = by_index.get(&(*e as i64)) else {
                    return Err(LerobotError::format(
                        &path,
                        format!("episode {e} has no frames in data/"),
                    ));
                };
                let ep = &mut episodes[k];
                let have = ep.frames;
                if have as f64 != *len {
                    return Err(LerobotError::format(
                        &path,
                        format!("episode {e}: length {len}, but {have} frames in data/"),
                    ));
                }
                if let Some((finals, seeds, term, trunc, succ)) = &extras {
                    ep.extras = Some(UmweltExtras {
                        seed: seeds[row],
                        terminated: term[row] != 0.0,
                        truncated: trunc[row] != 0.0,
                        success: succ[row] != 0.0,
                        final_observation: finals[row * state_dim..(row + 1) * state_dim].to_vec(),
                    });
                }
            }
        }
    }
    Ok(())
}
