//! The points API with filters through the client, on every backend: payload writes, deletes
//! and counts by filter, scroll paging and `order_by`, payload field indexes, filtered search,
//! recommend and group search, all of it across a restart, and the errors malformed filters and
//! unknown collections give. Every expectation is computed here by brute force over the data
//! the scenario inserted, and the data lives both in sealed, indexed segments (small indexing
//! threshold, `wait_index_ready`) and in the write segment.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::oracle::{dot, normalized, recommend_query};
use common::{Ctx, Rng};
use rro::models::{
    CollectionInfo, Condition, CountRequest, CreateCollection, CreateFieldIndex, DeletePayload,
    Direction, Distance, Filter, GeoBoundingBox, GeoPoint, GeoRadius, GetPoints, GroupId,
    HnswConfig, OptimizersConfig, OrderBy, OrderValue, Payload, PayloadIndexInfo,
    PayloadSchemaType, PointId, PointStruct, PointsSelector, Range, RecommendExample,
    RecommendRequest, RecommendStrategy, Record, ScoredPoint, ScrollRequest, SearchGroupsRequest,
    SearchParams, SearchRequest, SetPayload, StartFrom, ValuesCount, VectorParams,
    WithPayloadSelector,
};
use rro::{RroClient, RroError, StorageError};
use serde_json::{json, Value};

backend_tests!(
    payload_ops_by_ids_and_by_filter,
    delete_and_count_by_filter,
    scroll_pages_through_matching_points,
    scroll_ordered_by_indexed_fields,
    field_indexes_report_and_do_not_change_results,
    filtered_search_is_exact_brute_force,
    recommend_averages_examples_and_leaves_them_out,
    search_groups_by_keyword_and_integer,
    everything_survives_a_restart,
    malformed_filters_and_unknown_collections,
);

// ---------------------------------------------------------------------------------------------
// Data and helpers

/// A point as the test knows it.
#[derive(Debug, Clone)]
struct Pt {
    id: u64,
    vector: Vec<f32>,
    payload: Payload,
}

fn num(id: u64) -> PointId {
    PointId::Num(id)
}

fn obj(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A collection config that seals and indexes once `threshold_points` vectors of `dim` are in
/// the write segment, keeps one sealed segment, and scores filters exactly below 1 KiB of
/// candidates.
fn indexed(dim: u64, distance: Distance, threshold_points: usize) -> CreateCollection {
    let kb = threshold_points * dim as usize * 4 / 1024;
    assert!(kb >= 1, "threshold too small");
    CreateCollection::new(VectorParams::new(dim, distance))
        .hnsw_config(HnswConfig {
            m: 16,
            ef_construct: 64,
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(kb),
            default_segment_number: 1,
            ..OptimizersConfig::default()
        })
}

async fn wait_ready(client: &RroClient, name: &str) -> CollectionInfo {
    client
        .with_timeout(Duration::from_secs(110))
        .wait_index_ready(name)
        .await
        .expect("index ready")
}

async fn upsert(client: &RroClient, name: &str, pts: &[Pt]) {
    for chunk in pts.chunks(250) {
        client
            .upsert_points(
                name,
                chunk
                    .iter()
                    .map(|p| {
                        PointStruct::new(p.id, p.vector.clone()).with_payload(p.payload.clone())
                    })
                    .collect(),
            )
            .await
            .expect("upsert");
    }
}

/// Upsert the first `sealed` points and wait until the optimizer sealed and indexed them, then
/// upsert the rest, which stay in the write segment.
async fn fill(client: &RroClient, name: &str, pts: &[Pt], sealed: usize) {
    upsert(client, name, &pts[..sealed]).await;
    let info = wait_ready(client, name).await;
    assert!(
        info.indexed_vectors_count > 0,
        "nothing was indexed: {info:?}"
    );
    upsert(client, name, &pts[sealed..]).await;
    let info = client.collection_info(name).await.unwrap();
    assert!(
        info.segments_count >= 2,
        "no write segment beside the sealed one: {info:?}"
    );
    assert_eq!(info.points_count, pts.len() as u64);
}

/// The message of a `BadRequest`, or a panic naming what came instead.
fn bad_request<T: std::fmt::Debug>(result: rro::Result<T>, what: &str) -> String {
    match result {
        Err(RroError::Storage(StorageError::BadRequest(message))) => message,
        other => panic!("{what}: expected a BadRequest, got {other:?}"),
    }
}

fn not_found<T: std::fmt::Debug>(result: rro::Result<T>, what: &str) {
    match result {
        Err(RroError::Storage(StorageError::CollectionNotFound { name })) => {
            assert_eq!(name, "nope", "{what}")
        }
        other => panic!("{what}: expected CollectionNotFound, got {other:?}"),
    }
}

// JSON access as the filters see it.

/// The value at a dotted object path.
fn at<'a>(p: &'a Payload, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = p.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The values a key reaches (`a.b`, `a[].b`, `a[2]`; no quoted names), each array reached
/// counting element by element, one level deep: what filter conditions look at.
fn flat<'a>(p: &'a Payload, path: &str) -> Vec<&'a Value> {
    let mut reached: Vec<&Value> = Vec::new();
    for (n, part) in path.split('.').enumerate() {
        let (name, steps) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        reached = if n == 0 {
            p.get(name).into_iter().collect()
        } else {
            reached
                .iter()
                .filter_map(|v| v.as_object()?.get(name))
                .collect()
        };
        for step in steps.split_inclusive(']') {
            let inside = step.trim_start_matches('[').trim_end_matches(']');
            reached = reached
                .iter()
                .filter_map(|v| v.as_array())
                .flat_map(|items| -> Vec<&Value> {
                    if inside.is_empty() {
                        items.iter().collect()
                    } else {
                        items
                            .get(inside.parse::<usize>().unwrap())
                            .into_iter()
                            .collect()
                    }
                })
                .collect();
        }
    }
    reached
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        })
        .collect()
}

fn has_str(p: &Payload, path: &str, s: &str) -> bool {
    flat(p, path).iter().any(|v| v.as_str() == Some(s))
}

fn any_num(p: &Payload, path: &str, f: impl Fn(f64) -> bool) -> bool {
    flat(p, path).iter().filter_map(|v| v.as_f64()).any(f)
}

fn is_bool(p: &Payload, path: &str, b: bool) -> bool {
    flat(p, path).iter().any(|v| v.as_bool() == Some(b))
}

fn geo(v: &Value) -> Option<(f64, f64)> {
    let o = v.as_object()?;
    Some((o.get("lon")?.as_f64()?, o.get("lat")?.as_f64()?))
}

fn haversine(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (a, b) = (lat1.to_radians(), lat2.to_radians());
    let dlat = (b - a) / 2.0;
    let dlon = (lon2 - lon1).to_radians() / 2.0;
    let h = dlat.sin().powi(2) + a.cos() * b.cos() * dlon.sin().powi(2);
    2.0 * 6_371_008.8 * h.clamp(0.0, 1.0).sqrt().asin()
}

/// Seconds from 2024-01-01T00:00:00Z to a date-time `rich_payload` writes (fractions of a
/// second dropped), or `None` if it is not one.
fn when_seconds(s: &str) -> Option<i64> {
    let digits = |t: &str| t.parse::<i64>().ok();
    let day = digits(s.strip_prefix("2024-01-")?.get(..2)?)?;
    let rest = &s[10..];
    let (mut hour, mut minute, mut offset) = (0, 0, 0);
    if !rest.is_empty() {
        hour = digits(rest.get(1..3)?)?;
        minute = digits(rest.get(4..6)?)?;
        let mut zone = rest.get(6..)?;
        if let Some(seconds) = zone.strip_prefix(":00") {
            zone = seconds.strip_prefix(".250").unwrap_or(seconds);
        }
        offset = match zone {
            "" | "Z" => 0,
            _ => {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                sign * (digits(zone.get(1..3)?)? * 3600 + digits(zone.get(4..6)?)? * 60)
            }
        };
    }
    Some((day - 1) * 86_400 + hour * 3600 + minute * 60 - offset)
}

const CITIES: [&str; 5] = ["paris", "rome", "oslo", "lima", "kyiv"];
const RADIUS_CENTER: (f64, f64) = (0.3, 44.1);
const RADIUS: f64 = 370_000.0;

/// A payload with every kind of value the filters and indexes deal with: keywords (missing,
/// null, arrays), integers (and a few floats), floats, bools, keyword arrays (empty, missing),
/// date-times (and strings that are not), geo points (and objects that are not), arrays of
/// objects, nested objects, and nulls.
fn rich_payload(i: u64) -> Payload {
    let mut p = Payload::new();
    let city = |k: u64| json!(CITIES[(k % 5) as usize]);
    if !i.is_multiple_of(11) {
        let value = if i.is_multiple_of(23) {
            Value::Null
        } else if i.is_multiple_of(13) {
            json!([city(i), city(i + 1)])
        } else {
            city(i)
        };
        p.insert("city".into(), value);
    }
    if !i.is_multiple_of(17) {
        let value = if i.is_multiple_of(29) {
            json!((i % 50) as f64 + 0.5)
        } else {
            json!(i % 50)
        };
        p.insert("n".into(), value);
    }
    p.insert("price".into(), json!((i % 40) as f64 * 0.25));
    match i % 3 {
        0 => {
            p.insert("vip".into(), json!(true));
        }
        1 => {
            p.insert("vip".into(), json!(false));
        }
        _ => {}
    }
    match i % 7 {
        0 => {
            p.insert("tags".into(), json!([]));
        }
        1 => {}
        _ => {
            let tags: Vec<String> = (0..i % 3 + 1)
                .map(|k| format!("t{}", (i + 2 * k) % 6))
                .collect();
            p.insert("tags".into(), json!(tags));
        }
    }
    let (day, hour) = (i % 28 + 1, i % 24);
    let when = if i.is_multiple_of(9) {
        "not a date".to_owned()
    } else {
        // The forms Qdrant accepts: offsets, no offset, a space, no seconds, a date alone.
        match i % 5 {
            0 => format!("2024-01-{day:02}T{hour:02}:00:00Z"),
            1 => format!("2024-01-{day:02}T{hour:02}:00:00+05:00"),
            2 => format!("2024-01-{day:02} {hour:02}:30"),
            3 => format!("2024-01-{day:02}T{hour:02}:00:00.250-03:30"),
            _ => format!("2024-01-{day:02}"),
        }
    };
    p.insert("when".into(), json!(when));
    if !i.is_multiple_of(10) {
        let loc = if i.is_multiple_of(31) {
            json!({"lon": "x", "lat": 1.0})
        } else {
            json!({"lon": (i % 21) as f64 - 10.0, "lat": 40.0 + (i % 15) as f64 * 0.5})
        };
        p.insert("loc".into(), loc);
    }
    let items: Vec<Value> = (0..i % 3)
        .map(|k| {
            let kind = if (i + k).is_multiple_of(2) { "a" } else { "b" };
            json!({"kind": kind, "qty": (i * 3 + k) % 7})
        })
        .collect();
    p.insert("items".into(), json!(items));
    p.insert(
        "meta".into(),
        json!({"level": i % 4, "owner": {"name": format!("u{}", i % 6)}}),
    );
    match i % 19 {
        0 => {
            p.insert("note".into(), Value::Null);
        }
        1 => {
            p.insert("note".into(), json!("hello"));
        }
        _ => {}
    }
    p
}

fn rich_points(n: u64, dim: usize, seed: u64) -> Vec<Pt> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|id| Pt {
            id,
            vector: rng.vector(dim),
            payload: rich_payload(id),
        })
        .collect()
}

const HAS_IDS: [u64; 9] = [1, 3, 4, 7, 10, 502, 1001, 1051, 999_999];

/// A filter and the same filter written out in Rust over a point's id and payload.
struct Case {
    name: &'static str,
    filter: Filter,
    check: fn(u64, &Payload) -> bool,
}

impl Case {
    fn matching<'a>(&self, pts: &'a [Pt]) -> Vec<&'a Pt> {
        pts.iter()
            .filter(|p| (self.check)(p.id, &p.payload))
            .collect()
    }
}

