//! Face Lab: what the fitted face says. Core (no Bevy): [`classify`] — clmtrackr's emotion and
//! gender classifiers (logistic regressions on the CLM's shape parameters) and a read-out that
//! smooths them over frames and subtracts a per-person neutral face. [`plugin`] is the Bevy glue.

pub mod classify;
pub mod deform;
pub mod effects;
pub mod faces;
pub mod plugin;
pub mod warp;

pub use classify::{Classifier, ClassifierError, Classifiers, Expression, Reading};
pub use effects::{
    AddPhoto, BlendOn, BlendView, Effect, EffectWarp, LabEffect, LabShape, SourceFaces, TakeFaceInView, UseFace,
};
pub use plugin::{CaptureNeutral, FaceLabPlugin, FaceLabSystems, FaceReadout};
