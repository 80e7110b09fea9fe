//! Reads: retrieve, count, scroll, search (filtered or not), recommend and group search.
//!
//! A search fans out over the segments and merges what they find; each segment plans its
//! own part (`segment/search.rs`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{read, Collection, Loc, State};
use crate::error::StorageError;
use crate::models::{
    Condition, CountRequest, Direction, Filter, GetPoints, GroupId, GroupsResult, OrderValue,
    PayloadSchemaType, PointGroup, PointId, RecommendExample, RecommendRequest, Record,
    ScoredPoint, ScrollRequest, ScrollResult, SearchGroupsRequest, SearchRequest, StartFrom,
    WithPayloadSelector, DEFAULT_SCROLL_LIMIT,
};
use crate::models::{HnswConfig, NamedVectorStruct, WithVectorSelector};
use crate::storage::distance::{score_from_graph, Order};
use crate::storage::field_index::{self, FieldIndex};
use crate::storage::filter::values_at;
use crate::storage::plan::points_in_kb;
use crate::storage::segment::{SegmentData, SegmentQuery, SpaceQuery};
use crate::storage::select::Selector;
use crate::storage::space::{Space, Spaces};

/// Filters matching at most this many points of a segment are always scored exactly: a graph
/// walk would visit more points than that.
const MIN_EXACT_LIMIT: usize = 256;

/// A search hit being ranked: `goodness` is the negated graph distance (higher is better).
struct Candidate {
    goodness: f32,
    score: f32,
    id: PointId,
    segment: u32,
    offset: u32,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .goodness
            .total_cmp(&self.goodness)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// Check a filter before it is used: a malformed one is a `BadRequest` naming the bad part.
fn check_filter(filter: Option<&Filter>) -> Result<(), StorageError> {
    match filter {
        Some(filter) => filter.validate().map_err(StorageError::from),
        None => Ok(()),
    }
}

fn record(
    spaces: &Spaces,
    data: &SegmentData,
    id: PointId,
    offset: usize,
    with_payload: &WithPayloadSelector,
    with_vector: &WithVectorSelector,
) -> Record {
    Record {
        id,
        payload: if with_payload.is_enabled() {
            with_payload.apply(data.payload(offset))
        } else {
            None
        },
        vector: spaces.output(data.vector(offset), with_vector),
        order_value: None,
    }
}

impl State {
    /// The offset of live point `id` in the segment at `position`, if it lives there.
    fn locate_in(&self, position: usize, id: &PointId) -> Option<u32> {
        self.index
            .get(id)
            .filter(|loc| loc.segment as usize == position)
            .map(|loc| loc.offset)
    }

    /// Call `f` with every live point `filter` matches (every live point without a filter),
    /// segment by segment. `exact_limit` is where gathering candidates from the indexes stops
    /// paying off against checking every point.
    pub(super) fn for_each_match(
        &self,
        filter: Option<&Filter>,
        exact_limit: usize,
        f: &mut dyn FnMut(PointId, Loc),
    ) {
        for (position, segment) in self.segments.iter().enumerate() {
            let locate = |id: &PointId| self.locate_in(position, id);
            segment.for_each_match(filter, exact_limit, &locate, &mut |offset| {
                let loc = Loc {
                    segment: position as u32,
                    offset,
                };
                f(segment.data.id(offset as usize), loc);
            });
        }
    }
}

impl Collection {
    /// Up to how many candidates a filtered search scores exactly instead of walking a graph:
    /// an eighth of `full_scan_threshold` (KiB of vectors), and at least 256 points. Qdrant
    /// draws this line at the whole threshold; measured on debian-384 (`cargo bench --bench
    /// ann`), scoring scattered candidates exactly costs as much as walking their sub-graph at
    /// about 600-800 points (1 MiB of vectors), and ten times more at 6,000, because each
    /// candidate's vector is a cache miss while a graph walk touches a few hundred.
    pub(super) fn exact_limit(&self) -> usize {
        exact_scoring_limit(self.hnsw().full_scan_threshold, self.dim)
    }

