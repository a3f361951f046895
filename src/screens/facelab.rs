//! Face Lab: the live source with the fitted 71-point mesh, face box, per-point response
//! heat-maps, the drift score, tracking rate and milliseconds per stage, the emotion and
//! gender read-out (`headroom-facelab`; N takes your resting face as neutral), and the effects:
//! caricature, deformation, masks and face swap (Poisson-blended every tracked frame). The warps
//! are drawn here as textured egui meshes (vertices at the deformed points, UVs at the fitted
//! points in the camera texture or a source face's points in its image).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus};
use headroom_face::model::DrawPath;
use headroom_face::shape::Similarity;
use headroom_face::{FaceModelInfo, FaceSettings, FaceTracking};
use headroom_facelab::deform::{Deformation, PRESETS, slider_range};
use headroom_facelab::{
    AddPhoto, BlendOn, BlendView, CaptureNeutral, Effect, EffectWarp, FaceReadout, LabEffect, LabShape, SourceFaces,
    TakeFaceInView, UseFace,
};

use super::snapshot::{SnapshotStatus, TakeSnapshot};
use super::{Screen, preview};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<LabView>()
        .add_systems(EguiPrimaryContextPass, facelab_ui.run_if(in_state(Screen::FaceLab)))
        .add_systems(Update, neutral_on_n.run_if(in_state(Screen::FaceLab)).run_if(not(super::settings::typing)))
        .add_systems(OnExit(Screen::FaceLab), |mut s: ResMut<FaceSettings>| s.keep_responses = false)
        .add_systems(Update, become_painting.run_if(in_state(Screen::Gallery)));
}

/// "Become this painting" in the gallery: the painted face goes to Face Lab as the source face,
/// the effect becomes the face swap, and Face Lab opens.
fn become_painting(
    mut chosen: MessageReader<headroom_gallery::BecomePainting>,
    mut use_face: MessageWriter<UseFace>,
    mut effect: ResMut<LabEffect>,
    mut next: ResMut<NextState<Screen>>,
) {
    let Some(headroom_gallery::BecomePainting(p)) = chosen.read().last() else { return };
    let Some(image) = headroom_facelab::warp::Rgba::from_raw(p.width as usize, p.height as usize, p.rgba.clone())
    else {
        warn!("gallery: the painted face {} has no pixels", p.name);
        return;
    };
    use_face.write(UseFace(headroom_facelab::faces::SourceFace {
        name: p.name.clone(),
        credit: p.credit.clone(),
        image,
        points: p.points.clone(),
    }));
    effect.effect = Effect::Substitute;
    next.set(Screen::FaceLab);
}

#[derive(Resource)]
struct LabView {
    mesh: bool,
    points: bool,
    mesh_points: bool,
    heatmap: bool,
}

impl Default for LabView {
    fn default() -> Self {
        LabView { mesh: true, points: true, mesh_points: true, heatmap: false }
    }
}

#[derive(bevy::ecs::system::SystemParam)]
struct FxParams<'w, 's> {
    effect: ResMut<'w, LabEffect>,
    faces: Res<'w, SourceFaces>,
    warp: Res<'w, EffectWarp>,
    blend: Option<Res<'w, BlendView>>,
    shape: Res<'w, LabShape>,
    add_photo: MessageWriter<'w, AddPhoto>,
    take_face: MessageWriter<'w, TakeFaceInView>,
    photo_path: Local<'s, String>,
}

