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

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use futures::channel::oneshot;

use super::checked::sync_dir;
use super::codec::Operation;
use super::codec::Row;
use super::hnsw::{HnswBuilder, HnswGraph, HnswParams, HNSW_FILE};
use super::manifest::{Manifest, SegmentEntry, MANIFEST_FILE};
use super::plan::{self, Plan, SegmentShape, Thresholds};
use super::segment::{
    deleted_file, match_value, Bitset, GraphFor, Segment, SegmentData, SubGraph, SubGraphs,
    SEGMENT_FILES,
};
use super::select::FieldIndexes;
use super::space::Spaces;
use super::wal::Wal;
use super::{read, write};
use crate::config::{Durability, OnCorruption};
use crate::error::StorageError;
use crate::models::{
    ClusterParams, CollectionConfig, CollectionInfo, CollectionParams, CollectionStatus,
    CreateCollection, Distance, HnswConfig, OptimizationProgress, OptimizerStatus,
    OptimizersConfig, PayloadSchemaType, PointId, PointStruct, UpdateResult, UpdateStatus,
    VectorsConfig, WalConfig,
};

mod payload;
mod query;

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
    /// Payload keys with an index, and their kinds (as committed in the manifest).
    schema: BTreeMap<String, crate::models::PayloadSchemaType>,
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

/// The optimizer's bookkeeping for one collection.
#[derive(Debug, Default)]
struct OptimizerState {
    /// Whether an optimizer task runs for this collection.
    running: bool,
    /// Callers waiting for the optimizer to go idle.
    waiters: Vec<oneshot::Sender<()>>,
    /// Progress of the running build: points inserted so far, and in all.
    progress: Option<(Arc<AtomicUsize>, usize)>,
    /// Why the last optimization failed.
    error: Option<String>,
    /// When it failed.
    failed_at: Option<std::time::Instant>,
}

