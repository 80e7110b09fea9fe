//! Tests of the reference filter semantics: every condition kind, nested keys and arrays,
//! and the boolean clauses, checked against hand-computed expectations.

use serde_json::json;

use super::*;
use crate::models::{GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius, Range, ValuesCount};

fn payload(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        other => panic!("a payload is an object, not {other}"),
    }
}

/// Whether a point (id 1) with `value` as payload passes `filter`.
fn passes(filter: &Filter, value: Value) -> bool {
    filter.validate().unwrap();
    matches(filter, &PointId::Num(1), Some(&payload(value)))
}

fn check(condition: Condition, value: Value) -> bool {
    passes(&Filter::must([condition]), value)
}

#[test]
fn keys_reach_nested_fields_array_elements_and_quoted_names() {
    let doc = json!({
        "a": {"b": {"c": 1}},
        "arr": [{"x": 1, "y": [1, 2]}, {"x": 2, "y": 3}, {"z": 5}, 7],
        "deep": [{"inner": [{"v": 1}, {"v": 2}]}, {"inner": [{"v": 3}]}],
        "dotted.name": "yes",
        "obj": {"x": 9},
    });
    let reached = |key: &str| -> Vec<Value> {
        values_at(&payload(doc.clone()), key)
            .unwrap()
            .into_iter()
            .cloned()
            .collect()
    };
    assert_eq!(reached("a.b.c"), vec![json!(1)]);
    assert_eq!(reached("a.b"), vec![json!({"c": 1})]);
    assert_eq!(reached("a.b.c.d"), Vec::<Value>::new());
    assert_eq!(reached("missing"), Vec::<Value>::new());
    assert_eq!(reached("arr[].x"), vec![json!(1), json!(2)]);
    // Leaf arrays stay whole unless the key says `[]`.
    assert_eq!(reached("arr[].y"), vec![json!([1, 2]), json!(3)]);
    assert_eq!(reached("arr[].y[]"), vec![json!(1), json!(2)]);
    assert_eq!(reached("arr[1].x"), vec![json!(2)]);
    assert_eq!(reached("arr[3]"), vec![json!(7)]);
    assert_eq!(reached("arr[9]"), Vec::<Value>::new());
    // An array in the middle of a path is entered only with `[]` or `[N]`.
    assert_eq!(reached("arr.x"), Vec::<Value>::new());
    assert_eq!(reached("obj[]"), Vec::<Value>::new());
    assert_eq!(
        reached("deep[].inner[].v"),
        vec![json!(1), json!(2), json!(3)]
    );
    assert_eq!(reached("\"dotted.name\""), vec![json!("yes")]);
    assert_eq!(reached("dotted.name"), Vec::<Value>::new());
    assert_eq!(values_at(&payload(doc), "a..b"), None);

    let doc = json!({"arr": [{"x": 1}, {"x": 2}], "tags": ["a", "b"]});
    assert!(check(Condition::matches("arr[].x", 2), doc.clone()));
    assert!(!check(Condition::matches("arr.x", 2), doc.clone()));
    assert!(check(Condition::matches("tags", "b"), doc.clone()));
    assert!(check(Condition::matches("tags[1]", "b"), doc.clone()));
    assert!(!check(Condition::matches("tags[0]", "b"), doc));
}

#[test]
fn match_value_compares_only_values_of_its_type() {
    let doc = json!({"int": 1, "float": 1.0, "text": "1", "flag": true, "word": "true",
                     "big": 18446744073709551615u64, "neg": -5});
    assert!(check(Condition::matches("int", 1), doc.clone()));
    assert!(!check(Condition::matches("float", 1), doc.clone()));
    assert!(!check(Condition::matches("text", 1), doc.clone()));
    assert!(check(Condition::matches("text", "1"), doc.clone()));
    assert!(!check(Condition::matches("int", "1"), doc.clone()));
    assert!(check(Condition::matches("flag", true), doc.clone()));
    assert!(!check(Condition::matches("word", true), doc.clone()));
    assert!(!check(Condition::matches("flag", "true"), doc.clone()));
    assert!(!check(Condition::matches("big", -1), doc.clone()));
    assert!(check(Condition::matches("neg", -5), doc.clone()));
    assert!(!check(Condition::matches("missing", 1), doc));
    // Several values: any of them.
    let doc = json!({"v": [3, "x", null, [1]]});
    assert!(check(Condition::matches("v", 3), doc.clone()));
    assert!(check(Condition::matches("v", "x"), doc.clone()));
    // Only one level of array is looked into.
    assert!(!check(Condition::matches("v", 1), doc));
}

