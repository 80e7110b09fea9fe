//! The log's high-water mark: how far the write-ahead log was known to be durable, kept beside
//! it so that a log that lost acknowledged records (a file deleted, truncated or zeroed) is
//! told apart from a log that merely ends in a torn, never-acknowledged append. What open does
//! with it is in the `wal.rs` module docs ("Durable mark"); this module owns the file.
//!
//! ## Format (version 1)
//!
//! `collections/<name>/wal.mark`, exactly [`FILE_LEN`] bytes: two slots of [`SLOT_LEN`]
//! bytes, each alone in its own 512-byte sector, so that a torn write of one slot never
//! touches the other. A slot:
//!
//! | bytes  | field        | meaning                                              |
//! |--------|--------------|------------------------------------------------------|
//! | 0..8   | `magic`      | `RROMARK\0`                                          |
//! | 8..12  | `version`    | format version, u32 LE (1)                           |
//! | 12..16 | `reserved`   | u32 LE, 0                                            |
//! | 16..24 | `seq`        | how many times the mark was written, u64 LE          |
//! | 24..32 | `durable_op` | every op up to this one was synced, u64 LE           |
//! | 32..36 | `crc`        | CRC-32 (IEEE) of bytes 0..32, u32 LE                 |
//! | 36..512| padding      | zeros                                                |
//!
//! Write number `seq` goes to slot `seq % 2`; the valid slot with the higher `seq` is the mark.
//!
//! ## Why it is cheap and still true
//!
//! The mark is written only *after* the log has been synced through `durable_op`, and a write
//! of the mark is a plain in-place `write` of one slot, never synced on its own. Whatever
//! version of the file reaches the disk, and whenever, it therefore only ever claims records
//! that were already on the disk: a kill (the page cache survives) or a power loss (the mark
//! may be older than the log, or one slot torn) can make the mark too *low*, never too high.
//! A low mark only narrows what open can detect; it never calls a legal crash state damage.
//! The file is created once, whole, by an atomic rename, so a short or unreadable file is
//! damage, not a crash in the middle of creating it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::checked::sync_dir;
use crate::error::StorageError;

/// File name of the mark inside a collection's directory.
pub(crate) const MARK_FILE: &str = "wal.mark";

const MAGIC: [u8; 8] = *b"RROMARK\0";
const VERSION: u32 = 1;

const MAGIC_OFFSET: usize = 0;
const MAGIC_SIZE: usize = 8;
const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC_SIZE;
const VERSION_SIZE: usize = 4;
const RESERVED_OFFSET: usize = VERSION_OFFSET + VERSION_SIZE;
const RESERVED_SIZE: usize = 4;
const SEQ_OFFSET: usize = RESERVED_OFFSET + RESERVED_SIZE;
const SEQ_SIZE: usize = 8;
const DURABLE_OP_OFFSET: usize = SEQ_OFFSET + SEQ_SIZE;
const DURABLE_OP_SIZE: usize = 8;
const CRC_OFFSET: usize = DURABLE_OP_OFFSET + DURABLE_OP_SIZE;
const CRC_SIZE: usize = 4;
/// Bytes of a slot that carry data; the rest of the slot is zero.
const SLOT_DATA_LEN: usize = CRC_OFFSET + CRC_SIZE;
/// One slot: a whole 512-byte sector.
const SLOT_LEN: usize = 512;
/// The whole file: two slots.
pub(crate) const FILE_LEN: usize = 2 * SLOT_LEN;

/// One decoded slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    seq: u64,
    durable_op: u64,
}

