//! Bevy glue for the effects: what is chosen ([`LabEffect`]), the source faces loaded in the
//! background ([`SourceFaces`]), the warp each new fit asks for ([`EffectWarp`]: drawn by the
//! screen as a textured mesh — its vertices the deformed points, its UVs the fitted points in
//! the camera texture or a source face's points in its image), and face substitution
//! ([`BlendView`]): the source warped and Poisson-blended into the frame every tracked frame, the
//! warp and set-up on the task pool, the sweeps either there (CPU reference) or as the
//! `headroom_gpu::poisson` kernel dispatched in the `RenderGraph` schedule straight into the
//! texture the screen shows. Nothing here waits: the tracker's job and the frame go on while a
//! blend is in flight, and a new blend starts only when the last one is done. Rooms: this file
//! (what is chosen, the warp), [`sources`] (source faces), [`blend`] (face swap).

use bevy::platform::time::Instant;
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::renderer::{RenderAdapterInfo, RenderContext, RenderDevice, RenderGraph, RenderQueue};
use bevy::render::texture::GpuImage;
use bevy::render::{RenderApp, RenderStartup};
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use headroom_capture::LatestFrame;
use headroom_face::model::ClmModel;
use headroom_face::shape::ShapeModel;
use headroom_face::{FaceModelInfo, FaceTracking, TrackerConfig, default_tracker};
use headroom_gpu::kernel::Kernel;
use headroom_gpu::poisson::{self, GpuPoisson};

use crate::deform::Deformation;
use crate::faces::{Blend, FaceError, SourceFace, prepare_blend};
use crate::warp::{PixelRect, Rgba, face_triangles, ring_triangles, with_ring};

mod blend;
mod sources;

use blend::*;
use sources::*;

/// Finest-level sweeps per blend (after the coarse-to-fine start): ≈ 0.05 grey levels from the
/// exact solution on a face-sized crop (see the kernel's tests).
pub const SWEEPS: usize = 60;

/// The mask is the warped face shrunk by this many pixels.
pub const ERODE: usize = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Effect {
    #[default]
    None,
    Caricature,
    Deform,
    Mask,
    Substitute,
}

impl Effect {
    pub const ALL: [Effect; 5] = [Effect::None, Effect::Caricature, Effect::Deform, Effect::Mask, Effect::Substitute];
    pub fn label(self) -> &'static str {
        match self {
            Effect::None => "None",
            Effect::Caricature => "Caricature",
            Effect::Deform => "Deform",
            Effect::Mask => "Mask",
            Effect::Substitute => "Face swap",
        }
    }
}

/// Where the blend's sweeps run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BlendOn {
    /// The GPU when the render device runs compute shaders and is a real GPU; the CPU on a
    /// software adapter (lavapipe, SwiftShader: there the CPU reference is 20–30× faster,
    /// `cargo bench --profile dev --workspace --bench gpu`) and without compute shaders.
    #[default]
    Auto,
    /// The GPU whenever it runs compute shaders.
    Gpu,
    Cpu,
}

/// What Face Lab does to the face.
#[derive(Resource, Clone, Debug)]
pub struct LabEffect {
    pub effect: Effect,
    /// Caricature's factor on the shape modes (clmtrackr starts at 3).
    pub exaggerate: f32,
    /// Deform's offsets per mode (from mode 3).
    pub deformation: Deformation,
    /// Index into [`SourceFaces::faces`] for Mask and Face swap.
    pub source: usize,
    pub blend_on: BlendOn,
    /// A bundled face to choose once the faces are loaded (its name, or a part of it, any case).
    pub want_source: Option<String>,
}

impl Default for LabEffect {
    fn default() -> Self {
        LabEffect {
            effect: Effect::None,
            exaggerate: 3.0,
            deformation: Deformation::preset("unwell", 20).unwrap_or(Deformation::identity(20)),
            source: 0,
            blend_on: BlendOn::Auto,
            want_source: None,
        }
    }
}

/// Faces to put on: the bundled ones and photos the user added, each with its image as a
/// texture (for the mask mesh).
#[derive(Resource, Default)]
pub struct SourceFaces {
    pub faces: Vec<Arc<SourceFace>>,
    pub textures: Vec<Handle<Image>>,
    /// Faces that failed to load, and why (shown in Face Lab).
    pub problems: Vec<String>,
    pub loading: bool,
}

/// Load a photo (PNG/JPEG) as a source face; the result lands in [`SourceFaces`].
#[derive(Message, Clone, Debug)]
pub struct AddPhoto(pub std::path::PathBuf);

/// Use a face that comes with its 71 points (a painted face from the gallery) as the source face,
/// chosen at once.
#[derive(Message, Clone, Debug)]
pub struct UseFace(pub SourceFace);

/// Take a still of another face in view (not the tracked one) as a source face.
#[derive(Message, Clone, Copy, Debug)]
pub struct TakeFaceInView;

/// The warp to draw this frame for Caricature, Deform and Mask: triangles over `points` (where
/// they go, frame pixels) sampling `uv_points` in a texture of `uv_size` pixels (the camera image
/// when `texture` is `None`).
#[derive(Resource, Default, Debug, Clone)]
pub struct EffectWarp {
    pub points: Vec<[f32; 2]>,
    pub uv_points: Vec<[f32; 2]>,
    pub uv_size: [f32; 2],
    pub triangles: Vec<[usize; 3]>,
    pub texture: Option<Handle<Image>>,
    /// The capture frame the fit belongs to.
    pub frame_seq: u64,
}

