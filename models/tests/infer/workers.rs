//! Worker threads: each bound to a CPU of its own among those the process may
//! use, or floating, and bad CPU lists refused.

use super::*;

/// Each worker thread is bound to a CPU of its own among those this
/// process may use (so that, woken after a long sleep, it runs beside the
/// planner rather than queued behind it on the planner's CPU), workers of
/// one engine on distinct CPUs while there are enough, and none where one
/// CPU is all there is; a one-thread engine has no workers to place.
#[test]
fn workers_are_bound_to_distinct_allowed_cpus() {
    let c = cartpole_sized();
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 3)).expect("model"));
    let one = RolloutEngine::new(im.clone(), 64, 2, 1).expect("engine");
    assert!(one.worker_cpus().is_empty());
    let eng = RolloutEngine::new(im, 256, 2, 3).expect("engine");
    let cpus = eng.worker_cpus();
    assert_eq!(cpus.len(), 2);
    let allowed = allowed_cpus();
    if cfg!(target_os = "linux") && allowed >= 2 {
        let bound: Vec<usize> = cpus.iter().map(|c| c.expect("bound")).collect();
        if allowed >= 3 {
            assert_ne!(bound[0], bound[1], "{bound:?}");
        }
    } else {
        assert!(cpus.iter().all(Option::is_none), "{cpus:?}");
    }
}

#[test]
fn workers_float_or_go_to_listed_cpus_and_bad_lists_are_refused() {
    let c = cartpole_sized();
    let im = Arc::new(InferenceModel::from_model(&random_model(&c, 4)).expect("model"));
    let (n, h) = (256, 3);
    let mut eng = RolloutEngine::new(im, n, h, 3).expect("engine");
    let z0 = vec![1.0 / 8.0; c.latent_dim];
    let actions: Vec<f32> = (0..n * h).map(|i| ((i % 7) as f32 - 3.0) / 4.0).collect();
    let mut before = RolloutOutput::default();
    eng.rollout(&z0, &actions, n, h, &mut before)
        .expect("rollout");

    eng.place_workers(&WorkerPlacement::Float).expect("float");
    assert_eq!(eng.worker_cpus(), &[None, None]);
    let mut after = RolloutOutput::default();
    eng.rollout(&z0, &actions, n, h, &mut after)
        .expect("rollout");
    assert_eq!(
        bits(&before.rewards),
        bits(&after.rewards),
        "placement changes no result"
    );
    assert_eq!(bits(&before.values), bits(&after.values));

    if cfg!(target_os = "linux") {
        let cpu = allowed_cpu_list()[0];
        eng.place_workers(&WorkerPlacement::Cpus(vec![cpu]))
            .expect("listed");
        assert_eq!(eng.worker_cpus(), &[Some(cpu), Some(cpu)]);
        let err = eng
            .place_workers(&WorkerPlacement::Cpus(vec![cpu, 100_000]))
            .expect_err("a CPU the process may not use")
            .to_string();
        assert!(err.contains("CPU 100000"), "{err}");
        assert_eq!(
            eng.worker_cpus(),
            &[Some(cpu), Some(cpu)],
            "left where they were"
        );
        let err = eng
            .place_workers(&WorkerPlacement::Cpus(vec![]))
            .expect_err("an empty list")
            .to_string();
        assert!(err.contains("empty"), "{err}");
    } else {
        assert!(eng.place_workers(&WorkerPlacement::Cpus(vec![0])).is_err());
    }
    eng.place_workers(&WorkerPlacement::Spread).expect("spread");
    let spread = eng.worker_cpus();
    assert_eq!(
        spread.iter().all(Option::is_some),
        cfg!(target_os = "linux") && allowed_cpus() >= 2,
        "{spread:?}"
    );
}

/// The CPUs this thread may run on (its affinity mask); `[0]` off Linux.
fn allowed_cpu_list() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero cpu_set_t is the empty set, and the call
        // writes at most its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }
    #[cfg(not(target_os = "linux"))]
    vec![0]
}

/// How many CPUs this thread may run on; 1 off Linux.
fn allowed_cpus() -> usize {
    allowed_cpu_list().len()
}
