//! The worker threads' side of a call: the shared claim counter, the
//! buffers a call's tiles are computed into, and the worker loop.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::TILE_ROWS;
use super::inference_model::InferenceModel;
use super::tiling::{Scratch, Work, compute};

// ---------------------------------------------------------------------------
// Threads
//
// A call's samples are cut into tiles of TILE_ROWS rows, and the caller and
// the workers claim tiles one at a time from a shared counter. A thread that
// the OS slows down (another process on its core, a busy hyper-thread
// sibling, a vCPU the host deschedules) then does fewer tiles instead of
// holding up the whole call, as a fixed split of the samples would. When the
// caller runs out of tiles it waits about one tile's time for those still
// being computed, then computes any that are not done itself: a worker that
// stops mid-tile costs the call one tile, not the length of the stop.
//
// Whoever computes a tile, its operations are the same (tile boundaries
// depend only on the sample count), so results are bit-identical for any
// thread count and any schedule. Calls alternate between two sets of
// buffers, so a worker still finishing a tile of the last call (whose result
// the caller no longer needs) does not hold up the next one; if it is still
// on it two calls later, that call runs on the calling thread alone rather
// than wait.
//
// By default each worker is bound to a CPU of its own
// (`WorkerPlacement::Spread`): a control loop plans once per tick, the
// workers sleep in between, and a thread woken after a long sleep is placed
// by the kernel on its waker's CPU, where it would queue behind the planner
// for the whole plan.

/// What a call asks of the threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Job {
    /// Nothing: one empty tile per worker, which the workers mark done (a
    /// round trip).
    #[default]
    Nothing,
    Rollout,
    Policy,
    Encode,
    Decode,
}

/// Bits of the claim counter that hold the next tile; the rest hold the
/// call's number.
pub(super) const TILE_BITS: u32 = 16;
pub(super) const TILE_MASK: u64 = (1 << TILE_BITS) - 1;

/// The inputs of one call, copied for the workers: the caller's slices
/// cannot be lent to persistent threads without unsafe code, and copying a
/// batch's inputs costs well under 1% of a rollout.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// The call's number (from 1), so that a worker that wakes late never
    /// takes another call's tiles.
    pub(super) epoch: u64,
    pub(super) job: Job,
    /// Samples.
    pub(super) n: usize,
    pub(super) h: usize,
    pub(super) tiles: usize,
    pub(super) z0: Vec<f32>,
    /// Actions, noise or observations of all samples.
    pub(super) input: Vec<f32>,
}

/// The outputs of one tile computed by a worker, rows from 0.
#[derive(Debug, Default)]
pub(super) struct TileOut {
    /// The call it belongs to; 0 before any.
    pub(super) epoch: u64,
    pub(super) panicked: bool,
    pub(super) rewards: Vec<f32>,
    pub(super) values: Vec<f32>,
    pub(super) latents: Vec<f32>,
    /// Policy actions, encoded latents or decoded observations.
    pub(super) output: Vec<f32>,
}

/// One call's buffers: its inputs and the tiles workers compute.
#[derive(Debug)]
pub(super) struct Buffers {
    pub(super) batch: RwLock<Batch>,
    pub(super) tiles: Vec<Mutex<TileOut>>,
}

/// What the caller and the workers share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) model: Arc<InferenceModel>,
    /// `epoch << TILE_BITS | next unclaimed tile` of the latest call.
    pub(super) claim: AtomicU64,
    /// Even calls use the first, odd calls the second.
    pub(super) buffers: [Buffers; 2],
}

impl Shared {
    pub(super) fn buffers(&self, epoch: u64) -> &Buffers {
        &self.buffers[(epoch & 1) as usize]
    }

    /// Claims the next tile of call `epoch`, which has `tiles`, if any is
    /// left and that call is still the latest.
    pub(super) fn claim(&self, epoch: u64, tiles: usize) -> Option<usize> {
        let mut cur = self.claim.load(Ordering::Acquire);
        loop {
            let next = (cur & TILE_MASK) as usize;
            if cur >> TILE_BITS != epoch || next >= tiles {
                return None;
            }
            match self.claim.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(next),
                Err(now) => cur = now,
            }
        }
    }
}

/// Rows of tile `t` of `n` samples.
pub(super) fn tile_rows(n: usize, t: usize) -> Range<usize> {
    (t * TILE_ROWS).min(n)..((t + 1) * TILE_ROWS).min(n)
}

