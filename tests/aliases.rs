//! Collection aliases through the client, on every backend: every kind of request through an
//! alias, the batch's all-or-nothing rule, Qdrant's naming rules, persistence across a
//! restart and through full snapshots, and a swap under concurrent readers.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::Ctx;
use rro::models::{
    AliasDescription, AliasOperation, ChangeAliases, Condition, CountRequest, Distance, Filter,
    GetPoints, PointStruct, SearchRequest, VectorParams,
};
use rro::{RroClient, RroError, StorageError};

backend_tests!(
    requests_through_an_alias_reach_its_collection,
    a_failing_batch_changes_nothing_and_names_its_action,
    aliases_and_collections_never_share_a_name,
    deleting_a_collection_drops_its_aliases,
    aliases_survive_a_restart_and_a_full_snapshot,
    a_damaged_alias_file_fails_the_open,
    readers_never_miss_an_alias_being_swapped,
);

/// Collection `name` (2-d, Dot) holding `n` points, point `i` = [i, 1] with `{"i": i}`.
async fn filled(client: &RroClient, name: &str, n: u64) {
    client
        .create_collection(name, VectorParams::new(2, Distance::Dot))
        .await
        .unwrap();
    let points = (0..n)
        .map(|i| PointStruct::new(i, vec![i as f32, 1.0]).with_payload(rro::payload!({"i": i})))
        .collect();
    client.upsert_points(name, points).await.unwrap();
}

fn described(pairs: &[(&str, &str)]) -> Vec<AliasDescription> {
    pairs
        .iter()
        .map(|(alias, collection)| AliasDescription {
            alias_name: (*alias).into(),
            collection_name: (*collection).into(),
        })
        .collect()
}

async fn requests_through_an_alias_reach_its_collection(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "v1", 3).await;
    filled(&client, "v2", 5).await;
    client.create_alias("v1", "live").await.unwrap();
    client.create_alias("v1", "other").await.unwrap();
    client.create_alias("v2", "next").await.unwrap();

    // Reads and writes through the alias see and change `v1` (3 points; reference: ids 0..3).
    assert_eq!(client.count_points("live").await.unwrap(), 3);
    assert!(client.collection_exists("live").await.unwrap());
    assert_eq!(
        client.collection_info("live").await.unwrap().points_count,
        3
    );
    let hits = client
        .search("live", SearchRequest::new(vec![1.0, 0.0], 1))
        .await
        .unwrap();
    assert_eq!(hits[0].id, 2u64.into());
    client
        .upsert_points("live", vec![PointStruct::new(10u64, vec![0.0, 1.0])])
        .await
        .unwrap();
    assert_eq!(client.count_points("v1").await.unwrap(), 4);
    assert_eq!(client.count_points("v2").await.unwrap(), 5);
    let got = client
        .get_points("live", GetPoints::new([10u64, 4u64]))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let filter = CountRequest::filter(Filter::must([Condition::matches("i", 1)]));
    assert_eq!(client.count("live", filter).await.unwrap(), 1);

    // Listing: all aliases sorted by name, and those of one collection (also via an alias).
    let all = client.list_aliases().await.unwrap().aliases;
    assert_eq!(
        all,
        described(&[("live", "v1"), ("next", "v2"), ("other", "v1")])
    );
    let of_v1 = client.list_collection_aliases("v1").await.unwrap().aliases;
    assert_eq!(of_v1, described(&[("live", "v1"), ("other", "v1")]));
    let via_alias = client
        .list_collection_aliases("next")
        .await
        .unwrap()
        .aliases;
    assert_eq!(via_alias, described(&[("next", "v2")]));
    assert!(matches!(
        client.list_collection_aliases("nope").await,
        Err(RroError::Storage(StorageError::CollectionNotFound { .. }))
    ));

    // Rename, then create over an existing alias re-points it.
    client.rename_alias("other", "old").await.unwrap();
    client.create_alias("v2", "live").await.unwrap();
    assert_eq!(client.count_points("live").await.unwrap(), 5);
    let all = client.list_aliases().await.unwrap().aliases;
    assert_eq!(
        all,
        described(&[("live", "v2"), ("next", "v2"), ("old", "v1")])
    );
    client.delete_alias("old").await.unwrap();
    assert!(!client.collection_exists("old").await.unwrap());
    assert!(matches!(
        client.count_points("old").await,
        Err(RroError::Storage(StorageError::CollectionNotFound { .. }))
    ));
    client.shutdown().await.unwrap();
}

