//! The engine a planner calls: checks a call's inputs, hands its tiles to
//! the calling thread and the workers, and collects their outputs.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::super::config::ModelError;
use super::TILE_ROWS;
use super::affinity::{WORKERS_PLACED, WorkerPlacement, place};
use super::inference_model::InferenceModel;
use super::pool::{
    Batch, Buffers, DEFAULT_PATIENCE, Job, Shared, TILE_BITS, TILE_MASK, TileOut, tile_rows,
    worker_loop,
};
use super::tiling::{Scratch, Work, compute};

/// Output buffers of a rollout; reused between calls so planning allocates
/// nothing per call.
#[derive(Default, Clone, Debug)]
pub struct RolloutOutput {
    /// Predicted reward of each step, `N x H`, row-major by sample.
    pub rewards: Vec<f32>,
    /// `mean(Q0, Q1)(z_H, tanh(mu(z_H)))` of each sample, `N`.
    pub values: Vec<f32>,
    /// The last latent `z_H` of each sample, `N x latent_dim`.
    pub final_latents: Vec<f32>,
}

/// Scratch buffers and worker threads for batched rollouts of one
/// [`InferenceModel`]. Calls take `&mut self`: one call at a time.
pub struct RolloutEngine {
    /// What the caller and the workers share (the pool's tests read its
    /// claim counter).
    pub(super) shared: Arc<Shared>,
    max_samples: usize,
    max_horizon: usize,
    threads: usize,
    /// The latest call's number.
    epoch: u64,
    /// The calling thread's scratch.
    scratch: Scratch,
    /// Tiles of the current call whose results are in the caller's outputs.
    resolved: Vec<bool>,
    /// Wakes each worker.
    workers: Vec<SyncSender<()>>,
    handles: Vec<JoinHandle<()>>,
    /// Where each worker is bound.
    worker_cpus: Vec<Option<usize>>,
    /// This engine's first place for [`WorkerPlacement::Spread`].
    first_place: usize,
}

