//! The gallery viewer (Bevy): every work a camera-facing textured quad, drawn as one merged mesh per
//! atlas (a few draw calls for thousands of works), the small tier far away and the large tier for
//! the works nearest the camera; fly/orbit navigation with the head-coupled off-axis window on top;
//! hover (outline drawn over everything) and click to open a work; search and filters that fade
//! the rest; four layouts with animated transitions; a period panel with typical works and
//! outliers. The logic lives in [`crate::view`]; this file is glue.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy::asset::RenderAssetUsages;
use bevy::camera::ClearColorConfig;
use bevy::camera::visibility::NoFrustumCulling;
use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::state::state::FreelyMutableState;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, EguiTextureHandle, egui};
use headroom_offaxis::OffAxisCamera;

use crate::manifest::{Manifest, PeriodKind};
use crate::view::{self, Filter, Layout, Quad, Transition};

/// World units per centimetre of the physical screen (a thumbnail is 1 unit: ~10 cm on screen at
/// the screen plane).
const WORLD_PER_CM: f32 = 0.1;
/// Works nearest the camera drawn from the largest tier.
const NEAR_COUNT: usize = 160;

/// The manifest the gallery opens (`headroom gallery [MANIFEST|DIR]`); default: the bundled demo.
#[derive(Resource, Clone, Debug)]
pub struct GallerySource(pub PathBuf);

/// The bundled demo collection's manifest.
pub fn default_manifest() -> PathBuf {
    if cfg!(target_arch = "wasm32") {
        // Served beside the page.
        return PathBuf::from("assets/gallery/public-art/manifest.json");
    }
    crate::build::find_asset("gallery/public-art/manifest.json")
}

/// Resolves `MANIFEST|DIR` to a manifest path (a folder must hold `manifest.json`).
pub fn resolve_manifest(p: &std::path::Path) -> Result<PathBuf, String> {
    if p.is_dir() {
        let m = p.join(crate::manifest::FILE_NAME);
        if m.exists() {
            return Ok(m);
        }
        return Err(format!(
            "{} has no manifest.json; build one first: headroom build-gallery {} --out OUT",
            p.display(),
            p.display()
        ));
    }
    if p.exists() { Ok(p.to_path_buf()) } else { Err(format!("{}: no such manifest or folder", p.display())) }
}

/// Render the gallery into this image instead of the window (headless rendering, tests).
#[derive(Resource, Clone, Debug)]
pub struct GalleryRenderTarget(pub Handle<Image>);

/// The gallery viewer's systems (in `Update`): loading, flying, picking. Ordered after the head
/// stage by the app.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct GallerySystems;

pub struct GalleryPlugin<S: States> {
    pub screen: S,
}

impl<S: States + FreelyMutableState + Copy> Plugin for GalleryPlugin<S> {
    fn build(&self, app: &mut App) {
        let s = self.screen;
        if !app.is_plugin_added::<FrameTimeDiagnosticsPlugin>() {
            app.add_plugins(FrameTimeDiagnosticsPlugin::default());
        }
        app.insert_gizmo_config(
            GalleryGizmos,
            GizmoConfig { depth_bias: -1.0, line: GizmoLineConfig { width: 3.0, ..default() }, ..default() },
        );
        if !app.world().contains_resource::<GallerySource>() {
            app.insert_resource(GallerySource(default_manifest()));
        }
        app.init_resource::<LiveRelayout>();
        app.add_systems(
            OnEnter(s),
            move |commands: Commands, src: Res<GallerySource>, target: Option<Res<GalleryRenderTarget>>| {
                start_loading(commands, src, target, s)
            },
        )
        .add_systems(OnExit(s), |mut commands: Commands| {
            commands.remove_resource::<Gallery>();
            commands.remove_resource::<Loading>();
        })
        .add_systems(
            Update,
            (finish_loading, navigate, animate, update_meshes, hover, outline)
                .chain()
                .run_if(in_state(s))
                .in_set(GallerySystems),
        )
        .add_systems(EguiPrimaryContextPass, ui.run_if(in_state(s)));
    }
}

/// An atlas decoded off the main thread.
struct RawAtlas {
    size: [u32; 2],
    rgba: Vec<u8>,
}

struct Loaded {
    manifest: Manifest,
    path: PathBuf,
    atlases: Vec<Vec<RawAtlas>>,
}

#[derive(Resource)]
struct Loading {
    task: Option<Task<Result<Loaded, String>>>,
    error: Option<String>,
    path: PathBuf,
    /// Files read so far and in all (the manifest, then the atlases).
    progress: Arc<(AtomicUsize, AtomicUsize)>,
}

/// Camera flight to a work.
#[derive(Clone, Copy, Debug)]
struct Flight {
    from: Vec3,
    to: Vec3,
    t: f32,
}

/// The open gallery.
#[derive(Resource)]
pub struct Gallery {
    pub manifest: Manifest,
    pub path: PathBuf,
    pub layout: Layout,
    pub positions: Vec<[f32; 3]>,
    transition: Option<Transition>,
    pub filter: Filter,
    pub mask: Vec<bool>,
    pub hovered: Option<usize>,
    pub selected: Option<usize>,
    near: Vec<bool>,
    dirty: bool,
    last_axes: (Vec3, Vec3),
    /// Per tier, per atlas: the merged mesh and the texture.
    meshes: Vec<Vec<Handle<Mesh>>>,
    /// Atlas textures per tier (strong handles: they stay loaded while the gallery is open).
    pub textures: Vec<Vec<Handle<Image>>>,
    egui_textures: Vec<Vec<egui::TextureId>>,
    flight: Option<Flight>,
    orbit: bool,
    period_kind: PeriodKind,
    period: usize,
    years: (i32, i32),
    museums: Vec<(String, usize)>,
    media: Vec<(String, usize)>,
    /// RMS radius of the 3D map as loaded: live re-layouts are shown at this size.
    map_radius: f32,
}

