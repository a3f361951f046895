//! MOSSE correlation filters (Bolme et al. 2010) as clmtrackr uses them to place the model on a
//! detected face: one filter each for the left eye, the right eye and the nose finds its feature
//! in a window of the face box; the model's hints are then fitted to the three points.
//! The filters are clmtrackr's own (`tools/convert_mosse.py` → `assets/models/clmtrackr-mosse.json`).

use serde::Deserialize;

use crate::image_ops::Gray;

/// The bundled filters.
pub static CLMTRACKR_MOSSE: &str = include_str!("../../../assets/models/clmtrackr-mosse.json");

#[derive(Debug, thiserror::Error)]
pub enum MosseError {
    #[error("MOSSE filter file is not valid: {0}")]
    Json(String),
    #[error("MOSSE filter '{0}': {1}")]
    Bad(String, String),
}

#[derive(Deserialize)]
struct File {
    format: String,
    filters: std::collections::BTreeMap<String, FilterData>,
}

#[derive(Deserialize)]
struct FilterData {
    width: usize,
    height: usize,
    real: Vec<f64>,
    imag: Vec<f64>,
}

/// One filter, in the frequency domain (`n × n`, row-major).
#[derive(Clone, Debug)]
pub struct Mosse {
    n: usize,
    re: Vec<f64>,
    im: Vec<f64>,
    /// `cos`, `sin` of 2πk/n.
    twiddle: Vec<(f64, f64)>,
}

/// The three filters clmtrackr places the model with.
#[derive(Clone, Debug)]
pub struct FaceFilters {
    pub left_eye: Mosse,
    pub right_eye: Mosse,
    pub nose: Mosse,
}

impl FaceFilters {
    pub fn from_json(text: &str) -> Result<Self, MosseError> {
        let f: File = serde_json::from_str(text).map_err(|e| MosseError::Json(e.to_string()))?;
        if f.format != "headroom-mosse" {
            return Err(MosseError::Json(format!("format '{}', expected 'headroom-mosse'", f.format)));
        }
        let get = |name: &str| {
            let d = f.filters.get(name).ok_or_else(|| MosseError::Bad(name.into(), "missing".into()))?;
            Mosse::new(d).map_err(|e| MosseError::Bad(name.into(), e))
        };
        Ok(FaceFilters { left_eye: get("left_eye")?, right_eye: get("right_eye")?, nose: get("nose")? })
    }

    pub fn bundled() -> Result<Self, MosseError> {
        Self::from_json(CLMTRACKR_MOSSE)
    }
}

impl Mosse {
    fn new(d: &FilterData) -> Result<Self, String> {
        let n = d.width;
        if n != d.height || !(4..=128).contains(&n) {
            return Err(format!("{}×{}: must be square, 4 to 128", d.width, d.height));
        }
        if d.real.len() != n * n || d.imag.len() != n * n {
            return Err(format!("needs {} values per part", n * n));
        }
        if d.real.iter().chain(&d.imag).any(|v| !v.is_finite()) {
            return Err("non-finite values".into());
        }
        let twiddle = (0..n).map(|k| std::f64::consts::TAU * k as f64 / n as f64).map(|a| (a.cos(), a.sin())).collect();
        Ok(Mosse { n, re: d.real.clone(), im: d.imag.clone(), twiddle })
    }

    /// In-place 1-D DFT of `n` values `stride` apart (`sign` −1 forward, +1 inverse, unscaled).
    fn dft(&self, re: &mut [f64], im: &mut [f64], start: usize, stride: usize, sign: f64, tmp: &mut [(f64, f64)]) {
        let n = self.n;
        for (k, t) in tmp.iter_mut().enumerate() {
            let (mut sr, mut si) = (0.0, 0.0);
            for j in 0..n {
                let (c, s) = self.twiddle[(k * j) % n];
                let (xr, xi) = (re[start + j * stride], im[start + j * stride]);
                // x · e^{sign·iθ}
                sr += xr * c - sign * xi * s;
                si += xi * c + sign * xr * s;
            }
            *t = (sr, si);
        }
        for (j, &(r, i)) in tmp.iter().enumerate() {
            re[start + j * stride] = r;
            im[start + j * stride] = i;
        }
    }

    fn dft2(&self, re: &mut [f64], im: &mut [f64], sign: f64) {
        let n = self.n;
        let mut tmp = vec![(0.0, 0.0); n];
        for y in 0..n {
            self.dft(re, im, y * n, 1, sign, &mut tmp);
        }
        for x in 0..n {
            self.dft(re, im, x, n, sign, &mut tmp);
        }
    }

