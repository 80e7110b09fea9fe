//! A collection's search path in instructions (callgrind), to compare two trees on a shared
//! machine: the planner and the fan-out over segments, above the graph walk that
//! `hnsw_instructions` counts. A plain `main` (no criterion).
//!
//! It fills an in-memory collection (`n` uniform random 128-d vectors, Cosine, a keyword
//! `color` of 10 values, one of them held by half the points, with a keyword index), builds
//! its indexes on one thread (`optimize(1)`: one indexed segment, per-value graphs for the
//! large values), then in mode `search` runs 500 searches of each kind: unfiltered at ef 64,
//! filtered on the large value (its per-value graph), filtered on a 5 % value (exact scoring
//! of its candidates), and `exact`. It prints a checksum of every answer, so two trees can be
//! checked to answer the same. The search count is `search` minus `build`.
//!
//! ```sh
//! cargo bench --all-features --bench search_instructions --no-run   # prints the executable
//! valgrind --tool=callgrind <executable> build 5000
//! valgrind --tool=callgrind <executable> search 5000
//! ```

use rro_core::models::{
    Condition, CreateCollection, CreateFieldIndex, Distance, Filter, HnswConfig, OptimizersConfig,
    PayloadSchemaType, PointStruct, SearchRequest, VectorParams,
};
use rro_core::storage::Collection;

const QUERIES: usize = 500;
const DIM: usize = 128;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; only a plain word is a mode.
    let words: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mode = words.first().copied().unwrap_or("search");
    let n: u64 = words.get(1).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let mut state: u64 = 0x1234_5678_9abc_def0;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let color = |i: u64| match i % 20 {
        0..=9 => "common".to_owned(),
        k => format!("c{k}"),
    };
    let create = CreateCollection::new(VectorParams::new(DIM as u64, Distance::Cosine))
        .hnsw_config(HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(1),
            default_segment_number: 1,
            ..OptimizersConfig::default()
        });
    let collection = Collection::with_config(create).expect("valid config");
    let points: Vec<PointStruct> = (0..n)
        .map(|i| {
            let vector: Vec<f32> = (0..DIM).map(|_| next()).collect();
            let payload = serde_json::json!({ "color": color(i) });
            let payload = serde_json::from_value(payload).expect("an object");
            PointStruct::new(i, vector).with_payload(payload)
        })
        .collect();
    collection.upsert(points).expect("valid points");
    collection
        .create_field_index(&CreateFieldIndex::new("color", PayloadSchemaType::Keyword))
        .expect("valid index");
    collection.optimize(1).expect("optimized");
    println!("built {n} points");
    if mode != "search" {
        return;
    }
    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|_| (0..DIM).map(|_| next()).collect())
        .collect();
    let never = || false;
    let kinds: [(&str, Option<&str>, bool); 4] = [
        ("unfiltered", None, false),
        ("common (per-value graph)", Some("common"), false),
        ("c13 (exact candidates)", Some("c13"), false),
        ("exact", None, true),
    ];
    for (what, value, exact) in kinds {
        let mut checksum: u64 = 0xcbf2_9ce4_8422_2325;
        for q in &queries {
            let mut request = SearchRequest::new(q.clone(), 10).hnsw_ef(64);
            if let Some(value) = value {
                request = request.filter(Filter::must([Condition::matches("color", value)]));
            }
            if exact {
                request = request.exact(true);
            }
            let hits = collection
                .search(&request, &never)
                .expect("valid search")
                .expect("not cancelled");
            for hit in hits {
                let id = match hit.id {
                    rro_core::models::PointId::Num(n) => n,
                    rro_core::models::PointId::Uuid(_) => u64::MAX,
                };
                checksum = (checksum ^ id).wrapping_mul(0x100_0000_01b3);
            }
        }
        println!("{what}: checksum {checksum:016x}");
    }
}
