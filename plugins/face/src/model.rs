//! The Constrained Local Model: a point-distribution model (mean shape + PCA modes), one linear
//! SVM patch expert per point, and a logistic drift scorer — in a format the project owns
//! (JSON, via serde), converted from clmtrackr's JavaScript model files.

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "headroom-clm";
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a clmtrackr model file: {0}")]
    NotClmtrackr(String),
    #[error("model file is not valid JSON for this format: {0}")]
    Json(String),
    #[error("model is a '{found}' file, expected '{FORMAT}'")]
    WrongFormat { found: String },
    #[error("model format version {found} is not supported (this build reads version {VERSION})")]
    WrongVersion { found: u32 },
    #[error("inconsistent model: {0}")]
    Inconsistent(String),
}

/// One set of linear patch experts (11×11 weights + bias per point), row-major.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PatchSet {
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scoring {
    /// Width and height of the scored face crop (20 × 22).
    pub size: [usize; 2],
    pub bias: f32,
    pub coef: Vec<f32>,
}

/// Mean-shape positions of the eyes and nose, used to place the model on a detected face.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hints {
    pub left_eye: [f32; 2],
    pub right_eye: [f32; 2],
    pub nose: [f32; 2],
}

/// A drawing path: a polyline through point indices, or a lone point.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DrawPath {
    Line(Vec<usize>),
    Point(usize),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClmModel {
    pub format: String,
    pub version: u32,
    /// Where the model came from.
    pub source: String,
    /// Mean shape in the reference frame, one (x, y) per point.
    pub mean_shape: Vec<[f32; 2]>,
    /// PCA modes: `eigen_vectors[2i + c][k]` is mode k's displacement of point i, coordinate c.
    pub eigen_vectors: Vec<Vec<f32>>,
    pub eigen_values: Vec<f32>,
    /// Modes without a prior (clmtrackr leaves mode 0 free).
    pub non_regularized: Vec<usize>,
    pub patch_size: usize,
    /// Reference frame size (width, height).
    pub canvas_size: [usize; 2],
    pub raw: PatchSet,
    pub sobel: Option<PatchSet>,
    pub lbp: Option<PatchSet>,
    pub scoring: Scoring,
    pub hints: Hints,
    /// Triangulation of the points (for warping and drawing meshes).
    pub triangles: Vec<[usize; 3]>,
    pub paths: Vec<DrawPath>,
}

