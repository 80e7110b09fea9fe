//! Scores between two vectors, which way is better, and the fast kernels that compute them.
//!
//! This module owns the mapping from a collection's [`Distance`] to arithmetic:
//!
//! - the public *score* ([`score`]): Cosine and Dot are the dot product (Cosine vectors are
//!   normalised at insert), Euclid is the L2 distance, Manhattan the L1 distance; [`Order`]
//!   says which way is better;
//! - the *graph distance* ([`graph_distance`]) that the HNSW index compares, where smaller is
//!   always closer and no square root is taken; [`score_from_graph`] turns it back into a
//!   score;
//! - the kernels [`dot`], [`l2_squared`] and [`l1`], dispatched at run time to AVX2+FMA
//!   (x86_64), NEON (aarch64) or portable code. The CPU is checked once, at first use.
//!
//! The SIMD code itself lives in `simd.rs`; the test-only `reference` module holds the plain
//! scalar versions every kernel is tested against.

use std::sync::OnceLock;

use super::simd::{self, Kernels};
use crate::models::Distance;

/// Which scores are better for a distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Higher scores are closer (Cosine, Dot).
    LargerBetter,
    /// Lower scores are closer (Euclid, Manhattan).
    SmallerBetter,
}

impl Order {
    /// The order of `distance`'s scores.
    pub fn of(distance: Distance) -> Order {
        match distance {
            Distance::Cosine | Distance::Dot => Order::LargerBetter,
            Distance::Euclid | Distance::Manhattan => Order::SmallerBetter,
        }
    }

    /// Whether score `a` is strictly better than `b`.
    pub fn better(self, a: f32, b: f32) -> bool {
        match self {
            Order::LargerBetter => a > b,
            Order::SmallerBetter => a < b,
        }
    }
}

/// The kernels for this CPU, chosen at first use.
fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(simd::best)
}

/// Name of the instruction set the kernels use on this CPU (`avx2+fma`, `neon`, `portable`).
pub fn kernel_name() -> &'static str {
    kernels().name
}

/// Dot product of `a` and `b` (equal lengths).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    (kernels().dot)(a, b)
}

/// Squared Euclidean distance between `a` and `b` (equal lengths).
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    (kernels().l2_squared)(a, b)
}

/// Manhattan (L1) distance between `a` and `b` (equal lengths).
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    (kernels().l1)(a, b)
}

/// The score of stored vector `b` for query `a` (both of equal length; Cosine vectors are
/// already normalised, so Cosine is a dot product here).
pub fn score(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => dot(a, b),
        Distance::Euclid => l2_squared(a, b).sqrt(),
        Distance::Manhattan => l1(a, b),
    }
}

/// The kernel of `distance`'s graph distance, where smaller is closer: the negated dot
/// product for Cosine and Dot, the squared L2 distance for Euclid, L1 for Manhattan.
///
/// The returned function is already dispatched to this CPU's instruction set, so a hot loop
/// pays one indirect call per pair and no feature check.
pub fn graph_distance(distance: Distance) -> fn(&[f32], &[f32]) -> f32 {
    let kernels = kernels();
    match distance {
        Distance::Cosine | Distance::Dot => kernels.neg_dot,
        Distance::Euclid => kernels.l2_squared,
        Distance::Manhattan => kernels.l1,
    }
}

/// The public score (as [`score`] computes it) of graph distance `d` (as
/// [`graph_distance`] computes it).
pub fn score_from_graph(distance: Distance, d: f32) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => -d,
        // Rounding can make a tiny squared distance negative; the distance is then zero.
        Distance::Euclid => d.max(0.0).sqrt(),
        Distance::Manhattan => d,
    }
}