    /// The HNSW settings of `space`: the collection's, with the space's own over them.
    pub(super) fn space_hnsw(&self, space: &Space) -> HnswConfig {
        self.hnsw().merged(space.params.hnsw_config.as_ref())
    }

    /// [`exact_limit`](Self::exact_limit) for searches of `space`, from its own
    /// `full_scan_threshold` and size.
    pub(super) fn space_exact_limit(&self, space: &Space) -> usize {
        exact_scoring_limit(self.space_hnsw(space).full_scan_threshold, space.dim)
    }

    /// The requested points that exist, in request order (each id once).
    pub fn get(&self, request: &GetPoints) -> Vec<Record> {
        let state = read(&self.state);
        let mut seen = HashSet::with_capacity(request.ids.len());
        request
            .ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| {
                let loc = state.index.get(id)?;
                let data = &state.segments[loc.segment as usize].data;
                Some(record(
                    &self.spaces,
                    data,
                    *id,
                    loc.offset as usize,
                    &request.with_payload,
                    &request.with_vector,
                ))
            })
            .collect()
    }

    /// Number of live points.
    pub fn count(&self) -> u64 {
        read(&self.state).index.len() as u64
    }

    /// Number of live points the request's filter matches (all of them without a filter);
    /// always exact.
    pub fn count_filtered(&self, request: &CountRequest) -> Result<u64, StorageError> {
        request.check_supported()?;
        check_filter(request.filter.as_ref())?;
        let state = read(&self.state);
        let Some(filter) = &request.filter else {
            return Ok(state.index.len() as u64);
        };
        let mut count = 0u64;
        state.for_each_match(Some(filter), self.exact_limit(), &mut |_, _| count += 1);
        Ok(count)
    }

    /// The ids and locations of the live points `filter` matches.
    pub(super) fn matching_ids(&self, state: &State, filter: &Filter) -> Vec<PointId> {
        let mut ids = Vec::new();
        state.for_each_match(Some(filter), self.exact_limit(), &mut |id, _| ids.push(id));
        ids
    }

    /// One page of the points the filter matches, in id order from `offset` (inclusive), or
    /// ordered by an indexed payload field with `order_by`.
    pub fn scroll(&self, request: &ScrollRequest) -> Result<ScrollResult, StorageError> {
        request.check_supported()?;
        check_filter(request.filter.as_ref())?;
        let limit = request.limit.unwrap_or(DEFAULT_SCROLL_LIMIT);
        if limit == 0 {
            return Err(StorageError::BadRequest(
                "scroll limit must be at least 1".into(),
            ));
        }
        let with_payload = request
            .with_payload
            .clone()
            .unwrap_or(WithPayloadSelector::Enable(true));
        let with_vector = request
            .with_vector
            .clone()
            .unwrap_or(WithVectorSelector::Enable(false));
        if request.order_by.is_some() {
            return self.scroll_ordered(request, limit, &with_payload, &with_vector);
        }
        let state = read(&self.state);
        // The `limit + 1` smallest ids from `offset` on, largest on top: the extra one is the
        // next page's start.
        let room = limit.min(state.index.len()).saturating_add(2);
        let mut page: BinaryHeap<(PointId, u32, u32)> = BinaryHeap::with_capacity(room);
        state.for_each_match(
            request.filter.as_ref(),
            self.exact_limit(),
            &mut |id, loc| {
                if request.offset.is_some_and(|start| id < start) {
                    return;
                }
                if page.len() <= limit {
                    page.push((id, loc.segment, loc.offset));
                } else if page.peek().is_some_and(|top| id < top.0) {
                    page.pop();
                    page.push((id, loc.segment, loc.offset));
                }
            },
        );
        let mut page = page.into_sorted_vec();
        let next_page_offset = (page.len() > limit).then(|| page[limit].0);
        page.truncate(limit);
        let points = page
            .into_iter()
            .map(|(id, segment, offset)| {
                let data = &state.segments[segment as usize].data;
                record(
                    &self.spaces,
                    data,
                    id,
                    offset as usize,
                    &with_payload,
                    &with_vector,
                )
            })
            .collect();
        Ok(ScrollResult {
            points,
            next_page_offset,
        })
    }

