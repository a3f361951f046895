//! "Painted faces like mine": a live face embedded exactly as the build embedded the collection's
//! faces — cut out aligned from its 71 points (`headroom_face::still`), MobileNetV2 features of
//! the crop, the manifest's PCA — and its nearest painted faces. Everything runs here, on this
//! machine; nothing is sent anywhere.

use headroom_face::still::{EYE_SPAN, EYE_Y, aligned_crop, aligned_roi, eyes_of};

use crate::build::faces::CROP;
use crate::features::{self, MobileNetV2, ModelError};
use crate::manifest::{Faces, Work};

/// The network, loaded once.
pub struct FaceEmbedder {
    net: MobileNetV2,
}

impl FaceEmbedder {
    pub fn new(weights: &[u8]) -> Result<FaceEmbedder, ModelError> {
        Ok(FaceEmbedder { net: MobileNetV2::from_bytes(weights)? })
    }

    /// The features of the face whose 71 points are `points71` in an RGBA8 frame; `None` when
    /// the points do not give two eyes apart or the frame does not match its size.
    pub fn features(
        &self,
        rgba: &[u8],
        width: usize,
        height: usize,
        points71: &[[f32; 2]],
    ) -> Result<Option<Vec<f32>>, ModelError> {
        let Some(eyes) = eyes_of(points71) else { return Ok(None) };
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return Ok(None);
        }
        let crop = aligned_crop(rgba, width, height, eyes, CROP);
        let Some(img) = image::RgbImage::from_raw(CROP as u32, CROP as u32, crop) else { return Ok(None) };
        let Ok(input) = features::preprocess(&image::DynamicImage::ImageRgb8(img)) else { return Ok(None) };
        Ok(self.net.features_rgb(&[&input])?.into_iter().next())
    }

    /// The live face's embedding in the collection's face space (`None`: no usable face).
    pub fn embed(
        &self,
        faces: &Faces,
        rgba: &[u8],
        width: usize,
        height: usize,
        points71: &[[f32; 2]],
    ) -> Result<Option<Vec<f32>>, ModelError> {
        Ok(self.features(rgba, width, height, points71)?.and_then(|f| faces.embed(&f)))
    }

    /// The `k` painted faces nearest to the live face (face index, distance), nearest first.
    pub fn likeness(
        &self,
        faces: &Faces,
        rgba: &[u8],
        width: usize,
        height: usize,
        points71: &[[f32; 2]],
        k: usize,
    ) -> Result<Vec<(usize, f32)>, ModelError> {
        Ok(self.embed(faces, rgba, width, height, points71)?.map(|e| faces.nearest(&e, k)).unwrap_or_default())
    }
}

/// The live embedding smoothed over updates (an exponential moving average), so the neighbours
/// hold while the face holds still and follow when it turns; forgotten when the face is lost.
#[derive(Clone, Debug, Default)]
pub struct Smoothed {
    mean: Option<Vec<f32>>,
}

impl Smoothed {
    /// Weight of the newest embedding.
    pub const ALPHA: f32 = 0.35;

    pub fn update(&mut self, e: &[f32]) -> &[f32] {
        match &mut self.mean {
            Some(m) if m.len() == e.len() => {
                for (a, b) in m.iter_mut().zip(e) {
                    *a += Self::ALPHA * (b - *a);
                }
            }
            _ => self.mean = Some(e.to_vec()),
        }
        self.mean.get_or_insert_with(|| e.to_vec())
    }

    pub fn reset(&mut self) {
        self.mean = None;
    }
}

/// A painted face to wear in Face Lab ("become this painting"): its aligned crop, enlarged, and
/// where its 71 points are in it. The gallery does not know Face Lab; the app hands it over.
#[derive(Clone, Debug, PartialEq)]
pub struct PaintedFace {
    /// The work's title (or file name).
    pub name: String,
    /// Artist and year, as the work panel shows them.
    pub credit: String,
    pub width: u32,
    pub height: u32,
    /// RGBA8, `width × height`.
    pub rgba: Vec<u8>,
    /// clmtrackr's 71 points in `rgba`'s pixels.
    pub points: Vec<[f32; 2]>,
}

/// Side of a [`PaintedFace`]'s image: the atlas crop enlarged, so the swap and the mask sample a
/// face about the size of one on camera rather than 64 pixels.
pub const PAINTED_SIDE: u32 = 256;

impl PaintedFace {
    /// Face `k` of `faces`, cut from its face atlas (RGBA8, `atlas_size`): the crop is where the
    /// build put it, and the face's 71 points (source pixels of its work) map into it through the
    /// same alignment ([`aligned_roi`] of its eyes). `None` when the face, its atlas rectangle or
    /// its eyes do not hold.
    pub fn from_atlas(faces: &Faces, k: usize, work: &Work, atlas: &[u8], atlas_size: [u32; 2]) -> Option<PaintedFace> {
        let f = faces.faces.get(k)?;
        let [aw, ah] = atlas_size;
        if atlas.len() != aw as usize * ah as usize * 4 {
            return None;
        }
        let [x, y, w, h] = f.thumb.rect;
        if w == 0 || h == 0 || x.checked_add(w)? > aw || y.checked_add(h)? > ah {
            return None;
        }
        let img = image::RgbaImage::from_raw(aw, ah, atlas.to_vec())?;
        let crop = image::imageops::crop_imm(&img, x, y, w, h).to_image();
        let side = PAINTED_SIDE;
        let big = image::imageops::resize(&crop, side, side, image::imageops::FilterType::CatmullRom);
        let roi = aligned_roi(eyes_of(&f.landmarks)?);
        let points: Vec<[f32; 2]> = f.landmarks.iter().map(|p| roi.to_crop(side as usize, p[0], p[1])).collect();
        if points.len() != 71 || !points.iter().flatten().all(|v| v.is_finite()) {
            return None;
        }
        let name = if work.meta.title.is_empty() { work.file.clone() } else { work.meta.title.clone() };
        let year = work.meta.year.map(|y| format!(", {y}")).unwrap_or_default();
        let credit = format!("{}{year} (painted face {} of this collection)", work.meta.artist, k + 1);
        Some(PaintedFace { name, credit, width: side, height: side, rgba: big.into_raw(), points })
    }

