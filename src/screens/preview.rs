//! The live camera preview and its status line, shared by several screens.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiTextureHandle, egui};
use headroom_capture::{CameraImage, CaptureStatus};

/// Draws the newest frame scaled to `max_width`, with source, size and measured fps below it.
pub fn show(
    ui: &mut egui::Ui,
    contexts: &mut EguiContexts,
    image: &CameraImage,
    status: &CaptureStatus,
    max_width: f32,
) -> egui::Rect {
    let id = contexts.add_image(EguiTextureHandle::Weak(image.0.id()));
    let (w, h) = (status.width.max(1) as f32, status.height.max(1) as f32);
    let width = max_width.min(w * 2.0);
    let rect = ui.image(egui::load::SizedTexture::new(id, egui::vec2(width, width * h / w))).rect;
    ui.label(format!(
        "{} · {}×{} · {:.1} fps ({:.0} nominal) · {} frames",
        status.source_name, status.width, status.height, status.measured_fps, status.nominal_fps, status.frames
    ));
    if let Some(notice) = &status.notice {
        ui.colored_label(egui::Color32::from_rgb(240, 190, 60), notice);
    }
    rect
}

/// A `Ui` covering the whole window on the background layer, for panels (egui 0.36 shows
/// panels inside a `Ui`).
pub fn root_ui(ctx: &egui::Context, id: &str) -> egui::Ui {
    egui::Ui::new(
        ctx.clone(),
        egui::Id::new(id),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    )
}
