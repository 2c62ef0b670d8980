//! One evaluation over several machines: `umwelt eval --shard K/N` runs
//! shard K of N, `umwelt eval merge` puts the shards back together
//! ([`crate::offline::eval_merge`]) into the report one run of all
//! episodes writes, with the same numbers.
//!
//! `--episodes E --seed S` always describe the whole evaluation (episode
//! `i` has seed `S + i`); a shard runs a contiguous block of it
//! ([`ShardSpec::episodes`]). Contiguous rather than round-robin on
//! purpose: a block is one seed range, so a shard is the same episodes
//! as `--seed S+a --episodes b-a` run alone and can be checked against
//! one; each shard's `episodes.csv` is a slice of the whole one; and the
//! merge is a concatenation in shard order. Round-robin would balance
//! load only if an episode's cost followed its index, and it does not:
//! every episode has the same number of steps, and seeds are arbitrary.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::control::config::ControllerConfig;
use crate::control::resolve::Resolved;

/// Most shards of one evaluation (as many as `--episodes` allows).
pub const MAX_SHARDS: usize = 1_000_000;

/// Shard `index` of `count` (1-based, `1 <= index <= count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// K, from 1.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

/// Why a `--shard` or a set of shards is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShardError {
    /// Not `K/N` with two whole numbers.
    #[error("{0:?}: expected K/N, two whole numbers such as 2/4 (shard K of N)")]
    Syntax(String),
    /// N is 0 or too large.
    #[error("shard {index}/{count}: N must be 1 to {MAX_SHARDS}")]
    Count {
        /// K.
        index: usize,
        /// N.
        count: usize,
    },
    /// K is outside 1..=N.
    #[error("shard {index}/{count}: K must be 1 to N ({count})")]
    Index {
        /// K.
        index: usize,
        /// N.
        count: usize,
    },
    /// More shards than episodes: some would run nothing.
    #[error(
        "shard {index}/{count} of {episodes} episodes: more shards than episodes would leave some empty; use at most {episodes} shards"
    )]
    TooMany {
        /// K.
        index: usize,
        /// N.
        count: usize,
        /// Episodes of the whole evaluation.
        episodes: usize,
    },
}

impl ShardSpec {
    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count { index, count });
        }
        if index == 0 || index > count {
            return Err(ShardError::Index { index, count });
        }
        Ok(Self { index, count })
    }

    /// The indices of this shard's episodes among `total`: the K-th of N
    /// contiguous blocks, the first `total % N` blocks one longer than the
    /// rest (so sizes differ by at most one). Every index of `0..total`
    /// is in exactly one shard. Refused when `N > total`.
    pub fn episodes(&self, total: usize) -> Result<Range<usize>, ShardError> {
        if self.count > total {
            return Err(ShardError::TooMany {
                index: self.index,
                count: self.count,
                episodes: total,
            });
        }
        let (base, extra) = (total / self.count, total % self.count);
        let j = self.index - 1;
        let start = j * base + j.min(extra);
        Ok(start..start + base + usize::from(j < extra))
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    /// `K/N`, digits only: `2/4`.
    fn from_str(s: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(syntax)?;
        let number = |t: &str| -> Result<usize, ShardError> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            // Digits that overflow are at least too many shards.
            Ok(t.parse::<usize>().unwrap_or(usize::MAX))
        };
        ShardSpec::new(number(k)?, number(n)?)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What makes shards parts of one evaluation: everything that decides
/// its episodes and numbers. Shards merge only if all of it is equal
/// (but `config`, the path as given, which may differ between machines;
/// `fingerprint` covers the files' content).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalIdentity {
    /// The controller config's path, as the shard was given it.
    pub config: String,
    /// xxh3-64 of the config, robot and checkpoint files ([`fingerprint`]).
    pub fingerprint: String,
    /// The robot.
    pub robot: String,
    /// The task.
    pub task: String,
    /// Seed of the whole evaluation's episode 0.
    pub seed: u64,
    /// Episodes of the whole evaluation.
    pub episodes: usize,
    /// `--full-budget`.
    pub full_budget: bool,
    /// `--remote`.
    pub remote: bool,
    /// `--baselines`, in order.
    pub baselines: Vec<String>,
    /// The umwelt version that ran it.
    pub umwelt_version: String,
}

