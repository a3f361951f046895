//! The "Painted faces like mine" panel: a few times a second the newest tracked face is embedded
//! on the task pool ([`crate::likeness`]) and its 5 nearest painted faces shown; a click flies to
//! the work. The network and the face crops load on the task pool when the panel first opens.
//! Nothing leaves the machine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use headroom_capture::LatestFrame;
use headroom_face::FaceTracking;

use super::*;
use crate::likeness::FaceEmbedder;
use crate::manifest::Faces;

/// Seconds between updates.
const EVERY: f64 = 0.3;

type Loaded = Result<(Arc<FaceEmbedder>, Vec<egui::ColorImage>), String>;
/// The nearest faces (index, distance) and the milliseconds it took.
type Update = (Vec<(usize, f32)>, f64);

#[derive(Resource, Default)]
pub(crate) struct Likeness {
    pub(crate) open: bool,
    loading: Option<Task<Loaded>>,
    pub(crate) embedder: Option<Arc<FaceEmbedder>>,
    faces: Option<Arc<Faces>>,
    /// One egui texture per face crop, made as they are first shown.
    crops: Vec<egui::ColorImage>,
    pub(crate) textures: HashMap<usize, egui::TextureHandle>,
    task: Option<Task<Update>>,
    pub(crate) top: Vec<(usize, f32)>,
    /// The last update's time (ms) and when it was asked for (seconds, `Time<Real>`).
    pub(crate) ms: f64,
    last: f64,
    pub(crate) error: Option<String>,
    /// Frame sequence of the last face embedded.
    last_seq: u64,
    /// The live embedding over updates (shared with the task that updates it).
    smooth: Arc<std::sync::Mutex<crate::likeness::Smoothed>>,
}

/// Loads the network and cuts the crops out of the face atlas.
fn load(manifest_path: PathBuf, faces: Arc<Faces>) -> Loaded {
    let weights =
        std::fs::read(crate::build::default_model_path()).map_err(|e| format!("the MobileNetV2 weights: {e}"))?;
    let embedder = FaceEmbedder::new(&weights).map_err(|e| e.to_string())?;
    let dir = manifest_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let atlases: Vec<Option<image::RgbaImage>> =
        faces.atlas.atlases.iter().map(|a| image::open(dir.join(a)).ok().map(|i| i.to_rgba8())).collect();
    let crops = faces
        .faces
        .iter()
        .map(|f| {
            let [x, y, w, h] = f.thumb.rect;
            match atlases.get(f.thumb.atlas as usize).and_then(Option::as_ref) {
                Some(a) if x + w <= a.width() && y + h <= a.height() => {
                    let c = image::imageops::crop_imm(a, x, y, w, h).to_image();
                    egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], c.as_raw())
                }
                _ => egui::ColorImage::new([1, 1], vec![egui::Color32::DARK_GRAY]),
            }
        })
        .collect();
    Ok((Arc::new(embedder), crops))
}

