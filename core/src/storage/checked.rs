//! Whole files written once and checked on every read: the common header of every segment
//! file and of the collection manifest.
//!
//! ## Format (version 1)
//! A 32-byte header, then the data:
//!
//! | bytes  | field        | meaning                                                    |
//! |--------|--------------|------------------------------------------------------------|
//! | 0..8   | `magic`      | what the file is, e.g. `RROVEC\0\0`                        |
//! | 8..12  | `version`    | format version of that kind of file, u32 LE (1)             |
//! | 12..16 | `aux`        | a kind-specific u32 LE (the dimension for vectors, else 0) |
//! | 16..24 | `count`      | number of items in the data, u64 LE                        |
//! | 24..28 | `data_crc`   | CRC-32 (IEEE) of every byte after the header, u32 LE       |
//! | 28..32 | `header_crc` | CRC-32 of bytes 0..28, u32 LE                              |
//!
//! The header is 32 bytes so that data following it stays aligned for `f32` and SIMD loads
//! when the file is memory-mapped (a mapping starts on a page boundary).
//!
//! These files are never modified in place: a new version is written beside the old one (or
//! into a temporary directory) and made visible by an atomic rename, so a crash leaves either
//! the old or the new file, never a torn one. A checksum failure therefore means damage, and
//! is reported as [`StorageError::Corrupted`] with the file and offset.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::StorageError;

/// Header length in bytes.
pub(crate) const HEADER_LEN: usize = 32;
/// Where the header's `count` is, from the start of the file.
pub(crate) const COUNT_OFFSET: usize = 16;

/// The parsed header of a checked file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u32,
    pub(crate) aux: u32,
    pub(crate) count: u64,
    pub(crate) data_crc: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&self.magic);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[12..16].copy_from_slice(&self.aux.to_le_bytes());
        out[COUNT_OFFSET..COUNT_OFFSET + 8].copy_from_slice(&self.count.to_le_bytes());
        out[24..28].copy_from_slice(&self.data_crc.to_le_bytes());
        let crc = crc32fast::hash(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parse and check the header of `bytes` (the whole file) against the expected magic and
    /// version, and the data against its checksum.
    pub(crate) fn check(
        path: &Path,
        bytes: &[u8],
        magic: [u8; 8],
        version: u32,
    ) -> Result<Header, StorageError> {
        let Some(head) = bytes.get(..HEADER_LEN) else {
            return Err(StorageError::corrupted(
                path,
                0,
                format!(
                    "file is {} bytes, shorter than its {HEADER_LEN}-byte header",
                    bytes.len()
                ),
            ));
        };
        let word =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        if word(28) != crc32fast::hash(&head[0..28]) {
            return Err(StorageError::corrupted(path, 0, "header checksum mismatch"));
        }
        let mut found = [0u8; 8];
        found.copy_from_slice(&head[0..8]);
        if found != magic {
            return Err(StorageError::corrupted(
                path,
                0,
                format!(
                    "not the expected kind of file (magic {:?}, expected {:?})",
                    String::from_utf8_lossy(&found),
                    String::from_utf8_lossy(&magic)
                ),
            ));
        }
        if word(8) != version {
            return Err(StorageError::corrupted(
                path,
                8,
                format!(
                    "format version {} is not supported (this rro reads version {version})",
                    word(8)
                ),
            ));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&head[COUNT_OFFSET..COUNT_OFFSET + 8]);
        let header = Header {
            magic,
            version,
            aux: word(12),
            count: u64::from_le_bytes(count),
            data_crc: word(24),
        };
        if crc32fast::hash(&bytes[HEADER_LEN..]) != header.data_crc {
            return Err(StorageError::corrupted(
                path,
                HEADER_LEN as u64,
                "data checksum mismatch",
            ));
        }
        Ok(header)
    }
}

/// A whole checked file in memory: header and `data`.
pub(crate) fn encode(
    magic: [u8; 8],
    version: u32,
    aux: u32,
    count: u64,
    data: &[u8],
) -> Result<Vec<u8>, StorageError> {
    let header = Header {
        magic,
        version,
        aux,
        count,
        data_crc: crc32fast::hash(data),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(data);
    Ok(out)
}

/// Write a checked file at `path` (which must not be in use): header, then `parts` in order,
/// then `fsync`. Callers make it visible atomically (rename of the file or of its directory).
pub(crate) fn write(
    path: &Path,
    magic: [u8; 8],
    version: u32,
    aux: u32,
    count: u64,
    parts: &[&[u8]],
) -> Result<(), StorageError> {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    let header = Header {
        magic,
        version,
        aux,
        count,
        data_crc: hasher.finalize(),
    };
    let io = |e: std::io::Error| StorageError::io(path, &e);
    let mut file = File::create(path).map_err(io)?;
    file.write_all(&header.encode()).map_err(io)?;
    for part in parts {
        file.write_all(part).map_err(io)?;
    }
    file.sync_all().map_err(io)
}

/// Write a checked file at `path` atomically: into `path.tmp`, synced, renamed over `path`,
/// and the directory synced so that the rename itself survives power loss.
pub(crate) fn write_atomic(
    path: &Path,
    magic: [u8; 8],
    version: u32,
    count: u64,
    data: &[u8],
) -> Result<(), StorageError> {
    write_atomic_parts(path, magic, version, 0, count, &[data])
}

/// [`write_atomic`] with a kind-specific `aux` word and the data given as `parts` written in
/// order, so that a caller whose data lives in several buffers (a graph's link arrays) does
/// not concatenate them into one more copy first.
pub(crate) fn write_atomic_parts(
    path: &Path,
    magic: [u8; 8],
    version: u32,
    aux: u32,
    count: u64,
    parts: &[&[u8]],
) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    write(&tmp, magic, version, aux, count, parts)?;
    fs::rename(&tmp, path).map_err(|e| StorageError::io(path, &e))?;
    // A bare file name has an empty parent: the current directory.
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    sync_dir(dir)
}

/// Read and check a whole checked file; returns the header and the data after it.
pub(crate) fn read(
    path: &Path,
    magic: [u8; 8],
    version: u32,
) -> Result<(Header, Vec<u8>), StorageError> {
    let mut bytes = fs::read(path).map_err(|e| StorageError::io(path, &e))?;
    let header = Header::check(path, &bytes, magic, version)?;
    bytes.drain(..HEADER_LEN);
    Ok((header, bytes))
}

/// `fsync` a directory, so that entries created, renamed or removed in it are durable.
/// A no-op where directories cannot be opened (Windows), where the rename is durable anyway.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StorageError::io(dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 8] = *b"RROTEST\0";

    #[test]
    fn round_trip_and_every_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, MAGIC, 1, 3, b"abc").unwrap();
        let (header, data) = read(&path, MAGIC, 1).unwrap();
        assert_eq!((header.count, data.as_slice()), (3, &b"abc"[..]));
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            fs::write(&path, &bad).unwrap();
            let err = read(&path, MAGIC, 1).unwrap_err();
            assert!(
                matches!(err, StorageError::Corrupted { .. }),
                "byte {i}: {err}"
            );
        }
        fs::write(&path, &good[..10]).unwrap();
        assert!(matches!(
            read(&path, MAGIC, 1),
            Err(StorageError::Corrupted { offset: 0, .. })
        ));
        fs::write(&path, &good).unwrap();
        assert!(matches!(
            read(&path, MAGIC, 2),
            Err(StorageError::Corrupted { offset: 8, .. })
        ));
        assert!(matches!(
            read(&path, *b"RROOTHER", 1),
            Err(StorageError::Corrupted { offset: 0, .. })
        ));
    }
}
