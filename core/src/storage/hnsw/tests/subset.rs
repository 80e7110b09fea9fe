//! Subset graphs: nodes mapped to segment offsets.

use super::*;

#[test]
fn subset_graph_finds_the_subset_neighbours_in_segment_offsets() {
    let f = fixture();
    let subset = every_seventh();
    let params = HnswParams::default();
    let graph = build_subset(&f.vectors, DIM, Distance::Euclid, params, 2, &subset);
    let n = subset.len();
    assert_eq!(
        (graph.len(), graph.node_count(), graph.inserted()),
        (n, n, n)
    );
    assert_eq!(graph.offsets(), Some(&subset[..]));
    assert_eq!(f.graph.offsets(), None);
    assert_eq!(f.graph.node_count(), N);
    // Memory is the subset's: every per-node array has its size, none the segment's.
    let m0 = params.m0();
    assert_eq!(graph.levels.len(), n);
    assert_eq!(graph.upper_start.len(), n);
    assert_eq!(graph.level0.len(), n * (1 + m0));
    assert!(graph.links_bytes() < f.graph.links_bytes() / 6);
    // Against brute force over the subset (which `recall` takes from `offsets()`), with
    // every result checked against its segment offset's vector.
    let r = recall(&graph, &f.vectors, &f.queries, 64, &|_| true);
    assert!(r >= 0.9, "recall@10 over the subset: {r}");
    // `accept` is asked about segment offsets of the subset, never node numbers.
    let seen = std::cell::RefCell::new(Vec::new());
    for query in f.queries.chunks_exact(DIM) {
        let found = graph.search(&f.vectors, DIM, query, 10, 64, &|o| {
            seen.borrow_mut().push(o);
            true
        });
        assert_eq!(found.len(), 10);
        for (_, id) in found {
            assert!(id.is_multiple_of(7), "offset {id} is not in the subset");
        }
    }
    let seen = seen.into_inner();
    assert!(seen.iter().all(|o| o.is_multiple_of(7)));
    assert!(
        seen.iter().any(|&o| o as usize >= n),
        "accept saw only small numbers"
    );
    // A filter on segment offsets narrows the subset further.
    let r = recall(&graph, &f.vectors, &f.queries, 64, &|o| {
        o.is_multiple_of(14)
    });
    assert!(r >= 0.9, "recall@10 over half the subset: {r}");
}

#[test]
fn a_subset_of_every_offset_is_the_full_graph() {
    let f = fixture();
    let graph = build_subset(
        &f.vectors,
        DIM,
        Distance::Euclid,
        HnswParams::default(),
        1,
        &all(N),
    );
    assert_eq!(graph.links_bytes(), f.graph.links_bytes() + 4 * N);
    for query in f.queries.chunks_exact(DIM) {
        assert_eq!(
            graph.search(&f.vectors, DIM, query, 10, 64, &|o| o % 3 != 1),
            f.graph
                .search(&f.vectors, DIM, query, 10, 64, &|o| o % 3 != 1)
        );
    }
}

