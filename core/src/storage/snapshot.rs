//! Snapshots: a collection, or every collection of the instance, in one archive file
//! (`archive.rs`) that can be copied elsewhere and recovered into a new or the same name.
//!
//! A snapshot starts with a checkpoint of the collection and archives the files the committed
//! manifest names, holding further checkpoints off meanwhile; writes continue, into the log
//! and the new appendable segment. So a snapshot taken mid-write holds every operation up to
//! its checkpoint and none after: it restores to a state the collection really had.
//!
//! Collection snapshots live in `<data>/snapshots/collections/<name>/<label>-<unix ms>.snapshot`,
//! full snapshots in `<data>/snapshots/full/full-<unix ms>.snapshot`. Inside a full snapshot
//! each collection's files sit under `collections/<name>/`.
//!
//! The label is the collection name cut to at most [`MAX_LABEL_BYTES`] (at a character
//! boundary), so that every valid name (up to 255 bytes, the file-name limit) gives a file
//! name that fits. The full name is what matters and is never lost: the snapshots of a
//! collection are the files of its own directory (that is how they are listed and deleted), and
//! the archive's metadata records the name (`"collection"`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::archive::{self, ArchiveEntry, SnapshotMeta, Source};
use super::checked::sync_dir;
use super::collection::{finish_restored_dir, Collection, Frozen};
use super::manifest::MANIFEST_FILE;
use super::{io, validate_collection_name, write, Disk, TableOfContent, REPLACED_DIR, TMP_DIR};
use crate::error::StorageError;
use crate::models::SnapshotDescription;

const SNAPSHOTS_DIR: &str = "snapshots";
const EXTENSION: &str = "snapshot";
const KIND_COLLECTION: &str = "collection";
const KIND_FULL: &str = "full";
/// Longest label of a snapshot file name: leaves room for `-<unix ms>-<n>.snapshot.tmp` within
/// the 255-byte file-name limit.
const MAX_LABEL_BYTES: usize = 200;

impl TableOfContent {
    fn disk(&self, operation: &'static str) -> Result<&Disk, StorageError> {
        self.disk
            .as_ref()
            .ok_or(StorageError::NotPersistent { operation })
    }

    fn snapshots_dir(&self, collection: Option<&str>) -> Result<PathBuf, StorageError> {
        let disk = self.disk("a snapshot")?;
        let base = disk.root.join(SNAPSHOTS_DIR);
        Ok(match collection {
            Some(name) => base.join("collections").join(name),
            None => base.join(KIND_FULL),
        })
    }

    /// Take a snapshot of collection `name` while writes to it go on.
    pub fn create_snapshot(&self, name: &str) -> Result<SnapshotDescription, StorageError> {
        let name = &self.resolve(name);
        let collection = self.collection(name)?;
        let dir = self.snapshots_dir(Some(name))?;
        let frozen = collection.freeze()?;
        let entries = archive_entries("", &frozen);
        let extra = serde_json::json!({ "collection": name, "applied_op": frozen.applied_op });
        write_new_snapshot(&dir, name, KIND_COLLECTION, extra, &entries)
    }

    /// Take a snapshot of every collection in one archive. Each collection is consistent in
    /// itself; writes to any of them go on meanwhile.
    pub fn create_full_snapshot(&self) -> Result<SnapshotDescription, StorageError> {
        let dir = self.snapshots_dir(None)?;
        // Sorted by name, which is also the order their locks are taken in: no deadlock with
        // another full snapshot.
        let collections: Vec<(String, Arc<Collection>)> = super::read(&self.collections)
            .iter()
            .map(|(name, c)| (name.clone(), c.clone()))
            .collect();
        let mut frozen = Vec::with_capacity(collections.len());
        for (name, collection) in &collections {
            frozen.push((name.as_str(), collection.freeze()?));
        }
        let mut entries = Vec::new();
        for (name, f) in &frozen {
            entries.extend(archive_entries(&format!("collections/{name}/"), f));
        }
        let names: Vec<&str> = frozen.iter().map(|(name, _)| *name).collect();
        // The aliases of the snapshotted collections go with them (Qdrant keeps aliases in
        // full snapshots and leaves them out of collection snapshots).
        let mut aliases = super::read(&self.aliases).clone();
        aliases.retain_valid(|name| names.contains(&name));
        let extra = serde_json::json!({ "collections": names, "aliases": aliases.to_json() });
        write_new_snapshot(&dir, "full", KIND_FULL, extra, &entries)
    }

    /// The snapshots of collection `name` (which may since have been deleted), oldest first.
    pub fn list_snapshots(&self, name: &str) -> Result<Vec<SnapshotDescription>, StorageError> {
        validate_collection_name(name)?;
        let name = &self.resolve(name);
        list(&self.snapshots_dir(Some(name))?)
    }