/// The fields of clmtrackr's `pModel` object that we use, with its names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsModel {
    scoring: JsScoring,
    path: JsPath,
    patch_model: JsPatchModel,
    shape_model: JsShapeModel,
    hints: JsHints,
}
#[derive(Deserialize)]
struct JsScoring {
    size: [usize; 2],
    bias: f32,
    coef: Vec<f32>,
}
#[derive(Deserialize)]
struct JsPath {
    normal: Vec<DrawPath>,
    vertices: Vec<Vec<usize>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsPatchModel {
    patch_type: String,
    bias: std::collections::HashMap<String, Vec<f32>>,
    weights: std::collections::HashMap<String, Vec<Vec<f32>>>,
    num_patches: usize,
    patch_size: [usize; 2],
    canvas_size: [usize; 2],
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsShapeModel {
    eigen_vectors: Vec<Vec<f32>>,
    num_evalues: usize,
    eigen_values: Vec<f32>,
    num_pts_per_sample: usize,
    non_regularized_vectors: Vec<usize>,
    mean_shape: Vec<[f32; 2]>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsHints {
    right_eye: [f32; 2],
    left_eye: [f32; 2],
    nose: [f32; 2],
}

/// The first `{ … }` object literal after `marker`, with `//` and `/* */` comments removed
/// and braces matched outside strings.
fn object_literal(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let open = start + text[start..].find('{')?;
    let bytes = text.as_bytes();
    let mut out = String::new();
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut i = open;
    let mut copied = open;
    while i < bytes.len() {
        let ch = bytes[i];
        if in_str {
            match ch {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match ch {
            b'/' if bytes.get(i + 1) == Some(&b'/') || bytes.get(i + 1) == Some(&b'*') => {
                out.push_str(&text[copied..i]);
                let end = if bytes[i + 1] == b'/' {
                    text[i..].find('\n').map_or(bytes.len(), |e| i + e)
                } else {
                    text[i + 2..].find("*/").map_or(bytes.len(), |e| i + 2 + e + 2)
                };
                i = end;
                copied = end;
                continue;
            }
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    out.push_str(&text[copied..=i]);
                    return Some(out);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

impl ClmModel {
    /// Converts clmtrackr's `models/model_*_svm.js` (a JavaScript file assigning `pModel`).
    pub fn from_clmtrackr_js(js: &str, source: &str) -> Result<Self, ModelError> {
        let literal = object_literal(js, "pModel =")
            .ok_or_else(|| ModelError::NotClmtrackr("no `pModel = { … }` object in the file".into()))?;
        let m: JsModel = serde_json::from_str(&literal).map_err(|e| ModelError::NotClmtrackr(e.to_string()))?;
        if m.patch_model.patch_type != "SVM" {
            return Err(ModelError::NotClmtrackr(format!(
                "patch type {} (only SVM models are supported)",
                m.patch_model.patch_type
            )));
        }
        let set = |name: &str| -> Option<PatchSet> {
            Some(PatchSet {
                weights: m.patch_model.weights.get(name)?.clone(),
                bias: m.patch_model.bias.get(name)?.clone(),
            })
        };
        let raw = set("raw").ok_or_else(|| ModelError::NotClmtrackr("no raw patch weights".into()))?;
        if m.patch_model.patch_size[0] != m.patch_model.patch_size[1] {
            return Err(ModelError::NotClmtrackr("non-square patches".into()));
        }
        let model = ClmModel {
            format: FORMAT.into(),
            version: VERSION,
            source: source.into(),
            mean_shape: m.shape_model.mean_shape,
            eigen_vectors: m.shape_model.eigen_vectors,
            eigen_values: m.shape_model.eigen_values,
            non_regularized: m.shape_model.non_regularized_vectors,
            patch_size: m.patch_model.patch_size[0],
            canvas_size: m.patch_model.canvas_size,
            raw,
            sobel: set("sobel"),
            lbp: set("lbp"),
            scoring: Scoring { size: m.scoring.size, bias: m.scoring.bias, coef: m.scoring.coef },
            hints: Hints { left_eye: m.hints.left_eye, right_eye: m.hints.right_eye, nose: m.hints.nose },
            triangles: m.path.vertices.iter().filter(|v| v.len() >= 3).map(|v| [v[0], v[1], v[2]]).collect(),
            paths: m.path.normal,
        };
        if model.mean_shape.len() != m.patch_model.num_patches
            || model.mean_shape.len() != m.shape_model.num_pts_per_sample
            || model.eigen_values.len() != m.shape_model.num_evalues
        {
            return Err(ModelError::NotClmtrackr("point or mode counts disagree with the declared ones".into()));
        }
        model.validate()?;
        Ok(model)
    }

    /// Reads a model in the project's format, checking it thoroughly.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        // Check the header first so that a wrong file gets the right message.
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let h: Header = serde_json::from_str(text).map_err(|e| ModelError::Json(e.to_string()))?;
        match h.format.as_deref() {
            Some(FORMAT) => {}
            other => return Err(ModelError::WrongFormat { found: other.unwrap_or("unknown").into() }),
        }
        if h.version != Some(VERSION) {
            return Err(ModelError::WrongVersion { found: h.version.unwrap_or(0) });
        }
        let m: ClmModel = serde_json::from_str(text).map_err(|e| ModelError::Json(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model always serialises")
    }

    pub fn num_points(&self) -> usize {
        self.mean_shape.len()
    }

    pub fn num_modes(&self) -> usize {
        self.eigen_values.len()
    }

    /// Checks every dimension and that all numbers are finite.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |s: String| Err(ModelError::Inconsistent(s));
        let n = self.num_points();
        let m = self.num_modes();
        if n < 3 || m == 0 {
            return bad(format!("{n} points, {m} modes"));
        }
        if self.eigen_vectors.len() != 2 * n || self.eigen_vectors.iter().any(|r| r.len() != m) {
            return bad(format!("eigenvectors must be {}×{m}", 2 * n));
        }
        if self.eigen_values.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
            return bad("eigenvalues must be positive".into());
        }
        if self.non_regularized.iter().any(|&k| k >= m) {
            return bad("a non-regularised mode index is out of range".into());
        }
        let ps = self.patch_size;
        if ps == 0 || ps.is_multiple_of(2) || ps > 63 {
            return bad(format!("patch size {ps} (must be odd, ≤ 63)"));
        }
        for (name, set) in [("raw", Some(&self.raw)), ("sobel", self.sobel.as_ref()), ("lbp", self.lbp.as_ref())] {
            let Some(set) = set else { continue };
            if set.weights.len() != n || set.bias.len() != n || set.weights.iter().any(|w| w.len() != ps * ps) {
                return bad(format!("{name} patches must be {n} × {ps}²"));
            }
            if set.weights.iter().flatten().chain(&set.bias).any(|v| !v.is_finite()) {
                return bad(format!("{name} patches contain non-finite numbers"));
            }
        }
        let [sw, sh] = self.scoring.size;
        if self.scoring.coef.len() != sw * sh || sw == 0 || sh == 0 {
            return bad(format!("scoring needs {sw}×{sh} coefficients, has {}", self.scoring.coef.len()));
        }
        if self.triangles.iter().flatten().any(|&i| i >= n)
            || self.paths.iter().any(|p| match p {
                DrawPath::Line(v) => v.iter().any(|&i| i >= n),
                DrawPath::Point(i) => *i >= n,
            })
        {
            return bad("a triangle or path names a point that does not exist".into());
        }
        let finite = self.mean_shape.iter().flatten().chain(self.eigen_vectors.iter().flatten()).all(|v| v.is_finite());
        if !finite {
            return bad("shape model contains non-finite numbers".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_object_literals_with_braces_in_strings() {
        let js = "var x = 1; var pModel = {\"a\": \"}{//\", // note {\n \"b\": /* { */ {\"c\": [1, 2]}}; export";
        assert_eq!(object_literal(js, "pModel =").as_deref(), Some("{\"a\": \"}{//\", \n \"b\":  {\"c\": [1, 2]}}"));
        assert_eq!(object_literal("var pModel = {", "pModel ="), None);
    }

    #[test]
    fn non_models_are_clear_errors() {
        assert!(matches!(ClmModel::from_clmtrackr_js("console.log(1)", "x"), Err(ModelError::NotClmtrackr(_))));
        assert!(matches!(ClmModel::from_json("{\"format\": \"png\"}"), Err(ModelError::WrongFormat { .. })));
        assert!(matches!(
            ClmModel::from_json(&format!("{{\"format\": \"{FORMAT}\", \"version\": 99}}")),
            Err(ModelError::WrongVersion { found: 99 })
        ));
        assert!(matches!(ClmModel::from_json("[1, 2"), Err(ModelError::Json(_))));
    }
}

/// Property tests of the CLM model loader: `PROPTEST_CASES` sets the number of cases (256 by
/// default; the bundled-model case runs a quarter as many); README "Robustness" gives the
/// long-run command. Whatever loads must build a fitter and fit a frame without panicking.
#[cfg(test)]
mod props {
    use super::*;
    use crate::fit::{FitConfig, Fitter};
    use crate::image_ops::Gray;
    use proptest::prelude::*;

    fn load_and_fit(text: &str) {
        let Ok(model) = ClmModel::from_json(text) else { return };
        let Ok(mut fitter) = Fitter::new(&model, FitConfig::default()) else { return };
        let img = Gray::from_fn(96, 80, |x, y| ((x * 5 + y * 3) % 256) as u8);
        let mut p = vec![0.0f32; 4 + model.num_modes()];
        p[0] = 1.0;
        p[2] = 48.0;
        p[3] = 40.0;
        let _ = fitter.fit(&img, &mut p);
    }

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            4 => -5.0f32..5.0,
            1 => prop::sample::select(vec![0.0f32, 1e-38, -1e-38, 1e30, -1e30, f32::MAX, f32::MIN, 1e-7]),
            1 => any::<f32>().prop_filter("finite", |v| v.is_finite()),
        ]
    }

    prop_compose! {
        /// A small model whose dimensions are usually, not always, consistent.
        fn arb_model()(
            n in 3usize..7, m in 1usize..4, ps in prop::sample::select(vec![1usize, 3, 5, 4, 0, 65]),
            off in prop::sample::select(vec![0usize, 0, 0, 0, 1]),
            seed in prop::collection::vec(value(), 400),
            nonreg in prop::collection::vec(0usize..5, 0..2),
            tri in prop::collection::vec([0usize..8, 0usize..8, 0usize..8], 0..3),
        ) -> ClmModel {
            let mut k = 0;
            let mut next = || { k += 1; seed[k % seed.len()] };
            let patches = PatchSet {
                weights: (0..n).map(|_| (0..ps * ps).map(|_| next()).collect()).collect(),
                bias: (0..n + off).map(|_| next()).collect(),
            };
            ClmModel {
                format: FORMAT.into(),
                version: VERSION,
                source: "prop".into(),
                mean_shape: (0..n).map(|_| [next() * 10.0, next() * 10.0]).collect(),
                eigen_vectors: (0..2 * n).map(|_| (0..m + off).map(|_| next()).collect()).collect(),
                eigen_values: (0..m).map(|_| next().abs()).collect(),
                non_regularized: nonreg,
                patch_size: ps,
                canvas_size: [96, 80],
                raw: patches,
                sobel: None,
                lbp: None,
                scoring: Scoring { size: [4, 4], bias: next(), coef: (0..16).map(|_| next()).collect() },
                hints: Hints { left_eye: [next(), next()], right_eye: [next(), next()], nose: [next(), next()] },
                triangles: tri,
                paths: vec![DrawPath::Line(vec![0, 1, 2])],
            }
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_cases(1))]
        #[test]
        fn any_text_is_refused_or_fits(text in any::<String>()) {
            load_and_fit(&text);
        }

        #[test]
        fn a_generated_model_is_refused_or_fits(model in arb_model()) {
            load_and_fit(&serde_json::to_string(&model).unwrap());
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_cases(4))]
        #[test]
        fn the_bundled_model_with_bytes_changed(
            edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(b"0123456789-.e,[]{}\"".to_vec())), 1..5),
        ) {
            let mut bytes = crate::CLMTRACKR_MODEL.as_bytes().to_vec();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            load_and_fit(&String::from_utf8_lossy(&bytes));
        }
    }
}
