//! A collection's vector spaces and how a point's vectors are laid out in storage.
//!
//! ## Layout
//! Every point is stored as ONE row of `width` floats: the vectors of all spaces side by
//! side, in space-name order, space `k` at `row[column_k .. column_k + size_k]`. A collection
//! with one unnamed space has rows that are just its vector, so segments, the log and HNSW
//! graphs are exactly what they are without named vectors.
//!
//! A point may lack a named vector: that block of its row is all NaN. Stored vectors are
//! otherwise always finite (checked on every write and replay), so NaN cannot be mistaken for
//! data; a half-NaN block is refused as damage.

use crate::error::StorageError;
use crate::models::{
    Distance, PointId, VectorParams, VectorStruct, VectorsConfig, WithVectorSelector,
};
use crate::storage::vector::{check_magnitude, normalize, validate};

/// Largest vector size a space accepts.
pub const MAX_DIMENSION: u64 = 65_536;

/// Largest row (all of a point's vectors together), in floats.
const MAX_WIDTH: usize = 4 * MAX_DIMENSION as usize;

/// One vector space: its name (`""` when unnamed), params and place in the row.
#[derive(Debug, Clone)]
pub(crate) struct Space {
    pub(crate) name: String,
    pub(crate) params: VectorParams,
    pub(crate) column: usize,
    pub(crate) dim: usize,
}

impl Space {
    /// This space's block of `row`.
    pub(crate) fn of<'r>(&self, row: &'r [f32]) -> &'r [f32] {
        row.get(self.column..self.column + self.dim).unwrap_or(&[])
    }

    /// Whether `row` holds a vector of this space.
    pub(crate) fn present(&self, row: &[f32]) -> bool {
        row.get(self.column).is_some_and(|x| !x.is_nan())
    }

    /// The distance of this space.
    pub(crate) fn distance(&self) -> Distance {
        self.params.distance
    }
}

/// Every space of a collection.
#[derive(Debug, Clone)]
pub(crate) struct Spaces {
    spaces: Vec<Space>,
    width: usize,
    named: bool,
}

impl Spaces {
    /// The spaces of `config`; refuses sizes of 0 or above [`MAX_DIMENSION`], and no spaces.
    pub(crate) fn new(config: &VectorsConfig) -> Result<Spaces, StorageError> {
        let named = matches!(config, VectorsConfig::Multi(_));
        let mut spaces = Vec::new();
        let mut column = 0usize;
        for (name, params) in config.spaces() {
            if params.size == 0 || params.size > MAX_DIMENSION {
                let which = if named {
                    format!("vector \"{name}\" size")
                } else {
                    "vector size".to_owned()
                };
                return Err(StorageError::BadRequest(format!(
                    "{which} {} is out of range; it must be between 1 and {MAX_DIMENSION}",
                    params.size
                )));
            }
            let dim = params.size as usize;
            spaces.push(Space {
                name: name.to_owned(),
                params: params.clone(),
                column,
                dim,
            });
            column += dim;
        }
        if spaces.is_empty() {
            return Err(StorageError::BadRequest(
                "a collection needs at least one vector space".into(),
            ));
        }
        if column > MAX_WIDTH {
            return Err(StorageError::BadRequest(format!(
                "the vectors of a point add up to {column} floats; at most {MAX_WIDTH} are allowed"
            )));
        }
        Ok(Spaces {
            spaces,
            width: column,
            named,
        })
    }

    /// Floats per stored row.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Whether the collection has named vectors.
    pub(crate) fn is_named(&self) -> bool {
        self.named
    }

    /// Every space, in name order.
    pub(crate) fn all(&self) -> &[Space] {
        &self.spaces
    }

    /// The one space of an unnamed collection.
    pub(crate) fn single(&self) -> Option<&Space> {
        (!self.named).then(|| &self.spaces[0])
    }

