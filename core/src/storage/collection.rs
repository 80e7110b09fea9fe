//! One collection: its segments, its write-ahead log, and the locks that let searches run
//! while writes and checkpoints go on.
//!
//! ## Directory (`collections/<name>/`)
//! - `manifest.bin`: configuration, segment list, last operation in the segments
//!   (`manifest.rs`);
//! - `segments/<id>/`: one directory per sealed segment (`segment.rs`);
//! - `wal/`: the write-ahead log of operations after the manifest's (`wal.rs`).
//!
//! ## Writes
//! A write is validated whole (nothing of a rejected batch is applied), encoded, appended to
//! the log as one checksummed record under the next operation number, applied to the
//! appendable segment, and acknowledged; under [`Durability::Fsync`] the log is synced first
//! (concurrent writers share one sync). The operation number is the version of every point it
//! writes, so the newest write of a point wins wherever it lives.
//!
//! ## Checkpoints
//! A checkpoint seals the appendable segment (a new empty one takes further writes at once),
//! starts a new log file, writes the sealed segment and changed deletion sets to new files,
//! commits them by replacing the manifest, and only then deletes the log files the manifest
//! now covers. A crash anywhere in between leaves the previous manifest and the whole log, and
//! the files of the interrupted checkpoint are removed at the next open.
//!
//! ## Invariants
//! Every live point is in `index` exactly once and nowhere else live; vectors have the
//! collection's dimension and finite components; Cosine vectors are stored normalised.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use super::checked::sync_dir;
use super::codec::Operation;
use super::distance::{score, Order};
use super::manifest::{Manifest, SegmentEntry, MANIFEST_FILE};
use super::segment::{deleted_file, Bitset, Segment, SegmentData, SEGMENT_FILES};
use super::vector::{normalize, validate};
use super::wal::Wal;
use super::{read, write};
use crate::config::{Durability, OnCorruption};
use crate::error::StorageError;
use crate::models::{
    CollectionConfig, CollectionInfo, CollectionParams, CollectionStatus, Distance, GetPoints,
    PointId, PointStruct, PointsSelector, Record, ScoredPoint, SearchRequest, UpdateResult,
    UpdateStatus, VectorParams,
};

/// Largest vector size a collection accepts.
pub const MAX_DIMENSION: u64 = 65_536;

const SEGMENTS_DIR: &str = "segments";
const WAL_DIR: &str = "wal";

/// Where a live point is: segment position in `State::segments`, offset in that segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    segment: u32,
    offset: u32,
}

/// What searches read and writes change, behind one `RwLock`.
#[derive(Debug)]
struct State {
    /// Sealed segments oldest first; the last one is the appendable segment.
    segments: Vec<Segment>,
    /// Every live point.
    index: HashMap<PointId, Loc>,
    /// The id the next new segment gets.
    next_segment_id: u64,
}

/// The log and the next operation number, behind the writers' lock.
#[derive(Debug)]
struct Writer {
    wal: Option<Wal>,
    next_op: u64,
}

/// How a collection persists itself; `None` in memory.
#[derive(Debug, Clone)]
pub(crate) struct DiskOptions {
    pub(crate) durability: Durability,
    pub(crate) on_corruption: OnCorruption,
    pub(crate) checkpoint_bytes: u64,
}

/// What opening a collection found in its log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OpenReport {
    /// Log records replayed on top of the segments.
    pub replayed: u64,
    /// A torn last log record that was cut off: file and offset.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Damage that was skipped (`OnCorruption::ReadOnly` or `TruncateWal`).
    pub damage: Option<StorageError>,
}