/// Computes tile `t` of `batch` into `out` (rows from 0).
fn run_tile(model: &InferenceModel, s: &mut Scratch, batch: &Batch, t: usize, out: &mut TileOut) {
    let c = &model.config;
    let (l, a, o) = (c.latent_dim, c.act_dim, c.obs_dim);
    let (r, h) = (tile_rows(batch.n, t), batch.h);
    let m = r.len();
    let work = match batch.job {
        Job::Nothing => Work::Nothing,
        Job::Rollout => Work::Rollout {
            z0: &batch.z0,
            actions: &batch.input[r.start * h * a..r.end * h * a],
            h,
            rewards: &mut out.rewards[..m * h],
            values: &mut out.values[..m],
            latents: &mut out.latents[..m * l],
        },
        Job::Policy => Work::Policy {
            z0: &batch.z0,
            noise: &batch.input[r.start * h * a..r.end * h * a],
            h,
            actions: &mut out.output[..m * h * a],
        },
        Job::Encode => Work::Encode {
            obs: &batch.input[r.start * o..r.end * o],
            z: &mut out.output[..m * l],
        },
        Job::Decode => {
            let d = model.decoded_dim();
            Work::Decode {
                z: &batch.input[r.start * l..r.end * l],
                obs: &mut out.output[..m * d],
            }
        }
    };
    compute(model, s, m, work);
}

/// How long a worker polls for the next call before it sleeps: a planner
/// makes several calls per control tick back to back (policy samples, then
/// each iteration's rollout), and this spares each of them a wake-up, which
/// costs 30-70 us on a VM (an idle vCPU must be rescheduled).
const WORKER_SPIN: Duration = Duration::from_micros(100);

/// How long the caller waits for a worker's unfinished tile before
/// computing it itself, when it has not timed a tile of its own this call.
pub(super) const DEFAULT_PATIENCE: Duration = Duration::from_micros(200);

/// Receives one message, polling for up to `spin` before blocking; false
/// when the sender is gone.
fn recv_spinning(rx: &Receiver<()>, spin: Duration) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            match rx.try_recv() {
                Ok(()) => return true,
                Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() >= spin {
            return rx.recv().is_ok();
        }
    }
}

pub(super) fn worker_loop(shared: Arc<Shared>, go: Receiver<()>) {
    let mut scratch = Scratch::new(&shared.model.config);
    // Each wake-up is for the latest call: a call that finds a wake-up
    // already pending sends none, and the worker reads the call's number
    // only once awake.
    while recv_spinning(&go, WORKER_SPIN) {
        let epoch = shared.claim.load(Ordering::Acquire) >> TILE_BITS;
        let buffers = shared.buffers(epoch);
        let batch = buffers.batch.read().unwrap_or_else(PoisonError::into_inner);
        if batch.epoch != epoch {
            // Two calls have gone by since the load: the next wake-up is
            // for the latest.
            continue;
        }
        while let Some(t) = shared.claim(epoch, batch.tiles) {
            let Some(tile) = buffers.tiles.get(t) else {
                break;
            };
            let mut out = tile.lock().unwrap_or_else(PoisonError::into_inner);
            // A panic here would be a bug; catching it lets the caller
            // report it instead of waiting for a tile that never comes.
            let ok = catch_unwind(AssertUnwindSafe(|| {
                run_tile(&shared.model, &mut scratch, &batch, t, &mut out)
            }))
            .is_ok();
            if !ok {
                scratch = Scratch::new(&shared.model.config);
            }
            out.panicked = !ok;
            out.epoch = epoch;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::WorldModelConfig;
    use crate::world_model::infer::RolloutEngine;

    #[test]
    fn tiles_cover_the_batch_in_order() {
        for n in [0usize, 1, 63, 64, 65, 200, 512, 1000] {
            let mut next = 0;
            for t in 0..n.div_ceil(TILE_ROWS) {
                let r = tile_rows(n, t);
                assert_eq!(r.start, next);
                assert!(r.start.is_multiple_of(TILE_ROWS));
                assert!(!r.is_empty() && r.len() <= TILE_ROWS);
                next = r.end;
            }
            assert_eq!(next, n);
        }
    }

    /// Each tile of the latest call is claimed once; a worker holding an
    /// older call's number gets nothing.
    #[test]
    fn tiles_are_claimed_once_and_only_for_the_latest_call() {
        let model = crate::world_model::WorldModel::new(
            &WorldModelConfig {
                obs_dim: 3,
                act_dim: 1,
                ..WorldModelConfig::default()
            },
            0,
            &burn::tensor::Device::flex(),
        )
        .expect("model");
        let engine = RolloutEngine::new(
            Arc::new(InferenceModel::from_model(&model).expect("inference model")),
            512,
            4,
            2,
        )
        .expect("engine");
        let shared = &engine.shared;
        shared.claim.store(7 << TILE_BITS, Ordering::Release);
        let got: Vec<usize> = std::iter::from_fn(|| shared.claim(7, 5)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(shared.claim(7, 5), None);
        shared.claim.store(8 << TILE_BITS, Ordering::Release);
        assert_eq!(shared.claim(7, 5), None, "an older call's number");
        assert_eq!(shared.claim(8, 5), Some(0));
        assert!(std::ptr::eq(shared.buffers(7), shared.buffers(9)));
        assert!(!std::ptr::eq(shared.buffers(7), shared.buffers(8)));
    }
}
