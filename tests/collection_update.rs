//! `update_collection`, `strict_mode_config` and `count` with `exact: false` through the
//! client, on every backend: changes applied while serving and kept across a restart, each
//! strict-mode limit refusing just past its bound and allowing at it, and the estimate's
//! documented bound checked against a brute-force count.

mod common;

use common::{Ctx, Rng};
use rro::models::{
    Condition, CountRequest, CreateCollection, CreateFieldIndex, DeletePayload, Distance,
    FacetRequest, Filter, HnswConfigDiff, OptimizersConfigDiff, PayloadSchemaType, PointStruct,
    PointsSelector, RecommendRequest, ScrollRequest, SearchGroupsRequest, SearchRequest,
    StrictModeConfig, UpdateCollection, UpdateOperation, UpdateOperations, UpdateVectors,
    UpsertPoints, VectorParams,
};
use rro::{RroClient, RroError, StorageError};

backend_tests!(
    an_update_applies_at_once_and_survives_a_restart,
    an_update_refuses_what_rro_cannot_change,
    strict_mode_refuses_past_each_limit,
    strict_mode_refuses_unindexed_filters,
    strict_mode_fields_rro_does_not_enforce_are_refused,
    an_estimate_is_within_its_documented_bound,
);

const COLORS: [&str; 4] = ["red", "green", "blue", "black"];

/// Point `i`: a pseudo-random 4-d vector, `{"color": COLORS[i % 4], "n": i}`.
fn point(rng: &mut Rng, i: u64) -> PointStruct {
    PointStruct::new(i, rng.vector(4))
        .with_payload(rro::payload!({"color": COLORS[(i % 4) as usize], "n": i}))
}

async fn filled(client: &RroClient, name: &str, create: CreateCollection, n: u64) {
    client.create_collection(name, create).await.unwrap();
    let mut rng = Rng(7);
    let points = (0..n).map(|i| point(&mut rng, i)).collect();
    client.upsert_points(name, points).await.unwrap();
}

fn dot4() -> CreateCollection {
    CreateCollection::new(VectorParams::new(4, Distance::Dot))
}

fn strict(config: StrictModeConfig) -> UpdateCollection {
    UpdateCollection::default().strict_mode_config(config)
}

fn is_strict(result: &rro::Result<impl std::fmt::Debug>) -> bool {
    matches!(
        result,
        Err(RroError::Storage(StorageError::StrictMode { .. }))
    )
}

