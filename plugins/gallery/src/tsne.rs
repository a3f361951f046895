//! t-SNE (van der Maaten 2014, Barnes-Hut) in 2 or 3 dimensions, multi-threaded with rayon.
//!
//! - sparse input affinities from exact k nearest neighbours (k = 3·perplexity) with per-point
//!   perplexity calibration (binary search on the Gaussian precision), symmetrised;
//! - PCA initialisation scaled to a standard deviation of 1e-4 (as openTSNE);
//! - early exaggeration (12 for 250 iterations, momentum 0.5), then 500 iterations at momentum 0.8,
//!   learning rate n / exaggeration (n/12, then n: Belkina et al. 2019), delta-bar-delta gains;
//! - repulsion by a Barnes-Hut 2^D-tree (θ = 0.5), attraction over the sparse affinities;
//! - [`transform`]: new points join an existing map without moving it (each new point minimises the
//!   KL divergence of its own conditional neighbourhood against the fixed reference points, started
//!   at the affinity-weighted mean of its neighbours, as openTSNE's `transform`).

#![allow(clippy::needless_range_loop)] // fixed-size coordinate loops over parallel arrays

use rayon::prelude::*;

/// Parameters of a t-SNE run.
#[derive(Clone, Debug)]
pub struct TsneConfig {
    pub dims: usize,
    pub perplexity: f32,
    pub early_exaggeration: f32,
    pub early_iters: usize,
    pub iters: usize,
    /// `None`: n / exaggeration of the phase (at least 50): n/12 while exaggerated, then n.
    pub learning_rate: Option<f32>,
    pub theta: f32,
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            dims: 3,
            perplexity: 30.0,
            early_exaggeration: 12.0,
            early_iters: 250,
            iters: 500,
            learning_rate: None,
            theta: 0.5,
            seed: 42,
        }
    }
}

/// A dense row-major matrix of f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(rows * cols, data.len(), "matrix data length");
        Self { rows, cols, data }
    }
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Sparse rows (CSR) of affinities.
#[derive(Clone, Debug)]
pub struct Affinities {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

#[inline]
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
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

/// Principal components: mean, and the top `k` directions (rows of `components`, unit length) with
/// their variances, by power iteration with deflation on the covariance matrix.
#[derive(Clone, Debug)]
pub struct Pca {
    pub mean: Vec<f32>,
    pub components: Matrix,
    pub variances: Vec<f32>,
}

impl Pca {
    pub fn fit(x: &Matrix, k: usize) -> Pca {
        let (n, d) = (x.rows, x.cols);
        let k = k.min(d).min(n.max(1));
        let mut mean = vec![0.0f64; d];
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(x.row(i)) {
                *m += *v as f64;
            }
        }
        for m in &mut mean {
            *m /= n.max(1) as f64;
        }
        // Covariance (d×d), accumulated in parallel over row chunks.
        let chunk = n.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
        let cov = (0..n)
            .collect::<Vec<_>>()
            .par_chunks(chunk)
            .map(|rows| {
                let mut c = vec![0.0f64; d * d];
                let mut r = vec![0.0f64; d];
                for &i in rows {
                    for (t, (v, m)) in r.iter_mut().zip(x.row(i).iter().zip(&mean)) {
                        *t = *v as f64 - m;
                    }
                    for a in 0..d {
                        let ra = r[a];
                        let ca = &mut c[a * d..(a + 1) * d];
                        for b in a..d {
                            ca[b] += ra * r[b];
                        }
                    }
                }
                c
            })
            .reduce(
                || vec![0.0f64; d * d],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(&b) {
                        *x += y;
                    }
                    a
                },
            );
        let mut cov = cov;
        let denom = (n.max(2) - 1) as f64;
        for a in 0..d {
            for b in a..d {
                let v = cov[a * d + b] / denom;
                cov[a * d + b] = v;
                cov[b * d + a] = v;
            }
        }
        let (vals, vecs, cols) = top_eigen(&cov, d, k);
        let mut components = Matrix::zeros(k, d);
        let mut variances = Vec::with_capacity(k);
        for c in 0..k {
            variances.push(vals[c].max(0.0) as f32);
            for a in 0..d {
                components.data[c * d + a] = vecs[a * cols + c] as f32;
            }
            // Deterministic sign: largest-magnitude coordinate positive.
            let row = &mut components.data[c * d..(c + 1) * d];
            let big = row.iter().cloned().fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m });
            if big < 0.0 {
                row.iter_mut().for_each(|v| *v = -*v);
            }
        }
        Pca { mean: mean.iter().map(|&m| m as f32).collect(), components, variances }
    }

    pub fn transform(&self, x: &Matrix) -> Matrix {
        let k = self.components.rows;
        let d = self.mean.len();
        let data: Vec<f32> = (0..x.rows)
            .into_par_iter()
            .flat_map_iter(|i| {
                let r: Vec<f32> = x.row(i).iter().zip(&self.mean).map(|(v, m)| v - m).collect();
                (0..k).map(move |c| {
                    let comp = &self.components.data[c * d..(c + 1) * d];
                    comp.iter().zip(&r).map(|(a, b)| a * b).sum::<f32>()
                })
            })
            .collect();
        Matrix::new(x.rows, k, data)
    }

    pub fn inverse_transform(&self, z: &Matrix) -> Matrix {
        let k = self.components.rows;
        let d = self.mean.len();
        let mut out = Matrix::zeros(z.rows, d);
        for i in 0..z.rows {
            let o = &mut out.data[i * d..(i + 1) * d];
            o.copy_from_slice(&self.mean);
            for c in 0..k {
                let w = z.data[i * k + c];
                for (ov, cv) in o.iter_mut().zip(&self.components.data[c * d..(c + 1) * d]) {
                    *ov += w * cv;
                }
            }
        }
        out
    }
}

