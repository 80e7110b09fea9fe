//! The SIMD distance kernels behind [`super::distance`]: dot product, squared L2 and L1 over
//! `f32` slices, for x86_64 AVX2+FMA, aarch64 NEON and a portable fallback.
//!
//! This module owns only the arithmetic and the choice of kernels at run time ([`best`]).
//! It does not know about distances or scores; `distance.rs` maps those onto these kernels and
//! holds the scalar reference the tests compare every kernel against.
//!
//! Every kernel takes slices of any length: it works on `min(a.len(), b.len())` components
//! (callers always pass equal lengths) and finishes the tail that does not fill a register
//! with scalar code. Several independent accumulators hide the latency of the fused
//! multiply-adds, which is what limits a single-accumulator loop at 384 dimensions.
//!
//! The `unsafe` `#[target_feature]` functions are only ever called through safe wrappers
//! that are private to this module and handed out by [`best`] after the CPU was checked to
//! have the features, so no caller can reach an instruction its CPU lacks.

/// A kernel: a reduction over two equally long vectors.
pub(super) type Kernel = fn(&[f32], &[f32]) -> f32;

/// One set of kernels, all for the same instruction set.
#[derive(Clone, Copy)]
pub(super) struct Kernels {
    /// Which instruction set, for diagnostics and tests.
    pub(super) name: &'static str,
    /// Sum of `a[i] * b[i]`.
    pub(super) dot: Kernel,
    /// `-dot`: a distance where smaller is closer, as a plain function pointer.
    pub(super) neg_dot: Kernel,
    /// Sum of `(a[i] - b[i])^2`.
    pub(super) l2_squared: Kernel,
    /// Sum of `|a[i] - b[i]|`.
    pub(super) l1: Kernel,
}

/// The fastest kernels this CPU runs. Detection happens here, once per call; callers cache
/// the result (see `distance::kernels`).
pub(super) fn best() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    if let Some(kernels) = avx2::detect() {
        return kernels;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(kernels) = neon::detect() {
        return kernels;
    }
    PORTABLE
}

/// Kernels in plain Rust, written with eight independent accumulators so that the compiler
/// can keep them in vector registers without reassociating floating-point sums itself.
pub(super) const PORTABLE: Kernels = Kernels {
    name: "portable",
    dot: portable::dot,
    neg_dot: portable::neg_dot,
    l2_squared: portable::l2_squared,
    l1: portable::l1,
};

mod portable {
    const LANES: usize = 8;