async fn an_update_applies_at_once_and_survives_a_restart(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    filled(&client, "c", dot4(), 1500).await;
    client.create_alias("c", "live").await.unwrap();
    let info = client.collection_info("c").await.unwrap();
    assert_eq!(info.indexed_vectors_count, 0, "below the default threshold");

    // Through the alias: a threshold of 2 KiB (128 4-d points) indexes what is there.
    let update = UpdateCollection::default()
        .optimizers_config(OptimizersConfigDiff {
            indexing_threshold: Some(2),
            ..OptimizersConfigDiff::default()
        })
        .hnsw_config(HnswConfigDiff {
            m: Some(8),
            ef_construct: Some(40),
            ..HnswConfigDiff::default()
        })
        .strict_mode_config(StrictModeConfig {
            enabled: Some(true),
            max_query_limit: Some(50),
            ..StrictModeConfig::default()
        });
    client.update_collection("live", update).await.unwrap();
    client.flush().await.unwrap();
    let patient = client.with_timeout(std::time::Duration::from_secs(100));
    let info = patient.wait_index_ready("c").await.unwrap();
    assert!(info.indexed_vectors_count > 0, "{info:?}");
    assert_eq!(info.points_count, 1500);
    let check = |info: &rro::models::CollectionInfo| {
        let config = &info.config;
        assert_eq!(config.optimizer_config.indexing_threshold, Some(2));
        assert_eq!(
            (config.hnsw_config.m, config.hnsw_config.ef_construct),
            (8, 40)
        );
        // Left out of the update: unchanged.
        assert_eq!(config.hnsw_config.full_scan_threshold, 10_000);
        let strict = config.strict_mode_config.as_ref().unwrap();
        assert_eq!(
            (strict.enabled, strict.max_query_limit),
            (Some(true), Some(50))
        );
    };
    check(&info);
    // Searches went on and still find the hand-checked nearest point: exact search of the
    // point's own vector under Dot finds the largest dot product (brute force below).
    let mut rng = Rng(7);
    let all: Vec<PointStruct> = (0..1500).map(|i| point(&mut rng, i)).collect();
    let query = vec![0.5, -0.25, 1.0, 0.125];
    let best = all
        .iter()
        .map(|p| {
            let v = p.vector.as_single().unwrap();
            (v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>(), p.id)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let hits = client
        .search("c", SearchRequest::new(query.clone(), 1).exact(true))
        .await
        .unwrap();
    assert_eq!(hits[0].id, best.1);
    assert!(is_strict(
        &client
            .search("c", SearchRequest::new(query.clone(), 51))
            .await
    ));
    client.shutdown().await.unwrap();

    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    let info = client.collection_info("live").await.unwrap();
    check(&info);
    assert!(is_strict(
        &client.search("c", SearchRequest::new(query, 51)).await
    ));
    client.shutdown().await.unwrap();
}

async fn an_update_refuses_what_rro_cannot_change(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "c", dot4(), 10).await;
    let refusals = [
        (
            serde_json::json!({"vectors": {"": {"hnsw_config": {"m": 32}}}}),
            "vectors.hnsw_config",
        ),
        (
            serde_json::json!({"vectors": {"image": {"on_disk": true}}}),
            "vectors.image.on_disk",
        ),
        (
            serde_json::json!({"quantization_config": {"binary": {}}}),
            "quantization_config",
        ),
        (
            serde_json::json!({"sparse_vectors": {"text": {}}}),
            "sparse_vectors",
        ),
        (
            serde_json::json!({"params": {"read_fan_out_factor": 2}}),
            "params.read_fan_out_factor",
        ),
        (
            serde_json::json!({"strict_mode_config": {"max_timeout": 10}}),
            "strict_mode_config.max_timeout",
        ),
    ];
    for (body, want) in refusals {
        let update: UpdateCollection = serde_json::from_value(body).unwrap();
        match client.update_collection("c", update).await {
            Err(RroError::Unsupported { field, .. }) => assert_eq!(field, want),
            other => panic!("{want}: {other:?}"),
        }
    }
    let unknown = serde_json::json!({"hnsw_config": {"m": 8, "bogus": 1}});
    assert!(serde_json::from_value::<UpdateCollection>(unknown).is_err());
    let bad = UpdateCollection::default().hnsw_config(HnswConfigDiff {
        ef_construct: Some(0),
        ..HnswConfigDiff::default()
    });
    assert!(matches!(
        client.update_collection("c", bad).await,
        Err(RroError::Storage(StorageError::BadRequest(_)))
    ));
    assert!(matches!(
        client
            .update_collection("nope", UpdateCollection::default())
            .await,
        Err(RroError::Storage(StorageError::CollectionNotFound { .. }))
    ));
    // Nothing of the refused updates stuck; cluster params are kept and reported.
    let params = serde_json::json!({"params": {"replication_factor": 2, "on_disk_payload": true}});
    client
        .update_collection("c", serde_json::from_value(params).unwrap())
        .await
        .unwrap();
    let info = client.collection_info("c").await.unwrap();
    assert_eq!(info.config.hnsw_config.m, 16);
    assert_eq!(info.config.hnsw_config.ef_construct, 100);
    assert_eq!(info.config.params.cluster.replication_factor, Some(2));
    assert_eq!(info.config.params.cluster.on_disk_payload, Some(true));
    assert_eq!(info.config.strict_mode_config, None);
    client.shutdown().await.unwrap();
}

async fn strict_mode_refuses_past_each_limit(ctx: Ctx) {
    let client = ctx.open_default().await;
    let mut create = dot4();
    create.strict_mode_config = Some(StrictModeConfig {
        enabled: Some(true),
        max_query_limit: Some(5),
        search_max_hnsw_ef: Some(64),
        search_allow_exact: Some(false),
        upsert_max_batchsize: Some(10),
        filter_max_conditions: Some(2),
        condition_max_size: Some(3),
        ..StrictModeConfig::default()
    });
    client.create_collection("c", create).await.unwrap();
    let mut rng = Rng(3);
    let batch = |rng: &mut Rng, from: u64, n: u64| -> Vec<PointStruct> {
        (from..from + n).map(|i| point(rng, i)).collect()
    };
    // Batch size: 10 passes, 11 is refused and writes nothing.
    client
        .upsert_points("c", batch(&mut rng, 0, 10))
        .await
        .unwrap();
    assert!(is_strict(
        &client.upsert_points("c", batch(&mut rng, 10, 11)).await
    ));
    assert_eq!(client.count_points("c").await.unwrap(), 10);
    // The same limit holds for an upsert inside a batch of writes, which then applies none of
    // its writes (the delete before it included).
    let in_batch = UpdateOperations::new([
        UpdateOperation::Delete(PointsSelector::ids([0u64])),
        UpdateOperation::Upsert(UpsertPoints {
            points: batch(&mut rng, 10, 11),
        }),
    ]);
    match client.batch_update_points("c", in_batch).await {
        Err(RroError::Storage(StorageError::StrictMode { description, .. })) => {
            assert!(
                description.starts_with("operations[1] (upsert)"),
                "{description}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.count_points("c").await.unwrap(), 10);
    let vectors = UpdateVectors {
        points: (0..11)
            .map(|i| rro::models::PointVectors {
                id: i.into(),
                vector: vec![0.0; 4].into(),
            })
            .collect(),
    };
    assert!(is_strict(&client.update_vectors("c", vectors).await));

    let q = || vec![1.0, 0.0, 0.0, 0.0];
    // Limits of searches, recommendations, groups and scrolls.
    assert_eq!(
        client
            .search("c", SearchRequest::new(q(), 5))
            .await
            .unwrap()
            .len(),
        5
    );
    assert!(is_strict(
        &client.search("c", SearchRequest::new(q(), 6)).await
    ));
    assert!(is_strict(
        &client
            .search_batch(
                "c",
                vec![SearchRequest::new(q(), 1), SearchRequest::new(q(), 6)]
            )
            .await
    ));
    assert!(is_strict(
        &client
            .recommend("c", RecommendRequest::new([1u64], 6))
            .await
    ));
    assert!(client
        .recommend("c", RecommendRequest::new([1u64], 5))
        .await
        .is_ok());
    assert!(is_strict(
        &client
            .search_groups("c", SearchGroupsRequest::new(q(), "color", 1, 6))
            .await
    ));
    assert!(is_strict(&client.scroll("c", ScrollRequest::new(6)).await));
    // A scroll without a limit asks for the default 10, past 5.
    let mut unlimited = ScrollRequest::new(1);
    unlimited.limit = None;
    assert!(is_strict(&client.scroll("c", unlimited).await));
    assert_eq!(
        client
            .scroll("c", ScrollRequest::new(5))
            .await
            .unwrap()
            .points
            .len(),
        5
    );
    // hnsw_ef and exact.
    assert!(client
        .search("c", SearchRequest::new(q(), 1).hnsw_ef(64))
        .await
        .is_ok());
    assert!(is_strict(
        &client
            .search("c", SearchRequest::new(q(), 1).hnsw_ef(65))
            .await
    ));
    assert!(is_strict(
        &client
            .search("c", SearchRequest::new(q(), 1).exact(true))
            .await
    ));
    // Conditions: 2 pass, 3 (counted at every depth) do not; match.any of 3 passes, 4 not.
    let two = Filter::must([
        Condition::matches("color", "red"),
        Condition::matches("n", 1),
    ]);
    assert!(client.count("c", CountRequest::filter(two)).await.is_ok());
    let three = Filter::must([
        Condition::matches("color", "red"),
        Condition::Filter(Filter::should([
            Condition::matches("n", 1),
            Condition::matches("n", 2),
        ])),
    ]);
    assert!(is_strict(
        &client.count("c", CountRequest::filter(three)).await
    ));
    let any = |values: &[&str]| {
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        Filter::must([Condition::match_any("color", values)])
    };
    assert!(client
        .count("c", CountRequest::filter(any(&["red", "blue", "green"])))
        .await
        .is_ok());
    let four = any(&["red", "blue", "green", "black"]);
    assert!(is_strict(
        &client.count("c", CountRequest::filter(four.clone())).await
    ));
    assert!(is_strict(
        &client
            .delete_points("c", PointsSelector::Filter(four.clone()))
            .await
    ));
    assert!(is_strict(
        &client
            .search("c", SearchRequest::new(q(), 1).filter(four.clone()))
            .await
    ));
    assert!(is_strict(
        &client
            .count(
                "c",
                CountRequest::filter(Filter::must([Condition::has_id([1u64, 2, 3, 4])]))
            )
            .await
    ));
    // Disabled: the same requests pass, and the limits stay configured.
    let off = StrictModeConfig {
        enabled: Some(false),
        ..StrictModeConfig::default()
    };
    client.update_collection("c", strict(off)).await.unwrap();
    assert_eq!(
        client
            .search("c", SearchRequest::new(q(), 8))
            .await
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        client.count("c", CountRequest::filter(four)).await.unwrap(),
        10
    );
    client
        .upsert_points("c", batch(&mut rng, 10, 11))
        .await
        .unwrap();
    let info = client.collection_info("c").await.unwrap();
    let kept = info.config.strict_mode_config.unwrap();
    assert_eq!((kept.enabled, kept.max_query_limit), (Some(false), Some(5)));
    client.shutdown().await.unwrap();
}

async fn strict_mode_refuses_unindexed_filters(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "c", dot4(), 20).await;
    client
        .create_field_index(
            "c",
            CreateFieldIndex::new("color", PayloadSchemaType::Keyword),
        )
        .await
        .unwrap();
    let config = StrictModeConfig {
        enabled: Some(true),
        unindexed_filtering_retrieve: Some(false),
        unindexed_filtering_update: Some(false),
        ..StrictModeConfig::default()
    };
    client.update_collection("c", strict(config)).await.unwrap();
    let indexed = Filter::must([Condition::matches("color", "red")]);
    let unindexed = Filter::must([Condition::matches("n", 3)]);
    let nested = Filter::must([Condition::nested(
        "color",
        Filter::must([Condition::is_empty("x")]),
    )]);
    // Reference: colors cycle over 4, so 5 of 20 points are red.
    assert_eq!(
        client
            .count("c", CountRequest::filter(indexed.clone()))
            .await
            .unwrap(),
        5
    );
    match client
        .count("c", CountRequest::filter(unindexed.clone()))
        .await
    {
        Err(RroError::Storage(StorageError::StrictMode { description, .. })) => {
            assert!(description.contains("\"n\""), "{description}")
        }
        other => panic!("{other:?}"),
    }
    assert!(is_strict(
        &client.count("c", CountRequest::filter(nested)).await
    ));
    let q = vec![1.0, 0.0, 0.0, 0.0];
    assert!(is_strict(
        &client
            .search(
                "c",
                SearchRequest::new(q.clone(), 1).filter(unindexed.clone())
            )
            .await
    ));
    assert!(client
        .search("c", SearchRequest::new(q, 1).filter(indexed.clone()))
        .await
        .is_ok());
    // Writes by filter.
    assert!(is_strict(
        &client
            .delete_payload(
                "c",
                DeletePayload::new(["n"], PointsSelector::Filter(unindexed.clone()))
            )
            .await
    ));
    assert!(is_strict(
        &client
            .delete_points("c", PointsSelector::Filter(unindexed.clone()))
            .await
    ));
    // Inside a batch of writes too, and facets filter like any read.
    assert!(is_strict(
        &client
            .batch_update_points(
                "c",
                UpdateOperations::new([UpdateOperation::Delete(PointsSelector::Filter(
                    unindexed.clone()
                ))])
            )
            .await
    ));
    assert!(is_strict(
        &client
            .facet("c", FacetRequest::new("color").filter(unindexed.clone()))
            .await
    ));
    assert_eq!(client.count_points("c").await.unwrap(), 20);
    client
        .delete_points("c", PointsSelector::Filter(indexed))
        .await
        .unwrap();
    assert_eq!(client.count_points("c").await.unwrap(), 15);
    // Writes by id are not filters.
    client
        .delete_points("c", PointsSelector::ids([1u64]))
        .await
        .unwrap();
    // Allowing unindexed reads only.
    let reads = StrictModeConfig {
        unindexed_filtering_retrieve: Some(true),
        ..StrictModeConfig::default()
    };
    client.update_collection("c", strict(reads)).await.unwrap();
    // Reference: n = 3 is point 3 (green), still there.
    assert_eq!(
        client
            .count("c", CountRequest::filter(unindexed.clone()))
            .await
            .unwrap(),
        1
    );
    assert!(is_strict(
        &client
            .delete_points("c", PointsSelector::Filter(unindexed))
            .await
    ));
    client.shutdown().await.unwrap();
}

async fn strict_mode_fields_rro_does_not_enforce_are_refused(ctx: Ctx) {
    let client = ctx.open_default().await;
    for field in [
        "max_timeout",
        "read_rate_limit",
        "write_rate_limit",
        "max_points_count",
        "max_collection_vector_size_bytes",
        "max_collection_payload_size_bytes",
        "max_payload_index_count",
        "search_max_oversampling",
    ] {
        let body = serde_json::json!({
            "vectors": {"size": 4, "distance": "Dot"},
            "strict_mode_config": {"enabled": true, field: 10}
        });
        let create: CreateCollection = serde_json::from_value(body).unwrap();
        match client.create_collection("c", create).await {
            Err(RroError::Unsupported { field: got, .. }) => {
                assert_eq!(got, format!("strict_mode_config.{field}"))
            }
            other => panic!("{field}: {other:?}"),
        }
        assert!(!client.collection_exists("c").await.unwrap());
    }
    let unknown = serde_json::json!({
        "vectors": {"size": 4, "distance": "Dot"},
        "strict_mode_config": {"enabled": true, "no_such_limit": 1}
    });
    assert!(serde_json::from_value::<CreateCollection>(unknown).is_err());
    client.shutdown().await.unwrap();
}

/// Which ids a filter matches, by hand.
type Truth = Box<dyn Fn(u64) -> bool>;

async fn an_estimate_is_within_its_documented_bound(ctx: Ctx) {
    let client = ctx.open_default().await;
    let n = 400u64;
    filled(&client, "c", dot4(), n).await;
    client
        .create_field_index(
            "c",
            CreateFieldIndex::new("color", PayloadSchemaType::Keyword),
        )
        .await
        .unwrap();
    // Delete every 7th point and flush, so postings hold deleted points in some segments.
    let gone: Vec<u64> = (0..n).filter(|i| i % 7 == 0).collect();
    client
        .delete_points("c", PointsSelector::ids(gone.clone()))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let live: Vec<u64> = (0..n).filter(|i| i % 7 != 0).collect();
    let estimate = |filter: Option<Filter>| CountRequest {
        filter,
        exact: false,
        ..CountRequest::default()
    };
    // Without a filter: exact.
    assert_eq!(
        client.count("c", estimate(None)).await.unwrap(),
        live.len() as u64
    );
    let cases: Vec<(Filter, Truth)> = vec![
        (
            Filter::must([Condition::matches("color", "red")]),
            Box::new(|i| i % 4 == 0),
        ),
        (
            Filter::should([
                Condition::matches("color", "red"),
                Condition::matches("color", "blue"),
            ]),
            Box::new(|i| i % 4 == 0 || i % 4 == 2),
        ),
        (
            Filter::must([
                Condition::matches("color", "green"),
                Condition::matches("n", 5),
            ]),
            Box::new(|i| i == 5),
        ),
        (
            Filter::must_not([Condition::matches("color", "black")]),
            Box::new(|i| i % 4 != 3),
        ),
    ];
    for (filter, truth) in cases {
        let brute = live.iter().filter(|&&i| truth(i)).count() as u64;
        let exact = client
            .count("c", CountRequest::filter(filter.clone()))
            .await
            .unwrap();
        assert_eq!(exact, brute, "{filter:?}");
        let estimated = client
            .count("c", estimate(Some(filter.clone())))
            .await
            .unwrap();
        assert!(
            brute <= estimated && estimated <= live.len() as u64,
            "{filter:?}: {brute} <= {estimated} <= {}",
            live.len()
        );
    }
    client.shutdown().await.unwrap();
}
