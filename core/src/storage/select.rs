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
//!
//! ## The payload index file
//! A sealed segment's [`FieldIndexes`] are cached in `payload_index.bin` in its directory, so
//! that opening a collection does not parse every payload again. It is a checked file
//! (`checked.rs`: magic `RROPIDX\0`, version 1, count = number of fields) whose data is, all
//! little-endian: the segment's number of offsets (u64); the number of fields (u32) and per
//! field, in key order, its key (u32 byte length, UTF-8) and kind code (u8, as in
//! `field_index.rs`); then per field, in the same order, its encoding's byte length (u64) and
//! the encoding ([`FieldIndex::encode`]). The file is only a cache: one that is missing,
//! damaged or written for another schema or length is ignored and the indexes are built from
//! the payloads again.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::checked;
use super::field_index::{kind_code, kind_of_code, FieldIndex};
use super::filter::check_condition;
use super::segment::SegmentData;
use crate::error::StorageError;
use crate::models::{Condition, Filter, Payload, PayloadSchemaType, PointId};

/// The payload indexes of one sealed segment, by key, built for one payload schema.
#[derive(Debug, Default)]
pub(crate) struct FieldIndexes {
    fields: BTreeMap<String, FieldIndex>,
}

impl FieldIndexes {
    /// Index every field of `schema` over `data`.
    pub(crate) fn build(data: &SegmentData, schema: &BTreeMap<String, PayloadSchemaType>) -> Self {
        let fields = schema
            .iter()
            .map(|(key, kind)| {
                let index =
                    FieldIndex::build(key, *kind, data.len(), |offset| data.payload(offset));
                (key.clone(), index)
            })
            .collect();
        FieldIndexes { fields }
    }

    /// Whether these indexes are exactly the ones `schema` asks for.
    pub(crate) fn fits(&self, schema: &BTreeMap<String, PayloadSchemaType>) -> bool {
        self.fields.len() == schema.len()
            && schema
                .iter()
                .all(|(key, kind)| self.fields.get(key).is_some_and(|f| f.kind() == *kind))
    }

    /// The index of `key`, if there is one.
    pub(crate) fn get(&self, key: &str) -> Option<&FieldIndex> {
        self.fields.get(key)
    }

    /// Write these indexes, built for `schema` over `len` offsets, as the payload index file
    /// of the segment directory `dir` (layout in the module docs).
    pub(crate) fn write(
        &self,
        dir: &Path,
        schema: &BTreeMap<String, PayloadSchemaType>,
        len: usize,
    ) -> Result<(), StorageError> {
        let path = dir.join(PAYLOAD_INDEX_FILE);
        let too_many = || StorageError::corrupted(&path, 0, "too many fields or too long a key");
        let mut data = Vec::new();
        data.extend_from_slice(&(len as u64).to_le_bytes());
        let count = u32::try_from(schema.len()).map_err(|_| too_many())?;
        data.extend_from_slice(&count.to_le_bytes());
        for (key, kind) in schema {
            let key_len = u32::try_from(key.len()).map_err(|_| too_many())?;
            data.extend_from_slice(&key_len.to_le_bytes());
            data.extend_from_slice(key.as_bytes());
            data.push(kind_code(*kind));
        }
        let mut blob = Vec::new();
        for key in schema.keys() {
            // Written for `schema`: every key has its index, or the file would be wrong.
            let index = self.fields.get(key).ok_or_else(|| {
                StorageError::corrupted(&path, 0, format!("no index of {key} to write"))
            })?;
            blob.clear();
            index.encode(&mut blob);
            data.extend_from_slice(&(blob.len() as u64).to_le_bytes());
            data.extend_from_slice(&blob);
        }
        checked::write_atomic(
            &path,
            PAYLOAD_INDEX_MAGIC,
            PAYLOAD_INDEX_VERSION,
            schema.len() as u64,
            &data,
        )
    }

    /// The indexes cached in segment directory `dir` for `schema` over `len` offsets, if the
    /// file is there, intact, and written for exactly that schema and length.
    pub(crate) fn load(
        dir: &Path,
        schema: &BTreeMap<String, PayloadSchemaType>,
        len: usize,
    ) -> Option<FieldIndexes> {
        let path = dir.join(PAYLOAD_INDEX_FILE);
        if !path.exists() {
            return None;
        }
        let data = match checked::read(&path, PAYLOAD_INDEX_MAGIC, PAYLOAD_INDEX_VERSION) {
            Ok((_, data)) => data,
            Err(e) => {
                log::warn!("ignoring payload index file, building from payloads: {e}");
                return None;
            }
        };
        match decode_file(&data, schema, len) {
            Ok(Some(fields)) => Some(fields),
            Ok(None) => {
                // Written before the schema changed; the caller rewrites it.
                log::debug!("{} was written for another schema", path.display());
                None
            }
            Err(why) => {
                log::warn!("ignoring {}, building from payloads: {why}", path.display());
                None
            }
        }
    }
}

/// Name of the payload index file in a segment directory.
pub(crate) const PAYLOAD_INDEX_FILE: &str = "payload_index.bin";
const PAYLOAD_INDEX_MAGIC: [u8; 8] = *b"RROPIDX\0";
const PAYLOAD_INDEX_VERSION: u32 = 1;

/// The unread bytes of a payload index file.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!("{n} bytes wanted, {} left", self.0.len()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(word))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }
}

