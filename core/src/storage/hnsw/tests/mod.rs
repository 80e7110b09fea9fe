//! The tests of the HNSW index, against brute force and hand-built files, and the helpers
//! they share (deterministic data, builds, recall, small files to damage).

use std::fs;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as Atomic};
use std::sync::OnceLock;

use super::builder::{heal_level0, into_plain, links_of, sample_level, set_row, splitmix64};
use super::format::{FLAG_SUBSET, MAGIC, PARAMS_LEN, VERSION};
use super::search::Near;
use super::*;
use crate::error::StorageError;
use crate::models::Distance;
use crate::storage::checked::{self, HEADER_LEN};
use crate::storage::distance::graph_distance;

mod build_search;
mod file;
mod layout;
mod subset;

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

/// Every 7th offset of the fixture: 715 of its 5,000 points.
fn every_seventh() -> Vec<u32> {
    (0..N as u32).step_by(7).collect()
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
