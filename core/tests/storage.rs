//! The storage engine against its data directory: restarts, torn and damaged files, locking,
//! names, snapshots, and a model-based property test. Synchronous: no client, no backend.

use std::fs;
use std::path::{Path, PathBuf};

use rro_core::models::{
    CreateCollection, Distance, GetPoints, HnswConfig, OptimizersConfig, PointId, PointStruct,
    PointsSelector, SearchRequest, VectorParams,
};
use rro_core::storage::TableOfContent;
use rro_core::{Config, Durability, OnCorruption, StorageError};

fn config(dir: &Path) -> Config {
    Config::new(dir).durability(Durability::Fsync)
}

fn open(dir: &Path) -> TableOfContent {
    TableOfContent::open(&config(dir)).expect("open")
}

fn point(id: u64, dim: usize) -> PointStruct {
    let vector: Vec<f32> = (0..dim).map(|j| (id as f32) * 0.5 + j as f32).collect();
    PointStruct::new(id, vector)
        .with_payload(rro_core::payload!({ "id": id, "tag": format!("t{id}") }))
}

/// Every point of `collection` with vector and payload, sorted by id.
fn dump(
    toc: &TableOfContent,
    collection: &str,
    ids: impl IntoIterator<Item = PointId>,
) -> Vec<String> {
    let c = toc.collection(collection).expect("collection");
    let mut records = c.get(&GetPoints::new(ids).with_vector(true));
    records.sort_by_key(|r| r.id);
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect()
}

fn all_ids(n: u64) -> Vec<PointId> {
    (0..n).map(PointId::Num).collect()
}

fn wal_files(dir: &Path, collection: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        fs::read_dir(dir.join("collections").join(collection).join("wal"))
            .expect("wal dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .collect();
    files.sort();
    files
}

fn segment_dirs(dir: &Path, collection: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(dir.join("collections").join(collection).join("segments"))
            .expect("segments dir")
            .map(|e| e.expect("entry").path())
            .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_operation_survives_restart_with_and_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let uuid = PointId::Uuid(uuid::Uuid::from_u128(7));
    let mut ids = all_ids(30);
    ids.push(uuid);
    let expected = {
        let toc = open(dir.path());
        toc.create_collection("dots", VectorParams::new(3, Distance::Dot).into())
            .unwrap();
        toc.create_collection("cos", VectorParams::new(3, Distance::Cosine).into())
            .unwrap();
        toc.create_collection("gone", VectorParams::new(3, Distance::Euclid).into())
            .unwrap();
        let dots = toc.collection("dots").unwrap();
        dots.upsert((0..20).map(|i| point(i, 3)).collect()).unwrap();
        toc.flush().unwrap();
        // After the checkpoint: overwrite points in the sealed segment, delete some, add more.
        dots.upsert((10..30).map(|i| point(i * 100 % 37, 3)).collect())
            .unwrap();
        dots.upsert(vec![PointStruct::new(uuid, vec![1.0, 2.0, 3.0])])
            .unwrap();
        dots.delete(&PointsSelector::ids([1u64, 2, 25, 999]))
            .unwrap();
        toc.collection("cos")
            .unwrap()
            .upsert(vec![PointStruct::new(1u64, vec![3.0, 4.0, 0.0])])
            .unwrap();
        assert!(toc.delete_collection("gone").unwrap());
        (
            dump(&toc, "dots", ids.clone()),
            dump(&toc, "cos", all_ids(3)),
        )
    };
    // Restart without a checkpoint: the log is replayed on top of the segment.
    let toc = open(dir.path());
    assert_eq!(
        (
            dump(&toc, "dots", ids.clone()),
            dump(&toc, "cos", all_ids(3))
        ),
        expected
    );
    assert_eq!(
        toc.list_collections()
            .collections
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["cos", "dots"]
    );
    assert_eq!(
        toc.collection("cos")
            .unwrap()
            .get(&GetPoints::new([1u64]).with_vector(true))[0]
            .plain_vector(),
        Some(&[0.6, 0.8, 0.0][..]),
        "cosine vectors are stored normalised, bit for bit"
    );
    let versions_before: Vec<u64> = search_versions(&toc);
    // Restart after a checkpoint: no log left to replay, same state and versions.
    toc.flush().unwrap();
    drop(toc);
    let toc = open(dir.path());
    assert_eq!(
        (
            dump(&toc, "dots", ids.clone()),
            dump(&toc, "cos", all_ids(3))
        ),
        expected
    );
    assert_eq!(search_versions(&toc), versions_before);
    // And the operation counter continues: a new write gets a higher version.
    let result = toc
        .collection("dots")
        .unwrap()
        .upsert(vec![point(3, 3)])
        .unwrap();
    assert!(result.operation_id > *versions_before.iter().max().unwrap());
}

fn search_versions(toc: &TableOfContent) -> Vec<u64> {
    let hits = toc
        .collection("dots")
        .unwrap()
        .search(
            &rro_core::models::SearchRequest::new(vec![1.0, 0.0, 0.0], 100),
            &|| false,
        )
        .unwrap()
        .unwrap();
    let mut v: Vec<u64> = hits.iter().map(|h| h.version).collect();
    v.sort();
    v
}

/// Three batches in the log of collection `c`; returns the directory.
fn three_batches() -> tempfile::TempDir {
    three_batches_with(Durability::Fsync)
}

/// [`three_batches`] under `durability`.
fn three_batches_with(durability: Durability) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let toc = TableOfContent::open(&Config::new(dir.path()).durability(durability)).unwrap();
    toc.create_collection("c", VectorParams::new(4, Distance::Dot).into())
        .unwrap();
    let c = toc.collection("c").unwrap();
    for batch in 0..3u64 {
        c.upsert((batch * 10..batch * 10 + 10).map(|i| point(i, 4)).collect())
            .unwrap();
    }
    dir
}

