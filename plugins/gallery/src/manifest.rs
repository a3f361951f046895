//! The gallery manifest: a versioned JSON description of a built collection.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atlas::{AtlasFormat, AtlasRect};
use crate::ingest::{Metadata, Skipped};

pub const FORMAT: &str = "headroom-gallery";
pub const VERSION: u32 = 1;
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
        "{path} is a gallery manifest of version {found}; this headroom reads version {VERSION} — rebuild it with `headroom build-gallery`"
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
        if version != VERSION {
            return Err(ManifestError::Version { path: name.to_string(), found: version });
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        m.validate().map_err(invalid)?;
        Ok(m)
    }

    pub fn validate(&self) -> Result<(), String> {
        let n = self.works.len() as u32;
        for (i, w) in self.works.iter().enumerate() {
            if w.thumbs.len() != self.tiers.len() {
                return Err(format!("work {i} has {} thumbnails for {} tiers", w.thumbs.len(), self.tiers.len()));
            }
            for (t, r) in w.thumbs.iter().enumerate() {
                let tier = &self.tiers[t];
                let Some(sz) = tier.atlas_sizes.get(r.atlas as usize) else {
                    return Err(format!("work {i}: atlas {} missing in tier {}", r.atlas, tier.size));
                };
                if r.rect[0] + r.rect[2] > sz[0] || r.rect[1] + r.rect[3] > sz[1] {
                    return Err(format!("work {i}: thumbnail outside its atlas"));
                }
            }
            if let Some(j) = w.similar.iter().find(|&&j| j >= n) {
                return Err(format!("work {i}: similar work {j} out of range"));
            }
            if !w.pos3.iter().chain(&w.pos2).all(|v| v.is_finite()) {
                return Err(format!("work {i}: non-finite position"));
            }
        }
        for t in &self.tiers {
            if t.atlases.len() != t.atlas_sizes.len() {
                return Err(format!("tier {}: {} atlases but {} sizes", t.size, t.atlases.len(), t.atlas_sizes.len()));
            }
        }
        for p in &self.periods {
            if let Some(j) = p.typical.iter().chain(&p.outliers).find(|&&j| j >= n) {
                return Err(format!("period {}: work {j} out of range", p.label));
            }
        }
        Ok(())
    }

    /// Atlas paths of tier `t`, resolved next to the manifest file.
    pub fn atlas_paths(&self, manifest_path: &Path, t: usize) -> Vec<PathBuf> {
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        self.tiers[t].atlases.iter().map(|a| dir.join(a)).collect()
    }
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
}
