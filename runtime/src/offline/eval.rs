//! Headless policy evaluation: episodes in-process and in lockstep
//! ([`run_controller_episode`]), `jobs` at a time, each from its own seed,
//! with per-episode figures and aggregates with confidence intervals.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;
use umwelt_sim::{Env, SimError};

use crate::control::controller::ControllerError;
use crate::control::safety::Interventions;
use crate::control::{Controller, Resolved};
use crate::offline::episode::{EpisodeRun, run_controller_episode};
use crate::offline::plant::Plant;
use umwelt_models::dataset::Episode;

/// One episode's figures (a row of `episodes.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeReport {
    /// Index in the evaluation.
    pub index: usize,
    /// The episode's seed (`seed + index`).
    pub seed: u64,
    /// Sum of rewards.
    pub ret: f64,
    /// Control steps.
    pub length: u32,
    /// The task's success rule.
    pub success: bool,
    /// Largest single-step reward.
    pub max_reward: f32,
    /// Median controller time per tick, microseconds.
    pub controller_p50_us: f64,
    /// 99th percentile controller time per tick, microseconds.
    pub controller_p99_us: f64,
    /// Ticks whose controller took longer than the control period.
    pub deadline_misses: u64,
    /// Ticks that commanded the safe action.
    pub safe_ticks: u64,
    /// Safety interventions by kind.
    pub interventions: Interventions,
}

/// Aggregates over all episodes of one controller.
#[derive(Clone, Debug, Serialize)]
pub struct EvalSummary {
    /// The controller's name.
    pub controller: String,
    /// Episodes run.
    pub episodes: usize,
    /// Percentage of successful episodes (LeRobot's `pc_success`).
    pub pc_success: f64,
    /// 95% Wilson interval of the success percentage.
    pub pc_success_ci95: [f64; 2],
    /// Mean return (LeRobot's `avg_sum_reward`).
    pub avg_sum_reward: f64,
    /// 95% confidence interval of the mean return (Student t).
    pub avg_sum_reward_ci95: [f64; 2],
    /// Standard deviation of the returns.
    pub sum_reward_std: f64,
    /// Mean of each episode's largest reward (LeRobot's `avg_max_reward`).
    pub avg_max_reward: f64,
    /// Wall time of the evaluation, seconds (LeRobot's `eval_s`).
    pub eval_s: f64,
    /// Wall time per episode, seconds (LeRobot's `eval_ep_s`).
    pub eval_ep_s: f64,
    /// Episodes per minute of wall time.
    pub episodes_per_minute: f64,
    /// Simulated time over wall time.
    pub realtime_factor: f64,
    /// Median controller time per tick over all ticks, microseconds.
    pub controller_p50_us: f64,
    /// 99th percentile controller time over all ticks, microseconds.
    pub controller_p99_us: f64,
    /// Deadline misses over all ticks.
    pub deadline_misses: u64,
    /// Safe-action ticks over all episodes.
    pub safe_ticks: u64,
    /// Parallel episodes.
    pub jobs: usize,
}

