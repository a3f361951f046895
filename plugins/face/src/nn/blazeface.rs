//! BlazeFace short range (MediaPipe `face_detection_short_range.tflite`): the frame letterboxed
//! to 128×128, 896 SSD anchors, box + 6 keypoints per anchor, weighted non-maximum suppression.
//! Constants are MediaPipe's `face_detection_short_range` graph options.

use super::graph::Network;
use super::warp::{Roi, crop_rgb};
use super::{BLAZEFACE, ModelFiles, NnError, sigmoid};

const INPUT: usize = 128;

/// One detected face, in frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// `[x0, y0, x1, y1]`.
    pub bbox: [f32; 4],
    /// Right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion (the
    /// subject's right and left: the right eye is on the image's left).
    pub keypoints: [[f32; 2]; 6],
    pub score: f32,
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }

    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }

    /// In-plane rotation from the eye line (radians; 0 = eyes level).
    pub fn rotation(&self) -> f32 {
        let [r, l] = [self.keypoints[0], self.keypoints[1]];
        (l[1] - r[1]).atan2(l[0] - r[0])
    }

    /// The face mesh's crop for this detection, as MediaPipe's `face_detection_front_detection_to_roi`:
    /// the box centre, the longer side × 1.5, rotated by the eye line.
    pub fn mesh_roi(&self) -> Roi {
        Roi {
            cx: (self.bbox[0] + self.bbox[2]) / 2.0,
            cy: (self.bbox[1] + self.bbox[3]) / 2.0,
            size: 1.5 * self.width().max(self.height()),
            rotation: self.rotation(),
        }
    }

    pub fn iou(&self, o: &Detection) -> f32 {
        let ix = (self.bbox[2].min(o.bbox[2]) - self.bbox[0].max(o.bbox[0])).max(0.0);
        let iy = (self.bbox[3].min(o.bbox[3]) - self.bbox[1].max(o.bbox[1])).max(0.0);
        let inter = ix * iy;
        let union = self.width() * self.height() + o.width() * o.height() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

pub struct BlazeFace {
    net: Network,
    anchors: Vec<[f32; 2]>,
    /// Minimum sigmoid score (MediaPipe: 0.5).
    pub min_score: f32,
    /// IoU above which detections merge (MediaPipe: 0.3).
    pub nms_iou: f32,
}

/// MediaPipe's SsdAnchorsCalculator for this model: 4 layers, strides 8, 16, 16, 16, fixed
/// anchor size; layers with the same stride share a grid (2 anchors per cell per layer).
fn anchors() -> Vec<[f32; 2]> {
    let strides = [8usize, 16, 16, 16];
    let mut out = Vec::with_capacity(896);
    let mut i = 0;
    while i < strides.len() {
        let mut j = i;
        while j < strides.len() && strides[j] == strides[i] {
            j += 1;
        }
        let per_cell = 2 * (j - i);
        let fm = INPUT.div_ceil(strides[i]);
        for y in 0..fm {
            for x in 0..fm {
                for _ in 0..per_cell {
                    out.push([(x as f32 + 0.5) / fm as f32, (y as f32 + 0.5) / fm as f32]);
                }
            }
        }
        i = j;
    }
    out
}

impl BlazeFace {
    /// The bundled model.
    pub fn new() -> Result<Self, NnError> {
        Self::from_files(BLAZEFACE)
    }

    pub fn from_files(files: ModelFiles<'_>) -> Result<Self, NnError> {
        let net = Network::load_sized("BlazeFace", files, INPUT)?;
        Ok(BlazeFace { net, anchors: anchors(), min_score: 0.5, nms_iou: 0.3 })
    }

    /// Raw outputs for a `[3, 128, 128]` input in `[-1, 1]`: 896 × 16 regressors and 896 logits.
    pub fn raw(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), NnError> {
        let mut out = self.net.run(input)?.into_iter();
        let (reg, cls) = (out.next().unwrap_or_default(), out.next().unwrap_or_default());
        if reg.len() != 896 * 16 || cls.len() != 896 {
            return Err(NnError::Model {
                model: "BlazeFace".into(),
                what: format!("outputs of {} and {} values, expected 14336 and 896", reg.len(), cls.len()),
            });
        }
        Ok((reg, cls))
    }

    /// Faces in an RGBA8 frame, best first.
    pub fn detect(&self, rgba: &[u8], width: usize, height: usize) -> Result<Vec<Detection>, NnError> {
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return Ok(Vec::new());
        }
        // Letterbox: the longer side fills the input, centred.
        let roi =
            Roi { cx: width as f32 / 2.0, cy: height as f32 / 2.0, size: width.max(height) as f32, rotation: 0.0 };
        self.detect_in(rgba, width, height, &roi)
    }

    /// For stills, where faces may be small: the whole frame, then overlapping square tiles of
    /// ½ and ¼ of the longer side (50 % overlap), so faces down to about a fortieth of the image
    /// are found. Detections from all tiles are merged (the best of overlapping ones kept).
    pub fn detect_multiscale(&self, rgba: &[u8], width: usize, height: usize) -> Result<Vec<Detection>, NnError> {
        let mut all = self.detect(rgba, width, height)?;
        let side = width.max(height) as f32;
        for div in [2.0f32, 4.0] {
            let s = side / div;
            if s < 48.0 {
                break;
            }
            let step = s / 2.0;
            let tiles = |len: usize| ((len as f32 - s).max(0.0) / step).ceil() as usize + 1;
            let (nx, ny) = (tiles(width), tiles(height));
            for iy in 0..ny {
                for ix in 0..nx {
                    let cx = (s / 2.0 + ix as f32 * step).min(width as f32 - s / 2.0).max(s / 2.0);
                    let cy = (s / 2.0 + iy as f32 * step).min(height as f32 - s / 2.0).max(s / 2.0);
                    all.extend(self.detect_in(rgba, width, height, &Roi { cx, cy, size: s, rotation: 0.0 })?);
                }
            }
        }
        all.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for d in all {
            // A face cut by a tile's edge overlaps its whole self only partly: suppress by the
            // share of the smaller box that overlaps, not by IoU alone.
            let covered = kept.iter().any(|k| {
                let ix = (k.bbox[2].min(d.bbox[2]) - k.bbox[0].max(d.bbox[0])).max(0.0);
                let iy = (k.bbox[3].min(d.bbox[3]) - k.bbox[1].max(d.bbox[1])).max(0.0);
                let small = (k.width() * k.height()).min(d.width() * d.height());
                small > 0.0 && ix * iy / small > 0.5
            });
            if !covered {
                kept.push(d);
            }
        }
        Ok(kept)
    }

    /// Faces inside `roi` of the frame (the crop is resampled to 128×128), in frame pixels.
    pub fn detect_in(&self, rgba: &[u8], width: usize, height: usize, roi: &Roi) -> Result<Vec<Detection>, NnError> {
        let input = crop_rgb(rgba, width, height, roi, INPUT, -1.0, 1.0);
        let (reg, cls) = self.raw(&input)?;
        let dets = self.decode(&reg, &cls);
        Ok(dets
            .into_iter()
            .map(|d| {
                let n = INPUT as f32;
                let f = |p: [f32; 2]| roi.to_frame(INPUT, p[0] * n, p[1] * n);
                // Box corners through the roi; for a rotated roi take the bounding box.
                let c = [
                    f([d.bbox[0], d.bbox[1]]),
                    f([d.bbox[2], d.bbox[1]]),
                    f([d.bbox[0], d.bbox[3]]),
                    f([d.bbox[2], d.bbox[3]]),
                ];
                let bbox = [
                    c.iter().map(|p| p[0]).fold(f32::MAX, f32::min),
                    c.iter().map(|p| p[1]).fold(f32::MAX, f32::min),
                    c.iter().map(|p| p[0]).fold(f32::MIN, f32::max),
                    c.iter().map(|p| p[1]).fold(f32::MIN, f32::max),
                ];
                Detection { bbox, keypoints: d.keypoints.map(f), score: d.score }
            })
            .collect())
    }

    /// Detections in normalised input coordinates (0…1), after weighted NMS, best first.
    pub fn decode(&self, reg: &[f32], cls: &[f32]) -> Vec<Detection> {
        let n = INPUT as f32;
        let mut cands: Vec<Detection> = Vec::new();
        for (i, a) in self.anchors.iter().enumerate() {
            let score = sigmoid(cls[i]);
            if score < self.min_score {
                continue;
            }
            let r = &reg[i * 16..(i + 1) * 16];
            let (cx, cy) = (r[0] / n + a[0], r[1] / n + a[1]);
            let (w, h) = (r[2] / n, r[3] / n);
            if !(w > 0.0 && h > 0.0 && cx.is_finite() && cy.is_finite()) {
                continue;
            }
            let mut kp = [[0f32; 2]; 6];
            for (k, p) in kp.iter_mut().enumerate() {
                *p = [r[4 + 2 * k] / n + a[0], r[5 + 2 * k] / n + a[1]];
            }
            cands.push(Detection {
                bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                keypoints: kp,
                score,
            });
        }
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        // MediaPipe's WEIGHTED non-maximum suppression: each cluster averages its members'
        // boxes and keypoints by score, keeping the best score.
        let mut out = Vec::new();
        let mut left = cands;
        while let Some(top) = left.first().cloned() {
            let (cluster, rest): (Vec<Detection>, Vec<Detection>) =
                left.into_iter().partition(|d| top.iou(d) > self.nms_iou);
            left = rest;
            let total: f32 = cluster.iter().map(|d| d.score).sum();
            let mut m = Detection { bbox: [0.0; 4], keypoints: [[0.0; 2]; 6], score: top.score };
            for d in &cluster {
                let w = d.score / total;
                for k in 0..4 {
                    m.bbox[k] += w * d.bbox[k];
                }
                for k in 0..6 {
                    m.keypoints[k][0] += w * d.keypoints[k][0];
                    m.keypoints[k][1] += w * d.keypoints[k][1];
                }
            }
            if cluster.is_empty() {
                // `top` overlaps itself, so a cluster always holds it; kept for safety.
                break;
            }
            out.push(m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_mediapipes() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }
}