/// A live re-layout of the open collection: the GPU plugin (headroom-gpu) runs t-SNE in the
/// render graph, reads the positions back each frame and hands them to [`Gallery::show_live_positions`].
#[derive(Resource, Default, Debug, Clone)]
pub struct LiveRelayout {
    /// Set by whoever can run it (the GPU plugin, when a compute-capable adapter is present).
    pub available: Option<String>,
    /// Set by the toolbar button; taken by the runner.
    pub requested: bool,
    pub iteration: usize,
    pub total: usize,
    pub running: bool,
}

impl Gallery {
    /// Shows raw t-SNE positions (any scale) as the 3D map, with no transition.
    pub fn show_live_positions(&mut self, raw: Vec<[f32; 3]>) {
        if raw.len() != self.positions.len() {
            return;
        }
        self.positions = view::fit_radius(raw, self.map_radius);
        self.layout = Layout::Map3d;
        self.transition = None;
        self.dirty = true;
    }
}

#[derive(Component)]
struct Rig;

/// The gallery's outlines: drawn over everything.
#[derive(Default, Reflect, GizmoConfigGroup)]
struct GalleryGizmos;

fn start_loading<S: States + Copy>(
    mut commands: Commands,
    src: Res<GallerySource>,
    target: Option<Res<GalleryRenderTarget>>,
    screen: S,
) {
    let path = src.0.clone();
    let p = path.clone();
    let progress: Arc<(AtomicUsize, AtomicUsize)> = Arc::default();
    let pr = progress.clone();
    let task = AsyncComputeTaskPool::get().spawn(async move { load(&p, &pr).await });
    commands.insert_resource(Loading { task: Some(task), error: None, path, progress });
    commands
        .spawn((
            Name::new("gallery rig"),
            Rig,
            Transform::from_xyz(0.0, 0.0, 60.0),
            Visibility::default(),
            DespawnOnExit(screen),
        ))
        .with_children(|rig| {
            let mut cam = rig.spawn((
                OffAxisCamera { world_per_cm: WORLD_PER_CM, near: 0.05, far: 5000.0 },
                Msaa::Off,
                Camera { order: 0, clear_color: ClearColorConfig::Custom(Color::srgb(0.06, 0.06, 0.07)), ..default() },
            ));
            if let Some(t) = target {
                cam.insert(bevy::camera::RenderTarget::Image(t.0.clone().into()));
            }
        });
}

/// A file's bytes: from disk natively, over HTTP (relative to the page) in the web build.
async fn read_bytes(path: &std::path::Path) -> Result<Vec<u8>, String> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen_futures::JsFuture;
        let url = path.to_string_lossy().replace('\\', "/");
        let fail = |what: &str, e: wasm_bindgen::JsValue| format!("cannot fetch {url}: {what} ({e:?})");
        let window = web_sys::window().ok_or_else(|| format!("cannot fetch {url}: no browser window"))?;
        let resp = JsFuture::from(window.fetch_with_str(&url)).await.map_err(|e| fail("network", e))?;
        let resp: web_sys::Response = resp.dyn_into().map_err(|e| fail("not a response", e))?;
        if !resp.ok() {
            return Err(format!("cannot fetch {url}: HTTP {}", resp.status()));
        }
        let buf =
            JsFuture::from(resp.array_buffer().map_err(|e| fail("body", e))?).await.map_err(|e| fail("body", e))?;
        Ok(js_sys::Uint8Array::new(&buf).to_vec())
    }
}

/// Atlases in the browser: `fetch` → `Blob` → `createImageBitmap` (decoded by the browser, off
/// the page's thread, no colour conversion) → a 2D canvas → RGBA bytes. If the browser cannot
/// decode one, the `image` crate does, as natively.
#[cfg(target_arch = "wasm32")]
mod web {
    use std::path::Path;

    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    /// Starts downloading and decoding one atlas: a promise of `[blob, bitmap or null]`. The whole
    /// chain runs in the browser, so every atlas downloads and decodes at once, whatever the
    /// app's frame rate (a Rust `await` costs a frame).
    pub fn start_fetch(file: &Path) -> Result<JsFuture, String> {
        let url = file.to_string_lossy().replace('\\', "/");
        let fail = |e: JsValue| format!("cannot fetch {url}: {e:?}");
        let chain = js_sys::Function::new_with_args(
            "url, opts",
            "return fetch(url).then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.blob(); })\
             .then((b) => createImageBitmap(b, opts).then((bm) => [b, bm], () => [b, null]));",
        );
        let opts = js_sys::Object::new();
        js_sys::Reflect::set(&opts, &"colorSpaceConversion".into(), &"none".into()).map_err(fail)?;
        js_sys::Reflect::set(&opts, &"premultiplyAlpha".into(), &"none".into()).map_err(fail)?;
        let promise: js_sys::Promise =
            chain.call2(&JsValue::NULL, &JsValue::from_str(&url), &opts).map_err(fail)?.dyn_into().map_err(fail)?;
        Ok(JsFuture::from(promise))
    }

