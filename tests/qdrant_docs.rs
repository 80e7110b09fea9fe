//! Request bodies from Qdrant's documentation, sent to rro unchanged.
//!
//! Each file of `tests/qdrant-docs/` holds one body as the doc page shows it (vector sizes
//! adapted to the fixtures where the page elides them), wrapped as
//! `{"doc": <page>, "op": <operation>, "collection": <fixture>, "expect": .., "body": {..}}`.
//! `expect` is what rro must do with it:
//! - `"ok"`: the operation succeeds, and what it did is checked (a created collection reports
//!   every field of the body back in its info, at Qdrant's place for it; an upsert stores the
//!   points as sent; search scores are the dot products with the stored vectors; ...);
//! - `{"unsupported": field}`: it parses, and the operation is refused with
//!   `RroError::Unsupported` naming `field`;
//! - `{"parse_error": text}`: it does not parse into rro's types, with an error naming `text`
//!   (Qdrant features rro cannot keep in its types, such as `text` indexes or sparse vectors).
//!
//! No body may be accepted and ignored outside the README's "Accepted and ignored" table: the
//! round trip of collection bodies fails on any field it does not know where to find.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::oracle::dot;
use common::Ctx;
use rro::models::{
    AliasOperation, ChangeAliases, CollectionInfo, CountRequest, CreateCollection,
    CreateFieldIndex, DeletePayload, DeleteVectors, Distance, FacetRequest, FacetValue, GetPoints,
    PointsSelector, RecommendRequest, ScoredPoint, ScrollRequest, SearchGroupsRequest,
    SearchRequest, SearchRequestBatch, SetPayload, UpdateCollection, UpdateOperations,
    UpdateVectors, UpsertPoints, VectorParams, VectorsConfig,
};
use rro::{RroClient, RroError};
use serde_json::{json, Value};

/// What a body must lead to.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Ok,
    Unsupported(String),
    ParseError(String),
}

/// One documentation body.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    op: String,
    collection: String,
    expect: Expect,
    body: Value,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qdrant-docs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/qdrant-docs exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            let file: Value = serde_json::from_str(&text).expect("valid JSON");
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let expect = match &file["expect"] {
                Value::String(s) if s == "ok" => Expect::Ok,
                Value::Object(o) if o.contains_key("unsupported") => {
                    Expect::Unsupported(o["unsupported"].as_str().unwrap().to_owned())
                }
                Value::Object(o) if o.contains_key("parse_error") => {
                    Expect::ParseError(o["parse_error"].as_str().unwrap().to_owned())
                }
                other => panic!("{name}: bad expect {other}"),
            };
            assert!(file["doc"].is_string(), "{name}: names its doc page");
            Case {
                op: file["op"].as_str().expect("op").to_owned(),
                collection: file["collection"].as_str().unwrap_or("").to_owned(),
                body: file["body"].clone(),
                expect,
                name,
            }
        })
        .collect()
}

#[test]
fn the_corpus_covers_every_operation() {
    let cases = cases();
    assert!(cases.len() >= 50, "{} bodies", cases.len());
    let ops: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.op.as_str()).collect();
    for op in [
        "create_collection",
        "upsert",
        "get_points",
        "delete_points",
        "update_vectors",
        "delete_vectors",
        "set_payload",
        "overwrite_payload",
        "delete_payload",
        "clear_payload",
        "count",
        "scroll",
        "search",
        "search_batch",
        "search_groups",
        "recommend",
        "create_field_index",
        "update_collection",
        "update_aliases",
        "batch_update",
        "facet",
    ] {
        assert!(ops.contains(op), "no body for {op}");
    }
}

/// The fixture points of `c4`: vector and payload by id.
fn c4_points() -> BTreeMap<u64, (Vec<f32>, Value)> {
    [1u64, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 231, 718]
        .into_iter()
        .map(|id| {
            let vector = vec![
                (id % 7) as f32 / 7.0,
                (id % 5) as f32 / 5.0,
                (id % 3) as f32 / 3.0,
                0.5,
            ];
            let payload = json!({
                "city": if id % 2 == 0 { "London" } else { "Berlin" },
                "color": if id % 3 == 0 { "red" } else { "blue" },
                "timestamp": id,
                "document_id": id % 4,
                "price": id * 10,
            });
            (id, (vector, payload))
        })
        .collect()
}

