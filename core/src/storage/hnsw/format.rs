//! The file `hnsw.bin`: a finished graph written once and loaded with every invariant
//! checked. [`HnswGraph::write`] and [`HnswGraph::load`] live here, next to the layout.
//!
//! ## Format: version 1
//! A checked file (header in `checked.rs`): magic `RROHNSW\0`, version 1, `aux` = `m`,
//! `count` = `n`, the number of nodes: the segment's number of offsets for a full graph, the
//! size of the subset for a subset graph. Then, little-endian throughout, with `s` = `n` for
//! a subset graph and 0 for a full graph, the [`GraphHeader`] (offsets from the start of the
//! data, as the constants below name them) and the arrays:
//!
//! | bytes                  | content                                                    |
//! |------------------------|------------------------------------------------------------|
//! | 0..4                   | `m`, u32 (2..=[`MAX_M`]); `m0 = 2 * m`                      |
//! | 4..8                   | `ef_construct`, u32                                        |
//! | 8..12                  | distance, u32: 0 Cosine, 1 Dot, 2 Euclid, 3 Manhattan      |
//! | 12..16                 | entry point node, u32; `0xFFFF_FFFF` when the graph is empty |
//! | 16..20                 | max level (the entry point's level), u32; 0 when empty     |
//! | 20..24                 | flags, u32: 0 for a full graph, 1 for a subset graph; any other value is refused |
//! | 24..32                 | number of inserted nodes, u64                              |
//! | 32..32+4s              | subset graphs only: the offset map, the segment offset of each node, u32, strictly increasing, each `<` the segment's length |
//! | then `n` bytes         | level of each node, u8; `0xFF` = not in the graph          |
//! | then                   | zero bytes up to a multiple of 4                           |
//! | then `n * (1+m0)` u32  | level 0: per node, the link count then `m0` slots (links first, unused slots 0) |
//! | then                   | upper levels: for each node with level `L >= 1`, in node order, for each level `1..=L`: the link count then `m` slots (unused 0), u32 each |
//!
//! Bytes 20..24 were reserved and always written 0 before subset graphs existed, so every
//! older file loads as the full graph it is, and a full graph is still written byte for byte
//! as before. An older reader refuses a subset file (its `count` or its size does not match
//! what it expects), except the empty subset of an empty segment, which it reads as the
//! equivalent empty graph.
//!
//! The file is written once through the project's atomic writer
//! ([`checked::write_atomic_parts`]): into `hnsw.tmp` beside it, synced and renamed over
//! `hnsw.bin`, the directory synced; a reader either sees the previous file or the complete
//! new one. Loading checks the checksum, the exact size and every invariant of the module
//! documentation, so a damaged file is a [`StorageError::Corrupted`] naming the byte, never
//! a panic or a graph that walks out of bounds. The index holds nothing that is not derived
//! from the segment's vectors, so a damaged file can always be rebuilt.

use std::path::Path;

use super::graph::HnswGraph;
use super::{HnswParams, MAX_LEVEL, MAX_M, NOT_INSERTED, NO_ENTRY};
use crate::error::StorageError;
use crate::models::Distance;
use crate::storage::checked::{self, HEADER_LEN};
use crate::storage::distance::graph_distance;

/// The checked header's magic of an index file.
pub(super) const MAGIC: [u8; 8] = *b"RROHNSW\0";
/// The format version this code writes and reads.
pub(super) const VERSION: u32 = 1;

const M_OFFSET: usize = 0;
const M_SIZE: usize = 4;
const EF_CONSTRUCT_OFFSET: usize = M_OFFSET + M_SIZE;
const EF_CONSTRUCT_SIZE: usize = 4;
const DISTANCE_OFFSET: usize = EF_CONSTRUCT_OFFSET + EF_CONSTRUCT_SIZE;
const DISTANCE_SIZE: usize = 4;
const ENTRY_OFFSET: usize = DISTANCE_OFFSET + DISTANCE_SIZE;
const ENTRY_SIZE: usize = 4;
const MAX_LEVEL_OFFSET: usize = ENTRY_OFFSET + ENTRY_SIZE;
const MAX_LEVEL_SIZE: usize = 4;
const FLAGS_OFFSET: usize = MAX_LEVEL_OFFSET + MAX_LEVEL_SIZE;
const FLAGS_SIZE: usize = 4;
const INSERTED_OFFSET: usize = FLAGS_OFFSET + FLAGS_SIZE;
const INSERTED_SIZE: usize = 8;
/// Length of the fixed parameters at the start of the file's data ([`GraphHeader`]); the
/// offset map of a subset graph, or else the levels, start here.
pub(super) const PARAMS_LEN: usize = INSERTED_OFFSET + INSERTED_SIZE;
// Whole words, so that the levels' padding depends on the number of nodes alone.
const _: () = assert!(PARAMS_LEN == 32 && PARAMS_LEN.is_multiple_of(4));

