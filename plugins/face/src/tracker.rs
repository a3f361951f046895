//! The tracking state machine: detect (Haar) → place the model (eye and nose search +
//! Procrustes to the model's hints) → fit every frame with constant-velocity prediction →
//! camshift as the cheap fallback while the fit is unsure → drift score every 10 frames →
//! on loss, detect again.

use web_time::Instant;

use crate::camshift::CamShift;
use crate::fit::{FitConfig, FitError, Fitter};
use crate::haar::{Cascade, CascadeError, DetectParams, Rect};
use crate::image_ops::Gray;
use crate::model::ClmModel;
use crate::score::DriftScorer;
use crate::shape::Similarity;

/// Tracker settings; defaults follow clmtrackr and headtrackr.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerConfig {
    pub fit: FitConfig,
    pub detect: DetectParams,
    /// Detection runs on the frame scaled so that its longer side is this many pixels.
    pub detect_work_size: usize,
    /// Constant-velocity prediction of the parameters between frames.
    pub constant_velocity: bool,
    pub relaxation: f32,
    /// Score the fit every this many frames.
    pub score_every: u32,
    /// Mean of the last five scores under this → lost.
    pub score_threshold: f32,
    /// Mean-shift passes on the first frame after a detection.
    pub init_fits: usize,
    /// Search window (reference pixels) for the eyes and nose at initialisation.
    pub init_search: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            fit: FitConfig::default(),
            detect: DetectParams::default(),
            detect_work_size: 200,
            constant_velocity: true,
            relaxation: 0.1,
            score_every: 10,
            score_threshold: 0.5,
            init_fits: 20,
            init_search: 25,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Cascade(#[from] CascadeError),
}

/// The fitted face in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceFit {
    /// The 71 points, in frame pixels.
    pub points: Vec<[f32; 2]>,
    /// Shape parameters `[s·cosθ − 1, s·sinθ, tx, ty, b₁ … b₂₀]`.
    pub params: Vec<f32>,
    /// Latest drift score (0…1; higher = more face-like).
    pub score: f32,
    /// Whether the points have settled (clmtrackr's convergence test).
    pub converged: bool,
    /// Bounding box of the points.
    pub face_box: Rect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceEvent {
    Found,
    Lost,
}

/// Milliseconds spent per stage in the last call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    pub detect_ms: f32,
    pub fit_ms: f32,
    pub score_ms: f32,
    pub camshift_ms: f32,
}

/// What one frame produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrackOutput {
    pub fit: Option<FaceFit>,
    /// Box from camshift when no fit is trusted (still useful for head position).
    pub fallback_box: Option<Rect>,
    pub events: Vec<FaceEvent>,
    pub times: StageTimes,
}

pub struct FaceTracker {
    pub config: TrackerConfig,
    cascade: Cascade,
    pub fitter: Fitter,
    scorer: DriftScorer,
    tracking: bool,
    params: Vec<f32>,
    history: Vec<Vec<f32>>,
    scores: Vec<f32>,
    positions: Vec<Vec<[f32; 2]>>,
    frames_since_score: u32,
    camshift: Option<CamShift>,
    /// Counts for reports.
    pub detections: u64,
    pub losses: u64,
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
        Ok(FaceTracker {
            params: vec![0.0; fitter.shape.num_params()],
            fitter,
            scorer: DriftScorer::new(model),
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
        self.tracking
    }

    /// Forgets the face; the next frame detects again.
    pub fn reset(&mut self) {
        self.tracking = false;
        self.history.clear();
        self.scores.clear();
        self.positions.clear();
        self.frames_since_score = 0;
        self.params.iter_mut().for_each(|p| *p = 0.0);
    }

    /// Face boxes in `img` (frame pixels), largest first, with clmtrackr's settings.
    pub fn detect(&self, img: &Gray) -> Vec<Rect> {
        if img.is_empty() {
            return Vec::new();
        }
        let (work, back) = img.fit_within(self.config.detect_work_size);
        self.cascade.detect(&work, &self.config.detect).into_iter().map(|r| r.scaled(back)).collect()
    }

    /// Places the model on a detected face box: the mean shape scaled into the box, then the
    /// eyes and nose found with their patch experts over a wide search and the similarity fitted
    /// to the model's hints (Procrustes).
    pub fn initial_params(&mut self, img: &Gray, face: Rect) -> Vec<f32> {
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
                    patch[gy * pw + gx] = img.sample(q[0], q[1]);
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

    /// Tracks one greyscale frame (and its RGBA pixels for camshift, if given).
    pub fn track(&mut self, img: &Gray, rgba: Option<&[u8]>) -> TrackOutput {
        let mut out = TrackOutput::default();
        if img.is_empty() {
            return out;
        }
        if !self.tracking {
            let t = Instant::now();
            let faces = self.detect(img);
            out.times.detect_ms = elapsed_ms(t);
            let Some(&face) = faces.first() else {
                out.fallback_box = self.camshift_step(img, rgba, &mut out);
                return out;
            };
            self.detections += 1;
            let t = Instant::now();
            self.params = self.initial_params(img, face);
            for _ in 0..self.config.init_fits {
                self.fitter.fit(img, &mut self.params);
            }
            out.times.fit_ms = elapsed_ms(t);
            let t = Instant::now();
            let score = self.scorer.score(img, &self.params);
            out.times.score_ms = elapsed_ms(t);
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
mod tests {
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
