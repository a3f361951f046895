//! Stage-by-stage study of the CLM on stills beside clmtrackr (issue 16): which stage makes the
//! difference? For each still, starting from our placement or from clmtrackr's (read from a
//! `bench/clmtrackr/run.mjs --trace` file), iterate our fitter in two ways — plain fits, or
//! clmtrackr's loop (constant-velocity prediction, then a fit, as its `track()` does per call) —
//! and score each against the reference points.
//!
//!   cargo run --release -p headroom-face --example clm_still_study -- tests/fixtures/faces TRACE.jsonl
//! ("ours" below is the experts placement, `--placement experts`; "mosse" is the default).
use std::collections::BTreeMap;
use std::path::Path;

use headroom_face::shape::Similarity;
use headroom_face::{Gray, TrackerConfig, default_tracker};

fn err(points: &[[f32; 2]], truth: &BTreeMap<String, [f32; 2]>) -> f32 {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let eye = d(truth["23"], truth["28"]);
    truth.iter().map(|(k, t)| d(points[k.parse::<usize>().unwrap()], *t)).sum::<f32>() / truth.len() as f32 / eye
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(&args[1]);
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let mut inits = BTreeMap::new();
    for line in std::fs::read_to_string(&args[2]).unwrap().lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let (Some(init), Some(scale)) = (r["init"]["params"].as_array(), r["scale"].as_f64()) else { continue };
        let mut p: Vec<f32> = init.iter().map(|v| v.as_f64().unwrap() as f32).collect();
        // Canvas pixels → image pixels.
        let k = scale as f32;
        p[0] = (p[0] + 1.0) / k - 1.0;
        p[1] /= k;
        p[2] /= k;
        p[3] /= k;
        inits.insert(r["source"].as_str().unwrap().to_string(), p);
    }
    let mut tracker =
        default_tracker(TrackerConfig { placement: headroom_face::Placement::Experts, ..TrackerConfig::clm() })
            .unwrap();
    let mut sums = BTreeMap::<&str, Vec<f32>>::new();
    for (name, pts) in reference["stills"].as_object().unwrap() {
        let truth: BTreeMap<String, [f32; 2]> = serde_json::from_value(pts.clone()).unwrap();
        let img = image::open(dir.join(name)).unwrap().into_rgba8();
        let (w, h) = img.dimensions();
        let gray = Gray::from_rgba(w as usize, h as usize, img.as_raw()).unwrap();
        let shape = tracker.fitter.shape.clone();
        let face = tracker.detect(&gray)[0];
        let ours = tracker.initial_params(&gray, face);
        let mosse = tracker.mosse_params(&gray, face);
        let mut row = Vec::new();
        if let Some(c) = inits.get(name) {
            let (a, b) = (Similarity::from_params(&ours), Similarity::from_params(c));
            println!(
                "  box {:?}; sim ours s {:.3} r {:.3} t ({:.1}, {:.1}); clm s {:.3} r {:.3} t ({:.1}, {:.1}); clm s/w {:.5} (tx-x)/w {:.3} (ty-y)/h {:.3}",
                face,
                a.scale,
                a.rotation,
                a.tx,
                a.ty,
                b.scale,
                b.rotation,
                b.tx,
                b.ty,
                b.scale / face.w as f32,
                (b.tx - face.x as f32) / face.w as f32,
                (b.ty - face.y as f32) / face.h as f32
            );
        }
        let mut push = |label: &'static str, e: f32| {
            sums.entry(label).or_default().push(e);
            row.push(format!("{label} {e:.3}"));
        };
        let full = tracker.track_still(&gray, None).fit.map(|f| f.points).unwrap();
        push("track_still", err(&full, &truth));
        let mut mt = default_tracker(TrackerConfig::clm()).unwrap();
        let full = mt.track_still(&gray, None).fit.map(|f| f.points).unwrap();
        push("track_still mosse", err(&full, &truth));
        println!("  {name}: {} fits to settle", mt.last_fits);
        let mut coarse = vec![0.0f32; ours.len()];
        let (x, y, w, hh) = (face.x as f32, face.y as f32, face.w as f32, face.h as f32);
        Similarity { scale: 0.0120 * w, rotation: 0.0, tx: x - 0.227 * w, ty: y + 0.066 * hh }
            .write_params(&mut coarse);
        let starts: Vec<(&str, Vec<f32>)> =
            [("ours", Some(ours)), ("clm", inits.get(name).cloned()), ("coarse", Some(coarse)), ("mosse", mosse)]
                .into_iter()
                .filter_map(|(l, p)| p.map(|p| (l, p)))
                .collect();
        for (label, p0) in starts {
            push(
                match label {
                    "ours" => "init ours",
                    "clm" => "init clm",
                    "mosse" => "init mosse",
                    _ => "init coarse",
                },
                err(&shape.points(&p0), &truth),
            );
            // Plain fits.
            let mut p = p0.clone();
            for _ in 0..60 {
                tracker.fitter.fit(&gray, &mut p);
            }
            push(
                match label {
                    "ours" => "ours+60 fits",
                    "clm" => "clm+60 fits",
                    "mosse" => "mosse+60 fits",
                    _ => "coarse+60 fits",
                },
                err(&shape.points(&p), &truth),
            );
            // clmtrackr's loop: prediction 0.1·p1 + 0.9·(2·p1 − p0), then a fit.
            let mut p = p0.clone();
            let mut hist = vec![p.clone()];
            for _ in 0..60 {
                if hist.len() >= 2 {
                    let (a, b) = (&hist[hist.len() - 2], &hist[hist.len() - 1]);
                    for k in 0..p.len() {
                        p[k] = 0.1 * b[k] + 0.9 * (2.0 * b[k] - a[k]);
                    }
                }
                tracker.fitter.fit(&gray, &mut p);
                hist.push(p.clone());
            }
            push(
                match label {
                    "ours" => "ours+60 cv",
                    "clm" => "clm+60 cv",
                    "mosse" => "mosse+60 cv",
                    _ => "coarse+60 cv",
                },
                err(&shape.points(&p), &truth),
            );
            let _ = Similarity::from_params(&p);
        }
        println!("{name}: {}", row.join("  "));
    }
    for (label, v) in sums {
        let mut s = v.clone();
        s.sort_by(f32::total_cmp);
        println!(
            "{label:14}: mean {:.4} median {:.4} ({} stills)",
            v.iter().sum::<f32>() / v.len() as f32,
            s[s.len() / 2],
            v.len()
        );
    }
}
