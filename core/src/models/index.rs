//! Payload field indexes: which kinds exist and what collection info says about them.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// The kind of a payload field index, as in Qdrant: `"keyword"`, `"integer"`, `"float"`,
/// `"bool"`, `"datetime"` or `"geo"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadSchemaType {
    /// String values, matched exactly (`match.value`, `match.any`, `match.except`).
    Keyword,
    /// Integer values: exact matches and ranges.
    Integer,
    /// Numbers (integers and floats): ranges.
    Float,
    /// `true` / `false`.
    Bool,
    /// RFC 3339 date-time strings: ranges.
    Datetime,
    /// `{"lon": .., "lat": ..}` objects: bounding boxes and radii.
    Geo,
}

impl PayloadSchemaType {
    /// The name Qdrant's JSON uses.
    pub fn name(self) -> &'static str {
        match self {
            PayloadSchemaType::Keyword => "keyword",
            PayloadSchemaType::Integer => "integer",
            PayloadSchemaType::Float => "float",
            PayloadSchemaType::Bool => "bool",
            PayloadSchemaType::Datetime => "datetime",
            PayloadSchemaType::Geo => "geo",
        }
    }
}

/// `field_schema` of a create-index request: `"keyword"` or `{"type": "keyword", ...}`
/// (Qdrant's parameterised form; parameters rro does not use are accepted and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PayloadFieldSchema(pub PayloadSchemaType);

impl<'de> Deserialize<'de> for PayloadFieldSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let kind = match &value {
            serde_json::Value::String(_) => value.clone(),
            serde_json::Value::Object(map) => map
                .get("type")
                .cloned()
                .ok_or_else(|| de::Error::custom("field_schema object needs a \"type\""))?,
            _ => {
                return Err(de::Error::custom(
                    "field_schema is a type name or an object with a \"type\"",
                ))
            }
        };
        serde_json::from_value(kind)
            .map(PayloadFieldSchema)
            .map_err(|e| {
                de::Error::custom(format!(
                "field_schema: {e}; rro indexes keyword, integer, float, bool, datetime and geo"
            ))
            })
    }
}

impl From<PayloadSchemaType> for PayloadFieldSchema {
    fn from(kind: PayloadSchemaType) -> Self {
        PayloadFieldSchema(kind)
    }
}

/// Body of `PUT /collections/{name}/index`: `{"field_name": "city", "field_schema": "keyword"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateFieldIndex {
    /// The payload key to index (`city`, `country.name`, `tags[]`).
    pub field_name: String,
    /// The kind of index.
    pub field_schema: PayloadFieldSchema,
}

impl CreateFieldIndex {
    /// Index `field` as `kind`.
    pub fn new(field: impl Into<String>, kind: PayloadSchemaType) -> Self {
        CreateFieldIndex {
            field_name: field.into(),
            field_schema: PayloadFieldSchema(kind),
        }
    }
}

/// One entry of collection info's `payload_schema`: `{"data_type": "keyword", "points": 42}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadIndexInfo {
    /// The kind of index.
    pub data_type: PayloadSchemaType,
    /// Points that have at least one value of that kind at the field.
    pub points: u64,
}
