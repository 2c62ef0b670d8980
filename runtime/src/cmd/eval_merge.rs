//! `umwelt eval merge`: the report of a whole evaluation from the report
//! folders of its shards (`umwelt eval --shard K/N`).
//!
//! Each shard's `eval.json` says which part of which evaluation it is
//! (its `shard` section); its `runs.bin` holds its runs exactly
//! (`umwelt_runtime::offline::eval_runs`). The merge checks that the
//! shards are every part of one evaluation once, concatenates their runs
//! in index order and writes the report through the writer an unsharded
//! run uses, so every episode's and every aggregate's numbers equal one
//! run of all episodes to the bit. Only times differ: see
//! `umwelt_runtime::offline::eval_merge::MergeInfo`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use serde::Deserialize;
use umwelt_runtime::control::config::RunConfig;
use umwelt_runtime::nodes::remote_robot::RemoteStats;
use umwelt_runtime::offline::eval::Evaluation;
use umwelt_runtime::offline::eval_merge::{
    MergeInfo, MergedShard, check_runs, check_shards, merge_groups,
};
use umwelt_runtime::offline::eval_runs::{self, RunGroup};
use umwelt_runtime::offline::eval_shard::{ShardInfo, fingerprint};

use super::eval_report::{Baseline, ReportInput, write_report};

/// Arguments of `umwelt eval merge`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shards' report folders (each from `umwelt eval --shard K/N
    /// --out DIR`), every K of 1..N once, in any order.
    #[arg(value_name = "SHARD_DIR", required = true)]
    shards: Vec<PathBuf>,
    /// Report folder of the whole evaluation (not one of the shards'):
    /// eval.json, episodes.csv, report.html, the figures, and videos/ with
    /// --video.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The controller config the shards ran (default: the path their
    /// eval.json names, from this folder); its files (config, robot,
    /// checkpoint) must be the very ones they ran.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Draw this many episodes of the whole evaluation into MP4 videos, as
    /// `umwelt eval --video` does: replayed from the shards' recorded
    /// commands, so the same videos as one run of all episodes.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = umwelt_runtime::cli::args::count::<usize>(0, 1000))]
    video: usize,
    /// Also write every episode to this MCAP file (as `umwelt eval
    /// --record`), replayed from the shards' commands; never replaced if
    /// it exists.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Print the merged eval.json on stdout too.
    #[arg(long)]
    json: bool,
}

/// The parts of a shard's eval.json the merge reads.
#[derive(Deserialize)]
struct ShardDoc {
    shard: Option<ShardInfo>,
    remote: Option<RemoteStats>,
}

/// One shard, read and checked (its runs are kept apart, to be moved
/// into the merged evaluation).
struct Shard {
    dir: String,
    info: ShardInfo,
    remote: Option<RemoteStats>,
    /// Wall time and parallel episodes of its configured controller.
    eval_s: f64,
    jobs: usize,
}

/// Reads a shard's eval.json.
fn read_doc(dir: &Path) -> anyhow::Result<ShardDoc> {
    let path = dir.join("eval.json");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{}: no eval.json: not the report folder of an `umwelt eval --shard` run",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("{}: corrupted or not umwelt's: {e}", path.display()))
}

