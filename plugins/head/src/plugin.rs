//! Bevy glue: turns the face tracker's output into [`HeadPose`] every time a new result
//! arrives; eases back to a rest pose without a face; mouse or arrow keys drive the pose when
//! the user picks that, and automatically while no face has been seen.

use bevy::input::mouse::MouseWheel;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use headroom_face::FaceTracking;

use crate::estimator::{HeadConfig, HeadEstimator, Observation};

/// Where the viewer's eyes are, for off-axis cameras and games.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct HeadPose {
    /// The point between the eyes, screen frame (origin at the screen centre, x right, y up,
    /// z towards the viewer), cm.
    pub eye: Vec3,
    pub rotation: Quat,
    /// Yaw, pitch, roll, radians.
    pub yaw_pitch_roll: [f32; 3],
    /// 0…1.
    pub confidence: f32,
    /// App time of the estimate, seconds.
    pub timestamp: f64,
    pub source: PoseSource,
    /// The capture frame the face tracker fitted for this pose (`None`: mouse, keys or rest).
    pub frame_seq: Option<u64>,
}

/// The head stage's systems (in `Update`): a new pose from the newest fit, or from mouse/keys.
/// Ordered after the face stage by the app, so a pose never waits a frame for its fit.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeadSystems;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoseSource {
    Tracker,
    Manual,
    Rest,
}

/// Who drives the pose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// The face tracker; mouse and keys while no face is seen.
    #[default]
    Auto,
    /// Mouse (position; wheel for distance) and arrow keys (PageUp/PageDown for distance).
    Manual,
}

#[derive(Resource, Debug, Clone)]
pub struct HeadSettings {
    pub config: HeadConfig,
    pub control: Control,
}

impl HeadSettings {
    pub fn rest_eye(&self) -> Vec3 {
        Vec3::new(0.0, 0.0, self.config.assumed_distance_cm)
    }
}

/// The estimator, kept between frames.
#[derive(Resource)]
pub struct HeadTracker {
    estimator: HeadEstimator,
    last_seq: Option<u64>,
    last_face_at: Option<f64>,
    manual_eye: Option<Vec3>,
}

impl HeadTracker {
    /// Calibrates the camera's field of view from the newest fit, taken with the face at
    /// `arm_cm` from the screen, and stores it in `settings` (the one [`HeadConfig`] the app
    /// has). `Err` says why not (no face, face too small).
    pub fn calibrate_distance(
        &mut self,
        tracking: Option<&FaceTracking>,
        arm_cm: f32,
        settings: &mut HeadSettings,
    ) -> Result<f32, &'static str> {
        let Some((fit, t)) = tracking.and_then(|t| t.fit.as_ref().map(|f| (f, t))) else {
            return Err("No face in view: look at the screen and press Space again.");
        };
        let size = (t.frame_size.0 as f32, t.frame_size.1 as f32);
        let obs = match &fit.mesh {
            Some(mesh) => Observation::Mesh { points: mesh, score: fit.score },
            None => Observation::Landmarks { points: &fit.points, score: fit.score },
        };
        let hfov = self
            .estimator
            .calibrate_distance(obs, size, arm_cm)
            .ok_or("The face is too small to measure: come closer.")?;
        settings.config.camera_hfov_deg = Some(hfov);
        Ok(hfov)
    }

    /// Forgets the calibrated field of view (back to the distance estimate).
    pub fn forget_calibration(&mut self, settings: &mut HeadSettings) {
        settings.config.camera_hfov_deg = None;
        self.estimator.recalibrate();
    }
}

/// How long after the last face the pose starts easing back to rest (or to manual control).
const FACE_GRACE_S: f64 = 0.5;

pub struct HeadPlugin {
    pub config: HeadConfig,
}

impl Plugin for HeadPlugin {
    fn build(&self, app: &mut App) {
        let settings = HeadSettings { config: self.config, control: Control::Auto };
        app.insert_resource(HeadPose {
            eye: settings.rest_eye(),
            rotation: Quat::IDENTITY,
            yaw_pitch_roll: [0.0; 3],
            confidence: 0.0,
            timestamp: 0.0,
            source: PoseSource::Rest,
            frame_seq: None,
        })
        .insert_resource(HeadTracker {
            estimator: HeadEstimator::new(self.config),
            last_seq: None,
            last_face_at: None,
            manual_eye: None,
        })
        .insert_resource(settings)
        .add_systems(Update, (from_tracker, manual_or_rest).chain().in_set(HeadSystems));
    }
}

