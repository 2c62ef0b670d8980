//! Offline work on recorded or simulated episodes, away from the real-time
//! loop: training world models ([`train`]), the learning loop that alternates
//! planning, collection and training ([`learn`]), and figures ([`plot`]).

pub mod learn;
pub mod plot;
pub mod train;
