//! Exact evaluation of a [`Filter`] against one point: its id and its payload.
//!
//! This module owns what a filter *means*, following Qdrant's condition checker without a
//! payload index. It reads the payload as stored and uses no index; choosing which points to
//! check (payload indexes, query planning) is the caller's business. Filters are expected to
//! have passed [`Filter::validate`]; a part that would not (an unparsable key, a mixed range)
//! matches nothing here instead of panicking.
//!
//! ## Keys
//! A key addresses the values it reaches: `a.b` reads field `b` of object `a`; `a[]` reads every
//! element of array `a`, `a[2]` the third. Arrays in the middle of a path are only entered
//! where the key says `[]` or `[N]` (`a.b` reaches nothing if `a` is an array; `a[].b` does).
//! A key can reach several values (`cities[].name`) or none (missing fields, type mismatches).
//!
//! ## Conditions on the reached values
//! - `match`, `range`, `geo_*`: the condition holds if it holds for ANY reached value; a value
//!   that is an array is checked element by element (one level), so `{"tags": ["a", "b"]}`
//!   matches `tags` = `"a"`. No reached value: no match.
//! - `match.value`: a keyword matches strings only, an integer matches integer numbers only
//!   (`1.0` is a float and does not match `1`), a bool matches bools only.
//! - `match.any`: some value equals one of the list. `match.except`: some value is not in the
//!   list; values of another type count as "not in the list", `null` counts as no value. So a
//!   missing key, `null` or `[]` never matches `except`, and `["black", "green"]` matches
//!   `except: ["black"]` (Qdrant's documented behaviour).
//! - `match.text`: a string value contains the text as a case-sensitive substring (what Qdrant
//!   does without a full-text index). `match.text_any`: it contains one of the text's
//!   whitespace-separated words that way (so a text of no words matches nothing).
//! - `range`: numeric bounds compare integer and float values; date-time bounds compare string
//!   values that parse as date-times, as UTC instants.
//! - `geo_bounding_box` / `geo_radius` / `geo_polygon`: values that are objects with numeric
//!   `lon` and `lat`. A polygon holds a point strictly inside its exterior ring and outside
//!   every hole (on a ring is outside), in planar lon/lat coordinates, as Qdrant.
//! - `values_count`: each reached value counts as its array length, 0 for `null`, 1 otherwise,
//!   and the condition holds if some reached value's count is within the bounds; no reached
//!   value counts as 0. (As Qdrant: with `a[].b`, every `b` is counted on its own.)
//! - `is_empty`: every reached value is `null` or `[]` (so also true when nothing is reached).
//! - `is_null`: some reached value is `null` (a missing key is not null; `[null]` at the key
//!   itself is an array, not null, while `a[]` reaches its `null` element).
//! - `has_id`: the point's id is in the list.
//! - `nested`: the key (with `[]` added if missing) reaches objects; the condition holds if one
//!   object on its own satisfies the whole inner filter, whose keys are relative to it.
//!
//! ## Clauses
//! `must`: all hold. `should`: at least one holds; an empty `should` list holds for nothing, as
//! in Qdrant. `min_should`: at least `min_count` hold. `must_not`: none holds. An absent clause
//! is ignored; the empty filter matches every point. A point without payload is checked as an
//! empty payload.

use serde_json::Value;

use crate::models::{
    parse_datetime, parse_key, AnyVariants, Condition, FieldCondition, Filter, GeoBoundingBox,
    GeoPoint, GeoPolygon, GeoRadius, KeySegment, Match, MatchValue, Payload, PointId, Range,
    RangeValue, UtcInstant, ValuesCount,
};

/// Mean Earth radius in meters, the sphere Qdrant's haversine distance uses.
const EARTH_RADIUS_METERS: f64 = 6_371_008.8;

/// Whether the point with `id` and `payload` passes `filter` (see the module docs). A filter
/// nested deeper than [`MAX_FILTER_DEPTH`](crate::models::MAX_FILTER_DEPTH) matches nothing:
/// it is measured without recursion first, so the recursive evaluation stays bounded.
pub fn matches(filter: &Filter, id: &PointId, payload: Option<&Payload>) -> bool {
    if crate::models::depth::check_filter(filter).is_err() {
        return false;
    }
    let empty = Payload::new();
    check_filter(filter, Some(id), payload.unwrap_or(&empty))
}

/// `id` is `None` inside `nested` filters, where `has_id` never holds.
pub(crate) fn check_filter(filter: &Filter, id: Option<&PointId>, payload: &Payload) -> bool {
    let check = |condition: &Condition| check_condition(condition, id, payload);
    if let Some(must) = &filter.must {
        if !must.iter().all(check) {
            return false;
        }
    }
    if let Some(must_not) = &filter.must_not {
        if must_not.iter().any(check) {
            return false;
        }
    }
    if let Some(should) = &filter.should {
        if !should.iter().any(check) {
            return false;
        }
    }
    if let Some(min_should) = &filter.min_should {
        let needed = min_should.min_count;
        if min_should
            .conditions
            .iter()
            .filter(|c| check(c))
            .take(needed)
            .count()
            < needed
        {
            return false;
        }
    }
    true
}

