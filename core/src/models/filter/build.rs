//! Builders: the Rust way to write a filter, and conversions into its parts.

use super::*;

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

    pub(super) fn bounds(&self) -> [(&'static str, Option<&RangeValue>); 4] {
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