async fn a_failing_batch_changes_nothing_and_names_its_action(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "a", 1).await;
    filled(&client, "b", 2).await;
    client.create_alias("a", "x").await.unwrap();
    let batch = ChangeAliases::new([
        AliasOperation::delete("x"),
        AliasOperation::create("b", "x"),
        AliasOperation::create("b", "y"),
        AliasOperation::create("missing", "z"),
    ]);
    match client.update_aliases(batch).await {
        Err(RroError::Storage(StorageError::AliasAction { index, error })) => {
            assert_eq!(index, 3);
            assert!(matches!(*error, StorageError::CollectionNotFound { .. }));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client.list_aliases().await.unwrap().aliases,
        described(&[("x", "a")])
    );
    // Each other failing kind, named by its index.
    for (batch, index) in [
        (vec![AliasOperation::delete("nope")], 0),
        (
            vec![
                AliasOperation::create("a", "y"),
                AliasOperation::rename("nope", "w"),
            ],
            1,
        ),
        (vec![AliasOperation::create("a", "../escape")], 0),
    ] {
        match client.update_aliases(ChangeAliases::new(batch)).await {
            Err(RroError::Storage(StorageError::AliasAction { index: got, .. })) => {
                assert_eq!(got, index)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        client.list_aliases().await.unwrap().aliases,
        described(&[("x", "a")])
    );
    // The JSON body of Qdrant's documentation parses into the same batch.
    let body = serde_json::json!({"actions": [
        {"delete_alias": {"alias_name": "x"}},
        {"create_alias": {"collection_name": "b", "alias_name": "x"}},
        {"rename_alias": {"old_alias_name": "x", "new_alias_name": "y"}}
    ]});
    let batch: ChangeAliases = serde_json::from_value(body).unwrap();
    client.update_aliases(batch).await.unwrap();
    assert_eq!(
        client.list_aliases().await.unwrap().aliases,
        described(&[("y", "b")])
    );
    let unknown = serde_json::json!({"actions": [{"create_alias": {"collection_name": "b", "alias_name": "q", "extra": 1}}]});
    assert!(serde_json::from_value::<ChangeAliases>(unknown).is_err());
    client.shutdown().await.unwrap();
}

async fn aliases_and_collections_never_share_a_name(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "a", 1).await;
    filled(&client, "b", 1).await;
    // An alias cannot take a collection's name, by create or rename...
    assert!(client.create_alias("a", "b").await.is_err());
    client.create_alias("a", "x").await.unwrap();
    assert!(client.rename_alias("x", "b").await.is_err());
    // ...and a collection cannot take an alias's name.
    let refused = client
        .create_collection("x", VectorParams::new(2, Distance::Dot))
        .await;
    assert!(
        matches!(refused, Err(RroError::Storage(StorageError::BadRequest(_)))),
        "{refused:?}"
    );
    assert_eq!(client.count_points("x").await.unwrap(), 1);
    assert_eq!(
        client.list_collections().await.unwrap().collections.len(),
        2
    );
    client.shutdown().await.unwrap();
}

async fn deleting_a_collection_drops_its_aliases(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "a", 1).await;
    filled(&client, "b", 1).await;
    client.create_alias("a", "x").await.unwrap();
    client.create_alias("a", "y").await.unwrap();
    client.create_alias("b", "z").await.unwrap();
    // Deleting through an alias deletes the collection it stands for.
    assert!(client.delete_collection("y").await.unwrap());
    assert!(!client.collection_exists("a").await.unwrap());
    assert_eq!(
        client.list_aliases().await.unwrap().aliases,
        described(&[("z", "b")])
    );
    // The freed names can be used again, by a collection or an alias.
    filled(&client, "x", 1).await;
    client.create_alias("b", "y").await.unwrap();
    assert!(!client.delete_collection("gone").await.unwrap());
    client.shutdown().await.unwrap();
}