impl EvalSummary {
    /// The mean return's 95% interval as words for reports, or why there
    /// is none (one episode has no spread to estimate it from).
    pub fn return_interval(&self) -> String {
        let [lo, hi] = self.avg_sum_reward_ci95;
        if lo.is_finite() && hi.is_finite() {
            format!("95% CI {lo:.1} to {hi:.1}")
        } else {
            let n = self.episodes;
            format!(
                "no 95% CI from {n} episode{}",
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// A whole evaluation: the summary, the rows, and the full runs (traces
/// for plots).
pub struct Evaluation {
    /// Aggregates.
    pub summary: EvalSummary,
    /// One row per episode, in index order.
    pub episodes: Vec<EpisodeReport>,
    /// The runs themselves, in index order.
    pub runs: Vec<EpisodeRun>,
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A controller could not be built.
    #[error(transparent)]
    Controller(#[from] ControllerError),
    /// The simulator failed.
    #[error("episode {index} (seed {seed}): {source}")]
    Sim {
        /// Episode index.
        index: usize,
        /// Its seed.
        seed: u64,
        /// What failed.
        source: SimError,
    },
    /// The simulator or the robot behind its driver failed mid-episode.
    #[error("episode {index} (seed {seed}): {source}")]
    Plant {
        /// Episode index.
        index: usize,
        /// Its seed.
        seed: u64,
        /// What failed.
        source: crate::offline::plant::PlantError,
    },
    /// The episodes cannot run as configured.
    #[error("{0}")]
    Setup(String),
    /// Stopped before every episode ran.
    #[error("stopped after {done} of {total} episodes")]
    Stopped {
        /// Episodes finished.
        done: usize,
        /// Episodes asked for.
        total: usize,
    },
}

/// Percentile `p` (0..=100) of sorted values, nearest rank.
pub fn percentile(sorted: &[f32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if df == 0 {
        return f64::NAN;
    }
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

/// 95% Wilson score interval of `k` successes in `n` trials, in percent.
pub fn wilson95(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [f64::NAN, f64::NAN];
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let center = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    [
        100.0 * (center - half).max(0.0),
        100.0 * (center + half).min(1.0),
    ]
}

fn report(index: usize, run: &EpisodeRun) -> EpisodeReport {
    let mut t = run.controller_us.clone();
    t.sort_by(f32::total_cmp);
    EpisodeReport {
        index,
        seed: run.seed,
        ret: run.ret,
        length: run.length,
        success: run.success,
        max_reward: run.max_reward,
        controller_p50_us: percentile(&t, 50.0),
        controller_p99_us: percentile(&t, 99.0),
        deadline_misses: run.deadline_misses,
        safe_ticks: run.interventions.safe_ticks(),
        interventions: run.interventions.clone(),
    }
}

/// How to run an evaluation.
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// Episodes to run.
    pub episodes: usize,
    /// Index of the first of them in the whole evaluation (0 unless this
    /// is one shard of it, `umwelt eval --shard`): they are episodes
    /// `first .. first + episodes`, and their rows carry those indices.
    pub first: usize,
    /// Seed of the whole evaluation's episode 0; episode k uses `seed + k`.
    pub seed: u64,
    /// Episodes in parallel.
    pub jobs: usize,
    /// Keep each episode's trajectory ([`EpisodeRun::record`]).
    pub record: bool,
}

/// Runs `o.episodes` episodes (indices `first`, `first + 1`, ..., seeds
/// `seed + first`, `seed + first + 1`, ...) of the controller `make`
/// builds, `o.jobs` in parallel, each worker with its own simulator and
/// controller. `on_done` is called after each episode.
/// Results do not depend on `jobs`: every episode reseeds its controller.
pub fn evaluate(
    r: &Resolved,
    make: &(dyn Fn() -> Result<Box<dyn Controller>, ControllerError> + Sync),
    o: EvalOptions,
    stop: &AtomicBool,
    on_done: &(dyn Fn(&EpisodeReport) + Sync),
) -> Result<Evaluation, EvalError> {
    let EvalOptions {
        episodes,
        first,
        seed,
        jobs,
        record,
    } = o;
    let jobs = jobs.clamp(1, episodes.max(1));
    let next = AtomicUsize::new(0);
    // Each episode's row is computed once, by the worker that ran it.
    let slots: Mutex<Vec<Option<(EpisodeReport, EpisodeRun)>>> = Mutex::new(vec![None; episodes]);
    let failure: Mutex<Option<EvalError>> = Mutex::new(None);
    let mut name = String::new();
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 0..jobs {
            handles.push(scope.spawn(|| -> Result<String, EvalError> {
                let mut controller = make()?;
                let sim = r.sim.clone().ok_or_else(|| EvalError::Setup(
                    "in-process episodes need a robot umwelt simulates; serve this one with its driver and pass --remote".into(),
                ))?;
                let mut env =
                    Env::from_config(sim, &r.description.task.name).map_err(|source| {
                        EvalError::Sim {
                            index: 0,
                            seed,
                            source,
                        }
                    })?;
                loop {
                    if stop.load(Ordering::SeqCst) || lock(&failure).is_some() {
                        break;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= episodes {
                        break;
                    }
                    let i = first + k;
                    let s = seed.wrapping_add(i as u64);
                    controller.reseed(s);
                    match run_controller_episode(r, &mut env, controller.as_mut(), s, record, None, None) {
                        Ok(run) => {
                            let row = report(i, &run);
                            on_done(&row);
                            lock(&slots)[k] = Some((row, run));
                        }
                        Err(source) => {
                            *lock(&failure) = Some(EvalError::Plant {
                                index: i,
                                seed: s,
                                source,
                            });
                            break;
                        }
                    }
                }
                Ok(controller.name().to_string())
            }));
        }
        for h in handles {
            match h.join() {
                Ok(Ok(n)) => name = n,
                Ok(Err(e)) => {
                    lock(&failure).get_or_insert(e);
                }
                Err(_) => {
                    lock(&failure).get_or_insert(EvalError::Controller(ControllerError::Failed(
                        "an evaluation worker panicked".into(),
                    )));
                }
            }
        }
    });
    if let Some(e) = lock(&failure).take() {
        return Err(e);
    }
    let eval_s = t0.elapsed().as_secs_f64();
    let slots = slots.into_inner().unwrap_or_else(|p| p.into_inner());
    let done = slots.iter().filter(|s| s.is_some()).count();
    if done < episodes {
        return Err(EvalError::Stopped {
            done,
            total: episodes,
        });
    }
    let (rows, runs): (Vec<EpisodeReport>, Vec<EpisodeRun>) = slots.into_iter().flatten().unzip();
    let summary = summarize(name, &rows, &runs, eval_s, jobs, r.period);
    Ok(Evaluation {
        summary,
        episodes: rows,
        runs,
    })
}

/// [`evaluate`] on one robot behind its driver (or any [`Plant`]), one
/// episode after another: the same seeds, controller reseeding and
/// reports, so an evaluation through the wire can be set beside an
/// in-process one, episode by episode.
pub fn evaluate_on(
    r: &Resolved,
    plant: &mut dyn Plant,
    make: &(dyn Fn() -> Result<Box<dyn Controller>, ControllerError> + Sync),
    o: EvalOptions,
    stop: &AtomicBool,
    on_done: &(dyn Fn(&EpisodeReport) + Sync),
) -> Result<Evaluation, EvalError> {
    let mut controller = make()?;
    let t0 = Instant::now();
    let mut rows = Vec::with_capacity(o.episodes);
    let mut runs = Vec::with_capacity(o.episodes);
    for k in 0..o.episodes {
        if stop.load(Ordering::SeqCst) {
            return Err(EvalError::Stopped {
                done: k,
                total: o.episodes,
            });
        }
        let i = o.first + k;
        let s = o.seed.wrapping_add(i as u64);
        controller.reseed(s);
        // A robot's episode stops at once: on hardware an episode may be
        // long, and the operator wants the robot at rest now.
        let run =
            run_controller_episode(r, plant, controller.as_mut(), s, o.record, None, Some(stop))
                .map_err(|source| EvalError::Plant {
                    index: i,
                    seed: s,
                    source,
                })?;
        if run.stopped {
            return Err(EvalError::Stopped {
                done: k,
                total: o.episodes,
            });
        }
        let row = report(i, &run);
        on_done(&row);
        rows.push(row);
        runs.push(run);
    }
    let summary = summarize(
        controller.name().to_string(),
        &rows,
        &runs,
        t0.elapsed().as_secs_f64(),
        1,
        r.period,
    );
    Ok(Evaluation {
        summary,
        episodes: rows,
        runs,
    })
}

/// The evaluation of episodes that ran elsewhere (the shards of
/// `umwelt eval --shard`, merged): `runs` are `(index, run)` in index
/// order, `controller` the controller's name, `eval_s` the wall time to
/// report, `jobs` the parallel episodes, `period` the control period (s).
/// Rows and aggregates come from the same code as [`evaluate`]'s, so the
/// same runs give the same numbers to the bit.
pub fn from_runs(
    controller: String,
    runs: Vec<(usize, EpisodeRun)>,
    eval_s: f64,
    jobs: usize,
    period: f64,
) -> Evaluation {
    let rows: Vec<EpisodeReport> = runs.iter().map(|(i, run)| report(*i, run)).collect();
    let runs: Vec<EpisodeRun> = runs.into_iter().map(|(_, run)| run).collect();
    let summary = summarize(controller, &rows, &runs, eval_s, jobs, period);
    Evaluation {
        summary,
        episodes: rows,
        runs,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn summarize(
    controller: String,
    rows: &[EpisodeReport],
    runs: &[EpisodeRun],
    eval_s: f64,
    jobs: usize,
    period: f64,
) -> EvalSummary {
    let n = rows.len();
    let nf = n.max(1) as f64;
    let returns: Vec<f64> = rows.iter().map(|r| r.ret).collect();
    let mean = returns.iter().sum::<f64>() / nf;
    let std = if n > 1 {
        (returns.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let half = if n > 1 {
        t95(n - 1) * std / (n as f64).sqrt()
    } else {
        f64::NAN
    };
    let successes = rows.iter().filter(|r| r.success).count();
    let mut all: Vec<f32> = runs
        .iter()
        .flat_map(|r| r.controller_us.iter().copied())
        .collect();
    all.sort_by(f32::total_cmp);
    let steps: u64 = rows.iter().map(|r| r.length as u64).sum();
    EvalSummary {
        controller,
        episodes: n,
        pc_success: 100.0 * successes as f64 / nf,
        pc_success_ci95: wilson95(successes, n),
        avg_sum_reward: mean,
        avg_sum_reward_ci95: [mean - half, mean + half],
        sum_reward_std: std,
        avg_max_reward: rows.iter().map(|r| r.max_reward as f64).sum::<f64>() / nf,
        eval_s,
        eval_ep_s: eval_s / nf,
        episodes_per_minute: 60.0 * n as f64 / eval_s.max(1e-9),
        realtime_factor: steps as f64 * period / eval_s.max(1e-9),
        controller_p50_us: percentile(&all, 50.0),
        controller_p99_us: percentile(&all, 99.0),
        deadline_misses: rows.iter().map(|r| r.deadline_misses).sum(),
        safe_ticks: rows.iter().map(|r| r.safe_ticks).sum(),
        jobs,
    }
}

/// Where a simulator-in-the-loop episode first differs from the
/// in-process one of the same seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Divergence {
    /// Episode index.
    pub episode: usize,
    /// Control step (for lengths: the shorter length).
    pub step: usize,
    /// What differs: `action[i]`, `reward`, `observation[i]` or `length`.
    pub what: String,
    /// The in-process value.
    pub in_process: f64,
    /// The simulator-in-the-loop value.
    pub sil: f64,
}

/// Compares two recordings of one episode bit for bit: actions, rewards and
/// observation vectors, step by step; the first difference, if any.
pub fn first_divergence(episode: usize, a: &Episode, b: &Episode) -> Option<Divergence> {
    let (ad, od) = (a.act_dim(), a.obs_dim());
    let steps = a.len().min(b.len());
    let div = |step, what: String, x: f32, y: f32| Divergence {
        episode,
        step,
        what,
        in_process: x as f64,
        sil: y as f64,
    };
    for t in 0..steps {
        for (i, (x, y)) in a.action(t).iter().zip(b.action(t)).enumerate() {
            if x.to_bits() != y.to_bits() {
                return Some(div(t, format!("action[{i}]"), *x, *y));
            }
        }
        let (x, y) = (a.rewards[t], b.rewards[t]);
        if x.to_bits() != y.to_bits() {
            return Some(div(t, "reward".into(), x, y));
        }
        for (i, (x, y)) in a.obs(t + 1).iter().zip(b.obs(t + 1)).enumerate() {
            if x.to_bits() != y.to_bits() {
                return Some(div(t, format!("observation[{i}]"), *x, *y));
            }
        }
    }
    if a.len() != b.len() || ad != b.act_dim() || od != b.obs_dim() {
        return Some(Divergence {
            episode,
            step: steps,
            what: "length".into(),
            in_process: a.len() as f64,
            sil: b.len() as f64,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_match_known_values() {
        // t(0.975; 9) = 2.262, t(0.975; 1) = 12.706.
        assert!((t95(9) - 2.262).abs() < 1e-3);
        assert!((t95(1) - 12.706).abs() < 1e-3);
        // Wilson: 8 of 10 -> [49.0, 94.3] %.
        let [lo, hi] = wilson95(8, 10);
        assert!(
            (lo - 49.0).abs() < 0.1 && (hi - 94.3).abs() < 0.1,
            "{lo} {hi}"
        );
        let [lo, hi] = wilson95(0, 20);
        assert!(lo == 0.0 && hi > 0.0 && hi < 20.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 99.0), 4.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn one_episode_has_no_return_interval_and_says_so() {
        let run = |seed, ret| EpisodeRun {
            seed,
            ret,
            ..EpisodeRun::default()
        };
        let runs = [run(1, 10.0), run(2, 20.0)];
        let rows: Vec<_> = runs.iter().enumerate().map(|(i, r)| report(i, r)).collect();
        let one = summarize("c".into(), &rows[..1], &runs[..1], 1.0, 1, 0.01);
        assert_eq!(one.return_interval(), "no 95% CI from 1 episode");
        // Two: mean 15, half-width t(0.975; 1) * 7.07 / sqrt(2) = 63.5.
        let two = summarize("c".into(), &rows, &runs, 1.0, 1, 0.01);
        assert_eq!(two.return_interval(), "95% CI -48.5 to 78.5");
    }
}
