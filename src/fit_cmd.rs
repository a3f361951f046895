//! `headroom fit` and `headroom convert`: the face tracker on files, without a window.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use headroom_capture::images::read_rgba;
use headroom_capture::{CaptureError, Frame, VideoSource};
use headroom_face::{ClmModel, FaceFit, FaceTracker, Gray, TrackOutput, TrackerConfig, default_tracker};
use headroom_head::pose::{Camera, Pose, mesh_model, pose_from_landmarks, pose_from_mesh};
use serde::Serialize;

/// The camera `fit` assumes for head pose unless `--hfov` says otherwise (a typical webcam).
pub const DEFAULT_HFOV_DEG: f64 = crate::cli::FIT_DEFAULT_HFOV_DEG;

/// The head's pose in one face record (camera frame: x right, y down, z forward, cm).
#[derive(Serialize, Clone, Debug)]
pub struct HeadPoseRecord {
    /// Yaw (turn, about y), pitch (nod, about x), roll (tilt, about z), degrees, for
    /// `R = Ry(yaw) · Rx(pitch) · Rz(roll)`.
    pub yaw_pitch_roll_deg: [f64; 3],
    /// `R` by rows: `p_camera = R · p_head + t`.
    pub rotation: [[f64; 3]; 3],
    /// `t`: the point between the eyes, cm from the camera.
    pub translation_cm: [f64; 3],
    /// What it was solved from: "mesh" (24 rigid vertices against the canonical face) or
    /// "clm71" (11 of clmtrackr's points against a mean face).
    pub from: &'static str,
}

impl HeadPoseRecord {
    fn new(pose: &Pose, from: &'static str) -> Self {
        let (y, p, r) = pose.yaw_pitch_roll();
        let m = pose.rotation.transpose(); // glam is column-major: the transpose's columns are R's rows
        let t = pose.translation;
        HeadPoseRecord {
            yaw_pitch_roll_deg: [y.to_degrees(), p.to_degrees(), r.to_degrees()],
            rotation: [m.x_axis.to_array(), m.y_axis.to_array(), m.z_axis.to_array()],
            translation_cm: [t.x, t.y, t.z],
            from,
        }
    }
}

/// A face other than the tracked one in a still.
#[derive(Serialize)]
pub struct FaceRecord {
    pub points: Vec<[f32; 2]>,
    pub score: f32,
    /// x, y, width, height.
    pub face_box: [i32; 4],
    pub head_pose: Option<HeadPoseRecord>,
}

/// The head pose of a fit: from the mesh when there is one, else from the 71 points.
pub fn head_pose(fit: &FaceFit, cam: &Camera) -> Option<HeadPoseRecord> {
    match &fit.mesh {
        Some(mesh) => {
            let model = mesh_model()?;
            pose_from_mesh(mesh, &model, cam, None).map(|p| HeadPoseRecord::new(&p, "mesh"))
        }
        None => pose_from_landmarks(&fit.points, cam, None).map(|p| HeadPoseRecord::new(&p, "clm71")),
    }
}

/// One JSON record per image or frame.
#[derive(Serialize)]
pub struct FitRecord {
    /// File name, or the frame number in a video.
    pub source: String,
    pub timestamp_ms: f64,
    pub found: bool,
    pub points: Vec<[f32; 2]>,
    pub score: f32,
    pub converged: bool,
    /// x, y, width, height.
    pub face_box: Option<[i32; 4]>,
    /// Whole call, milliseconds.
    pub ms: f32,
    pub detect_ms: f32,
    pub fit_ms: f32,
    pub events: Vec<String>,
    /// The head's pose (camera of `--hfov` degrees across the frame).
    pub head_pose: Option<HeadPoseRecord>,
    /// On a still, every other face found (face mesh backend), largest first.
    pub other_faces: Vec<FaceRecord>,
}

