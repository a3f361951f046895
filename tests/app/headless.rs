//! The app without rendering: frames arrive, keys, source switching.

use super::*;

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
