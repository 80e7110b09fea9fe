//! Named vectors through the client, on every backend: several vector spaces per collection
//! (Euclid, Dot, Cosine, of different sizes), points that lack some of them, exact searches
//! checked against brute force done here, indexed searches (recall, and never a point without
//! the space's vector), `with_vector` selectors, updating and deleting single vectors, typed
//! errors that change nothing, recommend with `using`, group search, Qdrant's JSON bodies, and
//! restarts (clean, and from the log alone).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::oracle::{self, normalize};
use common::{Ctx, Rng};
use rro::models::{
    CollectionStatus, Condition, CreateCollection, DeleteVectors, Distance, Filter, GetPoints,
    GroupId, HnswConfig, NamedVectorStruct, OptimizersConfig, Payload, PointId, PointStruct,
    PointVectors, PointsSelector, RecommendRequest, Record, ScoredPoint, ScrollRequest,
    SearchGroupsRequest, SearchParams, SearchRequest, SetPayload, UpdateVectors, VectorParams,
    VectorStruct, VectorsConfig, WithVectorSelector,
};
use rro::{Config, RroClient, RroError, StorageError};
use serde_json::json;

backend_tests!(
    exact_and_indexed_search_in_every_space,
    with_vector_selects_the_vectors_returned,
    update_and_delete_single_vectors,
    bad_requests_are_typed_and_change_nothing,
    recommend_using_and_group_search_in_a_named_space,
    qdrant_json_bodies_with_named_vectors,
    named_collections_survive_restarts,
);

/// The spaces of the test collections, in name order (the engine's row order): name, size,
/// distance.
const SPACES: [(&str, usize, Distance); 3] = [
    ("geo", 4, Distance::Euclid),
    ("image", 8, Distance::Dot),
    ("text", 6, Distance::Cosine),
];

/// Floats per stored row: all spaces side by side.
const WIDTH: usize = 4 + 8 + 6;

const GEO: usize = 0;
const IMAGE: usize = 1;
const TEXT: usize = 2;

/// Queries per space, from the shared random stream.
trait Queries {
    fn query(&mut self, space: usize) -> Vec<f32>;
}

impl Queries for Rng {
    fn query(&mut self, space: usize) -> Vec<f32> {
        self.vector(SPACES[space].1)
    }
}

/// A vector as the engine stores it (and prepares a query) in space `space`.
fn prepared(space: usize, v: &[f32]) -> Vec<f32> {
    oracle::prepared(SPACES[space].2, v)
}

/// The score of stored vector `v` for prepared query `q` in space `space`, in f64.
fn score(space: usize, q: &[f32], v: &[f32]) -> f64 {
    oracle::score(SPACES[space].2, q, v)
}

/// The name of space `space`.
fn name(space: usize) -> &'static str {
    SPACES[space].0
}

/// One point as the engine should hold it: vectors in stored form (Cosine normalised).
#[derive(Debug, Clone, PartialEq)]
struct Pt {
    vectors: BTreeMap<String, Vec<f32>>,
    payload: Payload,
}

impl Pt {
    fn has(&self, space: usize) -> bool {
        self.vectors.contains_key(name(space))
    }

    fn get(&self, space: usize) -> Option<&[f32]> {
        self.vectors.get(name(space)).map(Vec::as_slice)
    }

    fn group(&self) -> i64 {
        self.payload["group"].as_i64().unwrap()
    }
}

/// What the collection should hold.
#[derive(Debug, Clone, Default)]
struct Model(BTreeMap<u64, Pt>);

/// Whether point `id` is generated without the vector of space `space`; some lack two, and
/// ids ≡ 4 (mod 11), 3 (mod 7), 1 (mod 5) lack all three.
fn lacks(id: u64, space: usize) -> bool {
    match space {
        GEO => id % 11 == 4,
        IMAGE => id % 7 == 3,
        _ => id % 5 == 1,
    }
}

fn payload_of(id: u64) -> Payload {
    rro::payload!({
        "i": id,
        "group": (id % 13) as i64,
        "parity": if id.is_multiple_of(2) { "even" } else { "odd" },
    })
}

/// Points `ids` with random vectors (each drawn even if left out, so streams replay), added
/// to `model`.
fn generate(rng: &mut Rng, ids: std::ops::Range<u64>, model: &mut Model) -> Vec<PointStruct> {
    let mut out = Vec::new();
    for id in ids {
        let mut raw = BTreeMap::new();
        let mut stored = BTreeMap::new();
        for (k, (name, dim, _)) in SPACES.iter().enumerate() {
            let v = rng.vector(*dim);
            if !lacks(id, k) {
                stored.insert(name.to_string(), prepared(k, &v));
                raw.insert(name.to_string(), v);
            }
        }
        let payload = payload_of(id);
        out.push(PointStruct::new(id, VectorStruct::Named(raw)).with_payload(payload.clone()));
        model.0.insert(
            id,
            Pt {
                vectors: stored,
                payload,
            },
        );
    }
    out
}