#[test]
fn match_any_and_except() {
    let colors = |value: Value| json!({ "color": value });
    let any = || Condition::match_any("color", ["black", "yellow"]);
    let except = || Condition::match_except("color", ["black", "yellow"]);
    assert!(check(any(), colors(json!("black"))));
    assert!(!check(any(), colors(json!("green"))));
    assert!(check(any(), colors(json!(["black", "green"]))));
    assert!(!check(any(), colors(json!([]))));
    assert!(!check(
        Condition::match_any("color", Vec::<&str>::new()),
        colors(json!("black"))
    ));

    assert!(!check(except(), colors(json!("black"))));
    assert!(check(except(), colors(json!("green"))));
    // Documented: an array passes if at least one value is not in the list.
    assert!(check(except(), colors(json!(["black", "green"]))));
    assert!(!check(except(), colors(json!(["black", "yellow"]))));
    // Null, `[]` and a missing key have no value that could be "not in the list".
    assert!(!check(except(), colors(json!(null))));
    assert!(!check(except(), colors(json!([]))));
    assert!(!check(except(), colors(json!([null]))));
    assert!(!check(except(), json!({})));
    // Values of another type are not in the list.
    assert!(check(except(), colors(json!(3))));
    assert!(check(except(), colors(json!({"r": 1}))));
    assert!(check(
        Condition::match_except("color", Vec::<&str>::new()),
        colors(json!("x"))
    ));

    let sizes = |value: Value| json!({ "size": value });
    assert!(check(Condition::match_any("size", [1, 2]), sizes(json!(2))));
    assert!(!check(
        Condition::match_any("size", [1, 2]),
        sizes(json!(2.0))
    ));
    assert!(!check(
        Condition::match_any("size", [1, 2]),
        sizes(json!("2"))
    ));
    assert!(!check(
        Condition::match_except("size", [1, 2]),
        sizes(json!([1, 2]))
    ));
    assert!(check(
        Condition::match_except("size", [1, 2]),
        sizes(json!([1, 3]))
    ));
    assert!(check(
        Condition::match_except("size", [1, 2]),
        sizes(json!(1.5))
    ));
    assert!(check(
        Condition::match_except("size", [1, 2]),
        sizes(json!(true))
    ));
}

#[test]
fn match_text_is_a_case_sensitive_substring() {
    let doc = json!({"description": "good and cheap", "list": ["x", "a good cheap deal"]});
    assert!(check(
        Condition::match_text("description", "good"),
        doc.clone()
    ));
    assert!(check(
        Condition::match_text("description", "d and c"),
        doc.clone()
    ));
    assert!(!check(
        Condition::match_text("description", "Good"),
        doc.clone()
    ));
    assert!(!check(
        Condition::match_text("description", "good cheap"),
        doc.clone()
    ));
    assert!(check(
        Condition::match_text("list", "good cheap"),
        doc.clone()
    ));
    assert!(!check(Condition::match_text("missing", ""), doc));
    assert!(!check(Condition::match_text("n", "1"), json!({"n": 1})));
}

#[test]
fn match_text_any_needs_one_word_as_a_case_sensitive_substring() {
    let doc = json!({"description": "good and cheap", "list": ["x", "fast phone"], "n": 1});
    let any = |key: &str, words: &str| check(Condition::match_text_any(key, words), doc.clone());
    assert!(any("description", "expensive cheap"));
    assert!(any("description", "  and\t"));
    // Words are substrings, not tokens: "heap" is inside "cheap".
    assert!(any("description", "heap"));
    assert!(!any("description", "Good Cheap"));
    assert!(!any("description", "expensive slow"));
    // No word at all: nothing to find.
    assert!(!any("description", ""));
    assert!(!any("description", "   "));
    // Array elements one by one; other types never.
    assert!(any("list", "slow phone"));
    assert!(!any("list", "phonex"));
    assert!(!any("n", "1"));
    assert!(!any("missing", "a"));
    // A brute-force reference over every split of a few words.
    let texts = ["", "a", "ab", "b a", "abc"];
    let words = ["a", "c", "ba", "", "x"];
    for text in texts {
        for first in words {
            for second in words {
                let query = format!("{first} {second}");
                let want = [first, second]
                    .iter()
                    .any(|w| !w.is_empty() && text.contains(w));
                let got = check(
                    Condition::match_text_any("t", query.clone()),
                    json!({ "t": text }),
                );
                assert_eq!(got, want, "{text:?} against {query:?}");
            }
        }
    }
}

#[test]
fn numeric_ranges_compare_ints_and_floats() {
    let price = |v: Value| json!({ "price": v });
    let range = || Condition::range("price", Range::default().gte(100).lt(450.5));
    assert!(check(range(), price(json!(100))));
    assert!(check(range(), price(json!(100.0))));
    assert!(check(range(), price(json!(450.4))));
    assert!(!check(range(), price(json!(450.5))));
    assert!(!check(range(), price(json!(99.99))));
    assert!(!check(range(), price(json!("200"))));
    assert!(!check(range(), price(json!(null))));
    assert!(!check(range(), json!({})));
    assert!(check(range(), price(json!([1, 200]))));
    assert!(!check(range(), price(json!([1, 2]))));
    let open = |r: Range| Condition::range("price", r);
    assert!(check(open(Range::default().gt(1)), price(json!(1.000001))));
    assert!(!check(open(Range::default().gt(1)), price(json!(1))));
    assert!(check(open(Range::default().lte(-1)), price(json!(-1))));
    assert!(check(
        open(Range::default().lte(1e300)),
        price(json!(18446744073709551615u64))
    ));
}

