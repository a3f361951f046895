//! The face mesh (MediaPipe `face_landmark.tflite`: 468 points in 3D from a 192×192 crop, plus
//! a face-presence logit), the iris model (`iris_landmark.tflite`: pupil centre and iris contour
//! from a 64×64 eye crop), and tracking as MediaPipe does it: the crop for frame t+1 comes from
//! frame t's landmarks, the detector runs only when the face is lost.

use web_time::Instant;

use super::blazeface::{BlazeFace, Detection};
use super::graph::Network;
use super::warp::{Roi, crop_rgb};
use super::{FACE_LANDMARK, IRIS_LANDMARK, ModelFiles, NnError, sigmoid};

pub const MESH_INPUT: usize = 192;
pub const MESH_POINTS: usize = 468;
const IRIS_INPUT: usize = 64;

/// Mesh vertices used by the tracker: outer eye corners (subject's right, left) and the inner
/// corners, as in MediaPipe's `face_landmark_landmarks_to_roi` and iris graphs.
pub const RIGHT_EYE_OUTER: usize = 33;
pub const RIGHT_EYE_INNER: usize = 133;
pub const LEFT_EYE_INNER: usize = 362;
pub const LEFT_EYE_OUTER: usize = 263;

/// One mesh fit, in frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshFit {
    /// 468 points `[x, y, z]`; z in the same pixel units, smaller = nearer the camera.
    pub points: Vec<[f32; 3]>,
    /// Face presence (sigmoid of the network's flag), 0…1.
    pub presence: f32,
    /// The crop the mesh was fitted in.
    pub roi: Roi,
    /// Pupil centres (subject's right, left) from the iris model, when it ran.
    pub pupils: Option<[[f32; 2]; 2]>,
}

impl MeshFit {
    /// The next frame's crop, as MediaPipe's `face_landmark_landmarks_to_roi`: rotation from
    /// the outer eye corners, the box of all points in that rotated frame, its longer side × 1.5.
    pub fn next_roi(&self) -> Roi {
        roi_from_points(&self.points)
    }
}

