//! Binary encoding of write operations, as they are stored in the body of a write-ahead-log
//! record (the record itself, its length and checksum are `wal.rs`'s business).
//!
//! ## Format (all integers little-endian)
//! ```text
//! operation := kind:u8 body
//! kind 1, upsert := count:u32 dim:u32 point{count}
//!     point  := id vector:f32{dim} payload
//!     payload:= len:u32 json:u8{len}     (len = 0xFFFF_FFFF: no payload)
//! kind 2, delete := count:u32 id{count}
//! kind 3, batch  := delete-body upsert-body   (the bodies of kinds 2 and 1, without kind bytes)
//! id     := 0:u8 n:u64 | 1:u8 uuid:u8{16}
//! ```
//! A batch (`points/batch`, added after kinds 1 and 2, which keep their meaning) is the net
//! effect of several writes on the points they touch: each point once, either deleted or
//! stored with its final row. Its deletes apply before its upserts, all under one operation
//! number, so a crash replays the whole batch or none of it.
//! A payload is logged only if it nests at most `MAX_PAYLOAD_DEPTH` (64) levels deep, so
//! that the JSON parser (limited to 128 levels) reads back every payload the encoder wrote.
//! Vectors are logged after validation and (for Cosine) normalisation, so replay stores
//! bit-identical vectors without redoing either. A decoder never trusts a count or length:
//! each is checked against the bytes that remain before anything is allocated.

use super::bytes::{put_u32, ByteReader};
use crate::models::depth;
use crate::models::{Payload, PointId, MAX_PAYLOAD_DEPTH};

/// A point as stored and logged: its id, its row (all its vectors side by side, see
/// `space.rs`) and its payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) id: PointId,
    pub(crate) vector: Vec<f32>,
    pub(crate) payload: Option<Payload>,
}

/// A write, as logged and replayed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operation {
    /// Insert or replace these points (already validated).
    Upsert(Vec<Row>),
    /// Delete these points.
    Delete(Vec<PointId>),
    /// Delete the points of `delete`, then insert or replace those of `upsert` (no id in
    /// both): the net effect of a `points/batch`.
    Batch {
        /// Points the batch leaves deleted.
        delete: Vec<PointId>,
        /// Points the batch leaves stored, with their final rows.
        upsert: Vec<Row>,
    },
}

const UPSERT: u8 = 1;
const DELETE: u8 = 2;
const BATCH: u8 = 3;
const NO_PAYLOAD: u32 = u32::MAX;

impl Operation {
    /// Append the encoding of `self` to `out`. Fails only if a payload cannot be serialized.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Operation::Upsert(points) => {
                out.push(UPSERT);
                encode_upsert(points, out)?;
            }
            Operation::Delete(ids) => {
                out.push(DELETE);
                encode_delete(ids, out)?;
            }
            Operation::Batch { delete, upsert } => {
                out.push(BATCH);
                encode_delete(delete, out)?;
                encode_upsert(upsert, out)?;
            }
        }
        Ok(())
    }

    /// Decode one operation; the error says what is wrong and where.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Operation, String> {
        let mut r = ByteReader::new(bytes);
        let op = match r.u8()? {
            UPSERT => Operation::Upsert(decode_upsert(&mut r)?),
            DELETE => Operation::Delete(decode_delete(&mut r)?),
            BATCH => {
                let delete = decode_delete(&mut r)?;
                let upsert = decode_upsert(&mut r)?;
                Operation::Batch { delete, upsert }
            }
            kind => return Err(format!("unknown operation kind {kind}")),
        };
        if r.remaining() != 0 {
            return Err(format!(
                "{} unexpected bytes after the operation",
                r.remaining()
            ));
        }
        Ok(op)
    }
}

fn encode_upsert(points: &[Row], out: &mut Vec<u8>) -> Result<(), String> {
    let dim = points.first().map_or(0, |p| p.vector.len());
    out.reserve(points.len() * (dim * 4 + 32));
    put_u32(out, len_u32(points.len())?);
    put_u32(out, len_u32(dim)?);
    for point in points {
        debug_assert_eq!(point.vector.len(), dim);
        encode_id(&point.id, out);
        for x in &point.vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
        match &point.payload {
            None => put_u32(out, NO_PAYLOAD),
            Some(payload) => {
                // The decoder's JSON parser stops at 128 levels: never write what it could not
                // read back (and never recurse into an unbounded payload while serializing).
                if depth::payload_depth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH {
                    return Err(format!(
                        "payload of point {} nests deeper than {MAX_PAYLOAD_DEPTH} \
                         levels (MAX_PAYLOAD_DEPTH)",
                        point.id
                    ));
                }
                let at = out.len();
                put_u32(out, 0);
                serde_json::to_writer(&mut *out, payload)
                    .map_err(|e| format!("payload cannot be serialized: {e}"))?;
                let len = len_u32(out.len() - at - 4)?;
                out[at..at + 4].copy_from_slice(&len.to_le_bytes());
            }
        }
    }
    Ok(())
}

