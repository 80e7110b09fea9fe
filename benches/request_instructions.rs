//! The request path in instructions: one search (or a small search batch, or a health check)
//! through `RroClient` on tokio and on smol against the same search on the engine directly,
//! counted under callgrind (repeatable on this shared machine, unlike seconds), plus a timing
//! mode that reports medians of all contenders from the same run. A plain `main` (no
//! criterion).
//!
//! The collection is built once by the engine into a directory (`setup`): 5,000 uniform random
//! 128-d vectors (fixed seed), Euclid, one indexed segment, `full_scan_threshold` 0 so every
//! search walks the graph. Every measured run reopens it, runs 64 warm-up requests and then `Q`
//! requests, `IN_FLIGHT` at a time (k 10, ef 64, queries cycled from a fixed set of 64). The
//! per-request count is `(run with Q) − (run with Q = 0)` over `Q`: opening, warming up and
//! shutting down cancel out. Client runs turn idle spinning off (a spinning thread's
//! instructions depend on timing, not on the request).
//!
//! ```sh
//! cargo bench --all-features --bench request_instructions --no-run   # prints the executable
//! B=<executable>; D=$(mktemp -d)
//! $B setup $D
//! valgrind --tool=callgrind $B tokio $D search 1 0       # contender shape in-flight Q
//! valgrind --tool=callgrind $B tokio $D search 1 2000
//! $B time $D search 1 2000 5                             # medians of 5 rounds, all contenders
//! ```
//! The timing mode also prints, per contender, CPU time and context switches per request of
//! each kind of thread (caller, instance thread, each pool), read from `/proc`.
//! `SEARCH_THREADS=n` pins the clients' search pool.
//! Contenders: `engine`, `tokio`, `smol`. Shapes: `search`, `batch` (8 searches per request),
//! `health` (the engine's is nothing at all).

use std::path::Path;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;
use rro::models::{
    CreateCollection, Distance, HnswConfig, OptimizersConfig, PointStruct, SearchRequest,
    VectorParams,
};
use rro_core::storage::TableOfContent;

const COLLECTION: &str = "bench";
const DIM: usize = 128;
const POINTS: usize = 5_000;
const QUERIES: usize = 64;
const BATCH: usize = 8;
const WARMUP: usize = 64;
const K: usize = 10;
const EF: usize = 64;

fn vectors(count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    (0..count)
        .map(|_| (0..DIM).map(|_| next()).collect())
        .collect()
}

fn setup(dir: &Path) {
    let toc = TableOfContent::open(&rro::Config::new(dir)).expect("open the engine");
    let config = CreateCollection::new(VectorParams::new(DIM as u64, Distance::Euclid))
        .hnsw_config(HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 0,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            default_segment_number: 1,
            indexing_threshold: Some(1),
            ..Default::default()
        });
    toc.create_collection(COLLECTION, config)
        .expect("create the collection");
    let collection = toc.collection(COLLECTION).expect("the collection exists");
    let base = vectors(POINTS, 0x1234_5678_9abc_def0);
    for (chunk, batch) in base.chunks(1_000).enumerate() {
        let points = batch
            .iter()
            .enumerate()
            .map(|(i, v)| PointStruct::new((chunk * 1_000 + i) as u64, v.clone()))
            .collect();
        collection.upsert(points).expect("upsert");
    }
    collection.optimize(2).expect("build the index");
    toc.flush().expect("flush");
    println!(
        "{}",
        serde_json::to_string(&collection.info()).unwrap_or_default()
    );
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Search,
    Batch,
    Health,
}

fn request(queries: &[Vec<f32>], i: usize) -> SearchRequest {
    SearchRequest::new(queries[i % queries.len()].clone(), K).hnsw_ef(EF)
}

fn batch(queries: &[Vec<f32>], i: usize) -> Vec<SearchRequest> {
    (0..BATCH)
        .map(|j| request(queries, i * BATCH + j))
        .collect()
}

/// Runs `count` requests `in_flight` at a time; returns a checksum of the answers.
trait Contender {
    fn run(&self, shape: Shape, queries: &[Vec<f32>], in_flight: usize, count: usize) -> u64;

    /// Stop the instance, if there is one, so that its teardown is part of every run.
    fn close(self: Box<Self>) {}
}

