//! The HNSW graph index of one segment: building it (several threads at once), searching it,
//! and its file `hnsw.bin`.
//!
//! ## Reading this module
//! The pieces, in the order a newcomer might read them:
//! - `search.rs`: the walk, written once: a greedy descent through the upper levels and a
//!   beam search of one level, over a small `Links` trait (the links of a node on a level).
//!   Both the builder and the finished graph search through it, so a change to the walk is
//!   one edit. It also owns where vectors are (`Rows`, `NodeMap`) and the visited set.
//! - `graph.rs`: the finished, immutable [`HnswGraph`] (its flat link arrays) and
//!   [`HnswGraph::search`], which is the descent plus one beam on level 0.
//! - `builder.rs`: [`HnswBuilder`]: insert (the same walk over the rows under construction,
//!   then the neighbour-selection heuristic), connect and prune, and `finish`, which heals
//!   level 0 and hands its array to the graph in place.
//! - `format.rs`: the file `hnsw.bin`, its layout and the checks of a load.
//! - `tests/`: the tests, against brute force.
//!
//! ## What the index is
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
//! is built in place in its final layout, so finishing reuses that allocation instead of
//! copying per-node lists into a second one. A finished graph is immutable: level 0 is that
//! flat array, the upper levels (about one node in `m`) a second compact array. A search
//! allocates nothing per visited node: the visited set is a per-thread array of generation
//! tags, and the vectors of the neighbours about to be compared are prefetched, which matters
//! because search time is mostly spent waiting for vectors to arrive from memory. A search
//! can be stopped from outside ([`HnswGraph::search_until`]): a cancelled request stops
//! mid-walk instead of finishing a segment's search.
//!
//! ## Invariants
//! Checked when a file is loaded, and true by construction after [`HnswBuilder::finish`]:
//! every link is an inserted node `< n` other than the node itself; a node's level-0 list
//! has at most `m0` links and each of its upper lists at most `m`; a link on level `l` points
//! to a node whose level is at least `l`; the entry point is an inserted node of the highest
//! level, or there is none and no node is inserted. A subset graph's offset map is strictly
//! increasing and every offset in it is `<` the segment's length.

mod builder;
mod format;
mod graph;
mod search;
#[cfg(test)]
mod tests;

pub use builder::HnswBuilder;
pub use graph::HnswGraph;

/// Name of the index file inside a segment directory.
pub const HNSW_FILE: &str = "hnsw.bin";
/// Largest `m` accepted (larger values are clamped when building, refused when loading).
pub const MAX_M: usize = 512;
/// Highest level a node can get (the sampled level is capped here).
pub const MAX_LEVEL: u8 = 32;

/// The level byte of a node that is not in the graph.
const NOT_INSERTED: u8 = u8::MAX;
/// The entry point of an empty graph.
const NO_ENTRY: u32 = u32::MAX;

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
