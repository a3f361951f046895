//! clmtrackr's classifiers (`examples/js/emotionmodel.js`, `gendermodel.js`, converted by
//! `tools/convert_clmtrackr_classifiers.mjs` into `assets/models/clmtrackr-classifiers.json`):
//! per class, `σ(bias + Σ coefᵢ · p[offset + i])` over the CLM parameters `p` (4 similarity
//! terms, then the 20 shape modes; the classifiers read modes 3…20).
//!
//! [`Expression`] is the read-out: like clmtrackr's `meanPredict` it classifies the mean of the
//! last ten parameter vectors; beyond it, a neutral face captured once (the mean of the same
//! window) is subtracted from the shape modes first, so a resting face reads as neutral whatever
//! the person's face shape (clmtrackr scores a long face "sad" and a wide one "happy" at rest).

use std::collections::VecDeque;

use serde::Deserialize;

/// The bundled classifiers.
pub static CLMTRACKR_CLASSIFIERS: &str = include_str!("../../../assets/models/clmtrackr-classifiers.json");

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("classifier file is not valid: {0}")]
    Json(String),
    #[error("classifier '{0}': {1}")]
    Bad(String, String),
}

#[derive(Deserialize)]
struct ClassData {
    bias: f64,
    coefficients: Vec<f64>,
}

#[derive(Deserialize)]
struct File {
    format: String,
    parameter_offset: usize,
    emotion: serde_json::Map<String, serde_json::Value>,
    gender: serde_json::Map<String, serde_json::Value>,
}

/// One logistic regression per class, in the file's order.
#[derive(Clone, Debug)]
pub struct Classifier {
    pub classes: Vec<String>,
    bias: Vec<f64>,
    coef: Vec<Vec<f64>>,
    offset: usize,
}

/// Each class with its probability.
pub type Reading = Vec<(String, f32)>;

impl Classifier {
    fn from_map(map: &serde_json::Map<String, serde_json::Value>, offset: usize) -> Result<Self, ClassifierError> {
        let mut c = Classifier { classes: Vec::new(), bias: Vec::new(), coef: Vec::new(), offset };
        for (name, v) in map {
            let d: ClassData =
                serde_json::from_value(v.clone()).map_err(|e| ClassifierError::Bad(name.clone(), e.to_string()))?;
            if d.coefficients.is_empty() || !d.bias.is_finite() || d.coefficients.iter().any(|x| !x.is_finite()) {
                return Err(ClassifierError::Bad(name.clone(), "empty or non-finite coefficients".into()));
            }
            if c.coef.first().is_some_and(|f| f.len() != d.coefficients.len()) {
                return Err(ClassifierError::Bad(name.clone(), "coefficient count differs from the others".into()));
            }
            c.classes.push(name.clone());
            c.bias.push(d.bias);
            c.coef.push(d.coefficients);
        }
        if c.classes.is_empty() {
            return Err(ClassifierError::Bad("(none)".into(), "no classes".into()));
        }
        Ok(c)
    }

    /// Parameters this classifier needs (`offset + coefficients`).
    pub fn needs(&self) -> usize {
        self.offset + self.coef[0].len()
    }

    /// Each class's probability for parameters `p` (missing parameters count as 0).
    pub fn predict(&self, p: &[f32]) -> Reading {
        self.classes
            .iter()
            .zip(self.bias.iter().zip(&self.coef))
            .map(|(name, (b, coef))| {
                let s = b + coef
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c * f64::from(p.get(self.offset + i).copied().unwrap_or(0.0)))
                    .sum::<f64>();
                (name.clone(), (1.0 / (1.0 + (-s).exp())) as f32)
            })
            .collect()
    }
}

/// The emotion and gender classifiers.
#[derive(Clone, Debug)]
pub struct Classifiers {
    pub emotion: Classifier,
    pub gender: Classifier,
}

impl Classifiers {
    pub fn from_json(text: &str) -> Result<Self, ClassifierError> {
        let f: File = serde_json::from_str(text).map_err(|e| ClassifierError::Json(e.to_string()))?;
        if f.format != "headroom-clm-classifiers" {
            return Err(ClassifierError::Json(format!("format '{}', expected 'headroom-clm-classifiers'", f.format)));
        }
        Ok(Classifiers {
            emotion: Classifier::from_map(&f.emotion, f.parameter_offset)?,
            gender: Classifier::from_map(&f.gender, f.parameter_offset)?,
        })
    }

    pub fn bundled() -> Result<Self, ClassifierError> {
        Self::from_json(CLMTRACKR_CLASSIFIERS)
    }
}

/// Frames averaged before classifying (clmtrackr's `meanPredict`).
pub const WINDOW: usize = 10;

/// The live read-out: parameters in, smoothed emotion and gender out.
#[derive(Clone, Debug)]
pub struct Expression {
    pub classifiers: Classifiers,
    recent: VecDeque<Vec<f32>>,
    /// The resting face's parameters (shape modes only are used), once captured.
    neutral: Option<Vec<f32>>,
}

impl Expression {
    pub fn new(classifiers: Classifiers) -> Self {
        Expression { classifiers, recent: VecDeque::new(), neutral: None }
    }

