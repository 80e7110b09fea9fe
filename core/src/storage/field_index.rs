//! The payload index of one field over one sealed segment.
//!
//! A sealed segment never changes, so its index is built once from every offset's payload
//! (offsets `0..len`) and only read afterwards: sorted arrays, no trees or hash maps. It
//! answers a field condition on its key exactly as `storage::filter` would, or declines
//! (`None`) so that the caller evaluates the payload instead.
//!
//! ## Which values are indexed
//! The values a key reaches are those of `storage::filter::values_at`; a reached value that is
//! an array counts element by element, one level deep (as `storage::filter` checks them). Of
//! those values each kind keeps its own and ignores the rest:
//! - keyword: strings; integer: numbers that fit an `i64` (not `1.0`); bool: bools;
//! - float: every number (integers too, as `f64`), since numeric ranges compare both;
//! - datetime: strings that parse as date-times;
//! - geo: objects with numeric `lon` and `lat`.
//!
//! ## Layout
//! Several parts are `Groups`: items stored back to back with one start position per group
//! (`starts` has one more entry than there are groups), so group `i` is
//! `items[starts[i]..starts[i + 1]]`.
//! - Keyword, integer and bool (`Postings`): the distinct values, ascending, where a value's
//!   id is its position; per value id its offsets ascending (the posting list); per offset its
//!   value ids ascending; and a bitset of the offsets holding a non-null value of another type,
//!   which `match.except` counts as "not in the list".
//! - Integer, in addition: `(value, offset)` pairs sorted by value, then offset, for ranges and
//!   ordering; and the numbers that are not `i64` integers (`1.5`, `2^64 - 1`), by offset,
//!   because numeric ranges match them too.
//! - Float: `(value, offset)` pairs sorted as above, and per offset its values.
//! - Datetime: `(microseconds since the epoch, offset)` pairs sorted as above, with the
//!   nanoseconds below the microsecond in a parallel array for exact comparisons; and per
//!   offset its instants.
//! - Geo: per offset its points; geo conditions scan them.
//!
//! Ranges binary-search the sorted pairs; `match` conditions look up posting lists; a single
//! offset is checked against its own values only.
//!
//! ## Encoding
//! Encoded for the payload index file by [`FieldIndex::encode`] and read back by
//! [`FieldIndex::decode`], which checks every invariant the queries rely on; the layout is
//! documented in `encoding.rs`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::slice;

use super::filter::{in_box, in_circle, in_polygon};
use crate::models::{
    parse_datetime, AnyVariants, FieldCondition, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius,
    Match, MatchValue, Payload, PayloadSchemaType, Range, RangeValue, UtcInstant,
};

mod build;
mod encoding;
#[cfg(test)]
mod tests;

use build::{build_bool, build_datetime, build_float, build_geo, build_integer, build_keyword};
pub(crate) use encoding::{kind_code, kind_of_code};

/// The index of one payload field over the offsets of one sealed segment.
#[derive(Debug)]
pub(crate) struct FieldIndex {
    key: String,
    kind: PayloadSchemaType,
    len: usize,
    points: usize,
    data: Data,
}

/// A value to order points by: an integer (or a date-time in microseconds) or a float.
///
/// The order is total: integers by value, floats by `f64::total_cmp` (`-0.0 < 0.0`), and an
/// integer against a float numerically, the integer first when they are equal. One index holds
/// one variant only.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OrderValue {
    /// An integer, or a date-time as microseconds since the epoch.
    Int(i64),
    /// A float.
    Float(f64),
}

impl OrderValue {
    /// The value as `storage::filter` compares numbers: as an `f64`.
    fn as_f64(self) -> f64 {
        match self {
            OrderValue::Int(n) => n as f64,
            OrderValue::Float(x) => x,
        }
    }

    /// The integer; date-time indexes hold only `Int`s, so the `Float` arm is never taken.
    fn as_i64(self) -> i64 {
        match self {
            OrderValue::Int(n) => n,
            OrderValue::Float(x) => x as i64,
        }
    }
}

