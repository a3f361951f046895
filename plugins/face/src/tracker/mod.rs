//! The tracking state machine: detect (Haar) → place the model (eye and nose search +
//! Procrustes to the model's hints) → fit every frame with constant-velocity prediction →
//! camshift as the cheap fallback while the fit is unsure → drift score every 10 frames →
//! on loss, detect again.

use web_time::Instant;

use crate::camshift::CamShift;
use crate::fit::Fitter;
use crate::haar::{Cascade, Rect};
use crate::image_ops::Gray;
use crate::model::ClmModel;
use crate::mosse::FaceFilters;
use crate::nn::{MeshTracker, NnError, Roi};
use crate::score::DriftScorer;
use crate::shape::Similarity;

mod config;
mod mesh;

pub use config::*;
use mesh::mesh_map;
pub use mesh::{mesh_map_71, points71};

pub struct FaceTracker {
    pub config: TrackerConfig,
    cascade: Cascade,
    map71: Vec<usize>,
    pub fitter: Fitter,
    scorer: DriftScorer,
    /// clmtrackr's eye and nose filters (`None` if they failed to load: the experts place).
    mosse: Option<FaceFilters>,
    /// Fitting a still (`track_still`): iterate to convergence.
    still: bool,
    /// Fits run on the last detection (for reports).
    pub last_fits: usize,
    tracking: bool,
    params: Vec<f32>,
    history: Vec<Vec<f32>>,
    scores: Vec<f32>,
    positions: Vec<Vec<[f32; 2]>>,
    frames_since_score: u32,
    camshift: Option<CamShift>,
    /// The mesh backend (BlazeFace, face mesh, iris), when it is in use and loaded.
    mesh: Option<MeshTracker>,
    /// Why the configured backend could not be used (the CLM and Haar run instead).
    pub notice: Option<String>,
    /// Counts for reports.
    pub detections: u64,
    pub losses: u64,
}

/// A face the CLM may start on: its box, and BlazeFace's eye and nose keypoints (image-left eye,
/// image-right eye, nose tip) when BlazeFace found it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClmStart {
    pub face: Rect,
    pub eyes_nose: Option<[[f32; 2]; 3]>,
}

/// The jittered starts on stills: (scale change, rotation in radians, x and y shift in face
/// widths), in the order they are used.
const JITTER: [(f32, f32, f32, f32); MAX_JITTER] = [
    (0.07, 0.0, 0.0, 0.0),
    (-0.07, 0.0, 0.0, 0.0),
    (0.0, 0.12, 0.0, 0.0),
    (0.0, -0.12, 0.0, 0.0),
    (0.0, 0.0, 0.05, 0.0),
    (0.0, 0.0, -0.05, 0.0),
    (0.0, 0.0, 0.0, 0.05),
    (0.0, 0.0, 0.0, -0.05),
];

/// The fit most starts agree on: the one whose nearest half of the other fits lie closest
/// (summed mean point distance), so fits that went astray pull nothing.
fn consensus(fits: &[Vec<[f32; 2]>]) -> usize {
    let d = |a: &[[f32; 2]], b: &[[f32; 2]]| -> f32 {
        a.iter().zip(b).map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()).sum::<f32>()
            / a.len().max(1) as f32
    };
    let half = fits.len().saturating_sub(1).div_ceil(2);
    let cost = |i: usize| {
        let mut ds: Vec<f32> = (0..fits.len()).filter(|&j| j != i).map(|j| d(&fits[i], &fits[j])).collect();
        ds.sort_by(f32::total_cmp);
        ds.iter().take(half).sum::<f32>()
    };
    (0..fits.len()).min_by(|&a, &b| cost(a).total_cmp(&cost(b))).unwrap_or(0)
}

fn gray_to_rgba(img: &Gray) -> Vec<u8> {
    img.data.iter().flat_map(|&v| [v, v, v, 255]).collect()
}

fn elapsed_ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1000.0
}

fn bounding_box(points: &[[f32; 2]]) -> Rect {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    Rect::new(x0.round() as i32, y0.round() as i32, (x1 - x0).round() as i32, (y1 - y0).round() as i32)
}

