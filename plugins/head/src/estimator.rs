//! From face tracker output to the viewer's eye position in the screen's frame (cm) and the
//! head's rotation, filtered per axis with One Euro filters.
//!
//! Screen frame: origin at the screen centre, x right, y up, z towards the viewer (cm).
//! Camera: pinhole, field of view from calibration or estimated on the first good frame from an
//! assumed viewing distance (headtrackr's method, 60 cm by default).

use glam::{DVec3, Vec3};
use serde::{Deserialize, Serialize};

use crate::one_euro::{OneEuro, OneEuroConfig};
use crate::pose::{Camera, Pose, mesh_model, pose_from_landmarks, pose_from_mesh};

/// Mean adult inter-pupillary distance, cm.
pub const IPD_CM: f32 = 6.3;
/// Width of OpenCV's frontal-face box in cm: the pupils span 0.353 of it (measured on the
/// reference set), so 6.3 / 0.353.
pub const FACE_BOX_CM: f32 = 17.8;

/// What the head needs to know about the room. Saved with the settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeadConfig {
    /// Visible screen area, cm.
    pub screen_width_cm: f32,
    pub screen_height_cm: f32,
    /// Camera position relative to the screen centre, cm (default: centred, 1 cm above the top
    /// edge).
    pub camera_offset_cm: [f32; 3],
    /// Camera horizontal field of view, degrees; `None` = estimate from `assumed_distance_cm`.
    pub camera_hfov_deg: Option<f32>,
    /// Viewing distance assumed on the first frames when the field of view is unknown.
    pub assumed_distance_cm: f32,
    pub filter: OneEuroConfig,
    /// Extrapolate by this many milliseconds along the filtered velocity (hides capture lag).
    pub predict_ms: f32,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            screen_width_cm: 34.5,
            screen_height_cm: 19.4,
            camera_offset_cm: [0.0, 19.4 / 2.0 + 1.0, 0.0],
            camera_hfov_deg: None,
            assumed_distance_cm: 60.0,
            filter: OneEuroConfig::default(),
            predict_ms: 0.0,
        }
    }
}

impl HeadConfig {
    /// Range of each setting a user (or a hand-edited settings file) may give; outside it the
    /// window's projection and the filter stop meaning anything (zero-size screens, infinite
    /// fields of view, negative cutoffs).
    pub const SCREEN_WIDTH_CM: std::ops::RangeInclusive<f32> = 5.0..=400.0;
    pub const SCREEN_HEIGHT_CM: std::ops::RangeInclusive<f32> = 5.0..=300.0;
    pub const CAMERA_OFFSET_CM: std::ops::RangeInclusive<f32> = -1000.0..=1000.0;
    pub const HFOV_DEG: std::ops::RangeInclusive<f32> = 10.0..=170.0;
    pub const DISTANCE_CM: std::ops::RangeInclusive<f32> = 10.0..=500.0;
    pub const CUTOFF_HZ: std::ops::RangeInclusive<f32> = 0.0001..=1000.0;
    pub const BETA: std::ops::RangeInclusive<f32> = 0.0..=1000.0;
    pub const PREDICT_MS: std::ops::RangeInclusive<f32> = 0.0..=500.0;

