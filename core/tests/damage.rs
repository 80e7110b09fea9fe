//! The damage matrix: a collection directory with sealed, indexed segments, payload indexes, a
//! manifest and a log of writes since the last checkpoint; then every file and directory in it,
//! found by walking the directory (so a new kind of file is covered without editing this list),
//! is damaged in every way below, one case at a time, and the data directory reopened under
//! every `OnCorruption` policy. A reopen must give a typed error naming a file of the
//! collection, or the collection with exactly the acknowledged points (vectors and payloads as
//! the test's own model says, filtered counts through the payload indexes too), or, where the
//! policy allows going on past damage, a collection that says so (ReadOnly: red) or
//! (TruncateWal) holds a state the writes passed through: exactly the points after some earlier
//! acknowledged write, never a mix. Never a panic, never fewer points without an error.
//!
//! The engine alone, synchronous: file-level damage needs no client.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rro_core::models::{
    Condition, CountRequest, CreateCollection, CreateFieldIndex, Distance, Filter, GetPoints,
    OptimizersConfig, PayloadSchemaType, PointId, PointStruct, PointsSelector, VectorParams,
};
use rro_core::storage::TableOfContent;
use rro_core::{Config, Durability, OnCorruption, StorageError};
use serde_json::{json, Value};

const COLLECTION: &str = "d";
const DIM: usize = 8;
const MAX_ID: u64 = 500;

/// What the test expects each point to hold: vector and payload, by id.
type Model = BTreeMap<u64, (Vec<f32>, Value)>;

/// The model after each acknowledged write, oldest first: the last one is what a reopen
/// must give; a policy that goes on past damage may give an earlier one, never anything else.
type History = Vec<Model>;

fn vector(id: u64, gen: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|j| ((id * DIM as u64 + j) as f32 * 0.37 + gen as f32).sin())
        .collect()
}

fn payload(id: u64, gen: u64) -> Value {
    json!({ "tag": format!("t{}", id % 7), "n": id, "gen": gen })
}

fn config(dir: &Path, on_corruption: OnCorruption) -> Config {
    Config::new(dir)
        .durability(Durability::Fsync)
        .on_corruption(on_corruption)
}

fn upsert(toc: &TableOfContent, history: &mut History, ids: impl Iterator<Item = u64>, gen: u64) {
    let mut model = history.last().cloned().unwrap_or_default();
    let points: Vec<PointStruct> = ids
        .map(|id| {
            model.insert(id, (vector(id, gen), payload(id, gen)));
            let Value::Object(map) = payload(id, gen) else {
                unreachable!("payload() builds an object")
            };
            PointStruct::new(id, vector(id, gen)).with_payload(map)
        })
        .collect();
    let c = toc.collection(COLLECTION).expect("collection");
    c.upsert(points).expect("upsert");
    history.push(model);
}

fn delete(toc: &TableOfContent, history: &mut History, ids: Vec<u64>) {
    let mut model = history.last().cloned().unwrap_or_default();
    for id in &ids {
        model.remove(id);
    }
    let c = toc.collection(COLLECTION).expect("collection");
    c.delete(&PointsSelector::ids(ids)).expect("delete");
    history.push(model);
}

/// Three checkpointed segments (indexed, with payload indexes), then writes only in the log.
fn build(dir: &Path) -> History {
    let mut model = History::new();
    let toc = TableOfContent::open(&config(dir, OnCorruption::Fail)).expect("open");
    let create = CreateCollection::new(VectorParams::new(DIM as u64, Distance::Dot))
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(1),
            ..OptimizersConfig::default()
        });
    toc.create_collection(COLLECTION, create).expect("create");
    let c = toc.collection(COLLECTION).expect("collection");
    for (field, kind) in [
        ("tag", PayloadSchemaType::Keyword),
        ("n", PayloadSchemaType::Integer),
    ] {
        c.create_field_index(&CreateFieldIndex::new(field, kind))
            .expect("field index");
    }
    upsert(&toc, &mut model, 0..150, 1);
    toc.flush().expect("checkpoint");
    upsert(&toc, &mut model, 150..300, 2);
    delete(&toc, &mut model, (0..60).step_by(6).collect());
    toc.flush().expect("checkpoint");
    c.optimize(1).expect("optimize");
    upsert(&toc, &mut model, 300..400, 3);
    toc.flush().expect("checkpoint");
    // Only in the log from here on.
    upsert(&toc, &mut model, 400..MAX_ID, 4);
    upsert(&toc, &mut model, 100..130, 5);
    delete(&toc, &mut model, (300..330).step_by(3).collect());
    model
}