/// Scalar reference versions of the kernels: obviously correct, accumulated in `f64`, slow.
/// Tests compare every kernel against these.
#[cfg(test)]
pub(crate) mod reference {
    /// Sum of `a[i] * b[i]`.
    pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum::<f64>() as f32
    }

    /// Sum of `(a[i] - b[i])^2`.
    pub(crate) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>() as f32
    }

    /// Sum of `|a[i] - b[i]|`.
    pub(crate) fn l1(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
            .sum::<f64>() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Distance; 4] = [
        Distance::Cosine,
        Distance::Dot,
        Distance::Euclid,
        Distance::Manhattan,
    ];

    /// A small deterministic generator (xorshift64*), enough for test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform in [-1, 1).
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        /// A vector whose components mix magnitudes from 2^-20 to 2^20 when `wide`.
        fn vector(&mut self, len: usize, wide: bool) -> Vec<f32> {
            (0..len)
                .map(|_| {
                    let x = self.unit();
                    if wide {
                        x * 2f32.powi((self.next() % 41) as i32 - 20)
                    } else {
                        x
                    }
                })
                .collect()
        }
    }

    /// Sum of the absolute terms of each kernel: the scale rounding errors are relative to.
    fn magnitudes(a: &[f32], b: &[f32]) -> [f64; 3] {
        let mut m = [0.0; 3];
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (f64::from(*x), f64::from(*y));
            m[0] += (x * y).abs();
            m[1] += (x - y) * (x - y);
            m[2] += (x - y).abs();
        }
        m
    }

    fn close(got: f32, want: f32, magnitude: f64, what: &str) {
        let tolerance = 1e-4 * magnitude + 1e-30;
        assert!(
            (f64::from(got) - f64::from(want)).abs() <= tolerance,
            "{what}: got {got}, want {want} (tolerance {tolerance})"
        );
    }

    fn lengths() -> impl Iterator<Item = usize> {
        (0..=70).chain([128, 384, 1000, 4099])
    }

    /// Every kernel set this CPU can run: the dispatched one and the portable one.
    fn kernel_sets() -> Vec<Kernels> {
        let best = simd::best();
        assert_eq!(best.name, kernel_name());
        vec![best, simd::PORTABLE]
    }

    #[test]
    fn kernels_match_the_scalar_reference_at_every_length() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for kernels in kernel_sets() {
            for len in lengths() {
                for wide in [false, true] {
                    let a = rng.vector(len, wide);
                    let b = rng.vector(len, wide);
                    let [m_dot, m_l2, m_l1] = magnitudes(&a, &b);
                    let what = |k: &str| format!("{} {k} len {len} wide {wide}", kernels.name);
                    let want_dot = reference::dot(&a, &b);
                    close((kernels.dot)(&a, &b), want_dot, m_dot, &what("dot"));
                    close(
                        (kernels.neg_dot)(&a, &b),
                        -want_dot,
                        m_dot,
                        &what("neg_dot"),
                    );
                    let want_l2 = reference::l2_squared(&a, &b);
                    close((kernels.l2_squared)(&a, &b), want_l2, m_l2, &what("l2"));
                    close(
                        (kernels.l1)(&a, &b),
                        reference::l1(&a, &b),
                        m_l1,
                        &what("l1"),
                    );
                }
            }
        }
    }

    #[test]
    fn kernels_use_only_the_common_length() {
        // Unequal lengths are a caller bug, but must not read out of bounds.
        let a = [1.0, 2.0, 3.0];
        let b = [1.0; 40];
        for kernels in kernel_sets() {
            assert_eq!((kernels.dot)(&a, &b), 6.0);
            assert_eq!((kernels.dot)(&b, &a), 6.0);
            assert_eq!((kernels.l1)(&b[..33], &b), 0.0);
        }
    }

    #[test]
    fn public_functions_and_scores_match_the_reference() {
        let mut rng = Rng(42);
        for len in lengths() {
            let a = rng.vector(len, false);
            let b = rng.vector(len, false);
            let [m_dot, m_l2, m_l1] = magnitudes(&a, &b);
            close(dot(&a, &b), reference::dot(&a, &b), m_dot, "dot");
            close(
                l2_squared(&a, &b),
                reference::l2_squared(&a, &b),
                m_l2,
                "l2",
            );
            close(l1(&a, &b), reference::l1(&a, &b), m_l1, "l1");
            for distance in ALL {
                let want = match distance {
                    Distance::Cosine | Distance::Dot => reference::dot(&a, &b),
                    Distance::Euclid => reference::l2_squared(&a, &b).sqrt(),
                    Distance::Manhattan => reference::l1(&a, &b),
                };
                let magnitude = match distance {
                    Distance::Cosine | Distance::Dot => m_dot,
                    // sqrt halves the relative error of the squared distance.
                    Distance::Euclid => m_l2.sqrt(),
                    Distance::Manhattan => m_l1,
                };
                let got = score(distance, &a, &b);
                close(got, want, magnitude, &format!("{distance:?} len {len}"));
                let from_graph = score_from_graph(distance, graph_distance(distance)(&a, &b));
                close(
                    from_graph,
                    got,
                    magnitude,
                    &format!("{distance:?} graph {len}"),
                );
            }
        }
    }

    #[test]
    fn graph_distance_is_smaller_for_closer_vectors() {
        let query = [1.0, 0.0];
        let near = [0.9, 0.1];
        let far = [-1.0, 0.5];
        for distance in ALL {
            let g = graph_distance(distance);
            assert!(g(&query, &near) < g(&query, &far), "{distance:?}");
            let order = Order::of(distance);
            assert!(order.better(
                score(distance, &query, &near),
                score(distance, &query, &far)
            ));
        }
        assert_eq!(score_from_graph(Distance::Euclid, -1e-9), 0.0);
    }

    #[test]
    fn scores_match_hand_computed_values() {
        let a = [1.0, 2.0];
        let b = [4.0, 6.0];
        assert_eq!(score(Distance::Dot, &a, &b), 16.0);
        assert_eq!(score(Distance::Euclid, &a, &b), 5.0);
        assert_eq!(score(Distance::Manhattan, &a, &b), 7.0);
        assert!(Order::of(Distance::Euclid).better(1.0, 2.0));
        assert!(Order::of(Distance::Cosine).better(2.0, 1.0));
    }
}
