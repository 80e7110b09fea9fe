//! The payload indexes of one sealed segment ([`FieldIndexes`]: one [`FieldIndex`] per key of
//! the payload schema) and their cache file, `payload_index.bin` in the segment's directory,
//! so that opening a collection does not parse every payload again.
//!
//! ## Format (version 1)
//! A checked file (`checked.rs`: magic `RROPIDX\0`, version 1, count = number of fields)
//! whose data is, all little-endian:
//!
//! | bytes             | field         | meaning                                               |
//! |-------------------|---------------|-------------------------------------------------------|
//! | 0..8              | `len`         | the segment's number of offsets, u64                  |
//! | 8..12             | `field_count` | number of fields, u32                                 |
//! | 12..              | `fields`      | per field, in key order: key length (u32), key        |
//! |                   |               | (UTF-8), kind code (u8, as in `field_index.rs`)       |
//! | after the fields  | `indexes`     | per field, in the same order: its encoding's byte     |
//! |                   |               | length (u64), then the encoding ([`FieldIndex::encode`]) |
//!
//! Nothing follows the last index. Every length is checked against the bytes left before
//! anything is allocated (`bytes.rs`).
//!
//! ## Recovery
//! The file is only a cache: the indexes are derived from the payloads. One that is missing,
//! damaged, or written for another schema or length is ignored (logged) and the indexes are
//! built from the payloads again, then the file rewritten; it is replaced atomically
//! (`checked::write_atomic`), so a crash leaves the old file or the new one.

use std::collections::BTreeMap;
use std::path::Path;

use super::bytes::{put_u32, put_u64, ByteReader};
use super::checked;
use super::field_index::{kind_code, kind_of_code, FieldIndex};
use crate::error::StorageError;
use crate::models::{Payload, PayloadSchemaType};

/// Name of the payload index file in a segment directory.
pub(crate) const PAYLOAD_INDEX_FILE: &str = "payload_index.bin";
const PAYLOAD_INDEX_MAGIC: [u8; 8] = *b"RROPIDX\0";
const PAYLOAD_INDEX_VERSION: u32 = 1;

/// Offset of `len` (u64) in the data.
const LEN_OFFSET: usize = 0;
/// Offset of `field_count` (u32) in the data.
const FIELD_COUNT_OFFSET: usize = LEN_OFFSET + 8;
/// Offset of the first field's key length in the data.
const FIELDS_OFFSET: usize = FIELD_COUNT_OFFSET + 4;

/// The payload indexes of one sealed segment, by key, built for one payload schema.
#[derive(Debug, Default)]
pub(crate) struct FieldIndexes {
    fields: BTreeMap<String, FieldIndex>,
}

impl FieldIndexes {
    /// Index every field of `schema` over `len` offsets; `payload_at(offset)` gives each
    /// offset's payload (called once per offset and field).
    pub(crate) fn build(
        schema: &BTreeMap<String, PayloadSchemaType>,
        len: usize,
        payload_at: impl Fn(usize) -> Option<Payload>,
    ) -> Self {
        let fields = schema
            .iter()
            .map(|(key, kind)| {
                let index = FieldIndex::build(key, *kind, len, &payload_at);
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
    /// of the segment directory `dir` (format in the module docs).
    pub(crate) fn write(
        &self,
        dir: &Path,
        schema: &BTreeMap<String, PayloadSchemaType>,
        len: usize,
    ) -> Result<(), StorageError> {
        let path = dir.join(PAYLOAD_INDEX_FILE);
        let too_many = || StorageError::corrupted(&path, 0, "too many fields or too long a key");
        let mut data = Vec::new();
        put_u64(&mut data, len as u64);
        put_u32(
            &mut data,
            u32::try_from(schema.len()).map_err(|_| too_many())?,
        );
        debug_assert_eq!(data.len(), FIELDS_OFFSET);
        for (key, kind) in schema {
            put_u32(&mut data, u32::try_from(key.len()).map_err(|_| too_many())?);
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
            put_u64(&mut data, blob.len() as u64);
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

/// The data of a payload index file: `Ok(None)` when it was written for another schema or
/// another length, `Err` when it is not a valid file.
fn decode_file(
    data: &[u8],
    schema: &BTreeMap<String, PayloadSchemaType>,
    len: usize,
) -> Result<Option<FieldIndexes>, String> {
    let mut at = ByteReader::new(data);
    let written_len = at.u64()?;
    let count = at.u32()? as usize;
    // Every field takes at least a key length and a kind code.
    at.items(count, 5, "fields")?;
    debug_assert_eq!(at.position(), FIELDS_OFFSET);
    let mut keys = Vec::with_capacity(count);
    for _ in 0..count {
        let key_len = at.u32()? as usize;
        let key = std::str::from_utf8(at.take(key_len, "a key")?).map_err(|e| e.to_string())?;
        let code = at.u8()?;
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
        let index = FieldIndex::decode(at.take(blob_len, "an index")?, &key, kind, len)
            .map_err(|e| format!("index of {key}: {e}"))?;
        fields.insert(key, index);
    }
    if at.remaining() != 0 {
        return Err(format!("{} bytes after the last index", at.remaining()));
    }
    Ok(Some(FieldIndexes { fields }))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use serde_json::json;

    use super::*;
    use crate::models::{Condition, PointId};
    use crate::storage::segment::SegmentData;

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
        let built = FieldIndexes::build(&schema, data.len(), |o| data.payload(o));
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
