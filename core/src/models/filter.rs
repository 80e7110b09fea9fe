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

// ---------------------------------------------------------------------------------------------
// Builders

impl Filter {
    /// A filter whose `must` conditions all have to hold.
    pub fn must(conditions: impl IntoIterator<Item = Condition>) -> Self {
        Filter {
            must: Some(conditions.into_iter().collect()),
            ..Filter::default()
        }
    }

    /// A filter of which at least one `should` condition has to hold.
    pub fn should(conditions: impl IntoIterator<Item = Condition>) -> Self {
        Filter {
            should: Some(conditions.into_iter().collect()),
            ..Filter::default()
        }
    }

    /// A filter none of whose `must_not` conditions may hold.
    pub fn must_not(conditions: impl IntoIterator<Item = Condition>) -> Self {
        Filter {
            must_not: Some(conditions.into_iter().collect()),
            ..Filter::default()
        }
    }

    /// A filter of which at least `min_count` conditions have to hold.
    pub fn min_should(conditions: impl IntoIterator<Item = Condition>, min_count: usize) -> Self {
        Filter {
            min_should: Some(MinShould {
                conditions: conditions.into_iter().collect(),
                min_count,
            }),
            ..Filter::default()
        }
    }

    /// This filter with `conditions` added to `must`.
    pub fn with_must(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.must.get_or_insert_with(Vec::new).extend(conditions);
        self
    }

    /// This filter with `conditions` added to `should`.
    pub fn with_should(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.should.get_or_insert_with(Vec::new).extend(conditions);
        self
    }

    /// This filter with `conditions` added to `must_not`.
    pub fn with_must_not(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.must_not
            .get_or_insert_with(Vec::new)
            .extend(conditions);
        self
    }

    /// This filter with its `min_should` replaced.
    pub fn with_min_should(
        mut self,
        conditions: impl IntoIterator<Item = Condition>,
        min_count: usize,
    ) -> Self {
        self.min_should = Some(MinShould {
            conditions: conditions.into_iter().collect(),
            min_count,
        });
        self
    }
}

