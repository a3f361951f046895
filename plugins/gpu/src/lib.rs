//! GPU compute for headroom: a kernel library. Every kernel is one WGSL file under `src/shaders/`
//! plus one Rust file that declares its bindings and feeds it; its users compare it with their
//! CPU reference in their own tests:
//!
//! | kernel | file | CPU reference (where the comparison lives) |
//! |---|---|---|
//! | frame → luma (full and work resolution) | [`luma`] | `headroom_face::Gray::{from_rgba, resize}` (face) |
//! | CLM patch responses, all points in one dispatch | [`responses`] | `headroom_face::patch::PatchExperts::response` (face) |
//! | t-SNE iteration (exact repulsion, sparse attraction, gains, momentum) | [`tsne`] | `headroom_gallery::tsne::{exact_gradient, tsne}` (gallery) |
//! | Poisson blending (red–black SOR sweeps, compose to RGBA8) | [`poisson`] | [`poisson::sor`], [`poisson::compose`] (here) |
//!
//! It imports no other headroom crate and no Bevy: plain `wgpu` (the same crate and version Bevy
//! renders with), plain slices in and out. So the kernels run on the app's render device (its
//! users dispatch them in Bevy's `RenderGraph` schedule: [`render`] has what they share) and also
//! stand alone ([`Gpu::new`]: tests, benchmarks, `headroom build-gallery`). The arrows point down:
//! face → gpu, gallery → gpu, facelab → gpu.
//!
//! Adding a kernel: write `shaders/x.wgsl`, and `x.rs` with a [`kernel::Kernel`] built from the
//! WGSL, the binding list and the entry points.

pub mod context;
pub mod kernel;
pub mod luma;
pub mod poisson;
pub mod render;
pub mod responses;
pub mod tsne;

pub use context::{Gpu, GpuError, gpu_required};
pub use render::{ComputeChoice, ParseChoiceError, has_compute};
/// The `wgpu` the kernels are built on (Bevy's), for users that record them into their own encoders.
pub use wgpu;

#[cfg(test)]
mod tests;
