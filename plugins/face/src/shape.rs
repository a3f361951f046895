//! The point-distribution model: parameters ↔ points, the Jacobian, PCA projection, and
//! similarity (Procrustes) fits.
//!
//! Parameters follow clmtrackr: `p = [s·cosθ − 1, s·sinθ, tx, ty, b₁ … b_m]`; a point is
//! `T(mean + V b)` with `T(x, y) = (a x − b y + tx, b x + a y + ty)`, `a = p₀ + 1`, `b = p₁`.

use crate::model::ClmModel;

/// A 2D similarity: `q = s R(θ) p + t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub scale: f32,
    pub rotation: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity { scale: 1.0, rotation: 0.0, tx: 0.0, ty: 0.0 };

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        let (a, b) = (self.scale * c, self.scale * s);
        [a * p[0] - b * p[1] + self.tx, b * p[0] + a * p[1] + self.ty]
    }

    /// From the first four shape parameters.
    pub fn from_params(p: &[f32]) -> Similarity {
        let (a, b) = (p[0] + 1.0, p[1]);
        Similarity { scale: (a * a + b * b).sqrt(), rotation: b.atan2(a), tx: p[2], ty: p[3] }
    }

    pub fn write_params(&self, p: &mut [f32]) {
        let (s, c) = self.rotation.sin_cos();
        p[0] = self.scale * c - 1.0;
        p[1] = self.scale * s;
        p[2] = self.tx;
        p[3] = self.ty;
    }

    /// The least-squares similarity taking `from[i]` to `to[i]` (no reflection).
    /// `None` with fewer than two distinct points.
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        let n = from.len().min(to.len());
        if n < 2 {
            return None;
        }
        let mean = |v: &[[f32; 2]]| {
            let (mut x, mut y) = (0.0f64, 0.0f64);
            for p in &v[..n] {
                x += f64::from(p[0]);
                y += f64::from(p[1]);
            }
            [x / n as f64, y / n as f64]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut sxx, mut sxy, mut var) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let (fx, fy) = (f64::from(from[i][0]) - mf[0], f64::from(from[i][1]) - mf[1]);
            let (tx, ty) = (f64::from(to[i][0]) - mt[0], f64::from(to[i][1]) - mt[1]);
            sxx += fx * tx + fy * ty;
            sxy += fx * ty - fy * tx;
            var += fx * fx + fy * fy;
        }
        if var < 1e-12 {
            return None;
        }
        let (a, b) = (sxx / var, sxy / var);
        let tx = mt[0] - (a * mf[0] - b * mf[1]);
        let ty = mt[1] - (b * mf[0] + a * mf[1]);
        Some(Similarity {
            scale: (a * a + b * b).sqrt() as f32,
            rotation: b.atan2(a) as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }
}

/// The shape model in a compute-friendly layout.
#[derive(Clone, Debug)]
pub struct ShapeModel {
    pub n: usize,
    pub m: usize,
    pub mean: Vec<[f32; 2]>,
    /// `v[(2i + c) * m + k]`.
    pub v: Vec<f32>,
    pub eigen_values: Vec<f32>,
    pub non_regularized: Vec<usize>,
    /// `VᵀV` (`m × m`, f64): the shape-mode block of `JᵀJ` is `s²·VᵀV` whatever the pose.
    vtv: Vec<f64>,
}

impl ShapeModel {
    pub fn new(model: &ClmModel) -> Self {
        let (n, m) = (model.num_points(), model.num_modes());
        let v: Vec<f32> = model.eigen_vectors.iter().flatten().copied().collect();
        let mut vtv = vec![0.0f64; m * m];
        for row in v.chunks_exact(m) {
            for a in 0..m {
                for b in 0..m {
                    vtv[a * m + b] += f64::from(row[a]) * f64::from(row[b]);
                }
            }
        }
        ShapeModel {
            n,
            m,
            mean: model.mean_shape.clone(),
            v,
            eigen_values: model.eigen_values.clone(),
            non_regularized: model.non_regularized.clone(),
            vtv,
        }
    }

    pub fn num_params(&self) -> usize {
        self.m + 4
    }

