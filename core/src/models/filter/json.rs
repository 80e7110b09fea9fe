//! Serde for conditions and match clauses.

use super::*;

// ---------------------------------------------------------------------------------------------
// Serde: conditions and match clauses are read from a JSON value, so that a wrong shape gets a
// message naming what was expected instead of serde's "did not match any variant".

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn single<S: Serializer, T: Serialize + ?Sized>(
            serializer: S,
            name: &str,
            value: &T,
        ) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(name, value)?;
            map.end()
        }
        match self {
            Condition::Field(field) => field.serialize(serializer),
            Condition::IsEmpty(field) => single(serializer, "is_empty", field),
            Condition::IsNull(field) => single(serializer, "is_null", field),
            Condition::HasId(ids) => single(serializer, "has_id", ids),
            Condition::Nested(nested) => single(serializer, "nested", nested),
            Condition::Filter(filter) => filter.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Condition::from_json(Value::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

const FILTER_FIELDS: [&str; 4] = ["must", "should", "must_not", "min_should"];

impl Condition {
    fn from_json(value: Value) -> Result<Self, String> {
        const SINGLE_FIELD_KINDS: [&str; 4] = ["is_empty", "is_null", "has_id", "nested"];
        let Value::Object(mut object) = value else {
            return Err(format!(
                "a condition is a JSON object, got {}",
                json_kind(&value)
            ));
        };
        if object.contains_key("key") {
            return serde_json::from_value(Value::Object(object))
                .map(Condition::Field)
                .map_err(|e| format!("field condition: {e}"));
        }
        if let Some(kind) = SINGLE_FIELD_KINDS
            .into_iter()
            .find(|kind| object.contains_key(*kind))
        {
            if let Some(other) = object.keys().find(|k| *k != kind) {
                return Err(format!(
                    "a `{kind}` condition has no other fields, found `{other}`"
                ));
            }
            let inner = object.remove(kind).unwrap_or(Value::Null);
            let read = match kind {
                "is_empty" => serde_json::from_value(inner).map(Condition::IsEmpty),
                "is_null" => serde_json::from_value(inner).map(Condition::IsNull),
                "has_id" => serde_json::from_value(inner).map(Condition::HasId),
                _ => serde_json::from_value(inner).map(Condition::Nested),
            };
            return read.map_err(|e| format!("{kind}: {e}"));
        }
        if object.keys().all(|k| FILTER_FIELDS.contains(&k.as_str())) {
            return serde_json::from_value(Value::Object(object))
                .map(Condition::Filter)
                .map_err(|e| format!("filter: {e}"));
        }
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        Err(format!(
            "unknown condition with fields `{}`; a condition is a field condition \
             (`key` with `match`, `range`, `geo_bounding_box`, `geo_radius` or \
             `values_count`), `is_empty`, `is_null`, `has_id`, `nested`, or a filter \
             (`must`, `should`, `must_not`, `min_should`)",
            keys.join("`, `")
        ))
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a list of conditions, or a single condition standing for a list of one (Qdrant
/// accepts both); `null` is no list.
fn conditions_from_json(value: Value, name: &str) -> Result<Option<Vec<Condition>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Condition::from_json(item).map_err(|e| format!("{name}[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        single => Condition::from_json(single)
            .map(|c| Some(vec![c]))
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn deserialize_conditions<'de, D: Deserializer<'de>>(
    deserializer: D,
    name: &str,
) -> Result<Option<Vec<Condition>>, D::Error> {
    conditions_from_json(Value::deserialize(deserializer)?, name).map_err(de::Error::custom)
}

pub(super) fn deserialize_must<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Condition>>, D::Error> {
    deserialize_conditions(d, "must")
}

pub(super) fn deserialize_should<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Condition>>, D::Error> {
    deserialize_conditions(d, "should")
}

pub(super) fn deserialize_must_not<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Condition>>, D::Error> {
    deserialize_conditions(d, "must_not")
}

pub(super) fn deserialize_min_should_conditions<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Condition>, D::Error> {
    match conditions_from_json(Value::deserialize(d)?, "conditions") {
        Ok(Some(conditions)) => Ok(conditions),
        Ok(None) => Err(de::Error::custom(
            "`min_should.conditions` is a list of conditions, got null",
        )),
        Err(e) => Err(de::Error::custom(e)),
    }
}

impl Serialize for Match {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Match::Value(value) => map.serialize_entry("value", value)?,
            Match::Any(values) => map.serialize_entry("any", values)?,
            Match::Except(values) => map.serialize_entry("except", values)?,
            Match::Text(text) => map.serialize_entry("text", text)?,
            Match::TextAny(text) => map.serialize_entry("text_any", text)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Match {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Match::from_json(value).map_err(de::Error::custom)
    }
}

impl Match {
    pub(super) fn from_json(value: Value) -> Result<Self, String> {
        const KINDS: &str = "`value`, `any`, `except`, `text` or `text_any`";
        let Value::Object(object) = value else {
            return Err(format!(
                "`match` is an object with one of {KINDS}, got {}",
                json_kind(&value)
            ));
        };
        let mut entries = object.into_iter();
        let (Some((kind, inner)), None) = (entries.next(), entries.next()) else {
            return Err(format!("`match` needs exactly one of {KINDS}"));
        };
        match kind.as_str() {
            "value" => MatchValue::from_json(inner).map(Match::Value),
            "any" => AnyVariants::from_json(inner, "any").map(Match::Any),
            "except" => AnyVariants::from_json(inner, "except").map(Match::Except),
            "text" => match inner {
                Value::String(text) => Ok(Match::Text(text)),
                other => Err(format!(
                    "`match.text` is a string, got {}",
                    json_kind(&other)
                )),
            },
            "text_any" => match inner {
                Value::String(text) => Ok(Match::TextAny(text)),
                other => Err(format!(
                    "`match.text_any` is a string, got {}",
                    json_kind(&other)
                )),
            },
            other => Err(format!(
                "unsupported match kind `{other}`; rro supports {KINDS}"
            )),
        }
    }
}

impl Serialize for MatchValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MatchValue::Keyword(text) => serializer.serialize_str(text),
            MatchValue::Integer(n) => serializer.serialize_i64(*n),
            MatchValue::Bool(b) => serializer.serialize_bool(*b),
        }
    }
}

impl MatchValue {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::String(text) => Ok(MatchValue::Keyword(text)),
            Value::Bool(b) => Ok(MatchValue::Bool(b)),
            Value::Number(n) => n.as_i64().map(MatchValue::Integer).ok_or_else(|| {
                format!(
                    "`match.value` {n} is not an integer in the i64 range; \
                     compare floats with `range`"
                )
            }),
            other => Err(format!(
                "`match.value` is a string, an integer or a bool, got {}",
                json_kind(&other)
            )),
        }
    }
}

impl Serialize for AnyVariants {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyVariants::Keywords(values) => values.serialize(serializer),
            AnyVariants::Integers(values) => values.serialize(serializer),
        }
    }
}

