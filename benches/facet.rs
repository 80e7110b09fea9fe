//! `facet` (issue 15) on the Debian set: the counts of `section` (about 100 values) over 59,004
//! points, answered from payloads (every point still in the write segment: no index built) and
//! from the keyword index of a sealed segment, without a filter and under a filter
//! (`priority` = `optional`, most points). A plain `main` that prints a markdown table.
//!
//! The collection is built through the engine (`TableOfContent`, no client, no optimizer):
//! 1-d vectors (facet reads no vectors) and the payloads of `debian-384.payload.jsonl`, with
//! a keyword index on `section` (facet needs one, as in Qdrant). Each cell runs 3 warm-up
//! facets, then times 15, and reports the median and min. Before timing, both paths are
//! checked to give the same hits.
//!
//! Run: `cargo bench --all-features --bench facet`. `RRO_FACET_DATA` overrides the directory
//! of the Debian files (default `/work/shared/data`).

use std::io::BufRead;
use std::time::{Duration, Instant};

use rro::models::{
    Condition, CreateFieldIndex, Distance, FacetRequest, FacetResponse, Filter, PayloadSchemaType,
    PointStruct, VectorParams,
};
use rro_core::storage::{Collection, TableOfContent};
use rro_core::{Config, Durability};

const DATA_ENV: &str = "RRO_FACET_DATA";
const WARMUP: usize = 3;
const RUNS: usize = 15;

fn main() {
    let dir = std::env::var(DATA_ENV).unwrap_or_else(|_| "/work/shared/data".into());
    let path = std::path::Path::new(&dir).join("debian-384.payload.jsonl");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let points: Vec<PointStruct> = std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let payload = serde_json::from_str(&line.expect("a line")).expect("a JSON object");
            PointStruct::new(i as u64, vec![1.0]).with_payload(payload)
        })
        .collect();
    let n = points.len();
    let data = tempfile::tempdir().expect("temp dir");
    let config =
        Config::new(data.path()).durability(Durability::Interval(Duration::from_secs(3600)));
    let toc = TableOfContent::open(&config).expect("open");
    toc.create_collection("debian", VectorParams::new(1, Distance::Dot).into())
        .expect("create");
    let c = toc.collection("debian").expect("collection");
    c.create_field_index(&CreateFieldIndex::new(
        "section",
        PayloadSchemaType::Keyword,
    ))
    .expect("index");
    for batch in points.chunks(1_000) {
        c.upsert(batch.to_vec()).expect("upsert");
    }
    let all = FacetRequest::new("section").limit(1_000);
    let optional = all.clone().filter(Filter::must([Condition::matches(
        "priority",
        "optional".to_owned(),
    )]));
    let from_payloads = [time(&c, &all), time(&c, &optional)];
    toc.flush().expect("seal");
    let from_index = [time(&c, &all), time(&c, &optional)];
    for (a, b) in from_payloads.iter().zip(&from_index) {
        assert_eq!(a.0, b.0, "both paths give the same hits");
    }
    let values = from_index[0].0.hits.len();
    let counted: u64 = from_index[0].0.hits.iter().map(|h| h.count).sum();
    println!("{n} points, {values} distinct sections, {counted} counted\n");
    println!("| facet `section` | payloads (write segment), ms | keyword index (sealed), ms |");
    println!("|---|---:|---:|");
    for (what, (p, i)) in ["no filter", "`priority` = `optional`"]
        .iter()
        .zip(from_payloads.iter().zip(&from_index))
    {
        println!(
            "| {what} | {} (min {}) | {} (min {}) |",
            ms(p.1),
            ms(p.2),
            ms(i.1),
            ms(i.2)
        );
    }
}

/// The answer, and the median and min time of `RUNS` facets after `WARMUP`.
fn time(c: &Collection, request: &FacetRequest) -> (FacetResponse, Duration, Duration) {
    let answer = c.facet(request).expect("facet");
    for _ in 1..WARMUP {
        c.facet(request).expect("facet");
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(c.facet(request).expect("facet"));
            start.elapsed()
        })
        .collect();
    times.sort();
    (answer, times[RUNS / 2], times[0])
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}
