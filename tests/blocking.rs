//! The blocking client: every operation on a plain thread against answers computed by hand, on
//! each backend; and where it refuses to block (async code on a tokio runtime, a `futures`
//! executor, rro's own threads) and where it must not refuse (tokio's `spawn_blocking` and
//! `block_in_place`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Backend, Caller, Ctx};
use rro::blocking::BlockingClient;
use rro::models::{
    CountRequest, CreateCollection, CreateFieldIndex, DeletePayload, DeleteVectors, Distance,
    FacetHit, FacetRequest, FacetValue, Filter, GetPoints, GroupId, NamedVectorStruct,
    PayloadSchemaType, PointStruct, PointVectors, PointsSelector, RecommendRequest, ScrollRequest,
    SearchGroupsRequest, SearchRequest, SetPayload, UpdateOperation, UpdateOperations,
    UpdateVectors, UpsertPoints, VectorParams, VectorStruct, VectorsConfig,
};
use rro::{payload, RroError};

/// Run a synchronous scenario on a plain thread against each backend.
macro_rules! blocking_tests {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[cfg(feature = "tokio")]
            #[test]
            fn tokio() {
                super::$scenario(super::Backend::Tokio);
            }

            #[cfg(feature = "smol")]
            #[test]
            fn smol() {
                super::$scenario(super::Backend::Smol);
            }
        }
    )*};
}

fn ctx(backend: Backend) -> Ctx {
    Ctx {
        backend,
        caller: Caller::BlockOn,
    }
}

/// A blocking client for an instance with small pools on `backend`.
fn open(backend: Backend) -> BlockingClient {
    open_config(backend, ctx(backend).unique_config().0)
}

fn open_config(backend: Backend, config: rro::Config) -> BlockingClient {
    match backend {
        #[cfg(feature = "tokio")]
        Backend::Tokio => BlockingClient::open_with(config, rro::TokioBackend).unwrap(),
        #[cfg(feature = "smol")]
        Backend::Smol => BlockingClient::open_boxed(config, Box::new(rro::SmolBackend)).unwrap(),
    }
}

blocking_tests!(
    every_operation_gives_the_hand_computed_answer,
    aliases_updates_and_estimates_block_too,
    refuses_inside_a_futures_executor,
    refuses_on_an_rro_thread,
    tokio_async_code_is_refused_but_its_blocking_contexts_are_not,
);

fn ids(hits: &[rro::models::ScoredPoint]) -> Vec<u64> {
    hits.iter().map(|hit| id(&hit.id)).collect()
}

fn id(point: &rro::models::PointId) -> u64 {
    match point {
        rro::models::PointId::Num(n) => *n,
        other => panic!("unexpected id {other:?}"),
    }
}

fn payload_of(client: &BlockingClient, point: u64) -> rro::models::Payload {
    let records = client.get_points("b", GetPoints::new([point])).unwrap();
    records[0].payload.clone().unwrap_or_default()
}