struct Engine(std::sync::Arc<rro_core::storage::Collection>);

impl Contender for Engine {
    fn run(&self, shape: Shape, queries: &[Vec<f32>], _: usize, count: usize) -> u64 {
        let mut sum = 0u64;
        for i in 0..count {
            let hits = match shape {
                Shape::Search => self.0.search(&request(queries, i), &|| false),
                Shape::Batch => self
                    .0
                    .search_batch(&batch(queries, i), &|| false)
                    .map(|all| all.map(|all| all.into_iter().flatten().collect())),
                Shape::Health => Ok(Some(Vec::new())),
            };
            let hits = hits.expect("search").expect("not cancelled");
            sum = sum.wrapping_add(hits.len() as u64);
        }
        sum
    }
}

struct Client(rro::RroClient);

impl Contender for Client {
    fn run(&self, shape: Shape, queries: &[Vec<f32>], in_flight: usize, count: usize) -> u64 {
        let client = &self.0;
        let one = |i: usize| async move {
            match shape {
                Shape::Search => client
                    .search(COLLECTION, request(queries, i))
                    .await
                    .expect("search")
                    .len(),
                Shape::Batch => client
                    .search_batch(COLLECTION, batch(queries, i))
                    .await
                    .expect("search batch")
                    .iter()
                    .map(Vec::len)
                    .sum(),
                Shape::Health => {
                    client.health_check().await.expect("health");
                    0
                }
            }
        };
        let mut sum = 0u64;
        let mut done = 0;
        while done < count {
            let wave = in_flight.min(count - done);
            let lens = block_on(join_all((done..done + wave).map(one)));
            sum = lens.into_iter().fold(sum, |s, n| s.wrapping_add(n as u64));
            done += wave;
        }
        sum
    }

    fn close(self: Box<Self>) {
        block_on(self.0.shutdown()).expect("shut down");
    }
}

fn open(name: &str, dir: &Path, spin: bool) -> Box<dyn Contender> {
    let mut config = rro::Config::new(dir);
    if !spin {
        config = config.idle_spin(Duration::ZERO);
    }
    if let Some(threads) = std::env::var("SEARCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        config = config.search_threads(threads);
    }
    match name {
        "engine" => {
            let toc = TableOfContent::open(&config).expect("open the engine");
            let collection = toc.collection(COLLECTION).expect("the collection exists");
            // The table of content must outlive the run; leaked, like a process-wide engine.
            std::mem::forget(toc);
            Box::new(Engine(collection))
        }
        // Threads named after the backend, so the timing mode can tell the instances apart.
        #[cfg(feature = "tokio")]
        "tokio" => Box::new(Client(
            block_on(rro::open_with(
                config.thread_name("tokio"),
                rro::TokioBackend,
            ))
            .expect("open tokio"),
        )),
        #[cfg(feature = "smol")]
        "smol" => Box::new(Client(
            block_on(rro::open_with(config.thread_name("smol"), rro::SmolBackend))
                .expect("open smol"),
        )),
        other => panic!("unknown contender {other}"),
    }
}

/// CPU time (ns), voluntary and involuntary context switches of this process's threads,
/// summed by kind: the thread's name without a trailing `-<index>`, and `caller` for the main
/// thread. From `/proc` (Linux; empty elsewhere).
type Usage = std::collections::BTreeMap<String, [f64; 3]>;

fn process_usage() -> Usage {
    let mut usage = Usage::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return usage;
    };
    let pid = std::process::id().to_string();
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let name = name.trim();
        let kind = if task.file_name().to_str() == Some(pid.as_str()) {
            "caller"
        } else {
            match name.rsplit_once('-') {
                Some((kind, index)) if index.bytes().all(|b| b.is_ascii_digit()) => kind,
                _ => name,
            }
        };
        let entry = usage.entry(kind.to_owned()).or_default();
        if let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) {
            entry[0] += stat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        if let Ok(status) = std::fs::read_to_string(path.join("status")) {
            for line in status.lines() {
                let value = || line.split_whitespace().nth(1)?.parse::<f64>().ok();
                if line.starts_with("voluntary_ctxt_switches") {
                    entry[1] += value().unwrap_or(0.0);
                } else if line.starts_with("nonvoluntary_ctxt_switches") {
                    entry[2] += value().unwrap_or(0.0);
                }
            }
        }
    }
    usage
}