/// A collection of points in one vector space.
#[derive(Debug)]
pub struct Collection {
    params: VectorParams,
    dim: usize,
    dir: Option<PathBuf>,
    options: Option<DiskOptions>,
    state: RwLock<State>,
    writer: Mutex<Writer>,
    /// Serialises checkpoints and snapshots; holds the manifest as last committed.
    checkpoint: Mutex<Manifest>,
    /// Highest operation known to be synced to disk, for group commit.
    synced: Mutex<u64>,
    /// Why writes are refused, when the collection was opened past damage.
    read_only: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // See `super::read`: every critical section leaves its data consistent between steps.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn check_params(params: &VectorParams) -> Result<usize, StorageError> {
    if params.size == 0 || params.size > MAX_DIMENSION {
        return Err(StorageError::BadRequest(format!(
            "vector size {} is out of range; it must be between 1 and {MAX_DIMENSION}",
            params.size
        )));
    }
    Ok(params.size as usize)
}

fn empty_manifest(params: VectorParams) -> Manifest {
    Manifest {
        params,
        applied_op: 0,
        next_segment_id: 1,
        segments: Vec::new(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, &e)
}

impl Collection {
    /// An empty collection with `params` that lives in memory only; refuses a size of 0 or
    /// above 65,536.
    pub fn new(params: VectorParams) -> Result<Self, StorageError> {
        let dim = check_params(&params)?;
        Ok(Collection::assemble(
            empty_manifest(params),
            dim,
            None,
            None,
            new_state(Vec::new(), 1, dim),
            None,
            None,
        ))
    }

    /// Lay out an empty collection with `params` in the fresh directory `dir`.
    pub(crate) fn init_dir(dir: &Path, params: VectorParams) -> Result<(), StorageError> {
        check_params(&params)?;
        fs::create_dir_all(dir.join(SEGMENTS_DIR)).map_err(io(dir))?;
        fs::create_dir_all(dir.join(WAL_DIR)).map_err(io(dir))?;
        empty_manifest(params).write(dir)?;
        sync_dir(dir)
    }

    /// Open the collection in `dir`: load its segments, replay its log, remove leftovers of
    /// an interrupted checkpoint.
    pub(crate) fn open(
        dir: &Path,
        options: DiskOptions,
    ) -> Result<(Self, OpenReport), StorageError> {
        let manifest = Manifest::read(dir)?;
        let dim = check_params(&manifest.params)
            .map_err(|e| StorageError::corrupted(&dir.join(MANIFEST_FILE), 0, e.to_string()))?;
        let mut segments = Vec::with_capacity(manifest.segments.len() + 1);
        for entry in &manifest.segments {
            let seg_dir = dir.join(SEGMENTS_DIR).join(entry.id.to_string());
            let data = SegmentData::load(&seg_dir, dim)?;
            if data.len() as u64 != entry.points {
                return Err(StorageError::corrupted(
                    &seg_dir.join(SEGMENT_FILES[0]),
                    16,
                    format!(
                        "holds {} points, the manifest says {}",
                        data.len(),
                        entry.points
                    ),
                ));
            }
            let deleted = if entry.deleted_gen == 0 {
                let mut set = Bitset::default();
                set.grow(data.len());
                set
            } else {
                Bitset::load(&seg_dir, entry.deleted_gen, data.len())?
            };
            let live = (0..data.len()).filter(|&i| !deleted.contains(i)).count();
            segments.push(Segment {
                id: entry.id,
                data: std::sync::Arc::new(data),
                deleted,
                live,
                persisted: true,
                deleted_gen: entry.deleted_gen,
                deleted_dirty: false,
            });
        }
        let mut state = new_state(segments, manifest.next_segment_id, dim);
        let mut last_op = manifest.applied_op;
        let wal_dir = dir.join(WAL_DIR);
        let (wal, found) = Wal::open(
            &wal_dir,
            manifest.applied_op,
            options.on_corruption,
            &mut |op, body| {
                let operation = Operation::decode(body).and_then(|o| check_replayed(o, dim));
                let operation = operation.map_err(|why| {
                    StorageError::corrupted(&wal_dir, 0, format!("operation {op}: {why}"))
                })?;
                apply(&mut state, op, operation);
                last_op = op;
                Ok(())
            },
        )?;
        let read_only = wal.is_read_only().then(|| {
            found.damage.as_ref().map_or_else(
                || "the write-ahead log is damaged".to_owned(),
                ToString::to_string,
            )
        });
        if read_only.is_none() {
            remove_leftovers(dir, &manifest)?;
        }
        let last_op = found.last_op.unwrap_or(0).max(last_op);
        let report = OpenReport {
            replayed: found.records_replayed,
            torn_tail: found.torn_tail.clone(),
            damage: found.damage.clone(),
        };
        let collection = Collection::assemble(
            manifest,
            dim,
            Some(dir.to_owned()),
            Some(options),
            state,
            Some((wal, last_op)),
            read_only,
        );
        Ok((collection, report))
    }

    fn assemble(
        manifest: Manifest,
        dim: usize,
        dir: Option<PathBuf>,
        options: Option<DiskOptions>,
        state: State,
        wal: Option<(Wal, u64)>,
        read_only: Option<String>,
    ) -> Self {
        let last_op = wal.as_ref().map_or(0, |(_, op)| *op);
        Collection {
            params: manifest.params.clone(),
            dim,
            dir,
            options,
            state: RwLock::new(state),
            writer: Mutex::new(Writer {
                wal: wal.map(|(wal, _)| wal),
                next_op: last_op + 1,
            }),
            checkpoint: Mutex::new(manifest),
            synced: Mutex::new(last_op),
            read_only,
        }
    }

    /// The collection's vector space.
    pub fn params(&self) -> &VectorParams {
        &self.params
    }

    /// Why the collection refuses writes, if it does.
    pub fn read_only_reason(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    /// Status, point count and configuration.
    pub fn info(&self) -> CollectionInfo {
        let state = read(&self.state);
        CollectionInfo {
            status: if self.read_only.is_some() {
                CollectionStatus::Red
            } else {
                CollectionStatus::Green
            },
            points_count: state.index.len() as u64,
            segments_count: state.segments.len() as u64,
            config: CollectionConfig {
                params: CollectionParams {
                    vectors: self.params.clone(),
                },
            },
        }
    }

    /// Insert or replace `batch`: all of it, or (on any invalid point) none of it.
    pub fn upsert(&self, mut batch: Vec<PointStruct>) -> Result<UpdateResult, StorageError> {
        for point in &mut batch {
            validate(&point.vector, self.dim, Some(&point.id))?;
            if self.params.distance == Distance::Cosine {
                normalize(&mut point.vector);
            }
        }
        self.write(Operation::Upsert(batch))
    }

    /// Delete the selected points; ids that do not exist are ignored.
    pub fn delete(&self, selector: &PointsSelector) -> Result<UpdateResult, StorageError> {
        self.write(Operation::Delete(selector.points.clone()))
    }

    /// Log `operation`, apply it, and (under `Durability::Fsync`) sync before returning.
    fn write(&self, operation: Operation) -> Result<UpdateResult, StorageError> {
        if let Some(reason) = &self.read_only {
            return Err(StorageError::ReadOnly {
                reason: reason.clone(),
            });
        }
        // Encoding is the expensive part of logging; do it before taking the writers' lock.
        let mut body = Vec::new();
        if self.dir.is_some() {
            operation
                .encode(&mut body)
                .map_err(StorageError::BadRequest)?;
        }
        let op = {
            let mut writer = lock(&self.writer);
            let op = writer.next_op;
            if let Some(wal) = writer.wal.as_mut() {
                wal.append(op, &body)?;
            }
            apply(&mut write(&self.state), op, operation);
            writer.next_op = op + 1;
            op
        };
        if matches!(
            self.options.as_ref().map(|o| o.durability),
            Some(Durability::Fsync)
        ) {
            self.sync_through(op)?;
        }
        Ok(UpdateResult {
            operation_id: op,
            status: UpdateStatus::Completed,
        })
    }

    /// Make every operation up to `op` durable. Writers that arrive while a sync runs wait for
    /// it and then usually find their operation covered: one sync serves them all.
    fn sync_through(&self, op: u64) -> Result<(), StorageError> {
        let mut synced = lock(&self.synced);
        if *synced >= op {
            return Ok(());
        }
        // The current log file holds everything since the last rotation, and a rotation syncs
        // the file it leaves; so syncing it covers every operation appended so far.
        let (handle, appended) = {
            let writer = lock(&self.writer);
            match writer.wal.as_ref() {
                Some(wal) => (wal.sync_handle(), writer.next_op - 1),
                None => return Ok(()),
            }
        };
        handle.sync()?;
        *synced = appended;
        Ok(())
    }

    /// Sync the log now (the interval flusher calls this).
    pub(crate) fn sync_wal(&self) -> Result<(), StorageError> {
        let appended = lock(&self.writer).next_op - 1;
        self.sync_through(appended)
    }

    /// Whether the log has grown past the checkpoint threshold.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        let Some(options) = &self.options else {
            return false;
        };
        lock(&self.writer).wal.as_ref().is_some_and(|w| {
            !w.is_read_only() && w.bytes_since_rotate() >= options.checkpoint_bytes
        })
    }

    /// The requested points that exist, in request order (each id once).
    pub fn get(&self, request: &GetPoints) -> Vec<Record> {
        let state = read(&self.state);
        let mut seen = std::collections::HashSet::with_capacity(request.ids.len());
        request
            .ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| {
                let loc = state.index.get(id)?;
                let data = &state.segments[loc.segment as usize].data;
                let offset = loc.offset as usize;
                Some(Record {
                    id: *id,
                    payload: request
                        .with_payload
                        .then(|| data.payload(offset).unwrap_or_default()),
                    vector: request.with_vector.then(|| data.vector(offset).to_vec()),
                })
            })
            .collect()
    }

    /// Number of live points.
    pub fn count(&self) -> u64 {
        read(&self.state).index.len() as u64
    }

    /// Exact nearest neighbours of the request's vector, best first. `cancelled` is checked now
    /// and then; when it returns true the search stops and returns `None`.
    pub fn search(
        &self,
        request: &SearchRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<ScoredPoint>>, StorageError> {
        validate(&request.vector, self.dim, None)?;
        let mut query = request.vector.clone();
        if self.params.distance == Distance::Cosine {
            normalize(&mut query);
        }
        let offset = request.offset.unwrap_or(0);
        let wanted = request.limit.saturating_add(offset);
        if request.limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let order = Order::of(self.params.distance);
        let threshold = request.score_threshold;

        let state = read(&self.state);
        // A heap of the best `wanted` so far, worst on top, so each candidate costs one compare.
        let mut best: BinaryHeap<Candidate> =
            BinaryHeap::with_capacity(wanted.min(state.index.len()) + 1);
        let mut scanned = 0usize;
        for (position, segment) in state.segments.iter().enumerate() {
            if cancelled() {
                return Ok(None);
            }
            let data = &segment.data;
            for (i, vector) in data.vectors().chunks_exact(self.dim).enumerate() {
                scanned += 1;
                if scanned.is_multiple_of(4096) && cancelled() {
                    return Ok(None);
                }
                if segment.deleted.contains(i) {
                    continue;
                }
                let s = score(self.params.distance, &query, vector);
                if threshold.is_some_and(|t| order.better(t, s)) {
                    continue;
                }
                let candidate = Candidate {
                    goodness: goodness(order, s),
                    score: s,
                    id: data.id(i),
                    segment: position as u32,
                    offset: i as u32,
                };
                if best.len() < wanted {
                    best.push(candidate);
                } else if best.peek().is_some_and(|worst| candidate < *worst) {
                    best.pop();
                    best.push(candidate);
                }
            }
        }
        let with_payload = request.with_payload.unwrap_or(false);
        let with_vector = request.with_vector.unwrap_or(false);
        Ok(Some(
            best.into_sorted_vec()
                .into_iter()
                .skip(offset)
                .map(|c| {
                    let data = &state.segments[c.segment as usize].data;
                    let at = c.offset as usize;
                    ScoredPoint {
                        id: c.id,
                        version: data.version(at),
                        score: c.score,
                        payload: with_payload.then(|| data.payload(at).unwrap_or_default()),
                        vector: with_vector.then(|| data.vector(at).to_vec()),
                    }
                })
                .collect(),
        ))
    }

    /// Persist every acknowledged write into segments and truncate the log; returns the
    /// manifest now on disk. A no-op in memory, or when nothing changed.
    pub(crate) fn checkpoint(&self) -> Result<(), StorageError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.read_only.is_some() {
            return Ok(());
        }
        let mut committed = lock(&self.checkpoint);
        self.checkpoint_locked(dir, &mut committed)
    }

    fn checkpoint_locked(&self, dir: &Path, committed: &mut Manifest) -> Result<(), StorageError> {
        // 1. Under the writers' and the state lock, briefly: seal the appendable segment, take
        //    what must be written, and start a new log file for the writes that follow.
        let (manifest, to_write, deletions) = {
            let mut writer = lock(&self.writer);
            let mut state = write(&self.state);
            let applied = writer.next_op - 1;
            let appendable_empty = state.segments.last().is_none_or(|s| s.data.len() == 0);
            let deletions_changed = state.segments.iter().any(|s| s.deleted_dirty);
            if appendable_empty && !deletions_changed && applied == committed.applied_op {
                return Ok(());
            }
            if !appendable_empty {
                let id = state.next_segment_id;
                state.next_segment_id += 1;
                state.segments.push(Segment::appendable(id, self.dim));
            }
            let sealed = state.segments.len() - 1;
            let mut to_write = Vec::new();
            let mut deletions = Vec::new();
            let mut entries = Vec::with_capacity(sealed);
            for segment in &mut state.segments[..sealed] {
                if !segment.persisted {
                    to_write.push((segment.id, segment.data.clone()));
                }
                let mut gen = segment.deleted_gen;
                if segment.deleted_dirty {
                    gen += 1;
                    let mut set = segment.deleted.clone();
                    set.grow(segment.data.len());
                    deletions.push((segment.id, set, gen));
                    segment.deleted_dirty = false;
                }
                entries.push(SegmentEntry {
                    id: segment.id,
                    points: segment.data.len() as u64,
                    deleted_gen: gen,
                });
            }
            let manifest = Manifest {
                params: self.params.clone(),
                applied_op: applied,
                next_segment_id: state.next_segment_id,
                segments: entries,
            };
            drop(state);
            if let Some(wal) = writer.wal.as_mut() {
                if wal.bytes_since_rotate() > 0 {
                    wal.rotate(applied + 1)?;
                }
            }
            (manifest, to_write, deletions)
        };

        // 2. Without blocking readers or writers: write the files and commit the manifest.
        let written = self.write_checkpoint_files(dir, &manifest, &to_write, &deletions);
        let mut state = write(&self.state);
        for segment in &mut state.segments {
            if let Some((_, _, gen)) = deletions.iter().find(|(id, _, _)| *id == segment.id) {
                if written.is_ok() {
                    segment.deleted_gen = *gen;
                } else {
                    // Not committed: the next checkpoint must write this set again.
                    segment.deleted_dirty = true;
                }
            }
            if written.is_ok() && to_write.iter().any(|(id, _)| *id == segment.id) {
                segment.persisted = true;
            }
        }
        drop(state);
        written?;

        // 3. Committed: drop what the manifest no longer needs.
        for (id, _, gen) in &deletions {
            let seg_dir = dir.join(SEGMENTS_DIR).join(id.to_string());
            remove_stale_deletion_files(&seg_dir, *gen);
        }
        if let Some(wal) = lock(&self.writer).wal.as_mut() {
            wal.remove_up_to(manifest.applied_op)?;
        }
        *committed = manifest;
        Ok(())
    }

    fn write_checkpoint_files(
        &self,
        dir: &Path,
        manifest: &Manifest,
        to_write: &[(u64, std::sync::Arc<SegmentData>)],
        deletions: &[(u64, Bitset, u64)],
    ) -> Result<(), StorageError> {
        let segments_dir = dir.join(SEGMENTS_DIR);
        for (id, data) in to_write {
            let tmp = segments_dir.join(format!("{id}.tmp"));
            if tmp.exists() {
                fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
            }
            fs::create_dir_all(&tmp).map_err(io(&tmp))?;
            data.write_to(&tmp)?;
            sync_dir(&tmp)?;
            let target = segments_dir.join(id.to_string());
            fs::rename(&tmp, &target).map_err(io(&target))?;
        }
        sync_dir(&segments_dir)?;
        for (id, set, gen) in deletions {
            set.write_to(&segments_dir.join(id.to_string()), *gen)?;
        }
        manifest.write(dir)
    }

    /// Checkpoint, then hold further checkpoints off until the returned guard is dropped, so
    /// that the files the committed manifest names stay as they are while a snapshot archives
    /// them. Writes go on meanwhile (into the log and the new appendable segment); the
    /// snapshot holds exactly the operations up to the checkpoint.
    pub(crate) fn freeze(&self) -> Result<Frozen<'_>, StorageError> {
        let dir = self.dir.as_deref().ok_or(StorageError::NotPersistent {
            operation: "a snapshot",
        })?;
        if let Some(reason) = &self.read_only {
            return Err(StorageError::ReadOnly {
                reason: reason.clone(),
            });
        }
        let mut committed = lock(&self.checkpoint);
        self.checkpoint_locked(dir, &mut committed)?;
        Ok(Frozen {
            manifest_file: committed.file_bytes()?,
            files: snapshot_files(dir, &committed),
            applied_op: committed.applied_op,
            _guard: committed,
        })
    }

    /// Block checkpoints and snapshots until the guard is dropped (before the directory is
    /// removed or replaced).
    pub(crate) fn quiesce(&self) -> MutexGuard<'_, Manifest> {
        lock(&self.checkpoint)
    }
}

