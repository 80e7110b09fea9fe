//! `count` with `exact: false`: an estimate from the payload indexes' statistics, never
//! touching a payload or materialising a posting list, so it is never slower than an exact
//! count (which does all of that).
//!
//! ## What the estimate is
//! - Without a filter it is exact: the number of live points.
//! - With a filter it is an upper bound: per segment, the bound the filter planner uses
//!   ([`Selector::estimate`]: the smallest indexed `must` condition's posting-list size, the
//!   sum over `should` conditions, ...; a condition without an index bounds nothing), capped by
//!   the segment's live points, summed over segments. So
//!   `exact count <= estimate <= points_count`. Postings still list points deleted since the
//!   segment's indexes were built, which is why the bound can exceed the exact count even for
//!   one indexed `match`.

use super::{read, Collection};
use crate::error::StorageError;
use crate::models::{CountRequest, PointId};
use crate::storage::select::Selector;

impl Collection {
    /// Estimate how many points the request's filter matches; see the module docs for the
    /// bound.
    pub fn count_estimate(&self, request: &CountRequest) -> Result<u64, StorageError> {
        request.check_supported()?;
        let state = read(&self.state);
        let Some(filter) = &request.filter else {
            return Ok(state.index.len() as u64);
        };
        filter.validate().map_err(StorageError::from)?;
        let mut total = 0u64;
        for (position, segment) in state.segments.iter().enumerate() {
            let locate = |id: &PointId| {
                state
                    .index
                    .get(id)
                    .filter(|loc| loc.segment as usize == position)
                    .map(|loc| loc.offset)
            };
            let selector = Selector::new(filter, &segment.data, &segment.fields, &locate);
            total += selector.estimate().min(segment.live) as u64;
        }
        Ok(total.min(state.index.len() as u64))
    }
}