fn n_vector(id: u64, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| ((id as usize + i) % 5) as f32 + 0.5)
        .collect()
}

/// Fresh fixtures: `c3` (3-d, empty), `c4` (4-d, with points, a `timestamp` and a `color`
/// index) and
/// `n` (named spaces `image` 4-d and `text` 8-d).
async fn fixtures(client: &RroClient) {
    for name in ["c3", "c4", "n"] {
        client.delete_collection(name).await.unwrap();
    }
    client
        .create_collection("c3", VectorParams::new(3, Distance::Dot))
        .await
        .unwrap();
    client
        .create_collection("c4", VectorParams::new(4, Distance::Dot))
        .await
        .unwrap();
    let points: Vec<Value> = c4_points()
        .into_iter()
        .map(|(id, (vector, payload))| json!({"id": id, "vector": vector, "payload": payload}))
        .collect();
    let upsert: UpsertPoints = serde_json::from_value(json!({ "points": points })).unwrap();
    client.upsert_points("c4", upsert.points).await.unwrap();
    client
        .create_field_index(
            "c4",
            serde_json::from_value(json!({"field_name": "timestamp", "field_schema": "integer"}))
                .unwrap(),
        )
        .await
        .unwrap();
    // For the facet bodies (facet needs a keyword index, as in Qdrant).
    client
        .create_field_index(
            "c4",
            serde_json::from_value(json!({"field_name": "color", "field_schema": "keyword"}))
                .unwrap(),
        )
        .await
        .unwrap();
    client
        .create_collection(
            "n",
            CreateCollection::new(VectorsConfig::named([
                ("image", VectorParams::new(4, Distance::Dot)),
                ("text", VectorParams::new(8, Distance::Cosine)),
            ])),
        )
        .await
        .unwrap();
    let points: Vec<Value> = [1u64, 2, 100, 231, 718]
        .into_iter()
        .map(|id| json!({"id": id, "vector": {"image": n_vector(id, 4), "text": n_vector(id, 8)}}))
        .collect();
    let upsert: UpsertPoints = serde_json::from_value(json!({ "points": points })).unwrap();
    client.upsert_points("n", upsert.points).await.unwrap();
}

/// Parse `body` as `T`, or say why not.
fn parse<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, String> {
    serde_json::from_value(body.clone()).map_err(|e| e.to_string())
}

/// How running a body ended: parse error text, or the client's result.
enum Outcome {
    ParseError(String),
    Done(Result<(), RroError>),
}

macro_rules! run_op {
    ($body:expr, $ty:ty, |$req:ident| $call:expr) => {
        match parse::<$ty>($body) {
            Err(e) => Outcome::ParseError(e),
            Ok($req) => Outcome::Done($call.await),
        }
    };
}

/// Every `(key, value)` of `expected` is in `actual` (objects compared key by key, `null`
/// meaning "left out", numbers compared as numbers).
fn contains(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Null, _) => true,
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| contains(v, a.get(k).unwrap_or(&Value::Null))),
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

/// Where collection info reports each field of a create-collection body; a body field with no
/// place here would be one accepted and then lost.
fn info_place(field: &str) -> &'static [&'static str] {
    match field {
        "vectors" => &["config", "params", "vectors"],
        "shard_number" => &["config", "params", "shard_number"],
        "sharding_method" => &["config", "params", "sharding_method"],
        "replication_factor" => &["config", "params", "replication_factor"],
        "write_consistency_factor" => &["config", "params", "write_consistency_factor"],
        "on_disk_payload" => &["config", "params", "on_disk_payload"],
        "hnsw_config" => &["config", "hnsw_config"],
        "optimizers_config" => &["config", "optimizer_config"],
        "wal_config" => &["config", "wal_config"],
        "strict_mode_config" => &["config", "strict_mode_config"],
        "params" => &["config", "params"],
        other => panic!("`{other}` was accepted but collection info has no place for it"),
    }
}