#[allow(clippy::too_many_arguments)]
fn facelab_ui(
    mut contexts: EguiContexts,
    image: Res<CameraImage>,
    status: Res<CaptureStatus>,
    tracking: Option<Res<FaceTracking>>,
    info: Option<Res<FaceModelInfo>>,
    settings: Option<ResMut<FaceSettings>>,
    mut view: ResMut<LabView>,
    gpu: Option<Res<headroom_face::ResponseChoice>>,
    (readout, mut neutral): (Res<FaceReadout>, MessageWriter<CaptureNeutral>),
    (snapshot, mut snap): (Res<SnapshotStatus>, MessageWriter<TakeSnapshot>),
    fx: FxParams,
    (arrivals, latency): (Res<headroom_capture::FrameArrivals>, Res<crate::pipeline::PipelineLatency>),
) -> Result {
    let FxParams { mut effect, faces, warp, blend, shape, mut add_photo, mut take_face, mut photo_path } = fx;
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = preview::root_ui(&ctx, "facelab");
    egui::Panel::right("facelab_panel").default_size(280.0).show(&mut root, |ui| {
        ui.heading("Face Lab");
        ui.label("Esc: menu");
        ui.horizontal(|ui| {
            if ui.button("Snapshot (S)").on_hover_text("Save a PNG of this view").clicked() {
                snap.write(TakeSnapshot("facelab"));
            }
            match &snapshot.last {
                _ if snapshot.pending => ui.label("saving…"),
                Some(Ok(p)) => ui.label(format!("saved {p}")),
                Some(Err(e)) => ui.colored_label(egui::Color32::YELLOW, e),
                None => ui.label(""),
            };
        });
        ui.separator();
        let Some(t) = tracking.as_deref() else {
            ui.label("Face tracking is not running.");
            return;
        };
        match &t.fit {
            Some(f) => {
                ui.label(format!(
                    "Face: tracking (score {:.2}{})",
                    f.score,
                    if f.converged { ", settled" } else { "" }
                ));
            }
            None if t.fallback_box.is_some() => {
                ui.label("Face: searching (colour tracker holds the box)");
            }
            None => {
                ui.label("Face: searching");
            }
        }
        ui.label(format!("Tracked: {:.1} fps, {} frames", t.fps, t.frames));
        ui.label(match t.landmarks {
            headroom_face::Landmarks::Mesh => {
                format!("Landmarks: face mesh (468 points, mapped to 71), on the {}", headroom_face::nn::runs_on())
            }
            headroom_face::Landmarks::Clm => "Landmarks: CLM (71 points)".to_string(),
        });
        if let Some(n) = &t.notice {
            ui.colored_label(egui::Color32::YELLOW, n);
        }
        if !t.engine.is_empty() {
            ui.label(format!("Responses on: {}", t.engine));
        }
        if let Some(g) = gpu.as_deref() {
            ui.label(format!("Start-up choice: {}", g.words))
                .on_hover_text(g.adapter.clone().unwrap_or_else(|| "no GPU adapter".into()));
        }
        egui::Grid::new("stage_times").show(ui, |ui| {
            for (name, ms) in [
                ("detect", t.times.detect_ms),
                ("fit", t.times.fit_ms),
                ("score", t.times.score_ms),
                ("camshift", t.times.camshift_ms),
                ("whole frame", t.total_ms),
            ] {
                ui.label(name);
                ui.label(format!("{ms:.2} ms"));
                ui.end_row();
            }
        });
        match arrivals.of(t.frame_seq) {
            Some(arrived) if t.frames > 0 => {
                let behind = arrivals.newer_than(t.frame_seq);
                ui.label(format!(
                    "Capture → fit: {:.0} ms ({behind} newer frames meanwhile)",
                    t.result_at.saturating_sub(arrived).as_secs_f32() * 1000.0
                ));
            }
            _ => {}
        }
        if latency.projections > 0 {
            ui.label(format!(
                "Capture → projection: {:.0} ms now, mean {:.0} (max {:.0}) over {} projections; {} from a pose older than the newest fit",
                latency.capture_to_projection_ms,
                latency.mean_ms(),
                latency.max_ms,
                latency.projections,
                latency.stale
            ));
        }
        ui.separator();
        effects_ui(ui, &mut effect, &faces, &blend, &shape, (&mut add_photo, &mut take_face), &mut photo_path);
        ui.separator();
        expression_ui(ui, &readout, &mut neutral);
        ui.separator();
        if effect.effect != Effect::None {
            ui.small("(overlays hidden while an effect is on)");
        }
        ui.checkbox(&mut view.mesh, "Mesh");
        ui.checkbox(&mut view.points, "Points");
        ui.checkbox(&mut view.mesh_points, "Mesh's 468 points");
        ui.checkbox(&mut view.heatmap, "Response heat-map");
        if let Some(mut s) = settings {
            ui.checkbox(&mut s.enabled, "Tracking on");
            if s.keep_responses != view.heatmap {
                s.keep_responses = view.heatmap;
            }
        }
    });
    egui::CentralPanel::default().show(&mut root, |ui| {
        let width = ui.available_width().min((ui.available_height() - 40.0) * 1.25).max(64.0);
        // Face swap shows the frame its blend was made in (the fit, and so the blend, trail the
        // newest frame by the tracker's time).
        let shown = match blend.as_deref() {
            Some(b) if effect.effect == Effect::Substitute && b.rect.is_some() => CameraImage(b.frame.clone()),
            _ => CameraImage(image.0.clone()),
        };
        let rect = preview::show(ui, &mut contexts, &shown, &status, width);
        let Some(t) = tracking.as_deref() else { return };
        let (fw, fh) = t.frame_size;
        if fw == 0 || fh == 0 {
            return;
        }
        let k = rect.width() / fw as f32;
        let to_screen = |p: [f32; 2]| rect.min + egui::vec2(p[0] * k, p[1] * k);
        let painter = ui.painter_at(rect);
        let green = egui::Color32::from_rgb(130, 255, 50);
        let yellow = egui::Color32::from_rgb(255, 220, 0);
        if let Some(b) = t.fit.as_ref().map(|f| f.face_box).or(t.fallback_box)
            && effect.effect == Effect::None
        {
            let r = egui::Rect::from_min_size(
                to_screen([b.x as f32, b.y as f32]),
                egui::vec2(b.w as f32 * k, b.h as f32 * k),
            );
            painter.rect_stroke(r, 0.0, egui::Stroke::new(1.5, yellow), egui::StrokeKind::Middle);
        }
        let Some(fit) = &t.fit else { return };
        draw_effect(&painter, &mut contexts, &image, &warp, &blend, effect.effect, to_screen, k);
        // The effect is the picture; the overlays would hide it.
        let overlays = effect.effect == Effect::None;
        if view.heatmap
            && overlays
            && let Some(resp) = &t.responses
        {
            let search = t.search;
            let sim = Similarity::from_params(&fit.params);
            let half = (search as f32 - 1.0) / 2.0;
            let cell = sim.scale * k;
            for (i, p) in fit.points.iter().enumerate() {
                let maps = &resp[i * search * search..(i + 1) * search * search];
                for gy in 0..search {
                    for gx in 0..search {
                        let v = maps[gy * search + gx];
                        if v < 0.05 {
                            continue;
                        }
                        let (s, c) = sim.rotation.sin_cos();
                        let (dx, dy) = (gx as f32 - half, gy as f32 - half);
                        let q = [p[0] + sim.scale * (c * dx - s * dy), p[1] + sim.scale * (s * dx + c * dy)];
                        let r = egui::Rect::from_center_size(to_screen(q), egui::vec2(cell, cell));
                        painter.rect_filled(
                            r,
                            0.0,
                            egui::Color32::from_rgba_unmultiplied(255, 40, 40, (v * 160.0) as u8),
                        );
                    }
                }
            }
        }
        if view.mesh
            && overlays
            && let Some(info) = info.as_deref()
        {
            let stroke = egui::Stroke::new(1.0, green.gamma_multiply(0.6));
            for tri in &info.triangles {
                let pts: Vec<egui::Pos2> = tri.iter().map(|&i| to_screen(fit.points[i])).collect();
                painter.add(egui::Shape::closed_line(pts, stroke));
            }
            for path in &info.paths {
                if let DrawPath::Line(v) = path {
                    let pts: Vec<egui::Pos2> = v.iter().map(|&i| to_screen(fit.points[i])).collect();
                    painter.add(egui::Shape::line(pts, egui::Stroke::new(2.0, green)));
                }
            }
        }
        if let (true, Some(mesh)) = (view.mesh_points && overlays, &fit.mesh) {
            for p in mesh {
                painter.circle_filled(to_screen([p[0], p[1]]), 1.0, egui::Color32::from_rgb(120, 200, 255));
            }
        }
        if view.points && overlays {
            for p in &fit.points {
                painter.circle_filled(to_screen(*p), 2.0, egui::Color32::WHITE);
            }
        }
    });
    Ok(())
}

