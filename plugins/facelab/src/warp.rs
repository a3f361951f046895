//! Piecewise-affine warps over the face model's triangles: the CPU warp (for face substitution's
//! source and for the tests), and the triangulation the live effects draw with.
//!
//! Coordinates are image pixels with pixel `(x, y)` covering `[x, x+1) × [y, y+1)` (so its centre
//! is `(x + ½, y + ½)`), the convention texture sampling uses: the GPU-drawn warp (a mesh whose
//! UVs are the fitted points divided by the frame size) and this CPU warp sample the same places.

/// clmtrackr's extended boundary: the 23 outline points (jaw and brows) pushed out from the
/// nose tip (point 62) by this factor. The ring stays where the live face is while the inner
/// points move, so a deformed face stays joined to its surroundings.
pub const RING_SCALE: f32 = 1.3;
/// Outline points, in order around the face: jaw 0…14, right brow 15…18, left brow 22…19.
pub const OUTLINE: [usize; 23] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 22, 21, 20, 19];
/// The nose tip the ring is scaled about.
pub const RING_CENTRE: usize = 62;
/// The mouth's inner triangles (clmtrackr's `mouth_vertices` in its deformation examples);
/// the model's own triangulation leaves some of them out.
pub const MOUTH: [[usize; 3]; 22] = [
    [44, 45, 61],
    [45, 46, 61],
    [46, 60, 61],
    [46, 47, 60],
    [47, 48, 60],
    [48, 59, 60],
    [48, 49, 59],
    [49, 50, 59],
    [50, 51, 58],
    [51, 52, 58],
    [52, 57, 58],
    [52, 53, 57],
    [53, 54, 57],
    [54, 56, 57],
    [54, 55, 56],
    [55, 44, 56],
    [44, 61, 56],
    [61, 60, 56],
    [56, 57, 60],
    [57, 59, 60],
    [57, 58, 59],
    [50, 58, 59],
];

/// The face's triangles: the model's plus the mouth's, each once.
pub fn face_triangles(model: &[[usize; 3]]) -> Vec<[usize; 3]> {
    let mut seen = std::collections::HashSet::new();
    model
        .iter()
        .chain(MOUTH.iter())
        .filter(|t| {
            let mut k = **t;
            k.sort_unstable();
            seen.insert(k)
        })
        .copied()
        .collect()
}

/// The face's triangles and the ring's (which need [`with_ring`] points: 71 + 23).
pub fn ring_triangles(model: &[[usize; 3]], n_points: usize) -> Vec<[usize; 3]> {
    let mut t = face_triangles(model);
    for k in 0..OUTLINE.len() {
        let (a, b) = (OUTLINE[k], OUTLINE[(k + 1) % OUTLINE.len()]);
        let (ra, rb) = (n_points + a, n_points + b);
        t.push([a, ra, rb]);
        t.push([a, rb, b]);
    }
    t
}

/// The fitted points followed by the ring (see [`RING_SCALE`]).
pub fn with_ring(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut out = points.to_vec();
    if points.len() <= RING_CENTRE {
        return out;
    }
    let c = points[RING_CENTRE];
    // Ring point `n + i` belongs to outline point `i` (the outline is points 0…22).
    out.extend(
        (0..OUTLINE.len())
            .map(|i| [(points[i][0] - c[0]) * RING_SCALE + c[0], (points[i][1] - c[1]) * RING_SCALE + c[1]]),
    );
    out
}

