//! Putting the shards of one evaluation back together (`umwelt eval
//! merge`): checking they are every part of one evaluation once, and
//! concatenating their runs into the evaluation one run of all episodes
//! makes ([`crate::offline::eval_shard`] says how an evaluation is cut).

use std::ops::Range;

use serde::Serialize;

use crate::offline::eval::{Evaluation, from_runs};
use crate::offline::eval_runs::RunGroup;
use crate::offline::eval_shard::{ShardError, ShardInfo, ShardSpec};

/// One shard of a merged evaluation, as the merged `eval.json` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MergedShard {
    /// Its report folder, as given to the merge.
    pub dir: String,
    /// K.
    pub index: usize,
    /// Its episodes, `[first, last]`.
    pub episodes: [usize; 2],
    /// Its wall time, s.
    pub eval_s: f64,
    /// Its parallel episodes.
    pub jobs: usize,
    /// When it started, s since the Unix epoch (its machine's clock).
    pub started_unix_s: f64,
}

/// The `merged` section of a merged `eval.json`: how its wall times are
/// defined. `eval_s` of the merged report (and of each baseline) is the
/// slowest shard's: the evaluation's wall time when its shards run at
/// once, which is what sharding is for. `machine_s` is their sum: what
/// one machine would have taken running the shards one after another;
/// `span_s` what really passed from the first shard's start to the last
/// one's end, by the shards' clocks (only as good as their agreement).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MergeInfo {
    /// N.
    pub count: usize,
    /// Every shard, in index order.
    pub shards: Vec<MergedShard>,
    /// Sum of the shards' wall times, s.
    pub machine_s: f64,
    /// The largest, s (the report's `eval_s`).
    pub wall_s: f64,
    /// From the first start to the last end, s.
    pub span_s: f64,
}

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard folders given")]
    NoShards,
    /// Two shards of different evaluations.
    #[error("{b} is a shard of another evaluation than {a}: {what}")]
    Different {
        /// The first shard's folder.
        a: String,
        /// The other's.
        b: String,
        /// What differs.
        what: String,
    },
    /// The same shard twice.
    #[error("{a} and {b} are both shard {index}/{count}")]
    Duplicate {
        /// One folder.
        a: String,
        /// The other.
        b: String,
        /// K.
        index: usize,
        /// N.
        count: usize,
    },
    /// Shards not given.
    #[error("missing shard(s) {missing} of {count}: every shard 1..{count} must be given once")]
    Missing {
        /// Their indices, e.g. `2, 4`.
        missing: String,
        /// N.
        count: usize,
    },
    /// A shard whose episodes are not its block.
    #[error(
        "{dir}: shard {spec} of {total} episodes must hold episodes {expected:?}, it holds {held}"
    )]
    Episodes {
        /// Its folder.
        dir: String,
        /// K/N.
        spec: ShardSpec,
        /// Episodes of the evaluation.
        total: usize,
        /// Its block.
        expected: Range<usize>,
        /// What it says it holds.
        held: String,
    },
    /// A shard's `shard` section is invalid.
    #[error("{dir}: {source}")]
    Spec {
        /// Its folder.
        dir: String,
        /// Why.
        source: ShardError,
    },
    /// A shard's runs do not match its `eval.json`.
    #[error("{dir}: {what}")]
    Runs {
        /// Its folder.
        dir: String,
        /// What does not match.
        what: String,
    },
}

/// Checks that `shards` (`(folder, section)`) are every shard of one
/// evaluation exactly once, each holding its own block of episodes, and
/// returns their positions in `shards` ordered by shard index.
pub fn check_shards(shards: &[(String, ShardInfo)]) -> Result<Vec<usize>, MergeError> {
    let (first_dir, first) = shards.first().ok_or(MergeError::NoShards)?;
    let count = first.count;
    let mut at: Vec<Option<usize>> = Vec::new();
    for (k, (dir, s)) in shards.iter().enumerate() {
        let different = |what: String| MergeError::Different {
            a: first_dir.clone(),
            b: dir.clone(),
            what,
        };
        if let Some(what) = first.evaluation.difference(&s.evaluation) {
            return Err(different(what));
        }
        if s.count != count {
            return Err(different(format!("{count} shards vs {}", s.count)));
        }
        let spec = ShardSpec::new(s.index, s.count).map_err(|source| MergeError::Spec {
            dir: dir.clone(),
            source,
        })?;
        let total = s.evaluation.episodes;
        let expected = spec.episodes(total).map_err(|source| MergeError::Spec {
            dir: dir.clone(),
            source,
        })?;
        if !s.episodes.iter().copied().eq(expected.clone()) {
            return Err(MergeError::Episodes {
                dir: dir.clone(),
                spec,
                total,
                expected,
                held: describe(&s.episodes),
            });
        }
        if at.is_empty() {
            at = vec![None; count];
        }
        let slot = &mut at[s.index - 1];
        if let Some(other) = *slot {
            return Err(MergeError::Duplicate {
                a: shards[other].0.clone(),
                b: dir.clone(),
                index: s.index,
                count,
            });
        }
        *slot = Some(k);
    }
    let missing: Vec<String> = at
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count,
        });
    }
    Ok(at.into_iter().flatten().collect())
}