    /// This config with every value outside its range replaced by the default's, and one line
    /// per replaced value saying which and why (for a warning).
    pub fn checked(self) -> (Self, Vec<String>) {
        let d = HeadConfig::default();
        let mut out = self;
        let mut notes = Vec::new();
        let mut fix = |name: &str, v: &mut f32, default: f32, range: &std::ops::RangeInclusive<f32>| {
            if !range.contains(v) {
                notes.push(format!("{name} = {v} is outside {}..={}; using {default}", range.start(), range.end()));
                *v = default;
            }
        };
        fix("screen_width_cm", &mut out.screen_width_cm, d.screen_width_cm, &Self::SCREEN_WIDTH_CM);
        fix("screen_height_cm", &mut out.screen_height_cm, d.screen_height_cm, &Self::SCREEN_HEIGHT_CM);
        for (i, axis) in ["x", "y", "z"].into_iter().enumerate() {
            let name = format!("camera_offset_cm.{axis}");
            fix(&name, &mut out.camera_offset_cm[i], d.camera_offset_cm[i], &Self::CAMERA_OFFSET_CM);
        }
        fix("assumed_distance_cm", &mut out.assumed_distance_cm, d.assumed_distance_cm, &Self::DISTANCE_CM);
        fix("filter.min_cutoff", &mut out.filter.min_cutoff, d.filter.min_cutoff, &Self::CUTOFF_HZ);
        fix("filter.beta", &mut out.filter.beta, d.filter.beta, &Self::BETA);
        fix("filter.d_cutoff", &mut out.filter.d_cutoff, d.filter.d_cutoff, &Self::CUTOFF_HZ);
        fix("predict_ms", &mut out.predict_ms, d.predict_ms, &Self::PREDICT_MS);
        // An out-of-range calibration is forgotten (estimated again) rather than replaced.
        if let Some(f) = out.camera_hfov_deg.filter(|f| !Self::HFOV_DEG.contains(f)) {
            let r = &Self::HFOV_DEG;
            notes.push(format!("camera_hfov_deg = {f} is outside {}..={}; estimating it instead", r.start(), r.end()));
            out.camera_hfov_deg = None;
        }
        (out, notes)
    }

    /// Screen size from a diagonal (inches) and aspect ratio; the camera moves with the top edge.
    pub fn with_screen_diagonal(mut self, inches: f32, aspect_w: f32, aspect_h: f32) -> Self {
        let d = inches * 2.54;
        let k = d / (aspect_w * aspect_w + aspect_h * aspect_h).sqrt();
        self.screen_width_cm = aspect_w * k;
        self.screen_height_cm = aspect_h * k;
        self.camera_offset_cm = [0.0, self.screen_height_cm / 2.0 + 1.0, 0.0];
        self
    }
}

/// What the tracker saw in one frame.
#[derive(Clone, Copy, Debug)]
pub enum Observation<'a> {
    /// Fitted landmarks (clmtrackr numbering) and the fit's score (0…1).
    Landmarks { points: &'a [[f32; 2]], score: f32 },
    /// Only a face box (x, y, w, h), e.g. from camshift.
    FaceBox([f32; 4]),
    /// The face mesh's 468 points (frame pixels) and its presence score (0…1).
    Mesh { points: &'a [[f32; 3]], score: f32 },
}

/// One filtered estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadSample {
    /// The point between the eyes, screen frame, cm.
    pub eye_cm: Vec3,
    /// Yaw, pitch, roll in the screen frame, radians (0 = facing the screen).
    pub yaw_pitch_roll: [f32; 3],
    /// 0…1.
    pub confidence: f32,
}

pub struct HeadEstimator {
    pub config: HeadConfig,
    camera: Option<Camera>,
    frame: (f32, f32),
    filters: [OneEuro; 6],
    last_pose: Option<Pose>,
    mesh_model: Option<Vec<(usize, [f64; 3])>>,
}

impl HeadEstimator {
    pub fn new(config: HeadConfig) -> Self {
        HeadEstimator {
            filters: std::array::from_fn(|_| OneEuro::new(config.filter)),
            config,
            camera: None,
            frame: (0.0, 0.0),
            last_pose: None,
            mesh_model: mesh_model(),
        }
    }

    /// The camera model in use (once known).
    pub fn camera(&self) -> Option<Camera> {
        self.camera
    }

    /// Forgets the filters (e.g. after the face was lost).
    pub fn reset_filters(&mut self) {
        self.filters.iter_mut().for_each(OneEuro::reset);
        self.last_pose = None;
    }

    /// Forgets the estimated field of view too (after moving the camera or the chair).
    pub fn recalibrate(&mut self) {
        self.camera = None;
        self.reset_filters();
    }

