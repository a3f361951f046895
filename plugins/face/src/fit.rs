//! Regularised landmark mean-shift (Saragih, Lucey & Cohn), as clmtrackr runs it: sample each
//! point's search window in the model's reference frame, compute all patch responses once,
//! then three mean-shift passes with a shrinking kernel, each followed by a regularised
//! Gauss–Newton update of the shape parameters under the PCA prior.

use rayon::prelude::*;

use crate::image_ops::{Gray, GrayF32};
use crate::model::ClmModel;
use crate::patch::{PatchExperts, PatchKind, ResponseConfig};
use crate::shape::{ShapeModel, Similarity};

/// Fitting settings; defaults are clmtrackr's.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    /// Side of each point's search window, in reference-frame pixels (odd).
    pub search: usize,
    /// Mean-shift kernel variances, one pass each.
    pub variances: Vec<f32>,
    /// Stop early when the summed squared point movement of a pass is below this.
    pub convergence_limit: f32,
    pub response: ResponseConfig,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            search: 11,
            variances: vec![10.0, 5.0, 1.0],
            convergence_limit: 0.01,
            response: ResponseConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    #[error("the model has no {0:?} patch experts")]
    MissingExperts(PatchKind),
    #[error("search window must be odd and between 1 and 63, got {0}")]
    BadSearch(usize),
}

/// Why a [`ResponseEngine`] could not compute (any error; the fitter reports it and falls back).
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

/// Computes every point's response map from the sampled patches. The fitter does it on the CPU
/// unless given an engine (the GPU twin is [`crate::gpu::GpuEngine`]).
pub trait ResponseEngine: Send + Sync {
    fn name(&self) -> String;
    /// `patches`: `n × pw²` (pw = search + size − 1); `out`: `n × search²`. An error makes the
    /// fitter drop the engine and compute on the CPU from then on.
    fn responses(
        &mut self,
        experts: &PatchExperts,
        patches: &[f32],
        search: usize,
        cfg: ResponseConfig,
        out: &mut [f32],
    ) -> Result<(), EngineError>;
}

/// What one fit did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    pub points: Vec<[f32; 2]>,
    /// Mean-shift passes run (≤ the number of variances).
    pub passes: usize,
    /// Summed squared point movement in the last pass.
    pub movement: f32,
}

/// Reusable fitting state: the model in fast layouts and scratch buffers.
pub struct Fitter {
    pub shape: ShapeModel,
    pub(crate) experts: PatchExperts,
    pub config: FitConfig,
    /// Diagonal of Λ⁻¹ over all parameters (0 for the similarity).
    prior: Vec<f64>,
    patches: Vec<f32>,
    /// The frame being fitted, as floats (refilled by `sample_patches`).
    frame: GrayF32,
    /// The latest response maps, `n × search²` (for display and for the GPU twin).
    pub responses: Vec<f32>,
    engine: Option<Box<dyn ResponseEngine>>,
}

impl Fitter {
    pub fn new(model: &ClmModel, config: FitConfig) -> Result<Self, FitError> {
        if config.search == 0 || config.search.is_multiple_of(2) || config.search > 63 {
            return Err(FitError::BadSearch(config.search));
        }
        let experts =
            PatchExperts::new(model, config.response.kind).ok_or(FitError::MissingExperts(config.response.kind))?;
        let shape = ShapeModel::new(model);
        let mut prior = vec![0.0; shape.num_params()];
        for k in 0..shape.m {
            prior[4 + k] =
                if shape.non_regularized.contains(&k) { 1e-7 } else { 1.0 / f64::from(shape.eigen_values[k]) };
        }
        let pw = config.search + experts.size - 1;
        Ok(Fitter {
            patches: vec![0.0; shape.n * pw * pw],
            frame: GrayF32::default(),
            responses: vec![0.0; shape.n * config.search * config.search],
            shape,
            experts,
            config,
            prior,
            engine: None,
        })
    }

    /// Computes responses with `engine` from now on (`None`: the CPU).
    pub fn set_engine(&mut self, engine: Option<Box<dyn ResponseEngine>>) {
        self.engine = engine;
    }

    /// "cpu" or the engine's name.
    pub fn engine_name(&self) -> String {
        self.engine.as_ref().map_or_else(|| "cpu".to_string(), |e| e.name())
    }

    pub fn experts(&self) -> &PatchExperts {
        &self.experts
    }

    /// The patches of the last [`Self::sample_patches`], `n × pw²`.
    pub fn patches(&self) -> &[f32] {
        &self.patches
    }

    pub fn patch_width(&self) -> usize {
        self.config.search + self.experts.size - 1
    }

