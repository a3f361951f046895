//! Assembles the Bevy app: engine plugins, capture, screens, settings.

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::settings::{RenderCreation, WgpuSettings};
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use bevy_egui::{EguiGlobalSettings, EguiPlugin};
use headroom_capture::source::OpenOptions;
use headroom_capture::{CapturePlugin, FrameSource};
use headroom_face::{FacePlugin, TrackerConfig};
use headroom_facekat::{FaceKatPlugin, FaceKatSeed, HighScore, NewHighScore};
use headroom_gallery::{GalleryPlugin, GallerySource};
use headroom_head::HeadPlugin;
use headroom_offaxis::OffAxisCameraPlugin;

use crate::screens::{Screen, ScreensPlugin};
use crate::settings::{Settings, SettingsStore};

pub const WINDOW_TITLE: &str = "headroom";
pub const WINDOW_SIZE: (u32, u32) = (1280, 800);

/// Everything the app needs to start.
pub struct AppConfig {
    /// Screen shown first (the menu, or the one a subcommand names).
    pub start: Screen,
    pub source: Box<dyn FrameSource>,
    /// Shown from the start, e.g. why the webcam was replaced by the demo clip.
    pub notice: Option<String>,
    pub open_options: OpenOptions,
    pub settings: Settings,
    /// `None`: settings are not saved (no home folder).
    pub store: Option<SettingsStore>,
    /// No window, no GPU: for tests and tools. The UI (egui) is not added.
    pub headless: bool,
    /// FaceKat's seed (`headroom play --seed N`).
    pub facekat_seed: Option<u64>,
    /// Face Lab's effect at start (`headroom facelab --effect`).
    pub facelab_effect: Option<headroom_facelab::Effect>,
    /// Face Lab's source face at start (`--face`): a photo path or a bundled face's name.
    pub facelab_face: Option<String>,
    /// The gallery manifest (`headroom gallery PATH`); `None`: the bundled demo collection.
    pub gallery: Option<std::path::PathBuf>,
    /// Where the face tracker's patch responses run (`--compute`).
    pub compute: headroom_gpu::ComputeChoice,
    /// The face tracker's backends (`--landmarks`, `--detector`).
    pub tracker: TrackerConfig,
}

/// Where the app draws.
enum Output {
    Window,
    /// No window, no GPU (`AppConfig::headless`).
    Headless,
    /// No window; every camera draws into an image of this size.
    Offscreen(UVec2),
}

/// The image every camera draws into in an app from [`build_offscreen_app`].
#[derive(Resource, Clone)]
pub struct OffscreenTarget(pub Handle<Image>);

/// Builds the app; `app.run()` opens the window (or `app.update()` steps a headless one).
pub fn build_app(config: AppConfig) -> App {
    let output = if config.headless { Output::Headless } else { Output::Window };
    build(config, output)
}

/// Builds the app to draw into an image of `size` instead of a window: every camera, the UI
/// camera and the screens' 3D cameras, draws into the returned image just as it would into the
/// window, so a screenshot of the image shows what the window would. Needs a GPU adapter
/// (lavapipe will do; `WGPU_BACKEND` picks the backend). `config.headless` is ignored. For
/// render tests: step it with `app.update()` after the renderer is ready (see `App::finish`).
pub fn build_offscreen_app(config: AppConfig, size: UVec2) -> (App, Handle<Image>) {
    let app = build(config, Output::Offscreen(size));
    let handle = app.world().resource::<OffscreenTarget>().0.clone();
    (app, handle)
}

