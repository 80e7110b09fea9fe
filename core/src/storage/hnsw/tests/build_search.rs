//! Building and searching full graphs: recall, threads, filters, healing, levels.

use super::*;

#[test]
fn recall_on_random_points_beats_0_9() {
    let f = fixture();
    assert_eq!((f.graph.len(), f.graph.inserted()), (N, N));
    let r = recall(&f.graph, &f.vectors, &f.queries, 64, &|_| true);
    assert!(r >= 0.9, "recall@10 {r}");
}

#[test]
fn two_threads_sharing_a_builder_build_as_good_a_graph() {
    let f = fixture();
    let graph = build(
        &f.vectors,
        DIM,
        Distance::Euclid,
        HnswParams::default(),
        2,
        &all(N),
    );
    assert_eq!(graph.inserted(), N);
    let r = recall(&graph, &f.vectors, &f.queries, 64, &|_| true);
    assert!(r >= 0.9, "recall@10 {r}");
    // Its level 0 (built concurrently in place) passes every check of a load.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    graph.write(&path).unwrap();
    let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
    assert_eq!(loaded.inserted(), N);
}

#[test]
fn level0_rows_keep_unused_slots_zero_and_finish_in_place() {
    let row: Vec<AtomicU32> = (0..5).map(|_| AtomicU32::new(0)).collect();
    let words =
        |row: &[AtomicU32]| -> Vec<u32> { row.iter().map(|w| w.load(Atomic::Relaxed)).collect() };
    set_row(&row, [7, 8, 9].into_iter());
    assert_eq!(words(&row), [3, 7, 8, 9, 0]);
    set_row(&row, [1, 2, 3, 4, 5, 6].into_iter());
    assert_eq!(words(&row), [4, 1, 2, 3, 4]);
    set_row(&row, [5].into_iter());
    assert_eq!(words(&row), [1, 5, 0, 0, 0]);
    let linked: Vec<u32> = links_of(&row).map(|w| w.load(Atomic::Relaxed)).collect();
    assert_eq!(linked, [5]);
    // A count beyond the row (never written, but never trusted) is capped.
    row[0].store(99, Atomic::Relaxed);
    assert_eq!(links_of(&row).len(), 4);
    // Finishing turns the atomics into plain words in the same allocation.
    let level0: Vec<AtomicU32> = (0..10_000).map(AtomicU32::new).collect();
    let before = level0.as_ptr() as usize;
    let plain = into_plain(level0);
    assert_eq!(plain.as_ptr() as usize, before, "level 0 was copied");
    assert_eq!(plain, (0..10_000).collect::<Vec<u32>>());
}

#[test]
fn rejected_offsets_route_but_are_never_returned() {
    let f = fixture();
    let every_third = |o: u32| o.is_multiple_of(3);
    let r = recall(&f.graph, &f.vectors, &f.queries, 64, &every_third);
    assert!(r >= 0.9, "recall@10 with a third accepted: {r}");
    // A very selective filter: the search walks further, and still finds them.
    let few = |o: u32| o % 250 == 7;
    let r = recall(&f.graph, &f.vectors, &f.queries, 64, &few);
    assert!(r >= 0.9, "recall@10 with 20 accepted: {r}");
    let query = &f.queries[..DIM];
    assert!(f
        .graph
        .search(&f.vectors, DIM, query, 10, 64, &|_| false)
        .is_empty());
}

#[test]
fn every_distance_finds_its_neighbours() {
    for distance in [
        Distance::Cosine,
        Distance::Dot,
        Distance::Euclid,
        Distance::Manhattan,
    ] {
        let mut rng = Rng(99);
        let vectors = rng.points(1_000, DIM, distance);
        let queries = rng.points(20, DIM, distance);
        let params = HnswParams {
            m: 8,
            ef_construct: 64,
        };
        let graph = build(&vectors, DIM, distance, params, 1, &all(1_000));
        let r = recall(&graph, &vectors, &queries, 64, &|_| true);
        assert!(r >= 0.9, "{distance:?}: recall@10 {r}");
    }
}

