//! Payload filters: Qdrant's filtering JSON as Rust types, builders for them, and the check
//! that a filter is well formed ([`Filter::validate`]).
//!
//! This module owns the *shape* of a filter. What a filter means for one point (its id and
//! payload) is decided in `storage::filter`; using filters in searches, payload indexes and
//! query planning is not here.
//!
//! ```
//! use rro_core::models::{Condition, Filter, Range};
//!
//! // {"must": [{"key": "city", "match": {"value": "London"}},
//! //           {"key": "price", "range": {"gte": 100.0}}]}
//! let filter = Filter::must([
//!     Condition::matches("city", "London"),
//!     Condition::range("price", Range::default().gte(100.0)),
//! ]);
//! filter.validate()?;
//! # Ok::<_, rro_core::models::FilterError>(())
//! ```
//!
//! ## JSON
//! The JSON is Qdrant's (<https://qdrant.tech/documentation/concepts/filtering/>), with these
//! choices where Qdrant is loose or rro does less:
//! - `must`, `should` and `must_not` take a list of conditions or a single condition.
//! - A field condition has exactly one of `match`, `range`, `geo_bounding_box`, `geo_radius`,
//!   `geo_polygon` and `values_count` (Qdrant ORs several; rro refuses them so a typo cannot widen a filter).
//! - Not supported, refused with an error naming the field: the `is_empty` /
//!   `is_null` flags inside a field condition, `has_vector`, match kinds other than `value`,
//!   `any`, `except`, `text` and `text_any`.
//! - `has_id` inside a `nested` filter is refused: Qdrant accepts it but never matches it.
//!
//! ## Errors
//! Shapes serde cannot read (a float in `match.value`, an unknown field) fail to deserialize
//! with a message naming the part. Everything else is checked by [`Filter::validate`], which
//! returns a [`FilterError`] with the path of the bad part (`must[1].range.gte`). A
//! [`FilterError`] converts into [`StorageError::BadRequest`] with the path in the message; there
//! is no separate error variant, as for other request validation.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::depth::MAX_PAYLOAD_DEPTH;
use super::PointId;
use crate::error::StorageError;

/// How deeply filters may nest: a filter is 1 deep, and each filter used as a condition or
/// inside `nested` adds 1. Every request with a filter (count, scroll, searches, deletes and
/// payload writes by filter) refuses a deeper one with [`StorageError::BadRequest`], measured
/// without recursion before anything recursive touches the filter, so a filter built in Rust
/// 100 000 levels deep is refused instead of overflowing a stack (see `models::depth`).
pub const MAX_FILTER_DEPTH: usize = 64;

/// A filter: `{"must": [...], "should": [...], "must_not": [...], "min_should": {...}}`.
///
/// A point passes when every `must` condition holds, at least one `should` condition holds (an
/// empty `should` list passes nothing, as in Qdrant), at least `min_should.min_count` of the
/// `min_should` conditions hold, and no `must_not` condition holds. Absent parts are ignored,
/// so the empty filter `{}` passes every point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// All of these must hold.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_must"
    )]
    pub must: Option<Vec<Condition>>,
    /// At least one of these must hold.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_should"
    )]
    pub should: Option<Vec<Condition>>,
    /// None of these may hold.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_must_not"
    )]
    pub must_not: Option<Vec<Condition>>,
    /// At least `min_count` of these must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
}

/// `min_should` of a filter: `{"conditions": [...], "min_count": 2}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinShould {
    /// The candidate conditions.
    #[serde(deserialize_with = "deserialize_min_should_conditions")]
    pub conditions: Vec<Condition>,
    /// How many of `conditions` must hold at least; 1 or more.
    pub min_count: usize,
}

