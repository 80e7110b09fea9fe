//! The finished graph of one segment ([`HnswGraph`]): immutable, searched by any number of
//! threads at once, and its link arrays as the walk in `search.rs` reads them.
//!
//! Level 0 is one flat array with a fixed stride per node (the link count, then `m0` slots);
//! the upper levels (about one node in `m` has any) are a second compact array reached
//! through a per-node start index. The file form of these arrays is in `format.rs`, which
//! loads straight into them.

use super::search::{
    checked_stride, prefetch, span, with_visited, Identity, Links, NodeMap, Rows, Walk,
};
use super::{HnswParams, NO_ENTRY};
use crate::models::Distance;

/// The finished, immutable graph of one segment (or of a subset of its offsets): searched by
/// any number of threads at once.
pub struct HnswGraph {
    /// Number of nodes: the segment's length, or the subset's size.
    pub(super) len: usize,
    /// The segment offset of each node of a subset graph; `None` for a full graph.
    pub(super) offsets: Option<Vec<u32>>,
    /// Width of the segment's rows, in f32 (0 meaning the `dim` of each search); not in the file.
    pub(super) stride: usize,
    /// Where in a row the vector starts; not in the file.
    pub(super) column: usize,
    pub(super) params: HnswParams,
    pub(super) distance: Distance,
    pub(super) dist: fn(&[f32], &[f32]) -> f32,
    /// The entry point node, `NO_ENTRY` when no node is inserted.
    pub(super) entry: u32,
    /// The entry point's level, the highest of all.
    pub(super) max_level: u8,
    pub(super) inserted: usize,
    /// Level of each node, `NOT_INSERTED` for nodes not in the graph.
    pub(super) levels: Vec<u8>,
    /// Level 0, `1 + m0` u32 per node: the link count, then the links (unused slots 0).
    pub(super) level0: Vec<u32>,
    /// Per node, where its upper levels start in `upper` (`usize::MAX` for none).
    pub(super) upper_start: Vec<usize>,
    /// Upper levels of the nodes that have them: per level `1..=L`, `1 + m` u32 (count, links).
    pub(super) upper: Vec<u32>,
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
    #[inline]
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
        self.search_until(vectors, dim, query, k, ef, accept, &|| false)
    }

    /// [`HnswGraph::search`] that gives up when `stop` returns `true`: asked before each
    /// upper level and every few dozen expansions of level 0, so a cancelled or timed-out
    /// request stops mid-walk. A stopped search returns the best accepted nodes it had found
    /// (possibly none), which the caller, having asked to stop, is expected to discard.
    #[allow(clippy::too_many_arguments)]
    pub fn search_until(
        &self,
        vectors: &[f32],
        dim: usize,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
        stop: &dyn Fn() -> bool,
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
                stop,
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
                stop,
            ),
        }
    }

    /// The work of [`HnswGraph::search_until`] once its arguments are checked (so `rows.dim`
    /// is `query.len()` and every node's vector is in `rows`), with nodes mapped to offsets by
    /// `rows.map`.
    fn search_mapped<M: NodeMap>(
        &self,
        rows: Rows<'_, M>,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
        stop: &dyn Fn() -> bool,
    ) -> Vec<(f32, u32)> {
        // A beam wider than the graph finds nothing more (and would only allocate).
        let ef = ef.max(k).min(self.inserted);
        let map = rows.map;
        let walk = Walk {
            links: self,
            rows,
            dist: self.dist,
            query,
            stop,
        };
        let mut scratch = Vec::with_capacity(self.params.m0());
        let entry = walk.near(self.entry);
        let nearest = walk.descend(entry, usize::from(self.max_level), 0, &mut scratch);
        let mut results = with_visited(self.len, |visited| {
            walk.beam(
                &[nearest],
                0,
                ef,
                |node| accept(map.offset(node)),
                visited,
                &mut scratch,
            )
        });
        results.truncate(k);
        results
            .into_iter()
            .map(|near| (near.dist, map.offset(near.id)))
            .collect()
    }
}

impl Links for HnswGraph {
    #[inline(always)]
    fn for_each_link(&self, node: u32, level: usize, mut each: impl FnMut(u32)) {
        let links = if level == 0 {
            self.level0_links(node)
        } else {
            self.upper_links(node, level)
        };
        for &link in links {
            each(link);
        }
    }

    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        if level == 0 {
            self.prefetch_level0(node);
        }
    }
}