pub(crate) fn check_condition(
    condition: &Condition,
    id: Option<&PointId>,
    payload: &Payload,
) -> bool {
    match condition {
        Condition::Field(field) => check_field(field, payload),
        Condition::IsEmpty(field) => values_at(payload, &field.key).is_some_and(|values| {
            values
                .iter()
                .all(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty))
        }),
        Condition::IsNull(field) => {
            values_at(payload, &field.key).is_some_and(|values| values.iter().any(|v| v.is_null()))
        }
        Condition::HasId(ids) => id.is_some_and(|id| ids.contains(id)),
        Condition::Nested(nested) => {
            let key = if nested.key.ends_with("[]") {
                nested.key.clone()
            } else {
                format!("{}[]", nested.key)
            };
            values_at(payload, &key).is_some_and(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_object())
                    .any(|element| check_filter(&nested.filter, None, element))
            })
        }
        Condition::Filter(filter) => check_filter(filter, id, payload),
    }
}

/// The values `key` reaches in `payload`; `None` if the key does not parse.
pub(crate) fn values_at<'a>(payload: &'a Payload, key: &str) -> Option<Vec<&'a Value>> {
    let segments = parse_key(key).ok()?;
    let (first, rest) = segments.split_first()?;
    let KeySegment::Field(name) = first else {
        return None;
    };
    let mut reached = Vec::new();
    if let Some(value) = payload.get(*name) {
        collect(value, rest, &mut reached);
    }
    Some(reached)
}

fn collect<'a>(value: &'a Value, path: &[KeySegment<'_>], reached: &mut Vec<&'a Value>) {
    let Some((step, rest)) = path.split_first() else {
        reached.push(value);
        return;
    };
    match (step, value) {
        (KeySegment::Field(name), Value::Object(object)) => {
            if let Some(inner) = object.get(*name) {
                collect(inner, rest, reached);
            }
        }
        (KeySegment::Index(index), Value::Array(items)) => {
            if let Some(inner) = items.get(*index) {
                collect(inner, rest, reached);
            }
        }
        (KeySegment::Every, Value::Array(items)) => {
            for inner in items {
                collect(inner, rest, reached);
            }
        }
        _ => {}
    }
}

fn check_field(field: &FieldCondition, payload: &Payload) -> bool {
    let Some(values) = values_at(payload, &field.key) else {
        return false;
    };
    if let Some(count) = &field.values_count {
        if values.is_empty() {
            return count_within(count, 0);
        }
        return values.iter().any(|v| count_within(count, values_count(v)));
    }
    // One check per validated condition; several set (unvalidated) are ORed, as in Qdrant.
    let one = |value: &Value| {
        field
            .r#match
            .as_ref()
            .is_some_and(|m| check_match(m, value))
            || field.range.as_ref().is_some_and(|r| check_range(r, value))
            || field
                .geo_bounding_box
                .as_ref()
                .is_some_and(|area| geo_point(value).is_some_and(|p| in_box(area, p)))
            || field
                .geo_radius
                .as_ref()
                .is_some_and(|circle| geo_point(value).is_some_and(|p| in_circle(circle, p)))
            || field
                .geo_polygon
                .as_ref()
                .is_some_and(|polygon| geo_point(value).is_some_and(|p| in_polygon(polygon, p)))
    };
    values.iter().any(|value| match value {
        Value::Array(items) => items.iter().any(one),
        single => one(single),
    })
}

fn values_count(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Array(items) => items.len(),
        _ => 1,
    }
}

fn count_within(bounds: &ValuesCount, count: usize) -> bool {
    bounds.gt.is_none_or(|b| count > b)
        && bounds.gte.is_none_or(|b| count >= b)
        && bounds.lt.is_none_or(|b| count < b)
        && bounds.lte.is_none_or(|b| count <= b)
}

/// One (non-array) value against a `match`.
fn check_match(condition: &Match, value: &Value) -> bool {
    match condition {
        Match::Value(MatchValue::Keyword(wanted)) => value.as_str() == Some(wanted.as_str()),
        Match::Value(MatchValue::Integer(wanted)) => value.as_i64() == Some(*wanted),
        Match::Value(MatchValue::Bool(wanted)) => value.as_bool() == Some(*wanted),
        Match::Any(AnyVariants::Keywords(list)) => {
            value.as_str().is_some_and(|s| list.iter().any(|w| w == s))
        }
        Match::Any(AnyVariants::Integers(list)) => {
            value.as_i64().is_some_and(|n| list.contains(&n))
        }
        Match::Except(list) => match (value, list) {
            (Value::Null, _) => false,
            (Value::String(s), AnyVariants::Keywords(list)) => !list.iter().any(|w| w == s),
            (Value::Number(n), AnyVariants::Integers(list)) => {
                n.as_i64().is_none_or(|n| !list.contains(&n))
            }
            // A value of another type (or a float against integers) is not in the list.
            _ => true,
        },
        Match::Text(text) => value.as_str().is_some_and(|s| s.contains(text.as_str())),
        Match::TextAny(words) => value
            .as_str()
            .is_some_and(|s| words.split_whitespace().any(|word| s.contains(word))),
    }
}

