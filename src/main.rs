#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use anyhow::Context;
#[cfg(not(target_arch = "wasm32"))]
use clap::Parser;
use headroom::app::{AppConfig, build_app};
#[cfg(not(target_arch = "wasm32"))]
use headroom::cli::{Cli, Command, ConvertWhat};
use headroom::screens::Screen;
use headroom::settings::SettingsStore;
use headroom_capture::SourceSpec;
use headroom_capture::source::OpenOptions;
#[cfg(not(target_arch = "wasm32"))]
use headroom_capture::{open_source, open_with_fallback};

/// The web build: the camera through getUserMedia (a refusal, or no camera, switches to the demo
/// clip with a notice once the browser answers), the start menu, assets over HTTP.
/// `?source=demo` in the page address starts with the demo clip. The face tracker is the CLM
/// (Haar + 71 points) unless `?landmarks=mesh`: the mesh runs on the page's own thread, and its
/// cost there is not measured yet. `?effect=caricature|deform|mask|swap` starts Face Lab's effect
/// (as `headroom facelab --effect`).
#[cfg(target_arch = "wasm32")]
fn main() {
    let open_options = OpenOptions::default();
    let query = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    let spec = if query.contains("source=demo") { SourceSpec::Demo } else { SourceSpec::Webcam(0) };
    // Settings (screen size, camera field of view, FaceKat's best score) in localStorage.
    let store = SettingsStore::browser();
    let (settings, warning) = store.as_ref().map(|s| s.load()).unwrap_or_default();
    if let Some(w) = &warning {
        web_sys::console::warn_1(&format!("headroom: {w}").into());
    }
    let (source, notice) = match headroom_capture::open_source(&spec, open_options) {
        Ok(s) => (s, warning),
        Err(e) => match headroom_capture::open_source(&SourceSpec::Demo, open_options) {
            Ok(s) => (s, Some(format!("{e} — showing the demo clip instead"))),
            Err(e2) => panic!("no frame source: {e}; the demo clip failed too: {e2}"),
        },
    };
    build_app(AppConfig {
        start: Screen::Menu,
        source,
        notice,
        open_options,
        settings,
        store,
        headless: false,
        facekat_seed: None,
        facelab_effect: query.split(['?', '&']).find_map(|kv| kv.strip_prefix("effect=")).and_then(|e| {
            use headroom_facelab::Effect;
            Some(match e {
                "caricature" => Effect::Caricature,
                "deform" => Effect::Deform,
                "mask" => Effect::Mask,
                "swap" => Effect::Substitute,
                _ => return None,
            })
        }),
        facelab_face: None,
        gallery: None,
        compute: Default::default(),
        tracker: if query.contains("landmarks=mesh") {
            headroom_face::TrackerConfig::default()
        } else {
            headroom_face::TrackerConfig::clm()
        },
    })
    .run();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("headroom: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Cameras) => return list_cameras(),
        Some(Command::Fit { input, json, overlay, patches, hfov }) => {
            let mut config = cli.tracker_config();
            config.fit.response = headroom_face::patch::ResponseConfig::for_kind((*patches).into());
            return headroom::fit_cmd::run_fit(input, json.as_deref(), overlay.as_deref(), *hfov, config);
        }
        Some(Command::Convert { what: ConvertWhat::Clmtrackr { input, output } }) => {
            return headroom::fit_cmd::convert_clmtrackr(input, output);
        }
        Some(cmd @ Command::BuildGallery { .. }) => return headroom::gallery_cmd::run(cmd),
        Some(Command::Faces { manifest }) => return headroom::gallery_cmd::faces(manifest),
        _ => {}
    }
    let store = SettingsStore::default_location();
    let (settings, warning) = store.as_ref().map(|s| s.load()).unwrap_or_default();
    if let Some(w) = warning {
        eprintln!("headroom: warning: {w}");
    }
    let spec = cli.source.clone().unwrap_or_else(|| settings.source.clone());
    let open_options = OpenOptions { looping: !cli.no_loop, images_fps: cli.fps };
    // A file source given on the command line that fails is an error (exit 2) before any window
    // opens; a missing webcam, or a saved source that no longer opens (the file moved), falls
    // back to the demo clip with a notice. The settings file is left as it is.
    let (mut source, notice) = match open_with_fallback(&spec, open_options) {
        Ok(opened) => opened,
        Err(e) if cli.source.is_none() => {
            let demo = open_source(&SourceSpec::Demo, open_options).context("cannot open the demo clip")?;
            (demo, Some(format!("the saved source {spec} does not open ({e}) — showing the demo clip instead")))
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot open source {spec}"))),
    };
    if let Some(n) = &notice {
        eprintln!("headroom: {n}");
    }
    let start = match cli.command {
        Some(Command::Probe { seconds }) => {
            let info = source.info();
            let r = headroom::probe::probe(source.as_mut(), seconds);
            println!("source: {} ({}×{}, {:.1} fps nominal)", info.name, info.width, info.height, info.nominal_fps);
            println!(
                "read {} frames in {seconds} s ({:.1} fps), {}×{}, timestamps {}",
                r.frames,
                r.fps,
                r.width,
                r.height,
                if r.monotonic { "increasing" } else { "NOT increasing" }
            );
            for e in &r.errors {
                println!("error: {e}");
            }
            return Ok(());
        }
        Some(Command::Play { .. }) => Screen::FaceKat,
        Some(Command::Gallery { .. }) => Screen::Gallery,
        Some(Command::Facelab { .. }) => Screen::FaceLab,
        Some(Command::Window) => Screen::Window,
        Some(
            Command::Cameras
            | Command::Fit { .. }
            | Command::Convert { .. }
            | Command::BuildGallery { .. }
            | Command::Faces { .. },
        )
        | None => Screen::Menu,
    };
    let gallery = match &cli.command {
        Some(Command::Gallery { manifest: Some(p) }) => Some(headroom_gallery::plugin::resolve_manifest(p)?),
        _ => None,
    };
    let (facelab_effect, facelab_face) = match &cli.command {
        Some(Command::Facelab { effect, face }) => (effect.map(|e| e.effect()), face.clone()),
        _ => (None, None),
    };
    let facekat_seed = match cli.command {
        Some(Command::Play { seed }) => seed,
        _ => None,
    };
    let mut app = build_app(AppConfig {
        start,
        source,
        notice,
        open_options,
        settings,
        store,
        headless: false,
        facekat_seed,
        facelab_effect,
        facelab_face,
        gallery,
        compute: cli.compute,
        tracker: cli.tracker_config(),
    });
    app.run();
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn list_cameras() -> anyhow::Result<()> {
    match headroom_capture::webcam::list_cameras() {
        Ok(cams) if cams.is_empty() => println!("no cameras found"),
        Ok(cams) => {
            for c in cams {
                println!("{}: {} ({}) — use --source {}", c.index, c.name, c.description, SourceSpec::Webcam(c.index));
            }
        }
        // No video subsystem at all is the same, for the user, as no camera.
        Err(e) => println!("no cameras found ({e})"),
    }
    Ok(())
}