    /// Space `name` (`""`: the unnamed one); a `BadRequest` naming the spaces if it is not
    /// there.
    pub(crate) fn get(&self, name: &str) -> Result<&Space, StorageError> {
        self.spaces.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.spaces.iter().map(|s| s.name.as_str()).collect();
            if self.named && name.is_empty() {
                StorageError::BadRequest(format!(
                    "this collection has named vectors ({}); name the one to use",
                    names.join(", ")
                ))
            } else if self.named {
                StorageError::BadRequest(format!(
                    "no vector named \"{name}\"; this collection has {}",
                    names.join(", ")
                ))
            } else {
                StorageError::BadRequest(format!(
                    "this collection has one unnamed vector, not \"{name}\""
                ))
            }
        })
    }

    /// Whether any space keeps its vectors on disk (memory-mapped).
    pub(crate) fn on_disk(&self) -> bool {
        self.spaces.iter().any(|s| s.params.on_disk == Some(true))
    }

    /// Check a query vector for space `space` and prepare it (normalised for Cosine).
    pub(crate) fn query(&self, space: &Space, vector: &[f32]) -> Result<Vec<f32>, StorageError> {
        validate(vector, space.dim, None)?;
        check_magnitude(vector, space.distance(), None)?;
        let mut query = vector.to_vec();
        if space.distance() == Distance::Cosine {
            normalize(&mut query);
        }
        Ok(query)
    }

    /// The stored row of a new point: every given vector checked against its space and
    /// normalised for Cosine, absent named vectors NaN.
    pub(crate) fn row(
        &self,
        id: &PointId,
        vectors: &VectorStruct,
    ) -> Result<Vec<f32>, StorageError> {
        let mut row = vec![f32::NAN; self.width];
        self.fill(&mut row, id, vectors)?;
        Ok(row)
    }

    /// [`row`](Self::row), taking the vector itself as the row when the collection has one
    /// unnamed space (the common case: no copy).
    pub(crate) fn take_row(
        &self,
        id: &PointId,
        vectors: VectorStruct,
    ) -> Result<Vec<f32>, StorageError> {
        match (vectors, self.single()) {
            (VectorStruct::Single(mut vector), Some(space)) => {
                validate(&vector, space.dim, Some(id))?;
                check_magnitude(&vector, space.distance(), Some(id))?;
                if space.distance() == Distance::Cosine {
                    normalize(&mut vector);
                }
                Ok(vector)
            }
            (vectors, _) => self.row(id, &vectors),
        }
    }

    /// Write the given vectors into `row`, leaving its other blocks as they are.
    pub(crate) fn fill(
        &self,
        row: &mut [f32],
        id: &PointId,
        vectors: &VectorStruct,
    ) -> Result<(), StorageError> {
        match vectors {
            VectorStruct::Single(vector) => {
                let space = self.get("").map_err(|e| with_point(e, id))?;
                self.put(row, space, vector, id)
            }
            VectorStruct::Named(map) if !self.named => {
                let names: Vec<String> = map.keys().map(|n| format!("\"{n}\"")).collect();
                Err(with_point(
                    StorageError::BadRequest(format!(
                        "this collection has one unnamed vector, not named vectors ({}); send it \
                         as a list of numbers",
                        names.join(", ")
                    )),
                    id,
                ))
            }
            VectorStruct::Named(map) => {
                for (name, vector) in map {
                    let space = self.get(name).map_err(|e| with_point(e, id))?;
                    self.put(row, space, vector, id)?;
                }
                Ok(())
            }
        }
    }

    fn put(
        &self,
        row: &mut [f32],
        space: &Space,
        vector: &[f32],
        id: &PointId,
    ) -> Result<(), StorageError> {
        validate(vector, space.dim, Some(id))?;
        check_magnitude(vector, space.distance(), Some(id))?;
        let block = &mut row[space.column..space.column + space.dim];
        block.copy_from_slice(vector);
        if space.distance() == Distance::Cosine {
            normalize(block);
        }
        Ok(())
    }

    /// Mark space `space`'s vector of `row` absent.
    pub(crate) fn clear(&self, row: &mut [f32], space: &Space) {
        row[space.column..space.column + space.dim].fill(f32::NAN);
    }

    /// Whether a replayed row fits: the right width, each block all finite or (named
    /// collections only) all NaN.
    pub(crate) fn check_row(&self, row: &[f32]) -> bool {
        row.len() == self.width
            && self.spaces.iter().all(|space| {
                let block = space.of(row);
                block.iter().all(|x| x.is_finite())
                    || (self.named && block.iter().all(|x| x.is_nan()))
            })
    }

    /// The vectors of `row` that `with` asks for, as results show them.
    pub(crate) fn output(&self, row: &[f32], with: &WithVectorSelector) -> Option<VectorStruct> {
        if !with.is_enabled() {
            return None;
        }
        if let Some(space) = self.single() {
            return Some(VectorStruct::Single(space.of(row).to_vec()));
        }
        Some(VectorStruct::Named(
            self.spaces
                .iter()
                .filter(|s| with.wants(&s.name) && s.present(row))
                .map(|s| (s.name.clone(), s.of(row).to_vec()))
                .collect(),
        ))
    }
}

