//! Snapshot archives: one plain, uncompressed tar file, so that `tar tf` can inspect a snapshot
//! and `tar xf` can unpack it by hand, as with Qdrant snapshots.
//!
//! # Format, version 1
//!
//! - The archive is a tar stream of 512-byte blocks with GNU headers, ended by two zero blocks.
//!   A path longer than 100 bytes is carried by a GNU `././@LongLink` entry before its header.
//!   Readers stop at the first zero block and ignore anything after it.
//! - The first entry is the regular file `rro-snapshot.json` (at most 16 MiB), a UTF-8 JSON
//!   object:
//!
//!   ```json
//!   {
//!     "format": "rro-snapshot",
//!     "version": 1,
//!     "created_unix_ms": 1700000000000,
//!     "kind": "collection",
//!     "entries": [{ "path": "segments/0/vectors.bin", "size": 4096, "crc32": 305419896 }],
//!     "extra": {}
//!   }
//!   ```
//!
//!   `format` is always `"rro-snapshot"`; `version` is 1; `created_unix_ms` is the writer's
//!   clock in milliseconds since the Unix epoch; `kind` and `extra` (any JSON value, `null` when
//!   absent) belong to the caller; `entries` lists every other entry of the archive, in archive
//!   order, with its size in bytes and the CRC-32 (IEEE, as computed by `crc32fast`) of its
//!   content. Unknown fields are ignored.
//! - Then one regular-file entry per item of `entries`, holding exactly `size` bytes.
//!   Every entry has mode `0644`, uid and gid 0 and the snapshot's creation time (whole seconds)
//!   as mtime. Writers emit no directory entries.
//! - Paths are relative, `/`-separated UTF-8 of at most 4096 bytes. They contain no `..`, no `\`
//!   and no NUL, and every `/`-separated component is non-empty and not `.`. No path is
//!   `rro-snapshot.json`, appears twice, or is also a directory of another path (`a` and `a/b`).
//!
//! Readers check all of the above. When extracting they also refuse any entry that is not a
//! regular file or a directory (links, devices, FIFOs, sparse files, global PAX headers) and any
//! file entry that the metadata does not list, and they require every listed entry to be present
//! with its size and checksum. Directory entries are accepted and created under the destination,
//! but only if no listed file claims the same path.
//!
//! The metadata entry itself carries no checksum: damage to it shows up as invalid JSON, as a
//! listed entry that does not match, or (in `kind`, `extra` and `created_unix_ms` only) not at
//! all.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::checked::sync_dir;
use crate::error::StorageError;

/// Name of the metadata entry, always the first entry of the archive.
const META_NAME: &str = "rro-snapshot.json";
/// Value of the metadata's `format` field.
const FORMAT: &str = "rro-snapshot";
/// The only format version this build writes and reads.
const FORMAT_VERSION: u32 = 1;
/// Upper bound on the metadata entry, so a forged header cannot make us buffer gigabytes.
/// At ~100 bytes per listed entry this still allows well over 100 000 files.
const MAX_META_BYTES: u64 = 16 * 1024 * 1024;
/// Longest accepted path inside the archive (the common `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;
/// Files may be hundreds of MB: stream them in chunks of this size.
const BUF_BYTES: usize = 256 * 1024;
const BLOCK: u64 = 512;

/// Where the content of an archive entry comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A file on disk, streamed (twice: once to checksum it, once to copy it).
    File(&'a Path),
    /// Bytes in memory.
    Bytes(&'a [u8]),
}

/// One file to put into an archive.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveEntry<'a> {
    /// Relative, `/`-separated path inside the archive.
    pub(crate) path: String,
    /// Its content.
    pub(crate) source: Source<'a>,
}

/// The metadata entry of an archive. Its JSON form adds `"format": "rro-snapshot"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "MetaWire", try_from = "MetaWire")]
pub(crate) struct SnapshotMeta {
    pub(crate) version: u32,
    pub(crate) created_unix_ms: u64,
    pub(crate) kind: String,
    pub(crate) entries: Vec<EntryMeta>,
    pub(crate) extra: serde_json::Value,
}

/// One listed entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EntryMeta {
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) crc32: u32,
}

// `SnapshotMeta` has no `format` field because it can only ever hold one value; this is the
// JSON shape, so that (de)serializing `SnapshotMeta` anywhere writes and checks it.
#[derive(Serialize, Deserialize)]
struct MetaWire {
    format: String,
    version: u32,
    created_unix_ms: u64,
    kind: String,
    entries: Vec<EntryMeta>,
    #[serde(default)]
    extra: serde_json::Value,
}

impl From<SnapshotMeta> for MetaWire {
    fn from(meta: SnapshotMeta) -> Self {
        MetaWire {
            format: FORMAT.to_owned(),
            version: meta.version,
            created_unix_ms: meta.created_unix_ms,
            kind: meta.kind,
            entries: meta.entries,
            extra: meta.extra,
        }
    }
}

impl TryFrom<MetaWire> for SnapshotMeta {
    type Error = String;

