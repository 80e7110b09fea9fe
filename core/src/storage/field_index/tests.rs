//! Tests of the field indexes: each kind decides exactly what `storage::filter` decides
//! (hand-written cases and property tests against `filter::matches`), and encodings round
//! trip or are refused.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::build::leaves_of;
use super::*;
use crate::models::{Condition, Filter, PointId, ValuesCount};
use crate::storage::filter::{geo_point, matches};

const KINDS: [PayloadSchemaType; 6] = [
    PayloadSchemaType::Keyword,
    PayloadSchemaType::Integer,
    PayloadSchemaType::Float,
    PayloadSchemaType::Bool,
    PayloadSchemaType::Datetime,
    PayloadSchemaType::Geo,
];

fn payload(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        other => panic!("a payload is an object, not {other}"),
    }
}

fn build(key: &str, kind: PayloadSchemaType, docs: &[Option<Payload>]) -> FieldIndex {
    FieldIndex::build(key, kind, docs.len(), |o| docs.get(o).cloned().flatten())
}

fn docs_of(values: impl IntoIterator<Item = Value>) -> Vec<Option<Payload>> {
    values.into_iter().map(|v| Some(payload(v))).collect()
}

/// The offsets `storage::filter` matches with `cond`.
fn reference(cond: &FieldCondition, docs: &[Option<Payload>]) -> Vec<u32> {
    let filter = Filter::must([cond.clone().into()]);
    (0..docs.len())
        .filter(|&o| matches(&filter, &PointId::Num(o as u64), docs[o].as_ref()))
        .map(|o| o as u32)
        .collect()
}

fn field(condition: Condition) -> FieldCondition {
    match condition {
        Condition::Field(field) => field,
        other => panic!("not a field condition: {other:?}"),
    }
}

/// Asserts that `index` decides `cond` with `expected`, which `storage::filter` agrees
/// with, through `matching`, `check` and `estimate`.
fn decides(index: &FieldIndex, cond: Condition, docs: &[Option<Payload>], expected: &[u32]) {
    let cond = field(cond);
    assert_eq!(reference(&cond, docs), expected, "filter.rs on {cond:?}");
    assert_eq!(index.matching(&cond).as_deref(), Some(expected), "{cond:?}");
    for o in 0..docs.len() as u32 {
        assert_eq!(
            index.check(o, &cond),
            Some(expected.contains(&o)),
            "offset {o}, {cond:?}"
        );
    }
    let estimate = index.estimate(&cond).expect("an estimate");
    assert!(estimate >= expected.len(), "{estimate} for {cond:?}");
}

fn declines(index: &FieldIndex, cond: Condition) {
    let cond = field(cond);
    assert_eq!(index.matching(&cond), None, "{cond:?}");
    assert_eq!(index.estimate(&cond), None, "{cond:?}");
    assert_eq!(index.check(0, &cond), None, "{cond:?}");
}

#[test]
fn keys_with_dots_brackets_and_arrays() {
    let docs = docs_of([
        json!({"country": {"cities": [{"name": "Berlin"}, {"name": ["Bonn", "Munich"]}]},
               "a.b": "x", "tags": ["p", "q"]}),
        json!({"country": {"cities": {"name": "Berlin"}}, "a": {"b": "x"}, "tags": "q"}),
        json!({"country": {"cities": [{"name": [["Berlin"]]}]}, "a.b": ["x", null],
               "tags": [["q"], "r"]}),
    ]);
    let kw = PayloadSchemaType::Keyword;
    // `cities[]` enters the array; `cities.name` does not, and an object is not an array.
    let index = build("country.cities[].name", kw, &docs);
    decides(
        &index,
        Condition::matches("country.cities[].name", "Berlin"),
        &docs,
        &[0],
    );
    decides(
        &index,
        Condition::matches("country.cities[].name", "Munich"),
        &docs,
        &[0],
    );
    // Only one level of array is opened: `[["Berlin"]]` holds no string.
    assert_eq!(index.points(), 1);
    let index = build("country.cities.name", kw, &docs);
    decides(
        &index,
        Condition::matches("country.cities.name", "Berlin"),
        &docs,
        &[1],
    );
    // A quoted name is one field with a dot in it.
    let index = build("\"a.b\"", kw, &docs);
    decides(&index, Condition::matches("\"a.b\"", "x"), &docs, &[0, 2]);
    let index = build("a.b", kw, &docs);
    decides(&index, Condition::matches("a.b", "x"), &docs, &[1]);
    // `[1]` picks one element; `[]` and the bare key both open the array.
    let index = build("tags[1]", kw, &docs);
    decides(&index, Condition::matches("tags[1]", "q"), &docs, &[0]);
    decides(&index, Condition::matches("tags[1]", "r"), &docs, &[2]);
    // The bare key checks an array's elements; `[["q"], "r"]` holds no "q" one level down.
    let index = build("tags", kw, &docs);
    decides(&index, Condition::matches("tags", "q"), &docs, &[0, 1]);
    decides(
        &index,
        Condition::match_any("tags", ["p", "r"]),
        &docs,
        &[0, 2],
    );
    // `tags[]` reaches the elements (nothing in a plain string) and opens each one that is
    // an array, so `["q"]` counts there.
    let index = build("tags[]", kw, &docs);
    decides(&index, Condition::matches("tags[]", "q"), &docs, &[0, 2]);
    decides(
        &index,
        Condition::match_any("tags[]", ["p", "r"]),
        &docs,
        &[0, 2],
    );
    // A condition on another key (even an equivalent spelling) is not this index's.
    declines(&index, Condition::matches("tags", "q"));
}

