//! The held-out selection of what a run ships (`final.uwwm`).
//!
//! The curve's evaluations are few episodes on the same seeds every time,
//! so the best of them is partly the luckiest (selection bias): choosing a
//! checkpoint by them and reporting that same number overstates it. So the
//! run keeps the checkpoints of a few candidate evaluations (the `K` best
//! curve points and the last) in `candidates/`, and when its budget is
//! spent evaluates each again on seeds nothing else uses; the best there
//! becomes `final.uwwm`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use umwelt_models::dataset::DatasetSpec;
use umwelt_models::world_model::Checkpoint;

use super::curve::mean_std;
use super::error::io;
use super::planner::evaluate;
use super::{LearnError, LearnEvent, LearnState, RunDir, write_atomic};
use crate::control::Resolved;
use crate::offline::plant::Plant;

/// The first held-out seed, if the training episodes' seeds leave it free:
/// far from the curve's (1,000,000 up), the reporting seeds people use
/// (100-119, 2000-2019) and the training episodes' of a run seeded low.
pub const HELD_OUT_SEED_BASE: u64 = 3_000_000;

/// How far the held-out seeds move when a run's training seeds reach them.
const HELD_OUT_SEED_STEP: u64 = 1_000_000;

/// The first seed of the curve's evaluation episodes.
pub const CURVE_SEED_BASE: u64 = 1_000_000;

/// Most candidates (`--select-candidates`) a run keeps besides its last.
pub const MAX_SELECT_CANDIDATES: usize = 32;

/// Most held-out episodes per candidate (`--select-episodes`).
pub const MAX_SELECT_EPISODES: usize = 10_000;

/// A checkpoint kept for the held-out selection, in
/// `candidates/steps_<env_steps>.uwwm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Environment steps of the run when it was saved.
    pub env_steps: u64,
    /// Its curve evaluation's mean return; `None` for the model at a run's
    /// end that the curve never evaluated (its last evaluation stopped, or
    /// a budget spent by the seed episodes).
    pub curve_return: Option<f64>,
}

/// One candidate's held-out evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Environment steps of the run when it was saved (its file is
    /// `candidates/steps_<env_steps>.uwwm`).
    pub env_steps: u64,
    /// Its curve evaluation's mean return, if it had one.
    pub curve_return: Option<f64>,
    /// Mean return over the held-out episodes.
    pub held_out_return: f64,
    /// Standard deviation (population) of those returns.
    pub held_out_std: f64,
    /// Share of held-out episodes that met the task's success rule.
    pub held_out_success: f64,
}

/// What the held-out selection chose, and on what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Environment steps of the run when it selected (the end of its
    /// budget then; a run resumed with a larger budget selects again).
    pub env_steps: u64,
    /// The first held-out seed; the episodes' seeds are this and the next
    /// `episodes - 1`, and the planner's noise is reseeded with the run's
    /// seed plus each.
    pub seeds_from: u64,
    /// Held-out episodes per candidate.
    pub episodes: usize,
    /// Every candidate, in order of environment steps.
    pub candidates: Vec<Scored>,
    /// The environment steps of the one chosen, now `final.uwwm`.
    pub chosen: u64,
}

impl Selection {
    /// The one line saying what was chosen and beside what.
    pub fn summary(&self) -> String {
        let Some(c) = self.candidates.iter().find(|s| s.env_steps == self.chosen) else {
            return "final.uwwm: no candidate".into();
        };
        let last = self.candidates.iter().max_by_key(|s| s.env_steps);
        let head = format!(
            "final.uwwm: the {} at {} steps, held-out {:.1} over {} episodes",
            if last.is_some_and(|l| l.env_steps == c.env_steps) {
                "last checkpoint"
            } else {
                "checkpoint"
            },
            thousands(c.env_steps),
            c.held_out_return,
            self.episodes
        );
        let beside = match last {
            Some(l) if l.env_steps != c.env_steps => format!(
                "beside the last ({} steps) at {:.1}",
                thousands(l.env_steps),
                l.held_out_return
            ),
            _ => {
                let next = self
                    .candidates
                    .iter()
                    .filter(|s| s.env_steps != c.env_steps)
                    .max_by(|a, b| better(a, b));
                match next {
                    Some(n) => format!(
                        "beside the next best ({} steps) at {:.1}",
                        thousands(n.env_steps),
                        n.held_out_return
                    ),
                    None => "the only candidate".into(),
                }
            }
        };
        format!("{head}, {beside}")
    }
}

