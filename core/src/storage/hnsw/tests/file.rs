//! Damaged `hnsw.bin` files, of full and subset graphs, are refused.

use super::*;

#[test]
fn every_truncation_and_flipped_byte_is_rejected() {
    let (_dir, path, good) = small_file();
    assert!(HnswGraph::load(&path, 40, Distance::Euclid).is_ok());
    for len in 0..good.len() {
        fs::write(&path, &good[..len]).unwrap();
        assert_corrupted(
            HnswGraph::load(&path, 40, Distance::Euclid),
            &format!("truncated to {len}"),
        );
    }
    for at in 0..good.len() {
        for bit in [0x01, 0x80] {
            let mut bad = good.clone();
            bad[at] ^= bit;
            fs::write(&path, &bad).unwrap();
            assert_corrupted(
                HnswGraph::load(&path, 40, Distance::Euclid),
                &format!("byte {at} ^ {bit:#x}"),
            );
        }
    }
}

#[test]
fn wrong_len_or_distance_is_rejected() {
    let (_dir, path, _) = small_file();
    for len in [0, 39, 41, 1_000_000] {
        assert_corrupted(
            HnswGraph::load(&path, len, Distance::Euclid),
            &format!("len {len}"),
        );
    }
    assert_corrupted(HnswGraph::load(&path, 40, Distance::Dot), "distance");
    let missing = path.with_file_name("missing.bin");
    assert!(matches!(
        HnswGraph::load(&missing, 40, Distance::Euclid),
        Err(StorageError::Io { .. })
    ));
}

/// Damage that passes the checksum (a file written by a buggy or hostile writer): every
/// invariant is checked on its own.
#[test]
fn inconsistent_content_with_a_valid_checksum_is_rejected() {
    let (_dir, path, good) = small_file();
    let data = good[HEADER_LEN..].to_vec();
    let m = 2;
    let m0 = 4;
    let levels_end = PARAMS_LEN + 40;
    let level0 = levels_end.next_multiple_of(4);
    let word_at = |data: &[u8], at: usize| {
        u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
    };
    let set = |data: &mut Vec<u8>, at: usize, value: u32| {
        data[at..at + 4].copy_from_slice(&value.to_le_bytes());
    };
    // The level-0 row of a node with at least one link.
    let node = (0..40)
        .find(|&n| word_at(&data, level0 + n * (1 + m0) * 4) > 0)
        .unwrap();
    let row = level0 + node * (1 + m0) * 4;
    let entry = word_at(&data, 12) as usize;
    let top = data[PARAMS_LEN + entry];
    let leaf = (0..40).find(|&n| data[PARAMS_LEN + n] == 0).unwrap();

    let mut cases: Vec<(&str, Vec<u8>, u32)> = Vec::new();
    let mut case = |name: &'static str, edit: &dyn Fn(&mut Vec<u8>), aux: u32| {
        let mut d = data.clone();
        edit(&mut d);
        cases.push((name, d, aux));
    };
    case("link out of range", &|d| set(d, row + 4, 40), m);
    case("link to itself", &|d| set(d, row + 4, node as u32), m);
    case("too many links", &|d| set(d, row, m0 as u32 + 1), m);
    let partial = (0..40)
        .find(|&n| (word_at(&data, level0 + n * (1 + m0) * 4) as usize) < m0)
        .unwrap();
    let partial_row = level0 + partial * (1 + m0) * 4;
    case(
        "unused slot not zero",
        &|d| set(d, partial_row + 4 * m0, 1),
        m,
    );
    case("m differs from the header", &|d| set(d, 0, 3), m);
    case("m too small", &|d| set(d, 0, 1), 1);
    case("unknown distance", &|d| set(d, 8, 9), m);
    case("entry out of range", &|d| set(d, 12, 40), m);
    case(
        "entry not on the top level",
        &|d| set(d, 12, leaf as u32),
        m,
    );
    case("max level wrong", &|d| set(d, 16, u32::from(top) + 1), m);
    case("inserted count wrong", &|d| set(d, 24, 39), m);
    case(
        "level too high",
        &|d| d[PARAMS_LEN + leaf] = MAX_LEVEL + 1,
        m,
    );
    case(
        "node removed but linked",
        &|d| {
            // Take a linked-to leaf out of the graph, keeping the count consistent.
            let target = word_at(d, row + 4) as usize;
            d[PARAMS_LEN + target] = NOT_INSERTED;
            set(d, 24, 39);
            let at = level0 + target * (1 + m0) * 4;
            d[at..at + (1 + m0) * 4].fill(0);
        },
        m,
    );
    case("trailing byte", &|d| d.push(0), m);
    case("missing byte", &|d| d.truncate(d.len() - 1), m);
    for (name, data, aux) in cases {
        checked::write(&path, MAGIC, VERSION, aux, 40, &[&data]).unwrap();
        assert_corrupted(HnswGraph::load(&path, 40, Distance::Euclid), name);
    }
    // And the untouched data loads.
    checked::write(&path, MAGIC, VERSION, m, 40, &[&data]).unwrap();
    assert!(HnswGraph::load(&path, 40, Distance::Euclid).is_ok());
}

