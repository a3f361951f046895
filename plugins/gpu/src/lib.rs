//! GPU compute for headroom. Every kernel is one WGSL file under `src/shaders/` plus one Rust
//! file that declares its bindings and feeds it, and each has a CPU reference elsewhere in the
//! workspace that the tests compare it with:
//!
//! | kernel | file | CPU reference |
//! |---|---|---|
//! | frame → luma (full and work resolution) | [`luma`] | `headroom_face::Gray::{from_rgba, resize}` |
//! | CLM patch responses, all points in one dispatch | [`responses`] | `headroom_face::patch::PatchExperts::response` |
//! | t-SNE iteration (exact repulsion, sparse attraction, gains, momentum) | [`tsne`] | `headroom_gallery::tsne::{exact_gradient, tsne}` |
//! | Poisson blending (red–black SOR sweeps, compose to RGBA8) | [`poisson`] | [`poisson::sor`], [`poisson::compose`] (same file) |
//!
//! Core modules ([`context`], [`kernel`] and the kernels) use plain `wgpu` — the same crate and
//! version Bevy renders with — so the kernels run on the app's render device (dispatched in the
//! `RenderGraph` schedule, see [`plugin`]) and also stand alone (tests, benchmarks,
//! `headroom build-gallery`).
//!
//! Adding a kernel: write `shaders/x.wgsl`, and `x.rs` with a
//! [`kernel::Kernel`] built from the WGSL, the binding list and the entry points.

pub mod context;
pub mod kernel;
pub mod luma;
pub mod plugin;
pub mod poisson;
pub mod responses;
pub mod tsne;

pub use context::{Gpu, GpuError, gpu_required};
pub use plugin::{ComputeChoice, GpuPlugin, GpuStatus};

#[cfg(test)]
mod tests;