    /// Sets the camera's horizontal field of view so that the current face is at
    /// `distance_cm` ("sit at arm's length and press space"). Returns the field of view in
    /// degrees, or `None` without a usable observation.
    pub fn calibrate_distance(&mut self, obs: Observation, frame_size: (f32, f32), distance_cm: f32) -> Option<f32> {
        let focal = focal_for(obs, distance_cm)?;
        let cam =
            Camera { focal: f64::from(focal), cx: f64::from(frame_size.0) / 2.0, cy: f64::from(frame_size.1) / 2.0 };
        self.camera = Some(cam);
        self.frame = frame_size;
        let hfov = cam.hfov().to_degrees() as f32;
        self.config.camera_hfov_deg = Some(hfov);
        self.reset_filters();
        Some(hfov)
    }

    fn ensure_camera(&mut self, obs: Observation, frame_size: (f32, f32)) -> Option<Camera> {
        if self.frame != frame_size {
            self.camera = None;
            self.frame = frame_size;
        }
        if self.camera.is_none() {
            let (w, h) = (f64::from(frame_size.0), f64::from(frame_size.1));
            self.camera = match self.config.camera_hfov_deg {
                Some(deg) => Some(Camera::from_fov(f64::from(deg).to_radians(), w, h)),
                None => focal_for(obs, self.config.assumed_distance_cm).map(|f| Camera {
                    focal: f64::from(f),
                    cx: w / 2.0,
                    cy: h / 2.0,
                }),
            };
        }
        self.camera
    }

    /// Estimates the eye position and head rotation from one observation at time `t` (s).
    pub fn update(&mut self, obs: Observation, frame_size: (f32, f32), t: f64) -> Option<HeadSample> {
        let cam = self.ensure_camera(obs, frame_size)?;
        let (eye_cam, ypr, confidence) = match obs {
            Observation::Landmarks { points, score } => {
                let pose = pose_from_landmarks(points, &cam, self.last_pose)?;
                self.last_pose = Some(pose);
                let (yaw, pitch, roll) = pose.yaw_pitch_roll();
                (pose.translation, [yaw as f32, pitch as f32, roll as f32], score.clamp(0.0, 1.0))
            }
            Observation::Mesh { points, score } => {
                let pose = pose_from_mesh(points, self.mesh_model.as_deref()?, &cam, self.last_pose)?;
                self.last_pose = Some(pose);
                let (yaw, pitch, roll) = pose.yaw_pitch_roll();
                (pose.translation, [yaw as f32, pitch as f32, roll as f32], score.clamp(0.0, 1.0))
            }
            Observation::FaceBox([x, y, w, _h]) => {
                if w <= 0.0 {
                    return None;
                }
                let z = cam.focal * f64::from(FACE_BOX_CM) / f64::from(w);
                // The pupils sit 40 % down an OpenCV face box.
                let (u, v) = (f64::from(x + w / 2.0), f64::from(y + 0.4 * w));
                let p = DVec3::new((u - cam.cx) * z / cam.focal, (v - cam.cy) * z / cam.focal, z);
                (p, [0.0; 3], 0.3)
            }
        };
        // Camera frame (x right, y down, z out of the camera towards the viewer) → screen frame.
        let o = self.config.camera_offset_cm;
        let raw = [
            -eye_cam.x as f32 + o[0],
            -eye_cam.y as f32 + o[1],
            eye_cam.z as f32 + o[2],
            // The camera faces the viewer, so a head turning to its left turns to the screen's right.
            -ypr[0],
            ypr[1],
            -ypr[2],
        ];
        let lead = self.config.predict_ms / 1000.0;
        let mut out = [0.0f32; 6];
        for ((o, f), r) in out.iter_mut().zip(&mut self.filters).zip(raw) {
            *o = f.filter(r, t);
            *o += f.speed() * lead;
        }
        Some(HeadSample {
            eye_cm: Vec3::new(out[0], out[1], out[2]),
            yaw_pitch_roll: [out[3], out[4], out[5]],
            confidence,
        })
    }
}