    pub async fn decode_atlas(fetch: JsFuture, file: &Path) -> Result<(u32, u32, Vec<u8>), String> {
        let url = file.to_string_lossy().replace('\\', "/");
        let fail = |what: &str, e: JsValue| format!("cannot load atlas {url}: {what} ({e:?})");
        let pair: js_sys::Array =
            fetch.await.map_err(|e| fail("network", e))?.dyn_into().map_err(|e| fail("fetch", e))?;
        let blob: web_sys::Blob = pair.get(0).dyn_into().map_err(|e| fail("body", e))?;
        let bitmap = pair.get(1).dyn_into::<web_sys::ImageBitmap>().ok();
        if let Some(bitmap) = bitmap
            && let Ok(img) = pixels(&bitmap)
        {
            return Ok(img);
        }
        web_sys::console::warn_1(&format!("gallery: the browser could not decode {url}; decoding it in wasm").into());
        let buf = JsFuture::from(blob.array_buffer()).await.map_err(|e| fail("body", e))?;
        let bytes = js_sys::Uint8Array::new(&buf).to_vec();
        let img = image::load_from_memory(&bytes).map_err(|e| format!("cannot read atlas {url}: {e}"))?.to_rgba8();
        Ok((img.width(), img.height(), img.into_raw()))
    }

    /// A decoded bitmap's RGBA bytes, through a 2D canvas.
    fn pixels(bitmap: &web_sys::ImageBitmap) -> Result<(u32, u32, Vec<u8>), JsValue> {
        let (w, h) = (bitmap.width(), bitmap.height());
        let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
        let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas")?.dyn_into()?;
        canvas.set_width(w);
        canvas.set_height(h);
        let attrs = js_sys::Object::new();
        js_sys::Reflect::set(&attrs, &"willReadFrequently".into(), &JsValue::TRUE)?;
        let ctx: web_sys::CanvasRenderingContext2d =
            canvas.get_context_with_context_options("2d", &attrs)?.ok_or("no 2d context")?.dyn_into()?;
        ctx.draw_image_with_image_bitmap(bitmap, 0.0, 0.0)?;
        bitmap.close();
        let data = ctx.get_image_data(0.0, 0.0, w as f64, h as f64)?.data().0;
        canvas.set_width(0);
        Ok((w, h, data))
    }
}

async fn load(path: &std::path::Path, progress: &(AtomicUsize, AtomicUsize)) -> Result<Loaded, String> {
    progress.1.store(1, Ordering::Relaxed);
    let bytes = read_bytes(path).await?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    let manifest = Manifest::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    progress.0.store(1, Ordering::Relaxed);
    progress.1.store(
        1 + (0..manifest.tiers.len()).map(|t| manifest.atlas_paths(path, t).len()).sum::<usize>(),
        Ordering::Relaxed,
    );
    // In the browser every atlas is requested at once (the downloads overlap) and decoded by the
    // browser's own image decoder, off the page's thread.
    #[cfg(target_arch = "wasm32")]
    let mut pending: std::collections::VecDeque<_> = (0..manifest.tiers.len())
        .flat_map(|t| manifest.atlas_paths(path, t))
        .map(|file| (web::start_fetch(&file), file))
        .collect();
    let mut atlases = Vec::new();
    for t in 0..manifest.tiers.len() {
        let mut tier = Vec::new();
        for (a, file) in manifest.atlas_paths(path, t).into_iter().enumerate() {
            #[cfg(target_arch = "wasm32")]
            let (w, h, rgba) = {
                let (fetch, _) = pending.pop_front().ok_or("atlas list changed while loading")?;
                web::decode_atlas(fetch?, &file).await?
            };
            #[cfg(not(target_arch = "wasm32"))]
            let (w, h, rgba) = {
                let bytes = read_bytes(&file).await?;
                let img = image::load_from_memory(&bytes)
                    .map_err(|e| format!("cannot read atlas {}: {e}", file.display()))?
                    .to_rgba8();
                (img.width(), img.height(), img.into_raw())
            };
            progress.0.fetch_add(1, Ordering::Relaxed);
            let want = manifest.tiers[t].atlas_sizes[a];
            if [w, h] != want {
                return Err(format!("atlas {} is {w}×{h}, the manifest says {}×{}", file.display(), want[0], want[1]));
            }
            tier.push(RawAtlas { size: want, rgba });
        }
        atlases.push(tier);
    }
    Ok(Loaded { manifest, path: path.to_path_buf(), atlases })
}

