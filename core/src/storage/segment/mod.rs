//! A segment: a run of points stored by internal offset, with their ids, versions, vectors and
//! payloads, and a set of offsets whose point was deleted or superseded.
//!
//! A collection has one *appendable* segment that takes new writes in memory (its content is
//! also in the write-ahead log) and any number of *sealed* segments, which are immutable apart
//! from their deletion set. A checkpoint seals the appendable segment and writes it to
//! `segments/<id>/` as three checked files (header format in `checked.rs`):
//!
//! - `vectors.bin`, magic `RROVEC\0\0`, version 1, `aux` = dimension, `count` = points: the
//!   vectors as `count * dim` little-endian f32, in offset order. Memory-mapped on open,
//!   so reopening does not read it into RAM (the checksum check does page it in once).
//! - `points.bin`, magic `RROIDS\0\0`, version 1: the id tracker, one 32-byte entry per
//!   offset: `tag:u8` (0 = u64 id, 1 = UUID), 7 zero bytes, the id in 16 bytes (u64 LE
//!   zero-padded, or the UUID's bytes), `version:u64` (the operation that wrote the point).
//! - `payloads.bin`, magic `RROPAY\0\0`, version 1: `count + 1` u64 LE offsets into the
//!   JSON blob that follows; entry `i` is `blob[off[i]..off[i+1]]`, empty for "no payload".
//!   Payloads are parsed when read, so opening does not parse every payload.
//!
//! The deletion set lives beside them in `deleted-<generation>.bin` (magic `RRODEL\0\0`,
//! `count` = bits, data = little-endian u64 words), rewritten under a new generation at each
//! checkpoint that changed it; the collection manifest names the current generation.
//!
//! How a segment is searched is its own business: `search.rs` holds the plan (which index,
//! exact scoring or a walk, how a filter is applied) and `indexes.rs` the seam every vector
//! index kind plugs into.
//!
//! Invariants: `ids`, `versions`, payloads and vectors all have `len()` entries; vectors have
//! the collection's dimension; an offset is live in at most one segment of a collection.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::bytes::ByteReader;
use super::checked::{self, HEADER_LEN};
use super::payload_index::FieldIndexes;
use crate::error::StorageError;
use crate::models::{Payload, PointId};

mod indexes;
mod search;

pub(crate) use indexes::{IndexEntry, Indexes, SpaceQuery, Target, VectorIndex};
pub(crate) use search::SegmentQuery;

const VECTORS_MAGIC: [u8; 8] = *b"RROVEC\0\0";
const POINTS_MAGIC: [u8; 8] = *b"RROIDS\0\0";
const PAYLOADS_MAGIC: [u8; 8] = *b"RROPAY\0\0";
const DELETED_MAGIC: [u8; 8] = *b"RRODEL\0\0";
const VERSION: u32 = 1;
const POINT_ENTRY: usize = 32;

/// File names inside a segment directory.
pub(crate) const SEGMENT_FILES: [&str; 3] = ["vectors.bin", "points.bin", "payloads.bin"];

/// Name of the deletion file of generation `gen`.
pub(crate) fn deleted_file(gen: u64) -> String {
    format!("deleted-{gen}.bin")
}

/// The vectors of a segment, owned or mapped from `vectors.bin`.
enum Vectors {
    Owned(Vec<f32>),
    Mapped(memmap2::Mmap),
}

impl Vectors {
    fn as_slice(&self) -> &[f32] {
        match self {
            Vectors::Owned(v) => v,
            // Checked castable when the mapping was made (see `load_vectors`).
            Vectors::Mapped(map) => bytemuck::try_cast_slice(&map[HEADER_LEN..]).unwrap_or(&[]),
        }
    }

    /// The owned vector buffer, copying a mapping first (never happens to the appendable
    /// segment, which is always owned, but keeps `push` total).
    fn owned(&mut self) -> &mut Vec<f32> {
        if let Vectors::Mapped(_) = self {
            *self = Vectors::Owned(self.as_slice().to_vec());
        }
        match self {
            Vectors::Owned(v) => v,
            Vectors::Mapped(_) => unreachable!("converted to owned just above"),
        }
    }
}

