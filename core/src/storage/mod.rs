//! The storage engine: plain synchronous Rust, called from pool threads.
//!
//! [`TableOfContent`] owns the collections of one instance, in memory or in a data directory.
//!
//! ## Data directory
//! ```text
//! <data>/
//!   rro.lock                      advisory lock held while open (lock.rs)
//!   aliases.bin                   the collection aliases (aliases.rs)
//!   collections/<name>/           one directory per collection (collection.rs)
//!   snapshots/collections/<name>/ snapshots of one collection (snapshot.rs)
//!   snapshots/full/               snapshots of the whole instance
//!   .tmp/                         collections being created or restored; emptied at open
//!   .trash/                       deleted collections being removed; emptied at open
//!   .replaced/<name>              a collection being replaced by a restore; put back at open
//!                                 if the restore did not finish
//! ```
//! Every change of the set of collections is one `rename` of a complete directory, so a crash
//! leaves each collection either fully there or not there.
//!
//! ## Names and aliases
//! A request names a collection by its name or by an alias (`aliases.rs`); the one place that
//! turns a name into a collection is [`TableOfContent::collection`] (and
//! [`TableOfContent::resolve`] for the operations that need the real name). Locks are taken
//! aliases first, then collections, everywhere, so that a lookup sees an alias and its
//! collection together and nothing deadlocks.

mod aliases;
mod archive;
mod bytes;
mod checked;
mod codec;
mod collection;
pub mod distance;
pub(crate) mod field_index;
pub mod filter;
pub mod hnsw;
mod lock;
mod manifest;
mod name;
mod payload_index;
pub(crate) mod plan;
mod segment;
mod select;
mod simd;
mod snapshot;
mod space;
mod vector;
mod wal;
mod wal_mark;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub(crate) use collection::Job;
pub use collection::{Collection, OpenReport};
pub use distance::{score, Order};
pub use name::validate_collection_name;
pub use space::MAX_DIMENSION;

use self::aliases::AliasTable;
use self::checked::sync_dir;
use self::collection::DiskOptions;
use self::lock::DirLock;
use crate::config::Config;
use crate::error::StorageError;
use crate::models::{
    AliasOperation, CollectionDescription, CollectionsAliasesResponse, CollectionsResponse,
    CreateCollection,
};

const COLLECTIONS_DIR: &str = "collections";
const TMP_DIR: &str = ".tmp";
const TRASH_DIR: &str = ".trash";
const REPLACED_DIR: &str = ".replaced";

/// Every collection of one instance, by name.
#[derive(Debug)]
pub struct TableOfContent {
    /// Locked before `collections` wherever both are taken.
    aliases: RwLock<AliasTable>,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    disk: Option<Disk>,
}

/// The data directory of a persistent instance.
#[derive(Debug)]
struct Disk {
    root: PathBuf,
    options: DiskOptions,
    /// Taken by [`TableOfContent::release_dir_lock`] at shutdown, or dropped with the disk.
    lock: Mutex<Option<DirLock>>,
}

impl Disk {
    fn collections(&self) -> PathBuf {
        self.root.join(COLLECTIONS_DIR)
    }

    fn collection_dir(&self, name: &str) -> PathBuf {
        self.collections().join(name)
    }

    /// A fresh, unique path under `.tmp/` or `.trash/` (not created).
    fn scratch(&self, area: &str, label: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.root.join(area).join(format!("{label}-{nanos}-{n}"))
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, &e)
}

impl Default for TableOfContent {
    fn default() -> Self {
        TableOfContent::in_memory()
    }
}

impl TableOfContent {
    /// An empty, in-memory table of content.
    pub fn in_memory() -> Self {
        TableOfContent {
            aliases: RwLock::default(),
            collections: RwLock::default(),
            disk: None,
        }
    }