fn cases() -> Vec<Case> {
    use Condition as C;
    vec![
        Case {
            name: "match keyword",
            filter: Filter::must([C::matches("city", "paris")]),
            check: |_, p| has_str(p, "city", "paris"),
        },
        Case {
            name: "match any",
            filter: Filter::must([C::match_any("city", ["paris", "rome"])]),
            check: |_, p| has_str(p, "city", "paris") || has_str(p, "city", "rome"),
        },
        Case {
            name: "match except keywords",
            filter: Filter::must([C::match_except("city", ["paris", "rome"])]),
            check: |_, p| {
                flat(p, "city")
                    .iter()
                    .any(|v| !v.is_null() && !matches!(v.as_str(), Some("paris" | "rome")))
            },
        },
        Case {
            name: "match except integers",
            filter: Filter::must([C::match_except("n", [1i64, 2, 3])]),
            check: |_, p| {
                flat(p, "n")
                    .iter()
                    .any(|v| !v.is_null() && !matches!(v.as_i64(), Some(1..=3)))
            },
        },
        Case {
            name: "match integer",
            filter: Filter::must([C::matches("n", 7)]),
            check: |_, p| flat(p, "n").iter().any(|v| v.as_i64() == Some(7)),
        },
        Case {
            name: "integer range",
            filter: Filter::must([C::range("n", Range::default().gte(10).lt(20))]),
            check: |_, p| any_num(p, "n", |x| (10.0..20.0).contains(&x)),
        },
        Case {
            name: "float range",
            filter: Filter::must([C::range("price", Range::default().gt(3.0).lte(7.5))]),
            check: |_, p| any_num(p, "price", |x| x > 3.0 && x <= 7.5),
        },
        Case {
            name: "must_not bool",
            filter: Filter::must_not([C::matches("vip", true)]),
            check: |_, p| !is_bool(p, "vip", true),
        },
        Case {
            name: "should",
            filter: Filter::should([
                C::matches("city", "oslo"),
                C::range("n", Range::default().lt(5)),
            ]),
            check: |_, p| has_str(p, "city", "oslo") || any_num(p, "n", |x| x < 5.0),
        },
        Case {
            name: "has_id",
            filter: Filter::must([C::has_id(HAS_IDS), C::matches("vip", false)]),
            check: |id, p| HAS_IDS.contains(&id) && is_bool(p, "vip", false),
        },
        Case {
            name: "is_empty",
            filter: Filter::must([C::is_empty("tags")]),
            check: |_, p| match at(p, "tags") {
                None | Some(Value::Null) => true,
                Some(Value::Array(items)) => items.is_empty(),
                Some(_) => false,
            },
        },
        Case {
            name: "is_null",
            filter: Filter::must([C::is_null("note")]),
            check: |_, p| at(p, "note") == Some(&Value::Null),
        },
        Case {
            name: "nested",
            filter: Filter::must([C::nested(
                "items",
                Filter::must([
                    C::matches("kind", "a"),
                    C::range("qty", Range::default().gte(3)),
                ]),
            )]),
            check: |_, p| {
                flat(p, "items").iter().any(|item| {
                    item.get("kind").and_then(Value::as_str) == Some("a")
                        && item
                            .get("qty")
                            .and_then(Value::as_f64)
                            .is_some_and(|q| q >= 3.0)
                })
            },
        },
        Case {
            name: "array element",
            filter: Filter::must([C::matches("tags", "t1")]),
            check: |_, p| has_str(p, "tags", "t1"),
        },
        Case {
            name: "datetime range",
            filter: Filter::must([C::range(
                "when",
                Range::default()
                    .gte("2024-01-10T00:00:00Z")
                    .lt("2024-01-20"),
            )]),
            check: |_, p| {
                flat(p, "when")
                    .iter()
                    .filter_map(|v| when_seconds(v.as_str()?))
                    .any(|t| (9 * 86_400..19 * 86_400).contains(&t))
            },
        },
        Case {
            name: "values_count",
            filter: Filter::must([C::values_count("tags", ValuesCount::default().gte(2))]),
            check: |_, p| {
                at(p, "tags")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.len() >= 2)
            },
        },
        Case {
            name: "nested object key",
            filter: Filter::must([C::matches("meta.level", 2)]),
            check: |_, p| at(p, "meta.level").and_then(Value::as_i64) == Some(2),
        },
        Case {
            name: "geo bounding box",
            filter: Filter::must([C::geo_bounding_box(
                "loc",
                GeoBoundingBox::new(GeoPoint::new(-4.5, 46.25), GeoPoint::new(4.5, 42.25)),
            )]),
            check: |_, p| {
                flat(p, "loc")
                    .iter()
                    .filter_map(|v| geo(v))
                    .any(|(lon, lat)| -4.5 < lon && lon < 4.5 && 42.25 < lat && lat < 46.25)
            },
        },
        Case {
            name: "geo radius",
            filter: Filter::must([C::geo_radius(
                "loc",
                GeoRadius::new(GeoPoint::new(RADIUS_CENTER.0, RADIUS_CENTER.1), RADIUS),
            )]),
            check: |_, p| {
                flat(p, "loc")
                    .iter()
                    .filter_map(|v| geo(v))
                    .any(|(lon, lat)| {
                        haversine(RADIUS_CENTER.0, RADIUS_CENTER.1, lon, lat) < RADIUS
                    })
            },
        },
        Case {
            name: "text",
            filter: Filter::must([C::match_text("note", "ell")]),
            check: |_, p| {
                at(p, "note")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.contains("ell"))
            },
        },
        Case {
            name: "must and must_not",
            filter: Filter::must([
                C::match_any("tags", ["t0", "t3"]),
                C::range("n", Range::default().gte(25)),
            ])
            .with_must_not([C::matches("city", "lima")]),
            check: |_, p| {
                (has_str(p, "tags", "t0") || has_str(p, "tags", "t3"))
                    && any_num(p, "n", |x| x >= 25.0)
                    && !has_str(p, "city", "lima")
            },
        },
        Case {
            name: "min_should",
            filter: Filter::min_should(
                [
                    C::matches("vip", true),
                    C::matches("city", "paris"),
                    C::range("n", Range::default().lt(10)),
                ],
                2,
            ),
            check: |_, p| {
                [
                    is_bool(p, "vip", true),
                    has_str(p, "city", "paris"),
                    any_num(p, "n", |x| x < 10.0),
                ]
                .iter()
                .filter(|b| **b)
                .count()
                    >= 2
            },
        },
        Case {
            name: "sub-filters",
            filter: Filter::should([
                Filter::must([C::matches("city", "rome"), C::matches("vip", true)]).into(),
                Filter::must([C::matches("city", "kyiv"), C::matches("vip", false)]).into(),
            ]),
            check: |_, p| {
                (has_str(p, "city", "rome") && is_bool(p, "vip", true))
                    || (has_str(p, "city", "kyiv") && is_bool(p, "vip", false))
            },
        },
        Case {
            name: "array index",
            filter: Filter::must([C::matches("tags[0]", "t2")]),
            check: |_, p| {
                at(p, "tags").and_then(|t| t.get(0)).and_then(Value::as_str) == Some("t2")
            },
        },
        Case {
            name: "range over array elements",
            filter: Filter::must([C::range("items[].qty", Range::default().gte(5))]),
            check: |_, p| {
                flat(p, "items").iter().any(|item| {
                    item.get("qty")
                        .and_then(Value::as_f64)
                        .is_some_and(|q| q >= 5.0)
                })
            },
        },
        Case {
            name: "keyword in array elements",
            filter: Filter::must([C::matches("items[].kind", "b")]),
            check: |_, p| {
                flat(p, "items")
                    .iter()
                    .any(|item| item.get("kind").and_then(Value::as_str) == Some("b"))
            },
        },
        Case {
            name: "deeply nested key",
            filter: Filter::must([C::matches("meta.owner.name", "u3")]),
            check: |_, p| at(p, "meta.owner.name").and_then(Value::as_str) == Some("u3"),
        },
        Case {
            name: "values_count of objects",
            filter: Filter::must([C::values_count("items", ValuesCount::default().lt(2))]),
            // A missing key or null holds no value, anything but an array one.
            check: |_, p| match at(p, "items") {
                None | Some(Value::Null) => true,
                Some(Value::Array(a)) => a.len() < 2,
                Some(_) => false,
            },
        },
        Case {
            name: "empty filter",
            filter: Filter::default(),
            check: |_, _| true,
        },
    ]
}

/// The geo radius expectation is only well defined if no point sits on the circle.
fn assert_no_point_on_the_circle(pts: &[Pt]) {
    for p in pts {
        for (lon, lat) in flat(&p.payload, "loc").iter().filter_map(|v| geo(v)) {
            let d = haversine(RADIUS_CENTER.0, RADIUS_CENTER.1, lon, lat);
            assert!((d - RADIUS).abs() > 500.0, "point {} is {d} m away", p.id);
        }
    }
}

/// `pts` by `score`, best first, ties by id.
fn ranked<'a>(
    pts: impl IntoIterator<Item = &'a Pt>,
    score: impl Fn(&[f32]) -> f32,
) -> Vec<(f32, u64)> {
    let mut all: Vec<(f32, u64)> = pts.into_iter().map(|p| (score(&p.vector), p.id)).collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all
}

/// `hits` are the first `limit` of `truth` from `offset` on (scores within float error; two
/// points whose true scores are within 1e-5 may trade places).
fn assert_ranking(
    hits: &[ScoredPoint],
    truth: &[(f32, u64)],
    offset: usize,
    limit: usize,
    what: &str,
) {
    let want = &truth[offset.min(truth.len())..(offset + limit).min(truth.len())];
    assert_eq!(
        hits.len(),
        want.len(),
        "{what}: {} hits, expected {}",
        hits.len(),
        want.len()
    );
    let mut seen = HashSet::new();
    for (i, (hit, (score, id))) in hits.iter().zip(want).enumerate() {
        assert!(seen.insert(hit.id), "{what}: {:?} twice", hit.id);
        assert!(
            (hit.score - score).abs() <= 1e-4,
            "{what}: hit {i} ({:?}) scores {}, expected {score}",
            hit.id,
            hit.score
        );
        if hit.id != num(*id) {
            let tie = truth
                .iter()
                .any(|(s, t)| num(*t) == hit.id && (s - score).abs() <= 1e-5);
            assert!(
                tie,
                "{what}: hit {i} is {:?}, expected {id} (score {score})",
                hit.id
            );
        }
    }
}

fn exact() -> Option<SearchParams> {
    Some(SearchParams {
        hnsw_ef: None,
        exact: true,
        ..SearchParams::default()
    })
}

/// The indexes most scenarios create: one of every kind.
const RICH_INDEXES: [(&str, PayloadSchemaType); 11] = [
    ("city", PayloadSchemaType::Keyword),
    ("n", PayloadSchemaType::Integer),
    ("price", PayloadSchemaType::Float),
    ("vip", PayloadSchemaType::Bool),
    ("when", PayloadSchemaType::Datetime),
    ("loc", PayloadSchemaType::Geo),
    ("tags", PayloadSchemaType::Keyword),
    ("meta.level", PayloadSchemaType::Integer),
    ("items[].kind", PayloadSchemaType::Keyword),
    ("items[].qty", PayloadSchemaType::Integer),
    ("tags[0]", PayloadSchemaType::Keyword),
];

async fn create_indexes(client: &RroClient, name: &str, which: &[(&str, PayloadSchemaType)]) {
    for (key, kind) in which {
        client
            .create_field_index(name, CreateFieldIndex::new(*key, *kind))
            .await
            .unwrap_or_else(|e| panic!("index {key}: {e:?}"));
    }
}

/// Whether `value` is a value an index of `kind` holds.
fn holds(kind: PayloadSchemaType, value: &Value) -> bool {
    match kind {
        PayloadSchemaType::Keyword => value.is_string(),
        PayloadSchemaType::Integer => value.as_i64().is_some(),
        PayloadSchemaType::Float => value.is_number(),
        PayloadSchemaType::Bool => value.is_boolean(),
        PayloadSchemaType::Datetime => value.as_str().and_then(when_seconds).is_some(),
        PayloadSchemaType::Geo => geo(value).is_some(),
    }
}

/// What `payload_schema` should say about `pts` with indexes `which`.
fn expected_schema(
    pts: &[Pt],
    which: &[(&str, PayloadSchemaType)],
) -> BTreeMap<String, PayloadIndexInfo> {
    which
        .iter()
        .map(|(key, kind)| {
            let points = pts
                .iter()
                .filter(|p| flat(&p.payload, key).iter().any(|v| holds(*kind, v)))
                .count() as u64;
            (
                key.to_string(),
                PayloadIndexInfo {
                    data_type: *kind,
                    points,
                },
            )
        })
        .collect()
}