/// Payloads, owned or packed as read from `payloads.bin`.
enum Payloads {
    Owned(Vec<Option<Payload>>),
    Packed { offsets: Vec<u64>, blob: Vec<u8> },
}

/// The immutable-once-sealed content of a segment.
pub(crate) struct SegmentData {
    dim: usize,
    vectors: Vectors,
    ids: Vec<PointId>,
    versions: Vec<u64>,
    payloads: Payloads,
}

impl std::fmt::Debug for SegmentData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentData")
            .field("dim", &self.dim)
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl SegmentData {
    /// An empty segment for vectors of `dim` components.
    pub(crate) fn new(dim: usize) -> Self {
        SegmentData {
            dim,
            vectors: Vectors::Owned(Vec::new()),
            ids: Vec::new(),
            versions: Vec::new(),
            payloads: Payloads::Owned(Vec::new()),
        }
    }

    /// Number of offsets, live or not.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Every vector, `dim` components each, in offset order.
    pub(crate) fn vectors(&self) -> &[f32] {
        self.vectors.as_slice()
    }

    /// The vector at `offset`.
    pub(crate) fn vector(&self, offset: usize) -> &[f32] {
        let all = self.vectors.as_slice();
        all.get(offset * self.dim..(offset + 1) * self.dim)
            .unwrap_or(&[])
    }

    /// The id at `offset`.
    pub(crate) fn id(&self, offset: usize) -> PointId {
        self.ids[offset]
    }

    /// The version (operation number) of the write at `offset`.
    pub(crate) fn version(&self, offset: usize) -> u64 {
        self.versions[offset]
    }

    /// The payload at `offset`, parsed.
    pub(crate) fn payload(&self, offset: usize) -> Option<Payload> {
        match &self.payloads {
            Payloads::Owned(p) => p.get(offset).cloned().flatten(),
            Payloads::Packed { offsets, blob } => {
                let (start, end) = (offsets[offset] as usize, offsets[offset + 1] as usize);
                if start == end {
                    return None;
                }
                // The file passed its checksum and was written by `serde_json`, so this only
                // fails on a bug; say so loudly rather than invent a payload.
                serde_json::from_slice(&blob[start..end])
                    .map_err(|e| log::error!("payload at offset {offset} does not parse: {e}"))
                    .ok()
            }
        }
    }

    /// The payload at `offset`, borrowed when it is held parsed (the write segment) and
    /// parsed when it is packed.
    pub(crate) fn payload_ref(&self, offset: usize) -> Option<std::borrow::Cow<'_, Payload>> {
        match &self.payloads {
            Payloads::Owned(p) => p.get(offset)?.as_ref().map(std::borrow::Cow::Borrowed),
            Payloads::Packed { .. } => self.payload(offset).map(std::borrow::Cow::Owned),
        }
    }

    fn owned_payloads(&mut self) -> &mut Vec<Option<Payload>> {
        if let Payloads::Packed { .. } = self.payloads {
            let all = (0..self.len()).map(|i| self.payload(i)).collect();
            self.payloads = Payloads::Owned(all);
        }
        match &mut self.payloads {
            Payloads::Owned(p) => p,
            Payloads::Packed { .. } => unreachable!("converted to owned just above"),
        }
    }

    /// Append a point; returns its offset.
    pub(crate) fn push(
        &mut self,
        id: PointId,
        vector: &[f32],
        payload: Option<Payload>,
        version: u64,
    ) -> usize {
        debug_assert_eq!(vector.len(), self.dim);
        self.vectors.owned().extend_from_slice(vector);
        self.owned_payloads().push(payload);
        self.ids.push(id);
        self.versions.push(version);
        self.ids.len() - 1
    }

    /// Replace the point at `offset` (same id) in place.
    pub(crate) fn overwrite(
        &mut self,
        offset: usize,
        vector: &[f32],
        payload: Option<Payload>,
        version: u64,
    ) {
        debug_assert_eq!(vector.len(), self.dim);
        let dim = self.dim;
        self.vectors.owned()[offset * dim..(offset + 1) * dim].copy_from_slice(vector);
        self.owned_payloads()[offset] = payload;
        self.versions[offset] = version;
    }

    /// Write the three segment files into `dir` (a fresh directory), synced.
    pub(crate) fn write_to(&self, dir: &Path) -> Result<(), StorageError> {
        let count = self.len() as u64;
        let vectors: &[u8] = bytemuck::cast_slice(self.vectors.as_slice());
        let mut le_vectors = Vec::new();
        let vectors = if cfg!(target_endian = "little") {
            vectors
        } else {
            for x in self.vectors.as_slice() {
                le_vectors.extend_from_slice(&x.to_le_bytes());
            }
            &le_vectors
        };
        checked::write(
            &dir.join(SEGMENT_FILES[0]),
            VECTORS_MAGIC,
            VERSION,
            u32::try_from(self.dim).unwrap_or(u32::MAX),
            count,
            &[vectors],
        )?;

        let mut points = Vec::with_capacity(self.len() * POINT_ENTRY);
        for (id, version) in self.ids.iter().zip(&self.versions) {
            let mut entry = [0u8; POINT_ENTRY];
            match id {
                PointId::Num(n) => entry[8..16].copy_from_slice(&n.to_le_bytes()),
                PointId::Uuid(u) => {
                    entry[0] = 1;
                    entry[8..24].copy_from_slice(u.as_bytes());
                }
            }
            entry[24..32].copy_from_slice(&version.to_le_bytes());
            points.extend_from_slice(&entry);
        }
        checked::write(
            &dir.join(SEGMENT_FILES[1]),
            POINTS_MAGIC,
            VERSION,
            0,
            count,
            &[&points],
        )?;

        let mut offsets = Vec::with_capacity((self.len() + 1) * 8);
        let mut blob = Vec::new();
        offsets.extend_from_slice(&0u64.to_le_bytes());
        for offset in 0..self.len() {
            if let Some(payload) = self.payload(offset) {
                serde_json::to_writer(&mut blob, &payload).map_err(|e| {
                    StorageError::BadRequest(format!("payload cannot be serialized: {e}"))
                })?;
            }
            offsets.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        }
        checked::write(
            &dir.join(SEGMENT_FILES[2]),
            PAYLOADS_MAGIC,
            VERSION,
            0,
            count,
            &[&offsets, &blob],
        )
    }

    /// An empty segment with room for `capacity` points, to be filled by a rebuild.
    pub(crate) fn with_capacity(dim: usize, capacity: usize) -> Self {
        SegmentData {
            dim,
            vectors: Vectors::Owned(Vec::with_capacity(capacity.saturating_mul(dim))),
            ids: Vec::with_capacity(capacity),
            versions: Vec::with_capacity(capacity),
            payloads: Payloads::Owned(Vec::with_capacity(capacity)),
        }
    }

    /// Append a copy of the point at `offset` of `other` (same dimension), version included.
    pub(crate) fn push_from(&mut self, other: &SegmentData, offset: usize) -> usize {
        self.push(
            other.id(offset),
            other.vector(offset),
            other.payload(offset),
            other.version(offset),
        )
    }

    /// Whether the vectors are memory-mapped rather than held in RAM.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.vectors, Vectors::Mapped(_))
    }

    /// The same segment with its vectors mapped from `vectors.bin` in `dir` (which
    /// [`write_to`](Self::write_to) wrote from this data) instead of held in RAM.
    pub(crate) fn with_mapped_vectors(&self, dir: &Path) -> Result<SegmentData, StorageError> {
        let path = dir.join(SEGMENT_FILES[0]);
        let (count, vectors) = load_vectors(&path, self.dim)?;
        expect_count(&path, count, self.len() as u64)?;
        Ok(SegmentData {
            dim: self.dim,
            vectors,
            ids: self.ids.clone(),
            versions: self.versions.clone(),
            payloads: match &self.payloads {
                Payloads::Owned(p) => Payloads::Owned(p.clone()),
                Payloads::Packed { offsets, blob } => Payloads::Packed {
                    offsets: offsets.clone(),
                    blob: blob.clone(),
                },
            },
        })
    }

    /// Load a segment written by [`write_to`](Self::write_to), checking every file. Vectors
    /// stay memory-mapped when `on_disk`, and are read into RAM otherwise.
    pub(crate) fn load(dir: &Path, dim: usize, on_disk: bool) -> Result<SegmentData, StorageError> {
        let vectors_path = dir.join(SEGMENT_FILES[0]);
        let (count, mut vectors) = load_vectors(&vectors_path, dim)?;
        if !on_disk && matches!(vectors, Vectors::Mapped(_)) {
            vectors = Vectors::Owned(vectors.as_slice().to_vec());
        }

        let path = dir.join(SEGMENT_FILES[1]);
        let (header, bytes) = checked::read(&path, POINTS_MAGIC, VERSION)?;
        expect_count(&path, header.count, count)?;
        if bytes.len() as u64 != count.saturating_mul(POINT_ENTRY as u64) {
            return Err(StorageError::corrupted(
                &path,
                HEADER_LEN as u64,
                format!("{} bytes of entries for {count} points", bytes.len()),
            ));
        }
        let mut ids = Vec::with_capacity(count as usize);
        let mut versions = Vec::with_capacity(count as usize);
        for (i, entry) in bytes.chunks_exact(POINT_ENTRY).enumerate() {
            let at = (HEADER_LEN + i * POINT_ENTRY) as u64;
            let mut r = ByteReader::new(entry);
            let bad = |why: String| StorageError::corrupted(&path, at, why);
            let tag = r.take(8, "tag").map_err(bad)?[0];
            let raw = r.take(16, "id").map_err(bad)?;
            let id = match tag {
                0 => PointId::Num(ByteReader::new(raw).u64().map_err(bad)?),
                1 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(raw);
                    PointId::Uuid(uuid::Uuid::from_bytes(a))
                }
                other => return Err(bad(format!("unknown id tag {other}"))),
            };
            ids.push(id);
            versions.push(r.u64().map_err(bad)?);
        }

        let path = dir.join(SEGMENT_FILES[2]);
        let (header, bytes) = checked::read(&path, PAYLOADS_MAGIC, VERSION)?;
        expect_count(&path, header.count, count)?;
        let table_len = (count as usize + 1).saturating_mul(8);
        if bytes.len() < table_len {
            return Err(StorageError::corrupted(
                &path,
                HEADER_LEN as u64,
                "offset table is shorter than the point count",
            ));
        }
        let blob = bytes[table_len..].to_vec();
        let mut offsets = Vec::with_capacity(count as usize + 1);
        let mut previous = 0;
        for (i, raw) in bytes[..table_len].chunks_exact(8).enumerate() {
            let mut a = [0u8; 8];
            a.copy_from_slice(raw);
            let offset = u64::from_le_bytes(a);
            if offset < previous || offset > blob.len() as u64 || (i == 0 && offset != 0) {
                return Err(StorageError::corrupted(
                    &path,
                    (HEADER_LEN + i * 8) as u64,
                    "payload offsets are not increasing within the blob",
                ));
            }
            previous = offset;
            offsets.push(offset);
        }
        if previous != blob.len() as u64 {
            return Err(StorageError::corrupted(
                &path,
                HEADER_LEN as u64,
                "payload offsets do not end at the end of the blob",
            ));
        }

        Ok(SegmentData {
            dim,
            vectors,
            ids,
            versions,
            payloads: Payloads::Packed { offsets, blob },
        })
    }
}

