//! Bevy glue for the effects: what is chosen ([`LabEffect`]), the source faces loaded in the
//! background ([`SourceFaces`]), the warp each new fit asks for ([`EffectWarp`]: drawn by the
//! screen as a textured mesh — its vertices the deformed points, its UVs the fitted points in
//! the camera texture or a source face's points in its image), and face substitution
//! ([`BlendView`]): the source warped and Poisson-blended into the frame every tracked frame, the
//! warp and set-up on the task pool, the sweeps either there (CPU reference) or as the
//! `headroom_gpu::poisson` kernel dispatched in the `RenderGraph` schedule straight into the
//! texture the screen shows. Nothing here waits: the tracker's job and the frame go on while a
//! blend is in flight, and a new blend starts only when the last one is done.

use bevy::platform::time::Instant;
use std::sync::{Arc, Mutex};

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
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

struct BlendDone {
    blend: Option<Blend>,
    rgba: Option<Vec<u8>>,
    ms: f32,
}

/// The last few frames, so a fit (which arrives after its frame) is blended into its own frame.
#[derive(Resource, Default)]
struct RecentFrames(std::collections::VecDeque<headroom_capture::Frame>);

fn keep_frames(latest: Res<LatestFrame>, mut recent: ResMut<RecentFrames>, effect: Res<LabEffect>) {
    if effect.effect != Effect::Substitute {
        recent.0.clear();
        return;
    }
    let Some(f) = latest.0.as_ref() else { return };
    if recent.0.back().is_some_and(|b| b.seq == f.seq) {
        return;
    }
    recent.0.push_back(f.clone());
    while recent.0.len() > 8 {
        recent.0.pop_front();
    }
}

#[derive(Resource, Default)]
struct BlendTask {
    task: Option<Task<BlendDone>>,
    /// The frame of the blend in flight on the task pool.
    in_flight: Option<headroom_capture::Frame>,
    /// The blend on its way through the GPU.
    on_gpu: Option<Shown>,
    /// The texture slot the next blend is written into.
    next: usize,
    last_seq: Option<u64>,
    finished: Vec<f32>,
}

#[derive(Resource)]
struct LoadTask(Task<(Vec<SourceFace>, Vec<String>)>);

/// The CLM's shape model (the deformation's modes and their slider ranges).
#[derive(Resource)]
pub struct LabShape(pub Option<ShapeModel>);

/// Whether the render device can run the kernel (set at start-up).
#[derive(Resource, Clone, Default)]
struct GpuBlend(Arc<Mutex<GpuShared>>);

#[derive(Default)]
struct GpuShared {
    /// The adapter, when it runs the kernel, and whether it is a software one.
    available: Option<(String, bool)>,
    job: Option<(Blend, AssetId<Image>)>,
    /// Frames the job waited for its texture to be uploaded at the new size.
    waited: u32,
    /// Whether the render world wrote the job into its texture (`false`: dropped).
    result: Option<bool>,
}

