//! Hostile input: see the module docs of `main.rs`.

use std::process::Command;

use rro::models::{
    Condition, CountRequest, CreateCollection, DeletePayload, DeleteVectors, Distance, Filter,
    GetPoints, Nested, Payload, PointStruct, PointVectors, PointsSelector, RecommendRequest,
    ScrollRequest, SearchGroupsRequest, SearchRequest, SetPayload, UpdateVectors, VectorParams,
    VectorStruct, MAX_FILTER_DEPTH, MAX_PAYLOAD_DEPTH,
};
use rro::{RroClient, RroError, StorageError};
use serde_json::Value;

use crate::backend_tests;
use crate::common::{Backend, Ctx};

/// Set in a child process: the name of the abort case it runs.
const CHILD_ENV: &str = "RRO_HOSTILE_INPUTS_CHILD";
/// Printed by a child that got through every case.
const CHILD_DONE: &str = "hostile-child-done";

backend_tests!(
    deep_rust_values_are_refused_without_aborting,
    payloads_and_filters_at_and_past_the_limits,
    deep_json_is_refused_and_legal_depth_survives_reopen,
    huge_limits_offsets_and_ef_are_answered,
    unscorable_vectors_and_nan_thresholds_are_refused,
    collection_names_that_attack_the_data_directory,
    crafted_snapshot_archives_are_refused_without_echoing_them,
    damaged_layouts_are_reported_as_such,
);

// ---------------------------------------------------------------------------------------------
// Builders: all iterative, so building a value 100 000 levels deep cannot overflow.

/// `{"k": [{"k": [... 1 ...]}]}`: `depth` containers, alternating arrays and objects.
fn nested_value(depth: usize) -> Value {
    let mut value = Value::from(1);
    for i in 0..depth {
        value = if i % 2 == 0 {
            Value::Array(vec![value])
        } else {
            Value::Object([("k".to_owned(), value)].into_iter().collect())
        };
    }
    value
}

/// A payload exactly `depth` levels deep.
fn payload_of_depth(depth: usize) -> Payload {
    [("top".to_owned(), nested_value(depth - 1))]
        .into_iter()
        .collect()
}

/// A filter exactly `depth` levels deep that passes every point (`must` of filters, with
/// `should`-free `nested` levels mixed in at the bottom for variety).
fn filter_of_depth(depth: usize) -> Filter {
    let mut filter = Filter::default();
    for _ in 1..depth {
        filter = Filter::must([Condition::Filter(filter)]);
    }
    filter
}

/// A filter `depth` levels deep through `nested` conditions.
fn nested_filter_of_depth(depth: usize) -> Filter {
    let mut filter = Filter::default();
    for _ in 1..depth {
        filter = Filter::must([Condition::Nested(Nested {
            key: "items".into(),
            filter,
        })]);
    }
    filter
}

/// Drop a value without recursion (this test's own code must not recurse either).
fn drop_deep(value: Value) {
    rro::models::dismantle_value(value);
}

fn bad_request(result: rro::Result<impl std::fmt::Debug>, needle: &str) {
    match result {
        Err(RroError::Storage(StorageError::BadRequest(message))) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}")
        }
        other => panic!("expected a BadRequest mentioning {needle:?}, got {other:?}"),
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        #[cfg(feature = "tokio")]
        Backend::Tokio => "tokio",
        #[cfg(feature = "smol")]
        Backend::Smol => "smol",
    }
}

