use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus};

use super::{Screen, preview};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(EguiPrimaryContextPass, menu_ui.run_if(in_state(Screen::Menu)))
        .add_systems(OnEnter(Screen::Menu), || info!("headroom: menu shown"))
        .add_systems(Update, menu_keys.run_if(in_state(Screen::Menu)));
}

/// Keys 1–5 open the entries in order (the menu works without a mouse).
fn menu_keys(keys: Res<ButtonInput<KeyCode>>, mut next: ResMut<NextState<Screen>>) {
    const KEYS: [KeyCode; 5] = [KeyCode::Digit1, KeyCode::Digit2, KeyCode::Digit3, KeyCode::Digit4, KeyCode::Digit5];
    for (key, (screen, _)) in KEYS.iter().zip(ENTRIES) {
        if keys.just_pressed(*key) {
            next.set(screen);
        }
    }
}

const ENTRIES: [(Screen, &str); 5] = [
    (Screen::FaceKat, "Fly through a field of obstacles, steering with your head."),
    (Screen::Gallery, "Explore an art collection as a 3D map, through a head-coupled window."),
    (Screen::FaceLab, "Your face fitted live: landmarks, emotion read-out, caricature, deformation, masks, face swap."),
    (Screen::Window, "The screen as a window: a room behind the glass that follows your eyes."),
    (Screen::Settings, "Camera or video source, screen size, head calibration."),
];

fn menu_ui(
    mut contexts: EguiContexts,
    image: Res<CameraImage>,
    status: Res<CaptureStatus>,
    mut next: ResMut<NextState<Screen>>,
    mut exit: MessageWriter<AppExit>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = preview::root_ui(&ctx, "menu");
    egui::CentralPanel::default().show(&mut root, |ui| {
        ui.add_space(24.0);
        ui.heading(egui::RichText::new("headroom").size(40.0).strong());
        ui.label("Your webcam as a head and face tracker.");
        ui.add_space(24.0);
        ui.columns(2, |cols| {
            for (k, (screen, blurb)) in ENTRIES.into_iter().enumerate() {
                let button =
                    egui::Button::new(egui::RichText::new(format!("{}  {}", k + 1, screen.title())).size(22.0))
                        .min_size(egui::vec2(220.0, 44.0));
                if cols[0].add(button).clicked() {
                    next.set(screen);
                }
                cols[0].label(blurb);
                cols[0].add_space(10.0);
            }
            let quit = egui::Button::new(egui::RichText::new("Quit").size(22.0)).min_size(egui::vec2(220.0, 44.0));
            if cols[0].add(quit).clicked() {
                exit.write(AppExit::Success);
            }
            let width = cols[1].available_width();
            preview::show(&mut cols[1], &mut contexts, &image, &status, width);
        });
    });
    Ok(())
}