impl Ord for OrderValue {
    fn cmp(&self, other: &Self) -> Ordering {
        // Mixed pairs compare as the key (value as f64, integer first, integer), a total order.
        match (*self, *other) {
            (OrderValue::Int(a), OrderValue::Int(b)) => a.cmp(&b),
            (OrderValue::Float(a), OrderValue::Float(b)) => a.total_cmp(&b),
            (OrderValue::Int(a), OrderValue::Float(b)) => {
                (a as f64).total_cmp(&b).then(Ordering::Less)
            }
            (OrderValue::Float(a), OrderValue::Int(b)) => {
                a.total_cmp(&(b as f64)).then(Ordering::Greater)
            }
        }
    }
}

impl PartialOrd for OrderValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for OrderValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for OrderValue {}

/// What a [`FieldIndex`] stores, by kind.
#[derive(Debug)]
enum Data {
    /// Strings.
    Keyword(Postings<Box<str>>),
    /// `i64` integers, with the other numbers aside for ranges.
    Integer {
        postings: Postings<i64>,
        ordered: Vec<(OrderValue, u32)>,
        /// Numbers that are not `i64` integers, as `f64`, sorted by offset.
        strays: Vec<(u32, f64)>,
    },
    /// Bools.
    Bool(Postings<bool>),
    /// Every number, as `f64`.
    Float {
        by_offset: Groups<f64>,
        ordered: Vec<(OrderValue, u32)>,
    },
    /// Strings that parse as date-times.
    Datetime {
        by_offset: Groups<Moment>,
        /// Whole microseconds, as `OrderValue::Int`.
        ordered: Vec<(OrderValue, u32)>,
        /// Nanoseconds below the microsecond of each entry of `ordered`.
        sub_micros: Vec<u16>,
    },
    /// Geo points.
    Geo(Groups<GeoPoint>),
    /// Too many offsets or distinct values for `u32`: decides nothing.
    Unindexed,
}

/// Items grouped by a dense number (an offset or a value id), stored back to back.
#[derive(Debug)]
struct Groups<T> {
    /// Where each group starts in `items`, and the end of the last one.
    starts: Vec<usize>,
    items: Vec<T>,
}

impl<T> Groups<T> {
    fn new() -> Self {
        Groups {
            starts: vec![0],
            items: Vec::new(),
        }
    }

    /// Appends the next group.
    fn push(&mut self, group: impl IntoIterator<Item = T>) {
        self.items.extend(group);
        self.starts.push(self.items.len());
    }

    /// Group `i`; empty past the last group.
    fn get(&self, i: usize) -> &[T] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&start), Some(&end)) => self.items.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// How many groups have at least one item.
    fn non_empty(&self) -> usize {
        self.starts.windows(2).filter(|w| w[0] < w[1]).count()
    }

    /// Drops the spare capacity left by building, as the groups live as long as the segment.
    fn finish(mut self) -> Self {
        self.starts.shrink_to_fit();
        self.items.shrink_to_fit();
        self
    }
}

/// One bit per offset.
#[derive(Debug)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    fn set(&mut self, i: u32) {
        if let Some(word) = self.0.get_mut(i as usize / 64) {
            *word |= 1 << (i % 64);
        }
    }

    fn get(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|word| word >> (i % 64) & 1 == 1)
    }

    fn count(&self) -> usize {
        self.0.iter().map(|word| word.count_ones() as usize).sum()
    }
}

/// Posting lists of a kind matched by equality (keyword, integer, bool).
#[derive(Debug)]
struct Postings<K> {
    /// Distinct values, ascending; a value's id is its position.
    keys: Vec<K>,
    /// Per value id, its offsets ascending.
    by_value: Groups<u32>,
    /// Per offset, its value ids ascending.
    by_offset: Groups<u32>,
    /// Offsets holding a non-null value that is not of this kind.
    other: Bits,
    other_count: usize,
    /// Offsets with a value of this kind or another non-null one: all `except` can match.
    candidates: usize,
}