fn from_tracker(
    tracking: Option<Res<FaceTracking>>,
    settings: Res<HeadSettings>,
    mut tracker: ResMut<HeadTracker>,
    mut pose: ResMut<HeadPose>,
    time: Res<Time<Real>>,
) {
    let Some(tracking) = tracking else { return };
    if settings.control != Control::Auto || tracker.last_seq == Some(tracking.frame_seq) || tracking.frames == 0 {
        return;
    }
    tracker.last_seq = Some(tracking.frame_seq);
    if tracker.estimator.config != settings.config {
        tracker.estimator = HeadEstimator::new(settings.config);
    }
    let size = (tracking.frame_size.0 as f32, tracking.frame_size.1 as f32);
    let obs = match (&tracking.fit, tracking.fallback_box) {
        (Some(fit), _) => match &fit.mesh {
            Some(mesh) => Observation::Mesh { points: mesh, score: fit.score },
            None => Observation::Landmarks { points: &fit.points, score: fit.score.max(0.5) },
        },
        (None, Some(b)) => Observation::FaceBox([b.x as f32, b.y as f32, b.w as f32, b.h as f32]),
        (None, None) => return,
    };
    let now = time.elapsed_secs_f64();
    if let Some(s) = tracker.estimator.update(obs, size, now) {
        tracker.last_face_at = Some(now);
        let [yaw, pitch, roll] = s.yaw_pitch_roll;
        *pose = HeadPose {
            eye: s.eye_cm,
            rotation: Quat::from_euler(EulerRot::YXZ, yaw, pitch, roll),
            yaw_pitch_roll: s.yaw_pitch_roll,
            confidence: s.confidence,
            timestamp: now,
            source: PoseSource::Tracker,
            frame_seq: Some(tracking.frame_seq),
        };
    }
}

#[allow(clippy::too_many_arguments)]
fn manual_or_rest(
    settings: Res<HeadSettings>,
    mut tracker: ResMut<HeadTracker>,
    mut pose: ResMut<HeadPose>,
    time: Res<Time<Real>>,
    keys: Option<Res<ButtonInput<KeyCode>>>,
    mut wheel: MessageReader<MouseWheel>,
    mut cursor_moved: MessageReader<CursorMoved>,
    window: Query<&Window, With<PrimaryWindow>>,
) {
    let now = time.elapsed_secs_f64();
    let face_recent = tracker.last_face_at.is_some_and(|t| now - t < FACE_GRACE_S);
    if settings.control == Control::Auto && face_recent {
        wheel.clear();
        cursor_moved.clear();
        return;
    }
    if !face_recent && pose.source == PoseSource::Tracker {
        tracker.estimator.reset_filters();
    }
    let c = &settings.config;
    let dt = time.delta_secs();
    let mut eye = tracker.manual_eye.unwrap_or(pose.eye);
    let mut touched = false;
    // Mouse: the cursor's place in the window maps to the eye across 1.5× the screen.
    if let Some(pos) = cursor_moved.read().last().map(|m| m.position)
        && let Ok(w) = window.single()
    {
        let (ww, wh) = (w.width().max(1.0), w.height().max(1.0));
        eye.x = (pos.x / ww - 0.5) * c.screen_width_cm * 1.5;
        eye.y = (0.5 - pos.y / wh) * c.screen_height_cm * 1.5;
        touched = true;
    }
    for m in wheel.read() {
        eye.z = (eye.z - m.y * 3.0).clamp(15.0, 200.0);
        touched = true;
    }
    if let Some(keys) = keys {
        let speed = 30.0 * dt; // cm per second
        for (key, d) in [
            (KeyCode::ArrowLeft, Vec3::NEG_X),
            (KeyCode::ArrowRight, Vec3::X),
            (KeyCode::ArrowUp, Vec3::Y),
            (KeyCode::ArrowDown, Vec3::NEG_Y),
            (KeyCode::PageUp, Vec3::NEG_Z),
            (KeyCode::PageDown, Vec3::Z),
        ] {
            if keys.pressed(key) {
                eye += d * speed;
                touched = true;
            }
        }
    }
    if touched || (settings.control == Control::Manual && tracker.manual_eye.is_some()) {
        eye.z = eye.z.clamp(15.0, 200.0);
        tracker.manual_eye = Some(eye);
        *pose = HeadPose {
            eye,
            rotation: Quat::IDENTITY,
            yaw_pitch_roll: [0.0; 3],
            confidence: 1.0,
            timestamp: now,
            source: PoseSource::Manual,
            frame_seq: None,
        };
        return;
    }
    if pose.source == PoseSource::Manual {
        return; // stays where the user left it
    }
    // No face, no input: ease back to rest (time constant 0.5 s).
    let k = 1.0 - (-dt / 0.5).exp();
    let rest = settings.rest_eye();
    let (eye, rotation) = (pose.eye, pose.rotation);
    pose.eye = eye + (rest - eye) * k;
    pose.rotation = rotation.slerp(Quat::IDENTITY, k);
    pose.confidence *= 1.0 - k;
    pose.source = PoseSource::Rest;
    pose.timestamp = now;
}
