//! Head position and rotation for headroom. Core (no Bevy): [`one_euro`].

pub mod estimator;
pub mod one_euro;
pub mod plugin;
pub mod pose;

pub use estimator::{HeadConfig, HeadEstimator, HeadSample, Observation};
pub use one_euro::{OneEuro, OneEuroConfig};
pub use plugin::{Control, HeadPlugin, HeadPose, HeadSettings, HeadSystems, PoseSource};
