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
//! [`FieldIndex::encode`] stores the parts that cannot be derived cheaply, little-endian;
//! [`FieldIndex::decode`] derives the rest as a build does (so they agree by construction) and
//! checks every invariant the queries rely on, so that bad bytes give an error, not a panic or
//! a wrong answer. Counts are u64, offsets u32 (each below the segment's length), group sizes
//! u32, floats f64 bits (finite). The key, kind and length are the caller's, not stored.
//! - A tag byte: 0 for an index that decides nothing, else the kind's code (keyword 1,
//!   integer 2, float 3, bool 4, datetime 5, geo 6), which must be the expected kind's.
//! - Keyword, integer, bool (postings): the number of values, then the values strictly
//!   ascending (keyword: u64 byte length and UTF-8; integer: i64; bool: one byte, 0 or 1); one
//!   u32 size per value, then the posting lists back to back (non-empty, offsets strictly
//!   ascending); then the `other` bitset as `len.div_ceil(64)` u64 words, no bit set past
//!   `len`. Per-offset value ids, counts and an integer index's ordered pairs are derived.
//! - Integer, after the postings: the number of strays, then `(offset u32, value f64)` pairs,
//!   offsets ascending, each offset marked in `other`.
//! - Float: the number of entries, then `(value f64, offset u32)` entries strictly ascending
//!   (value by `total_cmp`, then offset): the ordered pairs. Per-offset values are derived.
//! - Datetime: the number of entries, then `(micros i64, offset u32, sub-micro ns u16 < 1000)`
//!   entries strictly ascending as tuples. Ordered pairs and per-offset instants are derived.
//! - Geo: one u32 size per offset (`len` of them), then `(lon f64, lat f64)` points back to
//!   back.
//!
//! Nothing follows the last part.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::slice;

use serde_json::Value;

use super::bytes::{put_len, put_u32, put_u64, ByteReader};
use super::filter::{geo_point, in_box, in_circle, values_at};
use crate::models::{
    parse_datetime, AnyVariants, FieldCondition, GeoBoundingBox, GeoPoint, GeoRadius, Match,
    MatchValue, Payload, PayloadSchemaType, Range, RangeValue, UtcInstant,
};

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
            (Data::Geo(_), Query::GeoBox(_) | Query::GeoRadius(_)) => points,
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
            PayloadSchemaType::Geo => match (&cond.geo_bounding_box, &cond.geo_radius) {
                (Some(area), _) => Some(Query::GeoBox(area)),
                (_, Some(circle)) => Some(Query::GeoRadius(circle)),
                _ => None,
            },
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

// ---------------------------------------------------------------------------------------------
// Encoding (see "Encoding" in the module docs)

/// The byte that names `kind` in encodings (also used by `payload_index.rs` for the schema list).
pub(crate) fn kind_code(kind: PayloadSchemaType) -> u8 {
    match kind {
        PayloadSchemaType::Keyword => 1,
        PayloadSchemaType::Integer => 2,
        PayloadSchemaType::Float => 3,
        PayloadSchemaType::Bool => 4,
        PayloadSchemaType::Datetime => 5,
        PayloadSchemaType::Geo => 6,
    }
}

/// The kind named by `code`, the inverse of [`kind_code`].
pub(crate) fn kind_of_code(code: u8) -> Option<PayloadSchemaType> {
    Some(match code {
        1 => PayloadSchemaType::Keyword,
        2 => PayloadSchemaType::Integer,
        3 => PayloadSchemaType::Float,
        4 => PayloadSchemaType::Bool,
        5 => PayloadSchemaType::Datetime,
        6 => PayloadSchemaType::Geo,
        _ => return None,
    })
}

/// Tag of `Data::Unindexed`; the other variants use their kind's code.
const UNINDEXED: u8 = 0;

/// Group sizes as u32 each: every group (a value's posting list, an offset's values) is
/// smaller than `u32::MAX` because offsets and value ids fit in `u32`.
fn put_group_sizes<T>(out: &mut Vec<u8>, groups: &Groups<T>) {
    for w in groups.starts.windows(2) {
        put_u32(out, (w[1] - w[0]) as u32);
    }
}

impl<K> Postings<K> {
    /// Keys (by `put_key`), then per key its posting list, then the `other` bitset. `by_offset`
    /// and the counts are derived again on decoding.
    fn encode(&self, out: &mut Vec<u8>, put_key: impl Fn(&mut Vec<u8>, &K)) {
        put_len(out, self.keys.len());
        for key in &self.keys {
            put_key(out, key);
        }
        put_group_sizes(out, &self.by_value);
        for &offset in &self.by_value.items {
            put_u32(out, offset);
        }
        for &word in &self.other.0 {
            put_u64(out, word);
        }
    }
}

impl FieldIndex {
    /// Appends this index's encoding (layout in the module docs) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match &self.data {
            Data::Unindexed => out.push(UNINDEXED),
            Data::Keyword(postings) => {
                out.push(kind_code(PayloadSchemaType::Keyword));
                postings.encode(out, |out, key| {
                    put_len(out, key.len());
                    out.extend_from_slice(key.as_bytes());
                });
            }
            Data::Integer {
                postings, strays, ..
            } => {
                out.push(kind_code(PayloadSchemaType::Integer));
                postings.encode(out, |out, &key| out.extend_from_slice(&key.to_le_bytes()));
                put_len(out, strays.len());
                for &(offset, x) in strays {
                    put_u32(out, offset);
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Data::Bool(postings) => {
                out.push(kind_code(PayloadSchemaType::Bool));
                postings.encode(out, |out, &key| out.push(u8::from(key)));
            }
            Data::Float { ordered, .. } => {
                out.push(kind_code(PayloadSchemaType::Float));
                put_len(out, ordered.len());
                for &(value, offset) in ordered {
                    out.extend_from_slice(&value.as_f64().to_le_bytes());
                    put_u32(out, offset);
                }
            }
            Data::Datetime {
                ordered,
                sub_micros,
                ..
            } => {
                out.push(kind_code(PayloadSchemaType::Datetime));
                put_len(out, ordered.len());
                for (&(value, offset), &sub) in ordered.iter().zip(sub_micros) {
                    out.extend_from_slice(&value.as_i64().to_le_bytes());
                    put_u32(out, offset);
                    out.extend_from_slice(&sub.to_le_bytes());
                }
            }
            Data::Geo(by_offset) => {
                out.push(kind_code(PayloadSchemaType::Geo));
                put_group_sizes(out, by_offset);
                for point in &by_offset.items {
                    out.extend_from_slice(&point.lon.to_le_bytes());
                    out.extend_from_slice(&point.lat.to_le_bytes());
                }
            }
        }
    }

