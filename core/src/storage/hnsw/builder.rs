//! Building a graph ([`HnswBuilder`]), by any number of threads at once: sampling levels,
//! inserting a node (the walk of `search.rs` over the rows under construction, then the
//! neighbour-selection heuristic), linking back to the chosen neighbours (connect, pruning a
//! full list), and finishing: the upper lists packed, level 0 healed (`heal_level0`) and
//! handed over in place to the [`HnswGraph`].
//!
//! Building takes a lock per node around its neighbour lists and one around the entry point.
//! Level 0 is built in its final layout: one flat array of atomics with a fixed stride per
//! node, each row read and written only under its node's lock (which orders the accesses, so
//! they are `Relaxed`), so that finishing reuses that allocation instead of copying per-node
//! lists into a second one.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as Atomic};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::graph::HnswGraph;
use super::search::{
    checked_stride, span, with_visited, Identity, Links, Near, NodeMap, Rows, Walk,
};
use super::{HnswParams, MAX_LEVEL, NOT_INSERTED, NO_ENTRY};
use crate::models::Distance;
use crate::storage::distance::graph_distance;

/// Lock a node's links. A panic while a list was locked leaves a valid list (nothing panics
/// while a level-0 row is being rewritten, an upper list changes by a single assignment or
/// push), so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The link slots in use of a level-0 row: `row[1..=row[0]]` (the count capped to the row).
/// The caller holds the row's lock.
pub(super) fn links_of(row: &[AtomicU32]) -> std::slice::Iter<'_, AtomicU32> {
    let count = row
        .first()
        .map_or(0, |count| count.load(Atomic::Relaxed) as usize);
    row.get(1..).unwrap_or(&[])[..count.min(row.len().saturating_sub(1))].iter()
}

/// Replace the links of a level-0 row (whose lock the caller holds) by `links` (at most the
/// row's slots are kept), zeroing the slots no longer used so that unused slots stay 0.
pub(super) fn set_row(row: &[AtomicU32], links: impl Iterator<Item = u32>) {
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
pub(super) fn into_plain(words: Vec<AtomicU32>) -> Vec<u32> {
    words.into_iter().map(AtomicU32::into_inner).collect()
}

/// SplitMix64's output function: a strong 64-bit mix.
pub(super) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The level of `offset`: `floor(-ln(u) * mult)` for `u` uniform in (0, 1] drawn from
/// `seed` and `offset` alone, so it does not depend on which thread inserts when.
pub(super) fn sample_level(seed: u64, offset: u32, mult: f64) -> u8 {
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
    pub(super) len: usize,
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

/// The builder's links as a walk reads them: each node's lists under its lock, held only while
/// `each` runs (which copies or filters, never computes a distance).
impl Links for HnswBuilder {
    #[inline]
    fn for_each_link(&self, node: u32, level: usize, mut each: impl FnMut(u32)) {
        let node = node as usize;
        let lists = lock(&self.nodes[node]);
        if level == 0 {
            for slot in links_of(self.row(node)) {
                each(slot.load(Atomic::Relaxed));
            }
        } else if let Some(list) = lists.get(level - 1) {
            for &link in list {
                each(link);
            }
        }
    }
}

/// Give every inserted node but the entry point at least one incoming level-0 link, so that a
/// search can reach it. Pruning by the neighbour heuristic can drop a node from every list
/// that held it (more likely when threads insert concurrently, which changes the order
/// lists fill in); such a node could never be returned. It is linked from one of its own
/// neighbours instead: into a free slot, or in place of a link to a node that has other
/// incoming links, so that no node loses its last one.
pub(super) fn heal_level0(level0: &mut [u32], m0: usize, levels: &[u8], entry: u32) {
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
        let walk = Walk {
            links: self.builder,
            rows: self.rows,
            dist: self.dist,
            query: self.vector(id),
            stop: &|| false,
        };
        // A beam wider than the graph finds nothing more.
        let ef = self.params.ef_construct.min(self.len);
        with_visited(self.len, |visited| {
            let mut scratch = Vec::new();
            let nearest = walk.descend(
                walk.near(entry),
                usize::from(top),
                usize::from(level),
                &mut scratch,
            );
            let mut entries = vec![nearest];
            for lc in (0..=usize::from(level.min(top))).rev() {
                visited.start(self.len);
                let mut found = walk.beam(&entries, lc, ef, |_| true, visited, &mut scratch);
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
