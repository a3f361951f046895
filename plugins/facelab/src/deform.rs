//! Caricature and deformation: new points for the live face from its CLM parameters, as
//! clmtrackr's `caricature.html` (shape modes 3… multiplied) and `facedeform.html` (an offset
//! per mode, with its presets) do. Modes 1 and 2 turn the head (yaw, pitch) rather than shape
//! the face, so both leave them alone.

use headroom_face::shape::ShapeModel;

/// The first mode that is changed (1-based, as clmtrackr's "component 3").
pub const FIRST_MODE: usize = 3;

/// clmtrackr's deformation presets (`facedeform.html`): offsets for components 3…20.
pub const PRESETS: [(&str, [f32; 18]); 11] = [
    ("none", [0.0; 18]),
    ("unwell", [0., 0., 0., 0., 0., 0., 22., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]),
    ("inca", [0., 0., -9., 0., -11., 0., 0., 0., 0., 0., 0., 0., 12., 0., 0., 0., 0., 0.]),
    ("cheery", [0., 0., -9., 9., -11., 0., 0., 0., 0., 0., 0., 0., -9., 0., 0., 0., 0., 0.]),
    ("dopey", [0., 0., 0., 0., 0., 0., 0., -11., 0., 0., 0., 0., 0., 0., 20., 0., 0., 0.]),
    ("longface", [0., 0., 0., 0., -15., 0., 0., -12., 0., 0., 0., 0., 0., 0., -7., 0., 0., 5.]),
    ("lucky", [0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., -4., 0., -6., 12., 0., 0.]),
    ("overcute", [0., 0., 0., 0., 16., 0., -14., 0., 0., 0., 0., 0., -7., 0., 0., 0., 0., 0.]),
    ("aloof", [0., 0., 0., 0., 0., 0., 0., -8., 0., 0., 0., 0., 0., 0., -2., 0., 0., 10.]),
    ("evil", [0., 0., 0., 0., 0., 0., 0., 0., 6., 0., 0., 0., 0., 0., 0., 0., 0., -8.]),
    ("artificial", [0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 11., 0., -16., 0., 0., 0., 0., 0.]),
];

/// What is done to the shape parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Deformation {
    /// Multiplies modes 3…: 1 is the face as it is, clmtrackr's caricature starts at 3.
    pub exaggerate: f32,
    /// Added to modes 3…, in the model's units (`offsets[0]` is mode 3).
    pub offsets: Vec<f32>,
}

impl Deformation {
    pub fn identity(modes: usize) -> Deformation {
        Deformation { exaggerate: 1.0, offsets: vec![0.0; modes.saturating_sub(FIRST_MODE - 1)] }
    }

    /// A preset by name (offsets for the modes it names; the rest zero), exaggeration 1.
    pub fn preset(name: &str, modes: usize) -> Option<Deformation> {
        let (_, v) = PRESETS.iter().find(|(n, _)| *n == name)?;
        let mut d = Deformation::identity(modes);
        for (o, p) in d.offsets.iter_mut().zip(v) {
            *o = *p;
        }
        Some(d)
    }

    pub fn is_identity(&self) -> bool {
        self.exaggerate == 1.0 && self.offsets.iter().all(|&o| o == 0.0)
    }

    /// The deformed parameters: the similarity and modes 1–2 kept, modes 3… scaled then offset.
    pub fn apply(&self, params: &[f32]) -> Vec<f32> {
        let mut p = params.to_vec();
        let first = 4 + FIRST_MODE - 1;
        for (k, v) in p.iter_mut().enumerate().skip(first) {
            *v = *v * self.exaggerate + self.offsets.get(k - first).copied().unwrap_or(0.0);
        }
        p
    }

    /// The deformed face's 71 points in the image.
    pub fn points(&self, shape: &ShapeModel, params: &[f32]) -> Option<Vec<[f32; 2]>> {
        (params.len() == shape.num_params()).then(|| shape.points(&self.apply(params)))
    }
}

/// The slider range for mode `k` (1-based), clmtrackr's: ±15·√λₖ.
pub fn slider_range(shape: &ShapeModel, mode: usize) -> f32 {
    shape.eigen_values.get(mode - 1).map_or(0.0, |l| 15.0 * l.max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_face::model::ClmModel;

    fn shape() -> ShapeModel {
        ShapeModel::new(&ClmModel::from_json(headroom_face::CLMTRACKR_MODEL).unwrap())
    }

    #[test]
    fn identity_keeps_the_face_and_caricature_moves_it_away_from_the_mean() {
        let s = shape();
        let mut p = vec![0.0f32; s.num_params()];
        (p[0], p[2], p[3]) = (0.5, 100.0, 120.0);
        for (k, v) in p[4..].iter_mut().enumerate() {
            *v = (k as f32 * 1.7).sin() * s.eigen_values[k].sqrt();
        }
        let id = Deformation::identity(s.m);
        assert!(id.is_identity());
        assert_eq!(id.points(&s, &p).unwrap(), s.points(&p));
        let mean = s.points(&{
            let mut q = p.clone();
            q[6..].fill(0.0);
            q
        });
        let spread = |pts: &[[f32; 2]]| -> f32 {
            pts.iter().zip(&mean).map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sum::<f32>().sqrt()
        };
        let c = Deformation { exaggerate: 3.0, ..id.clone() };
        let (now, more) = (spread(&s.points(&p)), spread(&c.points(&s, &p).unwrap()));
        assert!((more / now - 3.0).abs() < 1e-3, "{now} → {more}");
        // Head turn (modes 1, 2) and position are not exaggerated.
        assert_eq!(&c.apply(&p)[..6], &p[..6]);
        assert!(c.points(&s, &p[..5]).is_none());
    }

    #[test]
    fn presets_are_clmtrackrs() {
        let s = shape();
        let d = Deformation::preset("unwell", s.m).unwrap();
        assert_eq!(d.offsets.len(), 18);
        assert_eq!(d.offsets[6], 22.0);
        assert_eq!(d.apply(&vec![0.0; s.num_params()])[4 + 2 + 6], 22.0);
        assert!(Deformation::preset("nope", s.m).is_none());
        assert!(slider_range(&s, 3) > 0.0);
    }
}