#[test]
fn except_counts_values_of_other_types() {
    let docs = docs_of([
        json!({"c": "black"}),
        json!({"c": "green"}),
        json!({"c": ["black", "green"]}),
        json!({"c": ["black", "yellow"]}),
        json!({"c": null}),
        json!({"c": []}),
        json!({"c": [null]}),
        json!({}),
        json!({"c": 3}),
        json!({"c": ["black", {"r": 1}]}),
        json!({"c": ["black", [null]]}),
    ]);
    let index = build("c", PayloadSchemaType::Keyword, &docs);
    let except = |list: &[&str]| Condition::match_except("c", list.to_vec());
    decides(
        &index,
        except(&["black", "yellow"]),
        &docs,
        &[1, 2, 8, 9, 10],
    );
    decides(
        &index,
        except(&["black", "green", "yellow"]),
        &docs,
        &[8, 9, 10],
    );
    // An empty list: every offset with a non-null value.
    decides(&index, except(&[]), &docs, &[0, 1, 2, 3, 8, 9, 10]);
    decides(
        &index,
        Condition::match_except("c", Vec::<i64>::new()),
        &docs,
        &[0, 1, 2, 3, 8, 9, 10],
    );
    decides(
        &index,
        Condition::match_any("c", Vec::<&str>::new()),
        &docs,
        &[],
    );
    // Integers against strings need the integers, which a keyword index does not keep.
    declines(&index, Condition::match_except("c", [3]));
    declines(&index, Condition::match_any("c", [3]));
    declines(&index, Condition::matches("c", 3));

    let docs = docs_ints();
    let index = build("n", PayloadSchemaType::Integer, &docs);
    decides(
        &index,
        Condition::match_except("n", [1, 2]),
        &docs,
        &[2, 3, 4, 5, 6],
    );
    decides(
        &index,
        Condition::match_except("n", [1, 2, 3]),
        &docs,
        &[3, 4, 5, 6],
    );
}

/// Integers, a float equal to one, a number past i64, a string and mixed arrays.
fn docs_ints() -> Vec<Option<Payload>> {
    docs_of([
        json!({"n": 1}),
        json!({"n": [1, 2]}),
        json!({"n": [2, 3]}),
        json!({"n": 1.0}),
        json!({"n": 18446744073709551615u64}),
        json!({"n": "1"}),
        json!({"n": [1, true]}),
        json!({"n": null}),
    ])
}

#[test]
fn integer_index_keeps_floats_out_of_matches_but_in_ranges() {
    let docs = docs_ints();
    let index = build("n", PayloadSchemaType::Integer, &docs);
    assert_eq!(index.points(), 4);
    decides(&index, Condition::matches("n", 1), &docs, &[0, 1, 6]);
    decides(&index, Condition::match_any("n", [2, 3, 7]), &docs, &[1, 2]);
    decides(&index, Condition::match_any("n", [-1]), &docs, &[]);
    // Ranges compare every number as storage::filter does, floats and huge ones included.
    let range = |r: Range| Condition::range("n", r);
    decides(
        &index,
        range(Range::default().gte(1).lt(2)),
        &docs,
        &[0, 1, 3, 6],
    );
    decides(&index, range(Range::default().gt(1)), &docs, &[1, 2, 4]);
    decides(
        &index,
        range(Range::default().gt(1.5).lte(2.0)),
        &docs,
        &[1, 2],
    );
    decides(&index, range(Range::default().gte(1e19)), &docs, &[4]);
    decides(&index, range(Range::default().lt(0.5)), &docs, &[]);
    decides(&index, range(Range::default().gt(3).lt(1)), &docs, &[]);
    // i64::MAX rounds up to 2^63 as f64, as in storage::filter.
    let big = docs_of([json!({"n": i64::MAX}), json!({"n": i64::MIN})]);
    let index = build("n", PayloadSchemaType::Integer, &big);
    decides(
        &index,
        range(Range::default().gte(i64::MAX as f64)),
        &big,
        &[0],
    );
    decides(&index, range(Range::default().lt(-9.2e18)), &big, &[1]);
    // Keyword, bool and date-time conditions are not an integer index's.
    declines(&index, Condition::matches("n", "1"));
    declines(&index, Condition::match_any("n", ["1"]));
    declines(&index, Condition::matches("n", true));
    declines(
        &index,
        Condition::range("n", Range::default().gt("2023-01-01")),
    );
}

