//! clmtrackr's drift check: a logistic regression on a small log-grey, z-normalised crop of the
//! face in the model's reference frame. A mean over the last five scores below 0.5 means the
//! model has drifted off the face.

use crate::image_ops::Gray;
use crate::model::ClmModel;
use crate::shape::Similarity;

pub struct DriftScorer {
    size: [usize; 2],
    coef: Vec<f32>,
    bias: f32,
    /// The scored region in reference coordinates: x, y, width, height.
    region: [f32; 4],
}

impl DriftScorer {
    pub fn new(model: &ClmModel) -> Self {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &model.mean_shape {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let (mw, mh) = (x1 - x0, y1 - y0);
        // clmtrackr's crop: inner 5/9 of the width, from a twelfth above the top point down.
        let region = [x0 + mw / 4.5, y0 - mh / 12.0, mw - mw * 2.0 / 4.5, mh - mh / 12.0];
        DriftScorer { size: model.scoring.size, coef: model.scoring.coef.clone(), bias: model.scoring.bias, region }
    }

    /// Probability (0…1) that the model at `p` sits on a face in `img`.
    pub fn score(&self, img: &Gray, p: &[f32]) -> f32 {
        if img.is_empty() {
            return 0.0;
        }
        let sim = Similarity::from_params(p);
        let [w, h] = self.size;
        let [rx, ry, rw, rh] = self.region;
        let (cw, ch) = (rw / w as f32, rh / h as f32);
        // Each cell averages a 3×3 grid of bilinear samples (a box filter for the downscale).
        let mut vals = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for sy in 0..3 {
                    for sx in 0..3 {
                        let u = rx + (x as f32 + (sx as f32 + 0.5) / 3.0) * cw;
                        let v = ry + (y as f32 + (sy as f32 + 0.5) / 3.0) * ch;
                        let [ix, iy] = sim.apply([u, v]);
                        acc += img.sample_at(ix, iy);
                    }
                }
                vals.push((acc / 9.0 + 1.0).ln());
            }
        }
        let n = vals.len() as f32;
        let mean = vals.iter().sum::<f32>() / n;
        let sd = (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
        if sd <= 1e-6 {
            return 0.0;
        }
        let z: f32 = vals.iter().zip(&self.coef).map(|(v, c)| (v - mean) / sd * c).sum::<f32>() + self.bias;
        1.0 / (1.0 + (-z).exp())
    }
}
