//! Filters against the engine, with `storage::filter::matches` as the reference:
//! - a differential property test: random payloads (missing keys, nulls, wrong types, arrays,
//!   nested objects), random filters of every condition kind, payload indexes created before
//!   and after the points, payload writes and deletes by id and by filter, optimizations
//!   (sealed, indexed segments with per-value sub-graphs) and restarts; counts, scroll pages,
//!   exact filtered search and HNSW filtered search are all checked against a model;
//! - the recall of filtered HNSW search at 1 %, 10 % and 50 % selectivity, and whether every
//!   point of a graph or sub-graph can be found at all;
//! - the examples of Qdrant's filtering documentation, as JSON, with and without indexes;
//! - a restart of an indexed, optimized collection changes no answer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use rro_core::models::{
    AnyVariants, Condition, CountRequest, CreateCollection, CreateFieldIndex, DeletePayload,
    Distance, Filter, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius, HnswConfig, MinShould,
    OptimizersConfig, Payload, PayloadIndexInfo, PayloadSchemaType, PayloadUpdate, PointId,
    PointStruct, PointsSelector, Range, RangeValue, ScrollRequest, SearchRequest, SetPayload,
    ValuesCount, VectorParams,
};
use rro_core::storage::filter::matches;
use rro_core::storage::{Collection, TableOfContent};
use rro_core::Config;
use serde_json::{json, Value};

use PayloadSchemaType::{Bool, Datetime, Float, Geo, Integer, Keyword};

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// splitmix64: a tiny deterministic generator for vectors and data sets.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A vector of `dim` multiples of 0.25 in -2 ..= 2 derived from `seed`: dot products of such
/// vectors are exact in `f32`, so scores compare exactly with a brute-force computation.
fn vector(seed: u64, dim: usize) -> Vec<f32> {
    (0..dim as u64)
        .map(|j| (mix(seed.wrapping_mul(64).wrapping_add(j)) % 17) as f32 / 4.0 - 2.0)
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Ids from this one on are UUIDs (`Uuid::from_u128(id)`), so that filters and pages also
/// meet them; they sort after the numeric ones, as the model's `u64`s do.
const FIRST_UUID: u64 = 1_550;

/// The point id the model's `id` stands for.
fn pid(id: u64) -> PointId {
    if id >= FIRST_UUID {
        PointId::Uuid(uuid::Uuid::from_u128(u128::from(id)))
    } else {
        PointId::Num(id)
    }
}

/// The model's id of a point id.
fn num(id: &PointId) -> u64 {
    match id {
        PointId::Num(n) => *n,
        PointId::Uuid(u) => u64::try_from(u.as_u128()).expect("a test uuid"),
    }
}

fn text(filter: &Filter) -> String {
    serde_json::to_string(filter).expect("filter to json")
}

// ---------------------------------------------------------------------------------------------
// The model: what the collection should hold

#[derive(Debug, Clone, Default)]
struct Model {
    points: BTreeMap<u64, (Vec<f32>, Option<Payload>)>,
    schema: BTreeMap<String, PayloadSchemaType>,
}

impl Model {
    /// The ids `filter` matches, ascending.
    fn matching(&self, filter: &Filter) -> Vec<u64> {
        self.points
            .iter()
            .filter(|(id, (_, payload))| matches(filter, &pid(**id), payload.as_ref()))
            .map(|(id, _)| *id)
            .collect()
    }

    fn selected(&self, selector: &Sel) -> Vec<u64> {
        match selector {
            Sel::Ids(ids) => ids
                .iter()
                .filter(|id| self.points.contains_key(id))
                .copied()
                .collect::<BTreeSet<u64>>()
                .into_iter()
                .collect(),
            Sel::Filter(filter) => self.matching(filter),
        }
    }
}

/// Remove the value at a dotted object path, as a payload delete does.
fn remove_path(payload: &mut Payload, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        payload.remove(*first);
    } else if let Some(Value::Object(inner)) = payload.get_mut(*first) {
        remove_path(inner, rest);
    }
}

// ---------------------------------------------------------------------------------------------
// Where the collection lives: in memory, or in a data directory that can be reopened

enum Store {
    Memory(Arc<Collection>),
    Disk {
        dir: tempfile::TempDir,
        toc: Option<TableOfContent>,
    },
}

const NAME: &str = "f";

impl Store {
    fn new(on_disk: bool, create: CreateCollection) -> Store {
        if on_disk {
            let dir = tempfile::tempdir().expect("tempdir");
            let toc = TableOfContent::open(&Config::new(dir.path())).expect("open");
            toc.create_collection(NAME, create).expect("create");
            Store::Disk {
                dir,
                toc: Some(toc),
            }
        } else {
            Store::Memory(Arc::new(Collection::with_config(create).expect("create")))
        }
    }

    fn c(&self) -> Arc<Collection> {
        match self {
            Store::Memory(c) => c.clone(),
            Store::Disk { toc, .. } => toc
                .as_ref()
                .expect("open")
                .collection(NAME)
                .expect("collection"),
        }
    }

    /// Close and reopen the data directory (no-op in memory); with `flush`, checkpoint first
    /// so that nothing is replayed from the log.
    fn restart(&mut self, flush: bool) {
        if let Store::Disk { dir, toc } = self {
            let old = toc.take().expect("open");
            if flush {
                old.flush().expect("flush");
            }
            drop(old);
            *toc = Some(TableOfContent::open(&Config::new(dir.path())).expect("reopen"));
        }
    }
}

fn create(dim: usize, segments: usize) -> CreateCollection {
    CreateCollection::new(VectorParams::new(dim as u64, Distance::Dot))
        .hnsw_config(HnswConfig {
            m: 8,
            ef_construct: 32,
            // 1 KiB: every indexed segment is searched through its graph, except that up to
            // 256 candidates (the planner's floor) are scored exactly.
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            // 1 KiB: the write segment is sealed and indexed from 32 (dim 8) or 64 (dim 4)
            // points on; values held by more than 256 points get sub-graphs.
            indexing_threshold: Some(1),
            default_segment_number: segments,
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 8,
            ..OptimizersConfig::default()
        })
}

// ---------------------------------------------------------------------------------------------
// Checking one filter against the model

#[derive(Debug, Clone)]
struct Probe {
    filter: Filter,
    query: u64,
    page: usize,
}

/// Count, scroll (whole and from an arbitrary id), exact search (whole and a page) and HNSW
/// search with `probe`, against the model.
fn check_probe(
    c: &Collection,
    model: &Model,
    dim: usize,
    probe: &Probe,
) -> Result<(), TestCaseError> {
    let filter = &probe.filter;
    let shown = text(filter);
    let expected = model.matching(filter);

    // count
    let count = c
        .count_filtered(&CountRequest::filter(filter.clone()))
        .expect("count");
    prop_assert_eq!(
        count,
        expected.len() as u64,
        "count_filtered of {} (expected ids {:?})",
        shown,
        expected
    );

    // scroll, page by page
    let page = probe.page.max(expected.len() / 16 + 1);
    let mut scrolled = Vec::new();
    let mut offset = None;
    for round in 0.. {
        prop_assert!(
            round <= expected.len() / page + 1,
            "scroll of {} does not end",
            shown
        );
        let mut request = ScrollRequest::new(page)
            .filter(filter.clone())
            .with_payload(true);
        request.offset = offset;
        let result = c.scroll(&request).expect("scroll");
        prop_assert!(result.points.len() <= page);
        for record in &result.points {
            let id = num(&record.id);
            let want = model
                .points
                .get(&id)
                .map(|(_, p)| p.clone().unwrap_or_default());
            prop_assert_eq!(
                record.payload.clone(),
                want,
                "payload of scrolled point {} for {}",
                id,
                shown
            );
            scrolled.push(id);
        }
        match result.next_page_offset {
            None => break,
            Some(next) => {
                prop_assert_eq!(result.points.len(), page, "a short page before the last");
                offset = Some(next);
            }
        }
    }
    prop_assert_eq!(&scrolled, &expected, "scroll (page {}) of {}", page, shown);

    // one page from an arbitrary id, live, deleted or never there
    let start = probe.query % (IDS + 10);
    let result = c
        .scroll(
            &ScrollRequest::new(page)
                .filter(filter.clone())
                .offset(pid(start))
                .with_payload(false),
        )
        .expect("scroll");
    let mut from: Vec<u64> = expected.iter().copied().filter(|&id| id >= start).collect();
    let next = from.get(page).copied().map(pid);
    from.truncate(page);
    let got: Vec<u64> = result.points.iter().map(|r| num(&r.id)).collect();
    prop_assert_eq!(&got, &from, "scroll of {} from {}", shown, start);
    prop_assert_eq!(
        result.next_page_offset,
        next,
        "next page of {} from {}",
        shown,
        start
    );

    // exact search: every match, best first, with brute-force scores
    let query = vector(probe.query, dim);
    let all = model.points.len() + 1;
    let exact = c
        .search(
            &SearchRequest::new(query.clone(), all)
                .filter(filter.clone())
                .exact(true),
            &|| false,
        )
        .expect("search")
        .expect("not cancelled");
    let mut ids: Vec<u64> = exact.iter().map(|h| num(&h.id)).collect();
    check_hits(model, &query, &exact, &shown, "exact")?;
    ids.sort_unstable();
    prop_assert_eq!(&ids, &expected, "exact filtered search of {}", shown);

    // exact search, a page further on: the same scores as the full ranking there
    let (skip, limit) = (probe.page % 7, 1 + probe.page % 5);
    let paged = c
        .search(
            &SearchRequest::new(query.clone(), limit)
                .filter(filter.clone())
                .offset(skip)
                .exact(true),
            &|| false,
        )
        .expect("search")
        .expect("not cancelled");
    check_hits(model, &query, &paged, &shown, "exact, with an offset,")?;
    let scores = |hits: &[rro_core::models::ScoredPoint]| -> Vec<f32> {
        hits.iter().map(|h| h.score).collect()
    };
    let want: Vec<f32> = scores(&exact).into_iter().skip(skip).take(limit).collect();
    prop_assert_eq!(
        scores(&paged),
        want,
        "exact search of {} with offset {} and limit {}",
        shown,
        skip,
        limit
    );

    // HNSW search: never a point that does not match
    for (limit, ef) in [(10, 16), (all, 64)] {
        let hits = c
            .search(
                &SearchRequest::new(query.clone(), limit)
                    .filter(filter.clone())
                    .hnsw_ef(ef),
                &|| false,
            )
            .expect("search")
            .expect("not cancelled");
        prop_assert!(hits.len() <= limit.min(expected.len()));
        check_hits(model, &query, &hits, &shown, "hnsw")?;
        for hit in &hits {
            let id = num(&hit.id);
            prop_assert!(
                expected.binary_search(&id).is_ok(),
                "hnsw search (limit {}, ef {}) of {} returned point {} which does not match \
                 or is deleted; payload {:?}",
                limit,
                ef,
                shown,
                id,
                model.points.get(&id).map(|p| &p.1)
            );
        }
    }
    Ok(())
}

