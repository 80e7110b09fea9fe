//! Checks every vector crossing into the engine: right length, finite components, and a
//! magnitude its distance can score without overflow.
//!
//! ## Magnitude
//! Finite components are not enough: `[f32::MAX, f32::MAX]` has a squared length of infinity,
//! so Cosine cannot normalise it and Dot scores it `inf`; `[1e-45, 0]` has a squared length
//! that underflows to 0, so Cosine would store it unnormalised. So a vector is accepted only if
//! - Cosine: it is all zeros (it scores 0 against everything), or its length computed in `f32`
//!   (as [`normalize`] does) is finite and above 0;
//! - Dot, Euclid, Manhattan: its squared length and the sum of its absolute components are at
//!   most [`MAX_MAGNITUDE`]. Then every dot product (|a·b| ≤ |a||b|), squared Euclidean
//!   distance (|a−b|² ≤ (|a|+|b|)²) and Manhattan distance (Σ|aᵢ−bᵢ| ≤ Σ|aᵢ|+Σ|bᵢ|) between
//!   two accepted vectors stays below `f32::MAX / 2`, with room for rounding.

use crate::error::StorageError;
use crate::models::{Distance, PointId};

/// Largest squared length, and largest sum of absolute components, of a vector under Dot,
/// Euclid and Manhattan: an eighth of `f32::MAX` (components up to about 6.5e18).
pub const MAX_MAGNITUDE: f64 = f32::MAX as f64 / 8.0;

/// Accept `vector` for a space of `dim` components, or say what is wrong with it.
pub fn validate(vector: &[f32], dim: usize, point: Option<&PointId>) -> Result<(), StorageError> {
    if vector.len() != dim {
        return Err(StorageError::WrongDimension {
            expected: dim,
            got: vector.len(),
            point: point.map(ToString::to_string),
        });
    }
    if let Some((index, value)) = vector.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StorageError::NonFiniteVector {
            index,
            value: value.to_string(),
            point: point.map(ToString::to_string),
        });
    }
    Ok(())
}

/// Accept the magnitude of `vector` (already checked finite) under `distance`; see the module
/// docs.
pub fn check_magnitude(
    vector: &[f32],
    distance: Distance,
    point: Option<&PointId>,
) -> Result<(), StorageError> {
    let refuse = |reason: String| {
        Err(StorageError::UnscorableVector {
            reason,
            point: point.map(ToString::to_string),
        })
    };
    if distance == Distance::Cosine {
        if vector.iter().all(|v| *v == 0.0) {
            return Ok(());
        }
        let norm = f32_norm(vector);
        if !norm.is_finite() {
            return refuse(
                "its length overflows f32, so it cannot be normalised for Cosine".into(),
            );
        }
        if norm == 0.0 {
            return refuse(
                "its length underflows to 0 in f32, so it cannot be normalised for Cosine".into(),
            );
        }
        return Ok(());
    }
    let squared: f64 = vector.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
    let absolute: f64 = vector.iter().map(|v| f64::from(v.abs())).sum();
    if squared > MAX_MAGNITUDE || absolute > MAX_MAGNITUDE {
        return refuse(format!(
            "it is so long (squared length {squared:e}, sum of magnitudes {absolute:e}, at most \
             {MAX_MAGNITUDE:e} each) that {distance:?} scores could overflow"
        ));
    }
    Ok(())
}

fn f32_norm(vector: &[f32]) -> f32 {
    vector.iter().map(|v| v * v).sum::<f32>().sqrt()
}

/// Scale `vector` to unit length in place; a zero vector stays zero (it scores 0 against
/// everything under Cosine).
pub fn normalize(vector: &mut [f32]) {
    let norm = f32_norm(vector);
    if norm > 0.0 && norm.is_finite() {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length_and_non_finite() {
        assert!(matches!(
            validate(&[1.0], 2, None),
            Err(StorageError::WrongDimension {
                expected: 2,
                got: 1,
                ..
            })
        ));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(matches!(
                validate(&[0.0, bad], 2, None),
                Err(StorageError::NonFiniteVector { index: 1, .. })
            ));
        }
        assert_eq!(validate(&[0.0, -1.5], 2, None), Ok(()));
    }

    #[test]
    fn magnitudes_that_cannot_be_scored_are_refused() {
        let unscorable = |v: &[f32], d| {
            matches!(
                check_magnitude(v, d, None),
                Err(StorageError::UnscorableVector { .. })
            )
        };
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            assert!(unscorable(&[f32::MAX, f32::MAX], d), "{d:?}");
            assert!(check_magnitude(&[0.0, 0.0], d, None).is_ok());
            assert!(check_magnitude(&[3.0, -4.0], d, None).is_ok());
            assert!(check_magnitude(&[1e-45, 0.0], d, None).is_ok() == (d != Distance::Cosine));
        }
        // The bound is what the module docs promise: two accepted vectors score finitely.
        let edge = (MAX_MAGNITUDE / 2.0).sqrt() as f32 * 0.999;
        let a = [edge, edge];
        assert!(check_magnitude(&a, Distance::Dot, None).is_ok());
        let dot: f32 = a.iter().map(|x| x * x).sum();
        assert!(dot.is_finite());
        let far: f32 = a.iter().map(|x| (x + x) * (x + x)).sum();
        assert!(far.is_finite());
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        normalize(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }
}