/// `n` with commas between thousands (65,000).
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The order of held-out results: higher mean wins, a tie goes to the later
/// checkpoint (trained on more), a non-finite mean loses to any finite one.
fn better(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    let key = |s: &Scored| {
        (
            s.held_out_return.is_finite(),
            if s.held_out_return.is_finite() {
                s.held_out_return
            } else {
                0.0
            },
        )
    };
    let (fa, va) = key(a);
    let (fb, vb) = key(b);
    fa.cmp(&fb)
        .then(va.total_cmp(&vb))
        .then(a.env_steps.cmp(&b.env_steps))
}

/// The index in `scored` of the candidate to ship: the highest held-out
/// mean, ties to the later checkpoint; `None` when `scored` is empty.
pub(super) fn choose(scored: &[Scored]) -> Option<usize> {
    (0..scored.len()).max_by(|&i, &j| better(&scored[i], &scored[j]))
}

/// The pool after an evaluation adds `new` (the run's latest checkpoint):
/// the `k` best by curve return among `pool` and `new` (ties to the later;
/// candidates without a curve return never rank), and `new` itself. A
/// candidate once out of the best `k` never returns, since scores only
/// gain competition, so ranking the pool alone ranks every point the curve
/// has. Returns the new pool, in order of environment steps, and the
/// candidates dropped from `pool` (whose files go).
pub(super) fn admit(
    pool: &[Candidate],
    new: Candidate,
    k: usize,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let mut all: Vec<Candidate> = pool
        .iter()
        .filter(|c| c.env_steps != new.env_steps)
        .cloned()
        .collect();
    all.push(new.clone());
    let mut ranked: Vec<&Candidate> = all
        .iter()
        .filter(|c| c.curve_return.is_some_and(f64::is_finite))
        .collect();
    ranked.sort_by(|a, b| {
        let (ra, rb) = (a.curve_return.unwrap_or(0.0), b.curve_return.unwrap_or(0.0));
        rb.total_cmp(&ra).then(b.env_steps.cmp(&a.env_steps))
    });
    let keep: Vec<u64> = ranked
        .iter()
        .take(k)
        .map(|c| c.env_steps)
        .chain(std::iter::once(new.env_steps))
        .collect();
    let (mut kept, dropped): (Vec<Candidate>, Vec<Candidate>) =
        all.into_iter().partition(|c| keep.contains(&c.env_steps));
    kept.sort_by_key(|c| c.env_steps);
    let dropped = dropped
        .into_iter()
        .filter(|d| pool.iter().any(|p| p.env_steps == d.env_steps))
        .collect();
    (kept, dropped)
}

/// Whether the cyclic seed range `[a, a + n)` (wrapping, as the training
/// seeds `seed.wrapping_add(index)` do) meets `[b, b + m)`.
fn overlaps(a: u64, n: u64, b: u64, m: u64) -> bool {
    n > 0 && m > 0 && (b.wrapping_sub(a) < n || a.wrapping_sub(b) < m)
}

/// The first of `m` held-out seeds: [`HELD_OUT_SEED_BASE`], moved up by
/// steps of a million while the run's training seeds (`seed` plus each
/// dataset index below `episodes`) would reach into them. The curve's
/// seeds (from [`CURVE_SEED_BASE`], at most 10,000) and the reporting seeds
/// (100-119, 2000-2019) lie below the base, so they never meet.
pub(super) fn held_out_seeds(seed: u64, episodes: u64, m: u64) -> u64 {
    let mut base = HELD_OUT_SEED_BASE;
    while overlaps(seed, episodes, base, m) {
        base = base.saturating_add(HELD_OUT_SEED_STEP);
    }
    base
}

/// Makes `state.candidates` agree with `candidates/` on disk after a stop
/// or a crash: a candidate whose file is gone leaves the pool, a file of
/// the pool's naming that the pool does not list is deleted.
pub(super) fn reconcile(run: &RunDir, state: &mut LearnState) -> Result<(), LearnError> {
    state
        .candidates
        .retain(|c| run.candidate(c.env_steps).is_file());
    let dir = run.candidates();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e.map_err(io(&dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("steps_") && name.ends_with(".uwwm");
        let listed = |c: &Candidate| {
            run.candidate(c.env_steps).file_name() == Some(e.file_name().as_os_str())
        };
        if ours && !state.candidates.iter().any(listed) {
            std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
        }
    }
    Ok(())
}

/// Adds the run's latest checkpoint (`model.uwwm`, as saved at
/// `env_steps`) to the pool of `k` + 1: the losers' files are deleted
/// first, then the new one written atomically, so `candidates/` never
/// holds more than `k` + 1 files. The caller saves `learn.json`.
pub(super) fn keep(
    run: &RunDir,
    state: &mut LearnState,
    new: Candidate,
    k: usize,
) -> Result<(), LearnError> {
    let (pool, dropped) = admit(&state.candidates, new.clone(), k);
    for d in &dropped {
        let path = run.candidate(d.env_steps);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
            _ => {}
        }
    }
    std::fs::create_dir_all(run.candidates()).map_err(io(&run.candidates()))?;
    let bytes = std::fs::read(run.model()).map_err(io(&run.model()))?;
    write_atomic(&run.candidate(new.env_steps), &bytes)?;
    state.candidates = pool;
    Ok(())
}

