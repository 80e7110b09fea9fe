//! Payload key paths applied to payloads: projecting (`with_payload` include lists), removing
//! (exclude lists, delete payload keys) and finding the objects a `set_payload` key names.
//!
//! Keys are the filter keys of `filter.rs`: `a.b` is field `b` of object `a`, `a[]` every
//! element of array `a`, `a[1]` its second element, `"a.b"` a field whose name has a dot. A
//! key that does not parse is taken as one literal field name, so a payload key written by an
//! application can always be selected.

use serde_json::Value;

use super::{parse_key, KeySegment, Payload};

/// The parsed steps of `key`, or the key as one field.
fn steps(key: &str) -> Vec<KeySegment<'_>> {
    parse_key(key).unwrap_or_else(|_| vec![KeySegment::Field(key)])
}

/// The parts of `value` that `path` reaches, in the shape they have in `value`; `None` when it
/// reaches nothing.
fn project(value: &Value, path: &[KeySegment<'_>]) -> Option<Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(value.clone());
    };
    match (step, value) {
        (KeySegment::Field(name), Value::Object(object)) => {
            let inner = project(object.get(*name)?, rest)?;
            let mut out = Payload::new();
            out.insert((*name).to_owned(), inner);
            Some(Value::Object(out))
        }
        (KeySegment::Index(i), Value::Array(items)) => {
            Some(Value::Array(vec![project(items.get(*i)?, rest)?]))
        }
        (KeySegment::Every, Value::Array(items)) => Some(Value::Array(
            items
                .iter()
                .filter_map(|item| project(item, rest))
                .collect(),
        )),
        _ => None,
    }
}

/// Merge `more` into `into`: objects key by key, arrays of equal length element by element;
/// otherwise `more` wins.
fn merge(into: &mut Value, more: Value) {
    match (into, more) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (slot, v) in a.iter_mut().zip(b) {
                merge(slot, v);
            }
        }
        (slot, more) => *slot = more,
    }
}

/// Only the parts of `payload` that `keys` reach.
pub(crate) fn include(payload: &Payload, keys: &[String]) -> Payload {
    let whole = Value::Object(payload.clone());
    let mut out = Value::Object(Payload::new());
    for key in keys {
        if let Some(part) = project(&whole, &steps(key)) {
            merge(&mut out, part);
        }
    }
    match out {
        Value::Object(map) => map,
        _ => Payload::new(),
    }
}

/// Remove what `key` reaches from `payload`: a field, an array element, or (`a[]`) every
/// element.
pub(crate) fn remove(payload: &mut Payload, key: &str) {
    let steps = steps(key);
    let Some((KeySegment::Field(first), rest)) = steps.split_first() else {
        return;
    };
    if rest.is_empty() {
        payload.remove(*first);
    } else if let Some(inner) = payload.get_mut(*first) {
        remove_in(inner, rest);
    }
}

fn remove_in(value: &mut Value, path: &[KeySegment<'_>]) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    match (step, value) {
        (KeySegment::Field(name), Value::Object(object)) => {
            if rest.is_empty() {
                object.remove(*name);
            } else if let Some(inner) = object.get_mut(*name) {
                remove_in(inner, rest);
            }
        }
        (KeySegment::Index(i), Value::Array(items)) => {
            if rest.is_empty() {
                if *i < items.len() {
                    items.remove(*i);
                }
            } else if let Some(inner) = items.get_mut(*i) {
                remove_in(inner, rest);
            }
        }
        (KeySegment::Every, Value::Array(items)) => {
            if rest.is_empty() {
                items.clear();
            } else {
                for inner in items {
                    remove_in(inner, rest);
                }
            }
        }
        _ => {}
    }
}

/// Call `f` with every object `key` names in `payload` (`set_payload` with a key): fields on
/// the way that are missing or not objects become empty objects; array steps reach existing
/// elements only.
pub(crate) fn for_each_object(payload: &mut Payload, key: &str, f: &mut dyn FnMut(&mut Payload)) {
    let steps = steps(key);
    let Some((KeySegment::Field(first), rest)) = steps.split_first() else {
        return;
    };
    let slot = payload
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Object(Payload::new()));
    objects_in(slot, rest, f);
}

fn objects_in(value: &mut Value, path: &[KeySegment<'_>], f: &mut dyn FnMut(&mut Payload)) {
    let Some((step, rest)) = path.split_first() else {
        if !value.is_object() {
            *value = Value::Object(Payload::new());
        }
        if let Value::Object(object) = value {
            f(object);
        }
        return;
    };
    match step {
        KeySegment::Field(name) => {
            if !value.is_object() {
                *value = Value::Object(Payload::new());
            }
            if let Value::Object(object) = value {
                let slot = object
                    .entry((*name).to_owned())
                    .or_insert_with(|| Value::Object(Payload::new()));
                objects_in(slot, rest, f);
            }
        }
        KeySegment::Index(i) => {
            if let Some(inner) = value.as_array_mut().and_then(|items| items.get_mut(*i)) {
                objects_in(inner, rest, f);
            }
        }
        KeySegment::Every => {
            if let Some(items) = value.as_array_mut() {
                for inner in items {
                    objects_in(inner, rest, f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        crate::payload!({
            "arr": [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
            "list": [1, 2, 3],
            "a.b": 1,
            "a": {"b": 2, "c": 3},
            "deep": {"arr": [{"x": 5, "z": 6}, {"x": 7}]}
        })
    }

    #[test]
    fn include_projects_array_and_quoted_keys() {
        let p = sample();
        assert_eq!(
            include(&p, &["arr[].y".into()]),
            crate::payload!({"arr": [{"y": 2}, {"y": 4}]})
        );
        assert_eq!(
            include(&p, &["\"a.b\"".into()]),
            crate::payload!({"a.b": 1})
        );
        assert_eq!(
            include(&p, &["a.c".into(), "list[1]".into()]),
            crate::payload!({"a": {"c": 3}, "list": [2]})
        );
        assert_eq!(
            include(&p, &["arr[].x".into(), "arr[].y".into()]),
            crate::payload!({"arr": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]})
        );
        assert_eq!(include(&p, &["missing.key".into()]), Payload::new());
    }

    #[test]
    fn remove_reaches_into_arrays_and_quoted_names() {
        let mut p = sample();
        for key in ["arr[].x", "list[1]", "\"a.b\"", "deep.arr[0].x"] {
            remove(&mut p, key);
        }
        assert_eq!(
            p,
            crate::payload!({
                "arr": [{"y": 2}, {"y": 4}],
                "list": [1, 3],
                "a": {"b": 2, "c": 3},
                "deep": {"arr": [{"z": 6}, {"x": 7}]}
            })
        );
    }

    #[test]
    fn objects_are_found_or_made() {
        let mut p = sample();
        let mut set = |key: &str, k: &str| {
            for_each_object(&mut p, key, &mut |o| {
                o.insert(k.to_owned(), Value::from(0));
            })
        };
        set("arr[1]", "w");
        set("deep.arr[]", "v");
        set("new.inner", "n");
        set("list", "l");
        assert_eq!(p["arr"][1], serde_json::json!({"x": 3, "y": 4, "w": 0}));
        assert_eq!(p["deep"]["arr"][0]["v"], 0);
        assert_eq!(p["deep"]["arr"][1]["v"], 0);
        assert_eq!(p["new"], serde_json::json!({"inner": {"n": 0}}));
        // A non-object in the way is replaced by an object, as Qdrant does.
        assert_eq!(p["list"], serde_json::json!({"l": 0}));
    }
}
