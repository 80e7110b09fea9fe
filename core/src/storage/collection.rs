//! One collection held in memory: points by id, each with its vector, payload and the operation
//! that last wrote it.
//!
//! Invariants: every stored vector has the collection's dimension and only finite components,
//! and Cosine vectors are stored normalised. A batch is validated whole before any of it is
//! applied, so a rejected batch changes nothing.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::RwLock;

use super::distance::{score, Order};
use super::vector::{normalize, validate};
use super::{read, write};
use crate::error::StorageError;
use crate::models::{
    CollectionConfig, CollectionInfo, CollectionParams, CollectionStatus, Distance, GetPoints,
    Payload, PointId, PointStruct, PointsSelector, Record, ScoredPoint, SearchRequest,
    UpdateResult, UpdateStatus, VectorParams,
};

/// Largest vector size a collection accepts.
pub const MAX_DIMENSION: u64 = 65_536;

#[derive(Debug)]
struct StoredPoint {
    vector: Vec<f32>,
    payload: Option<Payload>,
    version: u64,
}

#[derive(Debug, Default)]
struct Points {
    by_id: BTreeMap<PointId, StoredPoint>,
    /// Operation id of the last write; the next write gets this plus one.
    last_operation: u64,
}

/// A collection of points in one vector space.
#[derive(Debug)]
pub struct Collection {
    params: VectorParams,
    dim: usize,
    points: RwLock<Points>,
}

impl Collection {
    /// An empty collection with `params`; refuses a size of 0 or above 65,536.
    pub fn new(params: VectorParams) -> Result<Self, StorageError> {
        if params.size == 0 || params.size > MAX_DIMENSION {
            return Err(StorageError::BadRequest(format!(
                "vector size {} is out of range; it must be between 1 and {MAX_DIMENSION}",
                params.size
            )));
        }
        let dim = params.size as usize;
        Ok(Collection {
            params,
            dim,
            points: RwLock::default(),
        })
    }

    /// The collection's vector space.
    pub fn params(&self) -> &VectorParams {
        &self.params
    }

    /// Status, point count and configuration.
    pub fn info(&self) -> CollectionInfo {
        let points = read(&self.points);
        CollectionInfo {
            status: CollectionStatus::Green,
            points_count: points.by_id.len() as u64,
            segments_count: 1,
            config: CollectionConfig {
                params: CollectionParams {
                    vectors: self.params.clone(),
                },
            },
        }
    }

    /// Insert or replace `batch`: all of it, or (on any invalid point) none of it.
    pub fn upsert(&self, batch: Vec<PointStruct>) -> Result<UpdateResult, StorageError> {
        for point in &batch {
            validate(&point.vector, self.dim, Some(&point.id))?;
        }
        let mut points = write(&self.points);
        let version = points.last_operation + 1;
        for point in batch {
            let mut vector = point.vector;
            if self.params.distance == Distance::Cosine {
                normalize(&mut vector);
            }
            points.by_id.insert(
                point.id,
                StoredPoint {
                    vector,
                    payload: point.payload,
                    version,
                },
            );
        }
        points.last_operation = version;
        Ok(UpdateResult {
            operation_id: version,
            status: UpdateStatus::Completed,
        })
    }

    /// Delete the selected points; ids that do not exist are ignored.
    pub fn delete(&self, selector: &PointsSelector) -> UpdateResult {
        let mut points = write(&self.points);
        for id in &selector.points {
            points.by_id.remove(id);
        }
        points.last_operation += 1;
        UpdateResult {
            operation_id: points.last_operation,
            status: UpdateStatus::Completed,
        }
    }