fn expect_count(path: &Path, found: u64, expected: u64) -> Result<(), StorageError> {
    if found != expected {
        return Err(StorageError::corrupted(
            path,
            16,
            format!("holds {found} points, the segment's vectors hold {expected}"),
        ));
    }
    Ok(())
}

/// Map `vectors.bin` and check it; returns the point count and the vectors.
fn load_vectors(path: &Path, dim: usize) -> Result<(u64, Vectors), StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io(path, &e))?;
    // SAFETY: a sealed segment's files are written once (into a temporary directory that is
    // then renamed into place) and never modified or truncated afterwards; the data directory
    // is locked for the lifetime of the instance (`lock.rs`), so no other rro process writes
    // it either. Removing an unreferenced segment only unlinks the file, which leaves existing
    // mappings valid. Writers outside rro are outside what any file-backed store can guard.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| StorageError::io(path, &e))?;
    let header = checked::Header::check(path, &map, VECTORS_MAGIC, VERSION)?;
    if header.aux as usize != dim {
        return Err(StorageError::corrupted(
            path,
            12,
            format!(
                "vectors have dimension {}, the collection {dim}",
                header.aux
            ),
        ));
    }
    let data_len = (map.len() - HEADER_LEN) as u64;
    if header.count.checked_mul(dim as u64 * 4) != Some(data_len) {
        return Err(StorageError::corrupted(
            path,
            16,
            format!(
                "{data_len} bytes of vectors for {} points of dimension {dim}",
                header.count
            ),
        ));
    }
    let mappable = cfg!(target_endian = "little")
        && bytemuck::try_cast_slice::<u8, f32>(&map[HEADER_LEN..]).is_ok();
    let vectors = if mappable {
        Vectors::Mapped(map)
    } else {
        Vectors::Owned(
            map[HEADER_LEN..]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    };
    Ok((header.count, vectors))
}