#[test]
fn datetime_ranges_compare_utc_instants() {
    let at = |v: &str| json!({ "date": v });
    let range = || {
        Condition::range(
            "date",
            Range::default()
                .gt("2023-02-08T10:49:00Z")
                .lte("2024-01-31 10:14:31Z"),
        )
    };
    assert!(check(range(), at("2023-02-08T10:49:00.001Z")));
    assert!(!check(range(), at("2023-02-08T10:49:00Z")));
    // The same instant as the lower bound, written in another zone.
    assert!(!check(range(), at("2023-02-08T11:49:00+01:00")));
    assert!(check(range(), at("2023-02-08T11:49:01+01:00")));
    assert!(check(range(), at("2024-01-31T10:14:31Z")));
    assert!(!check(range(), at("2024-01-31T10:14:32Z")));
    assert!(check(range(), at("2023-06-01")));
    assert!(check(
        range(),
        json!({"date": ["2020-01-01", "2023-06-01T00:00:00-07:00"]})
    ));
    assert!(!check(range(), at("June 2023")));
    assert!(!check(range(), json!({"date": 1_700_000_000})));
    let midnight = Condition::range("date", Range::default().gte("2023-02-08"));
    assert!(check(midnight.clone(), at("2023-02-08T00:00:00Z")));
    assert!(!check(midnight, at("2023-02-07T23:59:59.999Z")));
}

#[test]
fn geo_conditions() {
    let berlin = GeoPoint::new(13.404954, 52.520008);
    let at = |p: GeoPoint| json!({"location": {"lon": p.lon, "lat": p.lat}});
    let in_berlin = || {
        Condition::geo_bounding_box(
            "location",
            GeoBoundingBox::new(
                GeoPoint::new(13.08835, 52.67551),
                GeoPoint::new(13.76116, 52.33826),
            ),
        )
    };
    assert!(check(in_berlin(), at(berlin)));
    assert!(!check(in_berlin(), at(GeoPoint::new(37.6173, 55.7558))));
    assert!(!check(in_berlin(), json!({"location": "Berlin"})));
    assert!(!check(in_berlin(), json!({"location": {"lon": 13.4}})));
    assert!(check(
        in_berlin(),
        json!({"location": [{"lon": 0.0, "lat": 0.0}, {"lon": 13.4, "lat": 52.5}]})
    ));
    // A box across the antimeridian: from 170°E to 170°W.
    let pacific = || {
        Condition::geo_bounding_box(
            "location",
            GeoBoundingBox::new(GeoPoint::new(170.0, 10.0), GeoPoint::new(-170.0, -10.0)),
        )
    };
    assert!(check(pacific(), at(GeoPoint::new(179.0, 0.0))));
    assert!(check(pacific(), at(GeoPoint::new(-175.0, 5.0))));
    assert!(!check(pacific(), at(GeoPoint::new(0.0, 0.0))));
    assert!(!check(pacific(), at(GeoPoint::new(179.0, 11.0))));

    // Qdrant's own test points: near Berlin within 2 km, and a miss 7° further east.
    let near = |center: GeoPoint| Condition::geo_radius("location", GeoRadius::new(center, 2000.0));
    let berlin_and_moscow = json!({"location": [
        {"lat": 52.52197645, "lon": 13.413637435864272},
        {"lat": 55.7536283, "lon": 37.62137960067377},
    ]});
    assert!(check(
        near(GeoPoint::new(13.413637, 52.521976)),
        berlin_and_moscow.clone()
    ));
    assert!(!check(
        near(GeoPoint::new(20.423637, 52.511)),
        berlin_and_moscow
    ));
    // Berlin to Moscow is about 1,610 km on the sphere.
    let km = haversine_meters(berlin, GeoPoint::new(37.6173, 55.7558)) / 1000.0;
    assert!((1605.0..1615.0).contains(&km), "{km}");
    let antipode = haversine_meters(GeoPoint::new(0.0, 0.0), GeoPoint::new(180.0, 0.0));
    assert!((antipode - std::f64::consts::PI * EARTH_RADIUS_METERS).abs() < 1.0);
    assert!(!check(
        Condition::geo_radius("location", GeoRadius::new(berlin, 0.0)),
        at(berlin)
    ));
}

/// Qdrant's documentation polygon: a square from -70 to 60 in both coordinates with a hole
/// from -65 to 0.
fn doc_polygon() -> GeoPolygon {
    let square = |lo: f64, hi: f64| {
        [(lo, lo), (hi, lo), (hi, hi), (lo, hi), (lo, lo)].map(|(lon, lat)| GeoPoint::new(lon, lat))
    };
    GeoPolygon::new(square(-70.0, 60.0)).with_hole(square(-65.0, 0.0))
}

