//! One collection: its segments, its write-ahead log, and the locks that let searches run
//! while writes and checkpoints go on.
//!
//! ## Directory (`collections/<name>/`)
//! - `manifest.bin`: configuration, segment list, last operation in the segments
//!   (`manifest.rs`);
//! - `segments/<id>/`: one directory per sealed segment (`segment.rs`);
//! - `wal/`: the write-ahead log of operations after the manifest's (`wal.rs`);
//! - `wal.mark`: how far the log was synced, to tell lost records from a torn tail
//!   (`wal_mark.rs`).
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
//!
//! ## Locking order
//! `checkpoint` (the committed manifest) → `writer` (the log and the next operation number)
//! → `state`; `synced` → `writer`; `optimizer` → `state`. A lock is never taken while one
//! that comes after it in this order is held, so there is no deadlock between writers,
//! checkpoints, optimizer commits and searches (which take `state` alone, for reading).
//!
//! ## Files of this module
//! One `impl Collection` block per job: `open.rs` (creation, loading, replay, leftovers),
//! `write.rs` (the write path and group commit), `batch.rs` (`points/batch`), `facet.rs`, `checkpoint.rs`, `freeze.rs` (snapshots),
//! `optimize.rs` (planning and preparing optimizations), `commit.rs` (swapping their results
//! in), `payload.rs` (payload writes and indexes), `query.rs` (reads and searches) and
//! `settings.rs` (changing the configuration while serving, and strict mode's checks).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use futures::channel::oneshot;

use super::manifest::Manifest;
use super::segment::Segment;
use super::space::Spaces;
use super::wal::Wal;
use super::{read, write};
use crate::config::{Durability, OnCorruption};
use crate::error::StorageError;
use crate::models::{
    ClusterParams, CollectionConfig, CollectionInfo, CollectionParams, CollectionStatus,
    HnswConfig, OptimizationProgress, OptimizerStatus, OptimizersConfig, PointId, StrictModeConfig,
    VectorsConfig, WalConfig,
};

mod batch;
mod checkpoint;
mod commit;
mod estimate;
mod facet;
mod freeze;
mod open;
mod optimize;
mod payload;
mod query;
mod settings;
#[cfg(test)]
mod tests;
mod write;

pub(crate) use freeze::{finish_restored_dir, Frozen};
pub(crate) use optimize::Job;

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

/// The settings of a collection that `update_collection` changes while it serves requests.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) hnsw: HnswConfig,
    pub(crate) optimizers: OptimizersConfig,
    /// Qdrant's cluster settings, kept only to report them back.
    pub(crate) cluster: ClusterParams,
    pub(crate) strict_mode: Option<StrictModeConfig>,
    /// Ids of sealed segments whose index predates the current HNSW parameters.
    pub(crate) stale_indexes: std::collections::BTreeSet<u64>,
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
    /// What `update_collection` may change; read by copy, never held across another lock.
    settings: RwLock<Settings>,
    /// Qdrant settings kept only to report them back in [`Collection::info`].
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

fn io(path: &Path) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, &e)
}

impl Collection {
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
        let settings = self.settings();
        let state = read(&self.state);
        // Vectors in the indexes of whole spaces, live ones only, summed over the spaces.
        let indexed = state
            .segments
            .iter()
            .map(|s| {
                s.indexes
                    .indexed_vectors(&|o| s.deleted.contains(o), s.live)
            })
            .sum();
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
                    cluster: settings.cluster,
                },
                hnsw_config: settings.hnsw,
                optimizer_config: settings.optimizers,
                wal_config: self.wal_config,
                strict_mode_config: settings.strict_mode,
            },
        }
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