/// Every operation of `BlockingClient`, each checked against an answer worked out by hand for
/// this data (Dot product): 1 = [1, 0], 2 = [0, 1], 3 = [1, 1].
fn every_operation_gives_the_hand_computed_answer(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = ctx(backend).persistent_config(dir.path());
    let client = open_config(backend, config);
    let expected_backend = match backend {
        #[cfg(feature = "tokio")]
        Backend::Tokio => "tokio",
        #[cfg(feature = "smol")]
        Backend::Smol => "smol",
    };
    assert_eq!(client.backend(), expected_backend);
    assert_eq!(client.client().backend(), expected_backend);
    assert!(client.is_healthy());
    assert_eq!(client.health_check().unwrap().collections, 0);

    // Collections.
    client
        .create_collection("b", VectorParams::new(2, Distance::Dot))
        .unwrap();
    assert!(client.collection_exists("b").unwrap());
    assert!(!client.collection_exists("none").unwrap());
    let names: Vec<String> = client
        .list_collections()
        .unwrap()
        .collections
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["b"]);

    // Points.
    let upserted = client
        .upsert_points(
            "b",
            vec![
                PointStruct::new(1u64, vec![1.0, 0.0])
                    .with_payload(payload!({"lang": "en", "n": 1})),
                PointStruct::new(2u64, vec![0.0, 1.0])
                    .with_payload(payload!({"lang": "de", "n": 2})),
                PointStruct::new(3u64, vec![1.0, 1.0])
                    .with_payload(payload!({"lang": "en", "n": 3})),
            ],
        )
        .unwrap();
    assert_eq!(upserted.status, rro::models::UpdateStatus::Completed);
    assert_eq!(client.count_points("b").unwrap(), 3);
    assert_eq!(client.collection_info("b").unwrap().points_count, 3);
    assert_eq!(client.wait_index_ready("b").unwrap().points_count, 3);
    let english = || Filter::must([rro::models::Condition::matches("lang", "en")]);
    assert_eq!(
        client.count("b", CountRequest::filter(english())).unwrap(),
        2
    );
    let got = client
        .get_points("b", GetPoints::new([2u64, 9u64]))
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, Some(payload!({"lang": "de", "n": 2})));
    let page = client.scroll("b", ScrollRequest::new(2)).unwrap();
    let page_ids: Vec<u64> = page.points.iter().map(|r| id(&r.id)).collect();
    assert_eq!(page_ids, [1, 2]);
    assert_eq!(page.next_page_offset, Some(3u64.into()));

    // Queries. [1, 0.5] scores 1 -> 1.0, 2 -> 0.5, 3 -> 1.5; [-1, 1] scores 2 highest (1.0).
    let hits = client
        .search("b", SearchRequest::new(vec![1.0, 0.5], 3))
        .unwrap();
    assert_eq!(ids(&hits), [3, 1, 2]);
    let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
    assert_eq!(scores, [1.5, 1.0, 0.5]);
    let batch = client
        .search_batch(
            "b",
            vec![
                SearchRequest::new(vec![1.0, 0.5], 1),
                SearchRequest::new(vec![-1.0, 1.0], 1),
            ],
        )
        .unwrap();
    assert_eq!(batch.iter().map(|h| ids(h)).collect::<Vec<_>>(), [[3], [2]]);
    // The query of a recommendation from point 1 alone is [1, 0]: 3 scores 1, 2 scores 0.
    let recommended = client
        .recommend("b", RecommendRequest::new([1u64], 5))
        .unwrap();
    assert_eq!(ids(&recommended), [3, 2]);
    let groups = client
        .search_groups("b", SearchGroupsRequest::new(vec![1.0, 0.5], "lang", 1, 5))
        .unwrap()
        .groups;
    let groups: Vec<(GroupId, Vec<u64>)> =
        groups.into_iter().map(|g| (g.id, ids(&g.hits))).collect();
    assert_eq!(
        groups,
        [
            (GroupId::Str("en".into()), vec![3]),
            (GroupId::Str("de".into()), vec![2])
        ]
    );

    // Payloads.
    client
        .set_payload(
            "b",
            SetPayload::new(payload!({"x": true}), PointsSelector::ids([1u64])),
        )
        .unwrap();
    assert_eq!(
        payload_of(&client, 1),
        payload!({"lang": "en", "n": 1, "x": true})
    );
    client
        .overwrite_payload(
            "b",
            SetPayload::new(payload!({"y": 1}), PointsSelector::ids([2u64])),
        )
        .unwrap();
    assert_eq!(payload_of(&client, 2), payload!({"y": 1}));
    client
        .delete_payload("b", DeletePayload::new(["n"], PointsSelector::ids([3u64])))
        .unwrap();
    assert_eq!(payload_of(&client, 3), payload!({"lang": "en"}));
    client
        .clear_payload("b", PointsSelector::ids([2u64]))
        .unwrap();
    assert!(payload_of(&client, 2).is_empty());

    // Field indexes.
    client
        .create_field_index(
            "b",
            CreateFieldIndex::new("lang", PayloadSchemaType::Keyword),
        )
        .unwrap();
    let schema = client.collection_info("b").unwrap().payload_schema;
    assert_eq!(schema["lang"].data_type, PayloadSchemaType::Keyword);
    client.delete_field_index("b", "lang").unwrap();
    assert!(client
        .collection_info("b")
        .unwrap()
        .payload_schema
        .is_empty());

    // Vectors: point 1 moves to [0, 3], the best match of [0, 1] with score 3.
    client
        .update_vectors(
            "b",
            UpdateVectors {
                points: vec![PointVectors {
                    id: 1u64.into(),
                    vector: vec![0.0, 3.0].into(),
                }],
            },
        )
        .unwrap();
    let hits = client
        .search("b", SearchRequest::new(vec![0.0, 1.0], 1))
        .unwrap();
    assert_eq!((ids(&hits), hits[0].score), (vec![1], 3.0));
    let spaces = [
        ("image", VectorParams::new(2, Distance::Dot)),
        ("text", VectorParams::new(2, Distance::Dot)),
    ];
    client
        .create_collection("nv", CreateCollection::new(VectorsConfig::named(spaces)))
        .unwrap();
    let both = BTreeMap::from([
        ("image".to_owned(), vec![1.0, 0.0]),
        ("text".to_owned(), vec![0.0, 1.0]),
    ]);
    client
        .upsert_points(
            "nv",
            vec![PointStruct::new(7u64, VectorStruct::Named(both))],
        )
        .unwrap();
    client
        .delete_vectors(
            "nv",
            DeleteVectors::new(["image"], PointsSelector::ids([7u64])),
        )
        .unwrap();
    let by = |name: &str, vector: Vec<f32>| {
        let request = SearchRequest::new(NamedVectorStruct::named(name, vector), 5);
        ids(&client.search("nv", request).unwrap())
    };
    assert_eq!(by("image", vec![1.0, 0.0]), Vec::<u64>::new());
    assert_eq!(by("text", vec![0.0, 1.0]), [7]);

    // A batch of writes: one result each, applied in order.
    let batch = UpdateOperations::new([
        UpdateOperation::Upsert(UpsertPoints {
            points: vec![PointStruct::new(
                8u64,
                VectorStruct::named([("image", vec![0.0, 1.0])]),
            )],
        }),
        UpdateOperation::SetPayload(SetPayload::new(
            payload!({"k": 1}),
            PointsSelector::ids([7u64, 8]),
        )),
        UpdateOperation::Delete(PointsSelector::ids([7u64])),
    ]);
    assert_eq!(client.batch_update_points("nv", batch).unwrap().len(), 3);
    assert_eq!(by("image", vec![0.0, 1.0]), [8]);
    let records = client.get_points("nv", GetPoints::new([7u64, 8])).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].payload, Some(payload!({"k": 1})));

    // Facet counts of an indexed key.
    client
        .create_field_index("nv", CreateFieldIndex::new("k", PayloadSchemaType::Integer))
        .unwrap();
    let facet = client.facet("nv", FacetRequest::new("k")).unwrap();
    assert_eq!(
        facet.hits,
        [FacetHit {
            value: FacetValue::Integer(1),
            count: 1
        }]
    );

    // Deleting points, flushing.
    client
        .delete_points("b", PointsSelector::ids([2u64]))
        .unwrap();
    assert_eq!(client.count_points("b").unwrap(), 2);
    client.flush().unwrap();

    // Collection snapshots: recovery brings back the state at the snapshot.
    let snapshot = client.create_snapshot("b").unwrap();
    assert_eq!(
        client.list_snapshots("b").unwrap(),
        std::slice::from_ref(&snapshot)
    );
    client
        .delete_points("b", PointsSelector::ids([1u64]))
        .unwrap();
    assert_eq!(client.count_points("b").unwrap(), 1);
    client.recover_snapshot("b", &snapshot.path).unwrap();
    assert_eq!(client.count_points("b").unwrap(), 2);
    assert!(client.delete_snapshot("b", &snapshot.name).unwrap());
    assert!(!client.delete_snapshot("b", &snapshot.name).unwrap());
    assert!(client.list_snapshots("b").unwrap().is_empty());

    // Full snapshots.
    let full = client.create_full_snapshot().unwrap();
    assert_eq!(
        client.list_full_snapshots().unwrap(),
        std::slice::from_ref(&full)
    );
    assert!(client.delete_collection("b").unwrap());
    assert!(!client.delete_collection("b").unwrap());
    let mut recovered = client.recover_full_snapshot(&full.path).unwrap();
    recovered.sort();
    assert_eq!(recovered, ["b", "nv"]);
    assert_eq!(client.count_points("b").unwrap(), 2);
    assert!(client.delete_full_snapshot(&full.name).unwrap());
    assert!(!client.delete_full_snapshot(&full.name).unwrap());
    assert!(client.list_full_snapshots().unwrap().is_empty());

    // Handles: a typed call, other options, a second wrapper of the same client.
    let call = rro_core::protocol::calls::CollectionExists { name: "nv".into() };
    assert!(client.call(call).unwrap());
    assert_eq!(
        client
            .with_timeout(Duration::from_secs(30))
            .count_points("b")
            .unwrap(),
        2
    );
    assert_eq!(client.fail_fast().count_points("b").unwrap(), 2);
    let again = BlockingClient::new(client.client().clone());
    assert_eq!(again.health_check().unwrap().collections, 2);

    assert!(client.shutdown().unwrap().is_clean());
    assert!(!client.is_healthy());
    assert!(!again.is_healthy());
    assert_eq!(client.count_points("b"), Err(RroError::ChannelClosed));
}

