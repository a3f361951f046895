//! Image basics for tracking: luma conversion, bilinear resize, integral images, bounded crops.
//! Plain Rust on `u8`/`f32` buffers; nothing here allocates per pixel.

/// An 8-bit greyscale image, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Gray {
    pub fn new(width: usize, height: usize) -> Self {
        Gray { width, height, data: vec![0; width * height] }
    }

    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> u8) -> Self {
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                data.push(f(x, y));
            }
        }
        Gray { width, height, data }
    }

    /// Luma from packed RGBA8 with OpenCV's weights (0.299, 0.587, 0.114) in 16-bit fixed point.
    /// `None` if the buffer is not `width × height × 4` bytes.
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Option<Self> {
        if rgba.len() != width.checked_mul(height)?.checked_mul(4)? {
            return None;
        }
        let data = rgba
            .chunks_exact(4)
            .map(|p| ((19595 * u32::from(p[0]) + 38470 * u32::from(p[1]) + 7471 * u32::from(p[2]) + 32768) >> 16) as u8)
            .collect();
        Some(Gray { width, height, data })
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width + x]
    }

    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Bilinear resize with pixel centres aligned (as OpenCV's `INTER_LINEAR`), rounding to
    /// nearest. Returns an empty image for a zero target size.
    pub fn resize(&self, width: usize, height: usize) -> Gray {
        let mut out = Gray::new(width, height);
        if self.is_empty() || width == 0 || height == 0 {
            return out;
        }
        let sx = self.width as f32 / width as f32;
        let sy = self.height as f32 / height as f32;
        // Precompute horizontal taps once.
        let xs: Vec<(usize, usize, f32)> = (0..width)
            .map(|x| {
                let fx = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
                let x0 = (fx as usize).min(self.width - 1);
                let x1 = (x0 + 1).min(self.width - 1);
                (x0, x1, fx - x0 as f32)
            })
            .collect();
        for y in 0..height {
            let fy = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
            let y0 = (fy as usize).min(self.height - 1);
            let y1 = (y0 + 1).min(self.height - 1);
            let wy = fy - y0 as f32;
            let r0 = &self.data[y0 * self.width..(y0 + 1) * self.width];
            let r1 = &self.data[y1 * self.width..(y1 + 1) * self.width];
            let row = &mut out.data[y * width..(y + 1) * width];
            for (o, &(x0, x1, wx)) in row.iter_mut().zip(&xs) {
                let top = f32::from(r0[x0]) + (f32::from(r0[x1]) - f32::from(r0[x0])) * wx;
                let bot = f32::from(r1[x0]) + (f32::from(r1[x1]) - f32::from(r1[x0])) * wx;
                *o = (top + (bot - top) * wy + 0.5) as u8;
            }
        }
        out
    }

    /// Scales so that the longer side is `longest` pixels (never enlarges). Returns the image
    /// and the factor from the new image back to this one.
    pub fn fit_within(&self, longest: usize) -> (Gray, f32) {
        let long = self.width.max(self.height);
        if long <= longest || long == 0 {
            return (self.clone(), 1.0);
        }
        let s = longest as f32 / long as f32;
        let w = ((self.width as f32 * s).round() as usize).max(1);
        let h = ((self.height as f32 * s).round() as usize).max(1);
        (self.resize(w, h), self.width as f32 / w as f32)
    }

    /// The part of the image inside `(x, y, w, h)`, clipped to the image; `None` if nothing is
    /// left after clipping.
    pub fn crop(&self, x: i64, y: i64, w: i64, h: i64) -> Option<Gray> {
        let x0 = x.clamp(0, self.width as i64) as usize;
        let y0 = y.clamp(0, self.height as i64) as usize;
        let x1 = (x.saturating_add(w)).clamp(0, self.width as i64) as usize;
        let y1 = (y.saturating_add(h)).clamp(0, self.height as i64) as usize;
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let mut out = Gray::new(x1 - x0, y1 - y0);
        for (row, yy) in (y0..y1).enumerate() {
            out.data[row * out.width..(row + 1) * out.width]
                .copy_from_slice(&self.data[yy * self.width + x0..yy * self.width + x1]);
        }
        Some(out)
    }

    /// Bilinear sample at a point in pixel-edge coordinates (pixel (i, j) covers
    /// [i, i + 1) × [j, j + 1), its value at (i + ½, j + ½)), the coordinates of the trackers'
    /// points, clmtrackr's canvas and MediaPipe.
    #[inline]
    pub fn sample_at(&self, x: f32, y: f32) -> f32 {
        self.sample(x - 0.5, y - 0.5)
    }

    /// Bilinear sample at a real-valued position with pixel centres at whole numbers; positions
    /// outside read the nearest edge pixel.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let xf = x.clamp(0.0, (self.width - 1) as f32);
        let yf = y.clamp(0.0, (self.height - 1) as f32);
        let x0 = xf as usize;
        let y0 = yf as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let (wx, wy) = (xf - x0 as f32, yf - y0 as f32);
        let p = |xx, yy| f32::from(self.get(xx, yy));
        let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * wx;
        let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * wx;
        top + (bot - top) * wy
    }
}

