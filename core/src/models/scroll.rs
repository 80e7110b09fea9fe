//! Paging through points: scroll requests, `order_by`, and their results.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::{Filter, PointId, Record, WithPayloadSelector, WithVectorSelector};

/// Body of `POST /collections/{name}/points/scroll`:
/// `{"filter": {...}, "limit": 10, "offset": 42, "with_payload": true}`. Qdrant's `shard_key`
/// is kept and refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrollRequest {
    /// Only the points this filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Points per page (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The id to start from (inclusive): the previous page's `next_page_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<PointId>,
    /// Which payload keys to return (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_payload: Option<WithPayloadSelector>,
    /// Whether to return vectors (default: no).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "with_vectors"
    )]
    pub with_vector: Option<WithVectorSelector>,
    /// Order by a payload field with an integer, float or datetime index instead of by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<OrderBy>,
    /// Qdrant's shard selection; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
}

impl ScrollRequest {
    /// Refuse the Qdrant fields rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), crate::error::StorageError> {
        super::search::refuse_shard_key(&self.shard_key)
    }
}

/// Default page size of a scroll, as in Qdrant.
pub const DEFAULT_SCROLL_LIMIT: usize = 10;

impl ScrollRequest {
    /// The first `limit` points in id order.
    pub fn new(limit: usize) -> Self {
        ScrollRequest {
            limit: Some(limit),
            ..ScrollRequest::default()
        }
    }

    /// Only the points `filter` matches.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Start at id `offset` (inclusive).
    pub fn offset(mut self, offset: impl Into<PointId>) -> Self {
        self.offset = Some(offset.into());
        self
    }

    /// Which payload keys to return.
    pub fn with_payload(mut self, selector: impl Into<WithPayloadSelector>) -> Self {
        self.with_payload = Some(selector.into());
        self
    }

    /// Whether to return vectors.
    pub fn with_vector(mut self, selector: impl Into<WithVectorSelector>) -> Self {
        self.with_vector = Some(selector.into());
        self
    }

    /// Order by an indexed payload field.
    pub fn order_by(mut self, order: impl Into<OrderBy>) -> Self {
        self.order_by = Some(order.into());
        self
    }
}

/// `order_by` of a scroll: `"year"` or `{"key": "year", "direction": "desc", "start_from": 2020}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderBy {
    /// The payload key; it needs an integer, float or datetime index.
    pub key: String,
    /// Ascending (default) or descending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Start at this value (inclusive) instead of the smallest (largest, descending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_from: Option<StartFrom>,
}

impl From<&str> for OrderBy {
    fn from(key: &str) -> Self {
        OrderBy {
            key: key.to_owned(),
            direction: None,
            start_from: None,
        }
    }
}

impl OrderBy {
    /// Order by `key` in `direction`.
    pub fn new(key: impl Into<String>, direction: Direction) -> Self {
        OrderBy {
            key: key.into(),
            direction: Some(direction),
            start_from: None,
        }
    }

    /// Start at `value` (inclusive).
    pub fn start_from(mut self, value: StartFrom) -> Self {
        self.start_from = Some(value);
        self
    }
}

impl<'de> Deserialize<'de> for OrderBy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            key: String,
            #[serde(default)]
            direction: Option<Direction>,
            #[serde(default)]
            start_from: Option<StartFrom>,
        }
        // Read as a value first, so that an object's own error (an unknown field, named) is
        // reported instead of an untagged enum's "matched no variant".
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(key) => Ok(OrderBy::from(key.as_str())),
            value @ serde_json::Value::Object(_) => {
                let full: Full = serde_json::from_value(value)
                    .map_err(|e| de::Error::custom(format!("order_by: {e}")))?;
                Ok(OrderBy {
                    key: full.key,
                    direction: full.direction,
                    start_from: full.start_from,
                })
            }
            _ => Err(de::Error::custom(
                "order_by is a key or {\"key\": .., \"direction\": \"asc\"|\"desc\", \"start_from\": ..}",
            )),
        }
    }
}

/// Sort direction of `order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// `start_from` of `order_by`: a number or an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StartFrom {
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A date-time string.
    Datetime(String),
}

/// Result of a scroll: `{"points": [...], "next_page_offset": 43}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollResult {
    /// This page's points, in id order (or `order_by` order).
    pub points: Vec<Record>,
    /// The id the next page starts at; `null` on the last page (and always with `order_by`,
    /// which Qdrant does not page by offset either).
    pub next_page_offset: Option<PointId>,
}
