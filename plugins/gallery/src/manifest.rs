//! The gallery manifest: a versioned JSON description of a built collection.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atlas::{AtlasFormat, AtlasRect};
use crate::ingest::{Metadata, Skipped};

pub const FORMAT: &str = "headroom-gallery";
/// 2: the `faces` section (optional). Version 1 manifests (no faces) still load.
pub const VERSION: u32 = 2;
/// The oldest version this headroom reads.
pub const OLDEST_VERSION: u32 = 1;
pub const FILE_NAME: &str = "manifest.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub name: String,
    /// Feature extractor used (for the cache and for provenance).
    pub model: String,
    pub tiers: Vec<Tier>,
    pub works: Vec<Work>,
    pub periods: Vec<Period>,
    pub layout: LayoutInfo,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// The faces found in the works (absent in version 1 and in builds with `--no-faces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<Faces>,
}

/// The faces in the works: each with its work, box, landmarks, aligned crop (in the face atlas),
/// embedding and place in the face map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Faces {
    /// How they were found and embedded.
    pub model: String,
    /// Side of the aligned crops (eyes level, a fixed distance apart), pixels.
    pub crop: u32,
    /// The crops, packed like a thumbnail tier.
    pub atlas: Tier,
    /// The embedding is `components · (features − mean)`: features of the aligned crop, reduced by
    /// PCA to `dims` (`mean`: the feature length; `components`: `dims × ` that, row-major).
    pub pca_mean: Vec<f32>,
    pub pca_components: Vec<f32>,
    pub dims: u32,
    pub faces: Vec<Face>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Index of its work.
    pub work: u32,
    /// `[x0, y0, x1, y1]` in the work's source pixels.
    pub bbox: [f32; 4],
    /// The detector's score (0…1).
    pub score: f32,
    /// clmtrackr's 71 points, source pixels.
    pub landmarks: Vec<[f32; 2]>,
    /// Its aligned crop in the face atlas.
    pub thumb: AtlasRect,
    /// `dims` values.
    pub embedding: Vec<f32>,
    /// Its place in the face map (t-SNE 3D of the embeddings).
    pub pos3: [f32; 3],
}

impl Faces {
    /// The embedding of a face's features (the same reduction as the collection's faces).
    pub fn embed(&self, features: &[f32]) -> Option<Vec<f32>> {
        let d = self.pca_mean.len();
        if features.len() != d {
            return None;
        }
        let centred: Vec<f32> = features.iter().zip(&self.pca_mean).map(|(f, m)| f - m).collect();
        Some(
            self.pca_components.chunks_exact(d).map(|row| row.iter().zip(&centred).map(|(a, b)| a * b).sum()).collect(),
        )
    }

    /// The `k` faces nearest to `embedding` (index, distance), nearest first.
    pub fn nearest(&self, embedding: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut d: Vec<(usize, f32)> = self
            .faces
            .iter()
            .enumerate()
            .map(|(i, f)| (i, f.embedding.iter().zip(embedding).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()))
            .filter(|e| e.1.is_finite())
            .collect();
        d.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        d.truncate(k);
        d
    }

    /// Indices of the faces in work `w`.
    pub fn in_work(&self, w: u32) -> impl Iterator<Item = usize> + '_ {
        self.faces.iter().enumerate().filter(move |(_, f)| f.work == w).map(|(i, _)| i)
    }

    fn validate(&self, works: u32) -> Result<(), Invalid> {
        let bad = |problem: String| Invalid { place: Place::Faces, problem };
        let d = self.pca_mean.len();
        let dims = self.dims as usize;
        if d == 0 || dims == 0 || dims > d || self.pca_components.len() != dims * d {
            return Err(bad(format!("a PCA of {} values for {dims} of {d} dimensions", self.pca_components.len())));
        }
        if !self.pca_mean.iter().chain(&self.pca_components).all(|v| v.is_finite()) {
            return Err(bad("non-finite PCA".into()));
        }
        check_tier(&self.atlas).map_err(bad)?;
        for (i, f) in self.faces.iter().enumerate() {
            let bad = |problem: String| Invalid { place: Place::Face(i), problem };
            if f.work >= works {
                return Err(bad(format!("work {} out of range", f.work)));
            }
            check_rect(&self.atlas, &f.thumb).map_err(bad)?;
            if f.embedding.len() != dims {
                return Err(bad(format!("an embedding of {} values, not {dims}", f.embedding.len())));
            }
            let finite = f
                .bbox
                .iter()
                .chain(&f.pos3)
                .chain(&f.embedding)
                .chain(f.landmarks.iter().flatten())
                .all(|v| v.is_finite());
            if !finite || !f.score.is_finite() {
                return Err(bad("non-finite values".into()));
            }
        }
        Ok(())
    }
}

