//! The episodes of one shard of an evaluation (`umwelt eval --shard K/N`),
//! as `umwelt eval merge` needs them: every run's seed, return, rewards,
//! commands and controller time per tick, exactly.
//!
//! A binary file, not JSON: the merged report must equal an unsharded
//! run's to the bit, and a float through JSON text is exact only if both
//! the printer and the parser round-trip it (serde_json's default parser
//! does not promise to); here every float is its IEEE bits. Layout, little
//! endian: the magic `UMWELT-EVAL-RUNS`, a `u32` version (1), a `u32`
//! number of groups (the configured controller, then each baseline), each
//! group `label`, `controller` (a `u32` length and UTF-8), `jobs: u64`,
//! `eval_s: f64`, a `u64` number of runs and the runs (see [`put_run`]);
//! last, the xxh3-64 of everything before it, so a truncated or damaged
//! file is refused rather than merged.

use crate::control::safety::Interventions;
use crate::offline::episode::EpisodeRun;
use crate::offline::eval::Evaluation;

const MAGIC: &[u8; 16] = b"UMWELT-EVAL-RUNS";
const VERSION: u32 = 1;
/// The fewest bytes a run takes (no steps): its fixed fields and three
/// empty lists.
const RUN_MIN_BYTES: usize = 138;

/// The runs of one controller in one shard.
#[derive(Clone, Debug)]
pub struct RunGroup {
    /// `config` for the configured controller, else the baseline's name.
    pub label: String,
    /// The controller's name ([`crate::offline::eval::EvalSummary::controller`]).
    pub controller: String,
    /// Episodes the shard ran in parallel.
    pub jobs: usize,
    /// The shard's wall time for these episodes, s.
    pub eval_s: f64,
    /// `(index in the whole evaluation, run)`, in index order. The runs
    /// have no dataset record ([`EpisodeRun::record`]).
    pub runs: Vec<(usize, EpisodeRun)>,
}

/// Why a runs file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RunsError {
    /// Not a runs file.
    #[error("not an umwelt eval runs file (bad magic)")]
    Magic,
    /// Written by another version of the format.
    #[error("runs file version {0}, this umwelt reads version {VERSION}")]
    Version(u32),
    /// The checksum does not match: truncated or damaged.
    #[error("checksum mismatch: the file is truncated or damaged")]
    Checksum,
    /// The content does not make sense (a length beyond the file, text
    /// that is not UTF-8, a run whose rewards do not match its length).
    #[error("corrupted at byte {at}: {what}")]
    Invalid {
        /// Byte offset.
        at: usize,
        /// What is wrong.
        what: String,
    },
}