/// A named collection with the test spaces that seals and indexes a segment once
/// `threshold_points` points are in it.
fn indexed(threshold_points: usize) -> CreateCollection {
    let kb = threshold_points * WIDTH * 4 / 1024;
    CreateCollection::new(spaces_config())
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

fn spaces_config() -> VectorsConfig {
    VectorsConfig::named(
        SPACES
            .iter()
            .map(|(name, dim, distance)| (*name, VectorParams::new(*dim as u64, *distance))),
    )
}

async fn upsert_all(client: &RroClient, name: &str, points: Vec<PointStruct>) {
    for chunk in points.chunks(300) {
        client
            .upsert_points(name, chunk.to_vec())
            .await
            .expect("upsert");
    }
}

async fn wait_ready(client: &RroClient, name: &str) -> rro::models::CollectionInfo {
    client
        .with_timeout(Duration::from_secs(110))
        .wait_index_ready(name)
        .await
        .expect("index ready")
}

fn num(id: PointId) -> u64 {
    match id {
        PointId::Num(n) => n,
        PointId::Uuid(u) => panic!("numeric ids only, got {u}"),
    }
}

/// Every point of `model` that `keep` accepts and that has a vector of `space`, best first
/// for raw query `query` (ties by id, as the engine breaks them).
fn ranking(
    model: &Model,
    space: usize,
    query: &[f32],
    keep: &dyn Fn(u64, &Pt) -> bool,
) -> Vec<(u64, f64)> {
    let q = prepared(space, query);
    let all: Vec<(u64, f64)> = model
        .0
        .iter()
        .filter(|(id, p)| keep(**id, p))
        .filter_map(|(id, p)| Some((*id, score(space, &q, p.get(space)?))))
        .collect();
    oracle::rank(all, SPACES[space].2)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

/// `hits` are the first `limit` of `truth` (a full ranking): same length, every hit a point
/// of the ranking with its true score, scores position by position equal to the ranking's.
/// Ids must then match the ranking's, except that points whose scores differ by less than
/// float rounding may swap.
fn assert_ranked(hits: &[ScoredPoint], truth: &[(u64, f64)], limit: usize, what: &str) {
    let want = &truth[..limit.min(truth.len())];
    assert_eq!(
        hits.len(),
        want.len(),
        "{what}: {} hits, {} expected",
        hits.len(),
        want.len()
    );
    let scores: BTreeMap<u64, f64> = truth.iter().copied().collect();
    let mut seen = HashSet::new();
    for (i, (hit, (want_id, want_score))) in hits.iter().zip(want).enumerate() {
        let id = num(hit.id);
        assert!(seen.insert(id), "{what}: point {id} returned twice");
        let Some(&true_score) = scores.get(&id) else {
            panic!("{what}: hit {i} is point {id}, which has no vector in this space or is filtered out")
        };
        assert!(
            close(f64::from(hit.score), true_score),
            "{what}: point {id} scored {} (true score {true_score})",
            hit.score
        );
        assert!(
            close(f64::from(hit.score), *want_score),
            "{what}: hit {i} is point {id} with score {}, expected point {want_id} with {want_score}",
            hit.score
        );
    }
}

fn named_query(space: usize, v: Vec<f32>) -> NamedVectorStruct {
    NamedVectorStruct::named(name(space), v)
}

/// An exact search of `space` for `query` equals brute force over the model.
async fn assert_exact_search(
    client: &RroClient,
    coll: &str,
    model: &Model,
    space: usize,
    query: &[f32],
    limit: usize,
) {
    let hits = client
        .search(
            coll,
            SearchRequest::new(named_query(space, query.to_vec()), limit).exact(true),
        )
        .await
        .unwrap();
    let truth = ranking(model, space, query, &|_, _| true);
    assert_ranked(
        &hits,
        &truth,
        limit,
        &format!("exact {} top {limit}", name(space)),
    );
}

/// Approximate searches of `space`: never a point without a vector of the space (or missing
/// from the model); returns recall@10 against brute force.
async fn approximate_recall(
    client: &RroClient,
    coll: &str,
    model: &Model,
    space: usize,
    queries: &[Vec<f32>],
) -> f64 {
    let mut found = 0;
    for q in queries {
        let hits = client
            .search(coll, SearchRequest::new(named_query(space, q.clone()), 10))
            .await
            .unwrap();
        for hit in &hits {
            let id = num(hit.id);
            assert!(
                model.0.get(&id).is_some_and(|p| p.has(space)),
                "approximate {} search returned point {id}, which has no such vector",
                name(space)
            );
        }
        let truth: HashSet<u64> = ranking(model, space, q, &|_, _| true)
            .into_iter()
            .take(10)
            .map(|(id, _)| id)
            .collect();
        found += hits.iter().filter(|h| truth.contains(&num(h.id))).count();
    }
    found as f64 / (queries.len() * 10) as f64
}

/// Approximate searches with a limit above the population return only points with the
/// space's vector.
async fn assert_wide_search_has_only_present(
    client: &RroClient,
    coll: &str,
    model: &Model,
    space: usize,
    query: &[f32],
) {
    let population = model.0.values().filter(|p| p.has(space)).count();
    let hits = client
        .search(
            coll,
            SearchRequest::new(named_query(space, query.to_vec()), population + 100).hnsw_ef(400),
        )
        .await
        .unwrap();
    assert!(hits.len() <= population);
    let mut seen = HashSet::new();
    for hit in &hits {
        let id = num(hit.id);
        assert!(seen.insert(id), "point {id} twice");
        assert!(
            model.0.get(&id).is_some_and(|p| p.has(space)),
            "wide {} search returned point {id}, which has no such vector",
            name(space)
        );
    }
}

/// The records of `model` as `get_points(.., with_vector(true))` returns them.
fn expected_records(model: &Model) -> Vec<Record> {
    model
        .0
        .iter()
        .map(|(id, p)| Record {
            id: PointId::Num(*id),
            payload: Some(p.payload.clone()),
            vector: Some(VectorStruct::Named(p.vectors.clone())),
            order_value: None,
        })
        .collect()
}

async fn all_records(
    client: &RroClient,
    coll: &str,
    ids: impl Iterator<Item = u64>,
) -> Vec<Record> {
    client
        .get_points(coll, GetPoints::new(ids).with_vector(true))
        .await
        .unwrap()
}

/// Every point, vectors and payload, is what the model says; nothing else exists.
async fn assert_holds(client: &RroClient, coll: &str, model: &Model) {
    let max = model.0.keys().next_back().copied().unwrap_or(0);
    let records = all_records(client, coll, 0..max + 50).await;
    let expected = expected_records(model);
    assert_eq!(records.len(), expected.len(), "number of points");
    for (got, want) in records.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    assert_eq!(
        client.count_points(coll).await.unwrap(),
        model.0.len() as u64
    );
}

fn bad_request<T: std::fmt::Debug>(result: rro::Result<T>, hint: &str) {
    match result {
        Err(RroError::Storage(StorageError::BadRequest(message))) => assert!(
            message.contains(hint),
            "BadRequest {message:?} does not mention {hint:?}"
        ),
        other => panic!("expected BadRequest mentioning {hint:?}, got {other:?}"),
    }
}

fn wrong_dimension<T: std::fmt::Debug>(result: rro::Result<T>, want: usize, given: usize) {
    match result {
        Err(RroError::Storage(StorageError::WrongDimension { expected, got, .. })) => {
            assert_eq!((expected, got), (want, given))
        }
        other => panic!("expected WrongDimension {want} vs {given}, got {other:?}"),
    }
}

// 1. ---------------------------------------------------------------------------------------

async fn exact_and_indexed_search_in_every_space(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("multi", indexed(300))
        .await
        .unwrap();
    let info = client.collection_info("multi").await.unwrap();
    assert_eq!(info.config.params.vectors, spaces_config());
    let mut rng = Rng(11);
    let mut model = Model::default();
    let points = generate(&mut rng, 0..1500, &mut model);
    for space in 0..3 {
        let lacking = model.0.values().filter(|p| !p.has(space)).count();
        assert!(lacking > 100, "space {space}: {lacking} points lack it");
    }
    assert!(model.0.values().any(|p| p.vectors.is_empty()));
    upsert_all(&client, "multi", points).await;

    // Exact search is brute force over the points that have the space's vector, whatever
    // the optimizer is doing meanwhile.
    for space in 0..3 {
        for _ in 0..8 {
            let q = rng.query(space);
            assert_exact_search(&client, "multi", &model, space, &q, 10).await;
        }
        // A limit above the population: every point with the vector, none without.
        let q = rng.query(space);
        assert_exact_search(&client, "multi", &model, space, &q, 2000).await;
    }

    let info = wait_ready(&client, "multi").await;
    assert_eq!(info.status, CollectionStatus::Green);
    assert_eq!(info.points_count, 1500);
    assert!(info.segments_count >= 2, "{info:?}");
    // Each space's graph answers: the space's vectors are read at its column of the rows,
    // `size` floats long, for a query of `size` floats.
    for space in 0..3 {
        let q = rng.query(space);
        let hits = client
            .search(
                "multi",
                SearchRequest::new(named_query(space, q.clone()), 10).hnsw_ef(64),
            )
            .await;
        assert!(
            hits.as_ref().is_ok_and(|h| h.len() == 10),
            "approximate search in indexed space {:?}: {hits:?}",
            name(space)
        );
    }

    for space in 0..3 {
        // Exact, again, now that sealed and indexed segments exist; with offsets and filters.
        for _ in 0..5 {
            let q = rng.query(space);
            assert_exact_search(&client, "multi", &model, space, &q, 10).await;
        }
        let q = rng.query(space);
        assert_exact_search(&client, "multi", &model, space, &q, 2000).await;
        let hits = client
            .search(
                "multi",
                SearchRequest::new(named_query(space, q.clone()), 5)
                    .exact(true)
                    .offset(7),
            )
            .await
            .unwrap();
        let truth = ranking(&model, space, &q, &|_, _| true);
        assert_ranked(&hits, &truth[7..], 5, "exact with offset");
        for group in [3i64, 8] {
            let filter = Filter::must([Condition::matches("group", group)]);
            let keep = |_: u64, p: &Pt| p.group() == group;
            let truth = ranking(&model, space, &q, &keep);
            let exact = client
                .search(
                    "multi",
                    SearchRequest::new(named_query(space, q.clone()), 10)
                        .exact(true)
                        .filter(filter.clone()),
                )
                .await
                .unwrap();
            assert_ranked(&exact, &truth, 10, "exact filtered");
            // Through the graphs, filtered: only matching points that have the vector.
            let approx = client
                .search(
                    "multi",
                    SearchRequest::new(named_query(space, q.clone()), 10)
                        .hnsw_ef(128)
                        .filter(filter),
                )
                .await
                .unwrap();
            assert!(approx.len() == 10);
            let allowed: HashSet<u64> = truth.iter().map(|(id, _)| *id).collect();
            assert!(approx.iter().all(|h| allowed.contains(&num(h.id))));
        }

        let queries: Vec<Vec<f32>> = (0..30).map(|_| rng.query(space)).collect();
        let r = approximate_recall(&client, "multi", &model, space, &queries).await;
        assert!(r >= 0.9, "recall@10 in {} is {r}", name(space));
        let q = rng.query(space);
        assert_wide_search_has_only_present(&client, "multi", &model, space, &q).await;
        // A point's own vector finds it first in Euclid and Cosine (Dot: not necessarily).
        if space != IMAGE {
            let mut missed = Vec::new();
            for (id, p) in model.0.iter().step_by(37) {
                let Some(v) = p.get(space) else { continue };
                let hits = client
                    .search(
                        "multi",
                        SearchRequest::new(named_query(space, v.to_vec()), 1).hnsw_ef(64),
                    )
                    .await
                    .unwrap();
                if hits.first().map(|h| num(h.id)) != Some(*id) {
                    missed.push(*id);
                }
            }
            assert!(
                missed.len() <= 1,
                "not found by their own vectors: {missed:?}"
            );
        }
    }
    assert_holds(&client, "multi", &model).await;
    // Every sealed segment has a graph per space ("Live points in segments with an HNSW
    // index"): the count must not stay 0 for a named collection.
    assert!(
        info.indexed_vectors_count > 0,
        "a named collection with every graph built reports no indexed vectors: {info:?}"
    );
    client.shutdown().await.unwrap();
}

// 2. ---------------------------------------------------------------------------------------

fn only(p: &Pt, names: &[&str]) -> VectorStruct {
    VectorStruct::Named(
        p.vectors
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    )
}

fn names(list: &[&str]) -> WithVectorSelector {
    WithVectorSelector::Names(list.iter().map(|s| s.to_string()).collect())
}

async fn with_vector_selects_the_vectors_returned(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("multi", indexed(100))
        .await
        .unwrap();
    let mut rng = Rng(22);
    let mut model = Model::default();
    let points = generate(&mut rng, 0..400, &mut model);
    upsert_all(&client, "multi", points).await;
    wait_ready(&client, "multi").await;
    // Point 2 has all three, 3 only geo and text, 1 no text, 136 none (4 mod 11, 3 mod 7,
    // 1 mod 5), and 2000, added now to the write segment, none either.
    let none = PointStruct::new(2000u64, VectorStruct::Named(BTreeMap::new()))
        .with_payload(payload_of(2000));
    client.upsert_points("multi", vec![none]).await.unwrap();
    model.0.insert(
        2000,
        Pt {
            vectors: BTreeMap::new(),
            payload: payload_of(2000),
        },
    );
    assert!(model.0[&136].vectors.is_empty());
    assert_eq!(model.0[&2].vectors.len(), 3);
    assert!(!model.0[&3].has(IMAGE) && model.0[&3].has(TEXT));
    assert!(!model.0[&1].has(TEXT));

    let ids: Vec<u64> = vec![0, 1, 2, 3, 4, 10, 70, 136, 399, 2000, 5000];
    let selectors: Vec<(WithVectorSelector, Option<Vec<&str>>)> = vec![
        (true.into(), Some(vec!["geo", "image", "text"])),
        (names(&["text"]), Some(vec!["text"])),
        (names(&["image", "geo"]), Some(vec!["image", "geo"])),
        (names(&[]), Some(vec![])),
        (false.into(), None),
    ];
    for (selector, wanted) in &selectors {
        let want = |id: u64| wanted.as_ref().map(|w| only(&model.0[&id], w));
        // get_points
        let records = client
            .get_points(
                "multi",
                GetPoints::new(ids.iter().copied()).with_vector(selector.clone()),
            )
            .await
            .unwrap();
        assert_eq!(records.len(), ids.len() - 1);
        for r in &records {
            let id = num(r.id);
            assert_eq!(r.vector, want(id), "get {id} with {selector:?}");
            assert_eq!(r.payload.as_ref(), Some(&model.0[&id].payload));
        }
        // scroll: every point, those without any vector too
        let page = client
            .scroll(
                "multi",
                ScrollRequest::new(1000).with_vector(selector.clone()),
            )
            .await
            .unwrap();
        assert_eq!(page.points.len(), model.0.len());
        assert_eq!(page.next_page_offset, None);
        for r in &page.points {
            assert_eq!(r.vector, want(num(r.id)), "scroll with {selector:?}");
        }
        // search, exact and through the graphs, in each space
        for space in 0..3 {
            let q = rng.query(space);
            for request in [
                SearchRequest::new(named_query(space, q.clone()), 50).exact(true),
                SearchRequest::new(named_query(space, q.clone()), 50),
            ] {
                let hits = client
                    .search("multi", request.with_vector(selector.clone()))
                    .await
                    .unwrap();
                assert_eq!(hits.len(), 50);
                for h in &hits {
                    let id = num(h.id);
                    assert!(model.0[&id].has(space));
                    assert_eq!(h.vector, want(id), "search hit {id} with {selector:?}");
                }
            }
        }
    }
    // Defaults: get and scroll return no vectors unless asked, searches neither.
    let r = client
        .get_points("multi", GetPoints::new([2u64]))
        .await
        .unwrap();
    assert_eq!(r[0].vector, None);
    let page = client.scroll("multi", ScrollRequest::new(3)).await.unwrap();
    assert!(page.points.iter().all(|r| r.vector.is_none()));
    let hits = client
        .search(
            "multi",
            SearchRequest::new(named_query(TEXT, rng.query(TEXT)), 3),
        )
        .await
        .unwrap();
    assert!(hits.iter().all(|h| h.vector.is_none()));
    // The stored Cosine vector is the normalised one; the others as given.
    let r = client
        .get_points("multi", GetPoints::new([2u64]).with_vector(true))
        .await
        .unwrap();
    let text = r[0].vector.as_ref().unwrap().get("text").unwrap();
    let norm: f32 = text.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-5);
    assert_eq!(r[0].vector.as_ref().unwrap().as_single(), None);
    client.shutdown().await.unwrap();
}

// 3. ---------------------------------------------------------------------------------------

fn update_one(id: u64, pairs: &[(usize, Vec<f32>)]) -> PointVectors {
    PointVectors {
        id: PointId::Num(id),
        vector: VectorStruct::named(pairs.iter().map(|(s, v)| (SPACES[*s].0, v.clone()))),
    }
}

/// Exact searches in every space equal brute force, approximate ones never return a point
/// without the vector, and the points are what the model says.
async fn assert_consistent(client: &RroClient, coll: &str, model: &Model, rng: &mut Rng) {
    assert_holds(client, coll, model).await;
    for space in 0..3 {
        for _ in 0..3 {
            let q = rng.query(space);
            assert_exact_search(client, coll, model, space, &q, 10).await;
        }
        let q = rng.query(space);
        assert_exact_search(client, coll, model, space, &q, 5000).await;
        assert_wide_search_has_only_present(client, coll, model, space, &q).await;
        let queries: Vec<Vec<f32>> = (0..10).map(|_| rng.query(space)).collect();
        let r = approximate_recall(client, coll, model, space, &queries).await;
        assert!(r >= 0.85, "recall@10 in {} is {r}", name(space));
    }
}

async fn update_and_delete_single_vectors(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("multi", indexed(200))
        .await
        .unwrap();
    let mut rng = Rng(33);
    let mut model = Model::default();
    let points = generate(&mut rng, 0..1000, &mut model);
    upsert_all(&client, "multi", points).await;
    let info = wait_ready(&client, "multi").await;
    assert!(info.segments_count >= 2, "{info:?}");
    assert_consistent(&client, "multi", &model, &mut rng).await;

    // update_vectors: replace image only (points in sealed, indexed segments and in the write
    // segment); point 3 lacked image and gains it; a missing point is ignored.
    let mut updates = Vec::new();
    for id in [0u64, 3, 17, 250, 500, 777, 999] {
        let v = rng.vector(8);
        model
            .0
            .get_mut(&id)
            .unwrap()
            .vectors
            .insert("image".into(), v.clone());
        updates.push(update_one(id, &[(IMAGE, v)]));
    }
    updates.push(update_one(123_456, &[(IMAGE, rng.vector(8))]));
    // Two vectors of one point at once (text is normalised on the way in).
    let (g, t) = (rng.vector(4), rng.vector(6));
    let p = model.0.get_mut(&42).unwrap();
    p.vectors.insert("geo".into(), g.clone());
    p.vectors.insert("text".into(), prepared(TEXT, &t));
    updates.push(update_one(42, &[(GEO, g), (TEXT, t)]));
    client
        .update_vectors("multi", UpdateVectors { points: updates })
        .await
        .unwrap();
    assert!(client
        .get_points("multi", GetPoints::new([123_456u64]))
        .await
        .unwrap()
        .is_empty());
    assert_consistent(&client, "multi", &model, &mut rng).await;
    // The new image vector of point 3 as a query: ranked by its true Dot scores.
    let v3 = model.0[&3].get(IMAGE).unwrap().to_vec();
    assert_exact_search(&client, "multi", &model, IMAGE, &v3, 20).await;

    // delete_vectors by ids: image from every 9th point.
    let by_ids: Vec<u64> = (0..1000).step_by(9).collect();
    client
        .delete_vectors(
            "multi",
            DeleteVectors::new(["image"], PointsSelector::ids(by_ids.clone())),
        )
        .await
        .unwrap();
    for id in &by_ids {
        model.0.get_mut(id).unwrap().vectors.remove("image");
    }
    // delete_vectors by filter: text from group 3.
    client
        .delete_vectors(
            "multi",
            DeleteVectors::new(
                ["text"],
                PointsSelector::filter(Filter::must([Condition::matches("group", 3)])),
            ),
        )
        .await
        .unwrap();
    let group3: Vec<u64> = model
        .0
        .iter()
        .filter(|(_, p)| p.group() == 3)
        .map(|(id, _)| *id)
        .collect();
    assert!(group3.len() > 50);
    for id in &group3 {
        model.0.get_mut(id).unwrap().vectors.remove("text");
    }
    // Two names at once, one of them already absent; and a point losing its last vectors.
    client
        .delete_vectors(
            "multi",
            DeleteVectors::new(["geo", "text"], PointsSelector::ids([7u64, 16, 1])),
        )
        .await
        .unwrap();
    for id in [7u64, 16, 1] {
        let p = model.0.get_mut(&id).unwrap();
        p.vectors.remove("geo");
        p.vectors.remove("text");
    }

    // Still every point, in count and scroll.
    assert_eq!(client.count_points("multi").await.unwrap(), 1000);
    let page = client
        .scroll("multi", ScrollRequest::new(2000))
        .await
        .unwrap();
    assert_eq!(page.points.len(), 1000);
    assert_consistent(&client, "multi", &model, &mut rng).await;

    // A point without image is never found in image, not even by its former vector through
    // the graph; it is still found in the spaces it has.
    let mut old = Rng(33);
    let mut scratch = Model::default();
    let originals = generate(&mut old, 0..1000, &mut scratch);
    for id in by_ids.iter().copied().step_by(5) {
        let VectorStruct::Named(raw) = &originals[id as usize].vector else {
            unreachable!()
        };
        if let Some(v) = raw.get("image") {
            for request in [
                SearchRequest::new(named_query(IMAGE, v.clone()), 20).hnsw_ef(64),
                SearchRequest::new(named_query(IMAGE, v.clone()), 20).exact(true),
            ] {
                let hits = client.search("multi", request).await.unwrap();
                assert!(hits.iter().all(|h| num(h.id) != id), "point {id} in image");
            }
        }
        if let Some(v) = model.0[&id].get(GEO) {
            let hits = client
                .search(
                    "multi",
                    SearchRequest::new(named_query(GEO, v.to_vec()), 1).exact(true),
                )
                .await
                .unwrap();
            assert_eq!(num(hits[0].id), id);
        }
    }
    // A filtered search on the group that lost text, in text: nothing.
    let hits = client
        .search(
            "multi",
            SearchRequest::new(named_query(TEXT, rng.query(TEXT)), 10)
                .filter(Filter::must([Condition::matches("group", 3)])),
        )
        .await
        .unwrap();
    assert!(hits.is_empty(), "{hits:?}");

    // A payload write keeps the vectors as they are (absent ones stay absent).
    client
        .set_payload(
            "multi",
            SetPayload::new(
                rro::payload!({"touched": true}),
                PointsSelector::ids([0u64, 1, 3]),
            ),
        )
        .await
        .unwrap();
    for id in [0u64, 1, 3] {
        model
            .0
            .get_mut(&id)
            .unwrap()
            .payload
            .insert("touched".into(), json!(true));
    }
    assert_holds(&client, "multi", &model).await;

    // After the optimizer has had its say (moved points, vacuums), the same.
    wait_ready(&client, "multi").await;
    assert_consistent(&client, "multi", &model, &mut rng).await;

    // Two entries for one point in one request (different vectors): both apply, in order,
    // as two requests would.
    let (a, b) = (rng.vector(8), rng.vector(4));
    client
        .update_vectors(
            "multi",
            UpdateVectors {
                points: vec![
                    update_one(5, &[(IMAGE, a.clone())]),
                    update_one(5, &[(GEO, b.clone())]),
                ],
            },
        )
        .await
        .unwrap();
    let p = model.0.get_mut(&5).unwrap();
    p.vectors.insert("image".into(), a);
    p.vectors.insert("geo".into(), b);
    let got = client
        .get_points("multi", GetPoints::new([5u64]).with_vector(true))
        .await
        .unwrap();
    assert_eq!(
        got[0].vector,
        Some(VectorStruct::Named(model.0[&5].vectors.clone())),
        "update_vectors with two entries for point 5 kept only the last one"
    );
    client.shutdown().await.unwrap();
}

// 4. ---------------------------------------------------------------------------------------

async fn snapshot(client: &RroClient, coll: &str) -> (Vec<Record>, u64) {
    let records = all_records(client, coll, 0..200).await;
    (records, client.count_points(coll).await.unwrap())
}

async fn bad_requests_are_typed_and_change_nothing(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("multi", CreateCollection::new(spaces_config()))
        .await
        .unwrap();
    client
        .create_collection("plain", VectorParams::new(4, Distance::Dot))
        .await
        .unwrap();
    let mut rng = Rng(44);
    let mut model = Model::default();
    let points = generate(&mut rng, 0..60, &mut model);
    upsert_all(&client, "multi", points).await;
    client
        .upsert_points(
            "plain",
            (0..30u64)
                .map(|i| PointStruct::new(i, rng.vector(4)).with_payload(payload_of(i)))
                .collect(),
        )
        .await
        .unwrap();
    let multi_before = snapshot(&client, "multi").await;
    let plain_before = snapshot(&client, "plain").await;
    assert_eq!(multi_before.0, expected_records(&model));

    let good = |id: u64, rng: &mut Rng| {
        PointStruct::new(
            id,
            VectorStruct::named([("image", rng.vector(8)), ("geo", rng.vector(4))]),
        )
    };

    // Upserts: unknown name, one wrong size among good vectors, an unnamed vector, each in
    // a batch with good points (a new one and an overwrite): nothing of the batch applies.
    let unknown = PointStruct::new(
        101u64,
        VectorStruct::named([("image", rng.vector(8)), ("audio", rng.vector(3))]),
    );
    bad_request(
        client
            .upsert_points(
                "multi",
                vec![good(100, &mut rng), good(1, &mut rng), unknown],
            )
            .await,
        "audio",
    );
    let wrong_size = PointStruct::new(
        102u64,
        VectorStruct::named([("image", rng.vector(8)), ("text", rng.vector(5))]),
    );
    wrong_dimension(
        client
            .upsert_points(
                "multi",
                vec![good(100, &mut rng), good(2, &mut rng), wrong_size],
            )
            .await,
        6,
        5,
    );
    bad_request(
        client
            .upsert_points(
                "multi",
                vec![good(100, &mut rng), PointStruct::new(103u64, rng.vector(8))],
            )
            .await,
        "named vectors",
    );
    let non_finite = PointStruct::new(
        104u64,
        VectorStruct::named([("geo", vec![0.0, f32::NAN, 0.0, 0.0])]),
    );
    assert!(matches!(
        client
            .upsert_points("multi", vec![good(100, &mut rng), non_finite])
            .await,
        Err(RroError::Storage(StorageError::NonFiniteVector { .. }))
    ));
    // A named vector to an unnamed collection.
    bad_request(
        client
            .upsert_points(
                "plain",
                vec![
                    PointStruct::new(100u64, rng.vector(4)),
                    PointStruct::new(101u64, VectorStruct::named([("image", rng.vector(4))])),
                ],
            )
            .await,
        "image",
    );

    // Searches.
    bad_request(
        client
            .search(
                "multi",
                SearchRequest::new(NamedVectorStruct::named("audio", rng.vector(3)), 3),
            )
            .await,
        "audio",
    );
    bad_request(
        client
            .search("multi", SearchRequest::new(rng.vector(8), 3))
            .await,
        "name the one to use",
    );
    wrong_dimension(
        client
            .search(
                "multi",
                SearchRequest::new(named_query(TEXT, rng.vector(8)), 3),
            )
            .await,
        6,
        8,
    );
    bad_request(
        client
            .search(
                "plain",
                SearchRequest::new(NamedVectorStruct::named("image", rng.vector(4)), 3),
            )
            .await,
        "image",
    );
    bad_request(
        client
            .search_batch(
                "multi",
                vec![
                    SearchRequest::new(named_query(GEO, rng.vector(4)), 3),
                    SearchRequest::new(NamedVectorStruct::named("audio", rng.vector(3)), 3),
                ],
            )
            .await,
        "audio",
    );
    bad_request(
        client
            .search_groups(
                "multi",
                SearchGroupsRequest::new(
                    NamedVectorStruct::named("audio", rng.vector(3)),
                    "group",
                    2,
                    2,
                ),
            )
            .await,
        "audio",
    );

    // Recommend: unknown `using`, none on a named collection, an example without the vector.
    bad_request(
        client
            .recommend("multi", RecommendRequest::new([2u64], 3).using("audio"))
            .await,
        "audio",
    );
    bad_request(
        client
            .recommend("multi", RecommendRequest::new([2u64], 3))
            .await,
        "name the one to use",
    );
    assert!(!model.0[&3].has(IMAGE));
    bad_request(
        client
            .recommend("multi", RecommendRequest::new([2u64, 3], 3).using("image"))
            .await,
        "no vector",
    );
    bad_request(
        client
            .recommend(
                "multi",
                RecommendRequest::new([2u64], 3)
                    .negative([3u64])
                    .using("image"),
            )
            .await,
        "no vector",
    );
    bad_request(
        client
            .recommend("plain", RecommendRequest::new([2u64], 3).using("image"))
            .await,
        "image",
    );

    // update_vectors: a good entry, then an unknown name / a wrong size / an unnamed vector.
    let good_update = update_one(2, &[(IMAGE, rng.vector(8))]);
    bad_request(
        client
            .update_vectors(
                "multi",
                UpdateVectors {
                    points: vec![
                        good_update.clone(),
                        PointVectors {
                            id: PointId::Num(4),
                            vector: VectorStruct::named([("audio", rng.vector(3))]),
                        },
                    ],
                },
            )
            .await,
        "audio",
    );
    wrong_dimension(
        client
            .update_vectors(
                "multi",
                UpdateVectors {
                    points: vec![good_update.clone(), update_one(4, &[(GEO, rng.vector(5))])],
                },
            )
            .await,
        4,
        5,
    );
    bad_request(
        client
            .update_vectors(
                "multi",
                UpdateVectors {
                    points: vec![
                        good_update.clone(),
                        PointVectors {
                            id: PointId::Num(4),
                            vector: VectorStruct::Single(rng.vector(8)),
                        },
                    ],
                },
            )
            .await,
        "named vectors",
    );
    bad_request(
        client
            .update_vectors(
                "plain",
                UpdateVectors {
                    points: vec![PointVectors {
                        id: PointId::Num(4),
                        vector: VectorStruct::named([("image", rng.vector(4))]),
                    }],
                },
            )
            .await,
        "image",
    );

    // delete_vectors: an unnamed collection, an unknown name (with a known one).
    bad_request(
        client
            .delete_vectors(
                "plain",
                DeleteVectors::new([""], PointsSelector::ids([1u64, 2])),
            )
            .await,
        "unnamed",
    );
    bad_request(
        client
            .delete_vectors(
                "multi",
                DeleteVectors::new(["image", "audio"], PointsSelector::ids([1u64, 2])),
            )
            .await,
        "audio",
    );

    // Collections: no spaces, a zero size (named and not), an oversized one.
    bad_request(
        client
            .create_collection(
                "c",
                CreateCollection::new(VectorsConfig::Multi(BTreeMap::new())),
            )
            .await,
        "at least one",
    );
    let from_json: CreateCollection = serde_json::from_value(json!({"vectors": {}})).unwrap();
    bad_request(
        client.create_collection("c", from_json).await,
        "at least one",
    );
    bad_request(
        client
            .create_collection(
                "c",
                CreateCollection::new(VectorsConfig::named([
                    ("image", VectorParams::new(4, Distance::Dot)),
                    ("text", VectorParams::new(0, Distance::Cosine)),
                ])),
            )
            .await,
        "\"text\"",
    );
    bad_request(
        client
            .create_collection("c", VectorParams::new(0, Distance::Dot))
            .await,
        "size",
    );
    bad_request(
        client
            .create_collection(
                "c",
                CreateCollection::new(VectorsConfig::named([(
                    "big",
                    VectorParams::new(70_000, Distance::Dot),
                )])),
            )
            .await,
        "\"big\"",
    );
    assert!(!client.collection_exists("c").await.unwrap());
    assert_eq!(
        client.list_collections().await.unwrap().collections.len(),
        2
    );

    // Nothing changed.
    assert_eq!(snapshot(&client, "multi").await, multi_before);
    assert_eq!(snapshot(&client, "plain").await, plain_before);
    // And the good parts of the refused requests work on their own.
    client
        .update_vectors(
            "multi",
            UpdateVectors {
                points: vec![good_update],
            },
        )
        .await
        .unwrap();
    client
        .upsert_points("multi", vec![good(100, &mut rng)])
        .await
        .unwrap();
    assert_eq!(client.count_points("multi").await.unwrap(), 61);

    // An empty map of named vectors is not a vector of an unnamed collection: refused like
    // any named vector there, instead of storing a point whose vector is all NaN.
    let empty = client
        .upsert_points(
            "plain",
            vec![PointStruct::new(
                150u64,
                VectorStruct::Named(BTreeMap::new()),
            )],
        )
        .await;
    let stored = snapshot(&client, "plain").await;
    let hits = client
        .search(
            "plain",
            SearchRequest::new(vec![1.0, 0.0, 0.0, 0.0], 40).with_vector(true),
        )
        .await
        .unwrap();
    assert!(
        matches!(empty, Err(RroError::Storage(StorageError::BadRequest(_)))),
        "upsert of an empty named-vector map into an unnamed collection gave {empty:?}; \
         now stored: {:?}; search hits: {:?}",
        stored.0.iter().find(|r| r.id == PointId::Num(150)),
        hits.iter().find(|h| h.id == PointId::Num(150)),
    );
    assert_eq!(stored, plain_before);
    client.shutdown().await.unwrap();
}

// 5. ---------------------------------------------------------------------------------------

/// The query recommend builds from examples (stored vectors), exactly as the engine does:
/// averages summed in f64, then `avg(pos) + (avg(pos) - avg(neg))` in f32.
fn recommend_query(model: &Model, space: usize, positive: &[u64], negative: &[u64]) -> Vec<f32> {
    let vectors = |ids: &[u64]| -> Vec<&[f32]> {
        ids.iter()
            .map(|id| model.0[id].get(space).unwrap())
            .collect()
    };
    oracle::recommend_query(&vectors(positive), &vectors(negative))
}

async fn recommend_using_and_group_search_in_a_named_space(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("multi", indexed(300))
        .await
        .unwrap();
    let mut rng = Rng(55);
    let mut model = Model::default();
    let points = generate(&mut rng, 0..1500, &mut model);
    upsert_all(&client, "multi", points).await;
    wait_ready(&client, "multi").await;

    let exact = Some(SearchParams {
        hnsw_ef: None,
        exact: true,
        ..SearchParams::default()
    });
    for space in 0..3 {
        let having: Vec<u64> = model
            .0
            .iter()
            .filter(|(_, p)| p.has(space))
            .map(|(id, _)| *id)
            .collect();
        for round in 0..4usize {
            let pick = |k: usize| having[(round * 131 + k * 37) % having.len()];
            let positive = vec![pick(0), pick(1)];
            let negative = if round % 2 == 0 {
                vec![pick(2)]
            } else {
                vec![]
            };
            let mut request = RecommendRequest::new(positive.clone(), 10)
                .negative(negative.clone())
                .using(name(space));
            request.params = exact;
            let hits = client.recommend("multi", request.clone()).await.unwrap();
            let query = recommend_query(&model, space, &positive, &negative);
            let examples: HashSet<u64> = positive.iter().chain(&negative).copied().collect();
            let truth = ranking(&model, space, &query, &|id, _| !examples.contains(&id));
            assert_ranked(&hits, &truth, 10, "exact recommend");
            // The same as the search it stands for.
            let search = client
                .search(
                    "multi",
                    SearchRequest::new(named_query(space, query.clone()), 10)
                        .exact(true)
                        .filter(Filter::must_not([Condition::has_id(
                            examples.iter().copied(),
                        )])),
                )
                .await
                .unwrap();
            assert_eq!(hits, search, "recommend vs search in {}", name(space));
            // Through the graphs: never an example or a point without the vector, close to
            // the exact answer.
            request.params = None;
            let approx = client.recommend("multi", request).await.unwrap();
            assert_eq!(approx.len(), 10);
            let top: HashSet<u64> = truth.iter().take(10).map(|(id, _)| *id).collect();
            let mut found = 0;
            for h in &approx {
                let id = num(h.id);
                assert!(!examples.contains(&id) && model.0[&id].has(space));
                found += usize::from(top.contains(&id));
            }
            assert!(found >= 7, "approximate recommend found {found} of 10");
        }
        // Vector examples, validated against the space and prepared like a query.
        let v = rng.query(space);
        let mut request = RecommendRequest::new([v.clone()], 5).using(name(space));
        request.params = exact;
        let hits = client.recommend("multi", request).await.unwrap();
        let query = prepared(space, &v);
        let truth = ranking(&model, space, &query, &|_, _| true);
        assert_ranked(&hits, &truth, 5, "recommend from a vector");
    }

    // Group search with a named vector: the groups of the corresponding search.
    for (space, key, size, limit) in [
        (GEO, "group", 3usize, 4usize),
        (IMAGE, "parity", 5, 2),
        (TEXT, "group", 2, 13),
    ] {
        let q = rng.query(space);
        let mut request = SearchGroupsRequest::new(named_query(space, q.clone()), key, size, limit);
        request.params = exact;
        let groups = client
            .search_groups("multi", request.clone())
            .await
            .unwrap()
            .groups;
        let all = client
            .search(
                "multi",
                SearchRequest::new(named_query(space, q.clone()), 5000).exact(true),
            )
            .await
            .unwrap();
        assert_ranked(
            &all,
            &ranking(&model, space, &q, &|_, _| true),
            5000,
            "exact search for groups",
        );
        let mut expected: Vec<(GroupId, Vec<ScoredPoint>)> = Vec::new();
        for hit in all {
            let p = &model.0[&num(hit.id)];
            let gid = match &p.payload[key] {
                serde_json::Value::String(s) => GroupId::Str(s.clone()),
                value => GroupId::Int(value.as_i64().unwrap()),
            };
            match expected.iter_mut().find(|(g, _)| *g == gid) {
                Some((_, hits)) if hits.len() < size => hits.push(hit),
                Some(_) => {}
                None => expected.push((gid, vec![hit])),
            }
        }
        expected.truncate(limit);
        assert_eq!(groups.len(), expected.len());
        for (group, (gid, hits)) in groups.iter().zip(&expected) {
            assert_eq!(&group.id, gid);
            assert_eq!(&group.hits, hits, "group {gid:?} in {}", name(space));
        }
        // Through the graphs: only points with the vector, groups well formed.
        request.params = None;
        let approx = client.search_groups("multi", request).await.unwrap().groups;
        assert_eq!(approx.len(), limit);
        for group in &approx {
            assert!(!group.hits.is_empty() && group.hits.len() <= size);
            for h in &group.hits {
                assert!(model.0[&num(h.id)].has(space));
            }
        }
    }
    client.shutdown().await.unwrap();
}

// 6. ---------------------------------------------------------------------------------------

/// `value` serialises to JSON that deserialises to an equal value.
macro_rules! round_trips {
    ($value:expr, $ty:ty) => {{
        let json = serde_json::to_value(&$value).unwrap();
        let back: $ty = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, $value, "{json}");
    }};
}

