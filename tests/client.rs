//! Every client method round-trips through the instance on every backend, and bad input comes
//! back as a typed error without changing stored data.

mod common;

use common::Ctx;
use rro::models::{
    CollectionStatus, Distance, GetPoints, PointId, PointStruct, PointsSelector, SearchRequest,
    UpdateStatus, VectorParams,
};
use rro::{RroError, StorageError};
use serde_json::json;

backend_tests!(
    collections_round_trip,
    points_round_trip,
    search_round_trip,
    uuid_and_numeric_ids_coexist,
    bad_input_is_a_typed_error_and_changes_nothing,
    health_check_reports_the_backend,
    clones_share_one_instance,
);

async fn collections_round_trip(ctx: Ctx) {
    let client = ctx.open_default().await;
    assert!(client
        .list_collections()
        .await
        .unwrap()
        .collections
        .is_empty());
    assert!(!client.collection_exists("b").await.unwrap());

    client
        .create_collection("b", VectorParams::new(3, Distance::Dot))
        .await
        .unwrap();
    client
        .create_collection("a", VectorParams::new(5, Distance::Euclid))
        .await
        .unwrap();
    let names: Vec<String> = client
        .list_collections()
        .await
        .unwrap()
        .collections
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(client.collection_exists("a").await.unwrap());

    let info = client.collection_info("a").await.unwrap();
    assert_eq!(info.status, CollectionStatus::Green);
    assert_eq!(info.points_count, 0);
    assert_eq!(
        info.config.params.vectors,
        VectorParams::new(5, Distance::Euclid).into()
    );

    let again = client
        .create_collection("a", VectorParams::new(5, Distance::Euclid))
        .await;
    assert_eq!(
        again,
        Err(RroError::Storage(StorageError::CollectionExists {
            name: "a".into()
        }))
    );

    assert!(client.delete_collection("a").await.unwrap());
    assert!(!client.delete_collection("a").await.unwrap());
    assert!(!client.collection_exists("a").await.unwrap());
    let missing = client.collection_info("a").await;
    assert_eq!(
        missing,
        Err(RroError::Storage(StorageError::CollectionNotFound {
            name: "a".into()
        }))
    );
    client.shutdown().await.unwrap();
}

