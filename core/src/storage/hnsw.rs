//! The HNSW graph index of one segment: building it (several threads at once), searching it,
//! and its file `hnsw.bin`.
//!
//! The graph's nodes are the segment's offsets `0..len`; it stores links only, never vectors.
//! Callers pass the segment's flat slice of rows (`len * stride` f32, possibly memory-mapped;
//! `stride = dim` unless the graph has a wider layout, below) to every [`HnswBuilder::insert`]
//! and [`HnswGraph::search`]. Offsets that were never inserted (points deleted before the
//! index was built) have no links and are never reached. Which
//! points a search may *return* is the caller's business (the `accept` filter); the graph
//! routes through every node it has.
//!
//! A *subset graph* ([`HnswBuilder::subset`]) covers only a sorted subset of the segment's
//! offsets, for example the points whose payload has `section = "libs"`, so that a filter
//! requiring them searches a graph of those points alone, built in time and memory
//! proportional to the subset rather than to the segment. Its nodes are `0..n`, node `k`
//! standing for segment offset `offsets[k]` (the *offset map*, strictly increasing); links,
//! levels and the entry point are nodes. Everything the caller sees stays in segment offsets:
//! the vectors passed in are still the whole segment's, and a search's `accept` filter and
//! results are offsets. Because the map is increasing, ties between equal distances break
//! the same way (lower offset first) as in a full graph. A full graph is the subset whose map
//! is the identity, and is stored without one; searching it never touches a map (the search
//! is monomorphised for both cases).
//!
//! A graph's *layout* says where its vectors are in the segment's rows, for collections that
//! store several vectors per point side by side in one row of `stride` f32: the vector of
//! segment offset `o` is `vectors[o * stride + column..][..dim]`. The default layout,
//! `stride = dim` and `column = 0`, is rows that are the vectors themselves. The layout is the
//! caller's configuration, not part of the graph's structure: it is not written to the file
//! and is given again ([`HnswGraph::with_layout`]) after a load, so that one file format
//! serves every layout.
//!
//! This is the design of the HNSW paper (Malkov & Yashunin) as hnswlib implements it:
//! every node gets a level `floor(-ln(u) / ln(m))`; a node of level `L` has a neighbour list
//! on each level `0..=L`, of at most `m` links on upper levels and `m0 = 2 * m` on level 0.
//! A search descends greedily from the entry point (a node of the highest level) through the
//! upper levels, then runs a beam search of width `ef` on level 0. Neighbours are chosen with
//! the HNSW heuristic: a candidate is kept only if it is closer to the new node than to every
//! neighbour kept so far, which spreads links in all directions.
//!
//! Distances are [graph distances](super::distance::graph_distance): smaller is closer.
//!
//! Building takes a lock per node around its neighbour lists (copied out before they are
//! scanned) and one around the entry point, so any number of threads insert at once. Level 0
//! is built in place in its final layout (one flat array of atomics with a fixed stride per
//! offset, each row read and written only under its node's lock), so finishing reuses that
//! allocation instead of copying per-node lists into a second one. A finished graph is
//! immutable: level 0 is that flat array, the upper levels (about one node in `m`) a second
//! compact array. A search allocates nothing per visited node: the visited set is a
//! per-thread array of generation tags, and the vectors of the neighbours about to be compared
//! are prefetched, which matters because search time is mostly spent waiting for vectors to
//! arrive from memory.
//!
//! ## Invariants
//! Checked when a file is loaded, and true by construction after [`HnswBuilder::finish`]:
//! every link is an inserted node `< n` other than the node itself; a node's level-0 list
//! has at most `m0` links and each of its upper lists at most `m`; a link on level `l` points
//! to a node whose level is at least `l`; the entry point is an inserted node of the highest
//! level, or there is none and no node is inserted. A subset graph's offset map is strictly
//! increasing and every offset in it is `<` the segment's length.
//!
//! ## File format: `hnsw.bin`, version 1
//! A checked file (header in `checked.rs`): magic `RROHNSW\0`, version 1, `aux` = `m`,
//! `count` = `n`, the number of nodes: the segment's number of offsets for a full graph, the
//! size of the subset for a subset graph. Then, little-endian throughout, with `s` = `n` for
//! a subset graph and 0 for a full graph:
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
//! The file is written once, into `hnsw.tmp` beside it, synced and renamed over
//! `hnsw.bin`; a reader either sees the previous file or the complete new one. Loading checks
//! the checksum, the exact size and every invariant above, so a damaged file is a
//! [`StorageError::Corrupted`] naming the byte, never a panic or a graph that walks out of
//! bounds. The index holds nothing that is not derived from the segment's vectors, so a
//! damaged file can always be rebuilt.

use std::cell::Cell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as Atomic};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::checked::{self, HEADER_LEN};
use super::distance::graph_distance;
use crate::error::StorageError;
use crate::models::Distance;

/// Name of the index file inside a segment directory.
pub const HNSW_FILE: &str = "hnsw.bin";
/// Largest `m` accepted (larger values are clamped when building, refused when loading).
pub const MAX_M: usize = 512;
/// Highest level a node can get (the sampled level is capped here).
pub const MAX_LEVEL: u8 = 32;

const MAGIC: [u8; 8] = *b"RROHNSW\0";
const VERSION: u32 = 1;
/// The level byte of an offset that is not in the graph.
const NOT_INSERTED: u8 = u8::MAX;
/// The entry point of an empty graph.
const NO_ENTRY: u32 = u32::MAX;
/// How many neighbours ahead of the distance computation their vectors are prefetched.
const PREFETCH_AHEAD: usize = 1;
/// How many cache lines of a vector are prefetched: half of a 384-d vector measured best
/// (more queues too many misses at once; the hardware prefetcher streams the rest).
const PREFETCH_LINES: usize = 12;
/// Length of the fixed parameters at the start of the file's data.
const PARAMS_LEN: usize = 32;
/// The file's flags word of a subset graph: an offset map follows the parameters.
const FLAG_SUBSET: u32 = 1;

/// How a graph's nodes name segment offsets. The builder and the search are generic over it,
/// so a full graph's inner loops compile to exactly what they were before subsets existed
/// instead of testing for a map at every neighbour.
trait NodeMap: Copy {
    /// The segment offset of `node`, which the graph's invariants keep `< n`.
    fn offset(self, node: u32) -> u32;
}

/// The map of a full graph: node `k` is offset `k`.
#[derive(Clone, Copy)]
struct Identity;

impl NodeMap for Identity {
    #[inline(always)]
    fn offset(self, node: u32) -> u32 {
        node
    }
}

impl NodeMap for &[u32] {
    #[inline(always)]
    fn offset(self, node: u32) -> u32 {
        // Every node reached is `< n` (links are checked on load and built from nodes), so
        // the index is in bounds like the vector slices the callers take.
        self[node as usize]
    }
}

/// How many segment offsets a graph's vectors must cover: `len` for a full graph, one past
/// the largest mapped offset for a subset graph.
fn span(len: usize, offsets: Option<&[u32]>) -> usize {
    match offsets {
        None => len,
        Some(map) => map.last().map_or(0, |&last| last as usize + 1),
    }
}

/// The layout's stride (0 meaning `dim`) if a vector fits in its row and `vectors` has `span` rows.
fn checked_stride(
    vectors: &[f32],
    span: usize,
    dim: usize,
    stride: usize,
    column: usize,
) -> Option<usize> {
    // Checked once per insert or search, so that every vector read after it is in bounds.
    let stride = if stride == 0 { dim } else { stride };
    let fits = column.checked_add(dim).is_some_and(|end| end <= stride);
    let covered = span
        .checked_mul(stride)
        .is_some_and(|needed| needed <= vectors.len());
    (fits && covered).then_some(stride)
}

/// Where a graph's vectors are: the segment's rows, the node map and the checked layout.
// Copied into locals by the loops that read it, so that a vector's address costs one
// multiply-add on top of the node's offset, as it did before layouts.
#[derive(Clone, Copy)]
struct Rows<'a, M> {
    vectors: &'a [f32],
    map: M,
    stride: usize,
    column: usize,
    dim: usize,
}

impl<'a, M: NodeMap> Rows<'a, M> {
    /// The vector of `node`.
    #[inline(always)]
    fn vector(&self, node: u32) -> &'a [f32] {
        let start = self.map.offset(node) as usize * self.stride + self.column;
        &self.vectors[start..start + self.dim]
    }
}

/// How a graph is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper levels (twice that on level 0). Default 16; at least 2.
    pub m: usize,
    /// Beam width while inserting: larger builds slower and finds better neighbours.
    /// Default 100.
    pub ef_construct: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construct: 100,
        }
    }
}

impl HnswParams {
    /// The parameters actually used: `m` in `2..=MAX_M`, `ef_construct` at least 1.
    fn normalised(self) -> Self {
        HnswParams {
            m: self.m.clamp(2, MAX_M),
            ef_construct: self.ef_construct.max(1),
        }
    }

    /// Maximum links of a node on level 0.
    fn m0(self) -> usize {
        2 * self.m
    }
}

/// A node and its graph distance to the query; ordered by distance, then offset.
#[derive(Debug, Clone, Copy)]
struct Near {
    dist: f32,
    id: u32,
}