/// One condition of a filter. Its JSON has no tag; the fields tell the kinds apart:
/// `{"key": ..., "match": ...}`, `{"is_empty": {"key": ...}}`, `{"is_null": {"key": ...}}`,
/// `{"has_id": [...]}`, `{"nested": {"key": ..., "filter": ...}}`, or a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A condition on the values of one payload key.
    Field(FieldCondition),
    /// `{"is_empty": {"key": "reports"}}`: the key is missing, `null` or `[]`.
    IsEmpty(PayloadField),
    /// `{"is_null": {"key": "reports"}}`: the key holds `null` (a missing key is not null).
    IsNull(PayloadField),
    /// `{"has_id": [1, 3]}`: the point's id is one of these.
    HasId(Vec<PointId>),
    /// `{"nested": {"key": "diet", "filter": {...}}}`: some element of the array at `key`
    /// satisfies the whole inner filter on its own.
    Nested(Nested),
    /// A filter used as a condition, for arbitrary boolean expressions.
    Filter(Filter),
}

/// The key an `is_empty` or `is_null` condition looks at: `{"key": "reports"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadField {
    /// Payload key, e.g. `reports` or `country.cities[].name`.
    pub key: String,
}

/// Body of a `nested` condition: `{"key": "diet", "filter": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    /// Key of an array of objects (`diet` and `diet[]` mean the same).
    pub key: String,
    /// The filter one array element must satisfy; its keys are relative to the element.
    pub filter: Filter,
}

/// A condition on one payload key: `{"key": "city", "match": {"value": "London"}}`.
/// Exactly one of the optional fields must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    /// Payload key: `city`, `country.name`, `country.cities[].population`, `tags[0]`.
    pub key: String,
    /// The value equals, is among, is not among, or contains the given ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Match>,
    /// The value is a number (or a date-time) within a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// The value is a geo point (`{"lon": .., "lat": ..}`) inside a rectangle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_bounding_box: Option<GeoBoundingBox>,
    /// The value is a geo point within a distance of a centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_radius: Option<GeoRadius>,
    /// The value is a geo point inside a polygon (and outside its holes). Boxed: it is the
    /// largest kind of check, and rarely used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_polygon: Option<Box<GeoPolygon>>,
    /// The number of values at the key is within a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_count: Option<ValuesCount>,
}

/// `match` of a field condition: `{"value": ..}`, `{"any": [..]}`, `{"except": [..]}` or
/// `{"text": ".."}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// `{"value": "red"}`: equals a keyword, an integer or a bool.
    Value(MatchValue),
    /// `{"any": ["black", "yellow"]}`: equals one of these (SQL `IN`).
    Any(AnyVariants),
    /// `{"except": ["black", "yellow"]}`: some value is none of these (SQL `NOT IN`).
    Except(AnyVariants),
    /// `{"text": "good cheap"}`: a string value contains this text (without a full-text index,
    /// Qdrant does a case-sensitive substring match; so does rro).
    Text(String),
    /// `{"text_any": "good cheap"}`: a string value contains one of the whitespace-separated
    /// words (Qdrant without a full-text index: case-sensitive substrings; no word, no match).
    TextAny(String),
}

/// The value of `{"match": {"value": ..}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchValue {
    /// Matches string payload values equal to this.
    Keyword(String),
    /// Matches integer payload values equal to this (not floats such as `1.0`).
    Integer(i64),
    /// Matches bool payload values equal to this.
    Bool(bool),
}

/// The list of `{"match": {"any": [..]}}` or `{"match": {"except": [..]}}`: all strings or all
/// integers. An empty list reads as `Keywords([])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyVariants {
    /// String values.
    Keywords(Vec<String>),
    /// Integer values.
    Integers(Vec<i64>),
}

/// `range` of a field condition: `{"gte": 100.0, "lt": 450}` for numbers, or RFC 3339
/// strings for date-times: `{"gt": "2023-02-08T10:49:00Z"}`. At least one bound must be set,
/// and all bounds must be of one kind.
///
/// Date-times are compared as UTC instants. Accepted forms, as in Qdrant: RFC 3339 with `T`,
/// `t` or a space between date and time, optional fractional seconds (nanosecond precision)
/// and `Z` or an offset (`+01:00`, `+0100`, `+01`); without an offset the time is UTC; a
/// time without seconds (`2023-02-08 10:49`); a date alone (`2023-02-08`, midnight UTC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// The value is greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<RangeValue>,
    /// The value is greater than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<RangeValue>,
    /// The value is less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<RangeValue>,
    /// The value is less than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<RangeValue>,
}

