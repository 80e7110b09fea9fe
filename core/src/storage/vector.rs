//! Checks every vector crossing into the engine: right length, finite components.

use crate::error::StorageError;
use crate::models::PointId;

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

/// Scale `vector` to unit length in place; a zero vector stays zero (it scores 0 against
/// everything under Cosine).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
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
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        normalize(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }
}
