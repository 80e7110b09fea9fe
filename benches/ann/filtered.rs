//! Filtered search on `debian-384` (step 5 of the ANN bench, in a child process of its own):
//! recall@10 and QPS of searches whose filter keeps about 1 %, about 10 % and 10–30 % of the
//! points, next to unfiltered searches of the same collection in the same run.
//!
//! - **Payloads**: the first `n` lines of `debian-384.payload.jsonl` (one JSON object per base
//!   vector, in id order), inserted whole with their points.
//! - **Filters**: `section = fonts` (~1 %), `section = libs` (~10 %), and `installed_size` in
//!   `[q40, q60)`, the 40th and 60th percentiles of the loaded points' sizes (~20 %; ties
//!   move it a little). Every filter's actual selectivity is printed.
//! - **Ground truth**: per filter and query, the top 10 by brute force over the normalised
//!   base vectors of the matching points only (dot products, 2 threads), from the payloads
//!   as read here, never through the engine; nothing is cached on disk. Unfiltered: the
//!   dataset's own ground truth.
//! - **Build (engine)**: the collection of the other steps (m 16, ef_construct 100) with the
//!   default `full_scan_threshold` (10,000 KiB), a keyword index on `section` and an integer
//!   index on `installed_size` created *before* the points are inserted, then the points with
//!   their payloads in batches of 1,000, `optimize(2)` (the HNSW graph plus the per-value
//!   sub-graphs of the indexed keyword and integer fields) and `flush`, each timed. A
//!   filter matching at most an eighth of `full_scan_threshold` (833 points at 384
//!   dimensions) is scored exactly; values held by more points get a sub-graph; the
//!   sub-graph files on disk are counted.
//! - **Control build**: the same points without payloads or payload indexes, built the same
//!   way in this process just before, so the time the sub-graphs add is seen in one run.
//! - **Control search**: for each filter, a collection of its own holding only the matching
//!   points (same ids, same config), searched without a filter at the same ef (engine, `runs`
//!   passes): the recall an HNSW graph over just those points reaches, to tell a weak
//!   sub-graph or filtered walk from a subset that is simply hard for HNSW.
//! - **Sanity**: every filter searched exactly (`exact(true)`) through the engine must find at
//!   least 0.999 of its ground truth.
//! - **Search**: the built directory is reopened by each contender in turn (engine, rro-tokio,
//!   rro-smol), `runs` interleaved rounds; in each, one pass over every query (after the
//!   warm-up queries) for each ef (32, 64) and each filter (none first). QPS is the median of
//!   the rounds; *QPS / unfiltered* is the median over the rounds of the pass's QPS divided by
//!   the same contender's unfiltered pass at the same ef in the same round (run just before
//!   it, so slow phases of a noisy machine cancel out). Every contender must return the same hits as the engine's first pass.
//! - **Fails** (exit code non-zero) when any recall@10 is below 0.8 or the exact check fails;
//!   the targets are only reported.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rro::models::{
    Condition, CreateFieldIndex, Filter, Payload, PayloadSchemaType, PointStruct, Range,
    SearchRequest,
};
use rro_core::storage::distance::dot;
use rro_core::storage::TableOfContent;
use rro_core::Config;
use serde_json::Value;

use super::report::{list, median, median_duration, ms, thousands, Contender};
use super::{
    build_engine, create_config, data_dir, describe, engine_search, invalid, mib, normalized,
    recall, timed_pass, Dataset, Sizes, TopK, BATCH, BUILD_THREADS, COLLECTION, DEBIAN, K,
};

/// The `RRO_ANN_CHILD` value of this step.
pub const CHILD: &str = "debian-384-filtered";
/// The ef of every search, filtered or not.
const EFS: [usize; 2] = [32, 64];
/// Below this recall@10 anywhere, the bench fails: something is broken, not just slow.
const RECALL_FLOOR: f64 = 0.8;
/// The recall@10 target at every selectivity.
const RECALL_TARGET: f64 = 0.95;
/// The percentiles of `installed_size` the range filter spans.
const RANGE_PERCENTILES: (f64, f64) = (0.40, 0.60);
const SECTION: &str = "section";
const SIZE: &str = "installed_size";

/// The payload file beside the other Debian files.
pub fn payload_file() -> PathBuf {
    data_dir().join(format!("{DEBIAN}.payload.jsonl"))
}