fn with_point(error: StorageError, id: &PointId) -> StorageError {
    match error {
        StorageError::BadRequest(why) => StorageError::BadRequest(format!("point {id}: {why}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn named() -> Spaces {
        Spaces::new(&VectorsConfig::named([
            ("text", VectorParams::new(3, Distance::Dot)),
            ("image", VectorParams::new(2, Distance::Cosine)),
        ]))
        .unwrap()
    }

    #[test]
    fn rows_put_spaces_side_by_side_in_name_order() {
        let spaces = named();
        assert_eq!(spaces.width(), 5);
        let id = PointId::Num(1);
        let row = spaces
            .row(&id, &VectorStruct::named([("text", vec![1.0, 2.0, 3.0])]))
            .unwrap();
        // "image" comes first by name and is absent.
        assert!(row[..2].iter().all(|x| x.is_nan()));
        assert_eq!(&row[2..], &[1.0, 2.0, 3.0]);
        assert!(spaces.check_row(&row));
        let image = spaces.get("image").unwrap();
        assert!(!image.present(&row));
        let mut row = row;
        spaces
            .fill(
                &mut row,
                &id,
                &VectorStruct::named([("image", vec![3.0, 4.0])]),
            )
            .unwrap();
        assert_eq!(&row[..2], &[0.6, 0.8]);
        let out = spaces.output(&row, &WithVectorSelector::Names(vec!["image".into()]));
        let expected: BTreeMap<String, Vec<f32>> = [("image".to_owned(), vec![0.6, 0.8])].into();
        assert_eq!(out, Some(VectorStruct::Named(expected)));
    }

    #[test]
    fn an_unnamed_vector_becomes_the_row_itself() {
        let spaces = Spaces::new(&VectorParams::new(2, Distance::Cosine).into()).unwrap();
        let id = PointId::Num(3);
        let row = spaces.take_row(&id, vec![3.0, 4.0].into()).unwrap();
        assert_eq!(row, [0.6, 0.8]);
        assert!(spaces.take_row(&id, vec![1.0].into()).is_err());
        assert!(spaces
            .take_row(&id, vec![f32::INFINITY, 0.0].into())
            .is_err());
        let named = named();
        let row = named
            .take_row(&id, VectorStruct::named([("image", vec![0.0, 2.0])]))
            .unwrap();
        assert_eq!(&row[..2], &[0.0, 1.0]);
        assert!(row[2..].iter().all(|x| x.is_nan()));
    }

    #[test]
    fn bad_vectors_and_names_are_typed_errors() {
        let spaces = named();
        let id = PointId::Num(7);
        for bad in [
            VectorStruct::Single(vec![1.0, 2.0]),
            VectorStruct::named([("nope", vec![1.0])]),
            VectorStruct::named([("text", vec![1.0])]),
            VectorStruct::named([("text", vec![1.0, f32::NAN, 0.0])]),
        ] {
            assert!(spaces.row(&id, &bad).is_err(), "{bad:?}");
        }
        let half = [f32::NAN, 1.0, 1.0, 2.0, 3.0];
        assert!(!spaces.check_row(&half));
        let single = Spaces::new(&VectorParams::new(2, Distance::Dot).into()).unwrap();
        assert!(!single.check_row(&[f32::NAN, f32::NAN]));
        assert!(single.get("x").is_err());
        assert!(Spaces::new(&VectorsConfig::Multi(BTreeMap::new())).is_err());
        assert!(Spaces::new(&VectorParams::new(0, Distance::Dot).into()).is_err());
    }
}
