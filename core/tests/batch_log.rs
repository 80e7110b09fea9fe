//! `points/batch` against the data directory: a batch is one log record, so a reopen replays
//! all of it, and a batch torn by a crash replays none of it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rro_core::models::{
    Distance, GetPoints, PointId, PointStruct, PointsSelector, SetPayload, UpdateOperation,
    UpdateOperations, UpsertPoints, VectorParams,
};
use rro_core::storage::TableOfContent;
use rro_core::{Config, Durability};

/// Never synced in the background during a test, so a cut record is a torn tail.
fn config(dir: &Path) -> Config {
    Config::new(dir).durability(Durability::Interval(Duration::from_secs(3600)))
}

fn dump(toc: &TableOfContent) -> Vec<String> {
    let c = toc.collection("c").expect("collection");
    let mut records = c.get(&GetPoints::new((0..40).map(PointId::Num)).with_vector(true));
    records.sort_by_key(|r| r.id);
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect()
}

fn point(id: u64) -> PointStruct {
    PointStruct::new(id, vec![id as f32, 1.0]).with_payload(rro_core::payload!({ "id": id }))
}

/// Upserts 10..20, deletes 0..5, tags 5..15 and rewrites 7: touches points in the log's
/// earlier records and its own.
fn batch() -> UpdateOperations {
    UpdateOperations::new([
        UpdateOperation::Upsert(UpsertPoints {
            points: (10..20).map(point).collect(),
        }),
        UpdateOperation::Delete(PointsSelector::ids(0..5u64)),
        UpdateOperation::SetPayload(SetPayload::new(
            rro_core::payload!({"tag": true}),
            PointsSelector::ids(5..15u64),
        )),
        UpdateOperation::Upsert(UpsertPoints {
            points: vec![PointStruct::new(7u64, vec![-1.0, -1.0])],
        }),
    ])
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("collections/c/wal"))
        .expect("wal dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// A collection with points 0..10 logged, and the dump before and after [`batch`].
fn logged(dir: &Path) -> (Vec<String>, Vec<String>) {
    let toc = TableOfContent::open(&config(dir)).expect("open");
    toc.create_collection("c", VectorParams::new(2, Distance::Dot).into())
        .expect("create");
    let c = toc.collection("c").expect("collection");
    c.upsert((0..10).map(point).collect()).expect("upsert");
    let before = dump(&toc);
    let results = c.batch(batch()).expect("batch");
    assert_eq!(results.len(), 4);
    let after = dump(&toc);
    assert_ne!(before, after);
    (before, after)
}

#[test]
fn a_batch_replays_whole_after_a_reopen_and_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (_, after) = logged(dir.path());
    // Dropped without a checkpoint: the reopen replays the log.
    let toc = TableOfContent::open(&config(dir.path())).expect("reopen");
    assert_eq!(dump(&toc), after);
    toc.flush().expect("checkpoint");
    drop(toc);
    let toc = TableOfContent::open(&config(dir.path())).expect("reopen");
    assert_eq!(dump(&toc), after);
}

#[test]
fn a_torn_batch_record_replays_none_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _) = logged(dir.path());
    let wal = wal_files(dir.path()).pop().expect("a log file");
    let len = fs::metadata(&wal).unwrap().len();
    for cut in [1, 7, 40] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let torn = copy.path().join(wal.strip_prefix(dir.path()).unwrap());
        let file = fs::OpenOptions::new().write(true).open(&torn).unwrap();
        file.set_len(len - cut).unwrap();
        drop(file);
        let toc = TableOfContent::open(&config(copy.path())).expect("reopen");
        assert_eq!(dump(&toc), before, "cut {cut} bytes");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}
