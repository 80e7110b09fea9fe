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

/// `field_schema` of a create-index request: `"keyword"`, or Qdrant's parameterised form
/// `{"type": "integer", "lookup": true, "range": true}`. Each kind takes Qdrant's parameters
/// for it and no others (a parse error names the stray one); parameters that ask for
/// something rro does not do are refused by [`CreateFieldIndex::check_supported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadFieldSchema {
    /// The kind of index.
    pub kind: PayloadSchemaType,
    /// The parameters of the object form, if it was used.
    pub params: Option<FieldIndexParams>,
}

/// Parameters of an index kind, as in Qdrant. rro builds every index one way: in memory,
/// answering exact matches and ranges, without tenant- or principal-specific storage, so
/// only the values that describe that (`lookup: true`, `range: true`, `on_disk: false`,
/// `is_tenant: false`, `is_principal: false`) are honoured; others are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldIndexParams {
    /// Keyword: the key partitions points by tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    /// Integer, float, datetime: the key is the main filter of most searches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    /// Integer: the index answers exact matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    /// Integer: the index answers ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    /// Keep the index on disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

impl FieldIndexParams {
    /// Every parameter that is set, by name, with its value.
    fn set(&self) -> Vec<(&'static str, bool)> {
        [
            ("is_tenant", self.is_tenant),
            ("is_principal", self.is_principal),
            ("lookup", self.lookup),
            ("range", self.range),
            ("on_disk", self.on_disk),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

/// The parameters Qdrant takes for each index kind.
fn params_of(kind: PayloadSchemaType) -> &'static [&'static str] {
    match kind {
        PayloadSchemaType::Keyword => &["is_tenant", "on_disk"],
        PayloadSchemaType::Integer => &["lookup", "range", "is_principal", "on_disk"],
        PayloadSchemaType::Float | PayloadSchemaType::Datetime => &["is_principal", "on_disk"],
        PayloadSchemaType::Bool | PayloadSchemaType::Geo => &["on_disk"],
    }
}

impl Serialize for PayloadFieldSchema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.params {
            None => self.kind.serialize(serializer),
            Some(params) => {
                let mut object = serde_json::Map::new();
                object.insert("type".into(), self.kind.name().into());
                for (name, value) in params.set() {
                    object.insert(name.into(), value.into());
                }
                object.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for PayloadFieldSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let parse_kind = |kind: serde_json::Value| {
            serde_json::from_value::<PayloadSchemaType>(kind).map_err(|e| {
                de::Error::custom(format!(
                    "field_schema: {e}; rro indexes keyword, integer, float, bool, datetime and geo"
                ))
            })
        };
        match value {
            serde_json::Value::String(_) => Ok(PayloadFieldSchema {
                kind: parse_kind(value)?,
                params: None,
            }),
            serde_json::Value::Object(mut map) => {
                let kind = map
                    .remove("type")
                    .ok_or_else(|| de::Error::custom("field_schema object needs a \"type\""))?;
                let kind = parse_kind(kind)?;
                let allowed = params_of(kind);
                if let Some(stray) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(de::Error::custom(format!(
                        "unknown field `{stray}` of a {} index, expected one of `type`, {}",
                        kind.name(),
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let params = serde_json::from_value(serde_json::Value::Object(map))
                    .map_err(|e| de::Error::custom(format!("field_schema: {e}")))?;
                Ok(PayloadFieldSchema {
                    kind,
                    params: Some(params),
                })
            }
            _ => Err(de::Error::custom(
                "field_schema is a type name or an object with a \"type\"",
            )),
        }
    }
}

impl From<PayloadSchemaType> for PayloadFieldSchema {
    fn from(kind: PayloadSchemaType) -> Self {
        PayloadFieldSchema { kind, params: None }
    }
}

/// Body of `PUT /collections/{name}/index`: `{"field_name": "city", "field_schema": "keyword"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
            field_schema: kind.into(),
        }
    }

    /// Refuse index parameters that ask for something rro does not do.
    pub fn check_supported(&self) -> Result<(), crate::error::StorageError> {
        let Some(params) = &self.field_schema.params else {
            return Ok(());
        };
        for (name, value) in params.set() {
            // What rro's one kind of index is: answers matches and ranges, lives in memory.
            let honoured = match name {
                "lookup" | "range" => value,
                _ => !value,
            };
            if !honoured {
                return Err(crate::error::StorageError::unsupported(
                    format!("field_schema.{name}"),
                    "payload indexes live in memory, answer exact matches and ranges, and have no tenant or principal storage",
                ));
            }
        }
        Ok(())
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