fn check_round_trip(case: &Case, info: &CollectionInfo) {
    let info = serde_json::to_value(info).unwrap();
    for (field, value) in case.body.as_object().unwrap() {
        let mut at = &info;
        for step in info_place(field) {
            at = &at[step];
        }
        assert!(
            contains(value, at),
            "{}: `{field}` = {value} is reported as {at}",
            case.name
        );
    }
}

/// Hits of a search in `c4` for `query`: at most `limit`, best first, each scored by its dot
/// product with the stored vector, and with a vector exactly when asked for.
fn check_hits(case: &Case, hits: &[ScoredPoint], query: &[f32], limit: usize, vectors: bool) {
    let points = c4_points();
    assert!(hits.len() <= limit, "{}: {} hits", case.name, hits.len());
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "{}: order", case.name);
    }
    for hit in hits {
        let rro::models::PointId::Num(id) = hit.id else {
            panic!("{}: uuid hit", case.name)
        };
        let (vector, _) = &points[&id];
        let truth = dot(query, vector);
        assert!(
            (hit.score - truth).abs() < 1e-4,
            "{}: point {id} scored {} instead of {truth}",
            case.name,
            hit.score
        );
        assert_eq!(
            hit.vector.is_some(),
            vectors,
            "{}: vector returned",
            case.name
        );
    }
}

fn query_of(body: &Value) -> Vec<f32> {
    serde_json::from_value(body["vector"].clone()).unwrap()
}