/// The first `n` payloads of the file, each checked to have a string `section` and an
/// integer `installed_size`.
fn read_payloads(path: &Path, n: usize) -> io::Result<Vec<Payload>> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut payloads = Vec::with_capacity(n);
    for (i, line) in BufReader::new(file).lines().take(n).enumerate() {
        let line = line.map_err(|e| invalid(path, format!("line {}: {e}", i + 1)))?;
        let payload: Payload = serde_json::from_str(&line)
            .map_err(|e| invalid(path, format!("line {}: {e}", i + 1)))?;
        if !payload.get(SECTION).is_some_and(Value::is_string)
            || !payload.get(SIZE).is_some_and(Value::is_i64)
        {
            return Err(invalid(
                path,
                format!(
                    "line {}: no string `{SECTION}` or no integer `{SIZE}`",
                    i + 1
                ),
            ));
        }
        payloads.push(payload);
    }
    if payloads.len() < n {
        return Err(invalid(
            path,
            format!("{} lines, one per base vector ({n}) needed", payloads.len()),
        ));
    }
    Ok(payloads)
}

fn section(payload: &Payload) -> &str {
    payload[SECTION].as_str().expect("checked when read")
}

fn size(payload: &Payload) -> i64 {
    payload[SIZE].as_i64().expect("checked when read")
}

/// One filter (or none) and what it should find.
struct Case {
    label: String,
    /// What the selectivity is meant to be, for the targets.
    nominal: &'static str,
    filter: Option<Filter>,
    /// Ids of the matching points, ascending.
    matching: Vec<u32>,
    /// The true top `K` of every query among the matching points.
    truth: Vec<Vec<u32>>,
    /// The least QPS / unfiltered QPS the targets ask for.
    min_ratio: Option<f64>,
}

impl Case {
    fn empty() -> Case {
        Case {
            label: String::new(),
            nominal: "",
            filter: None,
            matching: Vec::new(),
            truth: Vec::new(),
            min_ratio: None,
        }
    }

    fn request(&self, query: &[f32], ef: usize) -> SearchRequest {
        let request = SearchRequest::new(query.to_vec(), K).hnsw_ef(ef);
        match &self.filter {
            Some(filter) => request.filter(filter.clone()),
            None => request,
        }
    }
}

/// The filters, their matching points and their bounds (no ground truth yet).
fn cases(payloads: &[Payload]) -> Vec<Case> {
    let ids = |keep: &dyn Fn(&Payload) -> bool| -> Vec<u32> {
        payloads
            .iter()
            .enumerate()
            .filter(|(_, p)| keep(p))
            .map(|(i, _)| i as u32)
            .collect()
    };
    let mut sizes: Vec<i64> = payloads.iter().map(size).collect();
    sizes.sort_unstable();
    let at = |q: f64| sizes[((sizes.len() as f64 * q) as usize).min(sizes.len() - 1)];
    let lo = at(RANGE_PERCENTILES.0);
    let hi = at(RANGE_PERCENTILES.1).max(lo + 1);
    let keyword = |value: &'static str, nominal, min_ratio| Case {
        label: format!("`{SECTION} = {value}`"),
        nominal,
        filter: Some(Filter::must([Condition::matches(SECTION, value)])),
        matching: ids(&|p| section(p) == value),
        truth: Vec::new(),
        min_ratio: Some(min_ratio),
    };
    vec![
        Case {
            label: "none".to_owned(),
            nominal: "100 %",
            filter: None,
            matching: (0..payloads.len() as u32).collect(),
            truth: Vec::new(),
            min_ratio: None,
        },
        keyword("fonts", "~1 %", 1.0),
        keyword("libs", "~10 %", 0.5),
        Case {
            label: format!(
                "`{lo} <= {SIZE} < {hi}` (p{:.0} to p{:.0})",
                RANGE_PERCENTILES.0 * 100.0,
                RANGE_PERCENTILES.1 * 100.0
            ),
            nominal: "10–30 %",
            filter: Some(Filter::must([Condition::range(
                SIZE,
                Range::default().gte(lo as f64).lt(hi as f64),
            )])),
            matching: ids(&|p| (lo..hi).contains(&size(p))),
            truth: Vec::new(),
            min_ratio: None,
        },
    ]
}