    /// The index of `key` as `kind` over `len` offsets encoded in `bytes` by
    /// [`FieldIndex::encode`]; `Err` when the bytes are not a valid encoding of such an index.
    pub(crate) fn decode(
        bytes: &[u8],
        key: &str,
        kind: PayloadSchemaType,
        len: usize,
    ) -> Result<FieldIndex, String> {
        let mut r = ByteReader::new(bytes);
        let tag = r.u8()?;
        let data = if tag == UNINDEXED {
            Data::Unindexed
        } else if tag != kind_code(kind) {
            return Err(format!("tag {tag} does not name a {kind:?} index"));
        } else if u32::try_from(len).is_err() {
            // `build` never indexes that many offsets; offsets below must fit in u32.
            return Err(format!("{len} offsets cannot be indexed"));
        } else {
            match kind {
                PayloadSchemaType::Keyword => Data::Keyword(decode_postings(&mut r, len, |r| {
                    let n = r.count(1, "keyword bytes")?;
                    let text =
                        std::str::from_utf8(r.take(n, "a keyword")?).map_err(|e| e.to_string())?;
                    Ok(Box::from(text))
                })?),
                PayloadSchemaType::Integer => {
                    let postings = decode_postings(&mut r, len, |r| r.i64())?;
                    let strays = decode_strays(&mut r, len, &postings.other)?;
                    // Built exactly as `build_integer` does, from the validated posting lists.
                    let ordered = postings
                        .keys
                        .iter()
                        .enumerate()
                        .flat_map(|(id, &n)| {
                            postings
                                .by_value
                                .get(id)
                                .iter()
                                .map(move |&o| (OrderValue::Int(n), o))
                        })
                        .collect();
                    Data::Integer {
                        postings,
                        ordered,
                        strays,
                    }
                }
                PayloadSchemaType::Bool => {
                    Data::Bool(decode_postings(&mut r, len, |r| match r.u8()? {
                        0 => Ok(false),
                        1 => Ok(true),
                        b => Err(format!("bool byte {b}")),
                    })?)
                }
                PayloadSchemaType::Float => {
                    let n = r.count(12, "float entries")?;
                    let mut ordered = Vec::with_capacity(n);
                    for _ in 0..n {
                        let x = r.finite_f64()?;
                        let o = r.offset(len)?;
                        ordered.push((OrderValue::Float(x), o));
                    }
                    // Strictly ascending by (value, offset): sorted for binary searches, and no
                    // offset lists a value twice.
                    if ordered
                        .windows(2)
                        .any(|w| (w[0].0, w[0].1) >= (w[1].0, w[1].1))
                    {
                        return Err("float entries not strictly ascending".into());
                    }
                    let by_offset = group_by_offset(len, &ordered, |&(v, o)| (o, v.as_f64()));
                    Data::Float { by_offset, ordered }
                }
                PayloadSchemaType::Datetime => {
                    let n = r.count(14, "datetime entries")?;
                    let mut entries: Vec<(i64, u32, u16)> = Vec::with_capacity(n);
                    for _ in 0..n {
                        let micros = r.i64()?;
                        let o = r.offset(len)?;
                        let sub = r.u16()?;
                        if sub >= 1000 {
                            return Err(format!("{sub} nanoseconds below a microsecond"));
                        }
                        entries.push((micros, o, sub));
                    }
                    // Sorted as `build_datetime` sorts them, without duplicates.
                    if entries.windows(2).any(|w| w[0] >= w[1]) {
                        return Err("date-time entries not strictly ascending".into());
                    }
                    let ordered: Vec<(OrderValue, u32)> = entries
                        .iter()
                        .map(|&(micros, o, _)| (OrderValue::Int(micros), o))
                        .collect();
                    let by_offset = group_by_offset(len, &entries, |&(micros, o, sub)| {
                        (o, Moment { micros, sub })
                    });
                    Data::Datetime {
                        by_offset,
                        ordered,
                        sub_micros: entries.iter().map(|&(_, _, sub)| sub).collect(),
                    }
                }
                PayloadSchemaType::Geo => {
                    let Starts { starts, total } = decode_groups(&mut r, len)?;
                    let mut items = Vec::with_capacity(r.items(total, 16, "geo points")?);
                    for _ in 0..total {
                        items.push(GeoPoint {
                            lon: r.finite_f64()?,
                            lat: r.finite_f64()?,
                        });
                    }
                    Data::Geo(Groups { starts, items })
                }
            }
        };
        if r.remaining() != 0 {
            return Err(format!("{} bytes after the index", r.remaining()));
        }
        Ok(FieldIndex::from_data(key, kind, len, data))
    }
}

/// Group starts read from their sizes, before the items: `total` items follow.
struct Starts {
    starts: Vec<usize>,
    total: usize,
}

/// `count` group sizes (u32 each) as starts, checking that they fit the remaining bytes.
fn decode_groups(r: &mut ByteReader<'_>, count: usize) -> Result<Starts, String> {
    r.items(count, 4, "group sizes")?;
    let mut starts = Vec::with_capacity(count + 1);
    let mut total = 0usize;
    starts.push(0);
    for _ in 0..count {
        total = total
            .checked_add(r.u32()? as usize)
            .ok_or("group sizes overflow")?;
        starts.push(total);
    }
    Ok(Starts { starts, total })
}

/// Postings of `len` offsets whose keys `key` reads, checking every invariant queries use:
/// keys strictly ascending, posting lists non-empty, strictly ascending and below `len`, the
/// `other` bitset clear past `len`.
fn decode_postings<K: Ord>(
    r: &mut ByteReader<'_>,
    len: usize,
    mut key: impl FnMut(&mut ByteReader<'_>) -> Result<K, String>,
) -> Result<Postings<K>, String> {
    // Every key takes at least one byte, so the count is bounded by the bytes left.
    let n = r.count(1, "values")?;
    u32::try_from(n).map_err(|_| "more values than u32 ids")?;
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let k = key(r)?;
        if keys.last().is_some_and(|last| *last >= k) {
            return Err("keys not strictly ascending".into());
        }
        keys.push(k);
    }
    let Starts { starts, total } = decode_groups(r, n)?;
    let mut items = Vec::with_capacity(r.items(total, 4, "posting offsets")?);
    for _ in 0..total {
        items.push(r.offset(len)?);
    }
    let by_value = Groups { starts, items };
    for id in 0..n {
        let list = by_value.get(id);
        if list.is_empty() || list.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("posting list {id} empty or not strictly ascending"));
        }
    }
    let words = len.div_ceil(64);
    r.items(words, 8, "bitset words")?;
    let mut other = Vec::with_capacity(words);
    for _ in 0..words {
        other.push(r.u64()?);
    }
    if !len.is_multiple_of(64) && other.last().is_some_and(|&w| w >> (len % 64) != 0) {
        return Err("bits set past the last offset".into());
    }
    Ok(Postings::assemble(len, keys, by_value, Bits(other)))
}

/// The strays of an integer index: sorted by offset, below `len`, finite, and each at an
/// offset marked in `other` (as every number that is not an `i64` is).
fn decode_strays(
    r: &mut ByteReader<'_>,
    len: usize,
    other: &Bits,
) -> Result<Vec<(u32, f64)>, String> {
    let n = r.count(12, "strays")?;
    let mut strays: Vec<(u32, f64)> = Vec::with_capacity(n);
    for _ in 0..n {
        let o = r.offset(len)?;
        let x = r.finite_f64()?;
        if strays.last().is_some_and(|&(last, _)| last > o) || !other.get(o) {
            return Err(
                "strays not sorted by offset, or at an offset without another value".into(),
            );
        }
        strays.push((o, x));
    }
    Ok(strays)
}

/// Per offset below `len`, the values of `entries` at that offset, in entry order (a stable
/// counting sort); `split` gives an entry's offset (below `len`) and value.
fn group_by_offset<E, T: Copy + Default>(
    len: usize,
    entries: &[E],
    split: impl Fn(&E) -> (u32, T),
) -> Groups<T> {
    let mut starts = vec![0usize; len + 1];
    for e in entries {
        if let Some(count) = starts.get_mut(split(e).0 as usize + 1) {
            *count += 1;
        }
    }
    let mut total = 0;
    for start in &mut starts {
        total += *start;
        *start = total;
    }
    let mut next = starts.clone();
    let mut items = vec![T::default(); total];
    for e in entries {
        let (offset, value) = split(e);
        if let Some(slot) = next.get_mut(offset as usize) {
            if let Some(item) = items.get_mut(*slot) {
                *item = value;
            }
            *slot += 1;
        }
    }
    Groups { starts, items }
}

/// The reads of an index encoding beyond plain integers: values the queries rely on.
trait IndexReads {
    /// A finite `f64` (JSON numbers are finite; NaN would break the sorted arrays' order).
    fn finite_f64(&mut self) -> Result<f64, String>;
    /// An offset below `len`.
    fn offset(&mut self, len: usize) -> Result<u32, String>;
}

