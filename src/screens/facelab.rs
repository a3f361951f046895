//! Face Lab. Today: the live source at full size with capture figures; the face fit, mesh
//! overlay and effects come with the face-tracking plugin.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus};

use super::{Screen, preview};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(EguiPrimaryContextPass, facelab_ui.run_if(in_state(Screen::FaceLab)));
}

fn facelab_ui(mut contexts: EguiContexts, image: Res<CameraImage>, status: Res<CaptureStatus>) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    egui::CentralPanel::default().show(&ctx, |ui| {
        ui.heading("Face Lab");
        ui.label("Live source. Face fitting is not built yet. Esc: menu.");
        let width = ui.available_width().min(ui.available_height() * 1.25);
        preview::show(ui, &mut contexts, &image, &status, width);
    });
    Ok(())
}