    /// Open the instance `config` describes: in memory, or its data directory (created if
    /// missing, locked, every collection loaded and its log replayed).
    pub fn open(config: &Config) -> Result<Self, StorageError> {
        let Some(root) = config.path.clone() else {
            return Ok(TableOfContent::in_memory());
        };
        if root.exists() && !root.is_dir() {
            return Err(StorageError::Io {
                path: root.display().to_string(),
                message: "not a directory; the data path must be a directory or not exist yet"
                    .into(),
            });
        }
        fs::create_dir_all(&root).map_err(io(&root))?;
        let lock = DirLock::acquire(&root)?;
        let disk = Disk {
            root,
            options: DiskOptions {
                durability: config.durability,
                on_corruption: config.on_corruption,
                checkpoint_bytes: config.wal_checkpoint_bytes,
            },
            lock: Mutex::new(Some(lock)),
        };
        for area in [COLLECTIONS_DIR, TMP_DIR, TRASH_DIR, REPLACED_DIR] {
            let dir = disk.root.join(area);
            fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        clean_up_interrupted(&disk)?;
        let mut collections = BTreeMap::new();
        let dir = disk.collections();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if validate_collection_name(&name).is_err() {
                log::warn!("ignoring {}: not a collection", entry.path().display());
                continue;
            }
            if !entry.path().is_dir() {
                // Something replaced a collection's directory: that collection is lost, which
                // is damage, not something to skip quietly (whatever `on_corruption` says).
                return Err(StorageError::corrupted(
                    &entry.path(),
                    0,
                    "a collection's place holds a file, not a collection directory",
                ));
            }
            let (collection, report) = Collection::open(&entry.path(), disk.options.clone())?;
            if let Some(damage) = &report.damage {
                log::warn!("collection `{name}` opened past damage: {damage}");
            }
            collections.insert(name, Arc::new(collection));
        }
        let mut aliases = AliasTable::read(&disk.root)?;
        aliases.retain_valid(|name| collections.contains_key(name));
        Ok(TableOfContent {
            aliases: RwLock::new(aliases),
            collections: RwLock::new(collections),
            disk: Some(disk),
        })
    }

