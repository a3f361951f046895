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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::atlas::{self, AtlasFormat, AtlasRect, Grid};
use crate::cache::{self, FeatureCache};
use crate::features::{self, FEATURES, MobileNetV2};
use crate::fsio;
use crate::ingest::{self, Found, Metadata, Skipped};
use crate::manifest::{self, LayoutInfo, Manifest, Period, PeriodKind, Tier, Work};
use crate::tsne::{self, Matrix, Pca, TsneConfig};

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
    Model(#[from] features::ModelError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
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
}

impl BuildReport {
    pub fn images_per_second(&self) -> f64 {
        if self.feature_seconds > 0.0 { self.features_computed as f64 / self.feature_seconds } else { 0.0 }
    }
}

/// A decoded image: source size and, when its features are not cached, the network's 224×224 RGB
/// input; or why it was skipped.
type Decoded = std::result::Result<([u32; 2], Option<Vec<u8>>), String>;
/// An atlas written to disk: file name, pixel size, the rects it holds.
type BuiltAtlas = (String, [u32; 2], Vec<AtlasRect>);

/// The model part of the feature cache keys: the CRC-32 of the weights file.
pub fn model_tag(weights: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(weights))
}

/// Feature cache key of a file: model tag, relative path, size, mtime.
fn feature_key(tag: &str, f: &Found) -> String {
    format!("{tag}|{}", f.key())
}

/// Where the thumbnail of a file at one tier is cached: `cache/thumbs/<tier>/<hash of the file key>.png`.
fn thumb_cache_path(cache: &Path, tier: u32, f: &Found) -> PathBuf {
    // FNV-1a 64 of the key.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in f.key().as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    cache.join("thumbs").join(tier.to_string()).join(format!("{h:016x}.png"))
}

