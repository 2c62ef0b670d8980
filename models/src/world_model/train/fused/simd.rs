//! Run-time choice of instruction set for the fused step's element-wise
//! kernels: each is compiled three times (AVX-512, AVX2 + FMA, and the
//! build's baseline) and the widest the CPU has runs, so one binary
//! vectorises on every x86-64 machine (the default target has SSE2 only).

/// The widest instruction set the fused kernels may use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Level {
    /// AVX-512 F and VL, with AVX2 and FMA.
    V4,
    /// AVX2 and FMA.
    V3,
    /// The build's baseline.
    Base,
}

/// This CPU's [`Level`] (std caches the detection: a load per call).
pub(super) fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        let v3 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        if v3
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
        {
            return Level::V4;
        }
        if v3 {
            return Level::V3;
        }
    }
    Level::Base
}

/// Defines `fn name(args) body` compiled for each [`Level`], dispatching
/// at run time. The body is plain safe Rust the compiler vectorises.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn v4($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) {
                    body($($arg),*)
                }
                match $crate::world_model::train::fused::simd::level() {
                    // SAFETY: `level` found these features on this CPU.
                    $crate::world_model::train::fused::simd::Level::V4 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    $crate::world_model::train::fused::simd::Level::V3 => return unsafe { v3($($arg),*) },
                    $crate::world_model::train::fused::simd::Level::Base => {}
                }
            }
            body($($arg),*)
        }
    };
}

pub(super) use multiversion;