#[test]
fn offsets_never_inserted_are_never_returned() {
    let f = fixture();
    let even: Vec<u32> = (0..N as u32).step_by(2).collect();
    let graph = build(
        &f.vectors,
        DIM,
        Distance::Euclid,
        HnswParams::default(),
        2,
        &even,
    );
    assert_eq!((graph.len(), graph.inserted()), (N, N / 2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    graph.write(&path).unwrap();
    let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
    for g in [&graph, &loaded] {
        for query in f.queries.chunks_exact(DIM) {
            for (_, id) in g.search(&f.vectors, DIM, query, 50, 100, &|_| true) {
                assert_eq!(id % 2, 0, "offset {id} was never inserted");
            }
        }
        // Among the inserted ones, the search is as good as ever.
        let r = recall(g, &f.vectors, &f.queries, 64, &|o| o.is_multiple_of(2));
        assert!(r >= 0.9, "recall@10 {r}");
    }
}

#[test]
fn write_then_load_searches_identically() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    f.graph.write(&path).unwrap();
    assert!(!path.with_extension("tmp").exists());
    let loaded = HnswGraph::load(&path, N, Distance::Euclid).unwrap();
    assert_eq!(loaded.len(), f.graph.len());
    assert_eq!(loaded.inserted(), f.graph.inserted());
    assert_eq!(loaded.params(), f.graph.params());
    assert_eq!(loaded.distance(), Distance::Euclid);
    assert_eq!(loaded.links_bytes(), f.graph.links_bytes());
    for query in f.queries.chunks_exact(DIM) {
        for ef in [10, 64] {
            assert_eq!(
                loaded.search(&f.vectors, DIM, query, 10, ef, &|_| true),
                f.graph.search(&f.vectors, DIM, query, 10, ef, &|_| true)
            );
        }
    }
    // Writing the loaded graph gives the same bytes.
    let again = dir.path().join("again.bin");
    loaded.write(&again).unwrap();
    assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
}

#[test]
fn healing_links_every_orphan_without_making_new_ones() {
    // m0 = 2. Node 3 has no incoming link; node 0 (the entry) has a free slot, node 1 is
    // full of links to nodes that have other ways in.
    let m0 = 2;
    let levels = [0u8, 0, 0, 0];
    #[rustfmt::skip]
    let mut level0 = vec![
        1, 1, 0, // 0 -> 1
        2, 2, 0, // 1 -> 2, 0
        2, 1, 0, // 2 -> 1, 0
        1, 1, 0, // 3 -> 1
    ];
    heal_level0(&mut level0, m0, &levels, 0);
    let incoming = |node: u32| {
        (0..4)
            .filter(|&n| {
                let count = level0[n * 3] as usize;
                level0[n * 3 + 1..n * 3 + 1 + count].contains(&node)
            })
            .count()
    };
    assert_eq!(incoming(3), 1, "{level0:?}");
    for node in 1..4 {
        assert!(
            incoming(node) >= 1,
            "node {node} lost its way in: {level0:?}"
        );
    }
}

#[test]
fn empty_and_single_node_graphs_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HNSW_FILE);
    let params = HnswParams::default();
    // No offsets at all, and offsets of which none was inserted.
    let vectors = Rng(3).points(3, DIM, Distance::Dot);
    for len in [0, 3] {
        let graph = HnswBuilder::new(DIM, len, Distance::Dot, params, 1).finish();
        assert_eq!(
            (graph.len(), graph.inserted(), graph.is_empty()),
            (len, 0, len == 0)
        );
        assert!(graph
            .search(&vectors, DIM, &vectors[..DIM], 5, 10, &|_| true)
            .is_empty());
        graph.write(&path).unwrap();
        let loaded = HnswGraph::load(&path, len, Distance::Dot).unwrap();
        assert_eq!(loaded.inserted(), 0);
        assert!(loaded
            .search(&vectors, DIM, &vectors[..DIM], 5, 10, &|_| true)
            .is_empty());
    }
    // One node.
    let builder = HnswBuilder::new(DIM, 3, Distance::Dot, params, 1);
    builder.insert(&vectors, 1);
    builder.insert(&vectors, 1);
    let graph = builder.finish();
    assert_eq!(graph.inserted(), 1);
    let query = &vectors[..DIM];
    let want = graph_distance(Distance::Dot)(query, &vectors[DIM..2 * DIM]);
    for g in [&graph, &{
        graph.write(&path).unwrap();
        HnswGraph::load(&path, 3, Distance::Dot).unwrap()
    }] {
        assert_eq!(
            g.search(&vectors, DIM, query, 5, 10, &|_| true),
            vec![(want, 1)]
        );
        assert!(g
            .search(&vectors, DIM, query, 5, 10, &|o| o != 1)
            .is_empty());
        assert!(g.search(&vectors, DIM, query, 0, 10, &|_| true).is_empty());
        let huge = g.search(&vectors, DIM, query, usize::MAX, usize::MAX, &|_| true);
        assert_eq!(huge, vec![(want, 1)]);
    }
}

