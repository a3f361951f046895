//! Thumbnails packed into texture atlases.
//!
//! Each tier (longest side 128, 256, …) packs its thumbnails into square-celled grids on atlases of
//! at most `max_side`² pixels. A cell is the tier size plus a 1-pixel gutter on every side, filled
//! by repeating the thumbnail's edge, so mipmapped and filtered sampling never bleeds between works.
//! Aspect ratios are kept: a thumbnail occupies `w × h` ≤ tier × tier at its cell's top-left
//! (after the gutter), and its exact pixel rectangle is recorded.

use image::{RgbImage, RgbaImage};
use serde::{Deserialize, Serialize};

/// Atlas file encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AtlasFormat {
    Png,
    /// Much smaller for photographs and paintings (used for the bundled demo collection).
    Jpeg,
}

impl AtlasFormat {
    pub fn extension(self) -> &'static str {
        match self {
            AtlasFormat::Png => "png",
            AtlasFormat::Jpeg => "jpg",
        }
    }
}

/// Where one thumbnail lies: atlas index and pixel rectangle [x, y, w, h].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtlasRect {
    pub atlas: u32,
    pub rect: [u32; 4],
}

/// Thumbnail size (longest side = `tier`, aspect kept, never upscaled beyond `source`).
pub fn thumb_size(w: u32, h: u32, tier: u32) -> (u32, u32) {
    let longest = w.max(h).max(1);
    let target = tier.min(longest).max(1);
    let s = target as f64 / longest as f64;
    (((w as f64 * s).round() as u32).clamp(1, tier), ((h as f64 * s).round() as u32).clamp(1, tier))
}

/// Makes a thumbnail of the given tier from an RGB image.
pub fn thumbnail(img: &RgbImage, tier: u32) -> RgbImage {
    let (w, h) = thumb_size(img.width(), img.height(), tier);
    if (w, h) == img.dimensions() {
        return img.clone();
    }
    image::imageops::resize(img, w, h, image::imageops::FilterType::CatmullRom)
}

/// Grid geometry of one tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub tier: u32,
    pub cell: u32,
    pub cols: u32,
    pub per_atlas: u32,
    pub max_side: u32,
}

impl Grid {
    pub fn new(tier: u32, max_side: u32) -> Self {
        let cell = tier + 2;
        let cols = (max_side / cell).max(1);
        Self { tier, cell, cols, per_atlas: cols * cols, max_side }
    }

    pub fn atlas_count(&self, n: usize) -> usize {
        n.div_ceil(self.per_atlas as usize)
    }

    /// Atlas pixel size for atlas `a` of `n` thumbnails (the last one is only as tall as needed).
    pub fn atlas_size(&self, a: usize, n: usize) -> (u32, u32) {
        let in_this = (n - a * self.per_atlas as usize).min(self.per_atlas as usize) as u32;
        let cols = self.cols.min(in_this.max(1));
        let rows = in_this.div_ceil(self.cols).max(1);
        (cols * self.cell, rows * self.cell)
    }

    /// The cell of thumbnail `i`: (atlas, x, y) of the thumbnail's top-left pixel (inside the gutter).
    pub fn place(&self, i: usize) -> (u32, u32, u32) {
        let a = (i / self.per_atlas as usize) as u32;
        let k = (i % self.per_atlas as usize) as u32;
        (a, (k % self.cols) * self.cell + 1, (k / self.cols) * self.cell + 1)
    }
}

/// Builds atlas `a` of a tier from the thumbnails (in work order) and returns it with the rects of
/// the thumbnails it holds.
pub fn build_atlas(grid: &Grid, a: usize, thumbs: &[RgbImage]) -> (RgbaImage, Vec<AtlasRect>) {
    let (w, h) = grid.atlas_size(a, thumbs.len());
    let mut atlas = RgbaImage::from_pixel(w, h, image::Rgba([0, 0, 0, 0]));
    let start = a * grid.per_atlas as usize;
    let end = (start + grid.per_atlas as usize).min(thumbs.len());
    let mut rects = Vec::with_capacity(end - start);
    for (i, t) in thumbs.iter().enumerate().take(end).skip(start) {
        let (ai, x, y) = grid.place(i);
        let (tw, th) = t.dimensions();
        // Thumbnail plus a 1-pixel gutter of repeated edge pixels.
        for gy in -1..=th as i64 {
            for gx in -1..=tw as i64 {
                let sx = gx.clamp(0, tw as i64 - 1) as u32;
                let sy = gy.clamp(0, th as i64 - 1) as u32;
                let p = t.get_pixel(sx, sy);
                atlas.put_pixel((x as i64 + gx) as u32, (y as i64 + gy) as u32, image::Rgba([p[0], p[1], p[2], 255]));
            }
        }
        rects.push(AtlasRect { atlas: ai, rect: [x, y, tw, th] });
    }
    (atlas, rects)
}

/// Encodes an RGB image (a cached thumbnail) as PNG.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Encodes an atlas.
pub fn encode(atlas: &RgbaImage, format: AtlasFormat) -> Result<Vec<u8>, image::ImageError> {
    let mut out = std::io::Cursor::new(Vec::new());
    match format {
        AtlasFormat::Png => atlas.write_to(&mut out, image::ImageFormat::Png)?,
        AtlasFormat::Jpeg => {
            let rgb = image::DynamicImage::ImageRgba8(atlas.clone()).to_rgb8();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            rgb.write_with_encoder(enc)?;
        }
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_aspect_and_never_upscale() {
        assert_eq!(thumb_size(400, 200, 128), (128, 64));
        assert_eq!(thumb_size(200, 400, 256), (128, 256));
        assert_eq!(thumb_size(50, 20, 128), (50, 20));
        assert_eq!(thumb_size(10_000, 1, 128), (128, 1));
    }

    #[test]
    fn atlases_hold_every_thumbnail_at_its_rect_with_a_gutter() {
        let grid = Grid::new(16, 64); // cell 18 → 3×3 per atlas
        let thumbs: Vec<RgbImage> = (0..11u8)
            .map(|i| RgbImage::from_pixel(16 - (i as u32 % 3) * 4, 16 - (i as u32 % 2) * 6, image::Rgb([i * 20, 7, 9])))
            .collect();
        assert_eq!(grid.atlas_count(thumbs.len()), 2);
        let mut seen = 0;
        for a in 0..2 {
            let (atlas, rects) = build_atlas(&grid, a, &thumbs);
            assert!(atlas.width() <= 64 && atlas.height() <= 64);
            for (k, r) in rects.iter().enumerate() {
                let i = a * 9 + k;
                assert_eq!(r.atlas as usize, a);
                let [x, y, w, h] = r.rect;
                assert_eq!((w, h), thumbs[i].dimensions());
                for (px, py) in [(x, y), (x + w - 1, y + h - 1), (x - 1, y - 1), (x + w, y + h)] {
                    assert_eq!(atlas.get_pixel(px, py)[0], i as u8 * 20, "thumb {i} at ({px},{py})");
                }
                seen += 1;
            }
        }
        assert_eq!(seen, 11);
        assert_eq!(grid.atlas_size(1, 11), (36, 18));
    }
}