async fn points_round_trip(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("p", VectorParams::new(2, Distance::Dot))
        .await
        .unwrap();
    let first = client
        .upsert_points(
            "p",
            vec![
                PointStruct::new(1u64, vec![1.0, 2.0])
                    .with_payload(rro::payload!({"lang": "en", "year": 2021})),
                PointStruct::new(2u64, vec![3.0, 4.0]),
                PointStruct::new(3u64, vec![5.0, 6.0]).with_payload(rro::payload!({"lang": "de"})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(first.status, UpdateStatus::Completed);
    assert_eq!(client.count_points("p").await.unwrap(), 3);

    // Upsert replaces a point whole, and the operation id moves forward.
    let second = client
        .upsert_points(
            "p",
            vec![PointStruct::new(2u64, vec![7.0, 8.0]).with_payload(rro::payload!({"v": 2}))],
        )
        .await
        .unwrap();
    assert!(second.operation_id > first.operation_id);
    assert_eq!(client.count_points("p").await.unwrap(), 3);

    let got = client
        .get_points("p", GetPoints::new([2u64, 9, 1]).with_vector(true))
        .await
        .unwrap();
    let ids: Vec<PointId> = got.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [PointId::Num(2), PointId::Num(1)],
        "missing ids are left out, order is kept"
    );
    assert_eq!(got[0].plain_vector(), Some(&[7.0, 8.0][..]));
    assert_eq!(got[0].payload.as_ref().unwrap()["v"], 2);
    assert_eq!(got[1].payload.as_ref().unwrap()["lang"], "en");

    let bare = client
        .get_points("p", GetPoints::new([3u64]).with_payload(false))
        .await
        .unwrap();
    assert_eq!(
        (bare[0].payload.clone(), bare[0].vector.clone()),
        (None, None)
    );

    let deleted = client
        .delete_points("p", PointsSelector::ids([1u64, 3, 42]))
        .await
        .unwrap();
    assert!(deleted.operation_id > second.operation_id);
    assert_eq!(client.count_points("p").await.unwrap(), 1);
    assert!(client
        .get_points("p", GetPoints::new([1u64, 3]))
        .await
        .unwrap()
        .is_empty());
    client.flush().await.unwrap();
    client.shutdown().await.unwrap();
}

async fn search_round_trip(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("cos", VectorParams::new(2, Distance::Cosine))
        .await
        .unwrap();
    client
        .create_collection("l2", VectorParams::new(2, Distance::Euclid))
        .await
        .unwrap();
    let points: Vec<PointStruct> = (0..20u64)
        .map(|i| {
            let angle = i as f32 * 0.15;
            PointStruct::new(
                i,
                vec![
                    angle.cos() * (1.0 + i as f32),
                    angle.sin() * (1.0 + i as f32),
                ],
            )
            .with_payload(rro::payload!({ "i": i }))
        })
        .collect();
    client.upsert_points("cos", points.clone()).await.unwrap();
    client.upsert_points("l2", points).await.unwrap();

    // Cosine ignores length: the point at angle 0 is the best match for the x axis.
    let hits = client
        .search(
            "cos",
            SearchRequest::new(vec![5.0, 0.0], 3)
                .with_payload(true)
                .with_vector(true),
        )
        .await
        .unwrap();
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids, [PointId::Num(0), PointId::Num(1), PointId::Num(2)]);
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(hits[1].payload.as_ref().unwrap()["i"], 1);
    let stored = hits[2].plain_vector().unwrap();
    assert!(
        (stored[0].hypot(stored[1]) - 1.0).abs() < 1e-6,
        "cosine vectors are stored normalised"
    );

    // Offset pages through the same order; a threshold cuts the tail.
    let page = client
        .search("cos", SearchRequest::new(vec![5.0, 0.0], 2).offset(1))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|h| h.id).collect::<Vec<_>>(),
        [PointId::Num(1), PointId::Num(2)]
    );
    assert_eq!(page[0].payload, None);
    let cut = client
        .search(
            "cos",
            SearchRequest::new(vec![5.0, 0.0], 20).score_threshold(0.95),
        )
        .await
        .unwrap();
    assert!(!cut.is_empty() && cut.iter().all(|h| h.score >= 0.95) && cut.len() < 20);

    // Euclid scores are distances: smallest first.
    let near = client
        .search("l2", SearchRequest::new(vec![1.0, 0.0], 2))
        .await
        .unwrap();
    assert_eq!(near[0].id, PointId::Num(0));
    assert!(near[0].score < near[1].score);
    assert!(client
        .search("l2", SearchRequest::new(vec![1.0, 0.0], 0))
        .await
        .unwrap()
        .is_empty());
    client.shutdown().await.unwrap();
}

async fn uuid_and_numeric_ids_coexist(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("ids", VectorParams::new(1, Distance::Dot))
        .await
        .unwrap();
    let uuid: PointId = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26".parse().unwrap();
    client
        .upsert_points(
            "ids",
            vec![
                PointStruct::new(uuid, vec![1.0]),
                PointStruct::new(7u64, vec![2.0]),
            ],
        )
        .await
        .unwrap();
    let got = client
        .get_points("ids", GetPoints::new([uuid, PointId::Num(7)]))
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|r| r.id).collect::<Vec<_>>(),
        [uuid, PointId::Num(7)]
    );
    assert_eq!(
        serde_json::to_value(got[0].id).unwrap(),
        json!("5c56c793-69f3-4fbf-87e6-c4bf54c28c26")
    );
    client.shutdown().await.unwrap();
}

