//! The references the tests hold rro to, written from the documented semantics and never
//! with rro's own code: brute-force scores and rankings, and the query `recommend` builds.
//! Filter references stay beside their tests, as the predicate each case states in plain
//! Rust (a payload-by-payload reading of the filter).

use rro::models::Distance;

/// The dot product in f32, summed in order.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Normalise as rro does for Cosine: f32 sum of squares in order; a zero (or non-finite)
/// norm leaves the vector as it is.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A normalised copy of `v` (see [`normalize`]).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let mut v = v.to_vec();
    normalize(&mut v);
    v
}

/// A vector as rro stores it, or prepares a query, for `distance` (Cosine normalises).
pub fn prepared(distance: Distance, v: &[f32]) -> Vec<f32> {
    if distance == Distance::Cosine {
        normalized(v)
    } else {
        v.to_vec()
    }
}

/// The score of stored vector `v` for prepared query `q`, in f64: the dot product for Dot and
/// Cosine, the distance for Euclid and Manhattan.
pub fn score(distance: Distance, q: &[f32], v: &[f32]) -> f64 {
    let pairs = q.iter().zip(v).map(|(a, b)| (f64::from(*a), f64::from(*b)));
    match distance {
        Distance::Dot | Distance::Cosine => pairs.map(|(a, b)| a * b).sum(),
        Distance::Euclid => pairs.map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt(),
        Distance::Manhattan => pairs.map(|(a, b)| (a - b).abs()).sum(),
    }
}

/// Whether a larger score is better for `distance`.
pub fn larger_is_better(distance: Distance) -> bool {
    matches!(distance, Distance::Dot | Distance::Cosine)
}

/// `scored` best first for `distance`, ties by id (as rro breaks them).
pub fn rank<K: Ord>(mut scored: Vec<(K, f64)>, distance: Distance) -> Vec<(K, f64)> {
    scored.sort_by(|a, b| {
        let by_score = if larger_is_better(distance) {
            b.1.total_cmp(&a.1)
        } else {
            a.1.total_cmp(&b.1)
        };
        by_score.then(a.0.cmp(&b.0))
    });
    scored
}

/// Qdrant's `average_vector` recommend query as rro documents it: the averages of the
/// examples summed in f64, then `avg(positive) + (avg(positive) - avg(negative))` in f32
/// (just the positive average without negatives).
pub fn recommend_query(positive: &[&[f32]], negative: &[&[f32]]) -> Vec<f32> {
    let average = |examples: &[&[f32]]| -> Vec<f32> {
        let mut sum = vec![0f64; examples.first().map_or(0, |v| v.len())];
        for v in examples {
            for (s, x) in sum.iter_mut().zip(v.iter()) {
                *s += f64::from(*x);
            }
        }
        sum.into_iter()
            .map(|s| (s / examples.len() as f64) as f32)
            .collect()
    };
    let p = average(positive);
    if negative.is_empty() {
        return p;
    }
    let n = average(negative);
    p.iter().zip(&n).map(|(p, n)| p + (p - n)).collect()
}
