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
    let (wi, hi) = (width as isize, height as isize);
    // Below these, a sample's 2×2 pixels are all inside the frame.
    let (xlim, ylim) = ((width - 1) as f32, (height - 1) as f32);
    let sample = |x: f32, y: f32| -> [f32; 3] {
        // Pixel centres at integer + 0.5.
        let (fx, fy) = (x - 0.5, y - 0.5);
        if fx >= 0.0 && fy >= 0.0 && fx < xlim && fy < ylim {
            // All four pixels inside (nearly every sample): truncation is the floor here, and
            // no checks per tap.
            // SAFETY: 0 ≤ fx < width − 1 and 0 ≤ fy < height − 1 (checked just above; false
            // for NaN), so both truncate to in-range integers.
            let (x0, y0) = unsafe { (fx.to_int_unchecked::<u32>() as usize, fy.to_int_unchecked::<u32>() as usize) };
            let (wx, wy) = (fx - x0 as f32, fy - y0 as f32);
            let i = (y0 * width + x0) * 4;
            let j = i + width * 4;
            let (a, b) = (&rgba[i..i + 8], &rgba[j..j + 8]);
            let (w00, w01, w10, w11) = ((1.0 - wx) * (1.0 - wy), wx * (1.0 - wy), (1.0 - wx) * wy, wx * wy);
            let px = |c: usize| {
                w00 * f32::from(a[c]) + w01 * f32::from(a[c + 4]) + w10 * f32::from(b[c]) + w11 * f32::from(b[c + 4])
            };
            return [px(0), px(1), px(2)];
        }
        let (x0, y0) = (floor(fx), floor(fy));
        let (wx, wy) = (fx - x0 as f32, fy - y0 as f32);
        let mut acc = [0f32; 3];
        for (dy, wyv) in [(0isize, 1.0 - wy), (1, wy)] {
            let yy = y0 + dy;
            if yy < 0 || yy >= hi {
                continue;
            }
            for (dx, wxv) in [(0isize, 1.0 - wx), (1, wx)] {
                let xx = x0 + dx;
                if xx < 0 || xx >= wi {
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
    // Frame position of crop point (u, v) = origin + u·du + v·dv, stepped along each row.
    let (dux, duy, dvx, dvy) = (c * step, s * step, -s * step, c * step);
    let half = n as f32 / 2.0;
    let k = inv * scale;
    for v in 0..n {
        for ty in 0..taps {
            let vv = v as f32 + (ty as f32 + 0.5) / taps as f32 - half;
            for tx in 0..taps {
                let u0 = (tx as f32 + 0.5) / taps as f32 - half;
                let (x0, y0) = (roi.cx + u0 * dux + vv * dvx, roi.cy + u0 * duy + vv * dvy);
                let first = ty == 0 && tx == 0;
                for u in 0..n {
                    let p = sample(x0 + u as f32 * dux, y0 + u as f32 * duy);
                    let i = v * n + u;
                    if first {
                        out[i] = p[0];
                        out[plane + i] = p[1];
                        out[2 * plane + i] = p[2];
                    } else {
                        out[i] += p[0];
                        out[plane + i] += p[1];
                        out[2 * plane + i] += p[2];
                    }
                }
            }
        }
        for ch in 0..3 {
            for o in &mut out[ch * plane + v * n..ch * plane + (v + 1) * n] {
                *o = lo + *o * k;
            }
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

/// `x.floor()` as an integer, without the library call `f32::floor` is on targets without
/// SSE4.1; saturates far outside the frame, where only "outside" matters.
#[inline(always)]
fn floor(x: f32) -> isize {
    let t = x as isize;
    if (t as f32) > x { t - 1 } else { t }
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