/// A collection held still for a snapshot; see [`Collection::freeze`].
pub(crate) struct Frozen<'a> {
    /// The manifest file's bytes.
    pub(crate) manifest_file: Vec<u8>,
    /// The segment files, as (path relative to the collection directory, path on disk).
    pub(crate) files: Vec<(String, PathBuf)>,
    /// The last operation the snapshot holds.
    pub(crate) applied_op: u64,
    _guard: MutexGuard<'a, Manifest>,
}

/// The files a committed manifest names, as (path inside a snapshot, path on disk).
fn snapshot_files(dir: &Path, manifest: &Manifest) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for entry in &manifest.segments {
        let mut names: Vec<String> = SEGMENT_FILES.iter().map(|s| (*s).to_owned()).collect();
        if entry.deleted_gen > 0 {
            names.push(deleted_file(entry.deleted_gen));
        }
        for name in names {
            let relative = format!("{SEGMENTS_DIR}/{}/{name}", entry.id);
            files.push((
                relative,
                dir.join(SEGMENTS_DIR).join(entry.id.to_string()).join(name),
            ));
        }
    }
    files
}

/// Lay out the files of an extracted collection snapshot in `dir` as a collection directory.
pub(crate) fn finish_restored_dir(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir.join(WAL_DIR)).map_err(io(dir))?;
    fs::create_dir_all(dir.join(SEGMENTS_DIR)).map_err(io(dir))?;
    sync_dir(dir)
}

