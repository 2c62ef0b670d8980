//! Loop timing in allocation-free histograms, and the real-time options.

use hdrhistogram::Histogram;
use serde::Serialize;
use tracing::warn;

use super::config::RealtimeConfig;

/// p50 / p99 / max of one quantity, in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Values recorded.
    pub samples: u64,
}

/// A microsecond histogram from 1 us to 60 s at 3 significant digits: it
/// allocates once, here, and never while recording.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Per-tick timing of the control loop.
pub struct Timing {
    /// Tick-to-tick period.
    pub period: Histogram<u64>,
    /// How late each tick started against its schedule.
    pub jitter: Histogram<u64>,
    /// Time inside the controller.
    pub controller: Histogram<u64>,
    /// From the frame's sensor stamp to the command's publication.
    pub latency: Histogram<u64>,
    /// Ticks whose work ran past the next tick's start.
    pub misses: u64,
    /// Ticks run.
    pub ticks: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            period: histogram(),
            jitter: histogram(),
            controller: histogram(),
            latency: histogram(),
            misses: 0,
            ticks: 0,
        }
    }
}

/// Records `us` microseconds, saturating at the histogram's bounds.
pub fn record(h: &mut Histogram<u64>, us: f64) {
    h.saturating_record(us.max(1.0) as u64);
}

/// The percentiles of a histogram (zeros when empty).
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        p50_us: h.value_at_quantile(0.5) as f64,
        p99_us: h.value_at_quantile(0.99) as f64,
        max_us: h.max() as f64,
        samples: h.len(),
    }
}

/// Applies the real-time options to the calling thread; returns what could
/// not be applied (also logged as warnings).
pub fn apply_realtime(cfg: &RealtimeConfig) -> Vec<String> {
    let mut failed = Vec::new();
    if cfg.mlockall {
        // SAFETY: mlockall only changes the paging of this process.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc != 0 {
            failed.push(format!(
                "mlockall: {} (needs CAP_IPC_LOCK or a higher memlock limit)",
                std::io::Error::last_os_error()
            ));
        }
    }
    if let Some(cpu) = cfg.cpu {
        // SAFETY: the set is zeroed, filled with a valid CPU index, and passed with its size.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            failed.push(format!(
                "pinning to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if let Some(priority) = cfg.fifo_priority {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: a valid policy and parameter for the calling thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        if rc != 0 {
            failed.push(format!(
                "SCHED_FIFO priority {priority}: {} (needs CAP_SYS_NICE or an rtprio limit)",
                std::io::Error::last_os_error()
            ));
        }
    }
    for f in &failed {
        warn!("real-time option not applied, continuing without it: {f}");
    }
    failed
}
