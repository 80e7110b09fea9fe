//! The walk through a graph, written once for the builder and the finished graph: the greedy
//! descent through the upper levels and the beam search of one level, over any [`Links`]
//! (the links of a node on a level). It also owns what a walk needs around it: where the
//! vectors are ([`Rows`], through a [`NodeMap`]), the per-thread [`Visited`] set, the
//! [`Near`] ordering and the prefetch hint.
//!
//! It does not own the links themselves (the builder's rows under construction, or the
//! finished graph's arrays), nor what a caller does with the nodes found.
//!
//! Everything here is generic (over the links, the node map and the filter), so each caller
//! gets its own monomorphised copy of the loop with nothing dynamic per visited node except
//! the distance function (a function pointer, as before the split) and, for the finished
//! graph, the caller's `accept` filter. A search can be stopped from outside: the stop check
//! is asked once per level of the descent and once every [`STOP_CHECK_EVERY`] expansions of
//! the beam, and a stopped walk returns what it has found so far.

use std::cell::Cell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// How many neighbours ahead of the distance computation their vectors are prefetched.
const PREFETCH_AHEAD: usize = 1;
/// How many cache lines of a vector are prefetched: half of a 384-d vector measured best
/// (more queues too many misses at once; the hardware prefetcher streams the rest).
const PREFETCH_LINES: usize = 12;
/// How often (in expanded candidates) the beam search asks whether it should stop. An
/// expansion computes up to `m0` distances, so this is a check every few thousand distances:
/// nothing measurable, and a cancelled search still stops within microseconds.
pub(super) const STOP_CHECK_EVERY: usize = 32;

/// The links of a graph's nodes, as a walk reads them: the builder's rows under construction
/// (behind per-node locks) or the finished graph's flat arrays.
pub(super) trait Links {
    /// Call `each` with every link of `node` on level `level`, in list order. A node without
    /// lists on that level has no links. `each` must be cheap: the builder holds the node's
    /// lock while calling it.
    fn for_each_link(&self, node: u32, level: usize, each: impl FnMut(u32));

    /// A hint that the links of `node` on level `level` will be read soon; no effect on
    /// results.
    #[inline(always)]
    fn prefetch_links(&self, _node: u32, _level: usize) {}
}

/// How a graph's nodes name segment offsets. The builder and the search are generic over it,
/// so a full graph's inner loops compile to exactly what they were before subsets existed
/// instead of testing for a map at every neighbour.
pub(super) trait NodeMap: Copy {
    /// The segment offset of `node`, which the graph's invariants keep `< n`.
    fn offset(self, node: u32) -> u32;
}

/// The map of a full graph: node `k` is offset `k`.
#[derive(Clone, Copy)]
pub(super) struct Identity;

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
pub(super) fn span(len: usize, offsets: Option<&[u32]>) -> usize {
    match offsets {
        None => len,
        Some(map) => map.last().map_or(0, |&last| last as usize + 1),
    }
}

/// The layout's stride (0 meaning `dim`) if a vector fits in its row and `vectors` has `span` rows.
pub(super) fn checked_stride(
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
pub(super) struct Rows<'a, M> {
    pub(super) vectors: &'a [f32],
    pub(super) map: M,
    pub(super) stride: usize,
    pub(super) column: usize,
    pub(super) dim: usize,
}

impl<'a, M: NodeMap> Rows<'a, M> {
    /// The vector of `node`.
    #[inline(always)]
    pub(super) fn vector(&self, node: u32) -> &'a [f32] {
        let start = self.map.offset(node) as usize * self.stride + self.column;
        &self.vectors[start..start + self.dim]
    }
}