pub fn roi_from_points(points: &[[f32; 3]]) -> Roi {
    let (r, l) = (points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER]);
    let rotation = (l[1] - r[1]).atan2(l[0] - r[0]);
    let (s, c) = rotation.sin_cos();
    let (mut u0, mut v0, mut u1, mut v1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        let (u, v) = (c * p[0] + s * p[1], -s * p[0] + c * p[1]);
        u0 = u0.min(u);
        u1 = u1.max(u);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    let (cu, cv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
    Roi { cx: c * cu - s * cv, cy: s * cu + c * cv, size: 1.5 * (u1 - u0).max(v1 - v0), rotation }
}

pub struct FaceMesh {
    net: Network,
}

impl FaceMesh {
    pub fn new() -> Result<Self, NnError> {
        Self::from_files(FACE_LANDMARK)
    }

    pub fn from_files(files: ModelFiles<'_>) -> Result<Self, NnError> {
        let net = Network::load_sized("face mesh", files, MESH_INPUT)?;
        Ok(FaceMesh { net })
    }

    /// Raw outputs for a `[3, 192, 192]` input in `[0, 1]`: 1404 values (468 × xyz in crop
    /// pixels) and the presence logit.
    pub fn raw(&self, input: &[f32]) -> Result<(Vec<f32>, f32), NnError> {
        let out = self.net.run(input)?;
        match out.as_slice() {
            [lm, flag] if lm.len() == MESH_POINTS * 3 && flag.len() == 1 => Ok((lm.clone(), flag[0])),
            _ => Err(NnError::Model { model: "face mesh".into(), what: "outputs are not 1404 + 1 values".into() }),
        }
    }

    /// Fits the mesh in `roi` of an RGBA8 frame.
    pub fn fit(&self, rgba: &[u8], width: usize, height: usize, roi: &Roi) -> Result<MeshFit, NnError> {
        let input = crop_rgb(rgba, width, height, roi, MESH_INPUT, 0.0, 1.0);
        let (lm, flag) = self.raw(&input)?;
        let k = roi.size / MESH_INPUT as f32;
        let points = lm
            .chunks_exact(3)
            .map(|p| {
                let q = roi.to_frame(MESH_INPUT, p[0], p[1]);
                [q[0], q[1], p[2] * k]
            })
            .collect();
        Ok(MeshFit { points, presence: sigmoid(flag), roi: *roi, pupils: None })
    }
}

pub struct Iris {
    net: Network,
}

impl Iris {
    pub fn new() -> Result<Self, NnError> {
        Self::from_files(IRIS_LANDMARK)
    }

    pub fn from_files(files: ModelFiles<'_>) -> Result<Self, NnError> {
        let net = Network::load_sized("iris", files, IRIS_INPUT)?;
        Ok(Iris { net })
    }

    /// Raw outputs for a `[3, 64, 64]` input in `[0, 1]`: 71 eye-contour points and 5 iris
    /// points (centre first), xyz in crop pixels.
    pub fn raw(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), NnError> {
        let mut out = self.net.run(input)?.into_iter();
        let (c, i) = (out.next().unwrap_or_default(), out.next().unwrap_or_default());
        if c.len() != 213 || i.len() != 15 {
            return Err(NnError::Model { model: "iris".into(), what: "outputs are not 213 + 15 values".into() });
        }
        Ok((c, i))
    }

    /// The pupil centre of the eye between two corner points (frame pixels). The model sees the
    /// subject's right eye (image left) as trained; the left eye is mirrored, as MediaPipe does.
    pub fn pupil(
        &self,
        rgba: &[u8],
        width: usize,
        height: usize,
        a: [f32; 2],
        b: [f32; 2],
        mirror: bool,
    ) -> Result<[f32; 2], NnError> {
        let rotation = (b[1] - a[1]).atan2(b[0] - a[0]);
        let d = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let roi = Roi { cx: (a[0] + b[0]) / 2.0, cy: (a[1] + b[1]) / 2.0, size: 2.3 * d.max(1.0), rotation };
        let mut input = crop_rgb(rgba, width, height, &roi, IRIS_INPUT, 0.0, 1.0);
        let n = IRIS_INPUT;
        if mirror {
            for row in input.chunks_exact_mut(n) {
                row.reverse();
            }
        }
        let (_, iris) = self.raw(&input)?;
        let (mut u, v) = (iris[0], iris[1]);
        if mirror {
            u = n as f32 - u;
        }
        Ok(roi.to_frame(n, u, v))
    }
}

/// What one tracking step did.
#[derive(Clone, Debug, Default)]
pub struct MeshStep {
    pub fit: Option<MeshFit>,
    /// The detector ran this frame (and found the face the fit started from).
    pub detected: bool,
    /// A tracked face was lost this frame.
    pub lost: bool,
    pub detect_ms: f32,
    pub mesh_ms: f32,
}

/// MediaPipe-style tracking: detection only when no face is tracked; each later frame is cropped
/// from the previous frame's landmarks; the face-presence score decides when the face is lost.
pub struct MeshTracker {
    pub detector: Option<BlazeFace>,
    pub mesh: FaceMesh,
    pub iris: Option<Iris>,
    roi: Option<Roi>,
    /// Below this presence the face is lost (MediaPipe's `min_tracking_confidence`, 0.5).
    pub presence_threshold: f32,
    pub detections: u64,
    pub losses: u64,
}

impl MeshTracker {
    /// The bundled models (BlazeFace, face mesh, iris).
    pub fn new() -> Result<Self, NnError> {
        Self::with_iris(true)
    }

    /// The bundled models, the iris model only if `iris` (it is not even read otherwise).
    pub fn with_iris(iris: bool) -> Result<Self, NnError> {
        Ok(MeshTracker {
            detector: Some(BlazeFace::new()?),
            mesh: FaceMesh::new()?,
            iris: if iris { Some(Iris::new()?) } else { None },
            roi: None,
            presence_threshold: 0.5,
            detections: 0,
            losses: 0,
        })
    }

    pub fn is_tracking(&self) -> bool {
        self.roi.is_some()
    }

    pub fn reset(&mut self) {
        self.roi = None;
    }

    /// The best face in the frame from BlazeFace, if it is loaded.
    pub fn detect(&self, rgba: &[u8], width: usize, height: usize) -> Result<Vec<Detection>, NnError> {
        match &self.detector {
            Some(d) => d.detect(rgba, width, height),
            None => Ok(Vec::new()),
        }
    }

    /// One video frame. `boxes` gives a face box from another detector (used instead of
    /// BlazeFace when it is `Some`, only when no face is tracked).
    pub fn step(
        &mut self,
        rgba: &[u8],
        width: usize,
        height: usize,
        external: Option<&dyn Fn() -> Option<Roi>>,
    ) -> Result<MeshStep, NnError> {
        let mut out = MeshStep::default();
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return Ok(out);
        }
        for attempt in 0..2 {
            let fresh = self.roi.is_none();
            if fresh {
                let t = Instant::now();
                self.roi = match external {
                    Some(f) => f(),
                    None => self.detect(rgba, width, height)?.first().map(Detection::mesh_roi),
                };
                out.detect_ms += elapsed_ms(t);
                let Some(_) = self.roi else { return Ok(out) };
                self.detections += 1;
                out.detected = true;
            }
            let roi = self.roi.expect("set above");
            let t = Instant::now();
            let mut fit = self.mesh.fit(rgba, width, height, &roi)?;
            if fresh && fit.presence >= self.presence_threshold {
                // A detector's box is coarse: re-crop once from the landmarks, as the next
                // frame would, so the first fit is as good as the tracked ones.
                let again = self.mesh.fit(rgba, width, height, &fit.next_roi())?;
                if again.presence >= fit.presence * 0.9 {
                    fit = again;
                }
            }
            out.mesh_ms += elapsed_ms(t);
            if fit.presence < self.presence_threshold {
                self.roi = None;
                if !fresh {
                    self.losses += 1;
                    out.lost = true;
                }
                if fresh || attempt == 1 {
                    return Ok(out);
                }
                // Lost while tracking: look for the face again in this same frame.
                continue;
            }
            let t = Instant::now();
            self.add_pupils(&mut fit, rgba, width, height)?;
            out.mesh_ms += elapsed_ms(t);
            self.roi = Some(fit.next_roi()).filter(Roi::is_valid);
            out.fit = Some(fit);
            return Ok(out);
        }
        Ok(out)
    }

    /// A still: detect (the whole image, then tiles at smaller scales if that finds nothing),
    /// then re-crop from the landmarks until the crop settles (at most 4 fits). Of several
    /// faces, the largest (the sitter, usually), as face-alignment tools do.
    pub fn fit_still(
        &mut self,
        rgba: &[u8],
        width: usize,
        height: usize,
        roi: Option<Roi>,
    ) -> Result<Option<MeshFit>, NnError> {
        Ok(self.fit_still_faces(rgba, width, height, roi, 1)?.into_iter().next())
    }

    /// Every face in a still, largest first (at most `max_faces`): each detection refined as
    /// [`fit_still`](Self::fit_still) does; a fit that lands on a face already fitted (its
    /// crop overlapping an earlier one by more than half) is dropped.
    pub fn fit_still_faces(
        &mut self,
        rgba: &[u8],
        width: usize,
        height: usize,
        roi: Option<Roi>,
        max_faces: usize,
    ) -> Result<Vec<MeshFit>, NnError> {
        self.roi = None;
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return Ok(Vec::new());
        }
        let starts: Vec<Roi> = match (roi, &self.detector) {
            (Some(r), _) => vec![r],
            (None, Some(d)) => {
                let mut faces = d.detect(rgba, width, height)?;
                if faces.is_empty() {
                    faces = d.detect_multiscale(rgba, width, height)?;
                }
                faces.sort_by(|a, b| (b.width() * b.height()).total_cmp(&(a.width() * a.height())));
                faces.iter().map(Detection::mesh_roi).collect()
            }
            (None, None) => Vec::new(),
        };
        let mut fits: Vec<MeshFit> = Vec::new();
        for start in starts {
            if fits.len() >= max_faces {
                break;
            }
            let Some(mut fit) = self.refine_still(rgba, width, height, start)? else { continue };
            if fits.iter().any(|f| roi_overlap(&f.next_roi(), &fit.next_roi()) > 0.5) {
                continue;
            }
            self.add_pupils(&mut fit, rgba, width, height)?;
            fits.push(fit);
        }
        Ok(fits)
    }

    /// Re-crops from the landmarks until the crop settles (at most 4 fits); the fit if the
    /// face-presence score holds.
    fn refine_still(&self, rgba: &[u8], width: usize, height: usize, start: Roi) -> Result<Option<MeshFit>, NnError> {
        let mut roi = start;
        let mut best: Option<MeshFit> = None;
        for _ in 0..4 {
            let fit = self.mesh.fit(rgba, width, height, &roi)?;
            let next = fit.next_roi();
            let moved = ((next.cx - roi.cx).powi(2) + (next.cy - roi.cy).powi(2)).sqrt() / roi.size;
            if best.as_ref().is_none_or(|b| fit.presence >= b.presence * 0.9) {
                best = Some(fit);
            }
            if moved < 0.01 || !next.is_valid() {
                break;
            }
            roi = next;
        }
        Ok(best.filter(|f| f.presence >= self.presence_threshold))
    }

    /// Both pupils from the iris model (when it is loaded), between each eye's corners.
    fn add_pupils(&self, fit: &mut MeshFit, rgba: &[u8], width: usize, height: usize) -> Result<(), NnError> {
        if let Some(iris) = &self.iris {
            let p = |i: usize| [fit.points[i][0], fit.points[i][1]];
            // The two eyes in parallel where the pool has a second thread (in turn otherwise).
            let (right, left) = rayon::join(
                || iris.pupil(rgba, width, height, p(RIGHT_EYE_OUTER), p(RIGHT_EYE_INNER), false),
                || iris.pupil(rgba, width, height, p(LEFT_EYE_INNER), p(LEFT_EYE_OUTER), true),
            );
            fit.pupils = Some([right?, left?]);
        }
        Ok(())
    }
}

