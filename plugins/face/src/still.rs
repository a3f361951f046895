//! Faces in still pictures — paintings, photographs — rather than a tracked video: every face
//! found at several scales (BlazeFace over the whole picture and over overlapping tiles of half
//! its side), each fitted with the face mesh (once from the detector's crop, once more from the
//! mesh's own crop, as a tracker settles), kept when the mesh agrees it is a face, and cut out
//! aligned: eyes level at fixed places, a fixed distance apart ([`aligned_crop`]).

use crate::nn::{BlazeFace, Detection, FaceMesh, NnError, Roi};
use crate::tracker::points71;

/// One face in a still, in picture pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct StillFace {
    /// `[x0, y0, x1, y1]` of the mesh's points.
    pub bbox: [f32; 4],
    /// The detector's score (0…1).
    pub score: f32,
    /// The mesh's face presence (0…1).
    pub presence: f32,
    /// clmtrackr's 71 points, read off the mesh.
    pub points: Vec<[f32; 2]>,
    /// Eye centres: the subject's right eye (on the image's left), then the left.
    pub eyes: [[f32; 2]; 2],
}

/// The aligned crop's geometry, as a share of its side: the eye centres at (0.342, 0.46) and
/// (0.658, 0.46) — the 112-pixel alignment face-recognition models use (ArcFace's eyes at
/// 38.3 and 73.5 px) — so the eyes are 0.316 of the side apart.
pub const EYE_Y: f32 = 0.46;
pub const EYE_SPAN: f32 = 0.316;

/// The crop whose `n × n` sampling puts `eyes` at the aligned places.
pub fn aligned_roi(eyes: [[f32; 2]; 2]) -> Roi {
    let [r, l] = eyes;
    let (dx, dy) = (l[0] - r[0], l[1] - r[1]);
    let rotation = dy.atan2(dx);
    let size = dx.hypot(dy) / EYE_SPAN;
    let mid = [(r[0] + l[0]) / 2.0, (r[1] + l[1]) / 2.0];
    // The crop's centre lies (0.5 − EYE_Y) of its side below the eye line, in the face's frame.
    let down = (0.5 - EYE_Y) * size;
    let (s, c) = rotation.sin_cos();
    Roi { cx: mid[0] - s * down, cy: mid[1] + c * down, size, rotation }
}

