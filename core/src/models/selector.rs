//! Selecting points (by ids or by filter) and parts of payloads, and the payload operations
//! that use them.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::point::refuse_write_field;
use super::{Filter, Payload, PointId};

/// Which part of the payload to return: `true` / `false`, a list of keys to include
/// (`["city", "address.street"]` or `{"include": [...]}`), or keys to leave out
/// (`{"exclude": [...]}`). Keys are filter keys: `a.b`, `a[].b`, `a[0]`, `"a.b"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithPayloadSelector {
    /// The whole payload (`true`) or none (`false`).
    Enable(bool),
    /// Only these keys.
    Include(Vec<String>),
    /// Every key but these.
    Exclude(Vec<String>),
}

impl From<bool> for WithPayloadSelector {
    fn from(yes: bool) -> Self {
        WithPayloadSelector::Enable(yes)
    }
}

impl WithPayloadSelector {
    /// Whether any payload is returned at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WithPayloadSelector::Enable(false))
    }

    /// The part of `payload` this selector returns; `None` when payloads are off. A point
    /// without payload gives an empty one, as in Qdrant.
    pub fn apply(&self, payload: Option<Payload>) -> Option<Payload> {
        match self {
            WithPayloadSelector::Enable(false) => None,
            WithPayloadSelector::Enable(true) => Some(payload.unwrap_or_default()),
            WithPayloadSelector::Include(keys) => {
                Some(super::path::include(&payload.unwrap_or_default(), keys))
            }
            WithPayloadSelector::Exclude(keys) => {
                let mut payload = payload.unwrap_or_default();
                for key in keys {
                    super::path::remove(&mut payload, key);
                }
                Some(payload)
            }
        }
    }
}

impl Serialize for WithPayloadSelector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            WithPayloadSelector::Enable(yes) => serializer.serialize_bool(*yes),
            WithPayloadSelector::Include(keys) => keys.serialize(serializer),
            WithPayloadSelector::Exclude(keys) => {
                serde_json::json!({ "exclude": keys }).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for WithPayloadSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Either {
            include: Option<Vec<String>>,
            exclude: Option<Vec<String>>,
        }
        enum Raw {
            Bool(bool),
            List(Vec<String>),
            Object(Either),
        }
        let shape = || {
            de::Error::custom(
                "with_payload is true, false, a list of keys, {\"include\": [..]} or {\"exclude\": [..]}",
            )
        };
        // Read as a value first, so that an object's own error (an unknown field, named) is
        // reported instead of an untagged enum's "matched no variant".
        let raw = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Bool(yes) => Raw::Bool(yes),
            value @ serde_json::Value::Array(_) => {
                Raw::List(serde_json::from_value(value).map_err(|_| shape())?)
            }
            value @ serde_json::Value::Object(_) => Raw::Object(
                serde_json::from_value(value)
                    .map_err(|e| de::Error::custom(format!("with_payload: {e}")))?,
            ),
            _ => return Err(shape()),
        };
        Ok(match raw {
            Raw::Bool(yes) => WithPayloadSelector::Enable(yes),
            Raw::List(keys) => WithPayloadSelector::Include(keys),
            Raw::Object(Either {
                include: Some(keys),
                exclude: None,
            }) => WithPayloadSelector::Include(keys),
            Raw::Object(Either {
                include: None,
                exclude: Some(keys),
            }) => WithPayloadSelector::Exclude(keys),
            Raw::Object(_) => {
                return Err(de::Error::custom(
                    "with_payload takes exactly one of \"include\" and \"exclude\"",
                ))
            }
        })
    }
}

/// Which points an operation applies to: `{"points": [1, 2]}` or `{"filter": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub enum PointsSelector {
    /// These ids; missing ids are ignored.
    Points(Vec<PointId>),
    /// Every point the filter matches when the operation runs.
    Filter(Filter),
}

impl PointsSelector {
    /// Select `ids`.
    pub fn ids(ids: impl IntoIterator<Item = impl Into<PointId>>) -> Self {
        PointsSelector::Points(ids.into_iter().map(Into::into).collect())
    }

    /// Select the points `filter` matches.
    pub fn filter(filter: Filter) -> Self {
        PointsSelector::Filter(filter)
    }
}

/// `points` or `filter`, as they appear in the bodies of delete and payload requests.
#[derive(Serialize)]
pub(crate) struct SelectorFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) points: Option<Vec<PointId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) filter: Option<Filter>,
}

impl SelectorFields {
    pub(crate) fn from_selector(selector: &PointsSelector) -> Self {
        match selector {
            PointsSelector::Points(ids) => SelectorFields {
                points: Some(ids.clone()),
                filter: None,
            },
            PointsSelector::Filter(filter) => SelectorFields {
                points: None,
                filter: Some(filter.clone()),
            },
        }
    }

