//! The threads a fused step's batch parts run on: the caller computes the
//! first part, persistent workers the others.
//!
//! Persistent, not spawned per step: a fresh thread's allocator heap is
//! built and torn down with it, and the pages of its buffers come back
//! from the kernel zeroed every step (`perf`: a tenth of a step in
//! `clear_page` with scoped threads).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use super::layout::{MlpAt, ModelLayout};
use super::objective::{Nets, PartResult, part};
use crate::world_model::config::{TrainConfig, WorldModelConfig};
use crate::world_model::train::Batch;

/// What does not change between steps: the layout and the model's sizes.
#[derive(Debug)]
pub(super) struct Shape {
    pub layout: ModelLayout,
    pub targets: Vec<MlpAt>,
    pub config: WorldModelConfig,
}

/// One part of one step.
pub(super) struct Job {
    pub shape: Arc<Shape>,
    pub params: Arc<Vec<f32>>,
    pub target: Arc<Vec<f32>>,
    pub train: TrainConfig,
    pub pair: (usize, usize),
    pub batch: Batch,
    pub whole: usize,
}

impl Job {
    /// The part's loss terms and gradient. The job (and its hold on the
    /// parameters) ends here, so that the caller can update them in place.
    fn run(self) -> PartResult {
        let nets = Nets {
            layout: &self.shape.layout,
            params: &self.params,
            targets: &self.shape.targets,
            target_params: &self.target,
            pair: self.pair,
        };
        part(
            &nets,
            &self.shape.config,
            &self.train,
            &self.batch,
            self.whole,
        )
    }
}

/// A worker: where it takes jobs, where it answers.
struct Worker {
    jobs: Sender<Job>,
    results: Receiver<PartResult>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn() -> Option<Self> {
        let (jobs, job_rx) = channel::<Job>();
        let (result_tx, results) = channel();
        let handle = std::thread::Builder::new()
            .name("umwelt-train".into())
            .spawn(move || {
                for job in job_rx {
                    if result_tx.send(job.run()).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Self {
            jobs,
            results,
            handle: Some(handle),
        })
    }
}

/// Persistent worker threads, started on first use.
#[derive(Default)]
pub(super) struct Workers {
    workers: Vec<Worker>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workers({})", self.workers.len())
    }
}

impl Clone for Workers {
    /// A copy starts its own threads when it needs them.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Workers {
    /// Runs `jobs` (the first on the calling thread, one per worker for the
    /// rest) and returns their results in job order. A job whose worker
    /// cannot be started or has died is run on the calling thread: the
    /// results are the same whoever computes them.
    pub fn run(&mut self, jobs: Vec<Job>) -> Vec<PartResult> {
        let mut jobs = jobs.into_iter();
        let Some(first) = jobs.next() else {
            return Vec::new();
        };
        let mut sent: Vec<Result<usize, Job>> = Vec::new();
        for (i, job) in jobs.enumerate() {
            if self.workers.len() <= i
                && let Some(w) = Worker::spawn()
            {
                self.workers.push(w);
            }
            sent.push(match self.workers.get(i) {
                Some(w) => w.jobs.send(job).map(|()| i).map_err(|e| e.0),
                None => Err(job),
            });
        }
        let mut results = vec![first.run()];
        for s in sent {
            let r = match s {
                Ok(i) => self.workers[i].results.recv().ok(),
                Err(job) => Some(job.run()),
            };
            match r {
                Some(r) => results.push(r),
                // A worker that died mid-job (a bug in the objective):
                // raise it here, as one thread would have.
                None => panic!("a fused training worker stopped"),
            }
        }
        results
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for mut w in self.workers.drain(..) {
            drop(w.jobs);
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}