    /// Where the aligned crop puts the eyes (the subject's right first), in this image's pixels.
    pub fn aligned_eyes(&self) -> [[f32; 2]; 2] {
        let s = self.width as f32;
        [[(0.5 - EYE_SPAN / 2.0) * s, EYE_Y * s], [(0.5 + EYE_SPAN / 2.0) * s, EYE_Y * s]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_painted_face_comes_out_of_its_atlas_with_its_points_where_its_crop_put_them() {
        use crate::atlas::{AtlasFormat, AtlasRect};
        use crate::manifest::{Face, Tier};
        // A tilted face in a work: eyes at (100, 120) and (160, 100); the other points about them.
        let (r, l) = ([100.0f32, 120.0], [160.0f32, 100.0]);
        let mut landmarks: Vec<[f32; 2]> = (0..71).map(|i| [110.0 + i as f32 * 0.5, 140.0 + (i % 7) as f32]).collect();
        landmarks[27] = r;
        landmarks[32] = l;
        // The build's crop of it: 64 px at (10, 4) of a 96 × 80 atlas, the eyes painted white.
        let (aw, ah) = (96u32, 80u32);
        let mut atlas = vec![40u8; (aw * ah * 4) as usize];
        let roi = aligned_roi([r, l]);
        for (i, e) in [r, l].iter().enumerate() {
            let c = roi.to_crop(64, e[0], e[1]);
            let (cx, cy) = (10 + c[0].round() as u32, 4 + c[1].round() as u32);
            for dy in 0..3 {
                for dx in 0..3 {
                    let o = (((cy + dy - 1) * aw + cx + dx - 1) * 4) as usize;
                    atlas[o..o + 4].copy_from_slice(&[255, 255, 255 - i as u8, 255]);
                }
            }
        }
        let faces = Faces {
            model: "t".into(),
            crop: 112,
            atlas: Tier {
                size: 64,
                format: AtlasFormat::Jpeg,
                atlases: vec!["f.jpg".into()],
                atlas_sizes: vec![[aw, ah]],
            },
            pca_mean: vec![0.0],
            pca_components: vec![1.0],
            dims: 1,
            faces: vec![Face {
                work: 0,
                bbox: [90.0, 80.0, 170.0, 180.0],
                score: 0.9,
                landmarks: landmarks.clone(),
                thumb: AtlasRect { atlas: 0, rect: [10, 4, 64, 64] },
                embedding: vec![0.0],
                pos3: [0.0; 3],
            }],
        };
        let mut work = crate::view::tests::manifest(1).works.remove(0);
        work.meta.title = "Portrait".into();
        let p = PaintedFace::from_atlas(&faces, 0, &work, &atlas, [aw, ah]).unwrap();
        assert_eq!(
            (p.width, p.height, p.rgba.len()),
            (PAINTED_SIDE, PAINTED_SIDE, (PAINTED_SIDE * PAINTED_SIDE * 4) as usize)
        );
        assert_eq!(p.name, "Portrait");
        // The eyes land on the aligned places: level, EYE_SPAN of the side apart.
        let [er, el] = p.aligned_eyes();
        for (got, want) in [(p.points[27], er), (p.points[32], el)] {
            assert!((got[0] - want[0]).abs() < 0.01 && (got[1] - want[1]).abs() < 0.01, "{got:?} vs {want:?}");
        }
        // …and in the enlarged image the white dots are there (within the enlargement's blur).
        let px = |q: [f32; 2]| {
            let o = ((q[1].round() as u32 * p.width + q[0].round() as u32) * 4) as usize;
            p.rgba[o]
        };
        assert!(px(er) > 150 && px(el) > 150, "{} {}", px(er), px(el));
        assert!(px([p.width as f32 / 2.0, p.height as f32 * 0.8]) < 60);
        // Every point went through the same similarity: distances scale by side / roi size.
        let k = PAINTED_SIDE as f32 / roi.size;
        let d = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
        assert!((d(p.points[0], p.points[70]) - k * d(landmarks[0], landmarks[70])).abs() < 1e-3);
        // Bad input: a face that is not there, an atlas of the wrong size, no eyes.
        assert!(PaintedFace::from_atlas(&faces, 1, &work, &atlas, [aw, ah]).is_none());
        assert!(PaintedFace::from_atlas(&faces, 0, &work, &atlas[4..], [aw, ah]).is_none());
        let mut blind = faces.clone();
        blind.faces[0].landmarks[32] = blind.faces[0].landmarks[27];
        assert!(PaintedFace::from_atlas(&blind, 0, &work, &atlas, [aw, ah]).is_none());
    }

    #[test]
    fn the_smoothed_embedding_follows_with_a_lag_and_forgets_on_reset() {
        let mut s = Smoothed::default();
        assert_eq!(s.update(&[0.0, 2.0]), &[0.0, 2.0]);
        let v = s.update(&[1.0, 2.0]).to_vec();
        assert!((v[0] - Smoothed::ALPHA).abs() < 1e-6 && v[1] == 2.0);
        for _ in 0..40 {
            s.update(&[1.0, 2.0]);
        }
        assert!((s.update(&[1.0, 2.0])[0] - 1.0).abs() < 1e-4);
        s.reset();
        assert_eq!(s.update(&[5.0]), &[5.0]);
    }
}