    /// Points in the reference frame (shape modes only, no similarity).
    pub fn reference_points(&self, p: &[f32]) -> Vec<[f32; 2]> {
        let m = self.m;
        (0..self.n)
            .map(|i| {
                let (vx, vy) = (&self.v[2 * i * m..(2 * i + 1) * m], &self.v[(2 * i + 1) * m..(2 * i + 2) * m]);
                let mut x = self.mean[i][0];
                let mut y = self.mean[i][1];
                for k in 0..m {
                    x += vx[k] * p[4 + k];
                    y += vy[k] * p[4 + k];
                }
                [x, y]
            })
            .collect()
    }

    /// Points in the image.
    pub fn points(&self, p: &[f32]) -> Vec<[f32; 2]> {
        let (a, b) = (p[0] + 1.0, p[1]);
        self.reference_points(p).into_iter().map(|[x, y]| [a * x - b * y + p[2], b * x + a * y + p[3]]).collect()
    }

    /// d(points)/d(p), row-major `2n × (m+4)`, rows x₀, y₀, x₁, …
    pub fn jacobian(&self, p: &[f32]) -> Vec<f64> {
        let (n, m) = (self.n, self.m);
        let cols = m + 4;
        let refp = self.reference_points(p);
        let (a, b) = (f64::from(p[0]) + 1.0, f64::from(p[1]));
        let mut j = vec![0.0f64; 2 * n * cols];
        for i in 0..n {
            let (x, y) = (f64::from(refp[i][0]), f64::from(refp[i][1]));
            let rx = &mut j[2 * i * cols..(2 * i + 1) * cols];
            rx[0] = x;
            rx[1] = -y;
            rx[2] = 1.0;
            for k in 0..m {
                let (vx, vy) = (f64::from(self.v[2 * i * m + k]), f64::from(self.v[(2 * i + 1) * m + k]));
                rx[4 + k] = a * vx - b * vy;
            }
            let ry = &mut j[(2 * i + 1) * cols..(2 * i + 2) * cols];
            ry[0] = y;
            ry[1] = x;
            ry[3] = 1.0;
            for k in 0..m {
                let (vx, vy) = (f64::from(self.v[2 * i * m + k]), f64::from(self.v[(2 * i + 1) * m + k]));
                ry[4 + k] = b * vx + a * vy;
            }
        }
        j
    }

    /// The Gauss–Newton normal equations `JᵀJ` (row-major `np × np`) and `−Jᵀr` for point
    /// residuals `r` (`2n`, x₀, y₀, x₁, …), built from the Jacobian's structure without forming
    /// it: the mode block is `(a² + b²)·VᵀV` (precomputed), the rest costs O(n·m).
    /// Equal to [`Self::jacobian`] multiplied out (tested).
    pub fn normal_equations(&self, p: &[f32], r: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = (self.n, self.m);
        let np = m + 4;
        let (a, b) = (f64::from(p[0]) + 1.0, f64::from(p[1]));
        let mut lhs = vec![0.0f64; np * np];
        let mut rhs = vec![0.0f64; np];
        // Rigid block sums and rigid × mode cross terms.
        let (mut sxx, mut sx, mut sy) = (0.0f64, 0.0f64, 0.0f64);
        let mut cross = vec![0.0f64; 4 * m];
        for i in 0..n {
            let (vx, vy) = (&self.v[2 * i * m..(2 * i + 1) * m], &self.v[(2 * i + 1) * m..(2 * i + 2) * m]);
            let (mut x, mut y) = (f64::from(self.mean[i][0]), f64::from(self.mean[i][1]));
            for k in 0..m {
                x += f64::from(vx[k]) * f64::from(p[4 + k]);
                y += f64::from(vy[k]) * f64::from(p[4 + k]);
            }
            let (rx, ry) = (r[2 * i], r[2 * i + 1]);
            sxx += x * x + y * y;
            sx += x;
            sy += y;
            rhs[0] -= x * rx + y * ry;
            rhs[1] -= -y * rx + x * ry;
            rhs[2] -= rx;
            rhs[3] -= ry;
            // Mode columns of this point's two rows: X_k = a vx − b vy, Y_k = b vx + a vy.
            let (u, w) = (a * rx + b * ry, -b * rx + a * ry);
            for k in 0..m {
                let (ux, uy) = (f64::from(vx[k]), f64::from(vy[k]));
                let (xk, yk) = (a * ux - b * uy, b * ux + a * uy);
                cross[k] += x * xk + y * yk;
                cross[m + k] += -y * xk + x * yk;
                cross[2 * m + k] += xk;
                cross[3 * m + k] += yk;
                rhs[4 + k] -= ux * u + uy * w;
            }
        }
        let nf = n as f64;
        let rigid = [[sxx, 0.0, sx, sy], [0.0, sxx, -sy, sx], [sx, -sy, nf, 0.0], [sy, sx, 0.0, nf]];
        for (ra, row) in rigid.iter().enumerate() {
            lhs[ra * np..ra * np + 4].copy_from_slice(row);
            for k in 0..m {
                lhs[ra * np + 4 + k] = cross[ra * m + k];
                lhs[(4 + k) * np + ra] = cross[ra * m + k];
            }
        }
        let s2 = a * a + b * b;
        for k in 0..m {
            for l in 0..m {
                lhs[(4 + k) * np + 4 + l] = s2 * self.vtv[k * m + l];
            }
        }
        (lhs, rhs)
    }

