//! An umwelt dataset out as a LeRobotDataset v3.0 (see the module docs).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Int64Array, ListArray, RecordBatch, StringArray,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use umwelt_models::dataset::{Dataset, DatasetSpec, Episode};

use super::columns::{f32_rows, f32_rows_type};
use super::stats::Stats;
use super::{
    CHUNKS_SIZE, CODEBASE_VERSION, DATA_FILE_SIZE_MB, DATA_PATH, Feature, Info, LerobotError,
    UMWELT_SPEC_PATH, VIDEO_FILE_SIZE_MB,
};

/// What [`export`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    /// The LeRobot dataset's root folder.
    pub path: PathBuf,
    /// Episodes written.
    pub episodes: usize,
    /// Frames written (one per step).
    pub frames: u64,
    /// LeRobot's frame rate: one over the control period.
    pub fps: u32,
    /// Data files written (a new one after every 100 MB).
    pub data_files: usize,
    /// Episodes of no step, left out (LeRobot has no frame-less episode).
    pub skipped_empty: usize,
}

/// The frame columns, in LeRobot's order (the robot's features, then its
/// `DEFAULT_FEATURES`): name, dtype, and width (0: the observation's,
/// 1 per action component: the action's; see [`features`]).
const FRAME_COLUMNS: [&str; 10] = [
    "observation.state",
    "action",
    "next.reward",
    "next.done",
    "next.success",
    "timestamp",
    "frame_index",
    "episode_index",
    "index",
    "task_index",
];

/// LeRobot's frame rate for a control period: a whole number of frames a
/// second, or an error (LeRobot's `fps` is an integer).
pub fn fps_of(control_period: f64) -> Result<u32, LerobotError> {
    let fps = 1.0 / control_period;
    let whole = fps.round();
    if !(fps.is_finite() && (1.0..=1e6).contains(&whole) && (fps - whole).abs() <= 1e-6 * whole) {
        return Err(LerobotError::Invalid(format!(
            "control period {control_period} s is not a whole number of frames a second \
             (LeRobot's fps is an integer)"
        )));
    }
    Ok(whole as u32)
}

/// `info.json`'s features for `spec`.
fn features(spec: &DatasetSpec) -> BTreeMap<String, Feature> {
    let names = |f: &[umwelt_models::dataset::FieldSpec]| {
        serde_json::Value::from(f.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
    };
    let scalar = |dtype: &str| Feature {
        dtype: dtype.into(),
        shape: vec![1],
        names: serde_json::Value::Null,
    };
    let mut m = BTreeMap::new();
    m.insert(
        "observation.state".into(),
        Feature {
            dtype: "float32".into(),
            shape: vec![spec.obs_dim()],
            names: names(&spec.observation),
        },
    );
    m.insert(
        "action".into(),
        Feature {
            dtype: "float32".into(),
            shape: vec![spec.act_dim()],
            names: names(&spec.action),
        },
    );
    for (name, dtype) in FRAME_COLUMNS[2..].iter().zip([
        "float32", "bool", "bool", "float32", "int64", "int64", "int64", "int64",
    ]) {
        m.insert((*name).into(), scalar(dtype));
    }
    m
}

/// The frame table's schema for `spec`.
fn frame_schema(spec: &DatasetSpec) -> Arc<Schema> {
    let f = |name: &str, t: DataType| Field::new(name, t, true);
    Arc::new(Schema::new(vec![
        f(FRAME_COLUMNS[0], f32_rows_type(spec.obs_dim())),
        f(FRAME_COLUMNS[1], f32_rows_type(spec.act_dim())),
        f(FRAME_COLUMNS[2], DataType::Float32),
        f(FRAME_COLUMNS[3], DataType::Boolean),
        f(FRAME_COLUMNS[4], DataType::Boolean),
        f(FRAME_COLUMNS[5], DataType::Float32),
        f(FRAME_COLUMNS[6], DataType::Int64),
        f(FRAME_COLUMNS[7], DataType::Int64),
        f(FRAME_COLUMNS[8], DataType::Int64),
        f(FRAME_COLUMNS[9], DataType::Int64),
    ]))
}

/// Parquet writer settings: snappy, as LeRobot's writer.
fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

/// One episode's row of the episodes table.
struct EpisodeRow {
    length: u64,
    chunk: u64,
    file: u64,
    from: u64,
    stats: Vec<Stats>,
    seed: u64,
    terminated: bool,
    truncated: bool,
    success: bool,
    final_observation: Vec<f32>,
}

/// The data files as they fill: one open writer, a new file after
/// [`DATA_FILE_SIZE_MB`].
struct DataFiles {
    root: PathBuf,
    schema: Arc<Schema>,
    open: Option<(ArrowWriter<File>, PathBuf)>,
    chunk: u64,
    file: u64,
    written: usize,
}

impl DataFiles {
    fn path(&self) -> PathBuf {
        self.root.join(format!(
            "data/chunk-{:03}/file-{:03}.parquet",
            self.chunk, self.file
        ))
    }

    /// Writes one episode's frames as one row group.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), LerobotError> {
        if self.open.is_none() {
            let path = self.path();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| LerobotError::io(dir, e))?;
            }
            let file = File::create(&path).map_err(|e| LerobotError::io(&path, e))?;
            let w = ArrowWriter::try_new(file, self.schema.clone(), Some(properties()))
                .map_err(|e| LerobotError::format(&path, e))?;
            self.open = Some((w, path));
            self.written += 1;
        }
        if let Some((w, path)) = &mut self.open {
            w.write(batch)
                .map_err(|e| LerobotError::format(&*path, e))?;
            w.flush().map_err(|e| LerobotError::format(&*path, e))?;
            if w.bytes_written() as u64 >= DATA_FILE_SIZE_MB << 20 {
                self.close()?;
                (self.chunk, self.file) = if self.file + 1 == CHUNKS_SIZE {
                    (self.chunk + 1, 0)
                } else {
                    (self.chunk, self.file + 1)
                };
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), LerobotError> {
        if let Some((w, path)) = self.open.take() {
            w.close().map_err(|e| LerobotError::format(&path, e))?;
        }
        Ok(())
    }
}