impl FaceTracker {
    pub fn new(model: &ClmModel, cascade: Cascade, config: TrackerConfig) -> Result<Self, TrackerError> {
        let fitter = Fitter::new(model, config.fit.clone())?;
        let wants_nn = config.landmarks == Landmarks::Mesh
            || config.detector == Detector::BlazeFace
            || config.still_both_detectors
            || config.placement == Placement::Keypoints;
        let (mesh, notice) = if wants_nn {
            // The iris model only where the mesh is what fits the face and the pupils are wanted.
            let iris = config.iris && config.landmarks == Landmarks::Mesh;
            match MeshTracker::with_iris(iris).and_then(|m| mesh_map().map(|map| (m, map))) {
                Ok((m, map)) => (Some((m, map)), None),
                Err(e) => (None, Some(format!("face mesh unavailable ({e}); using Haar + CLM"))),
            }
        } else {
            (None, None)
        };
        let mut config = config;
        if mesh.is_none() {
            config.landmarks = Landmarks::Clm;
            config.detector = Detector::Haar;
            config.still_both_detectors = false;
        }
        let (mesh, map71) = match mesh {
            Some((m, map)) => (Some(m), map),
            None => (None, Vec::new()),
        };
        Ok(FaceTracker {
            mesh,
            map71,
            notice,
            params: vec![0.0; fitter.shape.num_params()],
            fitter,
            scorer: DriftScorer::new(model),
            mosse: FaceFilters::bundled().ok(),
            still: false,
            last_fits: 0,
            cascade,
            config,
            tracking: false,
            history: Vec::new(),
            scores: Vec::new(),
            positions: Vec::new(),
            frames_since_score: 0,
            camshift: None,
            detections: 0,
            losses: 0,
        })
    }

    pub fn is_tracking(&self) -> bool {
        self.tracking || self.mesh.as_ref().is_some_and(|m| m.is_tracking())
    }

    /// The landmark backend in use (the configured one, or the CLM after a fallback).
    pub fn landmarks(&self) -> Landmarks {
        self.config.landmarks
    }

    /// Forgets the face; the next frame detects again.
    pub fn reset(&mut self) {
        if let Some(m) = self.mesh.as_mut() {
            m.reset();
        }
        self.tracking = false;
        self.history.clear();
        self.scores.clear();
        self.positions.clear();
        self.frames_since_score = 0;
        self.params.iter_mut().for_each(|p| *p = 0.0);
    }

    /// Face boxes in `img` (frame pixels), largest first, with clmtrackr's Haar settings.
    pub fn detect(&self, img: &Gray) -> Vec<Rect> {
        if img.is_empty() {
            return Vec::new();
        }
        let (work, back) = img.fit_within(self.config.detect_work_size);
        self.cascade.detect(&work, &self.config.detect).into_iter().map(|r| r.scaled(back)).collect()
    }