/// The data of a payload index file: `Ok(None)` when it was written for another schema or
/// another length, `Err` when it is not a valid file.
fn decode_file(
    data: &[u8],
    schema: &BTreeMap<String, PayloadSchemaType>,
    len: usize,
) -> Result<Option<FieldIndexes>, String> {
    let mut at = Cursor(data);
    let written_len = at.u64()?;
    let count = at.u32()? as usize;
    let mut keys = Vec::new();
    for _ in 0..count {
        let key_len = at.u32()? as usize;
        let key = std::str::from_utf8(at.take(key_len)?).map_err(|e| e.to_string())?;
        let code = at.take(1)?[0];
        let kind = kind_of_code(code).ok_or_else(|| format!("kind code {code}"))?;
        keys.push((key.to_owned(), kind));
    }
    let same_schema = keys.len() == schema.len()
        && keys
            .iter()
            .zip(schema)
            .all(|((k, kind), (key, want))| k == key && kind == want);
    if !same_schema || written_len != len as u64 {
        return Ok(None);
    }
    let mut fields = BTreeMap::new();
    for (key, kind) in keys {
        let blob_len = usize::try_from(at.u64()?).map_err(|e| e.to_string())?;
        let index = FieldIndex::decode(at.take(blob_len)?, &key, kind, len)
            .map_err(|e| format!("index of {key}: {e}"))?;
        fields.insert(key, index);
    }
    if !at.0.is_empty() {
        return Err(format!("{} bytes after the last index", at.0.len()));
    }
    Ok(Some(FieldIndexes { fields }))
}

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

#[cfg(test)]
mod tests {
    use std::fs;

    use serde_json::json;

    use super::*;

    fn data(n: u64) -> SegmentData {
        let mut data = SegmentData::new(2);
        for i in 0..n {
            let payload = match json!({"k": format!("w{}", i % 3), "n": i, "f": i as f64 / 2.0}) {
                serde_json::Value::Object(map) => map,
                _ => Payload::new(),
            };
            data.push(PointId::Num(i), &[0.0, 1.0], Some(payload), i);
        }
        data
    }

    fn schema(fields: &[(&str, PayloadSchemaType)]) -> BTreeMap<String, PayloadSchemaType> {
        fields.iter().map(|(k, t)| ((*k).to_owned(), *t)).collect()
    }

    /// The offsets each index selects for a few conditions, to compare two sets of indexes.
    fn answers(fields: &FieldIndexes) -> Vec<Option<Vec<u32>>> {
        let conds = [
            Condition::matches("k", "w1"),
            Condition::range("n", crate::models::Range::default().gte(3).lt(9)),
            Condition::range("f", crate::models::Range::default().gt(2.0)),
        ];
        conds
            .into_iter()
            .map(|c| match c {
                Condition::Field(cond) => fields.get(&cond.key).and_then(|i| i.matching(&cond)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn payload_index_file_round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let data = data(20);
        let schema = schema(&[
            ("k", PayloadSchemaType::Keyword),
            ("n", PayloadSchemaType::Integer),
            ("f", PayloadSchemaType::Float),
        ]);
        // Missing: nothing to load.
        assert!(FieldIndexes::load(dir.path(), &schema, 20).is_none());
        let built = FieldIndexes::build(&data, &schema);
        built.write(dir.path(), &schema, data.len()).unwrap();
        let loaded = FieldIndexes::load(dir.path(), &schema, 20).unwrap();
        assert!(loaded.fits(&schema));
        assert_eq!(answers(&loaded), answers(&built));
        assert_eq!(
            answers(&loaded)[0].as_deref(),
            Some(&[1, 4, 7, 10, 13, 16, 19][..])
        );
        for (key, index) in &built.fields {
            assert_eq!(
                loaded.get(key).map(FieldIndex::points),
                Some(index.points())
            );
        }
        // Another schema (a kind changed, a field more or less) or length: not these indexes.
        let mut other = schema.clone();
        other.insert("n".into(), PayloadSchemaType::Float);
        assert!(FieldIndexes::load(dir.path(), &other, 20).is_none());
        other.remove("n");
        assert!(FieldIndexes::load(dir.path(), &other, 20).is_none());
        assert!(FieldIndexes::load(dir.path(), &BTreeMap::new(), 20).is_none());
        assert!(FieldIndexes::load(dir.path(), &schema, 21).is_none());
        // Damage anywhere, or a cut: refused.
        let path = dir.path().join(PAYLOAD_INDEX_FILE);
        let good = fs::read(&path).unwrap();
        for at in [
            0,
            20,
            checked::HEADER_LEN + 3,
            good.len() / 2,
            good.len() - 1,
        ] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            assert!(
                FieldIndexes::load(dir.path(), &schema, 20).is_none(),
                "{at}"
            );
        }
        fs::write(&path, &good[..good.len() - 4]).unwrap();
        assert!(FieldIndexes::load(dir.path(), &schema, 20).is_none());
        fs::write(&path, &good).unwrap();
        assert!(FieldIndexes::load(dir.path(), &schema, 20).is_some());
        // A valid file whose data is damaged past its checksum still fails the decoding.
        let (_, mut inner) = checked::read(&path, PAYLOAD_INDEX_MAGIC, 1).unwrap();
        inner.push(0);
        checked::write_atomic(&path, PAYLOAD_INDEX_MAGIC, 1, 3, &inner).unwrap();
        assert!(FieldIndexes::load(dir.path(), &schema, 20).is_none());
    }
}