/// Makes the thumbnail of every tier from the source and writes the missing ones to the cache
/// (each straight from the source, so a tier's thumbnail is the same whichever tiers a build has).
fn cache_thumbnails(cache: &Path, tiers: &[u32], f: &Found, rgb: &image::RgbImage) -> Result<()> {
    for &t in tiers {
        let p = thumb_cache_path(cache, t, f);
        if p.exists() {
            continue;
        }
        let bytes = atlas::encode_png(&atlas::thumbnail(rgb, t))
            .with_context(|| format!("cannot encode the thumbnail of {}", f.rel))?;
        fsio::write_replace(&p, &bytes).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// The cached thumbnail of a file at a tier, if it is there, readable and of the expected size.
fn cached_thumbnail(cache: &Path, tier: u32, f: &Found, source: [u32; 2]) -> Option<image::RgbImage> {
    let t = image::open(thumb_cache_path(cache, tier, f)).ok()?.to_rgb8();
    (t.dimensions() == atlas::thumb_size(source[0], source[1], tier)).then_some(t)
}

/// The map of the last build (`cache/layout.json`) and the settings it was made with.
#[derive(Serialize, Deserialize)]
struct SavedLayout {
    keys: Vec<String>,
    pca_mean: Vec<f32>,
    pca_components: Vec<f32>,
    pca_dims: usize,
    pos3: Vec<[f32; 3]>,
    pos2: Vec<[f32; 2]>,
    perplexity: f32,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    iterations: usize,
    /// `--pca-dims` asked for (the basis may have fewer with few works).
    #[serde(default)]
    pca_dims_asked: usize,
    /// Model tag of the features it was made from.
    #[serde(default)]
    model: String,
}

impl SavedLayout {
    /// Whether its arrays agree with each other (a layout.json edited or damaged by hand could
    /// otherwise index out of bounds).
    fn check(&self) -> std::result::Result<(), String> {
        let n = self.keys.len();
        if self.pca_mean.len() != FEATURES {
            return Err(format!("a PCA mean of {} values, expected {FEATURES}", self.pca_mean.len()));
        }
        if self.pca_dims == 0 || self.pca_dims > FEATURES || self.pca_components.len() != self.pca_dims * FEATURES {
            return Err(format!(
                "{} PCA component values for {} dimensions of {FEATURES}",
                self.pca_components.len(),
                self.pca_dims
            ));
        }
        if self.pos3.len() != n || self.pos2.len() != n {
            return Err(format!("{n} works but {} 3D and {} 2D positions", self.pos3.len(), self.pos2.len()));
        }
        if self.keys.iter().collect::<std::collections::HashSet<_>>().len() != n {
            return Err("a work listed twice".into());
        }
        let finite = self.pca_mean.iter().chain(&self.pca_components).all(|v| v.is_finite())
            && self.pos3.iter().flatten().chain(self.pos2.iter().flatten()).all(|v| v.is_finite());
        if !finite {
            return Err("non-finite numbers".into());
        }
        Ok(())
    }

    /// Why a map made with these settings cannot be kept for `opts`, if it cannot.
    fn changed(&self, opts: &BuildOptions, tag: &str) -> Option<String> {
        if self.model != tag {
            return Some(format!("the model changed (weights {tag}, the map's {})", self.model));
        }
        if self.perplexity.to_bits() != opts.perplexity.to_bits() {
            return Some(format!("--perplexity changed ({} → {})", self.perplexity, opts.perplexity));
        }
        if self.seed != opts.seed {
            return Some(format!("--seed changed ({} → {})", self.seed, opts.seed));
        }
        if self.iterations != opts.iterations {
            return Some(format!("--iterations changed ({} → {})", self.iterations, opts.iterations));
        }
        if self.pca_dims_asked != opts.pca_dims {
            return Some(format!("the PCA dimensions changed ({} → {})", self.pca_dims_asked, opts.pca_dims));
        }
        None
    }
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

/// Whether a file name is one of the build's atlases (`atlas-<tier>-<k>[-<crc>].<png|jpg>`).
fn is_atlas_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".png").or_else(|| name.strip_suffix(".jpg")) else { return false };
    let Some(rest) = stem.strip_prefix("atlas-") else { return false };
    let parts: Vec<&str> = rest.split('-').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match parts[..] {
        [t, k] => digits(t) && digits(k),
        [t, k, c] => digits(t) && digits(k) && c.len() == 8 && c.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => false,
    }
}

/// Runs the build.
///
/// Crash safety: the feature cache is an append-only checksummed log, synced after every batch and
/// repaired on open ([`crate::cache`]); thumbnails are cached per tier and checked when read;
/// every output is written to a temporary file, synced and renamed into place; atlases carry a
/// checksum of their contents in their names, so a new build never overwrites a file the current
/// manifest uses; the manifest is written last, and only then are atlases it no longer lists
/// removed. A build killed at any moment leaves the previous gallery intact and resumes.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let t0 = Instant::now();
    let max_tier = opts.atlas_max.saturating_sub(2);
    if opts.atlas_max > 16384 {
        return Err(BuildError::Options(format!("atlas size {} px is more than the 16384 px allowed", opts.atlas_max)));
    }
    if opts.tiers.is_empty() || opts.tiers.iter().any(|&t| t == 0 || t > max_tier) {
        return Err(BuildError::Options(format!(
            "thumbnail tiers must be between 1 and {max_tier} px (asked for {:?})",
            opts.tiers
        )));
    }
    if !(opts.perplexity.is_finite() && opts.perplexity > 0.0) {
        return Err(BuildError::Options(format!("--perplexity must be a positive number (got {})", opts.perplexity)));
    }
    let mut tiers = opts.tiers.clone();
    tiers.sort_unstable();
    tiers.dedup();
    let (mut found, mut skipped) =
        ingest::scan(&opts.dir).with_context(|| format!("cannot scan {}", opts.dir.display()))?;
    // Never ingest our own output when it lies inside the collection folder.
    if let (Ok(out), Ok(dir)) = (opts.out.canonicalize(), opts.dir.canonicalize())
        && let Ok(rel) = out.strip_prefix(&dir)
    {
        let prefix = rel.to_string_lossy().replace('\\', "/");
        if !prefix.is_empty() {
            found.retain(|f| !f.rel.starts_with(&format!("{prefix}/")));
        }
    }
    if let Some(limit) = opts.limit {
        found.truncate(limit);
    }
    let (meta, mut meta_warnings) = match &opts.metadata {
        Some(p) => ingest::read_metadata(p).map_err(BuildError::File)?,
        None => (HashMap::new(), Vec::new()),
    };
    let cache_dir = opts.out.join("cache");
    for &t in &tiers {
        let d = cache_dir.join("thumbs").join(t.to_string());
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        fsio::remove_stale_temporaries(&d);
    }
    for d in [&opts.out, &cache_dir] {
        fsio::remove_stale_temporaries(d);
    }
    let weights = std::fs::read(&opts.model)
        .map_err(|source| features::ModelError::Read { path: opts.model.display().to_string(), source })?;
    let tag = model_tag(&weights);
    let cache_path = cache_dir.join("features.bin");
    let mut cache = FeatureCache::open(&cache_path, FEATURES)?;
    let mut report = BuildReport { cache: cache.repair.clone(), ..Default::default() };

    let mp = MultiProgress::new();
    let show = opts.progress;
    let todo: Vec<&Found> = found
        .iter()
        .filter(|f| {
            !cache.contains(&feature_key(&tag, f))
                || tiers.iter().any(|&t| !thumb_cache_path(&cache_dir, t, f).exists())
        })
        .collect();
    let mut skipped_now = std::collections::HashSet::new();
    let t_feat = Instant::now();
    if !todo.is_empty() {
        let mut net = None;
        let pb = bar(&mp, show, todo.len() as u64, "features");
        for chunk in todo.chunks(opts.batch.max(1)) {
            // Decode, thumbnail and preprocess in parallel.
            let decoded: Vec<Result<Decoded>> = chunk
                .par_iter()
                .map(|f| {
                    let img = match ingest::decode(&f.path, f.size) {
                        Ok(img) => img,
                        Err(reason) => return Ok(Err(reason)),
                    };
                    let size = [img.width(), img.height()];
                    let input = if cache.contains(&feature_key(&tag, f)) {
                        None
                    } else {
                        match features::preprocess(&img) {
                            Ok(px) => Some(px),
                            Err(e) => return Ok(Err(e.to_string())),
                        }
                    };
                    cache_thumbnails(&cache_dir, &tiers, f, &img.to_rgb8())?;
                    Ok(Ok((size, input)))
                })
                .collect();
            let mut need: Vec<(usize, [u32; 2], Vec<u8>)> = Vec::new();
            for (k, d) in decoded.into_iter().enumerate() {
                match d? {
                    Ok((size, Some(px))) => need.push((k, size, px)),
                    Ok((_, None)) => {}
                    Err(reason) => {
                        skipped_now.insert(chunk[k].rel.clone());
                        skipped.push(Skipped { file: chunk[k].rel.clone(), reason });
                    }
                }
            }
            if !need.is_empty() {
                if net.is_none() {
                    net = Some(
                        MobileNetV2::from_bytes(&weights)
                            .map_err(|e| BuildError::File(format!("{}: {e}", opts.model.display())))?,
                    );
                }
                let inputs: Vec<&[u8]> = need.iter().map(|n| n.2.as_slice()).collect();
                let feats = net.as_ref().unwrap().features_rgb(&inputs)?;
                let records: Vec<(String, cache::Entry)> = need
                    .iter()
                    .zip(feats)
                    .map(|(n, feat)| (feature_key(&tag, chunk[n.0]), cache::Entry { size: n.1, feat }))
                    .collect();
                report.features_computed += records.len();
                cache.append(records)?;
            }
            pb.inc(chunk.len() as u64);
        }
        pb.finish();
    }
    report.feature_seconds = t_feat.elapsed().as_secs_f64();

    // Works in path order: everything with features (and not unreadable now).
    let items: Vec<&Found> =
        found.iter().filter(|f| cache.contains(&feature_key(&tag, f)) && !skipped_now.contains(&f.rel)).collect();
    let n = items.len();
    report.features_reused = n.saturating_sub(report.features_computed);
    if n == 0 {
        write_report(&opts.out, &skipped, &meta_warnings, &report)?;
        return Err(BuildError::Input(format!(
            "no readable images in {} ({} skipped; see {})",
            opts.dir.display(),
            skipped.len(),
            opts.out.join("report.txt").display()
        )));
    }
    let keys: Vec<String> = items.iter().map(|f| feature_key(&tag, f)).collect();
    let entry = |i: usize| cache.get(&keys[i]).expect("items are the works with cached features");
    let feats = Matrix::new(n, FEATURES, (0..n).flat_map(|i| entry(i).feat.iter().copied()).collect());
    let sizes: Vec<[u32; 2]> = (0..n).map(|i| entry(i).size).collect();

    // Layout: reuse the saved map when it was made with the same settings and the collection only
    // grew by less than it already holds.
    let t_layout = Instant::now();
    let layout_path = cache_dir.join("layout.json");
    let saved: Option<SavedLayout> = if opts.relayout {
        None
    } else {
        match std::fs::read_to_string(&layout_path) {
            Err(_) => None,
            Ok(text) => match serde_json::from_str::<SavedLayout>(&text)
                .map_err(|e| e.to_string())
                .and_then(|s| s.check().map(|_| s))
            {
                Ok(s) => match s.changed(opts, &tag) {
                    None => Some(s),
                    Some(why) => {
                        report.layout_note = Some(format!("map laid out afresh: {why}"));
                        None
                    }
                },
                Err(e) => {
                    report.layout_note =
                        Some(format!("{} was inconsistent ({e}); the map was laid out afresh", layout_path.display()));
                    None
                }
            },
        }
    };
    let cfg = |dims| TsneConfig {
        dims,
        perplexity: opts.perplexity,
        early_iters: opts.iterations.min(250),
        iters: opts.iterations.saturating_sub(250),
        seed: opts.seed,
        ..Default::default()
    };
    let (pca, pos3, pos2) = match saved {
        Some(s)
            if {
                let old: std::collections::HashSet<&String> = s.keys.iter().collect();
                let kept = keys.iter().filter(|k| old.contains(k)).count();
                kept >= 4 && (n - kept) <= kept
            } =>
        {
            let pca = Pca {
                mean: s.pca_mean.clone(),
                components: Matrix::new(s.pca_dims, FEATURES, s.pca_components.clone()),
                variances: vec![0.0; s.pca_dims],
            };
            let index: HashMap<&String, usize> = s.keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
            let z = pca.transform(&feats);
            let (old_rows, new_rows): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| index.contains_key(&keys[i]));
            let pick = |rows: &[usize], m: &Matrix| {
                Matrix::new(rows.len(), m.cols, rows.iter().flat_map(|&i| m.row(i).to_vec()).collect())
            };
            let zref = pick(&old_rows, &z);
            let znew = pick(&new_rows, &z);
            let ref3 = Matrix::new(old_rows.len(), 3, old_rows.iter().flat_map(|&i| s.pos3[index[&keys[i]]]).collect());
            let ref2 = Matrix::new(old_rows.len(), 2, old_rows.iter().flat_map(|&i| s.pos2[index[&keys[i]]]).collect());
            let new3 = tsne::transform(&zref, &ref3, &znew, 5.0_f32.max(opts.perplexity / 6.0), 250);
            let new2 = tsne::transform(&zref, &ref2, &znew, 5.0_f32.max(opts.perplexity / 6.0), 250);
            let mut pos3 = vec![[0.0f32; 3]; n];
            let mut pos2 = vec![[0.0f32; 2]; n];
            for &i in &old_rows {
                pos3[i] = s.pos3[index[&keys[i]]];
                pos2[i] = s.pos2[index[&keys[i]]];
            }
            for (k, &i) in new_rows.iter().enumerate() {
                pos3[i] = [new3.data[k * 3], new3.data[k * 3 + 1], new3.data[k * 3 + 2]];
                pos2[i] = [new2.data[k * 2], new2.data[k * 2 + 1]];
            }
            report.transformed = new_rows.len();
            (pca, pos3, pos2)
        }
        _ => {
            report.relaid_out = true;
            let pca = Pca::fit(&feats, opts.pca_dims);
            let z = pca.transform(&feats);
            let pb = bar(&mp, show, 2 * opts.iterations as u64, "t-SNE 3D+2D");
            let tick = |_: usize, _: usize| pb.inc(1);
            let run = |dims| match &opts.tsne_engine {
                Some(engine) if n >= 4 => engine.run(&z, &cfg(dims), Some(&tick)).unwrap_or_else(|e| {
                    mp.suspend(|| eprintln!("t-SNE on {} failed ({e}); running it on the CPU", engine.name()));
                    tsne::tsne(&z, &cfg(dims), Some(&tick))
                }),
                _ => tsne::tsne(&z, &cfg(dims), Some(&tick)),
            };
            let y3 = run(3);
            let y2 = run(2);
            report.tsne_engine = opts.tsne_engine.as_ref().map_or_else(|| "cpu".into(), |e| e.name());
            pb.finish();
            let pos3 = (0..n).map(|i| [y3.data[i * 3], y3.data[i * 3 + 1], y3.data[i * 3 + 2]]).collect();
            let pos2 = (0..n).map(|i| [y2.data[i * 2], y2.data[i * 2 + 1]]).collect();
            (pca, pos3, pos2)
        }
    };
    report.layout_seconds = t_layout.elapsed().as_secs_f64();
    let z = pca.transform(&feats);
    let saved = SavedLayout {
        keys: keys.clone(),
        pca_mean: pca.mean.clone(),
        pca_components: pca.components.data.clone(),
        pca_dims: pca.components.rows,
        pos3: pos3.clone(),
        pos2: pos2.clone(),
        perplexity: opts.perplexity,
        seed: opts.seed,
        iterations: opts.iterations,
        pca_dims_asked: opts.pca_dims,
        model: tag.clone(),
    };
    fsio::write_atomic(&layout_path, serde_json::to_string(&saved)?.as_bytes())
        .with_context(|| format!("cannot write {}", layout_path.display()))?;

    // Similar works: nearest neighbours in PCA feature space.
    let similar = tsne::knn(&z, &z, opts.similar, true);

    // Metadata joined on the path (or its tail: the file name alone when that is unambiguous).
    let rels: Vec<&str> = items.iter().map(|f| f.rel.as_str()).collect();
    let (joined, join_warnings) = ingest::join_metadata(&rels, &meta);
    meta_warnings.extend(join_warnings);
    let metas: Vec<Metadata> = joined
        .into_iter()
        .zip(&rels)
        .map(|(m, rel)| {
            m.unwrap_or_else(|| Metadata {
                title: rel.rsplit('/').next().unwrap_or(rel).to_string(),
                ..Default::default()
            })
        })
        .collect();
    let (periods, typicality) = period_stats(&metas, &z, &pos3, opts.period_examples);

    // Atlases, per tier, from the cached thumbnails (made again from the source when one is missing
    // or unreadable).
    let pb = bar(&mp, show, (n * tiers.len()) as u64, "atlases");
    let mut tier_out = Vec::new();
    let mut rects: Vec<Vec<AtlasRect>> = vec![Vec::new(); n];
    let mut listed = std::collections::HashSet::new();
    for &tier in &tiers {
        let grid = Grid::new(tier, opts.atlas_max);
        let thumbs: Vec<image::RgbImage> = items
            .par_iter()
            .zip(sizes.par_iter())
            .map(|(f, &size)| {
                pb.inc(1);
                if let Some(t) = cached_thumbnail(&cache_dir, tier, f, size) {
                    return Ok(t);
                }
                let p = thumb_cache_path(&cache_dir, tier, f);
                std::fs::remove_file(&p).ok();
                let img = ingest::decode(&f.path, f.size)
                    .map_err(|e| BuildError::File(format!("cannot make the thumbnail of {}: {e}", f.rel)))?;
                cache_thumbnails(&cache_dir, &[tier], f, &img.to_rgb8())?;
                cached_thumbnail(&cache_dir, tier, f, size).with_context(|| {
                    format!(
                        "{} changed while the gallery was built ({}×{} px, was {}×{})",
                        f.rel,
                        img.width(),
                        img.height(),
                        size[0],
                        size[1]
                    )
                })
            })
            .collect::<Result<_>>()?;
        let count = grid.atlas_count(n);
        let built: Vec<Result<BuiltAtlas>> = (0..count)
            .into_par_iter()
            .map(|a| {
                let (img, r) = atlas::build_atlas(&grid, a, &thumbs);
                let bytes = atlas::encode(&img, opts.atlas_format)?;
                let name =
                    format!("atlas-{tier}-{a}-{:08x}.{}", crc32fast::hash(&bytes), opts.atlas_format.extension());
                let path = opts.out.join(&name);
                fsio::write_atomic(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
                Ok((name, [img.width(), img.height()], r))
            })
            .collect();
        let mut names = Vec::new();
        let mut atlas_sizes = Vec::new();
        let mut i = 0;
        for b in built {
            let (name, size, r) = b?;
            listed.insert(name.clone());
            names.push(name);
            atlas_sizes.push(size);
            for rect in r {
                rects[i].push(rect);
                i += 1;
            }
        }
        report.atlases += names.len();
        tier_out.push(Tier { size: tier, format: opts.atlas_format, atlases: names, atlas_sizes });
    }
    pb.finish();

    let works: Vec<Work> = (0..n)
        .map(|i| Work {
            file: items[i].rel.clone(),
            meta: metas[i].clone(),
            size: sizes[i],
            pos3: pos3[i],
            pos2: pos2[i],
            thumbs: rects[i].clone(),
            similar: similar[i].iter().map(|e| e.0).collect(),
            typicality: typicality[i],
        })
        .collect();
    let name = opts.name.clone().unwrap_or_else(|| {
        opts.dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().to_string()))
            .unwrap_or_else(|| "gallery".into())
    });
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let m = Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        name,
        model: format!("{MODEL_ID}; weights crc32 {tag}"),
        tiers: tier_out,
        works,
        periods,
        layout: LayoutInfo {
            pca_dims: pca.components.rows,
            perplexity: opts.perplexity,
            iterations: opts.iterations,
            transformed: report.transformed,
            seed: opts.seed,
        },
        skipped: skipped.clone(),
    };
    m.validate().map_err(BuildError::File)?;
    write_report(&opts.out, &skipped, &meta_warnings, &report)?;
    // The manifest last: until it is renamed into place, the previous one and its atlases stand.
    let manifest_path = opts.out.join(manifest::FILE_NAME);
    fsio::write_atomic(&manifest_path, serde_json::to_string(&m)?.as_bytes())
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    // Now the atlases no manifest lists any more, and thumbnails of the old cache layout.
    if let Ok(rd) = std::fs::read_dir(&opts.out) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().to_string();
            if is_atlas_name(&file) && !listed.contains(&file) {
                std::fs::remove_file(e.path()).ok();
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(cache_dir.join("thumbs")) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().to_string();
            if file.len() == 20 && file.ends_with(".png") && e.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::remove_file(e.path()).ok();
            }
        }
    }
    report.works = n;
    report.skipped = skipped;
    report.metadata_warnings = meta_warnings;
    report.manifest = manifest_path;
    report.total_seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Per decade and century: mean embedding, typical works (nearest the mean in feature space) and