#[test]
fn geo_polygon_holds_points_inside_the_exterior_and_outside_the_holes() {
    let at = |lon: f64, lat: f64| json!({"location": {"lon": lon, "lat": lat}});
    let inside = |lon, lat| {
        check(
            Condition::geo_polygon("location", doc_polygon()),
            at(lon, lat),
        )
    };
    assert!(inside(30.0, 30.0));
    assert!(inside(-68.0, -68.0));
    // In the hole, outside, on the exterior ring, on the hole's ring.
    assert!(!inside(-30.0, -30.0));
    assert!(!inside(65.0, 0.0));
    assert!(!inside(60.0, 10.0));
    assert!(!inside(-70.0, -70.0));
    assert!(!inside(-65.0, -30.0));
    assert!(!inside(0.0, -30.0));
    // Just inside the exterior, just outside the hole.
    assert!(inside(59.999, 10.0));
    assert!(inside(0.001, -30.0));
    // Any of several values; other shapes never.
    assert!(check(
        Condition::geo_polygon("location", doc_polygon()),
        json!({"location": [{"lon": -30.0, "lat": -30.0}, {"lon": 30.0, "lat": 30.0}]})
    ));
    assert!(!check(
        Condition::geo_polygon("location", doc_polygon()),
        json!({"location": "somewhere"})
    ));
    // A concave ring (an L), checked against the union of its two rectangles, on a grid.
    let l_shape = GeoPolygon::new(
        [
            (0.0, 0.0),
            (4.0, 0.0),
            (4.0, 1.0),
            (1.0, 1.0),
            (1.0, 3.0),
            (0.0, 3.0),
            (0.0, 0.0),
        ]
        .map(|(lon, lat)| GeoPoint::new(lon, lat)),
    );
    for i in -2..=18 {
        for j in -2..=14 {
            let (lon, lat) = (i as f64 * 0.25 + 0.125, j as f64 * 0.25 + 0.125);
            let want = (0.0 < lon && lon < 4.0 && 0.0 < lat && lat < 1.0)
                || (0.0 < lon && lon < 1.0 && 0.0 < lat && lat < 3.0);
            let got = check(
                Condition::geo_polygon("p", l_shape.clone()),
                json!({"p": {"lon": lon, "lat": lat}}),
            );
            assert_eq!(got, want, "({lon}, {lat})");
        }
    }
}

#[test]
fn values_count_counts_array_elements() {
    let count = |c: ValuesCount| Condition::values_count("comments", c);
    let doc = |v: Value| json!({ "comments": v });
    assert!(check(
        count(ValuesCount::default().gt(2)),
        doc(json!(["a", "b", "c"]))
    ));
    assert!(!check(
        count(ValuesCount::default().gt(2)),
        doc(json!(["a", "b"]))
    ));
    assert!(check(
        count(ValuesCount::default().lte(1)),
        doc(json!("one"))
    ));
    assert!(check(
        count(ValuesCount::default().lte(1)),
        doc(json!({"a": 1, "b": 2}))
    ));
    assert!(check(count(ValuesCount::default().lt(1)), doc(json!(null))));
    assert!(check(count(ValuesCount::default().lt(1)), doc(json!([]))));
    assert!(check(count(ValuesCount::default().lte(0)), json!({})));
    assert!(!check(count(ValuesCount::default().gte(1)), json!({})));
    assert!(check(
        count(ValuesCount::default().gte(2).lte(3)),
        doc(json!([1, 2, 3]))
    ));
    // With `[]` every reached value is counted on its own, as in Qdrant.
    let nested = json!({"posts": [{"tags": ["a", "b"]}, {"tags": ["c"]}]});
    let tags = |c: ValuesCount| Condition::values_count("posts[].tags", c);
    assert!(check(tags(ValuesCount::default().gte(2)), nested.clone()));
    assert!(!check(tags(ValuesCount::default().gte(3)), nested));
}

#[test]
fn is_empty_and_is_null_follow_qdrant() {
    // The payload of Qdrant's condition checker test.
    let doc = json!({
        "location": {"lon": 13.404954, "lat": 52.520008},
        "price": 499.90,
        "amount": 10,
        "rating": [3, 7, 9, 9],
        "color": "red",
        "has_delivery": true,
        "shipped_at": "2020-02-15T00:00:00Z",
        "parts": [],
        "packaging": null,
        "not_null": [null],
    });
    let empty = |key: &str| check(Condition::is_empty(key), doc.clone());
    let null = |key: &str| check(Condition::is_null(key), doc.clone());
    assert!(!empty("price"));
    assert!(empty("something_new"));
    assert!(empty("parts"));
    assert!(empty("packaging"));
    assert!(!empty("not_null"));
    assert!(!empty("location"));
    assert!(!null("amount"));
    assert!(!null("parts"));
    assert!(!null("something_else"));
    assert!(null("packaging"));
    assert!(!null("not_null"));
    assert!(null("not_null[]"));
    assert!(empty("parts[]"));

    let many = json!({"a": [{"b": null}, {"b": 1}], "c": [{"b": null}, {"b": []}]});
    assert!(check(Condition::is_null("a[].b"), many.clone()));
    assert!(!check(Condition::is_empty("a[].b"), many.clone()));
    assert!(check(Condition::is_empty("c[].b"), many.clone()));
    // Without payload every key is missing: empty, not null.
    let filter = Filter::must([Condition::is_empty("a")]);
    assert!(matches(&filter, &PointId::Num(1), None));
    let filter = Filter::must([Condition::is_null("a")]);
    assert!(!matches(&filter, &PointId::Num(1), None));
}

