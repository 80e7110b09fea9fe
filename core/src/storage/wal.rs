//! The write-ahead log: every write is appended here before it is acknowledged, and replayed on
//! open to rebuild whatever the last checkpoint does not contain.
//!
//! ## Files
//!
//! A log is a directory of files named `<first_op>.wal`, `first_op` written as 20 zero-padded
//! decimal digits (`00000000000000000001.wal`), so that name order is op order. Any other name
//! (a temporary file, a stray copy) is ignored with a warning.
//!
//! Ops are `u64` operation numbers chosen by the caller, strictly increasing across the whole
//! log; gaps are allowed. A file's name is a promise about the files *before* it: every record
//! in an earlier file has an op below that name. This is what lets [`Wal::remove_up_to`] delete
//! files from their names alone: a file is wholly covered by op `x` when the next file's name
//! is at most `x + 1`. A record may have an op below the name of its own file (the caller
//! rotated to a number it then skipped), but never one at or above the next file's name.
//!
//! ## Format (version 1)
//!
//! A 16-byte file header:
//!
//! | bytes  | field      | meaning                      |
//! |--------|------------|------------------------------|
//! | 0..8   | `magic`    | `RROWAL\0\0`                 |
//! | 8..12  | `version`  | format version, u32 LE (1)   |
//! | 12..16 | `reserved` | u32 LE, 0                    |
//!
//! then records back to back, each a 20-byte header and its body:
//!
//! | bytes      | field        | meaning                                          |
//! |------------|--------------|--------------------------------------------------|
//! | 0..4       | `len`        | body length, u32 LE, at most 1 GiB (2^30)        |
//! | 4..12      | `op`         | operation number, u64 LE                         |
//! | 12..16     | `body_crc`   | CRC-32 (IEEE, as `crc32fast`) of the body, u32 LE |
//! | 16..20     | `header_crc` | CRC-32 of bytes 0..16 of this record, u32 LE     |
//! | 20..20+len | `body`       | opaque to the log                                |
//!
//! The record header has its own checksum so that a damaged `len` is caught before it is used:
//! a length is believed only once the header CRC matches, and even then only if the body fits
//! in what is left of the file, so a wild length never causes a large allocation. There is no
//! end marker and no record count: the end of the last file is the end of the log.
//!
//! ## Writing
//!
//! An append is a single `write` of header and body, with no buffering in this process.
//! Durability is the caller's policy: [`Wal::sync`] or a [`WalSync`] handle (`fdatasync`).
//! [`Wal::rotate`] syncs the current file before starting the next, and the next file's header
//! and directory entry are synced before any record goes into it. So only the *last* file can
//! ever end in a record that was never synced, and recovery relies on that.
//!
//! ## Recovery
//!
//! [`Wal::open`] reads the files in op order and checks every record. A record is bad if its
//! header is incomplete, the header CRC does not match, `len` exceeds 1 GiB, the body runs past
//! the end of the file, the body CRC does not match, or its op is not above the previous op
//! (or not below the next file's name).
//!
//! A bad record in the **last** file is a **torn tail** — an append interrupted by a crash, never
//! acknowledged as durable — when fewer than 20 bytes are left at it; or its header is valid and
//! the body runs past the end of the file; or its header is valid, the body CRC fails and the
//! record ends exactly at the end of the file; or every byte from it to the end of the file is
//! zero (filesystems may extend a file before its data reaches the disk). A last file whose
//! 16-byte header is cut short (a strict prefix of the expected bytes) or all zeros is a torn
//! tail at offset 0: a crash while rotating. A torn tail is cut off with a warning: the file is
//! truncated at the record (the file header rewritten if that was what was torn) and synced,
//! and [`WalReport::torn_tail`] says where. Under [`OnCorruption::ReadOnly`] open changes no
//! file; the cut is made just before the first write instead.
//!
//! Any other bad record is **damage**: one followed by more data, or one in a file other than
//! the last. It is described by [`StorageError::Corrupted`] with the file and offset, and
//! handled by [`OnCorruption`]: `Fail` fails the open and changes nothing; `ReadOnly` applies
//! the records before it, changes nothing and returns a log that refuses writes; `TruncateWal`
//! deletes the later files, truncates the damaged file at the bad record, warns, and opens
//! normally. A file whose header names another format version is an error under every policy:
//! cutting it off would destroy what a newer rro wrote.
//!
//! ## Durable mark
//!
//! The rules above cannot tell a crash from lost data: a log file deleted, or cut at a record
//! boundary or inside its last record, reads as a shorter log or a torn tail. So a
//! collection's log, opened with [`Wal::open_marked`], has a *durable mark* beside it
//! (`wal.mark`, format in `wal_mark.rs`): the highest op known to have been synced. It is
//! raised by [`WalSync::sync_and_mark`] after each successful sync (every acknowledged write
//! under `Durability::Fsync`, each interval under `Durability::Interval`), with a plain write
//! of 36 bytes and no sync of its own, and created (durably, by rename) at the first open.
//! Since it is only ever written after the records it names are on the disk, every version
//! of it that survives a kill or a power loss is true; a power loss can only leave it lower
//! than the log, which weakens detection, never calls a legal crash state damage.
//!
//! Such a log has consecutive ops (the collection never skips a number). Open then also calls
//! **damage** (handled by
//! [`OnCorruption`] like any other, named after the file and offset where records are missing):
//! - a mark that exists while the log directory is missing or holds no log file (the first
//!   log file is durable before the mark is created, and the current file is never deleted);
//! - an op above `after` that is not the previous one plus one, the first being `after + 1`
//!   (a log file deleted, a record of another log);
//! - a log whose last op (or `after`, if higher) is below the mark: a torn tail there is not a
//!   torn append but lost acknowledged records, and so is a clean end;
//! - a mark file with neither slot valid (it is created whole, so this is not a crash).
//!
//! What it guarantees: every write synced before the mark reached the disk is accounted for,
//! so after a clean shutdown or a kill every acknowledged write under `Fsync` (every synced one
//! under `Interval`) is either replayed or reported; after a power loss, those synced before the
//! OS wrote the mark back. Not detected: damage to the log *and* the mark together (deleting
//! both, a collection from before marks, which gets a mark at its first open), and loss of
//! records never synced, which no acknowledgement promised. `TruncateWal` lowers the mark to
//! what remains (synced), so the next open is clean; `ReadOnly` changes neither file.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::checked::sync_dir;
use super::wal_mark::{self, Found, WalMark, MARK_FILE};
use crate::config::OnCorruption;
use crate::error::StorageError;

const MAGIC: [u8; 8] = *b"RROWAL\0\0";
const VERSION: u32 = 1;
const FILE_HEADER_LEN: usize = 16;
const RECORD_HEADER_LEN: usize = 20;
/// Largest record body. Anything larger in a file is damage, not data.
pub(crate) const MAX_BODY_LEN: usize = 1 << 30;
const NAME_DIGITS: usize = 20;
const EXTENSION: &str = ".wal";

/// What [`Wal::open`] does with each replayed record: `apply(op, body)`.
pub(crate) type Apply<'a> = dyn FnMut(u64, &[u8]) -> Result<(), StorageError> + 'a;