/// Each hit once, a live point, its brute-force score, best first.
fn check_hits(
    model: &Model,
    query: &[f32],
    hits: &[rro_core::models::ScoredPoint],
    shown: &str,
    what: &str,
) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    for (i, hit) in hits.iter().enumerate() {
        let id = num(&hit.id);
        prop_assert!(
            seen.insert(id),
            "{} search of {}: {} twice",
            what,
            shown,
            id
        );
        let Some((v, _)) = model.points.get(&id) else {
            return Err(TestCaseError::fail(format!(
                "{what} search of {shown}: deleted point {id}"
            )));
        };
        let want = dot(query, v);
        prop_assert!(
            (hit.score - want).abs() <= 1e-4,
            "{} search of {}: point {} scored {}, brute force {}",
            what,
            shown,
            id,
            hit.score,
            want
        );
        if i > 0 {
            prop_assert!(
                hits[i - 1].score >= hit.score,
                "{} search of {}: not best first",
                what,
                shown
            );
        }
    }
    Ok(())
}

fn check_schema(c: &Collection, model: &Model) -> Result<(), TestCaseError> {
    let kinds: BTreeMap<String, PayloadSchemaType> = c
        .info()
        .payload_schema
        .into_iter()
        .map(|(k, v)| (k, v.data_type))
        .collect();
    prop_assert_eq!(&kinds, &model.schema, "payload_schema");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies: payloads

/// Point ids are `0..IDS`. Filtered searches plan an exact scoring of the candidates up to
/// 256 of them per segment, so segments hold several hundred points, and some values more
/// than 256 (the keyword "a", the integer 1, `true`), to make searches walk graphs and
/// per-value sub-graphs.
const IDS: u64 = 1_600;
static KEYWORDS: [&str; 5] = ["a", "b", "c", "d", "e"];
/// Date-times in the forms Qdrant accepts (several are the same instant), and two that are
/// not date-times.
static DATETIMES: [&str; 10] = [
    "2023-02-08T10:49:00Z",
    "2023-02-08T11:49:00+01:00",
    "2023-02-08T10:49:00.5Z",
    "2023-02-08 10:49",
    "2023-02-08",
    "2024-01-31 10:14:31Z",
    "2022-12-31T23:59:59.999999999Z",
    "2023-06-01T00:00:00-05:00",
    "not a date",
    "2023-13-01T00:00:00Z",
];
const VALID_DATETIMES: usize = 8;

/// A stored keyword: "a" for 70 % of them.
fn kw() -> impl Strategy<Value = String> + Clone {
    prop_oneof![7 => Just("a"), 1 => Just("b"), 1 => Just("c"), 1 => Just("d")]
        .prop_map(str::to_owned)
}

/// A stored integer: 1 for more than half of them.
fn int() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![1 => Just(1i64), 1 => -3..=4i64]
}

fn kw_any() -> impl Strategy<Value = String> + Clone {
    prop::sample::select(&KEYWORDS[..]).prop_map(str::to_owned)
}

/// Missing, `null`, or a value.
fn field(main: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        10 => main.prop_map(Some),
    ]
    .boxed()
}

fn geo_value() -> impl Strategy<Value = Value> + Clone {
    (0..20u32, 0..20u32).prop_map(
        |(i, j)| json!({"lon": 13.30 + f64::from(i) * 0.01, "lat": 52.40 + f64::from(j) * 0.01}),
    )
}

fn payload() -> BoxedStrategy<Option<Payload>> {
    let k = prop_oneof![
        6 => kw().prop_map(Value::from),
        1 => prop::collection::vec(kw(), 0..3).prop_map(Value::from),
        1 => (0..3i64).prop_map(Value::from),
    ]
    .boxed();
    let n = prop_oneof![
        8 => int().prop_map(Value::from),
        1 => prop::sample::select(vec![1.5f64, 2.0, -0.5]).prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!("1")),
        1 => prop::collection::vec(int(), 0..3).prop_map(Value::from),
    ]
    .boxed();
    let f = prop_oneof![
        4 => (-8..=8i32).prop_map(|x| json!(f64::from(x) / 2.0)),
        1 => (-3..=3i64).prop_map(Value::from),
        1 => prop::collection::vec((-8..=8i32).prop_map(|x| f64::from(x) / 2.0), 0..3)
            .prop_map(Value::from),
    ]
    .boxed();
    let b = prop_oneof![
        6 => prop::bool::weighted(0.8).prop_map(Value::from),
        1 => Just(json!("true")),
        1 => Just(json!([true, false])),
    ]
    .boxed();
    let t = prop_oneof![
        5 => prop::sample::select(&DATETIMES[..]).prop_map(Value::from),
        1 => prop::collection::vec(prop::sample::select(&DATETIMES[..]), 2).prop_map(Value::from),
    ]
    .boxed();
    let g = prop_oneof![
        5 => geo_value(),
        1 => prop::collection::vec(geo_value(), 2).prop_map(Value::from),
        1 => Just(json!({"lon": "x", "lat": 52.5})),
        1 => Just(json!({"lat": 52.5})),
    ]
    .boxed();
    let tags = prop_oneof![
        5 => prop::collection::vec(kw(), 0..4).prop_map(Value::from),
        1 => kw().prop_map(Value::from),
    ]
    .boxed();
    let item = (
        prop::option::of(int()),
        prop::option::of(kw()),
        any::<bool>(),
    )
        .prop_map(|(x, y, null_y)| {
            let mut o = Payload::new();
            if let Some(x) = x {
                o.insert("x".into(), json!(x));
            }
            match y {
                Some(y) => {
                    o.insert("y".into(), json!(y));
                }
                None if null_y => {
                    o.insert("y".into(), Value::Null);
                }
                None => {}
            }
            Value::Object(o)
        });
    let items = prop_oneof![
        6 => prop::collection::vec(item.clone(), 0..4).prop_map(Value::from),
        1 => item,
        1 => Just(json!([1, "a"])),
    ];
    let obj = (prop::option::of(kw()), prop::option::of(items))
        .prop_map(|(name, items)| {
            let mut o = Payload::new();
            if let Some(name) = name {
                o.insert("name".into(), json!(name));
            }
            if let Some(items) = items {
                o.insert("items".into(), items);
            }
            Value::Object(o)
        })
        .boxed();
    let fields = (
        field(k),
        field(n),
        field(f),
        field(b),
        field(t),
        field(g),
        field(tags),
        field(obj),
    )
        .prop_map(|(k, n, f, b, t, g, tags, obj)| {
            let mut payload = Payload::new();
            for (key, value) in [
                ("k", k),
                ("n", n),
                ("f", f),
                ("b", b),
                ("t", t),
                ("g", g),
                ("tags", tags),
                ("obj", obj),
            ] {
                if let Some(value) = value {
                    payload.insert(key.into(), value);
                }
            }
            payload
        });
    prop_oneof![1 => Just(None), 12 => fields.prop_map(Some)].boxed()
}

