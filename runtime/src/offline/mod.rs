//! Offline work, in-process and in lockstep, away from the real-time loop
//! and without zenoh: model-free exploration ([`explore`]), simple-policy
//! rollouts ([`rollout`]), collecting
//! datasets ([`collect`]), one controller episode exactly as the loop ticks
//! ([`episode`]), headless evaluation ([`eval`]) over one machine or
//! several ([`eval_shard`], [`eval_runs`], [`eval_merge`]), training world models
//! ([`train`]), the learning loop that alternates planning, collection and
//! training ([`learn`]), learning recipes ([`recipe`]), figures
//! ([`plot`]), and episodes replayed ([`replay`]) for their state traces
//! and videos ([`media`]).

pub mod collect;
pub mod episode;
pub mod eval;
pub mod eval_info;
pub mod eval_merge;
pub mod eval_runs;
pub mod eval_shard;
pub mod explore;
pub mod goals;
pub mod learn;
pub mod lerobot;
pub mod media;
pub mod plant;
pub mod plot;
pub mod recipe;
pub mod replay;
pub mod report_html;
pub mod rollout;
pub mod train;