#[test]
fn a_torn_last_log_record_is_cut_off_and_the_store_goes_on() {
    // Never synced (no interval passed): the third batch may be torn by a power loss.
    let dir = three_batches_with(Durability::Interval(std::time::Duration::from_secs(3600)));
    let wal = wal_files(dir.path(), "c").pop().unwrap();
    let len = fs::metadata(&wal).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&wal).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);
    let toc = open(dir.path());
    let c = toc.collection("c").unwrap();
    assert_eq!(c.count(), 20, "the torn third batch was never acknowledged");
    c.upsert(vec![point(99, 4)]).unwrap();
    drop((c, toc));
    let toc = open(dir.path());
    assert_eq!(toc.collection("c").unwrap().count(), 21);
}

#[test]
fn a_log_cut_below_what_was_synced_is_damage_not_a_torn_tail() {
    // Under Fsync every batch was synced before it was acknowledged.
    let dir = three_batches();
    let wal = wal_files(dir.path(), "c").pop().unwrap();
    let len = fs::metadata(&wal).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&wal).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);
    match TableOfContent::open(&config(dir.path())) {
        Err(StorageError::Corrupted { path, .. }) => assert_eq!(path, wal.display().to_string()),
        other => panic!("expected Corrupted, got {:?}", other.map(|_| ())),
    }
    let toc =
        TableOfContent::open(&config(dir.path()).on_corruption(OnCorruption::TruncateWal)).unwrap();
    assert_eq!(toc.collection("c").unwrap().count(), 20, "what remains");
    drop(toc);
    assert_eq!(open(dir.path()).collection("c").unwrap().count(), 20);
}