impl<K: Ord> Postings<K> {
    /// `None` when there are more distinct values than `u32` ids.
    fn new(len: usize, map: BTreeMap<K, Vec<u32>>, other: Bits) -> Option<Self> {
        u32::try_from(map.len()).ok()?;
        let mut keys = Vec::with_capacity(map.len());
        let mut by_value = Groups::new();
        for (key, offsets) in map {
            keys.push(key);
            by_value.push(offsets);
        }
        Some(Postings::assemble(len, keys, by_value.finish(), other))
    }

    /// Postings from their stored parts, deriving the rest (shared by building and decoding).
    fn assemble(len: usize, keys: Vec<K>, by_value: Groups<u32>, other: Bits) -> Self {
        let by_offset = invert(len, &by_value);
        let other_count = other.count();
        let candidates = (0..len)
            .filter(|&o| other.get(o as u32) || !by_offset.get(o).is_empty())
            .count();
        Postings {
            keys,
            by_value,
            by_offset,
            other,
            other_count,
            candidates,
        }
    }

    fn id_of<Q: Ord + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.keys.binary_search_by(|k| k.borrow().cmp(key)).ok()
    }

    /// Ids of the given values that occur, sorted and unique.
    fn ids<'q, Q: Ord + ?Sized + 'q>(&self, wanted: impl IntoIterator<Item = &'q Q>) -> Vec<usize>
    where
        K: Borrow<Q>,
    {
        let mut ids: Vec<usize> = wanted.into_iter().filter_map(|q| self.id_of(q)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The values at `offset`.
    fn values_of(&self, offset: u32) -> impl Iterator<Item = &K> {
        self.by_offset
            .get(offset as usize)
            .iter()
            .filter_map(|&id| self.keys.get(id as usize))
    }

    /// `match.any` (or `value`) with the values `hit` accepts, or `match.except` with the
    /// values `hit` lists.
    fn check(&self, offset: u32, except: bool, hit: impl Fn(&K) -> bool) -> bool {
        if except {
            self.other.get(offset) || self.values_of(offset).any(|k| !hit(k))
        } else {
            self.values_of(offset).any(hit)
        }
    }

    /// `match.any` or `match.except` with the values of ids `wanted` (sorted, unique).
    fn matching(&self, len: usize, except: bool, wanted: &[usize]) -> Vec<u32> {
        if except {
            return (0..len)
                .map(|o| o as u32)
                .filter(|&o| {
                    self.other.get(o)
                        || self
                            .by_offset
                            .get(o as usize)
                            .iter()
                            .any(|&id| wanted.binary_search(&(id as usize)).is_err())
                })
                .collect();
        }
        match wanted {
            [id] => self.by_value.get(*id).to_vec(),
            _ => sorted_unique(
                wanted
                    .iter()
                    .flat_map(|&id| self.by_value.get(id))
                    .copied()
                    .collect(),
                len,
            ),
        }
    }

    /// Upper bound of [`Postings::matching`], from posting-list lengths; `points` is the number
    /// of offsets with a value of this kind.
    fn estimate(&self, except: bool, wanted: &[usize], points: usize) -> usize {
        let listed: usize = wanted.iter().map(|&id| self.by_value.get(id).len()).sum();
        if except {
            // An offset matches through a value outside the list (each such pair counts once)
            // or through a value of another type.
            let outside = self.by_value.items.len().saturating_sub(listed);
            (outside + self.other_count).min(self.candidates)
        } else {
            listed.min(points)
        }
    }
}

/// Per offset, the ids of the values whose posting lists hold it (a counting sort).
fn invert(len: usize, by_value: &Groups<u32>) -> Groups<u32> {
    let mut starts = vec![0usize; len + 1];
    for &offset in &by_value.items {
        if let Some(count) = starts.get_mut(offset as usize + 1) {
            *count += 1;
        }
    }
    let mut total = 0;
    for start in &mut starts {
        total += *start;
        *start = total;
    }
    let mut next = starts.clone();
    let mut items = vec![0u32; total];
    for id in 0..by_value.len() {
        for &offset in by_value.get(id) {
            if let Some(slot) = next.get_mut(offset as usize) {
                if let Some(item) = items.get_mut(*slot) {
                    // `Postings::new` checked that ids fit in u32.
                    *item = id as u32;
                }
                *slot += 1;
            }
        }
    }
    Groups { starts, items }
}

/// `offsets` sorted without duplicates; all are below `len`.
fn sorted_unique(mut offsets: Vec<u32>, len: usize) -> Vec<u32> {
    // Past one entry per 16 offsets, a bitmap read back in order beats sorting.
    if offsets.len() >= len / 16 {
        let mut bits = Bits::new(len);
        for &offset in &offsets {
            bits.set(offset);
        }
        offsets.clear();
        for (i, &word) in bits.0.iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                offsets.push((i * 64) as u32 + rest.trailing_zeros());
                rest &= rest - 1;
            }
        }
    } else {
        offsets.sort_unstable();
        offsets.dedup();
    }
    offsets
}