/// The file's flags word of a subset graph: an offset map follows the parameters.
pub(super) const FLAG_SUBSET: u32 = 1;

/// The fixed parameters at the start of the file's data, as stored (not yet checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GraphHeader {
    pub(super) m: u32,
    pub(super) ef_construct: u32,
    /// The distance's code ([`distance_code`]).
    pub(super) distance: u32,
    pub(super) entry: u32,
    pub(super) max_level: u32,
    pub(super) flags: u32,
    pub(super) inserted: u64,
}

impl GraphHeader {
    /// The header's bytes, laid out as the constants above say.
    pub(super) fn to_bytes(self) -> [u8; PARAMS_LEN] {
        let mut out = [0u8; PARAMS_LEN];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(M_OFFSET, &self.m.to_le_bytes());
        put(EF_CONSTRUCT_OFFSET, &self.ef_construct.to_le_bytes());
        put(DISTANCE_OFFSET, &self.distance.to_le_bytes());
        put(ENTRY_OFFSET, &self.entry.to_le_bytes());
        put(MAX_LEVEL_OFFSET, &self.max_level.to_le_bytes());
        put(FLAGS_OFFSET, &self.flags.to_le_bytes());
        put(INSERTED_OFFSET, &self.inserted.to_le_bytes());
        out
    }

    /// The header stored in `bytes`; every bit pattern parses (checking is `load`'s job).
    pub(super) fn from_bytes(bytes: &[u8; PARAMS_LEN]) -> Self {
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut inserted = [0u8; INSERTED_SIZE];
        inserted.copy_from_slice(&bytes[INSERTED_OFFSET..INSERTED_OFFSET + INSERTED_SIZE]);
        GraphHeader {
            m: word(M_OFFSET),
            ef_construct: word(EF_CONSTRUCT_OFFSET),
            distance: word(DISTANCE_OFFSET),
            entry: word(ENTRY_OFFSET),
            max_level: word(MAX_LEVEL_OFFSET),
            flags: word(FLAGS_OFFSET),
            inserted: u64::from_le_bytes(inserted),
        }
    }
}

