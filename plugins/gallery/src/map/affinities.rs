//! Input affinities: exact k nearest neighbours, per-point perplexity calibration, symmetrised joint affinities.

#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::*;

#[inline]
pub(crate) fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        s += d * d;
    }
    s
}

/// Exact k nearest neighbours of each row of `query` among the rows of `reference` (squared
/// Euclidean distances, ascending). With `exclude_self`, row i of the query is row i of the
/// reference and is skipped.
pub fn knn(query: &Matrix, reference: &Matrix, k: usize, exclude_self: bool) -> Vec<Vec<(u32, f32)>> {
    let k = k.min(reference.rows.saturating_sub(usize::from(exclude_self)));
    (0..query.rows)
        .into_par_iter()
        .map(|i| {
            let q = query.row(i);
            let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
            let mut worst = f32::INFINITY;
            for j in 0..reference.rows {
                if exclude_self && i == j {
                    continue;
                }
                let d = sq_dist(q, reference.row(j));
                if best.len() < k {
                    best.push((j as u32, d));
                    if best.len() == k {
                        best.sort_by(|a, b| a.1.total_cmp(&b.1));
                        worst = best[k - 1].1;
                    }
                } else if d < worst {
                    let pos = best.partition_point(|e| e.1 <= d);
                    best.insert(pos, (j as u32, d));
                    best.pop();
                    worst = best[k - 1].1;
                }
            }
            if best.len() < k || k == 0 {
                best.sort_by(|a, b| a.1.total_cmp(&b.1));
            }
            best
        })
        .collect()
}

/// Conditional affinities p_{j|i} for each row: a Gaussian over the neighbours' distances whose
/// precision is found by binary search so that the entropy equals ln(perplexity).
pub fn conditional_affinities(neighbours: &[Vec<(u32, f32)>], perplexity: f32) -> Vec<Vec<(u32, f32)>> {
    let target = (perplexity.max(1.0) as f64).ln();
    neighbours
        .par_iter()
        .map(|row| {
            if row.is_empty() {
                return Vec::new();
            }
            let d0 = row[0].1 as f64;
            let mut beta = 1.0f64;
            let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
            let mut w = vec![0.0f64; row.len()];
            for _ in 0..200 {
                let mut sum = 0.0;
                let mut wsum_d = 0.0;
                for (k, &(_, d)) in row.iter().enumerate() {
                    // Shift by the nearest distance for numerical stability.
                    let v = (-(d as f64 - d0) * beta).exp();
                    w[k] = v;
                    sum += v;
                    wsum_d += v * (d as f64 - d0);
                }
                let h = sum.ln() + beta * wsum_d / sum;
                if (h - target).abs() < 1e-5 {
                    break;
                }
                if h > target {
                    lo = beta;
                    beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            let sum: f64 = w.iter().sum();
            row.iter().zip(&w).map(|(&(j, _), &v)| (j, (v / sum) as f32)).collect()
        })
        .collect()
}

/// Symmetrised joint affinities P = (P_cond + P_condᵀ) / 2n as CSR.
pub fn joint_affinities(cond: &[Vec<(u32, f32)>]) -> Affinities {
    let n = cond.len();
    let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    for (i, row) in cond.iter().enumerate() {
        for &(j, p) in row {
            rows[i].push((j, p));
            rows[j as usize].push((i as u32, p));
        }
    }
    let norm = 1.0 / (2.0 * n as f32);
    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::new();
    let mut values = Vec::new();
    indptr.push(0);
    for mut row in rows {
        row.sort_by_key(|e| e.0);
        let mut k = 0;
        while k < row.len() {
            let j = row[k].0;
            let mut p = 0.0;
            while k < row.len() && row[k].0 == j {
                p += row[k].1;
                k += 1;
            }
            indices.push(j);
            values.push(p * norm);
        }
        indptr.push(indices.len());
    }
    Affinities { indptr, indices, values }
}