#[test]
fn a_damaged_log_record_in_the_middle_fails_the_open_or_opens_as_configured() {
    let dir = three_batches();
    let wal = wal_files(dir.path(), "c").pop().unwrap();
    let mut bytes = fs::read(&wal).unwrap();
    // Inside the first record's body: file header 16 + record header 20 + a bit.
    bytes[16 + 20 + 40] ^= 0xFF;
    fs::write(&wal, &bytes).unwrap();

    match TableOfContent::open(&config(dir.path())) {
        Err(StorageError::Corrupted { path, offset, .. }) => {
            assert_eq!(path, wal.display().to_string());
            assert_eq!(offset, 16);
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    assert_eq!(
        fs::read(&wal).unwrap(),
        bytes,
        "a failed open changes nothing"
    );

    let toc =
        TableOfContent::open(&config(dir.path()).on_corruption(OnCorruption::ReadOnly)).unwrap();
    let c = toc.collection("c").unwrap();
    assert_eq!(c.count(), 0, "nothing before the damage");
    assert!(matches!(
        c.upsert(vec![point(1, 4)]),
        Err(StorageError::ReadOnly { .. })
    ));
    assert!(
        toc.flush().is_ok(),
        "flush of a read-only collection writes nothing"
    );
    drop((c, toc));
    assert_eq!(
        fs::read(&wal).unwrap(),
        bytes,
        "read-only leaves the files untouched"
    );

    let toc =
        TableOfContent::open(&config(dir.path()).on_corruption(OnCorruption::TruncateWal)).unwrap();
    let c = toc.collection("c").unwrap();
    assert_eq!(c.count(), 0);
    c.upsert(vec![point(1, 4)]).unwrap();
    drop((c, toc));
    assert_eq!(open(dir.path()).collection("c").unwrap().count(), 1);
}

/// A collection with one checkpointed segment; returns the directory and the segment's dir.
fn one_segment() -> (tempfile::TempDir, PathBuf) {
    let dir = three_batches();
    let toc = open(dir.path());
    toc.flush().unwrap();
    drop(toc);
    let segments = segment_dirs(dir.path(), "c");
    assert_eq!(segments.len(), 1);
    (dir, segments[0].clone())
}

#[test]
fn a_damaged_or_missing_segment_file_fails_the_open_naming_it() {
    let (dir, segment) = one_segment();
    for name in ["vectors.bin", "points.bin", "payloads.bin"] {
        let file = segment.join(name);
        let good = fs::read(&file).unwrap();
        let mut bad = good.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 0x01;
        fs::write(&file, &bad).unwrap();
        for mode in [
            OnCorruption::Fail,
            OnCorruption::ReadOnly,
            OnCorruption::TruncateWal,
        ] {
            match TableOfContent::open(&config(dir.path()).on_corruption(mode)) {
                Err(StorageError::Corrupted { path, .. }) => {
                    assert_eq!(path, file.display().to_string())
                }
                other => panic!("{name} {mode:?}: expected Corrupted, got {other:?}"),
            }
        }
        fs::remove_file(&file).unwrap();
        match TableOfContent::open(&config(dir.path())) {
            Err(StorageError::Io { path, .. }) => assert_eq!(path, file.display().to_string()),
            other => panic!("{name} missing: expected Io, got {other:?}"),
        }
        fs::write(&file, &good).unwrap();
    }
    assert_eq!(open(dir.path()).collection("c").unwrap().count(), 30);
}

#[test]
fn leftovers_of_an_interrupted_checkpoint_are_removed_at_open() {
    let (dir, segment) = one_segment();
    let segments = segment.parent().unwrap().to_owned();
    fs::create_dir(segments.join("77.tmp")).unwrap();
    fs::create_dir(segments.join("78")).unwrap();
    fs::write(segment.join("deleted-5.bin"), b"junk").unwrap();
    fs::create_dir_all(dir.path().join(".tmp/half-created")).unwrap();
    let toc = open(dir.path());
    assert_eq!(toc.collection("c").unwrap().count(), 30);
    assert_eq!(segment_dirs(dir.path(), "c"), vec![segment.clone()]);
    assert!(!segment.join("deleted-5.bin").exists());
    assert_eq!(fs::read_dir(dir.path().join(".tmp")).unwrap().count(), 0);
}

#[test]
fn a_locked_directory_refuses_a_second_open_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    match TableOfContent::open(&config(dir.path())) {
        Err(StorageError::AlreadyOpen { path }) => {
            assert_eq!(path, dir.path().display().to_string())
        }
        other => panic!("expected AlreadyOpen, got {other:?}"),
    }
    drop(first);
    open(dir.path());
}

#[test]
fn collection_names_never_reach_outside_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let toc = open(&data);
    let long = "x".repeat(256);
    for name in [
        "",
        "..",
        "../evil",
        "a/b",
        "/abs",
        "a\\b",
        "nul\0byte",
        "..hidden",
        &long,
        ".",
    ] {
        let err = toc
            .create_collection(name, VectorParams::new(2, Distance::Dot).into())
            .unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidCollectionName { .. }),
            "{name:?}: {err}"
        );
    }
    toc.create_collection(&"y".repeat(255), VectorParams::new(2, Distance::Dot).into())
        .unwrap();
    let outside: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["data"]);
    assert_eq!(fs::read_dir(data.join("collections")).unwrap().count(), 1);
}

