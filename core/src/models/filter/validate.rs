//! [`Filter::validate`]: the checks serde cannot make, each error naming the bad part.

use super::*;

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