// ---------------------------------------------------------------------------------------------
// Strategies: filters

fn half_step() -> impl Strategy<Value = f64> + Clone {
    (-9..=9i32).prop_map(|x| f64::from(x) / 2.0)
}

/// Bounds of a range: mostly a lower and/or an upper bound (in either order, so sometimes
/// an empty range), sometimes any of the four.
fn bounds<T: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = T> + Clone + 'static,
) -> BoxedStrategy<[Option<T>; 4]> {
    let side = || prop::option::of((any::<bool>(), value.clone()));
    prop_oneof![
        4 => (side(), side()).prop_map(|(low, high)| {
            let (mut gt, mut gte, mut lt, mut lte) = (None, None, None, None);
            match low {
                Some((true, v)) => gt = Some(v),
                Some((false, v)) => gte = Some(v),
                None => {}
            }
            match high {
                Some((true, v)) => lt = Some(v),
                Some((false, v)) => lte = Some(v),
                None => {}
            }
            [gt, gte, lt, lte]
        }),
        1 => [
            prop::option::of(value.clone()),
            prop::option::of(value.clone()),
            prop::option::of(value.clone()),
            prop::option::of(value),
        ],
    ]
    .boxed()
}

fn number_range() -> impl Strategy<Value = Range> + Clone {
    bounds(half_step().prop_map(RangeValue::Number)).prop_map(|[gt, gte, lt, lte]| {
        let mut range = Range { gt, gte, lt, lte };
        if range == Range::default() {
            range.gte = Some(RangeValue::Number(0.0));
        }
        range
    })
}

fn datetime_range() -> impl Strategy<Value = Range> + Clone {
    let value = prop::sample::select(&DATETIMES[..VALID_DATETIMES])
        .prop_map(|s| RangeValue::DateTime(s.to_owned()));
    bounds(value).prop_map(|[gt, gte, lt, lte]| {
        let mut range = Range { gt, gte, lt, lte };
        if range == Range::default() {
            range.lt = Some(RangeValue::DateTime(DATETIMES[0].to_owned()));
        }
        range
    })
}

fn values_count() -> impl Strategy<Value = ValuesCount> + Clone {
    bounds(0..4usize).prop_map(|[gt, gte, lt, lte]| {
        let mut count = ValuesCount { gt, gte, lt, lte };
        if count == ValuesCount::default() {
            count.gte = Some(1);
        }
        count
    })
}

fn geo_point() -> impl Strategy<Value = GeoPoint> + Clone {
    (0..22u32, 0..22u32)
        .prop_map(|(i, j)| GeoPoint::new(13.29 + f64::from(i) * 0.01, 52.39 + f64::from(j) * 0.01))
}

fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(keys).prop_map(str::to_owned)
}