async fn qdrant_json_bodies_with_named_vectors(ctx: Ctx) {
    // Create.
    let create_body = json!({
        "vectors": {
            "image": {"size": 4, "distance": "Dot"},
            "text": {"size": 3, "distance": "Cosine"}
        },
        "hnsw_config": {"m": 8, "ef_construct": 32, "full_scan_threshold": 1},
        "optimizers_config": {"indexing_threshold": 0}
    });
    let create: CreateCollection = serde_json::from_value(create_body.clone()).unwrap();
    let spaces = VectorsConfig::named([
        ("image", VectorParams::new(4, Distance::Dot)),
        ("text", VectorParams::new(3, Distance::Cosine)),
    ]);
    assert_eq!(create.vectors, spaces);
    assert_eq!(create.hnsw_config.unwrap().m, 8);
    round_trips!(create, CreateCollection);
    assert_eq!(
        serde_json::to_value(&create).unwrap()["vectors"],
        create_body["vectors"]
    );
    let single: CreateCollection =
        serde_json::from_value(json!({"vectors": {"size": 4, "distance": "Dot"}})).unwrap();
    assert_eq!(
        single.vectors,
        VectorsConfig::Single(VectorParams::new(4, Distance::Dot))
    );
    assert!(serde_json::from_value::<CreateCollection>(
        json!({"vectors": {"image": {"size": 4, "distance": "dot"}}})
    )
    .is_err());
    assert!(
        serde_json::from_value::<CreateCollection>(json!({"vectors": {"image": [4]}})).is_err()
    );

    // Points.
    let point_body = json!({
        "id": 7,
        "vector": {"image": [1.0, 0.0, 0.5, -2.0], "text": [3.0, 4.0, 0.0]},
        "payload": {"color": "red"}
    });
    let point: PointStruct = serde_json::from_value(point_body.clone()).unwrap();
    assert_eq!(
        point,
        PointStruct::new(
            7u64,
            VectorStruct::named([
                ("image", vec![1.0, 0.0, 0.5, -2.0]),
                ("text", vec![3.0, 4.0, 0.0])
            ])
        )
        .with_payload(rro::payload!({"color": "red"}))
    );
    assert_eq!(serde_json::to_value(&point).unwrap(), point_body);
    round_trips!(point, PointStruct);
    let partial: PointStruct =
        serde_json::from_value(json!({"id": 8, "vector": {"text": [0.0, 0.0, 1.0]}})).unwrap();
    assert_eq!(
        partial.vector,
        VectorStruct::named([("text", vec![0.0, 0.0, 1.0])])
    );
    round_trips!(partial, PointStruct);
    let plain: PointStruct =
        serde_json::from_value(json!({"id": 9, "vector": [0.5, 0.25]})).unwrap();
    assert_eq!(plain.vector, VectorStruct::Single(vec![0.5, 0.25]));
    assert!(
        serde_json::from_value::<PointStruct>(json!({"id": 1, "vector": {"image": "x"}})).is_err()
    );

    // Search.
    let search_body = json!({
        "vector": {"name": "image", "vector": [1.0, 0.0, 0.0, 0.0]},
        "limit": 2,
        "with_payload": true,
        "with_vector": ["text"]
    });
    let search: SearchRequest = serde_json::from_value(search_body.clone()).unwrap();
    assert_eq!(
        search,
        SearchRequest::new(
            NamedVectorStruct::named("image", vec![1.0, 0.0, 0.0, 0.0]),
            2
        )
        .with_payload(true)
        .with_vector(names(&["text"]))
    );
    assert_eq!(serde_json::to_value(&search).unwrap(), search_body);
    round_trips!(search, SearchRequest);
    assert!(serde_json::from_value::<SearchRequest>(
        json!({"vector": {"name": "image", "vector": [1.0], "extra": 1}, "limit": 1})
    )
    .is_err());

    // Update and delete vectors, recommend, group search.
    let update: UpdateVectors = serde_json::from_value(
        json!({"points": [{"id": 8, "vector": {"image": [0.0, 1.0, 0.0, 0.0]}}]}),
    )
    .unwrap();
    assert_eq!(
        update.points,
        vec![PointVectors {
            id: PointId::Num(8),
            vector: VectorStruct::named([("image", vec![0.0, 1.0, 0.0, 0.0])])
        }]
    );
    round_trips!(update, UpdateVectors);
    let delete_body = json!({"points": [7], "vector": ["text"]});
    let delete: DeleteVectors = serde_json::from_value(delete_body.clone()).unwrap();
    assert_eq!(
        delete,
        DeleteVectors::new(["text"], PointsSelector::ids([7u64]))
    );
    assert_eq!(serde_json::to_value(&delete).unwrap(), delete_body);
    let by_filter: DeleteVectors = serde_json::from_value(json!({
        "filter": {"must": [{"key": "color", "match": {"value": "blue"}}]},
        "vector": ["image"]
    }))
    .unwrap();
    assert_eq!(
        by_filter,
        DeleteVectors::new(
            ["image"],
            PointsSelector::filter(Filter::must([Condition::matches("color", "blue")]))
        )
    );
    assert_eq!(
        serde_json::from_value::<DeleteVectors>(serde_json::to_value(&by_filter).unwrap()).unwrap(),
        by_filter
    );
    assert!(serde_json::from_value::<DeleteVectors>(json!({"vector": ["image"]})).is_err());
    let recommend: RecommendRequest =
        serde_json::from_value(json!({"positive": [7], "using": "text", "limit": 3})).unwrap();
    assert_eq!(recommend, RecommendRequest::new([7u64], 3).using("text"));
    round_trips!(recommend, RecommendRequest);
    let groups: SearchGroupsRequest = serde_json::from_value(json!({
        "vector": {"name": "text", "vector": [0.0, 1.0, 0.0]},
        "group_by": "color", "group_size": 2, "limit": 3
    }))
    .unwrap();
    assert_eq!(
        groups,
        SearchGroupsRequest::new(
            NamedVectorStruct::named("text", vec![0.0, 1.0, 0.0]),
            "color",
            2,
            3
        )
    );
    round_trips!(groups, SearchGroupsRequest);

    // The same bodies through the engine.
    let client = ctx.open_default().await;
    client.create_collection("j", create).await.unwrap();
    let info = client.collection_info("j").await.unwrap();
    assert_eq!(
        serde_json::to_value(&info.config.params).unwrap(),
        json!({"vectors": create_body["vectors"]})
    );
    let blue: PointStruct = serde_json::from_value(json!({
        "id": 10, "vector": {"image": [0.5, 0.0, 0.0, 0.0], "text": [0.0, 1.0, 0.0]},
        "payload": {"color": "blue"}
    }))
    .unwrap();
    bad_request(
        client
            .upsert_points("j", vec![point, partial.clone(), plain, blue])
            .await,
        "named vectors",
    );
    assert_eq!(client.count_points("j").await.unwrap(), 0);
    let blue: PointStruct = serde_json::from_value(json!({
        "id": 10, "vector": {"image": [0.5, 0.0, 0.0, 0.0], "text": [0.0, 1.0, 0.0]},
        "payload": {"color": "blue"}
    }))
    .unwrap();
    let point: PointStruct = serde_json::from_value(point_body).unwrap();
    client
        .upsert_points("j", vec![point, partial, blue])
        .await
        .unwrap();
    let hits = client.search("j", search).await.unwrap();
    assert_eq!(
        serde_json::to_value(&hits).unwrap(),
        json!([
            {"id": 7, "version": hits[0].version, "score": 1.0, "payload": {"color": "red"},
             "vector": {"text": [0.6f32, 0.8f32, 0.0f32]}},
            {"id": 10, "version": hits[1].version, "score": 0.5, "payload": {"color": "blue"},
             "vector": {"text": [0.0, 1.0, 0.0]}}
        ])
    );
    let hits = client.recommend("j", recommend).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![PointId::Num(10), PointId::Num(8)]
    );
    let found = client.search_groups("j", groups).await.unwrap();
    assert_eq!(
        found
            .groups
            .iter()
            .map(|g| serde_json::to_value(&g.id).unwrap())
            .collect::<Vec<_>>(),
        vec![json!("blue"), json!("red")]
    );
    client.update_vectors("j", update).await.unwrap();
    client.delete_vectors("j", delete).await.unwrap();
    client.delete_vectors("j", by_filter).await.unwrap();
    let records = client
        .get_points(
            "j",
            serde_json::from_value(json!({"ids": [7, 8, 10], "with_vector": true})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&records).unwrap(),
        json!([
            {"id": 7, "payload": {"color": "red"}, "vector": {"image": [1.0, 0.0, 0.5, -2.0]}},
            {"id": 8, "payload": {}, "vector": {"image": [0.0, 1.0, 0.0, 0.0], "text": [0.0, 0.0, 1.0]}},
            {"id": 10, "payload": {"color": "blue"}, "vector": {"text": [0.0, 1.0, 0.0]}}
        ])
    );
    client.shutdown().await.unwrap();

    // A space may be called "size" (Qdrant reads a map without a numeric "size" as names).
    let sized: CreateCollection = serde_json::from_value(json!({
        "vectors": {"size": {"size": 2, "distance": "Dot"}, "text": {"size": 3, "distance": "Cosine"}}
    }))
    .unwrap_or_else(|e| panic!("a vector space named \"size\" is refused: {e}"));
    assert_eq!(
        sized.vectors,
        VectorsConfig::named([
            ("size", VectorParams::new(2, Distance::Dot)),
            ("text", VectorParams::new(3, Distance::Cosine)),
        ])
    );
}