    /// Where the CLM may start: the configured detector's faces (best first; BlazeFace's with
    /// their eye and nose keypoints), and on a still with `still_both_detectors` the other
    /// detector's best face after them.
    pub fn clm_starts(&self, img: &Gray, rgba: Option<&[u8]>) -> Vec<ClmStart> {
        let blaze = || -> Vec<ClmStart> {
            match (self.mesh.as_ref(), rgba) {
                (Some(m), Some(px)) => m
                    .detect(px, img.width, img.height)
                    .unwrap_or_default()
                    .iter()
                    .map(|d| {
                        let [x0, y0, x1, y1] = d.bbox;
                        ClmStart {
                            face: Rect::new(
                                x0.round() as i32,
                                y0.round() as i32,
                                (x1 - x0).round() as i32,
                                (y1 - y0).round() as i32,
                            ),
                            eyes_nose: Some([d.keypoints[0], d.keypoints[1], d.keypoints[2]]),
                        }
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let haar = || -> Vec<ClmStart> {
            self.detect(img).into_iter().map(|face| ClmStart { face, eyes_nose: None }).collect()
        };
        let blaze_first = self.config.detector == Detector::BlazeFace && self.mesh.is_some() && rgba.is_some();
        let mut starts = if blaze_first { blaze() } else { haar() };
        if self.still && self.config.still_both_detectors {
            let other = if blaze_first { haar() } else { blaze() };
            starts.extend(other.into_iter().next());
        }
        starts
    }

    /// The CLM's start on `start` with `placement` (keypoints only where the start has them,
    /// else clmtrackr's MOSSE placement; MOSSE falls back to the experts).
    pub fn start_params(&mut self, img: &Gray, start: &ClmStart, placement: Placement) -> Vec<f32> {
        match (placement, start.eyes_nose) {
            (Placement::Keypoints, Some(k)) => match self.keypoint_params(k) {
                Some(p) => p,
                None => self.initial_params(img, start.face),
            },
            (Placement::Experts, _) => self.expert_params(img, start.face),
            _ => match self.mosse_params(img, start.face) {
                Some(p) => p,
                None => self.expert_params(img, start.face),
            },
        }
    }

    /// The similarity taking the model's hints (points 27, 32, 62: the pupils and the nose tip)
    /// onto BlazeFace's eye and nose keypoints (image-left eye first).
    pub fn keypoint_params(&self, eyes_nose: [[f32; 2]; 3]) -> Option<Vec<f32>> {
        let mean = &self.fitter.shape.mean;
        let sim = Similarity::fit(&[mean[27], mean[32], mean[62]], &eyes_nose)?;
        // Keypoints on top of each other (a broken detection) place nothing.
        if sim.scale.is_nan() || sim.scale <= 1e-3 {
            return None;
        }
        let mut p = vec![0.0f32; self.fitter.shape.num_params()];
        sim.write_params(&mut p);
        p.iter().all(|v| v.is_finite()).then_some(p)
    }

    /// Start `k` of the jitter pattern: `params`' similarity scaled and turned about the mean
    /// shape's centre and shifted by a share of the face's width.
    fn jittered(&self, params: &[f32], k: usize, face: Rect) -> Vec<f32> {
        let (ds, dr, dx, dy) = JITTER[k % JITTER.len()];
        let sim = Similarity::from_params(params);
        let mean = &self.fitter.shape.mean;
        let n = mean.len().max(1) as f32;
        let c = mean.iter().fold([0.0f32; 2], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n]);
        let centre = sim.apply(c);
        let w = face.w as f32;
        let mut j = Similarity { scale: sim.scale * (1.0 + ds), rotation: sim.rotation + dr, tx: 0.0, ty: 0.0 };
        let moved = j.apply(c);
        j.tx = centre[0] + dx * w - moved[0];
        j.ty = centre[1] + dy * w - moved[1];
        let mut p = params.to_vec();
        j.write_params(&mut p);
        p
    }

    /// Places the model on a detected face box: the mean shape scaled into the box, then the
    /// eyes and nose found with their patch experts over a wide search and the similarity fitted
    /// to the model's hints (Procrustes).
    pub fn initial_params(&mut self, img: &Gray, face: Rect) -> Vec<f32> {
        if matches!(self.config.placement, Placement::Mosse | Placement::Keypoints)
            && let Some(p) = self.mosse_params(img, face)
        {
            return p;
        }
        self.expert_params(img, face)
    }

    /// clmtrackr's placement (`getFinegrainedPosition`): the nose filter in a window 0.45 of the
    /// box wide centred at (½, ⅝) of it, the eye filters in windows 0.6 wide at (¼, ⅖) and
    /// (¾, ⅖); the similarity taking the model's hints onto the three points.
    pub fn mosse_params(&self, img: &Gray, face: Rect) -> Option<Vec<f32>> {
        let f = self.mosse.as_ref()?;
        let (x, y, w, h) = (face.x as f32, face.y as f32, face.w as f32, face.h as f32);
        let (nw, ew) = (w * 0.45, w * 0.6);
        let find = |m: &crate::mosse::Mosse, cx: f32, cy: f32, size: f32| {
            let (left, top) = ((cx - size / 2.0).round(), (cy - size / 2.0).round());
            m.track(img, left, top, size).map(|[dx, dy]| [left + dx, top + dy])
        };
        let left = find(&f.left_eye, x + w / 4.0, y + h * 2.0 / 5.0, ew)?;
        let right = find(&f.right_eye, x + w * 3.0 / 4.0, y + h * 2.0 / 5.0, ew)?;
        let nose = find(&f.nose, x + w / 2.0, y + h * 5.0 / 8.0, nw)?;
        let mean = &self.fitter.shape.mean;
        // Points 27, 32 and 62 are the model's hints (left pupil, right pupil, nose tip).
        let targets = [mean[27], mean[32], mean[62]];
        let sim = Similarity::fit(&targets, &[left, right, nose])?;
        let mut p = vec![0.0f32; self.fitter.shape.num_params()];
        sim.write_params(&mut p);
        p.iter().all(|v| v.is_finite()).then_some(p)
    }

    fn expert_params(&mut self, img: &Gray, face: Rect) -> Vec<f32> {
        let (x, y, w, h) = (face.x as f32, face.y as f32, face.w as f32, face.h as f32);
        // Where the mean shape sits in an OpenCV frontal-face box, measured on the reference
        // set (bench/accuracy: the similarity taking the mean shape onto independent landmarks,
        // over 31 frames, relative to the box): scale 0.0120·w (sd 0.0004), x −0.227·w, y +0.066·h.
        // clmtrackr's own fallback (w / model height) is 28 % too large for these boxes.
        let coarse = Similarity { scale: 0.0120 * w, rotation: 0.0, tx: x - 0.227 * w, ty: y + 0.066 * h };
        let s = coarse.scale;
        let mut p = vec![0.0f32; self.fitter.shape.num_params()];
        coarse.write_params(&mut p);

        let search = self.config.init_search;
        let size = self.fitter.experts.size;
        let pw = search + size - 1;
        let half = (pw as f32 - 1.0) / 2.0;
        let mut patch = vec![0.0f32; pw * pw];
        let mut scratch = vec![0.0f32; pw * pw];
        let mut resp = vec![0.0f32; search * search];
        // Points 27, 32 and 62 are the model's hints (pupils and nose tip).
        let hints = [27usize, 32, 62];
        let mean = &self.fitter.shape.mean;
        let mut found = Vec::new();
        for &i in &hints {
            let u = mean[i];
            for gy in 0..pw {
                for gx in 0..pw {
                    let q = coarse.apply([u[0] + gx as f32 - half, u[1] + gy as f32 - half]);
                    patch[gy * pw + gx] = img.sample_at(q[0], q[1]);
                }
            }
            self.fitter.experts.response(i, &patch, search, self.config.fit.response, &mut scratch, &mut resp);
            // Centroid of the strongest responses (top 5 %), robust to a single spike.
            let mut sorted = resp.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let cut = sorted[(search * search / 20).max(1) - 1];
            let (mut sx, mut sy, mut sw) = (0.0f32, 0.0f32, 0.0f32);
            for gy in 0..search {
                for gx in 0..search {
                    let r = resp[gy * search + gx];
                    if r >= cut {
                        sx += r * gx as f32;
                        sy += r * gy as f32;
                        sw += r;
                    }
                }
            }
            let c = (search as f32 - 1.0) / 2.0;
            found.push(coarse.apply([u[0] + sx / sw - c, u[1] + sy / sw - c]));
        }
        let targets: Vec<[f32; 2]> = hints.iter().map(|&i| mean[i]).collect();
        if let Some(sim) = Similarity::fit(&targets, &found) {
            // Trust the refinement only if it stays plausible for the box.
            let plausible = (sim.scale / s - 1.0).abs() < 0.35 && sim.rotation.abs() < 0.6;
            if plausible {
                sim.write_params(&mut p);
            }
        }
        p
    }

    /// The mesh crop for a Haar box: centred on the box, 1.5 × its side (BlazeFace's boxes and
    /// OpenCV's are of about the same size; the landmarks re-crop right after).
    fn haar_roi(&self, img: &Gray) -> Option<Roi> {
        self.detect(img).first().map(|b| Roi {
            cx: b.x as f32 + b.w as f32 / 2.0,
            cy: b.y as f32 + b.h as f32 * 0.55,
            size: 1.5 * b.w.max(b.h) as f32,
            rotation: 0.0,
        })
    }

    /// Fits a still image (no previous frame): the mesh backend re-crops until the crop
    /// settles; the CLM iterates until it converges (at most 10 × the video budget).
    pub fn track_still(&mut self, img: &Gray, rgba: Option<&[u8]>) -> TrackOutput {
        self.reset();
        if img.is_empty() {
            return TrackOutput::default();
        }
        if self.uses_mesh() {
            return self.track_mesh(img, rgba, true);
        }
        self.still = true;
        let out = self.track(img, rgba);
        self.still = false;
        out
    }

    /// Fits from `self.params` on a newly detected face: the video budget (`init_fits`), or on
    /// a still until the points stop moving (mean squared movement per point under
    /// `STILL_SETTLED` px² for three fits in a row), at most `STILL_MAX_FITS`. Returns the fits run.
    fn settle(&mut self, img: &Gray) -> usize {
        if !self.still {
            for _ in 0..self.config.init_fits {
                self.fitter.fit(img, &mut self.params);
            }
            return self.config.init_fits;
        }
        let mut before = self.fitter.shape.points(&self.params);
        let mut calm = 0;
        for k in 1..=STILL_MAX_FITS {
            let after = self.fitter.fit(img, &mut self.params).points;
            let moved =
                after.iter().zip(&before).map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sum::<f32>()
                    / after.len().max(1) as f32;
            before = after;
            calm = if moved < STILL_SETTLED { calm + 1 } else { 0 };
            if calm >= 3 {
                return k;
            }
        }
        STILL_MAX_FITS
    }

    /// Tracks one greyscale frame (and its RGBA pixels for camshift and the networks, if given).
    pub fn track(&mut self, img: &Gray, rgba: Option<&[u8]>) -> TrackOutput {
        let mut out = TrackOutput::default();
        if img.is_empty() {
            return out;
        }
        if self.uses_mesh() {
            return self.track_mesh(img, rgba, false);
        }
        if !self.tracking {
            let t = Instant::now();
            let starts = self.clm_starts(img, rgba);
            out.times.detect_ms = elapsed_ms(t);
            let Some(&first) = starts.first() else {
                out.fallback_box = self.camshift_step(img, rgba, &mut out);
                return out;
            };
            let face = first.face;
            self.detections += 1;
            let t = Instant::now();
            let primary = self.start_params(img, &first, self.config.placement);
            self.params = primary.clone();
            self.last_fits = self.settle(img);
            let ts = Instant::now();
            let mut score = self.scorer.score(img, &self.params);
            out.times.score_ms = elapsed_ms(ts);
            if self.still {
                // Beyond clmtrackr: more starts, each fitted to convergence. Of two fits the one
                // the drift scorer rates more face-like is kept; of three or more, the consensus
                // (the drift scorer alone picks badly among jittered fits, README "The CLM").
                let mut others: Vec<Vec<f32>> = Vec::new();
                if self.config.still_restarts {
                    let other = match self.config.placement {
                        Placement::Mosse | Placement::Keypoints => Placement::Experts,
                        Placement::Experts => Placement::Mosse,
                    };
                    others.push(self.start_params(img, &first, other));
                }
                for s in &starts[1..] {
                    if self.config.still_both_detectors {
                        let placement =
                            if s.eyes_nose.is_some() { Placement::Keypoints } else { self.config.placement };
                        others.push(self.start_params(img, s, placement));
                    }
                }
                for k in 0..self.config.still_jitter.min(MAX_JITTER) {
                    others.push(self.jittered(&primary, k, face));
                }
                let mut fits = vec![(self.params.clone(), score)];
                for start in others {
                    self.params = start;
                    self.last_fits += self.settle(img);
                    let s = self.scorer.score(img, &self.params);
                    fits.push((self.params.clone(), s));
                }
                let best = if fits.len() >= 3 {
                    let points: Vec<Vec<[f32; 2]>> = fits.iter().map(|(p, _)| self.fitter.shape.points(p)).collect();
                    consensus(&points)
                } else {
                    (0..fits.len()).max_by(|&a, &b| fits[a].1.total_cmp(&fits[b].1)).unwrap_or(0)
                };
                let (params, s) = fits.swap_remove(best);
                self.params = params;
                score = s;
            }
            out.times.fit_ms = elapsed_ms(t);
            self.tracking = true;
            self.scores = vec![score];
            self.frames_since_score = 0;
            self.history = vec![self.params.clone()];
            self.positions.clear();
            if let Some(px) = rgba {
                let f = [face.x as f32, face.y as f32, face.w as f32, face.h as f32];
                self.camshift = CamShift::new(px, img.width, img.height, f);
            }
            out.events.push(FaceEvent::Found);
        } else {
            let t = Instant::now();
            if self.config.constant_velocity && self.history.len() >= 2 {
                let (p0, p1) = (&self.history[0], &self.history[1]);
                let r = self.config.relaxation;
                for k in 0..self.params.len() {
                    self.params[k] = r * p1[k] + (1.0 - r) * (2.0 * p1[k] - p0[k]);
                }
            }
            // While the fit is unsure, let camshift re-centre the model first.
            let unsure = self.scores.last().is_some_and(|&s| s < self.config.score_threshold);
            if unsure && let Some(b) = self.camshift_step(img, rgba, &mut out) {
                let pts = self.fitter.shape.points(&self.params);
                let cur = bounding_box(&pts).center();
                let target = b.center();
                self.params[2] += target.0 - cur.0;
                self.params[3] += target.1 - cur.1;
            }
            self.fitter.fit(img, &mut self.params);
            out.times.fit_ms = elapsed_ms(t);
            self.history.push(self.params.clone());
            if self.history.len() > 2 {
                self.history.remove(0);
            }
            self.frames_since_score += 1;
            if self.frames_since_score >= self.config.score_every {
                self.frames_since_score = 0;
                let t = Instant::now();
                let s = self.scorer.score(img, &self.params);
                out.times.score_ms = elapsed_ms(t);
                self.scores.push(s);
                if self.scores.len() > 5 {
                    self.scores.remove(0);
                }
                let mean = self.scores.iter().sum::<f32>() / self.scores.len() as f32;
                if self.scores.len() >= 5 && mean < self.config.score_threshold {
                    self.losses += 1;
                    self.reset();
                    out.events.push(FaceEvent::Lost);
                    return out;
                }
            }
        }
        let points = self.fitter.shape.points(&self.params);
        self.positions.push(points.clone());
        if self.positions.len() > 10 {
            self.positions.remove(0);
        }
        out.fit = Some(FaceFit {
            face_box: bounding_box(&points),
            converged: self.convergence() < 0.5,
            points,
            params: self.params.clone(),
            score: self.scores.last().copied().unwrap_or(0.0),
            mesh: None,
        });
        out
    }

    fn camshift_step(&mut self, img: &Gray, rgba: Option<&[u8]>, out: &mut TrackOutput) -> Option<Rect> {
        let (cs, px) = (self.camshift.as_mut()?, rgba?);
        let t = Instant::now();
        let b = cs.track(px, img.width, img.height);
        out.times.camshift_ms = elapsed_ms(t);
        match b {
            Some(b) => Some(Rect::new(
                (b.cx - b.width / 2.0).round() as i32,
                (b.cy - b.height / 2.0).round() as i32,
                b.width.round() as i32,
                b.height.round() as i32,
            )),
            None => {
                self.camshift = None;
                None
            }
        }
    }

    /// clmtrackr's convergence measure: squared movement of the mean point between the
    /// average of the last five frames and of the five before, over 10.
    fn convergence(&self) -> f32 {
        if self.positions.len() < 10 {
            return f32::MAX;
        }
        let centre = |frames: &[Vec<[f32; 2]>]| {
            let (mut x, mut y) = (0.0, 0.0);
            for f in frames {
                for p in f {
                    x += p[0];
                    y += p[1];
                }
            }
            (x / 5.0, y / 5.0)
        };
        let (a, b) = (centre(&self.positions[..5]), centre(&self.positions[5..]));
        ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)) / 10.0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::default_tracker;

    pub(crate) fn load(path: &std::path::Path) -> (Gray, Vec<u8>) {
        let img = image::open(path).unwrap().into_rgba8();
        let (w, h) = img.dimensions();
        let rgba = img.into_raw();
        (Gray::from_rgba(w as usize, h as usize, &rgba).unwrap(), rgba)
    }

    pub(crate) fn stills() -> Vec<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/faces");
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn consensus_keeps_the_fit_most_starts_agree_on() {
        let at = |dx: f32, dy: f32| vec![[10.0 + dx, 10.0 + dy], [20.0 + dx, 12.0 + dy], [15.0 + dx, 25.0 + dy]];
        // Three fits in one basin, one far off: the middle of the three wins, not the one
        // nearest the stray fit.
        let fits = vec![at(40.0, 0.0), at(0.5, 0.0), at(0.0, 0.0), at(0.0, 0.5)];
        assert_eq!(consensus(&fits), 2);
        // Two strays apart and three agreeing: one of the three.
        let fits = vec![at(30.0, 0.0), at(0.0, 0.0), at(-30.0, 5.0), at(0.4, 0.0), at(0.0, 0.4)];
        assert!([1, 3, 4].contains(&consensus(&fits)));
        assert_eq!(consensus(&fits[..1]), 0);
    }

    #[test]
    fn jittered_starts_scale_turn_and_shift_about_the_shape_centre() {
        let tracker = default_tracker(TrackerConfig::clm()).unwrap();
        let shape = &tracker.fitter.shape;
        let mut p = vec![0.0f32; shape.num_params()];
        Similarity { scale: 1.3, rotation: 0.05, tx: 200.0, ty: 150.0 }.write_params(&mut p);
        let face = Rect::new(150, 100, 100, 100);
        let centre = |q: &[f32]| {
            let pts = shape.points(q);
            let n = pts.len() as f32;
            pts.iter().fold([0.0f32; 2], |a, v| [a[0] + v[0] / n, a[1] + v[1] / n])
        };
        let c0 = centre(&p);
        for (k, &(ds, dr, dx, dy)) in JITTER.iter().enumerate() {
            let j = tracker.jittered(&p, k, face);
            let (a, b) = (Similarity::from_params(&p), Similarity::from_params(&j));
            assert!((b.scale / a.scale - (1.0 + ds)).abs() < 1e-4, "start {k}: scale {} vs {}", b.scale, a.scale);
            assert!((b.rotation - a.rotation - dr).abs() < 1e-4, "start {k}: rotation");
            let c = centre(&j);
            assert!(
                (c[0] - c0[0] - dx * 100.0).abs() < 0.05 && (c[1] - c0[1] - dy * 100.0).abs() < 0.05,
                "start {k}: centre {c:?} vs {c0:?}"
            );
        }
    }

    #[test]
    fn keypoint_placement_puts_the_hints_on_the_keypoints() {
        let tracker = default_tracker(TrackerConfig::clm()).unwrap();
        // Keypoints where a known similarity takes the mean shape's hints: it is recovered.
        let truth = Similarity { scale: 0.9, rotation: -0.2, tx: 140.0, ty: 120.0 };
        let mean = &tracker.fitter.shape.mean;
        let kp = [truth.apply(mean[27]), truth.apply(mean[32]), truth.apply(mean[62])];
        let p = tracker.keypoint_params(kp).expect("a placement");
        let got = Similarity::from_params(&p);
        assert!((got.scale - 0.9).abs() < 1e-3 && (got.rotation + 0.2).abs() < 1e-3, "{got:?}");
        let pts = tracker.fitter.shape.points(&p);
        for (i, k) in [27usize, 32, 62].iter().zip(kp) {
            let d = ((pts[*i][0] - k[0]).powi(2) + (pts[*i][1] - k[1]).powi(2)).sqrt();
            assert!(d < 0.05, "hint {i} lands {d:.2} px from its keypoint");
        }
        assert!(tracker.keypoint_params([[1.0, 1.0]; 3]).is_none(), "three equal points place nothing");
    }

    #[test]
    fn exactly_one_face_on_each_still() {
        let tracker = default_tracker(TrackerConfig::default()).unwrap();
        let stills = stills();
        assert!(stills.len() >= 10);
        for p in stills {
            let (g, _) = load(&p);
            let faces = tracker.detect(&g);
            println!("{}: {:?}", p.display(), faces);
            assert_eq!(faces.len(), 1, "{}: {faces:?}", p.display());
        }
    }
}