/// The top `k` eigenpairs of a symmetric d×d matrix: (values, vectors as columns of a d×cols
/// row-major matrix, cols). Small matrices: full Jacobi. Large ones: block subspace iteration with
/// k + 10 vectors, then Rayleigh-Ritz (Jacobi on the small projected matrix).
pub fn top_eigen(a: &[f64], d: usize, k: usize) -> (Vec<f64>, Vec<f64>, usize) {
    if d <= 96 {
        let (vals, vecs) = symmetric_eigen(a, d);
        return (vals, vecs, d);
    }
    let p = (k + 10).min(d);
    // Deterministic pseudo-random start.
    let mut rng = {
        use rand::SeedableRng;
        rand::rngs::StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15)
    };
    let mut q: Vec<f64> = (0..d * p).map(|_| rand::RngExt::random::<f64>(&mut rng) - 0.5).collect();
    let matmul = |q: &[f64]| -> Vec<f64> {
        // (d×d)·(d×p), rows in parallel.
        let mut out = vec![0.0; d * p];
        out.par_chunks_mut(p).enumerate().for_each(|(r, o)| {
            let ar = &a[r * d..(r + 1) * d];
            for (t, &av) in ar.iter().enumerate() {
                if av != 0.0 {
                    let qr = &q[t * p..(t + 1) * p];
                    for (ov, qv) in o.iter_mut().zip(qr) {
                        *ov += av * qv;
                    }
                }
            }
        });
        out
    };
    let orthonormalise = |q: &mut [f64]| {
        for c in 0..p {
            for prev in 0..c {
                let dot: f64 = (0..d).map(|r| q[r * p + c] * q[r * p + prev]).sum();
                for r in 0..d {
                    q[r * p + c] -= dot * q[r * p + prev];
                }
            }
            let norm = (0..d).map(|r| q[r * p + c].powi(2)).sum::<f64>().sqrt().max(1e-300);
            for r in 0..d {
                q[r * p + c] /= norm;
            }
        }
    };
    orthonormalise(&mut q);
    for _ in 0..40 {
        q = matmul(&q);
        orthonormalise(&mut q);
    }
    let aq = matmul(&q);
    let mut b = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            b[i * p + j] = (0..d).map(|r| q[r * p + i] * aq[r * p + j]).sum();
        }
    }
    for i in 0..p {
        for j in i + 1..p {
            let m = 0.5 * (b[i * p + j] + b[j * p + i]);
            b[i * p + j] = m;
            b[j * p + i] = m;
        }
    }
    let (vals, v) = symmetric_eigen(&b, p);
    let mut vecs = vec![0.0; d * p];
    for r in 0..d {
        for c in 0..p {
            vecs[r * p + c] = (0..p).map(|t| q[r * p + t] * v[t * p + c]).sum();
        }
    }
    (vals, vecs, p)
}