    /// Where the filter's feature is in the square window `[left, left + size)²` of `img`
    /// (pixels from the window's corner), or `None` if nothing correlates (clmtrackr's
    /// `mosseFilter.track` without a prior or updates). The window is area-averaged down to the
    /// filter's size (clmtrackr lets the canvas resample it).
    pub fn track(&self, img: &Gray, left: f32, top: f32, size: f32) -> Option<[f32; 2]> {
        let n = self.n;
        if !(size.is_finite() && size >= 1.0 && left.is_finite() && top.is_finite()) || img.is_empty() {
            return None;
        }
        let cell = size / n as f32;
        // Average k² samples per cell (a box filter of the cell).
        let k = (cell.ceil() as usize).clamp(1, 8);
        let mut re = vec![0.0f64; n * n];
        for y in 0..n {
            for x in 0..n {
                let mut sum = 0.0;
                for sy in 0..k {
                    for sx in 0..k {
                        let px = left + (x as f32 + (sx as f32 + 0.5) / k as f32) * cell;
                        let py = top + (y as f32 + (sy as f32 + 0.5) / k as f32) * cell;
                        sum += f64::from(img.sample_at(px, py));
                    }
                }
                re[y * n + x] = sum / (k * k) as f64;
            }
        }
        // clmtrackr's preprocess: log, zero mean, unit norm; then its cosine window.
        re.iter_mut().for_each(|v| *v = (*v + 1.0).ln());
        let mean = re.iter().sum::<f64>() / (n * n) as f64;
        re.iter_mut().for_each(|v| *v -= mean);
        let norm = re.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            re.iter_mut().for_each(|v| *v /= norm);
        }
        let w = |i: usize| (std::f64::consts::PI * i as f64 / (n - 1) as f64).sin();
        for y in 0..n {
            for x in 0..n {
                re[y * n + x] *= w(x).min(w(y));
            }
        }
        let mut im = vec![0.0f64; n * n];
        self.dft2(&mut re, &mut im, -1.0);
        for i in 0..n * n {
            let (a, b) = (re[i], im[i]);
            re[i] = a * self.re[i] - b * self.im[i];
            im[i] = a * self.im[i] + b * self.re[i];
        }
        self.dft2(&mut re, &mut im, 1.0);
        let (mut best, mut at) = (0.0f64, None);
        for y in 0..n {
            for x in 0..n {
                if re[y * n + x] > best {
                    best = re[y * n + x];
                    at = Some([x as f32 * cell, y as f32 * cell]);
                }
            }
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_filters_load_and_bad_ones_are_refused() {
        let f = FaceFilters::bundled().unwrap();
        assert_eq!(f.nose.n, 32);
        assert!(FaceFilters::from_json("{}").is_err());
        let bad = CLMTRACKR_MOSSE.replacen("\"width\":32", "\"width\":31", 1);
        assert!(matches!(FaceFilters::from_json(&bad), Err(MosseError::Bad(..))), "a 31×32 filter must be refused");
    }

    #[test]
    fn the_dft_round_trips() {
        let f = FaceFilters::bundled().unwrap().nose;
        let orig: Vec<f64> = (0..32 * 32).map(|i| ((i * 37) % 101) as f64 / 7.0).collect();
        let (mut re, mut im) = (orig.clone(), vec![0.0; 32 * 32]);
        f.dft2(&mut re, &mut im, -1.0);
        // The DC term is the sum.
        assert!((re[0] - orig.iter().sum::<f64>()).abs() < 1e-6);
        f.dft2(&mut re, &mut im, 1.0);
        for (a, b) in re.iter().zip(&orig) {
            assert!((a / 1024.0 - b).abs() < 1e-9);
        }
    }

    #[test]
    fn the_eyes_and_nose_are_found_on_a_still() {
        // franck_02159: the eyes and the nose tip from MediaPipe (tests/fixtures/faces/reference.json).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/faces/franck_02159.jpg");
        let rgba = image::open(path).unwrap().into_rgba8();
        let img = Gray::from_rgba(rgba.width() as usize, rgba.height() as usize, rgba.as_raw()).unwrap();
        let f = FaceFilters::bundled().unwrap();
        // clmtrackr's windows on the Haar box [259, 131, 336, 336] it found on this image.
        let (x, y, w) = (259.0f32, 131.0f32, 336.0f32);
        let (ew, nw) = (w * 0.6, w * 0.45);
        let le =
            f.left_eye.track(&img, (x + w / 4.0 - ew / 2.0).round(), (y + w * 0.4 - ew / 2.0).round(), ew).unwrap();
        let nose =
            f.nose.track(&img, (x + w / 2.0 - nw / 2.0).round(), (y + w * 5.0 / 8.0 - nw / 2.0).round(), nw).unwrap();
        let le = [le[0] + (x + w / 4.0 - ew / 2.0).round(), le[1] + (y + w * 0.4 - ew / 2.0).round()];
        let nose = [nose[0] + (x + w / 2.0 - nw / 2.0).round(), nose[1] + (y + w * 5.0 / 8.0 - nw / 2.0).round()];
        println!("left eye {le:?}, nose {nose:?}");
        let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        // Within a fifth of the eye distance (about 110 px here) of the true points.
        assert!(d(le, [365.0, 272.0]) < 25.0, "{le:?}");
        assert!(d(nose, [439.0, 343.0]) < 30.0, "{nose:?}");
    }
}