    /// The data directory, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.root.as_path())
    }

    /// Create collection `name`; fails if it exists or the name or parameters are invalid.
    pub fn create_collection(
        &self,
        name: &str,
        create: CreateCollection,
    ) -> Result<(), StorageError> {
        validate_collection_name(name)?;
        let aliases = read(&self.aliases);
        if aliases.contains(name) {
            return Err(StorageError::BadRequest(format!(
                "collection `{name}` cannot be created: an alias has that name"
            )));
        }
        let mut collections = write(&self.collections);
        if collections.contains_key(name) {
            return Err(StorageError::CollectionExists {
                name: name.to_owned(),
            });
        }
        let collection = match &self.disk {
            None => Collection::with_config(create)?,
            Some(disk) => {
                // Laid out in `.tmp/` and renamed into place, so a crash never leaves half a
                // collection under `collections/`.
                let tmp = disk.scratch(TMP_DIR, "create");
                Collection::init_dir(&tmp, create)?;
                let target = disk.collection_dir(name);
                fs::rename(&tmp, &target).map_err(io(&target))?;
                sync_dir(&disk.collections())?;
                Collection::open(&target, disk.options.clone())?.0
            }
        };
        collections.insert(name.to_owned(), Arc::new(collection));
        Ok(())
    }

    /// Delete collection `name` (or the collection alias `name` stands for), its aliases and
    /// its files; `false` if there was none.
    pub fn delete_collection(&self, name: &str) -> Result<bool, StorageError> {
        validate_collection_name(name)?;
        let mut aliases = write(&self.aliases);
        let name = aliases.get(name).unwrap_or(name).to_owned();
        let name = name.as_str();
        let mut collections = write(&self.collections);
        if !collections.contains_key(name) {
            return Ok(false);
        }
        let mut remaining = aliases.clone();
        if remaining.drop_collection(name) {
            // The aliases go first: a crash after this leaves the collection without aliases,
            // never an alias of a missing collection.
            if let Some(disk) = &self.disk {
                remaining.write(&disk.root)?;
            }
            *aliases = remaining;
        }
        let Some(collection) = collections.remove(name) else {
            return Ok(false);
        };
        if let Some(disk) = &self.disk {
            // Wait for a running snapshot of it, then move it out of sight in one rename.
            let _quiet = collection.quiesce();
            let trash = disk.scratch(TRASH_DIR, "deleted");
            let dir = disk.collection_dir(name);
            fs::rename(&dir, &trash).map_err(io(&dir))?;
            sync_dir(&disk.collections())?;
            if let Err(e) = fs::remove_dir_all(&trash) {
                log::warn!(
                    "could not remove {}: {e}; retried at next open",
                    trash.display()
                );
            }
        }
        Ok(true)
    }

    /// Whether collection `name` (or an alias `name`) exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool, StorageError> {
        validate_collection_name(name)?;
        let aliases = read(&self.aliases);
        let name = aliases.get(name).unwrap_or(name);
        Ok(read(&self.collections).contains_key(name))
    }

    /// The collection name `name` stands for: the target of alias `name`, or `name` itself.
    pub fn resolve(&self, name: &str) -> String {
        read(&self.aliases).get(name).unwrap_or(name).to_owned()
    }

    /// Apply a batch of alias actions, all or none, and persist the result before it is
    /// visible; an error names the failing action's index.
    pub fn update_aliases(&self, actions: &[AliasOperation]) -> Result<(), StorageError> {
        let mut aliases = write(&self.aliases);
        let next = {
            let collections = read(&self.collections);
            aliases.apply(actions, |name| collections.contains_key(name))?
        };
        if let Some(disk) = &self.disk {
            next.write(&disk.root)?;
        }
        *aliases = next;
        Ok(())
    }

    /// Every alias, sorted by alias name.
    pub fn list_aliases(&self) -> CollectionsAliasesResponse {
        read(&self.aliases).list(None)
    }

    /// The aliases of collection `name` (which may itself be given by an alias).
    pub fn list_collection_aliases(
        &self,
        name: &str,
    ) -> Result<CollectionsAliasesResponse, StorageError> {
        let aliases = read(&self.aliases);
        let real = aliases.get(name).unwrap_or(name);
        if !read(&self.collections).contains_key(real) {
            return Err(StorageError::CollectionNotFound {
                name: name.to_owned(),
            });
        }
        Ok(aliases.list(Some(real)))
    }

    /// Every collection, sorted by name.
    pub fn list_collections(&self) -> CollectionsResponse {
        let collections = read(&self.collections)
            .keys()
            .map(|name| CollectionDescription { name: name.clone() })
            .collect();
        CollectionsResponse { collections }
    }

    /// Number of collections.
    pub fn collection_count(&self) -> usize {
        read(&self.collections).len()
    }

    /// Let go of the data directory's lock before this table of content is dropped. The
    /// instance calls it at shutdown once nothing of it can write any more (see `gate.rs` in
    /// rro-core): requests stuck past the deadline may still hold this table, and another
    /// instance must be able to open the directory meanwhile.
    pub(crate) fn release_dir_lock(&self) {
        if let Some(disk) = &self.disk {
            drop(disk.lock.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
    }

    /// Collection `name`, or the one alias `name` stands for, shared so that a long search
    /// does not hold the table's lock. The one place requests turn names into collections.
    pub fn collection(&self, name: &str) -> Result<Arc<Collection>, StorageError> {
        let aliases = read(&self.aliases);
        let real = aliases.get(name).unwrap_or(name);
        read(&self.collections)
            .get(real)
            .cloned()
            .ok_or_else(|| StorageError::CollectionNotFound {
                name: name.to_owned(),
            })
    }

    /// Every open collection.
    pub(crate) fn all(&self) -> Vec<Arc<Collection>> {
        read(&self.collections).values().cloned().collect()
    }

    /// Persist everything written so far into segments and truncate the logs (a checkpoint of
    /// every collection). In memory there is nothing to persist.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.for_each_collection(|c| c.checkpoint())
    }

    /// Sync every collection's log: what [`Durability::Interval`](crate::Durability) does each
    /// interval.
    pub fn sync_logs(&self) -> Result<(), StorageError> {
        self.for_each_collection(|c| c.sync_wal())
    }

    /// Checkpoint the collections whose log has passed the configured size.
    pub fn checkpoint_large_logs(&self) -> Result<(), StorageError> {
        self.for_each_collection(|c| match c.wants_checkpoint() {
            true => c.checkpoint(),
            false => Ok(()),
        })
    }

    /// Run `f` on every collection, even after one fails; the first error is returned.
    fn for_each_collection(
        &self,
        f: impl Fn(&Collection) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut first_error = None;
        for collection in self.all() {
            if let Err(e) = f(&collection) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// How often the background flusher should run: the sync interval, or once a second for
    /// checkpoints alone; `None` in memory.
    pub fn flush_interval(&self) -> Option<std::time::Duration> {
        let disk = self.disk.as_ref()?;
        Some(match disk.options.durability {
            crate::config::Durability::Interval(interval) => interval,
            crate::config::Durability::Fsync => std::time::Duration::from_secs(1),
        })
    }
}

/// Finish or undo what a crash interrupted: half-created or half-restored collections in
/// `.tmp/` and deleted ones in `.trash/` are removed; a collection in `.replaced/` whose
/// replacement never arrived goes back to `collections/`.
fn clean_up_interrupted(disk: &Disk) -> Result<(), StorageError> {
    for area in [TMP_DIR, TRASH_DIR] {
        let dir = disk.root.join(area);
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(io(&path))?;
        }
    }
    let replaced = disk.root.join(REPLACED_DIR);
    for entry in fs::read_dir(&replaced).map_err(io(&replaced))? {
        let entry = entry.map_err(io(&replaced))?;
        let target = disk.collections().join(entry.file_name());
        if target.exists() {
            fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
        } else {
            log::warn!(
                "a snapshot restore of {} did not finish; keeping the previous collection",
                target.display()
            );
            fs::rename(entry.path(), &target).map_err(io(&target))?;
        }
    }
    sync_dir(&disk.collections())
}

// A panic while a lock is held (a bug, reported to the caller as `Internal`) must not take the
// whole table down with it: every mutation below is a single map operation, so the data behind
// a poisoned lock is still consistent and we keep using it.
pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