/// A greyscale image as `f32`, for the fitter's many bilinear reads (converted once per frame,
/// so each sample reads four floats instead of converting four bytes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GrayF32 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl GrayF32 {
    /// Refills from `img`, reusing the allocation.
    pub fn fill_from(&mut self, img: &Gray) {
        self.width = img.width;
        self.height = img.height;
        self.data.clear();
        self.data.extend(img.data.iter().map(|&v| f32::from(v)));
    }

    /// `out[k] = sample(x0 + k·dx, y0 + k·dy)`: one straight row of bilinear samples (the
    /// fitter's patches); positions outside read the nearest edge pixel. An empty image gives 0.
    pub fn sample_row(&self, x0: f32, y0: f32, dx: f32, dy: f32, out: &mut [f32]) {
        if self.width == 0 || self.height == 0 {
            out.iter_mut().for_each(|o| *o = 0.0);
            return;
        }
        let (maxx, maxy) = ((self.width - 1) as f32, (self.height - 1) as f32);
        let n = out.len() as f32 - 1.0;
        let (x1e, y1e) = (x0 + dx * n, y0 + dy * n);
        // Fast path: the whole row lies inside, one pixel from the right and bottom edges.
        let inside = |x: f32, y: f32| x >= 0.0 && y >= 0.0 && x < maxx - 1.0 && y < maxy - 1.0;
        if inside(x0, y0) && inside(x1e, y1e) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA; the row is inside (checked above).
                unsafe { self.sample_inside_avx2(x0, y0, dx, dy, out) };
                return;
            }
            // SAFETY: the row is inside (checked above).
            unsafe { self.sample_inside(x0, y0, dx, dy, out) };
            return;
        }
        let data = &self.data[..];
        let w = self.width;
        for (k, o) in out.iter_mut().enumerate() {
            let xf = (x0 + dx * k as f32).clamp(0.0, maxx);
            let yf = (y0 + dy * k as f32).clamp(0.0, maxy);
            let (xi, yi) = (xf as usize, yf as usize);
            let (fx, fy) = (xf - xi as f32, yf - yi as f32);
            let x1 = if xi + 1 < w { xi + 1 } else { xi };
            let y1 = if yi + 1 < self.height { yi + 1 } else { yi };
            let (r0, r1) = (yi * w, y1 * w);
            // Indices are within the image: xi, x1 < width and yi, y1 < height after clamping.
            let (p00, p01, p10, p11) = (data[r0 + xi], data[r0 + x1], data[r1 + xi], data[r1 + x1]);
            let top = p00 + (p01 - p00) * fx;
            let bot = p10 + (p11 - p10) * fx;
            *o = top + (bot - top) * fy;
        }
    }

    /// The fast path compiled for AVX2 (the loop becomes 8-wide gathers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sample_inside_avx2(&self, x0: f32, y0: f32, dx: f32, dy: f32, out: &mut [f32]) {
        // SAFETY: forwarded from the caller.
        unsafe { self.sample_inside(x0, y0, dx, dy, out) }
    }

    /// # Safety
    /// Both ends of the row must be at least one pixel inside the right and bottom edges and
    /// not left of or above the image.
    #[inline(always)]
    unsafe fn sample_inside(&self, x0: f32, y0: f32, dx: f32, dy: f32, out: &mut [f32]) {
        let w = self.width;
        let data = &self.data[..];
        for (k, o) in out.iter_mut().enumerate() {
            let (xf, yf) = (x0 + dx * k as f32, y0 + dy * k as f32);
            // SAFETY: 0 ≤ xf, yf < the image size (both ends of the segment are inside, and
            // the segment is straight), so the truncating casts are in range and i, i + 1,
            // i + w, i + w + 1 are in bounds.
            unsafe {
                let (xi, yi) = (xf.to_int_unchecked::<i32>(), yf.to_int_unchecked::<i32>());
                let (fx, fy) = (xf - xi as f32, yf - yi as f32);
                let i = yi as usize * w + xi as usize;
                let (p00, p01, p10, p11) = (
                    *data.get_unchecked(i),
                    *data.get_unchecked(i + 1),
                    *data.get_unchecked(i + w),
                    *data.get_unchecked(i + w + 1),
                );
                let top = p00 + (p01 - p00) * fx;
                let bot = p10 + (p11 - p10) * fx;
                *o = top + (bot - top) * fy;
            }
        }
    }
}

/// Summed-area tables of an image and of its squares, with a zero first row and column:
/// `sum[(y) * (w+1) + x]` is the sum of all pixels above and left of (x, y).
#[derive(Clone, Debug)]
pub struct Integral {
    pub width: usize,
    pub height: usize,
    pub sum: Vec<i32>,
    pub sqsum: Vec<f64>,
}

