//! Face tracking on real frames.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use headroom::fit_cmd::{DEFAULT_HFOV_DEG, fit_still, track_frame};
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
        let (rec, _) = fit_still(&mut tracker, &still(name), name.clone(), DEFAULT_HFOV_DEG);
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
            let (rec, _) = track_frame(&mut tracker, &still(name), name.clone(), DEFAULT_HFOV_DEG);
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
        let (rec, out) = track_frame(&mut tracker, &frame, frame.seq.to_string(), DEFAULT_HFOV_DEG);
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
        let (_, out) = track_frame(&mut tracker, &frame, frame.seq.to_string(), DEFAULT_HFOV_DEG);
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
        assert!(!track_frame(&mut tracker, &f, "tiny".into(), DEFAULT_HFOV_DEG).0.found);
    }
    let black = Frame::new(640, 480, vec![0; 640 * 480 * 4], std::time::Duration::ZERO, 0).unwrap();
    assert!(!track_frame(&mut tracker, &black, "black".into(), DEFAULT_HFOV_DEG).0.found);
    // 10k × 10k grey: detection runs on a 200-px work image, so this stays quick.
    let big = Frame::new(10_000, 10_000, vec![128; 10_000 * 10_000 * 4], std::time::Duration::ZERO, 0).unwrap();
    assert!(!track_frame(&mut tracker, &big, "big".into(), DEFAULT_HFOV_DEG).0.found);
}

const STILLS_NME_BOUND: f32 = 0.05;
const CLIP_NME_BOUND: f32 = 0.06;
/// The reference is MediaPipe Face Mesh itself (with its attention model and refined iris).
const MESH_NME_BOUND: f32 = 0.04;

/// `frame` turned by `deg` degrees clockwise on screen about its centre (bilinear; outside is black).
fn rotated(frame: &Frame, deg: f32) -> Frame {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let mut out = vec![0u8; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            // Inverse map: the source of output (x, y) is turned back by −deg.
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
            let (x0, y0) = (sx.floor(), sy.floor());
            if x0 < 0.0 || y0 < 0.0 || x0 as usize + 1 >= w || y0 as usize + 1 >= h {
                continue;
            }
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as usize, y0 as usize);
            for k in 0..4 {
                let p = |xx: usize, yy: usize| f32::from(frame.rgba[(yy * w + xx) * 4 + k]);
                let v = p(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + p(x0 + 1, y0) * fx * (1.0 - fy)
                    + p(x0, y0 + 1) * (1.0 - fx) * fy
                    + p(x0 + 1, y0 + 1) * fx * fy;
                out[(y * w + x) * 4 + k] = v.round() as u8;
            }
        }
    }
    Frame::new(frame.width, frame.height, out, std::time::Duration::ZERO, 0).unwrap()
}

fn assert_plausible_pose(p: &headroom::fit_cmd::HeadPoseRecord, what: &str) {
    let [yaw, pitch, roll] = p.yaw_pitch_roll_deg;
    assert!(yaw.abs() < 40.0 && pitch.abs() < 40.0 && roll.abs() < 40.0, "{what}: angles {:?}", p.yaw_pitch_roll_deg);
    let z = p.translation_cm[2];
    assert!((20.0..300.0).contains(&z), "{what}: {z} cm from the camera");
    let r = p.rotation;
    for i in 0..3 {
        for j in 0..3 {
            let dot: f64 = (0..3).map(|k| r[i][k] * r[j][k]).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-6, "{what}: rotation rows {i}·{j} = {dot}");
        }
    }
}