#[test]
fn subset_write_then_load_searches_identically() {
    let f = fixture();
    let subset = every_seventh();
    let graph = build_subset(
        &f.vectors,
        DIM,
        Distance::Euclid,
        HnswParams::default(),
        2,
        &subset,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    graph.write(&path).unwrap();
    let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
    assert_eq!(loaded.offsets(), Some(&subset[..]));
    assert_eq!(loaded.len(), subset.len());
    assert_eq!(loaded.inserted(), graph.inserted());
    assert_eq!(loaded.params(), graph.params());
    assert_eq!(loaded.links_bytes(), graph.links_bytes());
    for query in f.queries.chunks_exact(DIM) {
        for ef in [10, 64] {
            assert_eq!(
                loaded.search(&f.vectors, DIM, query, 10, ef, &|_| true),
                graph.search(&f.vectors, DIM, query, 10, ef, &|_| true)
            );
        }
    }
    let again = dir.path().join("again.bin");
    loaded.write(&again).unwrap();
    assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
    // Any segment that holds the largest offset will do; one that does not is refused.
    let last = *subset.last().unwrap() as usize;
    assert!(HnswGraph::load(&path, last + 1, Distance::Euclid).is_ok());
    assert_corrupted(
        HnswGraph::load(&path, last, Distance::Euclid),
        "short segment",
    );
    // A full graph still writes no map and no flag.
    f.graph.write(&path).unwrap();
    let full = fs::read(&path).unwrap();
    assert_eq!(full[HEADER_LEN + 20..HEADER_LEN + 24], [0; 4]);
}

#[test]
fn empty_and_single_node_subsets_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    let params = HnswParams::default();
    let vectors = Rng(3).points(3, DIM, Distance::Dot);
    let query = &vectors[..DIM];
    // No nodes at all.
    let graph = HnswBuilder::subset(DIM, Vec::new(), Distance::Dot, params, 1).finish();
    assert_eq!(
        (graph.len(), graph.inserted(), graph.is_empty()),
        (0, 0, true)
    );
    assert_eq!(graph.offsets(), Some(&[][..]));
    assert!(graph
        .search(&vectors, DIM, query, 5, 10, &|_| true)
        .is_empty());
    graph.write(&path).unwrap();
    for segment_len in [0, 3] {
        let loaded = HnswGraph::load(&path, segment_len, Distance::Dot).unwrap();
        assert_eq!((loaded.len(), loaded.offsets()), (0, Some(&[][..])));
        assert!(loaded
            .search(&vectors, DIM, query, 5, 10, &|_| true)
            .is_empty());
    }
    // One node, offset 2, inserted by node, again by offset (a no-op), and through the
    // same calls on a full builder.
    let builder = HnswBuilder::subset(DIM, vec![2], Distance::Dot, params, 1);
    builder.insert_node(&vectors, 0);
    builder.insert(&vectors, 2);
    let graph = builder.finish();
    assert_eq!((graph.len(), graph.inserted()), (1, 1));
    let full = HnswBuilder::new(DIM, 3, Distance::Dot, params, 1);
    full.insert_node(&vectors, 2);
    let full = full.finish();
    let want = graph_distance(Distance::Dot)(query, &vectors[2 * DIM..3 * DIM]);
    graph.write(&path).unwrap();
    let loaded = HnswGraph::load(&path, 3, Distance::Dot).unwrap();
    assert_corrupted(HnswGraph::load(&path, 2, Distance::Dot), "segment of 2");
    for g in [&graph, &loaded, &full] {
        assert_eq!(
            g.search(&vectors, DIM, query, 5, 10, &|_| true),
            vec![(want, 2)]
        );
        assert!(g
            .search(&vectors, DIM, query, 5, 10, &|o| o != 2)
            .is_empty());
        let huge = g.search(&vectors, DIM, query, usize::MAX, usize::MAX, &|_| true);
        assert_eq!(huge, vec![(want, 2)]);
    }
}

/// Caller bugs are debug assertions, and in release are ignored without harm.
#[test]
fn subset_caller_bugs_are_caught_in_debug_and_ignored_in_release() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let flagged = |f: &dyn Fn()| {
        let panicked = catch_unwind(AssertUnwindSafe(f)).is_err();
        assert_eq!(panicked, cfg!(debug_assertions));
    };
    let params = HnswParams::default();
    let vectors = Rng(4).points(10, DIM, Distance::Euclid);
    let builder = HnswBuilder::subset(DIM, vec![1, 4, 9], Distance::Euclid, params, 1);
    flagged(&|| builder.insert_node(&vectors, 3));
    flagged(&|| builder.insert_node(&vectors[..9 * DIM], 0));
    flagged(&|| builder.insert(&vectors, 5));
    builder.insert(&vectors, 4);
    let graph = builder.finish();
    assert_eq!(graph.inserted(), 1);
    let query = &vectors[..DIM];
    flagged(&|| {
        assert!(graph
            .search(&vectors[..9 * DIM], DIM, query, 5, 10, &|_| true)
            .is_empty());
    });
    assert_eq!(graph.search(&vectors, DIM, query, 5, 10, &|_| true)[0].1, 4);
    // Unsorted offsets with a repeat: sorted and deduplicated.
    flagged(&|| {
        let builder = HnswBuilder::subset(DIM, vec![9, 3, 3, 5], Distance::Euclid, params, 1);
        assert_eq!(builder.finish().offsets(), Some(&[3, 5, 9][..]));
    });
}