/// A collection of points in one or several vector spaces.
#[derive(Debug)]
pub struct Collection {
    config: VectorsConfig,
    /// The spaces of `config` and where each lives in a stored row.
    spaces: Spaces,
    hnsw: HnswConfig,
    optimizers: OptimizersConfig,
    /// Qdrant settings kept only to report them back in [`Collection::info`].
    cluster: ClusterParams,
    wal_config: Option<WalConfig>,
    /// Floats per stored row (the vector size, without named vectors).
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
    /// Set when the collection is deleted or replaced: running optimizations stop.
    closed: AtomicBool,
    optimizer: Mutex<OptimizerState>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // See `super::read`: every critical section leaves its data consistent between steps.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Check the index and optimizer settings of a new collection.
fn check_config(create: &CreateCollection) -> Result<Spaces, StorageError> {
    create.check_supported()?;
    let spaces = Spaces::new(&create.vectors)?;
    let bad = |why: String| Err(StorageError::BadRequest(why));
    if let Some(hnsw) = &create.hnsw_config {
        if !(2..=256).contains(&hnsw.m) {
            return bad(format!(
                "hnsw_config.m is {}; it must be between 2 and 256",
                hnsw.m
            ));
        }
        if !(1..=10_000).contains(&hnsw.ef_construct) {
            return bad(format!(
                "hnsw_config.ef_construct is {}; it must be between 1 and 10000",
                hnsw.ef_construct
            ));
        }
    }
    if let Some(opt) = &create.optimizers_config {
        if !(0.0..=1.0).contains(&opt.deleted_threshold) {
            return bad(format!(
                "optimizers_config.deleted_threshold is {}; it must be between 0 and 1",
                opt.deleted_threshold
            ));
        }
        if opt.max_segment_size == Some(0) {
            return bad("optimizers_config.max_segment_size must be above 0".into());
        }
    }
    Ok(spaces)
}

fn empty_manifest(create: CreateCollection) -> Manifest {
    Manifest {
        cluster: create.cluster_params(),
        wal_config: create.wal_config,
        params: create.vectors,
        hnsw_config: create.hnsw_config.unwrap_or_default(),
        optimizers_config: create.optimizers_config.unwrap_or_default(),
        applied_op: 0,
        next_segment_id: 1,
        segments: Vec::new(),
        payload_schema: BTreeMap::new(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, &e)
}

impl Collection {
    /// An empty collection with these vector spaces that lives in memory only; refuses a size
    /// of 0 or above 65,536.
    pub fn new(params: impl Into<VectorsConfig>) -> Result<Self, StorageError> {
        Collection::with_config(CreateCollection::new(params))
    }

    /// An empty in-memory collection with index and optimizer settings; refuses settings out
    /// of range.
    pub fn with_config(create: CreateCollection) -> Result<Self, StorageError> {
        let spaces = check_config(&create)?;
        let dim = spaces.width();
        Ok(Collection::assemble(
            empty_manifest(create),
            spaces,
            None,
            None,
            new_state(Vec::new(), 1, dim, BTreeMap::new()),
            None,
            None,
        ))
    }

    /// Lay out an empty collection with `params` in the fresh directory `dir`.
    pub(crate) fn init_dir(dir: &Path, create: CreateCollection) -> Result<(), StorageError> {
        check_config(&create)?;
        fs::create_dir_all(dir.join(SEGMENTS_DIR)).map_err(io(dir))?;
        fs::create_dir_all(dir.join(WAL_DIR)).map_err(io(dir))?;
        empty_manifest(create).write(dir)?;
        sync_dir(dir)
    }

    /// Open the collection in `dir`: load its segments, replay its log, remove leftovers of
    /// an interrupted checkpoint.
    pub(crate) fn open(
        dir: &Path,
        options: DiskOptions,
    ) -> Result<(Self, OpenReport), StorageError> {
        let manifest = Manifest::read(dir)?;
        let spaces = Spaces::new(&manifest.params)
            .map_err(|e| StorageError::corrupted(&dir.join(MANIFEST_FILE), 0, e.to_string()))?;
        let dim = spaces.width();
        let on_disk = spaces.on_disk();
        let mut segments = Vec::with_capacity(manifest.segments.len() + 1);
        for entry in &manifest.segments {
            let seg_dir = dir.join(SEGMENTS_DIR).join(entry.id.to_string());
            let data = SegmentData::load(&seg_dir, dim, on_disk)?;
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
            // Loaded, never rebuilt: an index costs minutes to build and milliseconds to read.
            // It is derived from the vectors, so a damaged or missing index file does not fail
            // the open: the segment is searched exactly until the optimizer has rebuilt it.
            let index = match spaces.single().filter(|_| entry.indexed) {
                Some(space) => {
                    let path = seg_dir.join(HNSW_FILE);
                    match HnswGraph::load(&path, data.len(), space.distance()) {
                        Ok(graph) => Some(Arc::new(graph)),
                        Err(error) => {
                            log::warn!("the index of segment {} is rebuilt: {error}", entry.id);
                            None
                        }
                    }
                }
                None => None,
            };
            let sub_graphs = load_sub_graphs(&seg_dir, entry, data.len(), &spaces);
            segments.push(Segment {
                id: entry.id,
                data: Arc::new(data),
                deleted,
                live,
                persisted: true,
                deleted_gen: entry.deleted_gen,
                deleted_dirty: false,
                index,
                fields: Arc::default(),
                sub_graphs: Arc::new(sub_graphs),
            });
        }
        let mut state = new_state(
            segments,
            manifest.next_segment_id,
            dim,
            manifest.payload_schema.clone(),
        );
        let mut last_op = manifest.applied_op;
        let wal_dir = dir.join(WAL_DIR);
        let (wal, found) = Wal::open(
            &wal_dir,
            manifest.applied_op,
            options.on_corruption,
            &mut |op, body| {
                let operation = Operation::decode(body).and_then(|o| check_replayed(o, &spaces));
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
            spaces,
            Some(dir.to_owned()),
            Some(options),
            state,
            Some((wal, last_op)),
            read_only,
        );
        collection.refresh_field_indexes();
        Ok((collection, report))
    }

    fn assemble(
        manifest: Manifest,
        spaces: Spaces,
        dir: Option<PathBuf>,
        options: Option<DiskOptions>,
        state: State,
        wal: Option<(Wal, u64)>,
        read_only: Option<String>,
    ) -> Self {
        let last_op = wal.as_ref().map_or(0, |(_, op)| *op);
        Collection {
            config: manifest.params.clone(),
            dim: spaces.width(),
            spaces,
            hnsw: manifest.hnsw_config,
            optimizers: manifest.optimizers_config,
            cluster: manifest.cluster,
            wal_config: manifest.wal_config,
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
            closed: AtomicBool::new(false),
            optimizer: Mutex::new(OptimizerState::default()),
        }
    }

    /// The collection's vector spaces.
    pub fn config(&self) -> &VectorsConfig {
        &self.config
    }

    /// Why the collection refuses writes, if it does.
    pub fn read_only_reason(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    /// Status, point counts, optimizer progress and configuration.
    pub fn info(&self) -> CollectionInfo {
        let (running, progress, error) = {
            let optimizer = lock(&self.optimizer);
            let progress = optimizer
                .progress
                .as_ref()
                .map(|(done, total)| OptimizationProgress {
                    done: done.load(AtomicOrdering::Relaxed) as u64,
                    total: *total as u64,
                });
            (optimizer.running, progress, optimizer.error.clone())
        };
        let pending = running || self.plan().is_some();
        let state = read(&self.state);
        let indexed = if self.spaces.is_named() {
            // Vectors in the graphs of named spaces, live ones only, summed over the spaces.
            state
                .segments
                .iter()
                .flat_map(|s| {
                    s.sub_graphs.graphs.iter().map(move |g| {
                        g.graph.offsets().map_or(0, |offsets| {
                            offsets
                                .iter()
                                .filter(|&&o| !s.deleted.contains(o as usize))
                                .count() as u64
                        })
                    })
                })
                .sum()
        } else {
            state
                .segments
                .iter()
                .filter(|s| s.index.is_some())
                .map(|s| s.live as u64)
                .sum()
        };
        CollectionInfo {
            status: if self.read_only.is_some() || error.is_some() {
                CollectionStatus::Red
            } else if pending {
                CollectionStatus::Yellow
            } else {
                CollectionStatus::Green
            },
            optimizer_status: match error {
                Some(error) => OptimizerStatus::Error(error),
                None => OptimizerStatus::Ok,
            },
            points_count: state.index.len() as u64,
            indexed_vectors_count: indexed,
            segments_count: state.segments.len() as u64,
            optimization: progress,
            payload_schema: self.payload_schema_info(),
            config: CollectionConfig {
                params: CollectionParams {
                    vectors: self.config.clone(),
                    cluster: self.cluster,
                },
                hnsw_config: self.hnsw,
                optimizer_config: self.optimizers,
                wal_config: self.wal_config,
            },
        }
    }

    /// Insert or replace `batch`: all of it, or (on any invalid point) none of it.
    pub fn upsert(&self, batch: Vec<PointStruct>) -> Result<UpdateResult, StorageError> {
        let mut rows = Vec::with_capacity(batch.len());
        for point in batch {
            rows.push(Row {
                vector: self.spaces.take_row(&point.id, point.vector)?,
                id: point.id,
                payload: point.payload,
            });
        }
        self.write(Operation::Upsert(rows))
    }

    /// Like [`write`](Self::write), but the operation is made from the state under the
    /// writers' lock, so that no other write comes between what it read and what it logs
    /// (deletes by filter, payload writes).
    fn write_with(
        &self,
        make: impl FnOnce(&State) -> Result<Operation, StorageError>,
    ) -> Result<UpdateResult, StorageError> {
        self.check_writable()?;
        let op = {
            let mut writer = lock(&self.writer);
            let operation = make(&read(&self.state))?;
            let body = self.encode(&operation)?;
            self.log_and_apply(&mut writer, &body, operation)?
        };
        self.after_write(op)
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        match &self.read_only {
            Some(reason) => Err(StorageError::ReadOnly {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The log record of `operation` (nothing in memory).
    fn encode(&self, operation: &Operation) -> Result<Vec<u8>, StorageError> {
        let mut body = Vec::new();
        if self.dir.is_some() {
            operation
                .encode(&mut body)
                .map_err(StorageError::BadRequest)?;
        }
        Ok(body)
    }

    /// Append `body` under the next operation number and apply `operation`; the caller holds
    /// the writers' lock.
    fn log_and_apply(
        &self,
        writer: &mut Writer,
        body: &[u8],
        operation: Operation,
    ) -> Result<u64, StorageError> {
        let op = writer.next_op;
        if let Some(wal) = writer.wal.as_mut() {
            wal.append(op, body)?;
        }
        apply(&mut write(&self.state), op, operation);
        writer.next_op = op + 1;
        Ok(op)
    }

    /// Sync through `op` if the durability asks for it, and report the write.
    fn after_write(&self, op: u64) -> Result<UpdateResult, StorageError> {
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

    /// Log `operation`, apply it, and (under `Durability::Fsync`) sync before returning.
    fn write(&self, operation: Operation) -> Result<UpdateResult, StorageError> {
        self.check_writable()?;
        // Encoding is the expensive part of logging; do it before taking the writers' lock.
        let body = self.encode(&operation)?;
        let op = self.log_and_apply(&mut lock(&self.writer), &body, operation)?;
        self.after_write(op)
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
                    indexed: segment.index.is_some(),
                    sub_keys: segment.sub_graphs.keys.clone(),
                    sub_graphs: segment.sub_graphs.entries(),
                });
            }
            let manifest = Manifest {
                params: self.config.clone(),
                hnsw_config: self.hnsw,
                optimizers_config: self.optimizers,
                cluster: self.cluster,
                wal_config: self.wal_config,
                applied_op: applied,
                next_segment_id: state.next_segment_id,
                segments: entries,
                payload_schema: committed.payload_schema.clone(),
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
        if self.on_disk() {
            for (id, data) in &to_write {
                self.map_vectors(dir, *id, data)?;
            }
        }
        self.refresh_field_indexes();
        Ok(())
    }

    /// Whether sealed segments keep their vectors memory-mapped instead of in RAM.
    fn on_disk(&self) -> bool {
        self.dir.is_some() && self.spaces.on_disk()
    }

    /// Swap segment `id`'s in-RAM vectors (`data`, just written to its directory) for a
    /// mapping of its file, releasing the RAM. Searches holding the old data finish on it.
    fn map_vectors(
        &self,
        dir: &Path,
        id: u64,
        data: &Arc<SegmentData>,
    ) -> Result<(), StorageError> {
        let mapped = data.with_mapped_vectors(&dir.join(SEGMENTS_DIR).join(id.to_string()))?;
        let mut state = write(&self.state);
        if let Some(segment) = state
            .segments
            .iter_mut()
            .find(|s| s.id == id && Arc::ptr_eq(&s.data, data))
        {
            segment.data = Arc::new(mapped);
        }
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

    /// Block checkpoints, snapshots and optimizer commits until the guard is dropped, and
    /// stop running optimizations for good (before the directory is removed or replaced).
    pub(crate) fn quiesce(&self) -> MutexGuard<'_, Manifest> {
        self.closed.store(true, AtomicOrdering::Release);
        lock(&self.checkpoint)
    }

    /// Whether the collection was deleted or replaced.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(AtomicOrdering::Acquire)
    }
}

/// How long the optimizer leaves a collection alone after an optimization failed, so that a
/// persistent failure (a full disk) does not rebuild an index at every write.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(5);

/// An optimization being carried out: the points an HNSW graph is built over, and what to do
/// with the result. Built by [`Collection::prepare`]; the graph is filled by any number of
/// threads through [`Job::insert_next`]; [`Collection::commit`] swaps the result in.
pub(crate) struct Job {
    kind: JobKind,
    /// The points: the indexed segment's own data, or the new segment of a rebuild.
    data: Arc<SegmentData>,
    /// Offsets to insert into the graph.
    nodes: Vec<u32>,
    builder: Option<HnswBuilder>,
    /// Per-value sub-graphs to build after the main graph.
    subs: Vec<SubBuild>,
    /// The payload keys the sub-graphs are for.
    sub_keys: Vec<String>,
    next: AtomicUsize,
    done: Arc<AtomicUsize>,
}

/// A sub-graph being built: over the live points of a named space, or whose `key` holds
/// `value`.
struct SubBuild {
    target: GraphFor,
    builder: HnswBuilder,
    nodes: usize,
}

enum JobKind {
    /// Give the sealed segment `id` an index.
    Index { id: u64 },
    /// Replace `sources` by the new segment `id`; `origin[o]` is where new offset `o` came
    /// from, as (index into `sources`, offset there).
    Rebuild {
        id: u64,
        sources: Vec<u64>,
        origin: Vec<(u32, u32)>,
    },
}

impl Job {
    /// Insert the next point into the graph; `false` once every point is in.
    pub(crate) fn insert_next(&self) -> bool {
        let mut k = self.next.fetch_add(1, AtomicOrdering::Relaxed);
        let main = self.main_nodes();
        if k < main {
            if let Some(builder) = &self.builder {
                builder.insert(self.data.vectors(), self.nodes[k]);
            }
        } else {
            k -= main;
            let mut inserted = false;
            for sub in &self.subs {
                if k < sub.nodes {
                    sub.builder.insert_node(self.data.vectors(), k as u32);
                    inserted = true;
                    break;
                }
                k -= sub.nodes;
            }
            if !inserted {
                return false;
            }
        }
        self.done.fetch_add(1, AtomicOrdering::Release);
        true
    }

    fn main_nodes(&self) -> usize {
        if self.builder.is_some() {
            self.nodes.len()
        } else {
            0
        }
    }

    /// Whether every point is in its graphs (or there is no graph to build).
    pub(crate) fn is_complete(&self) -> bool {
        self.done.load(AtomicOrdering::Acquire) == self.total()
    }

    /// Insertions the graphs take in all.
    pub(crate) fn total(&self) -> usize {
        self.main_nodes() + self.subs.iter().map(|s| s.nodes).sum::<usize>()
    }

    /// The counter of points inserted so far.
    pub(crate) fn progress(&self) -> Arc<AtomicUsize> {
        self.done.clone()
    }

    fn finish(self) -> (JobKind, Arc<SegmentData>, Option<HnswGraph>, SubGraphs) {
        let graph = self.builder.map(HnswBuilder::finish);
        let graphs = self
            .subs
            .into_iter()
            .enumerate()
            .map(|(k, sub)| SubGraph {
                target: sub.target,
                file: format!("hnsw-sub-{k}.bin"),
                graph: Arc::new(sub.builder.finish()),
            })
            .collect();
        let subs = SubGraphs {
            keys: self.sub_keys,
            graphs,
        };
        (self.kind, self.data, graph, subs)
    }
}

/// The optimizer's side of a collection: planning, carrying out and committing optimizations,
/// and the bookkeeping that lets callers wait for it. The async driver is `crate::optimizer`.
impl Collection {
    /// The distance of the main graph: the unnamed space's (named collections have none).
    fn main_distance(&self) -> Distance {
        self.spaces
            .single()
            .map_or(Distance::Dot, |space| space.distance())
    }

    /// What the sub-graphs of a segment are built for: the payload keys of per-value
    /// sub-graphs, or (named collections) one entry per space.
    fn graph_keys(&self, schema: &BTreeMap<String, PayloadSchemaType>) -> Vec<String> {
        if self.spaces.is_named() {
            self.spaces
                .all()
                .iter()
                .map(|s| format!("vector:{}", s.name))
                .collect()
        } else {
            sub_keys(schema)
        }
    }

    /// Whether a segment has every graph it should have: the main graph and the per-value
    /// sub-graphs of the schema, or (named collections) a graph per space.
    fn graphs_complete(
        &self,
        segment: &Segment,
        schema: &BTreeMap<String, PayloadSchemaType>,
    ) -> bool {
        let main = self.spaces.is_named() || segment.index.is_some();
        main && segment.sub_graphs.keys == self.graph_keys(schema)
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds::new(&self.optimizers, self.dim)
    }

    fn hnsw_params(&self) -> HnswParams {
        HnswParams {
            m: self.hnsw.m,
            ef_construct: self.hnsw.ef_construct,
        }
    }

    /// The next optimization worth doing, if any.
    pub(crate) fn plan(&self) -> Option<Plan> {
        if self.read_only.is_some() || self.is_closed() {
            return None;
        }
        let state = read(&self.state);
        let (appendable, sealed) = state.segments.split_last()?;
        let shapes: Vec<SegmentShape> = sealed
            .iter()
            .filter(|s| s.persisted || self.dir.is_none())
            .map(|s| SegmentShape {
                id: s.id,
                len: s.data.len(),
                live: s.live,
                indexed: self.graphs_complete(s, &state.schema),
            })
            .collect();
        plan::next(appendable.data.len(), &shapes, &self.thresholds())
    }

    /// Seal the write segment: a checkpoint on disk, a new write segment in memory.
    pub(crate) fn seal(&self) -> Result<(), StorageError> {
        if self.dir.is_some() {
            return self.checkpoint();
        }
        let _writer = lock(&self.writer);
        let mut state = write(&self.state);
        if state.segments.last().is_some_and(|s| s.data.len() > 0) {
            let id = state.next_segment_id;
            state.next_segment_id += 1;
            state.segments.push(Segment::appendable(id, self.dim));
        }
        drop(state);
        self.refresh_field_indexes();
        Ok(())
    }

    /// Get `plan` (an index or a rebuild) ready to build: gather or copy its points. `None`
    /// when its segments are gone meanwhile.
    pub(crate) fn prepare(&self, plan: &Plan) -> Option<Job> {
        let seed = |id: u64| id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match plan {
            Plan::Seal => None,
            Plan::Index(id) => {
                let (data, deleted, has_graph, fields, schema) = {
                    let state = read(&self.state);
                    let segment = state.segments.iter().find(|s| s.id == *id)?;
                    (
                        segment.data.clone(),
                        segment.deleted.clone(),
                        segment.index.is_some(),
                        segment.fields.clone(),
                        state.schema.clone(),
                    )
                };
                let nodes = (0..data.len() as u32)
                    .filter(|&o| !deleted.contains(o as usize))
                    .collect();
                // A segment that has its graph and lacks only sub-graphs (the payload schema
                // changed) keeps its graph. Named collections have no main graph, only one
                // per space.
                let builder = (!has_graph && !self.spaces.is_named()).then(|| {
                    HnswBuilder::new(
                        self.dim,
                        data.len(),
                        self.main_distance(),
                        self.hnsw_params(),
                        seed(*id),
                    )
                });
                let fields = if fields.fits(&schema) {
                    fields
                } else {
                    Arc::new(FieldIndexes::build(&data, &schema))
                };
                let subs = self.sub_builds(&data, &fields, &schema, &deleted, *id);
                let mut job = self.job(JobKind::Index { id: *id }, data, nodes, builder);
                job.subs = subs;
                job.sub_keys = self.graph_keys(&schema);
                Some(job)
            }
            Plan::Rebuild(ids) => {
                let (id, sources) = {
                    let mut state = write(&self.state);
                    let mut sources = Vec::with_capacity(ids.len());
                    for id in ids {
                        let segment = state.segments.iter().find(|s| s.id == *id)?;
                        sources.push((segment.data.clone(), segment.deleted.clone()));
                    }
                    let id = state.next_segment_id;
                    state.next_segment_id += 1;
                    (id, sources)
                };
                // Copying is the one O(points) step outside the graph build; no lock is held.
                let live: usize = sources
                    .iter()
                    .map(|(d, del)| (0..d.len()).filter(|&o| !del.contains(o)).count())
                    .sum();
                let mut data = SegmentData::with_capacity(self.dim, live);
                let mut origin = Vec::with_capacity(live);
                for (k, (source, deleted)) in sources.iter().enumerate() {
                    for offset in (0..source.len()).filter(|&o| !deleted.contains(o)) {
                        data.push_from(source, offset);
                        origin.push((k as u32, offset as u32));
                    }
                }
                let indexed = self.thresholds().indexing.is_some_and(|n| live >= n);
                let builder = (indexed && !self.spaces.is_named()).then(|| {
                    HnswBuilder::new(
                        self.dim,
                        live,
                        self.main_distance(),
                        self.hnsw_params(),
                        seed(id),
                    )
                });
                let nodes = (0..live as u32).collect();
                let kind = JobKind::Rebuild {
                    id,
                    sources: ids.clone(),
                    origin,
                };
                let (subs, keys) = if indexed {
                    let schema = read(&self.state).schema.clone();
                    let fields = FieldIndexes::build(&data, &schema);
                    let none = Bitset::default();
                    (
                        self.sub_builds(&data, &fields, &schema, &none, id),
                        self.graph_keys(&schema),
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
                let mut job = self.job(kind, Arc::new(data), nodes, builder);
                job.subs = subs;
                job.sub_keys = keys;
                Some(job)
            }
        }
    }

    /// Builders of the sub-graphs of a segment: one per value of a keyword, integer or bool
    /// field that more points hold than a filtered search would score exactly.
    fn sub_builds(
        &self,
        data: &SegmentData,
        fields: &FieldIndexes,
        schema: &BTreeMap<String, PayloadSchemaType>,
        deleted: &Bitset,
        id: u64,
    ) -> Vec<SubBuild> {
        let limit = self.exact_limit();
        let mut subs = Vec::new();
        if self.spaces.is_named() {
            for (k, space) in self.spaces.all().iter().enumerate() {
                let live: Vec<u32> = (0..data.len())
                    .filter(|&o| !deleted.contains(o) && space.present(data.vector(o)))
                    .map(|o| o as u32)
                    .collect();
                let nodes = live.len();
                let builder = HnswBuilder::subset(
                    space.dim,
                    live,
                    space.distance(),
                    self.hnsw_params(),
                    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64).wrapping_add(1 << 32),
                )
                .with_layout(self.dim, space.column);
                subs.push(SubBuild {
                    target: GraphFor::Space(space.name.clone()),
                    builder,
                    nodes,
                });
            }
            return subs;
        }
        for key in sub_keys(schema) {
            let Some(index) = fields.get(&key) else {
                continue;
            };
            for (condition, offsets) in index.values() {
                let Some(crate::models::Match::Value(value)) = condition.r#match else {
                    continue;
                };
                if offsets.len() <= limit {
                    continue;
                }
                let live: Vec<u32> = offsets
                    .iter()
                    .copied()
                    .filter(|&o| !deleted.contains(o as usize))
                    .collect();
                let nodes = live.len();
                let builder = HnswBuilder::subset(
                    self.dim,
                    live,
                    self.main_distance(),
                    self.hnsw_params(),
                    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ subs.len() as u64,
                );
                subs.push(SubBuild {
                    target: GraphFor::Value {
                        key: key.clone(),
                        value,
                    },
                    builder,
                    nodes,
                });
            }
        }
        subs
    }

    fn job(
        &self,
        kind: JobKind,
        data: Arc<SegmentData>,
        nodes: Vec<u32>,
        builder: Option<HnswBuilder>,
    ) -> Job {
        Job {
            kind,
            data,
            nodes,
            builder,
            subs: Vec::new(),
            sub_keys: Vec::new(),
            next: AtomicUsize::new(0),
            done: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Swap a completed job's result in: persist it (a new segment directory or an index
    /// file, then the manifest), then replace the sources in memory. Writes that reached the
    /// sources while the job ran are carried over: a copied point that was deleted or
    /// superseded meanwhile is marked deleted in the new segment.
    pub(crate) fn commit(&self, job: Job) -> Result<(), StorageError> {
        debug_assert!(job.is_complete());
        let (kind, data, graph, subs) = job.finish();
        let committed = match kind {
            JobKind::Index { id } => self.commit_index(id, graph, subs),
            JobKind::Rebuild {
                id,
                sources,
                origin,
            } => self.commit_rebuild(id, &sources, &origin, data, graph, subs),
        };
        // A rebuilt segment needs its payload indexes.
        self.refresh_field_indexes();
        committed
    }

    fn commit_index(
        &self,
        id: u64,
        graph: Option<HnswGraph>,
        subs: SubGraphs,
    ) -> Result<(), StorageError> {
        let graph = graph.map(Arc::new);
        let mut committed = lock(&self.checkpoint);
        if self.is_closed() {
            return Ok(());
        }
        let mut stale = Vec::new();
        if let Some(dir) = &self.dir {
            let mut manifest = committed.clone();
            let Some(entry) = manifest.segments.iter_mut().find(|e| e.id == id) else {
                return Ok(());
            };
            let seg_dir = dir.join(SEGMENTS_DIR).join(id.to_string());
            if let Some(graph) = &graph {
                graph.write(&seg_dir.join(HNSW_FILE))?;
                entry.indexed = true;
            }
            // New sub-graph files never overwrite the committed ones: they take other names.
            let taken: Vec<String> = entry.sub_graphs.iter().map(|e| e.file.clone()).collect();
            let mut subs = subs;
            rename_sub_files(&mut subs, &taken);
            for sub in &subs.graphs {
                sub.graph.write(&seg_dir.join(&sub.file))?;
            }
            stale = taken;
            entry.sub_keys = subs.keys.clone();
            entry.sub_graphs = subs.entries();
            manifest.write(dir)?;
            *committed = manifest;
            for file in &stale {
                let _ = fs::remove_file(seg_dir.join(file));
            }
            let mut state = write(&self.state);
            if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
                if graph.is_some() {
                    segment.index = graph;
                }
                segment.sub_graphs = Arc::new(subs);
            }
            return Ok(());
        }
        stale.clear();
        let mut state = write(&self.state);
        if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
            if graph.is_some() {
                segment.index = graph;
            }
            segment.sub_graphs = Arc::new(subs);
        }
        Ok(())
    }

    fn commit_rebuild(
        &self,
        id: u64,
        sources: &[u64],
        origin: &[(u32, u32)],
        data: Arc<SegmentData>,
        graph: Option<HnswGraph>,
        subs: SubGraphs,
    ) -> Result<(), StorageError> {
        let seg_dir = self
            .dir
            .as_ref()
            .map(|dir| dir.join(SEGMENTS_DIR).join(id.to_string()));
        if let (Some(dir), Some(seg_dir)) = (&self.dir, &seg_dir) {
            if data.len() > 0 {
                let tmp = dir.join(SEGMENTS_DIR).join(format!("{id}.tmp"));
                if tmp.exists() {
                    fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
                }
                fs::create_dir_all(&tmp).map_err(io(&tmp))?;
                data.write_to(&tmp)?;
                if let Some(graph) = &graph {
                    graph.write(&tmp.join(HNSW_FILE))?;
                }
                for sub in &subs.graphs {
                    sub.graph.write(&tmp.join(&sub.file))?;
                }
                sync_dir(&tmp)?;
                fs::rename(&tmp, seg_dir).map_err(io(seg_dir))?;
                sync_dir(&dir.join(SEGMENTS_DIR))?;
            }
        }
        let mut committed = lock(&self.checkpoint);
        let abandon = |why: &str| {
            log::debug!("rebuild of segments {sources:?} abandoned: {why}");
            if let Some(seg_dir) = &seg_dir {
                let _ = fs::remove_dir_all(seg_dir);
            }
            Ok(())
        };
        if self.is_closed() {
            return abandon("the collection is closed");
        }
        if self.dir.is_some()
            && !sources
                .iter()
                .all(|s| committed.segments.iter().any(|e| e.id == *s))
        {
            return abandon("a source is no longer committed");
        }

        // Swap in memory, carrying over what changed while the job ran.
        let (new_deleted, position) = {
            let mut state = write(&self.state);
            let mut positions = Vec::with_capacity(sources.len());
            for source in sources {
                match state.segments.iter().position(|s| s.id == *source) {
                    Some(p) => positions.push(p as u32),
                    None => return abandon("a source is gone"),
                }
            }
            let mut deleted = Bitset::default();
            deleted.grow(data.len());
            let mut live = 0;
            for (offset, &(k, from)) in origin.iter().enumerate() {
                let here = Loc {
                    segment: positions[k as usize],
                    offset: from,
                };
                if state.index.get(&data.id(offset)) == Some(&here) {
                    live += 1;
                } else {
                    deleted.insert(offset);
                }
            }
            // Positions shift: the new segment takes the first source's place and the other
            // sources go; every location is remapped in one pass over the index.
            let first = positions.iter().copied().min().unwrap_or(0) as usize;
            let keep_new = data.len() > 0;
            let mut remap = Vec::with_capacity(state.segments.len());
            let mut next = 0u32;
            for p in 0..state.segments.len() as u32 {
                if p as usize == first && keep_new {
                    remap.push(next);
                    next += 1;
                } else if positions.contains(&p) {
                    remap.push(u32::MAX);
                } else {
                    remap.push(next);
                    next += 1;
                }
            }
            let new_position = if keep_new { remap[first] } else { u32::MAX };
            for loc in state.index.values_mut() {
                loc.segment = remap[loc.segment as usize];
            }
            for offset in 0..data.len() {
                if !deleted.contains(offset) {
                    state.index.insert(
                        data.id(offset),
                        Loc {
                            segment: new_position,
                            offset: offset as u32,
                        },
                    );
                }
            }
            let new_segment = keep_new.then(|| Segment {
                id,
                data: data.clone(),
                deleted: deleted.clone(),
                live,
                persisted: self.dir.is_some(),
                deleted_gen: 0,
                deleted_dirty: false,
                index: graph.map(Arc::new),
                fields: Arc::default(),
                sub_graphs: Arc::new(SubGraphs {
                    keys: subs.keys.clone(),
                    graphs: subs
                        .graphs
                        .iter()
                        .map(|g| SubGraph {
                            target: g.target.clone(),
                            file: g.file.clone(),
                            graph: g.graph.clone(),
                        })
                        .collect(),
                }),
            });
            let old = std::mem::take(&mut state.segments);
            let mut new_segment = new_segment;
            for (p, segment) in old.into_iter().enumerate() {
                if p == first {
                    if let Some(s) = new_segment.take() {
                        state.segments.push(s);
                    }
                } else if !positions.contains(&(p as u32)) {
                    state.segments.push(segment);
                }
            }
            debug_assert!(state
                .index
                .values()
                .all(|l| (l.segment as usize) < state.segments.len()));
            let any_deleted = live < data.len();
            (any_deleted.then_some(deleted), new_position)
        };

        let Some(dir) = &self.dir else {
            return Ok(());
        };
        // The manifest must hold the carried-over deletions itself: the log records behind
        // them may already be gone (a checkpoint during the job removes what it covered).
        let mut manifest = committed.clone();
        let at = manifest
            .segments
            .iter()
            .position(|e| sources.contains(&e.id))
            .unwrap_or(manifest.segments.len());
        manifest.segments.retain(|e| !sources.contains(&e.id));
        let mut deleted_gen = 0;
        let written = (|| {
            if data.len() > 0 {
                if let (Some(set), Some(seg_dir)) = (&new_deleted, &seg_dir) {
                    deleted_gen = 1;
                    set.write_to(seg_dir, deleted_gen)?;
                }
                manifest.segments.insert(
                    at.min(manifest.segments.len()),
                    SegmentEntry {
                        id,
                        points: data.len() as u64,
                        deleted_gen,
                        indexed: read(&self.state)
                            .segments
                            .get(position as usize)
                            .is_some_and(|s| s.index.is_some()),
                        sub_keys: subs.keys.clone(),
                        sub_graphs: subs.entries(),
                    },
                );
            }
            manifest.next_segment_id = manifest.next_segment_id.max(id + 1);
            manifest.write(dir)
        })();
        {
            let mut state = write(&self.state);
            if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
                if written.is_ok() {
                    segment.deleted_gen = deleted_gen;
                } else {
                    // Not committed: the next checkpoint writes the set and the manifest.
                    segment.deleted_dirty = true;
                }
            }
        }
        written?;
        *committed = manifest;
        for source in sources {
            let old = dir.join(SEGMENTS_DIR).join(source.to_string());
            if let Err(e) = fs::remove_dir_all(&old) {
                log::warn!(
                    "could not remove {}: {e}; retried at next open",
                    old.display()
                );
            }
        }
        if self.on_disk() && data.len() > 0 {
            self.map_vectors(dir, id, &data)?;
        }
        Ok(())
    }

    /// Carry out every pending optimization now (seal, merge, vacuum, index), building on
    /// this thread and `threads - 1` more, and return when nothing is left. For applications
    /// that use the engine without an instance; an instance optimizes in the background.
    /// Fails with `BadRequest` if an optimization of this collection is already running.
    pub fn optimize(&self, threads: usize) -> Result<(), StorageError> {
        {
            let mut optimizer = lock(&self.optimizer);
            if optimizer.running {
                return Err(StorageError::BadRequest(
                    "an optimization of this collection is already running".into(),
                ));
            }
            optimizer.running = true;
        }
        let outcome = (|| {
            while let Some(plan) = self.plan() {
                if plan == Plan::Seal {
                    self.seal()?;
                    continue;
                }
                let Some(job) = self.prepare(&plan) else {
                    break;
                };
                self.set_optimizer_progress(&job);
                std::thread::scope(|scope| {
                    for _ in 1..threads.max(1) {
                        scope.spawn(|| while job.insert_next() {});
                    }
                    while job.insert_next() {}
                });
                self.commit(job)?;
            }
            Ok(())
        })();
        self.record_optimization(outcome.as_ref().map(|_| ()).map_err(ToString::to_string));
        self.optimizer_done(true);
        outcome
    }

    /// Memory taken by the links of every HNSW index, in bytes.
    pub fn index_links_bytes(&self) -> usize {
        read(&self.state)
            .segments
            .iter()
            .filter_map(|s| s.index.as_ref())
            .map(|g| g.links_bytes())
            .sum()
    }

    /// Claim the optimizer for this collection if it has work and nobody runs it; `true`
    /// means the caller must run it and call [`optimizer_done`](Self::optimizer_done).
    pub(crate) fn try_start_optimizer(&self) -> bool {
        let mut optimizer = lock(&self.optimizer);
        if optimizer.running
            || optimizer
                .failed_at
                .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE)
            || self.plan().is_none()
        {
            return false;
        }
        optimizer.running = true;
        true
    }

    /// The optimizer task asks whether to stop. It stops (and wakes every waiter) when there is
    /// nothing left to do, or when `stop` is set; otherwise it carries on.
    pub(crate) fn optimizer_done(&self, stop: bool) -> bool {
        let waiters = {
            let mut optimizer = lock(&self.optimizer);
            if !stop && self.plan().is_some() {
                return false;
            }
            optimizer.running = false;
            optimizer.progress = None;
            std::mem::take(&mut optimizer.waiters)
        };
        for waiter in waiters {
            let _ = waiter.send(());
        }
        true
    }

    /// Publish the progress of the job about to be built.
    pub(crate) fn set_optimizer_progress(&self, job: &Job) {
        lock(&self.optimizer).progress = Some((job.progress(), job.total()));
    }

    /// Record how an optimization went (an error turns the collection red until one succeeds).
    pub(crate) fn record_optimization(&self, outcome: Result<(), String>) {
        let mut optimizer = lock(&self.optimizer);
        match outcome {
            Ok(()) => {
                optimizer.error = None;
                optimizer.failed_at = None;
            }
            Err(error) => {
                log::error!("optimization failed: {error}");
                optimizer.error = Some(error);
                optimizer.failed_at = Some(std::time::Instant::now());
            }
        }
    }

    /// A receiver that fires when the running optimizer goes idle; `None` if none runs.
    pub(crate) fn wait_idle(&self) -> Option<oneshot::Receiver<()>> {
        let mut optimizer = lock(&self.optimizer);
        if !optimizer.running {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        optimizer.waiters.push(tx);
        Some(rx)
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
        if entry.indexed {
            names.push(HNSW_FILE.to_owned());
        }
        names.extend(entry.sub_graphs.iter().map(|e| e.file.clone()));
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

/// The payload keys that get per-value sub-graphs: keyword, integer and bool indexes.
fn sub_keys(schema: &BTreeMap<String, PayloadSchemaType>) -> Vec<String> {
    schema
        .iter()
        .filter(|(_, kind)| {
            matches!(
                kind,
                PayloadSchemaType::Keyword | PayloadSchemaType::Integer | PayloadSchemaType::Bool
            )
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// Give `subs` file names that none of `taken` has.
fn rename_sub_files(subs: &mut SubGraphs, taken: &[String]) {
    let mut next = 0usize;
    for sub in &mut subs.graphs {
        loop {
            let name = format!("hnsw-sub-{next}.bin");
            next += 1;
            if !taken.contains(&name) {
                sub.file = name;
                break;
            }
        }
    }
}

/// Load a segment's sub-graphs. They are derived data: a damaged one is logged and the
/// segment's sub-graphs are left for the optimizer to rebuild (searches meanwhile walk the
/// main graph).
fn load_sub_graphs(seg_dir: &Path, entry: &SegmentEntry, len: usize, spaces: &Spaces) -> SubGraphs {
    let mut graphs = Vec::with_capacity(entry.sub_graphs.len());
    for sub in &entry.sub_graphs {
        // The target, the distance and the layout of the graph's vectors in the rows.
        let target = match &sub.space {
            Some(name) => spaces
                .get(name)
                .ok()
                .filter(|_| spaces.is_named())
                .map(|s| (GraphFor::Space(name.clone()), s.distance(), s.column)),
            None => match (match_value(&sub.value), spaces.single()) {
                (Some(value), Some(space)) => Some((
                    GraphFor::Value {
                        key: sub.key.clone(),
                        value,
                    },
                    space.distance(),
                    0,
                )),
                _ => None,
            },
        };
        let loaded = match target {
            Some((target, distance, column))
                if !sub.file.contains(['/', '\\']) && !sub.file.contains("..") =>
            {
                HnswGraph::load(&seg_dir.join(&sub.file), len, distance)
                    .map_err(|e| e.to_string())
                    .and_then(|graph| match graph.offsets() {
                        Some(_) => Ok((target, graph.with_layout(spaces.width(), column))),
                        None => Err("it is not a sub-graph".to_owned()),
                    })
            }
            _ => Err(format!("bad entry {sub:?}")),
        };
        match loaded {
            Ok((target, graph)) => graphs.push(SubGraph {
                target,
                file: sub.file.clone(),
                graph: Arc::new(graph),
            }),
            Err(why) => {
                log::warn!(
                    "the sub-graphs of segment {} are rebuilt: {}: {why}",
                    entry.id,
                    sub.file
                );
                return SubGraphs::default();
            }
        }
    }
    SubGraphs {
        keys: entry.sub_keys.clone(),
        graphs,
    }
}

fn new_state(
    segments: Vec<Segment>,
    next_segment_id: u64,
    dim: usize,
    schema: BTreeMap<String, crate::models::PayloadSchemaType>,
) -> State {
    let mut state = State {
        segments,
        index: HashMap::new(),
        next_segment_id: next_segment_id + 1,
        schema,
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
fn check_replayed(operation: Operation, spaces: &Spaces) -> Result<Operation, String> {
    if let Operation::Upsert(points) = &operation {
        for point in points {
            if !spaces.check_row(&point.vector) {
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
            Some(segment) => {
                remove_stale_deletion_files(&entry.path(), segment.deleted_gen);
                if !segment.indexed {
                    // Written by an index build that crashed before its manifest commit.
                    let stale = entry.path().join(HNSW_FILE);
                    if stale.exists() {
                        fs::remove_file(&stale).map_err(io(&stale))?;
                    }
                }
                // Sub-graph files of a build that crashed before its manifest commit.
                if let Ok(files) = fs::read_dir(entry.path()) {
                    for file in files.flatten() {
                        let name = file.file_name().to_string_lossy().into_owned();
                        if name.starts_with("hnsw-sub-")
                            && !segment.sub_graphs.iter().any(|e| e.file == name)
                        {
                            let _ = fs::remove_file(file.path());
                        }
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{GetPoints, SearchRequest, VectorParams};
    use crate::storage::distance::{score, Order};
    use crate::storage::vector::normalize;

    /// Higher is better, whatever the distance.
    fn goodness(order: Order, score: f32) -> f32 {
        match order {
            Order::LargerBetter => score,
            Order::SmallerBetter => -score,
        }
    }

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
    fn on_disk_segments_are_mapped_and_in_ram_ones_are_not() {
        let points: Vec<PointStruct> = (0..100u64)
            .map(|i| PointStruct::new(i, vec![i as f32, 1.0, 0.5, -1.0]))
            .collect();
        let options = DiskOptions {
            durability: Durability::Interval(std::time::Duration::from_secs(1)),
            on_corruption: OnCorruption::Fail,
            checkpoint_bytes: 1 << 20,
        };
        for on_disk in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let create =
                CreateCollection::new(VectorParams::new(4, Distance::Dot).on_disk(on_disk));
            Collection::init_dir(dir.path(), create).unwrap();
            let query = SearchRequest::new(vec![1.0, 0.0, 0.0, 0.0], 3);
            let mapped = |c: &Collection| read(&c.state).segments[0].data.is_mapped();
            let expected = on_disk && cfg!(target_endian = "little");
            let (c, _) = Collection::open(dir.path(), options.clone()).unwrap();
            c.upsert(points.clone()).unwrap();
            let before = c.search(&query, &never).unwrap().unwrap();
            c.checkpoint().unwrap();
            assert_eq!(mapped(&c), expected, "on_disk {on_disk} after sealing");
            assert_eq!(c.search(&query, &never).unwrap().unwrap(), before);
            drop(c);
            let (c, _) = Collection::open(dir.path(), options.clone()).unwrap();
            assert_eq!(mapped(&c), expected, "on_disk {on_disk} after reopening");
            assert_eq!(c.search(&query, &never).unwrap().unwrap(), before);
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
        assert_eq!(got[0].plain_vector(), Some(&[1.0, 1.0][..]));
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
