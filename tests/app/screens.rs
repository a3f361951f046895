//! Screens rendered offscreen (the whole app, UI camera included).

use super::*;

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
    let (mut app, target) = offscreen_app(Screen::FaceLab);
    app.insert_resource(headroom::screens::snapshot::SnapshotDir(dir.clone()));
    let colours = |rgb: &image::RgbImage| {
        rgb.pixels().step_by(97).map(|p| p.0).collect::<std::collections::HashSet<[u8; 3]>>().len()
    };
    // Pipelines compile asynchronously (slowly on a busy lavapipe): wait until the screen is
    // drawn, as a user would see it, before pressing S.
    render_until(&mut app, &target, "facelab-before-snapshot.png", 60, |img| colours(img) > 20);
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
    let distinct = colours(&img.to_rgb8());
    assert!(distinct > 20, "only {distinct} colours in {saved}");
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
