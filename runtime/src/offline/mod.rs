//! Offline work, in-process and in lockstep, without zenoh: simple-policy
//! rollouts ([`rollout`]), collecting datasets ([`collect`]), one controller
//! episode exactly as the loop ticks ([`episode`]), headless evaluation
//! ([`eval`]) and learning recipes ([`recipe`]).

pub mod collect;
pub mod episode;
pub mod eval;
pub mod recipe;
pub mod rollout;