    fn scroll_ordered(
        &self,
        request: &ScrollRequest,
        limit: usize,
        with_payload: &WithPayloadSelector,
        with_vector: &WithVectorSelector,
    ) -> Result<ScrollResult, StorageError> {
        let Some(order_by) = &request.order_by else {
            return Err(StorageError::BadRequest("order_by is missing".into()));
        };
        let state = read(&self.state);
        let kind = state.schema.get(&order_by.key).copied();
        if !matches!(
            kind,
            Some(
                PayloadSchemaType::Integer | PayloadSchemaType::Float | PayloadSchemaType::Datetime
            )
        ) {
            return Err(StorageError::BadRequest(format!(
                "order_by \"{}\" needs an integer, float or datetime payload index on that key",
                order_by.key
            )));
        }
        let kind = kind.unwrap_or(PayloadSchemaType::Float);
        let descending = order_by.direction == Some(Direction::Desc);
        let start = match &order_by.start_from {
            None => None,
            Some(StartFrom::Integer(n)) => Some(field_index::OrderValue::Int(*n)),
            Some(StartFrom::Float(x)) => Some(field_index::OrderValue::Float(*x)),
            Some(StartFrom::Datetime(text)) => {
                let instant = crate::models::parse_datetime(text).ok_or_else(|| {
                    StorageError::BadRequest(format!(
                        "order_by.start_from \"{text}\" is not an RFC 3339 date-time"
                    ))
                })?;
                Some(field_index::OrderValue::Int(
                    instant
                        .secs
                        .saturating_mul(1_000_000)
                        .saturating_add(i64::from(instant.nanos / 1000)),
                ))
            }
        };
        // Each point once, at its first value in the requested direction.
        let mut best: HashMap<PointId, (field_index::OrderValue, Loc)> = HashMap::new();
        for (position, segment) in state.segments.iter().enumerate() {
            let data = &*segment.data;
            let built;
            let index = match segment.fields.get(&order_by.key) {
                Some(index) if index.kind() == kind => index,
                _ => {
                    built = FieldIndex::build(&order_by.key, kind, data.len(), |o| data.payload(o));
                    &built
                }
            };
            let Some(pairs) = index.ordered() else {
                continue;
            };
            let locate = |id: &PointId| state.locate_in(position, id);
            let selector = request
                .filter
                .as_ref()
                .map(|filter| Selector::new(filter, data, &segment.fields, &locate));
            let mut consider = |value: field_index::OrderValue, offset: u32| {
                if segment.deleted.contains(offset as usize) {
                    return;
                }
                if start.is_some_and(|s| {
                    if descending {
                        value.cmp(&s) == Ordering::Greater
                    } else {
                        value.cmp(&s) == Ordering::Less
                    }
                }) {
                    return;
                }
                let id = data.id(offset as usize);
                if best.contains_key(&id) || selector.as_ref().is_some_and(|s| !s.check(offset)) {
                    return;
                }
                best.insert(
                    id,
                    (
                        value,
                        Loc {
                            segment: position as u32,
                            offset,
                        },
                    ),
                );
            };
            if descending {
                pairs.iter().rev().for_each(|p| consider(p.0, p.1));
            } else {
                pairs.iter().for_each(|p| consider(p.0, p.1));
            }
        }
        let mut all: Vec<(field_index::OrderValue, PointId, Loc)> = best
            .into_iter()
            .map(|(id, (value, loc))| (value, id, loc))
            .collect();
        all.sort_by(|a, b| {
            let by_value = a.0.cmp(&b.0);
            let by_value = if descending {
                by_value.reverse()
            } else {
                by_value
            };
            by_value.then_with(|| a.1.cmp(&b.1))
        });
        all.truncate(limit);
        let points = all
            .into_iter()
            .map(|(value, id, loc)| {
                let data = &state.segments[loc.segment as usize].data;
                let mut r = record(
                    &self.spaces,
                    data,
                    id,
                    loc.offset as usize,
                    with_payload,
                    with_vector,
                );
                r.order_value = Some(match value {
                    field_index::OrderValue::Int(n) => OrderValue::Int(n),
                    field_index::OrderValue::Float(x) => OrderValue::Float(x),
                });
                r
            })
            .collect();
        Ok(ScrollResult {
            points,
            next_page_offset: None,
        })
    }

