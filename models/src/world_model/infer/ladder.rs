//! The row ladder of the register-blocked kernels, written once: each
//! kernel runs its blocks of rows the same way, only the block heights
//! and the block function differ.

/// Runs `$block::<R>(args)` over `$m` rows, `$max` rows a block while
/// that many are left, then the rest in one block of their height (one of
/// `$heights`, else 1). In each call `$x` and `$y` are the block's first
/// rows (row strides `$x_rs` and `$y_rs`), so the args name them as the
/// kernel's own.
///
/// Used inside an `unsafe fn` whose caller keeps the block's contract for
/// all `$m` rows: each block gets the rows `i..` of `$x` and `$y`.
macro_rules! row_blocks {
    (
        $m:expr, $max:expr, [$($r:literal),+],
        $x:ident, $x_rs:expr, $y:ident, $y_rs:expr,
        $block:ident $args:tt
    ) => {{
        let mut i = 0;
        while i < $m {
            let r = ($m - i).min($max);
            let $x = &$x[i * $x_rs..];
            let $y = &mut $y[i * $y_rs..];
            // SAFETY: forwarded from the caller, for rows i.. of x and y.
            unsafe {
                match r {
                    $($r => $block::<$r> $args,)+
                    _ => $block::<1> $args,
                }
            }
            i += r;
        }
    }};
}
