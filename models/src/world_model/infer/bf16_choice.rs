//! Which bfloat16 kernel a model keeps ([`Bf16Kernel::choose`]): both
//! give the same bits, so the model times them on a hidden layer and keeps
//! the faster. Above the kernels it times; the enum itself is
//! `precision`'s, at the bottom, so that the layouts can name it.

use std::time::{Duration, Instant};

use super::bf16::{Bf16Scratch, dense_bf16_with};
use super::maths::Post;
use super::precision::{Bf16Kernel, Precision};
use super::weights::{Bf16Weights, Norm};

impl Bf16Kernel {
    /// The kernel for this CPU and what the choice timed: `vdpbf16ps`
    /// where the CPU has it and it ran a hidden layer clearly faster than
    /// the `f32` kernels, with the fastest of 20 runs of four calls of a
    /// hidden layer (64 rows, 128 to 128) with each; else `F32` and no
    /// timings. A few milliseconds where the CPU has AVX512-BF16:
    /// [`super::InferenceModel::with_precision`] asks once per model and
    /// keeps the answer.
    pub fn choose() -> (Self, Option<(Duration, Duration)>) {
        if !Precision::bf16_native() {
            return (Self::F32, None);
        }
        let (dp, f32) = time_kernels();
        // A clear win only: a wrong pick costs speed, never results.
        let kernel = if dp.as_secs_f64() < 0.9 * f32.as_secs_f64() {
            Self::Dpbf16
        } else {
            Self::F32
        };
        (kernel, Some((dp, f32)))
    }
}

/// The fastest of several timings of a default hidden layer (64 rows,
/// 128 to 128, LayerNorm) with each kernel, alternating: (`vdpbf16ps`,
/// the `f32` kernels). Call only where the CPU has AVX512-BF16.
fn time_kernels() -> (Duration, Duration) {
    const ROWS: usize = 64;
    const D: usize = 128;
    // Any values do: a fixed pattern of moderate size.
    let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2;
    let w: Vec<f32> = (0..D * D).map(value).collect();
    let weights = Bf16Weights::new(&w, D, D, Bf16Kernel::F32);
    let x: Vec<f32> = (0..ROWS * D).map(|i| value(i + 17) * 10.0).collect();
    let b = vec![0.01; D];
    let norm = Norm {
        gamma: vec![1.0; D],
        beta: vec![0.0; D],
    };
    let mut y = vec![0.0; ROWS * D];
    let mut s = Bf16Scratch::new(ROWS, D);
    let post = Post::Hidden(Some(&norm));
    let mut best = [Duration::MAX; 2];
    for _ in 0..20 {
        for (k, kernel) in [Bf16Kernel::Dpbf16, Bf16Kernel::F32]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            for _ in 0..4 {
                dense_bf16_with(
                    kernel, &weights, D, D, &b, D, ROWS, &x, D, &mut y, D, post, &mut s,
                );
            }
            best[k] = best[k].min(t.elapsed());
        }
    }
    (best[0], best[1])
}
