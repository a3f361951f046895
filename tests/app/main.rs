//! App-level tests: the app without a window, and the command line end to end. One test binary
//! (each links Bevy), one room a concern: [`headless`] (app runs without rendering), [`cli`],
//! [`face`] (tracking on real frames), [`facekat`], [`gallery`] (rendering, the killed build),
//! [`screens`] (screens rendered offscreen), [`facelab`] (face swap), [`pipeline`] (the declared
//! frame pipeline and its latency). Shared helpers live here.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use headroom::app::{AppConfig, build_app};
use headroom::screens::Screen;
use headroom::settings::Settings;
use headroom_capture::source::OpenOptions;
use headroom_capture::{CaptureStatus, LatestFrame, SourceSpec, open_source};

fn headless_app(start: Screen) -> App {
    headless_app_with_store(start, None)
}

fn headless_app_with_store(start: Screen, store: Option<headroom::settings::SettingsStore>) -> App {
    let opts = OpenOptions::default();
    let source = open_source(&SourceSpec::Demo, opts).expect("the demo clip opens");
    build_app(AppConfig {
        start,
        source,
        notice: None,
        open_options: opts,
        settings: Settings::default(),
        store,
        headless: true,
        facekat_seed: Some(7),
        facelab_effect: None,
        facelab_face: None,
        gallery: None,
        compute: Default::default(),
        tracker: Default::default(),
    })
}

fn press(app: &mut App, key: KeyCode, logical: Key) {
    app.world_mut().write_message(KeyboardInput {
        key_code: key,
        logical_key: logical,
        state: ButtonState::Pressed,
        text: None,
        repeat: false,
        window: Entity::PLACEHOLDER,
    });
}

mod cli;
mod face;
mod facekat;
mod facelab;
mod gallery;
mod headless;
mod pipeline;
mod screens;

fn headroom(args: &[&str], config_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("HEADROOM_CONFIG_DIR", config_dir)
        .output()
        .expect("headroom runs")
}

fn config_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("headroom-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Whether a GPU adapter (lavapipe counts) is present. Without one the GPU tests say so loudly,
/// and fail when `HEADROOM_REQUIRE_GPU=1` (as in CI).
fn gpu_adapter() -> Option<String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = bevy::tasks::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).ok()?;
    Some(format!("{:?}", adapter.get_info().name))
}

fn require_gpu(test: &str) -> bool {
    match gpu_adapter() {
        Some(name) => {
            eprintln!("{test}: GPU adapter {name}");
            true
        }
        None => {
            let msg = format!(
                "!!! {test}: NO GPU ADAPTER (install mesa-vulkan-drivers, set WGPU_BACKEND=vulkan) — NOT RUN !!!"
            );
            if std::env::var("HEADROOM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("{msg} (HEADROOM_REQUIRE_GPU=1)");
            }
            eprintln!("{msg}");
            false
        }
    }
}

/// The app as `headroom --source demo <screen>` builds it, drawing into a 1280×800 image instead
/// of a window, with the renderer ready.
fn offscreen_app(start: Screen) -> (App, Handle<Image>) {
    let opts = OpenOptions::default();
    let (mut app, target) = headroom::app::build_offscreen_app(
        AppConfig {
            start,
            source: open_source(&SourceSpec::Demo, opts).expect("the demo clip opens"),
            notice: None,
            open_options: opts,
            settings: Settings::default(),
            store: None,
            headless: false,
            facekat_seed: Some(7),
            facelab_effect: None,
            facelab_face: None,
            gallery: None,
            compute: headroom_gpu::ComputeChoice::Cpu,
            tracker: Default::default(),
        },
        UVec2::new(1280, 800),
    );
    // The renderer initialises asynchronously: wait for it as `App::run` would.
    while app.plugins_state() == bevy::app::PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
    (app, target)
}

/// A screenshot of the image the app draws into.
fn screenshot(app: &mut App, target: &Handle<Image>) -> image::RgbImage {
    use std::sync::{Arc, Mutex};

    use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

    let shot: Arc<Mutex<Option<Image>>> = Arc::default();
    let s = shot.clone();
    app.world_mut().spawn(Screenshot::image(target.clone())).observe(move |c: On<ScreenshotCaptured>| {
        *s.lock().unwrap() = Some(c.image.clone());
    });
    let t0 = std::time::Instant::now();
    while shot.lock().unwrap().is_none() {
        assert!(t0.elapsed().as_secs() < 60, "no screenshot");
        app.update();
    }
    let image = shot.lock().unwrap().take().unwrap();
    image.try_into_dynamic().unwrap().to_rgb8()
}

/// Screenshots until `done` accepts one or `secs` pass (pipelines compile and meshes upload
/// asynchronously, slowly on lavapipe); the last one, saved as `name` under `HEADROOM_SHOT_DIR`
/// when that is set.
fn render_until(
    app: &mut App,
    target: &Handle<Image>,
    name: &str,
    secs: u64,
    done: impl Fn(&image::RgbImage) -> bool,
) -> image::RgbImage {
    let t0 = std::time::Instant::now();
    loop {
        for _ in 0..3 {
            app.update();
        }
        let img = screenshot(app, target);
        if done(&img) || t0.elapsed().as_secs() > secs {
            if let Ok(dir) = std::env::var("HEADROOM_SHOT_DIR") {
                img.save(Path::new(&dir).join(name)).unwrap();
            }
            eprintln!("{name}: after {:.1} s", t0.elapsed().as_secs_f64());
            return img;
        }
    }
}

/// Share of the pixels left of `x_max` (a fraction of the width) that show the hue `hue`
/// (degrees, ±15°) lit: saturated and bright enough to be neither the near-black background nor
/// the grey UI.
fn hue_share(img: &image::RgbImage, x_max: f32, hue: f32) -> f64 {
    let w = (img.width() as f32 * x_max) as u32;
    let mut n = 0usize;
    for (x, _, p) in img.enumerate_pixels() {
        if x >= w {
            continue;
        }
        let [r, g, b] = p.0.map(|c| c as f32 / 255.0);
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let delta = max - min;
        if max < 0.25 || delta / max < 0.45 {
            continue;
        }
        let h = if max == r {
            60.0 * ((g - b) / delta).rem_euclid(6.0)
        } else if max == g {
            60.0 * ((b - r) / delta + 2.0)
        } else {
            60.0 * ((r - g) / delta + 4.0)
        };
        let d = (h - hue).abs();
        if d.min(360.0 - d) <= 15.0 {
            n += 1;
        }
    }
    n as f64 / (w * img.height()) as f64
}

/// The Window demo's colours: the room's cyan grid (0.2, 0.8, 0.9) and the targets' red
/// (0.9, 0.15, 0.1), as hues.
const ROOM_CYAN: f32 = 189.0;
const TARGET_RED: f32 = 4.0;

/// The room's share of the frame, left of the "Head-coupled window" panel (anchored bottom
/// right; its camera inset is saturated blue).
fn room_shares(img: &image::RgbImage) -> (f64, f64) {
    (hue_share(img, 0.65, ROOM_CYAN), hue_share(img, 0.65, TARGET_RED))
}
