//! Named vectors: a collection with several vector spaces, and the shapes vectors take in
//! requests and results.
//!
//! A collection has one unnamed vector space (`"vectors": {"size": 4, "distance": "Dot"}`)
//! or several named ones (`"vectors": {"image": {...}, "text": {...}}`), each with its own
//! size, distance and index. A point of a named collection may lack some of its vectors.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::point::refuse_write_field;
use super::selector::SelectorFields;
use super::{Filter, PointId, PointsSelector, VectorParams};

/// The vector spaces of a collection: one unnamed, or several named.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorsConfig {
    /// One unnamed vector per point.
    Single(VectorParams),
    /// Named vectors, each with its own size and distance.
    Multi(BTreeMap<String, VectorParams>),
}

impl From<VectorParams> for VectorsConfig {
    fn from(params: VectorParams) -> Self {
        VectorsConfig::Single(params)
    }
}

impl From<BTreeMap<String, VectorParams>> for VectorsConfig {
    fn from(spaces: BTreeMap<String, VectorParams>) -> Self {
        VectorsConfig::Multi(spaces)
    }
}

impl VectorsConfig {
    /// Named spaces built from `(name, params)` pairs.
    pub fn named(spaces: impl IntoIterator<Item = (impl Into<String>, VectorParams)>) -> Self {
        VectorsConfig::Multi(spaces.into_iter().map(|(n, p)| (n.into(), p)).collect())
    }

    /// Every space with its name (`""` for the unnamed one), in name order.
    pub fn spaces(&self) -> Vec<(&str, &VectorParams)> {
        match self {
            VectorsConfig::Single(params) => vec![("", params)],
            VectorsConfig::Multi(spaces) => spaces.iter().map(|(n, p)| (n.as_str(), p)).collect(),
        }
    }

    /// The params of space `name` (`""`: the unnamed one).
    pub fn get(&self, name: &str) -> Option<&VectorParams> {
        match self {
            VectorsConfig::Single(params) => name.is_empty().then_some(params),
            VectorsConfig::Multi(spaces) => spaces.get(name),
        }
    }
}

impl Serialize for VectorsConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VectorsConfig::Single(params) => params.serialize(serializer),
            VectorsConfig::Multi(spaces) => spaces.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for VectorsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        // `{"size": 4, ..}` is one space; a space may itself be named "size", whose value is
        // then an object.
        let single = value
            .as_object()
            .is_some_and(|o| o.get("size").is_some_and(serde_json::Value::is_number));
        if single {
            serde_json::from_value(value)
                .map(VectorsConfig::Single)
                .map_err(de::Error::custom)
        } else {
            let spaces: BTreeMap<String, VectorParams> =
                serde_json::from_value(value).map_err(|e| {
                    de::Error::custom(format!(
                        "vectors is {{\"size\": .., \"distance\": ..}} or a map of names to those: {e}"
                    ))
                })?;
            Ok(VectorsConfig::Multi(spaces))
        }
    }
}

/// A point's vectors: `[0.1, 0.2]` (unnamed) or `{"image": [..], "text": [..]}` (named; a
/// point may leave some out).
#[derive(Debug, Clone, PartialEq)]
pub enum VectorStruct {
    /// The unnamed vector.
    Single(Vec<f32>),
    /// Named vectors.
    Named(BTreeMap<String, Vec<f32>>),
}

impl From<Vec<f32>> for VectorStruct {
    fn from(vector: Vec<f32>) -> Self {
        VectorStruct::Single(vector)
    }
}

impl From<BTreeMap<String, Vec<f32>>> for VectorStruct {
    fn from(vectors: BTreeMap<String, Vec<f32>>) -> Self {
        VectorStruct::Named(vectors)
    }
}

impl VectorStruct {
    /// Named vectors from `(name, vector)` pairs.
    pub fn named(vectors: impl IntoIterator<Item = (impl Into<String>, Vec<f32>)>) -> Self {
        VectorStruct::Named(vectors.into_iter().map(|(n, v)| (n.into(), v)).collect())
    }

    /// The unnamed vector, if this is one.
    pub fn as_single(&self) -> Option<&[f32]> {
        match self {
            VectorStruct::Single(v) => Some(v),
            VectorStruct::Named(_) => None,
        }
    }

    /// The vector named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        match self {
            VectorStruct::Single(v) => name.is_empty().then_some(v.as_slice()),
            VectorStruct::Named(map) => map.get(name).map(Vec::as_slice),
        }
    }
}

impl PartialEq<Vec<f32>> for VectorStruct {
    fn eq(&self, other: &Vec<f32>) -> bool {
        self.as_single() == Some(other.as_slice())
    }
}

impl Serialize for VectorStruct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VectorStruct::Single(v) => v.serialize(serializer),
            VectorStruct::Named(map) => map.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for VectorStruct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Single(Vec<f32>),
            Named(BTreeMap<String, Vec<f32>>),
        }
        match Raw::deserialize(deserializer) {
            Ok(Raw::Single(v)) => Ok(VectorStruct::Single(v)),
            Ok(Raw::Named(map)) => Ok(VectorStruct::Named(map)),
            Err(_) => Err(de::Error::custom(
                "a vector is a list of numbers, or an object of named lists of numbers",
            )),
        }
    }
}