fn new_state(segments: Vec<Segment>, next_segment_id: u64, dim: usize) -> State {
    let mut state = State {
        segments,
        index: HashMap::new(),
        next_segment_id: next_segment_id + 1,
    };
    // The newest write of a point wins; older copies (possible only if a crash came between
    // writing a segment and its deletion set) are marked deleted.
    let total: usize = state.segments.iter().map(|s| s.live).sum();
    state.index.reserve(total);
    for position in 0..state.segments.len() {
        for offset in 0..state.segments[position].data.len() {
            if state.segments[position].deleted.contains(offset) {
                continue;
            }
            let id = state.segments[position].data.id(offset);
            let here = Loc {
                segment: position as u32,
                offset: offset as u32,
            };
            let version = state.segments[position].data.version(offset);
            match state.index.insert(id, here) {
                None => {}
                Some(before) => {
                    let older = state.segments[before.segment as usize]
                        .data
                        .version(before.offset as usize);
                    let loser = if older > version {
                        state.index.insert(id, before);
                        here
                    } else {
                        before
                    };
                    state.segments[loser.segment as usize].delete(loser.offset as usize);
                }
            }
        }
    }
    state
        .segments
        .push(Segment::appendable(next_segment_id, dim));
    state
}

/// Apply a logged operation to the state (live writes and replay alike).
fn apply(state: &mut State, op: u64, operation: Operation) {
    match operation {
        Operation::Upsert(points) => {
            let appendable = state.segments.len() - 1;
            for point in points {
                match state.index.get(&point.id).copied() {
                    Some(loc) if loc.segment as usize == appendable => {
                        state.segments[appendable].data_mut().overwrite(
                            loc.offset as usize,
                            &point.vector,
                            point.payload,
                            op,
                        );
                    }
                    existing => {
                        if let Some(loc) = existing {
                            if state.segments[loc.segment as usize]
                                .data
                                .version(loc.offset as usize)
                                > op
                            {
                                continue;
                            }
                            state.segments[loc.segment as usize].delete(loc.offset as usize);
                        }
                        let segment = &mut state.segments[appendable];
                        let offset =
                            segment
                                .data_mut()
                                .push(point.id, &point.vector, point.payload, op);
                        segment.live += 1;
                        state.index.insert(
                            point.id,
                            Loc {
                                segment: appendable as u32,
                                offset: offset as u32,
                            },
                        );
                    }
                }
            }
        }
        Operation::Delete(ids) => {
            for id in ids {
                if let Some(loc) = state.index.remove(&id) {
                    state.segments[loc.segment as usize].delete(loc.offset as usize);
                }
            }
        }
    }
}