/// An RGBA8 image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgba {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgba {
    pub fn new(width: usize, height: usize) -> Rgba {
        Rgba { width, height, data: vec![0; width * height * 4] }
    }

    /// `None` unless `data` holds exactly `width × height` pixels.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Option<Rgba> {
        (width > 0 && height > 0 && data.len() == width * height * 4).then_some(Rgba { width, height, data })
    }

    /// The pixels of `rect` (which must lie inside the image, as [`PixelRect::around`] makes it).
    pub fn crop(&self, rect: PixelRect) -> Rgba {
        let mut out = Rgba::new(rect.width, rect.height);
        let row = rect.width * 4;
        for (y, dst) in out.data.chunks_exact_mut(row).enumerate() {
            let from = ((rect.y as usize + y) * self.width + rect.x as usize) * 4;
            dst.copy_from_slice(&self.data[from..from + row]);
        }
        out
    }

    /// Bilinear sample at `(x, y)` (texel centres at `i + ½`, edges clamped), each channel 0…255.
    pub fn sample(&self, x: f32, y: f32) -> [f32; 4] {
        let fx = (x - 0.5).clamp(0.0, (self.width - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let px = |x: usize, y: usize, c: usize| f32::from(self.data[(y * self.width + x) * 4 + c]);
        std::array::from_fn(|c| {
            let top = px(x0, y0, c) * (1.0 - ax) + px(x1, y0, c) * ax;
            let bottom = px(x0, y1, c) * (1.0 - ax) + px(x1, y1, c) * ax;
            top * (1.0 - ay) + bottom * ay
        })
    }
}

/// A rectangle of whole pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelRect {
    pub x: i32,
    pub y: i32,
    pub width: usize,
    pub height: usize,
}