fn record(source: String, timestamp_ms: f64, out: &TrackOutput, ms: f32, cam: &Camera) -> FitRecord {
    let fit = out.fit.as_ref();
    FitRecord {
        head_pose: fit.and_then(|f| head_pose(f, cam)),
        other_faces: out
            .others
            .iter()
            .map(|f| FaceRecord {
                points: f.points.clone(),
                score: f.score,
                face_box: [f.face_box.x, f.face_box.y, f.face_box.w, f.face_box.h],
                head_pose: head_pose(f, cam),
            })
            .collect(),
        source,
        timestamp_ms,
        found: fit.is_some(),
        points: fit.map(|f| f.points.clone()).unwrap_or_default(),
        score: fit.map_or(0.0, |f| f.score),
        converged: fit.is_some_and(|f| f.converged),
        face_box: fit.map(|f| f.face_box).or(out.fallback_box).map(|b| [b.x, b.y, b.w, b.h]),
        ms,
        detect_ms: out.times.detect_ms,
        fit_ms: out.times.fit_ms,
        events: out.events.iter().map(|e| format!("{e:?}")).collect(),
    }
}

fn is_video(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "mp4" | "m4v" | "mov"))
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Draws the points (green crosses) and the face box (yellow) onto a copy of the frame.
fn draw_overlay(width: u32, height: u32, rgba: &[u8], rec: &FitRecord, path: &Path) -> anyhow::Result<()> {
    let mut img = image::RgbaImage::from_raw(width, height, rgba.to_vec()).context("bad frame buffer")?;
    let mut put = |x: i64, y: i64, c: [u8; 4]| {
        if x >= 0 && y >= 0 && (x as u32) < width && (y as u32) < height {
            img.put_pixel(x as u32, y as u32, image::Rgba(c));
        }
    };
    if let Some([bx, by, bw, bh]) = rec.face_box {
        for t in 0..bw.max(0) {
            put(i64::from(bx + t), i64::from(by), [255, 220, 0, 255]);
            put(i64::from(bx + t), i64::from(by + bh), [255, 220, 0, 255]);
        }
        for t in 0..bh.max(0) {
            put(i64::from(bx), i64::from(by + t), [255, 220, 0, 255]);
            put(i64::from(bx + bw), i64::from(by + t), [255, 220, 0, 255]);
        }
    }
    for p in &rec.points {
        let (x, y) = (p[0].round() as i64, p[1].round() as i64);
        for d in -2..=2 {
            put(x + d, y, [0, 255, 0, 255]);
            put(x, y + d, [0, 255, 0, 255]);
        }
    }
    img.save(path).with_context(|| format!("cannot write {}", path.display()))
}

struct Summary {
    frames: u64,
    found: u64,
    total_ms: f64,
}