/// N: the face now in view is this person's neutral face. S: a snapshot of the view.
fn neutral_on_n(
    keys: Res<ButtonInput<KeyCode>>,
    mut neutral: MessageWriter<CaptureNeutral>,
    mut snap: MessageWriter<TakeSnapshot>,
) {
    if keys.just_pressed(KeyCode::KeyN) {
        neutral.write(CaptureNeutral(true));
    }
    if keys.just_pressed(KeyCode::KeyS) {
        snap.write(TakeSnapshot("facelab"));
    }
}

/// Bars for clmtrackr's six emotions and its gender guess, smoothed over ten frames.
fn expression_ui(ui: &mut egui::Ui, readout: &FaceReadout, neutral: &mut MessageWriter<CaptureNeutral>) {
    ui.strong("Expression");
    if let Some(e) = &readout.error {
        ui.colored_label(egui::Color32::YELLOW, format!("No read-out: {e}"));
        return;
    }
    let Some(emotions) = &readout.emotions else {
        ui.label("Waiting for ten frames of a face…");
        return;
    };
    for (name, v) in emotions {
        ui.horizontal(|ui| {
            ui.add_sized([70.0, 16.0], egui::Label::new(name.as_str()));
            ui.add(egui::ProgressBar::new(*v).desired_width(150.0).text(format!("{:.0} %", v * 100.0)));
        });
    }
    if let Some(g) = &readout.gender {
        let text: Vec<String> = g.iter().map(|(n, v)| format!("{n} {:.0} %", v * 100.0)).collect();
        ui.label(format!("Gender guess: {}", text.join(", ")));
    }
    ui.horizontal(|ui| {
        if ui.button("Neutral face (N)").on_hover_text("Take your resting face as neutral").clicked() {
            neutral.write(CaptureNeutral(true));
        }
        if readout.has_neutral && ui.button("Forget").clicked() {
            neutral.write(CaptureNeutral(false));
        }
    });
    ui.label(if readout.has_neutral {
        "Relative to your neutral face."
    } else {
        "Absolute (clmtrackr's): a resting face may not read neutral; press N."
    });
}

