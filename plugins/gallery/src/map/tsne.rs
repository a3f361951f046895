//! The t-SNE optimiser (early exaggeration, momentum, gains), its exact gradient, the schedule,
//! `transform` for new points, and the engine trait a GPU twin implements.

#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::*;

/// One delta-bar-delta step of a coordinate: adapts its gain by whether the gradient keeps the
/// direction of the last update, then moves with momentum. Returns the new update.
#[inline]
pub(crate) fn gain_step(g: f32, update: &mut f32, gain: &mut f32, momentum: f32, lr: f32) -> f32 {
    let same_sign = (g > 0.0) == (*update > 0.0);
    *gain = if same_sign { (*gain * 0.8).max(0.01) } else { *gain + 0.2 };
    *update = momentum * *update - lr * *gain * g;
    *update
}

// ---------------------------------------------------------------------------------------------
// Barnes-Hut tree over D-dimensional points.

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

pub(crate) fn check_dims(dims: usize) -> Result<(), String> {
    if dims == 2 || dims == 3 { Ok(()) } else { Err(format!("t-SNE supports 2 or 3 output dimensions, not {dims}")) }
}

/// Why a [`TsneEngine`] could not run (any error; the build reports it and uses the CPU).
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

/// Another t-SNE optimiser the gallery build can use in place of [`tsne`] (the GPU twin is
/// [`super::GpuTsne`]). It gets the same input and settings and returns an n × dims embedding.
pub trait TsneEngine: Send + Sync {
    fn name(&self) -> String;
    fn run(&self, x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Result<Matrix, EngineError>;
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

pub(crate) fn to_points<const D: usize>(m: &Matrix) -> Vec<[f32; D]> {
    (0..m.rows)
        .map(|i| {
            let mut p = [0.0; D];
            p.copy_from_slice(m.row(i));
            p
        })
        .collect()
}

pub(crate) fn optimise<const D: usize>(
    p: &Affinities,
    init: Matrix,
    cfg: &TsneConfig,
    progress: Option<Progress<'_>>,
) -> Matrix {
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

pub(crate) fn transform_d<const D: usize>(
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