fn encode_delete(ids: &[PointId], out: &mut Vec<u8>) -> Result<(), String> {
    put_u32(out, len_u32(ids.len())?);
    for id in ids {
        encode_id(id, out);
    }
    Ok(())
}

fn decode_upsert(r: &mut ByteReader<'_>) -> Result<Vec<Row>, String> {
    let count = r.u32()? as usize;
    let dim = r.u32()? as usize;
    // Smallest possible point: 9-byte id, the vector, a 4-byte payload length.
    let min_point = 9 + dim.saturating_mul(4) + 4;
    r.need(count.saturating_mul(min_point), "upsert points")?;
    let mut points = Vec::with_capacity(count);
    for _ in 0..count {
        let id = read_id(r)?;
        let raw = r.take(dim * 4, "vector")?;
        let vector = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let len = r.u32()?;
        let payload = if len == NO_PAYLOAD {
            None
        } else {
            let at = r.position();
            let json = r.take(len as usize, "payload")?;
            Some(
                serde_json::from_slice::<Payload>(json)
                    .map_err(|e| format!("payload at byte {at} is not a JSON object: {e}"))?,
            )
        };
        points.push(Row {
            id,
            vector,
            payload,
        });
    }
    Ok(points)
}

fn decode_delete(r: &mut ByteReader<'_>) -> Result<Vec<PointId>, String> {
    let count = r.u32()? as usize;
    r.need(count.saturating_mul(9), "deleted ids")?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(read_id(r)?);
    }
    Ok(ids)
}

fn len_u32(len: usize) -> Result<u32, String> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l != NO_PAYLOAD)
        .ok_or_else(|| format!("{len} is too large for one operation; split the batch"))
}

/// Append a point id: a tag byte and the id.
pub(crate) fn encode_id(id: &PointId, out: &mut Vec<u8>) {
    match id {
        PointId::Num(n) => {
            out.push(0);
            out.extend_from_slice(&n.to_le_bytes());
        }
        PointId::Uuid(u) => {
            out.push(1);
            out.extend_from_slice(u.as_bytes());
        }
    }
}