/// What a selection needs of the run besides its state.
pub(super) struct Selector<'a> {
    /// The run directory.
    pub run: &'a RunDir,
    /// The robot's dataset spec (checkpoints are checked against it).
    pub spec: &'a DatasetSpec,
    /// The device to load candidates on.
    pub device: &'a Device,
    /// The noise-free planner config of the curve's evaluations.
    pub eval_cfg: &'a Resolved,
    /// The run's discount.
    pub gamma: f32,
    /// Episodes in the dataset (their seeds are the run's seed plus index).
    pub dataset_len: u64,
    /// Read before every control step.
    pub stop: &'a AtomicBool,
}

/// Runs the held-out selection at the end of a run's budget: the model now
/// joins the pool if the curve did not evaluate it, every candidate plays
/// `select_episodes` noise-free episodes on the held-out seeds, and the
/// best is written to `final.uwwm` (then `learn.json` by the caller).
/// `Ok(None)` when `stop` ended it: nothing is chosen, and a resumed run
/// selects again.
pub(super) fn select(
    s: &Selector<'_>,
    state: &mut LearnState,
    env: &mut dyn Plant,
    on_event: &mut dyn FnMut(LearnEvent<'_>),
) -> Result<Option<Selection>, LearnError> {
    let opts = state.options.clone();
    let m = opts.select_episodes;
    if !state
        .candidates
        .iter()
        .any(|c| c.env_steps == state.env_steps)
    {
        let t = Instant::now();
        let last = Candidate {
            env_steps: state.env_steps,
            curve_return: None,
        };
        keep(s.run, state, last, opts.select_candidates)?;
        state.time.save_s += t.elapsed().as_secs_f64();
    }
    let seeds_from = held_out_seeds(opts.seed, s.dataset_len, m as u64);
    let t = Instant::now();
    let mut scored = Vec::with_capacity(state.candidates.len());
    let n = state.candidates.len();
    for (i, c) in state.candidates.iter().enumerate() {
        on_event(LearnEvent::Selecting {
            candidate: i + 1,
            of: n,
            env_steps: c.env_steps,
        });
        let ck = Checkpoint::load_for(s.run.candidate(c.env_steps), s.spec, s.device)?;
        let ran = evaluate(
            s.eval_cfg,
            env,
            &ck.model,
            &ck.meta.normalization,
            s.gamma,
            (seeds_from, m),
            opts.seed,
            s.stop,
        )?;
        let Some((returns, successes)) = ran else {
            state.time.select_s += t.elapsed().as_secs_f64();
            return Ok(None);
        };
        let (mean, std) = mean_std(&returns);
        scored.push(Scored {
            env_steps: c.env_steps,
            curve_return: c.curve_return,
            held_out_return: mean,
            held_out_std: std,
            held_out_success: successes as f64 / m.max(1) as f64,
        });
    }
    state.time.select_s += t.elapsed().as_secs_f64();
    if s.stop.load(Ordering::SeqCst) {
        return Ok(None);
    }
    let Some(i) = choose(&scored) else {
        return Err(LearnError::Setup("internal: no candidate to select".into()));
    };
    let chosen = scored[i].env_steps;
    let t = Instant::now();
    let from = s.run.candidate(chosen);
    copy_atomic(&from, &s.run.final_model())?;
    state.time.save_s += t.elapsed().as_secs_f64();
    Ok(Some(Selection {
        env_steps: state.env_steps,
        seeds_from,
        episodes: m,
        candidates: scored,
        chosen,
    }))
}

/// Copies `from` to `to`, replacing it atomically.
fn copy_atomic(from: &Path, to: &Path) -> Result<(), LearnError> {
    let bytes = std::fs::read(from).map_err(io(from))?;
    write_atomic(to, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(env_steps: u64, r: Option<f64>) -> Candidate {
        Candidate {
            env_steps,
            curve_return: r,
        }
    }

    /// The pool after admitting each of `points` in turn; no pool ever
    /// holds more than `k` + 1.
    fn run(points: &[(u64, f64)], k: usize) -> Vec<u64> {
        let mut pool = Vec::new();
        for &(s, r) in points {
            let (p, dropped) = admit(&pool, c(s, Some(r)), k);
            assert!(p.len() <= k + 1, "{p:?}");
            for d in &dropped {
                assert!(pool.contains(d) && !p.contains(d), "{d:?}");
            }
            assert_eq!(pool.len() + 1 - dropped.len(), p.len());
            pool = p;
        }
        pool.iter().map(|c| c.env_steps).collect()
    }

    #[test]
    fn the_pool_keeps_the_k_best_and_the_last() {
        let curve = [
            (10, 100.0),
            (20, 500.0),
            (30, 300.0),
            (40, 800.0),
            (50, 200.0),
            (60, 700.0),
            (70, 100.0),
        ];
        assert_eq!(run(&curve, 2), [40, 60, 70]);
        assert_eq!(run(&curve, 3), [20, 40, 60, 70]);
        assert_eq!(run(&curve, 0), [70]);
        // The best is the last: K + 1 slots, K used.
        assert_eq!(run(&curve[..4], 2), [20, 40]);
    }

    #[test]
    fn ranking_ties_go_to_the_later_checkpoint() {
        assert_eq!(run(&[(10, 5.0), (20, 5.0), (30, 1.0)], 1), [20, 30]);
    }

    #[test]
    fn pruning_drops_the_loser_files_and_an_unscored_last_never_ranks() {
        let pool = vec![c(10, Some(9.0)), c(20, Some(3.0))];
        let (p, dropped) = admit(&pool, c(30, None), 1);
        assert_eq!(p, [c(10, Some(9.0)), c(30, None)]);
        assert_eq!(dropped, [c(20, Some(3.0))]);
        // Admitting a checkpoint the pool holds replaces it, drops nothing.
        let (p, dropped) = admit(&p, c(30, Some(1.0)), 1);
        assert_eq!(p, [c(10, Some(9.0)), c(30, Some(1.0))]);
        assert!(dropped.is_empty());
        // A non-finite curve return never ranks.
        let (p, _) = admit(&[c(10, Some(f64::NAN))], c(20, Some(-5.0)), 1);
        assert_eq!(p, [c(20, Some(-5.0))]);
    }

    fn scored(env_steps: u64, held_out_return: f64) -> Scored {
        Scored {
            env_steps,
            curve_return: None,
            held_out_return,
            held_out_std: 0.0,
            held_out_success: 0.0,
        }
    }

    #[test]
    fn the_highest_held_out_mean_is_chosen_ties_to_the_later() {
        let s = [scored(10, 5.0), scored(20, 9.0), scored(30, 7.0)];
        assert_eq!(choose(&s), Some(1));
        let s = [scored(10, 9.0), scored(20, 9.0), scored(30, 7.0)];
        assert_eq!(choose(&s), Some(1));
        let s = [scored(10, 1.0), scored(20, f64::NAN)];
        assert_eq!(choose(&s), Some(0));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn held_out_seeds_avoid_the_training_seeds() {
        assert_eq!(held_out_seeds(0, 200, 10), HELD_OUT_SEED_BASE);
        // Training seeds 2,999,995.. reach the base: it moves.
        assert_eq!(held_out_seeds(2_999_995, 10, 10), 4_000_000);
        assert_eq!(held_out_seeds(3_000_009, 10, 10), 4_000_000);
        assert_eq!(held_out_seeds(3_000_010, 10, 10), HELD_OUT_SEED_BASE);
        // Wrapping training seeds (seed near u64::MAX) reach 0.., not here.
        assert_eq!(held_out_seeds(u64::MAX - 5, 100, 10), HELD_OUT_SEED_BASE);
        assert!(overlaps(u64::MAX - 5, 10, 0, 10));
        assert!(!overlaps(5, 0, 5, 10));
    }

    #[test]
    fn the_summary_names_the_chosen_and_the_last() {
        let mut sel = Selection {
            env_steps: 100_000,
            seeds_from: HELD_OUT_SEED_BASE,
            episodes: 10,
            candidates: vec![scored(65_000, 851.24), scored(100_000, 730.5)],
            chosen: 65_000,
        };
        assert_eq!(
            sel.summary(),
            "final.uwwm: the checkpoint at 65,000 steps, held-out 851.2 over 10 episodes, \
             beside the last (100,000 steps) at 730.5"
        );
        sel.chosen = 100_000;
        sel.candidates[1].held_out_return = 900.0;
        assert_eq!(
            sel.summary(),
            "final.uwwm: the last checkpoint at 100,000 steps, held-out 900.0 over 10 \
             episodes, beside the next best (65,000 steps) at 851.2"
        );
        sel.candidates.remove(0);
        assert!(
            sel.summary().ends_with("the only candidate"),
            "{}",
            sel.summary()
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