/// A fixed-size set of offsets (deleted points of a segment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// Whether `i` is in the set.
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Add `i`, growing the set as needed.
    pub(crate) fn insert(&mut self, i: usize) {
        if i >= self.len {
            self.grow(i + 1);
        }
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Make room for `len` offsets.
    pub(crate) fn grow(&mut self, len: usize) {
        self.len = self.len.max(len);
        self.words.resize(self.len.div_ceil(64), 0);
    }

    /// Write as `deleted-<gen>.bin` in `dir`.
    pub(crate) fn write_to(&self, dir: &Path, gen: u64) -> Result<(), StorageError> {
        let mut bytes = Vec::with_capacity(self.words.len() * 8);
        for w in &self.words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let path = dir.join(deleted_file(gen));
        checked::write(&path, DELETED_MAGIC, VERSION, 0, self.len as u64, &[&bytes])?;
        checked::sync_dir(dir)
    }

    /// Read `deleted-<gen>.bin` from `dir`, for a segment of `len` offsets.
    pub(crate) fn load(dir: &Path, gen: u64, len: usize) -> Result<Bitset, StorageError> {
        let path = dir.join(deleted_file(gen));
        let (header, bytes) = checked::read(&path, DELETED_MAGIC, VERSION)?;
        if header.count != len as u64 || bytes.len() != len.div_ceil(64) * 8 {
            return Err(StorageError::corrupted(
                &path,
                16,
                format!("holds {} bits for a segment of {len} points", header.count),
            ));
        }
        let words = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        Ok(Bitset { words, len })
    }
}

