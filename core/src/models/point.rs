//! Points, their ids and payloads, and the bodies of the points API.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Filter, VectorStruct, WithPayloadSelector, WithVectorSelector};

/// A point's JSON payload: always a JSON object.
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// A point's external id: an unsigned integer or a UUID, as in Qdrant (`42` or
/// `"5c56c793-69f3-4fbf-87e6-c4bf54c28c26"`). Anything else is refused when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PointId {
    /// A numeric id.
    Num(u64),
    /// A UUID id; serialized in its hyphenated lowercase form.
    Uuid(uuid::Uuid),
}

impl From<u64> for PointId {
    fn from(id: u64) -> Self {
        PointId::Num(id)
    }
}

impl From<uuid::Uuid> for PointId {
    fn from(id: uuid::Uuid) -> Self {
        PointId::Uuid(id)
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{}", u.hyphenated()),
        }
    }
}

/// A string that is neither an unsigned integer nor a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("point id `{0}` is neither an unsigned integer nor a UUID")]
pub struct PointIdError(pub String);

impl FromStr for PointId {
    type Err = PointIdError;

    /// Parses `"42"` as a numeric id and a UUID string as a UUID id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(PointId::Num(n));
        }
        uuid::Uuid::parse_str(s)
            .map(PointId::Uuid)
            .map_err(|_| PointIdError(s.to_owned()))
    }
}

impl Serialize for PointId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PointId::Num(n) => serializer.serialize_u64(*n),
            PointId::Uuid(u) => serializer.collect_str(&u.hyphenated()),
        }
    }
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PointIdVisitor;

        impl Visitor<'_> for PointIdVisitor {
            type Value = PointId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a point id: an unsigned integer or a UUID string")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PointId, E> {
                Ok(PointId::Num(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PointId, E> {
                u64::try_from(v).map(PointId::Num).map_err(|_| {
                    E::custom(format!(
                        "point id {v} is negative; ids are unsigned integers or UUIDs"
                    ))
                })
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PointId, E> {
                // Qdrant accepts only UUIDs as string ids; numeric strings are not ids there.
                uuid::Uuid::parse_str(v).map(PointId::Uuid).map_err(|_| {
                    E::custom(format!(
                        "point id \"{v}\" is not a UUID; ids are unsigned integers or UUIDs"
                    ))
                })
            }
        }

        deserializer.deserialize_any(PointIdVisitor)
    }
}

/// A point to upsert: `{"id": 1, "vector": [0.1, 0.2], "payload": {"city": "Berlin"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointStruct {
    /// The point's id; an upsert replaces any point with the same id.
    pub id: PointId,
    /// The point's vector (`[..]`), or its named vectors (`{"image": [..]}`) in a collection
    /// with named vectors; each must have its space's size.
    pub vector: VectorStruct,
    /// The point's payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

impl PointStruct {
    /// A point with `id`, `vector` and no payload.
    pub fn new(id: impl Into<PointId>, vector: impl Into<VectorStruct>) -> Self {
        PointStruct {
            id: id.into(),
            vector: vector.into(),
            payload: None,
        }
    }

    /// This point with `payload`; build one with [`payload!`](crate::payload).
    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.payload = Some(payload);
        self
    }
}

/// Build a [`Payload`] from a JSON object literal, with `serde_json::json!` syntax.
///
/// Only an object literal is accepted, so the result is always a payload:
///
/// ```
/// let payload = rro_core::payload!({"lang": "en", "year": 2021, "tags": ["a", "b"]});
/// assert_eq!(payload["year"], 2021);
/// ```
#[macro_export]
macro_rules! payload {
    ({ $($body:tt)* }) => {
        match $crate::__private::serde_json::json!({ $($body)* }) {
            $crate::__private::serde_json::Value::Object(map) => map,
            // `json!` turns an object literal into an object; this arm only satisfies the type.
            _ => $crate::models::Payload::new(),
        }
    };
}