    /// The full snapshots, oldest first.
    pub fn list_full_snapshots(&self) -> Result<Vec<SnapshotDescription>, StorageError> {
        list(&self.snapshots_dir(None)?)
    }

    /// Delete snapshot `snapshot` of collection `name`; `false` if there was none.
    pub fn delete_snapshot(&self, name: &str, snapshot: &str) -> Result<bool, StorageError> {
        validate_collection_name(name)?;
        let name = &self.resolve(name);
        delete(&self.snapshots_dir(Some(name))?, snapshot)
    }

    /// Delete full snapshot `snapshot`; `false` if there was none.
    pub fn delete_full_snapshot(&self, snapshot: &str) -> Result<bool, StorageError> {
        delete(&self.snapshots_dir(None)?, snapshot)
    }

    /// Recover collection `name` from the collection snapshot at `location`, replacing the
    /// collection if it exists. The archive is checked and the restored collection opened
    /// before anything existing is touched.
    pub fn recover_snapshot(&self, name: &str, location: &Path) -> Result<(), StorageError> {
        validate_collection_name(name)?;
        let name = &self.resolve(name);
        let disk = self.disk("recovering a snapshot")?;
        let tmp = disk.scratch(TMP_DIR, "restore");
        let result = self.recover_into(disk, &tmp, location, KIND_COLLECTION, |tmp| {
            Ok(vec![(name.to_owned(), tmp.to_owned())])
        });
        remove_scratch(&tmp);
        result.map(|_| ())
    }

    /// Recover every collection of the full snapshot at `location`, replacing collections of
    /// the same names (others are left alone); returns the names recovered.
    pub fn recover_full_snapshot(&self, location: &Path) -> Result<Vec<String>, StorageError> {
        let disk = self.disk("recovering a snapshot")?;
        let tmp = disk.scratch(TMP_DIR, "restore-full");
        let result = self.recover_into(disk, &tmp, location, KIND_FULL, |tmp| {
            let root = tmp.join("collections");
            let mut found = Vec::new();
            if root.is_dir() {
                for entry in fs::read_dir(&root).map_err(io(&root))? {
                    let entry = entry.map_err(io(&root))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    validate_collection_name(&name)?;
                    found.push((name, entry.path()));
                }
            }
            found.sort();
            Ok(found)
        });
        remove_scratch(&tmp);
        let (names, meta) = result?;
        self.restore_aliases(disk, &names, &meta.extra)?;
        Ok(names)
    }

    /// Add the aliases a full snapshot holds for the collections it restored (replacing
    /// aliases of the same names), and persist them.
    fn restore_aliases(
        &self,
        disk: &Disk,
        restored: &[String],
        extra: &serde_json::Value,
    ) -> Result<(), StorageError> {
        let mut aliases = write(&self.aliases);
        let mut next = aliases.clone();
        let skipped = {
            let collections = super::read(&self.collections);
            next.merge_json(&extra["aliases"], restored, |n| collections.contains_key(n))
        };
        if skipped > 0 {
            log::warn!("{skipped} aliases of the snapshot were not restored: their names are taken by collections or invalid");
        }
        if next != *aliases {
            next.write(&disk.root)?;
            *aliases = next;
        }
        Ok(())
    }

    fn recover_into(
        &self,
        disk: &Disk,
        tmp: &Path,
        location: &Path,
        kind: &str,
        collections_in: impl FnOnce(&Path) -> Result<Vec<(String, PathBuf)>, StorageError>,
    ) -> Result<(Vec<String>, archive::SnapshotMeta), StorageError> {
        fs::create_dir_all(tmp).map_err(io(tmp))?;
        let meta = archive::extract_archive(location, tmp)?;
        if meta.kind != kind {
            return Err(StorageError::BadRequest(format!(
                "`{}` is a {} snapshot, not a {kind} snapshot",
                location.display(),
                meta.kind
            )));
        }
        let restored = collections_in(tmp)?;
        // Open each one once where it is: the archive's checksums passed, this checks that
        // the files make a collection, before any existing collection is touched.
        for (_, dir) in &restored {
            if !dir.join(MANIFEST_FILE).is_file() {
                return Err(StorageError::corrupted(
                    location,
                    0,
                    format!("the snapshot has no {MANIFEST_FILE}"),
                ));
            }
            finish_restored_dir(dir)?;
            Collection::open(dir, disk.options.clone())?;
        }
        let mut names = Vec::with_capacity(restored.len());
        for (name, dir) in restored {
            self.swap_in(disk, &name, &dir)?;
            names.push(name);
        }
        Ok((names, meta))
    }