fn elapsed_ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1000.0
}

/// Intersection over the smaller of two crops, as axis-aligned squares (rotation ignored).
fn roi_overlap(a: &Roi, b: &Roi) -> f32 {
    let span = |c: f32, s: f32| (c - s / 2.0, c + s / 2.0);
    let ((ax0, ax1), (ay0, ay1)) = (span(a.cx, a.size), span(a.cy, a.size));
    let ((bx0, bx1), (by0, by1)) = (span(b.cx, b.size), span(b.cy, b.size));
    let w = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let h = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let smaller = (a.size * a.size).min(b.size * b.size);
    if smaller <= 0.0 { 0.0 } else { w * h / smaller }
}

/// The canonical face (`tools/mesh_canonical.py`): 468 points in cm, frontal and symmetric;
/// x to the subject's left, y down, z away from the camera.
static CANONICAL: &str = include_str!("../../../../assets/models/face_mesh_canonical.json");

/// Mesh vertices that move little with expression (eye corners, brows' ends, nose bridge and
/// tip, forehead, cheekbones, temples): the ones head pose is solved on.
pub const RIGID_VERTICES: [usize; 24] =
    [33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 70, 300, 107, 336, 234, 454, 127, 356, 116, 345];

/// The canonical face's points, in cm.
pub fn canonical_face() -> Result<Vec<[f32; 3]>, NnError> {
    #[derive(serde::Deserialize)]
    struct Canon {
        points: Vec<[f32; 3]>,
    }
    let c: Canon = serde_json::from_str(CANONICAL)
        .map_err(|e| NnError::Model { model: "canonical face".into(), what: e.to_string() })?;
    if c.points.len() != MESH_POINTS {
        return Err(NnError::Model {
            model: "canonical face".into(),
            what: format!("{} points, not 468", c.points.len()),
        });
    }
    Ok(c.points)
}