/// An exact UTC instant split at the microsecond: ordered as the instant is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Moment {
    micros: i64,
    /// Nanoseconds below `micros`, 0..1000.
    sub: u16,
}

impl From<UtcInstant> for Moment {
    fn from(instant: UtcInstant) -> Self {
        // Four-digit years keep |secs| below 2.6e11, far from overflowing; saturating only
        // avoids a panic path.
        Moment {
            micros: instant
                .secs
                .saturating_mul(1_000_000)
                .saturating_add(i64::from(instant.nanos / 1000)),
            sub: (instant.nanos % 1000) as u16,
        }
    }
}

/// Range bounds of one type, compared as `storage::filter` compares them.
#[derive(Debug, Clone, Copy)]
struct Bounds<T> {
    gt: Option<T>,
    gte: Option<T>,
    lt: Option<T>,
    lte: Option<T>,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    fn above_lower(&self, x: T) -> bool {
        self.gt.is_none_or(|b| x > b) && self.gte.is_none_or(|b| x >= b)
    }

    fn below_upper(&self, x: T) -> bool {
        self.lt.is_none_or(|b| x < b) && self.lte.is_none_or(|b| x <= b)
    }

    fn contains(&self, x: T) -> bool {
        self.above_lower(x) && self.below_upper(x)
    }
}