/// A condition on the payload keys of a point (top level, `has_id` allowed) or of an element
/// of `obj.items` (inside `nested`).
fn leaf(top: bool) -> BoxedStrategy<Condition> {
    type Keys = &'static [&'static str];
    let (kw_keys, int_keys, bool_keys, num_keys, dt_keys, geo_keys, any_keys): (
        Keys,
        Keys,
        Keys,
        Keys,
        Keys,
        Keys,
        Keys,
    ) = if top {
        (
            &[
                "k",
                "k",
                "k",
                "tags",
                "tags",
                "tags[]",
                "tags[0]",
                "obj.name",
                "obj.items[].y",
                "n",
                "missing",
            ],
            &[
                "n",
                "n",
                "n",
                "k",
                "obj.items[].x",
                "obj.items[].x",
                "f",
                "n[]",
            ],
            &["b", "b", "b", "k"],
            &["n", "n", "f", "f", "f", "obj.items[].x", "k", "t"],
            &["t", "t", "t", "t", "k", "t[]"],
            &["g", "g", "g", "g[]", "obj"],
            &[
                "k",
                "n",
                "f",
                "b",
                "t",
                "g",
                "tags",
                "tags[]",
                "obj",
                "obj.items",
                "obj.items[]",
                "obj.items[].y",
                "obj.name",
                "missing",
            ],
        )
    } else {
        (
            &["y", "y", "y", "x", "missing"],
            &["x", "x", "x", "y"],
            &["y"],
            &["x", "x", "x", "y"],
            &["y"],
            &["x"],
            &["x", "y", "missing"],
        )
    };
    let mut options: Vec<(u32, BoxedStrategy<Condition>)> = vec![
        (
            4,
            (key(kw_keys), kw_any())
                .prop_map(|(k, v)| Condition::matches(k, v))
                .boxed(),
        ),
        (
            3,
            (key(int_keys), -3..=4i64)
                .prop_map(|(k, v)| Condition::matches(k, v))
                .boxed(),
        ),
        (
            1,
            (key(bool_keys), any::<bool>())
                .prop_map(|(k, v)| Condition::matches(k, v))
                .boxed(),
        ),
        (
            2,
            (key(kw_keys), prop::collection::vec(kw_any(), 0..3))
                .prop_map(|(k, v)| Condition::match_any(k, v))
                .boxed(),
        ),
        (
            1,
            (key(int_keys), prop::collection::vec(-3..=4i64, 0..3))
                .prop_map(|(k, v)| Condition::match_any(k, v))
                .boxed(),
        ),
        (
            2,
            (key(kw_keys), prop::collection::vec(kw_any(), 0..3))
                .prop_map(|(k, v)| Condition::match_except(k, v))
                .boxed(),
        ),
        (
            1,
            (key(int_keys), prop::collection::vec(-3..=4i64, 0..3))
                .prop_map(|(k, v)| Condition::match_except(k, AnyVariants::Integers(v)))
                .boxed(),
        ),
        (
            1,
            (key(kw_keys), prop::sample::select(vec!["", "a", "ab"]))
                .prop_map(|(k, v)| Condition::match_text(k, v))
                .boxed(),
        ),
        (
            1,
            (
                key(kw_keys),
                prop::sample::select(vec!["", "a", "b ab", "  c d", "x"]),
            )
                .prop_map(|(k, v)| Condition::match_text_any(k, v))
                .boxed(),
        ),
        (
            3,
            (key(num_keys), number_range())
                .prop_map(|(k, r)| Condition::range(k, r))
                .boxed(),
        ),
        (
            2,
            (key(dt_keys), datetime_range())
                .prop_map(|(k, r)| Condition::range(k, r))
                .boxed(),
        ),
        (
            1,
            (
                key(geo_keys),
                geo_point(),
                prop::sample::select(vec![0.0, 500.0, 1000.0, 2000.0, 5000.0, 20000.0]),
            )
                .prop_map(|(k, c, r)| Condition::geo_radius(k, GeoRadius::new(c, r)))
                .boxed(),
        ),
        (
            1,
            (key(geo_keys), geo_point(), geo_point())
                .prop_map(|(k, a, b)| Condition::geo_bounding_box(k, GeoBoundingBox::new(a, b)))
                .boxed(),
        ),
        (
            1,
            (
                key(geo_keys),
                [geo_point(), geo_point(), geo_point(), geo_point()],
                prop::option::of([geo_point(), geo_point(), geo_point()]),
            )
                .prop_map(|(k, [a, b, c, d], hole)| {
                    let mut polygon = GeoPolygon::new([a, b, c, d, a]);
                    if let Some([e, f, g]) = hole {
                        polygon = polygon.with_hole([e, f, g, e]);
                    }
                    Condition::geo_polygon(k, polygon)
                })
                .boxed(),
        ),
        (
            2,
            (key(any_keys), values_count())
                .prop_map(|(k, c)| Condition::values_count(k, c))
                .boxed(),
        ),
        (2, key(any_keys).prop_map(Condition::is_empty).boxed()),
        (2, key(any_keys).prop_map(Condition::is_null).boxed()),
    ];
    if top {
        options.push((
            2,
            prop::collection::vec(0..IDS, 0..20)
                .prop_map(|ids| Condition::has_id(ids.into_iter().map(pid)))
                .boxed(),
        ));
        let nested_filter = filter_of(leaf(false)).prop_recursive(1, 8, 3, |inner| {
            filter_of(inner.prop_map(Condition::Filter).boxed())
        });
        options.push((
            3,
            (
                key(&["obj.items", "obj.items[]", "tags", "obj"]),
                nested_filter,
            )
                .prop_map(|(k, f)| Condition::nested(k, f))
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

/// A filter whose clauses hold conditions from `condition`: mostly one or two clauses, so
/// that filters select some points but not all; sometimes every clause, empty lists and
/// `min_should` counts that cannot be reached.
fn filter_of(condition: BoxedStrategy<Condition>) -> BoxedStrategy<Filter> {
    let list = |n: usize| prop::collection::vec(condition.clone(), 1..n);
    let optional = || {
        prop_oneof![
            3 => Just(None),
            4 => list(3).prop_map(Some),
            1 => Just(Some(Vec::new())),
        ]
    };
    let min_should = |max: usize| {
        (list(4), 1..=max).prop_map(|(conditions, min_count)| MinShould {
            conditions,
            min_count,
        })
    };
    prop_oneof![
        3 => list(3).prop_map(Filter::must),
        3 => list(4).prop_map(Filter::should),
        2 => list(3).prop_map(Filter::must_not),
        2 => (list(3), list(3)).prop_map(|(a, b)| Filter::must(a).with_must_not(b)),
        1 => (list(2), list(4)).prop_map(|(a, b)| Filter::must(a).with_should(b)),
        1 => min_should(2).prop_map(|m| Filter { min_should: Some(m), ..Filter::default() }),
        1 => (optional(), optional(), optional(), prop::option::of(min_should(3))).prop_map(
            |(must, should, must_not, min_should)| Filter {
                must,
                should,
                must_not,
                min_should,
            }
        ),
    ]
    .boxed()
}

/// A `match.value` on a key that may have per-value sub-graphs (keyword, integer and bool
/// indexes): the condition that makes a filtered search walk a sub-graph.
fn sub_graph_condition() -> BoxedStrategy<Condition> {
    prop_oneof![
        3 => (key(&["k", "k", "tags", "obj.name", "obj.items[].y"]), kw())
            .prop_map(|(k, v)| Condition::matches(k, v)),
        2 => (key(&["n", "n", "obj.items[].x", "k"]), -1..=2i64)
            .prop_map(|(k, v)| Condition::matches(k, v)),
        2 => any::<bool>().prop_map(|v| Condition::matches("b", v)),
    ]
    .boxed()
}

/// A filter nesting at most three filters deep.
fn filter() -> BoxedStrategy<Filter> {
    let condition = leaf(true)
        .prop_recursive(2, 24, 3, |inner| {
            filter_of(inner).prop_map(Condition::Filter).boxed()
        })
        .boxed();
    prop_oneof![
        4 => filter_of(condition.clone()),
        1 => (sub_graph_condition(), prop::collection::vec(condition.clone(), 0..2), filter_of(condition))
            .prop_map(|(first, more, rest)| {
                let mut must = vec![first];
                must.extend(more);
                Filter { must: Some(must), ..rest }
            }),
    ]
    .boxed()
}

fn probe() -> impl Strategy<Value = Probe> {
    (filter(), any::<u64>(), 1..40usize).prop_map(|(filter, query, page)| Probe {
        filter,
        query,
        page,
    })
}

// ---------------------------------------------------------------------------------------------
// Strategies: operations

#[derive(Debug, Clone)]
enum Sel {
    Ids(Vec<u64>),
    Filter(Filter),
}

impl Sel {
    fn selector(&self) -> PointsSelector {
        match self {
            Sel::Ids(ids) => PointsSelector::ids(ids.iter().copied().map(pid)),
            Sel::Filter(filter) => PointsSelector::filter(filter.clone()),
        }
    }
}

/// The payload indexes the test creates and drops (including kinds that do not fit the
/// values, and one key indexed under two kinds in turn).
const INDEXES: [(&str, PayloadSchemaType); 15] = [
    ("k", Keyword),
    ("n", Integer),
    ("n", Float),
    ("f", Float),
    ("f", Integer),
    ("b", Bool),
    ("t", Datetime),
    ("g", Geo),
    ("tags", Keyword),
    ("tags[]", Keyword),
    ("obj.name", Keyword),
    ("obj.items[].x", Integer),
    ("obj.items[].y", Keyword),
    ("k", Integer),
    ("obj.items[].x", Float),
];

#[derive(Debug, Clone)]
enum Op {
    /// `(id, vector seed, payload)`.
    Upsert(Vec<(u64, u64, Option<Payload>)>),
    Delete(Sel),
    Set(Payload, Sel),
    Overwrite(Payload, Sel),
    DeleteKeys(Vec<String>, Sel),
    Clear(Sel),
    Index(usize),
    DropIndex(usize),
    Optimize,
    /// Reopen the data directory (in memory: nothing), after a checkpoint or not.
    Restart(bool),
    Check(Probe),
}

fn sel() -> impl Strategy<Value = Sel> {
    prop_oneof![
        2 => prop::collection::vec(0..IDS, 0..100).prop_map(Sel::Ids),
        1 => filter().prop_map(Sel::Filter),
    ]
}

fn points(max: usize) -> impl Strategy<Value = Vec<(u64, u64, Option<Payload>)>> {
    prop::collection::vec((0..IDS, any::<u64>(), payload()), 1..max)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => points(60).prop_map(Op::Upsert),
        2 => sel().prop_map(Op::Delete),
        2 => (payload(), sel()).prop_map(|(p, s)| Op::Set(p.unwrap_or_default(), s)),
        1 => (payload(), sel()).prop_map(|(p, s)| Op::Overwrite(p.unwrap_or_default(), s)),
        1 => (
            prop::collection::vec(
                key(&["k", "n", "f", "b", "t", "g", "tags", "obj", "obj.name", "obj.items", "missing"]),
                1..3
            ),
            sel()
        ).prop_map(|(k, s)| Op::DeleteKeys(k, s)),
        1 => sel().prop_map(Op::Clear),
        2 => (0..INDEXES.len()).prop_map(Op::Index),
        1 => (0..INDEXES.len()).prop_map(Op::DropIndex),
        3 => Just(Op::Optimize),
        1 => any::<bool>().prop_map(Op::Restart),
        4 => probe().prop_map(Op::Check),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    dim: usize,
    /// Threads that build the graphs in `optimize`.
    threads: usize,
    segments: usize,
    on_disk: bool,
    /// Indexes created before the first points.
    before: Vec<usize>,
    initial: Vec<(u64, u64, Option<Payload>)>,
    optimize_initial: bool,
    ops: Vec<Op>,
    /// Checked after the last operation.
    finally: Vec<Probe>,
}

fn scenario(ops: std::ops::Range<usize>) -> impl Strategy<Value = Scenario> {
    (
        (prop::sample::select(vec![4usize, 6, 8]), 1..=2usize),
        1..=2usize,
        prop::bool::weighted(0.3),
        // Often the indexes that get sub-graphs: `k` keyword, `n` integer, `b` bool.
        prop::collection::vec(
            prop_oneof![3 => 0..INDEXES.len(), 1 => Just(0), 1 => Just(1), 1 => Just(5)],
            0..6,
        ),
        prop::collection::vec((0..IDS, any::<u64>(), payload()), 500..1_300),
        prop::bool::weighted(0.7),
        prop::collection::vec(op(), ops),
        prop::collection::vec(probe(), 4..10),
    )
        .prop_map(
            |(
                (dim, threads),
                segments,
                on_disk,
                before,
                initial,
                optimize_initial,
                ops,
                finally,
            )| Scenario {
                dim,
                threads,
                segments,
                on_disk,
                before,
                initial,
                optimize_initial,
                ops,
                finally,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Running a scenario

fn upsert(c: &Collection, model: &mut Model, dim: usize, batch: &[(u64, u64, Option<Payload>)]) {
    let points: Vec<PointStruct> = batch
        .iter()
        .map(|(id, seed, payload)| PointStruct {
            id: pid(*id),
            vector: vector(*seed, dim).into(),
            payload: payload.clone(),
        })
        .collect();
    c.upsert(points.clone()).expect("upsert");
    for p in points {
        let v = p.vector.as_single().unwrap_or_default().to_vec();
        model.points.insert(num(&p.id), (v, p.payload));
    }
}

fn create_index(c: &Collection, model: &mut Model, which: usize) {
    let (key, kind) = INDEXES[which];
    c.create_field_index(&CreateFieldIndex::new(key, kind))
        .expect("create index");
    model.schema.insert(key.to_owned(), kind);
}

/// Before a write selects points by filter, the engine must select what the model selects.
fn check_selection(c: &Collection, model: &Model, selector: &Sel) -> Result<(), TestCaseError> {
    if let Sel::Filter(filter) = selector {
        let expected = model.matching(filter);
        let count = c
            .count_filtered(&CountRequest::filter(filter.clone()))
            .expect("count");
        prop_assert_eq!(
            count,
            expected.len() as u64,
            "count_filtered of {} before a write by filter",
            text(filter)
        );
    }
    Ok(())
}

fn apply_payload(
    c: &Collection,
    model: &mut Model,
    update: &PayloadUpdate,
    selector: &Sel,
) -> Result<(), TestCaseError> {
    check_selection(c, model, selector)?;
    let ids = model.selected(selector);
    c.update_payload(update).expect("update payload");
    for id in ids {
        let entry = model.points.get_mut(&id).expect("selected point");
        let old = entry.1.take();
        entry.1 = match update {
            PayloadUpdate::Set(set) => {
                let mut payload = old.unwrap_or_default();
                for (k, v) in &set.payload {
                    payload.insert(k.clone(), v.clone());
                }
                Some(payload)
            }
            PayloadUpdate::Overwrite(set) => Some(set.payload.clone()),
            PayloadUpdate::Delete(delete) => old.map(|mut payload| {
                for key in &delete.keys {
                    remove_path(&mut payload, &key.split('.').collect::<Vec<_>>());
                }
                payload
            }),
            PayloadUpdate::Clear(_) => None,
        };
    }
    Ok(())
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let mut store = Store::new(s.on_disk, create(s.dim, s.segments));
    let mut model = Model::default();
    for &which in &s.before {
        create_index(&store.c(), &mut model, which);
    }
    upsert(&store.c(), &mut model, s.dim, &s.initial);
    if s.optimize_initial {
        store.c().optimize(s.threads).expect("optimize");
    }
    for op in &s.ops {
        let c = store.c();
        match op {
            Op::Upsert(batch) => upsert(&c, &mut model, s.dim, batch),
            Op::Delete(selector) => {
                check_selection(&c, &model, selector)?;
                let ids = model.selected(selector);
                c.delete(&selector.selector()).expect("delete");
                for id in ids {
                    model.points.remove(&id);
                }
            }
            Op::Set(payload, selector) => {
                let update =
                    PayloadUpdate::Set(SetPayload::new(payload.clone(), selector.selector()));
                apply_payload(&c, &mut model, &update, selector)?;
            }
            Op::Overwrite(payload, selector) => {
                let update =
                    PayloadUpdate::Overwrite(SetPayload::new(payload.clone(), selector.selector()));
                apply_payload(&c, &mut model, &update, selector)?;
            }
            Op::DeleteKeys(keys, selector) => {
                let update =
                    PayloadUpdate::Delete(DeletePayload::new(keys.clone(), selector.selector()));
                apply_payload(&c, &mut model, &update, selector)?;
            }
            Op::Clear(selector) => {
                let update = PayloadUpdate::Clear(selector.selector());
                apply_payload(&c, &mut model, &update, selector)?;
            }
            Op::Index(which) => create_index(&c, &mut model, *which),
            Op::DropIndex(which) => {
                let key = INDEXES[*which].0;
                c.delete_field_index(key).expect("drop index");
                model.schema.remove(key);
            }
            Op::Optimize => c.optimize(s.threads).expect("optimize"),
            Op::Restart(flush) => {
                drop(c);
                let before = c_state(&store.c());
                store.restart(*flush);
                let after = c_state(&store.c());
                prop_assert_eq!(before, after, "restart changed the collection");
            }
            Op::Check(probe) => check_probe(&c, &model, s.dim, probe)?,
        }
        let c = store.c();
        prop_assert_eq!(c.count(), model.points.len() as u64, "count after {:?}", op);
        check_schema(&c, &model)?;
    }
    let c = store.c();
    for probe in &s.finally {
        check_probe(&c, &model, s.dim, probe)?;
    }
    Ok(())
}

/// What a restart must not change: points, payloads and the payload schema.
fn c_state(c: &Collection) -> (u64, Vec<String>, BTreeMap<String, PayloadIndexInfo>) {
    let mut records = Vec::new();
    let mut offset = None;
    loop {
        let mut request = ScrollRequest::new(100).with_payload(true).with_vector(true);
        request.offset = offset;
        let page = c.scroll(&request).expect("scroll");
        records.extend(
            page.points
                .iter()
                .map(|r| serde_json::to_string(r).expect("json")),
        );
        match page.next_page_offset {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    (c.count(), records, c.info().payload_schema)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Counts, scrolls and searches with random filters agree with `matches` over a model,
    /// whatever indexes, segments, graphs and sub-graphs the collection has.
    #[test]
    fn filtered_reads_agree_with_the_reference(s in scenario(1..16)) {
        run(&s)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Restart

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// An indexed, optimized collection on disk answers the same after a reopen (with and
    /// without a checkpoint first), and the answers still agree with the model.
    #[test]
    fn restarts_change_no_answer(mut s in scenario(4..10)) {
        s.on_disk = true;
        s.optimize_initial = true;
        if s.before.is_empty() {
            s.before = vec![0, 1, 8];
        }
        // Indexes, payload writes and an optimization before the restart.
        s.ops.push(Op::Index(11));
        s.ops.push(Op::Set(
            rro_core::payload!({"k": "a", "n": 2}),
            Sel::Ids((0..IDS).step_by(3).collect()),
        ));
        s.ops.push(Op::Optimize);
        let probes: Vec<Probe> = s.finally.clone();
        s.ops.extend(probes.iter().cloned().map(Op::Check));
        s.ops.push(Op::Restart(false));
        s.ops.extend(probes.iter().cloned().map(Op::Check));
        s.ops.push(Op::Restart(true));
        s.ops.extend(probes.iter().cloned().map(Op::Check));
        run(&s)?;
    }
}

#[test]
fn a_restart_keeps_counts_scrolls_and_schema() {
    let dim = 8;
    let dir = tempfile::tempdir().unwrap();
    let open = || TableOfContent::open(&Config::new(dir.path())).unwrap();
    let filters: Vec<Filter> = vec![
        Filter::must([Condition::matches("k", "a")]),
        Filter::must([Condition::range("n", Range::default().gte(1))]),
        Filter::should([
            Condition::matches("b", true),
            Condition::nested("obj.items", Filter::must([Condition::matches("x", 2i64)])),
        ]),
        Filter::must_not([Condition::is_empty("tags")]),
        Filter::must([
            Condition::matches("tags", "c"),
            Condition::has_id((0..IDS).step_by(2).map(pid)),
        ]),
        Filter::min_should(
            [
                Condition::matches("k", "b"),
                Condition::matches("b", false),
                Condition::range("f", Range::default().lt(0)),
            ],
            2,
        ),
    ];
    let answers = |c: &Collection| -> Vec<(u64, Vec<u64>)> {
        filters
            .iter()
            .map(|f| {
                let count = c.count_filtered(&CountRequest::filter(f.clone())).unwrap();
                let mut ids = Vec::new();
                let mut offset = None;
                loop {
                    let mut request = ScrollRequest::new(7).filter(f.clone());
                    request.offset = offset;
                    let page = c.scroll(&request).unwrap();
                    ids.extend(page.points.iter().map(|r| num(&r.id)));
                    match page.next_page_offset {
                        Some(next) => offset = Some(next),
                        None => break,
                    }
                }
                (count, ids)
            })
            .collect()
    };
    let point = |i: u64| {
        let payload = rro_core::payload!({
            "k": KEYWORDS[(i % 4) as usize],
            "n": (i % 7) as i64 - 3,
            "f": (i % 9) as f64 / 2.0 - 2.0,
            "b": i.is_multiple_of(3),
            "tags": if i.is_multiple_of(5) { json!([]) } else { json!([KEYWORDS[(i % 3) as usize], "c"]) },
            "obj": {"items": [{"x": (i % 4) as i64}, {"x": (i % 6) as i64, "y": "a"}]},
        });
        PointStruct::new(pid(i), vector(i, dim)).with_payload(payload)
    };
    let (before, schema, model) = {
        let toc = open();
        toc.create_collection(NAME, create(dim, 2)).unwrap();
        let c = toc.collection(NAME).unwrap();
        c.create_field_index(&CreateFieldIndex::new("k", Keyword))
            .unwrap();
        c.create_field_index(&CreateFieldIndex::new("tags", Keyword))
            .unwrap();
        c.upsert((0..1_100).map(point).collect()).unwrap();
        c.optimize(2).unwrap();
        c.create_field_index(&CreateFieldIndex::new("n", Integer))
            .unwrap();
        c.create_field_index(&CreateFieldIndex::new("b", Bool))
            .unwrap();
        c.create_field_index(&CreateFieldIndex::new("f", Float))
            .unwrap();
        c.update_payload(&PayloadUpdate::Set(SetPayload::new(
            rro_core::payload!({"k": "d", "b": true}),
            PointsSelector::filter(Filter::must([Condition::range(
                "n",
                Range::default().gte(2),
            )])),
        )))
        .unwrap();
        c.update_payload(&PayloadUpdate::Delete(DeletePayload::new(
            ["tags"],
            PointsSelector::ids((0..1_100u64).step_by(11).map(pid)),
        )))
        .unwrap();
        c.delete(&PointsSelector::filter(Filter::must([
            Condition::matches("k", "c"),
            Condition::matches("b", false),
        ])))
        .unwrap();
        c.optimize(2).unwrap();
        c.upsert((1_100..1_200).map(point).collect()).unwrap();
        let mut model = Model::default();
        for record in c.get(&rro_core::models::GetPoints::new((0..IDS).map(pid)).with_vector(true))
        {
            model.points.insert(
                num(&record.id),
                (
                    record.plain_vector().unwrap_or_default().to_vec(),
                    record.payload.clone().filter(|p| !p.is_empty()),
                ),
            );
        }
        (answers(&c), c.info().payload_schema, model)
    };
    // The answers before the restart are the reference's.
    for (f, (count, ids)) in filters.iter().zip(&before) {
        let expected = model.matching(f);
        assert_eq!(*count, expected.len() as u64, "{}", text(f));
        assert_eq!(ids, &expected, "{}", text(f));
    }
    for flush in [false, true] {
        let toc = open();
        let c = toc.collection(NAME).unwrap();
        assert_eq!(answers(&c), before, "after a restart (flushed: {flush})");
        assert_eq!(
            c.info().payload_schema,
            schema,
            "payload_schema after a restart"
        );
        for (i, f) in filters.iter().enumerate() {
            check_probe(
                &c,
                &model,
                dim,
                &Probe {
                    filter: f.clone(),
                    query: i as u64,
                    page: 9,
                },
            )
            .unwrap();
        }
        if flush {
            toc.flush().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recall

const RECALL_N: u64 = 8_000;
const RECALL_DIM: usize = 32;

/// Roughly normal, mean 0, deviation 1.
fn gauss(seed: u64) -> f32 {
    let u = |s: u64| (mix(s) >> 11) as f64 / (1u64 << 53) as f64;
    ((u(seed) + u(seed ^ 0xABCD) + u(seed ^ 0x1234) - 1.5) * 2.0) as f32
}

/// Clustered vectors, like embeddings: one of 40 centres plus noise of the same size.
fn clustered(seed: u64) -> Vec<f32> {
    let centre = mix(seed) % 40;
    (0..RECALL_DIM as u64)
        .map(|j| gauss(centre * 1000 + j) + gauss(seed.wrapping_mul(977) + j + 7))
        .collect()
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = dot(&v, &v).sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// `sel` of point `i`: "one" for 1 %, "ten" for 10 %, "half" for 49 %, "rest" otherwise.
fn selectivity(i: u64) -> &'static str {
    if i.is_multiple_of(100) {
        "one"
    } else if i % 10 == 1 {
        "ten"
    } else if i.is_multiple_of(2) {
        "half"
    } else {
        "rest"
    }
}

/// A stored point of the recall collection: id, normalised vector, `sel`, `num`.
type Stored = (u64, Vec<f32>, &'static str, i64);

/// 8,000 points in two indexed segments of 4,000, with a keyword index on `sel` (sub-graphs
/// for the values held by more than 256 points of a segment: all but "one") and an integer
/// index on `num` (0 ..= 999, no sub-graphs: 4 points each).
fn recall_collection(threads: usize) -> (Collection, Vec<Stored>) {
    let c = Collection::with_config(
        CreateCollection::new(VectorParams::new(RECALL_DIM as u64, Distance::Cosine))
            .hnsw_config(HnswConfig {
                m: 16,
                ef_construct: 100,
                // 1 KiB: every filter here matching more than 256 points of a segment (the
                // planner's floor for exact scoring) is answered through a graph.
                full_scan_threshold: 1,
                ..HnswConfig::default()
            })
            .optimizers_config(OptimizersConfig {
                // 500 KiB = 4,000 points of 128 bytes.
                indexing_threshold: Some(500),
                default_segment_number: 2,
                ..OptimizersConfig::default()
            }),
    )
    .unwrap();
    c.create_field_index(&CreateFieldIndex::new("sel", Keyword))
        .unwrap();
    c.create_field_index(&CreateFieldIndex::new("num", Integer))
        .unwrap();
    let mut stored = Vec::new();
    for half in 0..2u64 {
        let batch: Vec<PointStruct> = (half * RECALL_N / 2..(half + 1) * RECALL_N / 2)
            .map(|i| {
                let num = (mix(i ^ 0x5555) % 1000) as i64;
                stored.push((i, normalized(clustered(i)), selectivity(i), num));
                PointStruct::new(i, clustered(i))
                    .with_payload(rro_core::payload!({"sel": selectivity(i), "num": num}))
            })
            .collect();
        c.upsert(batch).unwrap();
        c.optimize(threads).unwrap();
    }
    let info = c.info();
    assert_eq!(info.points_count, RECALL_N);
    assert_eq!(
        info.segments_count, 3,
        "two sealed segments and the write segment"
    );
    assert_eq!(
        info.indexed_vectors_count, RECALL_N,
        "every point in an indexed segment: {info:?}"
    );
    (c, stored)
}

#[test]
fn filtered_hnsw_search_keeps_its_recall_at_every_selectivity() {
    let (c, stored) = recall_collection(2);
    type Pass = fn(&str, i64) -> bool;
    let cases: Vec<(&str, Filter, Pass)> = vec![
        (
            "keyword 1%",
            Filter::must([Condition::matches("sel", "one")]),
            |s, _| s == "one",
        ),
        (
            "keyword 10%",
            Filter::must([Condition::matches("sel", "ten")]),
            |s, _| s == "ten",
        ),
        (
            "keyword 50%",
            Filter::must([Condition::matches("sel", "half")]),
            |s, _| s == "half",
        ),
        (
            // `any` never uses a sub-graph; 1 % is scored exactly (40 points a segment), as
            // `sel = one` and the 1 % range are.
            "keyword 1% by match.any",
            Filter::must([Condition::match_any("sel", ["one"])]),
            |s, _| s == "one",
        ),
        (
            "integer range 1%",
            Filter::must([Condition::range("num", Range::default().gte(0).lt(10))]),
            |_, n| (0..10).contains(&n),
        ),
        (
            "integer range 10%",
            Filter::must([Condition::range("num", Range::default().gte(0).lt(100))]),
            |_, n| (0..100).contains(&n),
        ),
    ];
    const QUERIES: u64 = 50;
    let mut report = Vec::new();
    for (name, filter, pass) in &cases {
        let matching: Vec<&Stored> = stored.iter().filter(|p| pass(p.2, p.3)).collect();
        let mut total = 0.0;
        for q in 0..QUERIES {
            let query = normalized(clustered(1_000_000 + q));
            let mut exact: Vec<(f32, u64)> =
                matching.iter().map(|p| (dot(&query, &p.1), p.0)).collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let truth: BTreeSet<u64> = exact.iter().take(10).map(|p| p.1).collect();
            let hits = c
                .search(
                    &SearchRequest::new(query, 10)
                        .filter(filter.clone())
                        .hnsw_ef(64),
                    &|| false,
                )
                .unwrap()
                .unwrap();
            for hit in &hits {
                let p = &stored[num(&hit.id) as usize];
                assert!(pass(p.2, p.3), "{name}: a non-matching point {}", p.0);
            }
            let found = hits.iter().filter(|h| truth.contains(&num(&h.id))).count();
            total += found as f64 / truth.len() as f64;
        }
        let recall = total / QUERIES as f64;
        eprintln!(
            "filtered recall@10, ef 64, {name} ({} points): {recall:.3}",
            matching.len()
        );
        report.push((*name, recall));
    }
    for (name, recall) in &report {
        assert!(*recall >= 0.9, "recall of {name} below 0.9: {report:?}");
    }
}

/// Every point of a graph (or sub-graph) is reachable: a search with `ef` and `limit` as large
/// as the number of matching points returns them all. Graphs built on one thread pass (the
/// control); graphs built on two threads should too.
#[test]
fn every_indexed_point_is_reachable_through_its_graph() {
    let mut lost = Vec::new();
    for threads in [1, 2] {
        let (c, stored) = recall_collection(threads);
        for value in [None, Some("ten"), Some("half"), Some("rest")] {
            let want = stored
                .iter()
                .filter(|p| value.is_none_or(|v| p.2 == v))
                .count();
            let mut request = SearchRequest::new(normalized(clustered(5)), want).hnsw_ef(want);
            if let Some(value) = value {
                request = request.filter(Filter::must([Condition::matches("sel", value)]));
            }
            let reached = c.search(&request, &|| false).unwrap().unwrap().len();
            if reached != want {
                let graphs = value.map_or("the full graphs".to_owned(), |v| {
                    format!("the sub-graphs of sel = {v}")
                });
                lost.push(format!(
                    "built on {threads} thread(s), {graphs}: {reached} of {want} reached"
                ));
            }
        }
    }
    assert!(lost.is_empty(), "points no search can return: {lost:#?}");
}

// ---------------------------------------------------------------------------------------------
// Qdrant's documentation examples

/// One set of points from the documentation, the indexes that suit it, and filters with the
/// ids they select.
struct Example {
    points: &'static str,
    indexes: &'static [(&'static str, PayloadSchemaType)],
    cases: &'static [(&'static str, &'static [u64])],
}

const CLAUSE_POINTS: &str = r#"[
  { "id": 1, "city": "London", "color": "green" },
  { "id": 2, "city": "London", "color": "red" },
  { "id": 3, "city": "London", "color": "blue" },
  { "id": 4, "city": "Berlin", "color": "red" },
  { "id": 5, "city": "Moscow", "color": "green" },
  { "id": 6, "city": "Moscow", "color": "blue" }
]"#;

const EXAMPLES: &[Example] = &[
    Example {
        points: CLAUSE_POINTS,
        indexes: &[("city", Keyword), ("color", Keyword)],
        cases: &[
            (
                r#"{
                    "filter": {
                        "must": [
                            { "key": "city", "match": { "value": "London" } },
                            { "key": "color", "match": { "value": "red" } }
                        ]
                    }
                }"#,
                &[2],
            ),
            (
                r#"{
                    "filter": {
                        "should": [
                            { "key": "city", "match": { "value": "London" } },
                            { "key": "color", "match": { "value": "red" } }
                        ]
                    }
                }"#,
                &[1, 2, 3, 4],
            ),
            (
                r#"{
                    "filter": {
                        "must_not": [
                            { "key": "city", "match": { "value": "London" } },
                            { "key": "color", "match": { "value": "red" } }
                        ]
                    }
                }"#,
                &[5, 6],
            ),
            (
                r#"{
                    "filter": {
                        "must": [
                            { "key": "city", "match": { "value": "London" } }
                        ],
                        "must_not": [
                            { "key": "color", "match": { "value": "red" } }
                        ]
                    }
                }"#,
                &[1, 3],
            ),
            (
                r#"{
                    "filter": {
                        "must_not": [
                            {
                                "must": [
                                    { "key": "city", "match": { "value": "London" } },
                                    { "key": "color", "match": { "value": "red" } }
                                ]
                            }
                        ]
                    }
                }"#,
                &[1, 3, 4, 5, 6],
            ),
            (
                r#"{
                    "filter": {
                        "min_should": {
                            "conditions": [
                                { "key": "city", "match": { "value": "London" } },
                                { "key": "color", "match": { "value": "red" } },
                                { "key": "color", "match": { "value": "blue" } }
                            ],
                            "min_count": 2
                        }
                    }
                }"#,
                &[2, 3],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "color", "match": { "value": "red" } } ] } }"#,
                &[2, 4],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "color", "match": { "any": ["black", "yellow"] } } ] } }"#,
                &[],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "color", "match": { "any": ["red", "blue"] } } ] } }"#,
                &[2, 3, 4, 6],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "color", "match": { "except": ["black", "yellow"] } } ] } }"#,
                &[1, 2, 3, 4, 5, 6],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "color", "match": { "except": ["red", "blue"] } } ] } }"#,
                &[1, 5],
            ),
            (
                r#"{ "filter": { "must": [ { "has_id": [1, 3, 5, 7, 9, 11] } ] } }"#,
                &[1, 3, 5],
            ),
            (
                r#"{
                    "filter": {
                        "must": [ { "has_id": [1, 2, 4] } ],
                        "should": [
                            { "key": "city", "match": { "value": "Berlin" } },
                            { "key": "color", "match": { "value": "green" } }
                        ]
                    }
                }"#,
                &[1, 4],
            ),
        ],
    },
    Example {
        // "Nested key": arrays of objects reached with `[]`.
        points: r#"[
          {
            "id": 1,
            "country": {
              "name": "Germany",
              "cities": [
                { "name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"] },
                { "name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympiapark"] }
              ]
            }
          },
          {
            "id": 2,
            "country": {
              "name": "Japan",
              "cities": [
                { "name": "Tokyo", "population": 9.3, "sightseeing": ["Tokyo Tower", "Tokyo Skytree"] },
                { "name": "Osaka", "population": 2.7, "sightseeing": ["Osaka Castle", "Universal Studios Japan"] }
              ]
            }
          },
          {
            "id": 3,
            "country": {
              "name": "Japan",
              "cities": [
                { "name": "Kyoto", "population": 1.5, "sightseeing": ["Kiyomizu-dera", "Fushimi Inari Taisha"] }
              ]
            }
          },
          {
            "id": 4,
            "country": {
              "name": "Brazil",
              "cities": [
                { "name": "Rio de Janeiro", "population": 6.3, "sightseeing": ["Christ the Redeemer", "Sugarloaf Mountain"] }
              ]
            }
          }
        ]"#,
        indexes: &[
            ("country.name", Keyword),
            ("country.cities[].population", Float),
            ("country.cities[].sightseeing", Keyword),
        ],
        cases: &[
            (
                r#"{ "filter": { "should": [ { "key": "country.name", "match": { "value": "Germany" } } ] } }"#,
                &[1],
            ),
            (
                r#"{ "filter": { "should": [ { "key": "country.cities[].population", "range": { "gte": 9.0 } } ] } }"#,
                &[2],
            ),
            (
                r#"{ "filter": { "should": [ { "key": "country.cities[].sightseeing", "match": { "value": "Osaka Castle" } } ] } }"#,
                &[2],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "country.name", "match": { "value": "Japan" } } ] } }"#,
                &[2, 3],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "country.cities[].population", "range": { "lt": 2.0 } } ] } }"#,
                &[1, 3],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "country.cities", "values_count": { "gt": 1 } } ] } }"#,
                &[1, 2],
            ),
        ],
    },
    Example {
        // "Nested object filter": the dinosaurs.
        points: r#"[
          {
            "id": 1,
            "dinosaur": "t-rex",
            "diet": [
              { "food": "leaves", "likes": false },
              { "food": "meat", "likes": true }
            ]
          },
          {
            "id": 2,
            "dinosaur": "diplodocus",
            "diet": [
              { "food": "leaves", "likes": true },
              { "food": "meat", "likes": false }
            ]
          }
        ]"#,
        indexes: &[
            ("diet[].food", Keyword),
            ("diet[].likes", Bool),
            ("dinosaur", Keyword),
        ],
        cases: &[
            (
                r#"{
                    "filter": {
                        "must": [
                            { "key": "diet[].food", "match": { "value": "meat" } },
                            { "key": "diet[].likes", "match": { "value": true } }
                        ]
                    }
                }"#,
                &[1, 2],
            ),
            (
                r#"{
                    "filter": {
                        "must": [{
                            "nested": {
                                "key": "diet",
                                "filter": {
                                    "must": [
                                        { "key": "food", "match": { "value": "meat" } },
                                        { "key": "likes", "match": { "value": true } }
                                    ]
                                }
                            }
                        }]
                    }
                }"#,
                &[1],
            ),
            (
                r#"{
                    "filter": {
                        "must": [
                            {
                                "nested": {
                                    "key": "diet",
                                    "filter": {
                                        "must": [
                                            { "key": "food", "match": { "value": "meat" } },
                                            { "key": "likes", "match": { "value": true } }
                                        ]
                                    }
                                }
                            },
                            { "has_id": [1] }
                        ]
                    }
                }"#,
                &[1],
            ),
            (
                r#"{
                    "filter": {
                        "must": [
                            {
                                "nested": {
                                    "key": "diet[]",
                                    "filter": {
                                        "must": [ { "key": "food", "match": { "value": "leaves" } } ],
                                        "must_not": [ { "key": "likes", "match": { "value": false } } ]
                                    }
                                }
                            }
                        ]
                    }
                }"#,
                &[2],
            ),
            (
                r#"{
                    "filter": {
                        "must_not": [{
                            "nested": {
                                "key": "diet",
                                "filter": { "must": [ { "key": "food", "match": { "value": "meat" } }, { "key": "likes", "match": { "value": true } } ] }
                            }
                        }]
                    }
                }"#,
                &[2],
            ),
        ],
    },
    Example {
        // "Range".
        points: r#"[
          { "id": 1, "price": 99.9 },
          { "id": 2, "price": 100 },
          { "id": 3, "price": 450.0 },
          { "id": 4, "price": 450.01 },
          { "id": 5, "price": 300 },
          { "id": 6, "price": "300" },
          { "id": 7 },
          { "id": 8, "price": [50, 200] }
        ]"#,
        indexes: &[("price", Float)],
        cases: &[
            (
                r#"{ "filter": { "must": [ { "key": "price", "range": { "gt": null, "gte": 100.0, "lt": null, "lte": 450.0 } } ] } }"#,
                &[2, 3, 5, 8],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "price", "range": { "gt": 100, "lt": 450 } } ] } }"#,
                &[5, 8],
            ),
        ],
    },
    Example {
        // "Datetime range".
        points: r#"[
          { "id": 1, "date": "2023-02-08T10:49:00Z" },
          { "id": 2, "date": "2023-02-08T10:49:00.000001Z" },
          { "id": 3, "date": "2023-06-01" },
          { "id": 4, "date": "2024-01-31T10:14:31Z" },
          { "id": 5, "date": "2024-01-31T10:14:30.999Z" },
          { "id": 6, "date": "2023-02-08T11:50:00+01:00" },
          { "id": 7, "date": "garbage" },
          { "id": 8 }
        ]"#,
        indexes: &[("date", Datetime)],
        cases: &[(
            r#"{
                "filter": {
                    "must": [
                        {
                            "key": "date",
                            "range": {
                                "gt": "2023-02-08T10:49:00Z",
                                "gte": null,
                                "lt": "2024-01-31 10:14:31Z",
                                "lte": null
                            }
                        }
                    ]
                }
            }"#,
            &[2, 3, 5, 6],
        )],
    },
    Example {
        // "Values count".
        points: r#"[
          { "id": 1, "name": "product A", "comments": ["Very good!", "Excellent"] },
          { "id": 2, "name": "product B", "comments": ["meh", "expected more", "ok"] },
          { "id": 3, "name": "product C", "comments": "one comment" },
          { "id": 4, "name": "product D" }
        ]"#,
        indexes: &[("comments", Keyword)],
        cases: &[
            (
                r#"{ "filter": { "must": [ { "key": "comments", "values_count": { "gt": 2 } } ] } }"#,
                &[2],
            ),
            (
                r#"{ "filter": { "must": [ { "key": "comments", "values_count": { "gte": 1, "lte": 2 } } ] } }"#,
                &[1, 3],
            ),
        ],
    },
    Example {
        // "Is Empty" and "Is Null".
        points: r#"[
          { "id": 1, "name": "product A", "reports": [] },
          { "id": 2, "name": "product B", "reports": null },
          { "id": 3, "name": "product C" },
          { "id": 4, "name": "product D", "reports": ["bad"] },
          { "id": 5, "name": "product E", "reports": "one" }
        ]"#,
        indexes: &[("reports", Keyword), ("name", Keyword)],
        cases: &[
            (
                r#"{ "filter": { "must": [ { "is_empty": { "key": "reports" } } ] } }"#,
                &[1, 2, 3],
            ),
            (
                r#"{ "filter": { "must": [ { "is_null": { "key": "reports" } } ] } }"#,
                &[2],
            ),
            (
                r#"{ "filter": { "must_not": [ { "is_empty": { "key": "reports" } } ] } }"#,
                &[4, 5],
            ),
        ],
    },
    Example {
        // "Geo": a bounding box and a radius around Berlin.
        points: r#"[
          { "id": 1, "location": { "lon": 13.42, "lat": 52.51 } },
          { "id": 2, "location": { "lon": 13.405, "lat": 52.52 } },
          { "id": 3, "location": { "lon": 13.395, "lat": 52.523 } },
          { "id": 4, "location": { "lon": 13.5, "lat": 52.5 } },
          { "id": 5, "location": [ { "lon": 13.5, "lat": 52.5 }, { "lon": 13.43, "lat": 52.5 } ] },
          { "id": 6, "location": "Berlin" },
          { "id": 7 }
        ]"#,
        indexes: &[("location", Geo)],
        cases: &[
            (
                r#"{
                    "filter": {
                        "must": [{
                            "key": "location",
                            "geo_bounding_box": {
                                "bottom_right": { "lon": 13.455868, "lat": 52.495862 },
                                "top_left": { "lon": 13.403683, "lat": 52.520711 }
                            }
                        }]
                    }
                }"#,
                &[1, 2, 5],
            ),
            (
                r#"{
                    "filter": {
                        "must": [{
                            "key": "location",
                            "geo_radius": {
                                "center": { "lon": 13.403683, "lat": 52.520711 },
                                "radius": 1000.0
                            }
                        }]
                    }
                }"#,
                &[2, 3],
            ),
        ],
    },
    Example {
        // "Geo polygon": the documentation's square with a square hole (points 2 and 5 in the
        // hole, 3 on the hole's edge, 4 outside, 1 and 6 inside; 6 through its second value).
        points: r#"[
          { "id": 1, "location": { "lon": 30.0, "lat": 30.0 } },
          { "id": 2, "location": { "lon": -30.0, "lat": -30.0 } },
          { "id": 3, "location": { "lon": 0.0, "lat": -30.0 } },
          { "id": 4, "location": { "lon": 65.0, "lat": 0.0 } },
          { "id": 5, "location": { "lon": -64.0, "lat": -1.0 } },
          { "id": 6, "location": [ { "lon": -30.0, "lat": -30.0 }, { "lon": -68.0, "lat": 50.0 } ] },
          { "id": 7, "location": "Paris" }
        ]"#,
        indexes: &[("location", Geo)],
        cases: &[(
            r#"{
                "filter": {
                    "must": [{
                        "key": "location",
                        "geo_polygon": {
                            "exterior": {
                                "points": [
                                    { "lon": -70.0, "lat": -70.0 },
                                    { "lon": 60.0, "lat": -70.0 },
                                    { "lon": 60.0, "lat": 60.0 },
                                    { "lon": -70.0, "lat": 60.0 },
                                    { "lon": -70.0, "lat": -70.0 }
                                ]
                            },
                            "interiors": [{
                                "points": [
                                    { "lon": -65.0, "lat": -65.0 },
                                    { "lon": 0.0, "lat": -65.0 },
                                    { "lon": 0.0, "lat": 0.0 },
                                    { "lon": -65.0, "lat": 0.0 },
                                    { "lon": -65.0, "lat": -65.0 }
                                ]
                            }]
                        }
                    }]
                }
            }"#,
            &[1, 6],
        )],
    },
];

