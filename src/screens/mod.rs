//! The app's screens: a `Screen` state, one module per screen. Screen-scoped entities carry
//! `DespawnOnExit(Screen::X)`; every Update system runs only in its screen.

mod facelab;
mod menu;
mod preview;
mod settings;
pub mod snapshot;
pub use settings::{CalibrationForm, IMAGES_DIR_FIELD, VIDEO_PATH_FIELD};
mod window;

use bevy::prelude::*;

#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Screen {
    #[default]
    Menu,
    FaceKat,
    Gallery,
    FaceLab,
    Window,
    Settings,
}

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Menu => "Menu",
            Screen::FaceKat => "FaceKat",
            Screen::Gallery => "Gallery",
            Screen::FaceLab => "Face Lab",
            Screen::Window => "Window demo",
            Screen::Settings => "Settings",
        }
    }
}

pub struct ScreensPlugin {
    pub start: Screen,
}

impl Plugin for ScreensPlugin {
    fn build(&self, app: &mut App) {
        app.insert_state(self.start)
            .add_systems(Startup, spawn_ui_camera)
            .add_observer(one_sample_count)
            .add_systems(Update, back_to_menu.run_if(not(in_state(Screen::Menu))))
            .add_plugins((menu::plugin, settings::plugin, facelab::plugin, window::plugin, snapshot::plugin));
    }
}

/// The sample count of every camera: the UI camera and the screens' 3D cameras draw into the
/// same window, and Bevy gives cameras with different `Msaa` separate main textures (keyed by
/// target, usage, format and sample count). The UI camera does not clear, so over a 3D camera
/// with another sample count it blends its own stale texture instead of drawing on the 3D
/// camera's image: the Window demo's camera, left at the default 4×, showed its clear colour and
/// none of its room (issue 21). Off: multisampling costs most on software renderers.
pub const CAMERA_MSAA: Msaa = Msaa::Off;

/// Holds every new camera to [`CAMERA_MSAA`], whatever its screen or plugin asked for.
fn one_sample_count(add: On<Add, Camera>, mut msaa: Query<&mut Msaa>) {
    if let Ok(mut m) = msaa.get_mut(add.entity)
        && *m != CAMERA_MSAA
    {
        *m = CAMERA_MSAA;
    }
}

/// The camera egui draws through; screens with a 3D scene spawn their own.
/// It draws over any 3D camera (higher order, no clear); menu screens fill it with panels.
/// It is the only camera with an egui context (3D cameras come and go with screens).
fn spawn_ui_camera(mut commands: Commands) {
    commands.spawn((
        Name::new("UI camera"),
        Camera2d,
        bevy_egui::PrimaryEguiContext,
        // Same sample count as the screens' 3D cameras, so it draws straight over their image
        // (a different one made Bevy keep a separate texture whose stale content showed through:
        // ghosts of earlier UI text, or a black room). See `CAMERA_MSAA`.
        CAMERA_MSAA,
        Camera { order: 10, clear_color: bevy::camera::ClearColorConfig::None, ..default() },
    ));
}

/// Esc returns to the menu from every other screen.
fn back_to_menu(keys: Res<ButtonInput<KeyCode>>, mut next: ResMut<NextState<Screen>>) {
    if keys.just_pressed(KeyCode::Escape) {
        next.set(Screen::Menu);
    }
}