/// Eigen-decomposition of a symmetric d×d matrix (cyclic Jacobi). Returns eigenvalues in descending
/// order and the eigenvectors as columns of a row-major d×d matrix.
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let mut off = 0.0;
        for p in 0..d {
            for q in p + 1..d {
                off += m[p * d + q] * m[p * d + q];
            }
        }
        let scale: f64 = (0..d).map(|i| m[i * d + i] * m[i * d + i]).sum::<f64>().max(1e-300);
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let app = m[p * d + p];
                let aqq = m[q * d + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let mkp = m[k * d + p];
                    let mkq = m[k * d + q];
                    m[k * d + p] = c * mkp - s * mkq;
                    m[k * d + q] = s * mkp + c * mkq;
                }
                for k in 0..d {
                    let mpk = m[p * d + k];
                    let mqk = m[q * d + k];
                    m[p * d + k] = c * mpk - s * mqk;
                    m[q * d + k] = s * mpk + c * mqk;
                }
                for k in 0..d {
                    let vkp = v[k * d + p];
                    let vkq = v[k * d + q];
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| m[b * d + b].total_cmp(&m[a * d + a]));
    let vals = order.iter().map(|&i| m[i * d + i]).collect();
    let mut vecs = vec![0.0; d * d];
    for (newc, &oldc) in order.iter().enumerate() {
        for r in 0..d {
            vecs[r * d + newc] = v[r * d + oldc];
        }
    }
    (vals, vecs)
}

/// `a − b` and its squared length.
#[inline]
fn diff_sq<const D: usize>(a: &[f32; D], b: &[f32; D]) -> ([f32; D], f32) {
    let mut d = [0.0f32; D];
    let mut d2 = 0.0;
    for k in 0..D {
        d[k] = a[k] - b[k];
        d2 += d[k] * d[k];
    }
    (d, d2)
}

/// One delta-bar-delta step of a coordinate: adapts its gain by whether the gradient keeps the
/// direction of the last update, then moves with momentum. Returns the new update.
#[inline]
fn gain_step(g: f32, update: &mut f32, gain: &mut f32, momentum: f32, lr: f32) -> f32 {
    let same_sign = (g > 0.0) == (*update > 0.0);
    *gain = if same_sign { (*gain * 0.8).max(0.01) } else { *gain + 0.2 };
    *update = momentum * *update - lr * *gain * g;
    *update
}

// ---------------------------------------------------------------------------------------------
// Barnes-Hut tree over D-dimensional points.

struct Node<const D: usize> {
    com: [f32; D],
    count: u32,
    /// Side length of the cell.
    width: f32,
    /// First child index (children are 2^D consecutive nodes), or 0 for a leaf.
    child: u32,
    /// Leaf: range in `order`.
    start: u32,
    end: u32,
}

struct Tree<const D: usize> {
    nodes: Vec<Node<D>>,
    order: Vec<u32>,
}

