//! Layouts: vectors at a column of wider rows.

use super::*;

#[test]
fn a_layout_reads_its_column_of_wider_rows() {
    let f = fixture();
    let (stride, column) = WIDE;
    let rows = widen(&f.vectors, DIM, stride, column);
    let builder = HnswBuilder::new(DIM, N, Distance::Euclid, HnswParams::default(), 7)
        .with_layout(stride, column);
    let graph = finish_all(builder, &rows);
    assert_eq!(graph.layout(), (stride, column));
    assert_eq!(f.graph.layout(), (DIM, 0));
    // The same distances build the same links as the fixture's (one thread, seed 7).
    assert_eq!(graph.inserted(), N);
    assert!(graph.level0 == f.graph.level0 && graph.upper == f.graph.upper);
    for query in f.queries.chunks_exact(DIM) {
        for accept in [&|_| true, &|o: u32| o % 3 != 1] as [&dyn Fn(u32) -> bool; 2] {
            assert_eq!(
                graph.search(&rows, DIM, query, 10, 64, accept),
                f.graph.search(&f.vectors, DIM, query, 10, 64, accept)
            );
        }
    }
    // The layout is not in the file: both graphs write the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let (wide, plain) = (dir.path().join("wide.bin"), dir.path().join("plain.bin"));
    graph.write(&wide).unwrap();
    f.graph.write(&plain).unwrap();
    assert!(fs::read(&wide).unwrap() == fs::read(&plain).unwrap());
}

#[test]
fn a_subset_graph_with_a_layout_matches_one_over_contiguous_vectors() {
    let f = fixture();
    let (stride, column) = WIDE;
    let rows = widen(&f.vectors, DIM, stride, column);
    let (wide, plain) = wide_and_plain_subset_graphs(&rows);
    assert_eq!(wide.layout(), (stride, column));
    assert_eq!(plain.layout(), (DIM, 0));
    assert_eq!(wide.offsets(), plain.offsets());
    assert_eq!(wide.inserted(), every_seventh().len());
    assert!(wide.level0 == plain.level0 && wide.upper == plain.upper);
    for query in f.queries.chunks_exact(DIM) {
        for accept in [&|_| true, &|o: u32| o.is_multiple_of(14)] as [&dyn Fn(u32) -> bool; 2] {
            let found = wide.search(&rows, DIM, query, 10, 64, accept);
            assert_eq!(found.len(), 10);
            assert_eq!(found, plain.search(&f.vectors, DIM, query, 10, 64, accept));
        }
    }
}

#[test]
fn a_loaded_graph_is_given_its_layout_again() {
    let f = fixture();
    let (stride, column) = WIDE;
    let rows = widen(&f.vectors, DIM, stride, column);
    let (wide, plain) = wide_and_plain_subset_graphs(&rows);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    wide.write(&path).unwrap();
    let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
    // Loaded without a layout, the graph reads contiguous vectors, whatever it was built
    // over.
    assert_eq!(loaded.layout(), (0, 0));
    let loaded_plain = HnswGraph::load(&path, N, Distance::Euclid)
        .unwrap()
        .with_layout(DIM, 0);
    let loaded_wide = loaded.with_layout(stride, column);
    assert_eq!(loaded_wide.layout(), (stride, column));
    let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
    for query in f.queries.chunks_exact(DIM) {
        for ef in [10, 64] {
            let want = wide.search(&rows, DIM, query, 10, ef, &|_| true);
            assert_eq!(want.len(), 10);
            assert_eq!(
                loaded_wide.search(&rows, DIM, query, 10, ef, &|_| true),
                want
            );
            for g in [&loaded, &loaded_plain, &plain] {
                assert_eq!(g.search(&f.vectors, DIM, query, 10, ef, &|_| true), want);
            }
        }
    }
    // Neither the layout a graph was built with nor the one it is given is written.
    let again = dir.path().join("again.bin");
    let plain_path = dir.path().join("plain.bin");
    loaded_wide.write(&again).unwrap();
    plain.write(&plain_path).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert!(bytes == fs::read(&again).unwrap() && bytes == fs::read(&plain_path).unwrap());
}

/// Bad layouts and short rows are debug assertions, and in release ignored without harm.
#[test]
fn bad_layouts_are_caught_in_debug_and_ignored_in_release() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let flagged = |f: &dyn Fn()| {
        let panicked = catch_unwind(AssertUnwindSafe(f)).is_err();
        assert_eq!(panicked, cfg!(debug_assertions));
    };
    let params = HnswParams::default();
    let vectors = Rng(4).points(10, DIM, Distance::Euclid);
    let (stride, column) = WIDE;
    let rows = widen(&vectors, DIM, stride, column);
    let query = &vectors[..DIM];
    // The vector overruns its row (or the layout overflows): nothing is inserted, however
    // long the rows.
    for (stride, column) in [
        (3 * DIM, 2 * DIM + 1),
        (DIM - 1, 0),
        (0, 1),
        (usize::MAX, usize::MAX),
        (usize::MAX, 1),
    ] {
        flagged(&|| {
            let builder =
                HnswBuilder::new(DIM, 10, Distance::Euclid, params, 1).with_layout(stride, column);
            builder.insert(&rows, 0);
            assert_eq!(builder.finish().inserted(), 0);
        });
    }
    // A layout set after an insert would mix two layouts in one graph.
    flagged(&|| {
        let builder = HnswBuilder::new(DIM, 10, Distance::Euclid, params, 1);
        builder.insert(&vectors, 0);
        let _ = builder.with_layout(stride, column);
    });
    // Rows short of the last row's end, even with its vector whole, or contiguous vectors
    // given to a graph with a layout.
    let builder =
        HnswBuilder::new(DIM, 10, Distance::Euclid, params, 1).with_layout(stride, column);
    let cut = &rows[..rows.len() - DIM];
    flagged(&|| builder.insert(cut, 0));
    flagged(&|| builder.insert(&vectors, 0));
    builder.insert(&rows, 4);
    let graph = builder.finish();
    assert_eq!(graph.inserted(), 1);
    assert_eq!(graph.search(&rows, DIM, query, 5, 10, &|_| true)[0].1, 4);
    for short in [cut, &vectors[..]] {
        flagged(&|| {
            assert!(graph.search(short, DIM, query, 5, 10, &|_| true).is_empty());
        });
    }
    // A subset needs the rows up to its largest offset's, no more.
    let builder = HnswBuilder::subset(DIM, vec![1, 4], Distance::Euclid, params, 1)
        .with_layout(stride, column);
    flagged(&|| builder.insert_node(&rows[..5 * stride - 1], 1));
    builder.insert_node(&rows[..5 * stride], 1);
    let subset = builder.finish();
    assert_eq!(subset.inserted(), 1);
    assert_eq!(
        subset.search(&rows[..5 * stride], DIM, query, 5, 10, &|_| true)[0].1,
        4
    );
    flagged(&|| {
        assert!(subset
            .search(&rows[..5 * stride - 1], DIM, query, 5, 10, &|_| true)
            .is_empty());
    });
    // A bad layout given to a graph: its searches answer nothing until it is mended.
    let mut graph = graph;
    for (stride, column) in [(3 * DIM, 2 * DIM + 1), (0, 1), (usize::MAX, 0)] {
        graph = graph.with_layout(stride, column);
        flagged(&|| {
            assert!(graph.search(&rows, DIM, query, 5, 10, &|_| true).is_empty());
        });
    }
    let graph = graph.with_layout(stride, column);
    assert_eq!(graph.search(&rows, DIM, query, 5, 10, &|_| true)[0].1, 4);
}