impl EvalIdentity {
    /// The first field (but `config`) in which `other` differs, as
    /// `name a vs b`.
    pub fn difference(&self, other: &EvalIdentity) -> Option<String> {
        let pairs = [
            (
                "fingerprint",
                self.fingerprint.clone(),
                other.fingerprint.clone(),
            ),
            ("robot", self.robot.clone(), other.robot.clone()),
            ("task", self.task.clone(), other.task.clone()),
            ("seed", self.seed.to_string(), other.seed.to_string()),
            (
                "episodes",
                self.episodes.to_string(),
                other.episodes.to_string(),
            ),
            (
                "full_budget",
                self.full_budget.to_string(),
                other.full_budget.to_string(),
            ),
            ("remote", self.remote.to_string(), other.remote.to_string()),
            (
                "baselines",
                self.baselines.join(","),
                other.baselines.join(","),
            ),
            (
                "umwelt_version",
                self.umwelt_version.clone(),
                other.umwelt_version.clone(),
            ),
        ];
        pairs
            .into_iter()
            .find(|(_, a, b)| a != b)
            .map(|(name, a, b)| format!("{name} {a} vs {b}"))
    }
}

/// The `shard` section of a shard's `eval.json`: which part of which
/// evaluation it is, and where its runs are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// K.
    pub index: usize,
    /// N.
    pub count: usize,
    /// The indices of its episodes in the whole evaluation.
    pub episodes: Vec<usize>,
    /// The evaluation it is a part of.
    pub evaluation: EvalIdentity,
    /// Its runs ([`crate::offline::eval_runs`]), relative to the report
    /// folder.
    pub runs_file: String,
    /// xxh3-64 of the runs file ([`crate::offline::eval_runs::digest`]).
    pub runs_xxh3: String,
    /// When its episodes started, s since the Unix epoch (by its
    /// machine's clock).
    pub started_unix_s: f64,
}

/// The xxh3-64 (16 hex digits) of every file that decides an
/// evaluation's episodes: the controller config at `config`, and, as `r`
/// resolved them, the robot description or simulator config files and
/// the model checkpoint. Each file enters with its role and length, so
/// moving bytes between files changes it.
pub fn fingerprint(config: &Path, r: &Resolved) -> Result<String, std::io::Error> {
    let mut files: Vec<(&str, &Path)> = vec![("config", config)];
    let robot = Path::new(&r.config.robot);
    if robot.is_file() {
        files.push(("robot", robot));
    }
    if let Some(rc) = &r.config.robot_config {
        files.push(("robot_config", rc));
    }
    if let ControllerConfig::Mpc(m) = &r.config.controller
        && let Some(ck) = &m.checkpoint
    {
        files.push(("checkpoint", ck));
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (role, path) in files {
        let bytes = std::fs::read(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        h.update(role.as_bytes());
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(format!("{:016x}", h.digest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_flags_parse_and_bad_ones_say_why() {
        assert_eq!("2/4".parse(), Ok(ShardSpec { index: 2, count: 4 }));
        assert_eq!("1/1".parse(), Ok(ShardSpec { index: 1, count: 1 }));
        assert_eq!(ShardSpec { index: 3, count: 7 }.to_string(), "3/7");
        for bad in [
            "", "2", "a/b", "1/", "/2", "1/2/3", " 1/2", "-1/2", "+1/2", "1.0/2",
        ] {
            assert_eq!(
                bad.parse::<ShardSpec>(),
                Err(ShardError::Syntax(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            "3/2".parse::<ShardSpec>(),
            Err(ShardError::Index { index: 3, count: 2 })
        );
        assert_eq!(
            "0/2".parse::<ShardSpec>(),
            Err(ShardError::Index { index: 0, count: 2 })
        );
        assert_eq!(
            "1/0".parse::<ShardSpec>(),
            Err(ShardError::Count { index: 1, count: 0 })
        );
        let huge = "1/99999999999999999999999".parse::<ShardSpec>();
        assert!(matches!(huge, Err(ShardError::Count { .. })), "{huge:?}");
        let msg = "3/2".parse::<ShardSpec>().unwrap_err().to_string();
        assert!(
            msg.contains("K must be 1 to N") && !msg.contains('\n'),
            "{msg}"
        );
    }

    #[test]
    fn blocks_cover_every_episode_once_and_differ_by_at_most_one() {
        for total in 1..40 {
            for count in 1..=total {
                let blocks: Vec<Range<usize>> = (1..=count)
                    .map(|k| ShardSpec::new(k, count).unwrap().episodes(total).unwrap())
                    .collect();
                let flat: Vec<usize> = blocks.iter().cloned().flatten().collect();
                assert_eq!(flat, (0..total).collect::<Vec<_>>(), "{total} in {count}");
                let lens: Vec<usize> = blocks.iter().map(|b| b.len()).collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1 && *lo >= 1, "{total} in {count}: {lens:?}");
            }
        }
        assert_eq!(ShardSpec::new(2, 3).unwrap().episodes(20), Ok(7..14));
        assert_eq!(
            ShardSpec::new(4, 4).unwrap().episodes(3),
            Err(ShardError::TooMany {
                index: 4,
                count: 4,
                episodes: 3
            })
        );
    }
}
