//! The faces of a built gallery, measured: `cargo run -p headroom-gallery --example faces_eval --
//! OUT SOURCE_DIR [SHEET.png] [SAMPLE] [SEED]` (OUT: the build's output folder, SOURCE_DIR: the
//! folder it was built from).
//!
//! - How many faces, in how many works.
//! - Embedding quality, for each candidate the build keeps: each face's nearest face in *another*
//!   work, and how often that one (a) is by the same artist (faces whose artist is known and has
//!   faces in at least two works) and (b) lies in the work's neighbourhood in the work map (one of
//!   its 12 most similar works); beside the chance level of (a). Candidates: MobileNetV2 features
//!   of the aligned crop (the 1280 raw, and the PCA-64 the manifest ships) and the face model's
//!   own parameters (CLM shape modes, whitened, with the crop's grey appearance; and the shape
//!   modes alone).
//! - A contact sheet of SAMPLE faces (default 100) drawn at random (seeded): each as its work with
//!   the face boxed, beside its aligned crop, for judging the detections' precision by eye.

use std::collections::HashMap;

use anyhow::Context;
use headroom_face::still::aligned_crop;
use headroom_gallery::build::faces::{CachedFace, read_cache};
use headroom_gallery::manifest::Manifest;
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand::seq::SliceRandom;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, source, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: faces_eval OUT SOURCE_DIR [SHEET.png] [SAMPLE] [SEED]");
    };
    let out = std::path::Path::new(out);
    let m = Manifest::load(&out.join("manifest.json"))?;
    let faces = m.faces.as_ref().context("the manifest has no faces section")?;
    let (cache, _) = read_cache(&out.join("cache/faces.jsonl"));
    // Cache lines by work file: key = tag|rel|size|mtime|faces1.
    let by_file: HashMap<String, &Vec<CachedFace>> = cache
        .iter()
        .filter_map(|(k, v)| {
            let parts: Vec<&str> = k.split('|').collect();
            (parts.len() >= 5).then(|| (parts[1..parts.len() - 3].join("|"), v))
        })
        .collect();
    // Each manifest face with its cached record (the same box; the manifest's is rounded to 0.1 px).
    let mut recs: Vec<(usize, &CachedFace)> = Vec::new();
    for (i, f) in faces.faces.iter().enumerate() {
        let work = &m.works[f.work as usize];
        if let Some(c) = by_file
            .get(&work.file)
            .and_then(|v| v.iter().find(|c| c.bbox.iter().zip(&f.bbox).all(|(a, b)| (a - b).abs() < 0.06)))
        {
            recs.push((i, c));
        }
    }
    let works_with = {
        let mut w: Vec<u32> = faces.faces.iter().map(|f| f.work).collect();
        w.dedup();
        w.len()
    };
    println!(
        "{} faces in {works_with} of {} works ({:.1} %); {} matched to their cache records",
        faces.faces.len(),
        m.works.len(),
        100.0 * works_with as f64 / m.works.len().max(1) as f64,
        recs.len()
    );
    let artist = |i: usize| {
        let a = m.works[faces.faces[i].work as usize].meta.artist.trim().to_lowercase();
        (!a.is_empty() && !a.starts_with("unknown") && a != "anonymous").then_some(a)
    };
    let n = recs.len();
    let idx: Vec<usize> = recs.iter().map(|r| r.0).collect();
    let work_of = |k: usize| faces.faces[idx[k]].work;
    // Artists with faces in at least two works.
    let mut artist_works: HashMap<String, std::collections::HashSet<u32>> = HashMap::new();
    for (k, &i) in idx.iter().enumerate() {
        if let Some(a) = artist(i) {
            artist_works.entry(a).or_default().insert(work_of(k));
        }
    }
    let eligible: Vec<usize> =
        (0..n).filter(|&k| artist(idx[k]).is_some_and(|a| artist_works[&a].len() >= 2)).collect();
    let chance = eligible
        .iter()
        .map(|&k| {
            let a = artist(idx[k]);
            let others = (0..n).filter(|&j| work_of(j) != work_of(k)).count();
            let same = (0..n).filter(|&j| work_of(j) != work_of(k) && artist(idx[j]) == a).count();
            same as f64 / others.max(1) as f64
        })
        .sum::<f64>()
        / eligible.len().max(1) as f64;
    println!(
        "nearest face in another work ({} faces with an artist who has faces in ≥ 2 works; chance of the same artist {:.1} %):",
        eligible.len(),
        100.0 * chance
    );
    let candidates: Vec<(&str, Vec<Vec<f32>>, bool)> = vec![
        (
            "MobileNetV2 features of the aligned crop (1280, cosine)",
            recs.iter().map(|r| r.1.feat.clone()).collect(),
            true,
        ),
        (
            "MobileNetV2 features, PCA-64 (the manifest's embedding, L2)",
            recs.iter().map(|r| faces.faces[r.0].embedding.clone()).collect(),
            false,
        ),
        (
            "face model: CLM shape modes + grey appearance (276, L2)",
            recs.iter().map(|r| r.1.shape.clone()).collect(),
            false,
        ),
        ("face model: CLM shape modes alone (20, L2)", recs.iter().map(|r| r.1.shape[..20].to_vec()).collect(), false),
    ];
    for (name, vecs, cosine) in &candidates {
        let vecs: Vec<Vec<f32>> = if *cosine {
            vecs.iter()
                .map(|v| {
                    let s = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                    v.iter().map(|x| x / s).collect()
                })
                .collect()
        } else {
            vecs.clone()
        };
        let nearest = |k: usize| {
            (0..n)
                .filter(|&j| work_of(j) != work_of(k))
                .map(|j| (j, vecs[k].iter().zip(&vecs[j]).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|e| e.0)
        };
        let nn: Vec<Option<usize>> = (0..n).map(nearest).collect();
        let same_artist = eligible.iter().filter(|&&k| nn[k].is_some_and(|j| artist(idx[j]) == artist(idx[k]))).count();
        let in_hood = (0..n)
            .filter(|&k| nn[k].is_some_and(|j| m.works[work_of(k) as usize].similar.contains(&work_of(j))))
            .count();
        println!(
            "  {name}: same artist {:.1} %, in the work's neighbourhood {:.1} %",
            100.0 * same_artist as f64 / eligible.len().max(1) as f64,
            100.0 * in_hood as f64 / n.max(1) as f64
        );
    }
    // The contact sheet.
    let Some(sheet_path) = rest.first() else { return Ok(()) };
    let sample: usize = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let seed: u64 = rest.get(2).map(|s| s.parse()).transpose()?.unwrap_or(7);
    let mut order: Vec<usize> = (0..recs.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    order.truncate(sample);
    let cell = 128u32;
    let cols = 10u32;
    let rows = (order.len() as u32).div_ceil(cols).max(1);
    let mut sheet = RgbImage::from_pixel(cols * (2 * cell + 6), rows * (cell + 6), Rgb([30, 30, 30]));
    for (t, &k) in order.iter().enumerate() {
        let (i, rec) = recs[k];
        let work = &m.works[faces.faces[i].work as usize];
        let img = image::open(std::path::Path::new(source).join(&work.file))
            .with_context(|| format!("cannot open {}", work.file))?
            .to_rgba8();
        let (w, h) = img.dimensions();
        let mut pic = image::imageops::resize(
            &image::DynamicImage::ImageRgba8(img.clone()).to_rgb8(),
            cell,
            cell,
            image::imageops::FilterType::Triangle,
        );
        let (sx, sy) = (cell as f32 / w as f32, cell as f32 / h as f32);
        let b = [rec.bbox[0] * sx, rec.bbox[1] * sy, rec.bbox[2] * sx, rec.bbox[3] * sy];
        for x in b[0] as i32..=b[2] as i32 {
            for y in [b[1] as i32, b[3] as i32] {
                put(&mut pic, x, y);
            }
        }
        for y in b[1] as i32..=b[3] as i32 {
            for x in [b[0] as i32, b[2] as i32] {
                put(&mut pic, x, y);
            }
        }
        let crop =
            RgbImage::from_raw(cell, cell, aligned_crop(img.as_raw(), w as usize, h as usize, rec.eyes, cell as usize))
                .context("crop")?;
        let (x, y) = ((t as u32 % cols) * (2 * cell + 6), (t as u32 / cols) * (cell + 6));
        image::imageops::replace(&mut sheet, &pic, x.into(), y.into());
        image::imageops::replace(&mut sheet, &crop, (x + cell).into(), y.into());
        println!("sheet {t:3}: {} (face {i}, score {:.2})", work.file, rec.score);
    }
    sheet.save(sheet_path).with_context(|| format!("cannot write {sheet_path}"))?;
    println!("contact sheet of {} random faces: {sheet_path}", order.len());
    Ok(())
}

fn put(img: &mut RgbImage, x: i32, y: i32) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb([255, 40, 40]));
    }
}