#[test]
fn bad_batches_change_nothing_on_disk_either() {
    let dir = three_batches();
    let toc = open(dir.path());
    let c = toc.collection("c").unwrap();
    let mut bad = point(100, 4);
    bad.vector = vec![0.0, 1.0, f32::INFINITY, 3.0].into();
    assert!(matches!(
        c.upsert(vec![point(101, 4), bad]),
        Err(StorageError::NonFiniteVector { .. })
    ));
    assert!(matches!(
        c.upsert(vec![point(102, 4), point(103, 3)]),
        Err(StorageError::WrongDimension {
            expected: 4,
            got: 3,
            ..
        })
    ));
    drop((c, toc));
    let toc = open(dir.path());
    assert_eq!(toc.collection("c").unwrap().count(), 30);
    assert!(matches!(
        toc.collection("nope"),
        Err(StorageError::CollectionNotFound { .. })
    ));
}

#[test]
fn snapshots_taken_during_writes_restore_a_consistent_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let toc = std::sync::Arc::new(open(dir.path()));
    toc.create_collection("c", VectorParams::new(4, Distance::Dot).into())
        .unwrap();
    let writer = {
        let toc = toc.clone();
        std::thread::spawn(move || {
            let c = toc.collection("c").unwrap();
            for batch in 0..200u64 {
                c.upsert((batch * 5..batch * 5 + 5).map(|i| point(i, 4)).collect())
                    .unwrap();
            }
        })
    };
    let mut snapshots = Vec::new();
    while !writer.is_finished() || snapshots.is_empty() {
        snapshots.push(toc.create_snapshot("c").unwrap());
    }
    writer.join().unwrap();
    let listed = toc.list_snapshots("c").unwrap();
    assert_eq!(listed.len(), snapshots.len());
    for (i, snapshot) in snapshots.iter().enumerate() {
        let name = format!("restored{i}");
        toc.recover_snapshot(&name, &snapshot.path).unwrap();
        let restored = toc.collection(&name).unwrap();
        // Whole batches, in order: ids 0..n for n a multiple of 5, each with its exact data.
        let n = restored.count();
        assert_eq!(n % 5, 0, "snapshot {i} holds part of a batch");
        assert_eq!(
            dump(&toc, &name, all_ids(n + 5)),
            dump(&toc, "c", all_ids(n))
        );
    }
    // Recover over an existing collection, then survive a restart.
    toc.recover_snapshot("c", &snapshots[0].path).unwrap();
    let n0 = toc.collection("c").unwrap().count();
    assert!(toc.delete_snapshot("c", &snapshots[0].name).unwrap());
    assert!(!toc.delete_snapshot("c", &snapshots[0].name).unwrap());
    assert!(toc.delete_snapshot("c", "../../rro.lock").is_err());
    assert_eq!(toc.list_snapshots("c").unwrap().len(), snapshots.len() - 1);
    let full = toc.create_full_snapshot().unwrap();
    drop(toc);
    let toc = open(dir.path());
    assert_eq!(toc.collection("c").unwrap().count(), n0);
    toc.delete_collection("c").unwrap();
    toc.delete_collection("restored0").unwrap();
    let names = toc.recover_full_snapshot(&full.path).unwrap();
    assert!(names.contains(&"c".to_owned()) && names.contains(&"restored0".to_owned()));
    assert_eq!(toc.collection("c").unwrap().count(), n0);
    assert_eq!(toc.list_full_snapshots().unwrap().len(), 1);
    assert!(toc.delete_full_snapshot(&full.name).unwrap());
}