/// One (non-array) value against a `range`.
fn check_range(range: &Range, value: &Value) -> bool {
    let bounds = [&range.gt, &range.gte, &range.lt, &range.lte];
    if bounds
        .iter()
        .all(|b| matches!(b, None | Some(RangeValue::Number(_))))
    {
        let Some(x) = value.as_f64() else {
            return false;
        };
        let bound = |b: &Option<RangeValue>| match b {
            Some(RangeValue::Number(n)) => Some(*n),
            _ => None,
        };
        return within(
            x,
            bound(&range.gt),
            bound(&range.gte),
            bound(&range.lt),
            bound(&range.lte),
        );
    }
    if bounds
        .iter()
        .all(|b| matches!(b, None | Some(RangeValue::DateTime(_))))
    {
        let Some(x) = value.as_str().and_then(parse_datetime) else {
            return false;
        };
        let bound = |b: &Option<RangeValue>| -> Result<Option<UtcInstant>, ()> {
            match b {
                Some(RangeValue::DateTime(text)) => parse_datetime(text).map(Some).ok_or(()),
                _ => Ok(None),
            }
        };
        let (Ok(gt), Ok(gte), Ok(lt), Ok(lte)) = (
            bound(&range.gt),
            bound(&range.gte),
            bound(&range.lt),
            bound(&range.lte),
        ) else {
            return false;
        };
        return within(x, gt, gte, lt, lte);
    }
    // Numbers mixed with date-times: refused by validation, matches nothing.
    false
}

fn within<T: PartialOrd>(
    x: T,
    gt: Option<T>,
    gte: Option<T>,
    lt: Option<T>,
    lte: Option<T>,
) -> bool {
    gt.is_none_or(|b| x > b)
        && gte.is_none_or(|b| x >= b)
        && lt.is_none_or(|b| x < b)
        && lte.is_none_or(|b| x <= b)
}

pub(crate) fn geo_point(value: &Value) -> Option<GeoPoint> {
    let object = value.as_object()?;
    Some(GeoPoint {
        lon: object.get("lon")?.as_f64()?,
        lat: object.get("lat")?.as_f64()?,
    })
}

/// Strictly inside the box, as Qdrant; a box whose west edge is east of its east edge crosses
/// the antimeridian.
pub(crate) fn in_box(area: &GeoBoundingBox, point: GeoPoint) -> bool {
    let (west, east) = (area.top_left.lon, area.bottom_right.lon);
    let lon_inside = if west > east {
        point.lon > west || point.lon < east
    } else {
        west < point.lon && point.lon < east
    };
    lon_inside && area.bottom_right.lat < point.lat && point.lat < area.top_left.lat
}

/// Inside the exterior ring and inside no hole; a point on any ring is outside (Qdrant's
/// `contains`). Planar: longitude as x, latitude as y.
pub(crate) fn in_polygon(polygon: &GeoPolygon, point: GeoPoint) -> bool {
    in_ring(&polygon.exterior.points, point) == Some(true)
        && polygon
            .interiors
            .iter()
            .flatten()
            .all(|hole| in_ring(&hole.points, point) == Some(false))
}

/// Whether `point` is inside the closed ring (even-odd ray casting), `None` when it lies on
/// one of its edges.
fn in_ring(ring: &[GeoPoint], point: GeoPoint) -> Option<bool> {
    let mut inside = false;
    for edge in ring.windows(2) {
        let (a, b) = (edge[0], edge[1]);
        let cross = (b.lon - a.lon) * (point.lat - a.lat) - (b.lat - a.lat) * (point.lon - a.lon);
        let within = a.lon.min(b.lon) <= point.lon
            && point.lon <= a.lon.max(b.lon)
            && a.lat.min(b.lat) <= point.lat
            && point.lat <= a.lat.max(b.lat);
        if cross == 0.0 && within {
            return None;
        }
        if (a.lat > point.lat) != (b.lat > point.lat) {
            let lon_at = a.lon + (point.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
            if point.lon < lon_at {
                inside = !inside;
            }
        }
    }
    Some(inside)
}

pub(crate) fn in_circle(circle: &GeoRadius, point: GeoPoint) -> bool {
    haversine_meters(circle.center, point) < circle.radius
}

/// Great-circle distance between two points on a sphere of the Earth's mean radius.
fn haversine_meters(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat_a, lat_b) = (a.lat.to_radians(), b.lat.to_radians());
    let half_dlat = (lat_b - lat_a) / 2.0;
    let half_dlon = (b.lon - a.lon).to_radians() / 2.0;
    let h = half_dlat.sin().powi(2) + lat_a.cos() * lat_b.cos() * half_dlon.sin().powi(2);
    // Rounding can push `h` a hair above 1 for antipodal points; asin would return NaN.
    2.0 * EARTH_RADIUS_METERS * h.clamp(0.0, 1.0).sqrt().asin()
}

#[cfg(test)]
mod tests;
