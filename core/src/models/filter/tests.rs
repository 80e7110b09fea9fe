//! Tests of the filter model: parsing, builders, validation, keys, date-times.

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
        (key_strategy(), geo_point(), geo_point())
            .prop_map(|(k, a, b)| { Condition::geo_bounding_box(k, GeoBoundingBox::new(a, b)) }),
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

fn filter_of(condition: impl Strategy<Value = Condition> + Clone) -> impl Strategy<Value = Filter> {
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