    /// Samples every point's search patch from `img` at parameters `p` into `self.patches`:
    /// a `pw × pw` grid in the reference frame, centred on the point, mapped into the image by
    /// the similarity part of `p` and read bilinearly.
    ///
    /// Points are in pixel-edge coordinates, like clmtrackr's canvas, the face mesh and
    /// MediaPipe: pixel (i, j) covers [i, i + 1) × [j, j + 1), so its value sits at
    /// (i + ½, j + ½). (Reading pixel centres at whole numbers put every CLM point half a pixel
    /// up and left of clmtrackr's: 0.096 against 0.074 on the issue-16 portraits.)
    pub fn sample_patches(&mut self, img: &Gray, p: &[f32]) {
        let pw = self.patch_width();
        let half = (pw as f32 - 1.0) / 2.0;
        let sim = Similarity::from_params(p);
        let (s, c) = sim.rotation.sin_cos();
        let (a, b) = (sim.scale * c, sim.scale * s);
        let refs = self.shape.reference_points(p);
        self.frame.fill_from(img);
        let frame = &self.frame;
        // Points are independent: sampled in parallel (a few per task).
        self.patches.par_chunks_mut(pw * pw).zip(refs.par_iter()).with_min_len(8).for_each(|(out, u)| {
            for gy in 0..pw {
                let ry = u[1] + gy as f32 - half;
                // Start of the row in the image and the step along it.
                let (x0, y0) = (a * (u[0] - half) - b * ry + sim.tx - 0.5, b * (u[0] - half) + a * ry + sim.ty - 0.5);
                frame.sample_row(x0, y0, a, b, &mut out[gy * pw..(gy + 1) * pw]);
            }
        });
    }

