//! The Gallery is reachable from the menu but not built yet: its screen says so plainly (and
//! shows the live source).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus};

use super::{Screen, preview};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(EguiPrimaryContextPass, upcoming_ui.run_if(in_state(Screen::Gallery)));
}

fn upcoming_ui(
    mut contexts: EguiContexts,
    screen: Res<State<Screen>>,
    image: Res<CameraImage>,
    status: Res<CaptureStatus>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let what = "The 3D gallery needs the gallery build and viewer, which are not built yet.";
    let mut root = preview::root_ui(&ctx, "upcoming");
    egui::CentralPanel::default().show(&mut root, |ui| {
        ui.heading(screen.get().title());
        ui.label(what);
        ui.label("Esc: back to the menu.");
        ui.add_space(12.0);
        preview::show(ui, &mut contexts, &image, &status, 480.0);
    });
    Ok(())
}
