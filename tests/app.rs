//! App-level tests: the app without a window, and the command line end to end.

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
    let opts = OpenOptions::default();
    let source = open_source(&SourceSpec::Demo, opts).expect("the demo clip opens");
    build_app(AppConfig {
        start,
        source,
        notice: None,
        open_options: opts,
        settings: Settings::default(),
        store: None,
        headless: true,
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

#[test]
fn frames_arrive_in_a_headless_app() {
    let mut app = headless_app(Screen::Menu);
    let mut seqs = Vec::new();
    for _ in 0..30 {
        app.update();
        if let Some(f) = &app.world().resource::<LatestFrame>().0 {
            assert_eq!((f.width, f.height), (360, 288));
            seqs.push(f.seq);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seqs.dedup();
    // 30 updates ≥ 20 ms apart span ≥ 0.6 s of a 24 fps clip: well over 5 distinct frames.
    assert!(seqs.len() >= 5, "frames seen: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence numbers must increase: {seqs:?}");
    let status = app.world().resource::<CaptureStatus>();
    assert!(status.source_name.contains("demo"), "{}", status.source_name);
    assert!(status.measured_fps > 5.0, "measured {}", status.measured_fps);
    // The Bevy image follows the frame size.
    let handle = app.world().resource::<headroom_capture::CameraImage>().0.clone();
    let images = app.world().resource::<Assets<Image>>();
    let img = images.get(&handle).expect("camera image exists");
    assert_eq!(img.texture_descriptor.size.width, 360);
    assert_eq!(img.data.as_ref().map(Vec::len), Some(360 * 288 * 4));
}

#[test]
fn escape_returns_to_the_menu() {
    let mut app = headless_app(Screen::FaceLab);
    app.update();
    assert_eq!(*app.world().resource::<State<Screen>>().get(), Screen::FaceLab);
    press(&mut app, KeyCode::Escape, Key::Escape);
    app.update();
    app.update();
    assert_eq!(*app.world().resource::<State<Screen>>().get(), Screen::Menu);
}

#[test]
fn switching_to_a_missing_file_keeps_the_source_and_says_why() {
    let mut app = headless_app(Screen::Settings);
    app.update();
    app.world_mut().write_message(headroom_capture::SwitchSource(SourceSpec::Video("/no/such/clip.mp4".into())));
    app.update();
    let status = app.world().resource::<CaptureStatus>();
    assert!(status.source_name.contains("demo"));
    let notice = status.notice.clone().expect("a notice");
    assert!(notice.contains("/no/such/clip.mp4"), "{notice}");
}

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

#[test]
fn cli_help_lists_the_subcommands() {
    let out = headroom(&["--help"], &config_dir("help"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["play", "gallery", "facelab", "cameras", "probe", "--source", "webcam:N", "video:PATH", "images:DIR"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

#[test]
fn cli_cameras_without_a_camera() {
    let has_video_device = std::fs::read_dir("/dev")
        .map(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("video")))
        .unwrap_or(false);
    let out = headroom(&["cameras"], &config_dir("cams"));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    if has_video_device {
        eprintln!("this machine has /dev/video*: listing was\n{text}");
    } else {
        assert!(text.contains("no cameras found"), "{text}");
    }
}

#[test]
fn cli_missing_video_is_a_clear_error() {
    let out = headroom(&["--source", "video:/no/such/clip.mp4", "probe"], &config_dir("missing"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/clip.mp4") && err.contains("error"), "{err}");
    let out = headroom(&["--source", "tape:1"], &config_dir("badspec"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("webcam:N"));
}

#[test]
fn cli_probe_plays_the_clip_and_a_missing_webcam_falls_back() {
    let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/franck.mp4");
    let out = headroom(&["--source", &format!("video:{clip}"), "probe", "--seconds", "0.5"], &config_dir("probe"));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("franck.mp4 (360×288, 24.0 fps nominal)"), "{text}");
    assert!(text.contains("timestamps increasing"), "{text}");
    let frames: u64 = text.split("read ").nth(1).and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
    assert!((8..=14).contains(&frames), "0.5 s of a 24 fps clip: {frames} frames\n{text}");

    let out = headroom(&["--source", "webcam:7", "probe", "--seconds", "0.2"], &config_dir("fallback"));
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("webcam") && err.contains("demo clip"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo clip"));
}

#[test]
fn cli_corrupt_settings_warn_and_keep_a_backup() {
    let dir = config_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.json"), "not json").unwrap();
    let out = headroom(&["--source", "demo", "probe", "--seconds", "0.1"], &dir);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("corrupt"), "{err}");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(names.iter().any(|n| n.starts_with("settings.json.bad-")), "{names:?}");
}
