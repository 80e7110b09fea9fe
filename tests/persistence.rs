//! A data directory through the client, on every backend: restarts, the directory lock,
//! damaged files at open, and snapshots taken while writes go on.

mod common;

use common::{assert_threads_gone, Ctx};
use futures::future::join;
use rro::models::{Distance, GetPoints, PointId, PointStruct, PointsSelector, VectorParams};
use rro::{Config, OnCorruption, RroError, StorageError};

backend_tests!(
    writes_survive_shutdown_and_reopen,
    a_second_open_of_a_directory_is_refused_until_the_first_shuts_down,
    a_damaged_file_fails_the_open_with_its_name,
    opened_past_damage_the_collection_is_red_and_read_only,
    snapshots_taken_during_writes_recover_whole_batches,
    an_in_memory_instance_has_no_snapshots,
);

fn point(id: u64) -> PointStruct {
    PointStruct::new(id, vec![id as f32, 1.5, -(id as f32) / 3.0])
        .with_payload(rro::payload!({ "id": id, "name": format!("p{id}") }))
}

fn ids(range: std::ops::Range<u64>) -> Vec<PointId> {
    range.map(PointId::Num).collect()
}

async fn dump(client: &rro::RroClient, collection: &str, n: u64) -> Vec<String> {
    let records = client
        .get_points(collection, GetPoints::new(ids(0..n)).with_vector(true))
        .await
        .expect("get");
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect()
}

async fn writes_survive_shutdown_and_reopen(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let (config, name) = ctx.persistent_config(dir.path());
    let client = ctx.open(config.clone()).await;
    client
        .create_collection("docs", VectorParams::new(3, Distance::Euclid))
        .await
        .unwrap();
    client
        .upsert_points("docs", (0..50).map(point).collect())
        .await
        .unwrap();
    client.flush().await.unwrap();
    client
        .upsert_points("docs", (40..60).map(|i| point(i * 7 % 61)).collect())
        .await
        .unwrap();
    client
        .delete_points("docs", PointsSelector::ids([3u64, 4, 55]))
        .await
        .unwrap();
    let before = dump(&client, "docs", 70).await;
    let info = client.collection_info("docs").await.unwrap();
    assert!(client.shutdown().await.unwrap().is_clean());
    assert_threads_gone(&name);

    let client = ctx.open(config).await;
    assert_eq!(dump(&client, "docs", 70).await, before);
    assert_eq!(
        client.collection_info("docs").await.unwrap().points_count,
        info.points_count
    );
    assert_eq!(
        client.count_points("docs").await.unwrap(),
        before.len() as u64
    );
    assert!(client.delete_collection("docs").await.unwrap());
    client.shutdown().await.unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    assert!(!client.collection_exists("docs").await.unwrap());
    client.shutdown().await.unwrap();
}

async fn a_second_open_of_a_directory_is_refused_until_the_first_shuts_down(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let first = ctx.open(ctx.persistent_config(dir.path()).0).await;
    let (config, name) = ctx.persistent_config(dir.path());
    match ctx.try_open(config.clone()).await {
        Err(RroError::Storage(StorageError::AlreadyOpen { path })) => {
            assert_eq!(path, dir.path().display().to_string())
        }
        other => panic!("expected AlreadyOpen, got {:?}", other.map(|_| ())),
    }
    // The refused instance stopped every thread it had started.
    assert_threads_gone(&name);
    first.shutdown().await.unwrap();
    let second = ctx.open(config).await;
    second.shutdown().await.unwrap();
}