#[test]
fn has_id_matches_numeric_and_uuid_ids() {
    let uuid: PointId = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26".parse().unwrap();
    let filter = Filter::must([Condition::HasId(vec![PointId::Num(3), uuid])]);
    assert!(matches(&filter, &PointId::Num(3), None));
    assert!(matches(&filter, &uuid, None));
    assert!(!matches(&filter, &PointId::Num(4), None));
    assert!(!matches(
        &Filter::must([Condition::has_id(Vec::<u64>::new())]),
        &uuid,
        None
    ));
    // Inside `nested` (refused by validation) `has_id` holds for nothing.
    let nested = Filter::must([Condition::nested(
        "a",
        Filter::must([Condition::has_id([3u64])]),
    )]);
    let doc = payload(json!({"a": [{}]}));
    assert!(!matches(&nested, &PointId::Num(3), Some(&doc)));
}

#[test]
fn nested_applies_the_whole_filter_to_one_element() {
    let doc = json!({"diet": [
        {"food": "leaves", "likes": false},
        {"food": "meat", "likes": true},
    ]});
    let meat_liked = || {
        Filter::must([
            Condition::matches("food", "meat"),
            Condition::matches("likes", true),
        ])
    };
    assert!(check(Condition::nested("diet", meat_liked()), doc.clone()));
    assert!(check(
        Condition::nested("diet[]", meat_liked()),
        doc.clone()
    ));
    let leaves_liked = Filter::must([
        Condition::matches("food", "leaves"),
        Condition::matches("likes", true),
    ]);
    assert!(!check(
        Condition::nested("diet", leaves_liked.clone()),
        doc.clone()
    ));
    // Not an array of objects: nothing to apply the filter to.
    assert!(!check(
        Condition::nested("diet", Filter::default()),
        json!({"diet": {"food": "x"}})
    ));
    assert!(!check(
        Condition::nested("diet", Filter::default()),
        json!({"diet": [1, "x"]})
    ));
    assert!(check(
        Condition::nested("diet", Filter::default()),
        doc.clone()
    ));
    assert!(!check(
        Condition::nested("diet", Filter::default()),
        json!({"diet": []})
    ));
    // must_not inside nested: some element has no liked food.
    let not_liked = Filter::must_not([Condition::matches("likes", true)]);
    assert!(check(Condition::nested("diet", not_liked), doc));
    // Nested inside nested, keys relative to each element.
    let deep =
        json!({"zoo": [{"animals": [{"name": "rex", "diet": [{"food": "meat", "likes": true}]}]}]});
    let inner = Condition::nested("diet", meat_liked());
    let filter = Condition::nested(
        "zoo",
        Filter::must([Condition::nested(
            "animals",
            Filter::must([Condition::matches("name", "rex"), inner]),
        )]),
    );
    assert!(check(filter, deep));
}

#[test]
fn clauses_combine_like_qdrant() {
    let doc = json!({"a": 1, "b": 2});
    let a1 = || Condition::matches("a", 1);
    let b1 = || Condition::matches("b", 1);
    let b2 = || Condition::matches("b", 2);
    assert!(passes(&Filter::default(), doc.clone()));
    assert!(matches(&Filter::default(), &PointId::Num(1), None));
    assert!(passes(&Filter::must([a1(), b2()]), doc.clone()));
    assert!(!passes(&Filter::must([a1(), b1()]), doc.clone()));
    assert!(passes(&Filter::must(Vec::new()), doc.clone()));
    assert!(passes(&Filter::should([b1(), a1()]), doc.clone()));
    assert!(!passes(&Filter::should([b1()]), doc.clone()));
    // An empty `should` list holds for nothing (Qdrant's behaviour).
    assert!(!passes(&Filter::should(Vec::new()), doc.clone()));
    assert!(passes(&Filter::must_not([b1()]), doc.clone()));
    assert!(!passes(&Filter::must_not([b1(), a1()]), doc.clone()));
    assert!(passes(&Filter::must_not(Vec::new()), doc.clone()));
    assert!(passes(
        &Filter::min_should([a1(), b1(), b2()], 2),
        doc.clone()
    ));
    assert!(!passes(
        &Filter::min_should([a1(), b1(), b2()], 3),
        doc.clone()
    ));
    assert!(!passes(&Filter::min_should(Vec::new(), 1), doc.clone()));
    assert!(!passes(&Filter::min_should([a1()], 2), doc.clone()));
    let all = Filter::must([a1()])
        .with_should([b1(), b2()])
        .with_must_not([b1()])
        .with_min_should([a1(), b2()], 2);
    assert!(passes(&all, doc.clone()));
    assert!(!passes(&all.clone().with_must_not([b2()]), doc.clone()));
    // A filter as a condition: NOT (a = 1 AND b = 1).
    let nested = Filter::must_not([Filter::must([a1(), b1()]).into()]);
    assert!(passes(&nested, doc));
}

