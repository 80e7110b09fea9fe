//! Opening a collection: creating one, loading its segments, replaying its log, and removing
//! what an interrupted checkpoint or build left behind.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use super::checkpoint::remove_stale_deletion_files;
use super::write::apply;
use super::Settings;
use super::{
    io, Collection, DiskOptions, Loc, OpenReport, OptimizerState, State, Writer, SEGMENTS_DIR,
    WAL_DIR,
};
use crate::error::StorageError;
use crate::models::{CreateCollection, HnswConfig, OptimizersConfig, VectorsConfig};
use crate::storage::checked::sync_dir;
use crate::storage::codec::Operation;
use crate::storage::hnsw::HNSW_FILE;
use crate::storage::manifest::{Manifest, MANIFEST_FILE};
use crate::storage::segment::{Bitset, Indexes, Segment, SegmentData, SEGMENT_FILES};
use crate::storage::space::Spaces;
use crate::storage::wal::Wal;
use crate::storage::wal_mark::MARK_FILE;

/// Check the index and optimizer settings of a new collection.
/// Refuse HNSW settings out of range, at creation or update; `path` is where they are in the
/// request.
pub(super) fn check_hnsw(hnsw: &HnswConfig, path: &str) -> Result<(), StorageError> {
    let bad = |why: String| Err(StorageError::BadRequest(why));
    if !(2..=256).contains(&hnsw.m) {
        return bad(format!(
            "{path}.m is {}; it must be between 2 and 256",
            hnsw.m
        ));
    }
    if !(1..=10_000).contains(&hnsw.ef_construct) {
        return bad(format!(
            "{path}.ef_construct is {}; it must be between 1 and 10000",
            hnsw.ef_construct
        ));
    }
    Ok(())
}

fn check_config(create: &CreateCollection) -> Result<Spaces, StorageError> {
    create.check_supported()?;
    let spaces = Spaces::new(&create.vectors)?;
    let collection_hnsw = create.hnsw_config.unwrap_or_default();
    if create.hnsw_config.is_some() {
        check_hnsw(&collection_hnsw, "hnsw_config")?;
    }
    for space in spaces.all() {
        if let Some(diff) = &space.params.hnsw_config {
            let path = if spaces.is_named() {
                format!("vectors.{}.hnsw_config", space.name)
            } else {
                "vectors.hnsw_config".to_owned()
            };
            let merged = collection_hnsw.merged(Some(diff));
            merged.check_supported_at(&path)?;
            check_hnsw(&merged, &path)?;
        }
    }
    if let Some(opt) = &create.optimizers_config {
        check_optimizers(opt)?;
    }
    Ok(spaces)
}

/// Check optimizer thresholds, at creation or update.
pub(super) fn check_optimizers(opt: &OptimizersConfig) -> Result<(), StorageError> {
    if !(0.0..=1.0).contains(&opt.deleted_threshold) {
        return Err(StorageError::BadRequest(format!(
            "optimizers_config.deleted_threshold is {}; it must be between 0 and 1",
            opt.deleted_threshold
        )));
    }
    if opt.max_segment_size == Some(0) {
        return Err(StorageError::BadRequest(
            "optimizers_config.max_segment_size must be above 0".into(),
        ));
    }
    Ok(())
}

fn empty_manifest(create: CreateCollection) -> Manifest {
    Manifest {
        cluster: create.cluster_params(),
        wal_config: create.wal_config,
        params: create.vectors,
        hnsw_config: create.hnsw_config.unwrap_or_default(),
        optimizers_config: create.optimizers_config.unwrap_or_default(),
        strict_mode_config: create.strict_mode_config,
        stale_indexes: Vec::new(),
        applied_op: 0,
        next_segment_id: 1,
        segments: Vec::new(),
        payload_schema: BTreeMap::new(),
    }
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
            let indexes = Indexes::load(&seg_dir, entry, data.len(), &spaces);
            segments.push(Segment {
                id: entry.id,
                data: Arc::new(data),
                deleted,
                live,
                persisted: true,
                deleted_gen: entry.deleted_gen,
                deleted_dirty: false,
                indexes: Arc::new(indexes),
                fields: Arc::default(),
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
        let (wal, found) = Wal::open_marked(
            &wal_dir,
            &dir.join(MARK_FILE),
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
            settings: RwLock::new(Settings {
                hnsw: manifest.hnsw_config,
                optimizers: manifest.optimizers_config,
                cluster: manifest.cluster,
                strict_mode: manifest.strict_mode_config.clone(),
                stale_indexes: manifest.stale_indexes.iter().copied().collect(),
            }),
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

/// A replayed operation passed its checksum; still refuse one that would break invariants.
fn check_replayed(operation: Operation, spaces: &Spaces) -> Result<Operation, String> {
    if let Operation::Upsert(points) | Operation::Batch { upsert: points, .. } = &operation {
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