    fn try_from(wire: MetaWire) -> Result<Self, String> {
        if wire.format != FORMAT {
            return Err(format!(
                "format is {:?}, not {FORMAT:?}",
                show(&wire.format)
            ));
        }
        if wire.version != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not supported, this build reads version {FORMAT_VERSION}",
                wire.version
            ));
        }
        Ok(SnapshotMeta {
            version: wire.version,
            created_unix_ms: wire.created_unix_ms,
            kind: wire.kind,
            entries: wire.entries,
            extra: wire.extra,
        })
    }
}

/// Write the archive to `dest` atomically: write `dest` + ".tmp", fsync, rename over `dest`,
/// fsync the parent directory. Returns the metadata written.
///
/// Paths that break the rules of the format are refused with `BadRequest`, before anything is
/// written. A file that changes between its checksum pass and its copy pass fails the call.
pub(crate) fn write_archive(
    dest: &Path,
    kind: &str,
    extra: serde_json::Value,
    entries: &[ArchiveEntry<'_>],
) -> Result<SnapshotMeta, StorageError> {
    check_paths(entries.iter().map(|entry| entry.path.as_str()))
        .map_err(|reason| StorageError::BadRequest(format!("cannot archive: {reason}")))?;
    let tmp = tmp_path(dest)?;

    // The metadata must precede the files in the tar stream, so checksums come from a first pass.
    let mut listed = Vec::with_capacity(entries.len());
    for entry in entries {
        let (size, crc32) = match entry.source {
            Source::Bytes(bytes) => (bytes.len() as u64, crc32fast::hash(bytes)),
            Source::File(path) => checksum_file(path)?,
        };
        listed.push(EntryMeta {
            path: entry.path.clone(),
            size,
            crc32,
        });
    }
    let meta = SnapshotMeta {
        version: FORMAT_VERSION,
        created_unix_ms: now_unix_ms(),
        kind: kind.to_owned(),
        entries: listed,
        extra,
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(|err| {
        StorageError::BadRequest(format!("snapshot metadata cannot be encoded: {err}"))
    })?;
    if json.len() as u64 > MAX_META_BYTES {
        return Err(StorageError::BadRequest(format!(
            "snapshot metadata would take {} bytes, more than the {MAX_META_BYTES} readers accept",
            json.len()
        )));
    }

    let written = write_tmp(&tmp, &meta, &json, entries)
        .and_then(|()| fs::rename(&tmp, dest).map_err(|err| StorageError::io(dest, &err)));
    if let Err(err) = written {
        // Best effort: the error that matters is the one above, and a stale `.tmp` is
        // truncated by the next attempt anyway.
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    let parent = parent_dir(dest);
    sync_dir(parent)?;
    Ok(meta)
}

/// Read only the metadata (the first entry) of an archive, for listing.
pub(crate) fn read_meta(archive: &Path) -> Result<SnapshotMeta, StorageError> {
    let file = File::open(archive).map_err(|err| StorageError::io(archive, &err))?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    let mut entries = tar.entries().map_err(|err| read_error(archive, 0, &err))?;
    read_meta_entry(archive, &mut entries)
}

/// Extract `archive` into `dest_dir`, which must exist and be empty, checking every entry
/// against the metadata (same paths, sizes and checksums) and refusing unsafe paths and
/// anything but regular files and directories. Every extracted file and directory is fsynced.
///
/// On error, whatever was extracted so far stays in `dest_dir` for the caller to delete.
pub(crate) fn extract_archive(
    archive: &Path,
    dest_dir: &Path,
) -> Result<SnapshotMeta, StorageError> {
    ensure_empty_dir(dest_dir)?;
    let file = File::open(archive).map_err(|err| StorageError::io(archive, &err))?;
    let mut tar = tar::Archive::new(BufReader::with_capacity(BUF_BYTES, file));
    let mut entries = tar.entries().map_err(|err| read_error(archive, 0, &err))?;
    let meta = read_meta_entry(archive, &mut entries)?;

    let listed: HashMap<&str, &EntryMeta> = meta
        .entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry))
        .collect();
    let mut extracted: HashSet<String> = HashSet::with_capacity(listed.len());
    // A new file is durable only once the directory holding its name is synced too.
    let mut dirs_to_sync = BTreeSet::from([dest_dir.to_path_buf()]);
    let mut buf = vec![0u8; BUF_BYTES];
    // Where the next header should start: the best position to report when it cannot be read.
    let mut next_offset = 0u64;

    loop {
        let mut entry = match entries.next() {
            None => break,
            Some(Err(err)) => return Err(read_error(archive, next_offset, &err)),
            Some(Ok(entry)) => entry,
        };
        let header_pos = entry.raw_header_position();
        let data_pos = entry.raw_file_position();
        let size = entry.size();
        next_offset = data_pos.saturating_add(size.saturating_add(BLOCK - 1) & !(BLOCK - 1));
        let path_bytes = entry.path_bytes().into_owned();
        let path = String::from_utf8(path_bytes).map_err(|err| {
            StorageError::corrupted(
                archive,
                header_pos,
                format!(
                    "entry path {:?} is not UTF-8",
                    show(&String::from_utf8_lossy(err.as_bytes()))
                ),
            )
        })?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                // Tar tools write directory names with a trailing slash.
                let dir = path.strip_suffix('/').unwrap_or(&path);
                check_path(dir).map_err(|reason| {
                    StorageError::corrupted(archive, header_pos, format!("unsafe entry: {reason}"))
                })?;
                if let Some(file) = ancestors_and_self(dir).find(|p| listed.contains_key(p)) {
                    return Err(StorageError::corrupted(
                        archive,
                        header_pos,
                        format!(
                            "directory entry {:?} clashes with the listed file {:?}",
                            show(dir),
                            show(file)
                        ),
                    ));
                }
                let target = join_checked(dest_dir, dir);
                fs::create_dir_all(&target).map_err(|err| StorageError::io(&target, &err))?;
                dirs_to_sync.extend(ancestors_and_self(dir).map(|p| join_checked(dest_dir, p)));
            }
            tar::EntryType::Regular => {
                check_path(&path).map_err(|reason| {
                    StorageError::corrupted(archive, header_pos, format!("unsafe entry: {reason}"))
                })?;
                let Some(expected) = listed.get(path.as_str()) else {
                    return Err(StorageError::corrupted(
                        archive,
                        header_pos,
                        format!("entry {:?} is not listed in the metadata", show(&path)),
                    ));
                };
                if extracted.contains(&path) {
                    return Err(StorageError::corrupted(
                        archive,
                        header_pos,
                        format!("entry {:?} appears twice", show(&path)),
                    ));
                }
                if size != expected.size {
                    return Err(StorageError::corrupted(
                        archive,
                        header_pos,
                        format!(
                            "entry {:?} has {size} bytes, the metadata lists {}",
                            show(&path),
                            expected.size
                        ),
                    ));
                }
                let target = join_checked(dest_dir, &path);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|err| StorageError::io(parent, &err))?;
                }
                dirs_to_sync.extend(ancestors(&path).map(|p| join_checked(dest_dir, p)));
                let crc32 = copy_entry(archive, data_pos, &mut entry, &target, size, &mut buf)?;
                if crc32 != expected.crc32 {
                    return Err(StorageError::corrupted(
                        archive,
                        data_pos,
                        format!(
                            "entry {:?} fails its checksum (crc32 {crc32:#010x}, the metadata lists {:#010x})",
                            show(&path),
                            expected.crc32
                        ),
                    ));
                }
                extracted.insert(path);
            }
            other => {
                return Err(StorageError::corrupted(
                    archive,
                    header_pos,
                    format!(
                        "entry {:?} is of type {other:?}; only regular files and directories are allowed",
                        show(&path)
                    ),
                ));
            }
        }
    }

    if let Some(missing) = meta
        .entries
        .iter()
        .find(|entry| !extracted.contains(&entry.path))
    {
        return Err(StorageError::corrupted(
            archive,
            next_offset,
            format!(
                "entry {:?} is listed in the metadata but missing from the archive (truncated?)",
                show(&missing.path)
            ),
        ));
    }
    for dir in &dirs_to_sync {
        sync_dir(dir)?;
    }
    Ok(meta)
}

