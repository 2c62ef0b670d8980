//! `umwelt bench plan --json` with a small budget: every figure is present
//! and sane (no timing assertions).

mod common;

#[test]
fn bench_plan_reports_plan_times_and_the_reference_job() {
    let v = common::json(&[
        "bench",
        "plan",
        "--samples",
        "128",
        "--horizon",
        "2",
        "--iterations",
        "2",
        "--hidden",
        "32",
        "--plans",
        "20",
        "--threads",
        "2",
        "--period-ms",
        "2",
        "--json",
    ]);
    let num = |path: &str| common::num(&v, path);
    assert_eq!(v["robot"], "cartpole");
    // The shipped configs' precision unless told otherwise.
    assert_eq!(v["precision"], "bf16");
    assert!(v["bf16_native"].is_boolean(), "{v}");
    let kernel = v["bf16_kernel"].as_str().unwrap_or_default();
    assert!(["dpbf16", "f32"].contains(&kernel), "{v}");
    if v["bf16_native"] == false {
        assert_eq!(kernel, "f32");
    }
    assert_eq!(num("/plans"), 20.0);
    assert_eq!(num("/threads"), 2.0);
    assert_eq!(num("/sample_steps"), 128.0 * 2.0 * 2.0);
    assert_eq!(num("/model/hidden"), 32.0);
    for p in [
        "/flops_per_plan",
        "/ms_p50",
        "/gflops",
        "/sgemm_gflops",
        "/fraction_of_sgemm",
        "/plans_per_s",
        "/reference/ms_p50",
        "/reference/calls",
    ] {
        assert!(num(p) > 0.0, "{p} = {}", num(p));
    }
    assert_eq!(num("/reference/threads"), 2.0);
    assert_eq!(num("/paced/period_ms"), 2.0);
    // Percentiles are ordered, and a tail is p99 over p50.
    for r in ["", "/reference", "/paced"] {
        let (p50, p99, max) = (
            num(&format!("{r}/ms_p50")),
            num(&format!("{r}/ms_p99")),
            num(&format!("{r}/ms_max")),
        );
        assert!(
            0.0 < p50 && p50 <= p99 && p99 <= max,
            "{r}: {p50} {p99} {max}"
        );
        if r != "/paced" {
            let tail = num(&format!("{r}/tail"));
            assert!((tail - p99 / p50).abs() < 1e-9 * tail, "{r}: tail {tail}");
        }
    }
    let shape: Vec<f64> = v["reference"]["shape"]
        .as_array()
        .expect("reference shape")
        .iter()
        .filter_map(|x| x.as_f64())
        .collect();
    assert_eq!(shape, [64.0, 256.0, 256.0]);
    // One worker besides the caller, placed (spread, the default) or
    // floating where one CPU is all there is.
    assert_eq!(v["worker_cpus"].as_array().map(Vec::len), Some(1), "{v}");
}

#[test]
fn bench_plan_places_workers_as_told_and_refuses_a_cpu_it_may_not_use() {
    let v = common::json(&[SMALL, &["--workers", "float", "--json"]].concat());
    assert_eq!(v["worker_cpus"], serde_json::json!([null]), "{v}");
    let out = common::umwelt(&[SMALL, &["--workers", "100000"]].concat());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CPU 100000"), "{err}");
    let out = common::umwelt(&[SMALL, &["--workers", "somewhere"]].concat());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("somewhere") && err.contains("float"), "{err}");
}

/// A tiny budget, not paced.
const SMALL: &[&str] = &[
    "bench",
    "plan",
    "--samples",
    "64",
    "--horizon",
    "1",
    "--iterations",
    "1",
    "--hidden",
    "16",
    "--plans",
    "2",
    "--period-ms",
    "0",
];

#[test]
fn bench_plan_skips_pacing_at_period_zero_and_refuses_a_bad_period() {
    let v = common::json(&[SMALL, &["--json"]].concat());
    assert!(v["paced"].is_null(), "{v}");
    assert_eq!(v["plans"], 2);
    let out = common::umwelt(&["bench", "plan", "--period-ms=-1", "--plans", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--period-ms -1"), "{err}");
}

#[test]
fn bench_plan_plans_in_the_precision_asked_for_and_refuses_others() {
    let v = common::json(&[SMALL, &["--precision", "f32", "--json"]].concat());
    assert_eq!(v["precision"], "f32", "{v}");
    let out = common::umwelt(&[SMALL, &["--precision", "fp8"]].concat());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fp8") && err.contains("bf16"), "{err}");
}

#[test]
fn bench_plan_refuses_a_missing_checkpoint() {
    let out = common::umwelt(&[
        "bench",
        "plan",
        "--checkpoint",
        "/nonexistent/model.uwwm",
        "--plans",
        "1",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model.uwwm"), "{err}");
}
