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
        let Some(f) = self.features(rgba, width, height, points71)? else { return Ok(Vec::new()) };
        Ok(faces.embed(&f).map(|e| faces.nearest(&e, k)).unwrap_or_default())
    }
}