#[allow(clippy::too_many_arguments)]
fn finish_loading(
    mut commands: Commands,
    loading: Option<ResMut<Loading>>,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut contexts: Option<EguiContexts>,
    mut rig: Query<&mut Transform, With<Rig>>,
) {
    let Some(mut loading) = loading else { return };
    let Some(task) = loading.task.as_mut() else { return };
    let Some(result) = block_on(poll_once(task)) else { return };
    loading.task = None;
    let loaded = match result {
        Ok(l) => l,
        Err(e) => {
            error!("gallery: {e}");
            loading.error = Some(e);
            return;
        }
    };
    let m = loaded.manifest;
    let mut tex = Vec::new();
    let mut mesh_handles = Vec::new();
    let mut egui_ids = Vec::new();
    for (t, tier) in loaded.atlases.into_iter().enumerate() {
        let mut th = Vec::new();
        let mut mh = Vec::new();
        let mut eh = Vec::new();
        for raw in tier {
            let image = Image::new(
                Extent3d { width: raw.size[0], height: raw.size[1], depth_or_array_layers: 1 },
                TextureDimension::D2,
                raw.rgba,
                TextureFormat::Rgba8UnormSrgb,
                RenderAssetUsages::RENDER_WORLD,
            );
            let h = images.add(image);
            if let Some(c) = contexts.as_mut() {
                eh.push(c.add_image(EguiTextureHandle::Strong(h.clone())));
            }
            let mat = materials.add(StandardMaterial {
                base_color_texture: Some(h.clone()),
                unlit: true,
                cull_mode: None,
                ..default()
            });
            let mesh = meshes.add(empty_mesh());
            commands.spawn((
                Name::new(format!("gallery tier {t} atlas")),
                Mesh3d(mesh.clone()),
                MeshMaterial3d(mat),
                Transform::default(),
                NoFrustumCulling,
                GalleryMesh,
            ));
            th.push(h);
            mh.push(mesh);
        }
        tex.push(th);
        mesh_handles.push(mh);
        egui_ids.push(eh);
    }
    let positions = view::layout_positions(&m, Layout::Map3d);
    let map_radius = view::rms_radius(&positions);
    // Start where the whole map fits the view (the window spans about ±15° at the screen).
    let radius = {
        let mut r: Vec<f32> = positions.iter().map(|p| Vec3::from(*p).length()).collect();
        r.sort_by(f32::total_cmp);
        r.get(r.len() * 9 / 10).copied().unwrap_or(10.0)
    };
    if let Ok(mut t) = rig.single_mut() {
        *t = Transform::from_xyz(0.0, 0.0, radius * 2.6 + 5.0);
    }
    let years = m.works.iter().filter_map(|w| w.meta.year).fold((i32::MAX, i32::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let museums = view::common_values(&m, |w| &w.meta.museum, 40);
    let media = view::common_values(&m, |w| &w.meta.medium, 40);
    let n = m.works.len();
    let m_periods = m.periods.clone();
    info!("gallery: {} works from {}", n, loaded.path.display());
    commands.insert_resource(Gallery {
        mask: vec![true; n],
        near: vec![false; n],
        manifest: m,
        path: loaded.path,
        layout: Layout::Map3d,
        positions,
        transition: None,
        filter: Filter::default(),
        hovered: None,
        selected: None,
        dirty: true,
        last_axes: (Vec3::ZERO, Vec3::ZERO),
        meshes: mesh_handles,
        textures: tex,
        egui_textures: egui_ids,
        flight: None,
        orbit: false,
        period_kind: PeriodKind::Century,
        period: largest_period(&m_periods, PeriodKind::Century),
        years: if years.0 <= years.1 { years } else { (0, 0) },
        museums,
        media,
        map_radius,
    });
    commands.remove_resource::<Loading>();
}

#[derive(Component)]
struct GalleryMesh;

/// Index (among the periods of `kind` with at least 3 works) of the one with the most works.
fn largest_period(periods: &[crate::manifest::Period], kind: PeriodKind) -> usize {
    periods
        .iter()
        .filter(|p| p.kind == kind && p.count >= 3)
        .enumerate()
        .max_by_key(|(_, p)| p.count)
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// A mesh holding one zero-area quad: Bevy's mesh allocator mishandles meshes that become empty
/// ("slab_allocator: Use-after-free" errors when one is re-uploaded), so a bucket with no works
/// keeps an invisible degenerate quad instead.
fn empty_mesh() -> Mesh {
    let mut m = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::default());
    m.insert_attribute(Mesh::ATTRIBUTE_POSITION, vec![[0.0f32; 3]; 4]);
    m.insert_attribute(Mesh::ATTRIBUTE_UV_0, vec![[0.0f32; 2]; 4]);
    m.insert_attribute(Mesh::ATTRIBUTE_COLOR, vec![[0.0f32; 4]; 4]);
    m.insert_indices(Indices::U32(vec![0, 1, 2, 0, 2, 3]));
    m
}

/// Selects a work and flies the camera to it.
fn go_to(g: &mut Gallery, rig: &Transform, i: usize) {
    g.selected = Some(i);
    let p = Vec3::from(g.positions[i]);
    let back = rig.rotation * Vec3::Z;
    g.flight = Some(Flight { from: rig.translation, to: p + back * 2.2, t: 0.0 });
}

#[allow(clippy::too_many_arguments)]
fn navigate(
    time: Res<Time>,
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    gallery: Option<ResMut<Gallery>>,
    mut rig: Query<&mut Transform, With<Rig>>,
    mut contexts: Option<EguiContexts>,
) {
    let Some(mut g) = gallery else { return };
    let Ok(mut t) = rig.single_mut() else { return };
    let typing = contexts.as_mut().and_then(|c| c.ctx_mut().ok()).is_some_and(|c| c.egui_wants_keyboard_input());
    let over_ui = contexts
        .as_mut()
        .and_then(|c| c.ctx_mut().ok())
        .is_some_and(|c| c.egui_wants_pointer_input() || c.is_pointer_over_egui());
    let dt = time.delta_secs().min(0.1);
    if !typing {
        // Layouts: 1–4.
        for (k, key) in [KeyCode::Digit1, KeyCode::Digit2, KeyCode::Digit3, KeyCode::Digit4].iter().enumerate() {
            if keys.just_pressed(*key) {
                set_layout(&mut g, Layout::ALL[k]);
            }
        }
        if keys.just_pressed(KeyCode::KeyO) {
            g.orbit = !g.orbit;
        }
        // Keyboard-only selection: F picks the work at the centre of the view; N / B step through
        // its similar works; G flies to the selection; X closes it.
        if keys.just_pressed(KeyCode::KeyF) {
            let fwd = t.rotation * -Vec3::Z;
            let quads = quads(&g);
            let pickable = g.filter.is_active().then_some(g.mask.as_slice());
            if let Some((i, _)) = view::pick(
                t.translation.into(),
                fwd.into(),
                (t.rotation * Vec3::X).into(),
                (t.rotation * Vec3::Y).into(),
                &quads,
                pickable,
            ) {
                g.selected = Some(i);
            }
        }
        if let Some(sel) = g.selected {
            if keys.just_pressed(KeyCode::KeyN) || keys.just_pressed(KeyCode::KeyB) {
                let sim = &g.manifest.works[sel].similar;
                if !sim.is_empty() {
                    let k = if keys.just_pressed(KeyCode::KeyN) { 0 } else { sim.len() - 1 };
                    let next = sim[k] as usize;
                    go_to(&mut g, &t, next);
                }
            }
            if keys.just_pressed(KeyCode::KeyG) {
                go_to(&mut g, &t, sel);
            }
            if keys.just_pressed(KeyCode::KeyX) {
                g.selected = None;
            }
        }
    }
    // Flight in progress: eased, and any manual move cancels it.
    let speed = if keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight) { 60.0 } else { 15.0 };
    let mut mv = Vec3::ZERO;
    if !typing {
        for (key, d) in [
            (KeyCode::KeyW, -Vec3::Z),
            (KeyCode::KeyS, Vec3::Z),
            (KeyCode::KeyA, -Vec3::X),
            (KeyCode::KeyD, Vec3::X),
            (KeyCode::KeyE, Vec3::Y),
            (KeyCode::KeyQ, -Vec3::Y),
        ] {
            if keys.pressed(key) {
                mv += d;
            }
        }
    }
    if !over_ui && scroll.delta.y != 0.0 {
        mv += -Vec3::Z * scroll.delta.y.signum() * 6.0;
    }
    let mut yaw = 0.0;
    let mut pitch = 0.0;
    if !typing {
        let k = 1.2 * dt;
        if keys.pressed(KeyCode::ArrowLeft) {
            yaw += k;
        }
        if keys.pressed(KeyCode::ArrowRight) {
            yaw -= k;
        }
        if keys.pressed(KeyCode::ArrowUp) {
            pitch += k;
        }
        if keys.pressed(KeyCode::ArrowDown) {
            pitch -= k;
        }
    }
    if buttons.pressed(MouseButton::Right) && !over_ui {
        yaw -= motion.delta.x * 0.004;
        pitch -= motion.delta.y * 0.004;
    }
    if mv != Vec3::ZERO || yaw != 0.0 || pitch != 0.0 {
        g.flight = None;
    }
    if let Some(f) = g.flight.as_mut() {
        f.t = (f.t + dt / 1.0).min(1.0);
        let e = f.t * f.t * (3.0 - 2.0 * f.t);
        t.translation = f.from.lerp(f.to, e);
        if f.t >= 1.0 {
            g.flight = None;
        }
        return;
    }
    if g.orbit {
        // Orbit about the map's centre (or the selection).
        let pivot = g.selected.map(|i| Vec3::from(g.positions[i])).unwrap_or(Vec3::ZERO);
        let offset = t.translation - pivot;
        let r = Quat::from_rotation_y(yaw) * Quat::from_axis_angle(t.rotation * Vec3::X, pitch);
        t.translation = pivot + r * offset;
        t.rotation = r * t.rotation;
        let dist = offset.length();
        let dir = (t.translation - pivot).normalize_or_zero();
        t.translation += dir * (mv.z * speed * dt).clamp(-dist + 1.0, 1e6);
    } else {
        t.rotate_y(yaw);
        t.rotate_local_x(pitch);
        let r = t.rotation;
        t.translation += r * mv * speed * dt;
    }
}

fn set_layout(g: &mut Gallery, layout: Layout) {
    if g.layout == layout {
        return;
    }
    let to = view::layout_positions(&g.manifest, layout);
    g.transition = Some(Transition::new(g.positions.clone(), to, 1.2));
    g.layout = layout;
}

fn animate(time: Res<Time>, gallery: Option<ResMut<Gallery>>) {
    let Some(mut g) = gallery else { return };
    let Some(tr) = g.transition.as_mut() else { return };
    let done = tr.advance(time.delta_secs());
    let p = tr.positions();
    g.positions = p;
    if done {
        g.transition = None;
    }
    g.dirty = true;
}

/// Size of a work's quad: faded works (filter active, not matching) shrink to 60 %.
fn quad_scale(g: &Gallery, i: usize) -> f32 {
    if g.filter.is_active() && !g.mask[i] { 0.6 } else { 1.0 }
}

fn quads(g: &Gallery) -> Vec<Quad> {
    g.manifest
        .works
        .iter()
        .enumerate()
        .map(|(i, w)| Quad { center: g.positions[i], half: view::quad_half(w, quad_scale(g, i)) })
        .collect()
}

/// Vertex data of one merged atlas mesh.
#[derive(Default)]
struct MeshBuffers {
    pos: Vec<[f32; 3]>,
    uv: Vec<[f32; 2]>,
    col: Vec<[f32; 4]>,
}

/// Rebuilds the merged meshes when the camera turns, works move, the filter changes or the set of
/// near works (large tier) changes.
fn update_meshes(
    gallery: Option<ResMut<Gallery>>,
    rig: Query<&GlobalTransform, With<Rig>>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let Some(mut g) = gallery else { return };
    let Ok(cam) = rig.single() else { return };
    let (right, up) = (cam.right().as_vec3(), cam.up().as_vec3());
    let eye = cam.translation();
    // The works nearest the camera (in front of it) use the largest tier.
    let tiers = g.manifest.tiers.len();
    let mut near = vec![false; g.positions.len()];
    if tiers > 1 {
        let fwd = cam.forward().as_vec3();
        let mut d: Vec<(f32, usize)> = g
            .positions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let v = Vec3::from(*p) - eye;
                (v.dot(fwd) > 0.0).then_some((v.length_squared(), i))
            })
            .collect();
        let k = NEAR_COUNT.min(d.len());
        if k > 0 {
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            for &(_, i) in &d[..k] {
                near[i] = true;
            }
        }
    }
    let turned = (right - g.last_axes.0).length() > 1e-4 || (up - g.last_axes.1).length() > 1e-4;
    if !(g.dirty || turned || near != g.near) {
        return;
    }
    g.dirty = false;
    g.last_axes = (right, up);
    g.near = near;
    let dim = g.filter.is_active();
    // One pass over the works into per-(tier, atlas) buckets: near works (only marked when there
    // is more than one tier) use the largest tier, the rest the smallest.
    let top = tiers.saturating_sub(1);
    let mut buckets: Vec<Vec<MeshBuffers>> =
        g.meshes.iter().map(|atlases| (0..atlases.len()).map(|_| MeshBuffers::default()).collect()).collect();
    for (i, w) in g.manifest.works.iter().enumerate() {
        let t = if g.near[i] { top } else { 0 };
        let faded = dim && !g.mask[i];
        let [hw, hh] = view::quad_half(w, quad_scale(&g, i));
        let c = Vec3::from(g.positions[i]);
        let r = w.thumbs[t];
        let [aw, ah] = g.manifest.tiers[t].atlas_sizes[r.atlas as usize];
        let (u0, v0) = (r.rect[0] as f32 / aw as f32, r.rect[1] as f32 / ah as f32);
        let (u1, v1) = ((r.rect[0] + r.rect[2]) as f32 / aw as f32, (r.rect[1] + r.rect[3]) as f32 / ah as f32);
        let b = &mut buckets[t][r.atlas as usize];
        let (x, y) = (right * hw, up * hh);
        for (p, q) in [(c - x - y, [u0, v1]), (c + x - y, [u1, v1]), (c + x + y, [u1, v0]), (c - x + y, [u0, v0])] {
            b.pos.push(p.into());
            b.uv.push(q);
            b.col.push(if faded { [0.12, 0.12, 0.12, 1.0] } else { [1.0; 4] });
        }
    }
    for (handles, atlases) in g.meshes.iter().zip(buckets) {
        for (handle, b) in handles.iter().zip(atlases) {
            let Some(mut mesh) = meshes.get_mut(handle) else { continue };
            if b.pos.is_empty() {
                *mesh = empty_mesh();
                continue;
            }
            let quads = b.pos.len() / 4;
            let idx: Vec<u32> = (0..quads as u32).flat_map(|q| [0, 1, 2, 0, 2, 3].map(|k| q * 4 + k)).collect();
            mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, b.pos);
            mesh.insert_attribute(Mesh::ATTRIBUTE_UV_0, b.uv);
            mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, b.col);
            mesh.insert_indices(Indices::U32(idx));
        }
    }
}