/// Writes the umwelt dataset `data` as a LeRobotDataset v3.0 in `out`
/// (which must not exist, or be an empty folder): the whole dataset goes
/// to a temporary folder beside `out` first and is renamed into place, so
/// a failed export leaves nothing behind.
pub fn export(data: &Dataset, out: &Path) -> Result<ExportSummary, LerobotError> {
    let spec = data.spec();
    let fps = fps_of(spec.control_period)?;
    let empty_dir = match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(LerobotError::Invalid(format!(
                    "{} exists and is not empty: choose a new folder",
                    out.display()
                )));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(LerobotError::io(out, e)),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lerobot".into());
    let tmp = out.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::remove_dir_all(&tmp).ok();
    std::fs::create_dir_all(&tmp).map_err(|e| LerobotError::io(&tmp, e))?;
    let result = write_all(data, &tmp, fps).and_then(|mut summary| {
        if empty_dir {
            std::fs::remove_dir(out).map_err(|e| LerobotError::io(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| LerobotError::io(out, e))?;
        summary.path = out.to_path_buf();
        Ok(summary)
    });
    if result.is_err() {
        std::fs::remove_dir_all(&tmp).ok();
    }
    result
}

/// Everything into `root`.
fn write_all(data: &Dataset, root: &Path, fps: u32) -> Result<ExportSummary, LerobotError> {
    let spec = data.spec();
    let schema = frame_schema(spec);
    let mut files = DataFiles {
        root: root.to_path_buf(),
        schema: schema.clone(),
        open: None,
        chunk: 0,
        file: 0,
        written: 0,
    };
    let mut rows: Vec<EpisodeRow> = Vec::new();
    let mut frames = 0u64;
    let mut skipped = 0usize;
    for i in 0..data.len() {
        let ep = data.load(i)?;
        if ep.is_empty() {
            skipped += 1;
            continue;
        }
        let (chunk, file) = (files.chunk, files.file);
        let (batch, stats) =
            episode_batch(&ep, spec, &schema, rows.len() as i64, frames as i64, fps)?;
        files.write(&batch)?;
        let n = ep.len();
        rows.push(EpisodeRow {
            length: n as u64,
            chunk,
            file,
            from: frames,
            stats,
            seed: ep.seed,
            terminated: ep.terminated,
            truncated: ep.truncated,
            success: ep.success,
            final_observation: ep.obs(n).to_vec(),
        });
        frames += n as u64;
    }
    files.close()?;
    write_episodes(root, spec, &rows)?;
    write_tasks(root, &spec.task)?;
    let mut stats = serde_json::Map::new();
    for (k, name) in FRAME_COLUMNS.iter().enumerate() {
        let parts: Vec<Stats> = rows.iter().map(|r| r.stats[k].clone()).collect();
        if let Some(s) = Stats::aggregate(&parts) {
            stats.insert((*name).into(), s.to_json());
        }
    }
    write_json(root, "meta/stats.json", &serde_json::Value::Object(stats))?;
    let episodes = rows.len();
    let info = Info {
        codebase_version: CODEBASE_VERSION.into(),
        robot_type: Some(spec.robot.clone()),
        total_episodes: episodes as u64,
        total_frames: frames,
        total_tasks: 1,
        chunks_size: CHUNKS_SIZE,
        data_files_size_in_mb: Some(DATA_FILE_SIZE_MB),
        video_files_size_in_mb: Some(VIDEO_FILE_SIZE_MB),
        fps: f64::from(fps),
        splits: BTreeMap::from([("train".to_string(), format!("0:{episodes}"))]),
        data_path: DATA_PATH.into(),
        video_path: None,
        features: features(spec),
    };
    write_json(root, "meta/info.json", &info)?;
    let path = root.join(UMWELT_SPEC_PATH);
    std::fs::write(&path, spec.to_json()).map_err(|e| LerobotError::io(&path, e))?;
    Ok(ExportSummary {
        path: root.to_path_buf(),
        episodes,
        frames,
        fps,
        data_files: files.written,
        skipped_empty: skipped,
    })
}

/// One episode's frames (episode `e`, its first frame's dataset index
/// `first`), and each frame column's statistics in [`FRAME_COLUMNS`] order.
fn episode_batch(
    ep: &Episode,
    spec: &DatasetSpec,
    schema: &Arc<Schema>,
    e: i64,
    first: i64,
    fps: u32,
) -> Result<(RecordBatch, Vec<Stats>), LerobotError> {
    let n = ep.len();
    let od = spec.obs_dim();
    let state = ep.observations[..n * od].to_vec();
    let last = |t: usize| t + 1 == n;
    let done: Vec<bool> = (0..n).map(last).collect();
    let success: Vec<bool> = (0..n).map(|t| last(t) && ep.success).collect();
    let timestamp: Vec<f32> = (0..n).map(|t| (t as f64 / f64::from(fps)) as f32).collect();
    let frame: Vec<i64> = (0..n as i64).collect();
    let index: Vec<i64> = frame.iter().map(|t| first + t).collect();
    let wide = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
    let flags = |v: &[bool]| {
        v.iter()
            .map(|x| f64::from(u8::from(*x)))
            .collect::<Vec<f64>>()
    };
    let ints = |v: &[i64]| v.iter().map(|x| *x as f64).collect::<Vec<f64>>();
    let stats = vec![
        Stats::of(&wide(&state), od),
        Stats::of(&wide(&ep.actions), spec.act_dim()),
        Stats::of(&wide(&ep.rewards), 1),
        Stats::of(&flags(&done), 1),
        Stats::of(&flags(&success), 1),
        Stats::of(&wide(&timestamp), 1),
        Stats::of(&ints(&frame), 1),
        Stats::of(&vec![e as f64; n], 1),
        Stats::of(&ints(&index), 1),
        Stats::of(&vec![0.0; n], 1),
    ];
    let columns: Vec<ArrayRef> = vec![
        f32_rows(state, od)?,
        f32_rows(ep.actions.clone(), spec.act_dim())?,
        Arc::new(Float32Array::from(ep.rewards.clone())),
        Arc::new(BooleanArray::from(done)),
        Arc::new(BooleanArray::from(success)),
        Arc::new(Float32Array::from(timestamp)),
        Arc::new(Int64Array::from(frame)),
        Arc::new(Int64Array::from(vec![e; n])),
        Arc::new(Int64Array::from(index)),
        Arc::new(Int64Array::from(vec![0i64; n])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| LerobotError::Invalid(e.to_string()))?;
    Ok((batch, stats))
}

/// `meta/episodes/chunk-000/file-000.parquet`: LeRobot's columns (where
/// each episode's frames are, its task, its statistics) and umwelt's
/// (`umwelt/seed`, end flags, the final observation).
fn write_episodes(
    root: &Path,
    spec: &DatasetSpec,
    rows: &[EpisodeRow],
) -> Result<(), LerobotError> {
    let n = rows.len();
    let int = |f: &dyn Fn(usize, &EpisodeRow) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(
            rows.iter()
                .enumerate()
                .map(|(i, r)| f(i, r))
                .collect::<Vec<_>>(),
        ))
    };
    let flag = |f: &dyn Fn(&EpisodeRow) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let mut tasks = ListBuilder::new(StringBuilder::new());
    for _ in rows {
        tasks.values().append_value(&spec.task);
        tasks.append(true);
    }
    let mut cols: Vec<(String, ArrayRef)> = vec![
        ("episode_index".into(), int(&|i, _| i as i64)),
        ("tasks".into(), Arc::new(tasks.finish())),
        ("length".into(), int(&|_, r| r.length as i64)),
        ("data/chunk_index".into(), int(&|_, r| r.chunk as i64)),
        ("data/file_index".into(), int(&|_, r| r.file as i64)),
        ("dataset_from_index".into(), int(&|_, r| r.from as i64)),
        (
            "dataset_to_index".into(),
            int(&|_, r| (r.from + r.length) as i64),
        ),
    ];
    for (k, feature) in FRAME_COLUMNS.iter().enumerate() {
        let Some(first) = rows.first() else { break };
        for (s, (stat, _)) in first.stats[k].named().into_iter().enumerate() {
            let lists = rows.iter().map(|r| {
                let v = r.stats[k].named()[s].1.iter().map(|x| Some(*x));
                Some(v.collect::<Vec<_>>())
            });
            let a = ListArray::from_iter_primitive::<arrow_array::types::Float64Type, _, _>(lists);
            cols.push((format!("stats/{feature}/{stat}"), Arc::new(a)));
        }
        let counts = rows
            .iter()
            .map(|r| Some(vec![Some(r.stats[k].count as i64)]));
        let a = ListArray::from_iter_primitive::<arrow_array::types::Int64Type, _, _>(counts);
        cols.push((format!("stats/{feature}/count"), Arc::new(a)));
    }
    cols.push(("meta/episodes/chunk_index".into(), int(&|_, _| 0)));
    cols.push(("meta/episodes/file_index".into(), int(&|_, _| 0)));
    cols.push((
        "umwelt/seed".into(),
        Arc::new(UInt64Array::from(
            rows.iter().map(|r| r.seed).collect::<Vec<_>>(),
        )),
    ));
    cols.push(("umwelt/terminated".into(), flag(&|r| r.terminated)));
    cols.push(("umwelt/truncated".into(), flag(&|r| r.truncated)));
    cols.push(("umwelt/success".into(), flag(&|r| r.success)));
    let finals: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.final_observation.iter().copied())
        .collect();
    cols.push((
        "umwelt/final_observation".into(),
        f32_rows(finals, spec.obs_dim())?,
    ));
    debug_assert!(cols.iter().all(|(_, a)| a.len() == n));
    write_table(root, "meta/episodes/chunk-000/file-000.parquet", cols, None)
}