impl AnyVariants {
    fn from_json(value: Value, name: &str) -> Result<Self, String> {
        let Value::Array(items) = value else {
            return Err(format!(
                "`match.{name}` is a list, got {}",
                json_kind(&value)
            ));
        };
        let mixed = || format!("`match.{name}` must be all strings or all integers");
        match items.first() {
            None | Some(Value::String(_)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(mixed()),
                })
                .collect::<Result<_, _>>()
                .map(AnyVariants::Keywords),
            Some(Value::Number(_)) => items
                .iter()
                .map(|item| item.as_i64().ok_or_else(mixed))
                .collect::<Result<_, _>>()
                .map(AnyVariants::Integers),
            Some(other) => Err(format!(
                "`match.{name}` holds strings or integers, got {}",
                json_kind(other)
            )),
        }
    }
}

impl Serialize for RangeValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RangeValue::Number(n) => serializer.serialize_f64(*n),
            RangeValue::DateTime(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for RangeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => n.as_f64().map(RangeValue::Number).ok_or_else(|| {
                de::Error::custom(format!("range bound {n} is not representable as a float"))
            }),
            Value::String(text) => Ok(RangeValue::DateTime(text)),
            other => Err(de::Error::custom(format!(
                "a range bound is a number or a date-time string, got {}",
                json_kind(&other)
            ))),
        }
    }
}