/// What [`Wal::open`] found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalReport {
    /// Records with an op above `after`, passed to `apply`.
    pub(crate) records_replayed: u64,
    /// File and offset where a torn last record was cut off (or, under
    /// [`OnCorruption::ReadOnly`], will be cut off before the first write).
    pub(crate) torn_tail: Option<(PathBuf, u64)>,
    /// Damage skipped under [`OnCorruption::ReadOnly`] or [`OnCorruption::TruncateWal`]: the
    /// [`StorageError::Corrupted`] describing it.
    pub(crate) damage: Option<StorageError>,
    /// Highest op in the log, including ops at or below `after`.
    pub(crate) last_op: Option<u64>,
}

#[derive(Debug)]
struct LogFile {
    file: File,
    path: PathBuf,
}

/// Syncs the file that was current when the handle was taken, without the [`Wal`] itself, so
/// that a group commit can sync while other writers append. Every record appended before the
/// handle was taken is in that file or in an older one, which [`Wal::rotate`] synced already.
#[derive(Debug, Clone)]
pub(crate) struct WalSync {
    current: Option<Arc<LogFile>>,
    read_only: Arc<OnceLock<String>>,
    mark: Option<Arc<Mutex<WalMark>>>,
}

impl WalSync {
    /// `fdatasync` the file.
    // Only tests call it: the collection syncs through `sync_and_mark`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        sync_current(self.current.as_deref(), &self.read_only)
    }

    /// `fdatasync` the file, then raise the durable mark to `op`, which the caller took, like
    /// the handle, after every op up to it was appended. A mark that cannot be written only
    /// narrows what the next open can detect, so it is a warning, not a failed sync: the
    /// records are durable.
    pub(crate) fn sync_and_mark(&self, op: u64) -> Result<(), StorageError> {
        self.sync()?;
        if let Some(mark) = &self.mark {
            let mut mark = mark.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(error) = mark.record(op) {
                log::warn!("the write-ahead log's durable mark was not raised: {error}");
            }
        }
        Ok(())
    }
}

/// An open write-ahead log: its directory and the file appends go to.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    /// `None` only when damage made the log read-only: then no file is open for writing.
    current: Option<Arc<LogFile>>,
    current_first_op: u64,
    /// Where the next record goes in the current file.
    end: u64,
    /// A torn tail left in place because open was asked not to change files.
    pending_cut: Option<u64>,
    last_op: Option<u64>,
    after: u64,
    bytes_since_rotate: u64,
    /// Why writes are refused: damage found by open, or a failed write or sync after which the
    /// state of the file is unknown. Shared with [`WalSync`] handles so that they see it too.
    read_only: Arc<OnceLock<String>>,
    /// The durable mark, for logs opened with [`Wal::open_marked`] and writable.
    mark: Option<Arc<Mutex<WalMark>>>,
}