/// outliers (farthest). Also each work's typicality within its century.
fn period_stats(metas: &[Metadata], z: &Matrix, pos3: &[[f32; 3]], k: usize) -> (Vec<Period>, Vec<Option<f32>>) {
    let mut periods = Vec::new();
    let mut typicality = vec![None; metas.len()];
    for kind in [PeriodKind::Century, PeriodKind::Decade] {
        let mut groups: std::collections::BTreeMap<i32, (String, Vec<usize>)> = Default::default();
        for (i, m) in metas.iter().enumerate() {
            if let Some(y) = m.year {
                let (start, label) = manifest::period_of(y, kind);
                groups.entry(start).or_insert_with(|| (label, Vec::new())).1.push(i);
            }
        }
        for (start, (label, members)) in groups {
            let d = z.cols;
            let mut mean = vec![0.0f32; d];
            let mut mean3 = [0.0f32; 3];
            for &i in &members {
                for (m, v) in mean.iter_mut().zip(z.row(i)) {
                    *m += v / members.len() as f32;
                }
                for a in 0..3 {
                    mean3[a] += pos3[i][a] / members.len() as f32;
                }
            }
            let mut dist: Vec<(usize, f32)> = members
                .iter()
                .map(|&i| (i, z.row(i).iter().zip(&mean).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()))
                .collect();
            dist.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let avg = dist.iter().map(|e| e.1).sum::<f32>() / dist.len() as f32;
            if kind == PeriodKind::Century && members.len() >= 3 && avg > 0.0 {
                for &(i, di) in &dist {
                    typicality[i] = Some(di / avg);
                }
            }
            let take = k.min(dist.len() / 2);
            periods.push(Period {
                kind,
                start,
                label,
                count: members.len() as u32,
                mean3,
                typical: dist
                    .iter()
                    .take(if members.len() < 2 { members.len() } else { take.max(1) })
                    .map(|e| e.0 as u32)
                    .collect(),
                outliers: dist.iter().rev().take(take).map(|e| e.0 as u32).collect(),
            });
        }
    }
    (periods, typicality)
}