    /// Clamps each shape mode to ±3√λ.
    pub fn clamp(&self, p: &mut [f32]) {
        for k in 0..self.m {
            let lim = 3.0 * self.eigen_values[k].sqrt();
            p[4 + k] = p[4 + k].clamp(-lim, lim);
        }
    }

    /// Parameters that best explain image points: similarity by Procrustes to the mean, then the
    /// modes by projection (least squares), alternated a few times.
    pub fn project(&self, points: &[[f32; 2]]) -> Vec<f32> {
        let mut p = vec![0.0f32; self.num_params()];
        let mut shape = self.mean.clone();
        for _ in 0..5 {
            let Some(sim) = Similarity::fit(&shape, points) else { return p };
            sim.write_params(&mut p);
            // Into the reference frame.
            let inv = |q: [f32; 2]| {
                let (s, c) = sim.rotation.sin_cos();
                let (dx, dy) = (q[0] - sim.tx, q[1] - sim.ty);
                [(c * dx + s * dy) / sim.scale, (-s * dx + c * dy) / sim.scale]
            };
            let local: Vec<[f32; 2]> = points.iter().map(|&q| inv(q)).collect();
            let b = self.project_modes(&local);
            p[4..].copy_from_slice(&b);
            shape = self.reference_points(&p);
        }
        p
    }

