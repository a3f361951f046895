//! The CLM on a folder of stills with one setting changed, for the side-by-side with clmtrackr
//! (issue 16): writes `headroom fit --json`-style records (source, found, points) that
//! `bench/clmtrackr/compare.py` reads.
//!
//!   cargo run --release -p headroom-face --example clm_variants -- DIR OUT.jsonl [SETTING ...]
//!
//! Settings: `response=patch-shifted|window-bias|patch-bias|window-shifted` (normalisation over
//! the search patch or each window; logistic of r − 1 or r + the expert's bias), `search=N`,
//! `variances=10,5,1`, `init-search=N`, `placement=mosse|experts`, `detector=haar|blazeface`.
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
        .filter(|p| p.extension().is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_string_lossy().to_lowercase().as_str())))
        .collect();
    names.sort();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[2])?);
    for path in names {
        let Ok(img) = image::open(&path) else { continue };
        let img = img.into_rgba8();
        let (w, h) = img.dimensions();
        let Some(gray) = Gray::from_rgba(w as usize, h as usize, img.as_raw()) else { continue };
        let fit = tracker.track_still(&gray, Some(img.as_raw())).fit;
        let rec = serde_json::json!({
            "source": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "found": fit.is_some(),
            "points": fit.map(|f| f.points).unwrap_or_default(),
            "fits": tracker.last_fits,
        });
        writeln!(out, "{rec}")?;
    }
    Ok(())
}