impl PartialEq for Near {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Near {}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

/// The set of nodes one search has visited: a tag per offset, equal to the current
/// generation when visited, so that starting a new search is one increment instead of a
/// clear of `len` entries.
#[derive(Default)]
struct Visited {
    tags: Vec<u32>,
    generation: u32,
}

impl Visited {
    /// Forget every visit, for a graph of `len` offsets.
    fn start(&mut self, len: usize) {
        if self.tags.len() < len {
            self.tags.resize(len, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.tags.fill(0);
            self.generation = 1;
        }
    }

    /// Mark `id` visited; `true` if it was not before. Offsets out of range count as visited,
    /// so they are never followed.
    #[inline]
    fn first_visit(&mut self, id: u32) -> bool {
        match self.tags.get_mut(id as usize) {
            Some(tag) if *tag != self.generation => {
                *tag = self.generation;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    /// Each thread's visited set, reused by every search and insert on that thread so that a
    /// query allocates nothing of size `len`. It keeps the size of the largest graph the
    /// thread searched.
    static VISITED: Cell<Option<Visited>> = const { Cell::new(None) };
}

/// Run `f` with this thread's visited set, started for `len` offsets. Taken out of the
/// thread-local while `f` runs, so a nested search (from inside an `accept` filter) gets a
/// fresh set instead of a panic.
fn with_visited<R>(len: usize, f: impl FnOnce(&mut Visited) -> R) -> R {
    let mut visited = VISITED
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default();
    visited.start(len);
    let result = f(&mut visited);
    let _ = VISITED.try_with(|cell| cell.set(Some(visited)));
    result
}

/// Lock a node's links. A panic while a list was locked leaves a valid list (nothing panics
/// while a level-0 row is being rewritten, an upper list changes by a single assignment or
/// push), so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The link slots in use of a level-0 row: `row[1..=row[0]]` (the count capped to the row).
/// The caller holds the row's lock.
fn links_of(row: &[AtomicU32]) -> std::slice::Iter<'_, AtomicU32> {
    let count = row
        .first()
        .map_or(0, |count| count.load(Atomic::Relaxed) as usize);
    row.get(1..).unwrap_or(&[])[..count.min(row.len().saturating_sub(1))].iter()
}

/// Replace the links of a level-0 row (whose lock the caller holds) by `links` (at most the
/// row's slots are kept), zeroing the slots no longer used so that unused slots stay 0.
fn set_row(row: &[AtomicU32], links: impl Iterator<Item = u32>) {
    let old = links_of(row).len();
    let Some((count, slots)) = row.split_first() else {
        return;
    };
    let mut new = 0;
    for (slot, link) in slots.iter().zip(links) {
        slot.store(link, Atomic::Relaxed);
        new += 1;
    }
    for slot in slots.iter().take(old).skip(new) {
        slot.store(0, Atomic::Relaxed);
    }
    count.store(new as u32, Atomic::Relaxed);
}

/// The plain words of a level 0 built with atomics. Reuses the allocation in place (same size
/// and alignment), so finishing a build does not hold two copies of level 0.
fn into_plain(words: Vec<AtomicU32>) -> Vec<u32> {
    words.into_iter().map(AtomicU32::into_inner).collect()
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

/// SplitMix64's output function: a strong 64-bit mix.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The level of `offset`: `floor(-ln(u) * mult)` for `u` uniform in (0, 1] drawn from
/// `seed` and `offset` alone, so it does not depend on which thread inserts when.
fn sample_level(seed: u64, offset: u32, mult: f64) -> u8 {
    let bits = splitmix64(seed ^ splitmix64(u64::from(offset)));
    let u = ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let level = (-u.ln() * mult).floor();
    if level >= f64::from(MAX_LEVEL) {
        MAX_LEVEL
    } else {
        level as u8
    }
}

/// Builds the graph of one segment, or of a subset of its offsets; shared by reference
/// between inserting threads.
///
/// The builder does not hold the vectors: every [`HnswBuilder::insert`] is given the
/// segment's vector slice, so a builder can live beside the data it indexes (for example in
/// one job struct with an `Arc` of the segment).
pub struct HnswBuilder {
    dim: usize,
    /// Number of nodes: the segment's length, or the subset's size.
    len: usize,
    /// The segment offset of each node of a subset graph, strictly increasing; `None` for a
    /// full graph.
    offsets: Option<Vec<u32>>,
    /// Width of the segment's rows, in f32 (0 meaning `dim`).
    stride: usize,
    /// Where in a row the vector starts.
    column: usize,
    distance: Distance,
    params: HnswParams,
    dist: fn(&[f32], &[f32]) -> f32,
    /// The sampled level of every offset, inserted or not.
    levels: Vec<u8>,
    /// Level 0 in its final layout, `1 + m0` slots per offset: the link count, then the
    /// links, unused slots 0. A row is read and written only while its node's lock in
    /// `nodes` is held (which orders the accesses, so they are `Relaxed`).
    level0: Vec<AtomicU32>,
    /// Per offset, the lock over its level-0 row, holding its neighbour lists on levels
    /// `1..=L` (index `lc - 1`); empty for nodes of level 0 and until inserted.
    nodes: Vec<Mutex<Vec<Vec<u32>>>>,
    inserted: Vec<AtomicBool>,
    /// The entry point and its level, `None` until the first insert.
    entry: Mutex<Option<(u32, u8)>>,
}

impl std::fmt::Debug for HnswBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswBuilder")
            .field("len", &self.len)
            .field("subset", &self.offsets.is_some())
            .field("dim", &self.dim)
            .field("layout", &(self.stride, self.column))
            .field("distance", &self.distance)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl HnswBuilder {
    /// A builder for a segment of `len` vectors of `dim` components (offsets `0..len`),
    /// compared by `distance`. `seed` fixes the levels of the nodes. `len` is capped below
    /// `u32::MAX`.
    pub fn new(dim: usize, len: usize, distance: Distance, params: HnswParams, seed: u64) -> Self {
        debug_assert!(len < NO_ENTRY as usize, "{len} offsets do not fit in u32");
        let len = len.min(NO_ENTRY as usize - 1);
        Self::with_map(dim, len, None, distance, params, seed)
    }

    /// A builder for the subset graph of the segment offsets `offsets` (strictly increasing;
    /// a caller bug otherwise, then sorted and deduplicated): nodes `0..offsets.len()`, node
    /// `k` standing for offset `offsets[k]`. Its memory and build time are those of a graph
    /// of `offsets.len()` nodes, whatever the segment's length. Insert with
    /// [`HnswBuilder::insert_node`] (or [`HnswBuilder::insert`] by segment offset).
    pub fn subset(
        dim: usize,
        mut offsets: Vec<u32>,
        distance: Distance,
        params: HnswParams,
        seed: u64,
    ) -> Self {
        let increasing = offsets.windows(2).all(|pair| pair[0] < pair[1]);
        debug_assert!(increasing, "subset offsets are not strictly increasing");
        if !increasing {
            offsets.sort_unstable();
            offsets.dedup();
        }
        // Node numbers stay below `NO_ENTRY`, as in `new`; only a map of nearly every u32 is
        // cut.
        debug_assert!(
            offsets.len() < NO_ENTRY as usize,
            "subset too large for u32 nodes"
        );
        offsets.truncate(NO_ENTRY as usize - 1);
        Self::with_map(dim, offsets.len(), Some(offsets), distance, params, seed)
    }

    /// The builder of `len` nodes mapped by `offsets` (`None`: the identity).
    fn with_map(
        dim: usize,
        len: usize,
        offsets: Option<Vec<u32>>,
        distance: Distance,
        params: HnswParams,
        seed: u64,
    ) -> Self {
        let params = params.normalised();
        let mult = 1.0 / (params.m as f64).ln();
        // Levels are drawn from the segment offset, so a point gets the same level in every
        // graph of its segment, and a subset of every offset builds the full graph.
        let levels = match &offsets {
            None => (0..len as u32)
                .map(|offset| sample_level(seed, offset, mult))
                .collect(),
            Some(map) => map
                .iter()
                .map(|&offset| sample_level(seed, offset, mult))
                .collect(),
        };
        HnswBuilder {
            dim,
            len,
            offsets,
            stride: dim,
            column: 0,
            distance,
            params,
            dist: graph_distance(distance),
            levels,
            level0: (0..len * (1 + params.m0()))
                .map(|_| AtomicU32::new(0))
                .collect(),
            nodes: (0..len).map(|_| Mutex::new(Vec::new())).collect(),
            inserted: (0..len).map(|_| AtomicBool::new(false)).collect(),
            entry: Mutex::new(None),
        }
    }

    /// Read vectors at `column` of rows `stride` wide (0 meaning `dim`); set before any insert.
    pub fn with_layout(mut self, stride: usize, column: usize) -> Self {
        // A layout whose vector overruns its row is kept, so that every insert is refused
        // rather than reading the wrong columns.
        debug_assert!(
            checked_stride(&[], 0, self.dim, stride, column).is_some(),
            "a vector of {} components does not fit at column {column} of rows of {stride}",
            self.dim
        );
        // Vectors already inserted were read with the old layout: their links would not fit
        // the new one.
        debug_assert!(
            lock(&self.entry).is_none(),
            "layout changed after an insert"
        );
        self.stride = stride;
        self.column = column;
        self
    }

    /// Insert offset `offset` (< len), whose vector and its neighbours' are in `vectors`: the
    /// segment's rows in offset order, `len * stride` f32 (`len * dim` with the default
    /// layout), the same slice at every call. Thread-safe: several threads call it
    /// concurrently on a shared `&HnswBuilder`. Inserting an offset twice does nothing; an
    /// offset `>= len`, a short `vectors` or a layout whose vector does not fit in its row is
    /// a caller bug, ignored (and a debug assertion). For a subset builder `offset` is still a
    /// segment offset, looked up in the subset (one that is not in it is a caller bug too);
    /// [`HnswBuilder::insert_node`] saves the lookup.
    pub fn insert(&self, vectors: &[f32], offset: u32) {
        let node = match &self.offsets {
            None => offset,
            Some(map) => match map.binary_search(&offset) {
                Ok(node) => node as u32,
                Err(_) => {
                    debug_assert!(false, "offset {offset} is not in the subset");
                    return;
                }
            },
        };
        self.insert_node(vectors, node);
    }

    /// Insert node `node` (< the number of nodes): for a subset builder the subset's
    /// `node`-th offset, for a full builder offset `node`. `vectors` is the whole segment's
    /// rows in offset order (not the subset's), the same slice at every call, covering the
    /// row of the largest offset of the subset. Thread-safe, idempotent and checked like
    /// [`HnswBuilder::insert`].
    pub fn insert_node(&self, vectors: &[f32], node: u32) {
        let span = span(self.len, self.offsets.as_deref());
        let stride = checked_stride(vectors, span, self.dim, self.stride, self.column);
        let (Some(stride), true) = (stride, (node as usize) < self.len) else {
            debug_assert!(
                false,
                "node {node} of 0..{}, or vectors too short or a bad layout",
                self.len
            );
            return;
        };
        let (column, dim) = (self.column, self.dim);
        match self.offsets.as_deref() {
            None => Inserter {
                builder: self,
                rows: Rows {
                    vectors,
                    map: Identity,
                    stride,
                    column,
                    dim,
                },
            }
            .insert(node),
            Some(map) => Inserter {
                builder: self,
                rows: Rows {
                    vectors,
                    map,
                    stride,
                    column,
                    dim,
                },
            }
            .insert(node),
        }
    }

    /// The level-0 row of `node` (only to be touched while holding `nodes[node]`).
    fn row(&self, node: usize) -> &[AtomicU32] {
        let stride = 1 + self.params.m0();
        &self.level0[node * stride..(node + 1) * stride]
    }

    /// Copy `node`'s links on level `lc` into `out` (so that the lock is not held while they
    /// are scanned).
    fn copy_links(&self, node: u32, lc: usize, out: &mut Vec<u32>) {
        out.clear();
        let node = node as usize;
        let lists = lock(&self.nodes[node]);
        if lc == 0 {
            out.extend(links_of(self.row(node)).map(|slot| slot.load(Atomic::Relaxed)));
        } else if let Some(list) = lists.get(lc - 1) {
            out.extend_from_slice(list);
        }
    }

    /// The finished graph, laid out for search.
    pub fn finish(self) -> HnswGraph {
        let params = self.params;
        let (m, m0) = (params.m, params.m0());
        let mut levels = vec![NOT_INSERTED; self.len];
        let mut upper_start = vec![usize::MAX; self.len];
        let mut upper = Vec::new();
        let mut inserted = 0;
        for (node, lists) in self.nodes.into_iter().enumerate() {
            if !self.inserted[node].load(Atomic::Acquire) {
                // Nothing links to a node before it is inserted, so its row is all 0.
                debug_assert!(self.level0[node * (1 + m0)..(node + 1) * (1 + m0)]
                    .iter()
                    .all(|slot| slot.load(Atomic::Relaxed) == 0));
                continue;
            }
            inserted += 1;
            let level = self.levels[node];
            levels[node] = level;
            let lists = lists.into_inner().unwrap_or_else(PoisonError::into_inner);
            if level > 0 {
                upper_start[node] = upper.len();
                for lc in 1..=usize::from(level) {
                    let list = lists.get(lc - 1).map_or(&[][..], Vec::as_slice);
                    let count = list.len().min(m);
                    upper.push(count as u32);
                    upper.extend_from_slice(&list[..count]);
                    upper.resize(upper.len() + m - count, 0);
                }
            }
        }
        let mut level0 = into_plain(self.level0);
        let entry = self
            .entry
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let (entry, max_level) = entry.unwrap_or((NO_ENTRY, 0));
        heal_level0(&mut level0, m0, &levels, entry);
        HnswGraph {
            len: self.len,
            offsets: self.offsets,
            stride: self.stride,
            column: self.column,
            params,
            distance: self.distance,
            dist: self.dist,
            entry,
            max_level,
            inserted,
            levels,
            level0,
            upper_start,
            upper,
        }
    }
}

/// Give every inserted node but the entry point at least one incoming level-0 link, so that a
/// search can reach it. Pruning by the neighbour heuristic can drop a node from every list
/// that held it (more likely when threads insert concurrently, which changes the order
/// lists fill in); such a node could never be returned. It is linked from one of its own
/// neighbours instead: into a free slot, or in place of a link to a node that has other
/// incoming links, so that no node loses its last one.
fn heal_level0(level0: &mut [u32], m0: usize, levels: &[u8], entry: u32) {
    let stride = 1 + m0;
    let len = levels.len();
    let row_links = |level0: &[u32], node: usize| -> std::ops::Range<usize> {
        let count = (level0[node * stride] as usize).min(m0);
        node * stride + 1..node * stride + 1 + count
    };
    let mut incoming = vec![0u32; len];
    for node in (0..len).filter(|&n| levels[n] != NOT_INSERTED) {
        for &link in &level0[row_links(level0, node)] {
            if let Some(count) = incoming.get_mut(link as usize) {
                *count += 1;
            }
        }
    }
    for orphan in 0..len {
        if levels[orphan] == NOT_INSERTED || orphan as u32 == entry || incoming[orphan] > 0 {
            continue;
        }
        let neighbours: Vec<u32> = level0[row_links(level0, orphan)].to_vec();
        for neighbour in neighbours {
            let n = neighbour as usize;
            if n >= len {
                continue;
            }
            let count = (level0[n * stride] as usize).min(m0);
            if count < m0 {
                level0[n * stride + 1 + count] = orphan as u32;
                level0[n * stride] = count as u32 + 1;
                incoming[orphan] += 1;
                break;
            }
            // Replace the link whose target has the most other ways in.
            let slots = row_links(level0, n);
            let best = slots
                .clone()
                .filter(|&slot| incoming.get(level0[slot] as usize).is_some_and(|&c| c > 1))
                .max_by_key(|&slot| incoming[level0[slot] as usize]);
            if let Some(slot) = best {
                incoming[level0[slot] as usize] -= 1;
                level0[slot] = orphan as u32;
                incoming[orphan] += 1;
                break;
            }
        }
    }
}

/// One insert: the builder and where the vectors of its nodes are.
struct Inserter<'a, M> {
    builder: &'a HnswBuilder,
    rows: Rows<'a, M>,
}

impl<M> std::ops::Deref for Inserter<'_, M> {
    type Target = HnswBuilder;

    fn deref(&self) -> &HnswBuilder {
        self.builder
    }
}

impl<'a, M: NodeMap> Inserter<'a, M> {
    /// The vector of `node`, in bounds since `HnswBuilder::insert_node` checked the layout.
    #[inline(always)]
    fn vector(&self, node: u32) -> &'a [f32] {
        self.rows.vector(node)
    }

    /// The work of [`HnswBuilder::insert_node`], once its arguments are checked.
    fn insert(&self, id: u32) {
        let node = id as usize;
        if self.inserted[node].swap(true, Atomic::AcqRel) {
            return;
        }
        let level = self.levels[node];
        // The lists exist before any other node can link here, so whoever reaches this node
        // finds (possibly empty) lists on each of its levels. Its level-0 row is empty already.
        *lock(&self.nodes[node]) = vec![Vec::new(); usize::from(level)];
        let (entry, top) = {
            let mut entry = lock(&self.entry);
            match *entry {
                Some(entry) => entry,
                None => {
                    *entry = Some((id, level));
                    return;
                }
            }
        };
        let query = self.vector(id);
        with_visited(self.len, |visited| {
            let mut scratch = Vec::new();
            let mut nearest = Near {
                dist: (self.dist)(query, self.vector(entry)),
                id: entry,
            };
            for lc in (usize::from(level) + 1..=usize::from(top)).rev() {
                nearest = self.greedy(query, nearest, lc, &mut scratch);
            }
            let mut entries = vec![nearest];
            for lc in (0..=usize::from(level.min(top))).rev() {
                let mut found = self.search_level(query, &entries, lc, visited, &mut scratch);
                found.retain(|near| near.id != id);
                let chosen = self.select(&found, self.params.m);
                let max_degree = if lc == 0 {
                    self.params.m0()
                } else {
                    self.params.m
                };
                // Other threads may have linked this node to theirs already (it is reachable
                // from its higher levels): keep those links next to the chosen ones, or the
                // nodes behind them lose their only way in from here.
                let mut lists = lock(&self.nodes[node]);
                let mut links: Vec<u32> = chosen.iter().map(|near| near.id).collect();
                let before: Vec<u32> = if lc == 0 {
                    links_of(self.row(node))
                        .map(|slot| slot.load(Atomic::Relaxed))
                        .collect()
                } else {
                    lists.get(lc - 1).cloned().unwrap_or_default()
                };
                for link in before {
                    if !links.contains(&link) {
                        links.push(link);
                    }
                }
                if links.len() > max_degree {
                    links = self
                        .prune(id, links.into_iter(), max_degree)
                        .iter()
                        .map(|near| near.id)
                        .collect();
                }
                if lc == 0 {
                    set_row(self.row(node), links.into_iter());
                } else if let Some(list) = lists.get_mut(lc - 1) {
                    *list = links;
                }
                drop(lists);
                for neighbour in &chosen {
                    self.connect(neighbour.id, id, lc, max_degree);
                }
                if !found.is_empty() {
                    entries = found;
                }
            }
        });
        if level > top {
            let mut entry = lock(&self.entry);
            if matches!(*entry, Some((_, current)) if level > current) {
                *entry = Some((id, level));
            }
        }
    }

    /// Greedy walk on level `lc` from `start` to a local minimum of the distance to `query`.
    fn greedy(&self, query: &[f32], start: Near, lc: usize, scratch: &mut Vec<u32>) -> Near {
        let mut best = start;
        loop {
            let mut moved = false;
            self.copy_links(best.id, lc, scratch);
            for &next in scratch.iter() {
                let dist = (self.dist)(query, self.vector(next));
                if dist < best.dist {
                    best = Near { dist, id: next };
                    moved = true;
                }
            }
            if !moved {
                return best;
            }
        }
    }

    /// Beam search of width `ef_construct` on level `lc` from `entries`; the nodes found,
    /// closest first.
    fn search_level(
        &self,
        query: &[f32],
        entries: &[Near],
        lc: usize,
        visited: &mut Visited,
        scratch: &mut Vec<u32>,
    ) -> Vec<Near> {
        let ef = self.params.ef_construct.min(self.len);
        visited.start(self.len);
        let mut candidates = BinaryHeap::with_capacity(ef * 2);
        let mut results = BinaryHeap::with_capacity(ef + 1);
        for &entry in entries {
            if visited.first_visit(entry.id) {
                candidates.push(Reverse(entry));
                results.push(entry);
            }
        }
        while results.len() > ef {
            results.pop();
        }
        while let Some(Reverse(current)) = candidates.pop() {
            let worst = results.peek().map_or(f32::INFINITY, |n: &Near| n.dist);
            if current.dist > worst && results.len() >= ef {
                break;
            }
            self.copy_links(current.id, lc, scratch);
            scratch.retain(|&next| visited.first_visit(next));
            for &first in scratch.iter().take(PREFETCH_AHEAD) {
                prefetch(self.vector(first), PREFETCH_LINES);
            }
            for (i, &next) in scratch.iter().enumerate() {
                if let Some(&after) = scratch.get(i + PREFETCH_AHEAD) {
                    prefetch(self.vector(after), PREFETCH_LINES);
                }
                let dist = (self.dist)(query, self.vector(next));
                let worst = results.peek().map_or(f32::INFINITY, |n: &Near| n.dist);
                if results.len() < ef || dist < worst {
                    let near = Near { dist, id: next };
                    candidates.push(Reverse(near));
                    results.push(near);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        results.into_sorted_vec()
    }

    /// At most `max` of `candidates` (closest first) chosen by the HNSW heuristic: a
    /// candidate is kept only if it is closer to the node than to every one kept before it.
    /// With no more than `max` candidates, all are kept.
    fn select(&self, candidates: &[Near], max: usize) -> Vec<Near> {
        if candidates.len() <= max {
            return candidates.to_vec();
        }
        let mut kept: Vec<Near> = Vec::with_capacity(max);
        for &candidate in candidates {
            if kept.len() >= max {
                break;
            }
            let vector = self.vector(candidate.id);
            if kept
                .iter()
                .all(|k| (self.dist)(vector, self.vector(k.id)) >= candidate.dist)
            {
                kept.push(candidate);
            }
        }
        kept
    }

    /// Add a link `node -> new` on level `lc`; if `node`'s list is full, keep the best
    /// `max_degree` of the old links and `new` by the heuristic.
    fn connect(&self, node: u32, new: u32, lc: usize, max_degree: usize) {
        let mut lists = lock(&self.nodes[node as usize]);
        if lc == 0 {
            let row = self.row(node as usize);
            let count = links_of(row).len();
            if links_of(row).any(|slot| slot.load(Atomic::Relaxed) == new) {
                return;
            }
            if count < max_degree.min(row.len() - 1) {
                row[1 + count].store(new, Atomic::Relaxed);
                row[0].store(count as u32 + 1, Atomic::Relaxed);
                return;
            }
            let old = links_of(row).map(|slot| slot.load(Atomic::Relaxed));
            let kept = self.prune(node, old.chain([new]), max_degree);
            set_row(row, kept.iter().map(|near| near.id));
            return;
        }
        let Some(list) = lists.get_mut(lc - 1) else {
            return;
        };
        if list.contains(&new) {
            return;
        }
        if list.len() < max_degree {
            list.push(new);
            return;
        }
        let kept = self.prune(node, list.iter().copied().chain([new]), max_degree);
        list.clear();
        list.extend(kept.iter().map(|near| near.id));
    }

    /// The best `max_degree` of `links` (neighbours of `node`) by the heuristic.
    fn prune(&self, node: u32, links: impl Iterator<Item = u32>, max_degree: usize) -> Vec<Near> {
        let base = self.vector(node);
        let mut candidates: Vec<Near> = links
            .map(|id| Near {
                dist: (self.dist)(base, self.vector(id)),
                id,
            })
            .collect();
        candidates.sort_unstable();
        self.select(&candidates, max_degree)
    }
}

/// The finished, immutable graph of one segment (or of a subset of its offsets): searched by
/// any number of threads at once.
pub struct HnswGraph {
    /// Number of nodes: the segment's length, or the subset's size.
    len: usize,
    /// The segment offset of each node of a subset graph; `None` for a full graph.
    offsets: Option<Vec<u32>>,
    /// Width of the segment's rows, in f32 (0 meaning the `dim` of each search); not in the file.
    stride: usize,
    /// Where in a row the vector starts; not in the file.
    column: usize,
    params: HnswParams,
    distance: Distance,
    dist: fn(&[f32], &[f32]) -> f32,
    /// The entry point node, `NO_ENTRY` when no node is inserted.
    entry: u32,
    /// The entry point's level, the highest of all.
    max_level: u8,
    inserted: usize,
    /// Level of each node, `NOT_INSERTED` for nodes not in the graph.
    levels: Vec<u8>,
    /// Level 0, `1 + m0` u32 per node: the link count, then the links (unused slots 0).
    level0: Vec<u32>,
    /// Per node, where its upper levels start in `upper` (`usize::MAX` for none).
    upper_start: Vec<usize>,
    /// Upper levels of the nodes that have them: per level `1..=L`, `1 + m` u32 (count, links).
    upper: Vec<u32>,
}

impl std::fmt::Debug for HnswGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswGraph")
            .field("len", &self.len)
            .field("subset", &self.offsets.is_some())
            .field("layout", &(self.stride, self.column))
            .field("inserted", &self.inserted)
            .field("distance", &self.distance)
            .field("params", &self.params)
            .field("max_level", &self.max_level)
            .field("links_bytes", &self.links_bytes())
            .finish_non_exhaustive()
    }
}

impl HnswGraph {
    /// Number of nodes, inserted or not: the segment's length for a full graph, the subset's
    /// size for a subset graph.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes, inserted or not (the same as [`HnswGraph::len`]).
    pub fn node_count(&self) -> usize {
        self.len
    }

    /// The segment offset of each node of a subset graph (strictly increasing); `None` for a
    /// full graph, whose node `k` is offset `k`.
    pub fn offsets(&self) -> Option<&[u32]> {
        self.offsets.as_deref()
    }

    /// Read vectors at `column` of rows `stride` wide (0 meaning `dim`); given again after a load.
    pub fn with_layout(mut self, stride: usize, column: usize) -> Self {
        // Not checked here: the graph does not know its `dim` (the file does not hold it), so
        // each search checks the layout against the `dim` it is given.
        self.stride = stride;
        self.column = column;
        self
    }

    /// The layout `(stride, column)`: the builder's, or `(0, 0)` (contiguous) after a load.
    pub fn layout(&self) -> (usize, usize) {
        (self.stride, self.column)
    }

    /// Number of nodes actually in the graph.
    pub fn inserted(&self) -> usize {
        self.inserted
    }

    /// The parameters the graph was built with.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// The distance the graph was built for.
    pub fn distance(&self) -> Distance {
        self.distance
    }

    /// Memory used by the links, levels and offset map, in bytes (for memory reports).
    pub fn links_bytes(&self) -> usize {
        self.levels.len()
            + self.level0.len() * 4
            + self.upper_start.len() * std::mem::size_of::<usize>()
            + self.upper.len() * 4
            + self.offsets.as_ref().map_or(0, |map| map.len() * 4)
    }

    /// The links of `node` on upper level `lc >= 1`.
    fn upper_links(&self, node: u32, lc: usize) -> &[u32] {
        let start = match self.upper_start.get(node as usize) {
            Some(&start) if start != usize::MAX && lc >= 1 => start,
            _ => return &[],
        };
        let block = start + (lc - 1) * (1 + self.params.m);
        match self.upper.get(block) {
            Some(&count) => self
                .upper
                .get(block + 1..block + 1 + count as usize)
                .unwrap_or(&[]),
            None => &[],
        }
    }

    /// The links of `node` on level 0.
    #[inline]
    fn level0_links(&self, node: u32) -> &[u32] {
        let stride = 1 + self.params.m0();
        let start = node as usize * stride;
        match self.level0.get(start..start + stride) {
            Some(row) => row.get(1..1 + row[0] as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Start loading the level-0 links of `node` into the caches.
    #[inline]
    fn prefetch_level0(&self, node: u32) {
        let stride = 1 + self.params.m0();
        let start = node as usize * stride;
        if let Some(row) = self.level0.get(start..start + stride) {
            prefetch(row, 1 + stride / 16);
        }
    }

    /// The `k` best offsets accepted by `accept`, as (graph distance, offset), closest first.
    /// Traversal passes through rejected nodes (so deleted or filtered points still route)
    /// but only accepted ones are returned. The beam is `max(ef, k)` wide.
    ///
    /// `vectors` is the segment's rows (`len * stride` f32, as given to the builder; see
    /// [`HnswGraph::layout`]), `dim` the length of the graph's vectors and `query` has `dim`
    /// components; otherwise, or when a vector does not fit in its row, the result is empty.
    /// For a subset graph too, `vectors` is the whole segment's (covering the row of the
    /// subset's largest offset), and `accept` and the results speak segment offsets; only
    /// offsets of the subset are ever returned.
    pub fn search(
        &self,
        vectors: &[f32],
        dim: usize,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(f32, u32)> {
        let span = span(self.len, self.offsets.as_deref());
        let stride = checked_stride(vectors, span, dim, self.stride, self.column)
            .filter(|_| query.len() == dim);
        let Some(stride) = stride else {
            debug_assert!(false, "search with mismatched vectors, query or layout");
            return Vec::new();
        };
        if k == 0 || self.entry == NO_ENTRY {
            return Vec::new();
        }
        let column = self.column;
        match self.offsets.as_deref() {
            None => self.search_mapped(
                Rows {
                    vectors,
                    map: Identity,
                    stride,
                    column,
                    dim,
                },
                query,
                k,
                ef,
                accept,
            ),
            Some(map) => self.search_mapped(
                Rows {
                    vectors,
                    map,
                    stride,
                    column,
                    dim,
                },
                query,
                k,
                ef,
                accept,
            ),
        }
    }

    /// The work of [`HnswGraph::search`] once its arguments are checked (so `rows.dim` is
    /// `query.len()` and every node's vector is in `rows`), with nodes mapped to offsets by
    /// `rows.map`.
    fn search_mapped<M: NodeMap>(
        &self,
        rows: Rows<'_, M>,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(f32, u32)> {
        // A beam wider than the graph finds nothing more (and would only allocate).
        let ef = ef.max(k).min(self.inserted);
        let dist = self.dist;
        // Locals, so that the loops below keep the layout in registers.
        let Rows {
            vectors,
            map,
            stride,
            column,
            dim,
        } = rows;
        let vector = |node: u32| {
            let start = map.offset(node) as usize * stride + column;
            &vectors[start..start + dim]
        };
        let mut nearest = Near {
            dist: dist(query, vector(self.entry)),
            id: self.entry,
        };
        for lc in (1..=usize::from(self.max_level)).rev() {
            loop {
                let mut moved = false;
                for &next in self.upper_links(nearest.id, lc) {
                    let d = dist(query, vector(next));
                    if d < nearest.dist {
                        nearest = Near { dist: d, id: next };
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }

        let results = with_visited(self.len, |visited| {
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut results = BinaryHeap::with_capacity(ef + 1);
            visited.first_visit(nearest.id);
            candidates.push(Reverse(nearest));
            let mut bound = f32::INFINITY;
            if accept(map.offset(nearest.id)) {
                results.push(nearest);
                bound = nearest.dist;
            }
            let mut fresh = Vec::with_capacity(self.params.m0());
            while let Some(Reverse(current)) = candidates.pop() {
                if current.dist > bound && results.len() >= ef {
                    break;
                }
                // The next candidate's links are likely needed next.
                if let Some(Reverse(next)) = candidates.peek() {
                    self.prefetch_level0(next.id);
                }
                // The unvisited neighbours first, so that each one's vector can be fetched
                // from memory while the distance to the one before it is computed.
                fresh.clear();
                fresh.extend(
                    self.level0_links(current.id)
                        .iter()
                        .copied()
                        .filter(|&next| visited.first_visit(next)),
                );
                for &first in fresh.iter().take(PREFETCH_AHEAD) {
                    prefetch(vector(first), PREFETCH_LINES);
                }
                for (i, &next) in fresh.iter().enumerate() {
                    if let Some(&after) = fresh.get(i + PREFETCH_AHEAD) {
                        prefetch(vector(after), PREFETCH_LINES);
                    }
                    let d = dist(query, vector(next));
                    if results.len() < ef || d < bound {
                        let near = Near { dist: d, id: next };
                        candidates.push(Reverse(near));
                        if accept(map.offset(next)) {
                            results.push(near);
                            if results.len() > ef {
                                results.pop();
                            }
                            bound = results.peek().map_or(f32::INFINITY, |n: &Near| n.dist);
                        }
                    }
                }
            }
            results
        });
        let mut results = results.into_sorted_vec();
        results.truncate(k);
        results
            .into_iter()
            .map(|near| (near.dist, map.offset(near.id)))
            .collect()
    }

    /// Write to `path` (a checked file, written atomically), synced. The format is in the
    /// module documentation.
    pub fn write(&self, path: &Path) -> Result<(), StorageError> {
        let mut head = Vec::with_capacity(PARAMS_LEN);
        head.extend_from_slice(&(self.params.m as u32).to_le_bytes());
        let ef_construct = u32::try_from(self.params.ef_construct).unwrap_or(u32::MAX);
        head.extend_from_slice(&ef_construct.to_le_bytes());
        head.extend_from_slice(&distance_code(self.distance).to_le_bytes());
        head.extend_from_slice(&self.entry.to_le_bytes());
        head.extend_from_slice(&u32::from(self.max_level).to_le_bytes());
        let flags = if self.offsets.is_some() {
            FLAG_SUBSET
        } else {
            0
        };
        head.extend_from_slice(&flags.to_le_bytes());
        head.extend_from_slice(&(self.inserted as u64).to_le_bytes());
        let map = le_bytes(self.offsets.as_deref().unwrap_or(&[]));
        // The parameters and the map are whole words, so the levels' padding depends on the
        // number of nodes alone.
        let mut levels = Vec::with_capacity(self.len + 3);
        levels.extend_from_slice(&self.levels);
        levels.resize(levels.len().next_multiple_of(4), 0);
        let level0 = le_bytes(&self.level0);
        let upper = le_bytes(&self.upper);

        let tmp = path.with_extension("tmp");
        checked::write(
            &tmp,
            MAGIC,
            VERSION,
            self.params.m as u32,
            self.len as u64,
            &[&head, &map, &levels, &level0, &upper],
        )?;
        fs::rename(&tmp, path).map_err(|e| StorageError::io(path, &e))?;
        // A bare file name has an empty parent: the current directory.
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        checked::sync_dir(dir)
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
        if data.len() < PARAMS_LEN {
            return Err(bad(
                0,
                format!("{} bytes of data, shorter than the parameters", data.len()),
            ));
        }
        let word =
            |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let subset = match word(20) {
            0 => false,
            FLAG_SUBSET => true,
            flags => return Err(bad(20, format!("unknown flags {flags:#x}"))),
        };
        // A subset's offsets are distinct and `< segment_len`, so it has at most that many
        // nodes, and its node numbers must stay clear of `NO_ENTRY`.
        let len = match usize::try_from(header.count) {
            Ok(count) if !subset && count == segment_len => count,
            Ok(count) if subset && count <= segment_len && count < NO_ENTRY as usize => count,
            _ => {
                return Err(StorageError::corrupted(
                    path,
                    16,
                    format!(
                        "index of {} nodes ({}), but the segment has {segment_len} offsets",
                        header.count,
                        if subset { "a subset" } else { "a full graph" }
                    ),
                ))
            }
        };
        let m = word(0) as usize;
        if m != header.aux as usize || !(2..=MAX_M).contains(&m) {
            return Err(bad(
                0,
                format!("m = {m} (header says {}), not in 2..={MAX_M}", header.aux),
            ));
        }
        let ef_construct = word(4) as usize;
        match distance_from_code(word(8)) {
            Some(found) if found == distance => {}
            found => {
                return Err(bad(
                    8,
                    format!("index built for distance {found:?}, the collection uses {distance:?}"),
                ))
            }
        }
        let entry = word(12);
        let max_level = word(16);
        let inserted = u64::from_le_bytes([
            data[24], data[25], data[26], data[27], data[28], data[29], data[30], data[31],
        ]);
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
                24,
                format!("{inserted} nodes announced, {count} have a level"),
            ));
        }
        if count == 0 {
            if entry != NO_ENTRY || max_level != 0 {
                return Err(bad(12, "an empty graph with an entry point".to_owned()));
            }
        } else if levels.get(entry as usize) != Some(&top) || max_level != u32::from(top) {
            return Err(bad(
                12,
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

/// Ask the CPU to start loading the first `lines` cache lines of `data` into its caches; a
/// hint with no effect on results.
#[inline(always)]
fn prefetch<T>(data: &[T], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(data);
        let start = data.as_ptr().cast::<i8>();
        for at in (0..bytes).step_by(64).take(lines) {
            // SAFETY: a prefetch never faults and reads nothing architecturally; the address
            // is inside `data` anyway. SSE, which provides it, is part of every x86_64 CPU.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(at)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, lines);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::OnceLock;

    use super::*;

    const DIM: usize = 32;
    const N: usize = 5_000;
    const QUERIES: usize = 100;

    /// Deterministic test data: SplitMix64 over a counter.
    struct Rng(u64);

    impl Rng {
        /// Uniform in [-1, 1).
        fn unit(&mut self) -> f32 {
            self.0 += 1;
            (splitmix64(self.0) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        fn points(&mut self, n: usize, dim: usize, distance: Distance) -> Vec<f32> {
            let mut out: Vec<f32> = (0..n * dim).map(|_| self.unit()).collect();
            if distance == Distance::Cosine {
                for v in out.chunks_exact_mut(dim.max(1)) {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= norm);
                }
            }
            out
        }
    }

    fn build(
        vectors: &[f32],
        dim: usize,
        distance: Distance,
        params: HnswParams,
        threads: usize,
        offsets: &[u32],
    ) -> HnswGraph {
        let len = vectors.len() / dim;
        let builder = HnswBuilder::new(dim, len, distance, params, 7);
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while let Some(&offset) = offsets.get(next.fetch_add(1, Atomic::Relaxed)) {
                        builder.insert(vectors, offset);
                    }
                });
            }
        });
        builder.finish()
    }

    fn all(len: usize) -> Vec<u32> {
        (0..len as u32).collect()
    }

    /// The subset graph of `offsets`, its nodes inserted in order by `threads` threads.
    fn build_subset(
        vectors: &[f32],
        dim: usize,
        distance: Distance,
        params: HnswParams,
        threads: usize,
        offsets: &[u32],
    ) -> HnswGraph {
        let builder = HnswBuilder::subset(dim, offsets.to_vec(), distance, params, 7);
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let node = next.fetch_add(1, Atomic::Relaxed);
                    if node >= offsets.len() {
                        break;
                    }
                    builder.insert_node(vectors, node as u32);
                });
            }
        });
        builder.finish()
    }

    /// The exact `k` nearest accepted offsets among `offsets`.
    fn brute_force(
        vectors: &[f32],
        dim: usize,
        distance: Distance,
        query: &[f32],
        k: usize,
        offsets: impl Iterator<Item = u32>,
    ) -> Vec<(f32, u32)> {
        let dist = graph_distance(distance);
        let mut all: Vec<Near> = offsets
            .map(|id| Near {
                dist: dist(query, &vectors[id as usize * dim..][..dim]),
                id,
            })
            .collect();
        all.sort_unstable();
        all.truncate(k);
        all.into_iter().map(|n| (n.dist, n.id)).collect()
    }

    /// Recall@`k` of the graph against brute force over the offsets `accept` takes, and
    /// checks that every result is accepted, inserted, correctly scored and in order.
    fn recall(
        graph: &HnswGraph,
        vectors: &[f32],
        queries: &[f32],
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> f64 {
        let (k, dim) = (10, DIM);
        let dist = graph_distance(graph.distance());
        // What the graph covers, in segment offsets.
        let covered = graph
            .offsets()
            .map_or_else(|| all(graph.len()), <[u32]>::to_vec);
        let mut hits = 0;
        let mut expected = 0;
        for query in queries.chunks_exact(dim) {
            let found = graph.search(vectors, dim, query, k, ef, accept);
            let truth = brute_force(
                vectors,
                dim,
                graph.distance(),
                query,
                k,
                covered.iter().copied().filter(|&o| accept(o)),
            );
            assert!(found.len() <= k);
            assert_eq!(found.len(), truth.len().min(k), "too few results");
            for pair in found.windows(2) {
                assert!(pair[0].0 <= pair[1].0, "results out of order");
            }
            for &(d, id) in &found {
                assert!(accept(id), "rejected offset {id} returned");
                assert_eq!(d, dist(query, &vectors[id as usize * dim..][..dim]));
            }
            expected += truth.len();
            hits += found
                .iter()
                .filter(|(_, id)| truth.iter().any(|(_, t)| t == id))
                .count();
        }
        hits as f64 / expected.max(1) as f64
    }

    struct Fixture {
        vectors: Vec<f32>,
        queries: Vec<f32>,
        graph: HnswGraph,
    }

    /// 5,000 random 32-d points (Euclid) and their graph, built once for several tests.
    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let mut rng = Rng(1);
            let vectors = rng.points(N, DIM, Distance::Euclid);
            let queries = rng.points(QUERIES, DIM, Distance::Euclid);
            let graph = build(
                &vectors,
                DIM,
                Distance::Euclid,
                HnswParams::default(),
                1,
                &all(N),
            );
            Fixture {
                vectors,
                queries,
                graph,
            }
        })
    }

    #[test]
    fn recall_on_random_points_beats_0_9() {
        let f = fixture();
        assert_eq!((f.graph.len(), f.graph.inserted()), (N, N));
        let r = recall(&f.graph, &f.vectors, &f.queries, 64, &|_| true);
        assert!(r >= 0.9, "recall@10 {r}");
    }

    #[test]
    fn two_threads_sharing_a_builder_build_as_good_a_graph() {
        let f = fixture();
        let graph = build(
            &f.vectors,
            DIM,
            Distance::Euclid,
            HnswParams::default(),
            2,
            &all(N),
        );
        assert_eq!(graph.inserted(), N);
        let r = recall(&graph, &f.vectors, &f.queries, 64, &|_| true);
        assert!(r >= 0.9, "recall@10 {r}");
        // Its level 0 (built concurrently in place) passes every check of a load.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        graph.write(&path).unwrap();
        let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
        assert_eq!(loaded.inserted(), N);
    }

    #[test]
    fn level0_rows_keep_unused_slots_zero_and_finish_in_place() {
        let row: Vec<AtomicU32> = (0..5).map(|_| AtomicU32::new(0)).collect();
        let words = |row: &[AtomicU32]| -> Vec<u32> {
            row.iter().map(|w| w.load(Atomic::Relaxed)).collect()
        };
        set_row(&row, [7, 8, 9].into_iter());
        assert_eq!(words(&row), [3, 7, 8, 9, 0]);
        set_row(&row, [1, 2, 3, 4, 5, 6].into_iter());
        assert_eq!(words(&row), [4, 1, 2, 3, 4]);
        set_row(&row, [5].into_iter());
        assert_eq!(words(&row), [1, 5, 0, 0, 0]);
        let linked: Vec<u32> = links_of(&row).map(|w| w.load(Atomic::Relaxed)).collect();
        assert_eq!(linked, [5]);
        // A count beyond the row (never written, but never trusted) is capped.
        row[0].store(99, Atomic::Relaxed);
        assert_eq!(links_of(&row).len(), 4);
        // Finishing turns the atomics into plain words in the same allocation.
        let level0: Vec<AtomicU32> = (0..10_000).map(AtomicU32::new).collect();
        let before = level0.as_ptr() as usize;
        let plain = into_plain(level0);
        assert_eq!(plain.as_ptr() as usize, before, "level 0 was copied");
        assert_eq!(plain, (0..10_000).collect::<Vec<u32>>());
    }

    #[test]
    fn rejected_offsets_route_but_are_never_returned() {
        let f = fixture();
        let every_third = |o: u32| o.is_multiple_of(3);
        let r = recall(&f.graph, &f.vectors, &f.queries, 64, &every_third);
        assert!(r >= 0.9, "recall@10 with a third accepted: {r}");
        // A very selective filter: the search walks further, and still finds them.
        let few = |o: u32| o % 250 == 7;
        let r = recall(&f.graph, &f.vectors, &f.queries, 64, &few);
        assert!(r >= 0.9, "recall@10 with 20 accepted: {r}");
        let query = &f.queries[..DIM];
        assert!(f
            .graph
            .search(&f.vectors, DIM, query, 10, 64, &|_| false)
            .is_empty());
    }

    #[test]
    fn every_distance_finds_its_neighbours() {
        for distance in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let mut rng = Rng(99);
            let vectors = rng.points(1_000, DIM, distance);
            let queries = rng.points(20, DIM, distance);
            let params = HnswParams {
                m: 8,
                ef_construct: 64,
            };
            let graph = build(&vectors, DIM, distance, params, 1, &all(1_000));
            let r = recall(&graph, &vectors, &queries, 64, &|_| true);
            assert!(r >= 0.9, "{distance:?}: recall@10 {r}");
        }
    }