async fn aliases_survive_a_restart_and_a_full_snapshot(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    filled(&client, "a", 2).await;
    filled(&client, "b", 3).await;
    client.create_alias("a", "x").await.unwrap();
    client.create_alias("b", "y").await.unwrap();
    let snapshot = client.create_full_snapshot().await.unwrap();
    client.delete_alias("y").await.unwrap();
    client.shutdown().await.unwrap();

    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    assert_eq!(
        client.list_aliases().await.unwrap().aliases,
        described(&[("x", "a")])
    );
    assert_eq!(client.count_points("x").await.unwrap(), 2);
    // A collection snapshot taken through an alias is the collection's, and holds no alias.
    let one = client.create_snapshot("x").await.unwrap();
    assert_eq!(client.list_snapshots("a").await.unwrap(), vec![one]);
    // The full snapshot brings back the aliases of its collections.
    client.delete_collection("b").await.unwrap();
    client.recover_full_snapshot(&snapshot.path).await.unwrap();
    assert_eq!(
        client.list_aliases().await.unwrap().aliases,
        described(&[("x", "a"), ("y", "b")])
    );
    assert_eq!(client.count_points("y").await.unwrap(), 3);
    client.shutdown().await.unwrap();

    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    assert_eq!(client.count_points("y").await.unwrap(), 3);
    client.shutdown().await.unwrap();
}

async fn a_damaged_alias_file_fails_the_open(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    filled(&client, "a", 1).await;
    client.create_alias("a", "x").await.unwrap();
    client.shutdown().await.unwrap();
    let path = dir.path().join("aliases.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    match ctx.try_open(ctx.persistent_config(dir.path()).0).await {
        Err(RroError::Storage(StorageError::Corrupted { path: damaged, .. })) => {
            assert!(damaged.ends_with("aliases.bin"), "{damaged}")
        }
        other => panic!("{other:?}"),
    }
}

async fn readers_never_miss_an_alias_being_swapped(ctx: Ctx) {
    let client = ctx.open_default().await;
    filled(&client, "blue", 3).await;
    filled(&client, "green", 5).await;
    client.create_alias("blue", "live").await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (client, done, reads) = (client.clone(), done.clone(), reads.clone());
        async move {
            let mut target = "green";
            let mut swaps = 0;
            // Swap until enough reads overlapped the swaps (at least 200 swaps).
            while swaps < 200 || reads.load(Ordering::Relaxed) < 200 {
                let batch = ChangeAliases::new([
                    AliasOperation::delete("live"),
                    AliasOperation::create(target, "live"),
                ]);
                client.update_aliases(batch).await.unwrap();
                target = if target == "green" { "blue" } else { "green" };
                swaps += 1;
            }
            done.store(true, Ordering::Release);
        }
    };
    let reader = {
        let (client, done, reads) = (client.clone(), done.clone(), reads.clone());
        async move {
            let mut seen = std::collections::BTreeSet::new();
            while !done.load(Ordering::Acquire) {
                // Always one of the two whole collections, never NotFound.
                let count = client.count_points("live").await.unwrap();
                assert!(count == 3 || count == 5, "{count}");
                seen.insert(count);
                reads.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }
    };
    let ((), seen) = futures::future::join(swapper, reader).await;
    assert!(!seen.is_empty());
    client.shutdown().await.unwrap();
}
