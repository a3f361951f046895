//! Loading a manifest and its atlases off the main thread (over HTTP in the browser), and building the scene from them.

use std::path::Path;

use super::*;

/// An atlas decoded off the main thread.
pub(crate) struct RawAtlas {
    pub(crate) size: [u32; 2],
    pub(crate) rgba: Vec<u8>,
}

pub(crate) struct Loaded {
    pub(crate) manifest: Manifest,
    pub(crate) path: PathBuf,
    pub(crate) atlases: Vec<Vec<RawAtlas>>,
    /// The face crops' atlases (empty without a `faces` section).
    pub(crate) face_atlases: Vec<RawAtlas>,
}

#[derive(Resource)]
pub(crate) struct Loading {
    pub(crate) task: Option<Task<Result<Loaded, String>>>,
    pub(crate) error: Option<String>,
    pub(crate) path: PathBuf,
    /// Files read so far and in all (the manifest, then the atlases).
    pub(crate) progress: Arc<(AtomicUsize, AtomicUsize)>,
}

pub(crate) fn start_loading<S: States + Copy>(
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
pub(crate) async fn read_bytes(path: &std::path::Path) -> Result<Vec<u8>, String> {
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

pub(crate) async fn load(path: &std::path::Path, progress: &(AtomicUsize, AtomicUsize)) -> Result<Loaded, String> {
    progress.1.store(1, Ordering::Relaxed);
    let bytes = read_bytes(path).await?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    let manifest = Manifest::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    progress.0.store(1, Ordering::Relaxed);
    // Every atlas: the tiers' in order, then the face crops' (as one more group).
    let mut groups: Vec<(&crate::manifest::Tier, Vec<PathBuf>)> =
        (0..manifest.tiers.len()).map(|t| (&manifest.tiers[t], manifest.atlas_paths(path, t))).collect();
    if let Some(f) = &manifest.faces {
        let dir = path.parent().unwrap_or(Path::new("."));
        groups.push((&f.atlas, f.atlas.atlases.iter().map(|a| dir.join(a)).collect()));
    }
    progress.1.store(1 + groups.iter().map(|g| g.1.len()).sum::<usize>(), Ordering::Relaxed);
    // In the browser every atlas is requested at once (the downloads overlap) and decoded by the
    // browser's own image decoder, off the page's thread.
    #[cfg(target_arch = "wasm32")]
    let mut pending: std::collections::VecDeque<_> =
        groups.iter().flat_map(|g| g.1.iter()).map(|file| web::start_fetch(file)).collect();
    let mut atlases = Vec::new();
    for (tier, files) in &groups {
        let mut group = Vec::new();
        for (a, file) in files.iter().enumerate() {
            #[cfg(target_arch = "wasm32")]
            let (w, h, rgba) = {
                let fetch = pending.pop_front().ok_or("atlas list changed while loading")?;
                web::decode_atlas(fetch?, file).await?
            };
            #[cfg(not(target_arch = "wasm32"))]
            let (w, h, rgba) = {
                let bytes = read_bytes(file).await?;
                let img = image::load_from_memory(&bytes)
                    .map_err(|e| format!("cannot read atlas {}: {e}", file.display()))?
                    .to_rgba8();
                (img.width(), img.height(), img.into_raw())
            };
            progress.0.fetch_add(1, Ordering::Relaxed);
            let want = tier.atlas_sizes[a];
            if [w, h] != want {
                return Err(format!("atlas {} is {w}×{h}, the manifest says {}×{}", file.display(), want[0], want[1]));
            }
            group.push(RawAtlas { size: want, rgba });
        }
        atlases.push(group);
    }
    let face_atlases = if manifest.faces.is_some() { atlases.pop().unwrap_or_default() } else { Vec::new() };
    Ok(Loaded { manifest, path: path.to_path_buf(), atlases, face_atlases })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_loading(
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
    // One texture, material and merged mesh per atlas.
    let mut spawn_atlas = |raw: RawAtlas, name: String, usage: RenderAssetUsages| {
        let image = Image::new(
            Extent3d { width: raw.size[0], height: raw.size[1], depth_or_array_layers: 1 },
            TextureDimension::D2,
            raw.rgba,
            TextureFormat::Rgba8UnormSrgb,
            usage,
        );
        let h = images.add(image);
        let egui_id = contexts.as_mut().map(|c| c.add_image(EguiTextureHandle::Strong(h.clone())));
        let mat = materials.add(StandardMaterial {
            base_color_texture: Some(h.clone()),
            unlit: true,
            cull_mode: None,
            ..default()
        });
        let mesh = meshes.add(empty_mesh());
        commands.spawn((
            Name::new(name),
            Mesh3d(mesh.clone()),
            MeshMaterial3d(mat),
            Transform::default(),
            NoFrustumCulling,
            GalleryMesh,
        ));
        (h, mesh, egui_id)
    };
    let mut tex = Vec::new();
    let mut mesh_handles = Vec::new();
    let mut egui_ids = Vec::new();
    for (t, tier) in loaded.atlases.into_iter().enumerate() {
        let mut th = Vec::new();
        let mut mh = Vec::new();
        let mut eh = Vec::new();
        for raw in tier {
            let (h, mesh, egui_id) =
                spawn_atlas(raw, format!("gallery tier {t} atlas"), RenderAssetUsages::RENDER_WORLD);
            eh.extend(egui_id);
            th.push(h);
            mh.push(mesh);
        }
        tex.push(th);
        mesh_handles.push(mh);
        egui_ids.push(eh);
    }
    // The face atlases keep their pixels here too: "become this painting" cuts a face out of them.
    let (face_textures, face_meshes): (Vec<Handle<Image>>, Vec<Handle<Mesh>>) = loaded
        .face_atlases
        .into_iter()
        .map(|raw| {
            let (h, mesh, _) = spawn_atlas(raw, "gallery face atlas".into(), RenderAssetUsages::all());
            (h, mesh)
        })
        .unzip();
    let face_positions = view::face_positions(&m);
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
        face_positions,
        face_meshes,
        face_textures,
        hovered_face: None,
    });
    commands.remove_resource::<Loading>();
}

/// Index (among the periods of `kind` with at least 3 works) of the one with the most works.
pub(crate) fn largest_period(periods: &[crate::manifest::Period], kind: PeriodKind) -> usize {
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
pub(crate) fn empty_mesh() -> Mesh {
    let mut m = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::default());
    m.insert_attribute(Mesh::ATTRIBUTE_POSITION, vec![[0.0f32; 3]; 4]);
    m.insert_attribute(Mesh::ATTRIBUTE_UV_0, vec![[0.0f32; 2]; 4]);
    m.insert_attribute(Mesh::ATTRIBUTE_COLOR, vec![[0.0f32; 4]; 4]);
    m.insert_indices(Indices::U32(vec![0, 1, 2, 0, 2, 3]));
    m
}
