//! `cargo bench --profile dev --workspace --bench pose`: per-frame cost from a captured frame to a
//! filtered head pose on the demo clip (luma conversion, face tracking, pose solve, filters), and
//! the pose step alone.

use std::time::Instant;

use headroom_capture::{DEMO_CLIP, VideoSource};
use headroom_face::{Gray, TrackerConfig, default_tracker};
use headroom_head::{HeadConfig, HeadEstimator, Observation};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
    let mut frames = Vec::new();
    while let Some(f) = video.next_frame().unwrap() {
        frames.push(f);
    }
    for (name, config) in [("CLM", TrackerConfig::clm()), ("mesh", TrackerConfig::default())] {
        run(name, config, &frames);
    }
}

fn run(name: &str, config: TrackerConfig, frames: &[headroom_capture::Frame]) {
    let (mut whole, mut pose_only) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let mut tracker = default_tracker(config.clone()).unwrap();
        let mut head = HeadEstimator::new(HeadConfig::default());
        for f in frames {
            let t0 = Instant::now();
            let Some(gray) = Gray::from_rgba(f.width as usize, f.height as usize, &f.rgba) else { continue };
            let was = tracker.is_tracking();
            let out = tracker.track(&gray, Some(&f.rgba));
            let Some(fit) = out.fit else { continue };
            let t1 = Instant::now();
            let obs = match &fit.mesh {
                Some(mesh) => Observation::Mesh { points: mesh, score: fit.score },
                None => Observation::Landmarks { points: &fit.points, score: fit.score },
            };
            let sample = head.update(obs, (f.width as f32, f.height as f32), f.timestamp.as_secs_f64());
            let t2 = Instant::now();
            if was && sample.is_some() {
                whole.push((t2 - t0).as_secs_f64() * 1000.0);
                pose_only.push((t2 - t1).as_secs_f64() * 1000.0);
            }
        }
    }
    println!(
        "{name}: frame to head pose (luma + track + pose + filter) 360x288: {:.3} ms median over {} frames",
        median(whole.clone()),
        whole.len()
    );
    println!("{name}: pose + filter alone: {:.3} ms median", median(pose_only));
}
