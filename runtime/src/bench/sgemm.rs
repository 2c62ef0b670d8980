//! The sgemm baseline the model and plan benchmarks measure against: the
//! `gemm` crate's speed on this machine, in the same run.

use std::time::Instant;

use super::BenchError;

/// Fixed `m x k` and `k x n` operands for the sgemm measurements (small
/// values, so no denormals or overflow; the same work every run).
pub(super) fn sgemm_operands(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    (
        (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect(),
        (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect(),
    )
}

/// GFLOP/s of `m x k` times `k x n` with rows split over `threads` threads
/// (each multiplying its rows on its own, like the engine), run for about
/// `seconds`.
pub fn sgemm_gflops(
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
    seconds: f64,
) -> Result<f64, BenchError> {
    use umwelt_models::world_model::sgemm;
    let (lhs, rhs) = sgemm_operands(m, k, n);
    let one = |rows: std::ops::Range<usize>, dst: &mut [f32]| {
        sgemm(rows.len(), n, k, dst, n, &lhs[rows.start * k..], k, &rhs, n)
    };
    // Calibrate the count on one call, so every thread runs the same number.
    let mut dst = vec![0.0; m * n];
    for _ in 0..3 {
        one(0..m, &mut dst)?;
    }
    let t = Instant::now();
    one(0..m, &mut dst)?;
    let per_call = t.elapsed().as_secs_f64().max(1e-7) * threads as f64 / threads.min(m) as f64;
    let iters = ((seconds / per_call) as usize).clamp(3, 1_000_000);
    let chunks: Vec<std::ops::Range<usize>> = (0..threads)
        .map(|t| t * m / threads..(t + 1) * m / threads)
        .collect();
    let mut parts: Vec<Vec<f32>> = chunks.iter().map(|r| vec![0.0; r.len() * n]).collect();
    let start = Instant::now();
    std::thread::scope(|s| -> Result<(), BenchError> {
        let handles: Vec<_> = chunks
            .iter()
            .cloned()
            .zip(parts.iter_mut())
            .map(|(rows, dst)| {
                s.spawn(
                    move || -> Result<(), umwelt_models::world_model::ModelError> {
                        for _ in 0..iters {
                            one(rows.clone(), dst)?;
                        }
                        Ok(())
                    },
                )
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "sgemm thread panicked")??;
        }
        Ok(())
    })?;
    let wall = start.elapsed().as_secs_f64();
    Ok(2.0 * (m * n * k) as f64 * iters as f64 / wall / 1e9)
}