impl Wal {
    /// Open the log in `dir` (created if missing) and replay it: `apply(op, body)` is called
    /// for every valid record with an op above `after`, in op order. See the module
    /// documentation for what happens to a torn tail and to damage.
    // Only tests call it: collections open their logs with `open_marked`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn open(
        dir: &Path,
        after: u64,
        on_corruption: OnCorruption,
        apply: &mut Apply<'_>,
    ) -> Result<(Wal, WalReport), StorageError> {
        Wal::open_with(dir, None, after, on_corruption, apply)
    }

    /// [`Wal::open`] for a log whose ops are consecutive, with its durable mark at `mark`:
    /// also damage are a log that is missing, has a gap in its ops above `after`, or ends
    /// before the op the mark says was synced (module docs, "Durable mark"). Syncs through
    /// [`WalSync::sync_and_mark`] then raise the mark.
    pub(crate) fn open_marked(
        dir: &Path,
        mark: &Path,
        after: u64,
        on_corruption: OnCorruption,
        apply: &mut Apply<'_>,
    ) -> Result<(Wal, WalReport), StorageError> {
        Wal::open_with(dir, Some(mark), after, on_corruption, apply)
    }

    fn open_with(
        dir: &Path,
        mark_path: Option<&Path>,
        after: u64,
        on_corruption: OnCorruption,
        apply: &mut Apply<'_>,
    ) -> Result<(Wal, WalReport), StorageError> {
        let mut report = WalReport {
            records_replayed: 0,
            torn_tail: None,
            damage: None,
            last_op: None,
        };
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            current: None,
            current_first_op: 0,
            end: FILE_HEADER_LEN as u64,
            pending_cut: None,
            last_op: None,
            after,
            bytes_since_rotate: 0,
            read_only: Arc::new(OnceLock::new()),
            mark: None,
        };

        // The mark, and damage found before any record is read: a mark that cannot be read,
        // a log that is gone although the mark says it was created.
        let found_mark = mark_path.map(wal_mark::read).transpose()?;
        let mut early_damage = Vec::new();
        let durable_op = match &found_mark {
            Some(Found::Mark { durable_op }) => *durable_op,
            Some(Found::Damaged(error)) => {
                early_damage.push(error.clone());
                0
            }
            _ => 0,
        };
        let log_created = matches!(found_mark, Some(Found::Mark { .. } | Found::Damaged(_)));
        let files = match dir.is_dir() {
            true => list_files(dir, true)?,
            false => Vec::new(),
        };
        if log_created && files.is_empty() {
            early_damage.push(StorageError::corrupted(
                dir,
                0,
                format!(
                    "the write-ahead log is missing: no log files, though `{MARK_FILE}` says \
                     the log was created and ops up to {durable_op} were synced to it; every \
                     write after op {after} may be lost"
                ),
            ));
        }
        if let Some(first) = early_damage.first() {
            match on_corruption {
                OnCorruption::Fail => return Err(first.clone()),
                OnCorruption::ReadOnly if files.is_empty() => {
                    let _ = wal.read_only.set(first.to_string());
                    wal.current_first_op = after.saturating_add(1);
                    report.damage = Some(first.clone());
                    return Ok((wal, report));
                }
                // Read-only after the replay, below.
                OnCorruption::ReadOnly => {}
                OnCorruption::TruncateWal => {
                    for error in &early_damage {
                        log::warn!(
                            "{error}; on_corruption is TruncateWal, so the log goes on with \
                             what remains"
                        );
                    }
                }
            }
            report.damage = Some(first.clone());
        }

        create_dir(dir)?;
        if files.is_empty() {
            let first_op = after.saturating_add(1);
            wal.current = Some(Arc::new(create_file(dir, first_op)?));
            wal.current_first_op = first_op;
            wal.mark = finish_mark(mark_path, found_mark.as_ref(), after, after)?;
            return Ok((wal, report));
        }

        let mut replay = Replay {
            after,
            consecutive: mark_path.is_some(),
            expected: after.saturating_add(1),
            last_op: None,
            replayed: 0,
            apply,
        };
        let mut stop = None;
        let mut end = FILE_HEADER_LEN as u64;
        for (index, (_, path)) in files.iter().enumerate() {
            let is_last = index + 1 == files.len();
            let next_first_op = files.get(index + 1).map(|(first_op, _)| *first_op);
            // One read per file: files are bounded by the checkpoint size, and slicing the
            // buffer keeps replay free of per-record allocations.
            let data = fs::read(path).map_err(|e| StorageError::io(path, &e))?;
            match replay.file(&data, is_last, next_first_op)? {
                None => end = data.len() as u64,
                Some(bad) => {
                    stop = Some((index, bad));
                    break;
                }
            }
        }
        report.records_replayed = replay.replayed;
        report.last_op = replay.last_op;
        wal.last_op = replay.last_op;

        // Every op the log holds without a gap: a torn tail may only take ops above the mark.
        let reach = replay.expected.saturating_sub(1).max(after);
        if mark_path.is_some() && reach < durable_op {
            let lost = format!(
                "ops up to {durable_op} were synced to the log (`{MARK_FILE}`), but it ends at \
                 op {reach}: acknowledged writes are missing"
            );
            match &mut stop {
                Some((_, bad)) if bad.torn => {
                    bad.torn = false;
                    bad.reason = format!("{}; not a torn append: {lost}", bad.reason);
                }
                Some(_) => {}
                None => {
                    stop = Some((
                        files.len() - 1,
                        Bad {
                            offset: end,
                            reason: lost,
                            torn: false,
                            always_fail: false,
                        },
                    ));
                }
            }
        }

        let mut current_index = files.len() - 1;
        let mut cut_at = None;
        if let Some((index, bad)) = stop {
            let path = &files[index].1;
            if bad.torn {
                report.torn_tail = Some((path.clone(), bad.offset));
                if on_corruption == OnCorruption::ReadOnly {
                    log::warn!(
                        "write-ahead log `{}` ends in a torn record at byte {} ({}); left in \
                         place because on_corruption is ReadOnly, it is cut off before the \
                         next write",
                        path.display(),
                        bad.offset,
                        bad.reason
                    );
                    wal.pending_cut = Some(bad.offset);
                    // Nothing is written before the cut, which sets the real end.
                    end = bad.offset;
                } else {
                    log::warn!(
                        "write-ahead log `{}` ends in a torn record at byte {} ({}); cutting it \
                         off: it was never acknowledged as durable",
                        path.display(),
                        bad.offset,
                        bad.reason
                    );
                    cut_at = Some(bad.offset);
                }
            } else {
                let error = StorageError::corrupted(path, bad.offset, bad.reason);
                if bad.always_fail {
                    return Err(error);
                }
                match on_corruption {
                    OnCorruption::Fail => return Err(error),
                    OnCorruption::ReadOnly => {
                        // Nothing is opened for writing: the log must stay as it was found.
                        let _ = wal.read_only.set(error.to_string());
                        wal.current_first_op = files[index].0;
                        report.damage.get_or_insert(error);
                        return Ok((wal, report));
                    }
                    OnCorruption::TruncateWal => {
                        log::warn!(
                            "{error}; on_corruption is TruncateWal, so the log is cut there and \
                             every write logged after it is lost"
                        );
                        // Newest first, so that a crash part-way still leaves a prefix of the
                        // log and the damage in place to be found again.
                        for (_, later) in files[index + 1..].iter().rev() {
                            remove_file(later)?;
                        }
                        sync_dir(dir)?;
                        current_index = index;
                        cut_at = Some(bad.offset);
                        report.damage.get_or_insert(error);
                    }
                }
            }
        }
        if on_corruption == OnCorruption::ReadOnly {
            if let Some(damage) = &report.damage {
                // Damage found before the replay (the mark): the records are all applied, and
                // nothing is opened for writing.
                let _ = wal.read_only.set(damage.to_string());
                wal.current_first_op = files[current_index].0;
                return Ok((wal, report));
            }
        }

        let (first_op, path) = &files[current_index];
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| StorageError::io(path, &e))?;
        let current = LogFile {
            file,
            path: path.clone(),
        };
        wal.end = match cut_at {
            Some(at) => cut(&current, at)?,
            None => {
                (&current.file)
                    .seek(SeekFrom::Start(end))
                    .map_err(|e| StorageError::io(path, &e))?;
                end
            }
        };
        wal.current = Some(Arc::new(current));
        wal.current_first_op = *first_op;
        // Records already in the current file count: after a restart they still have to be
        // checkpointed before the file can go.
        wal.bytes_since_rotate = wal.end.saturating_sub(FILE_HEADER_LEN as u64);
        // After a cut under TruncateWal the log reaches less far than before the damage.
        let reach = match cut_at {
            Some(_) if report.damage.is_some() => wal.last_op.unwrap_or(0).max(after).min(reach),
            _ => reach,
        };
        wal.mark = finish_mark(mark_path, found_mark.as_ref(), after, reach)?;
        Ok((wal, report))
    }

    /// Append one record. It has reached the operating system (not necessarily the disk: see
    /// [`Wal::sync`]) when this returns. `op` must be above every op in the log and above
    /// `after`.
    pub(crate) fn append(&mut self, op: u64, body: &[u8]) -> Result<(), StorageError> {
        self.check_writable()?;
        let above_log = self.last_op.is_none_or(|last| op > last);
        debug_assert!(
            above_log && op > self.after,
            "wal op {op} does not follow {:?} (after {})",
            self.last_op,
            self.after
        );
        // Also refused in release builds: such a record would read back as damage.
        if !above_log || op <= self.after {
            return Err(StorageError::BadRequest(format!(
                "write-ahead log op {op} does not follow the last op {:?} (after {})",
                self.last_op, self.after
            )));
        }
        if body.len() > MAX_BODY_LEN {
            return Err(StorageError::BadRequest(format!(
                "write-ahead log record of {} bytes exceeds the {MAX_BODY_LEN}-byte limit",
                body.len()
            )));
        }
        self.apply_pending_cut()?;
        let current = self.current_file()?;

        let mut record = Vec::with_capacity(RECORD_HEADER_LEN + body.len());
        record.extend_from_slice(&encode_record_header(op, body));
        record.extend_from_slice(body);
        if let Err(error) = (&current.file).write_all(&record) {
            // A partial record left in place would turn the next append into damage.
            let undo = current
                .file
                .set_len(self.end)
                .and_then(|()| (&current.file).seek(SeekFrom::Start(self.end)));
            if let Err(undo_error) = undo {
                let _ = self.read_only.set(format!(
                    "a failed write to `{}` could not be undone ({undo_error}); the end of \
                     the log is unknown",
                    current.path.display()
                ));
            }
            return Err(StorageError::io(&current.path, &error));
        }
        self.end += record.len() as u64;
        self.bytes_since_rotate += record.len() as u64;
        self.last_op = Some(op);
        Ok(())
    }

    /// `fdatasync` the current file.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        sync_current(self.current.as_deref(), &self.read_only)
    }

    /// A handle that syncs the current file without borrowing the log.
    pub(crate) fn sync_handle(&self) -> WalSync {
        WalSync {
            current: self.current.clone(),
            read_only: Arc::clone(&self.read_only),
            mark: self.mark.clone(),
        }
    }

    /// Sync the current file, then continue in a new file named `next_op`, whose header and
    /// directory entry are synced first. `next_op` must be above every op in the log and above
    /// the current file's name.
    pub(crate) fn rotate(&mut self, next_op: u64) -> Result<(), StorageError> {
        self.check_writable()?;
        let valid = next_op > self.current_first_op && self.last_op.is_none_or(|l| next_op > l);
        debug_assert!(
            valid,
            "wal rotate to {next_op} after file {} and op {:?}",
            self.current_first_op, self.last_op
        );
        if !valid {
            return Err(StorageError::BadRequest(format!(
                "write-ahead log cannot rotate to op {next_op}: the current file starts at {} \
                 and the last op is {:?}",
                self.current_first_op, self.last_op
            )));
        }
        // A torn tail must not end up in a file that is no longer the last one: there it would
        // read as damage.
        self.apply_pending_cut()?;
        self.sync()?;
        let next = create_file(&self.dir, next_op)?;
        self.current = Some(Arc::new(next));
        self.current_first_op = next_op;
        self.end = FILE_HEADER_LEN as u64;
        self.bytes_since_rotate = 0;
        Ok(())
    }

    /// Delete every file whose records all have ops at or below `op`, judged by the next
    /// file's name. The current file is never deleted.
    pub(crate) fn remove_up_to(&mut self, op: u64) -> Result<(), StorageError> {
        self.check_writable()?;
        let current = self.current_file()?.path.clone();
        let files = list_files(&self.dir, false)?;
        let mut removed = false;
        for pair in files.windows(2) {
            let [(_, path), (next_first_op, _)] = pair else {
                continue;
            };
            if *next_first_op > op.saturating_add(1) || *path == current {
                break;
            }
            remove_file(path)?;
            removed = true;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Bytes of records in the current file (appended since the last rotate, or found at open).
    pub(crate) fn bytes_since_rotate(&self) -> u64 {
        self.bytes_since_rotate
    }

    /// Whether writes are refused: damage under [`OnCorruption::ReadOnly`], or a write or sync
    /// that failed in a way that leaves the file's state unknown.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only.get().is_some()
    }

    /// The log files, oldest first.
    // Only tests call it until snapshots copy the log.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn files(&self) -> Result<Vec<PathBuf>, StorageError> {
        Ok(list_files(&self.dir, false)?
            .into_iter()
            .map(|(_, path)| path)
            .collect())
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        match self.read_only.get() {
            Some(reason) => Err(StorageError::ReadOnly {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn current_file(&self) -> Result<&LogFile, StorageError> {
        self.current
            .as_deref()
            .ok_or_else(|| StorageError::ReadOnly {
                reason: "the write-ahead log has no file open for writing".to_owned(),
            })
    }

    fn apply_pending_cut(&mut self) -> Result<(), StorageError> {
        if let Some(at) = self.pending_cut {
            self.end = cut(self.current_file()?, at)?;
            self.pending_cut = None;
        }
        Ok(())
    }
}

/// Replay state carried from file to file.
struct Replay<'a> {
    after: u64,
    /// Whether ops above `after` must be consecutive (a log opened with [`Wal::open_marked`]).
    consecutive: bool,
    /// The op the next record above `after` must have when `consecutive`.
    expected: u64,
    last_op: Option<u64>,
    replayed: u64,
    apply: &'a mut Apply<'a>,
}

/// The first bad spot of a file.
struct Bad {
    offset: u64,
    reason: String,
    torn: bool,
    /// Not ours to cut or skip, whatever the policy says.
    always_fail: bool,
}

impl Replay<'_> {
    /// Check and apply every record of one file; the first bad spot, if any.
    fn file(
        &mut self,
        data: &[u8],
        is_last: bool,
        next_first_op: Option<u64>,
    ) -> Result<Option<Bad>, StorageError> {
        if let Some(bad) = check_file_header(data, is_last) {
            return Ok(Some(bad));
        }
        let mut pos = FILE_HEADER_LEN;
        while let Some(rest) = data.get(pos..).filter(|rest| !rest.is_empty()) {
            let record = parse_record(rest).and_then(|(op, body)| {
                if let Some(last) = self.last_op.filter(|&last| op <= last) {
                    return Err((format!("op {op} does not follow op {last}"), false));
                }
                if let Some(next) = next_first_op.filter(|&next| op >= next) {
                    return Err((
                        format!("op {op} is not below {next}, the first op of the next file"),
                        false,
                    ));
                }
                if self.consecutive && op > self.after && op != self.expected {
                    return Err((
                        format!(
                            "op {op} follows op {}: ops {} to {} are missing from the log",
                            self.expected - 1,
                            self.expected,
                            op - 1
                        ),
                        false,
                    ));
                }
                Ok((op, body))
            });
            match record {
                Ok((op, body)) => {
                    if op > self.after {
                        (self.apply)(op, body)?;
                        self.replayed += 1;
                        self.expected = op.saturating_add(1);
                    }
                    self.last_op = Some(op);
                    pos += RECORD_HEADER_LEN + body.len();
                }
                Err((reason, torn_shape)) => {
                    return Ok(Some(Bad {
                        offset: pos as u64,
                        reason,
                        torn: is_last && (torn_shape || rest.iter().all(|&b| b == 0)),
                        always_fail: false,
                    }));
                }
            }
        }
        Ok(None)
    }
}

fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut header = [0; FILE_HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header
}

fn check_file_header(data: &[u8], is_last: bool) -> Option<Bad> {
    let expected = file_header();
    let Some(header) = data.first_chunk::<FILE_HEADER_LEN>() else {
        let torn = is_last && (expected.starts_with(data) || data.iter().all(|&b| b == 0));
        return Some(Bad {
            offset: 0,
            reason: format!(
                "file header is incomplete: {} of {FILE_HEADER_LEN} bytes",
                data.len()
            ),
            torn,
            always_fail: false,
        });
    };
    if *header == expected {
        return None;
    }
    let [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3, ..] = *header;
    let version = u32::from_le_bytes([v0, v1, v2, v3]);
    let (reason, always_fail) = if [m0, m1, m2, m3, m4, m5, m6, m7] != MAGIC {
        ("not a write-ahead log file (wrong magic)".to_owned(), false)
    } else if version > VERSION {
        (
            format!("write-ahead log format version {version}; this build reads only {VERSION}"),
            true,
        )
    } else if version != VERSION {
        (
            format!("unknown write-ahead log format version {version}"),
            false,
        )
    } else {
        ("reserved file header field is not zero".to_owned(), false)
    };
    Some(Bad {
        offset: 0,
        reason,
        torn: is_last && !always_fail && data.iter().all(|&b| b == 0),
        always_fail,
    })
}

fn encode_record_header(op: u64, body: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    let mut header = [0; RECORD_HEADER_LEN];
    // Bodies are checked against MAX_BODY_LEN (< 4 GiB) before they get here.
    header[0..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
    header[4..12].copy_from_slice(&op.to_le_bytes());
    header[12..16].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
    let header_crc = crc32fast::hash(&header[..16]);
    header[16..20].copy_from_slice(&header_crc.to_le_bytes());
    header
}

/// The record at the start of `rest`, or why it is bad and whether its shape is that of an
/// interrupted append.
fn parse_record(rest: &[u8]) -> Result<(u64, &[u8]), (String, bool)> {
    let Some(header) = rest.first_chunk::<RECORD_HEADER_LEN>() else {
        return Err((
            format!(
                "record header is incomplete: {} of {RECORD_HEADER_LEN} bytes",
                rest.len()
            ),
            true,
        ));
    };
    let [l0, l1, l2, l3, o0, o1, o2, o3, o4, o5, o6, o7, b0, b1, b2, b3, h0, h1, h2, h3] = *header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    let op = u64::from_le_bytes([o0, o1, o2, o3, o4, o5, o6, o7]);
    let body_crc = u32::from_le_bytes([b0, b1, b2, b3]);
    let header_crc = u32::from_le_bytes([h0, h1, h2, h3]);
    if crc32fast::hash(&header[..16]) != header_crc {
        return Err(("record header checksum mismatch".to_owned(), false));
    }
    if len > MAX_BODY_LEN {
        return Err((
            format!("record length {len} exceeds the {MAX_BODY_LEN}-byte limit"),
            false,
        ));
    }
    let available = rest.len() - RECORD_HEADER_LEN;
    let Some(body) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
        return Err((
            format!("record body of {len} bytes runs past the end of the file ({available} left)"),
            true,
        ));
    };
    if crc32fast::hash(body) != body_crc {
        return Err((
            format!("record body checksum mismatch (op {op})"),
            len == available,
        ));
    }
    Ok((op, body))
}

fn file_name(first_op: u64) -> String {
    format!("{first_op:0width$}{EXTENSION}", width = NAME_DIGITS)
}

fn parse_file_name(name: &OsStr) -> Option<u64> {
    let digits = name.to_str()?.strip_suffix(EXTENSION)?;
    // Only the canonical spelling: `1.wal` beside `00000000000000000001.wal` would be two
    // files claiming the same place in the log.
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The log files of `dir` with their first ops, oldest first.
fn list_files(dir: &Path, warn: bool) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let io = |e: std::io::Error| StorageError::io(dir, &e);
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(io)?.is_dir();
        match parse_file_name(&entry.file_name()) {
            Some(first_op) if !is_dir => files.push((first_op, path)),
            _ if warn => log::warn!(
                "ignoring `{}` in the write-ahead log directory: not a log file",
                path.display()
            ),
            _ => {}
        }
    }
    files.sort_unstable_by_key(|(first_op, _)| *first_op);
    Ok(files)
}