    #[test]
    fn offsets_never_inserted_are_never_returned() {
        let f = fixture();
        let even: Vec<u32> = (0..N as u32).step_by(2).collect();
        let graph = build(
            &f.vectors,
            DIM,
            Distance::Euclid,
            HnswParams::default(),
            2,
            &even,
        );
        assert_eq!((graph.len(), graph.inserted()), (N, N / 2));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        graph.write(&path).unwrap();
        let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
        for g in [&graph, &loaded] {
            for query in f.queries.chunks_exact(DIM) {
                for (_, id) in g.search(&f.vectors, DIM, query, 50, 100, &|_| true) {
                    assert_eq!(id % 2, 0, "offset {id} was never inserted");
                }
            }
            // Among the inserted ones, the search is as good as ever.
            let r = recall(g, &f.vectors, &f.queries, 64, &|o| o.is_multiple_of(2));
            assert!(r >= 0.9, "recall@10 {r}");
        }
    }

    #[test]
    fn write_then_load_searches_identically() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        f.graph.write(&path).unwrap();
        assert!(!path.with_extension("tmp").exists());
        let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
        assert_eq!(loaded.len(), f.graph.len());
        assert_eq!(loaded.inserted(), f.graph.inserted());
        assert_eq!(loaded.params(), f.graph.params());
        assert_eq!(loaded.distance(), Distance::Euclid);
        assert_eq!(loaded.links_bytes(), f.graph.links_bytes());
        for query in f.queries.chunks_exact(DIM) {
            for ef in [10, 64] {
                assert_eq!(
                    loaded.search(&f.vectors, DIM, query, 10, ef, &|_| true),
                    f.graph.search(&f.vectors, DIM, query, 10, ef, &|_| true)
                );
            }
        }
        // Writing the loaded graph gives the same bytes.
        let again = dir.path().join("again.bin");
        loaded.write(&again).unwrap();
        assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
    }