    /// Least-squares mode weights for points already in the reference frame.
    pub fn project_modes(&self, local: &[[f32; 2]]) -> Vec<f32> {
        let (n, m) = (self.n, self.m);
        let mut vtv = vec![0.0f64; m * m];
        let mut vtd = vec![0.0f64; m];
        for r in 0..2 * n {
            let d = f64::from(local[r / 2][r % 2] - self.mean[r / 2][r % 2]);
            let row = &self.v[r * m..(r + 1) * m];
            for k in 0..m {
                vtd[k] += f64::from(row[k]) * d;
                for l in 0..m {
                    vtv[k * m + l] += f64::from(row[k]) * f64::from(row[l]);
                }
            }
        }
        crate::linalg::solve(&vtv, &vtd, m).map_or(vec![0.0; m], |b| b.into_iter().map(|v| v as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ShapeModel {
        ShapeModel::new(&ClmModel::from_json(crate::CLMTRACKR_MODEL).unwrap())
    }

    #[test]
    fn procrustes_recovers_a_known_similarity() {
        let shape = model();
        let truth = Similarity { scale: 3.7, rotation: 0.35, tx: 120.5, ty: -42.25 };
        let moved: Vec<[f32; 2]> = shape.mean.iter().map(|&p| truth.apply(p)).collect();
        let got = Similarity::fit(&shape.mean, &moved).unwrap();
        assert!((got.scale - truth.scale).abs() < 1e-4, "{got:?}");
        assert!((got.rotation - truth.rotation).abs() < 1e-5);
        assert!((got.tx - truth.tx).abs() < 1e-2 && (got.ty - truth.ty).abs() < 1e-2);
        assert!(Similarity::fit(&[[1.0, 1.0]], &[[2.0, 2.0]]).is_none());
        // Parameters round-trip through the similarity.
        let mut p = vec![0.0; shape.num_params()];
        truth.write_params(&mut p);
        let back = Similarity::from_params(&p);
        assert!((back.scale - truth.scale).abs() < 1e-5 && (back.rotation - truth.rotation).abs() < 1e-6);
    }

    #[test]
    fn pca_project_reconstruct_round_trip() {
        let shape = model();
        let mut p = vec![0.0f32; shape.num_params()];
        Similarity { scale: 2.5, rotation: -0.2, tx: 300.0, ty: 200.0 }.write_params(&mut p);
        for k in 0..shape.m {
            // Within ±1.5 standard deviations of each mode.
            p[4 + k] = ((k as f32 * 0.77).sin()) * 1.5 * shape.eigen_values[k].sqrt();
        }
        let points = shape.points(&p);
        let q = shape.project(&points);
        let back = shape.points(&q);
        let err = points
            .iter()
            .zip(&back)
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .fold(0.0f32, f32::max);
        assert!(err < 0.05, "max point error {err} px");
        for k in 0..shape.m {
            assert!(
                (q[4 + k] - p[4 + k]).abs() < 0.02 * shape.eigen_values[k].sqrt().max(1.0),
                "mode {k}: {} vs {}",
                q[4 + k],
                p[4 + k]
            );
        }
    }

    #[test]
    fn normal_equations_equal_the_multiplied_out_jacobian() {
        let shape = model();
        let np = shape.num_params();
        let mut p: Vec<f32> = (0..np).map(|k| ((k * 7 % 5) as f32 - 2.0) * 0.3).collect();
        p[0] = 0.4;
        p[1] = -0.2;
        p[2] = 120.0;
        p[3] = 80.0;
        let r: Vec<f64> = (0..2 * shape.n).map(|i| ((i * 13 % 11) as f64 - 5.0) * 0.7).collect();
        let j = shape.jacobian(&p);
        let (lhs, rhs) = shape.normal_equations(&p, &r);
        // `jacobian` takes the reference points in f32, `normal_equations` in f64: agreement to
        // f32 precision relative to the largest entry.
        let tol = 1e-5 * lhs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let rtol = 1e-5 * rhs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for a in 0..np {
            let want_rhs: f64 = -(0..2 * shape.n).map(|row| j[row * np + a] * r[row]).sum::<f64>();
            assert!((rhs[a] - want_rhs).abs() < rtol, "rhs {a}: {} vs {want_rhs}", rhs[a]);
            for b in 0..np {
                let want: f64 = (0..2 * shape.n).map(|row| j[row * np + a] * j[row * np + b]).sum();
                let got = lhs[a * np + b];
                assert!((got - want).abs() < tol, "JᵀJ[{a},{b}]: {got} vs {want}");
            }
        }
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let shape = model();
        let mut p = vec![0.1f32; shape.num_params()];
        p[2] = 50.0;
        p[3] = 60.0;
        let j = shape.jacobian(&p);
        let np = shape.num_params();
        for k in [0, 1, 2, 3, 4, 10, 23] {
            let h = 1e-2;
            let mut a = p.clone();
            let mut b = p.clone();
            a[k] += h;
            b[k] -= h;
            let (pa, pb) = (shape.points(&a), shape.points(&b));
            for i in [0, 27, 62] {
                for c in 0..2 {
                    let fd = (pa[i][c] - pb[i][c]) / (2.0 * h);
                    let an = j[(2 * i + c) * np + k] as f32;
                    assert!((fd - an).abs() < 1e-2 * (1.0 + an.abs()), "param {k} point {i}.{c}: {fd} vs {an}");
                }
            }
        }
    }
}
