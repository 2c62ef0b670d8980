//! A run's progress (`learn.json`), its learning curve, what the loop
//! reports as it goes, and the files of its directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use umwelt_models::world_model::LossTerms;

use super::LearnOptions;
use super::select::{Candidate, Selection};

/// One evaluation on the learning curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Environment steps collected so far.
    pub env_steps: u64,
    /// Episodes collected so far (seed episodes included).
    pub episodes: usize,
    /// Gradient updates so far.
    pub updates: u64,
    /// Wall time of the run so far, seconds.
    pub wall_s: f64,
    /// Mean return of the evaluation episodes.
    pub eval_return: f64,
    /// Standard deviation of those returns.
    pub eval_return_std: f64,
    /// Share of evaluation episodes that met the task's success rule.
    pub eval_success: f64,
    /// Return of the last collected (exploring) episode.
    pub collect_return: f64,
}

/// Progress of a run, saved after every episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnState {
    /// The settings.
    pub options: LearnOptions,
    /// Environment steps collected.
    pub env_steps: u64,
    /// Episodes collected.
    pub episodes: usize,
    /// Gradient updates made.
    pub updates: u64,
    /// Wall time spent, seconds (over all sessions of the run).
    pub wall_s: f64,
    /// The evaluations.
    pub curve: Vec<CurvePoint>,
    /// Highest curve evaluation return so far (its checkpoint is
    /// `best.uwwm`; judged on few episodes, so not what ships).
    #[serde(default)]
    pub best_eval_return: Option<f64>,
    /// Blocks of `action_repeat` steps not trained on because the robot's
    /// applied action changed inside them (late commands in real time).
    #[serde(default)]
    pub dropped_blocks: u64,
    /// Where the wall time went (runs from before this field read as
    /// all zero).
    #[serde(default)]
    pub time: TimeSplit,
    /// The checkpoints kept for the held-out selection (`candidates/`), in
    /// order of environment steps: the best few curve points and the last.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// The last held-out selection, made at the end of the budget it
    /// names; its choice is `final.uwwm` (`None` before a run's end, with
    /// `--select-episodes 0`, and in runs from before the selection).
    #[serde(default)]
    pub selection: Option<Selection>,
}

/// Where a run's wall time went, in seconds over all its sessions. The
/// parts add up to `LearnState::wall_s`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeSplit {
    /// Seed episodes under the model-free policy (the robot's steps, or
    /// waiting for a driver's frames).
    pub seed_episodes_s: f64,
    /// Planner episodes, except the planner itself: stepping the robot (or
    /// waiting for a driver's frames), the tick, recording.
    pub robot_s: f64,
    /// The planner choosing the actions of the planner episodes.
    pub plan_s: f64,
    /// Gradient updates, the pre-training on seed data included.
    pub train_s: f64,
    /// Evaluation episodes of the curve, robot and planner.
    pub eval_s: f64,
    /// Held-out episodes of the selection at the run's end, robot and
    /// planner (0 in runs from before the selection).
    #[serde(default)]
    pub select_s: f64,
    /// Writing checkpoints and the learning curve.
    pub save_s: f64,
    /// The rest: loading, building trainers and planners, storing episodes,
    /// writing `learn.json`.
    pub other_s: f64,
}

impl TimeSplit {
    /// Sets `other_s` so that the parts add up to `wall_s`.
    pub fn close(&mut self, wall_s: f64) {
        let known = self.seed_episodes_s
            + self.robot_s
            + self.plan_s
            + self.train_s
            + self.eval_s
            + self.select_s
            + self.save_s;
        self.other_s = (wall_s - known).max(0.0);
    }

    /// The parts with their names, in a fixed order.
    pub fn parts(&self) -> [(&'static str, f64); 8] {
        [
            ("seed episodes", self.seed_episodes_s),
            ("robot", self.robot_s),
            ("planning", self.plan_s),
            ("training", self.train_s),
            ("evaluation", self.eval_s),
            ("selection", self.select_s),
            ("saving", self.save_s),
            ("other", self.other_s),
        ]
    }

    /// One line: each part's seconds and share of `wall_s`.
    pub fn line(&self, wall_s: f64) -> String {
        let share = |v: f64| {
            if wall_s > 0.0 {
                100.0 * v / wall_s
            } else {
                0.0
            }
        };
        self.parts()
            .iter()
            .map(|(n, v)| format!("{n} {v:.0} s ({:.0}%)", share(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the loop reports as it goes.
#[derive(Debug)]
pub enum LearnEvent<'a> {
    /// An episode was collected (`planner` false: a random seed episode).
    Collected {
        /// Environment steps so far.
        env_steps: u64,
        /// Its return.
        ret: f64,
        /// Whether the planner (rather than the random policy) acted.
        planner: bool,
    },
    /// A round of updates finished.
    Trained {
        /// Updates so far.
        updates: u64,
        /// The last update's losses.
        losses: &'a LossTerms,
    },
    /// An evaluation finished.
    Evaluated(&'a CurvePoint),
    /// The held-out selection begins on a candidate.
    Selecting {
        /// Which (from 1).
        candidate: usize,
        /// Of how many.
        of: usize,
        /// Its environment steps.
        env_steps: u64,
    },
    /// The held-out selection chose `final.uwwm`.
    Selected(&'a Selection),
    /// Something the run's user should know that does not stop it (one
    /// line), e.g. a resume that cannot be bit-identical.
    Warning(&'a str),
}

/// The paths of a run directory.
pub struct RunDir {
    /// The directory.
    pub root: PathBuf,
}

impl RunDir {
    /// The dataset directory.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// The latest checkpoint.
    pub fn model(&self) -> PathBuf {
        self.root.join("model.uwwm")
    }
    /// Options and progress.
    pub fn state(&self) -> PathBuf {
        self.root.join("learn.json")
    }
    /// The checkpoint of the best evaluation so far.
    pub fn best(&self) -> PathBuf {
        self.root.join("best.uwwm")
    }
    /// The directory of the checkpoints kept for the held-out selection.
    pub fn candidates(&self) -> PathBuf {
        self.root.join("candidates")
    }
    /// The candidate checkpoint saved at `env_steps`
    /// (`candidates/steps_<env_steps>.uwwm`).
    pub fn candidate(&self, env_steps: u64) -> PathBuf {
        self.candidates().join(format!("steps_{env_steps}.uwwm"))
    }
    /// The checkpoint the held-out selection chose: what a run ships.
    pub fn final_model(&self) -> PathBuf {
        self.root.join("final.uwwm")
    }
    /// The learning curve as CSV.
    pub fn curve_csv(&self) -> PathBuf {
        self.root.join("curve.csv")
    }
    /// The learning curve as SVG.
    pub fn curve_svg(&self) -> PathBuf {
        self.root.join("curve.svg")
    }
}
