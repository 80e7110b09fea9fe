//! Scores between two vectors, and which way is better. Scalar versions only; SIMD kernels
//! arrive with the HNSW index and are tested against these.

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

/// The score of stored vector `b` for query `a` (both of equal length; Cosine vectors are
/// already normalised, so Cosine is a dot product here).
pub fn score(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    match distance {
        Distance::Cosine | Distance::Dot => a.iter().zip(b).map(|(x, y)| x * y).sum(),
        Distance::Euclid => a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt(),
        Distance::Manhattan => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