impl<const D: usize> Tree<D> {
    fn build(y: &[[f32; D]]) -> Self {
        let n = y.len();
        let mut lo = [f32::INFINITY; D];
        let mut hi = [f32::NEG_INFINITY; D];
        for p in y {
            for a in 0..D {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        let mut center = [0.0f32; D];
        let mut half = 1e-6f32;
        for a in 0..D {
            center[a] = (lo[a] + hi[a]) * 0.5;
            half = half.max((hi[a] - lo[a]) * 0.5);
        }
        half *= 1.0 + 1e-4;
        let mut tree = Tree { nodes: Vec::with_capacity(2 * n + 16), order: (0..n as u32).collect() };
        tree.nodes.push(Node { com: [0.0; D], count: 0, width: 2.0 * half, child: 0, start: 0, end: n as u32 });
        let mut scratch = vec![0u32; n];
        tree.split(0, y, center, half, 0, &mut scratch);
        tree
    }

    fn split(&mut self, node: usize, y: &[[f32; D]], center: [f32; D], half: f32, depth: u32, scratch: &mut [u32]) {
        let (start, end) = (self.nodes[node].start as usize, self.nodes[node].end as usize);
        let count = end - start;
        let mut com = [0.0f32; D];
        for &i in &self.order[start..end] {
            for a in 0..D {
                com[a] += y[i as usize][a];
            }
        }
        for c in &mut com {
            *c /= count.max(1) as f32;
        }
        self.nodes[node].com = com;
        self.nodes[node].count = count as u32;
        if count <= 1 || depth >= 40 || half < 1e-12 {
            return;
        }
        let nchild = 1usize << D;
        let octant = |p: &[f32; D]| -> usize {
            let mut o = 0;
            for a in 0..D {
                if p[a] >= center[a] {
                    o |= 1 << a;
                }
            }
            o
        };
        // Counting sort of the node's points into its children.
        let mut counts = vec![0usize; nchild + 1];
        for &i in &self.order[start..end] {
            counts[octant(&y[i as usize]) + 1] += 1;
        }
        for c in 0..nchild {
            counts[c + 1] += counts[c];
        }
        let bounds = counts.clone();
        for &i in &self.order[start..end] {
            let o = octant(&y[i as usize]);
            scratch[start + counts[o]] = i;
            counts[o] += 1;
        }
        self.order[start..end].copy_from_slice(&scratch[start..end]);
        let first = self.nodes.len();
        self.nodes[node].child = first as u32;
        for c in 0..nchild {
            self.nodes.push(Node {
                com: [0.0; D],
                count: 0,
                width: half,
                child: 0,
                start: (start + bounds[c]) as u32,
                end: (start + bounds[c + 1]) as u32,
            });
        }
        let h2 = half * 0.5;
        for c in 0..nchild {
            let mut cc = center;
            for a in 0..D {
                cc[a] += if c & (1 << a) != 0 { h2 } else { -h2 };
            }
            if self.nodes[first + c].end > self.nodes[first + c].start {
                self.split(first + c, y, cc, h2, depth + 1, scratch);
            }
        }
    }

    /// Repulsive force numerator Σ q²(y_i − y_j) and the normaliser part Σ q for the point `p`
    /// (whose own index `skip` is excluded).
    fn repulsion(&self, p: &[f32; D], skip: Option<u32>, theta2: f32, y: &[[f32; D]]) -> ([f32; D], f64) {
        let mut force = [0.0f32; D];
        let mut z = 0.0f64;
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        stack.push(0);
        while let Some(ni) = stack.pop() {
            let node = &self.nodes[ni as usize];
            if node.count == 0 {
                continue;
            }
            let (diff, d2) = diff_sq(p, &node.com);
            if node.child == 0 {
                // Leaf: exact over its points.
                for &j in &self.order[node.start as usize..node.end as usize] {
                    if Some(j) == skip {
                        continue;
                    }
                    let (dd, dist2) = diff_sq(p, &y[j as usize]);
                    let w = 1.0 / (1.0 + dist2);
                    z += w as f64;
                    let w2 = w * w;
                    for a in 0..D {
                        force[a] += w2 * dd[a];
                    }
                }
            } else if node.width * node.width < theta2 * d2 {
                let w = 1.0 / (1.0 + d2);
                let cnt = node.count as f32;
                z += (cnt * w) as f64;
                let w2 = cnt * w * w;
                for a in 0..D {
                    force[a] += w2 * diff[a];
                }
            } else {
                for c in 0..(1u32 << D) {
                    stack.push(node.child + c);
                }
            }
        }
        (force, z)
    }
}

/// Progress callback: (iterations done, total iterations).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Runs t-SNE on `x` (rows = points) and returns an n × dims embedding.
pub fn tsne(x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Matrix {
    let n = x.rows;
    if n == 0 {
        return Matrix::zeros(0, cfg.dims);
    }
    if n < 4 {
        // Too few points for neighbourhoods: spread them on a line.
        let mut y = Matrix::zeros(n, cfg.dims);
        for i in 0..n {
            y.data[i * cfg.dims] = i as f32;
        }
        return y;
    }
    if let Err(e) = check_dims(cfg.dims) {
        panic!("{e}");
    }
    let (p, init) = affinities_and_init(x, cfg);
    match cfg.dims {
        2 => optimise::<2>(&p, init, cfg, progress),
        3 => optimise::<3>(&p, init, cfg, progress),
        d => panic!("t-SNE supports 2 or 3 output dimensions, not {d}"),
    }
}

/// The input side of a run, shared by the CPU optimiser and its GPU twin: exact kNN
/// (k = 3·perplexity), perplexity-calibrated joint affinities P and the PCA initialisation.
/// Needs at least 4 points.
pub fn affinities_and_init(x: &Matrix, cfg: &TsneConfig) -> (Affinities, Matrix) {
    let n = x.rows;
    let k = ((3.0 * cfg.perplexity) as usize).clamp(1, n.saturating_sub(1).max(1));
    let perplexity = cfg.perplexity.min((n.saturating_sub(1)) as f32 / 3.0).max(1.0);
    let nn = knn(x, x, k, true);
    let p = joint_affinities(&conditional_affinities(&nn, perplexity));
    (p, initial_embedding(x, cfg))
}

/// Standard deviation of the seeded jitter on the start, relative to the PCA start's spread.
pub const INIT_JITTER: f32 = 0.1;

/// The start of a run: the PCA initialisation ([`pca_init`], first axis at standard deviation
/// 1e-4) plus Gaussian jitter of a tenth of that spread from `StdRng` seeded with `cfg.seed`. The
/// PCA start keeps the global structure; the jitter separates identical or collinear points and
/// makes the seed choose among nearby layouts: the same inputs and seed give the same map bit for
/// bit, another seed a different one.
pub fn initial_embedding(x: &Matrix, cfg: &TsneConfig) -> Matrix {
    use rand::{RngExt, SeedableRng};
    let mut y = pca_init(x, cfg.dims);
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let sd = 1e-4 * INIT_JITTER;
    for v in &mut y.data {
        // Box–Muller from two uniforms in (0, 1].
        let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
        *v += sd * ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32;
    }
    y
}

fn check_dims(dims: usize) -> Result<(), String> {
    if dims == 2 || dims == 3 { Ok(()) } else { Err(format!("t-SNE supports 2 or 3 output dimensions, not {dims}")) }
}

/// Another t-SNE optimiser the gallery build can use in place of [`tsne`] (the GPU twin in
/// `headroom-gpu`). It gets the same input and settings and returns an n × dims embedding.
pub trait TsneEngine: Send + Sync {
    fn name(&self) -> String;
    fn run(&self, x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Result<Matrix, String>;
}

impl std::fmt::Debug for dyn TsneEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TsneEngine({})", self.name())
    }
}

/// The exact t-SNE gradient (O(n²)): `4 Σ_j (exaggeration·p_ij − q_ij) q̃_ij (y_i − y_j)` with
/// `q̃ = 1 / (1 + |y_i − y_j|²)` and `q = q̃ / Σ q̃`. The reference for the GPU kernel and for
/// the Barnes–Hut approximation. Row-major n × dims.
pub fn exact_gradient(p: &Affinities, y: &Matrix, exaggeration: f32) -> Vec<f32> {
    let (n, d) = (y.rows, y.cols);
    let rows: Vec<(Vec<f64>, f64)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let yi = y.row(i);
            let mut f = vec![0.0f64; d];
            let mut z = 0.0f64;
            for j in 0..n {
                if j == i {
                    continue;
                }
                let yj = y.row(j);
                let d2: f64 = yi.iter().zip(yj).map(|(a, b)| f64::from(a - b).powi(2)).sum();
                let q = 1.0 / (1.0 + d2);
                z += q;
                for a in 0..d {
                    f[a] += q * q * f64::from(yi[a] - yj[a]);
                }
            }
            (f, z)
        })
        .collect();
    let z: f64 = rows.iter().map(|r| r.1).sum::<f64>().max(1e-300);
    let mut grad = vec![0.0f32; n * d];
    for i in 0..n {
        let yi = y.row(i);
        let mut attr = vec![0.0f64; d];
        for k in p.indptr[i]..p.indptr[i + 1] {
            let yj = y.row(p.indices[k] as usize);
            let d2: f64 = yi.iter().zip(yj).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            let w = f64::from(exaggeration) * f64::from(p.values[k]) / (1.0 + d2);
            for a in 0..d {
                attr[a] += w * f64::from(yi[a] - yj[a]);
            }
        }
        for a in 0..d {
            grad[i * d + a] = (4.0 * (attr[a] - rows[i].0[a] / z)) as f32;
        }
    }
    grad
}

