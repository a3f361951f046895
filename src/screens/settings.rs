//! Settings: choose the frame source (switched live, saved for next time).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus, SourceSpec, SwitchSource};

use super::{Screen, preview};
use crate::settings::{Settings, SettingsStore};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(Screen::Settings), open_form)
        .add_systems(OnExit(Screen::Settings), |mut commands: Commands| commands.remove_resource::<SourceForm>())
        .add_systems(EguiPrimaryContextPass, settings_ui.run_if(in_state(Screen::Settings)));
}

/// The source form's state while the screen is open.
#[derive(Resource)]
struct SourceForm {
    /// Cameras found when the screen opened (or the reason the query failed).
    cameras: Result<Vec<(u32, String)>, String>,
    choice: SourceSpec,
    video_path: String,
    images_dir: String,
    message: Option<String>,
}

fn list_cameras() -> Result<Vec<(u32, String)>, String> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        headroom_capture::webcam::list_cameras()
            .map(|v| v.into_iter().map(|c| (c.index, c.name)).collect())
            .map_err(|e| e.to_string())
    }
    #[cfg(target_arch = "wasm32")]
    {
        Err("the browser chooses the camera".into())
    }
}

fn open_form(mut commands: Commands, settings: Res<Settings>) {
    let (video_path, images_dir) = match &settings.source {
        SourceSpec::Video(p) => (p.display().to_string(), String::new()),
        SourceSpec::Images(p) => (String::new(), p.display().to_string()),
        _ => (String::new(), String::new()),
    };
    commands.insert_resource(SourceForm {
        cameras: list_cameras(),
        choice: settings.source.clone(),
        video_path,
        images_dir,
        message: None,
    });
}

fn settings_ui(
    mut contexts: EguiContexts,
    form: Option<ResMut<SourceForm>>,
    mut settings: ResMut<Settings>,
    store: Option<Res<SettingsStore>>,
    image: Res<CameraImage>,
    status: Res<CaptureStatus>,
    mut switch: MessageWriter<SwitchSource>,
) -> Result {
    let Some(mut form) = form else { return Ok(()) };
    let ctx = contexts.ctx_mut()?.clone();
    egui::CentralPanel::default().show(&ctx, |ui| {
        ui.heading("Settings");
        ui.label("Esc: back to the menu.");
        ui.add_space(12.0);
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.strong("Frame source");
            match &form.cameras {
                Ok(cams) if cams.is_empty() => {
                    ui.label("No webcams found.");
                }
                Ok(cams) => {
                    for (index, name) in cams.clone() {
                        ui.radio_value(&mut form.choice, SourceSpec::Webcam(index), format!("Webcam {index}: {name}"));
                    }
                }
                Err(e) => {
                    ui.label(format!("Webcams unavailable: {e}"));
                }
            }
            ui.radio_value(&mut form.choice, SourceSpec::Demo, "Demo clip (bundled)");
            ui.horizontal(|ui| {
                let chosen = matches!(form.choice, SourceSpec::Video(_));
                if ui.radio(chosen, "Video file (MP4)").clicked() || (chosen && form.video_path.is_empty()) {
                    form.choice = SourceSpec::Video(form.video_path.clone().into());
                }
                if ui.text_edit_singleline(&mut form.video_path).changed() {
                    form.choice = SourceSpec::Video(form.video_path.clone().into());
                }
            });
            ui.horizontal(|ui| {
                let chosen = matches!(form.choice, SourceSpec::Images(_));
                if ui.radio(chosen, "Image folder").clicked() {
                    form.choice = SourceSpec::Images(form.images_dir.clone().into());
                }
                if ui.text_edit_singleline(&mut form.images_dir).changed() {
                    form.choice = SourceSpec::Images(form.images_dir.clone().into());
                }
            });
            ui.add_space(8.0);
            if ui.button("Use this source").clicked() {
                switch.write(SwitchSource(form.choice.clone()));
                settings.source = form.choice.clone();
                form.message = Some(match &store {
                    Some(store) => match store.save(&settings) {
                        Ok(()) => format!("Saved to {}", store.path().display()),
                        Err(e) => format!("Could not save settings to {}: {e}", store.path().display()),
                    },
                    None => "Settings cannot be saved: no config folder on this system.".into(),
                });
            }
            if let Some(m) = &form.message {
                ui.label(m);
            }
            let width = cols[1].available_width();
            preview::show(&mut cols[1], &mut contexts, &image, &status, width);
        });
    });
    Ok(())
}
