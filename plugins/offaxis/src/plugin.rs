//! Bevy glue: [`OffAxisProjection`] (a custom `CameraProjection`) and [`OffAxisCameraPlugin`],
//! which moves every [`OffAxisCamera`] to the viewer's eye from [`HeadPose`] and sets its
//! frustum through the physical screen.

use bevy::camera::{CameraProjection, SubCameraView};
use bevy::math::Vec3A;
use bevy::prelude::*;
use headroom_head::plugin::{HeadPose, HeadSettings};

use crate::kooima::{Frustum, PhysicalScreen};

/// The exact asymmetric frustum through the screen from the eye.
#[derive(Debug, Clone)]
pub struct OffAxisProjection {
    pub frustum: Frustum,
    pub far: f32,
}

impl Default for OffAxisProjection {
    fn default() -> Self {
        OffAxisProjection {
            frustum: Frustum { left: -0.5, right: 0.5, bottom: -0.3, top: 0.3, near: 1.0 },
            far: 10_000.0,
        }
    }
}

impl CameraProjection for OffAxisProjection {
    fn get_clip_from_view(&self) -> Mat4 {
        self.frustum.clip_from_view()
    }

    fn get_clip_from_view_for_sub(&self, sub: &SubCameraView) -> Mat4 {
        let f = self.frustum;
        let (fw, fh) = (sub.full_size.x as f32, sub.full_size.y as f32);
        let (w, h) = (f.right - f.left, f.top - f.bottom);
        let oy = fh - (sub.offset.y + sub.size.y as f32);
        Frustum {
            left: f.left + w * sub.offset.x / fw,
            right: f.left + w * (sub.offset.x + sub.size.x as f32) / fw,
            bottom: f.bottom + h * oy / fh,
            top: f.bottom + h * (oy + sub.size.y as f32) / fh,
            near: f.near,
        }
        .clip_from_view()
    }

    fn update(&mut self, _width: f32, _height: f32) {
        // The screen rectangle, not the window's aspect ratio, defines this frustum.
    }

    fn far(&self) -> f32 {
        self.far
    }

    fn get_frustum_corners(&self, z_near: f32, z_far: f32) -> [Vec3A; 8] {
        // Bevy's order: bottom right, top right, top left, bottom left; near then far.
        let order = |c: [Vec3; 4]| [c[1], c[2], c[3], c[0]].map(Vec3A::from);
        let (n, f) = (order(self.frustum.corners_at(z_near)), order(self.frustum.corners_at(z_far)));
        [n[0], n[1], n[2], n[3], f[0], f[1], f[2], f[3]]
    }
}

/// A camera that looks through the physical screen. Its parent's transform places the screen
/// in the world (the screen's centre at the parent's origin, facing +z); the camera's own
/// transform is managed.
#[derive(Component, Debug, Clone)]
#[require(Camera3d, Projection = Projection::custom(OffAxisProjection::default()))]
pub struct OffAxisCamera {
    /// World units per centimetre.
    pub world_per_cm: f32,
    pub near: f32,
    pub far: f32,
}

impl Default for OffAxisCamera {
    fn default() -> Self {
        OffAxisCamera { world_per_cm: 1.0, near: 1.0, far: 10_000.0 }
    }
}

pub struct OffAxisCameraPlugin;

/// The camera stage's systems (in `PostUpdate`, before transforms propagate): every
/// [`OffAxisCamera`]'s projection from this frame's [`HeadPose`].
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct CameraSystems;

/// Which pose the off-axis cameras were last projected from: the capture frame it was fitted in
/// (`None`: mouse, keys or rest) and when (app time, `Time<Real>`). With the frame's arrival time
/// this is the latency a head-coupled window lives by.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct ProjectedPose {
    pub frame_seq: Option<u64>,
    pub at: std::time::Duration,
    /// Projections so far (frames with at least one off-axis camera).
    pub count: u64,
}

impl Plugin for OffAxisCameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ProjectedPose>()
            .add_systems(PostUpdate, drive_cameras.in_set(CameraSystems).before(TransformSystems::Propagate));
    }
}

fn drive_cameras(
    pose: Option<Res<HeadPose>>,
    settings: Option<Res<HeadSettings>>,
    mut cams: Query<(&OffAxisCamera, &mut Transform, &mut Projection)>,
    mut projected: ResMut<ProjectedPose>,
    time: Res<Time<Real>>,
) {
    let (Some(pose), Some(settings)) = (pose, settings) else { return };
    if !cams.is_empty() {
        *projected = ProjectedPose { frame_seq: pose.frame_seq, at: time.elapsed(), count: projected.count + 1 };
    }
    let c = &settings.config;
    for (cam, mut transform, mut projection) in &mut cams {
        let k = cam.world_per_cm;
        let screen = PhysicalScreen::centered(c.screen_width_cm * k, c.screen_height_cm * k);
        // Keep the eye in front of the screen plane.
        let eye = Vec3::new(pose.eye.x, pose.eye.y, pose.eye.z.max(5.0)) * k;
        let Some(frustum) = Frustum::new(&screen, eye, cam.near) else { continue };
        transform.translation = eye;
        transform.rotation = Quat::IDENTITY;
        let p = OffAxisProjection { frustum, far: cam.far };
        match projection.as_mut() {
            Projection::Custom(custom) => match custom.get_mut::<OffAxisProjection>() {
                Some(existing) => *existing = p,
                None => *projection = Projection::custom(p),
            },
            _ => *projection = Projection::custom(p),
        }
    }
}