/// The learning rate and momentum of iteration `it` (openTSNE's "auto" rate: n / exaggeration).
pub fn schedule(cfg: &TsneConfig, n: usize, it: usize) -> (f32, f32, f32) {
    let (exag, momentum) = if it < cfg.early_iters { (cfg.early_exaggeration, 0.5) } else { (1.0, 0.8) };
    let lr = cfg.learning_rate.unwrap_or((n as f32 / exag.max(1.0)).max(50.0));
    (exag, momentum, lr)
}

/// PCA initialisation scaled so the first coordinate has standard deviation 1e-4.
pub fn pca_init(x: &Matrix, dims: usize) -> Matrix {
    let pca = Pca::fit(x, dims);
    let mut y = pca.transform(x);
    if y.cols < dims {
        let mut padded = Matrix::zeros(y.rows, dims);
        for i in 0..y.rows {
            padded.data[i * dims..i * dims + y.cols].copy_from_slice(y.row(i));
        }
        y = padded;
    }
    let n = y.rows as f32;
    let mean0 = (0..y.rows).map(|i| y.data[i * dims]).sum::<f32>() / n;
    let var0 = (0..y.rows).map(|i| (y.data[i * dims] - mean0).powi(2)).sum::<f32>() / n;
    let s = if var0 > 0.0 { 1e-4 / var0.sqrt() } else { 1.0 };
    for v in &mut y.data {
        *v *= s;
    }
    y
}