fn hover(
    gallery: Option<ResMut<Gallery>>,
    windows: Query<&Window>,
    cams: Query<(&Camera, &GlobalTransform), With<OffAxisCamera>>,
    rig: Query<&Transform, With<Rig>>,
    buttons: Res<ButtonInput<MouseButton>>,
    mut contexts: Option<EguiContexts>,
) {
    let Some(mut g) = gallery else { return };
    let over_ui = contexts
        .as_mut()
        .and_then(|c| c.ctx_mut().ok())
        .is_some_and(|c| c.egui_wants_pointer_input() || c.is_pointer_over_egui());
    let cursor = windows.iter().next().and_then(|w| w.cursor_position());
    let (Some(cursor), Ok((camera, cam_t)), Ok(rig_t)) = (cursor, cams.single(), rig.single()) else {
        g.hovered = None;
        return;
    };
    if over_ui {
        g.hovered = None;
        return;
    }
    let Ok(ray) = camera.viewport_to_world(cam_t, cursor) else { return };
    let quads = quads(&g);
    let pickable = g.filter.is_active().then_some(g.mask.as_slice());
    let hit = view::pick(
        ray.origin.into(),
        ray.direction.as_vec3().into(),
        (rig_t.rotation * Vec3::X).into(),
        (rig_t.rotation * Vec3::Y).into(),
        &quads,
        pickable,
    );
    g.hovered = hit.map(|h| h.0);
    if buttons.just_pressed(MouseButton::Left)
        && let Some(i) = g.hovered
    {
        g.selected = Some(i);
    }
}

