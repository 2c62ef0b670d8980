//! `umwelt bench model --json` with tiny settings: every figure is present
//! and positive (no timing assertions).

mod common;

#[test]
fn bench_model_reports_every_figure() {
    let v = common::json(&[
        "bench",
        "model",
        "--samples",
        "70",
        "--horizon",
        "2",
        "--threads",
        "2",
        "--duration",
        "0.05",
        "--train-steps",
        "1",
        "--train-batch",
        "8",
        "--latent",
        "16",
        "--hidden",
        "32",
        "--json",
    ]);
    let num = |path: &str| common::num(&v, path);
    assert_eq!(v["robot"], "cartpole");
    assert_eq!(num("/samples"), 70.0);
    assert_eq!(num("/horizon"), 2.0);
    assert_eq!(num("/model/latent_dim"), 16.0);
    for p in [
        "/flops_per_rollout",
        "/sgemm_peak_1_thread",
        "/sgemm_peak_threads",
        "/speedup_over_burn",
        "/policy_rollout_ms_p50",
        "/worker_round_trip_us",
        "/worker_round_trip_cold_us",
        "/scoped_spawn_us",
        "/train/steps_per_s",
        "/train/ms_per_step",
    ] {
        assert!(num(p) > 0.0, "{p} = {}", num(p));
    }
    for r in ["/rollout", "/rollout_1_thread", "/burn"] {
        for f in [
            "sample_steps_per_s",
            "ms_p50",
            "ms_p99",
            "gflops",
            "fraction_of_sgemm",
            "calls",
        ] {
            let p = format!("{r}/{f}");
            assert!(num(&p) > 0.0, "{p} = {}", num(&p));
        }
    }
    assert_eq!(num("/rollout/threads"), 2.0);
    assert_eq!(num("/rollout_1_thread/threads"), 1.0);
    let sgemm = v["sgemm"].as_array().expect("sgemm list");
    assert!(sgemm.len() >= 4);
    for g in sgemm {
        assert!(g["gflops"].as_f64().is_some_and(|x| x > 0.0), "{g}");
    }
}

#[test]
fn bench_model_refuses_an_unknown_robot() {
    let out = common::umwelt(&["bench", "model", "--robot", "nope", "--json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope"), "{err}");
}
