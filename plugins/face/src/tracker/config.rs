//! What the tracker is configured with and what it reports: the landmark backend, detector and
//! placement, [`TrackerConfig`], [`FaceFit`], [`TrackOutput`] and its stage times.

use crate::fit::{FitConfig, FitError};
use crate::haar::{CascadeError, DetectParams, Rect};

/// Which landmark backend fits the face.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Landmarks {
    /// MediaPipe's face mesh (468 points, mapped onto clmtrackr's 71), with the iris model.
    #[default]
    Mesh,
    /// clmtrackr's 71-point constrained local model.
    Clm,
}

/// Which detector finds a face when none is tracked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detector {
    #[default]
    BlazeFace,
    /// OpenCV's Viola–Jones cascade (clmtrackr's detector).
    Haar,
}

/// Most fits on a still (clmtrackr's `clm_image` usage needs 50–70 iterations).
pub const STILL_MAX_FITS: usize = 200;
/// Most faces a still reports (the mesh backend; the largest is the tracked one).
pub const STILL_MAX_FACES: usize = 16;
/// A still's fit has settled when the points move less than this (mean squared, px²) per fit.
pub const STILL_SETTLED: f32 = 1e-3;

/// How the CLM is placed on a detected face box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// clmtrackr's: MOSSE filters find the eyes and the nose in windows of the box, and the
    /// model's hints are fitted to them.
    #[default]
    Mosse,
    /// The mean shape scaled into the box, then the eyes and nose searched with the CLM's own
    /// patch experts (this port's first placement; kept to compare).
    Experts,
    /// BlazeFace's eye and nose keypoints take the model's hints (with `--detector blazeface`;
    /// on a Haar box, as `Mosse`).
    Keypoints,
}

/// How many jittered starts a still may have (the pattern in `tracker::JITTER`).
pub const MAX_JITTER: usize = 8;

/// Tracker settings; the CLM's defaults follow clmtrackr and headtrackr.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerConfig {
    pub landmarks: Landmarks,
    pub detector: Detector,
    pub placement: Placement,
    /// On stills, also fit from the other placement and keep the fit the drift scorer prefers
    /// (off by default: it rescues some faces and costs others; README, "The CLM").
    pub still_restarts: bool,
    /// On stills, also fit from this many jittered copies of the first placement (scale ±7 %,
    /// rotation ±0.12 rad, shifts of 5 % of the box; at most [`MAX_JITTER`]); of three or more
    /// fits the one most of the others agree with is kept.
    pub still_jitter: usize,
    /// On stills, also fit from the other detector's face (BlazeFace's placed by its keypoints,
    /// Haar's as `placement` says) and keep the fit the drift scorer prefers.
    pub still_both_detectors: bool,
    /// With the mesh backend: run the iris model for the pupils (two more networks per frame).
    /// Off, the pupils are the eye corners' midpoints.
    pub iris: bool,
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
            landmarks: Landmarks::default(),
            detector: Detector::default(),
            placement: Placement::default(),
            still_restarts: false,
            still_jitter: 0,
            still_both_detectors: false,
            iris: true,
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

impl TrackerConfig {
    /// clmtrackr's pipeline: Haar detection and the 71-point CLM.
    pub fn clm() -> Self {
        TrackerConfig { landmarks: Landmarks::Clm, detector: Detector::Haar, ..TrackerConfig::default() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
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
    /// The face mesh's 468 points `[x, y, z]` (frame pixels), with the mesh backend.
    pub mesh: Option<Vec<[f32; 3]>>,
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
    /// The tracked face (on a still: the largest).
    pub fit: Option<FaceFit>,
    /// On a still with the mesh backend, the other faces, largest first.
    pub others: Vec<FaceFit>,
    /// Box from camshift when no fit is trusted (still useful for head position).
    pub fallback_box: Option<Rect>,
    pub events: Vec<FaceEvent>,
    pub times: StageTimes,
}