#[test]
fn fit_records_the_head_pose_and_it_turns_with_the_face() {
    let name = "franck_02045.jpg";
    for (config, from) in [(TrackerConfig::default(), "mesh"), (TrackerConfig::clm(), "clm71")] {
        let mut tracker = default_tracker(config).unwrap();
        let upright = still(name);
        let (rec, _) = fit_still(&mut tracker, &upright, name.into(), DEFAULT_HFOV_DEG);
        let pose = rec.head_pose.expect("a head pose with the fit");
        assert_eq!(pose.from, from);
        assert_plausible_pose(&pose, from);
        // The same face turned 20° clockwise on screen: the roll follows, yaw and pitch stay.
        let (turned, _) = fit_still(&mut tracker, &rotated(&upright, 20.0), name.into(), DEFAULT_HFOV_DEG);
        let turned = turned.head_pose.expect("a head pose on the turned still");
        let d = |k: usize| turned.yaw_pitch_roll_deg[k] - pose.yaw_pitch_roll_deg[k];
        println!("{from}: pose {:?} → turned {:?}", pose.yaw_pitch_roll_deg, turned.yaw_pitch_roll_deg);
        assert!((d(2) - 20.0).abs() < 4.0, "{from}: roll changed by {:.1}°, not 20°", d(2));
        assert!(d(0).abs() < 6.0 && d(1).abs() < 6.0, "{from}: yaw/pitch moved by {:.1}/{:.1}°", d(0), d(1));
    }
}

#[test]
fn fit_records_every_face_in_a_still() {
    // Two faces side by side: one still's face at full size, another's at 60 %.
    let crop = |name: &str, scale: f32| -> image::RgbaImage {
        let f = still(name);
        let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
        let [x, y, w, h] = fit_still(&mut tracker, &f, name.into(), DEFAULT_HFOV_DEG).0.face_box.unwrap();
        let side = (w.max(h) as f32 * 2.2) as u32;
        let (cx, cy) = (x + w / 2, y + h / 2);
        let img = image::RgbaImage::from_raw(f.width, f.height, f.rgba.to_vec()).unwrap();
        let x0 = (cx - side as i32 / 2).clamp(0, (f.width - side.min(f.width)) as i32) as u32;
        let y0 = (cy - side as i32 / 2).clamp(0, (f.height - side.min(f.height)) as i32) as u32;
        let c = image::imageops::crop_imm(&img, x0, y0, side.min(f.width), side.min(f.height)).to_image();
        let s = (side as f32 * scale) as u32;
        image::imageops::resize(&c, s, s, image::imageops::FilterType::Triangle)
    };
    let (big, small) = (crop("franck_02045.jpg", 1.0), crop("franck_03909.jpg", 0.6));
    let (w, h) = (big.width() + small.width(), big.height().max(small.height()));
    let mut both = image::RgbaImage::from_pixel(w, h, image::Rgba([90, 90, 90, 255]));
    image::imageops::overlay(&mut both, &big, 0, 0);
    image::imageops::overlay(&mut both, &small, i64::from(big.width()), i64::from((h - small.height()) / 2));
    let frame = Frame::new(w, h, both.into_raw(), std::time::Duration::ZERO, 0).unwrap();
    let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
    let (rec, _) = fit_still(&mut tracker, &frame, "two".into(), DEFAULT_HFOV_DEG);
    assert!(rec.found);
    assert_eq!(rec.other_faces.len(), 1, "faces besides the largest: {:?}", rec.other_faces.len());
    let main = rec.face_box.unwrap();
    let other = &rec.other_faces[0];
    println!("largest {main:?}, other {:?}", other.face_box);
    // The largest face is the big one, on the left; the other is the small one, on the right.
    assert!(main[0] + main[2] <= big.width() as i32 + 5, "largest face at {main:?}");
    assert!(other.face_box[0] >= big.width() as i32 - 5, "other face at {:?}", other.face_box);
    assert!(main[2] > other.face_box[2], "{main:?} vs {:?}", other.face_box);
    assert_eq!(other.points.len(), 71);
    assert_plausible_pose(other.head_pose.as_ref().expect("the other face's pose"), "other face");
    // The CLM reports one face.
    let mut clm = default_tracker(TrackerConfig::clm()).unwrap();
    assert!(fit_still(&mut clm, &frame, "two".into(), DEFAULT_HFOV_DEG).0.other_faces.is_empty());
}