fn read_meta_entry<R: Read>(
    archive: &Path,
    entries: &mut tar::Entries<'_, R>,
) -> Result<SnapshotMeta, StorageError> {
    let entry = match entries.next() {
        None => {
            return Err(StorageError::corrupted(
                archive,
                0,
                format!("the archive is empty: no `{META_NAME}` entry, not an rro snapshot"),
            ))
        }
        Some(Err(err)) => return Err(read_error(archive, 0, &err)),
        Some(Ok(entry)) => entry,
    };
    let header_pos = entry.raw_header_position();
    let data_pos = entry.raw_file_position();
    let is_meta = entry.path_bytes().as_ref() == META_NAME.as_bytes()
        && entry.header().entry_type() == tar::EntryType::Regular;
    if !is_meta {
        return Err(StorageError::corrupted(
            archive,
            header_pos,
            // Not the entry's name: in a file that is not a tar archive at all, the "name" is
            // the file's first bytes, and an error must not echo what is in a file.
            format!("the first entry is not the regular file `{META_NAME}`: not an rro snapshot"),
        ));
    }
    let size = entry.size();
    if size > MAX_META_BYTES {
        return Err(StorageError::corrupted(
            archive,
            header_pos,
            format!("`{META_NAME}` claims {size} bytes, more than the {MAX_META_BYTES} allowed"),
        ));
    }
    let mut json = Vec::new();
    entry
        .take(MAX_META_BYTES)
        .read_to_end(&mut json)
        .map_err(|err| read_error(archive, data_pos, &err))?;
    if json.len() as u64 != size {
        return Err(StorageError::corrupted(
            archive,
            data_pos,
            format!(
                "`{META_NAME}` ends after {} of its {size} bytes: the archive is truncated",
                json.len()
            ),
        ));
    }
    parse_meta(archive, data_pos, &json)
}