/// A replayed operation passed its checksum; still refuse one that would break invariants.
fn check_replayed(operation: Operation, dim: usize) -> Result<Operation, String> {
    if let Operation::Upsert(points) = &operation {
        for point in points {
            if point.vector.len() != dim || point.vector.iter().any(|x| !x.is_finite()) {
                return Err(format!(
                    "point {} has a vector that does not fit the collection",
                    point.id
                ));
            }
        }
    }
    Ok(operation)
}

/// Remove segment directories and deletion files the manifest does not name: leftovers of a
/// checkpoint that crashed before committing.
fn remove_leftovers(dir: &Path, manifest: &Manifest) -> Result<(), StorageError> {
    let segments_dir = dir.join(SEGMENTS_DIR);
    let entries = fs::read_dir(&segments_dir).map_err(io(&segments_dir))?;
    for entry in entries {
        let entry = entry.map_err(io(&segments_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let named = manifest.segments.iter().find(|s| s.id.to_string() == name);
        match named {
            Some(segment) => remove_stale_deletion_files(&entry.path(), segment.deleted_gen),
            None => {
                log::info!(
                    "removing {} left by an interrupted checkpoint",
                    entry.path().display()
                );
                let path = entry.path();
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.map_err(io(&path))?;
            }
        }
    }
    Ok(())
}

/// Remove deletion files of a segment other than generation `keep`. Best effort: a leftover
/// only costs space and is removed at the next open.
fn remove_stale_deletion_files(seg_dir: &Path, keep: u64) {
    let Ok(entries) = fs::read_dir(seg_dir) else {
        return;
    };
    let keep = deleted_file(keep);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name != keep
            && ((name.starts_with("deleted-") && name.ends_with(".bin")) || name.ends_with(".tmp"));
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Higher is better, whatever the distance.
fn goodness(order: Order, score: f32) -> f32 {
    match order {
        Order::LargerBetter => score,
        Order::SmallerBetter => -score,
    }
}

/// A search hit ordered so that "less" means "better": the heap's top is the worst hit.
/// Ties go to the smaller id so results are deterministic.
struct Candidate {
    goodness: f32,
    score: f32,
    id: PointId,
    segment: u32,
    offset: u32,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .goodness
            .total_cmp(&self.goodness)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(distance: Distance) -> Collection {
        Collection::new(VectorParams::new(2, distance)).unwrap()
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn search_matches_brute_force_for_every_distance() {
        let pts: Vec<(u64, [f32; 2])> = (0..50u64)
            .map(|i| (i, [(i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()]))
            .collect();
        let q = [0.3f32, -0.7];
        for distance in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let c = collection(distance);
            c.upsert(
                pts.iter()
                    .map(|(id, v)| PointStruct::new(*id, v.to_vec()))
                    .collect(),
            )
            .unwrap();
            let got = c
                .search(&SearchRequest::new(q.to_vec(), 5).offset(2), &never)
                .unwrap()
                .unwrap();
            let mut qn = q.to_vec();
            if distance == Distance::Cosine {
                normalize(&mut qn);
            }
            let mut all: Vec<(f32, u64)> = pts
                .iter()
                .map(|(id, v)| {
                    let mut v = v.to_vec();
                    if distance == Distance::Cosine {
                        normalize(&mut v);
                    }
                    (goodness(Order::of(distance), score(distance, &qn, &v)), *id)
                })
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let expected: Vec<PointId> =
                all[2..7].iter().map(|(_, id)| PointId::Num(*id)).collect();
            let got_ids: Vec<PointId> = got.iter().map(|s| s.id).collect();
            assert_eq!(got_ids, expected, "{distance:?}");
        }
    }

    #[test]
    fn rejected_batch_changes_nothing() {
        let c = collection(Distance::Dot);
        c.upsert(vec![PointStruct::new(1u64, vec![1.0, 1.0])])
            .unwrap();
        let err = c
            .upsert(vec![
                PointStruct::new(1u64, vec![9.0, 9.0]),
                PointStruct::new(2u64, vec![f32::NAN, 0.0]),
            ])
            .unwrap_err();
        assert!(matches!(
            err,
            StorageError::NonFiniteVector { index: 0, .. }
        ));
        let got = c.get(&GetPoints::new([1u64, 2]).with_vector(true));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].vector.as_deref(), Some(&[1.0, 1.0][..]));
    }

    #[test]
    fn score_threshold_and_cancellation() {
        let c = collection(Distance::Dot);
        c.upsert(
            (0..10_000u64)
                .map(|i| PointStruct::new(i, vec![i as f32, 0.0]))
                .collect(),
        )
        .unwrap();
        let hits = c
            .search(
                &SearchRequest::new(vec![1.0, 0.0], 100).score_threshold(9_995.0),
                &never,
            )
            .unwrap()
            .unwrap();
        assert_eq!(hits.len(), 5);
        assert!(c
            .search(&SearchRequest::new(vec![1.0, 0.0], 3), &|| true)
            .unwrap()
            .is_none());
    }
}