impl IndexReads for ByteReader<'_> {
    fn finite_f64(&mut self) -> Result<f64, String> {
        let x = self.f64()?;
        if x.is_finite() {
            Ok(x)
        } else {
            Err(format!("non-finite number {x}"))
        }
    }

    fn offset(&mut self, len: usize) -> Result<u32, String> {
        let o = self.u32()?;
        if (o as usize) < len {
            Ok(o)
        } else {
            Err(format!("offset {o} not below {len}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building

/// The values `key` reaches in `payload`, with array values opened one level, as
/// `storage::filter` checks them.
fn leaves_of<'a>(payload: &'a Payload, key: &str) -> Vec<&'a Value> {
    values_at(payload, key)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|value| match value {
            Value::Array(items) => items.as_slice(),
            single => slice::from_ref(single),
        })
        .collect()
}

/// Calls `visit` with each offset and its leaves, in offset order; `len` fits in `u32`.
fn scan(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
    mut visit: impl FnMut(u32, &[&Value]),
) {
    for offset in 0..len {
        let payload = payload_at(offset);
        let leaves = payload
            .as_ref()
            .map(|p| leaves_of(p, key))
            .unwrap_or_default();
        visit(offset as u32, &leaves);
    }
}

/// Appends `offset` to the posting list of `value`, creating it with `owned` if new.
fn post<K: Ord + Borrow<Q>, Q: Ord + ?Sized>(
    map: &mut BTreeMap<K, Vec<u32>>,
    value: &Q,
    offset: u32,
    owned: impl FnOnce() -> K,
) {
    match map.get_mut(value) {
        Some(offsets) => offsets.push(offset),
        None => {
            map.insert(owned(), vec![offset]);
        }
    }
}

fn build_keyword(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
) -> Data {
    let mut map: BTreeMap<Box<str>, Vec<u32>> = BTreeMap::new();
    let mut other = Bits::new(len);
    scan(key, len, payload_at, |offset, leaves| {
        let mut words: Vec<&str> = Vec::new();
        for leaf in leaves {
            match leaf {
                Value::Null => {}
                Value::String(word) => words.push(word),
                _ => other.set(offset),
            }
        }
        words.sort_unstable();
        words.dedup();
        for word in words {
            post(&mut map, word, offset, || word.into());
        }
    });
    Postings::new(len, map, other).map_or(Data::Unindexed, Data::Keyword)
}

fn build_integer(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
) -> Data {
    let mut map: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    let mut other = Bits::new(len);
    let mut strays = Vec::new();
    scan(key, len, payload_at, |offset, leaves| {
        let mut numbers: Vec<i64> = Vec::new();
        for leaf in leaves {
            match leaf {
                Value::Null => {}
                Value::Number(n) => match n.as_i64() {
                    Some(n) => numbers.push(n),
                    None => {
                        other.set(offset);
                        if let Some(x) = n.as_f64() {
                            strays.push((offset, x));
                        }
                    }
                },
                _ => other.set(offset),
            }
        }
        numbers.sort_unstable();
        numbers.dedup();
        for n in numbers {
            post(&mut map, &n, offset, || n);
        }
    });
    let ordered: Vec<(OrderValue, u32)> = map
        .iter()
        .flat_map(|(&n, offsets)| offsets.iter().map(move |&o| (OrderValue::Int(n), o)))
        .collect();
    strays.shrink_to_fit();
    match Postings::new(len, map, other) {
        Some(postings) => Data::Integer {
            postings,
            ordered,
            strays,
        },
        None => Data::Unindexed,
    }
}

fn build_bool(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
) -> Data {
    let mut map: BTreeMap<bool, Vec<u32>> = BTreeMap::new();
    let mut other = Bits::new(len);
    scan(key, len, payload_at, |offset, leaves| {
        let (mut seen_false, mut seen_true) = (false, false);
        for leaf in leaves {
            match leaf {
                Value::Null => {}
                Value::Bool(false) => seen_false = true,
                Value::Bool(true) => seen_true = true,
                _ => other.set(offset),
            }
        }
        for (b, seen) in [(false, seen_false), (true, seen_true)] {
            if seen {
                post(&mut map, &b, offset, || b);
            }
        }
    });
    Postings::new(len, map, other).map_or(Data::Unindexed, Data::Bool)
}

fn build_float(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
) -> Data {
    let mut by_offset = Groups::new();
    let mut entries: Vec<(f64, u32)> = Vec::new();
    scan(key, len, payload_at, |offset, leaves| {
        let mut numbers: Vec<f64> = leaves.iter().filter_map(|v| v.as_f64()).collect();
        numbers.sort_unstable_by(f64::total_cmp);
        numbers.dedup_by(|a, b| a.total_cmp(b).is_eq());
        entries.extend(numbers.iter().map(|&x| (x, offset)));
        by_offset.push(numbers);
    });
    entries.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Data::Float {
        by_offset: by_offset.finish(),
        ordered: entries
            .into_iter()
            .map(|(x, o)| (OrderValue::Float(x), o))
            .collect(),
    }
}

fn build_datetime(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
) -> Data {
    let mut by_offset = Groups::new();
    let mut entries: Vec<(i64, u32, u16)> = Vec::new();
    scan(key, len, payload_at, |offset, leaves| {
        let mut moments: Vec<Moment> = leaves
            .iter()
            .filter_map(|v| v.as_str().and_then(parse_datetime))
            .map(Moment::from)
            .collect();
        moments.sort_unstable();
        moments.dedup();
        entries.extend(moments.iter().map(|m| (m.micros, offset, m.sub)));
        by_offset.push(moments);
    });
    entries.sort_unstable();
    Data::Datetime {
        by_offset: by_offset.finish(),
        ordered: entries
            .iter()
            .map(|&(micros, o, _)| (OrderValue::Int(micros), o))
            .collect(),
        sub_micros: entries.iter().map(|&(_, _, sub)| sub).collect(),
    }
}

fn build_geo(key: &str, len: usize, payload_at: &mut impl FnMut(usize) -> Option<Payload>) -> Data {
    let mut by_offset = Groups::new();
    scan(key, len, payload_at, |_, leaves| {
        by_offset.push(leaves.iter().filter_map(|v| geo_point(v)));
    });
    Data::Geo(by_offset.finish())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::models::{Condition, Filter, PointId, ValuesCount};
    use crate::storage::filter::matches;

    const KINDS: [PayloadSchemaType; 6] = [
        PayloadSchemaType::Keyword,
        PayloadSchemaType::Integer,
        PayloadSchemaType::Float,
        PayloadSchemaType::Bool,
        PayloadSchemaType::Datetime,
        PayloadSchemaType::Geo,
    ];

    fn payload(value: Value) -> Payload {
        match value {
            Value::Object(map) => map,
            other => panic!("a payload is an object, not {other}"),
        }
    }

    fn build(key: &str, kind: PayloadSchemaType, docs: &[Option<Payload>]) -> FieldIndex {
        FieldIndex::build(key, kind, docs.len(), |o| docs.get(o).cloned().flatten())
    }

    fn docs_of(values: impl IntoIterator<Item = Value>) -> Vec<Option<Payload>> {
        values.into_iter().map(|v| Some(payload(v))).collect()
    }

    /// The offsets `storage::filter` matches with `cond`.
    fn reference(cond: &FieldCondition, docs: &[Option<Payload>]) -> Vec<u32> {
        let filter = Filter::must([cond.clone().into()]);
        (0..docs.len())
            .filter(|&o| matches(&filter, &PointId::Num(o as u64), docs[o].as_ref()))
            .map(|o| o as u32)
            .collect()
    }

    fn field(condition: Condition) -> FieldCondition {
        match condition {
            Condition::Field(field) => field,
            other => panic!("not a field condition: {other:?}"),
        }
    }

    /// Asserts that `index` decides `cond` with `expected`, which `storage::filter` agrees
    /// with, through `matching`, `check` and `estimate`.
    fn decides(index: &FieldIndex, cond: Condition, docs: &[Option<Payload>], expected: &[u32]) {
        let cond = field(cond);
        assert_eq!(reference(&cond, docs), expected, "filter.rs on {cond:?}");
        assert_eq!(index.matching(&cond).as_deref(), Some(expected), "{cond:?}");
        for o in 0..docs.len() as u32 {
            assert_eq!(
                index.check(o, &cond),
                Some(expected.contains(&o)),
                "offset {o}, {cond:?}"
            );
        }
        let estimate = index.estimate(&cond).expect("an estimate");
        assert!(estimate >= expected.len(), "{estimate} for {cond:?}");
    }

    fn declines(index: &FieldIndex, cond: Condition) {
        let cond = field(cond);
        assert_eq!(index.matching(&cond), None, "{cond:?}");
        assert_eq!(index.estimate(&cond), None, "{cond:?}");
        assert_eq!(index.check(0, &cond), None, "{cond:?}");
    }

    #[test]
    fn keys_with_dots_brackets_and_arrays() {
        let docs = docs_of([
            json!({"country": {"cities": [{"name": "Berlin"}, {"name": ["Bonn", "Munich"]}]},
                   "a.b": "x", "tags": ["p", "q"]}),
            json!({"country": {"cities": {"name": "Berlin"}}, "a": {"b": "x"}, "tags": "q"}),
            json!({"country": {"cities": [{"name": [["Berlin"]]}]}, "a.b": ["x", null],
                   "tags": [["q"], "r"]}),
        ]);
        let kw = PayloadSchemaType::Keyword;
        // `cities[]` enters the array; `cities.name` does not, and an object is not an array.
        let index = build("country.cities[].name", kw, &docs);
        decides(
            &index,
            Condition::matches("country.cities[].name", "Berlin"),
            &docs,
            &[0],
        );
        decides(
            &index,
            Condition::matches("country.cities[].name", "Munich"),
            &docs,
            &[0],
        );
        // Only one level of array is opened: `[["Berlin"]]` holds no string.
        assert_eq!(index.points(), 1);
        let index = build("country.cities.name", kw, &docs);
        decides(
            &index,
            Condition::matches("country.cities.name", "Berlin"),
            &docs,
            &[1],
        );
        // A quoted name is one field with a dot in it.
        let index = build("\"a.b\"", kw, &docs);
        decides(&index, Condition::matches("\"a.b\"", "x"), &docs, &[0, 2]);
        let index = build("a.b", kw, &docs);
        decides(&index, Condition::matches("a.b", "x"), &docs, &[1]);
        // `[1]` picks one element; `[]` and the bare key both open the array.
        let index = build("tags[1]", kw, &docs);
        decides(&index, Condition::matches("tags[1]", "q"), &docs, &[0]);
        decides(&index, Condition::matches("tags[1]", "r"), &docs, &[2]);
        // The bare key checks an array's elements; `[["q"], "r"]` holds no "q" one level down.
        let index = build("tags", kw, &docs);
        decides(&index, Condition::matches("tags", "q"), &docs, &[0, 1]);
        decides(
            &index,
            Condition::match_any("tags", ["p", "r"]),
            &docs,
            &[0, 2],
        );
        // `tags[]` reaches the elements (nothing in a plain string) and opens each one that is
        // an array, so `["q"]` counts there.
        let index = build("tags[]", kw, &docs);
        decides(&index, Condition::matches("tags[]", "q"), &docs, &[0, 2]);
        decides(
            &index,
            Condition::match_any("tags[]", ["p", "r"]),
            &docs,
            &[0, 2],
        );
        // A condition on another key (even an equivalent spelling) is not this index's.
        declines(&index, Condition::matches("tags", "q"));
    }

    #[test]
    fn except_counts_values_of_other_types() {
        let docs = docs_of([
            json!({"c": "black"}),
            json!({"c": "green"}),
            json!({"c": ["black", "green"]}),
            json!({"c": ["black", "yellow"]}),
            json!({"c": null}),
            json!({"c": []}),
            json!({"c": [null]}),
            json!({}),
            json!({"c": 3}),
            json!({"c": ["black", {"r": 1}]}),
            json!({"c": ["black", [null]]}),
        ]);
        let index = build("c", PayloadSchemaType::Keyword, &docs);
        let except = |list: &[&str]| Condition::match_except("c", list.to_vec());
        decides(
            &index,
            except(&["black", "yellow"]),
            &docs,
            &[1, 2, 8, 9, 10],
        );
        decides(
            &index,
            except(&["black", "green", "yellow"]),
            &docs,
            &[8, 9, 10],
        );
        // An empty list: every offset with a non-null value.
        decides(&index, except(&[]), &docs, &[0, 1, 2, 3, 8, 9, 10]);
        decides(
            &index,
            Condition::match_except("c", Vec::<i64>::new()),
            &docs,
            &[0, 1, 2, 3, 8, 9, 10],
        );
        decides(
            &index,
            Condition::match_any("c", Vec::<&str>::new()),
            &docs,
            &[],
        );
        // Integers against strings need the integers, which a keyword index does not keep.
        declines(&index, Condition::match_except("c", [3]));
        declines(&index, Condition::match_any("c", [3]));
        declines(&index, Condition::matches("c", 3));

        let docs = docs_ints();
        let index = build("n", PayloadSchemaType::Integer, &docs);
        decides(
            &index,
            Condition::match_except("n", [1, 2]),
            &docs,
            &[2, 3, 4, 5, 6],
        );
        decides(
            &index,
            Condition::match_except("n", [1, 2, 3]),
            &docs,
            &[3, 4, 5, 6],
        );
    }

    /// Integers, a float equal to one, a number past i64, a string and mixed arrays.
    fn docs_ints() -> Vec<Option<Payload>> {
        docs_of([
            json!({"n": 1}),
            json!({"n": [1, 2]}),
            json!({"n": [2, 3]}),
            json!({"n": 1.0}),
            json!({"n": 18446744073709551615u64}),
            json!({"n": "1"}),
            json!({"n": [1, true]}),
            json!({"n": null}),
        ])
    }

    #[test]
    fn integer_index_keeps_floats_out_of_matches_but_in_ranges() {
        let docs = docs_ints();
        let index = build("n", PayloadSchemaType::Integer, &docs);
        assert_eq!(index.points(), 4);
        decides(&index, Condition::matches("n", 1), &docs, &[0, 1, 6]);
        decides(&index, Condition::match_any("n", [2, 3, 7]), &docs, &[1, 2]);
        decides(&index, Condition::match_any("n", [-1]), &docs, &[]);
        // Ranges compare every number as storage::filter does, floats and huge ones included.
        let range = |r: Range| Condition::range("n", r);
        decides(
            &index,
            range(Range::default().gte(1).lt(2)),
            &docs,
            &[0, 1, 3, 6],
        );
        decides(&index, range(Range::default().gt(1)), &docs, &[1, 2, 4]);
        decides(
            &index,
            range(Range::default().gt(1.5).lte(2.0)),
            &docs,
            &[1, 2],
        );
        decides(&index, range(Range::default().gte(1e19)), &docs, &[4]);
        decides(&index, range(Range::default().lt(0.5)), &docs, &[]);
        decides(&index, range(Range::default().gt(3).lt(1)), &docs, &[]);
        // i64::MAX rounds up to 2^63 as f64, as in storage::filter.
        let big = docs_of([json!({"n": i64::MAX}), json!({"n": i64::MIN})]);
        let index = build("n", PayloadSchemaType::Integer, &big);
        decides(
            &index,
            range(Range::default().gte(i64::MAX as f64)),
            &big,
            &[0],
        );
        decides(&index, range(Range::default().lt(-9.2e18)), &big, &[1]);
        // Keyword, bool and date-time conditions are not an integer index's.
        declines(&index, Condition::matches("n", "1"));
        declines(&index, Condition::match_any("n", ["1"]));
        declines(&index, Condition::matches("n", true));
        declines(
            &index,
            Condition::range("n", Range::default().gt("2023-01-01")),
        );
    }

    #[test]
    fn float_index_covers_integers_and_floats() {
        let docs = docs_of([
            json!({"p": 100}),
            json!({"p": 100.0}),
            json!({"p": 450.5}),
            json!({"p": [1, 200]}),
            json!({"p": "200"}),
            json!({"p": -0.0}),
            json!({"p": 18446744073709551615u64}),
            json!({}),
        ]);
        let index = build("p", PayloadSchemaType::Float, &docs);
        assert_eq!(index.points(), 6);
        let range = |r: Range| Condition::range("p", r);
        decides(
            &index,
            range(Range::default().gte(100).lt(450.5)),
            &docs,
            &[0, 1, 3],
        );
        decides(
            &index,
            range(Range::default().gte(0.0).lte(0.0)),
            &docs,
            &[5],
        );
        decides(
            &index,
            range(Range::default().gt(-0.0)),
            &docs,
            &[0, 1, 2, 3, 6],
        );
        decides(
            &index,
            range(Range::default().lte(1e300)),
            &docs,
            &[0, 1, 2, 3, 5, 6],
        );
        declines(&index, Condition::matches("p", 100));
        declines(&index, Condition::match_except("p", [100]));
        declines(
            &index,
            Condition::range("p", Range::default().gt("2023-01-01")),
        );
    }

    #[test]
    fn datetime_ranges_compare_exact_instants() {
        let docs = docs_of([
            json!({"d": "2023-02-08T10:49:00Z"}),
            json!({"d": "2023-02-08T11:49:00+01:00"}),
            json!({"d": "2023-02-08T10:49:00.0000005Z"}),
            json!({"d": "2023-02-08T10:49:00.000001Z"}),
            json!({"d": ["2020-01-01", "2023-06-01T00:00:00-07:00"]}),
            json!({"d": "June 2023"}),
            json!({"d": 1_700_000_000}),
            json!({"d": "1969-12-31T23:59:59.9999995Z"}),
        ]);
        let index = build("d", PayloadSchemaType::Datetime, &docs);
        assert_eq!(index.points(), 6);
        let range = |r: Range| Condition::range("d", r);
        // Half a microsecond past the bound is past it, though the whole microseconds tie.
        decides(
            &index,
            range(Range::default().gt("2023-02-08T10:49:00Z")),
            &docs,
            &[2, 3, 4],
        );
        decides(
            &index,
            range(
                Range::default()
                    .gte("2023-02-08T11:49:00+01:00")
                    .lt("2023-02-08T10:49:00.0000005Z"),
            ),
            &docs,
            &[0, 1],
        );
        decides(
            &index,
            range(Range::default().lte("2023-02-08T10:49:00.0000004Z")),
            &docs,
            &[0, 1, 4, 7],
        );
        decides(
            &index,
            range(
                Range::default()
                    .gt("2023-02-08T10:49:00.0000005Z")
                    .lte("2023-02-08 10:49:00.000001"),
            ),
            &docs,
            &[3],
        );
        // Before the epoch, the sub-microsecond part still orders.
        decides(
            &index,
            range(
                Range::default()
                    .gt("1969-12-31T23:59:59.999999Z")
                    .lt("1970-01-01"),
            ),
            &docs,
            &[7],
        );
        decides(
            &index,
            range(Range::default().gte("2024-01-01")),
            &docs,
            &[],
        );
        // Numeric bounds (and a range with none, which storage::filter reads as numeric) are
        // not a date-time index's; nor are unparsable bounds.
        declines(&index, range(Range::default().gt(1)));
        declines(&index, Condition::range("d", Range::default()));
        declines(&index, range(Range::default().gt("yesterday")));
        declines(&index, range(Range::default().gt(1).lt("2024-01-01")));
    }

    #[test]
    fn bool_index_matches_bools_only() {
        let docs = docs_of([
            json!({"b": true}),
            json!({"b": false}),
            json!({"b": [true, false]}),
            json!({"b": "true"}),
            json!({"b": 1}),
            json!({"b": null}),
        ]);
        let index = build("b", PayloadSchemaType::Bool, &docs);
        assert_eq!(index.points(), 3);
        decides(&index, Condition::matches("b", true), &docs, &[0, 2]);
        decides(&index, Condition::matches("b", false), &docs, &[1, 2]);
        decides(
            &index,
            Condition::match_except("b", Vec::<&str>::new()),
            &docs,
            &[0, 1, 2, 3, 4],
        );
        declines(&index, Condition::matches("b", "true"));
        declines(&index, Condition::match_except("b", ["true"]));
    }

    #[test]
    fn geo_box_and_radius() {
        let docs = docs_of([
            json!({"l": {"lon": 13.41, "lat": 52.513}}),
            json!({"l": {"lon": 13.4113, "lat": 52.5237}}),
            json!({"l": [{"lon": 0.0, "lat": 0.0}, {"lon": 13.3694, "lat": 52.5251}]}),
            json!({"l": {"lon": 13.41}}),
            json!({"l": {"lon": 179.0, "lat": 0.0, "name": "x"}}),
            json!({"l": "Berlin"}),
        ]);
        let index = build("l", PayloadSchemaType::Geo, &docs);
        assert_eq!(index.points(), 4);
        let area = GeoBoundingBox::new(
            GeoPoint::new(13.403683, 52.520711),
            GeoPoint::new(13.455868, 52.495862),
        );
        decides(&index, Condition::geo_bounding_box("l", area), &docs, &[0]);
        let pacific = GeoBoundingBox::new(GeoPoint::new(170.0, 10.0), GeoPoint::new(-170.0, -10.0));
        decides(
            &index,
            Condition::geo_bounding_box("l", pacific),
            &docs,
            &[4],
        );
        let circle = GeoRadius::new(GeoPoint::new(13.403683, 52.520711), 1000.0);
        decides(&index, Condition::geo_radius("l", circle), &docs, &[0, 1]);
        let wide = GeoRadius::new(GeoPoint::new(0.0, 0.0), 1000.0);
        decides(&index, Condition::geo_radius("l", wide), &docs, &[2]);
        assert_eq!(
            index.estimate(&field(Condition::geo_radius("l", wide))),
            Some(4)
        );
        declines(&index, Condition::matches("l", "Berlin"));
    }

    #[test]
    fn each_kind_decides_only_its_conditions() {
        let text = || Condition::match_text("k", "a");
        let count = || Condition::values_count("k", ValuesCount::default().gt(1));
        let numbers = || Condition::range("k", Range::default().gt(1));
        let dates = || Condition::range("k", Range::default().gt("2023-01-01"));
        let area = || {
            Condition::geo_bounding_box(
                "k",
                GeoBoundingBox::new(GeoPoint::new(0.0, 1.0), GeoPoint::new(1.0, 0.0)),
            )
        };
        let circle = || Condition::geo_radius("k", GeoRadius::new(GeoPoint::new(0.0, 0.0), 1.0));
        let all = || {
            vec![
                ("keyword", Condition::matches("k", "a")),
                ("any keywords", Condition::match_any("k", ["a"])),
                ("except keywords", Condition::match_except("k", ["a"])),
                ("integer", Condition::matches("k", 1)),
                ("any integers", Condition::match_any("k", [1])),
                ("except integers", Condition::match_except("k", [1])),
                ("bool", Condition::matches("k", true)),
                ("any empty", Condition::match_any("k", Vec::<&str>::new())),
                (
                    "except empty",
                    Condition::match_except("k", Vec::<&str>::new()),
                ),
                ("numbers", numbers()),
                ("dates", dates()),
                ("box", area()),
                ("circle", circle()),
                ("text", text()),
                ("values_count", count()),
            ]
        };
        use PayloadSchemaType::*;
        let decided: [(PayloadSchemaType, &[&str]); 6] = [
            (
                Keyword,
                &[
                    "keyword",
                    "any keywords",
                    "except keywords",
                    "any empty",
                    "except empty",
                ],
            ),
            (
                Integer,
                &[
                    "integer",
                    "any integers",
                    "except integers",
                    "any empty",
                    "except empty",
                    "numbers",
                ],
            ),
            (Float, &["numbers"]),
            (Bool, &["bool", "any empty", "except empty"]),
            (Datetime, &["dates"]),
            (Geo, &["box", "circle"]),
        ];
        let docs = docs_of([json!({"k": "a"})]);
        for (kind, names) in decided {
            let index = build("k", kind, &docs);
            assert_eq!(index.kind(), kind);
            for (name, cond) in all() {
                let cond = field(cond);
                assert_eq!(
                    index.matching(&cond).is_some(),
                    names.contains(&name),
                    "{kind:?} deciding {name}"
                );
            }
            // Two checks in one condition (storage::filter ORs them) are left to the filter.
            let mut both = field(numbers());
            both.r#match = Some(Match::Value(MatchValue::Integer(1)));
            assert_eq!(index.matching(&both), None, "{kind:?}");
            declines(&index, Condition::Field(FieldCondition::new("k")));
        }
    }

    #[test]
    fn ordered_lists_each_value_of_each_offset() {
        use OrderValue::{Float, Int};
        let docs = docs_of([
            json!({"v": [5, 3]}),
            json!({"v": 3}),
            json!({"v": [3, 3, 1.5, -0.0]}),
            json!({"v": "x"}),
            json!({"v": [-7, 0.0]}),
        ]);
        let index = build("v", PayloadSchemaType::Integer, &docs);
        assert_eq!(
            index.ordered(),
            Some(
                &[
                    (Int(-7), 4),
                    (Int(3), 0),
                    (Int(3), 1),
                    (Int(3), 2),
                    (Int(5), 0)
                ][..]
            )
        );
        let index = build("v", PayloadSchemaType::Float, &docs);
        assert_eq!(
            index.ordered(),
            Some(
                &[
                    (Float(-7.0), 4),
                    (Float(-0.0), 2),
                    (Float(0.0), 4),
                    (Float(1.5), 2),
                    (Float(3.0), 0),
                    (Float(3.0), 1),
                    (Float(3.0), 2),
                    (Float(5.0), 0),
                ][..]
            )
        );
        let dates = docs_dates();
        let index = build("d", PayloadSchemaType::Datetime, &dates);
        assert_eq!(
            index.ordered(),
            Some(
                &[
                    (Int(-1), 2),
                    (Int(0), 0),
                    (Int(1_675_853_340_000_000), 0),
                    (Int(1_675_853_340_000_000), 1),
                    (Int(1_675_853_340_000_000), 2),
                ][..]
            )
        );
        for kind in [
            PayloadSchemaType::Keyword,
            PayloadSchemaType::Bool,
            PayloadSchemaType::Geo,
        ] {
            assert_eq!(build("v", kind, &docs).ordered(), None);
        }
    }

    fn docs_dates() -> Vec<Option<Payload>> {
        docs_of([
            json!({"d": ["2023-02-08T10:49:00Z", "1970-01-01"]}),
            json!({"d": "2023-02-08T11:49:00+01:00"}),
            json!({"d": ["1969-12-31T23:59:59.9999995Z", "2023-02-08T10:49:00.0000001Z"]}),
        ])
    }

    #[test]
    fn order_values_have_a_total_order() {
        use OrderValue::{Float, Int};
        let mut values = vec![
            Float(2.5),
            Int(3),
            Float(3.0),
            Int(i64::MAX),
            Float(-0.0),
            Int(0),
            Float(0.0),
            Int(-1),
            Float(f64::NEG_INFINITY),
        ];
        values.sort();
        assert_eq!(
            values,
            [
                Float(f64::NEG_INFINITY),
                Int(-1),
                Float(-0.0),
                Int(0),
                Float(0.0),
                Float(2.5),
                Int(3),
                Float(3.0),
                Int(i64::MAX),
            ]
        );
        assert!(Int(i64::MAX - 1) < Int(i64::MAX));
        assert_ne!(Float(-0.0), Float(0.0));
    }

    #[test]
    fn points_counts_offsets_with_a_value_of_the_kind() {
        let docs: Vec<Option<Payload>> = vec![
            Some(payload(json!({"v": ["a", 1, true]}))),
            Some(payload(json!({"v": [1.5, null]}))),
            None,
            Some(payload(json!({"v": {"lon": 1.0, "lat": 2.0}}))),
            Some(payload(json!({"v": ["2023-01-01", "b"]}))),
            Some(payload(json!({"w": 1}))),
        ];
        let points = |kind| build("v", kind, &docs).points();
        assert_eq!(points(PayloadSchemaType::Keyword), 2);
        assert_eq!(points(PayloadSchemaType::Integer), 1);
        assert_eq!(points(PayloadSchemaType::Float), 2);
        assert_eq!(points(PayloadSchemaType::Bool), 1);
        assert_eq!(points(PayloadSchemaType::Datetime), 1);
        assert_eq!(points(PayloadSchemaType::Geo), 1);
        let empty = FieldIndex::build("v", PayloadSchemaType::Keyword, 0, |_| None);
        assert_eq!(empty.points(), 0);
        assert_eq!(
            empty.matching(&field(Condition::matches("v", "a"))),
            Some(vec![])
        );
    }

    #[test]
    fn values_are_posting_lists_with_their_conditions() {
        let docs = docs_of([
            json!({"c": ["b", "a"]}),
            json!({"c": "b"}),
            json!({"c": 1}),
            json!({"c": ["a", "a"]}),
        ]);
        let index = build("c", PayloadSchemaType::Keyword, &docs);
        let values = index.values();
        let expected: [(FieldCondition, &[u32]); 2] = [
            (field(Condition::matches("c", "a")), &[0, 3]),
            (field(Condition::matches("c", "b")), &[0, 1]),
        ];
        assert_eq!(values, expected);
        for (cond, offsets) in &values {
            assert_eq!(index.matching(cond).as_deref(), Some(*offsets));
        }
        let index = build("c", PayloadSchemaType::Integer, &docs);
        assert_eq!(
            index.values(),
            [(field(Condition::matches("c", 1)), &[2u32][..])]
        );
        assert!(build("c", PayloadSchemaType::Float, &docs)
            .values()
            .is_empty());
    }

    #[test]
    fn large_results_come_out_sorted() {
        // Enough offsets that both the sorting and the bitmap paths are taken.
        let docs: Vec<Option<Payload>> = (0..1000)
            .map(|i| {
                Some(payload(
                    json!({"v": [i % 7, (i * 13) % 101], "w": format!("{}", i % 5)}),
                ))
            })
            .collect();
        let index = build("v", PayloadSchemaType::Integer, &docs);
        for cond in [
            Condition::match_any("v", [3, 50, 100]),
            Condition::match_any("v", [1, 2, 3, 4, 5]),
            Condition::range("v", Range::default().gte(5).lt(60)),
            Condition::range("v", Range::default().gt(99.5)),
            Condition::match_except("v", [0, 1, 2, 3, 4, 5]),
        ] {
            let cond = field(cond);
            assert_eq!(
                index.matching(&cond),
                Some(reference(&cond, &docs)),
                "{cond:?}"
            );
        }
        let index = build("w", PayloadSchemaType::Keyword, &docs);
        let cond = field(Condition::match_any("w", ["1", "4"]));
        assert_eq!(index.matching(&cond), Some(reference(&cond, &docs)));
        assert_eq!(index.estimate(&cond), Some(400));
    }

    // Random payloads and conditions: whatever an index decides, storage::filter agrees with.

    const WORDS: [&str; 4] = ["", "a", "b", "ab"];

    const DATES: [&str; 11] = [
        "2023-02-08T10:49:00Z",
        "2023-02-08T11:49:00+01:00",
        "2023-02-08T10:49:00.0000005Z",
        "2023-02-08T10:49:00.000001Z",
        "2023-02-08T10:49:00.0000015Z",
        "2023-02-08",
        "2023-02-08 10:49",
        "1969-12-31T23:59:59.9999995Z",
        "1970-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999-23:59",
    ];

    const NUMBERS: [f64; 11] = [
        -2.0,
        -1.5,
        -0.0,
        0.0,
        0.5,
        1.0,
        2.0,
        3.0,
        i64::MAX as f64,
        1e300,
        -1e300,
    ];

    const COORDS: [f64; 6] = [-10.0, 0.0, 0.001, 10.0, 89.9, -89.9];

    const LONS: [f64; 6] = [-10.0, 0.0, 0.001, 10.0, 179.9, -179.9];

    /// Keys that reach values in the generated payloads.
    const KEYS: [&str; 6] = ["a", "a[]", "a[1]", "b.c", "arr[].x", "\"d.e\""];

    /// Keys that reach little or nothing: `b` is often an object, `d.e` is not the quoted
    /// name, and `a..b` does not parse.
    const RARE_KEYS: [&str; 4] = ["b", "d.e", "nope", "a..b"];

    fn key_strategy() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            6 => prop::sample::select(&KEYS[..]),
            1 => prop::sample::select(&RARE_KEYS[..]),
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> + Clone {
        let geo = (
            prop::sample::select(&LONS[..]),
            prop::sample::select(&COORDS[..]),
        )
            .prop_map(|(lon, lat)| json!({"lon": lon, "lat": lat}));
        prop_oneof![
            1 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::Bool),
            1 => prop::sample::select(&WORDS[..]).prop_map(Value::from),
            2 => prop::sample::select(&DATES[..]).prop_map(Value::from),
            1 => (-3i64..=3).prop_map(Value::from),
            1 => prop::sample::select(&NUMBERS[..]).prop_map(Value::from),
            1 => Just(json!(u64::MAX)),
            1 => Just(json!(i64::MIN)),
            2 => geo,
        ]
    }

    fn value() -> impl Strategy<Value = Value> + Clone {
        let element = prop_oneof![
            3 => leaf(),
            1 => prop::collection::vec(leaf(), 0..3).prop_map(Value::Array),
        ];
        prop_oneof![
            3 => leaf(),
            2 => prop::collection::vec(element, 0..4).prop_map(Value::Array),
        ]
    }

    fn doc() -> impl Strategy<Value = Option<Payload>> {
        let field = || prop::option::of(value());
        let fields = (
            field(),
            field(),
            any::<bool>(),
            field(),
            prop::collection::vec(value(), 0..3),
        );
        prop::option::weighted(
            0.9,
            fields.prop_map(|(a, bc, nest, de, xs)| {
                let mut doc = Payload::new();
                if let Some(a) = a {
                    doc.insert("a".into(), a);
                }
                if let Some(bc) = bc {
                    doc.insert("b".into(), if nest { json!({ "c": bc }) } else { bc });
                }
                if let Some(de) = de {
                    doc.insert("d.e".into(), de);
                }
                let xs = xs.into_iter().map(|x| json!({ "x": x })).collect();
                doc.insert("arr".into(), Value::Array(xs));
                doc
            }),
        )
    }

    fn match_strategy() -> impl Strategy<Value = Match> {
        let word = || prop::sample::select(vec!["", "a", "b", "ab", "zz"]).prop_map(str::to_owned);
        let int = || prop_oneof![-3i64..=3, Just(i64::MAX), Just(i64::MIN)];
        let words = move || prop::collection::vec(word(), 0..3);
        let ints = move || prop::collection::vec(int(), 0..3);
        prop_oneof![
            word().prop_map(|w| Match::Value(MatchValue::Keyword(w))),
            int().prop_map(|n| Match::Value(MatchValue::Integer(n))),
            any::<bool>().prop_map(|b| Match::Value(MatchValue::Bool(b))),
            words().prop_map(|l| Match::Any(AnyVariants::Keywords(l))),
            ints().prop_map(|l| Match::Any(AnyVariants::Integers(l))),
            words().prop_map(|l| Match::Except(AnyVariants::Keywords(l))),
            ints().prop_map(|l| Match::Except(AnyVariants::Integers(l))),
            word().prop_map(Match::Text),
        ]
    }

    fn range_strategy() -> impl Strategy<Value = Range> {
        let number =
            || prop::option::of(prop::sample::select(&NUMBERS[..]).prop_map(RangeValue::Number));
        let date = || {
            prop::option::of(
                prop::sample::select(&DATES[..]).prop_map(|d| RangeValue::DateTime(d.to_owned())),
            )
        };
        let range = |(gt, gte, lt, lte)| Range { gt, gte, lt, lte };
        prop_oneof![
            (number(), number(), number(), number()).prop_map(range),
            (date(), date(), date(), date()).prop_map(range),
        ]
    }

    fn condition_strategy() -> impl Strategy<Value = FieldCondition> {
        let point = || {
            (
                prop::sample::select(&LONS[..]),
                prop::sample::select(&COORDS[..]),
            )
                .prop_map(|(lon, lat)| GeoPoint::new(lon, lat))
        };
        let radius = prop::sample::select(vec![0.0, 200.0, 2e6, 3e7]);
        prop_oneof![
            3 => match_strategy().prop_map(|m| FieldCondition { r#match: Some(m), ..FieldCondition::new("") }),
            2 => range_strategy().prop_map(|r| FieldCondition { range: Some(r), ..FieldCondition::new("") }),
            1 => (point(), point()).prop_map(|(a, b)| FieldCondition {
                geo_bounding_box: Some(GeoBoundingBox::new(a, b)),
                ..FieldCondition::new("")
            }),
            1 => (point(), radius).prop_map(|(c, r)| FieldCondition {
                geo_radius: Some(GeoRadius::new(c, r)),
                ..FieldCondition::new("")
            }),
            1 => (0usize..3).prop_map(|n| FieldCondition {
                values_count: Some(ValuesCount::default().gte(n)),
                ..FieldCondition::new("")
            }),
        ]
    }

    /// Whether `value` is a value of `kind` for an index.
    fn of_kind(kind: PayloadSchemaType, value: &Value) -> bool {
        match kind {
            PayloadSchemaType::Keyword => value.is_string(),
            PayloadSchemaType::Integer => value.as_i64().is_some(),
            PayloadSchemaType::Float => value.is_number(),
            PayloadSchemaType::Bool => value.is_boolean(),
            PayloadSchemaType::Datetime => value.as_str().and_then(parse_datetime).is_some(),
            PayloadSchemaType::Geo => geo_point(value).is_some(),
        }
    }

    /// The `(value, offset)` pairs `ordered` must hold, computed from the payloads.
    fn expected_order(
        kind: PayloadSchemaType,
        key: &str,
        docs: &[Option<Payload>],
    ) -> Vec<(OrderValue, u32)> {
        let mut pairs: Vec<(OrderValue, u32, u16)> = Vec::new();
        for (o, doc) in docs.iter().enumerate() {
            let leaves = doc.as_ref().map(|d| leaves_of(d, key)).unwrap_or_default();
            let mut seen: Vec<(OrderValue, u16)> = Vec::new();
            for leaf in leaves {
                let value = match kind {
                    PayloadSchemaType::Integer => leaf.as_i64().map(|n| (OrderValue::Int(n), 0)),
                    PayloadSchemaType::Float => leaf.as_f64().map(|x| (OrderValue::Float(x), 0)),
                    _ => leaf.as_str().and_then(parse_datetime).map(|t| {
                        let nanos = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
                        let micros = nanos.div_euclid(1000) as i64;
                        (OrderValue::Int(micros), nanos.rem_euclid(1000) as u16)
                    }),
                };
                if let Some(value) = value {
                    if !seen.contains(&value) {
                        seen.push(value);
                    }
                }
            }
            pairs.extend(seen.into_iter().map(|(v, sub)| (v, o as u32, sub)));
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        pairs.into_iter().map(|(v, o, _)| (v, o)).collect()
    }

    fn agree(
        index: &FieldIndex,
        cond: &FieldCondition,
        docs: &[Option<Payload>],
    ) -> Result<(), TestCaseError> {
        let expected = reference(cond, docs);
        let matching = index.matching(cond);
        let estimate = index.estimate(cond);
        prop_assert_eq!(matching.is_some(), estimate.is_some(), "{:?}", cond);
        if let (Some(matching), Some(estimate)) = (&matching, estimate) {
            prop_assert_eq!(matching, &expected, "{:?} {:?}", index.kind(), cond);
            prop_assert!(estimate >= matching.len(), "{} {:?}", estimate, cond);
        }
        for o in 0..docs.len() as u32 {
            let check = index.check(o, cond);
            prop_assert_eq!(check.is_some(), matching.is_some(), "{:?}", cond);
            if let Some(hit) = check {
                prop_assert_eq!(hit, expected.contains(&o), "offset {} {:?}", o, cond);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn decided_conditions_agree_with_the_filter(
            docs in prop::collection::vec(doc(), 0..40),
            key in key_strategy(),
            conditions in prop::collection::vec(condition_strategy(), 1..8),
        ) {
            for kind in KINDS {
                let index = build(key, kind, &docs);
                let with_value = docs
                    .iter()
                    .filter(|doc| {
                        doc.as_ref()
                            .is_some_and(|d| leaves_of(d, key).iter().any(|v| of_kind(kind, v)))
                    })
                    .count();
                prop_assert_eq!(index.points(), with_value, "{:?}", kind);
                for cond in &conditions {
                    let cond = FieldCondition { key: key.to_owned(), ..cond.clone() };
                    agree(&index, &cond, &docs)?;
                }
                for (cond, offsets) in index.values() {
                    let matching = index.matching(&cond);
                    prop_assert_eq!(matching.as_deref(), Some(offsets));
                }
                match kind {
                    PayloadSchemaType::Integer
                    | PayloadSchemaType::Float
                    | PayloadSchemaType::Datetime => {
                        prop_assert_eq!(index.ordered(), Some(&expected_order(kind, key, &docs)[..]));
                    }
                    _ => prop_assert_eq!(index.ordered(), None),
                }
            }
        }
    }

    fn encoded(index: &FieldIndex) -> Vec<u8> {
        let mut out = Vec::new();
        index.encode(&mut out);
        out
    }

    /// Whatever `index` answers stays within its `len` offsets, sorted and unique.
    fn within_bounds(
        index: &FieldIndex,
        conditions: &[FieldCondition],
        len: usize,
    ) -> Result<(), TestCaseError> {
        let sorted = |offsets: &[u32]| {
            offsets.windows(2).all(|w| w[0] < w[1]) && offsets.iter().all(|&o| (o as usize) < len)
        };
        for cond in conditions {
            if let Some(offsets) = index.matching(cond) {
                prop_assert!(sorted(&offsets), "{:?}", offsets);
            }
            let _ = index.estimate(cond);
            for o in 0..len as u32 {
                let _ = index.check(o, cond);
            }
        }
        for (_, offsets) in index.values() {
            prop_assert!(sorted(offsets));
        }
        prop_assert!(index.points() <= len);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decoded_indexes_answer_as_built_ones(
            docs in prop::collection::vec(doc(), 0..40),
            key in key_strategy(),
            conditions in prop::collection::vec(condition_strategy(), 1..8),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 16),
        ) {
            let len = docs.len();
            let conditions: Vec<FieldCondition> = conditions
                .into_iter()
                .map(|cond| FieldCondition { key: key.to_owned(), ..cond })
                .collect();
            for kind in KINDS {
                let index = build(key, kind, &docs);
                let bytes = encoded(&index);
                let decoded = FieldIndex::decode(&bytes, key, kind, len)
                    .map_err(|e| TestCaseError::fail(format!("{kind:?}: {e}")))?;
                prop_assert_eq!(encoded(&decoded), bytes.clone());
                prop_assert_eq!(decoded.points(), index.points());
                prop_assert_eq!(decoded.kind(), kind);
                prop_assert_eq!(decoded.values(), index.values());
                prop_assert_eq!(decoded.ordered(), index.ordered());
                for cond in &conditions {
                    prop_assert_eq!(decoded.matching(cond), index.matching(cond), "{:?}", cond);
                    prop_assert_eq!(decoded.estimate(cond), index.estimate(cond), "{:?}", cond);
                    for o in 0..len as u32 {
                        prop_assert_eq!(decoded.check(o, cond), index.check(o, cond));
                    }
                    agree(&decoded, cond, &docs)?;
                }
                // Another kind's or length's encoding is refused, or decides nothing.
                let other = KINDS.iter().find(|&&k| k != kind).copied().unwrap_or(kind);
                prop_assert!(FieldIndex::decode(&bytes, key, other, len).is_err());
                for cut in 0..bytes.len() {
                    if let Ok(index) = FieldIndex::decode(&bytes[..cut], key, kind, len) {
                        within_bounds(&index, &conditions, len)?;
                    }
                }
                if !bytes.is_empty() {
                    for (at, mask) in &flips {
                        let mut bad = bytes.clone();
                        bad[at.index(bytes.len())] ^= mask;
                        if let Ok(index) = FieldIndex::decode(&bad, key, kind, len) {
                            within_bounds(&index, &conditions, len)?;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn decoding_refuses_broken_invariants() {
        let docs = docs_of([json!({"v": ["b", "a"]}), json!({"v": "b"}), json!({"v": 1})]);
        let index = build("v", PayloadSchemaType::Keyword, &docs);
        let bytes = encoded(&index);
        assert!(FieldIndex::decode(&bytes, "v", PayloadSchemaType::Keyword, 3).is_ok());
        // Offset 2 is past a length of 2; trailing bytes; a huge count.
        assert!(FieldIndex::decode(&bytes, "v", PayloadSchemaType::Keyword, 2).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(FieldIndex::decode(&long, "v", PayloadSchemaType::Keyword, 3).is_err());
        let mut huge = bytes.clone();
        huge[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(FieldIndex::decode(&huge, "v", PayloadSchemaType::Keyword, 3).is_err());
        // Keys out of order: "a" and "b" swapped (both one byte long).
        let mut swapped = bytes.clone();
        let (a, b) = (9 + 8, 9 + 8 + 1 + 8);
        swapped.swap(a, b);
        assert!(FieldIndex::decode(&swapped, "v", PayloadSchemaType::Keyword, 3).is_err());
        // A posting list out of order: "b" is at offsets [0, 1]; write [1, 0].
        let items = b + 1 + 2 * 4; // after "b" and the two list sizes
        let mut unsorted = bytes.clone();
        let b_list = items + 4; // after "a"'s one offset
        unsorted[b_list..b_list + 4].copy_from_slice(&1u32.to_le_bytes());
        unsorted[b_list + 4..b_list + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(FieldIndex::decode(&unsorted, "v", PayloadSchemaType::Keyword, 3).is_err());
    }
}