/// Runs the tracker over `input` and writes one record per image or frame.
pub fn run_fit(
    input: &Path,
    json: Option<&Path>,
    overlay: Option<&Path>,
    hfov_deg: f64,
    config: TrackerConfig,
) -> anyhow::Result<()> {
    if !(10.0..=170.0).contains(&hfov_deg) {
        bail!("--hfov {hfov_deg}: a camera's horizontal field of view is between 10 and 170 degrees");
    }
    let mut tracker = default_tracker(config).map_err(anyhow::Error::msg)?;
    if let Some(n) = &tracker.notice {
        eprintln!("headroom: {n}");
    }
    let mut sink: Box<dyn Write> = match json {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    if let Some(dir) = overlay {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut summary = Summary { frames: 0, found: 0, total_ms: 0.0 };
    let mut emit = |rec: FitRecord, frame: Option<&Frame>, name: &str| -> anyhow::Result<()> {
        summary.frames += 1;
        summary.found += u64::from(rec.found);
        summary.total_ms += f64::from(rec.ms);
        if let (Some(dir), Some(f)) = (overlay, frame) {
            draw_overlay(f.width, f.height, &f.rgba, &rec, &dir.join(format!("{name}.png")))?;
        }
        serde_json::to_writer(&mut sink, &rec)?;
        sink.write_all(b"\n")?;
        Ok(())
    };
    if !input.exists() {
        bail!("{}: no such file or folder", input.display());
    }
    if is_video(input) {
        let mut video = VideoSource::open(input)?;
        while let Some(frame) = video.next_frame()? {
            let (rec, _) = track_frame(&mut tracker, &frame, frame.seq.to_string(), hfov_deg);
            emit(rec, Some(&frame), &format!("frame-{:05}", frame.seq))?;
        }
        eprintln!(
            "{}: {} frames, face in {}, {} detections, {} losses, {:.3} ms per frame",
            input.display(),
            summary.frames,
            summary.found,
            tracker.detections,
            tracker.losses,
            summary.total_ms / summary.frames.max(1) as f64
        );
        return Ok(());
    }
    let files: Vec<PathBuf> = if input.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(input)
            .with_context(|| format!("cannot read {}", input.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("{}: no JPEG or PNG images in this folder", input.display());
        }
        v
    } else {
        vec![input.to_path_buf()]
    };
    for path in files {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        // Stills are independent: each starts from a detection.
        tracker.reset();
        let frame = match read_rgba(&path) {
            Ok((w, h, rgba)) => Frame::new(w, h, rgba, std::time::Duration::ZERO, 0).context("bad image buffer")?,
            Err(reason) => {
                eprintln!("headroom: skipped {}", CaptureError::BadImage { path: path.clone(), reason });
                continue;
            }
        };
        let (rec, _) = fit_still(&mut tracker, &frame, name.clone(), hfov_deg);
        let stem = Path::new(&name).file_stem().map_or(name.clone(), |s| s.to_string_lossy().into_owned());
        emit(rec, Some(&frame), &stem)?;
    }
    eprintln!(
        "{}: {} images, face in {}, {:.3} ms per image",
        input.display(),
        summary.frames,
        summary.found,
        summary.total_ms / summary.frames.max(1) as f64
    );
    Ok(())
}

/// Tracks one frame and times the whole call, luma conversion included.
pub fn track_frame(
    tracker: &mut FaceTracker,
    frame: &Frame,
    source: String,
    hfov_deg: f64,
) -> (FitRecord, TrackOutput) {
    timed(frame, source, hfov_deg, |g, rgba| tracker.track(g, rgba))
}

/// Fits one still (no previous frame): the mesh re-crops until its crop settles, the CLM
/// iterates to convergence.
pub fn fit_still(tracker: &mut FaceTracker, frame: &Frame, source: String, hfov_deg: f64) -> (FitRecord, TrackOutput) {
    timed(frame, source, hfov_deg, |g, rgba| tracker.track_still(g, rgba))
}

/// Runs `f` on the frame's luma and pixels, timing the whole call (luma conversion included;
/// the head pose, solved after, is not in `ms`).
fn timed(
    frame: &Frame,
    source: String,
    hfov_deg: f64,
    f: impl FnOnce(&Gray, Option<&[u8]>) -> TrackOutput,
) -> (FitRecord, TrackOutput) {
    let t = Instant::now();
    let out = match Gray::from_rgba(frame.width as usize, frame.height as usize, &frame.rgba) {
        Some(gray) => f(&gray, Some(&frame.rgba)),
        None => TrackOutput::default(),
    };
    let ms = t.elapsed().as_secs_f32() * 1000.0;
    let cam = Camera::from_fov(hfov_deg.to_radians(), f64::from(frame.width), f64::from(frame.height));
    (record(source, frame.timestamp.as_secs_f64() * 1000.0, &out, ms, &cam), out)
}

/// `headroom convert clmtrackr IN -o OUT`.
pub fn convert_clmtrackr(input: &Path, output: &Path) -> anyhow::Result<()> {
    let js = std::fs::read_to_string(input).with_context(|| format!("cannot read {}", input.display()))?;
    let source =
        format!("clmtrackr model {}", input.file_name().map_or_else(String::new, |n| n.to_string_lossy().into()));
    let model = ClmModel::from_clmtrackr_js(&js, &source).with_context(|| format!("{}", input.display()))?;
    std::fs::write(output, model.to_json()).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "wrote {}: {} points, {} modes, {}×{} patches{}{}",
        output.display(),
        model.num_points(),
        model.num_modes(),
        model.patch_size,
        model.patch_size,
        if model.sobel.is_some() { ", sobel" } else { "" },
        if model.lbp.is_some() { ", lbp" } else { "" }
    );
    Ok(())
}