/// The xxh3-64 of `bytes`, as 16 hex digits (how `eval.json` names a runs
/// file's content).
pub fn digest(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Encodes the groups `(label, evaluation)`: each evaluation's rows give
/// the indices, its runs the rest.
pub fn encode(groups: &[(&str, &Evaluation)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(groups.len() as u32).to_le_bytes());
    for (label, ev) in groups {
        put_str(&mut b, label);
        put_str(&mut b, &ev.summary.controller);
        b.extend_from_slice(&(ev.summary.jobs as u64).to_le_bytes());
        b.extend_from_slice(&ev.summary.eval_s.to_bits().to_le_bytes());
        b.extend_from_slice(&(ev.runs.len() as u64).to_le_bytes());
        for (row, run) in ev.episodes.iter().zip(&ev.runs) {
            put_run(&mut b, row.index, run);
        }
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&b);
    b.extend_from_slice(&sum.to_le_bytes());
    b
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_f32s(b: &mut Vec<u8>, v: &[f32]) {
    b.extend_from_slice(&(v.len() as u64).to_le_bytes());
    for x in v {
        b.extend_from_slice(&x.to_bits().to_le_bytes());
    }
}

/// One run: `index, seed: u64`, `ret: f64`, `length: u32`, `success: u8`,
/// `max_reward: f32`, `deadline_misses, late: u64`, `cut: u8`, the eight
/// intervention counts (`u64`, in [`Interventions`]' field order), then
/// `rewards`, `actions` and `controller_us` (each a `u64` count and `f32`s).
fn put_run(b: &mut Vec<u8>, index: usize, r: &EpisodeRun) {
    b.extend_from_slice(&(index as u64).to_le_bytes());
    b.extend_from_slice(&r.seed.to_le_bytes());
    b.extend_from_slice(&r.ret.to_bits().to_le_bytes());
    b.extend_from_slice(&r.length.to_le_bytes());
    b.push(u8::from(r.success));
    b.extend_from_slice(&r.max_reward.to_bits().to_le_bytes());
    b.extend_from_slice(&r.deadline_misses.to_le_bytes());
    b.extend_from_slice(&r.late.to_le_bytes());
    b.push(u8::from(r.cut));
    let i = &r.interventions;
    for n in [
        i.no_frame,
        i.stale,
        i.non_finite,
        i.controller_error,
        i.controller_panic,
        i.estop,
        i.clamped,
        i.slew_limited,
    ] {
        b.extend_from_slice(&n.to_le_bytes());
    }
    put_f32s(b, &r.rewards);
    put_f32s(b, &r.actions);
    put_f32s(b, &r.controller_us);
}

/// A reader over the file's body that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bad(&self, what: impl Into<String>) -> RunsError {
        RunsError::Invalid {
            at: self.at,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RunsError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| self.bad(format!("{n} bytes wanted, the file ends first")))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RunsError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, RunsError> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, RunsError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.bad(format!("a flag of {v}"))),
        }
    }

    fn u32(&mut self) -> Result<u32, RunsError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, RunsError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn usize(&mut self) -> Result<usize, RunsError> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.bad(format!("{v} does not fit in memory")))
    }

    /// A count of items of `size` bytes each, checked against the bytes
    /// left, so a damaged count cannot ask for a huge allocation.
    fn count(&mut self, size: usize) -> Result<usize, RunsError> {
        let n = self.usize()?;
        let left = self.bytes.len() - self.at;
        if n.checked_mul(size).is_none_or(|b| b > left) {
            return Err(self.bad(format!("{n} items, more than the file holds")));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, RunsError> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| self.bad("text that is not UTF-8"))
    }

    fn f32s(&mut self) -> Result<Vec<f32>, RunsError> {
        let n = self.count(4)?;
        (0..n).map(|_| Ok(f32::from_bits(self.u32()?))).collect()
    }
}

/// Decodes a runs file (see the module documentation), checking its
/// checksum first.
pub fn decode(bytes: &[u8]) -> Result<Vec<RunGroup>, RunsError> {
    if bytes.len() < MAGIC.len() + 8 + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(RunsError::Magic);
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let mut sum = [0u8; 8];
    sum.copy_from_slice(tail);
    if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(sum) {
        return Err(RunsError::Checksum);
    }
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len(),
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(RunsError::Version(version));
    }
    let n = r.u32()? as usize;
    let mut groups = Vec::new();
    for _ in 0..n {
        let label = r.string()?;
        let controller = r.string()?;
        let jobs = r.usize()?;
        let eval_s = f64::from_bits(r.u64()?);
        let count = r.count(RUN_MIN_BYTES)?;
        let mut runs = Vec::with_capacity(count);
        for _ in 0..count {
            runs.push(get_run(&mut r)?);
        }
        groups.push(RunGroup {
            label,
            controller,
            jobs,
            eval_s,
            runs,
        });
    }
    if r.at != body.len() {
        return Err(r.bad("bytes after the last group"));
    }
    Ok(groups)
}