/// Run `case` of this test binary in a child process (the same test, selected with `--exact`,
/// with [`CHILD_ENV`] set), and assert that it exited normally after all its checks. A stack
/// overflow would abort the child with a signal instead.
fn run_in_child(test: &str, ctx: Ctx) {
    let name = format!("inputs::{test}::{}", backend_name(ctx.backend));
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", &name, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, test)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(CHILD_DONE),
        "child {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

async fn open_with_points(ctx: &Ctx, distance: Distance) -> RroClient {
    let client = ctx.open_default().await;
    client
        .create_collection("c", VectorParams::new(2, distance))
        .await
        .expect("create");
    let points = (0..5u64)
        .map(|i| {
            PointStruct::new(i, vec![1.0 + i as f32, 0.5])
                .with_payload(rro::payload!({"i": i, "items": [{"x": i}]}))
        })
        .collect();
    client.upsert_points("c", points).await.expect("upsert");
    client
}

// ---------------------------------------------------------------------------------------------
// Deep values built in Rust

/// Every request that takes a filter or a payload, with one nested 100 000 levels deep: each
/// is refused with a typed error, and nothing aborts. Runs in a child process, because the
/// failure it guards against is a stack overflow, which would take the test runner down.
async fn deep_rust_values_are_refused_without_aborting(ctx: Ctx) {
    if std::env::var(CHILD_ENV).as_deref() != Ok("deep_rust_values_are_refused_without_aborting") {
        return run_in_child("deep_rust_values_are_refused_without_aborting", ctx);
    }
    const DEEP: usize = 100_000;
    let client = open_with_points(&ctx, Distance::Dot).await;
    let deep = || filter_of_depth(DEEP);
    let ids = PointsSelector::ids([1u64]);
    let filter_err = "MAX_FILTER_DEPTH";
    bad_request(
        client.count("c", CountRequest::filter(deep())).await,
        filter_err,
    );
    bad_request(
        client
            .count("c", CountRequest::filter(nested_filter_of_depth(DEEP)))
            .await,
        filter_err,
    );
    bad_request(
        client
            .scroll("c", ScrollRequest::new(10).filter(deep()))
            .await,
        filter_err,
    );
    bad_request(
        client
            .search("c", SearchRequest::new(vec![1.0, 0.0], 3).filter(deep()))
            .await,
        filter_err,
    );
    bad_request(
        client
            .search_batch(
                "c",
                vec![
                    SearchRequest::new(vec![1.0, 0.0], 3),
                    SearchRequest::new(vec![1.0, 0.0], 3).filter(deep()),
                ],
            )
            .await,
        filter_err,
    );
    bad_request(
        client
            .recommend("c", RecommendRequest::new([1u64], 3).filter(deep()))
            .await,
        filter_err,
    );
    bad_request(
        client
            .search_groups(
                "c",
                SearchGroupsRequest::new(vec![1.0, 0.0], "i", 1, 3).filter(deep()),
            )
            .await,
        filter_err,
    );
    bad_request(
        client
            .delete_points("c", PointsSelector::filter(deep()))
            .await,
        filter_err,
    );
    let small = rro::payload!({"x": 1});
    bad_request(
        client
            .set_payload(
                "c",
                SetPayload::new(small.clone(), PointsSelector::filter(deep())),
            )
            .await,
        filter_err,
    );
    bad_request(
        client
            .overwrite_payload(
                "c",
                SetPayload::new(small.clone(), PointsSelector::filter(deep())),
            )
            .await,
        filter_err,
    );
    bad_request(
        client
            .delete_payload(
                "c",
                DeletePayload::new(["i"], PointsSelector::filter(deep())),
            )
            .await,
        filter_err,
    );
    bad_request(
        client
            .clear_payload("c", PointsSelector::filter(deep()))
            .await,
        filter_err,
    );
    bad_request(
        client
            .delete_vectors(
                "c",
                DeleteVectors::new(["v"], PointsSelector::filter(deep())),
            )
            .await,
        filter_err,
    );

    let payload_err = "MAX_PAYLOAD_DEPTH";
    let deep_payload = || payload_of_depth(DEEP);
    bad_request(
        client
            .upsert_points(
                "c",
                vec![
                    PointStruct::new(9u64, vec![1.0, 1.0]),
                    PointStruct::new(10u64, vec![1.0, 1.0]).with_payload(deep_payload()),
                    PointStruct::new(11u64, vec![1.0, 1.0]).with_payload(deep_payload()),
                ],
            )
            .await,
        payload_err,
    );
    bad_request(
        client
            .set_payload("c", SetPayload::new(deep_payload(), ids.clone()))
            .await,
        payload_err,
    );
    bad_request(
        client
            .overwrite_payload("c", SetPayload::new(deep_payload(), ids.clone()))
            .await,
        payload_err,
    );
    // Nothing changed, and the instance still answers.
    assert_eq!(client.count_points("c").await.expect("count"), 5);
    let records = client
        .get_points("c", GetPoints::new([1u64]).with_payload(true))
        .await
        .expect("get");
    assert_eq!(
        records[0].payload,
        Some(rro::payload!({"i": 1, "items": [{"x": 1}]}))
    );
    client.shutdown().await.expect("shutdown");
    println!("{CHILD_DONE}");
}

/// Payloads and filters exactly at the limits are accepted and mean what they say; one level
/// more is refused and changes nothing. A `set_payload` under a key whose result would pass
/// the limit is refused too.
async fn payloads_and_filters_at_and_past_the_limits(ctx: Ctx) {
    let client = open_with_points(&ctx, Distance::Dot).await;
    let at_limit = payload_of_depth(MAX_PAYLOAD_DEPTH);
    client
        .upsert_points(
            "c",
            vec![PointStruct::new(7u64, vec![1.0, 1.0]).with_payload(at_limit.clone())],
        )
        .await
        .expect("a payload at the limit is accepted");
    bad_request(
        client
            .upsert_points(
                "c",
                vec![PointStruct::new(8u64, vec![1.0, 1.0])
                    .with_payload(payload_of_depth(MAX_PAYLOAD_DEPTH + 1))],
            )
            .await,
        "64 levels",
    );
    // Merging a legal payload below a legal key of a legal payload would pass the limit.
    bad_request(
        client
            .set_payload(
                "c",
                SetPayload::new(
                    payload_of_depth(MAX_PAYLOAD_DEPTH - 1),
                    PointsSelector::ids([7u64]),
                )
                .at_key("a.b.c"),
            )
            .await,
        "MAX_PAYLOAD_DEPTH",
    );
    let long_key = vec!["a"; MAX_PAYLOAD_DEPTH + 1].join(".");
    bad_request(
        client
            .set_payload(
                "c",
                SetPayload::new(rro::payload!({"x": 1}), PointsSelector::ids([7u64]))
                    .at_key(long_key),
            )
            .await,
        "MAX_PAYLOAD_DEPTH",
    );
    let stored = client
        .get_points("c", GetPoints::new([7u64, 8]).with_payload(true))
        .await
        .expect("get");
    assert_eq!(stored.len(), 1, "the refused point was not stored");
    assert_eq!(stored[0].payload.as_ref(), Some(&at_limit));

    // A filter at the limit that every point passes counts all of them (the reference: all
    // six points stored); one level more is refused.
    for filter in [
        filter_of_depth(MAX_FILTER_DEPTH),
        nested_filter_of_depth(1)
            .with_must([Condition::Filter(filter_of_depth(MAX_FILTER_DEPTH - 1))]),
    ] {
        assert_eq!(
            client
                .count("c", CountRequest::filter(filter))
                .await
                .expect("count"),
            6
        );
    }
    bad_request(
        client
            .count(
                "c",
                CountRequest::filter(filter_of_depth(MAX_FILTER_DEPTH + 1)),
            )
            .await,
        "MAX_FILTER_DEPTH",
    );
    // `nested` at the limit: the innermost filter is empty, so a point passes if every level
    // finds an element of `items`; only the outermost level has one (`[{"x": i}]`), whose own
    // `items` is missing, so nothing passes below the first level.
    assert_eq!(
        client
            .count(
                "c",
                CountRequest::filter(nested_filter_of_depth(MAX_FILTER_DEPTH))
            )
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        client
            .count("c", CountRequest::filter(nested_filter_of_depth(2)))
            .await
            .expect("count"),
        5,
        "the five points with `items` pass one `nested` level"
    );
    client.shutdown().await.expect("shutdown");
}

/// JSON nested past the limit (but within what the JSON parser takes) is refused; a payload at
/// the limit survives a restart without a checkpoint (log replay) and after one.
async fn deep_json_is_refused_and_legal_depth_survives_reopen(ctx: Ctx) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, _) = ctx.persistent_config(dir.path());
    let json = |depth: usize| {
        format!(
            "{{\"top\": {}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    let legal: Payload = serde_json::from_str(&json(MAX_PAYLOAD_DEPTH)).expect("parse");
    let too_deep: Payload = serde_json::from_str(&json(100)).expect("parse");
    // `must` takes a single condition too, so each filter level is one JSON level.
    let filter_json = |depth: usize| {
        format!(
            "{}{{}}{}",
            "{\"must\": ".repeat(depth - 1),
            "}".repeat(depth - 1)
        )
    };
    let legal_filter: Filter = serde_json::from_str(&filter_json(MAX_FILTER_DEPTH)).expect("parse");
    let deep_filter: Filter =
        serde_json::from_str(&filter_json(MAX_FILTER_DEPTH + 1)).expect("parse");
    {
        let client = ctx.open(config.clone()).await;
        client
            .create_collection("c", VectorParams::new(2, Distance::Dot))
            .await
            .expect("create");
        client
            .upsert_points(
                "c",
                vec![PointStruct::new(1u64, vec![1.0, 0.0]).with_payload(legal.clone())],
            )
            .await
            .expect("legal payload");
        bad_request(
            client
                .upsert_points(
                    "c",
                    vec![PointStruct::new(2u64, vec![1.0, 0.0]).with_payload(too_deep)],
                )
                .await,
            "MAX_PAYLOAD_DEPTH",
        );
        bad_request(
            client.count("c", CountRequest::filter(deep_filter)).await,
            "MAX_FILTER_DEPTH",
        );
        assert_eq!(
            client
                .count("c", CountRequest::filter(legal_filter))
                .await
                .expect("a filter at the limit"),
            1
        );
        // The 200-deep value of the issue, built in Rust (JSON cannot carry it).
        let mut two_hundred = Payload::new();
        two_hundred.insert("k".into(), nested_value(200));
        bad_request(
            client
                .set_payload(
                    "c",
                    SetPayload::new(two_hundred, PointsSelector::ids([1u64])),
                )
                .await,
            "MAX_PAYLOAD_DEPTH",
        );
        // Shut down with the write only in the log: reopening replays it.
        client.shutdown().await.expect("shutdown");
    }
    for round in 0..2 {
        let client = ctx.open(config.clone()).await;
        let records = client
            .get_points("c", GetPoints::new([1u64, 2]).with_payload(true))
            .await
            .expect("get");
        assert_eq!(records.len(), 1, "round {round}");
        assert_eq!(records[0].payload.as_ref(), Some(&legal), "round {round}");
        client.flush().await.expect("checkpoint");
        client.shutdown().await.expect("shutdown");
    }
    if let Some(value) = legal.get("top").cloned() {
        drop_deep(value);
    }
}

// ---------------------------------------------------------------------------------------------
// Huge numbers

/// `limit`, `offset` and `hnsw_ef` of `usize::MAX` are answered, not allocated for: every point
/// in score order (checked against the dot products computed here), or nothing past the end.
async fn huge_limits_offsets_and_ef_are_answered(ctx: Ctx) {
    let client = open_with_points(&ctx, Distance::Dot).await;
    let query = vec![1.0f32, 0.0];
    // Points are (1 + i, 0.5): the dot product with (1, 0) is 1 + i, best first.
    let mut expected: Vec<(u64, f32)> = (0..5u64).map(|i| (i, 1.0 + i as f32)).collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let scored = |hits: Vec<rro::models::ScoredPoint>| -> Vec<(u64, f32)> {
        hits.into_iter()
            .map(|h| match h.id {
                rro::models::PointId::Num(n) => (n, h.score),
                other => panic!("unexpected id {other:?}"),
            })
            .collect()
    };
    let all = client
        .search("c", SearchRequest::new(query.clone(), usize::MAX))
        .await
        .expect("huge limit");
    assert_eq!(scored(all), expected);
    let all = client
        .search(
            "c",
            SearchRequest::new(query.clone(), usize::MAX).hnsw_ef(usize::MAX),
        )
        .await
        .expect("huge ef");
    assert_eq!(scored(all), expected);
    let none = client
        .search(
            "c",
            SearchRequest::new(query.clone(), usize::MAX).offset(usize::MAX),
        )
        .await
        .expect("huge offset");
    assert!(none.is_empty());
    let some = client
        .search(
            "c",
            SearchRequest::new(query.clone(), 2).offset(usize::MAX - 1),
        )
        .await
        .expect("offset near the end of usize");
    assert!(some.is_empty());
    let page = client
        .scroll("c", ScrollRequest::new(usize::MAX))
        .await
        .expect("huge scroll limit");
    assert_eq!(page.points.len(), 5);
    assert_eq!(page.next_page_offset, None);
    let recommended = client
        .recommend("c", RecommendRequest::new([4u64], usize::MAX))
        .await
        .expect("huge recommend limit");
    // Recommending from point 4 = searching with its vector (5, 0.5), point 4 left out.
    let mut from_four: Vec<(u64, f32)> = (0..4u64)
        .map(|i| (i, 5.0 * (1.0 + i as f32) + 0.25))
        .collect();
    from_four.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(scored(recommended), from_four);
    let groups = client
        .search_groups(
            "c",
            SearchGroupsRequest::new(query.clone(), "i", usize::MAX, usize::MAX),
        )
        .await
        .expect("huge group limits");
    assert_eq!(groups.groups.len(), 5);
    client.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------------------------
// Vectors

fn unscorable(result: rro::Result<impl std::fmt::Debug>) {
    assert!(
        matches!(
            result,
            Err(RroError::Storage(StorageError::UnscorableVector { .. }))
        ),
        "expected UnscorableVector, got {result:?}"
    );
}

/// Vectors whose length overflows or underflows, or whose scores could overflow, are refused at
/// upsert, update_vectors and as queries; NaN and infinite components and NaN thresholds too.
async fn unscorable_vectors_and_nan_thresholds_are_refused(ctx: Ctx) {
    for distance in [Distance::Cosine, Distance::Dot, Distance::Euclid] {
        let client = open_with_points(&ctx, distance).await;
        let huge = vec![f32::MAX, f32::MAX];
        unscorable(
            client
                .upsert_points("c", vec![PointStruct::new(9u64, huge.clone())])
                .await,
        );
        unscorable(
            client
                .update_vectors(
                    "c",
                    UpdateVectors {
                        points: vec![PointVectors {
                            id: 1u64.into(),
                            vector: VectorStruct::Single(huge.clone()),
                        }],
                    },
                )
                .await,
        );
        unscorable(
            client
                .search("c", SearchRequest::new(huge.clone(), 3))
                .await,
        );
        let tiny = vec![1e-45, 0.0];
        if distance == Distance::Cosine {
            unscorable(
                client
                    .upsert_points("c", vec![PointStruct::new(9u64, tiny.clone())])
                    .await,
            );
            unscorable(client.search("c", SearchRequest::new(tiny, 3)).await);
        } else {
            // Tiny is fine where nothing normalises: it scores (near) zero, finitely.
            let hits = client
                .search("c", SearchRequest::new(tiny, 5))
                .await
                .expect("tiny query");
            assert!(hits.iter().all(|h| h.score.is_finite()));
        }
        for bad in [f32::NAN, f32::INFINITY] {
            let result = client
                .upsert_points("c", vec![PointStruct::new(9u64, vec![bad, 0.0])])
                .await;
            assert!(
                matches!(
                    result,
                    Err(RroError::Storage(StorageError::NonFiniteVector { .. }))
                ),
                "{result:?}"
            );
        }
        bad_request(
            client
                .search(
                    "c",
                    SearchRequest::new(vec![1.0, 0.0], 3).score_threshold(f32::NAN),
                )
                .await,
            "score_threshold",
        );
        // Nothing was stored, nothing changed: point 1 still has its vector.
        assert_eq!(client.count_points("c").await.expect("count"), 5);
        let record = client
            .get_points("c", GetPoints::new([1u64]).with_vector(true))
            .await
            .expect("get");
        let mut expected = [2.0f32, 0.5];
        if distance == Distance::Cosine {
            let norm = expected.iter().map(|x| x * x).sum::<f32>().sqrt();
            expected.iter_mut().for_each(|x| *x /= norm);
        }
        assert_eq!(record[0].plain_vector(), Some(&expected[..]));
        client.shutdown().await.expect("shutdown");
    }
}

// ---------------------------------------------------------------------------------------------
// Names

/// Names that would leave the data directory (or cannot be files) are refused; the longest
/// valid name works everywhere, snapshots included.
async fn collection_names_that_attack_the_data_directory(ctx: Ctx) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, _) = ctx.persistent_config(dir.path());
    let client = ctx.open(config).await;
    let long = "n".repeat(256);
    for name in [
        "", "/", "..", ".", "a/b", "../x", "a\\b", "a\0b", "a\nb", "\u{7}", &long,
    ] {
        let result = client
            .create_collection(name, VectorParams::new(2, Distance::Dot))
            .await;
        assert!(
            matches!(
                result,
                Err(RroError::Storage(
                    StorageError::InvalidCollectionName { .. }
                ))
            ),
            "{name:?}: {result:?}"
        );
    }
    // Only the data directory's own areas exist: nothing was created elsewhere.
    assert!(
        !dir.path().join("x").exists() && !dir.path().parent().expect("parent").join("x").exists()
    );

    let longest = "é".repeat(127) + "n"; // 255 bytes
    assert_eq!(longest.len(), 255);
    client
        .create_collection(
            &longest,
            CreateCollection::from(VectorParams::new(2, Distance::Dot)),
        )
        .await
        .expect("a 255-byte name is valid");
    client
        .upsert_points(&longest, vec![PointStruct::new(1u64, vec![1.0, 2.0])])
        .await
        .expect("upsert");
    let snapshot = client
        .create_snapshot(&longest)
        .await
        .expect("snapshot of a 255-byte name");
    let listed = client.list_snapshots(&longest).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, snapshot.name);
    client
        .recover_snapshot("copy", &snapshot.path)
        .await
        .expect("recover");
    assert_eq!(client.count_points("copy").await.expect("count"), 1);
    assert!(client
        .delete_snapshot(&longest, &snapshot.name)
        .await
        .expect("delete"));
    assert!(client
        .list_snapshots(&longest)
        .await
        .expect("list")
        .is_empty());
    client.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------------------------