/// A condition in the terms of one kind of index.
#[derive(Debug)]
enum Query<'c> {
    Keywords { list: &'c [String], except: bool },
    Integers { list: &'c [i64], except: bool },
    Bools { list: &'c [bool], except: bool },
    Numbers(Bounds<f64>),
    Moments(Bounds<Moment>),
    GeoBox(&'c GeoBoundingBox),
    GeoRadius(&'c GeoRadius),
    GeoPolygon(&'c GeoPolygon),
}

impl FieldIndex {
    /// Index `key` as `kind` over `len` offsets; `payload_at(offset)` gives each offset's payload.
    pub(crate) fn build(
        key: &str,
        kind: PayloadSchemaType,
        len: usize,
        mut payload_at: impl FnMut(usize) -> Option<Payload>,
    ) -> FieldIndex {
        let data = if u32::try_from(len).is_err() {
            Data::Unindexed
        } else {
            let payload_at = &mut payload_at;
            match kind {
                PayloadSchemaType::Keyword => build_keyword(key, len, payload_at),
                PayloadSchemaType::Integer => build_integer(key, len, payload_at),
                PayloadSchemaType::Bool => build_bool(key, len, payload_at),
                PayloadSchemaType::Float => build_float(key, len, payload_at),
                PayloadSchemaType::Datetime => build_datetime(key, len, payload_at),
                PayloadSchemaType::Geo => build_geo(key, len, payload_at),
            }
        };
        FieldIndex::from_data(key, kind, len, data)
    }

    /// The index holding `data`, with its point count.
    fn from_data(key: &str, kind: PayloadSchemaType, len: usize, data: Data) -> FieldIndex {
        let points = match &data {
            Data::Keyword(postings) => postings.by_offset.non_empty(),
            Data::Integer { postings, .. } => postings.by_offset.non_empty(),
            Data::Bool(postings) => postings.by_offset.non_empty(),
            Data::Float { by_offset, .. } => by_offset.non_empty(),
            Data::Datetime { by_offset, .. } => by_offset.non_empty(),
            Data::Geo(by_offset) => by_offset.non_empty(),
            Data::Unindexed => 0,
        };
        FieldIndex {
            key: key.to_owned(),
            kind,
            len,
            points,
            data,
        }
    }

    /// The kind of values indexed.
    pub(crate) fn kind(&self) -> PayloadSchemaType {
        self.kind
    }

    /// Offsets that have at least one value of this kind at the key (collection info's count).
    pub(crate) fn points(&self) -> usize {
        self.points
    }

    /// If this index decides `cond` exactly as `storage::filter` does, the matching offsets,
    /// sorted and unique; otherwise `None`.
    pub(crate) fn matching(&self, cond: &FieldCondition) -> Option<Vec<u32>> {
        let query = self.query(cond)?;
        let len = self.len;
        let offsets = match (&self.data, query) {
            (Data::Keyword(postings), Query::Keywords { list, except }) => {
                postings.matching(len, except, &postings.ids(list.iter().map(String::as_str)))
            }
            (Data::Integer { postings, .. }, Query::Integers { list, except }) => {
                postings.matching(len, except, &postings.ids(list))
            }
            (Data::Bool(postings), Query::Bools { list, except }) => {
                postings.matching(len, except, &postings.ids(list))
            }
            (
                Data::Integer {
                    ordered, strays, ..
                },
                Query::Numbers(bounds),
            ) => {
                let mut offsets: Vec<u32> = number_span(ordered, &bounds)
                    .iter()
                    .map(|&(_, o)| o)
                    .collect();
                offsets.extend(
                    strays
                        .iter()
                        .filter(|&&(_, x)| bounds.contains(x))
                        .map(|&(o, _)| o),
                );
                sorted_unique(offsets, len)
            }
            (Data::Float { ordered, .. }, Query::Numbers(bounds)) => sorted_unique(
                number_span(ordered, &bounds)
                    .iter()
                    .map(|&(_, o)| o)
                    .collect(),
                len,
            ),
            (
                Data::Datetime {
                    ordered,
                    sub_micros,
                    ..
                },
                Query::Moments(bounds),
            ) => {
                let (lo, hi) = moment_span(ordered, &bounds);
                let entries = ordered.get(lo..hi).unwrap_or(&[]);
                let subs = sub_micros.get(lo..hi).unwrap_or(&[]);
                sorted_unique(
                    entries
                        .iter()
                        .zip(subs)
                        .filter(|&(&(value, _), &sub)| {
                            bounds.contains(Moment {
                                micros: value.as_i64(),
                                sub,
                            })
                        })
                        .map(|(&(_, o), _)| o)
                        .collect(),
                    len,
                )
            }
            (Data::Geo(by_offset), Query::GeoBox(area)) => {
                scan_geo(by_offset, |point| in_box(area, point))
            }
            (Data::Geo(by_offset), Query::GeoRadius(circle)) => {
                scan_geo(by_offset, |point| in_circle(circle, point))
            }
            (Data::Geo(by_offset), Query::GeoPolygon(polygon)) => {
                scan_geo(by_offset, |point| in_polygon(polygon, point))
            }
            _ => return None,
        };
        Some(offsets)
    }

    /// An upper bound (exact where that is cheap) of how many offsets [`FieldIndex::matching`]
    /// returns, from binary searches and posting-list lengths; `None` when it returns `None`.
    pub(crate) fn estimate(&self, cond: &FieldCondition) -> Option<usize> {
        let query = self.query(cond)?;
        let points = self.points;
        let estimate = match (&self.data, query) {
            (Data::Keyword(postings), Query::Keywords { list, except }) => postings.estimate(
                except,
                &postings.ids(list.iter().map(String::as_str)),
                points,
            ),
            (Data::Integer { postings, .. }, Query::Integers { list, except }) => {
                postings.estimate(except, &postings.ids(list), points)
            }
            (Data::Bool(postings), Query::Bools { list, except }) => {
                postings.estimate(except, &postings.ids(list), points)
            }
            (
                Data::Integer {
                    ordered, strays, ..
                },
                Query::Numbers(bounds),
            ) => (number_span(ordered, &bounds).len() + strays.len()).min(self.len),
            (Data::Float { ordered, .. }, Query::Numbers(bounds)) => {
                number_span(ordered, &bounds).len().min(points)
            }
            (Data::Datetime { ordered, .. }, Query::Moments(bounds)) => {
                let (lo, hi) = moment_span(ordered, &bounds);
                hi.saturating_sub(lo).min(points)
            }
            (Data::Geo(_), Query::GeoBox(_) | Query::GeoRadius(_) | Query::GeoPolygon(_)) => points,
            _ => return None,
        };
        Some(estimate)
    }

    /// Whether `offset` matches `cond`, from that offset's values only and without allocating
    /// (date-time bounds are parsed on each call); `None` when this index does not decide
    /// `cond`.
    pub(crate) fn check(&self, offset: u32, cond: &FieldCondition) -> Option<bool> {
        let query = self.query(cond)?;
        let o = offset as usize;
        let hit = match (&self.data, query) {
            (Data::Keyword(postings), Query::Keywords { list, except }) => {
                postings.check(offset, except, |k| list.iter().any(|w| w.as_str() == &**k))
            }
            (Data::Integer { postings, .. }, Query::Integers { list, except }) => {
                postings.check(offset, except, |k| list.contains(k))
            }
            (Data::Bool(postings), Query::Bools { list, except }) => {
                postings.check(offset, except, |k| list.contains(k))
            }
            (
                Data::Integer {
                    postings, strays, ..
                },
                Query::Numbers(bounds),
            ) => {
                postings
                    .values_of(offset)
                    .any(|&n| bounds.contains(n as f64))
                    || strays_at(strays, offset).any(|x| bounds.contains(x))
            }
            (Data::Float { by_offset, .. }, Query::Numbers(bounds)) => {
                by_offset.get(o).iter().any(|&x| bounds.contains(x))
            }
            (Data::Datetime { by_offset, .. }, Query::Moments(bounds)) => {
                by_offset.get(o).iter().any(|&m| bounds.contains(m))
            }
            (Data::Geo(by_offset), Query::GeoBox(area)) => {
                by_offset.get(o).iter().any(|&p| in_box(area, p))
            }
            (Data::Geo(by_offset), Query::GeoRadius(circle)) => {
                by_offset.get(o).iter().any(|&p| in_circle(circle, p))
            }
            (Data::Geo(by_offset), Query::GeoPolygon(polygon)) => {
                by_offset.get(o).iter().any(|&p| in_polygon(polygon, p))
            }
            _ => return None,
        };
        Some(hit)
    }

    /// Keyword, integer and bool indexes: every distinct value, ascending, as the condition
    /// `{"key": .., "match": {"value": ..}}` that selects exactly its offsets, with those
    /// offsets (its posting list). Empty for other kinds.
    pub(crate) fn values(&self) -> Vec<(FieldCondition, &[u32])> {
        fn list<'a, K>(
            index: &FieldIndex,
            postings: &'a Postings<K>,
            value: impl Fn(&K) -> MatchValue,
        ) -> Vec<(FieldCondition, &'a [u32])> {
            postings
                .keys
                .iter()
                .enumerate()
                .map(|(id, k)| (index.value_condition(value(k)), postings.by_value.get(id)))
                .collect()
        }
        match &self.data {
            Data::Keyword(postings) => list(self, postings, |k| MatchValue::Keyword(k.to_string())),
            Data::Integer { postings, .. } => list(self, postings, |&k| MatchValue::Integer(k)),
            Data::Bool(postings) => list(self, postings, |&k| MatchValue::Bool(k)),
            _ => Vec::new(),
        }
    }

    /// Integer, float and datetime indexes: `(value, offset)` pairs sorted by value, then
    /// offset, one pair per distinct value of each offset (an offset holding `[3, 5]` appears
    /// twice). Integers are `Int`, floats (and integers in a float index) `Float`, date-times
    /// `Int` microseconds since the epoch; numbers that are not `i64` integers are left out of
    /// an integer index's pairs. `None` for other kinds.
    pub(crate) fn ordered(&self) -> Option<&[(OrderValue, u32)]> {
        match &self.data {
            Data::Integer { ordered, .. }
            | Data::Float { ordered, .. }
            | Data::Datetime { ordered, .. } => Some(ordered),
            _ => None,
        }
    }

    /// `{"key": <this key>, "match": {"value": value}}`.
    fn value_condition(&self, value: MatchValue) -> FieldCondition {
        FieldCondition {
            r#match: Some(Match::Value(value)),
            ..FieldCondition::new(self.key.as_str())
        }
    }

    /// `cond` in this index's terms, if it decides it: the key is this index's, exactly one
    /// check is set (`storage::filter` ORs several), and the kind covers that check.
    fn query<'c>(&self, cond: &'c FieldCondition) -> Option<Query<'c>> {
        let set = [
            cond.r#match.is_some(),
            cond.range.is_some(),
            cond.geo_bounding_box.is_some(),
            cond.geo_radius.is_some(),
            cond.geo_polygon.is_some(),
            cond.values_count.is_some(),
        ];
        if cond.key != self.key
            || set.iter().filter(|&&s| s).count() != 1
            || matches!(self.data, Data::Unindexed)
        {
            return None;
        }
        match self.kind {
            PayloadSchemaType::Keyword => {
                let m = cond.r#match.as_ref()?;
                if let Some(except) = empty_list(m) {
                    return Some(Query::Keywords { list: &[], except });
                }
                let (list, except) = match m {
                    Match::Value(MatchValue::Keyword(word)) => (slice::from_ref(word), false),
                    Match::Any(AnyVariants::Keywords(list)) => (list.as_slice(), false),
                    Match::Except(AnyVariants::Keywords(list)) => (list.as_slice(), true),
                    _ => return None,
                };
                Some(Query::Keywords { list, except })
            }
            PayloadSchemaType::Integer => {
                if let Some(range) = &cond.range {
                    return number_bounds(range).map(Query::Numbers);
                }
                let m = cond.r#match.as_ref()?;
                if let Some(except) = empty_list(m) {
                    return Some(Query::Integers { list: &[], except });
                }
                let (list, except) = match m {
                    Match::Value(MatchValue::Integer(n)) => (slice::from_ref(n), false),
                    Match::Any(AnyVariants::Integers(list)) => (list.as_slice(), false),
                    Match::Except(AnyVariants::Integers(list)) => (list.as_slice(), true),
                    _ => return None,
                };
                Some(Query::Integers { list, except })
            }
            PayloadSchemaType::Bool => {
                let m = cond.r#match.as_ref()?;
                if let Some(except) = empty_list(m) {
                    return Some(Query::Bools { list: &[], except });
                }
                match m {
                    Match::Value(MatchValue::Bool(b)) => Some(Query::Bools {
                        list: slice::from_ref(b),
                        except: false,
                    }),
                    _ => None,
                }
            }
            PayloadSchemaType::Float => number_bounds(cond.range.as_ref()?).map(Query::Numbers),
            PayloadSchemaType::Datetime => moment_bounds(cond.range.as_ref()?).map(Query::Moments),
            PayloadSchemaType::Geo => {
                match (&cond.geo_bounding_box, &cond.geo_radius, &cond.geo_polygon) {
                    (Some(area), _, _) => Some(Query::GeoBox(area)),
                    (_, Some(circle), _) => Some(Query::GeoRadius(circle)),
                    (_, _, Some(polygon)) => Some(Query::GeoPolygon(polygon)),
                    _ => None,
                }
            }
        }
    }
}

/// For `match.any` / `match.except` with an empty list (of either type), whether it is
/// `except`. Such a condition depends on no value's type: `any` matches nothing, `except`
/// every offset with a non-null value.
fn empty_list(m: &Match) -> Option<bool> {
    let empty = |list: &AnyVariants| match list {
        AnyVariants::Keywords(list) => list.is_empty(),
        AnyVariants::Integers(list) => list.is_empty(),
    };
    match m {
        Match::Any(list) if empty(list) => Some(false),
        Match::Except(list) if empty(list) => Some(true),
        _ => None,
    }
}

/// The bounds of a numeric range (no date-time bound; with no bound at all `storage::filter`
/// reads a range as numeric too).
fn number_bounds(range: &Range) -> Option<Bounds<f64>> {
    let number = |bound: &Option<RangeValue>| match bound {
        None => Some(None),
        Some(RangeValue::Number(n)) => Some(Some(*n)),
        Some(RangeValue::DateTime(_)) => None,
    };
    Some(Bounds {
        gt: number(&range.gt)?,
        gte: number(&range.gte)?,
        lt: number(&range.lt)?,
        lte: number(&range.lte)?,
    })
}

/// The bounds of a date-time range: at least one bound, all date-times that parse.
fn moment_bounds(range: &Range) -> Option<Bounds<Moment>> {
    let moment = |bound: &Option<RangeValue>| match bound {
        None => Some(None),
        Some(RangeValue::DateTime(text)) => parse_datetime(text).map(|t| Some(Moment::from(t))),
        Some(RangeValue::Number(_)) => None,
    };
    let bounds = Bounds {
        gt: moment(&range.gt)?,
        gte: moment(&range.gte)?,
        lt: moment(&range.lt)?,
        lte: moment(&range.lte)?,
    };
    let any = bounds.gt.is_some() || bounds.gte.is_some() || bounds.lt.is_some();
    (any || bounds.lte.is_some()).then_some(bounds)
}

/// The entries of `ordered` (sorted by value) within numeric `bounds`.
fn number_span<'a>(
    ordered: &'a [(OrderValue, u32)],
    bounds: &Bounds<f64>,
) -> &'a [(OrderValue, u32)] {
    // Values ascend, so "above the lower bounds" turns true once and "below the upper bounds"
    // false once; between the two points every entry is within.
    let lo = ordered.partition_point(|&(v, _)| !bounds.above_lower(v.as_f64()));
    let hi = ordered.partition_point(|&(v, _)| bounds.below_upper(v.as_f64()));
    ordered.get(lo..hi).unwrap_or(&[])
}