/// Body of `PUT /collections/{name}/points`: `{"points": [...]}`, or Qdrant's column form
/// `{"batch": {"ids": [..], "vectors": [..], "payloads": [..]}}`, read as the same points.
/// Qdrant's `shard_key` and `update_filter` are refused when parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpsertPoints {
    /// Points to insert or replace; the batch is applied whole or not at all.
    pub points: Vec<PointStruct>,
}

/// `batch` of an upsert: one list per field, the i-th entries making the i-th point.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsBatch {
    ids: Vec<PointId>,
    vectors: BatchVectors,
    #[serde(default)]
    payloads: Option<Vec<Option<Payload>>>,
}

/// `batch.vectors`: a list of vectors, or named lists of vectors.
#[derive(Deserialize)]
#[serde(untagged)]
enum BatchVectors {
    Single(Vec<Vec<f32>>),
    Named(std::collections::BTreeMap<String, Vec<Vec<f32>>>),
}

impl PointsBatch {
    fn into_points<E: de::Error>(self) -> Result<Vec<PointStruct>, E> {
        let n = self.ids.len();
        let mismatch = |what: &str, got: usize| {
            E::custom(format!(
                "batch has {n} ids but {got} {what}; every list needs one entry per id"
            ))
        };
        if let Some(payloads) = &self.payloads {
            if payloads.len() != n {
                return Err(mismatch("payloads", payloads.len()));
            }
        }
        let mut vectors: Vec<VectorStruct> = match self.vectors {
            BatchVectors::Single(list) => {
                if list.len() != n {
                    return Err(mismatch("vectors", list.len()));
                }
                list.into_iter().map(VectorStruct::Single).collect()
            }
            BatchVectors::Named(spaces) => {
                let mut named = vec![std::collections::BTreeMap::new(); n];
                for (name, list) in spaces {
                    if list.len() != n {
                        return Err(mismatch(&format!("vectors \"{name}\""), list.len()));
                    }
                    for (point, vector) in named.iter_mut().zip(list) {
                        point.insert(name.clone(), vector);
                    }
                }
                named.into_iter().map(VectorStruct::Named).collect()
            }
        };
        let mut payloads = self.payloads.unwrap_or_else(|| vec![None; n]);
        Ok(self
            .ids
            .into_iter()
            .zip(vectors.drain(..))
            .zip(payloads.drain(..))
            .map(|((id, vector), payload)| PointStruct {
                id,
                vector,
                payload,
            })
            .collect())
    }
}

/// A parse error for a Qdrant field of a write body that rro recognises and does not
/// implement. Write bodies refuse such fields when parsed because their Rust types have no
/// place to keep them.
pub(crate) fn refuse_write_field<E: de::Error>(
    field: &str,
    value: &Option<serde_json::Value>,
) -> Result<(), E> {
    let supported = match field {
        "shard_key" => "rro has one shard per collection; leave shard_key out",
        _ => "rro writes unconditionally; leave update_filter out",
    };
    match value {
        Some(_) => Err(E::custom(format!(
            "`{field}` is not supported by rro: {supported}"
        ))),
        None => Ok(()),
    }
}

impl<'de> Deserialize<'de> for UpsertPoints {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            points: Option<Vec<PointStruct>>,
            #[serde(default)]
            batch: Option<PointsBatch>,
            #[serde(default)]
            shard_key: Option<serde_json::Value>,
            #[serde(default)]
            update_filter: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        refuse_write_field("shard_key", &raw.shard_key)?;
        refuse_write_field("update_filter", &raw.update_filter)?;
        match (raw.points, raw.batch) {
            (Some(points), None) => Ok(UpsertPoints { points }),
            (None, Some(batch)) => Ok(UpsertPoints {
                points: batch.into_points()?,
            }),
            _ => Err(de::Error::custom(
                "an upsert has exactly one of \"points\" and \"batch\"",
            )),
        }
    }
}