#[test]
fn float_index_covers_integers_and_floats() {
    let docs = docs_of([
        json!({"p": 100}),
        json!({"p": 100.0}),
        json!({"p": 450.5}),
        json!({"p": [1, 200]}),
        json!({"p": "200"}),
        json!({"p": -0.0}),
        json!({"p": 18446744073709551615u64}),
        json!({}),
    ]);
    let index = build("p", PayloadSchemaType::Float, &docs);
    assert_eq!(index.points(), 6);
    let range = |r: Range| Condition::range("p", r);
    decides(
        &index,
        range(Range::default().gte(100).lt(450.5)),
        &docs,
        &[0, 1, 3],
    );
    decides(
        &index,
        range(Range::default().gte(0.0).lte(0.0)),
        &docs,
        &[5],
    );
    decides(
        &index,
        range(Range::default().gt(-0.0)),
        &docs,
        &[0, 1, 2, 3, 6],
    );
    decides(
        &index,
        range(Range::default().lte(1e300)),
        &docs,
        &[0, 1, 2, 3, 5, 6],
    );
    declines(&index, Condition::matches("p", 100));
    declines(&index, Condition::match_except("p", [100]));
    declines(
        &index,
        Condition::range("p", Range::default().gt("2023-01-01")),
    );
}

#[test]
fn datetime_ranges_compare_exact_instants() {
    let docs = docs_of([
        json!({"d": "2023-02-08T10:49:00Z"}),
        json!({"d": "2023-02-08T11:49:00+01:00"}),
        json!({"d": "2023-02-08T10:49:00.0000005Z"}),
        json!({"d": "2023-02-08T10:49:00.000001Z"}),
        json!({"d": ["2020-01-01", "2023-06-01T00:00:00-07:00"]}),
        json!({"d": "June 2023"}),
        json!({"d": 1_700_000_000}),
        json!({"d": "1969-12-31T23:59:59.9999995Z"}),
    ]);
    let index = build("d", PayloadSchemaType::Datetime, &docs);
    assert_eq!(index.points(), 6);
    let range = |r: Range| Condition::range("d", r);
    // Half a microsecond past the bound is past it, though the whole microseconds tie.
    decides(
        &index,
        range(Range::default().gt("2023-02-08T10:49:00Z")),
        &docs,
        &[2, 3, 4],
    );
    decides(
        &index,
        range(
            Range::default()
                .gte("2023-02-08T11:49:00+01:00")
                .lt("2023-02-08T10:49:00.0000005Z"),
        ),
        &docs,
        &[0, 1],
    );
    decides(
        &index,
        range(Range::default().lte("2023-02-08T10:49:00.0000004Z")),
        &docs,
        &[0, 1, 4, 7],
    );
    decides(
        &index,
        range(
            Range::default()
                .gt("2023-02-08T10:49:00.0000005Z")
                .lte("2023-02-08 10:49:00.000001"),
        ),
        &docs,
        &[3],
    );
    // Before the epoch, the sub-microsecond part still orders.
    decides(
        &index,
        range(
            Range::default()
                .gt("1969-12-31T23:59:59.999999Z")
                .lt("1970-01-01"),
        ),
        &docs,
        &[7],
    );
    decides(
        &index,
        range(Range::default().gte("2024-01-01")),
        &docs,
        &[],
    );
    // Numeric bounds (and a range with none, which storage::filter reads as numeric) are
    // not a date-time index's; nor are unparsable bounds.
    declines(&index, range(Range::default().gt(1)));
    declines(&index, Condition::range("d", Range::default()));
    declines(&index, range(Range::default().gt("yesterday")));
    declines(&index, range(Range::default().gt(1).lt("2024-01-01")));
}

#[test]
fn bool_index_matches_bools_only() {
    let docs = docs_of([
        json!({"b": true}),
        json!({"b": false}),
        json!({"b": [true, false]}),
        json!({"b": "true"}),
        json!({"b": 1}),
        json!({"b": null}),
    ]);
    let index = build("b", PayloadSchemaType::Bool, &docs);
    assert_eq!(index.points(), 3);
    decides(&index, Condition::matches("b", true), &docs, &[0, 2]);
    decides(&index, Condition::matches("b", false), &docs, &[1, 2]);
    decides(
        &index,
        Condition::match_except("b", Vec::<&str>::new()),
        &docs,
        &[0, 1, 2, 3, 4],
    );
    declines(&index, Condition::matches("b", "true"));
    declines(&index, Condition::match_except("b", ["true"]));
}

#[test]
fn geo_box_and_radius() {
    let docs = docs_of([
        json!({"l": {"lon": 13.41, "lat": 52.513}}),
        json!({"l": {"lon": 13.4113, "lat": 52.5237}}),
        json!({"l": [{"lon": 0.0, "lat": 0.0}, {"lon": 13.3694, "lat": 52.5251}]}),
        json!({"l": {"lon": 13.41}}),
        json!({"l": {"lon": 179.0, "lat": 0.0, "name": "x"}}),
        json!({"l": "Berlin"}),
    ]);
    let index = build("l", PayloadSchemaType::Geo, &docs);
    assert_eq!(index.points(), 4);
    let area = GeoBoundingBox::new(
        GeoPoint::new(13.403683, 52.520711),
        GeoPoint::new(13.455868, 52.495862),
    );
    decides(&index, Condition::geo_bounding_box("l", area), &docs, &[0]);
    let pacific = GeoBoundingBox::new(GeoPoint::new(170.0, 10.0), GeoPoint::new(-170.0, -10.0));
    decides(
        &index,
        Condition::geo_bounding_box("l", pacific),
        &docs,
        &[4],
    );
    let circle = GeoRadius::new(GeoPoint::new(13.403683, 52.520711), 1000.0);
    decides(&index, Condition::geo_radius("l", circle), &docs, &[0, 1]);
    let wide = GeoRadius::new(GeoPoint::new(0.0, 0.0), 1000.0);
    decides(&index, Condition::geo_radius("l", wide), &docs, &[2]);
    assert_eq!(
        index.estimate(&field(Condition::geo_radius("l", wide))),
        Some(4)
    );
    declines(&index, Condition::matches("l", "Berlin"));
}