fn parse_meta(archive: &Path, data_pos: u64, json: &[u8]) -> Result<SnapshotMeta, StorageError> {
    let bad = |reason: String| {
        StorageError::corrupted(archive, data_pos, format!("`{META_NAME}`: {reason}"))
    };
    // Looked at before the full parse so that a snapshot from a newer rro is reported as such,
    // not as whatever field this build fails to understand.
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|err| bad(format!("invalid JSON: {err}")))?;
    if value.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "no `\"format\": \"{FORMAT}\"`, not an rro snapshot"
        )));
    }
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(StorageError::BadRequest(format!(
                "snapshot `{}` has format version {version}, this build of rro reads only version {FORMAT_VERSION}",
                archive.display()
            )))
        }
        None => return Err(bad("no numeric `version`".to_owned())),
    }
    let meta: SnapshotMeta = serde_json::from_value(value).map_err(|err| bad(err.to_string()))?;
    check_paths(meta.entries.iter().map(|entry| entry.path.as_str())).map_err(bad)?;
    Ok(meta)
}

/// Stream `entry` into the new file `target`, returning the CRC-32 of what was copied.
fn copy_entry<R: Read>(
    archive: &Path,
    data_pos: u64,
    entry: &mut tar::Entry<'_, R>,
    target: &Path,
    size: u64,
    buf: &mut [u8],
) -> Result<u32, StorageError> {
    // `create_new`: never write through something that already exists (such as a file that
    // a case-insensitive file system considers the same as one extracted before).
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|err| StorageError::io(target, &err))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut copied = 0u64;
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_error(archive, data_pos.saturating_add(copied), &err)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        copied += chunk.len() as u64;
        out.write_all(chunk)
            .map_err(|err| StorageError::io(target, &err))?;
    }
    // The tar reader stops at the declared size but not short of it: a truncated archive
    // just ends early.
    if copied != size {
        return Err(StorageError::corrupted(
            archive,
            data_pos.saturating_add(copied),
            format!(
                "entry `{}` ends after {copied} of its {size} bytes: the archive is truncated",
                target.display()
            ),
        ));
    }
    out.sync_all()
        .map_err(|err| StorageError::io(target, &err))?;
    Ok(hasher.finalize())
}

fn write_tmp(
    tmp: &Path,
    meta: &SnapshotMeta,
    json: &[u8],
    entries: &[ArchiveEntry<'_>],
) -> Result<(), StorageError> {
    let tmp_err = |err: io::Error| StorageError::io(tmp, &err);
    let file = File::create(tmp).map_err(tmp_err)?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(BUF_BYTES, file));
    let mtime = meta.created_unix_ms / 1000;
    builder
        .append_data(&mut header(json.len() as u64, mtime), META_NAME, json)
        .map_err(tmp_err)?;
    for (entry, listed) in entries.iter().zip(&meta.entries) {
        let mut header = header(listed.size, mtime);
        match entry.source {
            Source::Bytes(bytes) => builder
                .append_data(&mut header, &entry.path, bytes)
                .map_err(tmp_err)?,
            Source::File(path) => {
                let file = File::open(path).map_err(|err| StorageError::io(path, &err))?;
                // `take`: the header already promises `size` bytes; a file that grew must not
                // push the rest of the archive out of place.
                let mut reader = HashingReader::new(file.take(listed.size));
                builder
                    .append_data(&mut header, &entry.path, &mut reader)
                    .map_err(|err| {
                        if reader.failed {
                            StorageError::io(path, &err)
                        } else {
                            tmp_err(err)
                        }
                    })?;
                if reader.count != listed.size || reader.hasher.finalize() != listed.crc32 {
                    let changed = io::Error::other("the file changed while it was being archived");
                    return Err(StorageError::io(path, &changed));
                }
            }
        }
    }
    let writer = builder.into_inner().map_err(tmp_err)?;
    let file = writer
        .into_inner()
        .map_err(|err| tmp_err(err.into_error()))?;
    file.sync_all().map_err(tmp_err)
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header
}

fn checksum_file(path: &Path) -> Result<(u64, u32), StorageError> {
    let file = File::open(path).map_err(|err| StorageError::io(path, &err))?;
    let mut reader = HashingReader::new(BufReader::with_capacity(BUF_BYTES, file));
    io::copy(&mut reader, &mut io::sink()).map_err(|err| StorageError::io(path, &err))?;
    Ok((reader.count, reader.hasher.finalize()))
}

/// Hashes and counts what passes through, and remembers whether reading failed, so that the
/// tar builder's single error can be blamed on the right file.
struct HashingReader<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    count: u64,
    failed: bool,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: crc32fast::Hasher::new(),
            count: 0,
            failed: false,
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                self.hasher.update(chunk);
                self.count += chunk.len() as u64;
                Ok(chunk.len())
            }
            Err(err) => {
                if err.kind() != io::ErrorKind::Interrupted {
                    self.failed = true;
                }
                Err(err)
            }
        }
    }
}

