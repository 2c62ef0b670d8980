//! Deterministic train/validation splits.

/// Splits episodes, given by a key each (their file index), into training
/// and validation: `(train, validation)`, positions into `keys`, each
/// sorted ascending, disjoint, together all of `0..keys.len()`.
///
/// The rule, reproducible in any language: each episode scores
/// `splitmix64(seed ^ splitmix64(key))` (wrapping 64-bit arithmetic; see
/// `docs/DATASET.md`); the `n_val` lowest scores (ties by position) are
/// validation, where `n_val = round(validation_fraction * n)`, but at least
/// 1 when the fraction is above 0 and at most `n - 1` when it is below 1
/// (for `n >= 2`). The fraction is clamped to `[0, 1]`; NaN counts as 0.
pub fn split_indices(
    keys: &[u64],
    validation_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let n = keys.len();
    let f = if validation_fraction.is_nan() {
        0.0
    } else {
        validation_fraction.clamp(0.0, 1.0)
    };
    let mut n_val = (f * n as f64).round() as usize;
    if n >= 2 {
        if f > 0.0 {
            n_val = n_val.max(1);
        }
        if f < 1.0 {
            n_val = n_val.min(n - 1);
        }
    }
    let n_val = n_val.min(n);
    let mut order: Vec<(u64, usize)> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (splitmix64(seed ^ splitmix64(k)), i))
        .collect();
    order.sort_unstable();
    let mut validation: Vec<usize> = order[..n_val].iter().map(|&(_, i)| i).collect();
    let mut train: Vec<usize> = order[n_val..].iter().map(|&(_, i)| i).collect();
    validation.sort_unstable();
    train.sort_unstable();
    (train, validation)
}

/// The splitmix64 finaliser (Steele, Lea, Flood 2014): a well-mixed 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