/// The normalised base vectors, row after row.
fn base_vectors(data: &Dataset) -> Vec<f32> {
    let mut base = Vec::with_capacity(data.n * data.dim);
    for batch in data.stream(BATCH) {
        for v in batch {
            base.extend(normalized(v));
        }
    }
    base
}

/// The exact top `K` of every query among the base vectors `ids`, the queries split between
/// 2 threads.
fn filtered_truth(queries: &[Vec<f32>], base: &[f32], dim: usize, ids: &[u32]) -> Vec<Vec<u32>> {
    let queries: Vec<Vec<f32>> = queries.iter().cloned().map(normalized).collect();
    let scan = |queries: &[Vec<f32>]| -> Vec<Vec<u32>> {
        queries
            .iter()
            .map(|q| {
                let mut top = TopK::default();
                for &id in ids {
                    let at = id as usize * dim;
                    top.offer(dot(q, &base[at..at + dim]), id);
                }
                top.0.into_iter().map(|(_, id)| id).collect()
            })
            .collect()
    };
    let (a, b) = queries.split_at(queries.len().div_ceil(2));
    std::thread::scope(|s| {
        let first = s.spawn(|| scan(a));
        let second = scan(b);
        let mut all = first.join().expect("the ground-truth thread");
        all.extend(second);
        all
    })
}

// ---------------------------------------------------------------------------------------------
// Control: the matching points alone

/// Recall@10 and QPS of every ef over a collection of just one filter's matching points.
struct Control {
    /// `[ef]`: recall@10 and the QPS of each pass.
    cells: Vec<Cell>,
    build: Duration,
}

