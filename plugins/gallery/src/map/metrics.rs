//! How good a map is: KL divergence, kNN preservation, kNN label accuracy.

#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::*;

/// Exact KL(P‖Q) of an embedding for sparse joint affinities P (O(n²); for tests and benchmarks).
pub fn kl_divergence(p: &Affinities, y: &Matrix) -> f64 {
    let n = y.rows;
    let z: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let yi = y.row(i);
            (0..n).filter(|&j| j != i).map(|j| 1.0 / (1.0 + sq_dist(yi, y.row(j)) as f64)).sum::<f64>()
        })
        .sum();
    let mut kl = 0.0;
    for i in 0..n {
        for k in p.indptr[i]..p.indptr[i + 1] {
            let pij = p.values[k] as f64;
            if pij > 0.0 {
                let j = p.indices[k] as usize;
                let q = 1.0 / (1.0 + sq_dist(y.row(i), y.row(j)) as f64) / z;
                kl += pij * (pij / q.max(1e-300)).ln();
            }
        }
    }
    kl
}

/// Fraction of each point's k nearest neighbours (input space) that are also among its k nearest
/// neighbours in the embedding.
pub fn knn_preservation(x: &Matrix, y: &Matrix, k: usize) -> f64 {
    let a = knn(x, x, k, true);
    let b = knn(y, y, k, true);
    let hits: usize =
        a.iter().zip(&b).map(|(ra, rb)| ra.iter().filter(|(j, _)| rb.iter().any(|(l, _)| l == j)).count()).sum();
    hits as f64 / (x.rows * k.min(x.rows.saturating_sub(1)).max(1)) as f64
}

/// Leave-one-out k-NN label accuracy in the embedding (majority vote).
pub fn knn_label_accuracy(y: &Matrix, labels: &[u32], k: usize) -> f64 {
    let nn = knn(y, y, k, true);
    let correct = nn
        .iter()
        .enumerate()
        .filter(|(i, row)| {
            let mut votes = std::collections::HashMap::new();
            for (j, _) in row.iter() {
                *votes.entry(labels[*j as usize]).or_insert(0usize) += 1;
            }
            let best = votes.iter().max_by_key(|(l, c)| (**c, std::cmp::Reverse(**l))).map(|(l, _)| *l);
            best == Some(labels[*i])
        })
        .count();
    correct as f64 / y.rows.max(1) as f64
}
