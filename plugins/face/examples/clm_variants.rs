//! The CLM on a folder of stills with one setting changed, for the side-by-side with clmtrackr
//! (issue 16): writes `headroom fit --json`-style records (source, found, points) that
//! `bench/clmtrackr/compare.py` reads.
//!
//!   cargo run --release -p headroom-face --example clm_variants -- DIR OUT.jsonl [SETTING ...]
//!
//! Settings: `response=patch-shifted|window-bias|patch-bias|window-shifted` (normalisation over
//! the search patch or each window; logistic of r − 1 or r + the expert's bias), `search=N`,
//! `variances=10,5,1`, `init-search=N`, `placement=mosse|experts`, `detector=haar|blazeface`,
//! `loop=cv` (instead of `track_still`: from the same placement, clmtrackr's still loop — a
//! constant-velocity prediction before every fit, at least 50 fits, then until the centroid of
//! the last five fits stops moving against the five before, as its `getConvergence`).
use std::io::Write;
use std::path::Path;

use headroom_face::patch::{Logistic, Normalize};
use headroom_face::{Detector, Gray, Placement, TrackerConfig, default_tracker};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: clm_variants DIR OUT.jsonl [SETTING ...]".into());
    }
    let mut cfg = TrackerConfig::clm();
    let mut cv_loop = false;
    for s in &args[3..] {
        let (k, v) = s.split_once('=').ok_or_else(|| format!("setting {s:?} is not key=value"))?;
        match k {
            "response" => {
                let (n, l) = v.split_once('-').ok_or("response=NORM-LOGISTIC")?;
                cfg.fit.response.normalize = match n {
                    "patch" => Normalize::Patch,
                    "window" => Normalize::Window,
                    _ => return Err(format!("normalisation {n:?}").into()),
                };
                cfg.fit.response.logistic = match l {
                    "shifted" => Logistic::Shifted,
                    "bias" => Logistic::Bias,
                    _ => return Err(format!("logistic {l:?}").into()),
                };
            }
            "loop" if v == "cv" => cv_loop = true,
            "search" => cfg.fit.search = v.parse()?,
            "init-search" => cfg.init_search = v.parse()?,
            "variances" => cfg.fit.variances = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "placement" => {
                cfg.placement = match v {
                    "mosse" => Placement::Mosse,
                    "experts" => Placement::Experts,
                    _ => return Err(format!("placement {v:?}").into()),
                }
            }
            "detector" => {
                cfg.detector = match v {
                    "haar" => Detector::Haar,
                    "blazeface" => Detector::BlazeFace,
                    _ => return Err(format!("detector {v:?}").into()),
                }
            }
            _ => return Err(format!("unknown setting {k:?}").into()),
        }
    }
    let mut tracker = default_tracker(cfg)?;
    let mut names: Vec<_> = std::fs::read_dir(Path::new(&args[1]))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_string_lossy().to_lowercase().as_str()))
        })
        .collect();
    names.sort();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[2])?);
    for path in names {
        let Ok(img) = image::open(&path) else { continue };
        let img = img.into_rgba8();
        let (w, h) = img.dimensions();
        let Some(gray) = Gray::from_rgba(w as usize, h as usize, img.as_raw()) else { continue };
        // The detector's first face and the placement on it, before any fit (for the stage study).
        let face = tracker.detect(&gray).first().copied();
        let start = face.map(|f| tracker.initial_params(&gray, f));
        let init = start.as_ref().map(|p| tracker.fitter.shape.points(p));
        let mut fit = tracker.track_still(&gray, Some(img.as_raw())).fit;
        if cv_loop && let Some(mut p) = start {
            let mut hist: Vec<Vec<f32>> = Vec::new();
            let mut positions: Vec<Vec<[f32; 2]>> = Vec::new();
            for k in 1..=200 {
                if hist.len() >= 2 {
                    let (a, b) = (&hist[hist.len() - 2], &hist[hist.len() - 1]);
                    for i in 0..p.len() {
                        p[i] = 0.1 * b[i] + 0.9 * (2.0 * b[i] - a[i]);
                    }
                }
                let pts = tracker.fitter.fit(&gray, &mut p).points;
                hist.push(p.clone());
                positions.push(pts);
                if positions.len() > 10 {
                    positions.remove(0);
                }
                if k >= 50 && positions.len() == 10 {
                    let c = |r: &[Vec<[f32; 2]>]| {
                        r.iter().flatten().fold([0.0f32; 2], |s, q| [s[0] + q[0], s[1] + q[1]]).map(|v| v / 5.0)
                    };
                    let (a, b) = (c(&positions[..5]), c(&positions[5..]));
                    if ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)) / 10.0 < 0.5 {
                        break;
                    }
                }
            }
            if let Some(f) = fit.as_mut() {
                f.points = tracker.fitter.shape.points(&p);
            }
        }
        let rec = serde_json::json!({
            "source": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "found": fit.is_some(),
            "points": fit.map(|f| f.points).unwrap_or_default(),
            "fits": tracker.last_fits,
            "face_box": face.map(|f| [f.x, f.y, f.w, f.h]),
            "init_points": init,
        });
        writeln!(out, "{rec}")?;
    }
    Ok(())
}