fn write_report(out: &Path, skipped: &[Skipped], warnings: &[String], report: &BuildReport) -> Result<()> {
    let mut s = String::new();
    s.push_str(&format!("skipped files: {}\n", skipped.len()));
    for k in skipped {
        s.push_str(&format!("  {}: {}\n", k.file, k.reason));
    }
    if !warnings.is_empty() {
        s.push_str(&format!("metadata warnings: {}\n", warnings.len()));
        for w in warnings {
            s.push_str(&format!("  {w}\n"));
        }
    }
    s.push_str(&report.cache.describe());
    s.push('\n');
    if let Some(note) = &report.layout_note {
        s.push_str(note);
        s.push('\n');
    }
    let path = out.join("report.txt");
    fsio::write_atomic(&path, s.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    /// A PNG whose header claims 20000×20000 pixels (the data never follows).
    fn enormous_png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&20000u32.to_be_bytes());
        ihdr.extend_from_slice(&20000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        v.extend_from_slice(&13u32.to_be_bytes());
        v.extend_from_slice(&ihdr);
        v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
            v.extend_from_slice(&0u32.to_be_bytes());
            v.extend_from_slice(chunk);
            v.extend_from_slice(&crc32(chunk).to_be_bytes());
        }
        v
    }

    fn painting(i: u32, w: u32, h: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            let a = ((x * (i + 1) + y * 3) % 256) as u8;
            let b = ((y * (7 - i % 7) + x) % 256) as u8;
            if i.is_multiple_of(2) { image::Rgb([a, b, 255 - a]) } else { image::Rgb([b / 2, a, 40]) }
        })
    }

    fn options(dir: &Path, out: &Path) -> BuildOptions {
        let mut o = BuildOptions::new(dir, out, default_model_path());
        o.tiers = vec![32, 64];
        o.atlas_max = 200;
        o.perplexity = 2.0;
        o.iterations = 300;
        o.progress = false;
        o.similar = 3;
        o
    }

    #[test]
    fn bad_files_are_skipped_and_reported_and_a_rerun_processes_only_new_files() {
        let root = std::env::temp_dir().join(format!("hr-gallery-build-{}", std::process::id()));
        let dir = root.join("collection");
        let out = root.join("out");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for i in 0..6 {
            let (w, h) = if i % 3 == 0 { (90, 60) } else { (64, 80) };
            let name = if i == 5 { format!("sub/w{i}.png") } else { format!("w{i}.jpg") };
            painting(i, w, h).save(dir.join(name)).unwrap();
        }
        std::fs::write(dir.join("empty.jpg"), b"").unwrap();
        std::fs::write(dir.join("notes.png"), b"this is not an image").unwrap();
        let png = std::fs::read(dir.join("sub/w5.png")).unwrap();
        std::fs::write(dir.join("truncated.png"), &png[..png.len() / 2]).unwrap();
        std::fs::write(dir.join("huge.png"), enormous_png()).unwrap();
        std::fs::write(dir.join("readme.txt"), b"ignored: not an image extension").unwrap();
        std::fs::write(dir.join("meta.csv"), "file,title,artist,year,museum,style\nw0.jpg,Zero,Ann,1885,Prado,calm\nw1.jpg,One,Bob,1889,Prado,\nw2.jpg,Two,Cy,1901,Met,\n").unwrap();

        let mut opts = options(&dir, &out);
        opts.metadata = Some(dir.join("meta.csv"));
        let r = build(&opts).expect("build succeeds despite bad files");
        assert_eq!(r.works, 6);
        assert_eq!(r.features_computed, 6);
        let mut bad: Vec<&str> = r.skipped.iter().map(|s| s.file.as_str()).collect();
        bad.sort();
        assert_eq!(bad, ["empty.jpg", "huge.png", "notes.png", "truncated.png"]);
        let reasons: String = r.skipped.iter().map(|s| format!("{} {}\n", s.file, s.reason)).collect();
        assert!(reasons.contains("empty.jpg empty file"), "{reasons}");
        assert!(reasons.contains("huge.png enormous"), "{reasons}");
        let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
        assert!(report.contains("skipped files: 4") && report.contains("truncated.png"), "{report}");

        let m = Manifest::load(&out.join("manifest.json")).unwrap();
        assert_eq!(m.works.len(), 6);
        let w0 = m.works.iter().find(|w| w.file == "w0.jpg").unwrap();
        assert_eq!((w0.meta.title.as_str(), w0.meta.year, w0.meta.museum.as_str()), ("Zero", Some(1885), "Prado"));
        assert_eq!(w0.meta.extra["style"], "calm");
        assert_eq!(w0.size, [90, 60]);
        // Aspect kept in both tiers; every atlas exists on disk and is within the size limit.
        assert_eq!(&w0.thumbs[0].rect[2..], &[32, 21]);
        assert_eq!(&w0.thumbs[1].rect[2..], &[64, 43]);
        for t in 0..m.tiers.len() {
            for p in m.atlas_paths(&out.join("manifest.json"), t) {
                let img = image::open(&p).unwrap();
                assert!(img.width() <= 200 && img.height() <= 200);
            }
        }
        assert!(m.works.iter().any(|w| w.file == "sub/w5.png"));
        assert!(m.works.iter().all(
            |w| w.similar.len() == 3 && !w.similar.contains(&(m.works.iter().position(|x| x == w).unwrap() as u32))
        ));
        let eighties = m.periods.iter().find(|p| p.label == "1880s").unwrap();
        assert_eq!(eighties.count, 2);
        assert_eq!(eighties.typical.len() + eighties.outliers.len(), 2);
        let old: HashMap<String, [f32; 3]> = m.works.iter().map(|w| (w.file.clone(), w.pos3)).collect();

        // Re-run with two more works: only they are computed, the map keeps its places.
        painting(7, 70, 70).save(dir.join("w7.jpg")).unwrap();
        painting(8, 50, 90).save(dir.join("w8.jpg")).unwrap();
        let r2 = build(&opts).unwrap();
        assert_eq!((r2.works, r2.features_computed, r2.features_reused), (8, 2, 6));
        assert_eq!(r2.transformed, 2);
        let m2 = Manifest::load(&out.join("manifest.json")).unwrap();
        for w in &m2.works {
            match old.get(&w.file) {
                Some(p) => assert_eq!(*p, w.pos3, "{} moved", w.file),
                None => assert!(w.pos3.iter().all(|v| v.is_finite())),
            }
        }

        // An interrupted build (cache cut mid-record) resumes: only the lost record is recomputed.
        let cache = out.join("cache/features.bin");
        let len = std::fs::metadata(&cache).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&cache).unwrap();
        f.set_len(len - 100).unwrap();
        drop(f);
        let r3 = build(&opts).unwrap();
        assert_eq!((r3.features_computed, r3.features_reused), (1, 7));
        std::fs::remove_dir_all(&root).ok();
    }

    fn root(name: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("hr-gallery-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&r).ok();
        std::fs::create_dir_all(r.join("collection")).unwrap();
        r
    }

    fn collection(dir: &Path, n: u32) {
        for i in 0..n {
            let (w, h) = if i % 3 == 0 { (90, 60) } else { (64, 80) };
            painting(i, w, h).save(dir.join(format!("w{i:02}.jpg"))).unwrap();
        }
    }

    fn features_of(out: &Path) -> HashMap<String, cache::Entry> {
        let (recs, rep, _) = cache::scan(&std::fs::read(out.join("cache/features.bin")).unwrap(), FEATURES);
        assert!(!rep.repaired(), "{rep:?}");
        recs.into_iter().collect()
    }

    #[test]
    fn other_tiers_on_a_rerun_use_thumbnails_of_their_own_size() {
        let r = root("tiers");
        let dir = r.join("collection");
        collection(&dir, 6);
        let mut opts = options(&dir, &r.join("out"));
        build(&opts).unwrap();
        // Smaller than the cached tiers (used to panic in build_atlas), then larger (used to be the
        // 64-px thumbnails stretched into 128-px cells' rects).
        for tiers in [vec![16], vec![128], vec![16, 64, 128]] {
            opts.tiers = tiers.clone();
            let rep = build(&opts).unwrap_or_else(|e| panic!("tiers {tiers:?}: {e:#}"));
            assert_eq!(rep.features_computed, 0, "tiers {tiers:?}: thumbnails are not features");
            let mpath = r.join("out/manifest.json");
            let m = Manifest::load(&mpath).unwrap();
            assert_eq!(m.tiers.iter().map(|t| t.size).collect::<Vec<_>>(), tiers);
            for (t, tier) in tiers.iter().enumerate() {
                let atlases: Vec<image::RgbImage> =
                    m.atlas_paths(&mpath, t).iter().map(|p| image::open(p).unwrap().to_rgb8()).collect();
                for w in &m.works {
                    let [x, y, tw, th] = w.thumbs[t].rect;
                    assert_eq!((tw, th), atlas::thumb_size(w.size[0], w.size[1], *tier), "{} tier {tier}", w.file);
                    // The same pixels as a thumbnail made straight from the source.
                    let src = image::open(dir.join(&w.file)).unwrap().to_rgb8();
                    let want = atlas::thumbnail(&src, *tier);
                    let a = &atlases[w.thumbs[t].atlas as usize];
                    for (px, py) in [(0, 0), (tw / 2, th / 2), (tw - 1, th - 1)] {
                        assert_eq!(a.get_pixel(x + px, y + py), want.get_pixel(px, py), "{} tier {tier}", w.file);
                    }
                }
            }
            // Only the atlases the manifest lists are left.
            let on_disk: Vec<String> = std::fs::read_dir(r.join("out"))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|f| f.starts_with("atlas-"))
                .collect();
            let listed: Vec<&String> = m.tiers.iter().flat_map(|t| &t.atlases).collect();
            assert_eq!(on_disk.len(), listed.len(), "{on_disk:?} vs {listed:?}");
        }
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn a_cut_or_damaged_feature_cache_is_repaired_once_and_reports_it() {
        let r = root("repair");
        let dir = r.join("collection");
        collection(&dir, 6);
        let opts = options(&dir, &r.join("out"));
        build(&opts).unwrap();
        let clean = features_of(&r.join("out"));
        let cache = r.join("out/cache/features.bin");
        // Cut mid-record (a killed build), re-run, add a work, re-run, re-run.
        let len = std::fs::metadata(&cache).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&cache).unwrap().set_len(len - 100).unwrap();
        let r1 = build(&opts).unwrap();
        assert_eq!((r1.features_computed, r1.cache.torn_bytes > 0), (1, true), "{:?}", r1.cache);
        let report = std::fs::read_to_string(r.join("out/report.txt")).unwrap();
        assert!(report.contains("interrupted record"), "{report}");
        painting(40, 50, 70).save(dir.join("new.jpg")).unwrap();
        let r2 = build(&opts).unwrap();
        assert_eq!((r2.features_computed, r2.cache.repaired()), (1, false), "{:?}", r2.cache);
        let r3 = build(&opts).unwrap();
        assert_eq!((r3.features_computed, r3.features_reused, r3.cache.repaired()), (0, 7, false));
        // A flipped byte inside a record: that record is dropped and recomputed, the rest kept.
        let mut b = std::fs::read(&cache).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x40;
        std::fs::write(&cache, &b).unwrap();
        let r4 = build(&opts).unwrap();
        assert_eq!((r4.features_computed, r4.cache.damaged), (1, 1), "{:?}", r4.cache);
        assert!(std::fs::read_to_string(r.join("out/report.txt")).unwrap().contains("1 damaged records dropped"));
        let now = features_of(&r.join("out"));
        for (k, e) in &clean {
            assert_eq!(now.get(k), Some(e), "{k} differs after the repair");
        }
        assert!(now.values().all(|e| e.feat.iter().all(|v| v.abs() < 1e3)));
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn the_seed_gives_the_same_map_bit_for_bit_and_a_new_seed_or_perplexity_a_new_map() {
        let r = root("seed");
        let dir = r.join("collection");
        collection(&dir, 8);
        let manifest = |out: &str, seed: u64, perplexity: f32| {
            let mut o = options(&dir, &r.join(out));
            o.seed = seed;
            o.perplexity = perplexity;
            let rep = build(&o).unwrap();
            (rep, std::fs::read_to_string(r.join(out).join("manifest.json")).unwrap())
        };
        let (_, a) = manifest("a", 5, 2.0);
        let (_, b) = manifest("b", 5, 2.0);
        let (_, c) = manifest("c", 6, 2.0);
        assert_eq!(a, b, "same inputs and seed, different manifests");
        let pos = |m: &str| Manifest::parse(m, "m").unwrap().works.iter().map(|w| w.pos3).collect::<Vec<_>>();
        assert_ne!(pos(&a), pos(&c), "seeds 5 and 6 give the same map");
        // Re-running "a" with seed 6 lays the map out again: the same as a fresh build with seed 6,
        // and the manifest says so (it used to keep the old map and record the new seed).
        let (rep, a6) = manifest("a", 6, 2.0);
        assert!(rep.relaid_out && rep.layout_note.as_deref().unwrap_or("").contains("--seed changed"), "{rep:?}");
        assert_eq!(pos(&a6), pos(&c));
        assert_eq!(Manifest::parse(&a6, "m").unwrap().layout.seed, 6);
        let (rep, _) = manifest("a", 6, 3.0);
        assert!(rep.relaid_out && rep.layout_note.unwrap().contains("--perplexity changed"));
        let (rep, _) = manifest("a", 6, 3.0);
        assert!(!rep.relaid_out && rep.layout_note.is_none());
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn hostile_settings_and_a_damaged_layout_are_refused_or_recovered_not_panics() {
        let r = root("hostile");
        let dir = r.join("collection");
        collection(&dir, 6);
        let mut opts = options(&dir, &r.join("out"));
        for tiers in [vec![u32::MAX], vec![u32::MAX - 1], vec![0], vec![199], vec![]] {
            opts.tiers = tiers.clone();
            let e = build(&opts).unwrap_err().to_string();
            assert!(e.contains("thumbnail tiers must be between 1 and 198"), "{tiers:?}: {e}");
        }
        opts.tiers = vec![32, 64];
        for p in [f32::NAN, 0.0, -1.0, f32::INFINITY] {
            opts.perplexity = p;
            assert!(build(&opts).unwrap_err().to_string().contains("--perplexity"));
        }
        opts.perplexity = 2.0;
        build(&opts).unwrap();
        // layout.json edited into inconsistency: fewer positions than works, a short basis, junk.
        let lp = r.join("out/cache/layout.json");
        let good: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lp).unwrap()).unwrap();
        let mut short_pos = good.clone();
        short_pos["pos3"].as_array_mut().unwrap().pop();
        let mut short_basis = good.clone();
        short_basis["pca_components"].as_array_mut().unwrap().truncate(7);
        let mut dims = good.clone();
        dims["pca_dims"] = serde_json::json!(1_000_000);
        for (what, v) in [("positions", short_pos), ("basis", short_basis), ("dims", dims)] {
            std::fs::write(&lp, v.to_string()).unwrap();
            let rep = build(&opts).unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert!(rep.relaid_out, "{what}");
            assert!(rep.layout_note.as_deref().unwrap_or("").contains("inconsistent"), "{what}: {rep:?}");
        }
        std::fs::write(&lp, b"{\"keys\": [1, 2").unwrap();
        assert!(build(&opts).unwrap().layout_note.unwrap().contains("inconsistent"));
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn a_truncated_jpeg_is_skipped_and_listed_in_the_report() {
        let r = root("jpeg");
        let dir = r.join("collection");
        collection(&dir, 5);
        let jpg = std::fs::read(dir.join("w01.jpg")).unwrap();
        assert!(!ingest::jpeg_truncated(&jpg));
        std::fs::write(dir.join("cut.jpg"), &jpg[..jpg.len() * 2 / 3]).unwrap();
        let rep = build(&options(&dir, &r.join("out"))).unwrap();
        assert_eq!(rep.works, 5);
        assert_eq!(rep.skipped.len(), 1);
        assert!(rep.skipped[0].reason.contains("truncated JPEG"), "{:?}", rep.skipped);
        let report = std::fs::read_to_string(r.join("out/report.txt")).unwrap();
        assert!(report.contains("cut.jpg: truncated JPEG"), "{report}");
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn same_named_files_in_different_folders_do_not_share_a_metadata_row() {
        let r = root("names");
        let dir = r.join("collection");
        collection(&dir, 4);
        for (sub, i) in [("a", 10), ("b", 11), ("c", 12)] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            painting(i, 60, 60).save(dir.join(sub).join("x.jpg")).unwrap();
        }
        // `x.jpg` alone is ambiguous (a/x.jpg, c/x.jpg); `b/x.jpg` is not.
        std::fs::write(dir.join("m.csv"), "file,title\nx.jpg,Which one?\nb/x.jpg,Bee\nw00.jpg,Zero\n").unwrap();
        let mut opts = options(&dir, &r.join("out"));
        opts.metadata = Some(dir.join("m.csv"));
        let rep = build(&opts).unwrap();
        let m = Manifest::load(&r.join("out/manifest.json")).unwrap();
        let title = |f: &str| m.works.iter().find(|w| w.file == f).unwrap().meta.title.clone();
        assert_eq!(title("b/x.jpg"), "Bee");
        assert_eq!(title("w00.jpg"), "Zero");
        assert_eq!((title("a/x.jpg"), title("c/x.jpg")), ("x.jpg".into(), "x.jpg".into()));
        assert!(
            rep.metadata_warnings.iter().any(|w| w.contains("`x.jpg` matches 2 files (a/x.jpg, c/x.jpg)")),
            "{:?}",
            rep.metadata_warnings
        );
        assert!(std::fs::read_to_string(r.join("out/report.txt")).unwrap().contains("matches 2 files"));
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn an_empty_or_missing_folder_is_a_clear_error() {
        let root = std::env::temp_dir().join(format!("hr-gallery-empty-{}", std::process::id()));
        std::fs::create_dir_all(root.join("in")).unwrap();
        std::fs::write(root.join("in/bad.jpg"), b"xx").unwrap();
        let e = build(&options(&root.join("in"), &root.join("out"))).unwrap_err().to_string();
        assert!(e.contains("no readable images") && e.contains("1 skipped"), "{e}");
        let e = build(&options(&root.join("missing"), &root.join("out"))).unwrap_err();
        assert!(format!("{e:#}").contains("missing"), "{e:#}");
        std::fs::remove_dir_all(&root).ok();
    }
}
