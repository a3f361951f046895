//! Camshift on a colour histogram, as headtrackr runs it between detections: a 16-level-per-
//! channel RGB histogram of the face, back-projected as min(model / current, 1), up to ten
//! mean-shift steps, and the box size from the second moments.

/// A tracked box: centre, size, orientation (radians, of the major axis from vertical).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackBox {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    pub angle: f32,
}

const BINS: usize = 16;

fn bin(p: &[u8]) -> usize {
    (usize::from(p[0]) * BINS / 256) * BINS * BINS
        + (usize::from(p[1]) * BINS / 256) * BINS
        + usize::from(p[2]) * BINS / 256
}

pub struct CamShift {
    model: Vec<f32>,
    /// Search window: x, y, w, h.
    window: [f32; 4],
}

fn histogram(rgba: &[u8], width: usize, win: [usize; 4]) -> Vec<f32> {
    let mut h = vec![0.0f32; BINS * BINS * BINS];
    let [x0, y0, x1, y1] = win;
    for y in y0..y1 {
        for px in rgba[(y * width + x0) * 4..(y * width + x1) * 4].chunks_exact(4) {
            h[bin(px)] += 1.0;
        }
    }
    h
}

fn clip(win: [f32; 4], width: usize, height: usize) -> Option<[usize; 4]> {
    let x0 = win[0].max(0.0) as usize;
    let y0 = win[1].max(0.0) as usize;
    let x1 = ((win[0] + win[2]).min(width as f32)).max(0.0) as usize;
    let y1 = ((win[1] + win[3]).min(height as f32)).max(0.0) as usize;
    (x1 > x0 + 1 && y1 > y0 + 1).then_some([x0, y0, x1, y1])
}

impl CamShift {
    /// Learns the colours inside `face` (x, y, w, h). `None` if the box misses the frame.
    pub fn new(rgba: &[u8], width: usize, height: usize, face: [f32; 4]) -> Option<Self> {
        if rgba.len() != width * height * 4 {
            return None;
        }
        let win = clip(face, width, height)?;
        Some(CamShift { model: histogram(rgba, width, win), window: face })
    }

    /// Moves the window onto the face in a new frame. `None` when the face is lost (the
    /// back-projection is empty or the box collapsed).
    pub fn track(&mut self, rgba: &[u8], width: usize, height: usize) -> Option<TrackBox> {
        if rgba.len() != width * height * 4 {
            return None;
        }
        // The current-colour histogram comes from 10 % beyond the object, as headtrackr; the
        // window itself may move anywhere within half its size.
        let [x, y, w, h] = self.window;
        let search = [x - w * 0.05, y - h * 0.05, w * 1.1, h * 1.1];
        let current = histogram(rgba, width, clip(search, width, height)?);
        let area = clip([x - w * 0.5, y - h * 0.5, w * 2.0, h * 2.0], width, height)?;
        let ratio: Vec<f32> =
            self.model.iter().zip(&current).map(|(&m, &c)| if c > 0.0 { (m / c).min(1.0) } else { 0.0 }).collect();
        let [ax0, ay0, ax1, ay1] = area;
        let bw = ax1 - ax0;
        let backproj: Vec<f32> = (ay0..ay1)
            .flat_map(|yy| (ax0..ax1).map(move |xx| (xx, yy)))
            .map(|(xx, yy)| ratio[bin(&rgba[(yy * width + xx) * 4..])])
            .collect();
        let at = |xx: usize, yy: usize| backproj[(yy - ay0) * bw + (xx - ax0)];
        // Mean shift inside the search area.
        let mut win = [x, y, w, h];
        let mut moments = [0.0f64; 6];
        for _ in 0..10 {
            let [x0, y0, x1, y1] =
                clip(win, width, height).map(|[a, b, c, d]| [a.max(ax0), b.max(ay0), c.min(ax1), d.min(ay1)])?;
            if x1 <= x0 || y1 <= y0 {
                return None;
            }
            let (mut m00, mut m10, mut m01, mut m20, mut m02, mut m11) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let v = f64::from(at(xx, yy));
                    let (fx, fy) = (xx as f64, yy as f64);
                    m00 += v;
                    m10 += v * fx;
                    m01 += v * fy;
                    m20 += v * fx * fx;
                    m02 += v * fy * fy;
                    m11 += v * fx * fy;
                }
            }
            if m00 <= 0.0 {
                return None;
            }
            moments = [m00, m10, m01, m20, m02, m11];
            let (cx, cy) = ((m10 / m00) as f32, (m01 / m00) as f32);
            let (ox, oy) = (win[0] + win[2] / 2.0, win[1] + win[3] / 2.0);
            win[0] = cx - win[2] / 2.0;
            win[1] = cy - win[3] / 2.0;
            if (cx - ox).abs() < 1.0 && (cy - oy).abs() < 1.0 {
                break;
            }
        }
        let [m00, m10, m01, m20, m02, m11] = moments;
        let (cx, cy) = (m10 / m00, m01 / m00);
        let mu20 = m20 / m00 - cx * cx;
        let mu02 = m02 / m00 - cy * cy;
        let mu11 = m11 / m00 - cx * cy;
        let (bw, bh) = ((mu20.max(0.0).sqrt() * 4.0) as f32, (mu02.max(0.0).sqrt() * 4.0) as f32);
        if bw < 1.0 || bh < 1.0 {
            return None;
        }
        let angle = (0.5 * (2.0 * mu11).atan2(mu20 - mu02)) as f32;
        self.window = [cx as f32 - bw / 2.0, cy as f32 - bh / 2.0, bw, bh];
        Some(TrackBox { cx: cx as f32, cy: cy as f32, width: bw, height: bh, angle })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(w: usize, h: usize, blob: (usize, usize, usize)) -> Vec<u8> {
        let mut v = vec![0u8; w * h * 4];
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 4;
                let inside = x.abs_diff(blob.0) < blob.2 && y.abs_diff(blob.1) < blob.2 * 6 / 5;
                let c = if inside { [220, 160, 120] } else { [30, 90, 200] };
                v[i..i + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
            }
        }
        v
    }

    #[test]
    fn follows_a_moving_blob() {
        let (w, h) = (160, 120);
        let f0 = scene(w, h, (60, 60, 15));
        let mut cs = CamShift::new(&f0, w, h, [45.0, 42.0, 30.0, 36.0]).unwrap();
        for step in 1..=5 {
            let f = scene(w, h, (60 + step * 4, 60, 15));
            let b = cs.track(&f, w, h).expect("tracked");
            assert!((b.cx - (60 + step * 4) as f32).abs() < 2.0, "step {step}: {b:?}");
            assert!((b.cy - 60.0).abs() < 2.0);
        }
        // Nothing of the learnt colours is left: lost.
        let empty: Vec<u8> = (0..w * h).flat_map(|_| [0, 255, 0, 255]).collect();
        assert!(cs.track(&empty, w, h).is_none());
        assert!(CamShift::new(&f0, w, h, [500.0, 500.0, 10.0, 10.0]).is_none());
    }
}
