//! Settings: choose the frame source (switched live, saved for next time).

use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus, SourceSpec, SourceSwitched, SwitchSource};

use super::{Screen, preview};
use crate::settings::{Settings, SettingsStore};
use headroom_face::FaceTracking;
use headroom_head::HeadSettings;
use headroom_head::plugin::HeadTracker;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<CalibrationForm>()
        .add_systems(OnEnter(Screen::Settings), open_form)
        .add_systems(
            Update,
            (calibrate_on_space.run_if(not(typing)), keep_switched_source).run_if(in_state(Screen::Settings)),
        )
        .add_systems(EguiPrimaryContextPass, head_ui.run_if(in_state(Screen::Settings)).after(settings_ui))
        .add_systems(OnExit(Screen::Settings), |mut commands: Commands| commands.remove_resource::<SourceForm>())
        .add_systems(EguiPrimaryContextPass, settings_ui.run_if(in_state(Screen::Settings)));
}

/// Text fields' ids, so focus can be asked about (and set by tests).
pub const VIDEO_PATH_FIELD: &str = "settings.video_path";
pub const IMAGES_DIR_FIELD: &str = "settings.images_dir";

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
    image: Res<CameraImage>,
    status: Res<CaptureStatus>,
    mut switch: MessageWriter<SwitchSource>,
) -> Result {
    let Some(mut form) = form else { return Ok(()) };
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = preview::root_ui(&ctx, "settings");
    egui::CentralPanel::default().show(&mut root, |ui| {
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
                if ui
                    .add(egui::TextEdit::singleline(&mut form.video_path).id(egui::Id::new(VIDEO_PATH_FIELD)))
                    .changed()
                {
                    form.choice = SourceSpec::Video(form.video_path.clone().into());
                }
            });
            ui.horizontal(|ui| {
                let chosen = matches!(form.choice, SourceSpec::Images(_));
                if ui.radio(chosen, "Image folder").clicked() {
                    form.choice = SourceSpec::Images(form.images_dir.clone().into());
                }
                if ui
                    .add(egui::TextEdit::singleline(&mut form.images_dir).id(egui::Id::new(IMAGES_DIR_FIELD)))
                    .changed()
                {
                    form.choice = SourceSpec::Images(form.images_dir.clone().into());
                }
            });
            ui.add_space(8.0);
            if ui.button("Use this source").clicked() {
                // Kept in the settings file only once it has opened (`keep_switched_source`).
                switch.write(SwitchSource(form.choice.clone()));
                form.message = Some(format!("Opening {}…", form.choice));
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

/// A source switched to from this screen is saved for the next start only once it opened: a
/// mistyped path leaves the saved source as it was.
fn keep_switched_source(
    mut outcomes: MessageReader<SourceSwitched>,
    mut settings: ResMut<Settings>,
    store: Option<Res<SettingsStore>>,
    form: Option<ResMut<SourceForm>>,
) {
    let Some(SourceSwitched { spec, result }) = outcomes.read().last().cloned() else { return };
    let message = match result {
        Ok(()) => {
            settings.source = spec;
            save(&mut settings, None, store.as_deref())
        }
        Err(e) => format!("Not switched, nothing saved: {e}"),
    };
    if let Some(mut form) = form {
        form.message = Some(message);
    }
}

/// The head calibration form.
#[derive(Resource)]
pub struct CalibrationForm {
    /// "Arm's length": the distance the user sits at when pressing Space, cm.
    pub arm_cm: f32,
    /// What the last calibration (or save) said.
    pub message: Option<String>,
}

impl Default for CalibrationForm {
    fn default() -> Self {
        CalibrationForm { arm_cm: 65.0, message: None }
    }
}

/// Saves the settings file, with the head plugin's [`HeadSettings`] when given (the one live copy
/// of the head configuration; the file's copy is refreshed from it here and only here).
fn save(settings: &mut Settings, head: Option<&HeadSettings>, store: Option<&SettingsStore>) -> String {
    if let Some(head) = head {
        settings.head = head.config;
    }
    match store {
        Some(store) => match store.save(settings) {
            Ok(()) => format!("Saved to {}", store.location()),
            Err(e) => format!("Could not save settings to {}: {e}", store.location()),
        },
        None => "Settings cannot be saved: no config folder (or browser storage) here.".into(),
    }
}

/// Whether a text field has the keyboard: Space typed into it (a path with a space) is text,
/// not a calibration.
pub(super) fn typing(egui_input: Option<Res<EguiWantsInput>>) -> bool {
    egui_input.is_some_and(|e| e.wants_any_keyboard_input())
}

/// Space: the face is at arm's length now; derive the camera's field of view from it.
fn calibrate_on_space(
    keys: Res<ButtonInput<KeyCode>>,
    tracking: Option<Res<FaceTracking>>,
    mut tracker: ResMut<HeadTracker>,
    mut head: ResMut<HeadSettings>,
    mut settings: ResMut<Settings>,
    store: Option<Res<SettingsStore>>,
    mut form: ResMut<CalibrationForm>,
) {
    if !keys.just_pressed(KeyCode::Space) {
        return;
    }
    match tracker.calibrate_distance(tracking.as_deref(), form.arm_cm, &mut head) {
        Ok(hfov) => {
            form.message = Some(format!(
                "Camera field of view: {hfov:.1}°. {}",
                save(&mut settings, Some(&head), store.as_deref())
            ));
        }
        Err(why) => form.message = Some(why.into()),
    }
}

fn head_ui(
    mut contexts: EguiContexts,
    mut head: ResMut<HeadSettings>,
    mut settings: ResMut<Settings>,
    store: Option<Res<SettingsStore>>,
    mut form: ResMut<CalibrationForm>,
    mut tracker: ResMut<HeadTracker>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut forget = false;
    egui::Window::new("Screen and head calibration").anchor(egui::Align2::LEFT_BOTTOM, [10.0, -10.0]).show(
        &ctx,
        |ui| {
            let c = &mut head.config;
            ui.horizontal(|ui| {
                ui.label("Screen (visible area)");
                ui.add(egui::DragValue::new(&mut c.screen_width_cm).range(5.0..=400.0).suffix(" cm wide"));
                ui.add(egui::DragValue::new(&mut c.screen_height_cm).range(5.0..=300.0).suffix(" cm high"));
            });
            ui.horizontal(|ui| {
                ui.label("Presets");
                for (label, inches, aw, ah) in [
                    ("13.3\" 16:10", 13.3, 16.0, 10.0),
                    ("14\" 16:9", 14.0, 16.0, 9.0),
                    ("15.6\" 16:9", 15.6, 16.0, 9.0),
                    ("24\" 16:9", 24.0, 16.0, 9.0),
                    ("27\" 16:9", 27.0, 16.0, 9.0),
                ] {
                    if ui.button(label).clicked() {
                        *c = c.with_screen_diagonal(inches, aw, ah);
                    }
                }
            });
            ui.horizontal(|ui| {
                ui.label("Camera from screen centre");
                ui.add(egui::DragValue::new(&mut c.camera_offset_cm[0]).speed(0.1).suffix(" cm x"));
                ui.add(egui::DragValue::new(&mut c.camera_offset_cm[1]).speed(0.1).suffix(" cm y"));
                ui.add(egui::DragValue::new(&mut c.camera_offset_cm[2]).speed(0.1).suffix(" cm z"));
            });
            ui.horizontal(|ui| {
                match c.camera_hfov_deg {
                    Some(f) => ui.label(format!("Camera field of view: {f:.1}° (calibrated)")),
                    None => ui.label(format!(
                        "Camera field of view: estimated, assuming you sit {:.0} cm away",
                        c.assumed_distance_cm
                    )),
                };
                if c.camera_hfov_deg.is_some() && ui.button("Forget").clicked() {
                    forget = true;
                }
            });
            ui.horizontal(|ui| {
                ui.label("Sit at arm's length");
                ui.add(egui::DragValue::new(&mut form.arm_cm).range(20.0..=150.0).suffix(" cm"));
                ui.label("and press Space.");
            });
            let mut manual = head.control == headroom_head::Control::Manual;
            if ui.checkbox(&mut manual, "Steer with the mouse and arrow keys instead of the face").changed() {
                head.control = if manual { headroom_head::Control::Manual } else { headroom_head::Control::Auto };
            }
            if ui.button("Save").clicked() {
                form.message = Some(save(&mut settings, Some(&head), store.as_deref()));
            }
            if let Some(m) = &form.message {
                ui.label(m);
            }
        },
    );
    if forget {
        tracker.forget_calibration(&mut head);
    }
    Ok(())
}
