//! PCA (for the features and for t-SNE's start) and the eigen-solvers behind it.

#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::*;

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