/// Read a point id written by [`encode_id`] (tag byte and id).
pub(crate) fn read_id(r: &mut ByteReader<'_>) -> Result<PointId, String> {
    let at = r.position();
    match r.u8()? {
        0 => Ok(PointId::Num(r.u64()?)),
        1 => Ok(PointId::Uuid(uuid::Uuid::from_bytes(r.array("a UUID")?))),
        tag => Err(format!("point id at byte {at} has unknown tag {tag}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Operation> {
        let uuid = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        vec![
            Operation::Upsert(vec![
                Row {
                    id: PointId::Num(7),
                    vector: vec![1.5, -0.0, f32::MIN_POSITIVE],
                    payload: Some(crate::payload!({"a": [1, "x"], "b": null})),
                },
                Row {
                    id: PointId::Uuid(uuid),
                    vector: vec![0.0, 1.0, 2.0],
                    payload: None,
                },
            ]),
            Operation::Upsert(vec![]),
            Operation::Delete(vec![PointId::Num(u64::MAX), PointId::Uuid(uuid)]),
            Operation::Batch {
                delete: vec![PointId::Num(3), PointId::Uuid(uuid)],
                upsert: vec![Row {
                    id: PointId::Num(9),
                    vector: vec![0.25, -1.0],
                    payload: Some(crate::payload!({"k": "v"})),
                }],
            },
            Operation::Batch {
                delete: vec![],
                upsert: vec![],
            },
        ]
    }

    #[test]
    fn operations_round_trip_bit_for_bit() {
        for op in sample() {
            let mut bytes = Vec::new();
            op.encode(&mut bytes).unwrap();
            assert_eq!(Operation::decode(&bytes).unwrap(), op);
        }
    }

    #[test]
    fn every_truncation_and_trailing_garbage_is_an_error_not_a_panic() {
        for op in sample() {
            let mut bytes = Vec::new();
            op.encode(&mut bytes).unwrap();
            for cut in 0..bytes.len() {
                assert!(Operation::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            bytes.push(0);
            assert!(Operation::decode(&bytes).is_err());
        }
    }

    #[test]
    fn payloads_up_to_the_depth_limit_decode_and_deeper_ones_are_not_written() {
        let nested = |depth: usize| {
            let mut value = serde_json::Value::from(1);
            for _ in 1..depth {
                value = serde_json::Value::Array(vec![value]);
            }
            crate::payload!({ "k": value })
        };
        let op = |payload| {
            Operation::Upsert(vec![Row {
                id: PointId::Num(1),
                vector: vec![0.5],
                payload: Some(payload),
            }])
        };
        let fits = op(nested(crate::models::MAX_PAYLOAD_DEPTH));
        let mut bytes = Vec::new();
        fits.encode(&mut bytes).unwrap();
        assert_eq!(Operation::decode(&bytes).unwrap(), fits);
        let mut bytes = Vec::new();
        let error = op(nested(crate::models::MAX_PAYLOAD_DEPTH + 1))
            .encode(&mut bytes)
            .unwrap_err();
        assert!(error.contains("MAX_PAYLOAD_DEPTH"), "{error}");
    }

    #[test]
    fn absurd_counts_are_refused_before_allocating() {
        let mut bytes = vec![UPSERT];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Operation::decode(&bytes).unwrap_err().contains("need"));
        let mut bytes = vec![DELETE];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Operation::decode(&bytes).unwrap_err().contains("need"));
        let mut bytes = vec![BATCH];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Operation::decode(&bytes).unwrap_err().contains("need"));
    }

    /// Kinds 1 and 2 as written before batches existed still decode to the same operations.
    #[test]
    fn records_of_the_older_kinds_keep_their_bytes() {
        let delete = [DELETE, 1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Operation::decode(&delete).unwrap(),
            Operation::Delete(vec![PointId::Num(7)])
        );
        let mut upsert = vec![UPSERT, 1, 0, 0, 0, 1, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0];
        upsert.extend_from_slice(&1.5f32.to_le_bytes());
        upsert.extend_from_slice(&NO_PAYLOAD.to_le_bytes());
        assert_eq!(
            Operation::decode(&upsert).unwrap(),
            Operation::Upsert(vec![Row {
                id: PointId::Num(5),
                vector: vec![1.5],
                payload: None,
            }])
        );
    }
}

/// Every payload the API accepts survives the log: written, replayed after a crash (no
/// checkpoint), checkpointed, and reopened.
#[cfg(test)]
mod payload_round_trip {
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value};

    use crate::config::{Config, Durability};
    use crate::models::{
        Distance, GetPoints, Payload, PointId, PointStruct, VectorParams, MAX_PAYLOAD_DEPTH,
    };
    use crate::storage::TableOfContent;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,4}",
            any::<String>(),
            Just(String::new()),
            Just("\u{0}\u{1f}\"\\\n".to_owned()),
            Just("a.b[0]".to_owned()),
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
            prop_oneof![
                Just(f64::MAX),
                Just(f64::MIN_POSITIVE),
                Just(5e-324),
                Just(-0.0)
            ]
            .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ]
    }

    /// Random JSON of bounded size, nesting up to `depth` containers.
    fn value(depth: u32) -> impl Strategy<Value = Value> {
        scalar().prop_recursive(depth, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..4)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// `inner` wrapped in containers (chosen by `shape`) until the payload holding it is
    /// exactly `depth` levels deep at the most.
    fn chain(inner: Value, shape: u64, depth: usize) -> Payload {
        let mut value = inner;
        let have = crate::models::depth::value_depth(&value, depth);
        for level in have..depth.saturating_sub(1) {
            value = if shape >> (level % 64) & 1 == 0 {
                Value::Array(vec![value])
            } else {
                Value::Object([("k".to_owned(), value)].into_iter().collect())
            };
        }
        [("top".to_owned(), value)].into_iter().collect()
    }

    fn payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            prop::collection::vec((key(), value(8)), 0..6)
                .prop_map(|fields| fields.into_iter().collect::<Payload>()),
            (value(3), any::<u64>(), 1..=MAX_PAYLOAD_DEPTH)
                .prop_map(|(inner, shape, depth)| chain(inner, shape, depth)),
            (value(3), any::<u64>()).prop_map(|(inner, shape)| chain(
                inner,
                shape,
                MAX_PAYLOAD_DEPTH
            )),
        ]
    }

    fn read_all(toc: &TableOfContent, n: u64) -> Vec<Option<Payload>> {
        let collection = toc.collection("p").expect("collection");
        let mut records =
            collection.get(&GetPoints::new((0..n).map(PointId::Num)).with_payload(true));
        records.sort_by_key(|r| r.id);
        records.into_iter().map(|r| r.payload).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn accepted_payloads_survive_log_replay_checkpoint_and_reopen(
            payloads in prop::collection::vec(payload(), 1..5)
        ) {
            let dir = tempfile::tempdir().expect("temp dir");
            let config = Config::new(dir.path()).durability(Durability::Fsync);
            let n = payloads.len() as u64;
            let expected: Vec<Option<Payload>> = payloads.iter().cloned().map(Some).collect();
            {
                let toc = TableOfContent::open(&config).expect("open");
                toc.create_collection("p", VectorParams::new(2, Distance::Dot).into())
                    .expect("create");
                let points = payloads
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| PointStruct::new(i as u64, vec![1.0, 2.0]).with_payload(p))
                    .collect();
                toc.collection("p").expect("collection").upsert(points).expect("accepted");
                prop_assert_eq!(read_all(&toc, n), expected.clone());
                // Dropped without a checkpoint: the next open replays the log.
            }
            {
                let toc = TableOfContent::open(&config).expect("replay");
                prop_assert_eq!(read_all(&toc, n), expected.clone());
                toc.flush().expect("checkpoint");
            }
            let toc = TableOfContent::open(&config).expect("reopen after checkpoint");
            prop_assert_eq!(read_all(&toc, n), expected);
        }
    }
}