fn create_dir(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, &e))?;
    // The directory's own entry must survive a crash, or so would none of the log.
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Create log file `first_op` in `dir` with its header, both durable. On failure the new file
/// is removed again, so that a later attempt can create it.
fn create_file(dir: &Path, first_op: u64) -> Result<LogFile, StorageError> {
    let path = dir.join(file_name(first_op));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, &e))?;
    let written = (&file)
        .write_all(&file_header())
        .and_then(|()| file.sync_data())
        .map_err(|e| StorageError::io(&path, &e))
        .and_then(|()| sync_dir(dir));
    if let Err(error) = written {
        drop(file);
        let _ = fs::remove_file(&path);
        return Err(error);
    }
    Ok(LogFile { file, path })
}

/// The mark a writable log opened with [`Wal::open_marked`] keeps raising: the one found
/// (lowered to `reach` if damage was cut off), or a new one claiming only `after` (which the
/// manifest holds) when there was none or it was damaged.
fn finish_mark(
    path: Option<&Path>,
    found: Option<&Found>,
    after: u64,
    reach: u64,
) -> Result<Option<Arc<Mutex<WalMark>>>, StorageError> {
    let (Some(path), Some(found)) = (path, found) else {
        return Ok(None);
    };
    let mark = match found {
        Found::Mark { durable_op } => {
            let mut mark = WalMark::open(path, *durable_op)?;
            if reach < mark.durable_op() {
                mark.reset(reach)?;
            }
            mark
        }
        Found::Absent | Found::Damaged(_) => WalMark::create(path, after)?,
    };
    Ok(Some(Arc::new(Mutex::new(mark))))
}