#[test]
fn each_kind_decides_only_its_conditions() {
    let text = || Condition::match_text("k", "a");
    let count = || Condition::values_count("k", ValuesCount::default().gt(1));
    let numbers = || Condition::range("k", Range::default().gt(1));
    let dates = || Condition::range("k", Range::default().gt("2023-01-01"));
    let area = || {
        Condition::geo_bounding_box(
            "k",
            GeoBoundingBox::new(GeoPoint::new(0.0, 1.0), GeoPoint::new(1.0, 0.0)),
        )
    };
    let circle = || Condition::geo_radius("k", GeoRadius::new(GeoPoint::new(0.0, 0.0), 1.0));
    let all = || {
        vec![
            ("keyword", Condition::matches("k", "a")),
            ("any keywords", Condition::match_any("k", ["a"])),
            ("except keywords", Condition::match_except("k", ["a"])),
            ("integer", Condition::matches("k", 1)),
            ("any integers", Condition::match_any("k", [1])),
            ("except integers", Condition::match_except("k", [1])),
            ("bool", Condition::matches("k", true)),
            ("any empty", Condition::match_any("k", Vec::<&str>::new())),
            (
                "except empty",
                Condition::match_except("k", Vec::<&str>::new()),
            ),
            ("numbers", numbers()),
            ("dates", dates()),
            ("box", area()),
            ("circle", circle()),
            ("text", text()),
            ("values_count", count()),
        ]
    };
    use PayloadSchemaType::*;
    let decided: [(PayloadSchemaType, &[&str]); 6] = [
        (
            Keyword,
            &[
                "keyword",
                "any keywords",
                "except keywords",
                "any empty",
                "except empty",
            ],
        ),
        (
            Integer,
            &[
                "integer",
                "any integers",
                "except integers",
                "any empty",
                "except empty",
                "numbers",
            ],
        ),
        (Float, &["numbers"]),
        (Bool, &["bool", "any empty", "except empty"]),
        (Datetime, &["dates"]),
        (Geo, &["box", "circle"]),
    ];
    let docs = docs_of([json!({"k": "a"})]);
    for (kind, names) in decided {
        let index = build("k", kind, &docs);
        assert_eq!(index.kind(), kind);
        for (name, cond) in all() {
            let cond = field(cond);
            assert_eq!(
                index.matching(&cond).is_some(),
                names.contains(&name),
                "{kind:?} deciding {name}"
            );
        }
        // Two checks in one condition (storage::filter ORs them) are left to the filter.
        let mut both = field(numbers());
        both.r#match = Some(Match::Value(MatchValue::Integer(1)));
        assert_eq!(index.matching(&both), None, "{kind:?}");
        declines(&index, Condition::Field(FieldCondition::new("k")));
    }
}

#[test]
fn ordered_lists_each_value_of_each_offset() {
    use OrderValue::{Float, Int};
    let docs = docs_of([
        json!({"v": [5, 3]}),
        json!({"v": 3}),
        json!({"v": [3, 3, 1.5, -0.0]}),
        json!({"v": "x"}),
        json!({"v": [-7, 0.0]}),
    ]);
    let index = build("v", PayloadSchemaType::Integer, &docs);
    assert_eq!(
        index.ordered(),
        Some(
            &[
                (Int(-7), 4),
                (Int(3), 0),
                (Int(3), 1),
                (Int(3), 2),
                (Int(5), 0)
            ][..]
        )
    );
    let index = build("v", PayloadSchemaType::Float, &docs);
    assert_eq!(
        index.ordered(),
        Some(
            &[
                (Float(-7.0), 4),
                (Float(-0.0), 2),
                (Float(0.0), 4),
                (Float(1.5), 2),
                (Float(3.0), 0),
                (Float(3.0), 1),
                (Float(3.0), 2),
                (Float(5.0), 0),
            ][..]
        )
    );
    let dates = docs_dates();
    let index = build("d", PayloadSchemaType::Datetime, &dates);
    assert_eq!(
        index.ordered(),
        Some(
            &[
                (Int(-1), 2),
                (Int(0), 0),
                (Int(1_675_853_340_000_000), 0),
                (Int(1_675_853_340_000_000), 1),
                (Int(1_675_853_340_000_000), 2),
            ][..]
        )
    );
    for kind in [
        PayloadSchemaType::Keyword,
        PayloadSchemaType::Bool,
        PayloadSchemaType::Geo,
    ] {
        assert_eq!(build("v", kind, &docs).ordered(), None);
    }
}

