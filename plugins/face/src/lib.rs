//! Face tracking for headroom, as in clmtrackr and headtrackr but in Rust.
//!
//! Core modules (no Bevy): [`image_ops`] (luma, resize, integral images), [`haar`]
//! (Viola–Jones with OpenCV cascades), [`model`] (the CLM in a project-owned format, converted
//! from clmtrackr), [`mosse`] (clmtrackr's eye and nose filters that place the model), [`shape`] (the point-distribution model), [`patch`] (SVM patch experts),
//! [`fit`] (regularised landmark mean-shift), [`score`] (drift check), [`camshift`],
//! [`tracker`] (the state machine), [`gpu`] (the patch responses on headroom-gpu's kernel), [`still`] (faces in paintings and
//! photographs: found at several scales, fitted, aligned).
//! [`plugin`] is the Bevy glue.

pub mod camshift;
pub mod fit;
pub mod gpu;
pub mod haar;
pub mod image_ops;
mod linalg;
pub mod model;
pub mod mosse;
pub mod nn;
pub mod patch;
pub mod plugin;
pub mod score;
pub mod shape;
pub mod still;
pub mod tracker;

pub use fit::{EngineError, FitConfig, Fitter, ResponseEngine};
pub use haar::{Cascade, DetectParams, Rect};
pub use image_ops::Gray;
pub use model::ClmModel;
pub use plugin::{
    FaceFound, FaceLost, FaceModelInfo, FacePlugin, FaceSettings, FaceSystems, FaceTracking, GpuResponsesPlugin,
    ResponseChoice, ResponseEngineInbox,
};

/// OpenCV's `haarcascade_frontalface_alt.xml`, the cascade clmtrackr embeds.
pub static FRONTALFACE_ALT: &str = include_str!("../../../assets/models/haarcascade_frontalface_alt.xml");
pub use tracker::{
    ClmStart, Detector, FaceEvent, FaceFit, FaceTracker, Landmarks, MAX_JITTER, Placement, STILL_MAX_FACES, StageTimes,
    TrackOutput, TrackerConfig, TrackerError,
};

/// The bundled CLM: clmtrackr's `model_pca_20_svm`, converted by `headroom convert clmtrackr`.
pub static CLMTRACKR_MODEL: &str = include_str!("../../../assets/models/clmtrackr-pca20-svm.json");

/// Property-test cases: `PROPTEST_CASES` (256 by default) divided by `divide`, at least 1
/// (cases that parse a bundled file run fewer).
#[cfg(test)]
pub(crate) fn proptest_cases(divide: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(256);
    proptest::test_runner::Config::with_cases((n / divide).max(1))
}

/// The bundled model and cascade, parsed.
pub fn default_tracker(config: TrackerConfig) -> Result<FaceTracker, TrackerError> {
    let model = ClmModel::from_json(CLMTRACKR_MODEL)?;
    let cascade = Cascade::from_xml(FRONTALFACE_ALT)?;
    FaceTracker::new(&model, cascade, config)
}