/// Truncate `log` at `at` and sync it, leaving the cursor at the new end, which is returned.
/// A cut inside the file header leaves a fresh header, so that the file can take appends.
fn cut(log: &LogFile, at: u64) -> Result<u64, StorageError> {
    let mut file = &log.file;
    let result = if at < FILE_HEADER_LEN as u64 {
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&file_header()))
            .map(|()| FILE_HEADER_LEN as u64)
    } else {
        file.set_len(at).map(|()| at)
    };
    let end = result
        .and_then(|end| file.sync_data().map(|()| end))
        .and_then(|end| file.seek(SeekFrom::Start(end)))
        .map_err(|e| StorageError::io(&log.path, &e))?;
    Ok(end)
}

fn sync_current(
    current: Option<&LogFile>,
    read_only: &OnceLock<String>,
) -> Result<(), StorageError> {
    // Read-only after damage: nothing was written, so nothing needs syncing.
    let Some(current) = current else {
        return Ok(());
    };
    if let Some(reason) = read_only.get() {
        return Err(StorageError::ReadOnly {
            reason: reason.clone(),
        });
    }
    current.file.sync_data().map_err(|error| {
        // After a failed fsync the kernel may have dropped the dirty pages and a retry can
        // succeed without writing them: nothing appended since the last good sync may be
        // called durable again.
        let _ = read_only.set(format!(
            "syncing `{}` failed ({error}); writes since the last successful sync may be lost",
            current.path.display()
        ));
        StorageError::io(&current.path, &error)
    })
}