#[test]
fn builder_and_graph_are_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<HnswBuilder>();
    send_sync::<HnswGraph>();
}

#[test]
fn levels_are_deterministic_and_thin_out_by_m() {
    let mult = 1.0 / 16f64.ln();
    let levels: Vec<u8> = (0..100_000).map(|o| sample_level(11, o, mult)).collect();
    let again: Vec<u8> = (0..100_000).map(|o| sample_level(11, o, mult)).collect();
    assert_eq!(levels, again);
    let upper = levels.iter().filter(|&&l| l >= 1).count();
    // P(level >= 1) = 1/m = 6.25 %.
    assert!(
        (5_500..7_000).contains(&upper),
        "{upper} of 100000 above level 0"
    );
    assert!(levels.iter().all(|&l| l <= MAX_LEVEL));
}

#[test]
fn a_search_inside_the_filter_does_not_disturb_the_outer_one() {
    let f = fixture();
    let query = &f.queries[..DIM];
    let plain = f.graph.search(&f.vectors, DIM, query, 10, 64, &|_| true);
    let nested = f.graph.search(&f.vectors, DIM, query, 10, 64, &|o| {
        // A filter that itself searches (odd, but must not panic or corrupt state).
        let _ = f
            .graph
            .search(&f.vectors, DIM, &f.queries[DIM..2 * DIM], 1, 8, &|_| true);
        o < u32::MAX
    });
    assert_eq!(plain, nested);
}

#[test]
fn mismatched_vectors_give_no_results_in_release() {
    let f = fixture();
    if cfg!(debug_assertions) {
        return; // a debug assertion flags the caller bug instead
    }
    assert!(f
        .graph
        .search(&f.vectors, DIM, &[0.0; 3], 10, 64, &|_| true)
        .is_empty());
    assert!(f
        .graph
        .search(&f.vectors[..10], DIM, &f.queries[..DIM], 10, 64, &|_| true)
        .is_empty());
}

#[test]
fn a_stopped_search_returns_what_it_has_without_walking_on() {
    let f = fixture();
    let query = &f.queries[..DIM];
    let dist = graph_distance(Distance::Euclid);
    let true_dist = |id: u32| dist(query, &f.vectors[id as usize * DIM..][..DIM]);
    let (k, ef) = (10, 64);
    // How many nodes a walk reaches: `accept` is asked about each one that enters the beam.
    let asked = std::cell::Cell::new(0usize);
    let counting = |_: u32| {
        asked.set(asked.get() + 1);
        true
    };
    let full = f
        .graph
        .search_until(&f.vectors, DIM, query, k, ef, &counting, &|| false);
    let walked = asked.replace(0);
    assert_eq!(
        full,
        f.graph.search(&f.vectors, DIM, query, k, ef, &|_| true)
    );
    assert!(walked > ef, "an unstopped walk reached only {walked} nodes");

    // Stopped before it starts: the entry point alone, with its true distance, and no other
    // node reached.
    let stopped = f
        .graph
        .search_until(&f.vectors, DIM, query, k, ef, &counting, &|| true);
    assert_eq!(asked.replace(0), 1);
    assert_eq!(stopped, vec![(true_dist(f.graph.entry), f.graph.entry)]);

    // Stopped mid-walk (at its second check of level 0, after the descent's one check per
    // upper level): fewer nodes reached, and what it returns is still sound.
    let checks = std::cell::Cell::new(0usize);
    let upper_levels = usize::from(f.graph.max_level);
    let stop = || {
        checks.set(checks.get() + 1);
        checks.get() > upper_levels + 1
    };
    let partial = f
        .graph
        .search_until(&f.vectors, DIM, query, k, ef, &counting, &stop);
    let reached = asked.get();
    assert_eq!(
        checks.get(),
        upper_levels + 2,
        "stop asked too often or too rarely"
    );
    assert!(
        reached > 1 && reached < walked,
        "{reached} of {walked} nodes reached"
    );
    assert!(!partial.is_empty() && partial.len() <= k);
    for pair in partial.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "results out of order");
    }
    for &(d, id) in &partial {
        assert_eq!(d, true_dist(id));
    }
}