// 7. ---------------------------------------------------------------------------------------

/// Exact searches in every space, to compare before and after a restart.
async fn exact_answers(client: &RroClient, coll: &str, seed: u64) -> Vec<Vec<ScoredPoint>> {
    let mut rng = Rng(seed);
    let mut all = Vec::new();
    for space in 0..3 {
        for _ in 0..4 {
            let request = SearchRequest::new(named_query(space, rng.query(space)), 15)
                .exact(true)
                .with_vector(true)
                .with_payload(true);
            all.push(client.search(coll, request).await.unwrap());
        }
    }
    all
}

async fn plain_answers(client: &RroClient) -> (Vec<Record>, Vec<Vec<ScoredPoint>>) {
    let records = client
        .get_points("plain", GetPoints::new(0..600u64).with_vector(true))
        .await
        .unwrap();
    let mut rng = Rng(77);
    let mut hits = Vec::new();
    for _ in 0..4 {
        hits.push(
            client
                .search(
                    "plain",
                    SearchRequest::new(rng.vector(5), 10)
                        .exact(true)
                        .with_vector(true),
                )
                .await
                .unwrap(),
        );
    }
    (records, hits)
}

async fn named_collections_survive_restarts(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = ctx.persistent_config(dir.path());
    let client = ctx.open(config.clone()).await;
    client
        .create_collection("multi", indexed(300))
        .await
        .unwrap();
    client
        .create_collection("plain", VectorParams::new(5, Distance::Cosine))
        .await
        .unwrap();
    // Vectors of one space memory-mapped: every space of a segment is then on disk.
    let on_disk = CreateCollection::new(VectorsConfig::named([
        ("geo", VectorParams::new(4, Distance::Euclid).on_disk(true)),
        ("image", VectorParams::new(8, Distance::Dot)),
        ("text", VectorParams::new(6, Distance::Cosine)),
    ]))
    .optimizers_config(OptimizersConfig {
        indexing_threshold: Some(100 * WIDTH * 4 / 1024),
        ..OptimizersConfig::default()
    });
    client.create_collection("disk", on_disk).await.unwrap();
    let mut rng = Rng(66);
    let mut disk = Model::default();
    let points = generate(&mut rng, 0..400, &mut disk);
    upsert_all(&client, "disk", points).await;
    client
        .delete_vectors(
            "disk",
            DeleteVectors::new(["geo"], PointsSelector::ids((0..400u64).step_by(3))),
        )
        .await
        .unwrap();
    for id in (0..400u64).step_by(3) {
        disk.0.get_mut(&id).unwrap().vectors.remove("geo");
    }
    wait_ready(&client, "disk").await;
    assert_holds(&client, "disk", &disk).await;
    let disk_answers = exact_answers(&client, "disk", 9).await;
    let mut model = Model::default();
    let points = generate(&mut rng, 0..1500, &mut model);
    upsert_all(&client, "multi", points).await;
    client
        .upsert_points(
            "plain",
            (0..300u64)
                .map(|i| PointStruct::new(i, rng.vector(5)).with_payload(payload_of(i)))
                .collect(),
        )
        .await
        .unwrap();
    client
        .delete_points("plain", PointsSelector::ids((0..300u64).step_by(7)))
        .await
        .unwrap();
    wait_ready(&client, "multi").await;
    // Writes after the optimizer sealed and indexed: in the log and the write segment, and
    // moving points out of indexed segments.
    let mut updates = Vec::new();
    for id in (0..1500u64).step_by(23) {
        let v = rng.vector(6);
        model
            .0
            .get_mut(&id)
            .unwrap()
            .vectors
            .insert("text".into(), prepared(TEXT, &v));
        updates.push(update_one(id, &[(TEXT, v)]));
    }
    client
        .update_vectors("multi", UpdateVectors { points: updates })
        .await
        .unwrap();
    let gone: Vec<u64> = (0..1500u64).step_by(17).collect();
    client
        .delete_vectors(
            "multi",
            DeleteVectors::new(["geo"], PointsSelector::ids(gone.clone())),
        )
        .await
        .unwrap();
    for id in gone {
        model.0.get_mut(&id).unwrap().vectors.remove("geo");
    }
    client
        .delete_vectors(
            "multi",
            DeleteVectors::new(
                ["image", "text"],
                PointsSelector::filter(Filter::must([Condition::matches("group", 11)])),
            ),
        )
        .await
        .unwrap();
    for p in model.0.values_mut().filter(|p| p.group() == 11) {
        p.vectors.remove("image");
        p.vectors.remove("text");
    }
    client
        .delete_points("multi", PointsSelector::ids([2u64, 3, 5, 8, 13]))
        .await
        .unwrap();
    for id in [2u64, 3, 5, 8, 13] {
        model.0.remove(&id);
    }
    wait_ready(&client, "multi").await;
    assert_holds(&client, "multi", &model).await;
    let records = all_records(&client, "multi", 0..1600).await;
    let answers = exact_answers(&client, "multi", 5).await;
    let plain = plain_answers(&client).await;
    assert_eq!(plain.0.len(), 300 - 43);
    assert!(client.shutdown().await.unwrap().is_clean());

    // A clean restart: the same points, the same exact answers; the graphs are used.
    let client = ctx.open(config.clone()).await;
    assert_eq!(all_records(&client, "multi", 0..1600).await, records);
    assert_eq!(exact_answers(&client, "multi", 5).await, answers);
    assert_eq!(plain_answers(&client).await, plain);
    assert_holds(&client, "disk", &disk).await;
    assert_eq!(exact_answers(&client, "disk", 9).await, disk_answers);
    let info = client.collection_info("multi").await.unwrap();
    assert_eq!(info.config.params.vectors, spaces_config());
    let mut check = Rng(6);
    for space in 0..3 {
        let queries: Vec<Vec<f32>> = (0..20).map(|_| check.query(space)).collect();
        let r = approximate_recall(&client, "multi", &model, space, &queries).await;
        assert!(
            r >= 0.9,
            "recall@10 in {} after restart is {r}",
            name(space)
        );
        let q = check.query(space);
        assert_wide_search_has_only_present(&client, "multi", &model, space, &q).await;
    }
    wait_ready(&client, "multi").await;
    assert_consistent(&client, "multi", &model, &mut check).await;
    client.shutdown().await.unwrap();

    // From the log alone: the engine without the client, dropped without a checkpoint (what
    // a crash leaves), then opened: named upserts, vector updates and deletes are replayed.
    {
        let toc = rro_core::storage::TableOfContent::open(&Config::new(dir.path())).unwrap();
        let coll = toc.collection("multi").unwrap();
        let more = generate(&mut rng, 1600..1700, &mut model);
        coll.upsert(more).unwrap();
        let v = rng.vector(8);
        model
            .0
            .get_mut(&1650)
            .unwrap()
            .vectors
            .insert("image".into(), v.clone());
        coll.update_vectors(&UpdateVectors {
            points: vec![update_one(1650, &[(IMAGE, v)])],
        })
        .unwrap();
        coll.delete_vectors(&DeleteVectors::new(
            ["text"],
            PointsSelector::ids([0u64, 1, 1600, 1601]),
        ))
        .unwrap();
        for id in [0u64, 1, 1600, 1601] {
            model.0.get_mut(&id).unwrap().vectors.remove("text");
        }
        let plain = toc.collection("plain").unwrap();
        plain
            .upsert(vec![PointStruct::new(
                500u64,
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
            )])
            .unwrap();
    }
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    assert_holds(&client, "multi", &model).await;
    let mut check = Rng(7);
    for space in 0..3 {
        for _ in 0..4 {
            let q = check.query(space);
            assert_exact_search(&client, "multi", &model, space, &q, 10).await;
        }
    }
    let (records, _) = plain_answers(&client).await;
    assert_eq!(records.len(), 300 - 43 + 1);
    let last = records.last().unwrap();
    assert_eq!(last.id, PointId::Num(500));
    let mut unit = vec![1.0f32, 2.0, 3.0, 4.0, 5.0];
    normalize(&mut unit);
    assert_eq!(last.plain_vector(), Some(&unit[..]));
    client.shutdown().await.unwrap();
}