/// `meta/tasks.parquet` as pandas writes LeRobot's: `task_index`, and the
/// task text as the pandas index (LeRobot looks tasks up by it).
fn write_tasks(root: &Path, task: &str) -> Result<(), LerobotError> {
    let pandas = serde_json::json!({
        "index_columns": ["task"],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode",
                            "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
             "numpy_type": "int64", "metadata": null},
            {"name": "task", "field_name": "task", "pandas_type": "unicode",
             "numpy_type": "object", "metadata": null}
        ],
        "creator": {"library": "umwelt", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.3"
    });
    let cols: Vec<(String, ArrayRef)> = vec![
        ("task_index".into(), Arc::new(Int64Array::from(vec![0i64]))),
        ("task".into(), Arc::new(StringArray::from(vec![task]))),
    ];
    write_table(
        root,
        "meta/tasks.parquet",
        cols,
        Some(("pandas", pandas.to_string())),
    )
}

/// One parquet file of one row group at `root/rel`, with an optional
/// schema metadata entry.
fn write_table(
    root: &Path,
    rel: &str,
    cols: Vec<(String, ArrayRef)>,
    metadata: Option<(&str, String)>,
) -> Result<(), LerobotError> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LerobotError::io(dir, e))?;
    }
    let fields: Vec<Field> = cols
        .iter()
        .map(|(name, a)| Field::new(name, a.data_type().clone(), true))
        .collect();
    let mut schema = Schema::new(fields);
    if let Some((k, v)) = metadata {
        schema = schema.with_metadata(std::collections::HashMap::from([(k.to_string(), v)]));
    }
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| LerobotError::format(&path, e))?;
    let file = File::create(&path).map_err(|e| LerobotError::io(&path, e))?;
    let mut w = ArrowWriter::try_new(file, schema, Some(properties()))
        .map_err(|e| LerobotError::format(&path, e))?;
    w.write(&batch)
        .map_err(|e| LerobotError::format(&path, e))?;
    w.close().map_err(|e| LerobotError::format(&path, e))?;
    Ok(())
}

/// `value` as pretty JSON at `root/rel` (LeRobot writes indented JSON).
fn write_json(root: &Path, rel: &str, value: &impl Serialize) -> Result<(), LerobotError> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LerobotError::io(dir, e))?;
    }
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| LerobotError::format(&path, e))?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| LerobotError::io(&path, e))
}
