//! Where an engine's worker threads run: CPU affinity on Linux.

use std::sync::atomic::AtomicUsize;
use std::thread::JoinHandle;

use super::super::config::ModelError;

/// Rollout workers bound to a CPU so far, in this process: each engine
/// takes the next ones, so that several engines (evaluation jobs) spread
/// their workers over the CPUs instead of stacking them on one.
pub(super) static WORKERS_PLACED: AtomicUsize = AtomicUsize::new(0);

/// Where an engine's worker threads run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WorkerPlacement {
    /// Each worker on a CPU of its own among those the process may use,
    /// the first worker skipping the first of them (the default; see
    /// [`RolloutEngine::place_workers`] for why).
    #[default]
    Spread,
    /// Wherever the OS schedules them, among the process's CPUs.
    Float,
    /// Worker `k` on CPU `cpus[k % cpus.len()]` (for machines whose CPUs
    /// are partitioned by hand: isolated cores, other real-time threads).
    Cpus(Vec<usize>),
}

impl std::str::FromStr for WorkerPlacement {
    type Err = String;
    /// `spread`, `float`, or CPUs separated by commas (`2,3`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "spread" => Ok(Self::Spread),
            "float" => Ok(Self::Float),
            list => {
                let cpus: Result<Vec<usize>, _> =
                    list.split(',').map(|c| c.trim().parse::<usize>()).collect();
                match cpus {
                    Ok(c) if !c.is_empty() => Ok(Self::Cpus(c)),
                    _ => Err(format!(
                        "\"{s}\": expected \"spread\", \"float\" or CPUs separated by commas (2,3)"
                    )),
                }
            }
        }
    }
}

/// The CPUs the calling thread may run on (`taskset`, cpusets).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Option<Vec<usize>> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: an all-zero cpu_set_t is the empty set; the call writes at
    // most `size` bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect(),
        )
    }
}

/// Restricts the thread of `handle` to `cpus`; false when the call fails.
#[cfg(target_os = "linux")]
fn set_affinity(handle: &JoinHandle<()>, cpus: &[usize]) -> bool {
    use std::os::unix::thread::JoinHandleExt;
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: as in `allowed_cpus`; every CPU is below CPU_SETSIZE (they
    // come from `allowed_cpus`), and the handle's thread is alive (not
    // joined).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::pthread_setaffinity_np(handle.as_pthread_t(), size, &set) == 0
    }
}

/// Places `handles` as `placement` says and returns where each went
/// (`None`: it floats). `first` is the engine's first place for
/// [`WorkerPlacement::Spread`]. Spread binds nothing where one CPU is all
/// there is or a call fails; a listed CPU the process may not use is an
/// error.
#[cfg(target_os = "linux")]
pub(super) fn place(
    handles: &[JoinHandle<()>],
    first: usize,
    placement: &WorkerPlacement,
) -> Result<Vec<Option<usize>>, ModelError> {
    let allowed = allowed_cpus().unwrap_or_default();
    if let WorkerPlacement::Cpus(cpus) = placement {
        if cpus.is_empty() && !handles.is_empty() {
            return Err(ModelError::Config(
                "an empty list of CPUs for the rollout workers".into(),
            ));
        }
        if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
            return Err(ModelError::Config(format!(
                "rollout workers on CPU {c}: this process may only use CPUs {allowed:?}"
            )));
        }
    }
    Ok(handles
        .iter()
        .enumerate()
        .map(|(k, h)| match placement {
            WorkerPlacement::Spread if allowed.len() >= 2 => {
                let cpu = allowed[(first + k) % allowed.len()];
                set_affinity(h, &[cpu]).then_some(cpu)
            }
            WorkerPlacement::Spread | WorkerPlacement::Float => {
                // Undo an earlier binding: back to every allowed CPU.
                if !allowed.is_empty() {
                    set_affinity(h, &allowed);
                }
                None
            }
            WorkerPlacement::Cpus(cpus) => {
                let cpu = cpus[k % cpus.len()];
                set_affinity(h, &[cpu]).then_some(cpu)
            }
        })
        .collect())
}

/// [`place`] where thread affinity is not available: the workers float,
/// and a list of CPUs is refused.
#[cfg(not(target_os = "linux"))]
pub(super) fn place(
    handles: &[JoinHandle<()>],
    _: usize,
    placement: &WorkerPlacement,
) -> Result<Vec<Option<usize>>, ModelError> {
    if let WorkerPlacement::Cpus(_) = placement {
        return Err(ModelError::Config(
            "binding rollout workers to CPUs is only supported on Linux".into(),
        ));
    }
    Ok(vec![None; handles.len()])
}