async fn run_case(client: &RroClient, case: &Case, index: usize) -> Outcome {
    let c = case.collection.as_str();
    let body = &case.body;
    match case.op.as_str() {
        "create_collection" => {
            let name = format!("doc_{index}");
            run_op!(body, CreateCollection, |req| async {
                client.create_collection(&name, req).await?;
                let info = client.collection_info(&name).await?;
                check_round_trip(case, &info);
                Ok::<(), RroError>(())
            })
        }
        "upsert" => run_op!(body, UpsertPoints, |req| async {
            let sent = req.points.clone();
            client.upsert_points(c, req.points).await?;
            let ids: Vec<_> = sent.iter().map(|p| p.id).collect();
            let got = client
                .get_points(c, GetPoints::new(ids).with_vector(true))
                .await?;
            assert_eq!(got.len(), sent.len(), "{}", case.name);
            for (point, record) in sent.iter().zip(&got) {
                assert_eq!(record.id, point.id, "{}", case.name);
                assert_eq!(
                    record.payload.clone().unwrap_or_default(),
                    point.payload.clone().unwrap_or_default(),
                    "{}",
                    case.name
                );
                // Dot spaces store vectors as sent; Cosine ones normalised.
                if let (Some(sent), Some(stored)) = (
                    point.vector.get("image").or(point.vector.as_single()),
                    record.vector.as_ref(),
                ) {
                    let stored = stored.get("image").or(stored.as_single()).unwrap();
                    assert_eq!(sent, stored, "{}", case.name);
                }
            }
            Ok::<(), RroError>(())
        }),
        "get_points" => run_op!(body, GetPoints, |req| async {
            let got = client.get_points(c, req).await?;
            // Ids 0 and the others not in the fixture are left out.
            let ids: Vec<_> = got.iter().map(|r| r.id.to_string()).collect();
            assert_eq!(ids, ["3", "100"], "{}", case.name);
            Ok::<(), RroError>(())
        }),
        "delete_points" => run_op!(body, PointsSelector, |req| async {
            let before = client.count_points(c).await?;
            client.delete_points(c, req.clone()).await?;
            let gone = match &req {
                PointsSelector::Points(ids) => c4_points()
                    .keys()
                    .filter(|id| ids.contains(&rro::models::PointId::Num(**id)))
                    .count(),
                PointsSelector::Filter(_) => c4_points()
                    .values()
                    .filter(|(_, p)| p["color"] == "red")
                    .count(),
            };
            assert_eq!(
                client.count_points(c).await?,
                before - gone as u64,
                "{}",
                case.name
            );
            Ok::<(), RroError>(())
        }),
        "update_vectors" => run_op!(body, UpdateVectors, |req| async {
            client.update_vectors(c, req.clone()).await?;
            for point in &req.points {
                let got = client
                    .get_points(c, GetPoints::new([point.id]).with_vector(true))
                    .await?;
                let stored = got[0].vector.as_ref().unwrap();
                if let Some(image) = point.vector.get("image") {
                    assert_eq!(stored.get("image"), Some(image), "{}", case.name);
                }
            }
            Ok::<(), RroError>(())
        }),
        "delete_vectors" => run_op!(body, DeleteVectors, |req| async {
            client.delete_vectors(c, req).await?;
            let got = client
                .get_points(c, GetPoints::new([100u64]).with_vector(true))
                .await?;
            let left = got[0].vector.as_ref();
            assert!(
                left.is_none_or(|v| v.get("image").is_none() && v.get("text").is_none()),
                "{}: {left:?}",
                case.name
            );
            Ok::<(), RroError>(())
        }),
        "facet" => run_op!(body, FacetRequest, |req| async {
            let filtered = req.filter.is_some();
            let got = client.facet(c, req).await?;
            // The two bodies facet `color`, one among the points in London.
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for (_, payload) in c4_points().values() {
                if !filtered || payload["city"] == "London" {
                    *counts
                        .entry(payload["color"].as_str().unwrap().to_owned())
                        .or_default() += 1;
                }
            }
            let mut want: Vec<(FacetValue, u64)> = counts
                .into_iter()
                .map(|(color, n)| (FacetValue::Keyword(color), n))
                .collect();
            want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let got: Vec<(FacetValue, u64)> =
                got.hits.into_iter().map(|h| (h.value, h.count)).collect();
            assert_eq!(got, want, "{}", case.name);
            Ok::<(), RroError>(())
        }),
        "batch_update" => run_op!(body, UpdateOperations, |req| async {
            let writes = req.operations.len();
            let results = client.batch_update_points(c, req).await?;
            assert_eq!(results.len(), writes, "{}", case.name);
            let got = client
                .get_points(c, GetPoints::new([1u64]).with_vector(true))
                .await?;
            let vector = got[0].vector.as_ref().expect("vectors");
            assert_eq!(
                vector.get("image"),
                Some(&[1.0, 2.0, 3.0, 4.0][..]),
                "{}",
                case.name
            );
            assert_eq!(vector.get("text"), None, "{}", case.name);
            assert!(
                got[0].payload.clone().unwrap_or_default().is_empty(),
                "{}",
                case.name
            );
            Ok::<(), RroError>(())
        }),
        "set_payload" | "overwrite_payload" => run_op!(body, SetPayload, |req| async {
            let overwrite = case.op == "overwrite_payload";
            let selector = req.selector.clone();
            if overwrite {
                client.overwrite_payload(c, req).await?;
            } else {
                client.set_payload(c, req).await?;
            }
            let ids: Vec<u64> = match &selector {
                PointsSelector::Points(_) => vec![3],
                PointsSelector::Filter(_) => vec![3, 6],
            };
            let ids = if case.name == "payload-set-key" {
                vec![1]
            } else {
                ids
            };
            for record in client.get_points(c, GetPoints::new(ids)).await? {
                let payload = Value::Object(record.payload.unwrap());
                let expected = if case.name == "payload-set-key" {
                    json!({"property1": {"nested_property": "qux"}})
                } else {
                    case.body["payload"].clone()
                };
                assert!(contains(&expected, &payload), "{}: {payload}", case.name);
                assert_eq!(payload.get("city").is_none(), overwrite, "{}", case.name);
            }
            Ok::<(), RroError>(())
        }),
        "delete_payload" => run_op!(body, DeletePayload, |req| async {
            client.delete_payload(c, req).await?;
            let record = &client.get_points(c, GetPoints::new([3u64])).await?[0];
            let payload = record.payload.as_ref().unwrap();
            assert!(
                !payload.contains_key("color") && !payload.contains_key("price"),
                "{}",
                case.name
            );
            assert!(payload.contains_key("city"), "{}", case.name);
            Ok::<(), RroError>(())
        }),
        "clear_payload" => run_op!(body, PointsSelector, |req| async {
            client.clear_payload(c, req).await?;
            let record = &client.get_points(c, GetPoints::new([3u64])).await?[0];
            assert_eq!(
                record.payload.as_ref().map(|p| p.len()),
                Some(0),
                "{}",
                case.name
            );
            Ok::<(), RroError>(())
        }),
        "count" => run_op!(body, CountRequest, |req| async {
            let exact = req.exact;
            let count = client.count(c, req).await?;
            let red = c4_points()
                .values()
                .filter(|(_, p)| p["color"] == "red")
                .count() as u64;
            if exact {
                assert_eq!(count, red, "{}", case.name);
            } else {
                // The documented bound of an estimate.
                let all = c4_points().len() as u64;
                assert!(red <= count && count <= all, "{}: {count}", case.name);
            }
            Ok::<(), RroError>(())
        }),
        "update_collection" => run_op!(body, UpdateCollection, |req| async {
            client.update_collection(c, req).await?;
            let info = client.collection_info(c).await?;
            check_round_trip(case, &info);
            Ok::<(), RroError>(())
        }),
        "update_aliases" => run_op!(body, ChangeAliases, |req| async {
            // The documented deletes, renames and swaps need an alias to act on.
            client.create_alias("c3", "production_collection").await?;
            let actions = req.actions.clone();
            client.update_aliases(req).await?;
            let aliases = client.list_aliases().await?.aliases;
            let target = |alias: &str| {
                aliases
                    .iter()
                    .find(|a| a.alias_name == alias)
                    .map(|a| a.collection_name.clone())
            };
            // Reference: the batch replayed on a map, starting from the alias made above.
            let mut expected =
                BTreeMap::from([("production_collection".to_owned(), "c3".to_owned())]);
            for action in &actions {
                match action {
                    AliasOperation::CreateAlias(a) => {
                        expected.insert(a.alias_name.clone(), a.collection_name.clone());
                    }
                    AliasOperation::DeleteAlias(a) => {
                        expected.remove(&a.alias_name);
                    }
                    AliasOperation::RenameAlias(a) => {
                        let old = expected.remove(&a.old_alias_name).unwrap();
                        expected.insert(a.new_alias_name.clone(), old);
                    }
                }
            }
            assert_eq!(aliases.len(), expected.len(), "{}", case.name);
            for (alias, collection) in &expected {
                assert_eq!(target(alias).as_ref(), Some(collection), "{}", case.name);
            }
            Ok::<(), RroError>(())
        }),
        "scroll" => run_op!(body, ScrollRequest, |req| async {
            let limit = req.limit.unwrap_or(10);
            let page = client.scroll(c, req).await?;
            assert!(page.points.len() <= limit, "{}", case.name);
            if let Some(order) = body.get("order_by") {
                let desc = order["direction"] == "desc";
                let ts: Vec<i64> = page
                    .points
                    .iter()
                    .map(|p| p.payload.as_ref().unwrap()["timestamp"].as_i64().unwrap())
                    .collect();
                let mut sorted = ts.clone();
                sorted.sort_unstable();
                if desc {
                    sorted.reverse();
                    // Desc from 123: 100 and below.
                    assert_eq!(ts.first(), Some(&100), "{}", case.name);
                }
                assert_eq!(ts, sorted, "{}", case.name);
            } else {
                for point in &page.points {
                    assert_eq!(
                        point.payload.as_ref().unwrap()["color"],
                        "red",
                        "{}",
                        case.name
                    );
                }
            }
            Ok::<(), RroError>(())
        }),
        "search" => run_op!(body, SearchRequest, |req| async {
            let named = c == "n";
            let vectors = req.with_vector.as_ref().is_some_and(|w| w.is_enabled());
            let limit = req.limit;
            let hits = client.search(c, req).await?;
            if !named {
                check_hits(case, &hits, &query_of(body), limit, vectors);
            } else {
                assert!(!hits.is_empty() && hits.len() <= limit, "{}", case.name);
            }
            Ok::<(), RroError>(())
        }),
        "search_batch" => run_op!(body, SearchRequestBatch, |req| async {
            let all = client.search_batch(c, req.searches).await?;
            assert_eq!(all.len(), 2, "{}", case.name);
            for (hits, search) in all.iter().zip(body["searches"].as_array().unwrap()) {
                check_hits(case, hits, &query_of(search), 3, false);
            }
            Ok::<(), RroError>(())
        }),
        "search_groups" => run_op!(body, SearchGroupsRequest, |req| async {
            let (limit, size) = (req.limit, req.group_size);
            let groups = client.search_groups(c, req).await?;
            assert!(
                !groups.groups.is_empty() && groups.groups.len() <= limit,
                "{}",
                case.name
            );
            for group in &groups.groups {
                assert!(group.hits.len() <= size, "{}", case.name);
            }
            Ok::<(), RroError>(())
        }),
        "recommend" => run_op!(body, RecommendRequest, |req| async {
            let limit = req.limit;
            let hits = client.recommend(c, req).await?;
            assert!(hits.len() <= limit, "{}", case.name);
            for hit in &hits {
                let id = hit.id.to_string();
                assert!(
                    !["100", "231", "718"].contains(&id.as_str()),
                    "{}",
                    case.name
                );
            }
            Ok::<(), RroError>(())
        }),
        "create_field_index" => run_op!(body, CreateFieldIndex, |req| async {
            let field = req.field_name.clone();
            let kind = req.field_schema.kind;
            client.create_field_index(c, req).await?;
            let info = client.collection_info(c).await?;
            assert_eq!(info.payload_schema[&field].data_type, kind, "{}", case.name);
            Ok::<(), RroError>(())
        }),
        other => panic!("{}: unknown op {other}", case.name),
    }
}

