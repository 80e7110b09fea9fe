//! Which points of one segment a filter selects, using the segment's payload indexes where
//! they decide a condition and the stored payload where they do not.
//!
//! Three questions, from cheap to expensive:
//! - [`Selector::estimate`]: an upper bound of the matching offsets, from index statistics
//!   only (no result is materialised). The query planner compares it with the cost of an
//!   exact scan.
//! - [`Selector::candidates`]: a sorted superset of the matching offsets (exact when every
//!   condition is decided by an index), for the few-matches path.
//! - [`Selector::check`]: whether one offset matches, for graph traversal and full scans.
//!   Conditions with an index cost a lookup; the others parse that offset's payload once.
//!
//! All three agree with `filter::matches` (the reference semantics) on every live offset;
//! `tests/filtered.rs` and the differential property test hold them to it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashSet};

use super::filter::check_condition;
use super::payload_index::FieldIndexes;
use super::segment::SegmentData;
use crate::models::{Condition, Filter, Payload, PointId};

/// A set of offsets: all of a segment's, or a sorted list.
#[derive(Debug, Clone, PartialEq)]
enum Set {
    All,
    List(Vec<u32>),
}

impl Set {
    fn intersect(self, other: Set) -> Set {
        match (self, other) {
            (Set::All, s) | (s, Set::All) => s,
            (Set::List(a), Set::List(b)) => Set::List(intersect(&a, &b)),
        }
    }

    fn union(self, other: Set) -> Set {
        match (self, other) {
            (Set::All, _) | (_, Set::All) => Set::All,
            (Set::List(a), Set::List(b)) => Set::List(union(&a, &b)),
        }
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => break,
        };
        out.push(next);
    }
    out
}

/// A filter applied to one segment.
pub(crate) struct Selector<'a> {
    filter: &'a Filter,
    data: &'a SegmentData,
    fields: &'a FieldIndexes,
    /// The offset of a live point in this segment, by id (for `has_id`).
    locate: &'a dyn Fn(&PointId) -> Option<u32>,
}

/// Candidate offsets of a filter in a segment: a sorted superset of the matching offsets
/// (deleted ones included); `exact` when it holds exactly the matching offsets.
pub(crate) struct Candidates {
    /// The offsets; `None` means every offset is a candidate.
    pub(crate) offsets: Option<Vec<u32>>,
    /// Whether every candidate matches (no per-offset check needed).
    pub(crate) exact: bool,
}

impl<'a> Selector<'a> {
    /// `filter` over `data`, with its payload indexes `fields`.
    pub(crate) fn new(
        filter: &'a Filter,
        data: &'a SegmentData,
        fields: &'a FieldIndexes,
        locate: &'a dyn Fn(&PointId) -> Option<u32>,
    ) -> Self {
        Selector {
            filter,
            data,
            fields,
            locate,
        }
    }

    /// An upper bound of the number of matching offsets, from index statistics.
    pub(crate) fn estimate(&self) -> usize {
        self.estimate_filter(self.filter).min(self.data.len())
    }

    fn estimate_filter(&self, filter: &Filter) -> usize {
        let len = self.data.len();
        let mut bound = len;
        if let Some(must) = &filter.must {
            for condition in must {
                bound = bound.min(self.estimate_condition(condition));
            }
        }
        if let Some(should) = &filter.should {
            let sum = should
                .iter()
                .map(|c| self.estimate_condition(c))
                .fold(0usize, usize::saturating_add);
            bound = bound.min(sum);
        }
        if let Some(min) = &filter.min_should {
            if min.min_count > 0 {
                let sum = min
                    .conditions
                    .iter()
                    .map(|c| self.estimate_condition(c))
                    .fold(0usize, usize::saturating_add);
                bound = bound.min(sum);
            }
        }
        bound
    }

    fn estimate_condition(&self, condition: &Condition) -> usize {
        match condition {
            Condition::Field(field) => self
                .fields
                .get(&field.key)
                .and_then(|index| index.estimate(field))
                .unwrap_or(self.data.len()),
            Condition::HasId(ids) => ids.len(),
            Condition::Filter(filter) => self.estimate_filter(filter),
            _ => self.data.len(),
        }
    }

    /// The candidates to visit when the filter is estimated to match `estimate` offsets: the
    /// ones the indexes give if that is at most `limit` (materialising more costs more than
    /// checking every offset), otherwise every offset, each to be checked.
    pub(crate) fn gather(&self, estimate: usize, limit: usize) -> Candidates {
        if estimate <= limit {
            self.candidates()
        } else {
            Candidates {
                offsets: None,
                exact: false,
            }
        }
    }

    /// A superset of the matching offsets, exact where the indexes decide everything.
    /// Materialises index results: call it when [`estimate`](Self::estimate) is small.
    pub(crate) fn candidates(&self) -> Candidates {
        let (set, exact) = self.eval_filter(self.filter);
        Candidates {
            offsets: match set {
                Set::All => None,
                Set::List(list) => Some(list),
            },
            exact,
        }
    }