fn docs_dates() -> Vec<Option<Payload>> {
    docs_of([
        json!({"d": ["2023-02-08T10:49:00Z", "1970-01-01"]}),
        json!({"d": "2023-02-08T11:49:00+01:00"}),
        json!({"d": ["1969-12-31T23:59:59.9999995Z", "2023-02-08T10:49:00.0000001Z"]}),
    ])
}

#[test]
fn order_values_have_a_total_order() {
    use OrderValue::{Float, Int};
    let mut values = vec![
        Float(2.5),
        Int(3),
        Float(3.0),
        Int(i64::MAX),
        Float(-0.0),
        Int(0),
        Float(0.0),
        Int(-1),
        Float(f64::NEG_INFINITY),
    ];
    values.sort();
    assert_eq!(
        values,
        [
            Float(f64::NEG_INFINITY),
            Int(-1),
            Float(-0.0),
            Int(0),
            Float(0.0),
            Float(2.5),
            Int(3),
            Float(3.0),
            Int(i64::MAX),
        ]
    );
    assert!(Int(i64::MAX - 1) < Int(i64::MAX));
    assert_ne!(Float(-0.0), Float(0.0));
}

#[test]
fn points_counts_offsets_with_a_value_of_the_kind() {
    let docs: Vec<Option<Payload>> = vec![
        Some(payload(json!({"v": ["a", 1, true]}))),
        Some(payload(json!({"v": [1.5, null]}))),
        None,
        Some(payload(json!({"v": {"lon": 1.0, "lat": 2.0}}))),
        Some(payload(json!({"v": ["2023-01-01", "b"]}))),
        Some(payload(json!({"w": 1}))),
    ];
    let points = |kind| build("v", kind, &docs).points();
    assert_eq!(points(PayloadSchemaType::Keyword), 2);
    assert_eq!(points(PayloadSchemaType::Integer), 1);
    assert_eq!(points(PayloadSchemaType::Float), 2);
    assert_eq!(points(PayloadSchemaType::Bool), 1);
    assert_eq!(points(PayloadSchemaType::Datetime), 1);
    assert_eq!(points(PayloadSchemaType::Geo), 1);
    let empty = FieldIndex::build("v", PayloadSchemaType::Keyword, 0, |_| None);
    assert_eq!(empty.points(), 0);
    assert_eq!(
        empty.matching(&field(Condition::matches("v", "a"))),
        Some(vec![])
    );
}

#[test]
fn values_are_posting_lists_with_their_conditions() {
    let docs = docs_of([
        json!({"c": ["b", "a"]}),
        json!({"c": "b"}),
        json!({"c": 1}),
        json!({"c": ["a", "a"]}),
    ]);
    let index = build("c", PayloadSchemaType::Keyword, &docs);
    let values = index.values();
    let expected: [(FieldCondition, &[u32]); 2] = [
        (field(Condition::matches("c", "a")), &[0, 3]),
        (field(Condition::matches("c", "b")), &[0, 1]),
    ];
    assert_eq!(values, expected);
    for (cond, offsets) in &values {
        assert_eq!(index.matching(cond).as_deref(), Some(*offsets));
    }
    let index = build("c", PayloadSchemaType::Integer, &docs);
    assert_eq!(
        index.values(),
        [(field(Condition::matches("c", 1)), &[2u32][..])]
    );
    assert!(build("c", PayloadSchemaType::Float, &docs)
        .values()
        .is_empty());
}

#[test]
fn large_results_come_out_sorted() {
    // Enough offsets that both the sorting and the bitmap paths are taken.
    let docs: Vec<Option<Payload>> = (0..1000)
        .map(|i| {
            Some(payload(
                json!({"v": [i % 7, (i * 13) % 101], "w": format!("{}", i % 5)}),
            ))
        })
        .collect();
    let index = build("v", PayloadSchemaType::Integer, &docs);
    for cond in [
        Condition::match_any("v", [3, 50, 100]),
        Condition::match_any("v", [1, 2, 3, 4, 5]),
        Condition::range("v", Range::default().gte(5).lt(60)),
        Condition::range("v", Range::default().gt(99.5)),
        Condition::match_except("v", [0, 1, 2, 3, 4, 5]),
    ] {
        let cond = field(cond);
        assert_eq!(
            index.matching(&cond),
            Some(reference(&cond, &docs)),
            "{cond:?}"
        );
    }
    let index = build("w", PayloadSchemaType::Keyword, &docs);
    let cond = field(Condition::match_any("w", ["1", "4"]));
    assert_eq!(index.matching(&cond), Some(reference(&cond, &docs)));
    assert_eq!(index.estimate(&cond), Some(400));
}

// Random payloads and conditions: whatever an index decides, storage::filter agrees with.

const WORDS: [&str; 4] = ["", "a", "b", "ab"];

const DATES: [&str; 11] = [
    "2023-02-08T10:49:00Z",
    "2023-02-08T11:49:00+01:00",
    "2023-02-08T10:49:00.0000005Z",
    "2023-02-08T10:49:00.000001Z",
    "2023-02-08T10:49:00.0000015Z",
    "2023-02-08",
    "2023-02-08 10:49",
    "1969-12-31T23:59:59.9999995Z",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999-23:59",
];