pub(crate) fn update_likeness(
    mut lk: ResMut<Likeness>,
    gallery: Option<Res<Gallery>>,
    latest: Option<Res<LatestFrame>>,
    tracking: Option<Res<FaceTracking>>,
    time: Res<Time<Real>>,
) {
    let lk = &mut *lk;
    let Some(g) = gallery else { return };
    if !lk.open {
        return;
    }
    let Some(faces) = g.manifest.faces.as_ref() else { return };
    if lk.faces.is_none() {
        lk.faces = Some(Arc::new(faces.clone()));
    }
    let Some(faces) = lk.faces.clone() else { return };
    if lk.embedder.is_none() && lk.error.is_none() {
        match lk.loading.as_mut() {
            None => {
                let (path, f) = (g.path.clone(), faces.clone());
                lk.loading = Some(AsyncComputeTaskPool::get().spawn(async move { load(path, f) }));
            }
            Some(task) => {
                if let Some(r) = block_on(poll_once(task)) {
                    lk.loading = None;
                    match r {
                        Ok((e, crops)) => {
                            lk.embedder = Some(e);
                            lk.crops = crops;
                        }
                        Err(e) => lk.error = Some(e),
                    }
                }
            }
        }
        return;
    }
    if let Some(task) = lk.task.as_mut() {
        if let Some((top, ms)) = block_on(poll_once(task)) {
            lk.task = None;
            lk.top = top;
            lk.ms = ms;
        }
        return;
    }
    let now = time.elapsed_secs_f64();
    let (Some(embedder), Some(latest), Some(tracking)) = (lk.embedder.clone(), latest, tracking) else { return };
    let Some(fit) = tracking.fit.clone() else {
        if let Ok(mut s) = lk.smooth.lock() {
            s.reset();
        }
        return;
    };
    let Some(frame) = latest.0.clone() else { return };
    if now - lk.last < EVERY || tracking.frame_seq == lk.last_seq {
        return;
    }
    lk.last = now;
    lk.last_seq = tracking.frame_seq;
    let smooth = lk.smooth.clone();
    lk.task = Some(AsyncComputeTaskPool::get().spawn(async move {
        let t = bevy::platform::time::Instant::now();
        let e = embedder.embed(&faces, &frame.rgba, frame.width as usize, frame.height as usize, &fit.points);
        let top = match (e, smooth.lock()) {
            (Ok(Some(e)), Ok(mut s)) => faces.nearest(s.update(&e), 5),
            _ => Vec::new(),
        };
        (top, t.elapsed().as_secs_f64() * 1000.0)
    }));
}

/// What the visitor asked of the panel.
pub(crate) enum Pick {
    /// Fly to this face (or its work).
    Fly(usize),
    /// Wear this face in Face Lab.
    Become(usize),
}

/// The panel; returns what was clicked.
pub(crate) fn likeness_panel(ctx: &egui::Context, g: &Gallery, lk: &mut Likeness) -> Option<Pick> {
    let faces = g.manifest.faces.as_ref()?;
    let mut jump = None;
    let mut open = lk.open;
    egui::Window::new("Painted faces like mine")
        .id(egui::Id::new("gallery_likeness"))
        .anchor(egui::Align2::LEFT_BOTTOM, [10.0, -10.0])
        .default_width(330.0)
        .open(&mut open)
        .show(ctx, |ui| {
            ui.label("Your face from the camera, matched against the faces in this collection's paintings.");
            ui.label(egui::RichText::new("Computed here, on this machine: nothing is sent anywhere.").small());
            if let Some(e) = &lk.error {
                ui.colored_label(egui::Color32::YELLOW, format!("Unavailable: {e}"));
                return;
            }
            if lk.embedder.is_none() {
                ui.label("Loading the network …");
                return;
            }
            if lk.top.is_empty() {
                ui.label("Waiting for a tracked face …");
                return;
            }
            ui.horizontal(|ui| {
                for &(i, d) in &lk.top {
                    let Some(img) = lk.crops.get(i) else { continue };
                    let tex = lk
                        .textures
                        .entry(i)
                        .or_insert_with(|| ui.ctx().load_texture(format!("face{i}"), img.clone(), Default::default()));
                    let work = &g.manifest.works[faces.faces[i].work as usize];
                    let title = if work.meta.title.is_empty() { work.file.clone() } else { work.meta.title.clone() };
                    if ui
                        .add(egui::Button::image(egui::Image::new((tex.id(), egui::vec2(56.0, 56.0)))))
                        .on_hover_text(format!("{title}\n{} · distance {d:.1}", work.meta.artist))
                        .clicked()
                    {
                        jump = Some(Pick::Fly(i));
                    }
                }
            });
            if let Some(&(i, _)) = lk.top.first()
                && ui
                    .button("become the nearest painting (Face Lab)")
                    .on_hover_text("Face Lab's face swap, with this painted face on yours")
                    .clicked()
            {
                jump = Some(Pick::Become(i));
            }
            ui.label(egui::RichText::new(format!("updated every {EVERY} s; last {:.0} ms", lk.ms)).small());
        });
    lk.open = open;
    jump
}