/// `after - before`, kind by kind.
fn usage_delta(before: &Usage, after: &Usage) -> Usage {
    after
        .iter()
        .map(|(kind, a)| {
            let b = before.get(kind).copied().unwrap_or_default();
            (kind.clone(), [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let number = |i: usize, default: usize| arg(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (Some(mode), Some(dir)) = (arg(0), arg(1)) else {
        // `cargo bench` runs every bench without arguments: nothing to measure then.
        eprintln!("usage: request_instructions setup DIR | CONTENDER DIR SHAPE IN_FLIGHT Q | time DIR SHAPE IN_FLIGHT Q ROUNDS");
        return;
    };
    let dir = Path::new(dir);
    if mode == "setup" {
        setup(dir);
        return;
    }
    let shape = match arg(2).unwrap_or("search") {
        "search" => Shape::Search,
        "batch" => Shape::Batch,
        "health" => Shape::Health,
        other => panic!("unknown shape {other}"),
    };
    let in_flight = number(3, 1).max(1);
    let count = number(4, 1_000);
    let queries = vectors(QUERIES, 0x0fed_cba9_8765_4321);
    if mode == "time" {
        let rounds = number(5, 5).max(1);
        let mut names = vec!["engine"];
        #[cfg(feature = "tokio")]
        names.push("tokio");
        #[cfg(feature = "smol")]
        names.push("smol");
        // Each contender opens its own copy: the directory is locked by whoever opens it.
        let copies = tempfile::tempdir().expect("a temporary directory");
        let contenders: Vec<_> = names
            .iter()
            .map(|name| {
                let copy = copies.path().join(name);
                copy_dir(dir, &copy);
                open(name, &copy, true)
            })
            .collect();
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut switches: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut by_kind: Vec<Usage> = vec![Usage::new(); names.len()];
        for (contender, _) in contenders.iter().zip(&names) {
            contender.run(shape, &queries, in_flight, WARMUP);
        }
        // Rounds interleave the contenders, so a noisy moment hits them all alike.
        for _ in 0..rounds {
            for (c, contender) in contenders.iter().enumerate() {
                let before = process_usage();
                let started = Instant::now();
                std::hint::black_box(contender.run(shape, &queries, in_flight, count));
                times[c].push(started.elapsed().as_secs_f64() * 1e6 / count as f64);
                let delta = usage_delta(&before, &process_usage());
                let requests = count as f64;
                cpu[c].push(delta.values().map(|u| u[0]).sum::<f64>() / 1e3 / requests);
                switches[c].push(delta.values().map(|u| u[1] + u[2]).sum::<f64>() / requests);
                for (kind, u) in delta {
                    let total = by_kind[c].entry(kind).or_default();
                    (0..3).for_each(|i| total[i] += u[i]);
                }
            }
        }
        let median = |t: &mut Vec<f64>| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        };
        let engine = median(&mut times[0].clone());
        for (c, name) in names.iter().enumerate() {
            let m = median(&mut times[c]);
            println!(
                "{name:>7}: median {m:8.2} µs/request  {:8.0} requests/s  engine/this {:.3}  \
                 CPU (all threads) {:8.2} µs/request  context switches {:5.2}/request",
                1e6 / m,
                engine / m,
                median(&mut cpu[c]),
                median(&mut switches[c]),
            );
            // Where that goes, over every round: threads that did anything.
            let requests = (rounds * count) as f64;
            for (kind, u) in &by_kind[c] {
                if u[0] / 1e3 / requests >= 0.05 {
                    println!(
                        "         {kind:<16} CPU {:8.2} µs/request  switches {:5.2} voluntary \
                         {:5.2} involuntary /request",
                        u[0] / 1e3 / requests,
                        u[1] / requests,
                        u[2] / requests,
                    );
                }
            }
        }
        contenders.into_iter().for_each(|c| c.close());
        return;
    }
    let contender = open(mode, dir, false);
    contender.run(shape, &queries, in_flight, WARMUP);
    let sum = contender.run(shape, &queries, in_flight, count);
    contender.close();
    println!("{mode} {count} requests, checksum {sum}");
}