    /// A small graph whose file is small enough to damage at every byte.
    fn small_file() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let mut rng = Rng(5);
        let vectors = rng.points(40, 4, Distance::Euclid);
        let params = HnswParams {
            m: 2,
            ef_construct: 8,
        };
        let graph = build(&vectors, 4, Distance::Euclid, params, 1, &all(40));
        assert!(graph.max_level > 0, "the test wants upper levels");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        graph.write(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        (dir, path, bytes)
    }

    fn assert_corrupted(result: Result<HnswGraph, StorageError>, what: &str) {
        match result {
            Err(StorageError::Corrupted { .. }) => {}
            Err(other) => panic!("{what}: {other}"),
            Ok(graph) => panic!("{what}: loaded {graph:?}"),
        }
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_rejected() {
        let (_dir, path, good) = small_file();
        assert!(HnswGraph::load(&path, 40, Distance::Euclid).is_ok());
        for len in 0..good.len() {
            fs::write(&path, &good[..len]).unwrap();
            assert_corrupted(
                HnswGraph::load(&path, 40, Distance::Euclid),
                &format!("truncated to {len}"),
            );
        }
        for at in 0..good.len() {
            for bit in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[at] ^= bit;
                fs::write(&path, &bad).unwrap();
                assert_corrupted(
                    HnswGraph::load(&path, 40, Distance::Euclid),
                    &format!("byte {at} ^ {bit:#x}"),
                );
            }
        }
    }

