//! The encoding of a field index, as cached in `payload_index.bin`.
//!
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

use super::{Bits, Data, FieldIndex, Groups, Moment, OrderValue, Postings};
use crate::models::{GeoPoint, PayloadSchemaType};
use crate::storage::bytes::{put_len, put_u32, put_u64, ByteReader};

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