    /// Replace (or create) collection `name` with the collection directory `dir`.
    fn swap_in(&self, disk: &Disk, name: &str, dir: &Path) -> Result<(), StorageError> {
        let aliases = super::read(&self.aliases);
        if aliases.contains(name) {
            return Err(StorageError::BadRequest(format!(
                "collection `{name}` cannot be restored: an alias has that name; delete the alias first"
            )));
        }
        let mut collections = write(&self.collections);
        let target = disk.collection_dir(name);
        let replaced = disk.root.join(REPLACED_DIR).join(name);
        let old = collections.remove(name);
        let quiet = old.as_ref().map(|c| c.quiesce());
        if old.is_some() {
            // If we crash before the new one is in place, the next open puts this back.
            fs::rename(&target, &replaced).map_err(io(&target))?;
        }
        fs::rename(dir, &target).map_err(io(&target))?;
        sync_dir(&disk.collections())?;
        drop(quiet);
        let opened = Collection::open(&target, disk.options.clone());
        if old.is_some() {
            if let Err(e) = fs::remove_dir_all(&replaced) {
                log::warn!(
                    "could not remove {}: {e}; retried at next open",
                    replaced.display()
                );
            }
        }
        collections.insert(name.to_owned(), Arc::new(opened?.0));
        Ok(())
    }
}

/// The archive entries of a frozen collection, under `prefix`.
fn archive_entries<'a>(prefix: &str, frozen: &'a Frozen<'_>) -> Vec<ArchiveEntry<'a>> {
    let mut entries = vec![ArchiveEntry {
        path: format!("{prefix}{MANIFEST_FILE}"),
        source: Source::Bytes(&frozen.manifest_file),
    }];
    entries.extend(frozen.files.iter().map(|(path, file)| ArchiveEntry {
        path: format!("{prefix}{path}"),
        source: Source::File(file),
    }));
    entries
}

/// Write a snapshot into `dir` under a new unique name.
fn write_new_snapshot(
    dir: &Path,
    label: &str,
    kind: &str,
    extra: serde_json::Value,
    entries: &[ArchiveEntry<'_>],
) -> Result<SnapshotDescription, StorageError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let cut = (0..=label.len().min(MAX_LABEL_BYTES))
        .rev()
        .find(|&i| label.is_char_boundary(i))
        .unwrap_or(0);
    let label = label.get(..cut).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut path = dir.join(format!("{label}-{now}.{EXTENSION}"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{label}-{now}-{n}.{EXTENSION}"));
        n += 1;
    }
    let meta = archive::write_archive(&path, kind, extra, entries)?;
    sync_dir(dir)?;
    describe(&path, &meta)
}

fn describe(path: &Path, meta: &SnapshotMeta) -> Result<SnapshotDescription, StorageError> {
    let size = fs::metadata(path).map_err(io(path))?.len();
    Ok(SnapshotDescription {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        creation_time: Some(utc_timestamp(meta.created_unix_ms)),
        size,
        path: path.to_owned(),
    })
}

fn list(dir: &Path) -> Result<Vec<SnapshotDescription>, StorageError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(StorageError::io(dir, &e)),
    };
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == EXTENSION) {
            match archive::read_meta(&path) {
                Ok(meta) => found.push(describe(&path, &meta)?),
                Err(e) => log::warn!("skipping unreadable snapshot {}: {e}", path.display()),
            }
        }
    }
    found.sort_by(|a, b| (&a.creation_time, &a.name).cmp(&(&b.creation_time, &b.name)));
    Ok(found)
}

fn delete(dir: &Path, snapshot: &str) -> Result<bool, StorageError> {
    // A snapshot name is a plain file name: the same rules as a collection name keep it
    // inside the snapshot directory.
    validate_collection_name(snapshot).map_err(|_| {
        StorageError::BadRequest(format!(
            "`{}` is not a snapshot name",
            snapshot.escape_debug()
        ))
    })?;
    let path = dir.join(snapshot);
    if !snapshot.ends_with(&format!(".{EXTENSION}")) || !path.is_file() {
        return Ok(false);
    }
    fs::remove_file(&path).map_err(io(&path))?;
    sync_dir(dir)?;
    Ok(true)
}

fn remove_scratch(tmp: &Path) {
    if tmp.exists() {
        if let Err(e) = fs::remove_dir_all(tmp) {
            log::warn!(
                "could not remove {}: {e}; retried at next open",
                tmp.display()
            );
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as Qdrant shows snapshot times.
fn utc_timestamp(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29T00:00:00");
        assert_eq!(utc_timestamp(1_795_954_150_999), "2026-11-29T12:09:10");
    }
}