/// One segment of a collection, as the collection's state holds it.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Its id, which names its directory.
    pub(crate) id: u64,
    /// The points; shared with a checkpoint writing it once sealed.
    pub(crate) data: Arc<SegmentData>,
    /// Offsets whose point was deleted or superseded.
    pub(crate) deleted: Bitset,
    /// Number of offsets not in `deleted`.
    pub(crate) live: usize,
    /// Whether `segments/<id>/` holds this segment's data.
    pub(crate) persisted: bool,
    /// Generation of the persisted deletion file (0: none written yet).
    pub(crate) deleted_gen: u64,
    /// Whether `deleted` changed since it was last persisted.
    pub(crate) deleted_dirty: bool,
    /// Its vector indexes, per space (sealed segments only; `indexes.rs`).
    pub(crate) indexes: Arc<Indexes>,
    /// Its payload indexes (sealed segments only; built from the payloads when sealed or
    /// loaded, and whenever the collection's payload schema changes, unless its
    /// `payload_index.bin` cache holds them for the current schema).
    pub(crate) fields: Arc<FieldIndexes>,
}

impl Segment {
    /// A new, empty appendable segment.
    pub(crate) fn appendable(id: u64, dim: usize) -> Self {
        Segment {
            id,
            data: Arc::new(SegmentData::new(dim)),
            deleted: Bitset::default(),
            live: 0,
            persisted: false,
            deleted_gen: 0,
            deleted_dirty: false,
            indexes: Arc::default(),
            fields: Arc::default(),
        }
    }

    /// Mark `offset` deleted; returns whether it was live.
    pub(crate) fn delete(&mut self, offset: usize) -> bool {
        if self.deleted.contains(offset) {
            return false;
        }
        self.deleted.insert(offset);
        self.live -= 1;
        self.deleted_dirty = true;
        true
    }