fn to_points<const D: usize>(m: &Matrix) -> Vec<[f32; D]> {
    (0..m.rows)
        .map(|i| {
            let mut p = [0.0; D];
            p.copy_from_slice(m.row(i));
            p
        })
        .collect()
}

fn optimise<const D: usize>(p: &Affinities, init: Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Matrix {
    let n = init.rows;
    let mut y = to_points::<D>(&init);
    let mut update = vec![[0.0f32; D]; n];
    let mut gains = vec![[1.0f32; D]; n];
    let total = cfg.early_iters + cfg.iters;
    let theta2 = cfg.theta * cfg.theta;
    for it in 0..total {
        // Learning rate n / exaggeration (Belkina et al. 2019; openTSNE's "auto").
        let (exag, momentum, lr) = schedule(cfg, n, it);
        let tree = Tree::<D>::build(&y);
        let rep: Vec<([f32; D], f64)> =
            (0..n).into_par_iter().map(|i| tree.repulsion(&y[i], Some(i as u32), theta2, &y)).collect();
        let z: f64 = rep.iter().map(|r| r.1).sum::<f64>().max(1e-12);
        let inv_z = (1.0 / z) as f32;
        let grad: Vec<[f32; D]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut g = [0.0f32; D];
                let yi = &y[i];
                for k in p.indptr[i]..p.indptr[i + 1] {
                    let j = p.indices[k] as usize;
                    let (d, d2) = diff_sq(yi, &y[j]);
                    let w = exag * p.values[k] / (1.0 + d2);
                    for a in 0..D {
                        g[a] += w * d[a];
                    }
                }
                for a in 0..D {
                    g[a] = 4.0 * (g[a] - rep[i].0[a] * inv_z);
                }
                g
            })
            .collect();
        // Delta-bar-delta gains, momentum, step; then recentre.
        let mut mean = [0.0f64; D];
        for i in 0..n {
            for a in 0..D {
                y[i][a] += gain_step(grad[i][a], &mut update[i][a], &mut gains[i][a], momentum, lr);
                mean[a] += y[i][a] as f64;
            }
        }
        for a in 0..D {
            let m = (mean[a] / n as f64) as f32;
            for yi in &mut y {
                yi[a] -= m;
            }
        }
        if let Some(cb) = progress {
            cb(it + 1, total);
        }
    }
    Matrix::new(n, D, y.into_iter().flatten().collect())
}

/// Places new points into an existing embedding without moving it.
///
/// `reference` are the original points (same space as `new`), `embedding` their positions.
pub fn transform(reference: &Matrix, embedding: &Matrix, new: &Matrix, perplexity: f32, iters: usize) -> Matrix {
    match embedding.cols {
        2 => transform_d::<2>(reference, embedding, new, perplexity, iters),
        3 => transform_d::<3>(reference, embedding, new, perplexity, iters),
        d => panic!("t-SNE transform supports 2 or 3 dimensions, not {d}"),
    }
}