impl Slot {
    fn to_bytes(self) -> [u8; SLOT_DATA_LEN] {
        let mut out = [0u8; SLOT_DATA_LEN];
        out[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_SIZE].copy_from_slice(&MAGIC);
        out[VERSION_OFFSET..VERSION_OFFSET + VERSION_SIZE].copy_from_slice(&VERSION.to_le_bytes());
        out[SEQ_OFFSET..SEQ_OFFSET + SEQ_SIZE].copy_from_slice(&self.seq.to_le_bytes());
        out[DURABLE_OP_OFFSET..DURABLE_OP_OFFSET + DURABLE_OP_SIZE]
            .copy_from_slice(&self.durable_op.to_le_bytes());
        let crc = crc32fast::hash(&out[..CRC_OFFSET]);
        out[CRC_OFFSET..CRC_OFFSET + CRC_SIZE].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The slot in `bytes`, `Ok(None)` if it is not a valid slot, or an error if it is a valid
    /// slot of a newer format (not ours to overwrite).
    fn from_bytes(path: &Path, at: usize, bytes: &[u8]) -> Result<Option<Slot>, StorageError> {
        let Some(data) = bytes.get(..SLOT_DATA_LEN) else {
            return Ok(None);
        };
        let word = |offset: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&data[offset..offset + 4]);
            u32::from_le_bytes(word)
        };
        let long = |offset: usize| {
            let mut long = [0u8; 8];
            long.copy_from_slice(&data[offset..offset + 8]);
            u64::from_le_bytes(long)
        };
        if data[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_SIZE] != MAGIC
            || word(CRC_OFFSET) != crc32fast::hash(&data[..CRC_OFFSET])
        {
            return Ok(None);
        }
        let version = word(VERSION_OFFSET);
        if version > VERSION {
            return Err(StorageError::corrupted(
                path,
                (at + VERSION_OFFSET) as u64,
                format!("log mark format version {version}; this build reads only {VERSION}"),
            ));
        }
        if version != VERSION || word(RESERVED_OFFSET) != 0 {
            return Ok(None);
        }
        Ok(Some(Slot {
            seq: long(SEQ_OFFSET),
            durable_op: long(DURABLE_OP_OFFSET),
        }))
    }
}

/// What [`read`] found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    /// No mark file: a collection written before marks existed, or restored from a snapshot,
    /// or one whose first open crashed before the mark was created.
    Absent,
    /// Every op up to `durable_op` was synced to the log at some point.
    Mark { durable_op: u64 },
    /// Neither slot is valid: described by the [`StorageError::Corrupted`].
    Damaged(StorageError),
}

/// Read the mark at `path`. Only an I/O error other than "not found" and a newer format
/// version are errors; damage is [`Found::Damaged`], for the caller's policy to judge.
pub(crate) fn read(path: &Path) -> Result<Found, StorageError> {
    let bytes = match read_head(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Absent),
        Err(e) => return Err(StorageError::io(path, &e)),
    };
    let mut best: Option<Slot> = None;
    for index in 0..2 {
        let at = index * SLOT_LEN;
        let slot = bytes
            .get(at..)
            .map(|rest| Slot::from_bytes(path, at, rest))
            .transpose()?
            .flatten();
        if let Some(slot) = slot {
            if best.is_none_or(|b| slot.seq > b.seq) {
                best = Some(slot);
            }
        }
    }
    Ok(match best {
        Some(slot) => Found::Mark {
            durable_op: slot.durable_op,
        },
        None => Found::Damaged(StorageError::corrupted(
            path,
            0,
            format!(
                "neither slot of the log mark is valid ({} of {FILE_LEN} bytes)",
                bytes.len()
            ),
        )),
    })
}

/// The first [`FILE_LEN`] bytes of `path`: whatever else a damaged file holds is never read,
/// so its length cannot cause a large allocation.
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(FILE_LEN);
    File::open(path)?
        .take(FILE_LEN as u64)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// An open mark file, written after each sync of the log.
#[derive(Debug)]
pub(crate) struct WalMark {
    file: File,
    path: PathBuf,
    /// The `seq` of the last slot written.
    seq: u64,
    durable_op: u64,
}

