//! Benchmarks reported as ratios against a baseline measured in the same
//! run (`umwelt bench`), one module per benchmark:
//!
//! - [`sim`]: physics steps per second of each robot, beside real time;
//! - [`render`]: camera frames per second, beside env steps per second
//!   and the control rate;
//! - [`control_loop`]: control-loop jitter and latency, beside the period;
//! - [`wire`]: sensor-frame latency over zenoh, beside raw zenoh;
//! - [`wire_secure`]: the same over the secure profile, beside plain TCP;
//! - [`record`]: the recorder's write speed, beside a plain file's;
//! - [`plan`]: the planner's time per decision, beside the sgemm peak and
//!   a fixed reference job;
//! - [`model`]: world-model rollouts and training, beside the sgemm peak;
//! - [`train`]: one optimiser step of each shipped model, phase by phase,
//!   beside the sgemm peak.
//!
//! This module holds what they share: the error type and timing
//! statistics; [`sgemm`] is the arithmetic baseline of `plan` and `model`.

pub mod control_loop;
pub mod model;
pub mod plan;
pub mod record;
pub mod render;
pub mod sgemm;
pub mod sim;
pub mod train;
pub mod wire;
pub mod wire_secure;

use std::time::Instant;

use serde::Serialize;

pub use control_loop::{LoopBench, bench_loop};
pub use model::{ModelBench, ModelBenchOptions, RolloutBench, SgemmBench, TrainBench, bench_model};
pub use plan::{PacedPlans, PlanBench, PlanBenchOptions, ReferenceJob, bench_plan};
pub use record::{RecordBench, RecordBenchOptions, bench_record};
pub use render::{RenderBench, bench_render};
pub use sgemm::sgemm_gflops;
pub use sim::{SimBench, bench_sim};
pub use train::{
    ModelTrainBench, PhaseBench, TrainBenchOptions, TrainBenchReport, bench_train,
    shipped_checkpoints,
};
pub use wire::{WireBench, bench_wire};
pub use wire_secure::{TransportBench, bench_wire_secure, bench_wire_transports};

/// What a benchmark fails with: any error of the parts it drives.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Samples.
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of `us` (sorted in place).
    pub fn of(us: &mut [f64]) -> Self {
        us.sort_by(f64::total_cmp);
        Self {
            samples: us.len(),
            p50_us: quantile(us, 0.5),
            p99_us: quantile(us, 0.99),
            max_us: us.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Times `call` repeatedly for about `seconds` (at least 5 calls, after 3
/// warm-up calls); wall times in seconds, sorted.
fn time_calls(
    seconds: f64,
    mut call: impl FnMut() -> Result<(), BenchError>,
) -> Result<Vec<f64>, BenchError> {
    for _ in 0..3 {
        call()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        call()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// The `q` quantile of `sorted` (the nearest rank; NaN when empty).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}