fn remove_file(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::io(path, &e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Records = Vec<(u64, Vec<u8>)>;

    fn open(
        dir: &Path,
        after: u64,
        on_corruption: OnCorruption,
    ) -> Result<(Wal, WalReport, Records), StorageError> {
        let mut seen = Vec::new();
        let (wal, report) = Wal::open(dir, after, on_corruption, &mut |op, body| {
            seen.push((op, body.to_vec()));
            Ok(())
        })?;
        Ok((wal, report, seen))
    }

    fn body(op: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| (op as usize * 31 + i) as u8).collect()
    }

    /// One file with `records`; returns its path and each record's start offset.
    fn write_log(dir: &Path, records: &Records) -> (PathBuf, Vec<u64>) {
        let (mut wal, _, _) = open(dir, 0, OnCorruption::Fail).unwrap();
        let mut starts = Vec::new();
        for (op, body) in records {
            starts.push(fs::metadata(&wal.files().unwrap()[0]).unwrap().len());
            wal.append(*op, body).unwrap();
        }
        wal.sync().unwrap();
        (wal.files().unwrap().remove(0), starts)
    }

    fn three_records() -> Records {
        vec![(1, body(1, 10)), (2, body(2, 25)), (3, body(3, 40))]
    }

    fn corrupted_at(error: &StorageError) -> (String, u64) {
        match error {
            StorageError::Corrupted { path, offset, .. } => (path.clone(), *offset),
            other => panic!("expected Corrupted, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_across_rotate_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut written = Records::new();
        {
            let (mut wal, report, seen) = open(&dir, 0, OnCorruption::Fail).unwrap();
            assert!(seen.is_empty());
            assert_eq!(report.last_op, None);
            for op in [1, 2, 5] {
                wal.append(op, &body(op, op as usize * 7)).unwrap();
                written.push((op, body(op, op as usize * 7)));
            }
            assert_eq!(wal.bytes_since_rotate(), 3 * 20 + 7 + 14 + 35);
            wal.rotate(6).unwrap();
            assert_eq!(wal.bytes_since_rotate(), 0);
            wal.append(6, b"").unwrap();
            written.push((6, Vec::new()));
            wal.append(9, &body(9, 1000)).unwrap();
            written.push((9, body(9, 1000)));
            wal.sync_handle().sync().unwrap();
            let names: Vec<_> = wal
                .files()
                .unwrap()
                .iter()
                .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                names,
                ["00000000000000000001.wal", "00000000000000000006.wal"]
            );
        }
        let (mut wal, report, seen) = open(&dir, 0, OnCorruption::Fail).unwrap();
        assert_eq!(seen, written);
        assert_eq!(report.records_replayed, 5);
        assert_eq!(report.last_op, Some(9));
        assert_eq!(report.torn_tail, None);
        assert_eq!(report.damage, None);
        wal.append(10, b"ten").unwrap();
        drop(wal);
        written.push((10, b"ten".to_vec()));

        let (_, report, seen) = open(&dir, 5, OnCorruption::Fail).unwrap();
        assert_eq!(seen, written[3..]);
        assert_eq!(report.records_replayed, 3);
        assert_eq!(report.last_op, Some(10));

        let (mut wal, report, seen) = open(&dir, 10, OnCorruption::Fail).unwrap();
        assert!(seen.is_empty());
        assert_eq!(report.last_op, Some(10));
        assert!(!wal.is_read_only());
        wal.append(11, b"eleven").unwrap();
    }

    #[test]
    fn empty_directory_starts_after_the_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = open(tmp.path(), 41, OnCorruption::Fail).unwrap();
        let files = wal.files().unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].ends_with("00000000000000000042.wal"));
        assert_eq!(fs::read(&files[0]).unwrap(), file_header());
        wal.append(42, b"x").unwrap();
        drop(wal);
        let (_, report, seen) = open(tmp.path(), 41, OnCorruption::Fail).unwrap();
        assert_eq!(seen, [(42, b"x".to_vec())]);
        assert_eq!(report.last_op, Some(42));
    }

    #[test]
    fn foreign_names_are_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, starts) = write_log(tmp.path(), &three_records());
        assert_eq!(starts.len(), 3);
        fs::write(tmp.path().join("00000000000000000099.wal.tmp"), b"junk").unwrap();
        fs::write(tmp.path().join("99.wal"), b"junk").unwrap();
        fs::create_dir(tmp.path().join("00000000000000000100.wal")).unwrap();
        let (wal, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        assert_eq!(seen, three_records());
        assert_eq!(report.damage, None);
        assert_eq!(wal.files().unwrap().len(), 1);
    }

    #[test]
    fn remove_up_to_deletes_exactly_the_covered_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        wal.append(1, b"a").unwrap();
        wal.append(2, b"b").unwrap();
        wal.rotate(3).unwrap();
        wal.append(3, b"c").unwrap();
        wal.append(4, b"d").unwrap();
        wal.rotate(5).unwrap();
        wal.append(5, b"e").unwrap();
        wal.rotate(7).unwrap();
        assert_eq!(wal.files().unwrap().len(), 4);

        wal.remove_up_to(0).unwrap();
        wal.remove_up_to(1).unwrap();
        assert_eq!(wal.files().unwrap().len(), 4, "op 2 is still needed");
        wal.remove_up_to(3).unwrap();
        let files = wal.files().unwrap();
        assert_eq!(files.len(), 3);
        assert!(files[0].ends_with("00000000000000000003.wal"));
        wal.remove_up_to(5).unwrap();
        let files = wal.files().unwrap();
        assert_eq!(files.len(), 2, "file 5 could hold op 6");
        assert!(files[0].ends_with("00000000000000000005.wal"));
        wal.remove_up_to(6).unwrap();
        wal.remove_up_to(u64::MAX).unwrap();
        let files = wal.files().unwrap();
        assert_eq!(files.len(), 1, "the current file is never deleted");
        assert!(files[0].ends_with("00000000000000000007.wal"));
        wal.append(7, b"g").unwrap();
        drop(wal);
        let (_, report, seen) = open(tmp.path(), 5, OnCorruption::Fail).unwrap();
        assert_eq!(seen, [(7, b"g".to_vec())]);
        assert_eq!(report.last_op, Some(7));
    }

    #[test]
    fn torn_tail_at_every_offset_of_the_last_record() {
        let records = three_records();
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts) = write_log(tmp.path(), &records);
        let original = fs::read(&path).unwrap();
        let last = starts[2];
        for on_corruption in [OnCorruption::Fail, OnCorruption::ReadOnly] {
            for cut in last..original.len() as u64 {
                fs::write(&path, &original[..cut as usize]).unwrap();
                let (mut wal, report, seen) = open(tmp.path(), 0, on_corruption).unwrap();
                assert_eq!(seen, records[..2], "cut at {cut}");
                // A cut exactly between records leaves a clean log.
                let torn = (cut > last).then(|| (path.clone(), last));
                assert_eq!(report.torn_tail, torn);
                assert_eq!(report.damage, None);
                assert_eq!(report.last_op, Some(2));
                assert!(!wal.is_read_only());
                let expected_len = match on_corruption {
                    OnCorruption::ReadOnly => cut,
                    _ => last,
                };
                assert_eq!(fs::metadata(&path).unwrap().len(), expected_len);

                wal.append(7, b"after the crash").unwrap();
                drop(wal);
                let (_, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
                assert_eq!(seen[..2], records[..2]);
                assert_eq!(
                    seen[2..],
                    [(7, b"after the crash".to_vec())],
                    "cut at {cut}"
                );
                assert_eq!(report.torn_tail, None);
            }
        }
    }

    #[test]
    fn zeroed_tail_is_torn() {
        let records = three_records();
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts) = write_log(tmp.path(), &records);
        let original = fs::read(&path).unwrap();

        // Zeros after the last record, as after a crash that extended the file.
        let mut bytes = original.clone();
        bytes.extend_from_slice(&[0; 4096]);
        fs::write(&path, &bytes).unwrap();
        let (_, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        assert_eq!(seen, records);
        assert_eq!(
            report.torn_tail,
            Some((path.clone(), original.len() as u64))
        );
        assert_eq!(fs::read(&path).unwrap(), original);

        // The last record's bytes never reached the disk.
        let mut bytes = original.clone();
        bytes[starts[2] as usize..].fill(0);
        fs::write(&path, &bytes).unwrap();
        let (_, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        assert_eq!(seen, records[..2]);
        assert_eq!(report.torn_tail, Some((path.clone(), starts[2])));
        assert_eq!(fs::metadata(&path).unwrap().len(), starts[2]);
    }

    #[test]
    fn torn_file_header_of_the_last_file_is_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        wal.append(1, b"one").unwrap();
        wal.rotate(2).unwrap();
        let second = wal.files().unwrap()[1].clone();
        drop(wal);
        for torn in [
            &file_header()[..0],
            &file_header()[..7],
            &[0u8; 16][..],
            &[0u8; 30][..],
        ] {
            fs::write(&second, torn).unwrap();
            let (mut wal, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
            assert_eq!(seen, [(1, b"one".to_vec())]);
            assert_eq!(report.torn_tail, Some((second.clone(), 0)));
            assert_eq!(fs::read(&second).unwrap(), file_header());
            wal.append(2, b"two").unwrap();
            drop(wal);
            let (_, _, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
            assert_eq!(seen.len(), 2);
        }
    }

    /// Three records, a byte of the middle one's body flipped.
    fn flipped_middle(dir: &Path) -> (PathBuf, Vec<u64>, Vec<u8>) {
        let (path, starts) = write_log(dir, &three_records());
        let mut bytes = fs::read(&path).unwrap();
        bytes[starts[1] as usize + RECORD_HEADER_LEN + 5] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        (path, starts, bytes)
    }

    #[test]
    fn damage_fails_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts, bytes) = flipped_middle(tmp.path());
        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (path.display().to_string(), starts[1])
        );
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn damage_under_read_only_keeps_the_prefix_and_refuses_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts, bytes) = flipped_middle(tmp.path());
        let (mut wal, report, seen) = open(tmp.path(), 0, OnCorruption::ReadOnly).unwrap();
        assert_eq!(seen, three_records()[..1]);
        assert_eq!(report.records_replayed, 1);
        assert_eq!(report.last_op, Some(1));
        let damage = report.damage.unwrap();
        assert_eq!(
            corrupted_at(&damage),
            (path.display().to_string(), starts[1])
        );
        assert!(wal.is_read_only());
        let refused = StorageError::ReadOnly {
            reason: damage.to_string(),
        };
        assert_eq!(wal.append(9, b"no"), Err(refused.clone()));
        assert_eq!(wal.rotate(9), Err(refused.clone()));
        assert_eq!(wal.remove_up_to(9), Err(refused));
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn damage_under_truncate_wal_cuts_the_log_there() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts, _) = flipped_middle(tmp.path());
        let (mut wal, report, seen) = open(tmp.path(), 0, OnCorruption::TruncateWal).unwrap();
        assert_eq!(seen, three_records()[..1]);
        assert_eq!(report.last_op, Some(1));
        let damage = report.damage.unwrap();
        assert_eq!(
            corrupted_at(&damage),
            (path.display().to_string(), starts[1])
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), starts[1]);
        assert!(!wal.is_read_only());
        wal.append(4, b"new").unwrap();
        drop(wal);
        let (_, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        assert_eq!(seen, [three_records()[0].clone(), (4, b"new".to_vec())]);
        assert_eq!(report.damage, None);
    }

    #[test]
    fn damage_at_the_end_of_a_file_that_is_not_the_last() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
        wal.append(1, b"one").unwrap();
        wal.append(2, b"two").unwrap();
        wal.rotate(3).unwrap();
        wal.append(3, b"three").unwrap();
        let files = wal.files().unwrap();
        drop(wal);
        let first_len = fs::metadata(&files[0]).unwrap().len();
        let second_start = first_len - (RECORD_HEADER_LEN as u64 + 3);
        // Shaped like a torn append, but a later file exists, so it was synced once.
        fs::write(
            &files[0],
            &fs::read(&files[0]).unwrap()[..first_len as usize - 1],
        )
        .unwrap();

        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (files[0].display().to_string(), second_start)
        );

        let (wal, report, seen) = open(tmp.path(), 0, OnCorruption::TruncateWal).unwrap();
        assert_eq!(seen, [(1, b"one".to_vec())]);
        assert!(report.damage.is_some());
        assert_eq!(wal.files().unwrap(), files[..1]);
        assert_eq!(fs::metadata(&files[0]).unwrap().len(), second_start);
    }

    #[test]
    fn huge_length_field_is_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts) = write_log(tmp.path(), &three_records());
        let original = fs::read(&path).unwrap();
        let at = starts[1] as usize;

        // A length that still passes the header checksum: a bug, not a torn write.
        let mut bytes = original.clone();
        let mut header = encode_record_header(2, b"");
        header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let header_crc = crc32fast::hash(&header[..16]);
        header[16..].copy_from_slice(&header_crc.to_le_bytes());
        bytes[at..at + RECORD_HEADER_LEN].copy_from_slice(&header);
        fs::write(&path, &bytes).unwrap();
        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (path.display().to_string(), at as u64)
        );

        // A damaged length fails the header checksum.
        let mut bytes = original;
        bytes[at + 3] = 0x7f;
        fs::write(&path, &bytes).unwrap();
        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (path.display().to_string(), at as u64)
        );
    }

    #[test]
    fn ops_out_of_order_are_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts) = write_log(tmp.path(), &three_records());
        let mut bytes = fs::read(&path).unwrap();
        let at = starts[1] as usize;
        let header = encode_record_header(1, &body(2, 25));
        bytes[at..at + RECORD_HEADER_LEN].copy_from_slice(&header);
        fs::write(&path, &bytes).unwrap();
        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (path.display().to_string(), at as u64)
        );

        // A record at or above the next file's name breaks what remove_up_to relies on.
        let tmp = tempfile::tempdir().unwrap();
        let (path, starts) = write_log(tmp.path(), &three_records());
        fs::write(tmp.path().join(file_name(3)), file_header()).unwrap();
        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (path.display().to_string(), starts[2])
        );
    }

    #[test]
    fn bad_file_header_is_damage_at_offset_zero() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, _) = write_log(tmp.path(), &three_records());
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] = b'X';
        fs::write(&path, &bytes).unwrap();
        let error = open(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(corrupted_at(&error), (path.display().to_string(), 0));
        assert_eq!(fs::read(&path).unwrap(), bytes);

        let (_, report, seen) = open(tmp.path(), 0, OnCorruption::TruncateWal).unwrap();
        assert!(seen.is_empty());
        assert_eq!(corrupted_at(&report.damage.unwrap()).1, 0);
        assert_eq!(fs::read(&path).unwrap(), file_header());
    }

    #[test]
    fn newer_format_version_always_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, _) = write_log(tmp.path(), &three_records());
        let mut bytes = fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        for on_corruption in [
            OnCorruption::Fail,
            OnCorruption::ReadOnly,
            OnCorruption::TruncateWal,
        ] {
            let error = open(tmp.path(), 0, on_corruption).unwrap_err();
            assert_eq!(corrupted_at(&error), (path.display().to_string(), 0));
            assert_eq!(fs::read(&path).unwrap(), bytes);
        }
    }

    #[test]
    fn apply_errors_abort_open() {
        let tmp = tempfile::tempdir().unwrap();
        write_log(tmp.path(), &three_records());
        let refusal = StorageError::BadRequest("no".to_owned());
        let result = Wal::open(tmp.path(), 0, OnCorruption::Fail, &mut |op, _| {
            if op == 2 {
                Err(refusal.clone())
            } else {
                Ok(())
            }
        });
        assert_eq!(result.unwrap_err(), refusal);
    }

    /// Open the marked log `<dir>/wal` with its mark `<dir>/wal.mark`.
    fn open_marked(
        dir: &Path,
        after: u64,
        on_corruption: OnCorruption,
    ) -> Result<(Wal, WalReport, Records), StorageError> {
        let mut seen = Vec::new();
        let (wal, report) = Wal::open_marked(
            &dir.join("wal"),
            &dir.join(MARK_FILE),
            after,
            on_corruption,
            &mut |op, body| {
                seen.push((op, body.to_vec()));
                Ok(())
            },
        )?;
        Ok((wal, report, seen))
    }

    /// A marked log with ops 1..=4, synced and marked through `synced`; returns the file.
    fn marked_log(dir: &Path, synced: u64) -> PathBuf {
        let (mut wal, _, _) = open_marked(dir, 0, OnCorruption::Fail).unwrap();
        for op in 1..=4 {
            wal.append(op, &body(op, 30)).unwrap();
            if op == synced {
                wal.sync_handle().sync_and_mark(op).unwrap();
            }
        }
        wal.files().unwrap().pop().unwrap()
    }

    #[test]
    fn a_cut_above_the_mark_is_torn_and_below_it_is_damage() {
        let record = (RECORD_HEADER_LEN + 30) as u64;
        let start = |op: u64| FILE_HEADER_LEN as u64 + (op - 1) * record;
        for (cut, synced, damage_at) in [
            // Inside op 4, only 2 synced: a torn append.
            (start(4) + 5, 2, None),
            // Inside op 4, all synced: op 4 was acknowledged.
            (start(4) + 5, 4, Some(start(4))),
            // At a record boundary below the mark: a clean end that lost ops 3 and 4.
            (start(3), 4, Some(start(3))),
            // The whole file, header included.
            (0, 4, Some(0)),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let path = marked_log(tmp.path(), synced);
            let mut bytes = fs::read(&path).unwrap();
            bytes.truncate(cut as usize);
            fs::write(&path, &bytes).unwrap();
            let Some(at) = damage_at else {
                let (_, report, seen) = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap();
                assert_eq!(seen.len(), 3);
                assert_eq!(report.torn_tail, Some((path.clone(), start(4))));
                continue;
            };
            let error = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
            assert_eq!(corrupted_at(&error), (path.display().to_string(), at));
            assert_eq!(fs::read(&path).unwrap(), bytes, "cut {cut}: a failed open");

            let (wal, report, _) = open_marked(tmp.path(), 0, OnCorruption::ReadOnly).unwrap();
            assert!(wal.is_read_only());
            assert!(report.damage.is_some());
            drop(wal);
            assert_eq!(fs::read(&path).unwrap(), bytes, "cut {cut}: read-only");

            let (mut wal, report, seen) =
                open_marked(tmp.path(), 0, OnCorruption::TruncateWal).unwrap();
            assert!(report.damage.is_some());
            let kept = seen.len() as u64;
            wal.append(kept + 1, b"after").unwrap();
            drop(wal);
            let (_, report, seen) = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap();
            assert_eq!((report.damage, seen.len() as u64), (None, kept + 1));
        }
    }

    #[test]
    fn a_missing_log_or_log_directory_is_damage_once_marked() {
        for remove_dir in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let path = marked_log(tmp.path(), 4);
            let wal_dir = tmp.path().join("wal");
            if remove_dir {
                fs::remove_dir_all(&wal_dir).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
            let error = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
            assert_eq!(corrupted_at(&error), (wal_dir.display().to_string(), 0));
            assert_eq!(
                wal_dir.exists(),
                !remove_dir,
                "a failed open creates nothing"
            );

            let (wal, report, seen) = open_marked(tmp.path(), 0, OnCorruption::ReadOnly).unwrap();
            assert!(wal.is_read_only() && seen.is_empty());
            assert_eq!(report.damage, Some(error));
            assert_eq!(wal_dir.exists(), !remove_dir);

            let (mut wal, report, _) =
                open_marked(tmp.path(), 0, OnCorruption::TruncateWal).unwrap();
            assert!(report.damage.is_some());
            wal.append(1, b"again").unwrap();
            wal.sync_handle().sync_and_mark(1).unwrap();
            drop(wal);
            let (_, report, seen) = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap();
            assert_eq!((report.damage, seen.len()), (None, 1));
        }

        // Without a mark (a log from before marks) an empty directory is a new log.
        let tmp = tempfile::tempdir().unwrap();
        let (_, report, _) = open_marked(tmp.path(), 7, OnCorruption::Fail).unwrap();
        assert_eq!(report.damage, None);
        assert!(tmp.path().join(MARK_FILE).exists());
    }

    #[test]
    fn a_gap_in_the_ops_is_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap();
        wal.append(1, b"one").unwrap();
        wal.rotate(2).unwrap();
        wal.append(2, b"two").unwrap();
        wal.rotate(3).unwrap();
        wal.append(3, b"three").unwrap();
        let files = wal.files().unwrap();
        drop(wal);
        fs::remove_file(&files[1]).unwrap();
        let error = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (files[2].display().to_string(), FILE_HEADER_LEN as u64)
        );
        // Ops at or below `after` are in the segments: a gap there loses nothing.
        let (_, report, seen) = open_marked(tmp.path(), 2, OnCorruption::Fail).unwrap();
        assert_eq!((report.damage, seen.len()), (None, 1));
        // The first op above `after` must be `after + 1`.
        fs::remove_file(&files[0]).unwrap();
        let error = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(
            corrupted_at(&error),
            (files[2].display().to_string(), FILE_HEADER_LEN as u64)
        );
    }

    #[test]
    fn a_damaged_mark_is_damage_and_truncate_wal_rewrites_it() {
        let tmp = tempfile::tempdir().unwrap();
        marked_log(tmp.path(), 4);
        let mark = tmp.path().join(MARK_FILE);
        fs::write(&mark, b"").unwrap();
        let error = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap_err();
        assert_eq!(corrupted_at(&error), (mark.display().to_string(), 0));
        let (wal, report, seen) = open_marked(tmp.path(), 0, OnCorruption::ReadOnly).unwrap();
        assert!(wal.is_read_only());
        assert_eq!((report.damage, seen.len()), (Some(error), 4));
        drop(wal);
        assert!(fs::read(&mark).unwrap().is_empty());
        let (_, report, seen) = open_marked(tmp.path(), 0, OnCorruption::TruncateWal).unwrap();
        assert_eq!(seen.len(), 4);
        assert!(report.damage.is_some());
        let (_, report, _) = open_marked(tmp.path(), 0, OnCorruption::Fail).unwrap();
        assert_eq!(report.damage, None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_cut_of_a_single_file_replays_the_whole_records_before_it(
            bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let records: Records = bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| (i as u64 * 3 + 1, body))
                .collect();
            let tmp = tempfile::tempdir().unwrap();
            let (path, mut starts) = write_log(tmp.path(), &records);
            let original = fs::read(&path).unwrap();
            starts.push(original.len() as u64);
            let cut = cut.index(original.len() + 1);
            fs::write(&path, &original[..cut]).unwrap();

            let (_, report, seen) = open(tmp.path(), 0, OnCorruption::Fail).unwrap();
            let whole = starts[1..].iter().filter(|&&end| end <= cut as u64).count();
            prop_assert_eq!(&seen[..], &records[..whole]);
            prop_assert_eq!(report.damage, None);
            let at_boundary = cut as u64 == starts[whole];
            prop_assert_eq!(report.torn_tail.is_none(), at_boundary);
        }
    }
}