/// How an example collection is laid out before it is queried.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// No index, every point in the write segment.
    Plain,
    /// Indexes first, then the points, then an optimization: one sealed, indexed segment.
    IndexedBefore,
    /// Points, an optimization, then the indexes (built on the sealed segment), then another
    /// optimization (sub-graphs).
    IndexedAfter,
    /// Indexes, half of the points sealed and indexed, the other half in the write segment.
    Split,
}

fn example_points(json: &str) -> Vec<(u64, Payload)> {
    let list: Vec<Payload> = serde_json::from_str(json).expect("points json");
    list.into_iter()
        .map(|mut p| {
            let id = p.remove("id").and_then(|v| v.as_u64()).expect("id");
            (id, p)
        })
        .collect()
}

#[test]
fn qdrant_documentation_examples_select_the_documented_points() {
    // 256 components: 1 KiB is one point, so even six points are sealed and indexed (with the
    // payload indexes of the layout); so few candidates are scored exactly.
    const DIM: usize = 256;
    let create = || {
        CreateCollection::new(VectorParams::new(DIM as u64, Distance::Dot))
            .hnsw_config(HnswConfig {
                m: 4,
                ef_construct: 16,
                full_scan_threshold: 1,
                ..HnswConfig::default()
            })
            .optimizers_config(OptimizersConfig {
                indexing_threshold: Some(1),
                default_segment_number: 1,
                ..OptimizersConfig::default()
            })
    };
    for (e, example) in EXAMPLES.iter().enumerate() {
        let points = example_points(example.points);
        let mut model = Model::default();
        let structs: Vec<PointStruct> = points
            .iter()
            .map(|(id, payload)| {
                let v = vector(*id, DIM);
                model.points.insert(*id, (v.clone(), Some(payload.clone())));
                PointStruct::new(*id, v).with_payload(payload.clone())
            })
            .collect();
        for layout in [
            Layout::Plain,
            Layout::IndexedBefore,
            Layout::IndexedAfter,
            Layout::Split,
        ] {
            let c = Collection::with_config(create()).unwrap();
            let index = |c: &Collection| {
                for (key, kind) in example.indexes {
                    c.create_field_index(&CreateFieldIndex::new(*key, *kind))
                        .unwrap();
                }
            };
            match layout {
                Layout::Plain => {
                    c.upsert(structs.clone()).unwrap();
                }
                Layout::IndexedBefore => {
                    index(&c);
                    c.upsert(structs.clone()).unwrap();
                    c.optimize(1).unwrap();
                }
                Layout::IndexedAfter => {
                    c.upsert(structs.clone()).unwrap();
                    c.optimize(1).unwrap();
                    index(&c);
                    c.optimize(1).unwrap();
                }
                Layout::Split => {
                    index(&c);
                    let half = structs.len() / 2;
                    c.upsert(structs[..half].to_vec()).unwrap();
                    c.optimize(1).unwrap();
                    c.upsert(structs[half..].to_vec()).unwrap();
                }
            }
            if !matches!(layout, Layout::Plain | Layout::Split) {
                assert_eq!(
                    c.info().indexed_vectors_count,
                    points.len() as u64,
                    "example {e} {layout:?}: every point indexed"
                );
            }
            for (json, expected) in example.cases {
                let count: CountRequest = serde_json::from_str(json)
                    .unwrap_or_else(|err| panic!("example {e}: {err}: {json}"));
                let scroll: ScrollRequest = serde_json::from_str(json).unwrap();
                let filter = count.filter.clone().unwrap();
                let shown = text(&filter);
                let what = format!("example {e} {layout:?}: {shown}");
                assert_eq!(
                    model.matching(&filter),
                    *expected,
                    "the reference semantics disagree with the documentation: {what}"
                );
                assert_eq!(
                    c.count_filtered(&count).unwrap(),
                    expected.len() as u64,
                    "count, {what}"
                );
                let mut ids = Vec::new();
                let mut offset = None;
                loop {
                    let mut request = scroll.clone();
                    request.limit = Some(2);
                    request.offset = offset;
                    let page = c.scroll(&request).unwrap();
                    ids.extend(page.points.iter().map(|r| num(&r.id)));
                    match page.next_page_offset {
                        Some(next) => offset = Some(next),
                        None => break,
                    }
                }
                assert_eq!(ids, *expected, "scroll, {what}");
                check_probe(
                    &c,
                    &model,
                    DIM,
                    &Probe {
                        filter,
                        query: 7,
                        page: 2,
                    },
                )
                .unwrap_or_else(|err| panic!("{what}: {err}"));
            }
        }
    }
}