/// A short description of a list of episode indices.
fn describe(episodes: &[usize]) -> String {
    match (episodes.first(), episodes.last()) {
        (Some(a), Some(b)) => format!("{} episodes, {a} to {b}", episodes.len()),
        _ => "no episodes".into(),
    }
}

/// Merges the runs of every shard (`groups[k]` those of shard `k + 1`,
/// each with `labels` in order: `config`, then the baselines) into one
/// evaluation per label, for a control period of `period` s: the runs in
/// index order, every row and aggregate recomputed by
/// [`from_runs`], `eval_s` the slowest shard's and `jobs` the sum of the
/// shards' (see [`MergeInfo`]). `dirs[k]` names shard `k + 1` in errors.
pub fn merge_groups(
    dirs: &[String],
    mut groups: Vec<Vec<RunGroup>>,
    labels: &[String],
    period: f64,
) -> Result<Vec<(String, Evaluation)>, MergeError> {
    let mut out = Vec::new();
    for label in labels {
        let mut controller: Option<String> = None;
        let (mut eval_s, mut jobs) = (0.0f64, 0usize);
        let mut runs = Vec::new();
        for (dir, shard) in dirs.iter().zip(groups.iter_mut()) {
            let bad = |what: String| MergeError::Runs {
                dir: dir.clone(),
                what,
            };
            let g = shard
                .iter_mut()
                .find(|g| &g.label == label)
                .ok_or_else(|| bad(format!("no runs of `{label}`")))?;
            match &controller {
                Some(c) if *c != g.controller => {
                    return Err(bad(format!(
                        "`{label}` is controller {} here, {c} in the first shard",
                        g.controller
                    )));
                }
                _ => controller = Some(g.controller.clone()),
            }
            eval_s = eval_s.max(g.eval_s);
            jobs += g.jobs;
            // Moved, not copied: a large evaluation's runs are held once.
            runs.append(&mut g.runs);
        }
        let name = controller.unwrap_or_default();
        out.push((label.clone(), from_runs(name, runs, eval_s, jobs, period)));
    }
    Ok(out)
}