/// The operations of aliases, `update_collection` and estimated counts, on the blocking
/// client, against answers worked out by hand.
fn aliases_updates_and_estimates_block_too(backend: Backend) {
    use rro::models::{
        AliasOperation, ChangeAliases, Condition, StrictModeConfig, UpdateCollection,
    };
    let client = open(backend);
    for name in ["a", "b"] {
        client
            .create_collection(name, VectorParams::new(2, Distance::Dot))
            .unwrap();
    }
    // `a` holds ids 1..=3, `b` ids 1..=2; point i = [i, 0] with `{"odd": i % 2 == 1}`.
    for (name, n) in [("a", 3u64), ("b", 2)] {
        let points = (1..=n)
            .map(|i| {
                PointStruct::new(i, vec![i as f32, 0.0]).with_payload(payload!({"odd": i % 2 == 1}))
            })
            .collect();
        client.upsert_points(name, points).unwrap();
    }
    client.create_alias("a", "live").unwrap();
    assert_eq!(client.count_points("live").unwrap(), 3);
    let swap = ChangeAliases::new([
        AliasOperation::delete("live"),
        AliasOperation::create("b", "live"),
    ]);
    client.update_aliases(swap).unwrap();
    assert_eq!(client.count_points("live").unwrap(), 2);
    client.rename_alias("live", "current").unwrap();
    let all = client.list_aliases().unwrap().aliases;
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].alias_name.as_str(), all[0].collection_name.as_str()),
        ("current", "b")
    );
    assert_eq!(client.list_collection_aliases("a").unwrap().aliases, vec![]);
    client.delete_alias("current").unwrap();
    assert!(client.delete_alias("current").is_err());

    let limit = StrictModeConfig {
        enabled: Some(true),
        max_query_limit: Some(2),
        ..StrictModeConfig::default()
    };
    client
        .update_collection("a", UpdateCollection::default().strict_mode_config(limit))
        .unwrap();
    assert!(client
        .search("a", SearchRequest::new(vec![1.0, 0.0], 3))
        .is_err());
    let hits = client
        .search("a", SearchRequest::new(vec![1.0, 0.0], 2))
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.score).collect::<Vec<_>>(), [3.0, 2.0]);

    // Estimates: exact without a filter, bounded by [exact, points] with one (odd: 1 and 3).
    let estimate = |filter: Option<Filter>| CountRequest {
        filter,
        exact: false,
        ..CountRequest::default()
    };
    assert_eq!(client.count("a", estimate(None)).unwrap(), 3);
    let odd = Filter::must([Condition::matches("odd", true)]);
    let estimated = client.count("a", estimate(Some(odd))).unwrap();
    assert!((2..=3).contains(&estimated), "{estimated}");
    client.shutdown().unwrap();
}