/// The positions `lo..hi` of `ordered` (by whole microseconds) that may be within `bounds`:
/// whole microseconds decide except at a bound's own microsecond, which needs the exact check.
fn moment_span(ordered: &[(OrderValue, u32)], bounds: &Bounds<Moment>) -> (usize, usize) {
    let lower = [bounds.gt, bounds.gte]
        .into_iter()
        .flatten()
        .map(|m| m.micros)
        .max();
    let upper = [bounds.lt, bounds.lte]
        .into_iter()
        .flatten()
        .map(|m| m.micros)
        .min();
    let lo = lower.map_or(0, |l| ordered.partition_point(|&(v, _)| v.as_i64() < l));
    let hi = upper.map_or(ordered.len(), |u| {
        ordered.partition_point(|&(v, _)| v.as_i64() <= u)
    });
    (lo, hi.max(lo))
}

/// The stray numbers of `offset` (`strays` is sorted by offset).
fn strays_at(strays: &[(u32, f64)], offset: u32) -> impl Iterator<Item = f64> + '_ {
    let start = strays.partition_point(|&(o, _)| o < offset);
    strays
        .get(start..)
        .unwrap_or(&[])
        .iter()
        .take_while(move |&&(o, _)| o == offset)
        .map(|&(_, x)| x)
}

fn scan_geo(by_offset: &Groups<GeoPoint>, hit: impl Fn(GeoPoint) -> bool) -> Vec<u32> {
    (0..by_offset.len())
        .filter(|&o| by_offset.get(o).iter().any(|&p| hit(p)))
        .map(|o| o as u32)
        .collect()
}
