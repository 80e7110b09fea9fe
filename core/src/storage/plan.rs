//! The optimizer's policy: given the shape of a collection's segments, what to do next. Pure
//! functions over a summary, so the policy is tested without building anything; the
//! collection carries plans out (`collection.rs`) and `crate::optimizer` runs them on the
//! update pool.
//!
//! In order of priority:
//! 1. **Seal** the write segment once it holds `indexing_threshold` worth of vectors, so it
//!    can be indexed (a new empty write segment takes further writes at once).
//! 2. **Merge** the smallest sealed segments while there are more than
//!    `default_segment_number`, never past `max_segment_size`: a search visits every segment,
//!    so fewer segments search faster. A segment more than [`MERGE_RATIO`] times larger than
//!    everything smaller put together is left out, so that a small flush does not make the
//!    optimizer rebuild a large index: small segments gather first, and a large one is
//!    rebuilt only when a comparable amount joins it (geometric, like an LSM tree's tiers).
//! 3. **Vacuum** a segment whose deleted points pass `deleted_threshold` (and
//!    `vacuum_min_vector_number`), or that holds no live point at all: rebuild it without them.
//! 4. **Index** the largest sealed segment that is past the threshold and has no index.
//!
//! Merges and vacuums rebuild: they copy the live points into a new segment and index it when
//! it is past the threshold, so a merged segment is indexed once, not once per source.

use crate::models::{OptimizersConfig, DEFAULT_INDEXING_THRESHOLD_KB, DEFAULT_MAX_SEGMENT_SIZE_KB};

/// Segment count the optimizer keeps to when `default_segment_number` is 0.
pub(crate) const DEFAULT_SEGMENT_NUMBER: usize = 2;

/// How much larger than the segments merged so far a segment may be and still join them.
pub(crate) const MERGE_RATIO: usize = 4;

/// What the policy needs to know of one sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentShape {
    /// The segment's id.
    pub(crate) id: u64,
    /// Offsets, live or deleted.
    pub(crate) len: usize,
    /// Live points.
    pub(crate) live: usize,
    /// Whether it has an HNSW index.
    pub(crate) indexed: bool,
}

/// The next optimization of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Seal the write segment.
    Seal,
    /// Build an HNSW index for the segment with this id, in place.
    Index(u64),
    /// Copy the live points of these segments into one new segment (indexed if it is large
    /// enough) that replaces them.
    Rebuild(Vec<u64>),
}

/// The optimizer's thresholds turned from kilobytes of vectors into points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Thresholds {
    /// Segments with at least this many live points get an index; `None`: indexing is off.
    pub(crate) indexing: Option<usize>,
    /// Merges stop below this many points.
    pub(crate) max_segment: usize,
    /// Merge while there are more sealed segments than this.
    pub(crate) segments: usize,
    /// Vacuum above this fraction of deleted points...
    pub(crate) deleted_fraction: f64,
    /// ...once at least this many are deleted.
    pub(crate) deleted_min: usize,
}

/// Points whose vectors of `dim` components take `kb` kilobytes (at least 1).
pub(crate) fn points_in_kb(kb: usize, dim: usize) -> usize {
    (kb.saturating_mul(1024) / (dim.max(1) * 4)).max(1)
}

impl Thresholds {
    /// The thresholds of `config` for vectors of `dim` components.
    pub(crate) fn new(config: &OptimizersConfig, dim: usize) -> Self {
        let indexing_kb = config
            .indexing_threshold
            .unwrap_or(DEFAULT_INDEXING_THRESHOLD_KB);
        Thresholds {
            indexing: (indexing_kb > 0).then(|| points_in_kb(indexing_kb, dim)),
            max_segment: points_in_kb(
                config
                    .max_segment_size
                    .unwrap_or(DEFAULT_MAX_SEGMENT_SIZE_KB),
                dim,
            ),
            segments: match config.default_segment_number {
                0 => DEFAULT_SEGMENT_NUMBER,
                n => n,
            },
            deleted_fraction: config.deleted_threshold,
            deleted_min: config.vacuum_min_vector_number,
        }
    }
}

