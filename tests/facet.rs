//! `facet` through the client on every backend, against counts computed here by brute force
//! over the points the test wrote: from the write segment's payloads, from sealed segments'
//! indexes, and from both with deletes, under filters and limits.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Ctx, Rng};
use rro::models::{
    Condition, CreateFieldIndex, Distance, FacetHit, FacetRequest, FacetValue, Filter, Payload,
    PayloadSchemaType, PointStruct, PointsSelector, VectorParams,
};
use rro::{RroClient, RroError, StorageError};
use serde_json::{json, Value};

backend_tests!(
    facets_match_brute_force_before_and_after_sealing,
    facet_refuses_what_qdrant_refuses,
);

const WORDS: [&str; 6] = ["libs", "python", "games", "fonts", "web", "x11"];

/// A payload with a keyword field `s` (a word, a list of words, or something else), an
/// integer field `n` (sometimes a float or a list), a bool field `b`, and a `group` to filter.
fn payload(rng: &mut Rng) -> Payload {
    let word = |rng: &mut Rng| Value::from(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
    let s = match rng.next() % 6 {
        0 => Value::Array(vec![word(rng), word(rng), word(rng)]),
        1 => Value::from(7),
        2 => Value::Null,
        _ => word(rng),
    };
    let n = match rng.next() % 5 {
        0 => json!([rng.next() % 4, rng.next() % 4]),
        1 => json!(1.5),
        2 => json!("3"),
        _ => json!(rng.next() % 6),
    };
    let mut payload = Payload::new();
    payload.insert("s".into(), s);
    payload.insert("n".into(), n);
    if !rng.next().is_multiple_of(4) {
        payload.insert("b".into(), Value::from(rng.next().is_multiple_of(2)));
    }
    payload.insert("group".into(), Value::from(rng.next() % 3));
    payload
}

/// The value of `leaf` an index of `kind` keeps.
fn kept(kind: &str, leaf: &Value) -> Option<FacetValue> {
    match (kind, leaf) {
        ("s", Value::String(s)) => Some(FacetValue::Keyword(s.clone())),
        ("n", Value::Number(n)) => n.as_i64().map(FacetValue::Integer),
        ("b", Value::Bool(b)) => Some(FacetValue::Bool(*b)),
        _ => None,
    }
}

/// Qdrant's answer computed by hand: each point counts each distinct value once; count
/// descending, then value ascending; `limit` hits.
fn brute_force(
    points: &BTreeMap<u64, Payload>,
    key: &str,
    group: Option<u64>,
    limit: usize,
) -> Vec<FacetHit> {
    let mut counts: BTreeMap<FacetValue, u64> = BTreeMap::new();
    for payload in points.values() {
        if group.is_some_and(|g| payload.get("group") != Some(&Value::from(g))) {
            continue;
        }
        let leaves: Vec<&Value> = match payload.get(key) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(value) => vec![value],
            None => vec![],
        };
        let distinct: BTreeSet<FacetValue> = leaves.iter().filter_map(|l| kept(key, l)).collect();
        for value in distinct {
            *counts.entry(value).or_default() += 1;
        }
    }
    let mut hits: Vec<FacetHit> = counts
        .into_iter()
        .map(|(value, count)| FacetHit { value, count })
        .collect();
    hits.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    hits.truncate(limit);
    hits
}

async fn check_all(client: &RroClient, points: &BTreeMap<u64, Payload>, when: &str) {
    for key in ["s", "n", "b"] {
        for group in [None, Some(0), Some(2)] {
            for limit in [None, Some(1), Some(3), Some(100)] {
                let mut request = FacetRequest::new(key);
                if let Some(g) = group {
                    request = request.filter(Filter::must([Condition::matches("group", g as i64)]));
                }
                if let Some(l) = limit {
                    request = request.limit(l);
                }
                let got = client.facet("f", request).await.unwrap();
                let want = brute_force(points, key, group, limit.unwrap_or(10));
                assert_eq!(
                    got.hits, want,
                    "{when}: key {key}, group {group:?}, limit {limit:?}"
                );
            }
        }
    }
}

/// Points `ids` with random payloads, recorded in `points`.
fn write(
    rng: &mut Rng,
    points: &mut BTreeMap<u64, Payload>,
    ids: std::ops::Range<u64>,
) -> Vec<PointStruct> {
    ids.map(|id| {
        let p = payload(rng);
        points.insert(id, p.clone());
        PointStruct::new(id, vec![1.0, 0.0]).with_payload(p)
    })
    .collect()
}

async fn facets_match_brute_force_before_and_after_sealing(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("f", VectorParams::new(2, Distance::Dot))
        .await
        .unwrap();
    for (key, kind) in [
        ("s", PayloadSchemaType::Keyword),
        ("n", PayloadSchemaType::Integer),
        ("b", PayloadSchemaType::Bool),
        ("group", PayloadSchemaType::Integer),
    ] {
        client
            .create_field_index("f", CreateFieldIndex::new(key, kind))
            .await
            .unwrap();
    }
    let mut rng = Rng(0xFACE7);
    let mut points: BTreeMap<u64, Payload> = BTreeMap::new();
    let first = write(&mut rng, &mut points, 0..300);
    client.upsert_points("f", first).await.unwrap();
    check_all(&client, &points, "write segment only").await;
    // Sealed: its indexes answer.
    client.flush().await.unwrap();
    check_all(&client, &points, "sealed").await;
    // Rewrites and deletes of sealed points, new points in the write segment.
    let second = write(&mut rng, &mut points, 250..400);
    client.upsert_points("f", second).await.unwrap();
    let gone: Vec<u64> = (0..400).filter(|id| id % 7 == 3).collect();
    client
        .delete_points("f", PointsSelector::ids(gone.clone()))
        .await
        .unwrap();
    for id in gone {
        points.remove(&id);
    }
    check_all(&client, &points, "sealed and write segments").await;
    client.flush().await.unwrap();
    check_all(&client, &points, "two sealed segments").await;
    client.shutdown().await.unwrap();
}

async fn facet_refuses_what_qdrant_refuses(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("f", VectorParams::new(2, Distance::Dot))
        .await
        .unwrap();
    client
        .create_field_index(
            "f",
            CreateFieldIndex::new("price", PayloadSchemaType::Float),
        )
        .await
        .unwrap();
    client
        .create_field_index("f", CreateFieldIndex::new("s", PayloadSchemaType::Keyword))
        .await
        .unwrap();
    let refused = |result: Result<_, RroError>, what: &str| match result {
        Err(RroError::Storage(StorageError::BadRequest(why))) => {
            assert!(why.contains(what), "{why}")
        }
        other => panic!("expected a refusal naming {what}: {other:?}"),
    };
    // Qdrant answers only from a keyword, integer, bool (or uuid) index.
    refused(client.facet("f", FacetRequest::new("s2")).await, "s2");
    refused(client.facet("f", FacetRequest::new("price")).await, "price");
    refused(
        client.facet("f", FacetRequest::new("s").limit(0)).await,
        "limit",
    );
    // An empty collection has no values.
    assert!(client
        .facet("f", FacetRequest::new("s"))
        .await
        .unwrap()
        .hits
        .is_empty());
    client.shutdown().await.unwrap();
}