/// Where in a manifest a check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    Manifest,
    /// A thumbnail tier, by its size in px.
    Tier(u32),
    Work(usize),
    Period(String),
    /// The `faces` section itself.
    Faces,
    Face(usize),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Manifest => write!(f, "manifest"),
            Place::Tier(s) => write!(f, "tier {s}"),
            Place::Work(i) => write!(f, "work {i}"),
            Place::Period(l) => write!(f, "period {l}"),
            Place::Faces => write!(f, "faces"),
            Place::Face(i) => write!(f, "face {i}"),
        }
    }
}

/// A manifest entry that fails [`Manifest::validate`]: where, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct Invalid {
    pub place: Place,
    pub problem: String,
}

fn check_tier(t: &Tier) -> Result<(), String> {
    if t.atlases.len() != t.atlas_sizes.len() {
        return Err(format!("{} atlases but {} sizes", t.atlases.len(), t.atlas_sizes.len()));
    }
    if let Some(a) = t.atlases.iter().find(|a| !is_plain_file_name(a)) {
        return Err(format!("atlas `{a}` is not a file name beside the manifest"));
    }
    if let Some(s) = t.atlas_sizes.iter().find(|s| s[0] == 0 || s[1] == 0) {
        return Err(format!("an atlas of {}×{} px", s[0], s[1]));
    }
    Ok(())
}

fn check_rect(tier: &Tier, r: &AtlasRect) -> Result<(), String> {
    let Some(sz) = tier.atlas_sizes.get(r.atlas as usize) else {
        return Err(format!("atlas {} missing in tier {}", r.atlas, tier.size));
    };
    let [x, y, rw, rh] = r.rect.map(u64::from);
    if rw == 0 || rh == 0 || x + rw > sz[0] as u64 || y + rh > sz[1] as u64 {
        return Err(format!("thumbnail {:?} outside its {}×{} atlas in tier {}", r.rect, sz[0], sz[1], tier.size));
    }
    Ok(())
}

/// One thumbnail tier: its atlases (file names relative to the manifest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub size: u32,
    pub format: AtlasFormat,
    pub atlases: Vec<String>,
    /// Pixel size of each atlas.
    pub atlas_sizes: Vec<[u32; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Work {
    /// Path relative to the collection folder.
    pub file: String,
    #[serde(flatten)]
    pub meta: Metadata,
    /// Source image size in pixels.
    pub size: [u32; 2],
    /// t-SNE 3D position (map units, centred).
    pub pos3: [f32; 3],
    /// t-SNE 2D position.
    pub pos2: [f32; 2],
    /// One rect per tier, in tier order.
    pub thumbs: Vec<AtlasRect>,
    /// Indices of the most similar works (nearest in feature space), nearest first.
    pub similar: Vec<u32>,
    /// Distance to its period's mean in feature space, over the period's mean distance (1 = usual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typicality: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Decade,
    Century,
}

/// Statistics of one period (decade or century from the year).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub kind: PeriodKind,
    /// First year of the period (e.g. 1880 for the 1880s; 1801 → century 19 starts at 1800).
    pub start: i32,
    pub label: String,
    pub count: u32,
    /// Mean 3D position of its works.
    pub mean3: [f32; 3],
    /// Works nearest the period's mean embedding (feature space), nearest first.
    pub typical: Vec<u32>,
    /// Works farthest from it, farthest first.
    pub outliers: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayoutInfo {
    pub pca_dims: usize,
    pub perplexity: f32,
    pub iterations: usize,
    /// Works placed by t-SNE `transform` into an existing map (not re-optimised).
    pub transformed: usize,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read gallery manifest {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a headroom gallery manifest: {reason}")]
    Invalid { path: String, reason: String },
    #[error(
        "{path} is a gallery manifest of version {found}; this headroom reads versions {OLDEST_VERSION} to {VERSION} — rebuild it with `headroom build-gallery`"
    )]
    Version { path: String, found: u32 },
}