/// The face cut out of an RGBA8 picture as `n × n` RGB8 (interleaved), eyes level at the aligned
/// places; outside the picture is black.
pub fn aligned_crop(rgba: &[u8], width: usize, height: usize, eyes: [[f32; 2]; 2], n: usize) -> Vec<u8> {
    let planar = crate::nn::warp::crop_rgb(rgba, width, height, &aligned_roi(eyes), n, 0.0, 255.0);
    let plane = n * n;
    let mut out = vec![0u8; plane * 3];
    for i in 0..plane {
        for c in 0..3 {
            out[i * 3 + c] = planar[c * plane + i].round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Eye centres from 71 points (clmtrackr's pupils, 27 and 32): the subject's right eye first.
pub fn eyes_of(points71: &[[f32; 2]]) -> Option<[[f32; 2]; 2]> {
    let (r, l) = (*points71.get(27)?, *points71.get(32)?);
    (r.iter().chain(&l).all(|v| v.is_finite()) && (r[0] - l[0]).hypot(r[1] - l[1]) > 1.0).then_some([r, l])
}

/// The detector and the mesh, loaded once.
pub struct StillFaces {
    blaze: BlazeFace,
    mesh: FaceMesh,
    map71: Vec<usize>,
    /// Detector score a face needs (BlazeFace's own threshold is 0.5).
    pub min_score: f32,
    /// Mesh presence a face needs.
    pub min_presence: f32,
    /// Faces smaller than this (mesh box side, picture pixels) are left out: too small to align.
    pub min_side: f32,
}

impl StillFaces {
    pub fn new() -> Result<StillFaces, NnError> {
        Ok(StillFaces {
            blaze: BlazeFace::new()?,
            mesh: FaceMesh::new()?,
            map71: crate::tracker::mesh_map_71()?,
            min_score: 0.6,
            min_presence: 0.5,
            min_side: 16.0,
        })
    }

    /// Every face in an RGBA8 picture, best first. A picture too small, or bytes that do not
    /// match its size, give none.
    pub fn find(&self, rgba: &[u8], width: usize, height: usize) -> Result<Vec<StillFace>, NnError> {
        if width < 16 || height < 16 || rgba.len() != width * height * 4 {
            return Ok(Vec::new());
        }
        let mut found: Vec<StillFace> = Vec::new();
        let mut tried: Vec<[f32; 4]> = Vec::new();
        for d in self.detections(rgba, width, height)? {
            // One mesh fit per face: a face seen from several tiles is tried once, best first.
            if d.score < self.min_score || tried.iter().any(|&b| overlap(b, d.bbox) > 0.5) {
                continue;
            }
            tried.push(d.bbox);
            let Some(face) = self.fit(rgba, width, height, &d)? else { continue };
            // The same face from two tiles: keep the first (the better detection).
            if found.iter().any(|f| overlap(f.bbox, face.bbox) > 0.5) {
                continue;
            }
            found.push(face);
        }
        Ok(found)
    }

    /// BlazeFace over the whole picture and over tiles of half its longer side (50 % overlap).
    fn detections(&self, rgba: &[u8], width: usize, height: usize) -> Result<Vec<Detection>, NnError> {
        let mut all = self.blaze.detect(rgba, width, height)?;
        let s = width.max(height) as f32 / 2.0;
        if s >= 48.0 {
            let step = s / 2.0;
            let tiles = |len: usize| ((len as f32 - s).max(0.0) / step).ceil() as usize + 1;
            for iy in 0..tiles(height) {
                for ix in 0..tiles(width) {
                    let cx = (s / 2.0 + ix as f32 * step).min(width as f32 - s / 2.0).max(s / 2.0);
                    let cy = (s / 2.0 + iy as f32 * step).min(height as f32 - s / 2.0).max(s / 2.0);
                    all.extend(self.blaze.detect_in(rgba, width, height, &Roi { cx, cy, size: s, rotation: 0.0 })?);
                }
            }
        }
        all.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(all)
    }

    fn fit(&self, rgba: &[u8], width: usize, height: usize, d: &Detection) -> Result<Option<StillFace>, NnError> {
        let first = self.mesh.fit(rgba, width, height, &d.mesh_roi())?;
        if first.presence < self.min_presence {
            return Ok(None);
        }
        let fit = self.mesh.fit(rgba, width, height, &first.next_roi())?;
        let fit = if fit.presence >= first.presence { fit } else { first };
        let points = points71(&fit, &self.map71);
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &fit.points {
            (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
        }
        let Some(eyes) = eyes_of(&points) else { return Ok(None) };
        let side = (x1 - x0).max(y1 - y0);
        // A mesh mostly outside the picture is a guess, not a face.
        let inside = fit
            .points
            .iter()
            .filter(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] < width as f32 && p[1] < height as f32)
            .count();
        if !side.is_finite() || side < self.min_side || inside * 10 < fit.points.len() * 8 {
            return Ok(None);
        }
        Ok(Some(StillFace { bbox: [x0, y0, x1, y1], score: d.score, presence: fit.presence, points, eyes }))
    }
}

/// Share of the smaller box covered by the other.
fn overlap(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let small = ((a[2] - a[0]) * (a[3] - a[1])).min((b[2] - b[0]) * (b[3] - b[1]));
    if small > 0.0 { ix * iy / small } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &std::path::Path) -> (Vec<u8>, usize, usize) {
        let img = image::open(path).unwrap().into_rgba8();
        let (w, h) = img.dimensions();
        (img.into_raw(), w as usize, h as usize)
    }

    #[test]
    fn the_aligned_crop_puts_the_eyes_where_it_says() {
        // Eyes at a slant: the crop's eye places map back onto them.
        let eyes = [[100.0, 120.0], [160.0, 100.0]];
        let roi = aligned_roi(eyes);
        let n = 112;
        let r = roi.to_frame(n, (0.5 - EYE_SPAN / 2.0) * n as f32, EYE_Y * n as f32);
        let l = roi.to_frame(n, (0.5 + EYE_SPAN / 2.0) * n as f32, EYE_Y * n as f32);
        for (a, b) in [(r, eyes[0]), (l, eyes[1])] {
            assert!((a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3, "{a:?} vs {b:?}");
        }
        assert_eq!(aligned_crop(&[0; 16], 2, 2, eyes, 8).len(), 8 * 8 * 3);
        assert!(eyes_of(&[[0.0, 0.0]; 10]).is_none());
    }

    #[test]
    fn finds_the_one_face_on_each_reference_still_and_none_on_blank_or_bad_input() {
        let faces = StillFaces::new().unwrap();
        for p in crate::tracker::tests::stills() {
            let (rgba, w, h) = load(&p);
            let found = faces.find(&rgba, w, h).unwrap();
            assert_eq!(found.len(), 1, "{}: {} faces", p.display(), found.len());
            let f = &found[0];
            let span = (f.eyes[1][0] - f.eyes[0][0]).hypot(f.eyes[1][1] - f.eyes[0][1]);
            assert!(span > 0.2 * (f.bbox[2] - f.bbox[0]), "{}: eyes {span} px apart", p.display());
            // The eyes: the subject's right on the image's left.
            assert!(f.eyes[0][0] < f.eyes[1][0]);
        }
        // Blank, tiny, grey and mismatched pictures: no faces, no panic.
        assert!(faces.find(&vec![128; 200 * 150 * 4], 200, 150).unwrap().is_empty());
        assert!(faces.find(&[0; 8 * 8 * 4], 8, 8).unwrap().is_empty());
        assert!(faces.find(&[0; 10], 200, 150).unwrap().is_empty());
    }
}