    /// Adds one frame's CLM parameters.
    pub fn push(&mut self, params: &[f32]) {
        if params.iter().any(|v| !v.is_finite()) {
            return;
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(params.to_vec());
    }

    /// Forgets the frames (the face was lost); the neutral face is kept.
    pub fn clear(&mut self) {
        self.recent.clear();
    }

    /// The mean of the window, once it is full.
    pub fn mean(&self) -> Option<Vec<f32>> {
        if self.recent.len() < WINDOW {
            return None;
        }
        let n = self.recent.iter().map(Vec::len).min().unwrap_or(0);
        Some((0..n).map(|k| self.recent.iter().map(|p| p[k]).sum::<f32>() / WINDOW as f32).collect())
    }

    /// Captures the current face as neutral; `false` if the window is not full yet.
    pub fn capture_neutral(&mut self) -> bool {
        self.neutral = self.mean();
        self.neutral.is_some()
    }

    pub fn forget_neutral(&mut self) {
        self.neutral = None;
    }

    pub fn has_neutral(&self) -> bool {
        self.neutral.is_some()
    }

    /// The parameters classified: the window's mean, less the neutral face's shape modes.
    fn features(&self) -> Option<Vec<f32>> {
        let mut p = self.mean()?;
        if let Some(n) = &self.neutral {
            for k in 4..p.len().min(n.len()) {
                p[k] -= n[k];
            }
        }
        Some(p)
    }

    /// Emotions (angry, disgusted, fear, sad, surprised, happy), once ten frames are in.
    pub fn emotions(&self) -> Option<Reading> {
        self.features().map(|p| self.classifiers.emotion.predict(&p))
    }

    /// Female / male, once ten frames are in (never relative to the neutral face: a
    /// baseline would cancel exactly what it reads).
    pub fn gender(&self) -> Option<Reading> {
        self.mean().map(|p| self.classifiers.gender.predict(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Fixture {
        vectors: Vec<Vec<f32>>,
        emotion: Vec<std::collections::BTreeMap<String, f64>>,
        gender: Vec<std::collections::BTreeMap<String, f64>>,
        emotion_mean_of_sequence: Vec<Option<std::collections::BTreeMap<String, f64>>>,
    }

    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../tests/fixtures/classifier_reference.json")).unwrap()
    }

    fn same(ours: &Reading, theirs: &std::collections::BTreeMap<String, f64>) {
        assert_eq!(ours.len(), theirs.len());
        for (name, v) in ours {
            let t = theirs[name];
            assert!((f64::from(*v) - t).abs() < 1e-5, "{name}: ours {v}, clmtrackr {t}");
        }
    }

    #[test]
    fn predictions_equal_clmtrackrs_javascript() {
        let c = Classifiers::bundled().unwrap();
        let mut classes = c.emotion.classes.clone();
        classes.sort();
        assert_eq!(classes, ["angry", "disgusted", "fear", "happy", "sad", "surprised"]);
        assert_eq!(c.emotion.needs(), 24);
        let f = fixture();
        for (i, v) in f.vectors.iter().enumerate() {
            same(&c.emotion.predict(v), &f.emotion[i]);
            same(&c.gender.predict(v), &f.gender[i]);
        }
    }

    #[test]
    fn the_read_out_is_clmtrackrs_mean_predict() {
        let f = fixture();
        let mut e = Expression::new(Classifiers::bundled().unwrap());
        for (v, want) in f.vectors.iter().zip(&f.emotion_mean_of_sequence) {
            e.push(v);
            match (e.emotions(), want) {
                (Some(ours), Some(theirs)) => same(&ours, theirs),
                (None, None) => {}
                (ours, theirs) => panic!("ours {ours:?}, clmtrackr {theirs:?}"),
            }
        }
    }

    #[test]
    fn a_captured_neutral_face_reads_neutral() {
        let mut e = Expression::new(Classifiers::bundled().unwrap());
        let f = fixture();
        // A "resting" face far from the model's mean: clmtrackr's reading is skewed by it.
        let rest = &f.vectors[7];
        for _ in 0..WINDOW {
            e.push(rest);
        }
        let skewed = e.emotions().unwrap();
        assert!(e.capture_neutral());
        let neutral = e.emotions().unwrap();
        // Each emotion now reads its prior (σ(bias)), low for all.
        for ((name, v), b) in neutral.iter().zip(&e.classifiers.emotion.bias) {
            assert!((f64::from(*v) - 1.0 / (1.0 + (-b).exp())).abs() < 1e-6, "{name} {v}");
            assert!(*v < 0.2, "{name} reads {v} at rest");
        }
        assert!(skewed.iter().any(|(_, v)| *v > 0.3), "the fixture's face should skew clmtrackr: {skewed:?}");
        // Non-finite parameters are ignored; too few frames read nothing.
        e.clear();
        e.push(&[f32::NAN; 24]);
        assert!(e.emotions().is_none());
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(Classifiers::from_json("{}").is_err());
        let bad = CLMTRACKR_CLASSIFIERS.replacen("\"bias\": -2.3768163629", "\"bias\": \"x\"", 1);
        assert_ne!(bad, CLMTRACKR_CLASSIFIERS);
        assert!(matches!(Classifiers::from_json(&bad), Err(ClassifierError::Bad(..))));
    }
}