/// Every page of a scroll, following `next_page_offset`.
async fn scroll_all(client: &RroClient, name: &str, request: ScrollRequest) -> Vec<Vec<Record>> {
    let mut pages = Vec::new();
    let mut request = request;
    loop {
        let page = client.scroll(name, request.clone()).await.expect("scroll");
        let next = page.next_page_offset;
        if let (Some(next), Some(last)) = (next, page.points.last()) {
            assert!(
                next > last.id,
                "next offset {next:?} not after {:?}",
                last.id
            );
        }
        pages.push(page.points);
        match next {
            Some(offset) => request.offset = Some(offset),
            None => return pages,
        }
        assert!(pages.len() < 10_000, "the scroll does not end");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Payload writes

fn model_set(payload: &mut Payload, set: &Payload, key: Option<&str>) {
    let mut target = payload;
    if let Some(key) = key {
        for part in key.split('.') {
            let slot = target
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Payload::new()));
            if !slot.is_object() {
                *slot = Value::Object(Payload::new());
            }
            target = slot.as_object_mut().unwrap();
        }
    }
    for (k, v) in set {
        target.insert(k.clone(), v.clone());
    }
}

fn model_delete(payload: &mut Payload, key: &str) {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, path) = parts.split_last().unwrap();
    let mut here = payload;
    for part in path {
        match here.get_mut(*part).and_then(Value::as_object_mut) {
            Some(inner) => here = inner,
            None => return,
        }
    }
    here.remove(*last);
}

/// Check every point of the collection against the model: payloads and vectors.
async fn assert_model(
    client: &RroClient,
    name: &str,
    model: &BTreeMap<u64, Payload>,
    vectors: &HashMap<u64, Vec<f32>>,
    what: &str,
) {
    let ids: Vec<u64> = vectors.keys().copied().chain([999, 4242]).collect();
    let records = client
        .get_points(name, GetPoints::new(ids).with_vector(true))
        .await
        .unwrap();
    assert_eq!(records.len(), model.len(), "{what}: point count");
    for record in records {
        let PointId::Num(id) = record.id else {
            panic!("numeric ids only")
        };
        assert_eq!(
            record.payload.as_ref(),
            model.get(&id),
            "{what}: point {id}"
        );
        assert_eq!(
            record.plain_vector(),
            vectors.get(&id).map(Vec::as_slice),
            "{what}: vector {id}"
        );
    }
    assert_eq!(
        client.count_points(name).await.unwrap(),
        model.len() as u64,
        "{what}"
    );
}