/// The text field for a photo path (so a test can focus it).
pub const PHOTO_PATH_FIELD: &str = "facelab_photo_path";

/// The effect picker and its controls.
fn effects_ui(
    ui: &mut egui::Ui,
    fx: &mut LabEffect,
    faces: &SourceFaces,
    blend: &Option<Res<BlendView>>,
    shape: &LabShape,
    (add_photo, take_face): (&mut MessageWriter<AddPhoto>, &mut MessageWriter<TakeFaceInView>),
    photo_path: &mut String,
) {
    ui.strong("Effect");
    ui.horizontal_wrapped(|ui| {
        for e in Effect::ALL {
            ui.selectable_value(&mut fx.effect, e, e.label());
        }
    });
    match fx.effect {
        Effect::None => {}
        Effect::Caricature => {
            ui.add(egui::Slider::new(&mut fx.exaggerate, 0.0..=6.0).text("exaggeration"))
                .on_hover_text("1: your face as it is; shape modes 3–20 multiplied, head turn kept");
        }
        Effect::Deform => {
            let Some(s) = shape.0.as_ref() else {
                ui.label("No shape model.");
                return;
            };
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt("deform_preset").selected_text("Preset…").show_ui(ui, |ui| {
                    for (name, _) in PRESETS {
                        if ui.selectable_label(false, name).clicked()
                            && let Some(d) = Deformation::preset(name, s.m)
                        {
                            fx.deformation = d;
                        }
                    }
                });
                if ui.button("Reset").clicked() {
                    fx.deformation = Deformation::identity(s.m);
                }
            });
            egui::ScrollArea::vertical().max_height(180.0).show(ui, |ui| {
                for (k, o) in fx.deformation.offsets.iter_mut().enumerate() {
                    let mode = k + headroom_facelab::deform::FIRST_MODE;
                    let r = slider_range(s, mode);
                    ui.add(egui::Slider::new(o, -r..=r).text(format!("mode {mode}")));
                }
            });
        }
        Effect::Mask | Effect::Substitute => {
            if faces.loading {
                ui.label("Fitting the bundled faces…");
            }
            let name = faces.faces.get(fx.source).map_or("—", |f| f.name.as_str());
            egui::ComboBox::from_label("face").selected_text(name).show_ui(ui, |ui| {
                for (i, f) in faces.faces.iter().enumerate() {
                    ui.selectable_value(&mut fx.source, i, &f.name);
                }
            });
            if let Some(f) = faces.faces.get(fx.source) {
                ui.small(&f.credit);
            }
            if cfg!(not(target_arch = "wasm32")) {
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(photo_path)
                            .id(egui::Id::new(PHOTO_PATH_FIELD))
                            .hint_text("photo path (PNG/JPEG)")
                            .desired_width(170.0),
                    );
                    if ui.button("Add").clicked() && !photo_path.trim().is_empty() {
                        add_photo.write(AddPhoto(photo_path.trim().into()));
                    }
                });
            }
            if ui
                .button("Take the other face in view")
                .on_hover_text("A still of a second face in the frame (not the tracked one) becomes a source face")
                .clicked()
            {
                take_face.write(TakeFaceInView);
            }
            for p in &faces.problems {
                ui.colored_label(egui::Color32::YELLOW, p);
            }
            if fx.effect == Effect::Substitute {
                ui.horizontal(|ui| {
                    ui.label("Blend on:");
                    ui.radio_value(&mut fx.blend_on, BlendOn::Auto, "auto").on_hover_text(
                        "The GPU if it is a real one; the CPU on a software adapter (lavapipe, SwiftShader) or without compute shaders",
                    );
                    ui.radio_value(&mut fx.blend_on, BlendOn::Gpu, "GPU");
                    ui.radio_value(&mut fx.blend_on, BlendOn::Cpu, "CPU");
                });
                if let Some(b) = blend.as_deref() {
                    if b.blends > 0 {
                        ui.label(format!(
                            "Poisson blend on {}: {:.1} blends/s, {:.1} ms on the task pool, {} so far",
                            b.engine, b.fps, b.prepare_ms, b.blends
                        ));
                    } else {
                        ui.label("Waiting for a face…");
                    }
                }
            }
        }
    }
}

