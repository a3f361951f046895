//! "Painted faces like mine": a live face embedded exactly as the build embedded the collection's
//! faces — cut out aligned from its 71 points (`headroom_face::still`), MobileNetV2 features of
//! the crop, the manifest's PCA — and its nearest painted faces. Everything runs here, on this
//! machine; nothing is sent anywhere.

use headroom_face::still::{aligned_crop, eyes_of};

use crate::build::faces::CROP;
use crate::features::{self, MobileNetV2, ModelError};
use crate::manifest::Faces;

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

#[cfg(test)]
mod tests {
    use super::*;

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