// Snapshot archives

/// A 512-byte tar header for a regular file `name` of `size` bytes (ustar, valid checksum).
fn tar_header(name: &[u8], size: u64) -> Vec<u8> {
    let mut header = vec![0u8; 512];
    header[..name.len()].copy_from_slice(name);
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    header
}

/// Recovering from files that are not rro snapshots fails with a typed error that says what is
/// wrong without quoting what is in the file (what `archive.rs`'s own tests don't cover: path
/// traversal, links, checksums and truncation are tested there).
async fn crafted_snapshot_archives_are_refused_without_echoing_them(ctx: Ctx) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, _) = ctx.persistent_config(&dir.path().join("data"));
    let client = ctx.open(config).await;
    const SECRET: &str = "root:x:0:0:SECRET-LINE:/root:/bin/bash";
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push((
        "a text file",
        format!("{SECRET}\n{SECRET}\n").repeat(40).into_bytes(),
    ));
    let mut first_entry_named_secret = tar_header(SECRET.as_bytes(), 3);
    first_entry_named_secret.extend_from_slice(&[b'a'; 512]);
    first_entry_named_secret.extend_from_slice(&[0; 1024]);
    cases.push((
        "a tar whose first entry is not the metadata",
        first_entry_named_secret,
    ));
    let mut bad_size = tar_header(b"rro-snapshot.json", 0);
    bad_size[124..135].copy_from_slice(SECRET.as_bytes().get(..11).expect("11 bytes"));
    cases.push(("a tar header with a size that is no number", bad_size));
    let mut absurd = tar_header(b"rro-snapshot.json", 0o77_777_777_777);
    absurd.extend_from_slice(&[0; 1024]);
    cases.push(("metadata claiming 8 GiB", absurd));
    cases.push(("an empty file", Vec::new()));
    for (what, bytes) in cases {
        let path = dir.path().join("crafted.snapshot");
        std::fs::write(&path, &bytes).expect("write");
        let result = client.recover_snapshot("victim", &path).await;
        match &result {
            Err(RroError::Storage(
                error @ (StorageError::Corrupted { .. } | StorageError::BadRequest(_)),
            )) => {
                let message = error.to_string();
                assert!(
                    !message.contains("SECRET") && !message.contains("root:x"),
                    "{what}: the error quotes the file: {message}"
                );
            }
            other => panic!("{what}: expected Corrupted, got {other:?}"),
        }
        assert!(
            !client.collection_exists("victim").await.expect("exists"),
            "{what}"
        );
    }
    client.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------------------------