/// Outlines the hovered and the selected work; gizmos are drawn over everything (depth bias −1), so
/// a hovered work is never hidden behind others.
fn outline(gallery: Option<Res<Gallery>>, rig: Query<&Transform, With<Rig>>, mut gizmos: Gizmos<GalleryGizmos>) {
    let Some(g) = gallery else { return };
    let Ok(t) = rig.single() else { return };
    for (i, color) in [(g.hovered, Color::srgb(1.0, 0.85, 0.2)), (g.selected, Color::srgb(0.3, 0.8, 1.0))] {
        let Some(i) = i else { continue };
        let [hw, hh] = view::quad_half(&g.manifest.works[i], 1.06);
        let c = Vec3::from(g.positions[i]);
        let (x, y) = (t.rotation * Vec3::X * hw, t.rotation * Vec3::Y * hh);
        gizmos.linestrip([c - x - y, c + x - y, c + x + y, c - x + y, c - x - y], color);
    }
}

fn thumb_image(g: &Gallery, i: usize, tier: usize, height: f32) -> Option<egui::Image<'static>> {
    let r = g.manifest.works[i].thumbs.get(tier)?;
    let id = *g.egui_textures.get(tier)?.get(r.atlas as usize)?;
    let [aw, ah] = g.manifest.tiers[tier].atlas_sizes[r.atlas as usize];
    let uv = egui::Rect::from_min_max(
        egui::pos2(r.rect[0] as f32 / aw as f32, r.rect[1] as f32 / ah as f32),
        egui::pos2((r.rect[0] + r.rect[2]) as f32 / aw as f32, (r.rect[1] + r.rect[3]) as f32 / ah as f32),
    );
    let w = height * r.rect[2] as f32 / r.rect[3].max(1) as f32;
    Some(egui::Image::new((id, egui::vec2(w, height))).uv(uv))
}