fn transform_d<const D: usize>(
    reference: &Matrix,
    embedding: &Matrix,
    new: &Matrix,
    perplexity: f32,
    iters: usize,
) -> Matrix {
    if new.rows == 0 || reference.rows == 0 {
        return Matrix::zeros(new.rows, D);
    }
    let k = ((3.0 * perplexity) as usize).clamp(1, reference.rows);
    let nn = knn(new, reference, k, false);
    let cond = conditional_affinities(&nn, perplexity.min(reference.rows as f32 / 3.0).max(1.0));
    let yref = to_points::<D>(embedding);
    let tree = Tree::<D>::build(&yref);
    let pts: Vec<[f32; D]> = cond
        .par_iter()
        .map(|row| {
            // Start at the affinity-weighted mean of the neighbours.
            let mut y = [0.0f32; D];
            for &(j, p) in row {
                for a in 0..D {
                    y[a] += p * yref[j as usize][a];
                }
            }
            let mut upd = [0.0f32; D];
            let mut gains = [1.0f32; D];
            for it in 0..iters {
                let (rep, z) = tree.repulsion(&y, None, 0.25, &yref);
                let inv_z = (1.0 / z.max(1e-12)) as f32;
                let mut g = [0.0f32; D];
                for &(j, pij) in row {
                    let (d, d2) = diff_sq(&y, &yref[j as usize]);
                    let w = pij / (1.0 + d2);
                    for a in 0..D {
                        g[a] += w * d[a];
                    }
                }
                for a in 0..D {
                    g[a] = 2.0 * (g[a] - rep[a] * inv_z);
                }
                let momentum = if it < iters / 3 { 0.5 } else { 0.8 };
                for a in 0..D {
                    y[a] += gain_step(g[a], &mut upd[a], &mut gains[a], momentum, 1.0);
                }
            }
            y
        })
        .collect();
    Matrix::new(new.rows, D, pts.into_iter().flatten().collect())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n_per: usize, centers: &[[f32; 5]], spread: f32) -> (Matrix, Vec<u32>) {
        let mut data = Vec::new();
        let mut labels = Vec::new();
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(12345);
        let mut rnd = || rng.random::<f32>() - 0.5;
        for (c, center) in centers.iter().enumerate() {
            for _ in 0..n_per {
                for v in center {
                    data.push(v + spread * rnd());
                }
                labels.push(c as u32);
            }
        }
        (Matrix::new(labels.len(), 5, data), labels)
    }

    #[test]
    fn eigen_recovers_diagonalisation() {
        let a = [4.0, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 1.0];
        let (vals, vecs) = symmetric_eigen(&a, 3);
        for c in 0..3 {
            // A v = λ v
            for r in 0..3 {
                let av: f64 = (0..3).map(|k| a[r * 3 + k] * vecs[k * 3 + c]).sum();
                assert!((av - vals[c] * vecs[r * 3 + c]).abs() < 1e-9);
            }
        }
        assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
    }

    #[test]
    fn subspace_iteration_finds_the_top_eigenpairs_of_a_large_matrix() {
        // Diagonal-dominant 200×200 matrix with known top eigenvalues after a rotation-free setup.
        let d = 200;
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            a[i * d + i] = if i < 5 { 100.0 - 10.0 * i as f64 } else { 1.0 / (1.0 + i as f64) };
        }
        let (vals, vecs, cols) = top_eigen(&a, d, 5);
        for c in 0..5 {
            assert!((vals[c] - (100.0 - 10.0 * c as f64)).abs() < 1e-6, "{:?}", &vals[..5]);
            assert!((vecs[c * cols + c].abs() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn pca_round_trip_is_exact_with_all_components_and_close_with_the_top_ones() {
        let (x, _) = blobs(40, &[[0.0, 0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 1.0, 0.0]], 1.0);
        let full = Pca::fit(&x, 5);
        let back = full.inverse_transform(&full.transform(&x));
        for (a, b) in x.data.iter().zip(&back.data) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        // The leading component captures the cluster separation.
        let one = Pca::fit(&x, 1);
        assert!(one.variances[0] > 10.0 * full.variances[1]);
        let z = one.transform(&x);
        assert!((z.data[0] - z.data[79]).abs() > 5.0);
    }

    #[test]
    fn perplexity_calibration_hits_the_target_entropy() {
        let (x, _) = blobs(50, &[[0.0; 5]], 3.0);
        let nn = knn(&x, &x, 30, true);
        for row in conditional_affinities(&nn, 10.0) {
            let h: f64 = row.iter().filter(|e| e.1 > 0.0).map(|e| -(e.1 as f64) * (e.1 as f64).ln()).sum();
            assert!((h.exp() - 10.0).abs() < 0.05, "perplexity {}", h.exp());
        }
    }

    #[test]
    fn knn_matches_brute_force_sorting() {
        let (x, _) = blobs(30, &[[0.0; 5], [1.0; 5]], 2.0);
        let nn = knn(&x, &x, 7, true);
        for i in 0..x.rows {
            let mut all: Vec<(u32, f32)> =
                (0..x.rows).filter(|&j| j != i).map(|j| (j as u32, sq_dist(x.row(i), x.row(j)))).collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1));
            let want: Vec<f32> = all[..7].iter().map(|e| e.1).collect();
            let got: Vec<f32> = nn[i].iter().map(|e| e.1).collect();
            assert_eq!(want, got);
        }
    }

    #[test]
    fn barnes_hut_repulsion_matches_exact_sum() {
        let (x, _) = blobs(60, &[[0.0; 5], [3.0; 5]], 2.0);
        let y = to_points::<3>(&Pca::fit(&x, 3).transform(&x));
        let tree = Tree::<3>::build(&y);
        for i in [0usize, 17, 99] {
            let (f_exact, z_exact) = tree.repulsion(&y[i], Some(i as u32), 0.0, &y);
            let mut f = [0.0f32; 3];
            let mut z = 0.0f64;
            for j in 0..y.len() {
                if j != i {
                    let d: Vec<f32> = (0..3).map(|a| y[i][a] - y[j][a]).collect();
                    let w = 1.0 / (1.0 + d.iter().map(|v| v * v).sum::<f32>());
                    z += w as f64;
                    for a in 0..3 {
                        f[a] += w * w * d[a];
                    }
                }
            }
            assert!((z - z_exact).abs() < 1e-3 * z);
            for a in 0..3 {
                assert!((f[a] - f_exact[a]).abs() < 1e-3 * (1.0 + f[a].abs()));
            }
            let (f_bh, z_bh) = tree.repulsion(&y[i], Some(i as u32), 0.25, &y);
            assert!((z - z_bh).abs() < 0.02 * z, "BH Z {z_bh} vs {z}");
            let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
            for a in 0..3 {
                assert!((f[a] - f_bh[a]).abs() < 0.05 * norm + 1e-6);
            }
        }
    }

    /// scikit-learn's bundled handwritten digits (1,797 × 64, 10 classes); see assets/LICENSES.md.
    fn digits() -> (Matrix, Vec<u32>) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gallery/digits.bin");
        let b = std::fs::read(p).unwrap();
        assert_eq!(&b[..8], b"DIGITS1\n");
        let rows = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
        let cols = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
        let x = b[16..16 + rows * cols].iter().map(|&v| v as f32).collect();
        let labels = b[16 + rows * cols..16 + rows * cols + rows].iter().map(|&v| v as u32).collect();
        (Matrix::new(rows, cols, x), labels)
    }

    #[test]
    fn tsne_separates_the_digits_like_their_labels() {
        let (x, labels) = digits();
        assert_eq!((x.rows, x.cols), (1797, 64));
        let y = tsne(&x, &TsneConfig { dims: 2, ..Default::default() }, None);
        let acc = knn_label_accuracy(&y, &labels, 10);
        assert!(acc >= 0.95, "10-NN label accuracy {acc:.3}");
        // The map keeps most of each point's neighbourhood (openTSNE keeps ~0.5 at k = 10 here).
        let kept = knn_preservation(&x, &y, 10);
        assert!(kept > 0.35, "10-NN preservation {kept:.3}");
    }

    #[test]
    fn the_seed_is_honoured_same_seed_same_bits_other_seed_other_map() {
        let centers = [[0.0, 0.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0, 0.0], [0.0, 6.0, 0.0, 0.0, 0.0]];
        let (x, labels) = blobs(30, &centers, 2.0);
        for dims in [2, 3] {
            let cfg =
                |seed| TsneConfig { dims, perplexity: 10.0, early_iters: 100, iters: 100, seed, ..Default::default() };
            let bits = |m: &Matrix| m.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let a = tsne(&x, &cfg(7), None);
            let b = tsne(&x, &cfg(7), None);
            let c = tsne(&x, &cfg(8), None);
            assert_eq!(bits(&a), bits(&b), "{dims}D: same seed, different map");
            let moved = a.data.iter().zip(&c.data).filter(|(p, q)| (*p - *q).abs() > 1e-3).count();
            assert!(
                moved > a.data.len() / 2,
                "{dims}D: seeds 7 and 8 give nearly the same map ({moved} coordinates moved)"
            );
            // Either map is as good.
            assert!(knn_label_accuracy(&c, &labels, 10) > 0.95);
        }
    }

    #[test]
    fn tsne_keeps_separated_clusters_apart_and_transform_places_new_points_with_their_cluster() {
        let centers = [
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [10.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 10.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 10.0, 0.0, 0.0],
        ];
        let (x, labels) = blobs(60, &centers, 2.0);
        for dims in [2, 3] {
            let cfg = TsneConfig { dims, early_iters: 100, iters: 200, ..Default::default() };
            let y = tsne(&x, &cfg, None);
            assert_eq!((y.rows, y.cols), (240, dims));
            assert!(knn_label_accuracy(&y, &labels, 10) > 0.99);
            // New points from the same clusters land among their own cluster.
            let (newx, newl) = blobs(5, &centers, 2.0);
            let ny = transform(&x, &y, &newx, 10.0, 100);
            for i in 0..ny.rows {
                let nn = knn(&Matrix::new(1, dims, ny.row(i).to_vec()), &y, 5, false);
                let same = nn[0].iter().filter(|(j, _)| labels[*j as usize] == newl[i]).count();
                assert!(same >= 4, "new point {i} landed among other clusters");
            }
        }
    }
}