/// Every file and directory under `dir`, depth first, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        out.push(path.clone());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    TruncateZero,
    TruncateHalf,
    FlipFirst,
    FlipMiddle,
    FlipLast,
    Random,
    Delete,
}

const FILE_DAMAGE: [Damage; 7] = [
    Damage::TruncateZero,
    Damage::TruncateHalf,
    Damage::FlipFirst,
    Damage::FlipMiddle,
    Damage::FlipLast,
    Damage::Random,
    Damage::Delete,
];

/// Apply `damage` to `path`; `false` if it does not apply (a flip of an empty file).
fn apply(path: &Path, damage: Damage, seed: u64) -> bool {
    if path.is_dir() {
        assert_eq!(damage, Damage::Delete);
        fs::remove_dir_all(path).expect("remove dir");
        return true;
    }
    let mut bytes = fs::read(path).expect("read");
    let flip = |bytes: &mut Vec<u8>, at: usize| match bytes.get_mut(at) {
        Some(byte) => {
            *byte ^= 0x5A;
            true
        }
        None => false,
    };
    let applied = match damage {
        Damage::TruncateZero => {
            bytes.clear();
            true
        }
        Damage::TruncateHalf => {
            bytes.truncate(bytes.len() / 2);
            true
        }
        Damage::FlipFirst => flip(&mut bytes, 0),
        Damage::FlipMiddle => {
            let at = bytes.len() / 2;
            flip(&mut bytes, at)
        }
        Damage::FlipLast => {
            let at = bytes.len().wrapping_sub(1);
            flip(&mut bytes, at)
        }
        Damage::Random => {
            // xorshift: reproducible without a dependency.
            let mut state = seed | 1;
            for byte in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            true
        }
        Damage::Delete => {
            fs::remove_file(path).expect("remove");
            return true;
        }
    };
    if applied {
        fs::write(path, &bytes).expect("write");
    }
    applied
}

/// What a reopen gave, when it was acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// A typed error naming a file of the collection.
    Refused,
    /// Every acknowledged point, exactly.
    Whole,
    /// Opened read-only (red) after reporting the damage, holding an earlier state.
    ReadOnly,
    /// TruncateWal went on with what remained: an earlier state.
    Truncated,
}