#[allow(clippy::too_many_arguments)]
fn ui(
    mut contexts: EguiContexts,
    gallery: Option<ResMut<Gallery>>,
    loading: Option<Res<Loading>>,
    diagnostics: Option<Res<DiagnosticsStore>>,
    rig: Query<&Transform, With<Rig>>,
    mut live: ResMut<LiveRelayout>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let Some(mut g) = gallery else {
        let msg = match loading.as_deref() {
            Some(Loading { error: Some(e), .. }) => format!("Cannot open the gallery: {e}\n\nEsc: back to the menu."),
            Some(l) => {
                let (done, all) = (l.progress.0.load(Ordering::Relaxed), l.progress.1.load(Ordering::Relaxed));
                format!("Loading {} … ({done} of {} files)", l.path.display(), all.max(1))
            }
            None => "Loading …".into(),
        };
        egui::Area::new("gallery_loading".into()).anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0]).show(&ctx, |ui| {
            ui.label(egui::RichText::new(msg).size(18.0).color(egui::Color32::WHITE));
        });
        return Ok(());
    };
    let g = &mut *g;
    let hi = g.manifest.tiers.len().saturating_sub(1);
    let mut jump: Option<usize> = None;
    // Toolbar: layouts, search, filters, periods.
    egui::Window::new(format!("{} — {} works", g.manifest.name, g.manifest.works.len()))
        .anchor(egui::Align2::LEFT_TOP, [10.0, 10.0])
        .default_width(300.0)
        .resizable(false)
        .show(&ctx, |ui| {
            ui.horizontal_wrapped(|ui| {
                for (k, l) in Layout::ALL.iter().enumerate() {
                    if ui.selectable_label(g.layout == *l, format!("{} {}", k + 1, l.label())).clicked() {
                        set_layout(g, *l);
                    }
                }
            });
            if let Some(engine) = live.available.clone() {
                ui.horizontal(|ui| {
                    if live.running {
                        ui.add(egui::ProgressBar::new(live.iteration as f32 / live.total.max(1) as f32).text(format!(
                            "t-SNE forming: {}/{}",
                            live.iteration, live.total
                        )));
                    } else if ui
                        .button("relayout live")
                        .on_hover_text(format!(
                            "re-run t-SNE from scratch on the similar-works graph and watch the map form ({engine})"
                        ))
                        .clicked()
                    {
                        live.requested = true;
                    }
                });
            }
            ui.separator();
            let before = g.filter.clone();
            ui.horizontal(|ui| {
                ui.label("search");
                ui.text_edit_singleline(&mut g.filter.text);
            });
            let (y0, y1) = g.years;
            let mut on = g.filter.years.is_some();
            let (mut a, mut b) = g.filter.years.unwrap_or((y0, y1));
            ui.horizontal(|ui| {
                ui.checkbox(&mut on, "years");
                ui.add(egui::DragValue::new(&mut a).range(y0..=y1));
                ui.label("–");
                ui.add(egui::DragValue::new(&mut b).range(y0..=y1));
            });
            g.filter.years = on.then_some((a.min(b), a.max(b)));
            let combo = |ui: &mut egui::Ui, label: &str, value: &mut Option<String>, options: &[(String, usize)]| {
                egui::ComboBox::from_label(label).selected_text(value.clone().unwrap_or_else(|| "any".into())).width(200.0).show_ui(ui, |ui| {
                    ui.selectable_value(value, None, "any");
                    for (o, c) in options {
                        ui.selectable_value(value, Some(o.clone()), format!("{o} ({c})"));
                    }
                });
            };
            combo(ui, "museum", &mut g.filter.museum, &g.museums);
            combo(ui, "medium", &mut g.filter.medium, &g.media);
            if g.filter != before {
                g.mask = g.filter.apply(&g.manifest);
                g.dirty = true;
            }
            if g.filter.is_active() {
                ui.horizontal(|ui| {
                    ui.label(format!("{} match", g.mask.iter().filter(|&&m| m).count()));
                    if ui.button("clear").clicked() {
                        g.filter = Filter::default();
                        g.mask = vec![true; g.mask.len()];
                        g.dirty = true;
                    }
                });
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("periods");
                for (k, label) in [(PeriodKind::Century, "century"), (PeriodKind::Decade, "decade")] {
                    if ui.selectable_label(g.period_kind == k, label).clicked() {
                        g.period_kind = k;
                        g.period = largest_period(&g.manifest.periods, k);
                    }
                }
            });
            let list: Vec<usize> =
                g.manifest.periods.iter().enumerate().filter(|(_, p)| p.kind == g.period_kind && p.count >= 3).map(|(i, _)| i).collect();
            if !list.is_empty() {
                let cur = list.get(g.period).copied().unwrap_or(list[0]);
                egui::ComboBox::from_id_salt("period")
                    .selected_text(format!("{} ({})", g.manifest.periods[cur].label, g.manifest.periods[cur].count))
                    .show_ui(ui, |ui| {
                        for (k, &p) in list.iter().enumerate() {
                            let per = &g.manifest.periods[p];
                            if ui.selectable_label(k == g.period, format!("{} ({})", per.label, per.count)).clicked() {
                                g.period = k;
                            }
                        }
                    });
                let per = g.manifest.periods[cur].clone();
                for (title, items) in [("typical", &per.typical), ("outliers", &per.outliers)] {
                    ui.label(title);
                    egui::ScrollArea::horizontal().id_salt(title).show(ui, |ui| {
                        ui.horizontal(|ui| {
                            for &i in items.iter() {
                                if let Some(img) = thumb_image(g, i as usize, 0, 44.0) {
                                    let resp = ui.add(egui::Button::image(img)).on_hover_text(&g.manifest.works[i as usize].meta.title);
                                    if resp.clicked() {
                                        jump = Some(i as usize);
                                    }
                                }
                            }
                        });
                    });
                }
            }
            ui.separator();
            if let Some(ms) = diagnostics.as_ref().and_then(|d| d.get(&FrameTimeDiagnosticsPlugin::FRAME_TIME)).and_then(|d| d.smoothed()) {
                ui.label(egui::RichText::new(format!("frame {ms:.1} ms")).color(egui::Color32::GRAY));
            }
            ui.label(
                egui::RichText::new(
                    "WASD/QE fly · right-drag or arrows look · wheel zoom · O orbit · click a work · F select centre · N/B similar · G go · 1–4 layouts · Esc menu",
                )
                .small()
                .color(egui::Color32::GRAY),
            );
        });
    // Hover label.
    if let Some(i) = g.hovered {
        let w = &g.manifest.works[i];
        if let Some(p) = ctx.pointer_hover_pos() {
            egui::Area::new(egui::Id::new("gallery_hover"))
                .order(egui::Order::Tooltip)
                .fixed_pos(p + egui::vec2(18.0, 18.0))
                .interactable(false)
                .show(&ctx, |ui| {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        if let Some(img) = thumb_image(g, i, hi, 160.0) {
                            ui.add(img);
                        }
                        ui.label(egui::RichText::new(&w.meta.title).strong());
                        let year = w.meta.year.map(|y| y.to_string()).unwrap_or_default();
                        ui.label(format!("{} {}", w.meta.artist, year));
                    });
                });
        }
    }
    // The selected work.
    if let Some(sel) = g.selected {
        let mut open = true;
        let w = g.manifest.works[sel].clone();
        egui::Window::new(if w.meta.title.is_empty() { w.file.clone() } else { w.meta.title.clone() })
            .id(egui::Id::new("gallery_work"))
            .anchor(egui::Align2::RIGHT_TOP, [-10.0, 10.0])
            .default_width(320.0)
            .open(&mut open)
            .show(&ctx, |ui| {
                if let Some(img) = thumb_image(g, sel, hi, 260.0) {
                    ui.add(img);
                }
                egui::Grid::new("work_meta").num_columns(2).show(ui, |ui| {
                    for (k, v) in [
                        ("artist", w.meta.artist.clone()),
                        ("year", w.meta.year.map(|y| y.to_string()).unwrap_or_default()),
                        ("date", w.meta.date.clone()),
                        ("medium", w.meta.medium.clone()),
                        ("museum", w.meta.museum.clone()),
                        ("file", w.file.clone()),
                    ] {
                        if !v.is_empty() {
                            ui.label(k);
                            ui.label(v);
                            ui.end_row();
                        }
                    }
                });
                if !w.meta.source_url.is_empty() {
                    ui.hyperlink_to("source", &w.meta.source_url);
                }
                if let Some(t) = w.typicality {
                    ui.label(format!("typicality in its century: {t:.2} (1 = usual, higher = outlier)"));
                }
                if ui.button("go to (G)").clicked() {
                    jump = Some(sel);
                }
                ui.label("similar works (N)");
                ui.horizontal_wrapped(|ui| {
                    for &j in &w.similar {
                        if let Some(img) = thumb_image(g, j as usize, 0, 56.0)
                            && ui
                                .add(egui::Button::image(img))
                                .on_hover_text(&g.manifest.works[j as usize].meta.title)
                                .clicked()
                        {
                            jump = Some(j as usize);
                        }
                    }
                });
            });
        if !open {
            g.selected = None;
        }
    }
    if let Some(j) = jump
        && let Ok(t) = rig.single()
    {
        go_to(g, t, j);
    }
    Ok(())
}
