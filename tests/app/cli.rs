//! The command line end to end.

use super::*;

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
    // `faces` on a missing manifest, and on one without a faces section (version 1).
    let out = headroom(&["faces", "/nonexistent/manifest.json"], &dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/manifest.json"), "{out:?}");
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/gallery/public-art/manifest.json");
    let mut v1: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&bundled).unwrap()).unwrap();
    v1["version"] = 1.into();
    v1.as_object_mut().unwrap().remove("faces");
    let old = dir.join("old.json");
    std::fs::write(&old, v1.to_string()).unwrap();
    let out = headroom(&["faces", old.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no faces section"), "{out:?}");
    // The bundled collection: its faces per work, as JSON.
    let out = headroom(&["faces", bundled.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (faces, with) = (j["faces"].as_u64().unwrap(), j["works_with_faces"].as_u64().unwrap());
    assert!(faces > 500 && with > 300 && with <= faces, "{faces} faces in {with} works");
    let first = &j["per_work"][0];
    assert!(first["file"].is_string() && first["faces"][0]["landmarks"].as_array().unwrap().len() == 71, "{first}");
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