impl PixelRect {
    /// The pixels covering `points` plus `margin`, clipped to a `width × height` image; `None`
    /// if nothing is left.
    pub fn around(points: &[[f32; 2]], margin: f32, width: usize, height: usize) -> Option<PixelRect> {
        let finite = points.iter().filter(|p| p[0].is_finite() && p[1].is_finite());
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in finite {
            (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
        }
        if x0 > x1 {
            return None;
        }
        let x = ((x0 - margin).floor().max(0.0)) as i32;
        let y = ((y0 - margin).floor().max(0.0)) as i32;
        let r = ((x1 + margin).ceil().min(width as f32)) as i32;
        let b = ((y1 + margin).ceil().min(height as f32)) as i32;
        (r > x && b > y).then(|| PixelRect { x, y, width: (r - x) as usize, height: (b - y) as usize })
    }
}

/// The result of [`warp`]: the warped pixels of `rect` and which of them a triangle covered.
#[derive(Clone, Debug)]
pub struct Warped {
    pub rect: PixelRect,
    pub image: Rgba,
    /// 1 where a triangle covers the pixel's centre, else 0 (`rect.width × rect.height`).
    pub mask: Vec<u8>,
}

/// Warps `src` so that `src_points[i]` lands on `dst_points[i]`, triangle by triangle (each an
/// affine map), into the pixels of `rect`. A pixel is covered when its centre is inside (or on
/// the edge of) a destination triangle; it takes the bilinear sample of `src` at the same
/// barycentric position of the source triangle. Degenerate and non-finite triangles are skipped.
pub fn warp(
    src: &Rgba,
    src_points: &[[f32; 2]],
    dst_points: &[[f32; 2]],
    triangles: &[[usize; 3]],
    rect: PixelRect,
) -> Warped {
    let mut image = Rgba::new(rect.width, rect.height);
    let mut mask = vec![0u8; rect.width * rect.height];
    let n = src_points.len().min(dst_points.len());
    for t in triangles.iter().filter(|t| t.iter().all(|&i| i < n)) {
        let d = t.map(|i| dst_points[i]);
        let s = t.map(|i| src_points[i]);
        if d.iter().chain(&s).flatten().any(|v| !v.is_finite()) {
            continue;
        }
        let area = (d[1][0] - d[0][0]) * (d[2][1] - d[0][1]) - (d[2][0] - d[0][0]) * (d[1][1] - d[0][1]);
        if area.abs() < 1e-6 {
            continue;
        }
        let minx = d.iter().map(|p| p[0]).fold(f32::MAX, f32::min);
        let maxx = d.iter().map(|p| p[0]).fold(f32::MIN, f32::max);
        let miny = d.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
        let maxy = d.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        let lx = ((minx - 0.5).floor() as i32 - rect.x).max(0);
        let hx = ((maxx - 0.5).ceil() as i32 - rect.x).min(rect.width as i32 - 1);
        let ly = ((miny - 0.5).floor() as i32 - rect.y).max(0);
        let hy = ((maxy - 0.5).ceil() as i32 - rect.y).min(rect.height as i32 - 1);
        for py in ly..=hy {
            for px in lx..=hx {
                let (cx, cy) = ((px + rect.x) as f32 + 0.5, (py + rect.y) as f32 + 0.5);
                let w1 = ((cx - d[0][0]) * (d[2][1] - d[0][1]) - (d[2][0] - d[0][0]) * (cy - d[0][1])) / area;
                let w2 = ((d[1][0] - d[0][0]) * (cy - d[0][1]) - (cx - d[0][0]) * (d[1][1] - d[0][1])) / area;
                let w0 = 1.0 - w1 - w2;
                const EDGE: f32 = -1e-5;
                if w0 < EDGE || w1 < EDGE || w2 < EDGE {
                    continue;
                }
                let sx = w0 * s[0][0] + w1 * s[1][0] + w2 * s[2][0];
                let sy = w0 * s[0][1] + w1 * s[1][1] + w2 * s[2][1];
                let v = src.sample(sx, sy);
                let i = py as usize * rect.width + px as usize;
                for (d, c) in image.data[i * 4..i * 4 + 4].iter_mut().zip(v) {
                    *d = c.round().clamp(0.0, 255.0) as u8;
                }
                mask[i] = 1;
            }
        }
    }
    Warped { rect, image, mask }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(w: usize, h: usize) -> Rgba {
        let mut img = Rgba::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 4;
                // Smooth and busy: every pixel differs from its neighbours.
                let v = 128.0 + 60.0 * ((x as f32) * 0.31).sin() + 50.0 * ((y as f32) * 0.23 + x as f32 * 0.05).cos();
                img.data[i] = v as u8;
                img.data[i + 1] = ((x * 7 + y * 3) % 256) as u8;
                img.data[i + 2] = (255.0 - v) as u8;
                img.data[i + 3] = 255;
            }
        }
        img
    }

    fn model_points() -> (Vec<[f32; 2]>, Vec<[usize; 3]>) {
        let model = headroom_face::model::ClmModel::from_json(headroom_face::CLMTRACKR_MODEL).unwrap();
        // The mean shape placed in a 200 × 220 image.
        let pts = model.mean_shape.iter().map(|p| [100.0 + 2.2 * (p[0] - 57.0), 110.0 + 2.2 * (p[1] - 57.0)]).collect();
        (pts, face_triangles(&model.triangles))
    }

    /// Pixels whose centre is at least `gap` px from every triangle edge.
    fn interior(points: &[[f32; 2]], tris: &[[usize; 3]], rect: PixelRect, gap: f32) -> Vec<usize> {
        let mut out = Vec::new();
        for py in 0..rect.height {
            for px in 0..rect.width {
                let c = [(px as i32 + rect.x) as f32 + 0.5, (py as i32 + rect.y) as f32 + 0.5];
                let inside = tris.iter().any(|t| {
                    let p = t.map(|i| points[i]);
                    (0..3).all(|k| {
                        let (a, b, o) = (p[k], p[(k + 1) % 3], p[(k + 2) % 3]);
                        let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
                        let len = (ex * ex + ey * ey).sqrt();
                        let side = |q: [f32; 2]| (ex * (q[1] - a[1]) - ey * (q[0] - a[0])) / len;
                        side(c) * side(o).signum() >= gap
                    })
                });
                if inside {
                    out.push(py * rect.width + px);
                }
            }
        }
        out
    }

    #[test]
    fn the_identity_warp_reproduces_the_input() {
        let img = textured(200, 220);
        let (pts, tris) = model_points();
        let rect = PixelRect { x: 0, y: 0, width: 200, height: 220 };
        let w = warp(&img, &pts, &pts, &tris, rect);
        let inner = interior(&pts, &tris, rect, 1.0);
        assert!(inner.len() > 5000, "{} interior pixels", inner.len());
        let mut worst = 0u8;
        for &i in &inner {
            assert_eq!(w.mask[i], 1);
            for c in 0..4 {
                worst = worst.max(w.image.data[i * 4 + c].abs_diff(img.data[i * 4 + c]));
            }
        }
        assert!(worst <= 1, "identity warp off by {worst} grey levels");
        // Nothing outside the face is written.
        let covered = w.mask.iter().filter(|&&m| m == 1).count();
        assert!(covered < 200 * 220 / 2 && covered >= inner.len());
    }

    #[test]
    fn a_known_affine_deformation_moves_known_pixels() {
        let img = textured(200, 220);
        let (src, tris) = model_points();
        // dst = A·src + t: every triangle gets the same affine map, so the warp is that map.
        let (a, b, c, d, tx, ty) = (0.9f32, -0.25f32, 0.2f32, 1.1f32, 30.0f32, -10.0f32);
        let dst: Vec<[f32; 2]> = src.iter().map(|p| [a * p[0] + b * p[1] + tx, c * p[0] + d * p[1] + ty]).collect();
        let rect = PixelRect::around(&dst, 2.0, 260, 260).unwrap();
        let w = warp(&img, &src, &dst, &tris, rect);
        let det = a * d - b * c;
        let inner = interior(&dst, &tris, rect, 1.0);
        assert!(inner.len() > 4000);
        let mut worst = 0.0f32;
        for &i in &inner {
            let (px, py) = ((i % rect.width) as i32 + rect.x, (i / rect.width) as i32 + rect.y);
            let (qx, qy) = (px as f32 + 0.5 - tx, py as f32 + 0.5 - ty);
            // Where the pixel came from: A⁻¹(q − t).
            let (sx, sy) = ((d * qx - b * qy) / det, (-c * qx + a * qy) / det);
            let want = img.sample(sx, sy);
            for (got, want) in w.image.data[i * 4..i * 4 + 3].iter().zip(want) {
                worst = worst.max((f32::from(*got) - want).abs());
            }
        }
        assert!(worst <= 1.0, "affine warp off by {worst}");
        // A pixel that sat exactly at a texel centre lands where the map sends it.
        let (sx, sy) = (100.5f32, 118.5f32);
        let (dx, dy) = (a * sx + b * sy + tx, c * sx + d * sy + ty);
        let i = (dy.floor() as i32 - rect.y) as usize * rect.width + (dx.floor() as i32 - rect.x) as usize;
        assert_eq!(w.mask[i], 1);
    }

    #[test]
    fn the_ring_surrounds_the_face_and_bad_points_are_skipped() {
        let (pts, _) = model_points();
        let model = headroom_face::model::ClmModel::from_json(headroom_face::CLMTRACKR_MODEL).unwrap();
        let ring = with_ring(&pts);
        assert_eq!(ring.len(), 71 + 23);
        let tris = ring_triangles(&model.triangles, 71);
        assert!(tris.iter().all(|t| t.iter().all(|&i| i < ring.len())));
        // Point 0's ring twin is 1.3× as far from the nose tip.
        let c = pts[RING_CENTRE];
        let r = |p: [f32; 2]| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt();
        assert!((r(ring[71]) / r(pts[0]) - 1.3).abs() < 1e-4);
        let mut bad = ring.clone();
        bad[5] = [f32::NAN, 3.0];
        let img = textured(50, 50);
        let rect = PixelRect::around(&ring, 0.0, 300, 300).unwrap();
        let w = warp(&img, &ring, &bad, &tris, rect);
        assert!(w.mask.contains(&1));
        assert!(PixelRect::around(&[[f32::NAN, 1.0]], 1.0, 10, 10).is_none());
        assert!(PixelRect::around(&[[50.0, 50.0]], 1.0, 10, 10).is_none());
    }
}