/// One bound of a [`Range`]: a number or a date-time string.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeValue {
    /// A number; integer and float payload values are compared with it.
    Number(f64),
    /// A date-time, as written; string payload values that parse as date-times are compared
    /// with it.
    DateTime(String),
}

/// A geo point in degrees: `{"lon": 13.40, "lat": 52.52}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    /// Longitude, -180 ..= 180.
    pub lon: f64,
    /// Latitude, -90 ..= 90.
    pub lat: f64,
}

/// `geo_bounding_box` of a field condition. If `top_left.lon > bottom_right.lon` the box
/// crosses the antimeridian. Points on the edges are outside, as in Qdrant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoBoundingBox {
    /// North-west corner.
    pub top_left: GeoPoint,
    /// South-east corner.
    pub bottom_right: GeoPoint,
}

/// `geo_radius` of a field condition: points closer than `radius` meters to `center`
/// (great-circle distance on a sphere of the Earth's mean radius, as in Qdrant).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRadius {
    /// Centre of the circle.
    pub center: GeoPoint,
    /// Radius in meters; finite and not negative.
    pub radius: f64,
}

/// `geo_polygon` of a field condition: `{"exterior": {"points": [..]}, "interiors": [..]}`.
/// Each ring is closed (its last point repeats its first) and has at least 4 points, as
/// Qdrant requires. A point matches when it is inside the exterior ring and inside no interior
/// ring (a hole); points on a ring are outside, as in Qdrant. Coordinates are planar
/// (longitude as x, latitude as y), as Qdrant's polygon test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPolygon {
    /// The outer boundary.
    pub exterior: GeoLineString,
    /// Holes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interiors: Option<Vec<GeoLineString>>,
}

/// A ring of a [`GeoPolygon`]: `{"points": [{"lon": .., "lat": ..}, ..]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoLineString {
    /// The points, the last equal to the first.
    pub points: Vec<GeoPoint>,
}

impl GeoPolygon {
    /// A polygon with boundary `exterior` (closed: last point = first) and no holes.
    pub fn new(exterior: impl IntoIterator<Item = GeoPoint>) -> Self {
        GeoPolygon {
            exterior: GeoLineString {
                points: exterior.into_iter().collect(),
            },
            interiors: None,
        }
    }

    /// Add a hole (closed: last point = first).
    pub fn with_hole(mut self, ring: impl IntoIterator<Item = GeoPoint>) -> Self {
        self.interiors
            .get_or_insert_with(Vec::new)
            .push(GeoLineString {
                points: ring.into_iter().collect(),
            });
        self
    }
}

/// `values_count` of a field condition: bounds on how many values the key holds (an array
/// counts its elements, `null` or a missing key counts 0, anything else 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesCount {
    /// More than this many values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<usize>,
    /// At least this many values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<usize>,
    /// Fewer than this many values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<usize>,
    /// At most this many values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<usize>,
}

/// A malformed filter: which part (`must[1].range.gte`, relative to the filter) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Where in the filter, e.g. `must[1].range`; empty for the filter as a whole.
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid filter: {}", self.reason)
        } else {
            write!(f, "invalid filter at `{}`: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for FilterError {}

impl From<FilterError> for StorageError {
    fn from(error: FilterError) -> Self {
        StorageError::BadRequest(error.to_string())
    }
}

mod build;
mod datetime;
mod json;
mod key;
#[cfg(test)]
mod tests;
mod validate;

pub(crate) use datetime::{parse_datetime, UtcInstant};
use json::{
    deserialize_min_should_conditions, deserialize_must, deserialize_must_not, deserialize_should,
};
pub(crate) use key::{parse_key, KeySegment};