#[derive(Resource, Default)]
struct GpuBlendRender {
    kernel: Option<Kernel>,
    run: Option<GpuPoisson>,
}

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
                    if headroom_gpu::plugin::has_compute(&device) {
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

fn make_blend_image(mut commands: Commands, mut images: ResMut<Assets<Image>>) {
    let textures = [images.add(blank(64, 8)), images.add(blank(64, 8))];
    let frame = images.add(blank(8, 8));
    commands.insert_resource(BlendView {
        image: textures[0].clone(),
        textures,
        rect: None,
        engine: String::new(),
        prepare_ms: 0.0,
        fps: 0.0,
        blends: 0,
        frame_seq: 0,
        error: None,
        texture_size: [64, 8],
        frame,
    });
}

fn blank(w: u32, h: u32) -> Image {
    Image::new(
        Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        TextureDimension::D2,
        vec![0; (w * h * 4) as usize],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    )
}

fn rgba_image(img: &Rgba) -> Image {
    let mut i = blank(img.width as u32, img.height as u32);
    i.data = Some(img.data.clone());
    i
}

fn start_loading(mut commands: Commands, mut faces: ResMut<SourceFaces>) {
    faces.loading = true;
    commands.insert_resource(LoadTask(AsyncComputeTaskPool::get().spawn(async move {
        let mut tracker = match default_tracker(TrackerConfig::default()) {
            Ok(t) => t,
            Err(e) => return (Vec::new(), vec![format!("no face tracker to fit the faces: {e}")]),
        };
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for r in SourceFace::bundled(&mut tracker) {
            match r {
                Ok(f) => ok.push(f),
                Err(e) => bad.push(e.to_string()),
            }
        }
        (ok, bad)
    })));
}

fn finish_loading(
    mut commands: Commands,
    task: Option<ResMut<LoadTask>>,
    mut faces: ResMut<SourceFaces>,
    mut images: ResMut<Assets<Image>>,
    mut effect: ResMut<LabEffect>,
) {
    let Some(mut task) = task else { return };
    let Some((ok, bad)) = block_on(poll_once(&mut task.0)) else { return };
    commands.remove_resource::<LoadTask>();
    faces.loading = false;
    for f in ok {
        info!("face lab: source face {} ({}×{})", f.name, f.image.width, f.image.height);
        faces.textures.push(images.add(rgba_image(&f.image)));
        faces.faces.push(Arc::new(f));
    }
    for b in bad {
        warn!("face lab: {b}");
        faces.problems.push(b);
    }
    if let Some(want) = effect.want_source.take() {
        let w = want.to_lowercase();
        match faces.faces.iter().position(|f| f.name.to_lowercase().contains(&w)) {
            Some(i) => effect.source = i,
            None => faces.problems.push(format!("no bundled face called {want:?}")),
        }
    }
}

#[allow(clippy::type_complexity)]
fn add_photo(
    mut requests: MessageReader<AddPhoto>,
    (mut take, latest, tracking): (MessageReader<TakeFaceInView>, Res<LatestFrame>, Option<Res<FaceTracking>>),
    mut pending: Local<Vec<Task<Result<SourceFace, String>>>>,
    mut faces: ResMut<SourceFaces>,
    mut effect: ResMut<LabEffect>,
    mut images: ResMut<Assets<Image>>,
) {
    for AddPhoto(path) in requests.read() {
        let path = path.clone();
        pending.push(AsyncComputeTaskPool::get().spawn(async move {
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut tracker = default_tracker(TrackerConfig::default())?;
            SourceFace::from_photo(&name, &bytes, &mut tracker).map_err(|e: FaceError| e.to_string())
        }));
    }
    if take.read().last().is_some() {
        match latest.0.as_ref().and_then(|f| Rgba::from_raw(f.width as usize, f.height as usize, f.rgba.to_vec())) {
            Some(frame) => {
                let tracked = tracking
                    .and_then(|t| t.fit.as_ref().map(|f| f.face_box))
                    .map(|b| [b.x as f32, b.y as f32, (b.x + b.w) as f32, (b.y + b.h) as f32]);
                let n = faces.faces.len() + 1;
                pending.push(AsyncComputeTaskPool::get().spawn(async move {
                    let detector = headroom_face::nn::BlazeFace::new().map_err(|e| e.to_string())?;
                    let mut tracker = default_tracker(TrackerConfig::default())?;
                    let name = format!("Face in view ({n})");
                    crate::faces::other_face_in_frame(&frame, tracked, &detector, &mut tracker, &name)
                        .map(|(f, _)| f)
                        .map_err(|e| e.to_string())
                }));
            }
            None => faces.problems.push("no frame yet".into()),
        }
    }
    if faces.problems.len() > 4 {
        let n = faces.problems.len() - 4;
        faces.problems.drain(..n);
    }
    let mut i = 0;
    while i < pending.len() {
        match block_on(poll_once(&mut pending[i])) {
            None => i += 1,
            Some(result) => {
                drop(pending.swap_remove(i));
                match result {
                    Ok(f) => {
                        info!("face lab: added {} ({}×{})", f.name, f.image.width, f.image.height);
                        faces.textures.push(images.add(rgba_image(&f.image)));
                        faces.faces.push(Arc::new(f));
                        effect.source = faces.faces.len() - 1;
                    }
                    Err(e) => {
                        warn!("face lab: {e}");
                        faces.problems.push(e);
                    }
                }
            }
        }
    }
}

/// The warp for Caricature, Deform and Mask from the newest fit.
fn update_warp(
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

/// Starts a blend for the newest fit when none is in flight.
#[allow(clippy::too_many_arguments)]
fn start_blend(
    tracking: Option<Res<FaceTracking>>,
    info: Option<Res<FaceModelInfo>>,
    recent: Res<RecentFrames>,
    effect: Res<LabEffect>,
    faces: Res<SourceFaces>,
    shared: Res<GpuBlend>,
    mut task: ResMut<BlendTask>,
    view: Option<ResMut<BlendView>>,
) {
    let Some(mut view) = view else { return };
    if effect.effect != Effect::Substitute {
        if view.rect.is_some() {
            view.rect = None;
        }
        return;
    }
    let (Some(t), Some(info)) = (tracking, info) else { return };
    if task.task.is_some() || task.on_gpu.is_some() || task.last_seq == Some(t.frame_seq) {
        return;
    }
    let Some(fit) = t.fit.as_ref() else {
        view.rect = None;
        return;
    };
    let Some(source) = faces.faces.get(effect.source).cloned() else { return };
    // The fit belongs to frame `frame_seq`, which the newest frame may already have replaced.
    let Some(frame) = recent.0.iter().rev().find(|f| f.seq == t.frame_seq && (f.width, f.height) == t.frame_size)
    else {
        return;
    };
    task.last_seq = Some(t.frame_seq);
    task.in_flight = Some(frame.clone());
    let available = shared.0.lock().ok().and_then(|s| s.available.clone());
    let gpu = match (effect.blend_on, available) {
        (BlendOn::Gpu, Some(_)) => true,
        (BlendOn::Auto, Some((_, software))) => !software,
        _ => false,
    };
    let (w, h, rgba) = (frame.width as usize, frame.height as usize, frame.rgba.clone());
    let points = fit.points.clone();
    let triangles = info.triangles.clone();
    task.task = Some(AsyncComputeTaskPool::get().spawn(async move {
        let start = Instant::now();
        let Some(frame) = Rgba::from_raw(w, h, rgba.to_vec()) else {
            return BlendDone { blend: None, rgba: None, ms: 0.0 };
        };
        let blend = prepare_blend(&frame, &points, &source, &triangles, ERODE, if gpu { 64 } else { 1 });
        let rgba = match (&blend, gpu) {
            (Some(b), false) => {
                let mut h = b.start.clone();
                poisson::sor(b.problem.width, &b.problem.mask, &mut h, SWEEPS, poisson::OMEGA);
                Some(poisson::compose(&b.problem, &h))
            }
            _ => None,
        };
        BlendDone { blend, rgba, ms: start.elapsed().as_secs_f32() * 1000.0 }
    }));
}

fn finish_blend(
    mut task: ResMut<BlendTask>,
    view: Option<ResMut<BlendView>>,
    mut images: ResMut<Assets<Image>>,
    shared: Res<GpuBlend>,
    time: Res<Time<bevy::time::Real>>,
) {
    let Some(mut view) = view else { return };
    let Some(t) = task.task.as_mut() else { return };
    let Some(done) = block_on(poll_once(t)) else { return };
    task.task = None;
    let now = time.elapsed_secs();
    task.finished.push(now);
    task.finished.retain(|&s| now - s < 2.0);
    view.fps = if task.finished.len() > 1 {
        (task.finished.len() - 1) as f32 / (now - task.finished[0]).max(1e-3)
    } else {
        0.0
    };
    view.prepare_ms = done.ms;
    let frame = task.in_flight.take();
    let (Some(blend), Some(frame)) = (done.blend, frame) else {
        view.rect = None;
        return;
    };
    // Two textures: the next blend is written into the one not on screen.
    let slot = task.next;
    let handle = view.textures[slot].clone();
    let (w, h) = (blend.rect.width as u32, blend.rect.height as u32);
    // A texture only grows (or shrinks when far too big), so a face that moves does not make
    // the asset system re-create it every frame.
    let Some(current) = images.get(&handle).map(|i| i.texture_descriptor.size) else { return };
    let (tw, th) = (current.width, current.height);
    let size = if w <= tw && h <= th && tw * th <= 4 * w * h {
        [tw, th]
    } else {
        let size = [(w * 5 / 4).next_multiple_of(64), (h * 5 / 4).next_multiple_of(16)];
        if let Some(mut img) = images.get_mut(&handle) {
            *img = blank(size[0], size[1]);
        }
        size
    };
    let shown = Shown { slot, rect: blend.rect, size, frame };
    match done.rgba {
        Some(rgba) => {
            let Some(mut img) = images.get_mut(&handle) else { return };
            let mut data = vec![0u8; (size[0] * size[1] * 4) as usize];
            let row = (w * 4) as usize;
            for (y, src) in rgba.chunks_exact(row).enumerate() {
                let at = y * (size[0] * 4) as usize;
                data[at..at + row].copy_from_slice(src);
            }
            img.data = Some(data);
            drop(img);
            view.engine = "cpu".into();
            show(&mut view, &mut task, &mut images, shown);
        }
        None => {
            view.engine = "gpu".into();
            task.on_gpu = Some(shown);
            if let Ok(mut s) = shared.0.lock() {
                s.job = Some((blend, handle.id()));
                s.waited = 0;
                s.result = None;
            }
        }
    }
}

/// A finished blend waiting to be shown: its texture slot, where it goes, the texture's size and
/// the frame it was made in.
struct Shown {
    slot: usize,
    rect: PixelRect,
    size: [u32; 2],
    frame: headroom_capture::Frame,
}

fn show(view: &mut BlendView, task: &mut BlendTask, images: &mut Assets<Image>, s: Shown) {
    view.image = view.textures[s.slot].clone();
    view.rect = Some(s.rect);
    view.texture_size = s.size;
    view.frame_seq = s.frame.seq;
    view.blends += 1;
    if view.blends == 1 {
        info!("face lab: face swap: first blend ({}×{}, sweeps on the {})", s.rect.width, s.rect.height, view.engine);
    }
    show_frame(images, &view.frame, &s.frame);
    task.next = 1 - s.slot;
}

/// The GPU path's blend, once the render world has written it into its texture. Until then no
/// new blend starts, so the texture on screen is never the one being written.
fn show_gpu_blend(
    shared: Res<GpuBlend>,
    view: Option<ResMut<BlendView>>,
    effect: Res<LabEffect>,
    mut task: ResMut<BlendTask>,
    mut images: ResMut<Assets<Image>>,
) {
    let Some(mut view) = view else { return };
    let Some(written) = shared.0.lock().ok().and_then(|mut s| s.result.take()) else { return };
    let Some(shown) = task.on_gpu.take() else { return };
    if written && effect.effect == Effect::Substitute {
        show(&mut view, &mut task, &mut images, shown);
    }
}

fn show_frame(images: &mut Assets<Image>, handle: &Handle<Image>, frame: &headroom_capture::Frame) {
    let Some(mut img) = images.get_mut(handle) else { return };
    let size = img.texture_descriptor.size;
    if (size.width, size.height) != (frame.width, frame.height) {
        *img = blank(frame.width, frame.height);
    }
    img.data = Some(frame.rgba.to_vec());
}

/// In the `RenderGraph` schedule: the sweeps and the compose into this frame's encoder, then
/// the result copied into the blend's texture.
fn gpu_blend_step(
    mut ctx: RenderContext,
    shared: Res<GpuBlend>,
    mut state: ResMut<GpuBlendRender>,
    images: Res<RenderAssets<GpuImage>>,
    queue: Res<RenderQueue>,
) {
    let Ok(mut s) = shared.0.lock() else { return };
    let Some((blend, id)) = s.job.take() else { return };
    let state = &mut *state;
    let Some(kernel) = state.kernel.as_ref() else { return };
    let (w, h) = (blend.rect.width, blend.rect.height);
    // A grown texture is re-created by the asset system; wait for it (a frame or two).
    let Some(target) = images.get(id).filter(|g| g.texture.width() >= w as u32 && g.texture.height() >= h as u32)
    else {
        s.waited += 1;
        if s.waited < 10 {
            s.job = Some((blend, id));
        } else {
            s.result = Some(false);
        }
        return;
    };
    let device = ctx.render_device().wgpu_device().clone();
    if state.run.as_ref().is_none_or(|r| r.size() != (w, h)) {
        state.run = Some(GpuPoisson::new(&device, kernel, w, h));
    }
    let Some(run) = state.run.as_ref() else { return };
    let q: &wgpu::Queue = &queue;
    let enc = ctx.command_encoder();
    if let Err(e) = run.encode(kernel, q, enc, &blend.problem, &blend.start, SWEEPS) {
        error!("face swap: {e}");
        s.result = Some(false);
        return;
    }
    enc.copy_buffer_to_texture(
        wgpu::TexelCopyBufferInfo {
            buffer: run.output(),
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w as u32 * 4),
                rows_per_image: Some(h as u32),
            },
        },
        wgpu::TexelCopyTextureInfo {
            texture: &target.texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::Extent3d { width: w as u32, height: h as u32, depth_or_array_layers: 1 },
    );
    s.result = Some(true);
}