/// What to do next for a collection whose write segment holds `appendable` points and whose
/// sealed (and persisted) segments are `sealed`; `None` when nothing is worth doing.
pub(crate) fn next(appendable: usize, sealed: &[SegmentShape], t: &Thresholds) -> Option<Plan> {
    if t.indexing.is_some_and(|n| appendable >= n) {
        return Some(Plan::Seal);
    }
    if sealed.len() > t.segments {
        let mut by_size: Vec<&SegmentShape> = sealed.iter().collect();
        by_size.sort_by_key(|s| (s.live, s.id));
        let wanted = sealed.len() - t.segments + 1;
        // The run of consecutive sizes (smallest first) that may merge: a segment much larger
        // than the run so far starts a new run, so one tiny segment never blocks the merge of
        // the comparable ones after it.
        let mut total = 0usize;
        let mut ids: Vec<u64> = Vec::new();
        for shape in by_size {
            if ids.len() == wanted || total + shape.live > t.max_segment {
                break;
            }
            if !ids.is_empty() && shape.live > MERGE_RATIO * total.max(1) {
                if ids.len() >= 2 {
                    break;
                }
                ids.clear();
                total = 0;
            }
            total += shape.live;
            ids.push(shape.id);
        }
        if ids.len() >= 2 {
            ids.sort_unstable();
            return Some(Plan::Rebuild(ids));
        }
    }
    let vacuum = sealed.iter().find(|s| {
        let deleted = s.len - s.live;
        (s.live == 0 && s.len > 0)
            || (deleted >= t.deleted_min.max(1)
                && deleted as f64 > t.deleted_fraction * s.len as f64)
    });
    if let Some(shape) = vacuum {
        return Some(Plan::Rebuild(vec![shape.id]));
    }
    let indexing = t.indexing?;
    sealed
        .iter()
        .filter(|s| !s.indexed && s.live >= indexing)
        .max_by_key(|s| (s.live, std::cmp::Reverse(s.id)))
        .map(|s| Plan::Index(s.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds {
            indexing: Some(100),
            max_segment: 1000,
            segments: 2,
            deleted_fraction: 0.2,
            deleted_min: 10,
        }
    }

    fn shape(id: u64, len: usize, live: usize, indexed: bool) -> SegmentShape {
        SegmentShape {
            id,
            len,
            live,
            indexed,
        }
    }

    #[test]
    fn seals_a_full_write_segment_first() {
        assert_eq!(next(100, &[], &t()), Some(Plan::Seal));
        assert_eq!(next(99, &[], &t()), None);
        let off = Thresholds {
            indexing: None,
            ..t()
        };
        assert_eq!(next(1_000_000, &[], &off), None);
    }

    #[test]
    fn merges_the_smallest_down_to_the_target_within_the_size_cap() {
        let sealed = [
            shape(1, 900, 900, true),
            shape(2, 50, 50, false),
            shape(3, 60, 60, false),
            shape(4, 70, 70, false),
        ];
        assert_eq!(next(0, &sealed, &t()), Some(Plan::Rebuild(vec![2, 3, 4])));
        // The cap keeps the big segment out even when the target asks for it.
        let one = Thresholds { segments: 1, ..t() };
        assert_eq!(next(0, &sealed, &one), Some(Plan::Rebuild(vec![2, 3, 4])));
        // Nothing fits two together: no merge, but the unindexed large one gets indexed.
        let sealed = [
            shape(1, 900, 900, true),
            shape(2, 800, 800, false),
            shape(3, 700, 700, true),
        ];
        assert_eq!(next(0, &sealed, &t()), Some(Plan::Index(2)));
    }

    #[test]
    fn a_large_segment_waits_until_enough_small_ones_gathered() {
        let one = Thresholds {
            segments: 1,
            max_segment: 100_000,
            ..t()
        };
        // A flush's small segment does not drag a large index into a rebuild...
        assert_eq!(
            next(
                0,
                &[shape(1, 2000, 2000, true), shape(2, 300, 300, true)],
                &one
            ),
            None
        );
        // ...small ones merge among themselves...
        assert_eq!(
            next(
                0,
                &[
                    shape(1, 2500, 2500, true),
                    shape(2, 300, 300, false),
                    shape(3, 200, 200, false)
                ],
                &one
            ),
            Some(Plan::Rebuild(vec![2, 3]))
        );
        // ...a tiny one does not keep comparable ones from merging...
        assert_eq!(
            next(
                0,
                &[
                    shape(1, 1, 1, false),
                    shape(2, 900, 900, true),
                    shape(3, 1000, 1000, true)
                ],
                &one
            ),
            Some(Plan::Rebuild(vec![2, 3]))
        );
        // ...and join the large one once they are a fair share of it.
        assert_eq!(
            next(
                0,
                &[shape(1, 2000, 2000, true), shape(2, 600, 600, true)],
                &one
            ),
            Some(Plan::Rebuild(vec![1, 2]))
        );
    }

    #[test]
    fn vacuums_segments_with_many_deletions_or_none_alive() {
        let sealed = [shape(1, 100, 85, true), shape(2, 100, 70, true)];
        assert_eq!(next(0, &sealed, &t()), Some(Plan::Rebuild(vec![2])));
        // Too few deletions in absolute terms.
        let few = Thresholds {
            deleted_min: 40,
            ..t()
        };
        assert_eq!(next(0, &sealed, &few), None);
        assert_eq!(
            next(0, &[shape(7, 3, 0, false)], &t()),
            Some(Plan::Rebuild(vec![7]))
        );
    }

    #[test]
    fn indexes_the_largest_unindexed_segment_past_the_threshold() {
        let sealed = [shape(1, 150, 150, false), shape(2, 400, 400, false)];
        assert_eq!(next(0, &sealed, &t()), Some(Plan::Index(2)));
        assert_eq!(next(0, &[shape(1, 99, 99, false)], &t()), None);
        assert_eq!(next(0, &[shape(1, 500, 500, true)], &t()), None);
    }

    #[test]
    fn kilobytes_become_points() {
        assert_eq!(points_in_kb(20_000, 384), 13_333);
        assert_eq!(points_in_kb(0, 384), 1);
        let t = Thresholds::new(&OptimizersConfig::default(), 128);
        assert_eq!(t.indexing, Some(40_000));
        assert_eq!(t.segments, DEFAULT_SEGMENT_NUMBER);
        let off = OptimizersConfig {
            indexing_threshold: Some(0),
            ..OptimizersConfig::default()
        };
        assert_eq!(Thresholds::new(&off, 128).indexing, None);
    }
}