/// For each filtered case, a collection of its matching points only, searched unfiltered.
fn controls(
    data: &Dataset,
    cases: &[Case],
    base: &[f32],
    dir: &Path,
    sizes: &Sizes,
) -> Vec<Control> {
    let dim = data.dim;
    cases
        .iter()
        .skip(1)
        .enumerate()
        .map(|(i, case)| {
            let toc = TableOfContent::open(&Config::new(dir.join(format!("control-{i}"))))
                .expect("open the engine");
            toc.create_collection(COLLECTION, filtered_config(dim))
                .expect("create the collection");
            let collection = toc.collection(COLLECTION).expect("the collection");
            for ids in case.matching.chunks(BATCH) {
                let batch = ids
                    .iter()
                    .map(|&id| {
                        let at = id as usize * dim;
                        PointStruct::new(u64::from(id), base[at..at + dim].to_vec())
                    })
                    .collect();
                collection.upsert(batch).expect("upsert");
            }
            let started = Instant::now();
            collection.optimize(BUILD_THREADS).expect("optimize");
            let build = started.elapsed();
            let unfiltered = Case {
                filter: None,
                ..Case::empty()
            };
            let mut cells = vec![Cell::default(); EFS.len()];
            for _ in 0..sizes.runs {
                for (e, &ef) in EFS.iter().enumerate() {
                    let pass = timed_pass(&data.queries, |q| {
                        engine_search(&collection, unfiltered.request(q, ef))
                    });
                    cells[e].recall = recall(&pass.hits, &case.truth);
                    cells[e].qps.push(pass.qps);
                }
            }
            eprintln!(
                "{CHILD}: control {}: built in {build:?}, recall {}",
                case.label,
                cells
                    .iter()
                    .map(|c| format!("{:.4}", c.recall))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Control { cells, build }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Build

struct Build {
    /// `optimize` of the same points without payload indexes (control).
    plain_optimize: Duration,
    create_indexes: Duration,
    insert: Duration,
    optimize: Duration,
    flush: Duration,
    info: rro::models::CollectionInfo,
    /// Files named `hnsw-sub-*.bin` under the collection's directory, and their bytes.
    sub_files: usize,
    sub_bytes: u64,
    /// Values of `section` and of `installed_size` that 2 points or more hold.
    shared_values: (usize, usize),
    /// Recall@10 of exact filtered search against each filtered case's ground truth.
    /// and its QPS (one pass).
    exact: Vec<(String, f64, f64)>,
}

fn build(data: &Dataset, payloads: Vec<Payload>, cases: &[Case], dir: &Path) -> Build {
    let plain_optimize = {
        let plain = dir.with_extension("plain");
        let (toc, collection, build) = build_engine(data, &plain);
        drop(collection);
        drop(toc);
        std::fs::remove_dir_all(&plain).expect("remove the control build");
        build.index
    };
    let shared_values = (
        shared(payloads.iter().map(|p| section(p).to_owned())),
        shared(payloads.iter().map(size)),
    );
    let toc = TableOfContent::open(&Config::new(dir)).expect("open the engine");
    toc.create_collection(COLLECTION, filtered_config(data.dim))
        .expect("create the collection");
    let collection = toc.collection(COLLECTION).expect("the collection");
    let started = Instant::now();
    for (field, kind) in [
        (SECTION, PayloadSchemaType::Keyword),
        (SIZE, PayloadSchemaType::Integer),
    ] {
        collection
            .create_field_index(&CreateFieldIndex::new(field, kind))
            .expect("create a payload index");
    }
    let create_indexes = started.elapsed();
    let mut insert = Duration::ZERO;
    let mut payloads = payloads.into_iter();
    let mut first = 0;
    for batch in data.stream(BATCH) {
        let n = batch.len();
        let batch: Vec<PointStruct> = batch
            .into_iter()
            .zip(payloads.by_ref())
            .enumerate()
            .map(|(i, (v, payload))| PointStruct::new((first + i) as u64, v).with_payload(payload))
            .collect();
        let started = Instant::now();
        collection.upsert(batch).expect("upsert");
        insert += started.elapsed();
        first += n;
    }
    eprintln!("{CHILD}: inserted {first} points with payloads in {insert:?}");
    let started = Instant::now();
    collection.optimize(BUILD_THREADS).expect("optimize");
    let optimize = started.elapsed();
    eprintln!("{CHILD}: graph and sub-graphs built in {optimize:?}");
    let started = Instant::now();
    toc.flush().expect("flush");
    let flush = started.elapsed();
    let (sub_files, sub_bytes) = sub_graph_files(dir);

    let exact = cases
        .iter()
        .filter(|case| case.filter.is_some())
        .map(|case| {
            let pass = timed_pass(&data.queries, |q| {
                engine_search(&collection, case.request(q, EFS[0]).exact(true))
            });
            let r = recall(&pass.hits, &case.truth);
            eprintln!(
                "{CHILD}: exact {}: recall {r:.4}, QPS {:.0}",
                case.label, pass.qps
            );
            (case.label.clone(), r, pass.qps)
        })
        .collect();
    Build {
        plain_optimize,
        create_indexes,
        insert,
        optimize,
        flush,
        info: collection.info(),
        sub_files,
        sub_bytes,
        shared_values,
        exact,
    }
}

/// How many distinct values occur more than once.
fn shared<T: Ord>(values: impl Iterator<Item = T>) -> usize {
    let mut counts = std::collections::BTreeMap::new();
    for value in values {
        *counts.entry(value).or_insert(0usize) += 1;
    }
    counts.values().filter(|&&n| n > 1).count()
}

/// The files named `hnsw-sub-*.bin` under `dir`, and their total size.
fn sub_graph_files(dir: &Path) -> (usize, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|name| {
                let name = name.to_string_lossy();
                name.starts_with("hnsw-sub-") && name.ends_with(".bin")
            }) {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

// ---------------------------------------------------------------------------------------------
// Search

/// The passes of one contender at one ef over one case.
#[derive(Clone, Default)]
struct Cell {
    qps: Vec<f64>,
    recall: f64,
}

struct ContenderRuns {
    contender: Contender,
    open: Vec<Duration>,
    status: Vec<String>,
    /// `cells[ef][case]`.
    cells: Vec<Vec<Cell>>,
    /// Queries whose hits differed from the engine's first pass.
    differing: usize,
}

fn search_all(data: &Dataset, cases: &[Case], dir: &Path, sizes: &Sizes) -> Vec<ContenderRuns> {
    let mut all: Vec<ContenderRuns> = Contender::all()
        .into_iter()
        .map(|contender| ContenderRuns {
            contender,
            open: Vec::new(),
            status: Vec::new(),
            cells: vec![vec![Cell::default(); cases.len()]; EFS.len()],
            differing: 0,
        })
        .collect();
    // The engine's first pass of every (ef, case).
    let mut reference: Vec<Vec<Option<Vec<Vec<u32>>>>> = vec![vec![None; cases.len()]; EFS.len()];
    for _ in 0..sizes.runs {
        for runs in &mut all {
            let contender = runs.contender;
            let mut record = |e: usize, c: usize, pass: super::Pass| {
                let cell = &mut runs.cells[e][c];
                cell.recall = recall(&pass.hits, &cases[c].truth);
                cell.qps.push(pass.qps);
                let reference = reference[e][c].get_or_insert_with(|| pass.hits.clone());
                runs.differing += pass
                    .hits
                    .iter()
                    .zip(reference.iter())
                    .filter(|(a, b)| a != b)
                    .count();
                eprintln!(
                    "{CHILD}: {} ef {} {}: QPS {:.0}, recall {:.4}",
                    contender.name(),
                    EFS[e],
                    cases[c].label,
                    pass.qps,
                    cell.recall
                );
            };
            let started = Instant::now();
            let (open, info) = match contender {
                Contender::Engine => {
                    let toc = TableOfContent::open(&Config::new(dir)).expect("reopen the engine");
                    let collection = toc.collection(COLLECTION).expect("the collection");
                    let open = started.elapsed();
                    let info = collection.info();
                    for (e, &ef) in EFS.iter().enumerate() {
                        for (c, case) in cases.iter().enumerate() {
                            let pass = timed_pass(&data.queries, |q| {
                                engine_search(&collection, case.request(q, ef))
                            });
                            record(e, c, pass);
                        }
                    }
                    (open, info)
                }
                client => {
                    let instance = client.open_client(Config::new(dir));
                    let info = block_on(
                        instance
                            .with_timeout(Duration::from_secs(600))
                            .wait_index_ready(COLLECTION),
                    )
                    .expect("wait for the index");
                    let open = started.elapsed();
                    for (e, &ef) in EFS.iter().enumerate() {
                        for (c, case) in cases.iter().enumerate() {
                            let pass = timed_pass(&data.queries, |q| {
                                block_on(instance.search(COLLECTION, case.request(q, ef)))
                                    .expect("search")
                            });
                            record(e, c, pass);
                        }
                    }
                    block_on(instance.shutdown()).expect("shut down");
                    (open, info)
                }
            };
            eprintln!("{CHILD}: {} opened in {open:?}", contender.name());
            runs.open.push(open);
            runs.status.push(describe(&info));
        }
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Report

fn percent(part: usize, whole: usize) -> String {
    format!("{:.2} %", 100.0 * part as f64 / whole.max(1) as f64)
}

fn print_build(data: &Dataset, cases: &[Case], build: &Build, truth_time: Duration) {
    println!(
        "Filters (selectivity over the {} points):\n",
        thousands(data.n as f64)
    );
    for case in cases.iter().skip(1) {
        println!(
            "- {} ({}): {} points, {}",
            case.label,
            case.nominal,
            thousands(case.matching.len() as f64),
            percent(case.matching.len(), data.n)
        );
    }
    println!(
        "\nGround truth: brute force over the matching points only, in the bench, 2 threads, \
         {:.1} s for the three filters; unfiltered: {}.\n",
        truth_time.as_secs_f64(),
        data.truth_source
    );
    println!(
        "Build through the engine (indexes on `{SECTION}` keyword and `{SIZE}` integer created \
         before the points):\n"
    );
    println!("| Step | Time, s |");
    println!("|---|---:|");
    println!(
        "| create the two payload indexes (empty collection) | {:.2} |",
        build.create_indexes.as_secs_f64()
    );
    println!(
        "| insert: `upsert` with payloads in batches of {} | {:.2} |",
        thousands(BATCH as f64),
        build.insert.as_secs_f64()
    );
    println!(
        "| index build: `optimize({BUILD_THREADS})`, graph + per-value sub-graphs | {:.2} |",
        build.optimize.as_secs_f64()
    );
    println!(
        "| flush: `toc.flush()` | {:.2} |",
        build.flush.as_secs_f64()
    );
    println!(
        "| control: `optimize({BUILD_THREADS})` of the same points without payloads or \
         indexes, just before | {:.2} |",
        build.plain_optimize.as_secs_f64()
    );
    println!(
        "\nAfter the build: {}; payload_schema {}. Sub-graph files (`hnsw-sub-*.bin`) on disk: \
         {} ({} MiB); values held by 2 points or more in the payloads: {} of `{SECTION}`, \
         {} of `{SIZE}`.\n",
        describe(&build.info),
        build
            .info
            .payload_schema
            .iter()
            .map(|(key, index)| format!(
                "`{key}` {} ({} points)",
                index.data_type.name(),
                thousands(index.points as f64)
            ))
            .collect::<Vec<_>>()
            .join(", "),
        thousands(build.sub_files as f64),
        mib(build.sub_bytes),
        thousands(build.shared_values.0 as f64),
        thousands(build.shared_values.1 as f64)
    );
}

/// `met`, or what is not met.
fn verdict(case: &Case, recall: f64, ratio: f64) -> String {
    let mut missed = Vec::new();
    if recall < RECALL_TARGET {
        missed.push("recall");
    }
    if case.min_ratio.is_some_and(|min| ratio < min) {
        missed.push("QPS");
    }
    if missed.is_empty() {
        "met".to_owned()
    } else {
        format!("**not met** ({})", missed.join(", "))
    }
}

fn target(case: &Case) -> String {
    match case.min_ratio {
        Some(min) => format!("recall >= {RECALL_TARGET}, QPS / unfiltered >= {min}"),
        None => format!("recall >= {RECALL_TARGET}"),
    }
}

/// Print the table; returns the recall@10 values below the floor.
fn print_controls(cases: &[Case], all: &[ContenderRuns], controls: &[Control]) {
    println!(
        "Control: each filter's matching points alone in a collection of their own (same ids, \
         same config), searched without a filter through the engine, against the filtered \
         search of the engine above:\n"
    );
    println!(
        "| ef | Filter | Points | recall@{K}, filtered search | recall@{K}, own collection | \
         QPS, filtered search | QPS, own collection | Own collection build, s |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let engine = all
        .iter()
        .find(|r| r.contender == Contender::Engine)
        .expect("the engine contender");
    for (e, ef) in EFS.iter().enumerate() {
        for (c, (case, control)) in cases.iter().skip(1).zip(controls).enumerate() {
            let filtered = &engine.cells[e][c + 1];
            let own = &control.cells[e];
            println!(
                "| {ef} | {} | {} | {:.4} | {:.4} | {} | {} | {:.2} |",
                case.label,
                thousands(case.matching.len() as f64),
                filtered.recall,
                own.recall,
                thousands(median(&mut filtered.qps.clone())),
                thousands(median(&mut own.qps.clone())),
                control.build.as_secs_f64()
            );
        }
    }
    println!();
}

fn print_search(
    data: &Dataset,
    cases: &[Case],
    all: &[ContenderRuns],
    sizes: &Sizes,
) -> Vec<String> {
    println!(
        "Filtered search, one query at a time, {} queries, top {K}; each contender reopens the \
         built directory, {} interleaved round(s), QPS median of the rounds; QPS / \
         unfiltered: median over the rounds of the pass's QPS over the unfiltered pass of the \
         same contender, ef and round:\n",
        thousands(data.queries.len() as f64),
        sizes.runs
    );
    println!(
        "| ef | Filter | Selectivity | Contender | recall@{K} | QPS (median) | µs per query | QPS \
         of each run | QPS / unfiltered | Target | Result |"
    );
    println!("|---:|---|---:|---|---:|---:|---:|---|---:|---|---|");
    let mut below_floor = Vec::new();
    let (mut met, mut rows) = (0, 0);
    for (e, ef) in EFS.iter().enumerate() {
        for (c, case) in cases.iter().enumerate() {
            for runs in all {
                let cell = &runs.cells[e][c];
                let qps = median(&mut cell.qps.clone());
                let mut ratios: Vec<f64> = cell
                    .qps
                    .iter()
                    .zip(&runs.cells[e][0].qps)
                    .map(|(filtered, unfiltered)| filtered / unfiltered)
                    .collect();
                let ratio = median(&mut ratios);
                let verdict = verdict(case, cell.recall, ratio);
                rows += 1;
                met += usize::from(verdict == "met");
                if cell.recall < RECALL_FLOOR {
                    below_floor.push(format!(
                        "{} ef {ef} {}: {:.4}",
                        runs.contender.name(),
                        case.label,
                        cell.recall
                    ));
                }
                println!(
                    "| {ef} | {} | {} | {} | {:.4} | {} | {:.0} | {} | {:.2} | {} | {} |",
                    case.label,
                    percent(case.matching.len(), data.n),
                    runs.contender.name(),
                    cell.recall,
                    thousands(qps),
                    1e6 / qps,
                    list(cell.qps.iter().copied()),
                    ratio,
                    target(case),
                    verdict
                );
            }
        }
    }
    println!(
        "\nTargets: recall@{K} >= {RECALL_TARGET} at every selectivity; QPS at ~1 % (`fonts`) \
         >= unfiltered QPS; QPS at ~10 % (`libs`) >= 0.5 x unfiltered; same ef, same \
         contender, same run (the range filter has a recall target only). Met in {met} of \
         {rows} rows."
    );
    let differing: usize = all.iter().map(|r| r.differing).sum();
    if differing == 0 {
        println!(
            "Sanity: every pass of every contender returned the same hits as the engine's first."
        );
    } else {
        println!(
            "Sanity: **{differing} query results differ** from the engine's first pass (the \
             same index should give the same hits)."
        );
    }
    println!("Opening (engine: `TableOfContent::open`; clients: open + `wait_index_ready`):");
    for runs in all {
        let mut statuses = runs.status.clone();
        statuses.dedup();
        println!(
            "- {}: {} ms (median); {}",
            runs.contender.name(),
            ms(median_duration(&mut runs.open.clone())),
            statuses.join("; ")
        );
    }
    println!();
    below_floor
}

// ---------------------------------------------------------------------------------------------
// The child

pub fn child(sizes: &Sizes) {
    let data = Dataset::load(DEBIAN, sizes).unwrap_or_else(|e| panic!("load {DEBIAN}: {e}"));
    let payloads =
        read_payloads(&payload_file(), data.n).unwrap_or_else(|e| panic!("read the payloads: {e}"));
    let mut cases = cases(&payloads);
    for case in &cases {
        eprintln!(
            "{CHILD}: {}: {} points",
            case.label,
            thousands(case.matching.len() as f64)
        );
    }
    let root = tempfile::tempdir().expect("create a temporary directory");
    let started = Instant::now();
    let base = base_vectors(&data);
    for case in cases.iter_mut() {
        case.truth = match case.filter {
            None => data.truth.clone(),
            Some(_) => filtered_truth(&data.queries, &base, data.dim, &case.matching),
        };
    }
    let truth_time = started.elapsed();
    eprintln!("{CHILD}: filtered ground truth in {truth_time:?}");
    let controls = controls(&data, &cases, &base, root.path(), sizes);
    drop(base);

    let dir = root.path().join("filtered");
    let build = build(&data, payloads, &cases, &dir);
    let all = search_all(&data, &cases, &dir, sizes);

    println!(
        "### {}: filtered search, {} x {}, Cosine, {} queries\n",
        data.name,
        thousands(data.n as f64),
        data.dim,
        thousands(data.queries.len() as f64)
    );
    print_build(&data, &cases, &build, truth_time);
    let below_floor = print_search(&data, &cases, &all, sizes);
    print_controls(&cases, &all, &controls);
    let exact_bad: Vec<String> = build
        .exact
        .iter()
        .filter(|(_, r, _)| *r < 0.999)
        .map(|(label, r, _)| format!("{label}: {r:.4}"))
        .collect();
    println!(
        "Sanity: exact filtered search finds {} of the filtered ground truth (must be >= \
         0.999; one engine pass on the freshly built collection, scoring the matching points \
         found through the payload indexes); every recall@{K} must be >= {RECALL_FLOOR}.\n",
        build
            .exact
            .iter()
            .map(|(label, r, qps)| format!("{r:.4} for {label} ({} QPS)", thousands(*qps)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        exact_bad.is_empty(),
        "exact filtered search disagrees with the filtered ground truth: {exact_bad:?}; the \
         ground truth or the filter is wrong"
    );
    assert!(
        below_floor.is_empty(),
        "filtered recall@{K} below {RECALL_FLOOR}: {below_floor:?}"
    );
}

/// The filtered collection: the other steps' graph settings with the default
/// `full_scan_threshold`, which decides when the planner scores a filter's points exactly.
fn filtered_config(dim: usize) -> rro::models::CreateCollection {
    let mut config = create_config(dim);
    if let Some(hnsw) = config.hnsw_config.as_mut() {
        hnsw.full_scan_threshold = rro::models::HnswConfig::default().full_scan_threshold;
    }
    config
}