/// Why `path` may not be used inside an archive, if it may not.
fn check_path(path: &str) -> Result<(), String> {
    let reason = if path.is_empty() {
        "the path is empty"
    } else if path.len() > MAX_PATH_BYTES {
        "the path is longer than 4096 bytes"
    } else if path.starts_with('/') {
        "the path is absolute"
    } else if path.contains("..") {
        "the path contains `..`"
    } else if path.contains('\\') {
        "the path contains a backslash"
    } else if path.contains('\0') {
        "the path contains a NUL byte"
    } else if path == META_NAME {
        "the path is reserved for the metadata entry"
    } else if let Some(component) = path.split('/').find(|c| !is_plain_name(c)) {
        if component.is_empty() {
            "the path has an empty component"
        } else if component == "." {
            "the path has a `.` component"
        } else {
            "a component is not a plain file name on this platform"
        }
    } else {
        return Ok(());
    };
    Err(format!("{:?}: {reason}", show(path)))
}

// Beyond the textual rules, a component must be one normal component for the platform itself,
// which on Windows also rules out drive prefixes such as `C:`.
fn is_plain_name(component: &str) -> bool {
    let mut parts = Path::new(component).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(name)), None) if name == component
    )
}

/// `check_path` for each path, plus no duplicates and no path that is a directory of another.
fn check_paths<'p>(paths: impl IntoIterator<Item = &'p str>) -> Result<(), String> {
    let paths: Vec<&str> = paths.into_iter().collect();
    let mut seen = HashSet::with_capacity(paths.len());
    for path in &paths {
        check_path(path)?;
        if !seen.insert(*path) {
            return Err(format!("{:?} is listed twice", show(path)));
        }
    }
    for path in &paths {
        if let Some(dir) = ancestors(path).find(|dir| seen.contains(dir)) {
            return Err(format!(
                "{:?} is a file and also the directory of {:?}",
                show(dir),
                show(path)
            ));
        }
    }
    Ok(())
}

/// The proper ancestors of a checked path: `a`, `a/b` for `a/b/c`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').filter_map(|(i, _)| path.get(..i))
}

fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    ancestors(path).chain(std::iter::once(path))
}

/// `dest_dir` joined with the components of a path that passed `check_path`.
fn join_checked(dest_dir: &Path, path: &str) -> PathBuf {
    let mut joined = dest_dir.to_path_buf();
    joined.extend(path.split('/'));
    joined
}

fn ensure_empty_dir(dir: &Path) -> Result<(), StorageError> {
    let mut children = fs::read_dir(dir).map_err(|err| StorageError::io(dir, &err))?;
    match children.next() {
        None => Ok(()),
        Some(Ok(_)) => Err(StorageError::BadRequest(format!(
            "cannot extract a snapshot into `{}`: the directory is not empty",
            dir.display()
        ))),
        Some(Err(err)) => Err(StorageError::io(dir, &err)),
    }
}

/// A reading error of the tar layer: the OS failing is I/O, anything else is a malformed archive.
fn read_error(archive: &Path, offset: u64, err: &io::Error) -> StorageError {
    if err.raw_os_error().is_some() {
        StorageError::io(archive, err)
    } else {
        // The tar reader's own messages quote header fields (for a file that is not a tar
        // archive, its contents); say only what is wrong.
        let what = if err.to_string().contains("checksum") {
            "a header checksum mismatch"
        } else {
            "an unreadable header or entry"
        };
        StorageError::corrupted(archive, offset, format!("not a valid tar archive: {what}"))
    }
}

