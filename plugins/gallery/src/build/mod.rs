//! `headroom build-gallery`: folder → thumbnails/atlases → MobileNetV2 features → PCA → t-SNE
//! 3D and 2D → similar works and period statistics → manifest. Incremental and resumable.
//!
//! Output folder:
//! - `manifest.json`, `atlas-<tier>-<k>-<crc32>.<png|jpg>`, `report.txt` (skipped files and why,
//!   metadata warnings, what the cache repair found);
//! - `cache/features.bin`: an append-only log of checksummed records (key = weights CRC | relative
//!   path | size | mtime → source size and 1280-d features), synced after every batch and repaired
//!   on open ([`crate::cache`]), so an interrupted build resumes where it stopped and a re-run
//!   computes only new or changed files;
//! - `cache/thumbs/<tier>/<hash>.png`: each work's thumbnail per tier;
//! - `cache/layout.json`: the PCA basis and positions of the last map and the settings it was made
//!   with, so that new works join it by t-SNE `transform` without moving the others (`--relayout`,
//!   or a changed `--perplexity`, `--seed`, `--iterations` or model, lays out the whole map again).
//!
//! [`build`] runs six named stages, one file each: [`ingest`] (options checked, the folder
//! scanned, metadata read, the cache opened), [`features`] (decode, thumbnails, MobileNetV2 for
//! the works not cached), [`map`] (PCA, t-SNE or `transform` into the saved map, similar works),
//! [`atlases`] (thumbnails packed per tier), [`faces`] (the faces in the works: found, aligned,
//! embedded, mapped, their crops in an atlas; `--no-faces` skips it) and [`write`] (metadata
//! joined, period statistics,
//! `report.txt`, the manifest last, then what it no longer lists removed).

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::atlas::AtlasFormat;
use crate::cache;
use crate::ingest::Skipped;
use crate::tsne;

mod atlases;
pub mod faces;
mod features;
mod ingest;
mod map;
mod write;

#[cfg(test)]
mod tests;

/// Why a build stopped. Nothing is lost when it does: outputs are written atomically and the
/// previous gallery stays until the new manifest is written.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The options asked for something impossible.
    #[error("{0}")]
    Options(String),
    /// Nothing to build from.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Model(#[from] crate::features::ModelError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error(transparent)]
    Metadata(#[from] crate::ingest::MetadataError),
    /// The manifest about to be written fails its own checks (a bug; nothing is written).
    #[error("the new manifest is inconsistent: {0}")]
    Manifest(#[from] crate::manifest::Invalid),
    #[error("cannot encode: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot encode an atlas: {0}")]
    Image(#[from] image::ImageError),
    /// A file could not be read, decoded or written (what, and why).
    #[error("{0}")]
    File(String),
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// `with_context` for this module: any displayable error (or a missing value) becomes a
/// [`BuildError::File`] that says what was being done.
trait Context<T> {
    fn with_context<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn with_context<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|e| BuildError::File(format!("{}: {e}", what())))
    }
}

impl<T> Context<T> for Option<T> {
    fn with_context<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.ok_or_else(|| BuildError::File(what()))
    }
}

pub const MODEL_ID: &str = "mobilenet_v2 torchvision ImageNet (b0353104), 1280-d pooled";

#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub dir: PathBuf,
    pub metadata: Option<PathBuf>,
    pub out: PathBuf,
    pub model: PathBuf,
    pub tiers: Vec<u32>,
    pub atlas_format: AtlasFormat,
    pub atlas_max: u32,
    pub relayout: bool,
    pub perplexity: f32,
    pub pca_dims: usize,
    pub iterations: usize,
    pub seed: u64,
    pub batch: usize,
    pub similar: usize,
    pub period_examples: usize,
    /// Stop after this many works (in path order); for trials on big folders.
    pub limit: Option<usize>,
    pub progress: bool,
    pub name: Option<String>,
    /// Runs t-SNE instead of the CPU optimiser (the GPU twin); on its error the CPU takes over.
    pub tsne_engine: Option<std::sync::Arc<dyn tsne::TsneEngine>>,
    /// Find the faces in the works (the manifest's `faces` section).
    pub faces: bool,
}