impl Integral {
    pub fn new(img: &Gray) -> Self {
        let (w, h) = (img.width, img.height);
        let stride = w + 1;
        let mut sum = vec![0i32; stride * (h + 1)];
        let mut sqsum = vec![0f64; stride * (h + 1)];
        for y in 0..h {
            let mut row = 0i32;
            let mut rowsq = 0f64;
            for x in 0..w {
                let v = i32::from(img.data[y * w + x]);
                row += v;
                rowsq += f64::from(v * v);
                sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row;
                sqsum[(y + 1) * stride + x + 1] = sqsum[y * stride + x + 1] + rowsq;
            }
        }
        Integral { width: w, height: h, sum, sqsum }
    }

    #[inline]
    pub fn stride(&self) -> usize {
        self.width + 1
    }

    /// Sum of pixels in `[x, x+w) × [y, y+h)` (must lie inside the image).
    #[inline]
    pub fn rect_sum(&self, x: usize, y: usize, w: usize, h: usize) -> i32 {
        let s = self.stride();
        self.sum[(y + h) * s + x + w] - self.sum[y * s + x + w] - self.sum[(y + h) * s + x] + self.sum[y * s + x]
    }

    #[inline]
    pub fn rect_sqsum(&self, x: usize, y: usize, w: usize, h: usize) -> f64 {
        let s = self.stride();
        self.sqsum[(y + h) * s + x + w] - self.sqsum[y * s + x + w] - self.sqsum[(y + h) * s + x]
            + self.sqsum[y * s + x]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Gray {
        Gray::from_fn(w, h, |x, y| ((x * 7 + y * 13) % 256) as u8)
    }

    #[test]
    fn luma_weights_and_size_check() {
        let g = Gray::from_rgba(2, 1, &[255, 0, 0, 255, 255, 255, 255, 255]).unwrap();
        assert_eq!(g.data, vec![76, 255]);
        assert!(Gray::from_rgba(2, 2, &[0; 15]).is_none());
        assert!(Gray::from_rgba(0, 0, &[]).is_some_and(|g| g.is_empty()));
    }

    #[test]
    fn integral_matches_naive_sums() {
        let g = ramp(17, 11);
        let ii = Integral::new(&g);
        for (x, y, w, h) in [(0, 0, 17, 11), (3, 2, 5, 4), (16, 10, 1, 1), (0, 5, 9, 6)] {
            let mut s = 0i32;
            let mut sq = 0f64;
            for yy in y..y + h {
                for xx in x..x + w {
                    let v = i32::from(g.get(xx, yy));
                    s += v;
                    sq += f64::from(v * v);
                }
            }
            assert_eq!(ii.rect_sum(x, y, w, h), s);
            assert_eq!(ii.rect_sqsum(x, y, w, h), sq);
        }
    }

    #[test]
    fn resize_keeps_constants_and_halves_sensibly() {
        let c = Gray::from_fn(10, 8, |_, _| 77);
        assert!(c.resize(3, 5).data.iter().all(|&v| v == 77));
        let g = Gray::from_fn(4, 1, |x, _| [0, 100, 200, 250][x]);
        // Halving with aligned centres averages neighbouring pairs.
        assert_eq!(g.resize(2, 1).data, vec![50, 225]);
        assert!(g.resize(0, 3).is_empty());
        let (small, f) = ramp(400, 300).fit_within(200);
        assert_eq!((small.width, small.height), (200, 150));
        assert!((f - 2.0).abs() < 1e-6);
    }

    #[test]
    fn crops_clip_to_bounds() {
        let g = ramp(10, 10);
        let c = g.crop(-3, 8, 5, 5).unwrap();
        assert_eq!((c.width, c.height), (2, 2));
        assert_eq!(c.get(1, 1), g.get(1, 9));
        assert!(g.crop(20, 0, 5, 5).is_none());
        assert!(g.crop(0, 0, 0, 5).is_none());
        assert!(g.crop(i64::MAX - 1, 0, i64::MAX, 5).is_none());
    }

    #[test]
    fn sample_row_matches_sample() {
        let g8 = ramp(23, 17);
        let mut g = GrayF32::default();
        g.fill_from(&g8);
        let mut out = [0.0f32; 30];
        // Partly outside (clamped path), then wholly inside (fast path).
        for (x0, y0, dx, dy, n) in [(-3.3, 2.7, 0.9, 0.55, 30), (1.2, 3.4, 0.61, 0.37, 25)] {
            g.sample_row(x0, y0, dx, dy, &mut out[..n]);
            for (k, &v) in out[..n].iter().enumerate() {
                assert!((v - g8.sample(x0 + dx * k as f32, y0 + dy * k as f32)).abs() < 1e-3);
            }
        }
        let mut none = [1.0f32; 3];
        GrayF32::default().sample_row(0.0, 0.0, 1.0, 0.0, &mut none);
        assert_eq!(none, [0.0; 3]);
    }

    #[test]
    fn bilinear_sample_interpolates_and_clamps() {
        let g = Gray::from_fn(2, 2, |x, y| [[0, 100], [200, 255]][y][x]);
        assert_eq!(g.sample(0.5, 0.0), 50.0);
        assert_eq!(g.sample(0.0, 0.5), 100.0);
        assert_eq!(g.sample(-5.0, 9.0), 200.0);
    }
}