impl RolloutEngine {
    /// An engine for batches of up to `max_samples` samples and
    /// `max_horizon` steps on `threads` threads (the caller's and
    /// `threads - 1` workers, started here and stopped on drop). All buffers
    /// are allocated here.
    pub fn new(
        model: Arc<InferenceModel>,
        max_samples: usize,
        max_horizon: usize,
        threads: usize,
    ) -> Result<Self, ModelError> {
        if max_samples == 0 || max_horizon == 0 || threads == 0 {
            return Err(ModelError::Config(format!(
                "max_samples {max_samples}, max_horizon {max_horizon} and threads {threads} must be positive"
            )));
        }
        let tiles = max_samples.div_ceil(TILE_ROWS).max(threads);
        if tiles as u64 > TILE_MASK {
            return Err(ModelError::Config(format!(
                "max_samples {max_samples} and threads {threads}: at most {} tiles of {TILE_ROWS} samples",
                TILE_MASK
            )));
        }
        let c = model.config.clone();
        let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
        let d = model.decoded_dim();
        // Workers' buffers only where there are workers.
        let (batch_len, tiles) = if threads > 1 {
            (max_samples * (max_horizon * a).max(o).max(l), tiles)
        } else {
            (0, 0)
        };
        let buffers = || Buffers {
            batch: RwLock::new(Batch {
                z0: vec![0.0; l],
                input: vec![0.0; batch_len],
                ..Batch::default()
            }),
            tiles: (0..tiles)
                .map(|_| {
                    Mutex::new(TileOut {
                        rewards: vec![0.0; TILE_ROWS * max_horizon],
                        values: vec![0.0; TILE_ROWS],
                        latents: vec![0.0; TILE_ROWS * l],
                        output: vec![0.0; TILE_ROWS * (max_horizon * a).max(l).max(d)],
                        ..TileOut::default()
                    })
                })
                .collect(),
        };
        let shared = Arc::new(Shared {
            model,
            claim: AtomicU64::new(0),
            buffers: [buffers(), buffers()],
        });
        let mut workers = Vec::with_capacity(threads - 1);
        let mut handles = Vec::with_capacity(threads - 1);
        // One block of places per engine: its workers get distinct CPUs
        // whatever other engines do meanwhile.
        let first_place = 1 + WORKERS_PLACED.fetch_add(threads - 1, Ordering::Relaxed);
        for k in 1..threads {
            let (go, go_rx) = sync_channel(1);
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("rollout-{k}"))
                .spawn(move || worker_loop(s, go_rx))
                .map_err(|e| ModelError::Config(format!("starting rollout thread {k}: {e}")))?;
            workers.push(go);
            handles.push(handle);
        }
        let worker_cpus = place(&handles, first_place, &WorkerPlacement::Spread)?;
        Ok(Self {
            scratch: Scratch::new(&c),
            shared,
            max_samples,
            max_horizon,
            threads,
            epoch: 0,
            resolved: Vec::with_capacity(tiles),
            workers,
            handles,
            worker_cpus,
            first_place,
        })
    }

    /// The CPU each worker thread is bound to (`None`: it floats), in
    /// worker order.
    pub fn worker_cpus(&self) -> &[Option<usize>] {
        &self.worker_cpus
    }

    /// Moves the worker threads as `placement` says (a new engine's are
    /// [`WorkerPlacement::Spread`]). A CPU the process may not use, an
    /// empty list, or a list off Linux is refused, and the workers stay
    /// where they were.
    ///
    /// Why spread by default: a worker that has slept longer than a few
    /// milliseconds is woken by the kernel on the CPU of the thread that
    /// woke it, the planner's, where it waits while the planner computes
    /// every tile alone. Measured on a 2-vCPU VM (`umwelt bench plan
    /// --period-ms 20`): plans paced at 20 ms took 7.2 ms, the one-thread
    /// time, instead of 3.8 ms; bound, the worker wakes on its own CPU.
    pub fn place_workers(&mut self, placement: &WorkerPlacement) -> Result<(), ModelError> {
        self.worker_cpus = place(&self.handles, self.first_place, placement)?;
        Ok(())
    }

    /// The model this engine runs.
    pub fn model(&self) -> &InferenceModel {
        &self.shared.model
    }

    /// The largest batch a call accepts.
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// The longest horizon a call accepts.
    pub fn max_horizon(&self) -> usize {
        self.max_horizon
    }

    /// Threads a call runs on (the caller's included).
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn check_batch(&self, what: &str, n: usize, h: usize) -> Result<(), ModelError> {
        if n > self.max_samples {
            return Err(ModelError::Data(format!(
                "{what}: {n} samples, the engine was built for at most {}",
                self.max_samples
            )));
        }
        if h > self.max_horizon {
            return Err(ModelError::Data(format!(
                "{what}: horizon {h}, the engine was built for at most {}",
                self.max_horizon
            )));
        }
        Ok(())
    }

    /// Runs a call of `n` samples. With one thread, or one tile, `own`
    /// computes all rows on the calling thread. Otherwise `fill` copies the
    /// inputs into the workers' batch, the workers are woken, and the caller
    /// claims tiles with them, computing its own with `own` straight into
    /// `outs`; `collect` copies a worker's finished tile into `outs`.
    #[allow(clippy::too_many_arguments)]
    fn run<O: ?Sized>(
        &mut self,
        job: Job,
        n: usize,
        h: usize,
        fill: impl FnOnce(&mut Batch),
        outs: &mut O,
        mut own: impl FnMut(&InferenceModel, &mut Scratch, Range<usize>, &mut O),
        mut collect: impl FnMut(&TileOut, Range<usize>, &mut O),
    ) -> Result<(), ModelError> {
        let tiles = match job {
            Job::Nothing => self.workers.len(),
            _ => n.div_ceil(TILE_ROWS),
        };
        if self.workers.is_empty() || (job != Job::Nothing && tiles <= 1) {
            own(&self.shared.model, &mut self.scratch, 0..n, outs);
            return Ok(());
        }
        self.epoch += 1;
        let epoch = self.epoch;
        let buffers = self.shared.buffers(epoch);
        {
            let mut b = match buffers.batch.try_write() {
                Ok(b) => b,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // A worker is still on a tile of the call before last (the
                // OS stopped it mid-tile): rather than wait for it, this
                // call runs on the calling thread alone.
                Err(TryLockError::WouldBlock) if job != Job::Nothing => {
                    own(&self.shared.model, &mut self.scratch, 0..n, outs);
                    return Ok(());
                }
                Err(TryLockError::WouldBlock) => buffers
                    .batch
                    .write()
                    .unwrap_or_else(PoisonError::into_inner),
            };
            b.epoch = epoch;
            b.job = job;
            b.n = n;
            b.h = h;
            b.tiles = tiles;
            fill(&mut b);
        }
        self.shared
            .claim
            .store(epoch << TILE_BITS, Ordering::Release);
        for (k, go) in self.workers.iter().enumerate() {
            // A full channel means a wake-up is pending already.
            if let Err(TrySendError::Disconnected(())) = go.try_send(()) {
                return Err(ModelError::Data(format!(
                    "rollout thread {} is not running",
                    k + 1
                )));
            }
        }
        self.resolved.clear();
        self.resolved.resize(tiles, false);
        let mut left = tiles;
        let mut patience = DEFAULT_PATIENCE;
        if job != Job::Nothing {
            let start = Instant::now();
            let mut mine = 0u32;
            while let Some(t) = self.shared.claim(epoch, tiles) {
                own(&self.shared.model, &mut self.scratch, tile_rows(n, t), outs);
                self.resolved[t] = true;
                mine += 1;
            }
            left -= mine as usize;
            if mine > 0 {
                patience = start.elapsed() / mine;
            }
        }
        // Tiles that workers claimed: take each once it is finished; after
        // about one tile's time, compute the next unfinished one here.
        let mut since = Instant::now();
        while left > 0 {
            for (t, tile) in buffers.tiles.iter().enumerate().take(tiles) {
                if self.resolved[t] {
                    continue;
                }
                let out = match tile.try_lock() {
                    Ok(out) => out,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    // A worker is computing it.
                    Err(TryLockError::WouldBlock) => continue,
                };
                if out.epoch != epoch {
                    continue;
                }
                if out.panicked {
                    return Err(ModelError::Data("a rollout thread panicked".into()));
                }
                collect(&out, tile_rows(n, t), outs);
                self.resolved[t] = true;
                left -= 1;
            }
            if left == 0 {
                break;
            }
            if job != Job::Nothing && since.elapsed() >= patience {
                if let Some(t) = self.resolved.iter().position(|r| !r) {
                    own(&self.shared.model, &mut self.scratch, tile_rows(n, t), outs);
                    self.resolved[t] = true;
                    left -= 1;
                    since = Instant::now();
                }
            } else {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }

    /// Wakes the workers with as many empty tiles as there are workers and
    /// waits until every tile is marked done: the fixed cost of handing a
    /// call to the threads (for benchmarks).
    pub fn ping_workers(&mut self) -> Result<(), ModelError> {
        self.run(
            Job::Nothing,
            0,
            0,
            |_| {},
            &mut (),
            |_, _, _, _| {},
            |_, _, _| {},
        )
    }

    /// Encodes `b` normalised observations (`b x obs_dim`, row-major) into
    /// latents (`b x latent_dim`), as [`WorldModel::encode`].
    pub fn encode(&mut self, obs: &[f32], b: usize, z: &mut [f32]) -> Result<(), ModelError> {
        let c = &self.shared.model.config;
        let (o, l) = (c.obs_dim, c.latent_dim);
        self.check_batch("encode", b, 0)?;
        check_len("encode observations", obs.len(), b * o, "b x obs_dim")?;
        check_len("encode latents", z.len(), b * l, "b x latent_dim")?;
        check_finite("encode observations", obs)?;
        self.run(
            Job::Encode,
            b,
            0,
            |batch| batch.input[..b * o].copy_from_slice(obs),
            z,
            |m, s, r, z| {
                let work = Work::Encode {
                    obs: &obs[r.start * o..r.end * o],
                    z: &mut z[r.start * l..r.end * l],
                };
                compute(m, s, r.len(), work)
            },
            |out, r, z| z[r.start * l..r.end * l].copy_from_slice(&out.output[..r.len() * l]),
        )
    }

    /// Decodes `n` latents (`n x latent_dim`, row-major) into normalised
    /// observations (`n x decoded_dim`), as [`WorldModel::decode`] up to
    /// rounding; results do not depend on the thread count.
    pub fn decode(&mut self, z: &[f32], n: usize, obs: &mut [f32]) -> Result<(), ModelError> {
        let l = self.shared.model.config.latent_dim;
        let d = self.shared.model.decoded_dim();
        self.check_batch("decode", n, 0)?;
        check_len("decode latents", z.len(), n * l, "n x latent_dim")?;
        check_len("decode observations", obs.len(), n * d, "n x decoded_dim")?;
        check_finite("decode latents", z)?;
        self.run(
            Job::Decode,
            n,
            0,
            |batch| batch.input[..n * l].copy_from_slice(z),
            obs,
            |m, s, r, obs| {
                let work = Work::Decode {
                    z: &z[r.start * l..r.end * l],
                    obs: &mut obs[r.start * d..r.end * d],
                };
                compute(m, s, r.len(), work)
            },
            |out, r, obs| obs[r.start * d..r.end * d].copy_from_slice(&out.output[..r.len() * d]),
        )
    }

    /// Rolls out `n` samples that all start at latent `z0` (`latent_dim`)
    /// under `actions` (`n x h x act_dim`, row-major by sample, normalised
    /// to `[-1, 1]`), as [`WorldModel::rollout`]; fills `out` (its Vecs
    /// grow only if their capacity is too small).
    pub fn rollout(
        &mut self,
        z0: &[f32],
        actions: &[f32],
        n: usize,
        h: usize,
        out: &mut RolloutOutput,
    ) -> Result<(), ModelError> {
        let c = &self.shared.model.config;
        let (l, a) = (c.latent_dim, c.act_dim);
        self.check_batch("rollout", n, h)?;
        check_len("rollout z0", z0.len(), l, "latent_dim")?;
        check_len(
            "rollout actions",
            actions.len(),
            n * h * a,
            "n x h x act_dim",
        )?;
        check_finite("rollout z0", z0)?;
        check_finite("rollout actions", actions)?;
        out.rewards.resize(n * h, 0.0);
        out.values.resize(n, 0.0);
        out.final_latents.resize(n * l, 0.0);
        let mut outs = (
            &mut out.rewards[..],
            &mut out.values[..],
            &mut out.final_latents[..],
        );
        self.run(
            Job::Rollout,
            n,
            h,
            |batch| {
                batch.z0.copy_from_slice(z0);
                batch.input[..n * h * a].copy_from_slice(actions);
            },
            &mut outs,
            |m, s, r, (rewards, values, latents)| {
                let work = Work::Rollout {
                    z0,
                    actions: &actions[r.start * h * a..r.end * h * a],
                    h,
                    rewards: &mut rewards[r.start * h..r.end * h],
                    values: &mut values[r.clone()],
                    latents: &mut latents[r.start * l..r.end * l],
                };
                compute(m, s, r.len(), work)
            },
            |tile, r, (rewards, values, latents)| {
                let k = r.len();
                rewards[r.start * h..r.end * h].copy_from_slice(&tile.rewards[..k * h]);
                values[r.clone()].copy_from_slice(&tile.values[..k]);
                latents[r.start * l..r.end * l].copy_from_slice(&tile.latents[..k * l]);
            },
        )
    }

    /// Policy-prior trajectories from `z0`: `a_t = tanh(mu(z_t) +
    /// exp(log_std(z_t)) * noise_t)`, `z_{t+1} = dyn(z_t, a_t)`, as
    /// [`WorldModel::policy_sample`] and [`WorldModel::next`]; writes
    /// `actions` (`n x h x act_dim`, row-major by sample). `noise` is
    /// standard normal, `n x h x act_dim`, drawn by the caller.
    pub fn policy_rollout(
        &mut self,
        z0: &[f32],
        noise: &[f32],
        n: usize,
        h: usize,
        actions: &mut [f32],
    ) -> Result<(), ModelError> {
        let c = &self.shared.model.config;
        let (l, a) = (c.latent_dim, c.act_dim);
        self.check_batch("policy rollout", n, h)?;
        check_len("policy rollout z0", z0.len(), l, "latent_dim")?;
        check_len(
            "policy rollout noise",
            noise.len(),
            n * h * a,
            "n x h x act_dim",
        )?;
        check_len(
            "policy rollout actions",
            actions.len(),
            n * h * a,
            "n x h x act_dim",
        )?;
        check_finite("policy rollout z0", z0)?;
        check_finite("policy rollout noise", noise)?;
        self.run(
            Job::Policy,
            n,
            h,
            |batch| {
                batch.z0.copy_from_slice(z0);
                batch.input[..n * h * a].copy_from_slice(noise);
            },
            actions,
            |m, s, r, actions| {
                let work = Work::Policy {
                    z0,
                    noise: &noise[r.start * h * a..r.end * h * a],
                    h,
                    actions: &mut actions[r.start * h * a..r.end * h * a],
                };
                compute(m, s, r.len(), work)
            },
            |tile, r, actions| {
                actions[r.start * h * a..r.end * h * a]
                    .copy_from_slice(&tile.output[..r.len() * h * a])
            },
        )
    }
}

impl std::fmt::Debug for RolloutEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutEngine")
            .field("max_samples", &self.max_samples)
            .field("max_horizon", &self.max_horizon)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

fn check_len(what: &str, got: usize, want: usize, shape: &str) -> Result<(), ModelError> {
    if got != want {
        return Err(ModelError::Data(format!(
            "{what}: {got} values, expected {shape} = {want}"
        )));
    }
    Ok(())
}

fn check_finite(what: &str, v: &[f32]) -> Result<(), ModelError> {
    // A branch-free pass first (vectorises); the position only on failure.
    if v.iter().fold(true, |ok, x| ok & x.is_finite()) {
        return Ok(());
    }
    let i = v.iter().position(|x| !x.is_finite()).unwrap_or(0);
    Err(ModelError::Data(format!(
        "{what}: value {i} is {} (not finite)",
        v[i]
    )))
}

impl Drop for RolloutEngine {
    fn drop(&mut self) {
        // Closing the go channels ends the workers' loops.
        self.workers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
