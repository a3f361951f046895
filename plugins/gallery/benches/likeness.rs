//! `cargo bench --profile dev --workspace --bench likeness [-- MANIFEST]`: "painted faces like
//! mine" on the demo clip against a gallery's faces (default: the bundled collection). The clip is
//! tracked frame by frame (the default tracker); every 3rd frame the live face is embedded and its
//! 5 nearest painted faces looked up (the embedding smoothed over updates), as the viewer's panel
//! does a few times a second. Prints the
//! time per update (median and 90th percentile), how often the top 5 stay the same from one update
//! to the next, and the top-5 overlap between updates whose head turn differs little (still) and
//! much (turned): stable neighbours while the face holds still, new ones when it turns.

use std::time::Instant;

use headroom_capture::{DEMO_CLIP, VideoSource};
use headroom_face::{Gray, TrackerConfig, default_tracker};
use headroom_gallery::build::{default_model_path, find_asset};
use headroom_gallery::likeness::FaceEmbedder;
use headroom_gallery::manifest::Manifest;

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let path = arg.map_or_else(|| find_asset("gallery/public-art/manifest.json"), std::path::PathBuf::from);
    let m = Manifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let Some(faces) = m.faces.as_ref() else {
        println!("{} has no faces section: nothing to match against", path.display());
        return;
    };
    let embedder = FaceEmbedder::new(&std::fs::read(default_model_path()).unwrap()).unwrap();
    let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
    let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
    let mut updates: Vec<(f32, Vec<usize>)> = Vec::new();
    let mut times = Vec::new();
    let mut frame = 0;
    // As the panel does: the embedding smoothed over updates.
    let mut smooth = headroom_gallery::likeness::Smoothed::default();
    while let Ok(Some(f)) = video.next_frame() {
        frame += 1;
        let (w, h) = (f.width as usize, f.height as usize);
        let Some(g) = Gray::from_rgba(w, h, &f.rgba) else { continue };
        let out = tracker.track(&g, Some(&f.rgba));
        let Some(fit) = out.fit else { continue };
        if frame % 3 != 0 {
            continue;
        }
        let t = Instant::now();
        let Some(e) = embedder.embed(faces, &f.rgba, w, h, &fit.points).unwrap() else { continue };
        let top = faces.nearest(smooth.update(&e), 5);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        // Head turn: the nose tip (62) off the eyes' midpoint, in eye distances.
        let (r, l, nose) = (fit.points[27], fit.points[32], fit.points[62]);
        let yaw = (nose[0] - (r[0] + l[0]) / 2.0) / (l[0] - r[0]).hypot(l[1] - r[1]).max(1.0);
        let mut ids: Vec<usize> = top.iter().map(|e| e.0).collect();
        ids.sort_unstable();
        updates.push((yaw, ids));
    }
    let n = updates.len();
    if n < 2 {
        println!("only {n} updates: the clip was not tracked");
        return;
    }
    times.sort_by(f64::total_cmp);
    let overlap = |a: &[usize], b: &[usize]| a.iter().filter(|x| b.contains(x)).count() as f64 / 5.0;
    let same = updates.windows(2).filter(|w| w[0].1 == w[1].1).count();
    let mut still = (0.0, 0usize);
    let mut turned = (0.0, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let d = (updates[i].0 - updates[j].0).abs();
            let o = overlap(&updates[i].1, &updates[j].1);
            if d < 0.03 {
                still = (still.0 + o, still.1 + 1);
            } else if d > 0.15 {
                turned = (turned.0 + o, turned.1 + 1);
            }
        }
    }
    let yaws: Vec<f32> = updates.iter().map(|u| u.0).collect();
    println!("{n} updates over {frame} frames against {} painted faces ({})", faces.faces.len(), path.display());
    println!(
        "time per update (crop + MobileNetV2 + PCA + nearest 5): median {:.1} ms, 90th percentile {:.1} ms",
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
    println!(
        "top 5 unchanged from one update to the next: {same} of {} ({:.0} %)",
        n - 1,
        100.0 * same as f64 / (n - 1) as f64
    );
    println!(
        "head turn over the clip: {:.2} … {:.2} eye distances",
        yaws.iter().copied().fold(f32::MAX, f32::min),
        yaws.iter().copied().fold(f32::MIN, f32::max)
    );
    println!(
        "top-5 overlap: still (turn differs < 0.03) {:.0} % over {} pairs; turned (> 0.15) {:.0} % over {} pairs",
        100.0 * still.0 / still.1.max(1) as f64,
        still.1,
        100.0 * turned.0 / turned.1.max(1) as f64,
        turned.1
    );
}
