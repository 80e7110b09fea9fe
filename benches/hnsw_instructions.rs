//! HNSW build and search work in instructions, not seconds: run under callgrind, whose counts
//! repeat exactly for the same binary and input whatever else the machine is doing (this
//! machine is shared, and wall-clock figures of the same binary differ by up to 50 % between
//! runs). A plain `main` (no criterion).
//!
//! It builds one graph on one thread over `n` uniform random vectors (fixed seed, Euclid,
//! `m` 16, `ef_construct` 100, level seed 42), prints the graph file's size and FNV-1a hash (so
//! two builds can be checked byte-identical), then, in mode `both`, runs 500 searches at k 10,
//! ef 64 and prints a checksum of the answers. The search count is `both` minus `build`.
//!
//! ```sh
//! cargo bench --all-features --bench hnsw_instructions --no-run   # prints the executable
//! valgrind --tool=callgrind <executable> build 5000
//! valgrind --tool=callgrind <executable> both 5000
//! ```
//! `DIM` sets the dimension (default 128); mode `mt` builds on 2 threads (not repeatable).

use rro_core::models::Distance;
use rro_core::storage::hnsw::{HnswBuilder, HnswParams};

const QUERIES: usize = 500;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; only a plain word is a mode.
    let words: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mode = words.first().copied().unwrap_or("both");
    let n: usize = words.get(1).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let dim: usize = std::env::var("DIM")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(128);
    let mut state: u64 = 0x1234_5678_9abc_def0;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let vectors: Vec<f32> = (0..n * dim).map(|_| next()).collect();
    let queries: Vec<f32> = (0..QUERIES * dim).map(|_| next()).collect();
    let params = HnswParams {
        m: 16,
        ef_construct: 100,
    };
    let builder = HnswBuilder::new(dim, n, Distance::Euclid, params, 42);
    let threads: u32 = if mode == "mt" { 2 } else { 1 };
    std::thread::scope(|s| {
        for t in 0..threads {
            let (builder, vectors) = (&builder, &vectors);
            s.spawn(move || {
                for i in (t..n as u32).step_by(threads as usize) {
                    builder.insert(vectors, i);
                }
            });
        }
    });
    let graph = builder.finish();
    let path = std::env::temp_dir().join(format!("hnsw_instructions_{}.bin", std::process::id()));
    graph.write(&path).expect("the graph file is written");
    let bytes = std::fs::read(&path).expect("the graph file is read back");
    let _ = std::fs::remove_file(&path);
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    println!("graph: {} bytes, fnv1a {hash:016x}", bytes.len());
    if mode == "both" {
        let mut sum = 0u64;
        for query in queries.chunks(dim) {
            for (_, offset) in graph.search(&vectors, dim, query, 10, 64, &|_| true) {
                sum = sum.wrapping_mul(31).wrapping_add(u64::from(offset));
            }
        }
        println!("searches: {QUERIES} at ef 64, checksum {sum:016x}");
    }
}
