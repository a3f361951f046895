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

#[test]
fn a_source_switch_is_saved_only_once_it_opens() {
    let dir = config_dir("switch");
    let store = headroom::settings::SettingsStore::in_dir(&dir);
    let mut app = headless_app_with_store(Screen::Settings, Some(store.clone()));
    app.update();
    // A mistyped path: the switch fails, nothing is saved, the saved source stays.
    app.world_mut().write_message(headroom_capture::SwitchSource(SourceSpec::Video("/no/such/clip.mp4".into())));
    app.update();
    app.update();
    assert!(!store.path().exists(), "a failed switch must not be saved");
    assert_eq!(app.world().resource::<Settings>().source, SourceSpec::Webcam(0));
    let message = app.world().resource::<headroom::screens::CalibrationForm>().message.clone();
    assert!(message.is_none(), "{message:?}");
    // A source that opens is kept for the next start.
    app.world_mut().write_message(headroom_capture::SwitchSource(SourceSpec::Demo));
    app.update();
    app.update();
    assert_eq!(app.world().resource::<Settings>().source, SourceSpec::Demo);
    let (saved, warning) = store.load();
    assert!(warning.is_none(), "{warning:?}");
    assert_eq!(saved.source, SourceSpec::Demo);
}

#[test]
fn cli_a_saved_source_that_no_longer_opens_falls_back_to_the_demo_clip() {
    let dir = config_dir("saved-missing");
    std::fs::create_dir_all(&dir).unwrap();
    let text = r#"{"version": 1, "source": "video:/no/such/clip.mp4"}"#;
    std::fs::write(dir.join("settings.json"), text).unwrap();
    let out = headroom(&["probe", "--seconds", "0.1"], &dir);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/clip.mp4") && err.contains("demo clip"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo clip"));
    // The user's file is left as it was.
    assert_eq!(std::fs::read_to_string(dir.join("settings.json")).unwrap(), text);
    // Given on the command line, the same path is an error.
    let out = headroom(&["--source", "video:/no/such/clip.mp4", "probe", "--seconds", "0.1"], &dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
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
    for word in [
        "play",
        "gallery",
        "build-gallery",
        "facelab",
        "cameras",
        "probe",
        "--source",
        "webcam:N",
        "video:PATH",
        "images:DIR",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

#[test]
fn cli_gallery_commands_explain_bad_paths() {
    let dir = config_dir("gallery-paths");
    // A missing manifest: exit 2 before any window opens, naming the path.
    let out = headroom(&["--source", "demo", "gallery", "/nonexistent/gallery.json"], &dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gallery.json"), "{out:?}");
    // A folder without a manifest says how to build one.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = headroom(&["--source", "demo", "gallery", empty.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("build-gallery"), "{out:?}");
    // build-gallery on a missing folder, and on a folder with nothing readable.
    let out =
        headroom(&["build-gallery", "/nonexistent/art", "--out", dir.join("o").to_str().unwrap(), "--quiet"], &dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/art"), "{out:?}");
    std::fs::write(empty.join("broken.jpg"), b"not a jpeg").unwrap();
    let out = headroom(
        &["build-gallery", empty.to_str().unwrap(), "--out", dir.join("o").to_str().unwrap(), "--quiet"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no readable images") && err.contains("report.txt"), "{err}");
    let report = std::fs::read_to_string(dir.join("o/report.txt")).unwrap();
    assert!(report.contains("broken.jpg"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
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

// ---- face tracking on real frames -------------------------------------------------------

mod face {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use headroom::fit_cmd::{fit_still, track_frame};
    use headroom_capture::images::read_rgba;
    use headroom_capture::{DEMO_CLIP, Frame, VideoSource};
    use headroom_face::{FaceEvent, TrackerConfig, default_tracker};
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Reference {
        normaliser: [String; 2],
        stills: BTreeMap<String, BTreeMap<String, [f32; 2]>>,
        clip: Clip,
    }

    #[derive(Deserialize)]
    struct Clip {
        frames: BTreeMap<String, BTreeMap<String, [f32; 2]>>,
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces")
    }

    fn reference() -> Reference {
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("reference.json")).unwrap()).unwrap()
    }

    /// Mean point error over the shared landmarks, divided by the outer-eye-corner distance.
    fn nme(points: &[[f32; 2]], truth: &BTreeMap<String, [f32; 2]>, norm: &[String; 2]) -> f32 {
        let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let scale = d(truth[&norm[0]], truth[&norm[1]]);
        let sum: f32 = truth.iter().map(|(k, &t)| d(points[k.parse::<usize>().unwrap()], t)).sum();
        sum / truth.len() as f32 / scale
    }

    fn still(name: &str) -> Frame {
        let (w, h, rgba) = read_rgba(&fixtures().join(name)).unwrap();
        Frame::new(w, h, rgba, std::time::Duration::ZERO, 0).unwrap()
    }

    fn stills_nme(config: TrackerConfig) -> Vec<f32> {
        let r = reference();
        let mut tracker = default_tracker(config).unwrap();
        let mut errors = Vec::new();
        for (name, truth) in &r.stills {
            let (rec, _) = fit_still(&mut tracker, &still(name), name.clone());
            assert!(rec.found, "{name}: no fit");
            assert_eq!(rec.points.len(), 71);
            errors.push(nme(&rec.points, truth, &r.normaliser));
        }
        errors
    }

    #[test]
    fn fit_error_on_the_reference_stills() {
        let errors = stills_nme(TrackerConfig::clm());
        let mean = errors.iter().sum::<f32>() / errors.len() as f32;
        println!("CLM: stills NME per image {errors:.3?}, mean {mean:.4}");
        // See the README (face tracking accuracy) for how this bound was chosen.
        assert!(mean < STILLS_NME_BOUND, "mean NME {mean:.4} ≥ {STILLS_NME_BOUND}");
    }

    #[test]
    fn mesh_fit_error_on_the_reference_stills() {
        let errors = stills_nme(TrackerConfig::default());
        let mean = errors.iter().sum::<f32>() / errors.len() as f32;
        let worst = errors.iter().copied().fold(0.0, f32::max);
        println!("mesh: stills NME per image {errors:.3?}, mean {mean:.4}, worst {worst:.4}");
        assert!(mean < MESH_NME_BOUND && worst < 2.0 * MESH_NME_BOUND, "mean NME {mean:.4}, worst {worst:.4}");
    }

    #[test]
    fn sobel_and_lbp_experts_also_fit() {
        let r = reference();
        for kind in [headroom_face::patch::PatchKind::Sobel, headroom_face::patch::PatchKind::Lbp] {
            let mut config = TrackerConfig::clm();
            config.fit.response = headroom_face::patch::ResponseConfig::for_kind(kind);
            let mut tracker = default_tracker(config).unwrap();
            let mut errors = Vec::new();
            for (name, truth) in &r.stills {
                tracker.reset();
                let (rec, _) = track_frame(&mut tracker, &still(name), name.clone());
                assert!(rec.found, "{kind:?} {name}: no fit");
                errors.push(nme(&rec.points, truth, &r.normaliser));
            }
            let mean = errors.iter().sum::<f32>() / errors.len() as f32;
            println!("{kind:?} experts: stills NME {mean:.4}");
            // Measured 0.147 (Sobel) and 0.149 (LBP); the box-only start is 0.19, so a bound of
            // 0.17 proves the fit improves on it.
            assert!(mean < 0.17, "{kind:?}: mean NME {mean:.4}");
        }
    }

    /// Frames, frames with a fit, detections, losses, NME per reference frame (1.0 if no fit).
    fn track_clip(config: TrackerConfig) -> (usize, usize, usize, usize, Vec<f32>) {
        let r = reference();
        let mut tracker = default_tracker(config).unwrap();
        let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
        let (mut frames, mut with_fit, mut found, mut lost) = (0, 0, 0, 0);
        let mut errors = Vec::new();
        while let Some(frame) = video.next_frame().unwrap() {
            let (rec, out) = track_frame(&mut tracker, &frame, frame.seq.to_string());
            frames += 1;
            with_fit += usize::from(rec.found);
            found += out.events.iter().filter(|e| **e == FaceEvent::Found).count();
            lost += out.events.iter().filter(|e| **e == FaceEvent::Lost).count();
            if let Some(truth) = r.clip.frames.get(&frame.seq.to_string()) {
                errors.push(if rec.found { nme(&rec.points, truth, &r.normaliser) } else { 1.0 });
            }
        }
        (frames, with_fit, found, lost, errors)
    }

    /// Happy against mouth width over the demo clip: the clip's speaker talks and smiles, so
    /// the frames are picked by the fit (mouth corners 44–50 over the outer eye corners 23–28),
    /// not by hand.
    fn happy_by_mouth_width(config: TrackerConfig) -> (f32, f32, usize) {
        use headroom_facelab::{Classifiers, Expression};
        let mut tracker = default_tracker(config).unwrap();
        let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
        let mut e = Expression::new(Classifiers::bundled().unwrap());
        let mut rows = Vec::new();
        while let Some(frame) = video.next_frame().unwrap() {
            let (_, out) = track_frame(&mut tracker, &frame, frame.seq.to_string());
            let Some(fit) = out.fit else {
                e.clear();
                continue;
            };
            e.push(&fit.params);
            let d = |a: usize, b: usize| {
                let (p, q) = (fit.points[a], fit.points[b]);
                ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
            };
            if let Some(em) = e.emotions() {
                let happy = em.iter().find(|(n, _)| n == "happy").unwrap().1;
                rows.push((d(44, 50) / d(23, 28), happy));
            }
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let q = rows.len() / 4;
        let mean = |r: &[(f32, f32)]| r.iter().map(|x| x.1).sum::<f32>() / r.len() as f32;
        (mean(&rows[..q]), mean(&rows[rows.len() - q..]), rows.len())
    }

    #[test]
    fn happy_rises_when_the_mouth_is_wide() {
        for (name, config) in [("mesh", TrackerConfig::default()), ("CLM", TrackerConfig::clm())] {
            let (narrow, wide, n) = happy_by_mouth_width(config);
            println!("{name}: happy {narrow:.3} on the narrowest-mouth quarter, {wide:.3} on the widest ({n} frames)");
            assert!(wide > narrow + 0.05, "{name}: happy {wide:.3} (wide mouth) vs {narrow:.3} (narrow)");
        }
    }

    #[test]
    fn tracks_the_whole_demo_clip() {
        let (frames, with_fit, found, lost, errors) = track_clip(TrackerConfig::clm());
        let mean = errors.iter().sum::<f32>() / errors.len() as f32;
        println!(
            "CLM, demo clip: {frames} frames, fit in {with_fit}, {found} detections, {lost} losses, NME {mean:.4} over {} reference frames",
            errors.len()
        );
        assert_eq!(frames, 480);
        assert!(with_fit >= 460, "a fit in only {with_fit} of 480 frames");
        assert!(lost <= 1, "{lost} losses");
        assert!(mean < CLIP_NME_BOUND, "mean NME {mean:.4} ≥ {CLIP_NME_BOUND}");
    }

    #[test]
    fn mesh_tracks_the_whole_demo_clip_with_one_detection() {
        let (frames, with_fit, found, lost, errors) = track_clip(TrackerConfig::default());
        let mean = errors.iter().sum::<f32>() / errors.len() as f32;
        let worst = errors.iter().copied().fold(0.0, f32::max);
        println!(
            "mesh, demo clip: {frames} frames, fit in {with_fit}, {found} detections, {lost} losses, NME {mean:.4} (worst {worst:.4}) over {} reference frames",
            errors.len()
        );
        assert_eq!(frames, 480);
        assert_eq!((with_fit, found, lost), (480, 1, 0), "fit, detections, losses");
        assert!(mean < MESH_NME_BOUND && worst < 2.0 * MESH_NME_BOUND, "mean NME {mean:.4}, worst {worst:.4}");
    }

    #[test]
    fn bad_frames_do_not_panic() {
        for config in [TrackerConfig::clm(), TrackerConfig::default()] {
            bad_frames(config);
        }
    }

    fn bad_frames(config: TrackerConfig) {
        let mut tracker = default_tracker(config).unwrap();
        for (w, h) in [(0u32, 0u32), (1, 1), (7, 3)] {
            let f = Frame::new(w, h, vec![0; (w * h * 4) as usize], std::time::Duration::ZERO, 0).unwrap();
            assert!(!track_frame(&mut tracker, &f, "tiny".into()).0.found);
        }
        let black = Frame::new(640, 480, vec![0; 640 * 480 * 4], std::time::Duration::ZERO, 0).unwrap();
        assert!(!track_frame(&mut tracker, &black, "black".into()).0.found);
        // 10k × 10k grey: detection runs on a 200-px work image, so this stays quick.
        let big = Frame::new(10_000, 10_000, vec![128; 10_000 * 10_000 * 4], std::time::Duration::ZERO, 0).unwrap();
        assert!(!track_frame(&mut tracker, &big, "big".into()).0.found);
    }

    const STILLS_NME_BOUND: f32 = 0.05;
    const CLIP_NME_BOUND: f32 = 0.07;
    /// The reference is MediaPipe Face Mesh itself (with its attention model and refined iris).
    const MESH_NME_BOUND: f32 = 0.04;
}

// ---- FaceKat ------------------------------------------------------------------------------

#[test]
fn facekat_runs_to_game_over_and_saves_the_high_score() {
    use bevy::time::TimeUpdateStrategy;
    use headroom::settings::SettingsStore;
    use headroom_facekat::{HighScore, Phase, Run};

    let dir = config_dir("facekat");
    let store = SettingsStore::in_dir(&dir);
    let opts = OpenOptions::default();
    let mut app = build_app(AppConfig {
        start: Screen::FaceKat,
        source: open_source(&SourceSpec::Demo, opts).unwrap(),
        notice: None,
        open_options: opts,
        settings: Settings::default(),
        store: Some(store.clone()),
        headless: true,
        facekat_seed: Some(7),
        facelab_effect: None,
        facelab_face: None,
        gallery: None,
        compute: Default::default(),
        tracker: Default::default(),
    });
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / 60.0)));
    // Record the sound cues the game asks for.
    #[derive(Resource, Default)]
    struct Cues(Vec<headroom_facekat::sound::Sfx>);
    app.init_resource::<Cues>().add_systems(
        Update,
        |mut r: MessageReader<headroom_facekat::FaceKatSound>, mut cues: ResMut<Cues>| {
            cues.0.extend(r.read().map(|c| c.0));
        },
    );
    app.update();
    app.update();
    assert_eq!(app.world().resource::<Run>().phase, Phase::Ready);
    press(&mut app, KeyCode::Space, Key::Space);
    app.update();
    let release = |app: &mut App, key: KeyCode, logical: Key| {
        app.world_mut().write_message(KeyboardInput {
            key_code: key,
            logical_key: logical,
            state: ButtonState::Released,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
    };
    release(&mut app, KeyCode::Space, Key::Space);
    // Scripted steering: alternate holding D and A for two seconds each, until the game ends.
    let mut frames = 0;
    while app.world().resource::<Run>().phase != Phase::Over && frames < 60 * 60 * 5 {
        match (frames / 120) % 2 {
            0 if frames % 120 == 0 => {
                release(&mut app, KeyCode::KeyA, Key::Character("a".into()));
                press(&mut app, KeyCode::KeyD, Key::Character("d".into()));
            }
            1 if frames % 120 == 0 => {
                release(&mut app, KeyCode::KeyD, Key::Character("d".into()));
                press(&mut app, KeyCode::KeyA, Key::Character("a".into()));
            }
            _ => {}
        }
        app.update();
        frames += 1;
    }
    let run = app.world().resource::<Run>();
    assert_eq!(run.phase, Phase::Over, "no game over after {frames} frames");
    let score = run.game.score();
    assert!(score > 0);
    assert_eq!(app.world().resource::<HighScore>().0, score);
    app.update();
    let (saved, warning) = store.load();
    assert!(warning.is_none());
    assert_eq!(saved.facekat_high_score, score, "the high score reaches the settings file");
    // Sound cues: the start chirp, one per lost life (two; the third hit is the game over), the
    // game-over phrase last.
    use headroom_facekat::sound::Sfx;
    let cues = &app.world().resource::<Cues>().0;
    assert_eq!(cues.first(), Some(&Sfx::Start), "{cues:?}");
    assert_eq!(cues.iter().filter(|&&c| c == Sfx::Hit).count(), 2, "{cues:?}");
    assert_eq!(cues.iter().filter(|&&c| c == Sfx::GameOver).count(), 1, "{cues:?}");
    assert_eq!(cues.last(), Some(&Sfx::GameOver), "{cues:?}");
}

// ---- Gallery --------------------------------------------------------------------------------

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

#[test]
fn gallery_renders_the_bundled_collection_without_a_window() {
    use std::sync::{Arc, Mutex};

    use bevy::render::render_resource::{TextureFormat, TextureUsages};
    use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
    use bevy::window::ExitCondition;
    use bevy::winit::WinitPlugin;
    use headroom_gallery::{Gallery, GalleryPlugin, GalleryRenderTarget, GallerySource};

    if !require_gpu("gallery render") {
        return;
    }
    #[derive(States, Default, Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum S {
        #[default]
        Gallery,
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/gallery/public-art/manifest.json");
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.build().disable::<WinitPlugin>().set(WindowPlugin {
        primary_window: None,
        exit_condition: ExitCondition::DontExit,
        ..default()
    }))
    .add_plugins((headroom_head::HeadPlugin { config: Default::default() }, headroom_offaxis::OffAxisCameraPlugin));
    let mut target = Image::new_target_texture(480, 300, TextureFormat::Rgba8UnormSrgb, None);
    target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    let handle = app.world_mut().resource_mut::<Assets<Image>>().add(target);
    app.insert_resource(GalleryRenderTarget(handle.clone()))
        .insert_resource(GallerySource(manifest))
        .init_state::<S>()
        .add_plugins(GalleryPlugin { screen: S::Gallery });
    // The renderer initialises asynchronously: wait for it as `App::run` would.
    while app.plugins_state() == bevy::app::PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
    let t0 = std::time::Instant::now();
    while !app.world().contains_resource::<Gallery>() {
        assert!(t0.elapsed().as_secs() < 120, "the bundled gallery did not load");
        app.update();
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = app.world().resource::<Gallery>().manifest.works.len();
    assert!(n > 1000, "{n} works");
    // Pipelines compile and the 4096² atlases upload asynchronously (slowly on lavapipe): take
    // screenshots until the works show, for up to two minutes.
    let t0 = std::time::Instant::now();
    let (frac, colours) = loop {
        for _ in 0..3 {
            app.update();
        }
        let shot: Arc<Mutex<Option<Image>>> = Arc::default();
        let s = shot.clone();
        app.world_mut().spawn(Screenshot::image(handle.clone())).observe(move |c: On<ScreenshotCaptured>| {
            *s.lock().unwrap() = Some(c.image.clone());
        });
        let t1 = std::time::Instant::now();
        while shot.lock().unwrap().is_none() {
            assert!(t1.elapsed().as_secs() < 60, "no screenshot");
            app.update();
        }
        let img = shot.lock().unwrap().take().unwrap().try_into_dynamic().unwrap().to_rgb8();
        // The background is near-black grey; works are paintings. Count pixels that are neither.
        let bg = [15u8, 15, 18];
        let painted = img
            .pixels()
            .filter(|p| p.0.iter().zip(&bg).map(|(a, b)| (*a as i32 - *b as i32).abs()).sum::<i32>() > 30)
            .count();
        let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        let frac = painted as f64 / (img.width() * img.height()) as f64;
        if let Ok(dir) = std::env::var("HEADROOM_SHOT_DIR") {
            img.save(Path::new(&dir).join("gallery-headless.png")).unwrap();
        }
        if (frac > 0.05 && colours.len() > 500) || t0.elapsed().as_secs() > 120 {
            break (frac, colours.len());
        }
    };
    eprintln!("gallery render: {:.1}% of the frame shows works, {colours} colours", frac * 100.0);
    assert!(frac > 0.05, "only {:.1}% of the frame shows works", frac * 100.0);
    assert!(colours > 500, "{colours} colours: not thumbnails");

    // Live relayout: t-SNE iterations dispatched in the render graph, positions read back
    // asynchronously and shown as they arrive.
    use headroom_gallery::LiveRelayout;
    assert!(
        app.world().resource::<LiveRelayout>().available.is_some(),
        "the gallery did not offer a live relayout on the GPU"
    );
    let before = app.world().resource::<Gallery>().positions.clone();
    app.world_mut().resource_mut::<LiveRelayout>().requested = true;
    let t0 = std::time::Instant::now();
    let mut frames = 0;
    while app.world().resource::<LiveRelayout>().iteration < 25 {
        assert!(t0.elapsed().as_secs() < 240, "live relayout made no progress ({frames} frames)");
        app.update();
        frames += 1;
    }
    let live = app.world().resource::<LiveRelayout>().clone();
    let after = &app.world().resource::<Gallery>().positions;
    assert!(live.running && live.total == 750);
    assert!(after.iter().flatten().all(|v| v.is_finite()));
    let moved = before.iter().zip(after).filter(|(a, b)| a != b).count();
    eprintln!(
        "live relayout: iteration {} of {} after {frames} frames ({:.1} s); {moved} of {} works moved",
        live.iteration,
        live.total,
        t0.elapsed().as_secs_f64(),
        after.len()
    );
    assert!(moved > after.len() / 2, "only {moved} works moved");
}

// ---- Screens rendered offscreen (the whole app, UI camera included) -------------------------

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

/// Cameras with different sample counts get separate main textures in Bevy, and the UI camera
/// (no clear) then covers the 3D camera's image with its own: every camera must share one.
#[test]
fn every_camera_shares_the_ui_cameras_sample_count() {
    use headroom::screens::CAMERA_MSAA;

    for screen in [Screen::Window, Screen::FaceKat, Screen::Gallery] {
        let mut app = headless_app(screen);
        app.update();
        let spawned = app.world_mut().spawn((Camera3d::default(), Msaa::Sample4)).id();
        app.update();
        let mut cams = app.world_mut().query_filtered::<(Entity, &Msaa), With<Camera>>();
        let cams: Vec<(Entity, Msaa)> = cams.iter(app.world()).map(|(e, m)| (e, *m)).collect();
        // The UI camera, the screen's 3D camera and the one spawned here.
        assert!(cams.len() >= 3, "{screen:?}: {cams:?}");
        assert!(cams.iter().any(|(e, _)| *e == spawned));
        for (e, msaa) in cams {
            assert_eq!(msaa, CAMERA_MSAA, "{screen:?}: camera {e} ({:?})", app.world().get::<Name>(e));
        }
    }
}

#[test]
fn window_demo_renders_its_room_from_the_command_line_and_the_menu() {
    if !require_gpu("window demo render") {
        return;
    }
    let room_shows = |img: &image::RgbImage| {
        let (cyan, red) = room_shares(img);
        cyan > 0.02 && red > 0.02
    };
    // `headroom window`: the app starts in the Window demo.
    let (mut app, target) = offscreen_app(Screen::Window);
    let img = render_until(&mut app, &target, "window-cli.png", 180, room_shows);
    let (cyan, red) = room_shares(&img);
    eprintln!("window demo (command line): grid {:.1}%, targets {:.1}%", cyan * 100.0, red * 100.0);
    assert!(room_shows(&img), "no room from the command line: grid {:.2}%, targets {:.2}%", cyan * 100.0, red * 100.0);

    // Esc to the menu, whose panels cover the frame; then its fourth entry, the Window demo.
    press(&mut app, KeyCode::Escape, Key::Escape);
    for _ in 0..3 {
        app.update();
    }
    assert_eq!(*app.world().resource::<State<Screen>>().get(), Screen::Menu);
    // The menu's entries fill the left half (its camera preview, saturated blue, the right).
    let no_grid = |img: &image::RgbImage| hue_share(img, 0.5, ROOM_CYAN) < 0.001;
    let img = render_until(&mut app, &target, "window-menu-shown.png", 60, no_grid);
    assert!(no_grid(&img), "the room still shows behind the menu");
    press(&mut app, KeyCode::Digit4, Key::Character("4".into()));
    for _ in 0..3 {
        app.update();
    }
    assert_eq!(*app.world().resource::<State<Screen>>().get(), Screen::Window);
    let img = render_until(&mut app, &target, "window-menu.png", 120, room_shows);
    let (cyan, red) = room_shares(&img);
    eprintln!("window demo (from the menu): grid {:.1}%, targets {:.1}%", cyan * 100.0, red * 100.0);
    assert!(room_shows(&img), "no room from the menu: grid {:.2}%, targets {:.2}%", cyan * 100.0, red * 100.0);
}

#[test]
fn space_typed_into_a_path_field_is_not_a_calibration() {
    if !require_gpu("space_typed_into_a_path_field_is_not_a_calibration") {
        return;
    }
    let (mut app, _target) = offscreen_app(Screen::Settings);
    for _ in 0..5 {
        app.update();
    }
    let focus = |app: &mut App, id: Option<&str>| {
        let mut q = app.world_mut().query::<&mut bevy_egui::EguiContext>();
        let mut n = 0;
        for mut ctx in q.iter_mut(app.world_mut()) {
            ctx.get_mut().memory_mut(|m| match id {
                Some(id) => m.request_focus(bevy_egui::egui::Id::new(id)),
                None => m.stop_text_input(),
            });
            n += 1;
        }
        assert_eq!(n, 1, "one egui context");
        for _ in 0..3 {
            app.update();
        }
    };
    let space = |app: &mut App| {
        app.world_mut().resource_mut::<headroom::screens::CalibrationForm>().message = None;
        press(app, KeyCode::Space, Key::Space);
        app.update();
        app.update();
        app.world_mut().write_message(KeyboardInput {
            key_code: KeyCode::Space,
            logical_key: Key::Space,
            state: ButtonState::Released,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
        app.update();
        app.world().resource::<headroom::screens::CalibrationForm>().message.clone()
    };
    focus(&mut app, Some(headroom::screens::VIDEO_PATH_FIELD));
    assert!(app.world().resource::<bevy_egui::input::EguiWantsInput>().wants_any_keyboard_input());
    let typed = space(&mut app);
    assert!(typed.is_none(), "Space typed into the path field started a calibration: {typed:?}");
    // With no text field focused, Space calibrates (here: says whether a face is in view).
    focus(&mut app, None);
    assert!(!app.world().resource::<bevy_egui::input::EguiWantsInput>().wants_any_keyboard_input());
    let pressed = space(&mut app);
    assert!(pressed.is_some(), "Space outside a text field must calibrate");
}

#[test]
fn a_snapshot_of_face_lab_is_saved_as_png() {
    if !require_gpu("a_snapshot_of_face_lab_is_saved_as_png") {
        return;
    }
    let dir = config_dir("snapshots");
    let _ = std::fs::remove_dir_all(&dir);
    let (mut app, _target) = offscreen_app(Screen::FaceLab);
    app.insert_resource(headroom::screens::snapshot::SnapshotDir(dir.clone()));
    for _ in 0..5 {
        app.update();
    }
    press(&mut app, KeyCode::KeyS, Key::Character("s".into()));
    let t0 = std::time::Instant::now();
    let saved = loop {
        app.update();
        if let Some(r) = app.world().resource::<headroom::screens::snapshot::SnapshotStatus>().last.clone() {
            break r.expect("the snapshot is saved");
        }
        assert!(t0.elapsed().as_secs() < 60, "no snapshot after 60 s");
    };
    let img = image::open(&saved).expect("a PNG");
    assert_eq!((img.width(), img.height()), (1280, 800), "{saved}");
    // Not blank: the UI panel and the preview differ from the clear colour.
    let rgb = img.to_rgb8();
    let distinct: std::collections::HashSet<[u8; 3]> = rgb.pixels().step_by(97).map(|p| p.0).collect();
    assert!(distinct.len() > 20, "only {} colours in {saved}", distinct.len());
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
}

#[test]
fn facekat_renders_its_obstacle_field() {
    if !require_gpu("facekat render") {
        return;
    }
    // The palette's pink (0.95, 0.3, 0.5), cyan (0.3, 0.8, 0.95) and yellow (0.95, 0.8, 0.25).
    let palette = [("pink", 341.0), ("cyan", 194.0), ("yellow", 48.0)];
    let shares = |img: &image::RgbImage| palette.map(|(_, hue)| hue_share(img, 1.0, hue));
    let (mut app, target) = offscreen_app(Screen::FaceKat);
    let img = render_until(&mut app, &target, "facekat.png", 180, |img| shares(img).iter().all(|&s| s > 0.01));
    let s = shares(&img);
    eprintln!(
        "facekat render: {:?}",
        palette.iter().zip(s).map(|((n, _), s)| format!("{n} {:.1}%", s * 100.0)).collect::<Vec<_>>()
    );
    for ((name, _), share) in palette.iter().zip(s) {
        assert!(share > 0.01, "FaceKat's {name} obstacles cover only {:.2}% of the frame", share * 100.0);
    }
}

/// build-gallery killed with SIGKILL at 20 seeded random moments in turn, resumed after each: the
/// gallery on disk is whole after every kill (a manifest, when there is one, loads and all its
/// atlases exist at their sizes), and the final manifest and feature cache are those of a clean
/// build, with nothing skipped.
#[cfg(unix)]
#[test]
fn build_gallery_killed_at_random_moments_resumes_to_the_clean_result() {
    use headroom_gallery::manifest::Manifest;
    use rand::{RngExt, SeedableRng};
    use std::time::Instant;

    let root = config_dir("kill");
    let dir = root.join("collection");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..36u32 {
        let (w, h) = [(90, 60), (64, 80), (120, 120), (50, 140)][i as usize % 4];
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let a = ((x * (i + 1) + y * 3) % 256) as u8;
            let b = ((y * (7 + i % 5) + x * (i % 3)) % 256) as u8;
            image::Rgb([a, b, (i * 7) as u8])
        });
        let name = match i % 3 {
            0 => format!("w{i:02}.png"),
            1 => format!("w{i:02}.jpg"),
            _ => format!("sub/w{i:02}.jpg"),
        };
        img.save(dir.join(name)).unwrap();
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/mobilenet_v2.safetensors");
    let command = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_headroom"));
        c.args(["build-gallery", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
            .args(["--tiers", "32,64", "--iterations", "300", "--perplexity", "5", "--seed", "3", "--tsne-on", "cpu"])
            .args(["--limit", "36", "--model", model.to_str().unwrap()])
            .env("HEADROOM_CONFIG_DIR", root.join("config"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    let whole = |out: &Path, when: &str| {
        let path = out.join("manifest.json");
        if !path.exists() {
            return false;
        }
        let m = Manifest::load(&path).unwrap_or_else(|e| panic!("{when}: {e}"));
        for t in 0..m.tiers.len() {
            for (p, size) in m.atlas_paths(&path, t).iter().zip(&m.tiers[t].atlas_sizes) {
                let got = image::image_dimensions(p).unwrap_or_else(|e| panic!("{when}: {}: {e}", p.display()));
                assert_eq!([got.0, got.1], *size, "{when}: {}", p.display());
            }
        }
        true
    };

    let clean = root.join("clean");
    let t = Instant::now();
    let out = command(&clean).output().unwrap();
    assert!(out.status.success(), "clean build: {}", String::from_utf8_lossy(&out.stderr));
    let clean_secs = t.elapsed().as_secs_f64();
    assert!(whole(&clean, "clean build"));

    let killed = root.join("killed");
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let (mut kills, mut finished, mut with_manifest) = (0, 0, 0);
    // Each kill at a uniform moment within the length of a run: at first the clean build's; once a
    // resumed run has finished, that run's (a re-run writes the layout, atlases and manifest again).
    let mut span = clean_secs;
    for k in 0..20 {
        let at = Duration::from_secs_f64(rng.random_range(0.0..span));
        let mut child = command(&killed).spawn().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "run {k} failed: {status}");
                finished += 1;
                span = start.elapsed().as_secs_f64();
                break;
            }
            if start.elapsed() >= at {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        with_manifest += usize::from(whole(&killed, &format!("after kill {k} at {at:?}")));
    }
    let out = command(&killed).output().unwrap();
    assert!(out.status.success(), "resumed build: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!(
        "kill test: clean build {clean_secs:.1} s; 20 runs: {kills} killed (SIGKILL), {finished} finished first; a whole \
         gallery on disk after {with_manifest} of them, no manifest yet after the others"
    );
    assert!(kills >= 14, "only {kills} of 20 runs were killed");

    let read = |out: &Path, f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert_eq!(read(&killed, "manifest.json"), read(&clean, "manifest.json"), "final manifest differs");
    let feats = |out: &Path| {
        let bytes = std::fs::read(out.join("cache/features.bin")).unwrap();
        let (recs, repair, _) = headroom_gallery::cache::scan(&bytes, headroom_gallery::features::FEATURES);
        assert!(!repair.repaired(), "{}: {repair:?}", out.display());
        let map: std::collections::HashMap<_, _> = recs.into_iter().collect();
        map
    };
    let (fk, fc) = (feats(&killed), feats(&clean));
    assert_eq!(fk.len(), 36);
    assert!(fk == fc, "final features differ from the clean build's");
    let report = read(&killed, "report.txt");
    assert!(report.starts_with("skipped files: 0\n") && !report.contains("warnings"), "{report}");
    let m = Manifest::load(&killed.join("manifest.json")).unwrap();
    assert_eq!(m.works.len(), 36, "works lost");
    // Nothing but the listed atlases and the cache is left behind.
    let mut left: Vec<String> =
        std::fs::read_dir(&killed).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    left.sort();
    let mut want: Vec<String> = m.tiers.iter().flat_map(|t| t.atlases.clone()).collect();
    want.extend(["cache", "manifest.json", "report.txt"].map(String::from));
    want.sort();
    assert_eq!(left, want);
    std::fs::remove_dir_all(&root).ok();
}

/// Face swap in the running app on the demo clip: blends arrive for successive tracked frames,
/// on the GPU (the kernel dispatched in the render graph, straight into the shown texture) and
/// then on the CPU path, while the tracker keeps tracking; the blend covers the face with opaque
/// pixels and leaves the rest of its crop transparent.
#[test]
fn face_swap_blends_tracked_frames_on_the_gpu_and_the_cpu() {
    use headroom_facelab::{BlendOn, BlendView, Effect, LabEffect, SourceFaces};
    if !require_gpu("face swap") {
        return;
    }
    let (mut app, _target) = offscreen_app(Screen::FaceLab);
    // The tracker's rate without an effect, for the figure printed below (not asserted: the
    // machine's load decides it).
    let tracked = |app: &App| app.world().resource::<headroom_face::FaceTracking>().frames;
    while tracked(&app) < 3 {
        app.update();
    }
    let (f0, s0) = (tracked(&app), std::time::Instant::now());
    while s0.elapsed().as_secs_f64() < 6.0 {
        app.update();
    }
    let plain_fps = (tracked(&app) - f0) as f64 / s0.elapsed().as_secs_f64();
    app.world_mut().resource_mut::<LabEffect>().effect = Effect::Substitute;
    // Lavapipe is a software adapter, where `Auto` blends on the CPU: ask for the GPU.
    app.world_mut().resource_mut::<LabEffect>().blend_on = BlendOn::Gpu;
    app.update();
    let t0 = std::time::Instant::now();
    let wait_for = |app: &mut App, engine: &str, count: u64| -> (u64, u64) {
        let start = app.world().resource::<BlendView>().blends;
        let frames0 = app.world().resource::<headroom_face::FaceTracking>().frames;
        let since = std::time::Instant::now();
        loop {
            app.update();
            let v = app.world().resource::<BlendView>();
            if v.engine == engine && v.blends >= start + count && since.elapsed().as_secs_f64() > 6.0 {
                let frames = app.world().resource::<headroom_face::FaceTracking>().frames;
                let secs = since.elapsed().as_secs_f64();
                eprintln!(
                    "face swap on the {engine}: tracked {:.1} fps (without an effect {plain_fps:.1} fps), {:.1} blends/s",
                    (frames - frames0) as f64 / secs,
                    (v.blends - start) as f64 / secs
                );
                return (v.blends - start, frames - frames0);
            }
            assert!(
                t0.elapsed().as_secs() < 240,
                "{engine}: only {} blends ({:?}); faces: {:?}",
                v.blends - start,
                v.error,
                app.world().resource::<SourceFaces>().problems
            );
        }
    };
    let (blends, tracked) = wait_for(&mut app, "gpu", 6);
    eprintln!("face swap on the gpu: {blends} blends while {tracked} frames were tracked");
    assert!(tracked >= blends, "the tracker stalled: {tracked} frames tracked for {blends} blends");
    let seq_gpu = app.world().resource::<BlendView>().frame_seq;
    app.world_mut().resource_mut::<LabEffect>().blend_on = BlendOn::Cpu;
    let (blends, tracked) = wait_for(&mut app, "cpu", 4);
    eprintln!("face swap on the cpu: {blends} blends while {tracked} frames were tracked");
    assert!(tracked >= blends);
    let view = app.world().resource::<BlendView>().clone();
    assert!(view.frame_seq > seq_gpu, "blends are of new frames");
    let rect = view.rect.expect("a blend is shown");
    let images = app.world().resource::<Assets<Image>>();
    let data = images.get(&view.image).and_then(|i| i.data.clone()).expect("the CPU blend's pixels");
    let [tw, th] = view.texture_size.map(|v| v as usize);
    assert_eq!(data.len(), tw * th * 4);
    assert!(tw >= rect.width && th >= rect.height);
    let opaque = (0..rect.height)
        .flat_map(|y| (0..rect.width).map(move |x| (y * tw + x) * 4 + 3))
        .filter(|&i| data[i] == 255)
        .count();
    // Nothing outside the blend's corner of the texture.
    assert_eq!(data.chunks_exact(4).filter(|p| p[3] == 255).count(), opaque);
    let share = opaque as f64 / (rect.width * rect.height) as f64;
    eprintln!("blend {}×{} at ({}, {}): {:.0} % opaque", rect.width, rect.height, rect.x, rect.y, share * 100.0);
    assert!((0.3..0.95).contains(&share), "the face covers {:.0} % of its crop", share * 100.0);
    // Off again: nothing is shown.
    app.world_mut().resource_mut::<LabEffect>().effect = Effect::None;
    app.update();
    assert!(app.world().resource::<BlendView>().rect.is_none());
}

/// The declared pipeline (capture → face → head → camera): in the Window demo on the demo clip,
/// every projection from a tracked pose uses the newest finished fit, never the one before; the
/// latency from a frame's arrival to its fit and to the projection is printed.
#[test]
fn the_window_demo_projects_the_newest_fit() {
    use headroom::pipeline::PipelineLatency;
    if !require_gpu("pipeline latency") {
        return;
    }
    let (mut app, _target) = offscreen_app(Screen::Window);
    let t0 = std::time::Instant::now();
    loop {
        app.update();
        let l = app.world().resource::<PipelineLatency>();
        if l.projections >= 40 {
            break;
        }
        assert!(t0.elapsed().as_secs() < 180, "only {} projections from a tracked pose", l.projections);
    }
    let l = app.world().resource::<PipelineLatency>().clone();
    eprintln!(
        "pipeline: {} projections from tracked poses; capture → projection mean {:.1} ms, max {:.1} ms, last fit {:.1} ms after capture; {:.2} newer frames on average; {} from a pose older than the newest fit",
        l.projections,
        l.mean_ms(),
        l.max_ms,
        l.capture_to_fit_ms,
        l.mean_frames_behind(),
        l.stale
    );
    assert_eq!(l.stale, 0, "{} of {} projections used a pose older than the newest fit", l.stale, l.projections);
    assert!(l.capture_to_fit_ms > 0.0 && l.mean_ms() >= f64::from(l.capture_to_fit_ms) * 0.0);
}