/// Body of `POST /collections/{name}/points`: retrieve points by id. Qdrant's `shard_key` is
/// kept and refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetPoints {
    /// Ids to look up; missing ids are left out of the result.
    pub ids: Vec<PointId>,
    /// Which payload keys to return (Qdrant's default: the whole payload).
    #[serde(default = "payload_by_default")]
    pub with_payload: WithPayloadSelector,
    /// Which vectors to return (Qdrant's default: none).
    #[serde(default = "no_vectors", alias = "with_vectors")]
    pub with_vector: WithVectorSelector,
    /// Qdrant's shard selection; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
}

impl GetPoints {
    /// Refuse the Qdrant fields rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), crate::error::StorageError> {
        super::search::refuse_shard_key(&self.shard_key)
    }

    /// Retrieve `ids` with payloads and without vectors.
    pub fn new(ids: impl IntoIterator<Item = impl Into<PointId>>) -> Self {
        GetPoints {
            ids: ids.into_iter().map(Into::into).collect(),
            with_payload: WithPayloadSelector::Enable(true),
            with_vector: WithVectorSelector::Enable(false),
            shard_key: None,
        }
    }

    /// Which vectors to return: `true`, `false`, or names.
    pub fn with_vector(mut self, selector: impl Into<WithVectorSelector>) -> Self {
        self.with_vector = selector.into();
        self
    }

    /// Which payload keys to return: `true`, `false`, or a [`WithPayloadSelector`].
    pub fn with_payload(mut self, selector: impl Into<WithPayloadSelector>) -> Self {
        self.with_payload = selector.into();
        self
    }
}

fn default_true() -> bool {
    true
}

fn no_vectors() -> WithVectorSelector {
    WithVectorSelector::Enable(false)
}

fn payload_by_default() -> WithPayloadSelector {
    WithPayloadSelector::Enable(true)
}

/// Body of `POST /collections/{name}/points/count`: `{"filter": {...}, "exact": true}`.
/// Qdrant's `shard_key` is kept and refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// Count only the points this filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// `false` asks for an estimate from the payload indexes: exact without a filter, an
    /// upper bound (between the exact count and the number of points) with one.
    #[serde(default = "default_true")]
    pub exact: bool,
    /// Qdrant's shard selection; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
}

impl CountRequest {
    /// Refuse the Qdrant fields rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), crate::error::StorageError> {
        super::search::refuse_shard_key(&self.shard_key)
    }

    /// Count the points `filter` matches.
    pub fn filter(filter: Filter) -> Self {
        CountRequest {
            filter: Some(filter),
            exact: true,
            shard_key: None,
        }
    }
}

/// A retrieved point: `{"id": 1, "payload": {...}, "vector": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The point's id.
    pub id: PointId,
    /// The payload, when asked for.
    #[serde(default)]
    pub payload: Option<Payload>,
    /// The stored vector or named vectors (normalised, for Cosine spaces), when asked for.
    #[serde(default)]
    pub vector: Option<VectorStruct>,
    /// The value a scroll with `order_by` sorted this point by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_value: Option<OrderValue>,
}

impl Record {
    /// The returned unnamed vector, if any (`None` for named vectors).
    pub fn plain_vector(&self) -> Option<&[f32]> {
        self.vector.as_ref().and_then(VectorStruct::as_single)
    }
}

/// A value points are ordered by: an integer (also date-times, as microseconds since the
/// epoch) or a float.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OrderValue {
    /// An integer value, or a date-time in microseconds since 1970-01-01T00:00:00Z.
    Int(i64),
    /// A float value.
    Float(f64),
}

/// Whether a write was applied before the reply (`completed`) or only queued (`acknowledged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// Queued; will be applied.
    Acknowledged,
    /// Applied and visible to reads.
    Completed,
}

/// Result of a write: `{"operation_id": 7, "status": "completed"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResult {
    /// Sequence number of the write within its collection.
    pub operation_id: u64,
    /// Whether the write is applied.
    pub status: UpdateStatus,
}

/// Result of `POST /collections/{name}/points/count`: `{"count": 3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountResult {
    /// Number of points.
    pub count: u64,
}
