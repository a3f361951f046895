//! The frame pipeline, declared in one place: each stage's system set, in order —
//!
//! ```text
//! PreUpdate   CaptureSystems   a new frame (and its arrival time)
//! Update      FaceSystems      the finished fit published, the newest frame to the tracking job
//!             HeadSystems      the head pose from that fit
//!             FaceKatSystems, GallerySystems, FaceLabSystems   what uses the fit and the pose
//! PostUpdate  CameraSystems    off-axis projections from this frame's pose
//! ```
//!
//! and [`PipelineLatency`]: for every projection made from a tracked pose, the time from its
//! frame's arrival to the fit being published and to the projection, how many newer frames had
//! arrived meanwhile, and whether the pose was older than the latest finished fit (with the sets
//! chained, never).

use bevy::prelude::*;
use headroom_capture::FrameArrivals;
use headroom_face::{FaceSystems, FaceTracking};
use headroom_facekat::FaceKatSystems;
use headroom_facelab::FaceLabSystems;
use headroom_gallery::GallerySystems;
use headroom_head::HeadSystems;
use headroom_offaxis::{CameraSystems, ProjectedPose};

pub struct PipelinePlugin;

impl Plugin for PipelinePlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            Update,
            (FaceSystems, HeadSystems, (FaceKatSystems, GallerySystems, FaceLabSystems)).chain(),
        )
        .init_resource::<PipelineLatency>()
        .add_systems(PostUpdate, measure_latency.after(CameraSystems));
    }
}

/// Capture → fit → projection, measured on every projection made from a tracked pose.
#[derive(Resource, Default, Debug, Clone)]
pub struct PipelineLatency {
    /// The newest projection's frame: arrival → fit published, and arrival → projection, ms.
    pub capture_to_fit_ms: f32,
    pub capture_to_projection_ms: f32,
    /// Frames that had arrived after the projected one by the time of the projection.
    pub frames_behind: u64,
    /// Projections from a tracked pose so far, and their capture → projection sum and maximum.
    pub projections: u64,
    pub sum_ms: f64,
    pub max_ms: f32,
    pub frames_behind_sum: u64,
    /// Of those, projections whose pose was older than the latest finished fit.
    pub stale: u64,
}

impl PipelineLatency {
    pub fn mean_ms(&self) -> f64 {
        if self.projections == 0 { 0.0 } else { self.sum_ms / self.projections as f64 }
    }

    pub fn mean_frames_behind(&self) -> f64 {
        if self.projections == 0 { 0.0 } else { self.frames_behind_sum as f64 / self.projections as f64 }
    }
}

fn measure_latency(
    arrivals: Option<Res<FrameArrivals>>,
    tracking: Option<Res<FaceTracking>>,
    projected: Option<Res<ProjectedPose>>,
    mut latency: ResMut<PipelineLatency>,
    mut seen: Local<u64>,
) {
    let (Some(arrivals), Some(projected)) = (arrivals, projected) else { return };
    if projected.count == *seen {
        return;
    }
    *seen = projected.count;
    let Some(seq) = projected.frame_seq else { return };
    let Some(arrived) = arrivals.of(seq) else { return };
    let ms = |d: std::time::Duration| d.as_secs_f32() * 1000.0;
    let l = &mut *latency;
    l.capture_to_projection_ms = ms(projected.at.saturating_sub(arrived));
    if let Some(t) = tracking.as_deref() {
        if t.frame_seq == seq {
            l.capture_to_fit_ms = ms(t.result_at.saturating_sub(arrived));
        } else if t.frame_seq > seq && t.fit.is_some() {
            l.stale += 1;
        }
    }
    l.frames_behind = arrivals.newer_than(seq) as u64;
    l.projections += 1;
    l.sum_ms += f64::from(l.capture_to_projection_ms);
    l.max_ms = l.max_ms.max(l.capture_to_projection_ms);
    l.frames_behind_sum += l.frames_behind;
}