// Damaged layouts

/// A data path that is a file, and a collection directory replaced by a file, are reported as
/// what they are.
async fn damaged_layouts_are_reported_as_such(ctx: Ctx) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain");
    std::fs::write(&file, b"not a directory").expect("write");
    let (config, _) = ctx.persistent_config(&file);
    match ctx.try_open(config).await {
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("not a directory"), "{message}");
            assert!(!message.contains("os error 17"), "{message}");
        }
        Ok(_) => panic!("a file opened as a data directory"),
    }

    let data = dir.path().join("data");
    let (config, _) = ctx.persistent_config(&data);
    let client = ctx.open(config.clone()).await;
    client
        .create_collection("gone", VectorParams::new(2, Distance::Dot))
        .await
        .expect("create");
    client.shutdown().await.expect("shutdown");
    let collection_dir = data.join("collections").join("gone");
    std::fs::remove_dir_all(&collection_dir).expect("remove");
    std::fs::write(&collection_dir, b"x").expect("replace by a file");
    match ctx.try_open(config).await {
        Err(RroError::Storage(StorageError::Corrupted { path, .. })) => {
            assert!(path.ends_with("gone"), "{path}")
        }
        Err(other) => panic!("expected Corrupted, got {other:?}"),
        Ok(_) => panic!("a collection replaced by a file was skipped silently"),
    }
}