/// The shards' runs, checked against their sections: shard `k` (in
/// `infos`, by index order) holds exactly its episodes, with seed
/// `seed + index`, in every group.
pub fn check_runs(
    dirs: &[String],
    infos: &[&ShardInfo],
    groups: &[Vec<RunGroup>],
) -> Result<(), MergeError> {
    for ((dir, info), shard) in dirs.iter().zip(infos).zip(groups) {
        for g in shard {
            let held: Vec<usize> = g.runs.iter().map(|(i, _)| *i).collect();
            let seeds_ok = g
                .runs
                .iter()
                .all(|(i, r)| r.seed == info.evaluation.seed.wrapping_add(*i as u64));
            if held != info.episodes || !seeds_ok {
                return Err(MergeError::Runs {
                    dir: dir.clone(),
                    what: format!(
                        "the runs of `{}` ({}) are not the episodes eval.json lists ({}) with their seeds",
                        g.label,
                        describe(&held),
                        describe(&info.episodes)
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::episode::EpisodeRun;
    use crate::offline::eval_shard::EvalIdentity;

    fn identity() -> EvalIdentity {
        EvalIdentity {
            config: "c.toml".into(),
            fingerprint: "00ff".into(),
            robot: "cartpole".into(),
            task: "swingup".into(),
            seed: 100,
            episodes: 5,
            full_budget: true,
            remote: false,
            baselines: vec![],
            umwelt_version: "0.1.0".into(),
        }
    }

    fn shard(index: usize, count: usize) -> (String, ShardInfo) {
        let episodes = ShardSpec::new(index, count)
            .unwrap()
            .episodes(5)
            .unwrap()
            .collect();
        let info = ShardInfo {
            index,
            count,
            episodes,
            evaluation: identity(),
            runs_file: "runs.bin".into(),
            runs_xxh3: "0".into(),
            started_unix_s: 0.0,
        };
        (format!("s{index}"), info)
    }

    #[test]
    fn merging_needs_every_shard_of_one_evaluation_once() {
        let ok = vec![shard(3, 3), shard(1, 3), shard(2, 3)];
        assert_eq!(check_shards(&ok), Ok(vec![1, 2, 0]));
        assert_eq!(check_shards(&[]), Err(MergeError::NoShards));
        let missing = check_shards(&[shard(1, 3)]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "missing shard(s) 2, 3 of 3: every shard 1..3 must be given once"
        );
        let dup = check_shards(&[shard(1, 2), shard(1, 2)]).unwrap_err();
        assert!(
            matches!(dup, MergeError::Duplicate { index: 1, .. }),
            "{dup}"
        );
        let counts = check_shards(&[shard(1, 2), shard(2, 3)]).unwrap_err();
        assert!(counts.to_string().contains("2 shards vs 3"), "{counts}");
        let mut other = shard(2, 2);
        other.1.evaluation.seed = 7;
        let e = check_shards(&[shard(1, 2), other]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s2 is a shard of another evaluation than s1: seed 100 vs 7"
        );
        // Another path to the same files is the same evaluation.
        let mut moved = shard(2, 2);
        moved.1.evaluation.config = "/elsewhere/c.toml".into();
        assert!(check_shards(&[shard(1, 2), moved]).is_ok());
        // Overlapping blocks are refused.
        let mut overlap = shard(2, 2);
        overlap.1.episodes = vec![2, 3, 4];
        let e = check_shards(&[shard(1, 2), overlap]).unwrap_err();
        assert!(
            e.to_string()
                .contains("must hold episodes 3..5, it holds 3 episodes, 2 to 4"),
            "{e}"
        );
    }

    /// A run of `seed` whose numbers differ from seed to seed.
    fn run(seed: u64) -> EpisodeRun {
        let rewards: Vec<f32> = (0..7).map(|k| ((seed * 7 + k) as f32).sin()).collect();
        EpisodeRun {
            seed,
            ret: rewards.iter().map(|r| *r as f64).sum(),
            length: 7,
            success: seed.is_multiple_of(3),
            max_reward: rewards.iter().copied().fold(f32::MIN, f32::max),
            actions: rewards.clone(),
            controller_us: (0..7).map(|k| (seed + k) as f32).collect(),
            rewards,
            ..EpisodeRun::default()
        }
    }

    fn group(label: &str, indices: std::ops::Range<usize>, eval_s: f64) -> RunGroup {
        RunGroup {
            label: label.into(),
            controller: "mpc".into(),
            jobs: 2,
            eval_s,
            runs: indices.map(|i| (i, run(100 + i as u64))).collect(),
        }
    }

    #[test]
    fn merged_runs_give_one_runs_numbers_to_the_bit() {
        let dirs = vec!["s1".to_string(), "s2".to_string()];
        let groups = vec![
            vec![group("config", 0..3, 2.5), group("random", 0..3, 0.5)],
            vec![group("config", 3..5, 4.0), group("random", 3..5, 0.25)],
        ];
        let (a, b) = (shard(1, 2).1, shard(2, 2).1);
        assert_eq!(check_runs(&dirs, &[&a, &b], &groups), Ok(()));
        let labels = vec!["config".to_string(), "random".to_string()];
        let merged = merge_groups(&dirs, groups, &labels, 0.01).unwrap();
        let whole = from_runs(
            "mpc".into(),
            (0..5).map(|i| (i, run(100 + i as u64))).collect(),
            4.0,
            4,
            0.01,
        );
        let (label, m) = &merged[0];
        assert_eq!(label, "config");
        let rows = |e: &Evaluation| format!("{:?}", e.episodes);
        assert_eq!(rows(m), rows(&whole));
        // Debug prints floats exactly (shortest round trip): equal text,
        // equal bits.
        assert_eq!(format!("{:?}", m.summary), format!("{:?}", whole.summary));
        assert_eq!((m.summary.eval_s, m.summary.jobs), (4.0, 4));
        assert_eq!(merged[1].1.summary.eval_s, 0.5);
    }

    #[test]
    fn runs_that_are_not_the_shards_episodes_are_refused() {
        let dirs = vec!["s1".to_string(), "s2".to_string()];
        let (a, b) = (shard(1, 2).1, shard(2, 2).1);
        let mut wrong_seed = group("config", 3..5, 1.0);
        wrong_seed.runs[1].1.seed = 7;
        let groups = vec![vec![group("config", 0..3, 1.0)], vec![wrong_seed]];
        let e = check_runs(&dirs, &[&a, &b], &groups).unwrap_err();
        assert!(e.to_string().starts_with("s2: the runs of `config`"), "{e}");
        let missing = vec![
            vec![group("config", 0..3, 1.0)],
            vec![group("config", 3..4, 1.0)],
        ];
        assert!(check_runs(&dirs, &[&a, &b], &missing).is_err());
        let mut other = group("config", 3..5, 1.0);
        other.controller = "random".into();
        let groups = vec![vec![group("config", 0..3, 1.0)], vec![other]];
        let e = merge_groups(&dirs, groups, &["config".to_string()], 0.01)
            .err()
            .expect("refused");
        assert!(
            e.to_string().contains("is controller random here, mpc"),
            "{e}"
        );
    }
}