    pub(crate) fn into_selector<E: de::Error>(self) -> Result<PointsSelector, E> {
        match (self.points, self.filter) {
            (Some(ids), None) => Ok(PointsSelector::Points(ids)),
            (None, Some(filter)) => Ok(PointsSelector::Filter(filter)),
            _ => Err(E::custom(
                "select points with exactly one of \"points\" (a list of ids) and \"filter\"",
            )),
        }
    }
}

impl Serialize for PointsSelector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SelectorFields::from_selector(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PointsSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            points: Option<Vec<PointId>>,
            #[serde(default)]
            filter: Option<Filter>,
            #[serde(default)]
            shard_key: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        refuse_write_field("shard_key", &raw.shard_key)?;
        SelectorFields {
            points: raw.points,
            filter: raw.filter,
        }
        .into_selector()
    }
}

/// Body of `POST` (merge) or `PUT` (overwrite) `/collections/{name}/points/payload`:
/// `{"payload": {"color": "red"}, "points": [1, 2]}` or with `"filter"` instead of `"points"`.
/// With `"key": "a.b"`, the payload is merged into the object at that key instead of the top.
#[derive(Debug, Clone, PartialEq)]
pub struct SetPayload {
    /// The keys and values to set.
    pub payload: Payload,
    /// The points to change.
    pub selector: PointsSelector,
    /// An object key (dotted for nested objects) to set the payload under, instead of the top.
    pub key: Option<String>,
}

impl SetPayload {
    /// Set `payload` on the selected points.
    pub fn new(payload: Payload, selector: PointsSelector) -> Self {
        SetPayload {
            payload,
            selector,
            key: None,
        }
    }

    /// Set the payload inside the object at `key` instead of at the top.
    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl Serialize for SetPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            payload: &'a Payload,
            #[serde(flatten)]
            selector: SelectorFields,
            #[serde(skip_serializing_if = "Option::is_none")]
            key: &'a Option<String>,
        }
        Out {
            payload: &self.payload,
            selector: SelectorFields::from_selector(&self.selector),
            key: &self.key,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SetPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            payload: Payload,
            #[serde(default)]
            points: Option<Vec<PointId>>,
            #[serde(default)]
            filter: Option<Filter>,
            #[serde(default)]
            key: Option<String>,
            #[serde(default)]
            shard_key: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        refuse_write_field("shard_key", &raw.shard_key)?;
        Ok(SetPayload {
            payload: raw.payload,
            selector: SelectorFields {
                points: raw.points,
                filter: raw.filter,
            }
            .into_selector()?,
            key: raw.key,
        })
    }
}

/// Body of `POST /collections/{name}/points/payload/delete`:
/// `{"keys": ["color", "price"], "points": [1, 2]}` or with `"filter"`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletePayload {
    /// Keys to remove (dotted keys reach into nested objects).
    pub keys: Vec<String>,
    /// The points to change.
    pub selector: PointsSelector,
}

impl DeletePayload {
    /// Remove `keys` from the selected points.
    pub fn new(
        keys: impl IntoIterator<Item = impl Into<String>>,
        selector: PointsSelector,
    ) -> Self {
        DeletePayload {
            keys: keys.into_iter().map(Into::into).collect(),
            selector,
        }
    }
}

impl Serialize for DeletePayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            keys: &'a Vec<String>,
            #[serde(flatten)]
            selector: SelectorFields,
        }
        Out {
            keys: &self.keys,
            selector: SelectorFields::from_selector(&self.selector),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DeletePayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            keys: Vec<String>,
            #[serde(default)]
            points: Option<Vec<PointId>>,
            #[serde(default)]
            filter: Option<Filter>,
            #[serde(default)]
            shard_key: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        refuse_write_field("shard_key", &raw.shard_key)?;
        Ok(DeletePayload {
            keys: raw.keys,
            selector: SelectorFields {
                points: raw.points,
                filter: raw.filter,
            }
            .into_selector()?,
        })
    }
}

/// How a payload write changes the selected points' payloads.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadUpdate {
    /// Merge keys in (`POST .../payload`).
    Set(SetPayload),
    /// Replace the whole payload (`PUT .../payload`).
    Overwrite(SetPayload),
    /// Remove keys (`POST .../payload/delete`).
    Delete(DeletePayload),
    /// Remove the whole payload (`POST .../payload/clear`).
    Clear(PointsSelector),
}

impl PayloadUpdate {
    /// The points this update applies to.
    pub fn selector(&self) -> &PointsSelector {
        match self {
            PayloadUpdate::Set(set) | PayloadUpdate::Overwrite(set) => &set.selector,
            PayloadUpdate::Delete(delete) => &delete.selector,
            PayloadUpdate::Clear(selector) => selector,
        }
    }
}
