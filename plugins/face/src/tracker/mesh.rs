//! The mesh backend inside the tracker: BlazeFace and the face mesh (with iris) fit the face and
//! clmtrackr's 71 points are read off the mesh (`assets/models/mesh_to_clm71.json`).

use super::*;

/// clmtrackr's 71 points as face-mesh vertices (`tools/mesh_to_clm71.py`); 468 and 469 stand
/// for the pupils of the iris model (subject's right, left).
static MESH_TO_CLM71: &str = include_str!("../../../../assets/models/mesh_to_clm71.json");

#[derive(serde::Deserialize)]
struct MeshMap {
    vertices: Vec<usize>,
}

/// The mesh vertices of clmtrackr's 71 points (468 and 469: the pupils).
pub fn mesh_map_71() -> Result<Vec<usize>, NnError> {
    mesh_map()
}

pub(super) fn mesh_map() -> Result<Vec<usize>, NnError> {
    let m: MeshMap = serde_json::from_str(MESH_TO_CLM71)
        .map_err(|e| NnError::Model { model: "mesh → 71 map".into(), what: e.to_string() })?;
    if m.vertices.len() != 71 || m.vertices.iter().any(|&v| v >= 470) {
        return Err(NnError::Model { model: "mesh → 71 map".into(), what: "needs 71 vertices below 470".into() });
    }
    Ok(m.vertices)
}

/// clmtrackr's 71 points from a mesh fit.
pub fn points71(fit: &crate::nn::MeshFit, map: &[usize]) -> Vec<[f32; 2]> {
    map.iter()
        .map(|&v| match v {
            468 | 469 => {
                let (a, b) = if v == 468 { (33, 133) } else { (362, 263) };
                fit.pupils.map_or(
                    [(fit.points[a][0] + fit.points[b][0]) / 2.0, (fit.points[a][1] + fit.points[b][1]) / 2.0],
                    |p| p[v - 468],
                )
            }
            _ => [fit.points[v][0], fit.points[v][1]],
        })
        .collect()
}

impl FaceTracker {
    pub(super) fn uses_mesh(&self) -> bool {
        self.config.landmarks == Landmarks::Mesh && self.mesh.is_some()
    }

    /// One frame with the mesh backend (grey frames without RGBA are expanded to it).
    pub(super) fn track_mesh(&mut self, img: &Gray, rgba: Option<&[u8]>, still: bool) -> TrackOutput {
        let owned;
        let rgba = match rgba {
            Some(p) => p,
            None => {
                owned = gray_to_rgba(img);
                &owned
            }
        };
        let mut out = TrackOutput::default();
        let haar = (self.config.detector == Detector::Haar && !self.mesh.as_ref().is_some_and(|m| m.is_tracking()))
            .then(|| self.haar_roi(img))
            .flatten();
        let Some(mesh) = self.mesh.as_mut() else { return out };
        let (w, h) = (img.width, img.height);
        let t = Instant::now();
        let mut others = Vec::new();
        let result = if still {
            let before = mesh.detections;
            let r = if self.config.detector == Detector::Haar {
                match haar {
                    Some(roi) => mesh.fit_still_faces(rgba, w, h, Some(roi), 1),
                    None => Ok(Vec::new()),
                }
            } else {
                mesh.fit_still_faces(rgba, w, h, None, STILL_MAX_FACES)
            };
            r.map(|fits| {
                let mut fits = fits.into_iter();
                let fit = fits.next();
                others = fits.collect();
                let found = fit.is_some();
                if found {
                    mesh.detections = before + 1;
                }
                crate::nn::MeshStep { fit, detected: found, lost: false, detect_ms: 0.0, mesh_ms: elapsed_ms(t) }
            })
        } else if self.config.detector == Detector::Haar {
            let f = move || haar;
            mesh.step(rgba, w, h, Some(&f))
        } else {
            mesh.step(rgba, w, h, None)
        };
        self.detections = mesh.detections;
        self.losses = mesh.losses;
        let step = match result {
            Ok(s) => s,
            Err(e) => {
                self.notice = Some(format!("face mesh failed: {e}"));
                return out;
            }
        };
        out.times.detect_ms = step.detect_ms;
        out.times.fit_ms = step.mesh_ms;
        if step.lost {
            out.events.push(FaceEvent::Lost);
        }
        let Some(fit) = step.fit else { return out };
        if step.detected {
            out.events.push(FaceEvent::Found);
        }
        let face = self.face_fit(fit);
        self.params.clone_from(&face.params);
        out.fit = Some(face);
        out.others = others.into_iter().map(|f| self.face_fit(f)).collect();
        out
    }

    /// The tracker's face record from a mesh fit: the 71 points and the CLM's shape parameters
    /// projected from them.
    fn face_fit(&self, fit: crate::nn::MeshFit) -> FaceFit {
        let points = points71(&fit, &self.map71);
        let mut params = self.fitter.shape.project(&points);
        self.fitter.shape.clamp(&mut params);
        FaceFit {
            face_box: bounding_box(&points),
            converged: true,
            points,
            params,
            score: fit.presence,
            mesh: Some(fit.points),
        }
    }
}