/// Face swap's latest blend, ready to show over the frame.
#[derive(Resource, Debug, Clone)]
pub struct BlendView {
    /// The texture to show (one of `textures`).
    pub image: Handle<Image>,
    /// Two textures, written in turn, so the one on screen is never the one being written.
    pub textures: [Handle<Image>; 2],
    /// Where the image goes in the frame; `None` while there is no blend to show.
    pub rect: Option<PixelRect>,
    /// "gpu: …" or "cpu", for the panel.
    pub engine: String,
    /// Milliseconds of the last blend on the task pool (warp + set-up, + sweeps on the CPU path).
    pub prepare_ms: f32,
    /// Blends finished per second.
    pub fps: f32,
    pub blends: u64,
    /// The capture frame the last blend was made from.
    pub frame_seq: u64,
    pub error: Option<String>,
    /// The texture's size; the blend fills its top-left `rect.width × rect.height`.
    pub texture_size: [u32; 2],
    /// The frame the shown blend was made in: Face Lab shows it under the blend (the newest
    /// camera frame may already have moved on under the face).
    pub frame: Handle<Image>,
}

/// The CLM's shape model (the deformation's modes and their slider ranges).
#[derive(Resource)]
pub struct LabShape(pub Option<ShapeModel>);

pub(crate) fn build(app: &mut App) {
    let shared = GpuBlend::default();
    let shape = ClmModel::from_json(headroom_face::CLMTRACKR_MODEL).ok().map(|m| ShapeModel::new(&m));
    app.init_resource::<LabEffect>()
        .init_resource::<SourceFaces>()
        .init_resource::<EffectWarp>()
        .init_resource::<BlendTask>()
        .init_resource::<RecentFrames>()
        .insert_resource(LabShape(shape))
        .insert_resource(shared.clone())
        .add_message::<AddPhoto>()
        .add_message::<UseFace>()
        .add_message::<TakeFaceInView>()
        .add_systems(Startup, (start_loading, make_blend_image))
        .add_systems(
            Update,
            (finish_loading, add_photo, keep_frames, update_warp, start_blend, finish_blend, show_gpu_blend)
                .chain()
                .in_set(crate::FaceLabSystems),
        );
    if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
        render_app
            .insert_resource(shared)
            .init_resource::<GpuBlendRender>()
            .add_systems(
                RenderStartup,
                |mut r: ResMut<GpuBlendRender>,
                 device: Res<RenderDevice>,
                 info: Res<RenderAdapterInfo>,
                 shared: Res<GpuBlend>| {
                    if headroom_gpu::has_compute(&device.limits()) {
                        r.kernel = Some(poisson::kernel(device.wgpu_device()));
                        if let Ok(mut s) = shared.0.lock() {
                            let software = info.device_type == wgpu::DeviceType::Cpu;
                            s.available = Some((headroom_gpu::context::adapter_name(&info), software));
                        }
                    }
                },
            )
            .add_systems(RenderGraph, gpu_blend_step);
    }
}

/// The warp for Caricature, Deform and Mask from the newest fit.
pub(crate) fn update_warp(
    tracking: Option<Res<FaceTracking>>,
    info: Option<Res<FaceModelInfo>>,
    effect: Res<LabEffect>,
    faces: Res<SourceFaces>,
    shape: Res<LabShape>,
    mut warp: ResMut<EffectWarp>,
) {
    let (Some(t), Some(info)) = (tracking, info) else { return };
    let Some(fit) = t.fit.as_ref() else {
        warp.points.clear();
        return;
    };
    if !(t.is_changed() || effect.is_changed() || faces.is_changed()) {
        return;
    }
    let (fw, fh) = (t.frame_size.0 as f32, t.frame_size.1 as f32);
    warp.frame_seq = t.frame_seq;
    match effect.effect {
        Effect::Caricature | Effect::Deform => {
            let Some(s) = shape.0.as_ref() else { return };
            let d = match effect.effect {
                Effect::Caricature => Deformation { exaggerate: effect.exaggerate, offsets: vec![0.0; s.m] },
                _ => effect.deformation.clone(),
            };
            let (Some(moved), true) = (d.points(s, &fit.params), fit.points.len() == s.n) else { return };
            // The deformation's displacement added to the fitted points (with the mesh backend
            // the parameters are a projection, so the identity stays exact this way).
            let base = s.points(&fit.params);
            let dst: Vec<[f32; 2]> = fit
                .points
                .iter()
                .zip(moved.iter().zip(&base))
                .map(|(p, (m, b))| [p[0] + m[0] - b[0], p[1] + m[1] - b[1]])
                .collect();
            // The ring stays where the live face's is, joining the deformed face to the frame.
            let ring = with_ring(&fit.points);
            let mut points = dst;
            points.extend_from_slice(&ring[fit.points.len()..]);
            warp.uv_points = ring;
            warp.points = points;
            warp.uv_size = [fw, fh];
            warp.triangles = ring_triangles(&info.triangles, fit.points.len());
            warp.texture = None;
        }
        Effect::Mask => {
            let Some((f, tex)) = faces.faces.get(effect.source).zip(faces.textures.get(effect.source)) else {
                warp.points.clear();
                return;
            };
            warp.points = fit.points.clone();
            warp.uv_points = f.points.clone();
            warp.uv_size = [f.image.width as f32, f.image.height as f32];
            warp.triangles = face_triangles(&info.triangles);
            warp.texture = Some(tex.clone());
        }
        Effect::None | Effect::Substitute => warp.points.clear(),
    }
}