const NUMBERS: [f64; 11] = [
    -2.0,
    -1.5,
    -0.0,
    0.0,
    0.5,
    1.0,
    2.0,
    3.0,
    i64::MAX as f64,
    1e300,
    -1e300,
];

const COORDS: [f64; 6] = [-10.0, 0.0, 0.001, 10.0, 89.9, -89.9];

const LONS: [f64; 6] = [-10.0, 0.0, 0.001, 10.0, 179.9, -179.9];

/// Keys that reach values in the generated payloads.
const KEYS: [&str; 6] = ["a", "a[]", "a[1]", "b.c", "arr[].x", "\"d.e\""];

/// Keys that reach little or nothing: `b` is often an object, `d.e` is not the quoted
/// name, and `a..b` does not parse.
const RARE_KEYS: [&str; 4] = ["b", "d.e", "nope", "a..b"];

fn key_strategy() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => prop::sample::select(&KEYS[..]),
        1 => prop::sample::select(&RARE_KEYS[..]),
    ]
}

fn leaf() -> impl Strategy<Value = Value> + Clone {
    let geo = (
        prop::sample::select(&LONS[..]),
        prop::sample::select(&COORDS[..]),
    )
        .prop_map(|(lon, lat)| json!({"lon": lon, "lat": lat}));
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => prop::sample::select(&WORDS[..]).prop_map(Value::from),
        2 => prop::sample::select(&DATES[..]).prop_map(Value::from),
        1 => (-3i64..=3).prop_map(Value::from),
        1 => prop::sample::select(&NUMBERS[..]).prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(i64::MIN)),
        2 => geo,
    ]
}

fn value() -> impl Strategy<Value = Value> + Clone {
    let element = prop_oneof![
        3 => leaf(),
        1 => prop::collection::vec(leaf(), 0..3).prop_map(Value::Array),
    ];
    prop_oneof![
        3 => leaf(),
        2 => prop::collection::vec(element, 0..4).prop_map(Value::Array),
    ]
}

fn doc() -> impl Strategy<Value = Option<Payload>> {
    let field = || prop::option::of(value());
    let fields = (
        field(),
        field(),
        any::<bool>(),
        field(),
        prop::collection::vec(value(), 0..3),
    );
    prop::option::weighted(
        0.9,
        fields.prop_map(|(a, bc, nest, de, xs)| {
            let mut doc = Payload::new();
            if let Some(a) = a {
                doc.insert("a".into(), a);
            }
            if let Some(bc) = bc {
                doc.insert("b".into(), if nest { json!({ "c": bc }) } else { bc });
            }
            if let Some(de) = de {
                doc.insert("d.e".into(), de);
            }
            let xs = xs.into_iter().map(|x| json!({ "x": x })).collect();
            doc.insert("arr".into(), Value::Array(xs));
            doc
        }),
    )
}

fn match_strategy() -> impl Strategy<Value = Match> {
    let word = || prop::sample::select(vec!["", "a", "b", "ab", "zz"]).prop_map(str::to_owned);
    let int = || prop_oneof![-3i64..=3, Just(i64::MAX), Just(i64::MIN)];
    let words = move || prop::collection::vec(word(), 0..3);
    let ints = move || prop::collection::vec(int(), 0..3);
    prop_oneof![
        word().prop_map(|w| Match::Value(MatchValue::Keyword(w))),
        int().prop_map(|n| Match::Value(MatchValue::Integer(n))),
        any::<bool>().prop_map(|b| Match::Value(MatchValue::Bool(b))),
        words().prop_map(|l| Match::Any(AnyVariants::Keywords(l))),
        ints().prop_map(|l| Match::Any(AnyVariants::Integers(l))),
        words().prop_map(|l| Match::Except(AnyVariants::Keywords(l))),
        ints().prop_map(|l| Match::Except(AnyVariants::Integers(l))),
        word().prop_map(Match::Text),
        words().prop_map(|w| Match::TextAny(w.join(" "))),
    ]
}

fn range_strategy() -> impl Strategy<Value = Range> {
    let number =
        || prop::option::of(prop::sample::select(&NUMBERS[..]).prop_map(RangeValue::Number));
    let date = || {
        prop::option::of(
            prop::sample::select(&DATES[..]).prop_map(|d| RangeValue::DateTime(d.to_owned())),
        )
    };
    let range = |(gt, gte, lt, lte)| Range { gt, gte, lt, lte };
    prop_oneof![
        (number(), number(), number(), number()).prop_map(range),
        (date(), date(), date(), date()).prop_map(range),
    ]
}