fn tmp_path(dest: &Path) -> Result<PathBuf, StorageError> {
    if dest.file_name().is_none() {
        return Err(StorageError::BadRequest(format!(
            "snapshot destination `{}` is not a file path",
            dest.display()
        )));
    }
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    Ok(PathBuf::from(tmp))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A path from an archive, fit for an error message: long forged paths are cut short.
fn show(text: &str) -> String {
    const MAX_CHARS: usize = 200;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tar::{EntryType, Header};

    fn is_corrupted(result: &Result<SnapshotMeta, StorageError>) -> bool {
        matches!(result, Err(StorageError::Corrupted { .. }))
    }

    /// Pseudo-random content, so that no stretch of one file shows up in another.
    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9e37_79b9) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect()
    }

    struct Fixture {
        dir: tempfile::TempDir,
        files: Vec<(String, Vec<u8>)>,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let files = vec![
                ("top.bin".to_owned(), pattern(700_000, 1)),
                ("segments/0/vectors.bin".to_owned(), pattern(4096, 2)),
                (
                    "segments/0/deep/er/payload.json".to_owned(),
                    b"{\"a\":1}".to_vec(),
                ),
                ("segments/1/empty".to_owned(), Vec::new()),
                (format!("long/{}/name.bin", "x".repeat(150)), pattern(10, 3)),
            ];
            let src = dir.path().join("src");
            for (path, bytes) in &files {
                let file = src.join(path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(file, bytes).unwrap();
            }
            Fixture { dir, files }
        }

        fn src(&self, path: &str) -> PathBuf {
            self.dir.path().join("src").join(path)
        }

        /// Archives the fixture's files plus `memory`, which comes last.
        fn write(&self, memory: &[u8]) -> (PathBuf, SnapshotMeta) {
            let sources: Vec<PathBuf> = self.files.iter().map(|(p, _)| self.src(p)).collect();
            let mut entries: Vec<ArchiveEntry<'_>> = self
                .files
                .iter()
                .zip(&sources)
                .map(|((path, _), source)| ArchiveEntry {
                    path: path.clone(),
                    source: Source::File(source),
                })
                .collect();
            entries.push(ArchiveEntry {
                path: "config.json".to_owned(),
                source: Source::Bytes(memory),
            });
            let dest = self.dir.path().join("snap.tar");
            let meta = write_archive(
                &dest,
                "collection",
                serde_json::json!({"collection": "docs"}),
                &entries,
            )
            .unwrap();
            (dest, meta)
        }

        fn empty_dir(&self, name: &str) -> PathBuf {
            let dir = self.dir.path().join(name);
            fs::create_dir(&dir).unwrap();
            dir
        }
    }

    #[test]
    fn round_trip_restores_identical_bytes() {
        let fixture = Fixture::new();
        // A multiple of the block size, so that the archive has no padding after it.
        let memory = pattern(3 * 512, 9);
        let (archive, meta) = fixture.write(&memory);

        assert_eq!(meta.version, 1);
        assert_eq!(meta.kind, "collection");
        assert_eq!(meta.extra, serde_json::json!({"collection": "docs"}));
        assert_eq!(meta.entries.len(), fixture.files.len() + 1);
        for (listed, (path, bytes)) in meta.entries.iter().zip(&fixture.files) {
            assert_eq!(&listed.path, path);
            assert_eq!(listed.size, bytes.len() as u64);
            assert_eq!(listed.crc32, crc32fast::hash(bytes));
        }
        assert!(!fixture.dir.path().join("snap.tar.tmp").exists());

        assert_eq!(read_meta(&archive).unwrap(), meta);

        let dest = fixture.empty_dir("restored");
        assert_eq!(extract_archive(&archive, &dest).unwrap(), meta);
        for (path, bytes) in &fixture.files {
            assert_eq!(&fs::read(dest.join(path)).unwrap(), bytes, "{path}");
        }
        assert_eq!(fs::read(dest.join("config.json")).unwrap(), memory);
    }

    #[test]
    fn archive_is_a_plain_tar_with_the_metadata_first() {
        let fixture = Fixture::new();
        let (archive, _) = fixture.write(b"{}");
        let mut tar = tar::Archive::new(File::open(&archive).unwrap());
        let mut names = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            names.push(entry.path().unwrap().to_str().unwrap().to_owned());
            if names.len() == 1 {
                let mut json = String::new();
                entry.read_to_string(&mut json).unwrap();
                let value: serde_json::Value = serde_json::from_str(&json).unwrap();
                assert_eq!(value["format"], "rro-snapshot");
                assert_eq!(value["version"], 1);
                assert_eq!(value["kind"], "collection");
            }
        }
        assert_eq!(names[0], META_NAME);
        assert_eq!(names.len(), fixture.files.len() + 2);
    }

    #[test]
    fn flipped_byte_in_file_data_is_corruption() {
        let fixture = Fixture::new();
        let (archive, _) = fixture.write(b"{}");
        let mut bytes = fs::read(&archive).unwrap();
        let needle = &fixture.files[1].1;
        let pos = bytes
            .windows(needle.len())
            .position(|window| window == needle.as_slice())
            .unwrap();
        bytes[pos + 100] ^= 0x01;
        fs::write(&archive, &bytes).unwrap();

        read_meta(&archive).unwrap();
        let dest = fixture.empty_dir("restored");
        match extract_archive(&archive, &dest) {
            Err(StorageError::Corrupted {
                path,
                offset,
                reason,
            }) => {
                assert_eq!(path, archive.display().to_string());
                assert_eq!(offset, pos as u64);
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("expected Corrupted, got {other:?}"),
        }
    }

    #[test]
    fn truncated_archive_is_an_error() {
        let fixture = Fixture::new();
        let memory = pattern(3 * 512, 9);
        let (archive, _) = fixture.write(&memory);
        let bytes = fs::read(&archive).unwrap();
        // The last 1024 bytes are the end-of-archive marker; cutting into it loses no data.
        let data_end = bytes.len() - 1024;
        let cut_archive = fixture.dir.path().join("cut.tar");
        let cuts = (0..data_end).step_by(4099).chain([
            1,
            511,
            512,
            513,
            1024,
            data_end - 1,
            data_end - 512,
        ]);
        for (i, cut) in cuts.enumerate() {
            fs::write(&cut_archive, &bytes[..cut]).unwrap();
            let _ = read_meta(&cut_archive);
            let dest = fixture.empty_dir(&format!("restored-{i}"));
            let result = extract_archive(&cut_archive, &dest);
            assert!(is_corrupted(&result), "cut at {cut}: {result:?}");
        }
        // Listing needs only the metadata entry, and notices when that is cut short.
        fs::write(&cut_archive, &bytes[..data_end - 512]).unwrap();
        assert!(read_meta(&cut_archive).is_ok());
        fs::write(&cut_archive, &bytes[..600]).unwrap();
        assert!(is_corrupted(&read_meta(&cut_archive)));
    }

    /// Name, type, data and link name of one hand-built entry.
    type RawEntry<'a> = (&'a [u8], EntryType, &'a [u8], &'a [u8]);

    /// Raw entries written with names and link names exactly as given, bypassing the checks of
    /// `tar::Builder::append_data`.
    fn hand_built(meta: Option<&SnapshotMeta>, raw: &[RawEntry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        if let Some(meta) = meta {
            let json = serde_json::to_vec(meta).unwrap();
            let mut header = header(json.len() as u64, 0);
            builder
                .append_data(&mut header, META_NAME, json.as_slice())
                .unwrap();
        }
        for (name, kind, data, link) in raw {
            let mut header = Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn meta_listing(entries: &[(&str, &[u8])]) -> SnapshotMeta {
        SnapshotMeta {
            version: 1,
            created_unix_ms: 0,
            kind: "collection".to_owned(),
            entries: entries
                .iter()
                .map(|(path, data)| EntryMeta {
                    path: (*path).to_owned(),
                    size: data.len() as u64,
                    crc32: crc32fast::hash(data),
                })
                .collect(),
            extra: serde_json::Value::Null,
        }
    }

    /// Extracts `tar` into `root/dest`, which must fail and leave nothing next to `dest`.
    fn assert_refused(tar: &[u8]) {
        let root = tempfile::tempdir().unwrap();
        let archive = root.path().join("a.tar");
        fs::write(&archive, tar).unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let result = extract_archive(&archive, &dest);
        assert!(is_corrupted(&result), "{result:?}");
        let mut siblings: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        siblings.sort();
        assert_eq!(siblings, ["a.tar", "dest"]);
    }

    #[test]
    fn unsafe_paths_and_links_are_refused() {
        let data: &[u8] = b"evil";
        let ok: &[u8] = b"fine";
        let legit = meta_listing(&[("ok.txt", ok)]);
        let ok_entry = (b"ok.txt".as_slice(), EntryType::Regular, ok, b"".as_slice());
        let root_abs = tempfile::tempdir().unwrap();
        let abs = root_abs.path().join("evil");
        let abs = abs.to_str().unwrap().as_bytes();

        for name in [
            b"../evil".as_slice(),
            b"a/../../evil",
            abs,
            b"./ok.txt",
            b"a\\b",
            b"a//b",
        ] {
            // Listed in the metadata: refused while reading the metadata.
            let path = std::str::from_utf8(name).unwrap();
            let listed = meta_listing(&[(path, data)]);
            assert_refused(&hand_built(
                Some(&listed),
                &[(name, EntryType::Regular, data, b"")],
            ));
            // Not listed: refused as an entry.
            assert_refused(&hand_built(
                Some(&legit),
                &[ok_entry, (name, EntryType::Regular, data, b"")],
            ));
        }
        assert!(!root_abs.path().join("evil").exists());

        let target = root_abs.path().join("target");
        for kind in [
            EntryType::Symlink,
            EntryType::Link,
            EntryType::Char,
            EntryType::Fifo,
        ] {
            assert_refused(&hand_built(
                Some(&meta_listing(&[("ok.txt", ok), ("link", b"")])),
                &[
                    ok_entry,
                    (b"link", kind, b"", target.to_str().unwrap().as_bytes()),
                ],
            ));
        }
    }

    #[test]
    fn directory_entries_are_created_under_dest() {
        let data: &[u8] = b"data";
        let meta = meta_listing(&[("d/file", data)]);
        let tar = hand_built(
            Some(&meta),
            &[
                (b"d/", EntryType::Directory, b"", b""),
                (b"empty/dir/", EntryType::Directory, b"", b""),
                (b"d/file", EntryType::Regular, data, b""),
            ],
        );
        let root = tempfile::tempdir().unwrap();
        let archive = root.path().join("a.tar");
        fs::write(&archive, tar).unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        assert_eq!(extract_archive(&archive, &dest).unwrap(), meta);
        assert!(dest.join("empty/dir").is_dir());
        assert_eq!(fs::read(dest.join("d/file")).unwrap(), data);

        // A directory where the metadata lists a file.
        assert_refused(&hand_built(
            Some(&meta),
            &[(b"d/file/", EntryType::Directory, b"", b"")],
        ));
    }

    #[test]
    fn missing_metadata_is_refused() {
        let data: &[u8] = b"data";
        assert_refused(&hand_built(
            None,
            &[(b"file", EntryType::Regular, data, b"")],
        ));
        assert_refused(&hand_built(None, &[]));

        let root = tempfile::tempdir().unwrap();
        let archive = root.path().join("a.tar");
        fs::write(
            &archive,
            hand_built(None, &[(b"file", EntryType::Regular, data, b"")]),
        )
        .unwrap();
        assert!(matches!(
            read_meta(&archive),
            Err(StorageError::Corrupted { .. })
        ));
        fs::write(&archive, b"not a tar archive at all").unwrap();
        assert!(matches!(
            read_meta(&archive),
            Err(StorageError::Corrupted { .. })
        ));
    }

    #[test]
    fn metadata_must_be_an_rro_snapshot_of_a_known_version() {
        let root = tempfile::tempdir().unwrap();
        let archive = root.path().join("a.tar");
        let write_json = |json: &[u8]| {
            let mut builder = tar::Builder::new(Vec::new());
            builder
                .append_data(&mut header(json.len() as u64, 0), META_NAME, json)
                .unwrap();
            fs::write(&archive, builder.into_inner().unwrap()).unwrap();
        };

        write_json(
            br#"{"format":"other","version":1,"created_unix_ms":0,"kind":"x","entries":[]}"#,
        );
        assert!(matches!(
            read_meta(&archive),
            Err(StorageError::Corrupted { .. })
        ));
        write_json(br#"{"format":"rro-snapshot","version":2,"anything":"new"}"#);
        assert!(matches!(
            read_meta(&archive),
            Err(StorageError::BadRequest(_))
        ));
        write_json(br#"{"format":"rro-snapshot","version":1,"created_unix_ms":0"#);
        assert!(matches!(
            read_meta(&archive),
            Err(StorageError::Corrupted { .. })
        ));
        write_json(
            br#"{"format":"rro-snapshot","version":1,"created_unix_ms":7,"kind":"x","entries":[]}"#,
        );
        let meta = read_meta(&archive).unwrap();
        assert_eq!(
            (meta.created_unix_ms, meta.extra),
            (7, serde_json::Value::Null)
        );
    }

    #[test]
    fn entries_must_match_the_metadata() {
        let data: &[u8] = b"data";
        let meta = meta_listing(&[("a", data)]);
        let a = (b"a".as_slice(), EntryType::Regular, data, b"".as_slice());
        // Not listed.
        assert_refused(&hand_built(
            Some(&meta),
            &[a, (b"b", EntryType::Regular, data, b"")],
        ));
        // Listed but missing.
        assert_refused(&hand_built(
            Some(&meta_listing(&[("a", data), ("b", data)])),
            &[a],
        ));
        // Twice.
        assert_refused(&hand_built(Some(&meta), &[a, a]));
        // Other size, same prefix.
        assert_refused(&hand_built(
            Some(&meta),
            &[(b"a", EntryType::Regular, b"data!", b"")],
        ));
        // Same size, other bytes.
        assert_refused(&hand_built(
            Some(&meta),
            &[(b"a", EntryType::Regular, b"dat4", b"")],
        ));
        // The metadata may not list a file under another file, twice, or itself.
        assert_refused(&hand_built(
            Some(&meta_listing(&[("a", data), ("a/b", data)])),
            &[],
        ));
        assert_refused(&hand_built(
            Some(&meta_listing(&[("a", data), ("a", data)])),
            &[],
        ));
        assert_refused(&hand_built(Some(&meta_listing(&[(META_NAME, data)])), &[]));
    }

    #[test]
    fn extract_needs_an_empty_existing_dir() {
        let fixture = Fixture::new();
        let (archive, _) = fixture.write(b"{}");
        let dest = fixture.empty_dir("restored");
        fs::write(dest.join("already"), b"here").unwrap();
        assert!(matches!(
            extract_archive(&archive, &dest),
            Err(StorageError::BadRequest(_))
        ));
        assert!(matches!(
            extract_archive(&archive, &fixture.dir.path().join("missing")),
            Err(StorageError::Io { .. })
        ));
    }

    #[test]
    fn write_refuses_bad_paths_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("snap.tar");
        let bytes: &[u8] = b"x";
        for bad in [
            vec!["../evil"],
            vec!["/abs"],
            vec!["a/./b"],
            vec!["a\\b"],
            vec!["a/"],
            vec![""],
            vec![META_NAME],
            vec!["same", "same"],
            vec!["dir", "dir/file"],
        ] {
            let entries: Vec<ArchiveEntry<'_>> = bad
                .iter()
                .map(|path| ArchiveEntry {
                    path: (*path).to_owned(),
                    source: Source::Bytes(bytes),
                })
                .collect();
            let result = write_archive(&dest, "full", serde_json::Value::Null, &entries);
            assert!(
                matches!(result, Err(StorageError::BadRequest(_))),
                "{bad:?}: {result:?}"
            );
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

        let missing = dir.path().join("missing");
        let result = write_archive(
            &dest,
            "full",
            serde_json::Value::Null,
            &[ArchiveEntry {
                path: "f".to_owned(),
                source: Source::File(&missing),
            }],
        );
        assert!(matches!(result, Err(StorageError::Io { .. })), "{result:?}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn write_replaces_an_existing_archive() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("snap.tar");
        fs::write(&dest, b"old").unwrap();
        let entries = [ArchiveEntry {
            path: "f".to_owned(),
            source: Source::Bytes(b"new"),
        }];
        let meta = write_archive(&dest, "full", serde_json::json!([1, 2]), &entries).unwrap();
        assert_eq!(read_meta(&dest).unwrap(), meta);
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        extract_archive(&dest, &out).unwrap();
        assert_eq!(fs::read(out.join("f")).unwrap(), b"new");
    }
}
