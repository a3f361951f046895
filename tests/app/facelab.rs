//! Face Lab in the running app.

use super::*;

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