impl Manifest {
    /// Loads and validates a manifest (format, version, indices within bounds, atlases listed).
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, name: &str) -> Result<Self, ManifestError> {
        let invalid = |reason: String| ManifestError::Invalid { path: name.to_string(), reason };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON ({e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(invalid(format!("missing \"format\": \"{FORMAT}\"")));
        }
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(ManifestError::Version { path: name.to_string(), found: version });
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        m.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(m)
    }

    /// Checks everything the viewer indexes by: at least one tier, one thumbnail per tier for every
    /// work, atlases listed with their sizes and named as plain files beside the manifest,
    /// rectangles inside their atlas (without overflow), work indices in range, finite positions.
    pub fn validate(&self) -> Result<(), Invalid> {
        let at = |place: Place| move |problem: String| Invalid { place: place.clone(), problem };
        if self.tiers.is_empty() {
            return Err(at(Place::Manifest)("no thumbnail tiers".into()));
        }
        for t in &self.tiers {
            check_tier(t).map_err(at(Place::Tier(t.size)))?;
        }
        let n = self.works.len();
        if n > u32::MAX as usize {
            return Err(at(Place::Manifest)(format!("{n} works")));
        }
        let n = n as u32;
        for (i, w) in self.works.iter().enumerate() {
            let bad = at(Place::Work(i));
            if w.thumbs.len() != self.tiers.len() {
                return Err(bad(format!("{} thumbnails for {} tiers", w.thumbs.len(), self.tiers.len())));
            }
            for (t, r) in w.thumbs.iter().enumerate() {
                check_rect(&self.tiers[t], r).map_err(&bad)?;
            }
            if let Some(j) = w.similar.iter().find(|&&j| j >= n) {
                return Err(bad(format!("similar work {j} out of range")));
            }
            if !w.pos3.iter().chain(&w.pos2).all(|v| v.is_finite()) {
                return Err(bad("non-finite position".into()));
            }
            if w.meta.year.is_some_and(|y| y.unsigned_abs() > 1_000_000) {
                return Err(bad(format!("year {} out of range", w.meta.year.unwrap_or(0))));
            }
            if w.typicality.is_some_and(|t| !t.is_finite()) {
                return Err(bad("non-finite typicality".into()));
            }
        }
        for p in &self.periods {
            let bad = at(Place::Period(p.label.clone()));
            if let Some(j) = p.typical.iter().chain(&p.outliers).find(|&&j| j >= n) {
                return Err(bad(format!("work {j} out of range")));
            }
            if !p.mean3.iter().all(|v| v.is_finite()) {
                return Err(bad("non-finite mean position".into()));
            }
        }
        if let Some(f) = &self.faces {
            f.validate(n)?;
        }
        Ok(())
    }

    /// Atlas paths of tier `t`, resolved next to the manifest file.
    pub fn atlas_paths(&self, manifest_path: &Path, t: usize) -> Vec<PathBuf> {
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        self.tiers[t].atlases.iter().map(|a| dir.join(a)).collect()
    }
}

/// A file name with no folder part (no separator, not `.` or `..`, not empty).
fn is_plain_file_name(a: &str) -> bool {
    !a.is_empty() && a != "." && a != ".." && !a.contains(['/', '\\', ':', '\0'])
}

