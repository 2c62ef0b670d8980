//! Reusable buffers for a pixel model's convolutions, one pool per thread.
//!
//! Why: a convolution pass makes a few buffers of megabytes every step
//! (the input, each layer's patch rows and their gradients). Fresh from
//! the allocator they come back as pages the kernel must zero on first
//! touch (`perf` of a fused pixel step: ~7% in `clear_page`, with
//! mimalloc's purge delay off too). Taken from this pool they are pages
//! the thread already owns. Training threads are persistent
//! ([`super::workers`]), so each pool lives as long as its trainer. The
//! price: a thread that has trained keeps one step's buffers (tens of
//! megabytes for a pixel batch of 64) until it ends.
//!
//! A buffer's contents never carry from one use to the next: [`take`]
//! gives an empty vector (only its capacity is reused), [`zeroed`] one of
//! zeros; what a step computes does not depend on the pool.

use std::cell::RefCell;

/// Buffers a thread keeps at most. A fused pixel step holds about a dozen
/// at once per thread (see `conv`); beyond this, returned ones are freed.
const KEEP: usize = 24;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// An empty vector with room for `len` values: the smallest pooled one
/// that fits, else a new one.
pub(super) fn take(len: usize) -> Vec<f32> {
    let found = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    });
    match found {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(len),
    }
}

/// `len` zeros, in a pooled vector when one fits.
pub(super) fn zeroed(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.resize(len, 0.0);
    v
}

/// Hands `v` back to this thread's pool (freed when the pool is full or
/// `v` holds no memory).
pub(super) fn give(v: Vec<f32>) {
    if v.capacity() == 0 {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < KEEP {
            pool.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_empty_and_zeroed_means_zeros() {
        let mut v = take(1000);
        assert!(v.is_empty() && v.capacity() >= 1000);
        v.extend(std::iter::repeat_n(7.0f32, 1000));
        let at = v.as_ptr();
        give(v);
        // The best fit among the pooled: this one (nothing smaller fits).
        let w = take(500);
        assert_eq!(w.as_ptr(), at, "the pooled buffer is reused");
        assert!(w.is_empty(), "its old values are not handed out");
        give(w);
        let z = zeroed(800);
        assert_eq!(z.as_ptr(), at);
        assert_eq!(z.len(), 800);
        assert!(z.iter().all(|&x| x == 0.0));
        give(z);
        // Too small a buffer is not taken for a larger request.
        let big = take(5000);
        assert_ne!(big.as_ptr(), at);
        assert!(big.capacity() >= 5000);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        for _ in 0..KEEP + 10 {
            give(Vec::with_capacity(16));
        }
        let kept = POOL.with(|p| p.borrow().len());
        assert!(kept <= KEEP, "{kept} kept");
    }
}