fn refused(result: rro::Result<impl std::fmt::Debug>) -> bool {
    matches!(result, Err(RroError::BlockingNotAllowed(_)))
}

fn refuses_inside_a_futures_executor(backend: Backend) {
    let client = open(backend);
    let inside = futures::executor::block_on(async { client.health_check() });
    assert!(refused(inside));
    client.health_check().unwrap();
    client.shutdown().unwrap();
}

fn refuses_on_an_rro_thread(backend: Backend) {
    let client = open(backend);
    let on_rro = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rro_core::runtime::mark_rro_thread();
                client.health_check()
            })
            .join()
            .unwrap()
    });
    assert!(refused(on_rro));
    client.shutdown().unwrap();
}

/// Blocking in async code on a tokio runtime would stall it, so the client refuses there;
/// tokio's own blocking contexts exist for this, so the client works in them.
fn tokio_async_code_is_refused_but_its_blocking_contexts_are_not(backend: Backend) {
    let client = open(backend);
    #[cfg(feature = "tokio")]
    {
        use rro_tokio::tokio;
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        // Directly in the future of `block_on`.
        assert!(refused(multi.block_on(async { client.health_check() })));
        // In a task on a worker thread.
        let worker = client.clone();
        let on_worker = multi
            .block_on(multi.spawn(async move { worker.health_check() }))
            .unwrap();
        assert!(refused(on_worker));
        // On a `spawn_blocking` thread.
        let blocking = client.clone();
        let in_spawn_blocking = multi
            .block_on(multi.spawn_blocking(move || blocking.health_check()))
            .unwrap();
        assert!(in_spawn_blocking.is_ok(), "{in_spawn_blocking:?}");
        // Inside `block_in_place` in a task on a worker.
        let in_place = client.clone();
        let in_block_in_place = multi
            .block_on(
                multi.spawn(async move { tokio::task::block_in_place(|| in_place.health_check()) }),
            )
            .unwrap();
        assert!(in_block_in_place.is_ok(), "{in_block_in_place:?}");
        // After `block_in_place` the task is async code on a worker again.
        let after = client.clone();
        let after_block_in_place = multi
            .block_on(multi.spawn(async move {
                tokio::task::block_in_place(|| ());
                after.health_check()
            }))
            .unwrap();
        assert!(refused(after_block_in_place));
        drop(multi);

        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(refused(
            current.block_on(async { client.count_points("any") })
        ));
        let blocking = client.clone();
        let in_spawn_blocking = current
            .block_on(current.spawn_blocking(move || blocking.health_check()))
            .unwrap();
        assert!(in_spawn_blocking.is_ok(), "{in_spawn_blocking:?}");
    }
    // Outside any runtime the same client works.
    assert!(client.health_check().is_ok());
    client.shutdown().unwrap();
}