/// Period of a year: (start, label). Decades: 1880 → "1880s"; centuries by the usual count
/// (1801–1900 → "19th century"), BCE years negative.
pub fn period_of(year: i32, kind: PeriodKind) -> (i32, String) {
    match kind {
        PeriodKind::Decade => {
            let start = year.div_euclid(10) * 10;
            let label = if start < 0 { format!("{}s BCE", -start) } else { format!("{start}s") };
            (start, label)
        }
        PeriodKind::Century => {
            // 1..=100 → 1st century; 0 and negatives: BCE.
            let c = if year > 0 { (year - 1) / 100 + 1 } else { -((-year) / 100 + 1) };
            let start = if c > 0 { (c - 1) * 100 } else { c * 100 };
            let n = c.abs();
            let suffix = match (n % 10, n % 100) {
                (1, x) if x != 11 => "st",
                (2, x) if x != 12 => "nd",
                (3, x) if x != 13 => "rd",
                _ => "th",
            };
            let label = if c > 0 { format!("{n}{suffix} century") } else { format!("{n}{suffix} century BCE") };
            (start, label)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_usual_counting() {
        assert_eq!(period_of(1889, PeriodKind::Decade), (1880, "1880s".into()));
        assert_eq!(period_of(1900, PeriodKind::Century).1, "19th century");
        assert_eq!(period_of(1901, PeriodKind::Century).1, "20th century");
        assert_eq!(period_of(2001, PeriodKind::Century).1, "21st century");
        assert_eq!(period_of(1111, PeriodKind::Century).1, "12th century");
        assert_eq!(period_of(-350, PeriodKind::Century).1, "4th century BCE");
        assert_eq!(period_of(-5, PeriodKind::Decade), (-10, "10s BCE".into()));
    }

    pub(crate) fn sample() -> Manifest {
        let work = |i: u32| Work {
            file: format!("w{i}.jpg"),
            meta: Metadata { year: Some(1880 + i as i32), ..Default::default() },
            size: [90, 60],
            pos3: [i as f32, 0.0, 1.0],
            pos2: [0.0, i as f32],
            thumbs: vec![AtlasRect { atlas: 0, rect: [1 + 34 * i, 1, 32, 21] }],
            similar: vec![(i + 1) % 3],
            typicality: Some(1.0),
        };
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            name: "t".into(),
            model: "m".into(),
            tiers: vec![Tier {
                size: 32,
                format: AtlasFormat::Png,
                atlases: vec!["atlas-32-0-0badf00d.png".into()],
                atlas_sizes: vec![[102, 34]],
            }],
            works: (0..3).map(work).collect(),
            periods: vec![Period {
                kind: PeriodKind::Decade,
                start: 1880,
                label: "1880s".into(),
                count: 3,
                mean3: [1.0, 0.0, 1.0],
                typical: vec![0],
                outliers: vec![2],
            }],
            layout: LayoutInfo { pca_dims: 2, perplexity: 2.0, iterations: 10, transformed: 0, seed: 1 },
            skipped: vec![],
            faces: None,
        }
    }

    #[test]
    fn manifests_the_viewer_would_index_out_of_bounds_are_refused() {
        let good = sample();
        good.validate().unwrap();
        let text = serde_json::to_string(&good).unwrap();
        assert_eq!(Manifest::parse(&text, "m.json").unwrap(), good);
        let bad = |f: &dyn Fn(&mut Manifest), want: &str| {
            let mut m = good.clone();
            f(&mut m);
            let e = Manifest::parse(&serde_json::to_string(&m).unwrap(), "bad.json").unwrap_err().to_string();
            assert!(e.contains("bad.json") && e.contains(want), "{want}: {e}");
        };
        // Zero tiers (the works with zero thumbnails to match): validated, then `w.thumbs[t]` panicked.
        bad(
            &|m| {
                m.tiers.clear();
                m.works.iter_mut().for_each(|w| w.thumbs.clear());
            },
            "no thumbnail tiers",
        );
        // x + w wrapped past u32::MAX and passed the bounds check.
        bad(&|m| m.works[1].thumbs[0].rect = [u32::MAX - 5, 1, 10, 21], "outside its 102×34 atlas");
        bad(&|m| m.works[1].thumbs[0].rect = [1, u32::MAX, 32, 2], "outside");
        bad(&|m| m.works[0].thumbs[0].rect[2] = 0, "outside");
        bad(&|m| m.works[0].thumbs[0].atlas = 1, "atlas 1 missing");
        bad(&|m| m.tiers[0].atlas_sizes[0] = [0, 34], "an atlas of 0×34");
        bad(&|m| m.tiers[0].atlases[0] = "../../etc/passwd".into(), "not a file name");
        bad(&|m| m.tiers[0].atlases[0] = "/abs.png".into(), "not a file name");
        bad(&|m| m.works[2].similar = vec![3], "similar work 3 out of range");
        bad(&|m| m.periods[0].outliers = vec![u32::MAX], "out of range");
        bad(&|m| m.works[0].meta.year = Some(i32::MIN), "year");
        let e = Manifest::parse(&text.replace("\"pos3\":[0.0", "\"pos3\":[1e999"), "m.json").unwrap_err();
        assert!(e.to_string().contains("m.json"), "{e}");
    }

    #[test]
    fn bad_and_old_manifests_are_clear_errors() {
        let e = Manifest::parse("{", "m.json").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
        let e = Manifest::parse(r#"{"format":"other"}"#, "m.json").unwrap_err().to_string();
        assert!(e.contains("headroom-gallery"), "{e}");
        let e = Manifest::parse(r#"{"format":"headroom-gallery","version":0}"#, "m.json").unwrap_err().to_string();
        assert!(e.contains("version 0") && e.contains("rebuild"), "{e}");
        let e = Manifest::parse(r#"{"format":"headroom-gallery","version":1,"works":3}"#, "m.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.json"), "{e}");
        let e = Manifest::load(Path::new("/nonexistent/manifest.json")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/manifest.json"), "{e}");
    }

    fn with_faces() -> Manifest {
        let mut m = sample();
        let face = |work: u32, e: [f32; 2]| Face {
            work,
            bbox: [1.0, 2.0, 20.0, 24.0],
            score: 0.9,
            landmarks: vec![[5.0, 6.0]; 71],
            thumb: AtlasRect { atlas: 0, rect: [1, 1, 16, 16] },
            embedding: e.to_vec(),
            pos3: [0.0, 1.0, 2.0],
        };
        m.faces = Some(Faces {
            model: "test".into(),
            crop: 16,
            atlas: Tier {
                size: 16,
                format: AtlasFormat::Jpeg,
                atlases: vec!["faces-16-0-0badf00d.jpg".into()],
                atlas_sizes: vec![[36, 18]],
            },
            pca_mean: vec![1.0, 1.0, 1.0],
            pca_components: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            dims: 2,
            faces: vec![face(0, [0.0, 0.0]), face(2, [3.0, 4.0]), face(2, [1.0, 0.0])],
        });
        m
    }

    #[test]
    fn version_1_manifests_load_without_faces_and_a_faces_section_is_checked() {
        // A version-1 manifest (as built before faces): no `faces` key at all.
        let mut v1: serde_json::Value = serde_json::to_value(sample()).unwrap();
        v1["version"] = 1.into();
        assert!(v1.get("faces").is_none());
        let m = Manifest::parse(&v1.to_string(), "v1.json").unwrap();
        assert!(m.faces.is_none());
        v1["version"] = (VERSION + 1).into();
        let e = Manifest::parse(&v1.to_string(), "v9.json").unwrap_err().to_string();
        assert!(e.contains("rebuild"), "{e}");
        // With faces: round trip, embedding, nearest, faces per work.
        let m = with_faces();
        let back = Manifest::parse(&serde_json::to_string(&m).unwrap(), "f.json").unwrap();
        assert_eq!(back, m);
        let f = m.faces.as_ref().unwrap();
        assert_eq!(f.embed(&[2.0, 1.0, 5.0]), Some(vec![1.0, 0.0]));
        assert_eq!(f.embed(&[2.0]), None);
        assert_eq!(f.nearest(&[1.0, 0.0], 2).iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 0]);
        assert_eq!(f.in_work(2).collect::<Vec<_>>(), vec![1, 2]);
        // Each thing the viewer would index by is refused when out of range.
        type Spoiler = (fn(&mut Faces), Place);
        let bad: [Spoiler; 5] = [
            (|f| f.faces[0].work = 3, Place::Face(0)),
            (|f| f.faces[1].thumb.rect = [30, 0, 16, 16], Place::Face(1)),
            (|f| f.faces[2].embedding.push(1.0), Place::Face(2)),
            (|f| f.pca_components.pop().map_or((), |_| ()), Place::Faces),
            (|f| f.faces[0].pos3[1] = f32::NAN, Place::Face(0)),
        ];
        for (k, (spoil, place)) in bad.iter().enumerate() {
            let mut m = with_faces();
            spoil(m.faces.as_mut().unwrap());
            let e = m.validate().expect_err(&format!("spoiler {k} passed"));
            assert_eq!(&e.place, place, "spoiler {k}: {e}");
        }
    }
}

/// Property tests: `PROPTEST_CASES` sets the number of cases (256 by default); the README gives
/// the command for a long run.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Everything the viewer (plugin.rs, view.rs) indexes in a manifest, done the way it does it.
    fn use_like_the_viewer(m: &Manifest) {
        let top = m.tiers.len() - 1;
        for w in &m.works {
            for t in [0, top] {
                let r = w.thumbs[t];
                let [aw, ah] = m.tiers[t].atlas_sizes[r.atlas as usize];
                assert!(r.rect[0].checked_add(r.rect[2]).is_some_and(|e| e <= aw));
                assert!(r.rect[1].checked_add(r.rect[3]).is_some_and(|e| e <= ah));
            }
            for &j in &w.similar {
                let _ = &m.works[j as usize];
            }
            let _ = crate::view::quad_half(w, 1.0);
        }
        for p in &m.periods {
            for &j in p.typical.iter().chain(&p.outliers) {
                let _ = &m.works[j as usize];
            }
        }
        for layout in crate::view::Layout::ALL {
            let pos = crate::view::layout_positions(m, layout);
            assert_eq!(pos.len(), m.works.len());
        }
    }

    fn edge_u32() -> impl Strategy<Value = u32> {
        prop_oneof![Just(0u32), Just(1), Just(u32::MAX), Just(u32::MAX - 1), Just(1 << 31), 0u32..300]
    }

    fn edge_f32() -> impl Strategy<Value = f32> {
        prop_oneof![Just(0.0f32), Just(f32::MAX), Just(-f32::MAX), Just(1e-30), -100.0f32..100.0]
    }

    prop_compose! {
        fn arb_tier()(size in edge_u32(), sizes in prop::collection::vec((edge_u32(), edge_u32()), 0..3)) -> Tier {
            Tier {
                size,
                format: AtlasFormat::Png,
                atlases: (0..sizes.len()).map(|k| format!("atlas-{size}-{k}.png")).collect(),
                atlas_sizes: sizes.into_iter().map(|(w, h)| [w, h]).collect(),
            }
        }
    }

    prop_compose! {
        fn arb_work()(
            thumbs in prop::collection::vec((0u32..3, edge_u32(), edge_u32(), edge_u32(), edge_u32()), 0..3),
            similar in prop::collection::vec(edge_u32(), 0..3),
            pos in (edge_f32(), edge_f32(), edge_f32()),
            size in (edge_u32(), edge_u32()),
            year in prop::option::of(prop_oneof![Just(i32::MIN), Just(i32::MAX), -3000i32..3000]),
        ) -> Work {
            Work {
                file: "w.jpg".into(),
                meta: Metadata { year, ..Default::default() },
                size: [size.0, size.1],
                pos3: [pos.0, pos.1, pos.2],
                pos2: [pos.1, pos.2],
                thumbs: thumbs.into_iter().map(|(atlas, x, y, w, h)| AtlasRect { atlas, rect: [x, y, w, h] }).collect(),
                similar,
                typicality: None,
            }
        }
    }

    prop_compose! {
        fn arb_manifest()(
            tiers in prop::collection::vec(arb_tier(), 0..3),
            works in prop::collection::vec(arb_work(), 0..5),
            typical in prop::collection::vec(edge_u32(), 0..3),
        ) -> Manifest {
            let mut m = tests::sample();
            m.tiers = tiers;
            m.works = works;
            m.periods[0].typical = typical;
            m
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_text(text in any::<String>()) {
            let _ = Manifest::parse(&text, "p.json");
        }

        #[test]
        fn parse_never_panics_on_a_manifest_with_bytes_changed(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = serde_json::to_vec(&tests::sample()).unwrap();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = Manifest::parse(&String::from_utf8_lossy(&bytes), "p.json");
        }

        #[test]
        fn whatever_validates_is_safe_for_the_viewer(m in arb_manifest()) {
            let text = serde_json::to_string(&m).unwrap();
            if let Ok(parsed) = Manifest::parse(&text, "p.json") {
                use_like_the_viewer(&parsed);
            }
        }
    }
}