async fn payload_ops_by_ids_and_by_filter(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(4, Distance::Dot, 128))
        .await
        .unwrap();
    let mut rng = Rng(11);
    let colors = ["red", "green", "blue"];
    let pts: Vec<Pt> = (0..320u64)
        .map(|i| Pt {
            id: i,
            vector: rng.vector(4),
            payload: obj(json!({
                "color": colors[(i % 3) as usize],
                "n": i,
                "meta": {"a": 1, "b": {"c": i}},
            })),
        })
        .collect();
    // Filters of payload writes use these indexes in the sealed segment, whose entries go stale
    // as written points move to the write segment.
    create_indexes(
        &client,
        "c",
        &[
            ("color", PayloadSchemaType::Keyword),
            ("n", PayloadSchemaType::Integer),
        ],
    )
    .await;
    fill(&client, "c", &pts, 300).await;
    let vectors: HashMap<u64, Vec<f32>> = pts.iter().map(|p| (p.id, p.vector.clone())).collect();
    let mut model: BTreeMap<u64, Payload> = pts.iter().map(|p| (p.id, p.payload.clone())).collect();
    assert_model(&client, "c", &model, &vectors, "as inserted").await;

    // By ids: merge (missing ids ignored, nothing created for them).
    let set = obj(json!({"extra": "x", "color": "purple"}));
    client
        .set_payload(
            "c",
            SetPayload::new(set.clone(), PointsSelector::ids([1u64, 2, 999, 310])),
        )
        .await
        .unwrap();
    for id in [1, 2, 310] {
        model_set(model.get_mut(&id).unwrap(), &set, None);
    }
    assert_model(&client, "c", &model, &vectors, "set by ids").await;

    // Merge inside a nested object, and into a path that does not exist yet.
    let inner = obj(json!({"d": true, "c": "replaced"}));
    client
        .set_payload(
            "c",
            SetPayload::new(inner.clone(), PointsSelector::ids([3u64])).at_key("meta.b"),
        )
        .await
        .unwrap();
    model_set(model.get_mut(&3).unwrap(), &inner, Some("meta.b"));
    let deep = obj(json!({"z": 1}));
    client
        .set_payload(
            "c",
            SetPayload::new(deep.clone(), PointsSelector::ids([4u64])).at_key("new.deep"),
        )
        .await
        .unwrap();
    model_set(model.get_mut(&4).unwrap(), &deep, Some("new.deep"));
    assert_eq!(
        model[&3]["meta"],
        json!({"a": 1, "b": {"c": "replaced", "d": true}})
    );
    assert_eq!(model[&4]["new"], json!({"deep": {"z": 1}}));
    assert_model(&client, "c", &model, &vectors, "set at key").await;

    // Overwrite, delete keys (one dotted), clear.
    client
        .overwrite_payload(
            "c",
            SetPayload::new(obj(json!({"only": 1})), PointsSelector::ids([5u64, 999])),
        )
        .await
        .unwrap();
    model.insert(5, obj(json!({"only": 1})));
    client
        .delete_payload(
            "c",
            DeletePayload::new(
                ["color", "meta.b.c", "absent"],
                PointsSelector::ids([6u64, 999]),
            ),
        )
        .await
        .unwrap();
    for key in ["color", "meta.b.c", "absent"] {
        model_delete(model.get_mut(&6).unwrap(), key);
    }
    assert_eq!(model[&6], obj(json!({"n": 6, "meta": {"a": 1, "b": {}}})));
    client
        .clear_payload("c", PointsSelector::ids([7u64, 999, 315]))
        .await
        .unwrap();
    model.insert(7, Payload::new());
    model.insert(315, Payload::new());
    assert_model(
        &client,
        "c",
        &model,
        &vectors,
        "overwrite, delete, clear by ids",
    )
    .await;

    // By filter: exactly the matching points change, in sealed and write segments alike.
    let select = |model: &BTreeMap<u64, Payload>, check: &dyn Fn(&Payload) -> bool| -> Vec<u64> {
        model
            .iter()
            .filter(|(_, p)| check(p))
            .map(|(id, _)| *id)
            .collect()
    };
    let flag = obj(json!({"flag": true}));
    let chosen = select(&model, &|p: &Payload| {
        has_str(p, "color", "red") && any_num(p, "n", |x| x < 150.0)
    });
    assert!(chosen.len() > 10);
    client
        .set_payload(
            "c",
            SetPayload::new(
                flag.clone(),
                PointsSelector::filter(Filter::must([
                    Condition::matches("color", "red"),
                    Condition::range("n", Range::default().lt(150)),
                ])),
            ),
        )
        .await
        .unwrap();
    for id in &chosen {
        model_set(model.get_mut(id).unwrap(), &flag, None);
    }
    assert_model(&client, "c", &model, &vectors, "set by filter").await;
    assert_eq!(
        client
            .count(
                "c",
                CountRequest::filter(Filter::must([Condition::matches("flag", true)]))
            )
            .await
            .unwrap(),
        chosen.len() as u64
    );

    let chosen = select(&model, &|p: &Payload| {
        any_num(p, "n", |x| (200.0..=305.0).contains(&x))
    });
    assert!(chosen.len() > 100);
    client
        .delete_payload(
            "c",
            DeletePayload::new(
                ["meta.a", "color"],
                PointsSelector::filter(Filter::must([Condition::range(
                    "n",
                    Range::default().gte(200).lte(305),
                )])),
            ),
        )
        .await
        .unwrap();
    for id in &chosen {
        model_delete(model.get_mut(id).unwrap(), "meta.a");
        model_delete(model.get_mut(id).unwrap(), "color");
    }
    assert_model(&client, "c", &model, &vectors, "delete keys by filter").await;

    let fresh = obj(json!({"fresh": 1}));
    client
        .overwrite_payload(
            "c",
            SetPayload::new(
                fresh.clone(),
                PointsSelector::filter(Filter::must([Condition::has_id([10u64, 11, 12, 999])])),
            ),
        )
        .await
        .unwrap();
    for id in [10, 11, 12] {
        model.insert(id, fresh.clone());
    }
    assert_model(&client, "c", &model, &vectors, "overwrite by filter").await;

    let tagged = obj(json!({"tag": "x"}));
    let chosen = select(&model, &|p: &Payload| {
        has_str(p, "color", "blue") && any_num(p, "n", |x| x >= 150.0)
    });
    assert!(chosen.iter().any(|id| *id >= 300), "the write segment too");
    client
        .set_payload(
            "c",
            SetPayload::new(
                tagged.clone(),
                PointsSelector::filter(Filter::must([
                    Condition::matches("color", "blue"),
                    Condition::range("n", Range::default().gte(150)),
                ])),
            )
            .at_key("meta.b"),
        )
        .await
        .unwrap();
    for id in &chosen {
        model_set(model.get_mut(id).unwrap(), &tagged, Some("meta.b"));
    }
    assert_model(&client, "c", &model, &vectors, "set at key by filter").await;

    let chosen = select(&model, &|p: &Payload| at(p, "color").is_none());
    assert!(chosen.len() > 100);
    client
        .clear_payload(
            "c",
            PointsSelector::filter(Filter::must([Condition::is_empty("color")])),
        )
        .await
        .unwrap();
    for id in &chosen {
        model.insert(*id, Payload::new());
    }
    assert_model(&client, "c", &model, &vectors, "clear by filter").await;

    // A filter matching nothing changes nothing.
    client
        .set_payload(
            "c",
            SetPayload::new(
                obj(json!({"never": 1})),
                PointsSelector::filter(Filter::must([Condition::matches("color", "none")])),
            ),
        )
        .await
        .unwrap();
    client
        .delete_payload(
            "c",
            DeletePayload::new(
                ["n"],
                PointsSelector::filter(Filter::must([Condition::has_id([999u64])])),
            ),
        )
        .await
        .unwrap();
    assert_model(&client, "c", &model, &vectors, "filters matching nothing").await;

    // Whatever the optimizer does next, the same.
    wait_ready(&client, "c").await;
    assert_model(&client, "c", &model, &vectors, "after optimizing").await;

    // Bad payload keys are refused and change nothing.
    bad_request(
        client
            .set_payload(
                "c",
                SetPayload::new(obj(json!({"a": 1})), PointsSelector::ids([1u64])).at_key("a..b"),
            )
            .await,
        "set at a malformed key",
    );
    bad_request(
        client
            .delete_payload(
                "c",
                DeletePayload::new(["a b"], PointsSelector::ids([1u64])),
            )
            .await,
        "delete a malformed key",
    );
    assert_model(&client, "c", &model, &vectors, "after refused writes").await;

    // Keys with array steps and quoted names reach what filters reach, as in Qdrant's
    // delete-payload: `a[].x` in every element, `a[1]` one element, `"a.b"` one field.
    let nested = obj(json!({
        "arr": [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
        "list": [1, 2, 3],
        "a.b": 1,
        "a": {"b": 2},
        "deep": {"arr": [{"x": 5, "z": 6}, {"x": 7}]},
    }));
    client
        .overwrite_payload(
            "c",
            SetPayload::new(nested.clone(), PointsSelector::ids([8u64, 318])),
        )
        .await
        .unwrap();
    model.insert(8, nested.clone());
    model.insert(318, nested);
    assert_model(&client, "c", &model, &vectors, "nested payloads").await;
    // Set with a key that has array steps, as Qdrant's set-payload `key`: into one element,
    // or into every element.
    client
        .set_payload(
            "c",
            SetPayload::new(obj(json!({"w": 0})), PointsSelector::ids([8u64, 318]))
                .at_key("arr[1]"),
        )
        .await
        .unwrap();
    client
        .set_payload(
            "c",
            SetPayload::new(obj(json!({"v": 9})), PointsSelector::ids([8u64, 318]))
                .at_key("deep.arr[]"),
        )
        .await
        .unwrap();
    let expected = obj(json!({
        "arr": [{"x": 1, "y": 2}, {"x": 3, "y": 4, "w": 0}],
        "list": [1, 2, 3],
        "a.b": 1,
        "a": {"b": 2},
        "deep": {"arr": [{"x": 5, "z": 6, "v": 9}, {"x": 7, "v": 9}]},
    }));
    model.insert(8, expected.clone());
    model.insert(318, expected);
    assert_model(
        &client,
        "c",
        &model,
        &vectors,
        "set at keys with array steps",
    )
    .await;
    client
        .delete_payload(
            "c",
            DeletePayload::new(
                ["arr[].x", "list[1]", "\"a.b\"", "deep.arr[0].x"],
                PointsSelector::ids([8u64, 318]),
            ),
        )
        .await
        .unwrap();
    let expected = obj(json!({
        "arr": [{"y": 2}, {"y": 4, "w": 0}],
        "list": [1, 3],
        "a": {"b": 2},
        "deep": {"arr": [{"z": 6, "v": 9}, {"x": 7, "v": 9}]},
    }));
    model.insert(8, expected.clone());
    model.insert(318, expected);
    assert_model(
        &client,
        "c",
        &model,
        &vectors,
        "delete keys with array steps",
    )
    .await;
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. Delete and count by filter

async fn assert_counts(client: &RroClient, name: &str, pts: &[Pt], what: &str) {
    for case in cases() {
        let expected = case.matching(pts).len() as u64;
        let got = client
            .count(name, CountRequest::filter(case.filter.clone()))
            .await
            .unwrap();
        assert_eq!(got, expected, "{what}: count of `{}`", case.name);
    }
    assert_eq!(
        client.count(name, CountRequest::default()).await.unwrap(),
        pts.len() as u64
    );
}

async fn delete_and_count_by_filter(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(8, Distance::Dot, 256))
        .await
        .unwrap();
    let mut pts = rich_points(1100, 8, 21);
    assert_no_point_on_the_circle(&pts);
    // Every case selects some points and leaves some out.
    for case in cases() {
        let n = case.matching(&pts).len();
        assert!(n > 0, "`{}` matches nothing", case.name);
        assert!(
            n < pts.len() || case.name == "empty filter",
            "`{}` matches everything",
            case.name
        );
    }
    fill(&client, "c", &pts, 1000).await;
    assert_counts(&client, "c", &pts, "without payload indexes").await;
    create_indexes(&client, "c", &RICH_INDEXES).await;
    assert_counts(&client, "c", &pts, "with payload indexes").await;

    // Delete by filter: exactly the matching points go.
    let gone_filter = Filter::must([
        Condition::matches("city", "rome"),
        Condition::range("n", Range::default().gte(20)),
    ]);
    let gone: Vec<u64> = pts
        .iter()
        .filter(|p| has_str(&p.payload, "city", "rome") && any_num(&p.payload, "n", |x| x >= 20.0))
        .map(|p| p.id)
        .collect();
    assert!(gone.iter().any(|id| *id >= 1000) && gone.iter().any(|id| *id < 1000));
    client
        .delete_points("c", PointsSelector::filter(gone_filter.clone()))
        .await
        .unwrap();
    pts.retain(|p| !gone.contains(&p.id));
    assert_eq!(client.count_points("c").await.unwrap(), pts.len() as u64);
    assert!(client
        .get_points("c", GetPoints::new(gone.clone()))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        client
            .count("c", CountRequest::filter(gone_filter.clone()))
            .await
            .unwrap(),
        0
    );
    assert_counts(&client, "c", &pts, "after a delete by filter").await;

    // A filter of ids and payload conditions, over both segments.
    let second = Filter::should([
        Condition::has_id([0u64, 5, 1050, 1099, 4242]),
        Condition::is_empty("tags"),
    ]);
    let gone: HashSet<u64> = pts
        .iter()
        .filter(|p| {
            [0, 5, 1050, 1099].contains(&p.id)
                || match at(&p.payload, "tags") {
                    None | Some(Value::Null) => true,
                    Some(Value::Array(a)) => a.is_empty(),
                    _ => false,
                }
        })
        .map(|p| p.id)
        .collect();
    client
        .delete_points("c", PointsSelector::filter(second))
        .await
        .unwrap();
    pts.retain(|p| !gone.contains(&p.id));
    assert_counts(&client, "c", &pts, "after a second delete by filter").await;

    // One that matches nothing deletes nothing.
    client
        .delete_points(
            "c",
            PointsSelector::filter(Filter::must([Condition::matches("city", "atlantis")])),
        )
        .await
        .unwrap();
    assert_eq!(client.count_points("c").await.unwrap(), pts.len() as u64);

    // After the optimizer vacuumed or merged, the same.
    let info = wait_ready(&client, "c").await;
    assert_eq!(info.points_count, pts.len() as u64);
    assert_counts(&client, "c", &pts, "after optimizing").await;
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 3. Scroll

async fn scroll_pages_through_matching_points(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(8, Distance::Dot, 32))
        .await
        .unwrap();
    let mut rng = Rng(31);
    // 46 numeric ids with gaps, and 4 UUIDs, which come after every numeric id.
    let uuids = [
        "00000000-0000-0000-0000-000000000001",
        "5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
        "5c56c793-69f3-4fbf-87e6-c4bf54c28c27",
        "f0000000-0000-4000-8000-000000000000",
    ];
    let mut pts: Vec<(PointId, Vec<f32>, Payload)> = (0..50u64)
        .map(|i| {
            let id = match i.checked_sub(46) {
                None => num(i * 3 + i % 2),
                Some(k) => uuids[k as usize].parse().unwrap(),
            };
            let payload = obj(json!({
                "grp": i % 3,
                "a": i,
                "b": format!("b{i}"),
                "meta": {"x": i * 2, "y": "why"},
            }));
            (id, rng.vector(8), payload)
        })
        .collect();
    // Inserted out of id order; 40 sealed and indexed, 10 in the write segment.
    pts.sort_by_key(|(_, _, p)| (p["a"].as_u64().unwrap() * 7919) % 257);
    let upsert_some = |some: &[(PointId, Vec<f32>, Payload)]| {
        let points = some
            .iter()
            .map(|(id, v, p)| PointStruct::new(*id, v.clone()).with_payload(p.clone()))
            .collect();
        client.upsert_points("c", points)
    };
    upsert_some(&pts[..40]).await.unwrap();
    let info = wait_ready(&client, "c").await;
    assert!(info.indexed_vectors_count > 0, "{info:?}");
    upsert_some(&pts[40..]).await.unwrap();
    assert!(client.collection_info("c").await.unwrap().segments_count >= 2);
    pts.sort_by_key(|(id, _, _)| *id);
    assert_eq!(pts[46].0, uuids[0].parse().unwrap());
    let by_id: HashMap<PointId, (&Vec<f32>, &Payload)> =
        pts.iter().map(|(id, v, p)| (*id, (v, p))).collect();

    let page_ids = |page: &[Record]| -> Vec<PointId> { page.iter().map(|r| r.id).collect() };
    let check_pages = |pages: &[Vec<Record>], expected: &[PointId], what: &str| {
        let all: Vec<PointId> = pages.iter().flat_map(|p| page_ids(p)).collect();
        assert_eq!(all, expected, "{what}");
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        let mut want: Vec<usize> = expected.chunks(7).map(<[PointId]>::len).collect();
        if want.is_empty() {
            want.push(0);
        }
        assert_eq!(sizes, want, "{what}: page sizes");
    };

    let all_ids: Vec<PointId> = pts.iter().map(|(id, _, _)| *id).collect();
    let pages = scroll_all(&client, "c", ScrollRequest::new(7)).await;
    check_pages(&pages, &all_ids, "every point");
    // Payloads and no vectors by default.
    for record in pages.iter().flatten() {
        assert_eq!(record.payload.as_ref(), Some(by_id[&record.id].1));
        assert_eq!(record.vector, None);
        assert_eq!(record.order_value, None);
    }

    type Check = Box<dyn Fn(&PointId, &Payload) -> bool>;
    let listed: Vec<PointId> = [num(4), num(6), num(7), num(100), num(130)]
        .into_iter()
        .chain([uuids[2].parse().unwrap()])
        .collect();
    let in_list = listed.clone();
    let filters: Vec<(Filter, Check)> = vec![
        (
            Filter::must([Condition::matches("grp", 1)]),
            Box::new(|_, p| at(p, "grp") == Some(&json!(1))),
        ),
        (
            Filter::must([Condition::range("a", Range::default().gte(10))])
                .with_must_not([Condition::matches("grp", 0)]),
            Box::new(|_, p| any_num(p, "a", |x| x >= 10.0) && at(p, "grp") != Some(&json!(0))),
        ),
        (
            Filter::must([Condition::HasId(listed)]),
            Box::new(move |id, _| in_list.contains(id)),
        ),
        (
            Filter::must([Condition::matches("grp", 7)]),
            Box::new(|_, _| false),
        ),
    ];
    for (filter, check) in &filters {
        let expected: Vec<PointId> = pts
            .iter()
            .filter(|(id, _, p)| check(id, p))
            .map(|(id, _, _)| *id)
            .collect();
        let pages = scroll_all(&client, "c", ScrollRequest::new(7).filter(filter.clone())).await;
        check_pages(&pages, &expected, &format!("{filter:?}"));
    }

    // An offset between ids starts at the next one.
    let page = client
        .scroll("c", ScrollRequest::new(3).offset(5u64))
        .await
        .unwrap();
    assert_eq!(page_ids(&page.points), [num(6), num(10), num(12)]);
    assert_eq!(page.next_page_offset, Some(num(16)));
    // Past the last numeric id come the UUIDs, and past the last UUID nothing.
    let page = client
        .scroll("c", ScrollRequest::new(3).offset(1000u64))
        .await
        .unwrap();
    assert_eq!(page_ids(&page.points), all_ids[46..49]);
    assert_eq!(page.next_page_offset, Some(all_ids[49]));
    let past: PointId = "ffffffff-ffff-ffff-ffff-ffffffffffff".parse().unwrap();
    let page = client
        .scroll("c", ScrollRequest::new(3).offset(past))
        .await
        .unwrap();
    assert!(page.points.is_empty());
    assert_eq!(page.next_page_offset, None);
    // Exactly one page's worth: no next page.
    let page = client
        .scroll("c", ScrollRequest::new(3).offset(all_ids[47]))
        .await
        .unwrap();
    assert_eq!(page_ids(&page.points), all_ids[47..]);
    assert_eq!(page.next_page_offset, None);
    // The default page size is 10.
    let page = client.scroll("c", ScrollRequest::default()).await.unwrap();
    assert_eq!(page_ids(&page.points), all_ids[..10]);
    assert_eq!(page.next_page_offset, Some(all_ids[10]));

    // Payload selectors and vectors.
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(50)
                .with_payload(WithPayloadSelector::Include(vec![
                    "a".into(),
                    "meta.x".into(),
                    "missing".into(),
                ]))
                .with_vector(true),
        )
        .await
        .unwrap();
    assert_eq!(page.points.len(), 50);
    for record in &page.points {
        let (v, p) = by_id[&record.id];
        assert_eq!(
            record.payload,
            Some(obj(json!({"a": p["a"], "meta": {"x": p["meta"]["x"]}})))
        );
        assert_eq!(record.plain_vector(), Some(v.as_slice()));
    }
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(50).with_payload(WithPayloadSelector::Exclude(vec![
                "b".into(),
                "meta.y".into(),
            ])),
        )
        .await
        .unwrap();
    for record in &page.points {
        let p = by_id[&record.id].1;
        assert_eq!(
            record.payload,
            Some(obj(
                json!({"grp": p["grp"], "a": p["a"], "meta": {"x": p["meta"]["x"]}})
            ))
        );
        assert_eq!(record.vector, None);
    }
    let page = client
        .scroll("c", ScrollRequest::new(5).with_payload(false))
        .await
        .unwrap();
    assert!(page.points.iter().all(|r| r.payload.is_none()));

    let message = bad_request(client.scroll("c", ScrollRequest::new(0)).await, "limit 0");
    assert!(message.contains("limit"), "{message}");

    // Selector keys with array steps and quoted names select what Qdrant's JSON paths select.
    let nested = obj(json!({
        "arr": [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
        "a.b": 1,
        "a": {"b": 2, "c": 3},
    }));
    client
        .upsert_points(
            "c",
            vec![PointStruct::new(1000u64, vec![0.5; 8]).with_payload(nested.clone())],
        )
        .await
        .unwrap();
    let selected = |selector: WithPayloadSelector| {
        let request = ScrollRequest::new(1).offset(1000u64).with_payload(selector);
        async {
            let page = client.scroll("c", request).await.unwrap();
            assert_eq!(page.points[0].id, num(1000));
            page.points[0].payload.clone().unwrap()
        }
    };
    assert_eq!(
        selected(WithPayloadSelector::Include(vec!["a.c".into()])).await,
        obj(json!({"a": {"c": 3}}))
    );
    assert_eq!(
        selected(WithPayloadSelector::Include(vec!["arr[].y".into()])).await,
        obj(json!({"arr": [{"y": 2}, {"y": 4}]})),
        "include `arr[].y`"
    );
    assert_eq!(
        selected(WithPayloadSelector::Exclude(vec!["arr[].x".into()])).await,
        obj(json!({"arr": [{"y": 2}, {"y": 4}], "a.b": 1, "a": {"b": 2, "c": 3}})),
        "exclude `arr[].x`"
    );
    assert_eq!(
        selected(WithPayloadSelector::Include(vec!["\"a.b\"".into()])).await,
        obj(json!({"a.b": 1})),
        "include the quoted key `\"a.b\"`"
    );
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 4. order_by

/// 2024-03-01T00:00:00Z in seconds since the epoch.
const MARCH_2024: i64 = 1_709_251_200;

async fn scroll_ordered_by_indexed_fields(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(4, Distance::Dot, 64))
        .await
        .unwrap();
    let mut rng = Rng(41);
    let mut pts: Vec<Pt> = (0..100u64)
        .map(|i| {
            let rank = (i * 7 % 100) as i64;
            Pt {
                id: i,
                vector: rng.vector(4),
                payload: obj(json!({
                    "rank": rank,
                    "score": rank as f64 * 0.5 - 7.25,
                    "parity": if rank % 2 == 0 { "even" } else { "odd" },
                    "when": format!("2024-03-01T{:02}:{:02}:00Z", rank / 60, rank % 60),
                })),
            }
        })
        .collect();
    // Points without a rank, with one that is not an integer, and one that ties with id 50.
    for i in 100..110u64 {
        pts.push(Pt {
            id: i,
            vector: rng.vector(4),
            payload: obj(json!({"parity": "none"})),
        });
    }
    pts.push(Pt {
        id: 110,
        vector: rng.vector(4),
        payload: obj(json!({"rank": "high", "score": "high"})),
    });
    pts.push(Pt {
        id: 111,
        vector: rng.vector(4),
        payload: obj(json!({"rank": 50, "score": 17.75, "parity": "even"})),
    });
    assert_eq!(pts[50].payload["rank"], json!(50));
    // Indexes exist before the sealed segment does and when the write segment fills.
    create_indexes(
        &client,
        "c",
        &[
            ("rank", PayloadSchemaType::Integer),
            ("score", PayloadSchemaType::Float),
            ("parity", PayloadSchemaType::Keyword),
        ],
    )
    .await;
    pts.sort_by_key(|p| (p.id * 31) % 113);
    fill(&client, "c", &pts, 80).await;
    create_indexes(&client, "c", &[("when", PayloadSchemaType::Datetime)]).await;

    let ranked: Vec<(i64, u64)> = {
        let mut v: Vec<(i64, u64)> = pts
            .iter()
            .filter_map(|p| Some((p.payload.get("rank")?.as_i64()?, p.id)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ranked.len(), 101);
    let asc_from = |start: Option<i64>, limit: usize, keep: &dyn Fn(u64) -> bool| {
        ranked
            .iter()
            .filter(|(r, id)| start.is_none_or(|s| *r >= s) && keep(*id))
            .take(limit)
            .copied()
            .collect::<Vec<_>>()
    };
    let desc_from = |start: Option<i64>, limit: usize| {
        let mut v: Vec<(i64, u64)> = ranked
            .iter()
            .filter(|(r, _)| start.is_none_or(|s| *r <= s))
            .copied()
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        v.truncate(limit);
        v
    };
    let got = |page: &rro::models::ScrollResult| -> Vec<(i64, u64)> {
        assert_eq!(page.next_page_offset, None);
        page.points
            .iter()
            .map(|r| {
                let PointId::Num(id) = r.id else {
                    unreachable!()
                };
                match r.order_value {
                    Some(OrderValue::Int(v)) => (v, id),
                    other => panic!("order value of {id}: {other:?}"),
                }
            })
            .collect()
    };

    let all = client
        .scroll("c", ScrollRequest::new(1000).order_by("rank"))
        .await
        .unwrap();
    assert_eq!(got(&all), ranked, "all ranked points, ascending");
    // Payloads come with the records by default.
    for r in &all.points {
        let PointId::Num(id) = r.id else {
            unreachable!()
        };
        let p = pts.iter().find(|p| p.id == id).unwrap();
        assert_eq!(r.payload.as_ref(), Some(&p.payload));
    }
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(12)
                .order_by(OrderBy::new("rank", Direction::Asc).start_from(StartFrom::Integer(42))),
        )
        .await
        .unwrap();
    assert_eq!(got(&page), asc_from(Some(42), 12, &|_| true), "asc from 42");
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(12)
                .order_by(OrderBy::new("rank", Direction::Desc).start_from(StartFrom::Integer(55))),
        )
        .await
        .unwrap();
    assert_eq!(
        got(&page),
        desc_from(Some(55), 12),
        "desc from 55 (ties by id)"
    );
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(5).order_by(OrderBy::new("rank", Direction::Desc)),
        )
        .await
        .unwrap();
    assert_eq!(got(&page), desc_from(None, 5), "desc");
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(10)
                .order_by(OrderBy::new("rank", Direction::Asc).start_from(StartFrom::Integer(95))),
        )
        .await
        .unwrap();
    assert_eq!(
        got(&page),
        asc_from(Some(95), 10, &|_| true),
        "asc, the last few"
    );
    // With a filter.
    let even: HashSet<u64> = pts
        .iter()
        .filter(|p| p.payload.get("parity") == Some(&json!("even")))
        .map(|p| p.id)
        .collect();
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(6)
                .filter(Filter::must([Condition::matches("parity", "even")]))
                .order_by(OrderBy::new("rank", Direction::Asc).start_from(StartFrom::Integer(10))),
        )
        .await
        .unwrap();
    assert_eq!(
        got(&page),
        asc_from(Some(10), 6, &|id| even.contains(&id)),
        "filtered"
    );

    // A float index gives float order values.
    let mut scores: Vec<(f64, u64)> = pts
        .iter()
        .filter_map(|p| Some((p.payload.get("score")?.as_f64()?, p.id)))
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(8)
                .order_by(OrderBy::new("score", Direction::Asc).start_from(StartFrom::Float(0.0))),
        )
        .await
        .unwrap();
    let want: Vec<(f64, u64)> = scores
        .iter()
        .filter(|s| s.0 >= 0.0)
        .take(8)
        .copied()
        .collect();
    let have: Vec<(f64, u64)> = page
        .points
        .iter()
        .map(|r| match (r.order_value, r.id) {
            (Some(OrderValue::Float(x)), PointId::Num(id)) => (x, id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(have, want, "float order");
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(4)
                .order_by(OrderBy::new("score", Direction::Desc).start_from(StartFrom::Integer(3))),
        )
        .await
        .unwrap();
    let mut want: Vec<(f64, u64)> = scores.iter().filter(|s| s.0 <= 3.0).copied().collect();
    want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    want.truncate(4);
    let have: Vec<(f64, u64)> = page
        .points
        .iter()
        .map(|r| match (r.order_value, r.id) {
            (Some(OrderValue::Float(x)), PointId::Num(id)) => (x, id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(have, want, "float order, descending from an integer");

    // A datetime index orders by microseconds since the epoch.
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(3).order_by(OrderBy::new("when", Direction::Desc)),
        )
        .await
        .unwrap();
    let want: Vec<(i64, u64)> = desc_from(None, 3)
        .into_iter()
        .map(|(rank, id)| ((MARCH_2024 + rank * 60) * 1_000_000, id))
        .collect();
    // Point 111 (rank 50) has no `when`; the top three are not affected.
    assert_eq!(got(&page), want, "datetime order");
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(2).order_by(
                OrderBy::new("when", Direction::Asc)
                    .start_from(StartFrom::Datetime("2024-03-01T00:30:00Z".into())),
            ),
        )
        .await
        .unwrap();
    let want: Vec<(i64, u64)> = asc_from(Some(30), 2, &|id| id != 111)
        .into_iter()
        .map(|(rank, id)| ((MARCH_2024 + rank * 60) * 1_000_000, id))
        .collect();
    assert_eq!(got(&page), want, "datetime order from a date-time");

    // Writes move points out of the sealed segment; their old index entries no longer count.
    for (id, rank) in [(3u64, 1000), (5, 1001), (60, 1002), (105, 1003)] {
        client
            .set_payload(
                "c",
                SetPayload::new(obj(json!({"rank": rank})), PointsSelector::ids([id])),
            )
            .await
            .unwrap();
        let p = pts.iter_mut().find(|p| p.id == id).unwrap();
        p.payload.insert("rank".into(), json!(rank));
    }
    client
        .set_payload(
            "c",
            SetPayload::new(
                obj(json!({"rank": -1})),
                PointsSelector::filter(Filter::must([Condition::range(
                    "rank",
                    Range::default().gte(90).lt(1000),
                )])),
            ),
        )
        .await
        .unwrap();
    for p in &mut pts {
        if p.payload
            .get("rank")
            .and_then(Value::as_i64)
            .is_some_and(|r| (90..1000).contains(&r))
        {
            p.payload.insert("rank".into(), json!(-1));
        }
    }
    client
        .delete_points("c", PointsSelector::ids([7u64, 8]))
        .await
        .unwrap();
    pts.retain(|p| p.id != 7 && p.id != 8);
    let mut now: Vec<(i64, u64)> = pts
        .iter()
        .filter_map(|p| Some((p.payload.get("rank")?.as_i64()?, p.id)))
        .collect();
    now.sort();
    assert_eq!(now.len(), 100);
    let page = client
        .scroll("c", ScrollRequest::new(1000).order_by("rank"))
        .await
        .unwrap();
    assert_eq!(got(&page), now, "ascending, after writes");
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(6).order_by(OrderBy::new("rank", Direction::Desc)),
        )
        .await
        .unwrap();
    let mut desc = now.clone();
    desc.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(got(&page), desc[..6], "descending, after writes");
    let page = client
        .scroll(
            "c",
            ScrollRequest::new(12)
                .order_by(OrderBy::new("rank", Direction::Asc).start_from(StartFrom::Integer(-1))),
        )
        .await
        .unwrap();
    assert_eq!(got(&page), now[..12], "ties at -1 by id, after writes");

    // Keys without an index of a kind that orders are refused.
    for key in ["missing", "parity"] {
        let message = bad_request(
            client
                .scroll("c", ScrollRequest::new(5).order_by(key))
                .await,
            &format!("order_by {key}"),
        );
        assert!(message.contains(key), "{message}");
    }
    bad_request(
        client
            .scroll(
                "c",
                ScrollRequest::new(5).order_by(
                    OrderBy::new("rank", Direction::Asc)
                        .start_from(StartFrom::Datetime("garbage".into())),
                ),
            )
            .await,
        "start_from garbage",
    );
    // Dropping the index makes the key unusable again.
    client.delete_field_index("c", "rank").await.unwrap();
    bad_request(
        client
            .scroll("c", ScrollRequest::new(5).order_by("rank"))
            .await,
        "order_by a dropped index",
    );
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 5. Field indexes

/// Results that must not depend on payload indexes: exact filtered searches, counts and
/// scrolled ids for a selection of cases.
async fn probe(client: &RroClient, name: &str, queries: &[Vec<f32>]) -> Vec<String> {
    let mut out = Vec::new();
    for case in cases() {
        let count = client
            .count(name, CountRequest::filter(case.filter.clone()))
            .await
            .unwrap();
        let pages = scroll_all(
            client,
            name,
            ScrollRequest::new(250)
                .filter(case.filter.clone())
                .with_payload(false),
        )
        .await;
        let ids: Vec<PointId> = pages.iter().flatten().map(|r| r.id).collect();
        out.push(format!("{}: count {count}, ids {ids:?}", case.name));
        for q in queries {
            let hits = client
                .search(
                    name,
                    SearchRequest::new(q.clone(), 10)
                        .exact(true)
                        .filter(case.filter.clone()),
                )
                .await
                .unwrap();
            out.push(format!("{}: {hits:?}", case.name));
        }
    }
    out
}

/// Approximate filtered searches (Cosine) return only matching points, as many as asked for
/// when there are enough, best first, and at least 90% of the true best ten overall.
async fn assert_filtered_recall(
    client: &RroClient,
    name: &str,
    pts: &[Pt],
    queries: &[Vec<f32>],
    what: &str,
) {
    let (mut found, mut wanted) = (0, 0);
    for case in cases() {
        let matching = case.matching(pts);
        let allowed: HashSet<PointId> = matching.iter().map(|p| num(p.id)).collect();
        let (mut case_found, mut case_wanted) = (0, 0);
        for q in queries {
            let hits = client
                .search(
                    name,
                    SearchRequest::new(q.clone(), 10)
                        .hnsw_ef(128)
                        .filter(case.filter.clone()),
                )
                .await
                .unwrap();
            assert_eq!(
                hits.len(),
                matching.len().min(10),
                "{what}, `{}`: approximate search returned too few hits",
                case.name
            );
            let qn = normalized(q);
            let truth = ranked(matching.iter().copied(), |v| dot(&qn, &normalized(v)));
            let best: HashSet<PointId> = truth.iter().take(10).map(|(_, id)| num(*id)).collect();
            for hit in &hits {
                assert!(
                    allowed.contains(&hit.id),
                    "{what}, `{}`: {:?} does not match",
                    case.name,
                    hit.id
                );
            }
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
            case_found += hits.iter().filter(|h| best.contains(&h.id)).count();
            case_wanted += best.len();
        }
        found += case_found;
        wanted += case_wanted;
    }
    assert!(
        found as f64 >= 0.9 * wanted as f64,
        "{what}: filtered recall {found}/{wanted}"
    );
}

async fn field_indexes_report_and_do_not_change_results(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(8, Distance::Cosine, 256))
        .await
        .unwrap();
    let mut pts = rich_points(900, 8, 51);
    fill(&client, "c", &pts, 800).await;
    let mut rng = Rng(52);
    let queries: Vec<Vec<f32>> = (0..2).map(|_| rng.vector(8)).collect();
    let before = probe(&client, "c", &queries).await;
    assert!(client
        .collection_info("c")
        .await
        .unwrap()
        .payload_schema
        .is_empty());

    create_indexes(&client, "c", &RICH_INDEXES).await;
    let info = client.collection_info("c").await.unwrap();
    assert_eq!(info.payload_schema, expected_schema(&pts, &RICH_INDEXES));
    for (key, kind) in RICH_INDEXES {
        let entry = info.payload_schema[key];
        assert_eq!(entry.data_type, kind, "{key}");
        assert!(entry.points > 0, "{key}: {entry:?}");
    }
    // Not every point has a value of each kind: the counts are not just the point count.
    assert!(info.payload_schema["when"].points < pts.len() as u64);
    assert!(info.payload_schema["n"].points < pts.len() as u64);
    let with = probe(&client, "c", &queries).await;
    for (a, b) in before.iter().zip(&with) {
        assert_eq!(a, b, "with payload indexes");
    }

    // Filtered searches through the graph find points that match, and mostly the right ones:
    // walking the whole graph, and (once the optimizer built them) per-value sub-graphs.
    let more: Vec<Vec<f32>> = (0..6).map(|_| rng.vector(8)).collect();
    assert_filtered_recall(&client, "c", &pts, &more, "whole graph").await;
    wait_ready(&client, "c").await;
    assert_filtered_recall(&client, "c", &pts, &more, "with sub-graphs").await;
    assert_eq!(probe(&client, "c", &queries).await, with, "with sub-graphs");

    // Points written after the index exist are counted and found too.
    let extra = rich_points(960, 8, 53).split_off(900);
    upsert(&client, "c", &extra).await;
    pts.extend(extra);
    let info = client.collection_info("c").await.unwrap();
    assert_eq!(info.payload_schema, expected_schema(&pts, &RICH_INDEXES));
    for case in cases() {
        assert_eq!(
            client
                .count("c", CountRequest::filter(case.filter.clone()))
                .await
                .unwrap(),
            case.matching(&pts).len() as u64,
            "{}",
            case.name
        );
    }
    let after_upsert = probe(&client, "c", &queries).await;

    // Dropping an index removes it from the schema and changes no result.
    client.delete_field_index("c", "city").await.unwrap();
    client
        .delete_field_index("c", "never-indexed")
        .await
        .unwrap();
    let rest: Vec<(&str, PayloadSchemaType)> = RICH_INDEXES
        .iter()
        .copied()
        .filter(|(k, _)| *k != "city")
        .collect();
    let info = client.collection_info("c").await.unwrap();
    assert!(!info.payload_schema.contains_key("city"));
    assert_eq!(info.payload_schema, expected_schema(&pts, &rest));
    assert_eq!(probe(&client, "c", &queries).await, after_upsert);

    // Re-indexing a key as another kind replaces the index.
    client
        .create_field_index("c", CreateFieldIndex::new("n", PayloadSchemaType::Float))
        .await
        .unwrap();
    let info = client.collection_info("c").await.unwrap();
    let n = info.payload_schema["n"];
    assert_eq!(n.data_type, PayloadSchemaType::Float);
    assert_eq!(
        n.points,
        pts.iter()
            .filter(|p| flat(&p.payload, "n").iter().any(|v| v.is_number()))
            .count() as u64
    );
    assert_eq!(probe(&client, "c", &queries).await, after_upsert);

    // Malformed keys are refused and leave the schema alone.
    for key in ["a..b", "", "a[x]", "a b", ".a"] {
        bad_request(
            client
                .create_field_index("c", CreateFieldIndex::new(key, PayloadSchemaType::Keyword))
                .await,
            &format!("index key {key:?}"),
        );
    }
    assert_eq!(
        client.collection_info("c").await.unwrap().payload_schema,
        info.payload_schema
    );
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 6. Filtered search

async fn filtered_search_is_exact_brute_force(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("cos", indexed(8, Distance::Cosine, 256))
        .await
        .unwrap();
    client
        .create_collection("dot", indexed(8, Distance::Dot, 256))
        .await
        .unwrap();
    let pts = rich_points(1000, 8, 61);
    assert_no_point_on_the_circle(&pts);
    fill(&client, "cos", &pts, 900).await;
    fill(&client, "dot", &pts, 900).await;
    // Some keys indexed, so that planning uses indexes for some conditions and not others.
    let some = [
        ("city", PayloadSchemaType::Keyword),
        ("n", PayloadSchemaType::Integer),
        ("tags", PayloadSchemaType::Keyword),
    ];
    create_indexes(&client, "cos", &some).await;
    create_indexes(&client, "dot", &some).await;

    let mut rng = Rng(62);
    let queries: Vec<Vec<f32>> = (0..3).map(|_| rng.vector(8)).collect();
    for (name, cosine) in [("cos", true), ("dot", false)] {
        for case in cases() {
            let matching = case.matching(&pts);
            for (qi, q) in queries.iter().enumerate() {
                let qn = normalized(q);
                let truth = if cosine {
                    ranked(matching.iter().copied(), |v| dot(&qn, &normalized(v)))
                } else {
                    ranked(matching.iter().copied(), |v| dot(q, v))
                };
                let hits = client
                    .search(
                        name,
                        SearchRequest::new(q.clone(), 10)
                            .exact(true)
                            .filter(case.filter.clone()),
                    )
                    .await
                    .unwrap();
                let what = format!("{name} `{}` query {qi}", case.name);
                assert_ranking(&hits, &truth, 0, 10, &what);
                if qi == 0 {
                    let hits = client
                        .search(
                            name,
                            SearchRequest::new(q.clone(), 5)
                                .exact(true)
                                .offset(3)
                                .filter(case.filter.clone()),
                        )
                        .await
                        .unwrap();
                    assert_ranking(&hits, &truth, 3, 5, &format!("{what}, offset 3"));
                }
            }
        }
        // A limit above the number of matches returns them all.
        let case = cases().into_iter().find(|c| c.name == "has_id").unwrap();
        let matching = case.matching(&pts);
        let hits = client
            .search(
                name,
                SearchRequest::new(queries[0].clone(), 50)
                    .exact(true)
                    .filter(case.filter.clone()),
            )
            .await
            .unwrap();
        let mut ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
        ids.sort();
        let want: Vec<PointId> = matching.iter().map(|p| num(p.id)).collect();
        assert_eq!(ids, want, "{name}: every match");
    }

    // Payload selectors and vectors on hits.
    let by_id: HashMap<PointId, &Pt> = pts.iter().map(|p| (num(p.id), p)).collect();
    let filter = Filter::must([Condition::match_any("city", ["oslo", "lima"])]);
    let search = |selector: Option<WithPayloadSelector>, vector: bool| {
        let mut request = SearchRequest::new(queries[1].clone(), 6)
            .exact(true)
            .filter(filter.clone());
        request.with_payload = selector;
        request.with_vector = Some(vector.into());
        client.search("cos", request)
    };
    let plain = search(None, false).await.unwrap();
    assert_eq!(plain.len(), 6);
    assert!(plain
        .iter()
        .all(|h| h.payload.is_none() && h.vector.is_none()));
    let off = search(Some(false.into()), false).await.unwrap();
    assert_eq!(off, plain);
    let full = search(Some(true.into()), true).await.unwrap();
    for (hit, bare) in full.iter().zip(&plain) {
        assert_eq!(hit.id, bare.id);
        assert_eq!(hit.score, bare.score);
        let p = by_id[&hit.id];
        assert_eq!(hit.payload.as_ref(), Some(&p.payload));
        let stored = hit.plain_vector().expect("vector");
        let want = normalized(&p.vector);
        assert!(
            stored.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5),
            "Cosine vectors come back normalised: {stored:?} vs {want:?}"
        );
    }
    let include = search(
        Some(WithPayloadSelector::Include(vec![
            "city".into(),
            "meta.level".into(),
        ])),
        false,
    )
    .await
    .unwrap();
    for hit in &include {
        let p = &by_id[&hit.id].payload;
        assert_eq!(
            hit.payload,
            Some(obj(
                json!({"city": p["city"], "meta": {"level": p["meta"]["level"]}})
            ))
        );
        assert!(hit.vector.is_none());
    }
    let exclude = search(
        Some(WithPayloadSelector::Exclude(vec![
            "tags".into(),
            "items".into(),
            "meta.owner".into(),
            "nothing.here".into(),
        ])),
        false,
    )
    .await
    .unwrap();
    for hit in &exclude {
        let mut want = by_id[&hit.id].payload.clone();
        want.remove("tags");
        want.remove("items");
        want["meta"].as_object_mut().unwrap().remove("owner");
        assert_eq!(hit.payload.as_ref(), Some(&want));
    }
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 7. Recommend

async fn recommend_averages_examples_and_leaves_them_out(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(8, Distance::Dot, 256))
        .await
        .unwrap();
    let pts = rich_points(700, 8, 71);
    fill(&client, "c", &pts, 600).await;
    let vec_of = |id: u64| pts[id as usize].vector.as_slice();
    let negative_vector = Rng(72).vector(8);

    let positive = [3u64, 250, 650];
    let examples: HashSet<u64> = [3, 250, 650, 10].into();
    let query = recommend_query(
        &[vec_of(3), vec_of(250), vec_of(650)],
        &[vec_of(10), &negative_vector],
    );
    let request = |limit: usize| RecommendRequest {
        params: exact(),
        ..RecommendRequest::new(positive, limit).negative([
            RecommendExample::Id(num(10)),
            RecommendExample::Vector(negative_vector.clone()),
        ])
    };
    let others: Vec<&Pt> = pts.iter().filter(|p| !examples.contains(&p.id)).collect();
    let truth = ranked(others.iter().copied(), |v| dot(&query, v));
    let hits = client.recommend("c", request(10)).await.unwrap();
    assert_ranking(&hits, &truth, 0, 10, "recommend");
    // The same as a search for the average vector without the examples.
    let search = client
        .search(
            "c",
            SearchRequest::new(query.clone(), 10)
                .exact(true)
                .filter(Filter::must_not([Condition::has_id(
                    examples.iter().copied(),
                )])),
        )
        .await
        .unwrap();
    assert_eq!(hits, search);
    // Examples are never among the results, however many are asked for.
    let all = client.recommend("c", request(1000)).await.unwrap();
    assert_eq!(all.len(), pts.len() - examples.len());
    assert!(all
        .iter()
        .all(|h| !matches!(h.id, PointId::Num(id) if examples.contains(&id))));
    let approx = client
        .recommend("c", RecommendRequest::new(positive, 30).negative([10u64]))
        .await
        .unwrap();
    assert_eq!(approx.len(), 30);
    assert!(approx
        .iter()
        .all(|h| !matches!(h.id, PointId::Num(id) if examples.contains(&id))));
    assert!(approx.windows(2).all(|w| w[0].score >= w[1].score));

    // With a filter (and payloads on request).
    let paris = Filter::must([Condition::matches("city", "paris")]);
    let hits = client
        .recommend(
            "c",
            RecommendRequest {
                params: exact(),
                ..RecommendRequest::new([7u64, 8], 5)
                    .negative([9u64])
                    .filter(paris.clone())
                    .with_payload(true)
            },
        )
        .await
        .unwrap();
    let query = recommend_query(&[vec_of(7), vec_of(8)], &[vec_of(9)]);
    let truth = ranked(
        pts.iter()
            .filter(|p| ![7, 8, 9].contains(&p.id) && has_str(&p.payload, "city", "paris")),
        |v| dot(&query, v),
    );
    assert_ranking(&hits, &truth, 0, 5, "recommend with a filter");
    for hit in &hits {
        let PointId::Num(id) = hit.id else {
            unreachable!()
        };
        assert_eq!(hit.payload.as_ref(), Some(&pts[id as usize].payload));
    }

    // Only positive examples, one of them a vector: the query is their average.
    let v = Rng(73).vector(8);
    let hits = client
        .recommend(
            "c",
            RecommendRequest {
                params: exact(),
                ..RecommendRequest::new(
                    [
                        RecommendExample::Id(num(20)),
                        RecommendExample::Vector(v.clone()),
                    ],
                    7,
                )
            },
        )
        .await
        .unwrap();
    let query = recommend_query(&[vec_of(20), &v], &[]);
    let truth = ranked(pts.iter().filter(|p| p.id != 20), |x| dot(&query, x));
    assert_ranking(&hits, &truth, 0, 7, "positive only");

    // Refused: unknown example ids, no positive example, the best_score strategy.
    let message = bad_request(
        client
            .recommend("c", RecommendRequest::new([1u64, 99_999], 5))
            .await,
        "unknown positive id",
    );
    assert!(message.contains("99999"), "{message}");
    bad_request(
        client
            .recommend("c", RecommendRequest::new([1u64], 5).negative([88_888u64]))
            .await,
        "unknown negative id",
    );
    bad_request(
        client
            .recommend(
                "c",
                RecommendRequest::new(Vec::<u64>::new(), 5).negative([1u64]),
            )
            .await,
        "empty positive",
    );
    match client
        .recommend(
            "c",
            RecommendRequest {
                strategy: Some(RecommendStrategy::BestScore),
                ..RecommendRequest::new([1u64], 5)
            },
        )
        .await
    {
        Err(RroError::Unsupported { field, .. }) => assert_eq!(field, "strategy"),
        other => panic!("best_score: expected Unsupported, got {other:?}"),
    }
    // `lookup_from` names the collection the example ids live in; until rro implements it,
    // it is refused, never answered from this collection (which has points 1 and 2).
    for lookup in ["nope", "c"] {
        match client
            .recommend(
                "c",
                RecommendRequest {
                    lookup_from: Some(serde_json::json!({"collection": lookup})),
                    ..RecommendRequest::new([1u64, 2], 5)
                },
            )
            .await
        {
            Err(RroError::Unsupported { field, .. }) => assert_eq!(field, "lookup_from"),
            other => panic!("lookup_from {lookup}: expected Unsupported, got {other:?}"),
        }
    }
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 8. Search groups

fn group_payload(i: u64) -> Payload {
    let mut p = Payload::new();
    match i % 8 {
        0 => {}
        1 => drop(p.insert(
            "group".into(),
            json!([format!("g{}", i % 5), format!("g{}", (i + 2) % 5)]),
        )),
        2 => {
            p.insert("group".into(), Value::Null);
        }
        _ => {
            p.insert("group".into(), json!(format!("g{}", i % 5)));
        }
    }
    if i.is_multiple_of(37) {
        p.insert("bucket".into(), json!(2.5));
    } else {
        match i % 6 {
            0 => {}
            1 => {
                p.insert("bucket".into(), json!([i % 4, (i + 1) % 4]));
            }
            _ => {
                p.insert("bucket".into(), json!(i % 4));
            }
        }
    }
    p
}

/// The group keys of a payload: strings and integers at `key`, array elements one level deep.
fn group_keys(p: &Payload, key: &str) -> Vec<GroupId> {
    let mut out = Vec::new();
    for v in flat(p, key) {
        let id = match v {
            Value::String(s) => Some(GroupId::Str(s.clone())),
            Value::Number(n) => n.as_i64().map(GroupId::Int),
            _ => None,
        };
        if let Some(id) = id {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// Group `ranking` (best first) by `key`: groups in the order of their best hit.
fn expected_groups(
    ranking: &[(f32, u64)],
    payloads: &HashMap<u64, Payload>,
    key: &str,
    size: usize,
    limit: usize,
) -> Vec<(GroupId, Vec<u64>)> {
    let mut groups: Vec<(GroupId, Vec<u64>)> = Vec::new();
    for (_, id) in ranking {
        for g in group_keys(&payloads[id], key) {
            match groups.iter_mut().find(|(k, _)| *k == g) {
                Some((_, hits)) if hits.len() < size => hits.push(*id),
                Some(_) => {}
                None => groups.push((g, vec![*id])),
            }
        }
    }
    groups.truncate(limit);
    groups
}

fn group_shape(result: &rro::models::GroupsResult) -> Vec<(GroupId, Vec<u64>)> {
    result
        .groups
        .iter()
        .map(|g| {
            let ids = g
                .hits
                .iter()
                .map(|h| match h.id {
                    PointId::Num(n) => n,
                    PointId::Uuid(_) => panic!("numeric ids only"),
                })
                .collect();
            (g.id.clone(), ids)
        })
        .collect()
}

async fn search_groups_by_keyword_and_integer(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", indexed(8, Distance::Dot, 256))
        .await
        .unwrap();
    let mut rng = Rng(81);
    let q = rng.vector(8);
    let mut pts: Vec<Pt> = (0..600u64)
        .map(|i| Pt {
            id: i,
            vector: rng.vector(8),
            payload: group_payload(i),
        })
        .collect();
    // The best point of all has no group; the best with one is in two groups of each key.
    pts.push(Pt {
        id: 5000,
        vector: q.iter().map(|x| x * 4.0).collect(),
        payload: obj(json!({"other": 1})),
    });
    pts.push(Pt {
        id: 5001,
        vector: q.iter().map(|x| x * 3.0).collect(),
        payload: obj(json!({"group": ["g1", "g3"], "bucket": [7, 8]})),
    });
    fill(&client, "c", &pts, 550).await;
    let payloads: HashMap<u64, Payload> = pts.iter().map(|p| (p.id, p.payload.clone())).collect();
    let ranking = ranked(pts.iter(), |v| dot(&q, v));
    assert_eq!(ranking[0].1, 5000);
    assert_eq!(ranking[1].1, 5001);

    let grouped = |key: &str, size: usize, limit: usize, filter: Option<Filter>| {
        let mut request = SearchGroupsRequest::new(q.clone(), key, size, limit);
        request.params = exact();
        request.filter = filter;
        client.search_groups("c", request)
    };
    let check_structure =
        |result: &rro::models::GroupsResult, key: &str, size: usize, limit: usize| {
            assert!(result.groups.len() <= limit);
            for group in &result.groups {
                assert!(!group.hits.is_empty() && group.hits.len() <= size);
                assert!(group.hits.windows(2).all(|w| w[0].score >= w[1].score));
                for hit in &group.hits {
                    let PointId::Num(id) = hit.id else {
                        unreachable!()
                    };
                    assert_ne!(id, 5000, "a point without the key");
                    assert!(
                        group_keys(&payloads[&id], key).contains(&group.id),
                        "{id} is not in group {:?}",
                        group.id
                    );
                }
            }
            assert!(result
                .groups
                .windows(2)
                .all(|w| w[0].hits[0].score >= w[1].hits[0].score));
        };

    // By a keyword field.
    let result = grouped("group", 3, 4, None).await.unwrap();
    check_structure(&result, "group", 3, 4);
    let want = expected_groups(&ranking, &payloads, "group", 3, 4);
    assert_eq!(group_shape(&result), want, "by keyword");
    assert_eq!(result.groups.len(), 4);
    assert!(result.groups.iter().all(|g| g.hits.len() == 3));
    let with_5001: Vec<&GroupId> = result
        .groups
        .iter()
        .filter(|g| g.hits[0].id == num(5001))
        .map(|g| &g.id)
        .collect();
    assert_eq!(
        with_5001,
        [&GroupId::Str("g1".into()), &GroupId::Str("g3".into())]
    );
    // Scores are the point's score in each group.
    for group in &result.groups {
        for hit in &group.hits {
            let PointId::Num(id) = hit.id else {
                unreachable!()
            };
            let truth = ranking.iter().find(|(_, i)| *i == id).unwrap().0;
            assert!((hit.score - truth).abs() < 1e-4);
        }
    }

    // By an integer field, more groups asked for than exist, with a filter.
    let result = grouped(
        "bucket",
        2,
        10,
        Some(Filter::must([Condition::range(
            "bucket",
            Range::default().gte(1),
        )])),
    )
    .await
    .unwrap();
    check_structure(&result, "bucket", 2, 10);
    let filtered: Vec<(f32, u64)> = ranking
        .iter()
        .filter(|(_, id)| any_num(&payloads[id], "bucket", |x| x >= 1.0))
        .copied()
        .collect();
    let want = expected_groups(&filtered, &payloads, "bucket", 2, 10);
    assert_eq!(group_shape(&result), want, "by integer, filtered");
    let ids: Vec<&GroupId> = result.groups.iter().map(|g| &g.id).collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert_eq!(ids[..2], [&GroupId::Int(7), &GroupId::Int(8)]);
    for n in 0..4 {
        assert!(ids.contains(&&GroupId::Int(n)), "group {n} in {ids:?}");
    }

    // Payloads on request, one hit per group.
    let mut request = SearchGroupsRequest::new(q.clone(), "group", 1, 5).with_payload(true);
    request.params = exact();
    let result = client.search_groups("c", request).await.unwrap();
    assert_eq!(
        group_shape(&result),
        expected_groups(&ranking, &payloads, "group", 1, 5)
    );
    for group in &result.groups {
        let PointId::Num(id) = group.hits[0].id else {
            unreachable!()
        };
        assert_eq!(group.hits[0].payload.as_ref(), Some(&payloads[&id]));
    }

    // Through the graph: the same structure.
    let result = client
        .search_groups("c", SearchGroupsRequest::new(q.clone(), "group", 2, 3))
        .await
        .unwrap();
    check_structure(&result, "group", 2, 3);
    assert_eq!(result.groups.len(), 3);

    // A key no point has gives no groups; sizes of 0 are refused.
    let result = grouped("absent", 3, 3, None).await.unwrap();
    assert!(result.groups.is_empty());
    bad_request(grouped("group", 0, 3, None).await, "group_size 0");
    bad_request(grouped("group", 3, 0, None).await, "limit 0");
    bad_request(grouped("a..b", 3, 3, None).await, "malformed group_by");
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 9. Restart

/// Everything a client can see of the collection, as text, for comparing before and after.
#[derive(Debug, PartialEq)]
struct Seen {
    records: Vec<Record>,
    count: u64,
    counts: Vec<(&'static str, u64)>,
    schema: BTreeMap<String, PayloadIndexInfo>,
    searches: Vec<Vec<ScoredPoint>>,
    scrolled: Vec<PointId>,
}

async fn seen(client: &RroClient, queries: &[Vec<f32>]) -> Seen {
    let records = client
        .get_points("c", GetPoints::new(0..1000u64).with_vector(true))
        .await
        .unwrap();
    let mut counts = Vec::new();
    let mut searches = Vec::new();
    for case in cases() {
        counts.push((
            case.name,
            client
                .count("c", CountRequest::filter(case.filter.clone()))
                .await
                .unwrap(),
        ));
        for q in queries {
            let mut request = SearchRequest::new(q.clone(), 8)
                .exact(true)
                .filter(case.filter.clone());
            request.with_payload = Some(true.into());
            searches.push(client.search("c", request).await.unwrap());
        }
    }
    let pages = scroll_all(
        client,
        "c",
        ScrollRequest::new(64)
            .filter(Filter::must([Condition::match_any(
                "city",
                ["paris", "oslo"],
            )]))
            .with_payload(false),
    )
    .await;
    Seen {
        records,
        count: client.count_points("c").await.unwrap(),
        counts,
        schema: client.collection_info("c").await.unwrap().payload_schema,
        searches,
        scrolled: pages.iter().flatten().map(|r| r.id).collect(),
    }
}

/// `before` and `after` are the same (the payload schema only if `schema`: its point counts
/// include points deleted or moved since their segment was sealed, until the optimizer
/// rebuilds that segment, so they depend on how far the optimizer got).
fn assert_same(before: &Seen, after: &Seen, schema: bool, what: &str) {
    assert_eq!(before.count, after.count, "{what}: count");
    assert_eq!(before.records.len(), after.records.len(), "{what}: records");
    for (a, b) in before.records.iter().zip(&after.records) {
        assert_eq!(a, b, "{what}: record");
    }
    assert_eq!(before.counts, after.counts, "{what}: filtered counts");
    if schema {
        assert_eq!(before.schema, after.schema, "{what}: payload schema");
    } else {
        let kinds = |seen: &Seen| -> Vec<(String, PayloadSchemaType)> {
            seen.schema
                .iter()
                .map(|(k, v)| (k.clone(), v.data_type))
                .collect()
        };
        assert_eq!(kinds(before), kinds(after), "{what}: payload schema kinds");
    }
    assert_eq!(before.scrolled, after.scrolled, "{what}: scroll");
    for (a, b) in before.searches.iter().zip(&after.searches) {
        assert_eq!(a, b, "{what}: search");
    }
}

async fn everything_survives_a_restart(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = ctx.persistent_config(dir.path());
    let client = ctx.open(config.clone()).await;
    // Segments with deleted points are vacuumed at once, so that a settled collection counts
    // only live points in its payload schema.
    let create = indexed(8, Distance::Dot, 256).optimizers_config(OptimizersConfig {
        indexing_threshold: Some(8),
        default_segment_number: 1,
        deleted_threshold: 0.01,
        vacuum_min_vector_number: 1,
        ..OptimizersConfig::default()
    });
    client.create_collection("c", create).await.unwrap();
    let mut pts = rich_points(800, 8, 91);
    fill(&client, "c", &pts, 700).await;
    let indexes = [
        ("city", PayloadSchemaType::Keyword),
        ("n", PayloadSchemaType::Integer),
        ("tags", PayloadSchemaType::Keyword),
        ("when", PayloadSchemaType::Datetime),
    ];
    create_indexes(&client, "c", &indexes).await;

    // Payload writes and deletes by filter and by id, mirrored here.
    let flag = obj(json!({"flag": "on"}));
    client
        .set_payload(
            "c",
            SetPayload::new(
                flag.clone(),
                PointsSelector::filter(Filter::must([Condition::matches("city", "paris")])),
            ),
        )
        .await
        .unwrap();
    for p in pts
        .iter_mut()
        .filter(|p| has_str(&p.payload, "city", "paris"))
    {
        model_set(&mut p.payload, &flag, None);
    }
    client
        .delete_payload(
            "c",
            DeletePayload::new(
                ["meta.owner", "note"],
                PointsSelector::filter(Filter::must([Condition::matches("vip", true)])),
            ),
        )
        .await
        .unwrap();
    for p in pts.iter_mut().filter(|p| is_bool(&p.payload, "vip", true)) {
        model_delete(&mut p.payload, "meta.owner");
        model_delete(&mut p.payload, "note");
    }
    client
        .overwrite_payload(
            "c",
            SetPayload::new(obj(json!({"only": 1})), PointsSelector::ids([1u64, 2, 750])),
        )
        .await
        .unwrap();
    for id in [1, 2, 750] {
        pts[id].payload = obj(json!({"only": 1}));
    }
    client
        .clear_payload(
            "c",
            PointsSelector::filter(Filter::must([Condition::has_id([4u64, 760])])),
        )
        .await
        .unwrap();
    for id in [4, 760] {
        pts[id].payload = Payload::new();
    }
    client
        .delete_points(
            "c",
            PointsSelector::filter(Filter::must([Condition::range(
                "n",
                Range::default().lt(5),
            )])),
        )
        .await
        .unwrap();
    pts.retain(|p| !any_num(&p.payload, "n", |x| x < 5.0));
    client.delete_field_index("c", "tags").await.unwrap();

    let mut rng = Rng(92);
    let queries: Vec<Vec<f32>> = (0..2).map(|_| rng.vector(8)).collect();
    let unsettled = seen(&client, &queries).await;
    wait_ready(&client, "c").await;
    let before = seen(&client, &queries).await;
    assert_same(&unsettled, &before, false, "after optimizing");
    // What the client sees is what was written.
    assert_eq!(before.count, pts.len() as u64);
    assert_eq!(before.records.len(), pts.len());
    for (record, p) in before.records.iter().zip(&pts) {
        assert_eq!(record.id, num(p.id));
        assert_eq!(record.payload.as_ref(), Some(&p.payload), "point {}", p.id);
        assert_eq!(record.plain_vector(), Some(p.vector.as_slice()));
    }
    for (name, count) in &before.counts {
        let case = cases().into_iter().find(|c| c.name == *name).unwrap();
        assert_eq!(*count, case.matching(&pts).len() as u64, "`{name}`");
    }
    let live_schema = expected_schema(&pts, &[indexes[0], indexes[1], indexes[3]]);
    assert_eq!(before.schema, live_schema, "settled payload schema");
    assert!(client.shutdown().await.unwrap().is_clean());

    let client = ctx.open(config.clone()).await;
    // At once, while the optimizer may be sealing the replayed write segment...
    let after = seen(&client, &queries).await;
    assert_same(&before, &after, false, "right after a restart");
    // ...and once it is done.
    let info = wait_ready(&client, "c").await;
    assert_eq!(info.points_count, pts.len() as u64);
    let optimized = seen(&client, &queries).await;
    assert_same(&before, &optimized, true, "after a restart and optimizing");
    // Writes by filter still work after the restart.
    client
        .delete_points(
            "c",
            PointsSelector::filter(Filter::must([Condition::matches("flag", "on")])),
        )
        .await
        .unwrap();
    pts.retain(|p| !has_str(&p.payload, "flag", "on"));
    assert_eq!(client.count_points("c").await.unwrap(), pts.len() as u64);
    client.shutdown().await.unwrap();

    let client = ctx.open(config).await;
    assert_eq!(client.count_points("c").await.unwrap(), pts.len() as u64);
    client.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 10. Errors

async fn malformed_filters_and_unknown_collections(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("c", VectorParams::new(4, Distance::Dot))
        .await
        .unwrap();
    let pts = rich_points(40, 4, 101);
    upsert(&client, "c", &pts).await;

    // A range bound that is not a date-time: refused, naming the part, whether by the parser
    // or by validation when the filter is used.
    let text = r#"{"must": [{"key": "a", "range": {"gt": "x"}}]}"#;
    match serde_json::from_str::<Filter>(text) {
        Err(e) => assert!(e.to_string().contains("must[0]"), "{e}"),
        Ok(filter) => {
            let err = filter.validate().unwrap_err();
            assert_eq!(err.path, "must[0].range.gt", "{err}");
            let message = bad_request(
                client
                    .count("c", CountRequest::filter(filter.clone()))
                    .await,
                "count",
            );
            assert!(message.contains("must[0].range.gt"), "{message}");
        }
    }

    // Shapes the parser refuses name their place.
    for (json, parts) in [
        (
            r#"{"must": [{"key": "a", "match": {"value": 1.5}}]}"#,
            &["must[0]"][..],
        ),
        (
            r#"{"should": [{"key": "a", "match": {"vale": 1}}]}"#,
            &["should[0]", "vale"][..],
        ),
        (
            r#"{"must": [{"key": "a", "match": {"value": 1}}, {"kye": "b"}]}"#,
            &["must[1]", "kye"][..],
        ),
        (r#"{"must_not": [{"has_id": [-1]}]}"#, &["must_not[0]"][..]),
        (
            r#"{"must": [{"key": "a", "range": {"gt": true}}]}"#,
            &["must[0]"][..],
        ),
        (r#"{"must": [], "mustnt": []}"#, &["mustnt"][..]),
    ] {
        let err = serde_json::from_str::<Filter>(json).expect_err(json);
        for part in parts {
            assert!(err.to_string().contains(part), "{json}: {err}");
        }
    }
    // Also inside request bodies.
    let err = serde_json::from_str::<ScrollRequest>(
        r#"{"filter": {"must": [{"nested": {"key": "a"}}]}, "limit": 3}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("must[0]"), "{err}");
    let err = serde_json::from_str::<SetPayload>(
        r#"{"payload": {}, "filter": {"should": [{"key": "a", "match": {"any": [1, "x"]}}]}}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("should[0]"), "{err}");

    // Filters that parse but do not validate are refused by every request that takes one,
    // naming the part, and change nothing.
    let bad = Filter::must([Condition::matches("city", "paris")])
        .with_should([Condition::range("n", Range::default())]);
    let path = "should[0].range";
    let check = |message: String, what: &str| {
        assert!(message.contains(path), "{what}: {message}");
    };
    check(
        bad_request(
            client.count("c", CountRequest::filter(bad.clone())).await,
            "count",
        ),
        "count",
    );
    check(
        bad_request(
            client
                .scroll("c", ScrollRequest::new(5).filter(bad.clone()))
                .await,
            "scroll",
        ),
        "scroll",
    );
    check(
        bad_request(
            client
                .search("c", SearchRequest::new(vec![1.0; 4], 5).filter(bad.clone()))
                .await,
            "search",
        ),
        "search",
    );
    check(
        bad_request(
            client
                .recommend("c", RecommendRequest::new([1u64], 5).filter(bad.clone()))
                .await,
            "recommend",
        ),
        "recommend",
    );
    check(
        bad_request(
            client
                .search_groups(
                    "c",
                    SearchGroupsRequest::new(vec![1.0; 4], "city", 2, 2).filter(bad.clone()),
                )
                .await,
            "search_groups",
        ),
        "search_groups",
    );
    check(
        bad_request(
            client
                .delete_points("c", PointsSelector::filter(bad.clone()))
                .await,
            "delete",
        ),
        "delete",
    );
    check(
        bad_request(
            client
                .set_payload(
                    "c",
                    SetPayload::new(obj(json!({"x": 1})), PointsSelector::filter(bad.clone())),
                )
                .await,
            "set_payload",
        ),
        "set_payload",
    );
    check(
        bad_request(
            client
                .clear_payload("c", PointsSelector::filter(bad.clone()))
                .await,
            "clear_payload",
        ),
        "clear_payload",
    );
    let records = client
        .get_points("c", GetPoints::new(0..40u64))
        .await
        .unwrap();
    assert_eq!(records.len(), 40);
    for (record, p) in records.iter().zip(&pts) {
        assert_eq!(record.payload.as_ref(), Some(&p.payload));
    }

    // An unknown collection is reported as such, filter or not.
    let good = Filter::must([Condition::matches("city", "paris")]);
    not_found(
        client
            .count("nope", CountRequest::filter(good.clone()))
            .await,
        "count",
    );
    not_found(
        client
            .scroll("nope", ScrollRequest::new(5).filter(good.clone()))
            .await,
        "scroll",
    );
    not_found(
        client
            .search(
                "nope",
                SearchRequest::new(vec![1.0; 4], 5).filter(good.clone()),
            )
            .await,
        "search",
    );
    not_found(
        client
            .recommend(
                "nope",
                RecommendRequest::new([1u64], 5).filter(good.clone()),
            )
            .await,
        "recommend",
    );
    not_found(
        client
            .search_groups(
                "nope",
                SearchGroupsRequest::new(vec![1.0; 4], "city", 2, 2).filter(good.clone()),
            )
            .await,
        "search_groups",
    );
    not_found(
        client
            .delete_points("nope", PointsSelector::filter(good.clone()))
            .await,
        "delete",
    );
    not_found(
        client
            .set_payload(
                "nope",
                SetPayload::new(obj(json!({"x": 1})), PointsSelector::filter(good.clone())),
            )
            .await,
        "set_payload",
    );
    not_found(
        client
            .delete_payload(
                "nope",
                DeletePayload::new(["x"], PointsSelector::filter(good.clone())),
            )
            .await,
        "delete_payload",
    );
    not_found(
        client
            .clear_payload("nope", PointsSelector::filter(good.clone()))
            .await,
        "clear_payload",
    );
    not_found(
        client
            .create_field_index(
                "nope",
                CreateFieldIndex::new("city", PayloadSchemaType::Keyword),
            )
            .await,
        "create_field_index",
    );
    not_found(
        client.delete_field_index("nope", "city").await,
        "delete_field_index",
    );
    client.shutdown().await.unwrap();
}