    /// Nearest neighbours of the request's vector among the points its filter matches, best
    /// first. `cancelled` is checked now and then; when it returns true the search stops and
    /// returns `None`.
    pub fn search(
        &self,
        request: &SearchRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<ScoredPoint>>, StorageError> {
        request.check_supported()?;
        let space = self.spaces.get(request.vector.name())?;
        let query = self.spaces.query(space, request.vector.vector())?;
        check_filter(request.filter.as_ref())?;
        if let Some(t) = request.score_threshold.filter(|t| t.is_nan()) {
            return Err(StorageError::BadRequest(format!(
                "score_threshold is {t}; it must be a number"
            )));
        }
        let offset = request.offset.unwrap_or(0);
        let wanted = request.limit.saturating_add(offset);
        if request.limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let distance = space.distance();
        let order = Order::of(distance);
        let threshold = request.score_threshold;
        let hnsw = self.space_hnsw(space);
        let ef = request
            .params
            .and_then(|p| p.hnsw_ef)
            .unwrap_or(hnsw.ef_construct)
            .max(wanted);
        let plan = SegmentQuery {
            space: SpaceQuery {
                rows: &[],
                stride: self.dim,
                space,
                may_be_absent: self.spaces.is_named(),
                query: &query,
                wanted,
                ef,
            },
            exact: request.params.is_some_and(|p| p.exact),
            filter: request.filter.as_ref(),
            exact_limit: exact_scoring_limit(hnsw.full_scan_threshold, space.dim),
            full_scan: points_in_kb(hnsw.full_scan_threshold, space.dim),
        };

        let state = read(&self.state);
        // A heap of the best `wanted` so far, worst on top, so each candidate costs one compare.
        let mut best: BinaryHeap<Candidate> =
            BinaryHeap::with_capacity(wanted.min(state.index.len()) + 1);
        for (position, segment) in state.segments.iter().enumerate() {
            // Between segments: a caller that gave up costs at most one more segment.
            if cancelled() {
                return Ok(None);
            }
            let data = &*segment.data;
            // Smaller graph distances are closer, whatever the metric; scores are derived
            // only for the hits that survive.
            let mut consider = |d: f32, offset: u32| {
                let s = score_from_graph(distance, d);
                if threshold.is_some_and(|t| order.better(t, s)) {
                    return;
                }
                let candidate = Candidate {
                    goodness: -d,
                    score: s,
                    id: data.id(offset as usize),
                    segment: position as u32,
                    offset,
                };
                if best.len() < wanted {
                    best.push(candidate);
                } else if best.peek().is_some_and(|worst| candidate < *worst) {
                    best.pop();
                    best.push(candidate);
                }
            };
            let locate = |id: &PointId| state.locate_in(position, id);
            if segment
                .search(&plan, &locate, cancelled, &mut consider)
                .is_err()
            {
                return Ok(None);
            }
        }
        // A graph search stopped by `cancelled` returned a partial answer: never pass it on.
        if cancelled() {
            return Ok(None);
        }
        let with_payload = request
            .with_payload
            .clone()
            .unwrap_or(WithPayloadSelector::Enable(false));
        let with_vector = request
            .with_vector
            .clone()
            .unwrap_or(WithVectorSelector::Enable(false));
        Ok(Some(
            best.into_sorted_vec()
                .into_iter()
                .skip(offset)
                .map(|c| {
                    let data = &state.segments[c.segment as usize].data;
                    let at = c.offset as usize;
                    ScoredPoint {
                        id: c.id,
                        version: data.version(at),
                        score: c.score,
                        payload: if with_payload.is_enabled() {
                            with_payload.apply(data.payload(at))
                        } else {
                            None
                        },
                        vector: self.spaces.output(data.vector(at), &with_vector),
                    }
                })
                .collect(),
        ))
    }

    /// Run each search of a batch in turn; `None` if the caller gave up meanwhile.
    pub fn search_batch(
        &self,
        requests: &[SearchRequest],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<Vec<ScoredPoint>>>, StorageError> {
        let mut all = Vec::with_capacity(requests.len());
        for request in requests {
            match self.search(request, cancelled)? {
                Some(hits) => all.push(hits),
                None => return Ok(None),
            }
        }
        Ok(Some(all))
    }

    /// Points like the positive examples and unlike the negative ones (Qdrant's
    /// `average_vector` strategy: the query is `avg(positive) + (avg(positive) -
    /// avg(negative))`, or `avg(positive)` without negatives). Example points are never among
    /// the results.
    pub fn recommend(
        &self,
        request: &RecommendRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<ScoredPoint>>, StorageError> {
        // Before anything else: `lookup_from` names where example ids live, so an answer
        // from this collection would be a wrong answer.
        request.check_supported()?;
        // Checked before the filter is cloned below.
        check_filter(request.filter.as_ref())?;
        if request.positive.is_empty() {
            return Err(StorageError::BadRequest(
                "recommend needs at least one positive example".into(),
            ));
        }
        let space = self.spaces.get(request.using.as_deref().unwrap_or(""))?;
        let mut example_ids = Vec::new();
        let average = |examples: &[RecommendExample],
                       ids: &mut Vec<PointId>|
         -> Result<Option<Vec<f32>>, StorageError> {
            if examples.is_empty() {
                return Ok(None);
            }
            let state = read(&self.state);
            let mut sum = vec![0f64; space.dim];
            for example in examples {
                let vector: Vec<f32> = match example {
                    RecommendExample::Id(id) => {
                        let loc = state.index.get(id).ok_or_else(|| {
                            StorageError::BadRequest(format!(
                                "no point with id {id} to recommend from"
                            ))
                        })?;
                        ids.push(*id);
                        let row = state.segments[loc.segment as usize]
                            .data
                            .vector(loc.offset as usize);
                        if !space.present(row) {
                            return Err(StorageError::BadRequest(format!(
                                "point {id} has no vector \"{}\" to recommend from",
                                space.name
                            )));
                        }
                        space.of(row).to_vec()
                    }
                    RecommendExample::Vector(vector) => self.spaces.query(space, vector)?,
                };
                for (s, x) in sum.iter_mut().zip(&vector) {
                    *s += f64::from(*x);
                }
            }
            let n = examples.len() as f64;
            Ok(Some(sum.into_iter().map(|s| (s / n) as f32).collect()))
        };
        let positive = average(&request.positive, &mut example_ids)?.unwrap_or_default();
        let query = match average(&request.negative, &mut example_ids)? {
            Some(negative) => positive
                .iter()
                .zip(&negative)
                .map(|(p, n)| p + (p - n))
                .collect(),
            None => positive,
        };
        let mut filter = request.filter.clone().unwrap_or_default();
        if !example_ids.is_empty() {
            filter
                .must_not
                .get_or_insert_with(Vec::new)
                .push(Condition::HasId(example_ids));
        }
        let query = if self.spaces.is_named() {
            NamedVectorStruct::named(space.name.clone(), query)
        } else {
            NamedVectorStruct::Default(query)
        };
        let search = SearchRequest {
            vector: query,
            limit: request.limit,
            filter: Some(filter),
            offset: request.offset,
            with_payload: request.with_payload.clone(),
            with_vector: request.with_vector.clone(),
            score_threshold: request.score_threshold,
            params: request.params,
            shard_key: None,
        };
        self.search(&search, cancelled)
    }

    /// The best `limit` groups of hits sharing a value at `group_by`, `group_size` hits each
    /// at most, best group (by its best hit) first. Points without a string or integer value
    /// there are left out; a point with an array of values is in each value's group.
    pub fn search_groups(
        &self,
        request: &SearchGroupsRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<GroupsResult>, StorageError> {
        request.check_supported()?;
        // Checked before the filter is cloned below.
        check_filter(request.filter.as_ref())?;
        if request.group_size == 0 || request.limit == 0 {
            return Err(StorageError::BadRequest(
                "search groups needs group_size and limit of at least 1".into(),
            ));
        }
        crate::models::parse_key(&request.group_by).map_err(|why| {
            StorageError::BadRequest(format!("group_by \"{}\": {why}", request.group_by))
        })?;
        // Only points with a value at the key can join a group.
        let mut filter = request.filter.clone().unwrap_or_default();
        filter
            .must_not
            .get_or_insert_with(Vec::new)
            .push(Condition::IsEmpty(crate::models::PayloadField {
                key: request.group_by.clone(),
            }));
        let total = self.count() as usize;
        let mut fetch = request
            .limit
            .saturating_mul(request.group_size)
            .saturating_mul(2)
            .max(16);
        loop {
            let search = SearchRequest {
                vector: request.vector.clone(),
                limit: fetch,
                filter: Some(filter.clone()),
                offset: None,
                with_payload: Some(WithPayloadSelector::Enable(true)),
                with_vector: request.with_vector.clone(),
                score_threshold: request.score_threshold,
                params: request.params,
                shard_key: None,
            };
            let Some(hits) = self.search(&search, cancelled)? else {
                return Ok(None);
            };
            let exhausted = hits.len() < fetch || fetch >= total;
            let mut groups: Vec<PointGroup> = Vec::new();
            let mut by_id: HashMap<GroupId, usize> = HashMap::new();
            for hit in hits {
                let keys = hit
                    .payload
                    .as_ref()
                    .map(|payload| group_ids(payload, &request.group_by))
                    .unwrap_or_default();
                for key in keys {
                    let at = *by_id.entry(key.clone()).or_insert_with(|| {
                        groups.push(PointGroup {
                            id: key,
                            hits: Vec::new(),
                        });
                        groups.len() - 1
                    });
                    if groups[at].hits.len() < request.group_size {
                        groups[at].hits.push(hit.clone());
                    }
                }
            }
            let full = groups.len() >= request.limit
                && groups[..request.limit]
                    .iter()
                    .all(|g| g.hits.len() >= request.group_size);
            if full || exhausted {
                groups.truncate(request.limit);
                let with_payload = request
                    .with_payload
                    .clone()
                    .unwrap_or(WithPayloadSelector::Enable(false));
                for group in &mut groups {
                    for hit in &mut group.hits {
                        hit.payload = if with_payload.is_enabled() {
                            with_payload.apply(hit.payload.take())
                        } else {
                            None
                        };
                    }
                }
                return Ok(Some(GroupsResult { groups }));
            }
            fetch = fetch.saturating_mul(4).min(total.max(1));
        }
    }
}

/// The exact-scoring line of [`Collection::exact_limit`] for `threshold_kb` of `dim`-d vectors.
fn exact_scoring_limit(threshold_kb: usize, dim: usize) -> usize {
    (points_in_kb(threshold_kb, dim) / 8).max(MIN_EXACT_LIMIT)
}

/// The group keys of a payload: string and integer values at `key` (array elements one
/// level deep), each once.
fn group_ids(payload: &crate::models::Payload, key: &str) -> Vec<GroupId> {
    let mut out = Vec::new();
    let mut push = |value: &serde_json::Value| {
        let id = match value {
            serde_json::Value::String(s) => Some(GroupId::Str(s.clone())),
            serde_json::Value::Number(n) => n.as_i64().map(GroupId::Int),
            _ => None,
        };
        if let Some(id) = id {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    };
    for value in values_at(payload, key).unwrap_or_default() {
        match value {
            serde_json::Value::Array(items) => items.iter().for_each(&mut push),
            single => push(single),
        }
    }
    out
}
