//! `cargo bench --profile dev --workspace --bench face`: Haar and BlazeFace detection at
//! 320×240 and 640×480, and one tracked frame on the demo clip with the CLM and with the face
//! mesh (crop + mesh + pose, and with the iris model). Prints one line per measurement (median of repeated runs, milliseconds);
//! `bench/face.sh` runs this beside OpenCV and MediaPipe on the same frames.

use std::time::Instant;

use headroom_capture::{DEMO_CLIP, VideoSource};
use headroom_face::nn::BlazeFace;
use headroom_face::{Cascade, DetectParams, FRONTALFACE_ALT, Gray, TrackerConfig, default_tracker};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // One thread (as the OpenCV peer runs) and then the machine's threads (rayon: points and
    // detection scales in parallel).
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // candle's matrix products read RAYON_NUM_THREADS on each call.
    // SAFETY: set before any other thread of this process reads the environment.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| run(" (1 thread)"));
    // SAFETY: as above; the previous pool's work is finished.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| run(&format!(" ({threads} threads)")));
}

fn run(label: &str) {
    let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
    let mut frames = Vec::new();
    while let Some(f) = video.next_frame().unwrap() {
        frames.push(f);
    }
    let grays: Vec<Gray> =
        frames.iter().map(|f| Gray::from_rgba(f.width as usize, f.height as usize, &f.rgba).unwrap()).collect();

    let cascade = Cascade::from_xml(FRONTALFACE_ALT).unwrap();
    let params = DetectParams::default();
    for (w, h) in [(320, 240), (640, 480)] {
        let imgs: Vec<Gray> = grays.iter().step_by(24).map(|g| g.resize(w, h)).collect();
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..3 {
            for g in &imgs {
                let t = Instant::now();
                found += cascade.detect(g, &params).len();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        println!(
            "detect {w}x{h}{label}: {:.3} ms median over {} runs ({} faces)",
            median(times),
            imgs.len() * 3,
            found / 3
        );
    }

    let blaze = BlazeFace::new().unwrap();
    for (w, h) in [(320usize, 240usize), (640, 480)] {
        let imgs: Vec<Vec<u8>> = frames
            .iter()
            .step_by(24)
            .map(|f| {
                let img = image::RgbaImage::from_raw(f.width, f.height, f.rgba.to_vec()).unwrap();
                image::imageops::resize(&img, w as u32, h as u32, image::imageops::FilterType::Triangle).into_raw()
            })
            .collect();
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..3 {
            for px in &imgs {
                let t = Instant::now();
                found += blaze.detect(px, w, h).unwrap().len();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        println!(
            "blazeface detect {w}x{h}{label}: {:.3} ms median over {} runs ({} faces)",
            median(times),
            imgs.len() * 3,
            found / 3
        );
    }

    // The mesh backend: a tracked frame = crop + mesh (+ iris, both eyes) + the 71 points and
    // their shape parameters (head pose from the mesh is timed by `cargo bench --bench pose`).
    for (iris, what) in [(false, "mesh tracked frame"), (true, "mesh + iris tracked frame")] {
        let mut tracked = Vec::new();
        for _ in 0..2 {
            let mut tracker = default_tracker(TrackerConfig { iris, ..TrackerConfig::default() }).unwrap();
            for (f, g) in frames.iter().zip(&grays) {
                let was = tracker.is_tracking();
                let t = Instant::now();
                let out = tracker.track(g, Some(&f.rgba));
                if was && out.fit.is_some() {
                    tracked.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        println!(
            "{what} {}x{}{label}: {:.3} ms median over {} frames",
            frames[0].width,
            frames[0].height,
            median(tracked.clone()),
            tracked.len()
        );
    }

    // Tracking: the whole clip, repeated; only frames that continue a track count as "tracked".
    let mut tracked = Vec::new();
    let mut passes = 0usize;
    for _ in 0..3 {
        let mut tracker = default_tracker(TrackerConfig::clm()).unwrap();
        for (f, g) in frames.iter().zip(&grays) {
            let was = tracker.is_tracking();
            let t = Instant::now();
            let out = tracker.track(g, Some(&f.rgba));
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if was && out.fit.is_some() {
                tracked.push(ms);
                passes += 1;
            }
        }
    }
    // Where a tracked frame's time goes: the fitter's three stages on the clip's frames.
    let mut tracker = default_tracker(TrackerConfig::clm()).unwrap();
    let (mut ts, mut tr, mut tm) = (Vec::new(), Vec::new(), Vec::new());
    for (f, g) in frames.iter().zip(&grays) {
        let out = tracker.track(g, Some(&f.rgba));
        let Some(fit) = out.fit else { continue };
        let mut p = fit.params.clone();
        let t0 = Instant::now();
        tracker.fitter.sample_patches(g, &p);
        let t1 = Instant::now();
        tracker.fitter.compute_responses();
        let t2 = Instant::now();
        tracker.fitter.mean_shift(&mut p);
        let t3 = Instant::now();
        ts.push((t1 - t0).as_secs_f64() * 1000.0);
        tr.push((t2 - t1).as_secs_f64() * 1000.0);
        tm.push((t3 - t2).as_secs_f64() * 1000.0);
    }
    println!(
        "  of which{label}: sample {:.3} ms, responses {:.3} ms, mean-shift {:.3} ms",
        median(ts),
        median(tr),
        median(tm)
    );
    println!(
        "tracked frame {}x{}{label}: {:.3} ms median over {} frames",
        frames[0].width,
        frames[0].height,
        median(tracked),
        passes
    );
}