    /// Computes every point's response map from the sampled patches, with the engine if one is set.
    pub fn compute_responses(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            match engine.responses(
                &self.experts,
                &self.patches,
                self.config.search,
                self.config.response,
                &mut self.responses,
            ) {
                Ok(()) => return,
                Err(e) => {
                    eprintln!("face: response engine {} failed ({e}); using the CPU from now on", engine.name());
                    self.engine = None;
                }
            }
        }
        self.compute_responses_cpu();
    }

    /// The CPU reference for [`Self::compute_responses`] (points in parallel).
    pub fn compute_responses_cpu(&mut self) {
        let (pw, search) = (self.patch_width(), self.config.search);
        let cfg = self.config.response;
        let (experts, patches) = (&self.experts, &self.patches);
        self.responses.par_chunks_mut(search * search).enumerate().with_min_len(8).for_each_init(
            || vec![0.0f32; pw * pw],
            |scratch, (i, out)| {
                let patch = &patches[i * pw * pw..(i + 1) * pw * pw];
                experts.response(i, patch, search, cfg, scratch, out);
            },
        );
    }

    /// One frame's fit from parameters `p` (updated in place): sample, respond, mean-shift.
    pub fn fit(&mut self, img: &Gray, p: &mut [f32]) -> FitReport {
        if img.is_empty() {
            return FitReport { points: self.shape.points(p), passes: 0, movement: 0.0 };
        }
        self.sample_patches(img, p);
        self.compute_responses();
        self.mean_shift(p)
    }

    /// The regularised mean-shift passes over the current `self.responses`, whose grids were
    /// sampled at `p` (as given).
    pub fn mean_shift(&mut self, p: &mut [f32]) -> FitReport {
        let (n, search) = (self.shape.n, self.config.search);
        let np = self.shape.num_params();
        let half = (search as f32 - 1.0) / 2.0;
        // Grid geometry at the frame's starting parameters: the response cells lie on the
        // rotated, scaled lattice the patches were sampled on. (clmtrackr places them on an
        // axis-aligned lattice, ignoring the rotation. Issue 16 measured that: within 0.001 of
        // this on the stills, the portraits and the stills turned ±15°, but tracking the demo
        // clip it lost the face once and ended at NME 0.075 against 0.040 here.)
        let sim0 = Similarity::from_params(p);
        let (s0, c0) = sim0.rotation.sin_cos();
        let (a0, b0) = (sim0.scale * c0, sim0.scale * s0);
        let origin = self.shape.points(p);
        let mut current = origin.clone();
        let mut report = FitReport { points: current.clone(), passes: 0, movement: 0.0 };
        let mut v = vec![0.0f64; 2 * n];
        let variances = self.config.variances.clone();
        for &var in &variances {
            let denom = var * sim0.scale;
            // The grid is a rotated, scaled lattice, so the Gaussian kernel factorises along its
            // axes: 2·search exponentials per point instead of search².
            let s2 = sim0.scale * sim0.scale;
            let (mut gx_w, mut gy_w) = (vec![0.0f32; search], vec![0.0f32; search]);
            for i in 0..n {
                let resp = &self.responses[i * search * search..(i + 1) * search * search];
                let (ox, oy) = (origin[i][0], origin[i][1]);
                let (cx, cy) = (current[i][0], current[i][1]);
                // The current point in grid coordinates (cells from the window's centre).
                let (dx, dy) = (cx - ox, cy - oy);
                let u = (a0 * dx + b0 * dy) / s2;
                let w_ = (-b0 * dx + a0 * dy) / s2;
                for g in 0..search {
                    let d = g as f32 - half;
                    gx_w[g] = (-0.5 * s2 * (u - d) * (u - d) / denom).exp();
                    gy_w[g] = (-0.5 * s2 * (w_ - d) * (w_ - d) / denom).exp();
                }
                let (mut wsum, mut mu, mut mv) = (0.0f32, 0.0f32, 0.0f32);
                for gy in 0..search {
                    let row = &resp[gy * search..(gy + 1) * search];
                    let (mut rs, mut ru) = (0.0f32, 0.0f32);
                    for gx in 0..search {
                        let w = row[gx] * gx_w[gx];
                        rs += w;
                        ru += w * (gx as f32 - half);
                    }
                    let wy = gy_w[gy];
                    wsum += rs * wy;
                    mu += ru * wy;
                    mv += rs * wy * (gy as f32 - half);
                }
                let (tx, ty) = if wsum > 0.0 {
                    let (gu, gv) = (mu / wsum, mv / wsum);
                    (ox + a0 * gu - b0 * gv, oy + b0 * gu + a0 * gv)
                } else {
                    (cx, cy)
                };
                v[2 * i] = f64::from(tx - cx);
                v[2 * i + 1] = f64::from(ty - cy);
            }
            // Δp = (σ²Λ⁻¹ + JᵀJ)⁻¹ (σ²Λ⁻¹ p − Jᵀ v);  p ← p − Δp
            let (mut lhs, mut rhs) = self.shape.normal_equations(p, &v);
            for a in 0..np {
                let reg = f64::from(var) * self.prior[a];
                lhs[a * np + a] += reg;
                rhs[a] += reg * f64::from(p[a]);
            }
            let Some(dp) = crate::linalg::solve(&lhs, &rhs, np) else { break };
            for (pk, d) in p.iter_mut().zip(&dp) {
                *pk -= *d as f32;
            }
            self.shape.clamp(p);
            let next = self.shape.points(p);
            let movement: f32 =
                next.iter().zip(&current).map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sum();
            current = next;
            report.passes += 1;
            report.movement = movement;
            if movement < self.config.convergence_limit {
                break;
            }
        }
        report.points = current;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points are in pixel-edge coordinates: a point placed on the centre of pixel (i, j),
    /// (i + ½, j + ½), reads that pixel alone at the centre of its patch, and the patch's
    /// neighbours one reference pixel away read the neighbouring pixels. (The port once read
    /// pixel centres at whole numbers: half a pixel off clmtrackr's and the mesh's points.)
    #[test]
    fn patches_sample_pixel_centres_at_half_integers() {
        let model = ClmModel::from_json(crate::CLMTRACKR_MODEL).unwrap();
        let mut fitter = Fitter::new(&model, FitConfig::default()).unwrap();
        let (i, j) = (60usize, 70usize);
        let img = Gray::from_fn(160, 160, |x, y| if (x, y) == (i, j) { 200 } else { 0 });
        let mean0 = fitter.shape.mean[0];
        let mut p = vec![0.0f32; fitter.shape.num_params()];
        let (tx, ty) = (i as f32 + 0.5 - mean0[0], j as f32 + 0.5 - mean0[1]);
        Similarity { scale: 1.0, rotation: 0.0, tx, ty }.write_params(&mut p);
        fitter.sample_patches(&img, &p);
        let pw = fitter.patch_width();
        let c = (pw - 1) / 2;
        let patch = &fitter.patches()[..pw * pw];
        assert!((patch[c * pw + c] - 200.0).abs() < 1e-3, "centre reads {}", patch[c * pw + c]);
        for (dx, dy) in [(1, 0), (0, 1), (1, 1)] {
            assert!(patch[(c + dy) * pw + c + dx].abs() < 1e-3, "({dx}, {dy}) reads {}", patch[(c + dy) * pw + c + dx]);
        }
    }

    /// clmtrackr's browser path is the default for the raw experts (its examples run with WebGL).
    #[test]
    fn raw_experts_respond_as_clmtrackr_in_a_browser() {
        use crate::patch::{Logistic, Normalize, PatchKind, ResponseConfig};
        let cfg = FitConfig::default().response;
        assert_eq!((cfg.kind, cfg.normalize, cfg.logistic), (PatchKind::Raw, Normalize::Window, Logistic::Bias));
        assert_eq!(ResponseConfig::for_kind(PatchKind::Raw), cfg);
        assert_ne!(ResponseConfig::clmtrackr_fft(), cfg);
    }
}