/// The query vector of a search: `[0.2, 0.1]` (the unnamed space) or
/// `{"name": "image", "vector": [0.2, 0.1]}`.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedVectorStruct {
    /// A vector of the unnamed space.
    Default(Vec<f32>),
    /// A vector of space `name`.
    Named {
        /// The space.
        name: String,
        /// The vector.
        vector: Vec<f32>,
    },
}

impl From<Vec<f32>> for NamedVectorStruct {
    fn from(vector: Vec<f32>) -> Self {
        NamedVectorStruct::Default(vector)
    }
}

impl NamedVectorStruct {
    /// A query in space `name`.
    pub fn named(name: impl Into<String>, vector: Vec<f32>) -> Self {
        NamedVectorStruct::Named {
            name: name.into(),
            vector,
        }
    }

    /// The space's name (`""` for the unnamed one).
    pub fn name(&self) -> &str {
        match self {
            NamedVectorStruct::Default(_) => "",
            NamedVectorStruct::Named { name, .. } => name,
        }
    }

    /// The vector.
    pub fn vector(&self) -> &[f32] {
        match self {
            NamedVectorStruct::Default(v) | NamedVectorStruct::Named { vector: v, .. } => v,
        }
    }
}

impl Serialize for NamedVectorStruct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            NamedVectorStruct::Default(v) => v.serialize(serializer),
            NamedVectorStruct::Named { name, vector } => {
                serde_json::json!({ "name": name, "vector": vector }).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for NamedVectorStruct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Named {
            name: String,
            vector: Vec<f32>,
        }
        // Read as a value first, so that an object's own error (an unknown field, named) is
        // reported instead of an untagged enum's "matched no variant".
        let value = serde_json::Value::deserialize(deserializer)?;
        let shape = || {
            de::Error::custom(
                "the query vector is a list of numbers or {\"name\": .., \"vector\": [..]}",
            )
        };
        match value {
            serde_json::Value::Array(_) => serde_json::from_value(value)
                .map(NamedVectorStruct::Default)
                .map_err(|_| shape()),
            serde_json::Value::Object(_) => {
                let n: Named = serde_json::from_value(value)
                    .map_err(|e| de::Error::custom(format!("query vector: {e}")))?;
                Ok(NamedVectorStruct::Named {
                    name: n.name,
                    vector: n.vector,
                })
            }
            _ => Err(shape()),
        }
    }
}

/// Which vectors to return: `true` / `false`, or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WithVectorSelector {
    /// All vectors (`true`) or none (`false`).
    Enable(bool),
    /// Only these named vectors.
    Names(Vec<String>),
}

impl From<bool> for WithVectorSelector {
    fn from(yes: bool) -> Self {
        WithVectorSelector::Enable(yes)
    }
}

impl WithVectorSelector {
    /// Whether any vector is returned.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WithVectorSelector::Enable(false))
    }

    /// Whether the vector named `name` is returned.
    pub fn wants(&self, name: &str) -> bool {
        match self {
            WithVectorSelector::Enable(yes) => *yes,
            WithVectorSelector::Names(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One point's new vectors: `{"id": 1, "vector": {"image": [..]}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointVectors {
    /// The point.
    pub id: PointId,
    /// The vectors to set; the point's other vectors stay as they are.
    pub vector: VectorStruct,
}

/// Body of `PUT /collections/{name}/points/vectors`: `{"points": [{"id": 1, "vector": ..}]}`.
/// Qdrant's `shard_key` and `update_filter` are refused when parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateVectors {
    /// The points and their new vectors; missing points are ignored.
    pub points: Vec<PointVectors>,
}

impl<'de> Deserialize<'de> for UpdateVectors {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            points: Vec<PointVectors>,
            #[serde(default)]
            shard_key: Option<serde_json::Value>,
            #[serde(default)]
            update_filter: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        refuse_write_field("shard_key", &raw.shard_key)?;
        refuse_write_field("update_filter", &raw.update_filter)?;
        Ok(UpdateVectors { points: raw.points })
    }
}

/// Body of `POST /collections/{name}/points/vectors/delete`:
/// `{"points": [1, 2], "vector": ["image"]}` or with `"filter"`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteVectors {
    /// The names of the vectors to remove.
    pub vector: Vec<String>,
    /// The points.
    pub selector: PointsSelector,
}

impl DeleteVectors {
    /// Remove vectors `names` from the selected points.
    pub fn new(
        names: impl IntoIterator<Item = impl Into<String>>,
        selector: PointsSelector,
    ) -> Self {
        DeleteVectors {
            vector: names.into_iter().map(Into::into).collect(),
            selector,
        }
    }
}

impl Serialize for DeleteVectors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            vector: &'a Vec<String>,
            #[serde(flatten)]
            selector: SelectorFields,
        }
        Out {
            vector: &self.vector,
            selector: SelectorFields::from_selector(&self.selector),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DeleteVectors {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            vector: Vec<String>,
            #[serde(default)]
            points: Option<Vec<PointId>>,
            #[serde(default)]
            filter: Option<Filter>,
            #[serde(default)]
            shard_key: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(deserializer)?;
        refuse_write_field("shard_key", &raw.shard_key)?;
        Ok(DeleteVectors {
            vector: raw.vector,
            selector: SelectorFields {
                points: raw.points,
                filter: raw.filter,
            }
            .into_selector()?,
        })
    }
}