/// Reads a shard's runs file and checks it is the one its eval.json
/// names.
fn read_runs(dir: &Path, info: &ShardInfo) -> anyhow::Result<Vec<RunGroup>> {
    // The file's name comes from eval.json: only a plain name is taken,
    // so a damaged or hostile eval.json cannot point outside the folder.
    anyhow::ensure!(
        !info.runs_file.is_empty()
            && Path::new(&info.runs_file).file_name() == Some(info.runs_file.as_ref()),
        "{}: eval.json names the runs file {:?}, not a file name",
        dir.display(),
        info.runs_file
    );
    let path = dir.join(&info.runs_file);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let digest = eval_runs::digest(&bytes);
    anyhow::ensure!(
        digest == info.runs_xxh3,
        "{}: corrupted or not this shard's (xxh3 {digest}, its eval.json says {})",
        path.display(),
        info.runs_xxh3
    );
    eval_runs::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Whether `a` and `b` are the same folder (when both exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Runs `umwelt eval merge`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for dir in &args.shards {
        let doc = read_doc(dir)?;
        let info = doc.shard.with_context(|| {
            format!(
                "{}: the report of a whole evaluation (no `shard` in its eval.json): nothing to merge",
                dir.display()
            )
        })?;
        found.push((dir.display().to_string(), info, doc.remote));
    }
    let listed: Vec<(String, ShardInfo)> = found
        .iter()
        .map(|(d, i, _)| (d.clone(), i.clone()))
        .collect();
    let order = check_shards(&listed)?;
    for dir in &args.shards {
        anyhow::ensure!(
            !same_dir(dir, &args.out),
            "--out {}: is a shard's folder; the merged report needs a folder of its own",
            args.out.display()
        );
    }
    let mut shards = Vec::with_capacity(order.len());
    let mut groups = Vec::with_capacity(order.len());
    for k in order {
        let (dir, info, remote) = found[k].clone();
        let runs = read_runs(Path::new(&dir), &info)?;
        let main = runs.iter().find(|g| g.label == "config");
        shards.push(Shard {
            eval_s: main.map(|g| g.eval_s).unwrap_or(0.0),
            jobs: main.map(|g| g.jobs).unwrap_or(0),
            dir,
            info,
            remote,
        });
        groups.push(runs);
    }
    let dirs: Vec<String> = shards.iter().map(|s| s.dir.clone()).collect();
    let infos: Vec<&ShardInfo> = shards.iter().map(|s| &s.info).collect();
    check_runs(&dirs, &infos, &groups)?;
    let identity = &shards[0].info.evaluation;
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(&identity.config));
    let r = RunConfig::load(&config).with_context(|| {
        format!(
            "the shards' config (give the path from here with --config if it moved): {}",
            config.display()
        )
    })?;
    let here = fingerprint(&config, &r)?;
    anyhow::ensure!(
        here == identity.fingerprint,
        "--config {}: not the files the shards ran (config, robot and checkpoint fingerprint {here}, theirs {})",
        config.display(),
        identity.fingerprint
    );
    anyhow::ensure!(
        !identity.remote || (args.video == 0 && args.record.is_none()),
        "--video and --record replay episodes in the simulator, and these ran on a robot behind its driver (--remote)"
    );
    let baselines: Vec<Baseline> = identity
        .baselines
        .iter()
        .map(|b| {
            Baseline::from_str(b, false)
                .map_err(|e| anyhow::anyhow!("{}: baseline {b:?}: {e}", dirs[0]))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut labels = vec!["config".to_string()];
    labels.extend(baselines.iter().map(|b| b.label()));
    let mut merged = merge_groups(&dirs, groups, &labels, r.period)?.into_iter();
    let main: Evaluation = merged
        .next()
        .map(|(_, e)| e)
        .context("no runs of the configured controller")?;
    let base: Vec<(Baseline, Evaluation)> = baselines
        .iter()
        .copied()
        .zip(merged.map(|(_, e)| e))
        .collect();
    let remote = identity.remote.then(|| {
        let mut all = RemoteStats {
            lockstep: true,
            ..RemoteStats::default()
        };
        for s in &shards {
            all.absorb(&s.remote.clone().unwrap_or_default());
        }
        all
    });
    let info = merge_info(&shards);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if let Some(path) = &args.record {
        super::eval_record::prepare(path)?;
        super::eval_record::write(path, &r, &main.runs)?;
    }
    let media = super::eval_report::media(&r, &main, identity.remote, args.video, &args.out)?;
    write_report(&ReportInput {
        config: &identity.config,
        r: &r,
        seed: identity.seed,
        full_budget: identity.full_budget,
        main: &main,
        base: &base,
        sil: None,
        remote: remote.as_ref(),
        media: &media,
        shard: None,
        merged: Some(&info),
        out: &args.out,
        heading: format!(
            "{} episodes from seed {}, merged from {} shards",
            identity.episodes, identity.seed, info.count
        ),
        json: args.json,
    })
}

/// The `merged` section: each shard's part and time, and the three
/// totals of time (see `MergeInfo`).
fn merge_info(shards: &[Shard]) -> MergeInfo {
    let list: Vec<MergedShard> = shards
        .iter()
        .map(|s| MergedShard {
            dir: s.dir.clone(),
            index: s.info.index,
            episodes: [
                s.info.episodes.first().copied().unwrap_or(0),
                s.info.episodes.last().copied().unwrap_or(0),
            ],
            eval_s: s.eval_s,
            jobs: s.jobs,
            started_unix_s: s.info.started_unix_s,
        })
        .collect();
    let machine_s = list.iter().map(|s| s.eval_s).sum();
    let wall_s = list.iter().map(|s| s.eval_s).fold(0.0, f64::max);
    let start = list
        .iter()
        .map(|s| s.started_unix_s)
        .fold(f64::INFINITY, f64::min);
    let end = list
        .iter()
        .map(|s| s.started_unix_s + s.eval_s)
        .fold(f64::NEG_INFINITY, f64::max);
    MergeInfo {
        count: list.len(),
        shards: list,
        machine_s,
        wall_s,
        span_s: (end - start).max(0.0),
    }
}