fn build(config: AppConfig, output: Output) -> App {
    let mut app = App::new();
    if let Output::Headless = output {
        app.add_plugins(
            DefaultPlugins
                .build()
                .disable::<WinitPlugin>()
                .set(WindowPlugin { primary_window: None, exit_condition: ExitCondition::DontExit, ..default() })
                .set(RenderPlugin {
                    render_creation: RenderCreation::Automatic(Box::new(WgpuSettings { backends: None, ..default() })),
                    ..default()
                }),
        );
    } else if let Output::Offscreen(size) = output {
        app.add_plugins(DefaultPlugins.build().disable::<WinitPlugin>().set(WindowPlugin {
            primary_window: None,
            exit_condition: ExitCondition::DontExit,
            ..default()
        }))
        .add_plugins(EguiPlugin::default())
        .insert_resource(EguiGlobalSettings { auto_create_primary_context: false, ..default() });
        let mut image = Image::new_target_texture(size.x, size.y, TextureFormat::Rgba8UnormSrgb, None);
        // Screenshots copy from it.
        image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let handle = app.world_mut().resource_mut::<Assets<Image>>().add(image);
        app.insert_resource(OffscreenTarget(handle)).add_observer(draw_offscreen);
    } else {
        app.add_plugins(DefaultPlugins.set(WindowPlugin {
            primary_window: Some(Window {
                title: WINDOW_TITLE.into(),
                resolution: WindowResolution::new(WINDOW_SIZE.0, WINDOW_SIZE.1),
                // The web page's <canvas id="headroom">, filling its parent.
                canvas: cfg!(target_arch = "wasm32").then(|| "#headroom".to_string()),
                fit_canvas_to_parent: true,
                ..default()
            }),
            ..default()
        }))
        .add_plugins(EguiPlugin::default())
        // The UI camera carries the one egui context; screens' 3D cameras must not get one.
        .insert_resource(EguiGlobalSettings { auto_create_primary_context: false, ..default() });
    }
    let high = HighScore(config.settings.facekat_high_score);
    app.add_plugins(CapturePlugin::new(config.source, config.notice, config.open_options))
        .add_plugins(FacePlugin { config: config.tracker.clone() })
        .add_plugins((HeadPlugin { config: config.settings.head }, OffAxisCameraPlugin))
        .insert_resource(config.settings)
        .add_plugins(ScreensPlugin { start: config.start })
        .add_plugins(FaceKatPlugin { screen: Screen::FaceKat })
        .insert_resource(headroom_facelab::LabEffect {
            effect: config.facelab_effect.unwrap_or_default(),
            want_source: config.facelab_face.clone().filter(|f| !std::path::Path::new(f).is_file()),
            ..Default::default()
        })
        .add_plugins(headroom_facelab::FaceLabPlugin)
        .insert_resource(GallerySource(config.gallery.unwrap_or_else(headroom_gallery::plugin::default_manifest)))
        .add_plugins(GalleryPlugin { screen: Screen::Gallery })
        .insert_resource(high)
        .insert_resource(FaceKatSeed(config.facekat_seed))
        .add_plugins(crate::pipeline::PipelinePlugin)
        .add_systems(Update, save_high_score);
    if let Some(photo) = config.facelab_face.filter(|f| std::path::Path::new(f).is_file()) {
        app.add_systems(Startup, move |mut add: MessageWriter<headroom_facelab::AddPhoto>| {
            add.write(headroom_facelab::AddPhoto(photo.clone().into()));
        });
    }
    if !matches!(output, Output::Headless) {
        // Face responses on the render device's GPU or the CPU, whichever measured faster (the
        // gallery's live relayout comes with the gallery plugin).
        app.add_plugins(headroom_face::GpuResponsesPlugin { choice: config.compute });
    }
    if let Some(store) = config.store {
        app.insert_resource(store);
    }
    app
}

/// Points every new camera at the offscreen image instead of the (absent) window.
fn draw_offscreen(add: On<Add, Camera>, target: Res<OffscreenTarget>, mut commands: Commands) {
    commands.entity(add.entity).insert(RenderTarget::Image(target.0.clone().into()));
}

/// Keeps FaceKat's best score in the settings file.
fn save_high_score(
    mut news: MessageReader<NewHighScore>,
    mut settings: ResMut<Settings>,
    store: Option<Res<SettingsStore>>,
) {
    let Some(NewHighScore(score)) = news.read().last().copied() else { return };
    settings.facekat_high_score = score;
    if let Some(store) = store
        && let Err(e) = store.save(&settings)
    {
        warn!("could not save the high score to {}: {e}", store.location());
    }
}