impl WalMark {
    /// Create the mark at `path` (replacing any file there) claiming `durable_op`, durably:
    /// written whole to a temporary file, synced, renamed, directory synced.
    pub(crate) fn create(path: &Path, durable_op: u64) -> Result<WalMark, StorageError> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let tmp = path.with_file_name(name);
        let mut bytes = vec![0u8; FILE_LEN];
        for seq in 0..2u64 {
            let at = seq as usize * SLOT_LEN;
            bytes[at..at + SLOT_DATA_LEN].copy_from_slice(&Slot { seq, durable_op }.to_bytes());
        }
        let io = |p: &Path, e: std::io::Error| StorageError::io(p, &e);
        let mut file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| io(path, e))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        WalMark::open(path, durable_op)
    }

    /// Open the existing, valid mark at `path`, which claims `durable_op`.
    pub(crate) fn open(path: &Path, durable_op: u64) -> Result<WalMark, StorageError> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| StorageError::io(path, &e))?;
        // The next write must go above both slots' seqs, so read them back.
        let bytes = read_head(path).map_err(|e| StorageError::io(path, &e))?;
        let mut seq = 0;
        for index in 0..2 {
            let at = index * SLOT_LEN;
            if let Some(Some(slot)) = bytes
                .get(at..)
                .map(|rest| Slot::from_bytes(path, at, rest))
                .transpose()?
            {
                seq = seq.max(slot.seq);
            }
        }
        Ok(WalMark {
            file,
            path: path.to_path_buf(),
            seq,
            durable_op,
        })
    }

    /// The op the mark claims.
    pub(crate) fn durable_op(&self) -> u64 {
        self.durable_op
    }

    /// Claim that every op up to `op` is durable in the log; the caller has just synced it.
    /// Not synced itself (see the module docs); a lower `op` than the mark holds is ignored.
    pub(crate) fn record(&mut self, op: u64) -> Result<(), StorageError> {
        if op <= self.durable_op {
            return Ok(());
        }
        self.write_slot(op)
    }

    /// Lower the mark to `op` and sync it: after damage was cut off under
    /// `OnCorruption::TruncateWal`, the records above `op` are gone for good.
    pub(crate) fn reset(&mut self, op: u64) -> Result<(), StorageError> {
        self.write_slot(op)?;
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(&self.path, &e))
    }

    fn write_slot(&mut self, op: u64) -> Result<(), StorageError> {
        let seq = self.seq + 1;
        let at = (seq % 2) as usize * SLOT_LEN;
        let bytes = Slot {
            seq,
            durable_op: op,
        }
        .to_bytes();
        (&self.file)
            .seek(SeekFrom::Start(at as u64))
            .and_then(|_| (&self.file).write_all(&bytes))
            .map_err(|e| StorageError::io(&self.path, &e))?;
        self.seq = seq;
        self.durable_op = op;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_recorded_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(MARK_FILE);
        assert_eq!(read(&path).unwrap(), Found::Absent);
        let mut mark = WalMark::create(&path, 3).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), FILE_LEN as u64);
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 3 });
        mark.record(7).unwrap();
        mark.record(5).unwrap();
        assert_eq!(mark.durable_op(), 7);
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 7 });
        mark.record(9).unwrap();
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 9 });
        mark.reset(4).unwrap();
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 4 });
        drop(mark);
        let mut mark = WalMark::open(&path, 4).unwrap();
        mark.record(11).unwrap();
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 11 });
    }

    #[test]
    fn a_damaged_slot_falls_back_to_the_other_and_two_are_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(MARK_FILE);
        let mut mark = WalMark::create(&path, 1).unwrap();
        mark.record(2).unwrap(); // seq 2, slot 0
        mark.record(3).unwrap(); // seq 3, slot 1
        drop(mark);
        let good = fs::read(&path).unwrap();

        // A torn write of the newest slot leaves the previous claim, which is still true.
        let mut bytes = good.clone();
        bytes[SLOT_LEN + DURABLE_OP_OFFSET] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 2 });
        fs::write(&path, &good[..SLOT_LEN]).unwrap();
        assert_eq!(read(&path).unwrap(), Found::Mark { durable_op: 2 });

        for bad in [
            Vec::new(),
            good[..SLOT_DATA_LEN / 2].to_vec(),
            vec![0u8; FILE_LEN],
            {
                let mut b = good.clone();
                b[0] ^= 1;
                b[SLOT_LEN] ^= 1;
                b
            },
        ] {
            fs::write(&path, &bad).unwrap();
            assert!(
                matches!(
                    read(&path).unwrap(),
                    Found::Damaged(StorageError::Corrupted { .. })
                ),
                "{} bytes",
                bad.len()
            );
        }

        // A newer format is never ours to judge or overwrite.
        let mut bytes = good;
        let mut slot = Slot {
            seq: 9,
            durable_op: 9,
        }
        .to_bytes();
        slot[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&slot[..CRC_OFFSET]);
        slot[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        bytes[..SLOT_DATA_LEN].copy_from_slice(&slot);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read(&path),
            Err(StorageError::Corrupted { offset, .. }) if offset == VERSION_OFFSET as u64
        ));
    }
}