    /// The data, for writing; only the appendable segment is written, and it is never shared
    /// (a checkpoint seals it before sharing it), so this does not copy. Were it shared, it
    /// would be copied first: correct, only slow.
    pub(crate) fn data_mut(&mut self) -> &mut SegmentData {
        debug_assert_eq!(Arc::strong_count(&self.data), 1, "writing a shared segment");
        if Arc::get_mut(&mut self.data).is_none() {
            let this = &self.data;
            self.data = Arc::new(SegmentData {
                dim: this.dim,
                vectors: Vectors::Owned(this.vectors().to_vec()),
                ids: this.ids.clone(),
                versions: this.versions.clone(),
                payloads: Payloads::Owned((0..this.len()).map(|i| this.payload(i)).collect()),
            });
        }
        match Arc::get_mut(&mut self.data) {
            Some(data) => data,
            None => unreachable!("made unique just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentData {
        let mut s = SegmentData::new(3);
        s.push(PointId::Num(1), &[1.0, 2.0, 3.0], None, 5);
        let uuid = uuid::Uuid::from_u128(42);
        s.push(
            PointId::Uuid(uuid),
            &[-1.0, 0.5, 0.25],
            Some(crate::payload!({"k": "v", "n": [1, 2]})),
            6,
        );
        s.push(PointId::Num(u64::MAX), &[0.0; 3], Some(Payload::new()), 7);
        s.overwrite(0, &[9.0, 8.0, 7.0], Some(crate::payload!({"x": 1})), 8);
        s
    }

    fn same(a: &SegmentData, b: &SegmentData) {
        assert_eq!(a.len(), b.len());
        assert_eq!(a.vectors(), b.vectors());
        for i in 0..a.len() {
            assert_eq!(
                (a.id(i), a.version(i), a.payload(i)),
                (b.id(i), b.version(i), b.payload(i))
            );
        }
    }

    #[test]
    fn segment_files_round_trip_and_vectors_are_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample();
        s.write_to(dir.path()).unwrap();
        let loaded = SegmentData::load(dir.path(), 3, true).unwrap();
        same(&s, &loaded);
        assert_eq!(loaded.is_mapped(), cfg!(target_endian = "little"));
        let in_ram = SegmentData::load(dir.path(), 3, false).unwrap();
        same(&s, &in_ram);
        assert!(!in_ram.is_mapped());
        let remapped = s.with_mapped_vectors(dir.path()).unwrap();
        same(&s, &remapped);
        assert_eq!(remapped.is_mapped(), cfg!(target_endian = "little"));
        assert_eq!(loaded.vector(1), &[-1.0, 0.5, 0.25]);
        assert_eq!(loaded.payload(2), Some(Payload::new()));
    }

    #[test]
    fn damaged_segment_files_are_reported_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        sample().write_to(dir.path()).unwrap();
        for name in SEGMENT_FILES {
            let path = dir.path().join(name);
            let good = std::fs::read(&path).unwrap();
            let mut bad = good.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            match SegmentData::load(dir.path(), 3, true) {
                Err(StorageError::Corrupted { path: p, .. }) => assert!(p.ends_with(name)),
                other => panic!("{name}: {other:?}"),
            }
            std::fs::write(&path, &good[..good.len() - 1]).unwrap();
            assert!(
                SegmentData::load(dir.path(), 3, true).is_err(),
                "{name} truncated"
            );
            std::fs::write(&path, &good).unwrap();
        }
        assert!(matches!(
            SegmentData::load(dir.path(), 4, true),
            Err(StorageError::Corrupted { offset: 12, .. })
        ));
        std::fs::remove_file(dir.path().join("points.bin")).unwrap();
        assert!(matches!(
            SegmentData::load(dir.path(), 3, true),
            Err(StorageError::Io { .. })
        ));
    }

    #[test]
    fn deletion_sets_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = Bitset::default();
        set.grow(130);
        for i in [0, 63, 64, 129] {
            set.insert(i);
        }
        set.write_to(dir.path(), 3).unwrap();
        let loaded = Bitset::load(dir.path(), 3, 130).unwrap();
        assert_eq!(loaded, set);
        assert!(loaded.contains(129) && !loaded.contains(128));
        assert!(Bitset::load(dir.path(), 3, 131).is_err());
    }
}