/// Every body of the corpus, through the client: honoured, or refused naming its field.
async fn qdrant_documentation_bodies(ctx: Ctx) {
    let client = ctx.open_default().await;
    for (index, case) in cases().iter().enumerate() {
        fixtures(&client).await;
        match (run_case(&client, case, index).await, &case.expect) {
            (Outcome::Done(Ok(())), Expect::Ok) => {}
            (
                Outcome::Done(Err(RroError::Unsupported { field, supported })),
                Expect::Unsupported(want),
            ) => {
                assert_eq!(&field, want, "{}", case.name);
                assert!(!supported.is_empty(), "{}", case.name);
            }
            (Outcome::ParseError(message), Expect::ParseError(want)) => {
                assert!(message.contains(want.as_str()), "{}: {message}", case.name);
            }
            (Outcome::ParseError(message), _) => {
                panic!(
                    "{}: expected {:?}, parse error {message}",
                    case.name, case.expect
                )
            }
            (Outcome::Done(result), _) => {
                panic!("{}: expected {:?}, got {result:?}", case.name, case.expect)
            }
        }
    }
    client.shutdown().await.unwrap();
}

/// The accepted-and-ignored settings are kept with the collection: a reopened instance reports
/// them back as they were sent.
async fn ignored_settings_survive_a_restart(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let body = json!({
        "vectors": {"size": 4, "distance": "Dot", "on_disk": true, "datatype": "float32"},
        "shard_number": 3, "sharding_method": "auto", "replication_factor": 2,
        "write_consistency_factor": 1, "on_disk_payload": true,
        "hnsw_config": {"m": 8, "max_indexing_threads": 2, "on_disk": true, "payload_m": 8},
        "optimizers_config": {"memmap_threshold": 1000, "flush_interval_sec": 5, "max_optimization_threads": 1},
        "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0}
    });
    let case = Case {
        name: "restart".into(),
        op: "create_collection".into(),
        collection: String::new(),
        expect: Expect::Ok,
        body: body.clone(),
    };
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    client
        .create_collection("kept", parse::<CreateCollection>(&body).unwrap())
        .await
        .unwrap();
    let before = client.collection_info("kept").await.unwrap();
    check_round_trip(&case, &before);
    // A checkpoint (there is a point to seal) rewrites the manifest from the open collection.
    let upsert: UpsertPoints =
        serde_json::from_value(json!({"points": [{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}]}))
            .unwrap();
    client.upsert_points("kept", upsert.points).await.unwrap();
    client.flush().await.unwrap();
    client.shutdown().await.unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    let after = client.collection_info("kept").await.unwrap();
    check_round_trip(&case, &after);
    assert_eq!(after.config, before.config);
    client.shutdown().await.unwrap();
}

backend_tests!(
    qdrant_documentation_bodies,
    ignored_settings_survive_a_restart
);
