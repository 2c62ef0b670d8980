//! `umwelt learn`: the model-based learning loop. Seed episodes from a
//! random policy, then repeat: collect an episode with the planner over the
//! current model (with exploration noise), train the model further,
//! evaluate it without noise every few episodes, checkpoint. Everything
//! lives in one directory, so a stopped run resumes where it was.
//!
//! ```text
//! OUT/data/           the dataset (one checksummed file per episode)
//! OUT/model.uwwm      the latest checkpoint
//! OUT/best.uwwm       the checkpoint of the best evaluation so far (on few
//!                     episodes: noisy, not what ships)
//! OUT/candidates/     checkpoints of the best few evaluations and the last
//! OUT/final.uwwm      the candidate best on held-out seeds at the run's
//!                     end: what a run ships
//! OUT/learn.json      options and progress (what --resume reads)
//! OUT/curve.csv       evaluation return against environment steps
//! OUT/curve.svg       the same, plotted
//! ```
//!
//! The loop is [`learn`] (`run.rs`); its settings [`LearnOptions`]; the
//! planner it collects and evaluates with comes from the control config
//! (`planner.rs`); hindsight copies of goal-reaching episodes from
//! `hindsight.rs`; the curve files from `curve.rs`; the held-out selection
//! of `final.uwwm` from `select.rs`. Training itself is the
//! library's ([`crate::offline::train::session`]), shared with `umwelt train`.

mod curve;
mod error;
mod hindsight;
mod options;
mod pixels;
mod planner;
mod run;
mod select;
mod state;

pub use curve::mean_std;
pub use error::{LearnError, write_atomic};
pub use options::{
    DEFAULT_SELECT_CANDIDATES, DEFAULT_SELECT_EPISODES, DEFAULT_TRAIN_THREADS, LearnOptions,
    MAX_EVAL_EPISODES, MAX_TRAIN_THREADS, ObsMode,
};
pub use run::learn;
pub use select::{
    CURVE_SEED_BASE, Candidate, HELD_OUT_SEED_BASE, MAX_SELECT_CANDIDATES, MAX_SELECT_EPISODES,
    Scored, Selection,
};
pub use state::{CurvePoint, LearnEvent, LearnState, RunDir, TimeSplit};
