//! Faces found in a folder of pictures, for looking at: `cargo run -p headroom-gallery
//! --example face_sheet -- DIR OUT.png [SAMPLE] [SEED]`. Takes SAMPLE pictures of DIR at random
//! (seeded; all when SAMPLE is 0), finds their faces as the gallery build does
//! (`headroom_face::still`), prints how many and how fast, and writes a contact sheet: each face
//! as its picture with the face boxed beside the aligned crop, numbered in the order printed.

use std::time::Instant;

use anyhow::Context;
use headroom_face::still::{StillFaces, aligned_crop};
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand::seq::SliceRandom;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: face_sheet DIR OUT.png [SAMPLE] [SEED]");
    };
    let sample: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let seed: u64 = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let (found, _) = headroom_gallery::ingest::scan(std::path::Path::new(dir)).context("scan")?;
    let mut files: Vec<_> = found.into_iter().collect();
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    if sample > 0 {
        files.truncate(sample);
    }
    let finder = StillFaces::new()?;
    let cell = 128u32;
    let mut tiles: Vec<(RgbImage, RgbImage)> = Vec::new();
    let t0 = Instant::now();
    let mut with_faces = 0;
    for f in &files {
        let Ok(img) = headroom_gallery::ingest::decode(&f.path, f.size) else { continue };
        let rgba = img.to_rgba8();
        let (w, h) = (rgba.width() as usize, rgba.height() as usize);
        let faces = finder.find(rgba.as_raw(), w, h)?;
        with_faces += usize::from(!faces.is_empty());
        for face in faces {
            let n = tiles.len();
            println!(
                "{n:4} {} score {:.2} presence {:.2} box {:.0}×{:.0}",
                f.rel,
                face.score,
                face.presence,
                face.bbox[2] - face.bbox[0],
                face.bbox[3] - face.bbox[1]
            );
            let mut pic = image::imageops::resize(&img.to_rgb8(), cell, cell, image::imageops::FilterType::Triangle);
            let (sx, sy) = (cell as f32 / w as f32, cell as f32 / h as f32);
            let b = [face.bbox[0] * sx, face.bbox[1] * sy, face.bbox[2] * sx, face.bbox[3] * sy];
            for t in 0..2 {
                let t = t as f32;
                for x in b[0] as i32..=b[2] as i32 {
                    for y in [b[1] - t, b[3] + t] {
                        put(&mut pic, x, y as i32);
                    }
                }
                for y in b[1] as i32..=b[3] as i32 {
                    for x in [b[0] - t, b[2] + t] {
                        put(&mut pic, x as i32, y);
                    }
                }
            }
            let crop = RgbImage::from_raw(cell, cell, aligned_crop(rgba.as_raw(), w, h, face.eyes, cell as usize))
                .context("crop")?;
            tiles.push((pic, crop));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} pictures: {} faces in {with_faces} of them; {:.1} ms per picture",
        files.len(),
        tiles.len(),
        1000.0 * secs / files.len().max(1) as f64
    );
    let cols = 8u32;
    let rows = (tiles.len() as u32).div_ceil(cols).max(1);
    let mut sheet = RgbImage::from_pixel(cols * (2 * cell + 8), rows * (cell + 8), Rgb([30, 30, 30]));
    for (k, (pic, crop)) in tiles.iter().enumerate() {
        let (x, y) = ((k as u32 % cols) * (2 * cell + 8), (k as u32 / cols) * (cell + 8));
        image::imageops::replace(&mut sheet, pic, x.into(), y.into());
        image::imageops::replace(&mut sheet, crop, (x + cell).into(), y.into());
    }
    sheet.save(out).with_context(|| format!("cannot write {out}"))?;
    println!("contact sheet: {out} ({cols} faces a row, in the order above)");
    Ok(())
}

fn put(img: &mut RgbImage, x: i32, y: i32) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb([255, 40, 40]));
    }
}