#[test]
fn a_damaged_snapshot_is_refused_and_the_collection_is_untouched() {
    let dir = three_batches();
    let toc = open(dir.path());
    let snapshot = toc.create_snapshot("c").unwrap();
    let mut bytes = fs::read(&snapshot.path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    let damaged = dir.path().join("damaged.snapshot");
    fs::write(&damaged, &bytes).unwrap();
    toc.collection("c")
        .unwrap()
        .upsert(vec![point(500, 4)])
        .unwrap();
    assert!(toc.recover_snapshot("c", &damaged).is_err());
    assert_eq!(toc.collection("c").unwrap().count(), 31);
    assert!(matches!(
        TableOfContent::in_memory().create_full_snapshot(),
        Err(StorageError::NotPersistent { .. })
    ));
}

/// An index file is derived data: damaged or missing, it is rebuilt, and the points are all
/// still there and found meanwhile (by exact search).
#[test]
fn a_damaged_index_file_is_rebuilt_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let create = CreateCollection::new(VectorParams::new(8, Distance::Euclid)).optimizers_config(
        OptimizersConfig {
            indexing_threshold: Some(1),
            ..OptimizersConfig::default()
        },
    );
    let points: Vec<PointStruct> = (0..300u64)
        .map(|i| {
            let vector: Vec<f32> = (0..8).map(|j| ((i * 8 + j) as f32).sin()).collect();
            PointStruct::new(i, vector)
        })
        .collect();
    {
        let toc = TableOfContent::open(&config(dir.path())).unwrap();
        toc.create_collection("c", create).unwrap();
        let c = toc.collection("c").unwrap();
        c.upsert(points.clone()).unwrap();
        c.optimize(2).unwrap();
        assert_eq!(c.info().indexed_vectors_count, 300);
    }
    let index_files: Vec<PathBuf> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("hnsw.bin"))
        .collect();
    assert_eq!(index_files.len(), 1);
    for damage in ["flip", "remove"] {
        let file = &index_files[0];
        if damage == "flip" {
            let mut bytes = fs::read(file).unwrap();
            let at = bytes.len() / 2;
            bytes[at] ^= 0x40;
            fs::write(file, bytes).unwrap();
        } else {
            fs::remove_file(file).unwrap();
        }
        let toc = TableOfContent::open(&config(dir.path())).unwrap();
        let c = toc.collection("c").unwrap();
        assert_eq!(c.count(), 300, "{damage}");
        assert_eq!(c.info().indexed_vectors_count, 0, "{damage}");
        let hits = c
            .search(
                &SearchRequest::new(points[7].vector.as_single().unwrap().to_vec(), 1),
                &|| false,
            )
            .unwrap()
            .unwrap();
        assert_eq!(hits[0].id, PointId::Num(7), "{damage}");
        c.optimize(1).unwrap();
        assert_eq!(c.info().indexed_vectors_count, 300, "{damage}");
    }
    // The rebuilt file loads.
    let toc = TableOfContent::open(&config(dir.path())).unwrap();
    assert_eq!(
        toc.collection("c").unwrap().info().indexed_vectors_count,
        300
    );
}