#[test]
fn every_truncation_and_flipped_byte_of_a_subset_file_is_rejected() {
    let (_dir, path, good) = small_subset_file();
    assert!(HnswGraph::load(&path, 60, Distance::Euclid).is_ok());
    for len in 0..good.len() {
        fs::write(&path, &good[..len]).unwrap();
        assert_corrupted(
            HnswGraph::load(&path, 60, Distance::Euclid),
            &format!("truncated to {len}"),
        );
    }
    for at in 0..good.len() {
        for bit in [0x01, 0x80] {
            let mut bad = good.clone();
            bad[at] ^= bit;
            fs::write(&path, &bad).unwrap();
            assert_corrupted(
                HnswGraph::load(&path, 60, Distance::Euclid),
                &format!("byte {at} ^ {bit:#x}"),
            );
        }
    }
}

/// Subset files with a valid checksum but a bad map, flags or count.
#[test]
fn a_bad_offset_map_is_rejected() {
    let (_dir, path, good) = small_subset_file();
    let data = good[HEADER_LEN..].to_vec();
    let (m, n) = (2, 20);
    let map = |node: usize| PARAMS_LEN + 4 * node;
    let set = |data: &mut Vec<u8>, at: usize, value: u32| {
        data[at..at + 4].copy_from_slice(&value.to_le_bytes());
    };
    let mut cases: Vec<(&str, Vec<u8>, u64)> = Vec::new();
    let mut case = |name: &'static str, edit: &dyn Fn(&mut Vec<u8>), count: u64| {
        let mut d = data.clone();
        edit(&mut d);
        cases.push((name, d, count));
    };
    case(
        "offset = segment length",
        &|d| set(d, map(n - 1), 60),
        n as u64,
    );
    case(
        "offset u32::MAX",
        &|d| set(d, map(n - 1), u32::MAX),
        n as u64,
    );
    case("repeated offset", &|d| set(d, map(1), 0), n as u64);
    case(
        "decreasing offsets",
        &|d| {
            set(d, map(0), 3);
            set(d, map(1), 0);
        },
        n as u64,
    );
    case("unknown flag", &|d| set(d, 20, 2), n as u64);
    case("flags of a full graph", &|d| set(d, 20, 0), n as u64);
    case("count of a full segment", &|_| {}, 60);
    case("count beyond the segment", &|_| {}, 61);
    case("one node too many", &|_| {}, n as u64 + 1);
    case("one node too few", &|_| {}, n as u64 - 1);
    case("map cut short", &|d| d.truncate(map(n / 2)), n as u64);
    for (name, data, count) in cases {
        checked::write(&path, MAGIC, VERSION, m, count, &[&data]).unwrap();
        assert_corrupted(HnswGraph::load(&path, 60, Distance::Euclid), name);
    }
    // The untouched data loads; a segment that ends at the last offset does not.
    checked::write(&path, MAGIC, VERSION, m, n as u64, &[&data]).unwrap();
    let loaded = HnswGraph::load(&path, 58, Distance::Euclid).unwrap();
    assert_eq!(loaded.offsets().map(<[u32]>::len), Some(n));
    assert_corrupted(
        HnswGraph::load(&path, 57, Distance::Euclid),
        "short segment",
    );
    // A full graph's file flagged as a subset.
    let (_dir, full_path, full) = small_file();
    let mut flagged = full[HEADER_LEN..].to_vec();
    set(&mut flagged, 20, FLAG_SUBSET);
    checked::write(&full_path, MAGIC, VERSION, m, 40, &[&flagged]).unwrap();
    assert_corrupted(
        HnswGraph::load(&full_path, 40, Distance::Euclid),
        "full graph flagged as a subset",
    );
}