async fn bad_input_is_a_typed_error_and_changes_nothing(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("v", VectorParams::new(3, Distance::Cosine))
        .await
        .unwrap();
    client
        .upsert_points("v", vec![PointStruct::new(1u64, vec![1.0, 0.0, 0.0])])
        .await
        .unwrap();

    let wrong_dim = client
        .upsert_points(
            "v",
            vec![
                PointStruct::new(2u64, vec![1.0, 0.0, 0.0]),
                PointStruct::new(3u64, vec![1.0]),
            ],
        )
        .await;
    assert!(
        matches!(
            wrong_dim,
            Err(RroError::Storage(StorageError::WrongDimension {
                expected: 3,
                got: 1,
                ..
            }))
        ),
        "{wrong_dim:?}"
    );
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let err = client
            .upsert_points("v", vec![PointStruct::new(1u64, vec![0.0, bad, 0.0])])
            .await;
        assert!(
            matches!(
                err,
                Err(RroError::Storage(StorageError::NonFiniteVector {
                    index: 1,
                    ..
                }))
            ),
            "{err:?}"
        );
        let err = client
            .search("v", SearchRequest::new(vec![bad, 0.0, 0.0], 1))
            .await;
        assert!(
            matches!(
                err,
                Err(RroError::Storage(StorageError::NonFiniteVector {
                    index: 0,
                    ..
                }))
            ),
            "{err:?}"
        );
    }
    let err = client.search("v", SearchRequest::new(vec![1.0], 1)).await;
    assert!(
        matches!(
            err,
            Err(RroError::Storage(StorageError::WrongDimension { .. }))
        ),
        "{err:?}"
    );
    // Nothing of the rejected batches landed; point 1 is unchanged.
    assert_eq!(client.count_points("v").await.unwrap(), 1);
    let kept = client
        .get_points("v", GetPoints::new([1u64]).with_vector(true))
        .await
        .unwrap();
    assert_eq!(kept[0].plain_vector(), Some(&[1.0, 0.0, 0.0][..]));

    let unknown = RroError::Storage(StorageError::CollectionNotFound {
        name: "nope".into(),
    });
    assert_eq!(client.count_points("nope").await, Err(unknown.clone()));
    assert_eq!(
        client
            .search("nope", SearchRequest::new(vec![1.0], 1))
            .await,
        Err(unknown.clone())
    );
    assert_eq!(
        client.upsert_points("nope", vec![]).await,
        Err(unknown.clone())
    );
    assert_eq!(
        client.get_points("nope", GetPoints::new([1u64])).await,
        Err(unknown.clone())
    );
    assert_eq!(
        client
            .delete_points("nope", PointsSelector::ids([1u64]))
            .await,
        Err(unknown)
    );

    let long = "x".repeat(256);
    for name in [
        "",
        "..",
        "../escape",
        "a/b",
        "a\\b",
        "nul\0byte",
        long.as_str(),
    ] {
        for result in [
            client
                .create_collection(name, VectorParams::new(3, Distance::Dot))
                .await
                .map(|_| false),
            client.collection_exists(name).await,
            client.delete_collection(name).await,
        ] {
            assert!(
                matches!(
                    result,
                    Err(RroError::Storage(
                        StorageError::InvalidCollectionName { .. }
                    ))
                ),
                "{name:?}: {result:?}"
            );
        }
    }
    for size in [0, 65_537] {
        let err = client
            .create_collection("size", VectorParams::new(size, Distance::Dot))
            .await;
        assert!(
            matches!(err, Err(RroError::Storage(StorageError::BadRequest(_)))),
            "{err:?}"
        );
    }
    assert_eq!(
        client.list_collections().await.unwrap().collections.len(),
        1
    );
    assert!(
        client.health_check().await.is_ok(),
        "the instance keeps serving after bad input"
    );
    client.shutdown().await.unwrap();
}

async fn health_check_reports_the_backend(ctx: Ctx) {
    let client = ctx.open_default().await;
    assert!(client.is_healthy());
    let health = client.health_check().await.unwrap();
    let expected = match ctx.backend {
        #[cfg(feature = "tokio")]
        common::Backend::Tokio => "tokio",
        #[cfg(feature = "smol")]
        common::Backend::Smol => "smol",
    };
    assert_eq!(
        (health.backend.as_str(), client.backend()),
        (expected, expected)
    );
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
    client
        .create_collection("one", VectorParams::new(1, Distance::Dot))
        .await
        .unwrap();
    assert_eq!(client.health_check().await.unwrap().collections, 1);
    client.shutdown().await.unwrap();
    assert!(!client.is_healthy());
    assert_eq!(client.health_check().await, Err(RroError::ChannelClosed));
}

async fn clones_share_one_instance(ctx: Ctx) {
    let client = ctx.open_default().await;
    let other = client.clone();
    other
        .create_collection("shared", VectorParams::new(1, Distance::Dot))
        .await
        .unwrap();
    assert!(client.collection_exists("shared").await.unwrap());
    drop(other);
    assert!(
        client.is_healthy(),
        "dropping a clone does not stop the instance"
    );
    let report = client.clone().shutdown().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(!client.is_healthy());
    assert_eq!(
        client.count_points("shared").await,
        Err(RroError::ChannelClosed)
    );
}