#[test]
fn unvalidated_filters_match_nothing_instead_of_panicking() {
    let doc = payload(json!({"a": 1, "d": "2023-01-01"}));
    let id = PointId::Num(1);
    let bad_key = Filter::must([Condition::matches("a..", 1)]);
    assert!(!matches(&bad_key, &id, Some(&doc)));
    assert!(!matches(
        &Filter::must([Condition::is_empty("[]")]),
        &id,
        Some(&doc)
    ));
    let mixed = Filter::must([Condition::range(
        "a",
        Range::default().gt(0).lt("2030-01-01"),
    )]);
    assert!(!matches(&mixed, &id, Some(&doc)));
    let bad_date = Filter::must([Condition::range("d", Range::default().gt("yesterday"))]);
    assert!(!matches(&bad_date, &id, Some(&doc)));
    let nothing = Filter::must([Condition::Field(crate::models::FieldCondition::new("a"))]);
    assert!(!matches(&nothing, &id, Some(&doc)));
}

/// Examples from Qdrant's filtering documentation
/// (<https://qdrant.tech/documentation/concepts/filtering/>), copied as JSON, with the point
/// ids the documentation says each filter selects.
mod documentation_examples {
    use super::*;

    /// "Suppose we have a set of points with the following payload".
    const CITIES: &str = r#"[
      { "id": 1, "city": "London", "color": "green" },
      { "id": 2, "city": "London", "color": "red" },
      { "id": 3, "city": "London", "color": "blue" },
      { "id": 4, "city": "Berlin", "color": "red" },
      { "id": 5, "city": "Moscow", "color": "green" },
      { "id": 6, "city": "Moscow", "color": "blue" }
    ]"#;

    /// The payload of the "Nested key" section.
    const COUNTRIES: &str = r#"[
      {
        "id": 1,
        "country": {
          "name": "Germany",
          "cities": [
            {
              "name": "Berlin",
              "population": 3.7,
              "sightseeing": ["Brandenburg Gate", "Reichstag"]
            },
            {
              "name": "Munich",
              "population": 1.5,
              "sightseeing": ["Marienplatz", "Olympiapark"]
            }
          ]
        }
      },
      {
        "id": 2,
        "country": {
          "name": "Japan",
          "cities": [
            {
              "name": "Tokyo",
              "population": 9.3,
              "sightseeing": ["Tokyo Tower", "Tokyo Skytree"]
            },
            {
              "name": "Osaka",
              "population": 2.7,
              "sightseeing": ["Osaka Castle", "Universal Studios Japan"]
            }
          ]
        }
      }
    ]"#;

    /// The payload of the "Nested object filter" section.
    const DINOSAURS: &str = r#"[
      {
        "id": 1,
        "dinosaur": "t-rex",
        "diet": [
          { "food": "leaves", "likes": false},
          { "food": "meat", "likes": true}
        ]
      },
      {
        "id": 2,
        "dinosaur": "diplodocus",
        "diet": [
          { "food": "leaves", "likes": true},
          { "food": "meat", "likes": false}
        ]
      }
    ]"#;

    /// The payload of the "Values count" section.
    const PRODUCTS: &str = r#"[
      { "id": 1, "name": "product A", "comments": ["Very good!", "Excellent"] },
      { "id": 2, "name": "product B", "comments": ["meh", "expected more", "ok"] }
    ]"#;

    /// Parses `filter` (as a `Filter`, then validated) and returns the ids of the
    /// `points` (documentation style: the id next to the payload fields) it selects.
    fn select(points: &str, filter: &str) -> Vec<u64> {
        let filter: Filter = serde_json::from_str(filter)
            .unwrap_or_else(|e| panic!("documentation filter must parse: {e}\n{filter}"));
        filter.validate().unwrap();
        let points: Vec<Payload> = serde_json::from_str(points).unwrap();
        points
            .into_iter()
            .filter_map(|mut point| {
                let id = point.remove("id")?.as_u64()?;
                matches(&filter, &PointId::Num(id), Some(&point)).then_some(id)
            })
            .collect()
    }

    /// A field condition from the documentation, in a `must`.
    fn select_condition(points: &str, condition: &str) -> Vec<u64> {
        select(points, &format!(r#"{{"must": [{condition}]}}"#))
    }

    #[test]
    fn must() {
        let filter = r#"{
            "must": [
                { "key": "city", "match": { "value": "London" } },
                { "key": "color", "match": { "value": "red" } }
            ]
        }"#;
        assert_eq!(select(CITIES, filter), [2]);
    }

    #[test]
    fn should() {
        let filter = r#"{
            "should": [
                { "key": "city", "match": { "value": "London" } },
                { "key": "color", "match": { "value": "red" } }
            ]
        }"#;
        assert_eq!(select(CITIES, filter), [1, 2, 3, 4]);
    }

    #[test]
    fn must_not() {
        let filter = r#"{
            "must_not": [
                { "key": "city", "match": { "value": "London" } },
                { "key": "color", "match": { "value": "red" } }
            ]
        }"#;
        assert_eq!(select(CITIES, filter), [5, 6]);
    }

    #[test]
    fn clauses_combination() {
        let filter = r#"{
            "must": [
                { "key": "city", "match": { "value": "London" } }
            ],
            "must_not": [
                { "key": "color", "match": { "value": "red" } }
            ]
        }"#;
        assert_eq!(select(CITIES, filter), [1, 3]);
    }

    #[test]
    fn recursively_nested_clauses() {
        let filter = r#"{
            "must_not": [
                {
                    "must": [
                        { "key": "city", "match": { "value": "London" } },
                        { "key": "color", "match": { "value": "red" } }
                    ]
                }
            ]
        }"#;
        assert_eq!(select(CITIES, filter), [1, 3, 4, 5, 6]);
    }

    #[test]
    fn has_id() {
        let filter = r#"{
            "must": [
                { "has_id": [1,3,5,7,9,11] }
            ]
        }"#;
        assert_eq!(select(CITIES, filter), [1, 3, 5]);
    }

    #[test]
    fn match_keyword_integer_any_and_except() {
        let keyword = r#"{
          "key": "color",
          "match": {
            "value": "red"
          }
        }"#;
        assert_eq!(select_condition(CITIES, keyword), [2, 4]);
        let integer = r#"{
          "key": "count",
          "match": {
            "value": 0
          }
        }"#;
        assert_eq!(
            select_condition(r#"[{"id": 1, "count": 0}, {"id": 2, "count": 1}]"#, integer),
            [1]
        );

        let any = r#"{
          "key": "color",
          "match": {
            "any": ["black", "yellow"]
          }
        }"#;
        let except = r#"{
          "key": "color",
          "match": {
            "except": ["black", "yellow"]
          }
        }"#;
        // "if the stored value is ["black", "green"], the condition will be satisfied" for
        // both: "black" is in the list, "green" is not.
        let stored = r#"[
            {"id": 1, "color": "black"}, {"id": 2, "color": "green"},
            {"id": 3, "color": ["black", "green"]}, {"id": 4, "color": ["yellow"]}
        ]"#;
        assert_eq!(select_condition(stored, any), [1, 3, 4]);
        assert_eq!(select_condition(stored, except), [2, 3]);
    }

    #[test]
    fn nested_key() {
        let filter = r#"{
            "should": [
                {
                    "key": "country.name",
                    "match": {
                        "value": "Germany"
                    }
                }
            ]
        }"#;
        assert_eq!(select(COUNTRIES, filter), [1]);

        // "This query would only output the point with id 2 as only Japan has a city with
        // population greater than 9.0." (The documentation's JSON has a trailing comma
        // after `9.0`, which no JSON parser accepts; it is left out here.)
        let filter = r#"{
            "should": [
                {
                    "key": "country.cities[].population",
                    "range": {
                        "gte": 9.0
                    }
                }
            ]
        }"#;
        assert_eq!(select(COUNTRIES, filter), [2]);

        // "And the leaf nested field can also be an array."
        let filter = r#"{
            "should": [
                {
                    "key": "country.cities[].sightseeing",
                    "match": {
                        "value": "Osaka Castle"
                    }
                }
            ]
        }"#;
        assert_eq!(select(COUNTRIES, filter), [2]);
    }

    #[test]
    fn nested_object_filter() {
        // "The following query would match both points".
        let filter = r#"{
            "must": [
                {
                    "key": "diet[].food",
                      "match": {
                        "value": "meat"
                    }
                },
                {
                    "key": "diet[].likes",
                      "match": {
                        "value": true
                    }
                }
            ]
        }"#;
        assert_eq!(select(DINOSAURS, filter), [1, 2]);

        // "... that is the point with id 1 in this example, you would need to use a nested
        // object filter."
        let filter = r#"{
            "must": [{
                "nested": {
                    "key": "diet",
                    "filter":{
                        "must": [
                            {
                                "key": "food",
                                "match": {
                                    "value": "meat"
                                }
                            },
                            {
                                "key": "likes",
                                "match": {
                                    "value": true
                                }
                            }
                        ]
                    }
                }
            }]
        }"#;
        assert_eq!(select(DINOSAURS, filter), [1]);

        // The "Limitations" example: `has_id` next to the `nested` condition. (The
        // documentation's JSON puts `"nested": {` directly inside the `must` list, which
        // is not JSON; here it is wrapped in its object as in the example above.)
        let filter = r#"{
            "must": [
                {
                    "nested": {
                        "key": "diet",
                        "filter":{
                            "must": [
                                {
                                    "key": "food",
                                    "match": {
                                        "value": "meat"
                                    }
                                },
                                {
                                    "key": "likes",
                                    "match": {
                                        "value": true
                                    }
                                }
                            ]
                        }
                    }
                },
                { "has_id": [1] }
            ]
        }"#;
        assert_eq!(select(DINOSAURS, filter), [1]);
    }

    #[test]
    fn full_text_match() {
        let condition = r#"{
          "key": "description",
          "match": {
            "text": "good cheap"
          }
        }"#;
        let stored = r#"[
            {"id": 1, "description": "a good cheap phone"},
            {"id": 2, "description": "cheap and good"}
        ]"#;
        // Without a full-text index the text is matched as a substring.
        assert_eq!(select_condition(stored, condition), [1]);
    }

    #[test]
    fn range() {
        let condition = r#"{
          "key": "price",
          "range": {
            "gt": null,
            "gte": 100.0,
            "lt": null,
            "lte": 450.0
          }
        }"#;
        let stored = r#"[
            {"id": 1, "price": 99.9}, {"id": 2, "price": 100}, {"id": 3, "price": 450.0},
            {"id": 4, "price": 450.01}, {"id": 5, "price": [10, 200]}, {"id": 6, "price": "200"}
        ]"#;
        assert_eq!(select_condition(stored, condition), [2, 3, 5]);
    }

    #[test]
    fn datetime_range() {
        let condition = r#"{
          "key": "date",
          "range": {
            "gt": "2023-02-08T10:49:00Z",
            "gte": null,
            "lt": null,
            "lte": "2024-01-31 10:14:31Z"
          }
        }"#;
        let stored = r#"[
            {"id": 1, "date": "2023-02-08T10:49:00Z"},
            {"id": 2, "date": "2023-02-08T10:49:00.5Z"},
            {"id": 3, "date": "2024-01-31T11:14:31+01:00"},
            {"id": 4, "date": "2024-01-31T10:14:32Z"},
            {"id": 5, "date": "2023-07-01"}
        ]"#;
        assert_eq!(select_condition(stored, condition), [2, 3, 5]);
    }

    #[test]
    fn geo_bounding_box_and_radius() {
        let bounding_box = r#"{
          "key": "location",
          "geo_bounding_box": {
            "bottom_right": {
              "lon": 13.455868,
              "lat": 52.495862
            },
            "top_left": {
              "lon": 13.403683,
              "lat": 52.520711
            }
          }
        }"#;
        let radius = r#"{
          "key": "location",
          "geo_radius": {
            "center": {
              "lon": 13.403683,
              "lat": 52.520711
            },
            "radius": 1000.0
          }
        }"#;
        // Points chosen here: 1 is inside the box and ~900 m from the centre, 2 is ~600 m
        // north-east of the centre (outside the box), 3 is Berlin Hauptbahnhof (~2.4 km).
        let stored = r#"[
            {"id": 1, "location": {"lon": 13.41, "lat": 52.513}},
            {"id": 2, "location": {"lon": 13.4113, "lat": 52.5237}},
            {"id": 3, "location": {"lon": 13.3694, "lat": 52.5251}}
        ]"#;
        assert_eq!(select_condition(stored, bounding_box), [1]);
        assert_eq!(select_condition(stored, radius), [1, 2]);
    }

    #[test]
    fn values_count() {
        let condition = r#"{
          "key": "comments",
          "values_count": {
            "gt": 2
          }
        }"#;
        assert_eq!(select_condition(PRODUCTS, condition), [2]);
    }

    #[test]
    fn is_empty_and_is_null() {
        let is_empty = r#"{
          "is_empty": {
            "key": "reports"
          }
        }"#;
        let is_null = r#"{
            "is_null": {
                "key": "reports"
            }
        }"#;
        // "either does not exist, or has null or [] value" / "exists and has NULL value".
        let stored = r#"[
            {"id": 1}, {"id": 2, "reports": null}, {"id": 3, "reports": []},
            {"id": 4, "reports": ["r"]}, {"id": 5, "reports": 0}
        ]"#;
        assert_eq!(select_condition(stored, is_empty), [1, 2, 3]);
        assert_eq!(select_condition(stored, is_null), [2]);
        // "useful together with the logical negation must_not".
        let not_empty = format!(r#"{{"must_not": [{is_empty}]}}"#);
        assert_eq!(select(stored, &not_empty), [4, 5]);
    }
}