    /// Sum over the components of `f(a[i], b[i])`, in `LANES` interleaved partial sums.
    #[inline(always)]
    fn reduce(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f32; LANES];
        let mut chunks_a = a.chunks_exact(LANES);
        let mut chunks_b = b.chunks_exact(LANES);
        for (ca, cb) in (&mut chunks_a).zip(&mut chunks_b) {
            for lane in 0..LANES {
                acc[lane] += f(ca[lane], cb[lane]);
            }
        }
        let mut sum = 0.0;
        for (x, y) in chunks_a.remainder().iter().zip(chunks_b.remainder()) {
            sum += f(*x, *y);
        }
        let pairs = [
            acc[0] + acc[4],
            acc[1] + acc[5],
            acc[2] + acc[6],
            acc[3] + acc[7],
        ];
        sum + (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
    }

    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        reduce(a, b, |x, y| x * y)
    }

    pub(super) fn neg_dot(a: &[f32], b: &[f32]) -> f32 {
        -dot(a, b)
    }

    pub(super) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        reduce(a, b, |x, y| (x - y) * (x - y))
    }

    pub(super) fn l1(a: &[f32], b: &[f32]) -> f32 {
        reduce(a, b, |x, y| (x - y).abs())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Kernels;

    /// The AVX2+FMA kernels, if this CPU has both features.
    pub(super) fn detect() -> Option<Kernels> {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            Some(Kernels {
                name: "avx2+fma",
                dot,
                neg_dot,
                l2_squared,
                l1,
            })
        } else {
            None
        }
    }

    // The four safe wrappers below are private to this module and are only handed out by
    // `detect`, after `is_x86_feature_detected!` confirmed AVX2 and FMA on this CPU.

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for AVX2 and FMA.
        unsafe { dot_avx2(a, b) }
    }

    fn neg_dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for AVX2 and FMA.
        -unsafe { dot_avx2(a, b) }
    }

    fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for AVX2 and FMA.
        unsafe { l2_squared_avx2(a, b) }
    }

    fn l1(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for AVX2 and FMA.
        unsafe { l1_avx2(a, b) }
    }

    /// The sum of the eight lanes of `v`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn horizontal_sum(v: __m256) -> f32 {
        let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        let one = _mm_add_ss(pair, _mm_shuffle_ps::<0b01>(pair, pair));
        _mm_cvtss_f32(one)
    }

    /// Sum over the first `n = min(len)` components of `step(acc, a8, b8)` in four
    /// accumulators of 8 lanes, plus `tail(a[i], b[i])` for the last `n % 8` components.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn reduce(
        a: &[f32],
        b: &[f32],
        step: impl Fn(__m256, __m256, __m256) -> __m256,
        tail: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + 8 * k + 8 <= i + 32 <= n`, so both loads read 8 floats inside
                // their slice; `loadu` has no alignment requirement.
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * k)),
                        _mm256_loadu_ps(pb.add(i + 8 * k)),
                    )
                };
                *acc = step(*acc, x, y);
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n`, so both loads read 8 floats inside their slice.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = step(acc[0], x, y);
            i += 8;
        }
        let all = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut sum = horizontal_sum(all);
        for (x, y) in a[i..].iter().zip(&b[i..]) {
            sum += tail(*x, *y);
        }
        sum
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        reduce(a, b, |acc, x, y| _mm256_fmadd_ps(x, y, acc), |x, y| x * y)
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_squared_avx2(a: &[f32], b: &[f32]) -> f32 {
        reduce(
            a,
            b,
            |acc, x, y| {
                let d = _mm256_sub_ps(x, y);
                _mm256_fmadd_ps(d, d, acc)
            },
            |x, y| (x - y) * (x - y),
        )
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l1_avx2(a: &[f32], b: &[f32]) -> f32 {
        let sign = _mm256_set1_ps(-0.0);
        reduce(
            a,
            b,
            |acc, x, y| _mm256_add_ps(acc, _mm256_andnot_ps(sign, _mm256_sub_ps(x, y))),
            |x, y| (x - y).abs(),
        )
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::Kernels;

    /// The NEON kernels, if this CPU has NEON (every aarch64 CPU that runs Linux, macOS or
    /// Windows does; checked anyway).
    pub(super) fn detect() -> Option<Kernels> {
        if std::arch::is_aarch64_feature_detected!("neon") {
            Some(Kernels {
                name: "neon",
                dot,
                neg_dot,
                l2_squared,
                l1,
            })
        } else {
            None
        }
    }

    // The four safe wrappers below are private to this module and are only handed out by
    // `detect`, after `is_aarch64_feature_detected!` confirmed NEON on this CPU.

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for NEON.
        unsafe { dot_neon(a, b) }
    }

    fn neg_dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for NEON.
        -unsafe { dot_neon(a, b) }
    }

    fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for NEON.
        unsafe { l2_squared_neon(a, b) }
    }

    fn l1(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through `detect`, which checked for NEON.
        unsafe { l1_neon(a, b) }
    }

    /// Sum over the first `n = min(len)` components of `step(acc, a4, b4)` in four
    /// accumulators of 4 lanes, plus `tail(a[i], b[i])` for the last `n % 4` components.
    #[target_feature(enable = "neon")]
    #[inline]
    fn reduce(
        a: &[f32],
        b: &[f32],
        step: impl Fn(float32x4_t, float32x4_t, float32x4_t) -> float32x4_t,
        tail: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i + 16 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + 4 * k + 4 <= i + 16 <= n`, so both loads read 4 floats inside
                // their slice; `vld1q_f32` has no alignment requirement beyond `f32`'s.
                let (x, y) =
                    unsafe { (vld1q_f32(pa.add(i + 4 * k)), vld1q_f32(pb.add(i + 4 * k))) };
                *acc = step(*acc, x, y);
            }
            i += 16;
        }
        while i + 4 <= n {
            // SAFETY: `i + 4 <= n`, so both loads read 4 floats inside their slice.
            let (x, y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
            acc[0] = step(acc[0], x, y);
            i += 4;
        }
        let all = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
        let mut sum = vaddvq_f32(all);
        for (x, y) in a[i..].iter().zip(&b[i..]) {
            sum += tail(*x, *y);
        }
        sum
    }

    /// # Safety
    /// The CPU has NEON.
    #[target_feature(enable = "neon")]
    unsafe fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
        reduce(a, b, |acc, x, y| vfmaq_f32(acc, x, y), |x, y| x * y)
    }

    /// # Safety
    /// The CPU has NEON.
    #[target_feature(enable = "neon")]
    unsafe fn l2_squared_neon(a: &[f32], b: &[f32]) -> f32 {
        reduce(
            a,
            b,
            |acc, x, y| {
                let d = vsubq_f32(x, y);
                vfmaq_f32(acc, d, d)
            },
            |x, y| (x - y) * (x - y),
        )
    }

    /// # Safety
    /// The CPU has NEON.
    #[target_feature(enable = "neon")]
    unsafe fn l1_neon(a: &[f32], b: &[f32]) -> f32 {
        reduce(
            a,
            b,
            |acc, x, y| vaddq_f32(acc, vabdq_f32(x, y)),
            |x, y| (x - y).abs(),
        )
    }
}
