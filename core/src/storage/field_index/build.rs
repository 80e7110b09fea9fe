//! Building a field index from the payloads of a segment's offsets: each kind collects
//! the values it keeps (see "Which values are indexed" in `field_index.rs`).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::slice;

use serde_json::Value;

use super::{Bits, Data, Groups, Moment, OrderValue, Postings};
use crate::models::{parse_datetime, Payload};
use crate::storage::filter::{geo_point, values_at};

/// The values `key` reaches in `payload`, with array values opened one level, as
/// `storage::filter` checks them.
pub(super) fn leaves_of<'a>(payload: &'a Payload, key: &str) -> Vec<&'a Value> {
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

pub(super) fn build_keyword(
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

pub(super) fn build_integer(
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

pub(super) fn build_bool(
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

pub(super) fn build_float(
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

pub(super) fn build_datetime(
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

pub(super) fn build_geo(
    key: &str,
    len: usize,
    payload_at: &mut impl FnMut(usize) -> Option<Payload>,
) -> Data {
    let mut by_offset = Groups::new();
    scan(key, len, payload_at, |_, leaves| {
        by_offset.push(leaves.iter().filter_map(|v| geo_point(v)));
    });
    Data::Geo(by_offset.finish())
}