fn get_run(r: &mut Reader<'_>) -> Result<(usize, EpisodeRun), RunsError> {
    let index = r.usize()?;
    let seed = r.u64()?;
    let ret = f64::from_bits(r.u64()?);
    let length = r.u32()?;
    let success = r.bool()?;
    let max_reward = f32::from_bits(r.u32()?);
    let deadline_misses = r.u64()?;
    let late = r.u64()?;
    let cut = r.bool()?;
    let mut n = [0u64; 8];
    for x in &mut n {
        *x = r.u64()?;
    }
    let interventions = Interventions {
        no_frame: n[0],
        stale: n[1],
        non_finite: n[2],
        controller_error: n[3],
        controller_panic: n[4],
        estop: n[5],
        clamped: n[6],
        slew_limited: n[7],
    };
    let rewards = r.f32s()?;
    let actions = r.f32s()?;
    let controller_us = r.f32s()?;
    let steps = length as usize;
    if rewards.len() != steps || (steps == 0 && !actions.is_empty()) {
        return Err(r.bad(format!(
            "episode {index}: {} rewards, {} actions for {length} steps",
            rewards.len(),
            actions.len()
        )));
    }
    if steps > 0 && !actions.len().is_multiple_of(steps) {
        return Err(r.bad(format!(
            "episode {index}: {} actions for {length} steps",
            actions.len()
        )));
    }
    let run = EpisodeRun {
        seed,
        ret,
        length,
        success,
        max_reward,
        rewards,
        actions,
        controller_us,
        deadline_misses,
        interventions,
        late,
        cut,
        stopped: false,
        record: None,
    };
    Ok((index, run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::eval::from_runs;

    fn run(seed: u64, steps: usize) -> EpisodeRun {
        let rewards: Vec<f32> = (0..steps)
            .map(|k| (k as f32 * 0.37 + seed as f32).sin())
            .collect();
        EpisodeRun {
            seed,
            ret: rewards.iter().map(|r| *r as f64).sum(),
            length: steps as u32,
            success: seed.is_multiple_of(2),
            max_reward: rewards.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            actions: rewards.iter().flat_map(|r| [*r, -r]).collect(),
            controller_us: (0..steps).map(|k| 10.0 + k as f32 / 7.0).collect(),
            rewards,
            deadline_misses: seed,
            interventions: Interventions {
                clamped: 3,
                slew_limited: seed,
                ..Interventions::default()
            },
            late: 1,
            cut: seed == 9,
            ..EpisodeRun::default()
        }
    }

    fn evaluation() -> Evaluation {
        let runs = vec![(4, run(7, 5)), (5, run(8, 6)), (6, run(9, 0))];
        let mut ev = from_runs("mpc".into(), runs, 1.25, 2, 0.01);
        ev.summary.eval_s = 1.0 / 3.0;
        ev
    }

    #[test]
    fn runs_come_back_bit_for_bit() {
        let ev = evaluation();
        let bytes = encode(&[("config", &ev), ("random", &ev)]);
        let groups = decode(&bytes).unwrap();
        assert_eq!(groups.len(), 2);
        let g = &groups[1];
        assert_eq!((g.label.as_str(), g.controller.as_str()), ("random", "mpc"));
        assert_eq!(g.jobs, 2);
        assert_eq!(g.eval_s.to_bits(), (1.0f64 / 3.0).to_bits());
        let indices: Vec<usize> = g.runs.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [4, 5, 6]);
        for ((_, a), b) in g.runs.iter().zip(&ev.runs) {
            assert_eq!(a.ret.to_bits(), b.ret.to_bits());
            assert_eq!(a.rewards, b.rewards);
            assert_eq!(a.actions, b.actions);
            assert_eq!(a.controller_us, b.controller_us);
            assert_eq!(a.interventions, b.interventions);
            assert_eq!(
                (
                    a.seed,
                    a.length,
                    a.success,
                    a.deadline_misses,
                    a.late,
                    a.cut
                ),
                (
                    b.seed,
                    b.length,
                    b.success,
                    b.deadline_misses,
                    b.late,
                    b.cut
                )
            );
            assert_eq!(a.max_reward.to_bits(), b.max_reward.to_bits());
        }
    }

    #[test]
    fn damaged_files_are_refused_never_misread() {
        let ev = evaluation();
        let bytes = encode(&[("config", &ev)]);
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]).err(),
            Some(RunsError::Checksum)
        );
        assert_eq!(
            decode(b"not a runs file at all").err(),
            Some(RunsError::Magic)
        );
        for at in [20, 40, 100, bytes.len() / 2, bytes.len() - 9] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert_eq!(decode(&bad).err(), Some(RunsError::Checksum), "byte {at}");
        }
        // A huge count with a valid checksum is refused, not allocated.
        let mut body = bytes[..bytes.len() - 8].to_vec();
        let at = MAGIC.len() + 8 + 4 + "config".len() + 4 + "mpc".len() + 16;
        body[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&body);
        body.extend_from_slice(&sum.to_le_bytes());
        assert!(
            matches!(decode(&body), Err(RunsError::Invalid { .. })),
            "{:?}",
            decode(&body)
        );
    }

    #[test]
    fn digests_are_sixteen_hex_digits() {
        let d = digest(b"abc");
        assert_eq!(d.len(), 16);
        assert!(d.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(d, digest(b"abd"));
    }
}