    /// The requested points that exist, in request order (each id once).
    pub fn get(&self, request: &GetPoints) -> Vec<Record> {
        let points = read(&self.points);
        let mut seen = std::collections::HashSet::with_capacity(request.ids.len());
        request
            .ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| {
                points.by_id.get(id).map(|p| Record {
                    id: *id,
                    payload: request
                        .with_payload
                        .then(|| p.payload.clone().unwrap_or_default()),
                    vector: request.with_vector.then(|| p.vector.clone()),
                })
            })
            .collect()
    }

    /// Number of live points.
    pub fn count(&self) -> u64 {
        read(&self.points).by_id.len() as u64
    }

    /// Exact nearest neighbours of the request's vector, best first. `cancelled` is checked now
    /// and then; when it returns true the search stops and returns `None`.
    pub fn search(
        &self,
        request: &SearchRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<ScoredPoint>>, StorageError> {
        validate(&request.vector, self.dim, None)?;
        let mut query = request.vector.clone();
        if self.params.distance == Distance::Cosine {
            normalize(&mut query);
        }
        let offset = request.offset.unwrap_or(0);
        let wanted = request.limit.saturating_add(offset);
        if request.limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let order = Order::of(self.params.distance);
        let threshold = request.score_threshold;

        let points = read(&self.points);
        // A heap of the best `wanted` so far, worst on top, so each candidate costs one compare.
        let mut best: BinaryHeap<Candidate<'_>> =
            BinaryHeap::with_capacity(wanted.min(points.by_id.len()) + 1);
        for (i, (id, point)) in points.by_id.iter().enumerate() {
            if i % 4096 == 4095 && cancelled() {
                return Ok(None);
            }
            let s = score(self.params.distance, &query, &point.vector);
            if threshold.is_some_and(|t| order.better(t, s)) {
                continue;
            }
            let candidate = Candidate {
                goodness: goodness(order, s),
                score: s,
                id: *id,
                point,
            };
            if best.len() < wanted {
                best.push(candidate);
            } else if best.peek().is_some_and(|worst| candidate < *worst) {
                best.pop();
                best.push(candidate);
            }
        }
        let with_payload = request.with_payload.unwrap_or(false);
        let with_vector = request.with_vector.unwrap_or(false);
        Ok(Some(
            best.into_sorted_vec()
                .into_iter()
                .skip(offset)
                .map(|c| ScoredPoint {
                    id: c.id,
                    version: c.point.version,
                    score: c.score,
                    payload: with_payload.then(|| c.point.payload.clone().unwrap_or_default()),
                    vector: with_vector.then(|| c.point.vector.clone()),
                })
                .collect(),
        ))
    }
}

/// Higher is better, whatever the distance.
fn goodness(order: Order, score: f32) -> f32 {
    match order {
        Order::LargerBetter => score,
        Order::SmallerBetter => -score,
    }
}

/// A search hit ordered so that "less" means "better": the heap's top is the worst hit.
/// Ties go to the smaller id so results are deterministic.
struct Candidate<'a> {
    goodness: f32,
    score: f32,
    id: PointId,
    point: &'a StoredPoint,
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .goodness
            .total_cmp(&self.goodness)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(distance: Distance) -> Collection {
        Collection::new(VectorParams::new(2, distance)).unwrap()
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn search_matches_brute_force_for_every_distance() {
        let pts: Vec<(u64, [f32; 2])> = (0..50u64)
            .map(|i| (i, [(i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()]))
            .collect();
        let q = [0.3f32, -0.7];
        for distance in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let c = collection(distance);
            c.upsert(
                pts.iter()
                    .map(|(id, v)| PointStruct::new(*id, v.to_vec()))
                    .collect(),
            )
            .unwrap();
            let got = c
                .search(&SearchRequest::new(q.to_vec(), 5).offset(2), &never)
                .unwrap()
                .unwrap();
            let mut qn = q.to_vec();
            if distance == Distance::Cosine {
                normalize(&mut qn);
            }
            let mut all: Vec<(f32, u64)> = pts
                .iter()
                .map(|(id, v)| {
                    let mut v = v.to_vec();
                    if distance == Distance::Cosine {
                        normalize(&mut v);
                    }
                    (goodness(Order::of(distance), score(distance, &qn, &v)), *id)
                })
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let expected: Vec<PointId> =
                all[2..7].iter().map(|(_, id)| PointId::Num(*id)).collect();
            let got_ids: Vec<PointId> = got.iter().map(|s| s.id).collect();
            assert_eq!(got_ids, expected, "{distance:?}");
        }
    }

    #[test]
    fn rejected_batch_changes_nothing() {
        let c = collection(Distance::Dot);
        c.upsert(vec![PointStruct::new(1u64, vec![1.0, 1.0])])
            .unwrap();
        let err = c
            .upsert(vec![
                PointStruct::new(1u64, vec![9.0, 9.0]),
                PointStruct::new(2u64, vec![f32::NAN, 0.0]),
            ])
            .unwrap_err();
        assert!(matches!(
            err,
            StorageError::NonFiniteVector { index: 0, .. }
        ));
        let got = c.get(&GetPoints::new([1u64, 2]).with_vector(true));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].vector.as_deref(), Some(&[1.0, 1.0][..]));
    }

    #[test]
    fn score_threshold_and_cancellation() {
        let c = collection(Distance::Dot);
        c.upsert(
            (0..10_000u64)
                .map(|i| PointStruct::new(i, vec![i as f32, 0.0]))
                .collect(),
        )
        .unwrap();
        let hits = c
            .search(
                &SearchRequest::new(vec![1.0, 0.0], 100).score_threshold(9_995.0),
                &never,
            )
            .unwrap()
            .unwrap();
        assert_eq!(hits.len(), 5);
        assert!(c
            .search(&SearchRequest::new(vec![1.0, 0.0], 3), &|| true)
            .unwrap()
            .is_none());
    }
}
