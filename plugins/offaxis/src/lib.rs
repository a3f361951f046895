//! Head-coupled perspective after Kooima's "Generalized Perspective Projection". Core:
//! [`kooima`] (no Bevy); [`plugin`] is the Bevy camera.

pub mod kooima;
pub mod plugin;

pub use kooima::{Frustum, PhysicalScreen};
pub use plugin::{CameraSystems, OffAxisCamera, OffAxisCameraPlugin, OffAxisProjection, ProjectedPose};
