//! Rotated square crops of an RGBA frame into a network's planar input, and the way back.

/// A square region of the frame: centre and side in frame pixels, rotation in radians (the
/// crop's x axis points along `(cos r, sin r)` in image coordinates, y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub size: f32,
    pub rotation: f32,
}

impl Roi {
    /// Frame position of a point given in crop pixels of an `n`-pixel crop.
    #[inline]
    pub fn to_frame(&self, n: usize, u: f32, v: f32) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        let k = self.size / n as f32;
        let (x, y) = ((u - n as f32 / 2.0) * k, (v - n as f32 / 2.0) * k);
        [self.cx + c * x - s * y, self.cy + s * x + c * y]
    }

    /// Crop-pixel position of a frame point (inverse of [`Roi::to_frame`]).
    #[inline]
    pub fn to_crop(&self, n: usize, x: f32, y: f32) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        let k = n as f32 / self.size;
        let (dx, dy) = (x - self.cx, y - self.cy);
        [(c * dx + s * dy) * k + n as f32 / 2.0, (-s * dx + c * dy) * k + n as f32 / 2.0]
    }

    pub fn is_valid(&self) -> bool {
        self.cx.is_finite()
            && self.cy.is_finite()
            && self.rotation.is_finite()
            && self.size.is_finite()
            && self.size >= 1.0
    }
}

/// Samples `roi` of an RGBA8 frame into an `n × n` planar RGB `f32` input (`[3, n, n]`), each
/// value mapped from `0..=255` onto `lo..=hi`; outside the frame is black (as MediaPipe's
/// zero border). Bilinear, supersampled when the crop shrinks the frame by more than 1.5×.
pub fn crop_rgb(rgba: &[u8], width: usize, height: usize, roi: &Roi, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut out = vec![0f32; 3 * n * n];
    if width == 0 || height == 0 || rgba.len() < width * height * 4 || n == 0 || !roi.is_valid() {
        let v = lo;
        out.iter_mut().for_each(|o| *o = v);
        return out;
    }
    let step = roi.size / n as f32;
    let taps = (step / 1.5).ceil().clamp(1.0, 4.0) as usize;
    let scale = (hi - lo) / 255.0;
    let (s, c) = roi.rotation.sin_cos();
    let plane = n * n;
    let sample = |x: f32, y: f32| -> [f32; 3] {
        // Pixel centres at integer + 0.5.
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (x0, y0) = (fx.floor(), fy.floor());
        let (wx, wy) = (fx - x0, fy - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let mut acc = [0f32; 3];
        for (dy, wyv) in [(0isize, 1.0 - wy), (1, wy)] {
            let yy = y0 + dy;
            if yy < 0 || yy >= height as isize {
                continue;
            }
            for (dx, wxv) in [(0isize, 1.0 - wx), (1, wx)] {
                let xx = x0 + dx;
                if xx < 0 || xx >= width as isize {
                    continue;
                }
                let i = (yy as usize * width + xx as usize) * 4;
                let w = wxv * wyv;
                acc[0] += w * f32::from(rgba[i]);
                acc[1] += w * f32::from(rgba[i + 1]);
                acc[2] += w * f32::from(rgba[i + 2]);
            }
        }
        acc
    };
    let inv = 1.0 / (taps * taps) as f32;
    for v in 0..n {
        for u in 0..n {
            let mut acc = [0f32; 3];
            for ty in 0..taps {
                for tx in 0..taps {
                    let uu = u as f32 + (tx as f32 + 0.5) / taps as f32 - n as f32 / 2.0;
                    let vv = v as f32 + (ty as f32 + 0.5) / taps as f32 - n as f32 / 2.0;
                    let (x, y) = (uu * step, vv * step);
                    let p = sample(roi.cx + c * x - s * y, roi.cy + s * x + c * y);
                    acc[0] += p[0];
                    acc[1] += p[1];
                    acc[2] += p[2];
                }
            }
            let i = v * n + u;
            out[i] = lo + acc[0] * inv * scale;
            out[plane + i] = lo + acc[1] * inv * scale;
            out[2 * plane + i] = lo + acc[2] * inv * scale;
        }
    }
    out
}

/// Planar `[3, h, w]` input from packed RGB8 pixels, mapped onto `lo..=hi`.
pub fn planar_from_rgb(rgb: &[u8], lo: f32, hi: f32) -> Vec<f32> {
    let n = rgb.len() / 3;
    let scale = (hi - lo) / 255.0;
    let mut out = vec![0f32; 3 * n];
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        out[i] = lo + f32::from(p[0]) * scale;
        out[n + i] = lo + f32::from(p[1]) * scale;
        out[2 * n + i] = lo + f32::from(p[2]) * scale;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_maps_there_and_back() {
        let roi = Roi { cx: 120.0, cy: 80.0, size: 90.0, rotation: 0.4 };
        let p = roi.to_frame(192, 30.0, 150.0);
        let q = roi.to_crop(192, p[0], p[1]);
        assert!((q[0] - 30.0).abs() < 1e-3 && (q[1] - 150.0).abs() < 1e-3, "{q:?}");
        // The crop's centre is the roi's centre; its x axis follows the rotation.
        assert_eq!(roi.to_frame(192, 96.0, 96.0), [120.0, 80.0]);
        let e = roi.to_frame(192, 192.0, 96.0);
        assert!(((e[1] - 80.0) / (e[0] - 120.0) - 0.4f32.tan()).abs() < 1e-4);
    }

    #[test]
    fn an_unrotated_crop_of_the_whole_image_is_the_image() {
        // 4×4 image, crop the whole of it at 4×4: identical pixels.
        let rgba: Vec<u8> = (0..16).flat_map(|i| [i as u8 * 10, 255 - i as u8 * 10, 7, 255]).collect();
        let roi = Roi { cx: 2.0, cy: 2.0, size: 4.0, rotation: 0.0 };
        let out = crop_rgb(&rgba, 4, 4, &roi, 4, 0.0, 255.0);
        for i in 0..16 {
            assert!((out[i] - (i as f32 * 10.0)).abs() < 1e-3, "{i}: {}", out[i]);
            assert!((out[32 + i] - 7.0).abs() < 1e-3);
        }
        // Outside the frame: black, i.e. `lo`.
        let far = Roi { cx: 1000.0, cy: 1000.0, size: 4.0, rotation: 0.0 };
        assert!(crop_rgb(&rgba, 4, 4, &far, 4, -1.0, 1.0).iter().all(|&v| v == -1.0));
        // Bad sizes give a blank input, no panic.
        assert_eq!(crop_rgb(&rgba[..10], 4, 4, &roi, 4, 0.0, 1.0).len(), 48);
        let nan = Roi { cx: f32::NAN, ..roi };
        assert!(crop_rgb(&rgba, 4, 4, &nan, 4, 0.0, 1.0).iter().all(|&v| v == 0.0));
    }
}