impl Condition {
    /// `{"key": key, "match": {"value": value}}`: equals a keyword, an integer or a bool.
    pub fn matches(key: impl Into<String>, value: impl Into<MatchValue>) -> Self {
        Self::field(key, |c| c.r#match = Some(Match::Value(value.into())))
    }

    /// `{"key": key, "match": {"any": values}}`: equals one of `values`.
    pub fn match_any(key: impl Into<String>, values: impl Into<AnyVariants>) -> Self {
        Self::field(key, |c| c.r#match = Some(Match::Any(values.into())))
    }

    /// `{"key": key, "match": {"except": values}}`: some value is none of `values`.
    pub fn match_except(key: impl Into<String>, values: impl Into<AnyVariants>) -> Self {
        Self::field(key, |c| c.r#match = Some(Match::Except(values.into())))
    }

    /// `{"key": key, "match": {"text": text}}`: a string value contains `text`.
    pub fn match_text(key: impl Into<String>, text: impl Into<String>) -> Self {
        Self::field(key, |c| c.r#match = Some(Match::Text(text.into())))
    }

    /// `{"key": key, "match": {"text_any": words}}`.
    pub fn match_text_any(key: impl Into<String>, words: impl Into<String>) -> Self {
        Self::field(key, |c| c.r#match = Some(Match::TextAny(words.into())))
    }

    /// `{"key": key, "range": range}`.
    pub fn range(key: impl Into<String>, range: Range) -> Self {
        Self::field(key, |c| c.range = Some(range))
    }

    /// `{"key": key, "geo_bounding_box": area}`.
    pub fn geo_bounding_box(key: impl Into<String>, area: GeoBoundingBox) -> Self {
        Self::field(key, |c| c.geo_bounding_box = Some(area))
    }

    /// `{"key": key, "geo_polygon": polygon}`.
    pub fn geo_polygon(key: impl Into<String>, polygon: GeoPolygon) -> Self {
        Self::field(key, |c| c.geo_polygon = Some(Box::new(polygon)))
    }

    /// `{"key": key, "geo_radius": circle}`.
    pub fn geo_radius(key: impl Into<String>, circle: GeoRadius) -> Self {
        Self::field(key, |c| c.geo_radius = Some(circle))
    }

    /// `{"key": key, "values_count": count}`.
    pub fn values_count(key: impl Into<String>, count: ValuesCount) -> Self {
        Self::field(key, |c| c.values_count = Some(count))
    }

    /// `{"is_empty": {"key": key}}`.
    pub fn is_empty(key: impl Into<String>) -> Self {
        Condition::IsEmpty(PayloadField { key: key.into() })
    }

    /// `{"is_null": {"key": key}}`.
    pub fn is_null(key: impl Into<String>) -> Self {
        Condition::IsNull(PayloadField { key: key.into() })
    }

    /// `{"has_id": ids}`.
    pub fn has_id(ids: impl IntoIterator<Item = impl Into<PointId>>) -> Self {
        Condition::HasId(ids.into_iter().map(Into::into).collect())
    }

    /// `{"nested": {"key": key, "filter": filter}}`.
    pub fn nested(key: impl Into<String>, filter: Filter) -> Self {
        Condition::Nested(Nested {
            key: key.into(),
            filter,
        })
    }

    fn field(key: impl Into<String>, set: impl FnOnce(&mut FieldCondition)) -> Self {
        let mut condition = FieldCondition::new(key);
        set(&mut condition);
        Condition::Field(condition)
    }
}

impl FieldCondition {
    /// A condition on `key` with nothing to check yet; set exactly one field before use.
    pub fn new(key: impl Into<String>) -> Self {
        FieldCondition {
            key: key.into(),
            r#match: None,
            range: None,
            geo_bounding_box: None,
            geo_radius: None,
            geo_polygon: None,
            values_count: None,
        }
    }
}

impl From<FieldCondition> for Condition {
    fn from(condition: FieldCondition) -> Self {
        Condition::Field(condition)
    }
}

impl From<Filter> for Condition {
    fn from(filter: Filter) -> Self {
        Condition::Filter(filter)
    }
}

impl From<&str> for MatchValue {
    fn from(value: &str) -> Self {
        MatchValue::Keyword(value.to_owned())
    }
}

impl From<String> for MatchValue {
    fn from(value: String) -> Self {
        MatchValue::Keyword(value)
    }
}

impl From<i64> for MatchValue {
    fn from(value: i64) -> Self {
        MatchValue::Integer(value)
    }
}

impl From<i32> for MatchValue {
    fn from(value: i32) -> Self {
        MatchValue::Integer(value.into())
    }
}

impl From<bool> for MatchValue {
    fn from(value: bool) -> Self {
        MatchValue::Bool(value)
    }
}

impl From<Vec<String>> for AnyVariants {
    fn from(values: Vec<String>) -> Self {
        AnyVariants::Keywords(values)
    }
}

impl From<Vec<&str>> for AnyVariants {
    fn from(values: Vec<&str>) -> Self {
        AnyVariants::Keywords(values.into_iter().map(str::to_owned).collect())
    }
}

impl<const N: usize> From<[&str; N]> for AnyVariants {
    fn from(values: [&str; N]) -> Self {
        AnyVariants::Keywords(values.into_iter().map(str::to_owned).collect())
    }
}

impl From<Vec<i64>> for AnyVariants {
    fn from(values: Vec<i64>) -> Self {
        AnyVariants::Integers(values)
    }
}

impl<const N: usize> From<[i64; N]> for AnyVariants {
    fn from(values: [i64; N]) -> Self {
        AnyVariants::Integers(values.into())
    }
}

impl Range {
    /// This range with `gt` set.
    pub fn gt(mut self, bound: impl Into<RangeValue>) -> Self {
        self.gt = Some(bound.into());
        self
    }

    /// This range with `gte` set.
    pub fn gte(mut self, bound: impl Into<RangeValue>) -> Self {
        self.gte = Some(bound.into());
        self
    }

    /// This range with `lt` set.
    pub fn lt(mut self, bound: impl Into<RangeValue>) -> Self {
        self.lt = Some(bound.into());
        self
    }

    /// This range with `lte` set.
    pub fn lte(mut self, bound: impl Into<RangeValue>) -> Self {
        self.lte = Some(bound.into());
        self
    }

    fn bounds(&self) -> [(&'static str, Option<&RangeValue>); 4] {
        [
            ("gt", self.gt.as_ref()),
            ("gte", self.gte.as_ref()),
            ("lt", self.lt.as_ref()),
            ("lte", self.lte.as_ref()),
        ]
    }
}

impl From<f64> for RangeValue {
    fn from(value: f64) -> Self {
        RangeValue::Number(value)
    }
}

impl From<i32> for RangeValue {
    fn from(value: i32) -> Self {
        RangeValue::Number(value.into())
    }
}

impl From<&str> for RangeValue {
    /// A date-time bound, e.g. `"2023-02-08T10:49:00Z"`.
    fn from(value: &str) -> Self {
        RangeValue::DateTime(value.to_owned())
    }
}

impl ValuesCount {
    /// This count with `gt` set.
    pub fn gt(mut self, count: usize) -> Self {
        self.gt = Some(count);
        self
    }

    /// This count with `gte` set.
    pub fn gte(mut self, count: usize) -> Self {
        self.gte = Some(count);
        self
    }

    /// This count with `lt` set.
    pub fn lt(mut self, count: usize) -> Self {
        self.lt = Some(count);
        self
    }

    /// This count with `lte` set.
    pub fn lte(mut self, count: usize) -> Self {
        self.lte = Some(count);
        self
    }
}

impl GeoPoint {
    /// The point at longitude `lon` and latitude `lat`, in degrees.
    pub fn new(lon: f64, lat: f64) -> Self {
        GeoPoint { lon, lat }
    }
}

impl GeoBoundingBox {
    /// The rectangle between the `top_left` (north-west) and `bottom_right` (south-east) corners.
    pub fn new(top_left: GeoPoint, bottom_right: GeoPoint) -> Self {
        GeoBoundingBox {
            top_left,
            bottom_right,
        }
    }
}

impl GeoRadius {
    /// The circle of `radius` meters around `center`.
    pub fn new(center: GeoPoint, radius: f64) -> Self {
        GeoRadius { center, radius }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

impl Filter {
    /// Checks what the types cannot: every key parses, every field condition sets exactly one
    /// check, ranges have a bound of one kind and date-times parse, coordinates and radii are
    /// in range, `min_count` is at least 1, `has_id` is not inside `nested`, and nesting stays
    /// within [`MAX_FILTER_DEPTH`]. The error's path is relative to this filter.
    pub fn validate(&self) -> Result<(), FilterError> {
        let mut path = String::new();
        self.validate_at(&mut path, 0, false)
    }

    fn validate_at(
        &self,
        path: &mut String,
        depth: usize,
        nested: bool,
    ) -> Result<(), FilterError> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(error(
                path,
                format!("filters nest more than {MAX_FILTER_DEPTH} levels deep"),
            ));
        }
        let lists = [
            ("must", &self.must),
            ("should", &self.should),
            ("must_not", &self.must_not),
        ];
        for (name, list) in lists {
            for (i, condition) in list.iter().flatten().enumerate() {
                with_segment(path, &format!("{name}[{i}]"), |path| {
                    condition.validate_at(path, depth, nested)
                })?;
            }
        }
        if let Some(min_should) = &self.min_should {
            with_segment(path, "min_should", |path| {
                if min_should.min_count == 0 {
                    return with_segment(path, "min_count", |path| {
                        Err(error(path, "must be at least 1".to_owned()))
                    });
                }
                for (i, condition) in min_should.conditions.iter().enumerate() {
                    with_segment(path, &format!("conditions[{i}]"), |path| {
                        condition.validate_at(path, depth, nested)
                    })?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

impl Condition {
    fn validate_at(
        &self,
        path: &mut String,
        depth: usize,
        nested: bool,
    ) -> Result<(), FilterError> {
        match self {
            Condition::Field(field) => field.validate_at(path),
            Condition::IsEmpty(field) => {
                with_segment(path, "is_empty.key", |path| validate_key(path, &field.key))
            }
            Condition::IsNull(field) => {
                with_segment(path, "is_null.key", |path| validate_key(path, &field.key))
            }
            Condition::HasId(_) if nested => with_segment(path, "has_id", |path| {
                Err(error(
                    path,
                    "`has_id` cannot be used inside a `nested` filter; put it in a `must` \
                     next to the `nested` condition"
                        .to_owned(),
                ))
            }),
            Condition::HasId(_) => Ok(()),
            Condition::Nested(inner) => with_segment(path, "nested", |path| {
                with_segment(path, "key", |path| validate_key(path, &inner.key))?;
                with_segment(path, "filter", |path| {
                    inner.filter.validate_at(path, depth + 1, true)
                })
            }),
            Condition::Filter(filter) => filter.validate_at(path, depth + 1, nested),
        }
    }
}

impl FieldCondition {
    fn validate_at(&self, path: &mut String) -> Result<(), FilterError> {
        with_segment(path, "key", |path| validate_key(path, &self.key))?;
        let set: Vec<&str> = [
            ("match", self.r#match.is_some()),
            ("range", self.range.is_some()),
            ("geo_bounding_box", self.geo_bounding_box.is_some()),
            ("geo_radius", self.geo_radius.is_some()),
            ("geo_polygon", self.geo_polygon.is_some()),
            ("values_count", self.values_count.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, is_set)| is_set.then_some(name))
        .collect();
        match set.as_slice() {
            [] => {
                return Err(error(
                    path,
                    "a field condition needs one of `match`, `range`, `geo_bounding_box`, \
                     `geo_radius`, `geo_polygon` or `values_count`"
                        .to_owned(),
                ))
            }
            [_] => {}
            several => {
                return Err(error(
                    path,
                    format!(
                        "a field condition checks one thing, but `{}` are all set; write one \
                         condition each and combine them with `must` or `should`",
                        several.join("`, `")
                    ),
                ))
            }
        }
        if let Some(range) = &self.range {
            with_segment(path, "range", |path| range.validate_at(path))?;
        }
        if let Some(area) = &self.geo_bounding_box {
            with_segment(path, "geo_bounding_box", |path| {
                with_segment(path, "top_left", |path| area.top_left.validate_at(path))?;
                with_segment(path, "bottom_right", |path| {
                    area.bottom_right.validate_at(path)
                })
            })?;
        }
        if let Some(polygon) = &self.geo_polygon {
            with_segment(path, "geo_polygon", |path| {
                with_segment(path, "exterior", |path| polygon.exterior.validate_at(path))?;
                for (i, ring) in polygon.interiors.iter().flatten().enumerate() {
                    with_segment(path, &format!("interiors[{i}]"), |path| {
                        ring.validate_at(path)
                    })?;
                }
                Ok(())
            })?;
        }
        if let Some(circle) = &self.geo_radius {
            with_segment(path, "geo_radius", |path| {
                with_segment(path, "center", |path| circle.center.validate_at(path))?;
                with_segment(path, "radius", |path| {
                    if circle.radius.is_finite() && circle.radius >= 0.0 {
                        Ok(())
                    } else {
                        Err(error(
                            path,
                            format!(
                                "radius is {}; it must be a finite number of meters, not negative",
                                circle.radius
                            ),
                        ))
                    }
                })
            })?;
        }
        if let Some(count) = &self.values_count {
            if count.gt.is_none()
                && count.gte.is_none()
                && count.lt.is_none()
                && count.lte.is_none()
            {
                return with_segment(path, "values_count", |path| {
                    Err(error(
                        path,
                        "needs at least one of `gt`, `gte`, `lt`, `lte`".to_owned(),
                    ))
                });
            }
        }
        Ok(())
    }
}

impl Range {
    fn validate_at(&self, path: &mut String) -> Result<(), FilterError> {
        let (mut numbers, mut datetimes) = (0, 0);
        for (name, bound) in self.bounds() {
            match bound {
                None => {}
                Some(RangeValue::Number(n)) => {
                    numbers += 1;
                    if !n.is_finite() {
                        return with_segment(path, name, |path| {
                            Err(error(path, format!("bound is {n}; it must be finite")))
                        });
                    }
                }
                Some(RangeValue::DateTime(text)) => {
                    datetimes += 1;
                    if parse_datetime(text).is_none() {
                        return with_segment(path, name, |path| {
                            Err(error(
                                path,
                                format!(
                                    "`{text}` is not a date-time; use RFC 3339 \
                                     (`2023-02-08T10:49:00Z`) or a date (`2023-02-08`)"
                                ),
                            ))
                        });
                    }
                }
            }
        }
        match (numbers, datetimes) {
            (0, 0) => Err(error(
                path,
                "needs at least one of `gt`, `gte`, `lt`, `lte`".to_owned(),
            )),
            (0, _) | (_, 0) => Ok(()),
            _ => Err(error(
                path,
                "mixes numbers and date-times; a range compares one or the other".to_owned(),
            )),
        }
    }
}

impl GeoPoint {
    fn validate_at(&self, path: &mut String) -> Result<(), FilterError> {
        if !(self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon)) {
            return with_segment(path, "lon", |path| {
                Err(error(
                    path,
                    format!("longitude {} is outside -180 ..= 180", self.lon),
                ))
            });
        }
        if !(self.lat.is_finite() && (-90.0..=90.0).contains(&self.lat)) {
            return with_segment(path, "lat", |path| {
                Err(error(
                    path,
                    format!("latitude {} is outside -90 ..= 90", self.lat),
                ))
            });
        }
        Ok(())
    }
}

impl GeoLineString {
    /// Qdrant's rule: at least 4 points, the last equal to the first, each a valid point.
    fn validate_at(&self, path: &mut String) -> Result<(), FilterError> {
        with_segment(path, "points", |path| {
            if self.points.len() < 4 {
                return Err(error(
                    path,
                    format!(
                        "a polygon ring needs at least 4 points (the last repeating the \
                         first), got {}",
                        self.points.len()
                    ),
                ));
            }
            if self.points.first() != self.points.last() {
                return Err(error(
                    path,
                    "a polygon ring is closed: its last point must equal its first".to_owned(),
                ));
            }
            for (i, point) in self.points.iter().enumerate() {
                let mut at = format!("{path}[{i}]");
                point.validate_at(&mut at)?;
            }
            Ok(())
        })
    }
}

fn validate_key(path: &str, key: &str) -> Result<(), FilterError> {
    parse_key(key)
        .map(drop)
        .map_err(|reason| error(path, reason))
}

fn error(path: &str, reason: String) -> FilterError {
    FilterError {
        path: path.to_owned(),
        reason,
    }
}

/// Runs `f` with `segment` appended to `path` (`must[1]` + `range` = `must[1].range`), then
/// restores `path`.
fn with_segment<T>(path: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(segment);
    let result = f(path);
    path.truncate(len);
    result
}

// ---------------------------------------------------------------------------------------------
// Payload keys

/// One step of a parsed payload key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySegment<'a> {
    /// An object field: `name` or `"quoted.name"`.
    Field(&'a str),
    /// One array element: `[2]`.
    Index(usize),
    /// Every array element: `[]`.
    Every,
}

/// Parses a payload key with Qdrant's syntax: a field name, then any of `.name`, `[N]` and
/// `[]`. Names are letters, digits, `_` and `-`, or any text in double quotes without `"` or
/// `\` (`"a.b"` is one field named `a.b`).
pub(crate) fn parse_key(key: &str) -> Result<Vec<KeySegment<'_>>, String> {
    if key.is_empty() {
        return Err("the key is empty".to_owned());
    }
    let bad = |at: usize, what: &str| {
        Err(format!(
            "key `{key}` is malformed at byte {at}: {what}; keys look like `a.b`, `a[].b`, \
             `a[0]` or `\"a.b\".c`"
        ))
    };
    let mut segments = Vec::new();
    let mut pos = 0;
    let bytes = key.as_bytes();
    let mut first = true;
    while pos < key.len() {
        let expect_name = first || bytes.get(pos) == Some(&b'.');
        if expect_name {
            if !first {
                pos += 1;
            }
            first = false;
            let rest = key.get(pos..).unwrap_or("");
            if let Some(quoted) = rest.strip_prefix('"') {
                match quoted.find(['"', '\\']) {
                    Some(end) if quoted.as_bytes().get(end) == Some(&b'"') => {
                        segments.push(KeySegment::Field(quoted.get(..end).unwrap_or("")));
                        pos += end + 2;
                    }
                    Some(end) => return bad(pos + 1 + end, "`\\` inside a quoted name"),
                    None => return bad(pos, "unterminated quoted name"),
                }
            } else {
                let len = rest
                    .char_indices()
                    .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .map_or(rest.len(), |(i, _)| i);
                if len == 0 {
                    return bad(pos, "expected a field name");
                }
                segments.push(KeySegment::Field(rest.get(..len).unwrap_or("")));
                pos += len;
            }
        } else if bytes.get(pos) == Some(&b'[') {
            let rest = key.get(pos + 1..).unwrap_or("");
            let Some(end) = rest.find(']') else {
                return bad(pos, "unclosed `[`");
            };
            let inside = rest.get(..end).unwrap_or("");
            if inside.is_empty() {
                segments.push(KeySegment::Every);
            } else if inside.bytes().all(|b| b.is_ascii_digit()) {
                match inside.parse() {
                    Ok(index) => segments.push(KeySegment::Index(index)),
                    Err(_) => return bad(pos + 1, "array index too large"),
                }
            } else {
                return bad(pos + 1, "expected `[]` or an array index `[N]`");
            }
            pos += end + 2;
        } else {
            return bad(pos, "expected `.`, `[]` or `[N]`");
        }
        // Each step goes one level down, so a longer key reaches nothing in a payload within
        // the limit; refusing it bounds every walk along a key.
        if segments.len() > MAX_PAYLOAD_DEPTH {
            return Err(format!(
                "key `{key:.40}...` has more than {MAX_PAYLOAD_DEPTH} steps (MAX_PAYLOAD_DEPTH)"
            ));
        }
    }
    Ok(segments)
}

// ---------------------------------------------------------------------------------------------
// Date-times

/// A UTC instant: whole seconds since 1970-01-01T00:00:00Z and nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UtcInstant {
    /// Whole seconds since the epoch; negative before 1970.
    pub(crate) secs: i64,
    /// Nanoseconds after `secs`, below one second.
    pub(crate) nanos: u32,
}

/// Parses the date-time forms documented on [`Range`]; `None` for anything else.
pub(crate) fn parse_datetime(text: &str) -> Option<UtcInstant> {
    let mut input = Cursor(text.as_bytes());
    let year = input.digits(4)?;
    input.expect(b'-')?;
    let month = input.digits(2)?;
    input.expect(b'-')?;
    let day = input.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if input.is_empty() {
        return Some(UtcInstant {
            secs: days * 86_400,
            nanos: 0,
        });
    }
    match input.next()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = input.digits(2)?;
    input.expect(b':')?;
    let minute = input.digits(2)?;
    let (mut second, mut nanos) = (0, 0);
    if input.peek() == Some(b':') {
        input.next();
        second = input.digits(2)?;
        if input.peek() == Some(b'.') {
            input.next();
            let mut count = 0;
            while let Some(digit) = input.peek().filter(u8::is_ascii_digit) {
                input.next();
                if count < 9 {
                    nanos = nanos * 10 + u32::from(digit - b'0');
                }
                count += 1;
            }
            if count == 0 {
                return None;
            }
            for _ in count..9 {
                nanos *= 10;
            }
        }
    }
    // RFC 3339 allows a leap second (`:60`); it counts as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = match input.next() {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = input.digits(2)?;
            if input.peek() == Some(b':') {
                input.next();
            }
            let minutes = if input.is_empty() {
                0
            } else {
                input.digits(2)?
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        Some(_) => return None,
    };
    if !input.is_empty() {
        return None;
    }
    Some(UtcInstant {
        secs: days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    })
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..count {
            let digit = self.next().filter(u8::is_ascii_digit)?;
            value = value * 10 + i64::from(digit - b'0');
        }
        Some(value)
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

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

fn deserialize_must<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Condition>>, D::Error> {
    deserialize_conditions(d, "must")
}

fn deserialize_should<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Condition>>, D::Error> {
    deserialize_conditions(d, "should")
}

fn deserialize_must_not<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Condition>>, D::Error> {
    deserialize_conditions(d, "must_not")
}

fn deserialize_min_should_conditions<'de, D: Deserializer<'de>>(
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
    fn from_json(value: Value) -> Result<Self, String> {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn parse(json: Value) -> Result<Filter, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    fn invalid(json: Value) -> FilterError {
        let filter = parse(json.clone()).unwrap_or_else(|e| panic!("{json} must parse: {e}"));
        match filter.validate() {
            Err(err) => err,
            Ok(()) => panic!("{json} must be refused by validate"),
        }
    }

    #[test]
    fn builders_produce_qdrant_json() {
        let filter = Filter::must([
            Condition::matches("city", "London"),
            Condition::matches("count", 0),
            Condition::matches("vip", true),
            Condition::match_any("color", ["black", "yellow"]),
            Condition::match_except("size", [1, 2]),
            Condition::match_text("description", "good cheap"),
            Condition::range("price", Range::default().gte(100.0).lte(450)),
            Condition::range("date", Range::default().gt("2023-02-08T10:49:00Z")),
        ])
        .with_should([
            Condition::geo_radius(
                "location",
                GeoRadius::new(GeoPoint::new(13.403683, 52.520711), 1000.0),
            ),
            Condition::geo_bounding_box(
                "location",
                GeoBoundingBox::new(
                    GeoPoint::new(13.403683, 52.520711),
                    GeoPoint::new(13.455868, 52.495862),
                ),
            ),
        ])
        .with_must_not([
            Condition::values_count("comments", ValuesCount::default().gt(2)),
            Condition::is_empty("reports"),
            Condition::is_null("reports"),
            Condition::has_id([1u64, 3]),
            Condition::nested("diet", Filter::must([Condition::matches("likes", true)])),
            Filter::should([Condition::matches("a", 1)]).into(),
        ])
        .with_min_should([Condition::matches("b", "x")], 1);
        let expected = json!({
            "must": [
                {"key": "city", "match": {"value": "London"}},
                {"key": "count", "match": {"value": 0}},
                {"key": "vip", "match": {"value": true}},
                {"key": "color", "match": {"any": ["black", "yellow"]}},
                {"key": "size", "match": {"except": [1, 2]}},
                {"key": "description", "match": {"text": "good cheap"}},
                {"key": "price", "range": {"gte": 100.0, "lte": 450.0}},
                {"key": "date", "range": {"gt": "2023-02-08T10:49:00Z"}},
            ],
            "should": [
                {"key": "location", "geo_radius": {
                    "center": {"lon": 13.403683, "lat": 52.520711}, "radius": 1000.0}},
                {"key": "location", "geo_bounding_box": {
                    "top_left": {"lon": 13.403683, "lat": 52.520711},
                    "bottom_right": {"lon": 13.455868, "lat": 52.495862}}},
            ],
            "must_not": [
                {"key": "comments", "values_count": {"gt": 2}},
                {"is_empty": {"key": "reports"}},
                {"is_null": {"key": "reports"}},
                {"has_id": [1, 3]},
                {"nested": {"key": "diet", "filter": {
                    "must": [{"key": "likes", "match": {"value": true}}]}}},
                {"should": [{"key": "a", "match": {"value": 1}}]},
            ],
            "min_should": {"conditions": [{"key": "b", "match": {"value": "x"}}], "min_count": 1},
        });
        assert_eq!(serde_json::to_value(&filter).unwrap(), expected);
        assert_eq!(parse(expected).unwrap(), filter);
        filter.validate().unwrap();
    }

    #[test]
    fn a_single_condition_stands_for_a_list() {
        let one = json!({"key": "city", "match": {"value": "London"}});
        for clause in ["must", "should", "must_not"] {
            let single = parse(json!({ clause: one.clone() })).unwrap();
            let list = parse(json!({ clause: [one.clone()] })).unwrap();
            assert_eq!(single, list, "{clause}");
        }
        let min_should = json!({"min_should": {"conditions": one, "min_count": 1}});
        assert_eq!(
            parse(min_should).unwrap(),
            Filter::min_should([Condition::matches("city", "London")], 1)
        );
        // `null` clauses are absent clauses.
        assert_eq!(
            parse(json!({"must": null, "should": null})).unwrap(),
            Filter::default()
        );
    }

    #[test]
    fn condition_kinds_are_told_apart_by_their_fields() {
        let filter = parse(json!({"must": [
            {"is_empty": {"key": "a"}},
            {"is_null": {"key": "a"}},
            {"has_id": [7, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]},
            {"nested": {"key": "diet[]", "filter": {}}},
            {"must_not": [{"has_id": [1]}]},
            {},
        ]}))
        .unwrap();
        let uuid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
            .parse::<PointId>()
            .unwrap();
        assert_eq!(
            filter.must.unwrap(),
            vec![
                Condition::is_empty("a"),
                Condition::is_null("a"),
                Condition::HasId(vec![PointId::Num(7), uuid]),
                Condition::nested("diet[]", Filter::default()),
                Filter::must_not([Condition::has_id([1u64])]).into(),
                Condition::Filter(Filter::default()),
            ]
        );
    }

    #[test]
    fn match_variants_read_from_json() {
        let read = |m: Value| Match::from_json(m);
        assert_eq!(
            read(json!({"value": "red"})),
            Ok(Match::Value(MatchValue::Keyword("red".into())))
        );
        assert_eq!(
            read(json!({"value": -3})),
            Ok(Match::Value(MatchValue::Integer(-3)))
        );
        assert_eq!(
            read(json!({"value": false})),
            Ok(Match::Value(MatchValue::Bool(false)))
        );
        assert_eq!(
            read(json!({"any": [1, 2]})),
            Ok(Match::Any(AnyVariants::Integers(vec![1, 2])))
        );
        assert_eq!(
            read(json!({"any": []})),
            Ok(Match::Any(AnyVariants::Keywords(vec![])))
        );
        assert_eq!(
            read(json!({"except": ["a"]})),
            Ok(Match::Except(AnyVariants::Keywords(vec!["a".into()])))
        );
        assert_eq!(read(json!({"text": "x y"})), Ok(Match::Text("x y".into())));
        assert_eq!(
            read(json!({"text_any": "x y"})),
            Ok(Match::TextAny("x y".into()))
        );

        let refused = |m: Value, needle: &str| {
            let err = read(m.clone()).expect_err("must be refused");
            assert!(err.contains(needle), "{m}: {err}");
        };
        refused(json!({"value": 1.5}), "compare floats with `range`");
        refused(json!({"value": 18446744073709551615u64}), "i64 range");
        refused(json!({"value": null}), "a string, an integer or a bool");
        refused(json!({"any": ["a", 1]}), "all strings or all integers");
        refused(json!({"any": [1, "a"]}), "all strings or all integers");
        refused(json!({"any": [1.5]}), "all strings or all integers");
        refused(json!({"except": "a"}), "is a list");
        refused(json!({"phrase": "a"}), "unsupported match kind `phrase`");
        refused(json!({"value": 1, "text": "a"}), "exactly one of");
        refused(json!({}), "exactly one of");
        refused(json!("red"), "is an object");
    }

    #[test]
    fn range_bounds_are_numbers_or_datetimes() {
        let filter = parse(json!({"must": [
            {"key": "price", "range": {"gt": null, "gte": 100, "lt": null, "lte": 450.5}},
            {"key": "date", "range": {"gt": "2023-02-08T10:49:00Z", "lte": "2024-01-31 10:14:31Z"}},
        ]}))
        .unwrap();
        assert_eq!(
            filter,
            Filter::must([
                Condition::range("price", Range::default().gte(100).lte(450.5)),
                Condition::range(
                    "date",
                    Range::default()
                        .gt("2023-02-08T10:49:00Z")
                        .lte("2024-01-31 10:14:31Z")
                ),
            ])
        );
        filter.validate().unwrap();
        let err = parse(json!({"must": [{"key": "a", "range": {"gt": true}}]})).unwrap_err();
        assert!(err.contains("number or a date-time string"), "{err}");
    }

    #[test]
    fn wrong_shapes_fail_to_deserialize_with_a_clear_message() {
        let refused = |json: Value, needles: &[&str]| {
            let err = parse(json.clone()).expect_err("must not deserialize");
            for needle in needles {
                assert!(err.contains(needle), "{json}: `{err}` lacks `{needle}`");
            }
        };
        refused(
            json!({"must": [{"key": "loc", "geo_polygon": {}}]}),
            &["must[0]", "missing field `exterior`"],
        );
        refused(
            json!({"must": [{"key": "loc", "geo_polygon": {"exterior": {"points": []},
                "holes": []}}]}),
            &["must[0]", "unknown field `holes`"],
        );
        refused(
            json!({"must": [{"key": "a", "match": {"value": 1}}, {"colour": "red"}]}),
            &["must[1]", "unknown condition with fields `colour`"],
        );
        refused(json!({"should": ["red"]}), &["should[0]", "got a string"]);
        refused(json!({"must_not": 3}), &["must_not", "got a number"]);
        refused(json!({"filter": {}}), &["unknown field `filter`"]);
        refused(
            json!({"must": [{"is_empty": {"key": "a"}, "is_null": {"key": "a"}}]}),
            &["`is_empty` condition has no other fields, found `is_null`"],
        );
        refused(
            json!({"must": [{"is_null": {"field": "a"}}]}),
            &["is_null", "unknown field `field`"],
        );
        refused(json!({"must": [{"has_id": [-1]}]}), &["has_id", "negative"]);
        refused(
            json!({"must": [{"nested": {"key": "a"}}]}),
            &["nested", "missing field `filter`"],
        );
        refused(
            json!({"must": [{"key": "a", "match": {"value": 1.5}}]}),
            &["must[0]", "compare floats"],
        );
        refused(
            json!({"min_should": {"conditions": [{"key": "a"}, {"x": 1}], "min_count": 1}}),
            &["conditions[1]", "unknown condition"],
        );
        refused(
            json!({"min_should": {"conditions": [], "min": 1}}),
            &["unknown field `min`"],
        );
    }

    #[test]
    fn validation_errors_name_the_bad_part() {
        let cases = [
            (
                json!({"must": [{"key": "a", "match": {"value": 1}}, {"key": "b"}]}),
                "must[1]",
                "needs one of `match`, `range`",
            ),
            (
                json!({"must": [{"key": "a", "match": {"value": 1}, "range": {"gt": 1}}]}),
                "must[0]",
                "`match`, `range` are all set",
            ),
            (
                json!({"should": [{"key": "a", "range": {"gt": null}}]}),
                "should[0].range",
                "at least one of",
            ),
            (
                json!({"should": [{"key": "a", "range": {"gte": "2023-02-30"}}]}),
                "should[0].range.gte",
                "`2023-02-30` is not a date-time",
            ),
            (
                json!({"must": [{"key": "a", "range": {"gte": 1, "lt": "2023-02-08"}}]}),
                "must[0].range",
                "mixes numbers and date-times",
            ),
            (
                json!({"min_should": {"conditions": [], "min_count": 0}}),
                "min_should.min_count",
                "at least 1",
            ),
            (
                json!({"must": [{"key": "l", "geo_radius": {
                    "center": {"lon": 0.0, "lat": 0.0}, "radius": -1.0}}]}),
                "must[0].geo_radius.radius",
                "not negative",
            ),
            (
                json!({"must": [{"key": "l", "geo_polygon": {"exterior": {"points": [
                    {"lon": 0.0, "lat": 0.0}, {"lon": 1.0, "lat": 0.0}, {"lon": 0.0, "lat": 0.0}
                ]}}}]}),
                "must[0].geo_polygon.exterior.points",
                "at least 4 points",
            ),
            (
                json!({"must": [{"key": "l", "geo_polygon": {
                    "exterior": {"points": [
                        {"lon": 0.0, "lat": 0.0}, {"lon": 1.0, "lat": 0.0},
                        {"lon": 1.0, "lat": 1.0}, {"lon": 0.0, "lat": 0.0}]},
                    "interiors": [{"points": [
                        {"lon": 0.1, "lat": 0.1}, {"lon": 0.2, "lat": 0.1},
                        {"lon": 0.2, "lat": 0.2}, {"lon": 0.1, "lat": 0.3}]}]}}]}),
                "must[0].geo_polygon.interiors[0].points",
                "last point must equal its first",
            ),
            (
                json!({"must": [{"key": "l", "geo_polygon": {"exterior": {"points": [
                    {"lon": 0.0, "lat": 0.0}, {"lon": 1.0, "lat": 95.0},
                    {"lon": 1.0, "lat": 1.0}, {"lon": 0.0, "lat": 0.0}]}}}]}),
                "must[0].geo_polygon.exterior.points[1].lat",
                "latitude 95 is outside",
            ),
            (
                json!({"must": [{"key": "l", "geo_radius": {
                    "center": {"lon": 0.0, "lat": 91.0}, "radius": 1.0}}]}),
                "must[0].geo_radius.center.lat",
                "latitude 91 is outside",
            ),
            (
                json!({"must_not": [{"key": "l", "geo_bounding_box": {
                    "top_left": {"lon": -181.0, "lat": 1.0},
                    "bottom_right": {"lon": 1.0, "lat": 0.0}}}]}),
                "must_not[0].geo_bounding_box.top_left.lon",
                "longitude -181 is outside",
            ),
            (
                json!({"must": [{"key": "", "match": {"value": 1}}]}),
                "must[0].key",
                "the key is empty",
            ),
            (
                json!({"must": [{"key": "a..b", "match": {"value": 1}}]}),
                "must[0].key",
                "malformed at byte 2",
            ),
            (
                json!({"must": [{"is_empty": {"key": "a[x]"}}]}),
                "must[0].is_empty.key",
                "array index",
            ),
            (
                json!({"must": [{"is_null": {"key": "a b"}}]}),
                "must[0].is_null.key",
                "malformed",
            ),
            (
                json!({"must": [{"key": "a", "values_count": {}}]}),
                "must[0].values_count",
                "at least one of",
            ),
            (
                json!({"must": [{"nested": {"key": "diet", "filter": {"must": [
                    {"key": "food", "match": {"value": "meat"}},
                    {"has_id": [1]},
                ]}}}]}),
                "must[0].nested.filter.must[1].has_id",
                "cannot be used inside a `nested` filter",
            ),
            (
                json!({"must": [{"nested": {"key": "diet.", "filter": {}}}]}),
                "must[0].nested.key",
                "expected a field name",
            ),
            (
                json!({"must_not": [{"should": [{"must": [{"key": "a", "range": {}}]}]}]}),
                "must_not[0].should[0].must[0].range",
                "at least one of",
            ),
            (
                json!({"min_should": {"conditions": [{"key": "a", "range": {"lt": "x"}}],
                    "min_count": 1}}),
                "min_should.conditions[0].range.lt",
                "not a date-time",
            ),
        ];
        for (json, path, reason) in cases {
            let err = invalid(json.clone());
            assert_eq!(err.path, path, "{json}: {err}");
            assert!(err.reason.contains(reason), "{json}: {err}");
        }
    }

    #[test]
    fn validation_refuses_what_only_rust_can_build() {
        let nan_radius = Filter::must([Condition::geo_radius(
            "l",
            GeoRadius::new(GeoPoint::new(0.0, 0.0), f64::NAN),
        )]);
        assert_eq!(
            nan_radius.validate().unwrap_err().path,
            "must[0].geo_radius.radius"
        );
        let infinite = Filter::should([Condition::range("a", Range::default().lt(f64::INFINITY))]);
        assert_eq!(infinite.validate().unwrap_err().path, "should[0].range.lt");

        let mut deep = Filter::must([Condition::matches("a", 1)]);
        for _ in 0..MAX_FILTER_DEPTH {
            deep = Filter::must([deep.into()]);
        }
        let err = deep.validate().unwrap_err();
        assert!(err.reason.contains("nest more than"), "{err}");
    }

    #[test]
    fn valid_filters_pass_and_errors_convert_to_bad_request() {
        let ok = parse(json!({
            "must": [{"key": "country.cities[].sightseeing", "match": {"value": "Osaka Castle"}}],
            "should": [{"key": "\"a.b\"[0].c-d_e", "range": {"gte": 1}}],
            "min_should": {"conditions": [{"is_empty": {"key": "x"}}], "min_count": 3},
        }))
        .unwrap();
        ok.validate().unwrap();
        Filter::default().validate().unwrap();

        let err = invalid(json!({"must": [{"key": "a", "range": {}}]}));
        assert_eq!(
            err.to_string(),
            "invalid filter at `must[0].range`: needs at least one of `gt`, `gte`, `lt`, `lte`"
        );
        let storage: StorageError = err.into();
        assert!(
            matches!(&storage, StorageError::BadRequest(m) if m.contains("`must[0].range`")),
            "{storage:?}"
        );
    }

    #[test]
    fn keys_parse_like_qdrant_json_paths() {
        use KeySegment::*;
        fn ok(key: &str) -> Vec<KeySegment<'_>> {
            parse_key(key).unwrap_or_else(|e| panic!("{key}: {e}"))
        }
        assert_eq!(ok("city"), vec![Field("city")]);
        assert_eq!(
            ok("country.cities[].name"),
            vec![Field("country"), Field("cities"), Every, Field("name")]
        );
        assert_eq!(ok("a[10][]"), vec![Field("a"), Index(10), Every]);
        assert_eq!(
            ok("\"a.b[]\".c-d_e.\"\""),
            vec![Field("a.b[]"), Field("c-d_e"), Field("")]
        );
        assert_eq!(ok("größe.Ü1"), vec![Field("größe"), Field("Ü1")]);
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a[",
            "a[x]",
            "a[-1]",
            "a]",
            "a b",
            "\"a",
            "\"a\\\"b\"",
            "a[99999999999999999999999]",
            "a.[]",
            "[]",
            "a$",
        ] {
            assert!(parse_key(bad).is_err(), "`{bad}` must be refused");
        }
    }

    fn instant(text: &str) -> UtcInstant {
        parse_datetime(text).unwrap_or_else(|| panic!("`{text}` must parse"))
    }

    #[test]
    fn datetimes_parse_to_utc_instants() {
        assert_eq!(instant("1970-01-01"), UtcInstant { secs: 0, nanos: 0 });
        assert_eq!(
            instant("2023-02-08T10:49:00Z"),
            UtcInstant {
                secs: 1_675_853_340,
                nanos: 0
            }
        );
        for same in [
            "2023-02-08T11:49:00+01:00",
            "2023-02-08 10:49:00Z",
            "2023-02-08t10:49:00z",
            "2023-02-08T10:49:00",
            "2023-02-08 10:49",
            "2023-02-08T05:19:00-05:30",
            "2023-02-08T11:49:00+0100",
            "2023-02-08T11:49:00+01",
            "2023-02-08T10:49:00.000Z",
        ] {
            assert_eq!(instant(same), instant("2023-02-08T10:49:00Z"), "{same}");
        }
        assert_eq!(
            instant("1969-12-31T23:59:59.5Z"),
            UtcInstant {
                secs: -1,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            instant("2023-02-08T10:49:00.1234567899Z").nanos,
            123_456_789
        );
        assert!(instant("2023-02-08T10:49:00.1Z") < instant("2023-02-08T10:49:00.2Z"));
        assert!(instant("2024-01-31") < instant("2024-01-31T00:00:00.000000001Z"));
        assert_eq!(instant("2000-03-01").secs, 11_017 * 86_400);
        instant("2024-02-29");
        instant("2000-02-29");
        instant("2016-12-31T23:59:60Z");
        for bad in [
            "",
            "2023",
            "2023-02",
            "2023-2-08",
            "20230208",
            "2023-13-01",
            "2023-00-10",
            "2023-02-29",
            "1900-02-29",
            "2023-04-31",
            "2023-02-08T",
            "2023-02-08T10",
            "2023-02-08T24:00:00Z",
            "2023-02-08T10:60:00Z",
            "2023-02-08T10:49:61Z",
            "2023-02-08T10:49:00.Z",
            "2023-02-08T10:49:00+24:00",
            "2023-02-08T10:49:00+01:60",
            "2023-02-08T10:49:00ZZ",
            "2023-02-08T10:49:00 ",
            "2023-02-08X10:49:00Z",
            "٢٠٢٣-02-08",
        ] {
            assert_eq!(parse_datetime(bad), None, "`{bad}` must be refused");
        }
    }

    // Random filters survive a JSON round trip unchanged.

    fn key_strategy() -> impl Strategy<Value = String> {
        "[a-z_]{1,4}(\\.[a-z0-9-]{1,3}|\\[\\]|\\[[0-9]\\]|\\.\"[a-z. ]{0,3}\"){0,3}"
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![-1e12f64..1e12, Just(0.0), Just(f64::MAX), Just(1e-300)]
    }

    fn point_id() -> impl Strategy<Value = PointId> {
        prop_oneof![
            any::<u64>().prop_map(PointId::Num),
            any::<u128>().prop_map(|n| PointId::Uuid(uuid::Uuid::from_u128(n))),
        ]
    }

    fn any_variants() -> impl Strategy<Value = AnyVariants> {
        prop_oneof![
            prop::collection::vec(any::<String>(), 0..4).prop_map(AnyVariants::Keywords),
            // An empty list reads back as `Keywords([])`, so integer lists are never empty.
            prop::collection::vec(any::<i64>(), 1..4).prop_map(AnyVariants::Integers),
        ]
    }

    fn match_strategy() -> impl Strategy<Value = Match> {
        prop_oneof![
            any::<String>().prop_map(|s| Match::Value(MatchValue::Keyword(s))),
            any::<i64>().prop_map(|n| Match::Value(MatchValue::Integer(n))),
            any::<bool>().prop_map(|b| Match::Value(MatchValue::Bool(b))),
            any_variants().prop_map(Match::Any),
            any_variants().prop_map(Match::Except),
            any::<String>().prop_map(Match::Text),
            any::<String>().prop_map(Match::TextAny),
        ]
    }

    fn range_strategy() -> impl Strategy<Value = Range> {
        let bound = prop::option::of(prop_oneof![
            number().prop_map(RangeValue::Number),
            "[0-9T:Z .+-]{0,25}".prop_map(RangeValue::DateTime),
        ]);
        (bound.clone(), bound.clone(), bound.clone(), bound).prop_map(|(gt, gte, lt, lte)| Range {
            gt,
            gte,
            lt,
            lte,
        })
    }

    fn geo_point() -> impl Strategy<Value = GeoPoint> {
        (-180.0f64..=180.0, -90.0f64..=90.0).prop_map(|(lon, lat)| GeoPoint { lon, lat })
    }

    fn leaf_condition() -> impl Strategy<Value = Condition> {
        let count = prop::option::of(any::<usize>());
        prop_oneof![
            (key_strategy(), match_strategy()).prop_map(|(k, m)| {
                Condition::Field(FieldCondition {
                    r#match: Some(m),
                    ..FieldCondition::new(k)
                })
            }),
            (key_strategy(), range_strategy()).prop_map(|(k, r)| Condition::range(k, r)),
            (key_strategy(), geo_point(), geo_point()).prop_map(|(k, a, b)| {
                Condition::geo_bounding_box(k, GeoBoundingBox::new(a, b))
            }),
            (key_strategy(), geo_point(), number())
                .prop_map(|(k, c, r)| Condition::geo_radius(k, GeoRadius::new(c, r))),
            (
                key_strategy(),
                count.clone(),
                count.clone(),
                count.clone(),
                count
            )
                .prop_map(|(k, gt, gte, lt, lte)| {
                    Condition::values_count(k, ValuesCount { gt, gte, lt, lte })
                }),
            key_strategy().prop_map(Condition::is_empty),
            key_strategy().prop_map(Condition::is_null),
            prop::collection::vec(point_id(), 0..4).prop_map(Condition::HasId),
        ]
    }

    fn filter_of(
        condition: impl Strategy<Value = Condition> + Clone,
    ) -> impl Strategy<Value = Filter> {
        let list = prop::option::of(prop::collection::vec(condition.clone(), 0..3));
        let min_should = prop::option::of(
            (prop::collection::vec(condition, 0..3), any::<usize>()).prop_map(
                |(conditions, min_count)| MinShould {
                    conditions,
                    min_count,
                },
            ),
        );
        (list.clone(), list.clone(), list, min_should).prop_map(
            |(must, should, must_not, min_should)| Filter {
                must,
                should,
                must_not,
                min_should,
            },
        )
    }

    fn filter_strategy() -> impl Strategy<Value = Filter> {
        let condition = leaf_condition().prop_recursive(3, 32, 3, |inner| {
            prop_oneof![
                filter_of(inner.clone()).prop_map(Condition::Filter),
                (key_strategy(), filter_of(inner)).prop_map(|(k, f)| Condition::nested(k, f)),
            ]
        });
        filter_of(condition)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn filters_round_trip_through_json(filter in filter_strategy()) {
            let text = serde_json::to_string(&filter).unwrap();
            let back: Filter = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(back, filter);
        }

        #[test]
        fn generated_keys_parse(key in key_strategy()) {
            prop_assert!(parse_key(&key).is_ok(), "{}", key);
        }
    }
}