mod model {
    //! A random sequence of upserts, deletes, checkpoints, optimizations (seal, index, merge,
    //! vacuum), restarts and snapshots gives the same state as a `BTreeMap`.
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Upsert(Vec<(u64, f32, bool)>),
        Delete(Vec<u64>),
        Flush,
        Restart,
        Snapshot,
        Optimize,
    }

    /// 256 components, so that the smallest indexing threshold (1 KiB) is one point and every
    /// optimization happens on a few dozen points.
    const DIM: usize = 256;

    fn vector(x: f32) -> Vec<f32> {
        let mut v = vec![0.0; DIM];
        v[0] = x;
        v[1] = -x;
        v[2] = 1.0;
        v
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => prop::collection::vec((0..40u64, -10.0f32..10.0, any::<bool>()), 0..8).prop_map(Op::Upsert),
            3 => prop::collection::vec(0..40u64, 0..5).prop_map(Op::Delete),
            1 => Just(Op::Flush),
            1 => Just(Op::Restart),
            1 => Just(Op::Snapshot),
            2 => Just(Op::Optimize),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn engine_matches_a_btreemap(ops in prop::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let cfg = Config::new(dir.path()).wal_checkpoint_bytes(2048);
            let mut toc = Some(TableOfContent::open(&cfg).unwrap());
            let create = CreateCollection::new(VectorParams::new(DIM as u64, Distance::Euclid))
                .hnsw_config(HnswConfig { m: 4, ef_construct: 8, full_scan_threshold: 1, ..HnswConfig::default() })
                .optimizers_config(OptimizersConfig {
                    indexing_threshold: Some(1),
                    default_segment_number: 1,
                    deleted_threshold: 0.1,
                    vacuum_min_vector_number: 1,
                    ..OptimizersConfig::default()
                });
            toc.as_ref().unwrap().create_collection("m", create).unwrap();
            let mut model: BTreeMap<u64, (Vec<f32>, Option<serde_json::Value>)> = BTreeMap::new();
            for op in ops {
                let t = toc.as_ref().unwrap();
                match op {
                    Op::Upsert(points) => {
                        let batch: Vec<PointStruct> = points.iter().map(|(id, x, with)| {
                            let p = PointStruct::new(*id, vector(*x));
                            if *with { p.with_payload(rro_core::payload!({"x": x})) } else { p }
                        }).collect();
                        t.collection("m").unwrap().upsert(batch.clone()).unwrap();
                        for p in batch {
                            let id = match p.id { PointId::Num(n) => n, PointId::Uuid(_) => unreachable!() };
                            let vector = p.vector.as_single().unwrap_or_default().to_vec();
                            model.insert(id, (vector, p.payload.map(serde_json::Value::Object)));
                        }
                    }
                    Op::Delete(ids) => {
                        t.collection("m").unwrap().delete(&PointsSelector::ids(ids.clone())).unwrap();
                        for id in ids { model.remove(&id); }
                    }
                    Op::Flush => t.flush().unwrap(),
                    Op::Restart => {
                        // The old instance must let go of the directory lock first.
                        drop(toc.take());
                        toc = Some(TableOfContent::open(&cfg).unwrap());
                    }
                    Op::Snapshot => {
                        let s = t.create_snapshot("m").unwrap();
                        t.recover_snapshot("copy", &s.path).unwrap();
                        prop_assert_eq!(t.collection("copy").unwrap().count(), model.len() as u64);
                    }
                    Op::Optimize => t.collection("m").unwrap().optimize(2).unwrap(),
                }
                let t = toc.as_ref().unwrap();
                let got = t.collection("m").unwrap().get(&GetPoints::new(0..40u64).with_vector(true));
                let got: BTreeMap<u64, (Vec<f32>, Option<serde_json::Value>)> = got.into_iter().map(|r| {
                    let id = match r.id { PointId::Num(n) => n, PointId::Uuid(_) => unreachable!() };
                    let vector = r.plain_vector().unwrap_or_default().to_vec();
                    let payload = r.payload.filter(|p| !p.is_empty()).map(serde_json::Value::Object);
                    (id, (vector, payload))
                }).collect();
                prop_assert_eq!(&got, &model);
                prop_assert_eq!(t.collection("m").unwrap().count(), model.len() as u64);
                // Every live point, once, whatever segment (indexed or not) it is in.
                let query = SearchRequest::new(vector(0.0), 100);
                for request in [query.clone().exact(true), query.hnsw_ef(100)] {
                    let hits = t.collection("m").unwrap().search(&request, &|| false).unwrap().unwrap();
                    let mut ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
                    ids.sort();
                    let expected: Vec<PointId> = model.keys().map(|k| PointId::Num(*k)).collect();
                    if request.params.is_some_and(|p| p.exact) {
                        prop_assert_eq!(ids, expected);
                    } else {
                        prop_assert!(ids.len() <= expected.len());
                    }
                }
            }
        }
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn payload_index_files_are_reused_and_a_damaged_one_is_rebuilt() {
    use rro_core::models::{
        Condition, CountRequest, CreateFieldIndex, Filter, PayloadSchemaType, Range,
    };
    let dir = tempfile::tempdir().unwrap();
    let n = 300u64;
    let filters = [
        Filter::must([Condition::matches("tag", "t3")]),
        Filter::must([Condition::range("id", Range::default().gte(100).lt(250))]),
        Filter::must([
            Condition::matches("tag", "t1"),
            Condition::range("id", Range::default().lt(150)),
        ]),
    ];
    let expected = [
        (0..n).filter(|i| i % 7 == 3).count() as u64,
        150,
        (0..150u64).filter(|i| i % 7 == 1).count() as u64,
    ];
    let counts = |toc: &TableOfContent| -> Vec<u64> {
        let c = toc.collection("c").unwrap();
        filters
            .iter()
            .map(|f| c.count_filtered(&CountRequest::filter(f.clone())).unwrap())
            .collect()
    };
    {
        let toc = open(dir.path());
        toc.create_collection(
            "c",
            CreateCollection::new(VectorParams::new(4, Distance::Dot)),
        )
        .unwrap();
        let c = toc.collection("c").unwrap();
        c.create_field_index(&CreateFieldIndex::new("tag", PayloadSchemaType::Keyword))
            .unwrap();
        c.create_field_index(&CreateFieldIndex::new("id", PayloadSchemaType::Integer))
            .unwrap();
        for batch in [0..150, 150..n] {
            let points = batch.map(|i| {
                PointStruct::new(i, vec![i as f32, 1.0, 0.0, 0.5])
                    .with_payload(rro_core::payload!({ "id": i, "tag": format!("t{}", i % 7) }))
            });
            c.upsert(points.collect()).unwrap();
            // Seal the batch into a segment, then let the optimizer merge or index them.
            toc.flush().unwrap();
            c.optimize(1).unwrap();
        }
        assert_eq!(counts(&toc), expected);
    }
    // Every sealed segment (a directory with points) caches its indexes.
    let sealed: Vec<PathBuf> = segment_dirs(dir.path(), "c")
        .into_iter()
        .filter(|d| d.join("points.bin").exists())
        .collect();
    assert!(!sealed.is_empty());
    let files: Vec<PathBuf> = sealed.iter().map(|d| d.join("payload_index.bin")).collect();
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect();
    #[cfg(unix)]
    let inodes = || -> Vec<u64> {
        use std::os::unix::fs::MetadataExt;
        files
            .iter()
            .map(|f| fs::metadata(f).unwrap().ino())
            .collect()
    };
    #[cfg(unix)]
    let before = inodes();
    let info = {
        let toc = open(dir.path());
        assert_eq!(counts(&toc), expected, "loaded from the files");
        // Loaded, not rebuilt: a rebuild would have renamed a new file into place.
        #[cfg(unix)]
        assert_eq!(inodes(), before);
        let info = toc.collection("c").unwrap().info().payload_schema;
        assert_eq!(info["tag"].points, n);
        info
    };
    for damage in ["flip", "cut", "remove"] {
        for file in &files {
            let mut bytes = fs::read(file).unwrap();
            match damage {
                "flip" => {
                    let at = bytes.len() / 2;
                    bytes[at] ^= 0x40;
                    fs::write(file, bytes).unwrap();
                }
                "cut" => fs::write(file, &bytes[..bytes.len() - 1]).unwrap(),
                _ => fs::remove_file(file).unwrap(),
            }
        }
        let toc = open(dir.path());
        assert_eq!(counts(&toc), expected, "{damage}");
        assert_eq!(toc.collection("c").unwrap().info().payload_schema, info);
        // Rebuilt from the payloads and written again, identically.
        for (file, original) in files.iter().zip(&originals) {
            assert_eq!(&fs::read(file).unwrap(), original, "{damage}");
        }
    }
}