impl BuildOptions {
    pub fn new(dir: impl Into<PathBuf>, out: impl Into<PathBuf>, model: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            metadata: None,
            out: out.into(),
            model: model.into(),
            tiers: vec![128, 256],
            atlas_format: AtlasFormat::Png,
            atlas_max: 4096,
            relayout: false,
            perplexity: 30.0,
            pca_dims: 50,
            iterations: 750,
            seed: 42,
            batch: 16,
            similar: 12,
            period_examples: 8,
            limit: None,
            progress: true,
            name: None,
            tsne_engine: None,
            faces: true,
        }
    }
}

/// What a build did.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub works: usize,
    pub skipped: Vec<Skipped>,
    pub features_computed: usize,
    pub features_reused: usize,
    pub feature_seconds: f64,
    pub transformed: usize,
    pub relaid_out: bool,
    pub layout_seconds: f64,
    /// Which optimiser laid the map out ("cpu" or the engine's name); empty when reused.
    pub tsne_engine: String,
    pub total_seconds: f64,
    pub atlases: usize,
    pub manifest: PathBuf,
    /// What opening the feature cache found and repaired.
    pub cache: cache::Repair,
    /// Why the saved map was not kept, when it was not.
    pub layout_note: Option<String>,
    /// Metadata rows that were bad, repeated or ambiguous.
    pub metadata_warnings: Vec<String>,
    /// Faces found in the works, and in how many works.
    pub faces: usize,
    pub works_with_faces: usize,
    /// Works searched for faces by this build (the others came from the cache).
    pub faces_searched: usize,
    pub faces_seconds: f64,
    /// What opening the face cache found, when it dropped something.
    pub faces_note: Option<String>,
}

impl BuildReport {
    pub fn images_per_second(&self) -> f64 {
        if self.feature_seconds > 0.0 { self.features_computed as f64 / self.feature_seconds } else { 0.0 }
    }
}

/// The model part of the feature cache keys: the CRC-32 of the weights file.
pub fn model_tag(weights: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(weights))
}

/// Feature cache key of a file: model tag, relative path, size, mtime.
fn feature_key(tag: &str, f: &crate::ingest::Found) -> String {
    format!("{tag}|{}", f.key())
}

fn bar(mp: &MultiProgress, show: bool, len: u64, msg: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = mp.add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:32}] {pos}/{len} {per_sec} ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Runs the build: [`ingest::ingest`], [`features::features`], [`map::map`],
/// [`atlases::atlases`], [`faces::faces`], [`write::write`].
///
/// Crash safety: the feature cache is an append-only checksummed log, synced after every batch and
/// repaired on open ([`crate::cache`]); thumbnails are cached per tier and checked when read;
/// every output is written to a temporary file, synced and renamed into place; atlases carry a
/// checksum of their contents in their names, so a new build never overwrites a file the current
/// manifest uses; the manifest is written last, and only then are atlases it no longer lists
/// removed. A build killed at any moment leaves the previous gallery intact and resumes.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let t0 = Instant::now();
    let mut input = ingest::ingest(opts)?;
    let mut report = BuildReport { cache: input.cache.repair.clone(), ..Default::default() };
    let mp = MultiProgress::new();
    let works = features::features(opts, &mut input, &mut report, &mp)?;
    let map = map::map(opts, &input, &works, &mut report, &mp)?;
    let atlases = atlases::atlases(opts, &input, &works, &mut report, &mp)?;
    let faces = faces::faces(opts, &input, &works, &mut report, &mp)?;
    write::write(opts, input, works, map, atlases, faces, &mut report)?;
    report.total_seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// The bundled MobileNetV2 weights: `HEADROOM_ASSETS`, `./assets`, next to the executable (and two
/// levels up, for `target/<profile>`), or the source tree.
pub fn default_model_path() -> PathBuf {
    find_asset("models/mobilenet_v2.safetensors")
}

/// Locates a file under the project's `assets/` folder (see [`default_model_path`]).
pub fn find_asset(rel: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("HEADROOM_ASSETS") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(PathBuf::from("assets"));
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            candidates.push(up.join("assets"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets"));
    for c in &candidates {
        if c.join(rel).exists() {
            return c.join(rel);
        }
    }
    candidates.last().unwrap().join(rel)
}