/// Caricature, Deform and Mask as a textured mesh over the preview; Face swap's blend as an
/// image over the face.
#[allow(clippy::too_many_arguments)]
fn draw_effect(
    painter: &egui::Painter,
    contexts: &mut EguiContexts,
    camera: &CameraImage,
    warp: &EffectWarp,
    blend: &Option<Res<BlendView>>,
    effect: Effect,
    to_screen: impl Fn([f32; 2]) -> egui::Pos2,
    k: f32,
) {
    match effect {
        Effect::Caricature | Effect::Deform | Effect::Mask if !warp.points.is_empty() => {
            let handle = warp.texture.as_ref().map_or(camera.0.id(), |h| h.id());
            let tex = contexts.add_image(bevy_egui::EguiTextureHandle::Weak(handle));
            let mut mesh = egui::Mesh::with_texture(tex);
            let [uw, uh] = warp.uv_size;
            for (p, q) in warp.points.iter().zip(&warp.uv_points) {
                mesh.vertices.push(egui::epaint::Vertex {
                    pos: to_screen(*p),
                    uv: egui::pos2(q[0] / uw.max(1.0), q[1] / uh.max(1.0)),
                    color: egui::Color32::WHITE,
                });
            }
            let n = mesh.vertices.len();
            for t in warp.triangles.iter().filter(|t| t.iter().all(|&i| i < n)) {
                mesh.indices.extend(t.iter().map(|&i| i as u32));
            }
            painter.add(egui::Shape::mesh(mesh));
        }
        Effect::Substitute => {
            let Some(b) = blend.as_deref() else { return };
            let Some(r) = b.rect else { return };
            let tex = contexts.add_image(bevy_egui::EguiTextureHandle::Weak(b.image.id()));
            let rect = egui::Rect::from_min_size(
                to_screen([r.x as f32, r.y as f32]),
                egui::vec2(r.width as f32 * k, r.height as f32 * k),
            );
            let [tw, th] = b.texture_size.map(|v| v.max(1) as f32);
            let uv = egui::Rect::from_min_max(
                egui::pos2(0.0, 0.0),
                egui::pos2((r.width as f32 / tw).min(1.0), (r.height as f32 / th).min(1.0)),
            );
            painter.image(tex, rect, uv, egui::Color32::WHITE);
        }
        _ => {}
    }
}