    fn eval_filter(&self, filter: &Filter) -> (Set, bool) {
        let mut set = Set::All;
        let mut exact = true;
        if let Some(must) = &filter.must {
            for condition in must {
                let (s, e) = self.eval_condition(condition);
                set = set.intersect(s);
                exact &= e;
            }
        }
        if let Some(should) = &filter.should {
            let mut any = Set::List(Vec::new());
            for condition in should {
                let (s, e) = self.eval_condition(condition);
                any = any.union(s);
                exact &= e;
            }
            set = set.intersect(any);
        }
        if let Some(min) = &filter.min_should {
            let parts: Vec<(Set, bool)> = min
                .conditions
                .iter()
                .map(|c| self.eval_condition(c))
                .collect();
            if min.min_count == 0 {
                // Always holds.
            } else if parts.iter().all(|(s, e)| *e && *s != Set::All) {
                let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
                for (s, _) in &parts {
                    if let Set::List(list) = s {
                        for &o in list {
                            *counts.entry(o).or_default() += 1;
                        }
                    }
                }
                let list = counts
                    .into_iter()
                    .filter(|&(_, n)| n >= min.min_count)
                    .map(|(o, _)| o)
                    .collect();
                set = set.intersect(Set::List(list));
            } else {
                let any = parts
                    .into_iter()
                    .fold(Set::List(Vec::new()), |acc, (s, _)| acc.union(s));
                set = set.intersect(any);
                exact = false;
            }
        }
        if let Some(must_not) = &filter.must_not {
            let mut excluded = Set::List(Vec::new());
            let mut decided = true;
            for condition in must_not {
                let (s, e) = self.eval_condition(condition);
                decided &= e;
                excluded = excluded.union(s);
            }
            match (decided, excluded) {
                (true, Set::All) => set = Set::List(Vec::new()),
                (true, Set::List(out)) => {
                    if !out.is_empty() {
                        let all: Vec<u32> = match set {
                            Set::All => (0..self.data.len() as u32).collect(),
                            Set::List(list) => list,
                        };
                        let out: HashSet<u32> = out.into_iter().collect();
                        set = Set::List(all.into_iter().filter(|o| !out.contains(o)).collect());
                    }
                }
                (false, _) => exact = false,
            }
        }
        (set, exact)
    }

    fn eval_condition(&self, condition: &Condition) -> (Set, bool) {
        match condition {
            Condition::Field(field) => match self
                .fields
                .get(&field.key)
                .and_then(|index| index.matching(field))
            {
                Some(list) => (Set::List(list), true),
                None => (Set::All, false),
            },
            Condition::HasId(ids) => {
                let mut list: Vec<u32> = ids.iter().filter_map(|id| (self.locate)(id)).collect();
                list.sort_unstable();
                list.dedup();
                (Set::List(list), true)
            }
            Condition::Filter(filter) => self.eval_filter(filter),
            Condition::Nested(_) | Condition::IsEmpty(_) | Condition::IsNull(_) => {
                (Set::All, false)
            }
        }
    }

    /// Whether the point at `offset` matches.
    pub(crate) fn check(&self, offset: u32) -> bool {
        let payload = OnceCell::new();
        self.check_filter_at(self.filter, offset, &payload)
    }

    fn check_filter_at(&self, filter: &Filter, offset: u32, payload: &Lazy<'a>) -> bool {
        let check = |c: &Condition| self.check_condition_at(c, offset, payload);
        if let Some(must) = &filter.must {
            if !must.iter().all(check) {
                return false;
            }
        }
        if let Some(should) = &filter.should {
            if !should.iter().any(check) {
                return false;
            }
        }
        if let Some(min) = &filter.min_should {
            if min.conditions.iter().filter(|c| check(c)).count() < min.min_count {
                return false;
            }
        }
        if let Some(must_not) = &filter.must_not {
            if must_not.iter().any(check) {
                return false;
            }
        }
        true
    }

    fn check_condition_at(&self, condition: &Condition, offset: u32, payload: &Lazy<'a>) -> bool {
        match condition {
            Condition::Field(field) => {
                if let Some(answer) = self
                    .fields
                    .get(&field.key)
                    .and_then(|index| index.check(offset, field))
                {
                    return answer;
                }
            }
            Condition::HasId(ids) => {
                let id = self.data.id(offset as usize);
                return ids.contains(&id);
            }
            Condition::Filter(filter) => return self.check_filter_at(filter, offset, payload),
            Condition::Nested(_) | Condition::IsEmpty(_) | Condition::IsNull(_) => {}
        }
        let payload = payload.get_or_init(|| self.data.payload_ref(offset as usize));
        let id = self.data.id(offset as usize);
        match payload {
            Some(payload) => check_condition(condition, Some(&id), payload),
            None => check_condition(condition, Some(&id), &Payload::new()),
        }
    }
}

/// A point's payload, read once and only if a condition needs it.
type Lazy<'a> = OnceCell<Option<Cow<'a, Payload>>>;