fn condition_strategy() -> impl Strategy<Value = FieldCondition> {
    let point = || {
        (
            prop::sample::select(&LONS[..]),
            prop::sample::select(&COORDS[..]),
        )
            .prop_map(|(lon, lat)| GeoPoint::new(lon, lat))
    };
    let radius = prop::sample::select(vec![0.0, 200.0, 2e6, 3e7]);
    prop_oneof![
        3 => match_strategy().prop_map(|m| FieldCondition { r#match: Some(m), ..FieldCondition::new("") }),
        2 => range_strategy().prop_map(|r| FieldCondition { range: Some(r), ..FieldCondition::new("") }),
        1 => (point(), point()).prop_map(|(a, b)| FieldCondition {
            geo_bounding_box: Some(GeoBoundingBox::new(a, b)),
            ..FieldCondition::new("")
        }),
        1 => (point(), radius).prop_map(|(c, r)| FieldCondition {
            geo_radius: Some(GeoRadius::new(c, r)),
            ..FieldCondition::new("")
        }),
        1 => (0usize..3).prop_map(|n| FieldCondition {
            values_count: Some(ValuesCount::default().gte(n)),
            ..FieldCondition::new("")
        }),
        1 => (point(), point(), point(), prop::option::of((point(), point(), point()))).prop_map(
            |(a, b, c, hole)| {
                let mut polygon = GeoPolygon::new([a, b, c, a]);
                if let Some((d, e, f)) = hole {
                    polygon = polygon.with_hole([d, e, f, d]);
                }
                FieldCondition {
                    geo_polygon: Some(Box::new(polygon)),
                    ..FieldCondition::new("")
                }
            }
        ),
    ]
}

/// Whether `value` is a value of `kind` for an index.
fn of_kind(kind: PayloadSchemaType, value: &Value) -> bool {
    match kind {
        PayloadSchemaType::Keyword => value.is_string(),
        PayloadSchemaType::Integer => value.as_i64().is_some(),
        PayloadSchemaType::Float => value.is_number(),
        PayloadSchemaType::Bool => value.is_boolean(),
        PayloadSchemaType::Datetime => value.as_str().and_then(parse_datetime).is_some(),
        PayloadSchemaType::Geo => geo_point(value).is_some(),
    }
}

/// The `(value, offset)` pairs `ordered` must hold, computed from the payloads.
fn expected_order(
    kind: PayloadSchemaType,
    key: &str,
    docs: &[Option<Payload>],
) -> Vec<(OrderValue, u32)> {
    let mut pairs: Vec<(OrderValue, u32, u16)> = Vec::new();
    for (o, doc) in docs.iter().enumerate() {
        let leaves = doc.as_ref().map(|d| leaves_of(d, key)).unwrap_or_default();
        let mut seen: Vec<(OrderValue, u16)> = Vec::new();
        for leaf in leaves {
            let value = match kind {
                PayloadSchemaType::Integer => leaf.as_i64().map(|n| (OrderValue::Int(n), 0)),
                PayloadSchemaType::Float => leaf.as_f64().map(|x| (OrderValue::Float(x), 0)),
                _ => leaf.as_str().and_then(parse_datetime).map(|t| {
                    let nanos = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
                    let micros = nanos.div_euclid(1000) as i64;
                    (OrderValue::Int(micros), nanos.rem_euclid(1000) as u16)
                }),
            };
            if let Some(value) = value {
                if !seen.contains(&value) {
                    seen.push(value);
                }
            }
        }
        pairs.extend(seen.into_iter().map(|(v, sub)| (v, o as u32, sub)));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    pairs.into_iter().map(|(v, o, _)| (v, o)).collect()
}

fn agree(
    index: &FieldIndex,
    cond: &FieldCondition,
    docs: &[Option<Payload>],
) -> Result<(), TestCaseError> {
    let expected = reference(cond, docs);
    let matching = index.matching(cond);
    let estimate = index.estimate(cond);
    prop_assert_eq!(matching.is_some(), estimate.is_some(), "{:?}", cond);
    if let (Some(matching), Some(estimate)) = (&matching, estimate) {
        prop_assert_eq!(matching, &expected, "{:?} {:?}", index.kind(), cond);
        prop_assert!(estimate >= matching.len(), "{} {:?}", estimate, cond);
    }
    for o in 0..docs.len() as u32 {
        let check = index.check(o, cond);
        prop_assert_eq!(check.is_some(), matching.is_some(), "{:?}", cond);
        if let Some(hit) = check {
            prop_assert_eq!(hit, expected.contains(&o), "offset {} {:?}", o, cond);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn decided_conditions_agree_with_the_filter(
        docs in prop::collection::vec(doc(), 0..40),
        key in key_strategy(),
        conditions in prop::collection::vec(condition_strategy(), 1..8),
    ) {
        for kind in KINDS {
            let index = build(key, kind, &docs);
            let with_value = docs
                .iter()
                .filter(|doc| {
                    doc.as_ref()
                        .is_some_and(|d| leaves_of(d, key).iter().any(|v| of_kind(kind, v)))
                })
                .count();
            prop_assert_eq!(index.points(), with_value, "{:?}", kind);
            for cond in &conditions {
                let cond = FieldCondition { key: key.to_owned(), ..cond.clone() };
                agree(&index, &cond, &docs)?;
            }
            for (cond, offsets) in index.values() {
                let matching = index.matching(&cond);
                prop_assert_eq!(matching.as_deref(), Some(offsets));
            }
            match kind {
                PayloadSchemaType::Integer
                | PayloadSchemaType::Float
                | PayloadSchemaType::Datetime => {
                    prop_assert_eq!(index.ordered(), Some(&expected_order(kind, key, &docs)[..]));
                }
                _ => prop_assert_eq!(index.ordered(), None),
            }
        }
    }
}

fn encoded(index: &FieldIndex) -> Vec<u8> {
    let mut out = Vec::new();
    index.encode(&mut out);
    out
}

/// Whatever `index` answers stays within its `len` offsets, sorted and unique.
fn within_bounds(
    index: &FieldIndex,
    conditions: &[FieldCondition],
    len: usize,
) -> Result<(), TestCaseError> {
    let sorted = |offsets: &[u32]| {
        offsets.windows(2).all(|w| w[0] < w[1]) && offsets.iter().all(|&o| (o as usize) < len)
    };
    for cond in conditions {
        if let Some(offsets) = index.matching(cond) {
            prop_assert!(sorted(&offsets), "{:?}", offsets);
        }
        let _ = index.estimate(cond);
        for o in 0..len as u32 {
            let _ = index.check(o, cond);
        }
    }
    for (_, offsets) in index.values() {
        prop_assert!(sorted(offsets));
    }
    prop_assert!(index.points() <= len);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoded_indexes_answer_as_built_ones(
        docs in prop::collection::vec(doc(), 0..40),
        key in key_strategy(),
        conditions in prop::collection::vec(condition_strategy(), 1..8),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 16),
    ) {
        let len = docs.len();
        let conditions: Vec<FieldCondition> = conditions
            .into_iter()
            .map(|cond| FieldCondition { key: key.to_owned(), ..cond })
            .collect();
        for kind in KINDS {
            let index = build(key, kind, &docs);
            let bytes = encoded(&index);
            let decoded = FieldIndex::decode(&bytes, key, kind, len)
                .map_err(|e| TestCaseError::fail(format!("{kind:?}: {e}")))?;
            prop_assert_eq!(encoded(&decoded), bytes.clone());
            prop_assert_eq!(decoded.points(), index.points());
            prop_assert_eq!(decoded.kind(), kind);
            prop_assert_eq!(decoded.values(), index.values());
            prop_assert_eq!(decoded.ordered(), index.ordered());
            for cond in &conditions {
                prop_assert_eq!(decoded.matching(cond), index.matching(cond), "{:?}", cond);
                prop_assert_eq!(decoded.estimate(cond), index.estimate(cond), "{:?}", cond);
                for o in 0..len as u32 {
                    prop_assert_eq!(decoded.check(o, cond), index.check(o, cond));
                }
                agree(&decoded, cond, &docs)?;
            }
            // Another kind's or length's encoding is refused, or decides nothing.
            let other = KINDS.iter().find(|&&k| k != kind).copied().unwrap_or(kind);
            prop_assert!(FieldIndex::decode(&bytes, key, other, len).is_err());
            for cut in 0..bytes.len() {
                if let Ok(index) = FieldIndex::decode(&bytes[..cut], key, kind, len) {
                    within_bounds(&index, &conditions, len)?;
                }
            }
            if !bytes.is_empty() {
                for (at, mask) in &flips {
                    let mut bad = bytes.clone();
                    bad[at.index(bytes.len())] ^= mask;
                    if let Ok(index) = FieldIndex::decode(&bad, key, kind, len) {
                        within_bounds(&index, &conditions, len)?;
                    }
                }
            }
        }
    }
}

#[test]
fn decoding_refuses_broken_invariants() {
    let docs = docs_of([json!({"v": ["b", "a"]}), json!({"v": "b"}), json!({"v": 1})]);
    let index = build("v", PayloadSchemaType::Keyword, &docs);
    let bytes = encoded(&index);
    assert!(FieldIndex::decode(&bytes, "v", PayloadSchemaType::Keyword, 3).is_ok());
    // Offset 2 is past a length of 2; trailing bytes; a huge count.
    assert!(FieldIndex::decode(&bytes, "v", PayloadSchemaType::Keyword, 2).is_err());
    let mut long = bytes.clone();
    long.push(0);
    assert!(FieldIndex::decode(&long, "v", PayloadSchemaType::Keyword, 3).is_err());
    let mut huge = bytes.clone();
    huge[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(FieldIndex::decode(&huge, "v", PayloadSchemaType::Keyword, 3).is_err());
    // Keys out of order: "a" and "b" swapped (both one byte long).
    let mut swapped = bytes.clone();
    let (a, b) = (9 + 8, 9 + 8 + 1 + 8);
    swapped.swap(a, b);
    assert!(FieldIndex::decode(&swapped, "v", PayloadSchemaType::Keyword, 3).is_err());
    // A posting list out of order: "b" is at offsets [0, 1]; write [1, 0].
    let items = b + 1 + 2 * 4; // after "b" and the two list sizes
    let mut unsorted = bytes.clone();
    let b_list = items + 4; // after "a"'s one offset
    unsorted[b_list..b_list + 4].copy_from_slice(&1u32.to_le_bytes());
    unsorted[b_list + 4..b_list + 8].copy_from_slice(&0u32.to_le_bytes());
    assert!(FieldIndex::decode(&unsorted, "v", PayloadSchemaType::Keyword, 3).is_err());
}