/// Reopen `data` under `policy` and judge the result against `history`.
fn judge(
    data: &Path,
    collection_dir: &Path,
    policy: OnCorruption,
    history: &History,
) -> Result<Outcome, String> {
    let toc = match TableOfContent::open(&config(data, policy)) {
        Ok(toc) => toc,
        Err(StorageError::Corrupted { path, .. } | StorageError::Io { path, .. }) => {
            return match Path::new(&path).starts_with(collection_dir) {
                true => Ok(Outcome::Refused),
                false => Err(format!("error names `{path}`, outside the collection")),
            };
        }
        Err(other) => return Err(format!("untyped or unexpected error: {other:?}")),
    };
    let c = toc
        .collection(COLLECTION)
        .map_err(|e| format!("collection gone without an error: {e}"))?;
    let ids = (0..MAX_ID).map(PointId::Num);
    let records = c.get(&GetPoints::new(ids).with_vector(true));
    let mut found = Model::new();
    for record in &records {
        let PointId::Num(id) = record.id else {
            return Err(format!("unexpected id {:?}", record.id));
        };
        let vector = record
            .plain_vector()
            .ok_or_else(|| format!("point {id} without a vector"))?
            .to_vec();
        let payload = Value::Object(record.payload.clone().unwrap_or_default());
        found.insert(id, (vector, payload));
    }
    let model = history.last().expect("history");
    let whole = found == *model;
    if !whole && !history.contains(&found) {
        let wrong = found
            .iter()
            .find(|(id, point)| model.get(id) != Some(point));
        return Err(format!(
            "{} points, not a state the writes passed through (first difference: {wrong:?})",
            found.len()
        ));
    }
    if whole {
        // The payload indexes (loaded or rebuilt) agree with the model too.
        for tag in ["t0", "t3"] {
            let filter = Filter::must([Condition::matches("tag", tag.to_owned())]);
            let counted = c
                .count_filtered(&CountRequest::filter(filter))
                .map_err(|e| format!("count_filtered: {e}"))?;
            let expected = model.values().filter(|(_, p)| p["tag"] == *tag).count() as u64;
            if counted != expected {
                return Err(format!(
                    "count of tag {tag}: {counted}, expected {expected}"
                ));
            }
        }
    }
    match (c.read_only_reason(), policy) {
        (Some(_), OnCorruption::ReadOnly) => Ok(Outcome::ReadOnly),
        (Some(reason), _) => Err(format!("read-only under {policy:?}: {reason}")),
        (None, _) if whole => Ok(Outcome::Whole),
        (None, OnCorruption::TruncateWal) => Ok(Outcome::Truncated),
        (None, _) => Err(format!(
            "{} of {} points and no error",
            found.len(),
            model.len()
        )),
    }
}

#[test]
fn every_file_of_a_collection_damaged_every_way() {
    let pristine = tempfile::tempdir().expect("tempdir");
    let history = build(pristine.path());
    let collection = pristine.path().join("collections").join(COLLECTION);
    // Sanity: the untouched directory reopens whole.
    assert_eq!(
        judge(pristine.path(), &collection, OnCorruption::Fail, &history),
        Ok(Outcome::Whole)
    );
    let targets = walk(&collection);
    let files = targets.iter().filter(|p| p.is_file()).count();
    assert!(
        targets.iter().any(|p| p.ends_with("hnsw.bin"))
            && targets.iter().any(|p| p.ends_with("payload_index.bin"))
            && targets
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "wal")),
        "the fixture lacks a kind of file: {targets:?}"
    );

    let policies = [
        OnCorruption::Fail,
        OnCorruption::ReadOnly,
        OnCorruption::TruncateWal,
    ];
    let mut failures = Vec::new();
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut cases = 0usize;
    for (index, target) in targets.iter().enumerate() {
        let relative = target.strip_prefix(&collection).expect("inside");
        let damages: &[Damage] = match target.is_dir() {
            true => &[Damage::Delete],
            false => &FILE_DAMAGE,
        };
        for &damage in damages {
            for policy in policies {
                let case = tempfile::tempdir().expect("tempdir");
                copy_tree(pristine.path(), case.path());
                let case_collection = case.path().join("collections").join(COLLECTION);
                if !apply(&case_collection.join(relative), damage, index as u64 + 1) {
                    continue;
                }
                cases += 1;
                let name = format!("{} {damage:?} {policy:?}", relative.display());
                let result = catch_unwind(AssertUnwindSafe(|| {
                    judge(case.path(), &case_collection, policy, &history)
                }));
                match result {
                    Ok(Ok(outcome)) => *outcomes.entry(outcome).or_default() += 1,
                    Ok(Err(why)) => failures.push(format!("{name}: {why}")),
                    Err(_) => failures.push(format!("{name}: panicked")),
                }
            }
        }
    }
    println!(
        "damage matrix: {cases} cases ({files} files x {} kinds of damage + {} directories \
         deleted, x {} policies, flips of empty files skipped): {outcomes:?}",
        FILE_DAMAGE.len(),
        targets.len() - files,
        policies.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