/// A node and its graph distance to the query; ordered by distance, then node.
#[derive(Debug, Clone, Copy)]
pub(super) struct Near {
    pub(super) dist: f32,
    pub(super) id: u32,
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

/// The set of nodes one search has visited: a tag per node, equal to the current
/// generation when visited, so that starting a new search is one increment instead of a
/// clear of `len` entries.
#[derive(Default)]
pub(super) struct Visited {
    tags: Vec<u32>,
    generation: u32,
}

impl Visited {
    /// Forget every visit, for a graph of `len` nodes.
    pub(super) fn start(&mut self, len: usize) {
        if self.tags.len() < len {
            self.tags.resize(len, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.tags.fill(0);
            self.generation = 1;
        }
    }

    /// Mark `id` visited; `true` if it was not before. Nodes out of range count as visited,
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

/// Run `f` with this thread's visited set, started for `len` nodes. Taken out of the
/// thread-local while `f` runs, so a nested search (from inside an `accept` filter) gets a
/// fresh set instead of a panic.
pub(super) fn with_visited<R>(len: usize, f: impl FnOnce(&mut Visited) -> R) -> R {
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

/// One walk towards `query` through a graph's `links`, whose nodes' vectors are in `rows`.
pub(super) struct Walk<'a, L, M> {
    pub(super) links: &'a L,
    pub(super) rows: Rows<'a, M>,
    pub(super) dist: fn(&[f32], &[f32]) -> f32,
    pub(super) query: &'a [f32],
    /// Asked now and then; once it answers `true` the walk returns what it has.
    pub(super) stop: &'a dyn Fn() -> bool,
}

impl<L: Links, M: NodeMap> Walk<'_, L, M> {
    /// `node` and its distance to the query.
    #[inline]
    pub(super) fn near(&self, node: u32) -> Near {
        Near {
            dist: (self.dist)(self.query, self.rows.vector(node)),
            id: node,
        }
    }

    /// Greedy descent from `start` through the levels `top` down to `bottom + 1` (none when
    /// `top <= bottom`): on each, move to the closest neighbour until none is closer. The
    /// node where it ends is the entry into level `bottom`. `scratch` holds a node's links,
    /// copied out so that the builder's lock is not held while they are scanned.
    #[inline]
    pub(super) fn descend(
        &self,
        start: Near,
        top: usize,
        bottom: usize,
        scratch: &mut Vec<u32>,
    ) -> Near {
        let mut best = start;
        for level in (bottom + 1..=top).rev() {
            if (self.stop)() {
                break;
            }
            loop {
                let mut moved = false;
                scratch.clear();
                self.links
                    .for_each_link(best.id, level, |next| scratch.push(next));
                for &next in scratch.iter() {
                    let dist = (self.dist)(self.query, self.rows.vector(next));
                    if dist < best.dist {
                        best = Near { dist, id: next };
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        best
    }

    /// Beam search of width `ef` (at least 1) on level `level` from `entries`: the best `ef`
    /// nodes reached that `accept` takes, closest first. Nodes `accept` rejects still route the
    /// walk (they are expanded like any other) but are never returned. `visited` is started by
    /// the caller; `fresh` is scratch space for a node's unvisited links.
    #[inline]
    pub(super) fn beam(
        &self,
        entries: &[Near],
        level: usize,
        ef: usize,
        accept: impl Fn(u32) -> bool,
        visited: &mut Visited,
        fresh: &mut Vec<u32>,
    ) -> Vec<Near> {
        let dist = self.dist;
        let query = self.query;
        // Locals, so that the loops below keep the layout in registers.
        let Rows {
            vectors,
            map,
            stride,
            column,
            dim,
        } = self.rows;
        let vector = |node: u32| {
            let start = map.offset(node) as usize * stride + column;
            &vectors[start..start + dim]
        };
        let mut candidates = BinaryHeap::with_capacity(ef * 2);
        let mut results = BinaryHeap::with_capacity(ef + 1);
        for &entry in entries {
            if visited.first_visit(entry.id) {
                candidates.push(Reverse(entry));
                if accept(entry.id) {
                    results.push(entry);
                }
            }
        }
        while results.len() > ef {
            results.pop();
        }
        // The worst result kept, which a new node must beat once the beam is full.
        let mut bound = results.peek().map_or(f32::INFINITY, |n: &Near| n.dist);
        let mut expansions = 0usize;
        while let Some(Reverse(current)) = candidates.pop() {
            if current.dist > bound && results.len() >= ef {
                break;
            }
            if expansions.is_multiple_of(STOP_CHECK_EVERY) && (self.stop)() {
                break;
            }
            expansions += 1;
            // The next candidate's links are likely needed next.
            if let Some(Reverse(next)) = candidates.peek() {
                self.links.prefetch_links(next.id, level);
            }
            // The unvisited neighbours first, so that each one's vector can be fetched
            // from memory while the distance to the one before it is computed.
            fresh.clear();
            self.links.for_each_link(current.id, level, |next| {
                if visited.first_visit(next) {
                    fresh.push(next);
                }
            });
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
                    if accept(next) {
                        results.push(near);
                        if results.len() > ef {
                            results.pop();
                        }
                        bound = results.peek().map_or(f32::INFINITY, |n: &Near| n.dist);
                    }
                }
            }
        }
        results.into_sorted_vec()
    }
}

/// Ask the CPU to start loading the first `lines` cache lines of `data` into its caches; a
/// hint with no effect on results.
#[inline(always)]
pub(super) fn prefetch<T>(data: &[T], lines: usize) {
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