/// `words` as little-endian bytes: on little-endian targets their own memory, so writing a
/// graph does not hold a second copy of its level 0; copied elsewhere.
fn le_bytes(words: &[u32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(bytemuck::cast_slice(words))
    } else {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

impl HnswGraph {
    /// Write to `path` (a checked file, written atomically), synced. The format is in the
    /// documentation of this module.
    pub fn write(&self, path: &Path) -> Result<(), StorageError> {
        let header = GraphHeader {
            m: self.params.m as u32,
            ef_construct: u32::try_from(self.params.ef_construct).unwrap_or(u32::MAX),
            distance: distance_code(self.distance),
            entry: self.entry,
            max_level: u32::from(self.max_level),
            flags: if self.offsets.is_some() {
                FLAG_SUBSET
            } else {
                0
            },
            inserted: self.inserted as u64,
        }
        .to_bytes();
        let map = le_bytes(self.offsets.as_deref().unwrap_or(&[]));
        // The parameters and the map are whole words, so the levels' padding depends on the
        // number of nodes alone.
        let mut levels = Vec::with_capacity(self.len + 3);
        levels.extend_from_slice(&self.levels);
        levels.resize(levels.len().next_multiple_of(4), 0);
        let level0 = le_bytes(&self.level0);
        let upper = le_bytes(&self.upper);
        checked::write_atomic_parts(
            path,
            MAGIC,
            VERSION,
            self.params.m as u32,
            self.len as u64,
            &[&header, &map, &levels, &level0, &upper],
        )
    }

    /// Load and fully validate a file written by [`HnswGraph::write`] for a segment of
    /// `segment_len` offsets and vectors compared by `distance`: every link to a node of the
    /// graph, degrees within bounds, levels consistent, entry point valid. A full graph has
    /// exactly `segment_len` nodes; a subset graph's offset map must be strictly increasing
    /// and below `segment_len` (callers that expect one kind check
    /// [`HnswGraph::offsets`]). Damage is [`StorageError::Corrupted`] naming the path and byte
    /// offset, never a panic.
    pub fn load(
        path: &Path,
        segment_len: usize,
        distance: Distance,
    ) -> Result<HnswGraph, StorageError> {
        let (header, data) = checked::read(path, MAGIC, VERSION)?;
        // Byte offsets in errors are from the start of the file.
        let bad = |at: usize, reason: String| {
            StorageError::corrupted(path, (HEADER_LEN + at) as u64, reason)
        };
        // Before `count`: the flags say what it counts.
        let Some(head) = data.first_chunk::<PARAMS_LEN>() else {
            return Err(bad(
                0,
                format!("{} bytes of data, shorter than the parameters", data.len()),
            ));
        };
        let head = GraphHeader::from_bytes(head);
        let subset = match head.flags {
            0 => false,
            FLAG_SUBSET => true,
            flags => return Err(bad(FLAGS_OFFSET, format!("unknown flags {flags:#x}"))),
        };
        // A subset's offsets are distinct and `< segment_len`, so it has at most that many
        // nodes, and its node numbers must stay clear of `NO_ENTRY`.
        let len = match usize::try_from(header.count) {
            Ok(count) if !subset && count == segment_len => count,
            Ok(count) if subset && count <= segment_len && count < NO_ENTRY as usize => count,
            _ => {
                return Err(StorageError::corrupted(
                    path,
                    checked::COUNT_OFFSET as u64,
                    format!(
                        "index of {} nodes ({}), but the segment has {segment_len} offsets",
                        header.count,
                        if subset { "a subset" } else { "a full graph" }
                    ),
                ))
            }
        };
        let m = head.m as usize;
        if m != header.aux as usize || !(2..=MAX_M).contains(&m) {
            return Err(bad(
                M_OFFSET,
                format!("m = {m} (header says {}), not in 2..={MAX_M}", header.aux),
            ));
        }
        let ef_construct = head.ef_construct as usize;
        match distance_from_code(head.distance) {
            Some(found) if found == distance => {}
            found => {
                return Err(bad(
                    DISTANCE_OFFSET,
                    format!("index built for distance {found:?}, the collection uses {distance:?}"),
                ))
            }
        }
        let (entry, max_level, inserted) = (head.entry, head.max_level, head.inserted);
        let params = HnswParams { m, ef_construct };
        let m0 = params.m0();

        let map_words = if subset { len } else { 0 };
        let Some(levels_start) = map_words
            .checked_mul(4)
            .and_then(|bytes| bytes.checked_add(PARAMS_LEN))
        else {
            return Err(bad(PARAMS_LEN, "offset map size overflows".to_owned()));
        };
        let offsets = if subset {
            let Some(bytes) = data.get(PARAMS_LEN..levels_start) else {
                return Err(bad(
                    data.len(),
                    format!("file ends inside the offset map of {len} nodes"),
                ));
            };
            let map: Vec<u32> = bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let mut previous = None;
            for (node, &offset) in map.iter().enumerate() {
                let at = PARAMS_LEN + 4 * node;
                if offset as usize >= segment_len {
                    return Err(bad(
                        at,
                        format!(
                            "node {node} is offset {offset}, outside the segment's {segment_len}"
                        ),
                    ));
                }
                if previous.is_some_and(|previous| offset <= previous) {
                    return Err(bad(
                        at,
                        format!("offset map is not increasing at node {node} (offset {offset})"),
                    ));
                }
                previous = Some(offset);
            }
            Some(map)
        } else {
            None
        };

        let Some(levels_end) = levels_start.checked_add(len) else {
            return Err(bad(levels_start, "index size overflows".to_owned()));
        };
        let Some(levels) = data.get(levels_start..levels_end) else {
            return Err(bad(
                data.len(),
                format!("file ends inside the levels of {len} nodes"),
            ));
        };
        let levels = levels.to_vec();
        let mut count = 0u64;
        let mut top = 0u8;
        let mut upper_blocks = 0usize;
        for (node, &level) in levels.iter().enumerate() {
            if level == NOT_INSERTED {
                continue;
            }
            if level > MAX_LEVEL {
                return Err(bad(
                    levels_start + node,
                    format!("level {level} above {MAX_LEVEL}"),
                ));
            }
            count += 1;
            top = top.max(level);
            upper_blocks += usize::from(level);
        }
        if count != inserted {
            return Err(bad(
                INSERTED_OFFSET,
                format!("{inserted} nodes announced, {count} have a level"),
            ));
        }
        if count == 0 {
            if entry != NO_ENTRY || max_level != 0 {
                return Err(bad(
                    ENTRY_OFFSET,
                    "an empty graph with an entry point".to_owned(),
                ));
            }
        } else if levels.get(entry as usize) != Some(&top) || max_level != u32::from(top) {
            return Err(bad(
                ENTRY_OFFSET,
                format!(
                    "entry point {entry} of level {max_level} is not a node of the top level {top}"
                ),
            ));
        }

        let level0_start = levels_end.next_multiple_of(4);
        let upper_at = len
            .checked_mul(1 + m0)
            .and_then(|words| words.checked_mul(4))
            .and_then(|bytes| bytes.checked_add(level0_start));
        let end = upper_blocks
            .checked_mul((1 + m) * 4)
            .and_then(|bytes| bytes.checked_add(upper_at?));
        let (Some(upper_at), Some(end)) = (upper_at, end) else {
            return Err(bad(0, "index size overflows".to_owned()));
        };
        if data.len() != end {
            return Err(bad(
                data.len().min(end),
                format!("{} bytes of data, expected {end}", data.len()),
            ));
        }
        if data[levels_end..level0_start].iter().any(|&b| b != 0) {
            return Err(bad(levels_end, "padding is not zero".to_owned()));
        }
        let words = |from: usize, to: usize| -> Vec<u32> {
            data[from..to]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let level0 = words(level0_start, upper_at);
        let upper = words(upper_at, end);

        // One list: `row[0]` links in `row[1..]`, each to a node of level >= `lc`.
        let check_list = |node: usize,
                          lc: u8,
                          row: &[u32],
                          at: usize|
         -> Result<(), StorageError> {
            let count = row[0] as usize;
            if count >= row.len() {
                return Err(bad(
                    at,
                    format!(
                        "node {node} has {count} links on level {lc}, at most {}",
                        row.len() - 1
                    ),
                ));
            }
            for (i, &link) in row[1..].iter().enumerate() {
                let pos = at + 4 * (1 + i);
                if i >= count {
                    if link != 0 {
                        return Err(bad(
                            pos,
                            format!("unused link slot of node {node} is not zero"),
                        ));
                    }
                } else if link as usize == node {
                    return Err(bad(pos, format!("node {node} links to itself")));
                } else {
                    match levels.get(link as usize) {
                        Some(&level) if level != NOT_INSERTED && level >= lc => {}
                        _ => return Err(bad(pos, format!("node {node} links to {link} on level {lc}, which is not a node of that level"))),
                    }
                }
            }
            Ok(())
        };
        let mut upper_start = vec![usize::MAX; len];
        let mut next_block = 0;
        for (node, &level) in levels.iter().enumerate() {
            let row = &level0[node * (1 + m0)..(node + 1) * (1 + m0)];
            let at = level0_start + node * (1 + m0) * 4;
            if level == NOT_INSERTED {
                if row.iter().any(|&w| w != 0) {
                    return Err(bad(
                        at,
                        format!("node {node} is not in the graph but has links"),
                    ));
                }
                continue;
            }
            check_list(node, 0, row, at)?;
            if level > 0 {
                upper_start[node] = next_block;
                for lc in 1..=level {
                    let row = &upper[next_block..next_block + 1 + m];
                    check_list(node, lc, row, upper_at + next_block * 4)?;
                    next_block += 1 + m;
                }
            }
        }

        Ok(HnswGraph {
            len,
            offsets,
            // The layout is the caller's, not the file's: the default until `with_layout`.
            stride: 0,
            column: 0,
            params,
            distance,
            dist: graph_distance(distance),
            entry,
            max_level: top,
            inserted: count as usize,
            levels,
            level0,
            upper_start,
            upper,
        })
    }
}

/// The file's code for `distance`.
fn distance_code(distance: Distance) -> u32 {
    match distance {
        Distance::Cosine => 0,
        Distance::Dot => 1,
        Distance::Euclid => 2,
        Distance::Manhattan => 3,
    }
}

/// The distance of a file's code.
fn distance_from_code(code: u32) -> Option<Distance> {
    Some(match code {
        0 => Distance::Cosine,
        1 => Distance::Dot,
        2 => Distance::Euclid,
        3 => Distance::Manhattan,
        _ => return None,
    })
}