    #[test]
    fn wrong_len_or_distance_is_rejected() {
        let (_dir, path, _) = small_file();
        for len in [0, 39, 41, 1_000_000] {
            assert_corrupted(
                HnswGraph::load(&path, len, Distance::Euclid),
                &format!("len {len}"),
            );
        }
        assert_corrupted(HnswGraph::load(&path, 40, Distance::Dot), "distance");
        let missing = path.with_file_name("missing.bin");
        assert!(matches!(
            HnswGraph::load(&missing, 40, Distance::Euclid),
            Err(StorageError::Io { .. })
        ));
    }

    /// Damage that passes the checksum (a file written by a buggy or hostile writer): every
    /// invariant is checked on its own.
    #[test]
    fn inconsistent_content_with_a_valid_checksum_is_rejected() {
        let (_dir, path, good) = small_file();
        let data = good[HEADER_LEN..].to_vec();
        let m = 2;
        let m0 = 4;
        let levels_end = PARAMS_LEN + 40;
        let level0 = levels_end.next_multiple_of(4);
        let word_at = |data: &[u8], at: usize| {
            u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
        };
        let set = |data: &mut Vec<u8>, at: usize, value: u32| {
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        };
        // The level-0 row of a node with at least one link.
        let node = (0..40)
            .find(|&n| word_at(&data, level0 + n * (1 + m0) * 4) > 0)
            .unwrap();
        let row = level0 + node * (1 + m0) * 4;
        let entry = word_at(&data, 12) as usize;
        let top = data[PARAMS_LEN + entry];
        let leaf = (0..40).find(|&n| data[PARAMS_LEN + n] == 0).unwrap();

        let mut cases: Vec<(&str, Vec<u8>, u32)> = Vec::new();
        let mut case = |name: &'static str, edit: &dyn Fn(&mut Vec<u8>), aux: u32| {
            let mut d = data.clone();
            edit(&mut d);
            cases.push((name, d, aux));
        };
        case("link out of range", &|d| set(d, row + 4, 40), m);
        case("link to itself", &|d| set(d, row + 4, node as u32), m);
        case("too many links", &|d| set(d, row, m0 as u32 + 1), m);
        let partial = (0..40)
            .find(|&n| (word_at(&data, level0 + n * (1 + m0) * 4) as usize) < m0)
            .unwrap();
        let partial_row = level0 + partial * (1 + m0) * 4;
        case(
            "unused slot not zero",
            &|d| set(d, partial_row + 4 * m0, 1),
            m,
        );
        case("m differs from the header", &|d| set(d, 0, 3), m);
        case("m too small", &|d| set(d, 0, 1), 1);
        case("unknown distance", &|d| set(d, 8, 9), m);
        case("entry out of range", &|d| set(d, 12, 40), m);
        case(
            "entry not on the top level",
            &|d| set(d, 12, leaf as u32),
            m,
        );
        case("max level wrong", &|d| set(d, 16, u32::from(top) + 1), m);
        case("inserted count wrong", &|d| set(d, 24, 39), m);
        case(
            "level too high",
            &|d| d[PARAMS_LEN + leaf] = MAX_LEVEL + 1,
            m,
        );
        case(
            "node removed but linked",
            &|d| {
                // Take a linked-to leaf out of the graph, keeping the count consistent.
                let target = word_at(d, row + 4) as usize;
                d[PARAMS_LEN + target] = NOT_INSERTED;
                set(d, 24, 39);
                let at = level0 + target * (1 + m0) * 4;
                d[at..at + (1 + m0) * 4].fill(0);
            },
            m,
        );
        case("trailing byte", &|d| d.push(0), m);
        case("missing byte", &|d| d.truncate(d.len() - 1), m);
        for (name, data, aux) in cases {
            checked::write(&path, MAGIC, VERSION, aux, 40, &[&data]).unwrap();
            assert_corrupted(HnswGraph::load(&path, 40, Distance::Euclid), name);
        }
        // And the untouched data loads.
        checked::write(&path, MAGIC, VERSION, m, 40, &[&data]).unwrap();
        assert!(HnswGraph::load(&path, 40, Distance::Euclid).is_ok());
    }

    #[test]
    fn healing_links_every_orphan_without_making_new_ones() {
        // m0 = 2. Node 3 has no incoming link; node 0 (the entry) has a free slot, node 1 is
        // full of links to nodes that have other ways in.
        let m0 = 2;
        let levels = [0u8, 0, 0, 0];
        #[rustfmt::skip]
        let mut level0 = vec![
            1, 1, 0, // 0 -> 1
            2, 2, 0, // 1 -> 2, 0
            2, 1, 0, // 2 -> 1, 0
            1, 1, 0, // 3 -> 1
        ];
        heal_level0(&mut level0, m0, &levels, 0);
        let incoming = |node: u32| {
            (0..4)
                .filter(|&n| {
                    let count = level0[n * 3] as usize;
                    level0[n * 3 + 1..n * 3 + 1 + count].contains(&node)
                })
                .count()
        };
        assert_eq!(incoming(3), 1, "{level0:?}");
        for node in 1..4 {
            assert!(
                incoming(node) >= 1,
                "node {node} lost its way in: {level0:?}"
            );
        }
    }

    #[test]
    fn empty_and_single_node_graphs_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        let params = HnswParams::default();
        // No offsets at all, and offsets of which none was inserted.
        let vectors = Rng(3).points(3, DIM, Distance::Dot);
        for len in [0, 3] {
            let graph = HnswBuilder::new(DIM, len, Distance::Dot, params, 1).finish();
            assert_eq!(
                (graph.len(), graph.inserted(), graph.is_empty()),
                (len, 0, len == 0)
            );
            assert!(graph
                .search(&vectors, DIM, &vectors[..DIM], 5, 10, &|_| true)
                .is_empty());
            graph.write(&path).unwrap();
            let loaded = HnswGraph::load(&path, len, Distance::Dot).unwrap();
            assert_eq!(loaded.inserted(), 0);
            assert!(loaded
                .search(&vectors, DIM, &vectors[..DIM], 5, 10, &|_| true)
                .is_empty());
        }
        // One node.
        let builder = HnswBuilder::new(DIM, 3, Distance::Dot, params, 1);
        builder.insert(&vectors, 1);
        builder.insert(&vectors, 1);
        let graph = builder.finish();
        assert_eq!(graph.inserted(), 1);
        let query = &vectors[..DIM];
        let want = graph_distance(Distance::Dot)(query, &vectors[DIM..2 * DIM]);
        for g in [&graph, &{
            graph.write(&path).unwrap();
            HnswGraph::load(&path, 3, Distance::Dot).unwrap()
        }] {
            assert_eq!(
                g.search(&vectors, DIM, query, 5, 10, &|_| true),
                vec![(want, 1)]
            );
            assert!(g
                .search(&vectors, DIM, query, 5, 10, &|o| o != 1)
                .is_empty());
            assert!(g.search(&vectors, DIM, query, 0, 10, &|_| true).is_empty());
            let huge = g.search(&vectors, DIM, query, usize::MAX, usize::MAX, &|_| true);
            assert_eq!(huge, vec![(want, 1)]);
        }
    }

    #[test]
    fn builder_and_graph_are_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<HnswBuilder>();
        send_sync::<HnswGraph>();
    }

    #[test]
    fn levels_are_deterministic_and_thin_out_by_m() {
        let mult = 1.0 / 16f64.ln();
        let levels: Vec<u8> = (0..100_000).map(|o| sample_level(11, o, mult)).collect();
        let again: Vec<u8> = (0..100_000).map(|o| sample_level(11, o, mult)).collect();
        assert_eq!(levels, again);
        let upper = levels.iter().filter(|&&l| l >= 1).count();
        // P(level >= 1) = 1/m = 6.25 %.
        assert!(
            (5_500..7_000).contains(&upper),
            "{upper} of 100000 above level 0"
        );
        assert!(levels.iter().all(|&l| l <= MAX_LEVEL));
    }

    #[test]
    fn a_search_inside_the_filter_does_not_disturb_the_outer_one() {
        let f = fixture();
        let query = &f.queries[..DIM];
        let plain = f.graph.search(&f.vectors, DIM, query, 10, 64, &|_| true);
        let nested = f.graph.search(&f.vectors, DIM, query, 10, 64, &|o| {
            // A filter that itself searches (odd, but must not panic or corrupt state).
            let _ = f
                .graph
                .search(&f.vectors, DIM, &f.queries[DIM..2 * DIM], 1, 8, &|_| true);
            o < u32::MAX
        });
        assert_eq!(plain, nested);
    }

    #[test]
    fn mismatched_vectors_give_no_results_in_release() {
        let f = fixture();
        if cfg!(debug_assertions) {
            return; // a debug assertion flags the caller bug instead
        }
        assert!(f
            .graph
            .search(&f.vectors, DIM, &[0.0; 3], 10, 64, &|_| true)
            .is_empty());
        assert!(f
            .graph
            .search(&f.vectors[..10], DIM, &f.queries[..DIM], 10, 64, &|_| true)
            .is_empty());
    }

    /// Every 7th offset of the fixture: 715 of its 5,000 points.
    fn every_seventh() -> Vec<u32> {
        (0..N as u32).step_by(7).collect()
    }

    #[test]
    fn subset_graph_finds_the_subset_neighbours_in_segment_offsets() {
        let f = fixture();
        let subset = every_seventh();
        let params = HnswParams::default();
        let graph = build_subset(&f.vectors, DIM, Distance::Euclid, params, 2, &subset);
        let n = subset.len();
        assert_eq!(
            (graph.len(), graph.node_count(), graph.inserted()),
            (n, n, n)
        );
        assert_eq!(graph.offsets(), Some(&subset[..]));
        assert_eq!(f.graph.offsets(), None);
        assert_eq!(f.graph.node_count(), N);
        // Memory is the subset's: every per-node array has its size, none the segment's.
        let m0 = params.m0();
        assert_eq!(graph.levels.len(), n);
        assert_eq!(graph.upper_start.len(), n);
        assert_eq!(graph.level0.len(), n * (1 + m0));
        assert!(graph.links_bytes() < f.graph.links_bytes() / 6);
        // Against brute force over the subset (which `recall` takes from `offsets()`), with
        // every result checked against its segment offset's vector.
        let r = recall(&graph, &f.vectors, &f.queries, 64, &|_| true);
        assert!(r >= 0.9, "recall@10 over the subset: {r}");
        // `accept` is asked about segment offsets of the subset, never node numbers.
        let seen = std::cell::RefCell::new(Vec::new());
        for query in f.queries.chunks_exact(DIM) {
            let found = graph.search(&f.vectors, DIM, query, 10, 64, &|o| {
                seen.borrow_mut().push(o);
                true
            });
            assert_eq!(found.len(), 10);
            for (_, id) in found {
                assert!(id.is_multiple_of(7), "offset {id} is not in the subset");
            }
        }
        let seen = seen.into_inner();
        assert!(seen.iter().all(|o| o.is_multiple_of(7)));
        assert!(
            seen.iter().any(|&o| o as usize >= n),
            "accept saw only small numbers"
        );
        // A filter on segment offsets narrows the subset further.
        let r = recall(&graph, &f.vectors, &f.queries, 64, &|o| {
            o.is_multiple_of(14)
        });
        assert!(r >= 0.9, "recall@10 over half the subset: {r}");
    }

    #[test]
    fn a_subset_of_every_offset_is_the_full_graph() {
        let f = fixture();
        let graph = build_subset(
            &f.vectors,
            DIM,
            Distance::Euclid,
            HnswParams::default(),
            1,
            &all(N),
        );
        assert_eq!(graph.links_bytes(), f.graph.links_bytes() + 4 * N);
        for query in f.queries.chunks_exact(DIM) {
            assert_eq!(
                graph.search(&f.vectors, DIM, query, 10, 64, &|o| o % 3 != 1),
                f.graph
                    .search(&f.vectors, DIM, query, 10, 64, &|o| o % 3 != 1)
            );
        }
    }

    #[test]
    fn subset_write_then_load_searches_identically() {
        let f = fixture();
        let subset = every_seventh();
        let graph = build_subset(
            &f.vectors,
            DIM,
            Distance::Euclid,
            HnswParams::default(),
            2,
            &subset,
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        graph.write(&path).unwrap();
        let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
        assert_eq!(loaded.offsets(), Some(&subset[..]));
        assert_eq!(loaded.len(), subset.len());
        assert_eq!(loaded.inserted(), graph.inserted());
        assert_eq!(loaded.params(), graph.params());
        assert_eq!(loaded.links_bytes(), graph.links_bytes());
        for query in f.queries.chunks_exact(DIM) {
            for ef in [10, 64] {
                assert_eq!(
                    loaded.search(&f.vectors, DIM, query, 10, ef, &|_| true),
                    graph.search(&f.vectors, DIM, query, 10, ef, &|_| true)
                );
            }
        }
        let again = dir.path().join("again.bin");
        loaded.write(&again).unwrap();
        assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
        // Any segment that holds the largest offset will do; one that does not is refused.
        let last = *subset.last().unwrap() as usize;
        assert!(HnswGraph::load(&path, last + 1, Distance::Euclid).is_ok());
        assert_corrupted(
            HnswGraph::load(&path, last, Distance::Euclid),
            "short segment",
        );
        // A full graph still writes no map and no flag.
        f.graph.write(&path).unwrap();
        let full = fs::read(&path).unwrap();
        assert_eq!(full[HEADER_LEN + 20..HEADER_LEN + 24], [0; 4]);
    }

    /// A small subset graph (every 3rd of 60 offsets) whose file is small enough to damage
    /// at every byte.
    fn small_subset_file() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let mut rng = Rng(6);
        let vectors = rng.points(60, 4, Distance::Euclid);
        let params = HnswParams {
            m: 2,
            ef_construct: 8,
        };
        let subset: Vec<u32> = (0..60).step_by(3).collect();
        let graph = build_subset(&vectors, 4, Distance::Euclid, params, 1, &subset);
        assert!(graph.max_level > 0, "the test wants upper levels");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        graph.write(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        (dir, path, bytes)
    }

    #[test]
    fn every_truncation_and_flipped_byte_of_a_subset_file_is_rejected() {
        let (_dir, path, good) = small_subset_file();
        assert!(HnswGraph::load(&path, 60, Distance::Euclid).is_ok());
        for len in 0..good.len() {
            fs::write(&path, &good[..len]).unwrap();
            assert_corrupted(
                HnswGraph::load(&path, 60, Distance::Euclid),
                &format!("truncated to {len}"),
            );
        }
        for at in 0..good.len() {
            for bit in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[at] ^= bit;
                fs::write(&path, &bad).unwrap();
                assert_corrupted(
                    HnswGraph::load(&path, 60, Distance::Euclid),
                    &format!("byte {at} ^ {bit:#x}"),
                );
            }
        }
    }

    /// Subset files with a valid checksum but a bad map, flags or count.
    #[test]
    fn a_bad_offset_map_is_rejected() {
        let (_dir, path, good) = small_subset_file();
        let data = good[HEADER_LEN..].to_vec();
        let (m, n) = (2, 20);
        let map = |node: usize| PARAMS_LEN + 4 * node;
        let set = |data: &mut Vec<u8>, at: usize, value: u32| {
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        };
        let mut cases: Vec<(&str, Vec<u8>, u64)> = Vec::new();
        let mut case = |name: &'static str, edit: &dyn Fn(&mut Vec<u8>), count: u64| {
            let mut d = data.clone();
            edit(&mut d);
            cases.push((name, d, count));
        };
        case(
            "offset = segment length",
            &|d| set(d, map(n - 1), 60),
            n as u64,
        );
        case(
            "offset u32::MAX",
            &|d| set(d, map(n - 1), u32::MAX),
            n as u64,
        );
        case("repeated offset", &|d| set(d, map(1), 0), n as u64);
        case(
            "decreasing offsets",
            &|d| {
                set(d, map(0), 3);
                set(d, map(1), 0);
            },
            n as u64,
        );
        case("unknown flag", &|d| set(d, 20, 2), n as u64);
        case("flags of a full graph", &|d| set(d, 20, 0), n as u64);
        case("count of a full segment", &|_| {}, 60);
        case("count beyond the segment", &|_| {}, 61);
        case("one node too many", &|_| {}, n as u64 + 1);
        case("one node too few", &|_| {}, n as u64 - 1);
        case("map cut short", &|d| d.truncate(map(n / 2)), n as u64);
        for (name, data, count) in cases {
            checked::write(&path, MAGIC, VERSION, m, count, &[&data]).unwrap();
            assert_corrupted(HnswGraph::load(&path, 60, Distance::Euclid), name);
        }
        // The untouched data loads; a segment that ends at the last offset does not.
        checked::write(&path, MAGIC, VERSION, m, n as u64, &[&data]).unwrap();
        let loaded = HnswGraph::load(&path, 58, Distance::Euclid).unwrap();
        assert_eq!(loaded.offsets().map(<[u32]>::len), Some(n));
        assert_corrupted(
            HnswGraph::load(&path, 57, Distance::Euclid),
            "short segment",
        );
        // A full graph's file flagged as a subset.
        let (_dir, full_path, full) = small_file();
        let mut flagged = full[HEADER_LEN..].to_vec();
        set(&mut flagged, 20, FLAG_SUBSET);
        checked::write(&full_path, MAGIC, VERSION, m, 40, &[&flagged]).unwrap();
        assert_corrupted(
            HnswGraph::load(&full_path, 40, Distance::Euclid),
            "full graph flagged as a subset",
        );
    }

    #[test]
    fn empty_and_single_node_subsets_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        let params = HnswParams::default();
        let vectors = Rng(3).points(3, DIM, Distance::Dot);
        let query = &vectors[..DIM];
        // No nodes at all.
        let graph = HnswBuilder::subset(DIM, Vec::new(), Distance::Dot, params, 1).finish();
        assert_eq!(
            (graph.len(), graph.inserted(), graph.is_empty()),
            (0, 0, true)
        );
        assert_eq!(graph.offsets(), Some(&[][..]));
        assert!(graph
            .search(&vectors, DIM, query, 5, 10, &|_| true)
            .is_empty());
        graph.write(&path).unwrap();
        for segment_len in [0, 3] {
            let loaded = HnswGraph::load(&path, segment_len, Distance::Dot).unwrap();
            assert_eq!((loaded.len(), loaded.offsets()), (0, Some(&[][..])));
            assert!(loaded
                .search(&vectors, DIM, query, 5, 10, &|_| true)
                .is_empty());
        }
        // One node, offset 2, inserted by node, again by offset (a no-op), and through the
        // same calls on a full builder.
        let builder = HnswBuilder::subset(DIM, vec![2], Distance::Dot, params, 1);
        builder.insert_node(&vectors, 0);
        builder.insert(&vectors, 2);
        let graph = builder.finish();
        assert_eq!((graph.len(), graph.inserted()), (1, 1));
        let full = HnswBuilder::new(DIM, 3, Distance::Dot, params, 1);
        full.insert_node(&vectors, 2);
        let full = full.finish();
        let want = graph_distance(Distance::Dot)(query, &vectors[2 * DIM..3 * DIM]);
        graph.write(&path).unwrap();
        let loaded = HnswGraph::load(&path, 3, Distance::Dot).unwrap();
        assert_corrupted(HnswGraph::load(&path, 2, Distance::Dot), "segment of 2");
        for g in [&graph, &loaded, &full] {
            assert_eq!(
                g.search(&vectors, DIM, query, 5, 10, &|_| true),
                vec![(want, 2)]
            );
            assert!(g
                .search(&vectors, DIM, query, 5, 10, &|o| o != 2)
                .is_empty());
            let huge = g.search(&vectors, DIM, query, usize::MAX, usize::MAX, &|_| true);
            assert_eq!(huge, vec![(want, 2)]);
        }
    }

    /// Caller bugs are debug assertions, and in release are ignored without harm.
    #[test]
    fn subset_caller_bugs_are_caught_in_debug_and_ignored_in_release() {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let flagged = |f: &dyn Fn()| {
            let panicked = catch_unwind(AssertUnwindSafe(f)).is_err();
            assert_eq!(panicked, cfg!(debug_assertions));
        };
        let params = HnswParams::default();
        let vectors = Rng(4).points(10, DIM, Distance::Euclid);
        let builder = HnswBuilder::subset(DIM, vec![1, 4, 9], Distance::Euclid, params, 1);
        flagged(&|| builder.insert_node(&vectors, 3));
        flagged(&|| builder.insert_node(&vectors[..9 * DIM], 0));
        flagged(&|| builder.insert(&vectors, 5));
        builder.insert(&vectors, 4);
        let graph = builder.finish();
        assert_eq!(graph.inserted(), 1);
        let query = &vectors[..DIM];
        flagged(&|| {
            assert!(graph
                .search(&vectors[..9 * DIM], DIM, query, 5, 10, &|_| true)
                .is_empty());
        });
        assert_eq!(graph.search(&vectors, DIM, query, 5, 10, &|_| true)[0].1, 4);
        // Unsorted offsets with a repeat: sorted and deduplicated.
        flagged(&|| {
            let builder = HnswBuilder::subset(DIM, vec![9, 3, 3, 5], Distance::Euclid, params, 1);
            assert_eq!(builder.finish().offsets(), Some(&[3, 5, 9][..]));
        });
    }

    /// `vectors` at `column` of rows `stride` wide, random numbers in the other columns.
    fn widen(vectors: &[f32], dim: usize, stride: usize, column: usize) -> Vec<f32> {
        let mut rng = Rng(42);
        let mut rows: Vec<f32> = (0..vectors.len() / dim * stride)
            .map(|_| rng.unit())
            .collect();
        for (row, vector) in rows.chunks_exact_mut(stride).zip(vectors.chunks_exact(dim)) {
            row[column..column + dim].copy_from_slice(vector);
        }
        rows
    }

    /// `builder` finished after inserting every node in order, on one thread.
    fn finish_all(builder: HnswBuilder, rows: &[f32]) -> HnswGraph {
        // In order on one thread, so that builds from equal distances give equal graphs.
        for node in 0..builder.len as u32 {
            builder.insert_node(rows, node);
        }
        builder.finish()
    }

    /// Where the fixture's vectors go in `widen`ed rows: the middle third.
    const WIDE: (usize, usize) = (3 * DIM, DIM);

    #[test]
    fn a_layout_reads_its_column_of_wider_rows() {
        let f = fixture();
        let (stride, column) = WIDE;
        let rows = widen(&f.vectors, DIM, stride, column);
        let builder = HnswBuilder::new(DIM, N, Distance::Euclid, HnswParams::default(), 7)
            .with_layout(stride, column);
        let graph = finish_all(builder, &rows);
        assert_eq!(graph.layout(), (stride, column));
        assert_eq!(f.graph.layout(), (DIM, 0));
        // The same distances build the same links as the fixture's (one thread, seed 7).
        assert_eq!(graph.inserted(), N);
        assert!(graph.level0 == f.graph.level0 && graph.upper == f.graph.upper);
        for query in f.queries.chunks_exact(DIM) {
            for accept in [&|_| true, &|o: u32| o % 3 != 1] as [&dyn Fn(u32) -> bool; 2] {
                assert_eq!(
                    graph.search(&rows, DIM, query, 10, 64, accept),
                    f.graph.search(&f.vectors, DIM, query, 10, 64, accept)
                );
            }
        }
        // The layout is not in the file: both graphs write the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let (wide, plain) = (dir.path().join("wide.bin"), dir.path().join("plain.bin"));
        graph.write(&wide).unwrap();
        f.graph.write(&plain).unwrap();
        assert!(fs::read(&wide).unwrap() == fs::read(&plain).unwrap());
    }

    /// The every-seventh subset graph over `widen`ed rows, and over the contiguous vectors.
    fn wide_and_plain_subset_graphs(rows: &[f32]) -> (HnswGraph, HnswGraph) {
        let f = fixture();
        let (stride, column) = WIDE;
        let params = HnswParams::default();
        let subset = every_seventh();
        let builder = HnswBuilder::subset(DIM, subset.clone(), Distance::Euclid, params, 7)
            .with_layout(stride, column);
        let wide = finish_all(builder, rows);
        let plain = build_subset(&f.vectors, DIM, Distance::Euclid, params, 1, &subset);
        (wide, plain)
    }

    #[test]
    fn a_subset_graph_with_a_layout_matches_one_over_contiguous_vectors() {
        let f = fixture();
        let (stride, column) = WIDE;
        let rows = widen(&f.vectors, DIM, stride, column);
        let (wide, plain) = wide_and_plain_subset_graphs(&rows);
        assert_eq!(wide.layout(), (stride, column));
        assert_eq!(plain.layout(), (DIM, 0));
        assert_eq!(wide.offsets(), plain.offsets());
        assert_eq!(wide.inserted(), every_seventh().len());
        assert!(wide.level0 == plain.level0 && wide.upper == plain.upper);
        for query in f.queries.chunks_exact(DIM) {
            for accept in [&|_| true, &|o: u32| o.is_multiple_of(14)] as [&dyn Fn(u32) -> bool; 2] {
                let found = wide.search(&rows, DIM, query, 10, 64, accept);
                assert_eq!(found.len(), 10);
                assert_eq!(found, plain.search(&f.vectors, DIM, query, 10, 64, accept));
            }
        }
    }

    #[test]
    fn a_loaded_graph_is_given_its_layout_again() {
        let f = fixture();
        let (stride, column) = WIDE;
        let rows = widen(&f.vectors, DIM, stride, column);
        let (wide, plain) = wide_and_plain_subset_graphs(&rows);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HNSW_FILE);
        wide.write(&path).unwrap();
        let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
        // Loaded without a layout, the graph reads contiguous vectors, whatever it was built
        // over.
        assert_eq!(loaded.layout(), (0, 0));
        let loaded_plain = HnswGraph::load(&path, N, Distance::Euclid)
            .unwrap()
            .with_layout(DIM, 0);
        let loaded_wide = loaded.with_layout(stride, column);
        assert_eq!(loaded_wide.layout(), (stride, column));
        let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
        for query in f.queries.chunks_exact(DIM) {
            for ef in [10, 64] {
                let want = wide.search(&rows, DIM, query, 10, ef, &|_| true);
                assert_eq!(want.len(), 10);
                assert_eq!(
                    loaded_wide.search(&rows, DIM, query, 10, ef, &|_| true),
                    want
                );
                for g in [&loaded, &loaded_plain, &plain] {
                    assert_eq!(g.search(&f.vectors, DIM, query, 10, ef, &|_| true), want);
                }
            }
        }
        // Neither the layout a graph was built with nor the one it is given is written.
        let again = dir.path().join("again.bin");
        let plain_path = dir.path().join("plain.bin");
        loaded_wide.write(&again).unwrap();
        plain.write(&plain_path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert!(bytes == fs::read(&again).unwrap() && bytes == fs::read(&plain_path).unwrap());
    }

    /// Bad layouts and short rows are debug assertions, and in release ignored without harm.
    #[test]
    fn bad_layouts_are_caught_in_debug_and_ignored_in_release() {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let flagged = |f: &dyn Fn()| {
            let panicked = catch_unwind(AssertUnwindSafe(f)).is_err();
            assert_eq!(panicked, cfg!(debug_assertions));
        };
        let params = HnswParams::default();
        let vectors = Rng(4).points(10, DIM, Distance::Euclid);
        let (stride, column) = WIDE;
        let rows = widen(&vectors, DIM, stride, column);
        let query = &vectors[..DIM];
        // The vector overruns its row (or the layout overflows): nothing is inserted, however
        // long the rows.
        for (stride, column) in [
            (3 * DIM, 2 * DIM + 1),
            (DIM - 1, 0),
            (0, 1),
            (usize::MAX, usize::MAX),
            (usize::MAX, 1),
        ] {
            flagged(&|| {
                let builder = HnswBuilder::new(DIM, 10, Distance::Euclid, params, 1)
                    .with_layout(stride, column);
                builder.insert(&rows, 0);
                assert_eq!(builder.finish().inserted(), 0);
            });
        }
        // A layout set after an insert would mix two layouts in one graph.
        flagged(&|| {
            let builder = HnswBuilder::new(DIM, 10, Distance::Euclid, params, 1);
            builder.insert(&vectors, 0);
            let _ = builder.with_layout(stride, column);
        });
        // Rows short of the last row's end, even with its vector whole, or contiguous vectors
        // given to a graph with a layout.
        let builder =
            HnswBuilder::new(DIM, 10, Distance::Euclid, params, 1).with_layout(stride, column);
        let cut = &rows[..rows.len() - DIM];
        flagged(&|| builder.insert(cut, 0));
        flagged(&|| builder.insert(&vectors, 0));
        builder.insert(&rows, 4);
        let graph = builder.finish();
        assert_eq!(graph.inserted(), 1);
        assert_eq!(graph.search(&rows, DIM, query, 5, 10, &|_| true)[0].1, 4);
        for short in [cut, &vectors[..]] {
            flagged(&|| {
                assert!(graph.search(short, DIM, query, 5, 10, &|_| true).is_empty());
            });
        }
        // A subset needs the rows up to its largest offset's, no more.
        let builder = HnswBuilder::subset(DIM, vec![1, 4], Distance::Euclid, params, 1)
            .with_layout(stride, column);
        flagged(&|| builder.insert_node(&rows[..5 * stride - 1], 1));
        builder.insert_node(&rows[..5 * stride], 1);
        let subset = builder.finish();
        assert_eq!(subset.inserted(), 1);
        assert_eq!(
            subset.search(&rows[..5 * stride], DIM, query, 5, 10, &|_| true)[0].1,
            4
        );
        flagged(&|| {
            assert!(subset
                .search(&rows[..5 * stride - 1], DIM, query, 5, 10, &|_| true)
                .is_empty());
        });
        // A bad layout given to a graph: its searches answer nothing until it is mended.
        let mut graph = graph;
        for (stride, column) in [(3 * DIM, 2 * DIM + 1), (0, 1), (usize::MAX, 0)] {
            graph = graph.with_layout(stride, column);
            flagged(&|| {
                assert!(graph.search(&rows, DIM, query, 5, 10, &|_| true).is_empty());
            });
        }
        let graph = graph.with_layout(stride, column);
        assert_eq!(graph.search(&rows, DIM, query, 5, 10, &|_| true)[0].1, 4);
    }
}