/// The focal length (px) that puts the observed face at `distance_cm`.
fn focal_for(obs: Observation, distance_cm: f32) -> Option<f32> {
    match obs {
        Observation::Landmarks { points, .. } => {
            let (a, b) = (points.get(27)?, points.get(32)?);
            let ipd = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
            (ipd > 1.0).then(|| ipd * distance_cm / IPD_CM)
        }
        Observation::FaceBox([_, _, w, _]) => (w > 1.0).then(|| w * distance_cm / FACE_BOX_CM),
        Observation::Mesh { points, .. } => {
            // Eye centres (midpoints of the corners) stand for the pupils.
            let c = |a: usize, b: usize| {
                let (p, q) = (points.get(a)?, points.get(b)?);
                Some([(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0])
            };
            let (a, b) = (c(33, 133)?, c(362, 263)?);
            let ipd = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
            (ipd > 1.0).then(|| ipd * distance_cm / IPD_CM)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::MEAN_FACE;

    fn landmarks(cam: &Camera, pose: &Pose) -> Vec<[f32; 2]> {
        let mut pts = vec![[0.0f32; 2]; 71];
        for f in &MEAN_FACE {
            let q = cam.project(pose.rotation * DVec3::from(f.pos) + pose.translation);
            pts[f.index] = [q[0] as f32, q[1] as f32];
        }
        pts
    }

    #[test]
    fn eye_position_in_the_screen_frame() {
        let cam = Camera::from_fov(60f64.to_radians(), 640.0, 480.0);
        let config = HeadConfig {
            camera_hfov_deg: Some(60.0),
            filter: OneEuroConfig { min_cutoff: 1e3, beta: 0.0, d_cutoff: 1.0 },
            ..HeadConfig::default()
        };
        let mut est = HeadEstimator::new(config);
        // Head 10 cm to the camera's right (the viewer's left), 5 cm below it, 55 cm away, turned.
        let pose = Pose::from_yaw_pitch_roll(0.2, -0.1, 0.05, DVec3::new(10.0, 5.0, 55.0));
        let s = est
            .update(Observation::Landmarks { points: &landmarks(&cam, &pose), score: 0.9 }, (640.0, 480.0), 0.0)
            .unwrap();
        let o = config.camera_offset_cm;
        assert!((s.eye_cm - Vec3::new(-10.0, o[1] - 5.0, 55.0)).length() < 0.5, "{:?}", s.eye_cm);
        assert!((s.yaw_pitch_roll[0] + 0.2).abs() < 0.02 && (s.yaw_pitch_roll[1] + 0.1).abs() < 0.02);
        assert_eq!(s.confidence, 0.9);
    }

    #[test]
    fn field_of_view_from_the_assumed_distance_then_distances_follow() {
        let cam = Camera::from_fov(70f64.to_radians(), 640.0, 480.0);
        let mut est = HeadEstimator::new(HeadConfig::default());
        let at = |z: f64| Pose::from_yaw_pitch_roll(0.0, 0.0, 0.0, DVec3::new(0.0, 0.0, z));
        // First frame at the assumed 60 cm: the estimated camera matches the real one.
        est.update(Observation::Landmarks { points: &landmarks(&cam, &at(60.0)), score: 1.0 }, (640.0, 480.0), 0.0)
            .unwrap();
        let got = est.camera().unwrap();
        assert!((got.hfov().to_degrees() - 70.0).abs() < 0.5, "{}", got.hfov().to_degrees());
        // Calibration at arm's length (70 cm) from a face actually at 70 cm.
        let hfov = est
            .calibrate_distance(
                Observation::Landmarks { points: &landmarks(&cam, &at(70.0)), score: 1.0 },
                (640.0, 480.0),
                70.0,
            )
            .unwrap();
        assert!((hfov - 70.0).abs() < 0.5);
        // Box-only observations give a rough distance.
        let s = est.update(Observation::FaceBox([260.0, 180.0, 120.0, 120.0]), (640.0, 480.0), 1.0).unwrap();
        assert!(s.eye_cm.z > 30.0 && s.eye_cm.z < 120.0 && s.confidence < 0.5);
        assert!(est.update(Observation::FaceBox([0.0, 0.0, 0.0, 0.0]), (640.0, 480.0), 2.0).is_none());
    }

    #[test]
    fn screen_presets_from_a_diagonal() {
        let c = HeadConfig::default().with_screen_diagonal(15.6, 16.0, 9.0);
        assert!((c.screen_width_cm - 34.5).abs() < 0.1 && (c.screen_height_cm - 19.4).abs() < 0.1);
    }
}