async fn a_damaged_file_fails_the_open_with_its_name(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    client
        .create_collection("c", VectorParams::new(3, Distance::Dot))
        .await
        .unwrap();
    client
        .upsert_points("c", (0..10).map(point).collect())
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let segments = dir.path().join("collections/c/segments");
    let segment = std::fs::read_dir(&segments)
        .unwrap()
        .next()
        .expect("shutdown checkpointed a segment")
        .unwrap()
        .path();
    let file = segment.join("payloads.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let (config, name) = ctx.persistent_config(dir.path());
    match ctx.try_open(config).await {
        Err(RroError::Storage(StorageError::Corrupted { path, .. })) => {
            assert_eq!(path, file.display().to_string())
        }
        other => panic!("expected Corrupted, got {:?}", other.map(|_| ())),
    }
    assert_threads_gone(&name);
}

async fn opened_past_damage_the_collection_is_red_and_read_only(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    {
        // The engine alone, dropped without a checkpoint: what a crash leaves, a full log.
        let toc = rro_core::storage::TableOfContent::open(&Config::new(dir.path())).unwrap();
        toc.create_collection("c", VectorParams::new(3, Distance::Dot).into())
            .unwrap();
        for i in 0..3 {
            toc.collection("c").unwrap().upsert(vec![point(i)]).unwrap();
        }
    }
    let wal_dir = dir.path().join("collections/c/wal");
    let wal = std::fs::read_dir(&wal_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&wal).unwrap();
    // Inside the first record's body, with good records after it: damage, not a torn tail.
    bytes[16 + 20 + 5] ^= 0x01;
    std::fs::write(&wal, &bytes).unwrap();

    match ctx.try_open(ctx.persistent_config(dir.path()).0).await {
        Err(RroError::Storage(StorageError::Corrupted { path, offset, .. })) => {
            assert_eq!((path, offset), (wal.display().to_string(), 16))
        }
        other => panic!("expected Corrupted, got {:?}", other.map(|_| ())),
    }
    let config = ctx
        .persistent_config(dir.path())
        .0
        .on_corruption(OnCorruption::ReadOnly);
    let client = ctx.open(config).await;
    let info = client.collection_info("c").await.unwrap();
    assert_eq!(info.status, rro::models::CollectionStatus::Red);
    assert!(matches!(
        client.upsert_points("c", vec![point(9)]).await,
        Err(RroError::Storage(StorageError::ReadOnly { .. }))
    ));
    client.shutdown().await.unwrap();
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        bytes,
        "read-only changed nothing"
    );
}

async fn snapshots_taken_during_writes_recover_whole_batches(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let client = ctx.open(ctx.persistent_config(dir.path()).0).await;
    client
        .create_collection("c", VectorParams::new(3, Distance::Dot))
        .await
        .unwrap();
    let writer = async {
        for batch in 0..60u64 {
            client
                .upsert_points("c", (batch * 4..batch * 4 + 4).map(point).collect())
                .await
                .unwrap();
        }
    };
    let snapshotter = async {
        let mut taken = Vec::new();
        for _ in 0..3 {
            taken.push(client.create_snapshot("c").await.unwrap());
        }
        taken
    };
    let ((), taken) = join(writer, snapshotter).await;
    let listed = client.list_snapshots("c").await.unwrap();
    assert_eq!(
        listed.iter().map(|s| &s.name).collect::<Vec<_>>(),
        taken.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for (i, snapshot) in taken.iter().enumerate() {
        let name = format!("copy{i}");
        client
            .recover_snapshot(&name, &snapshot.path)
            .await
            .unwrap();
        let n = client.count_points(&name).await.unwrap();
        assert_eq!(n % 4, 0, "snapshot {i} holds part of a batch");
        assert_eq!(dump(&client, &name, 240).await, dump(&client, "c", n).await);
    }
    let full = client.create_full_snapshot().await.unwrap();
    assert_eq!(
        client.list_full_snapshots().await.unwrap(),
        vec![full.clone()]
    );
    client.delete_collection("c").await.unwrap();
    let recovered = client.recover_full_snapshot(&full.path).await.unwrap();
    assert_eq!(recovered, ["c", "copy0", "copy1", "copy2"]);
    assert_eq!(client.count_points("c").await.unwrap(), 240);
    assert!(client.delete_full_snapshot(&full.name).await.unwrap());
    assert!(client.delete_snapshot("c", &taken[0].name).await.unwrap());
    assert_eq!(client.list_snapshots("c").await.unwrap().len(), 2);
    assert!(matches!(
        client
            .recover_snapshot("c", dir.path().join("nope.snapshot"))
            .await,
        Err(RroError::Storage(StorageError::Io { .. }))
    ));
    assert_eq!(client.count_points("c").await.unwrap(), 240);
    client.shutdown().await.unwrap();
}

async fn an_in_memory_instance_has_no_snapshots(ctx: Ctx) {
    let client = ctx.open(Config::in_memory()).await;
    client
        .create_collection("c", VectorParams::new(3, Distance::Dot))
        .await
        .unwrap();
    assert!(matches!(
        client.create_snapshot("c").await,
        Err(RroError::Storage(StorageError::NotPersistent { .. }))
    ));
    assert!(matches!(
        client.create_snapshot("missing").await,
        Err(RroError::Storage(StorageError::CollectionNotFound { .. }))
    ));
    client.shutdown().await.unwrap();
}
