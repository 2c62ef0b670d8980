//! Training a world model. [`Training`] is the offline workflow of
//! `umwelt train`: an episode dataset (from `umwelt collect`) into a
//! checkpoint, with held-out validation, periodic saves and a prediction
//! report. [`session`] holds the steps it shares with the learning loop
//! (`umwelt learn`): starting or resuming a trainer, Adam's moments, running
//! updates, saving the checkpoint.

mod engine;
mod error;
mod options;
mod report;
pub mod session;
mod workflow;

pub use error::TrainError;
pub use options::TrainOptions;
pub use report::{TrainEvent, TrainReport};
pub use session::{mean_losses, terms_short};
pub use workflow::Training;
