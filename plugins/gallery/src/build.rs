//! `headroom build-gallery`: folder → thumbnails/atlases → MobileNetV2 features → PCA → t-SNE
//! 3D and 2D → similar works and period statistics → manifest. Incremental and resumable.
//!
//! Output folder:
//! - `manifest.json`, `atlas-<tier>-<k>.<png|jpg>`, `report.txt` (skipped files and why);
//! - `cache/features.bin`: append-only records (key = relative path | size | mtime → source size and
//!   1280-d features), flushed after every batch, so an interrupted build resumes where it stopped
//!   and a re-run computes only new or changed files;
//! - `cache/thumbs/<hash>.png`: the largest-tier thumbnail of each work;
//! - `cache/layout.json`: the PCA basis and positions of the last map, so that new works join it by
//!   t-SNE `transform` without moving the others (`--relayout` recomputes the whole map).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::atlas::{self, AtlasFormat, AtlasRect, Grid};
use crate::features::{self, FEATURES, MobileNetV2};
use crate::ingest::{self, Found, Metadata, Skipped};
use crate::manifest::{self, LayoutInfo, Manifest, Period, PeriodKind, Tier, Work};
use crate::tsne::{self, Matrix, Pca, TsneConfig};

pub const MODEL_ID: &str = "mobilenet_v2 torchvision ImageNet (b0353104), 1280-d pooled";
const CACHE_MAGIC: &[u8; 8] = b"HRFEAT1\n";

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
}

impl BuildReport {
    pub fn images_per_second(&self) -> f64 {
        if self.feature_seconds > 0.0 { self.features_computed as f64 / self.feature_seconds } else { 0.0 }
    }
}

/// A decoded image: source size and the network's 224×224 RGB input, or why it was skipped.
type Decoded = Result<([u32; 2], Vec<u8>), String>;
/// An atlas written to disk: file name, pixel size, the rects it holds.
type BuiltAtlas = (String, [u32; 2], Vec<AtlasRect>);

struct CachedFeature {
    size: [u32; 2],
    feat: Vec<f32>,
}

/// Reads the feature cache; a truncated tail (interrupted write) is ignored.
fn read_cache(path: &Path) -> HashMap<String, CachedFeature> {
    let mut map = HashMap::new();
    let Ok(mut f) = std::fs::File::open(path) else { return map };
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() || buf.len() < 8 || &buf[..8] != CACHE_MAGIC {
        return map;
    }
    let mut p = 8;
    let rd_u32 =
        |b: &[u8], p: usize| -> Option<u32> { b.get(p..p + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap())) };
    while let Some(klen) = rd_u32(&buf, p) {
        let klen = klen as usize;
        let need = 4 + klen + 8 + FEATURES * 4;
        if p + need > buf.len() || klen > 1 << 16 {
            break;
        }
        let key = String::from_utf8_lossy(&buf[p + 4..p + 4 + klen]).to_string();
        let q = p + 4 + klen;
        let w = rd_u32(&buf, q).unwrap();
        let h = rd_u32(&buf, q + 4).unwrap();
        let feat: Vec<f32> = buf[q + 8..q + 8 + FEATURES * 4]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        map.insert(key, CachedFeature { size: [w, h], feat });
        p += need;
    }
    map
}

fn append_cache(file: &mut std::fs::File, key: &str, size: [u32; 2], feat: &[f32]) -> std::io::Result<()> {
    let mut rec = Vec::with_capacity(16 + key.len() + feat.len() * 4);
    rec.extend_from_slice(&(key.len() as u32).to_le_bytes());
    rec.extend_from_slice(key.as_bytes());
    rec.extend_from_slice(&size[0].to_le_bytes());
    rec.extend_from_slice(&size[1].to_le_bytes());
    for v in feat {
        rec.extend_from_slice(&v.to_le_bytes());
    }
    file.write_all(&rec)
}

fn thumb_cache_path(cache: &Path, key: &str) -> PathBuf {
    // FNV-1a 64 of the key.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    cache.join("thumbs").join(format!("{h:016x}.png"))
}

#[derive(Serialize, Deserialize)]
struct SavedLayout {
    keys: Vec<String>,
    pca_mean: Vec<f32>,
    pca_components: Vec<f32>,
    pca_dims: usize,
    pos3: Vec<[f32; 3]>,
    pos2: Vec<[f32; 2]>,
    perplexity: f32,
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

/// Runs the build.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let t0 = Instant::now();
    if opts.tiers.is_empty() || opts.tiers.iter().any(|&t| t == 0 || t + 2 > opts.atlas_max) {
        bail!("thumbnail tiers must be between 1 and {} px", opts.atlas_max.saturating_sub(2));
    }
    let mut tiers = opts.tiers.clone();
    tiers.sort_unstable();
    tiers.dedup();
    let largest = *tiers.last().unwrap();
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
    let (meta, meta_warnings) = match &opts.metadata {
        Some(p) => ingest::read_metadata(p).map_err(anyhow::Error::msg)?,
        None => (HashMap::new(), Vec::new()),
    };
    let cache_dir = opts.out.join("cache");
    std::fs::create_dir_all(cache_dir.join("thumbs"))
        .with_context(|| format!("cannot create {}", cache_dir.display()))?;
    let cache_path = cache_dir.join("features.bin");
    let mut cache = read_cache(&cache_path);
    let fresh_cache = !cache_path.exists() || std::fs::metadata(&cache_path).map(|m| m.len() < 8).unwrap_or(true);
    let mut cache_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cache_path)
        .with_context(|| format!("cannot write {}", cache_path.display()))?;
    if fresh_cache {
        cache_file.set_len(0)?;
        cache_file.write_all(CACHE_MAGIC)?;
    }

    let mp = MultiProgress::new();
    let show = opts.progress;
    let todo: Vec<&Found> = found
        .iter()
        .filter(|f| !cache.contains_key(&f.key()) || !thumb_cache_path(&cache_dir, &f.key()).exists())
        .collect();
    let mut report = BuildReport { features_reused: found.len() - todo.len(), ..Default::default() };
    let t_feat = Instant::now();
    if !todo.is_empty() {
        let net = MobileNetV2::load(&opts.model)?;
        let pb = bar(&mp, show, todo.len() as u64, "features");
        for chunk in todo.chunks(opts.batch.max(1)) {
            // Decode, thumbnail and preprocess in parallel.
            let decoded: Vec<Decoded> = chunk
                .par_iter()
                .map(|f| {
                    let img = ingest::decode(&f.path, f.size)?;
                    let size = [img.width(), img.height()];
                    let thumb = atlas::thumbnail(&img.to_rgb8(), largest);
                    thumb
                        .save(thumb_cache_path(&cache_dir, &f.key()))
                        .map_err(|e| format!("cannot write thumbnail cache: {e}"))?;
                    Ok((size, features::preprocess(&img)))
                })
                .collect();
            let mut ok_idx = Vec::new();
            let mut inputs: Vec<&[u8]> = Vec::new();
            for (k, d) in decoded.iter().enumerate() {
                match d {
                    Ok((_, px)) => {
                        ok_idx.push(k);
                        inputs.push(px);
                    }
                    Err(reason) => skipped.push(Skipped { file: chunk[k].rel.clone(), reason: reason.clone() }),
                }
            }
            let need_features: Vec<usize> =
                (0..ok_idx.len()).filter(|&i| !cache.contains_key(&chunk[ok_idx[i]].key())).collect();
            if !need_features.is_empty() {
                let batch_inputs: Vec<&[u8]> = need_features.iter().map(|&i| inputs[i]).collect();
                let feats = net.features_rgb(&batch_inputs)?;
                for (&i, feat) in need_features.iter().zip(feats) {
                    let f = chunk[ok_idx[i]];
                    let size = decoded[ok_idx[i]].as_ref().unwrap().0;
                    append_cache(&mut cache_file, &f.key(), size, &feat)?;
                    cache.insert(f.key(), CachedFeature { size, feat });
                    report.features_computed += 1;
                }
                cache_file.flush()?;
            }
            pb.inc(chunk.len() as u64);
        }
        pb.finish();
    }
    report.feature_seconds = t_feat.elapsed().as_secs_f64();

    // Works in path order: everything with features and a thumbnail.
    let items: Vec<&Found> = found.iter().filter(|f| cache.contains_key(&f.key())).collect();
    let n = items.len();
    if n == 0 {
        write_report(&opts.out, &skipped, &meta_warnings)?;
        bail!(
            "no readable images in {} ({} skipped; see {})",
            opts.dir.display(),
            skipped.len(),
            opts.out.join("report.txt").display()
        );
    }
    let feats = Matrix::new(n, FEATURES, items.iter().flat_map(|f| cache[&f.key()].feat.iter().copied()).collect());

    // Layout: reuse the saved map when the collection only grew by less than it already holds.
    let t_layout = Instant::now();
    let layout_path = cache_dir.join("layout.json");
    let saved: Option<SavedLayout> = if opts.relayout {
        None
    } else {
        std::fs::read_to_string(&layout_path).ok().and_then(|s| serde_json::from_str(&s).ok())
    };
    let keys: Vec<String> = items.iter().map(|f| f.key()).collect();
    let cfg = |dims| TsneConfig {
        dims,
        perplexity: opts.perplexity,
        early_iters: opts.iterations.min(250),
        iters: opts.iterations.saturating_sub(250),
        seed: opts.seed,
        ..Default::default()
    };
    let (pca, pos3, pos2) = match saved.filter(|s| s.pca_mean.len() == FEATURES) {
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
    };
    write_atomic(&layout_path, serde_json::to_string(&saved)?.as_bytes())?;

    // Similar works: nearest neighbours in PCA feature space.
    let similar = tsne::knn(&z, &z, opts.similar, true);

    // Metadata joined on the base file name.
    let metas: Vec<Metadata> = items
        .iter()
        .map(|f| {
            let base = f.rel.rsplit('/').next().unwrap_or(&f.rel);
            meta.get(base).cloned().unwrap_or_else(|| Metadata { title: base.to_string(), ..Default::default() })
        })
        .collect();
    let (periods, typicality) = period_stats(&metas, &z, &pos3, opts.period_examples);

    // Atlases, per tier.
    let pb = bar(&mp, show, n as u64, "thumbnails");
    let big: Vec<image::RgbImage> = items
        .par_iter()
        .map(|f| {
            let t = image::open(thumb_cache_path(&cache_dir, &f.key()))
                .map(|i| i.to_rgb8())
                .unwrap_or_else(|_| image::RgbImage::from_pixel(1, 1, image::Rgb([128, 128, 128])));
            pb.inc(1);
            t
        })
        .collect();
    pb.finish();
    let mut tier_out = Vec::new();
    let mut rects: Vec<Vec<AtlasRect>> = vec![Vec::new(); n];
    for &tier in &tiers {
        let grid = Grid::new(tier, opts.atlas_max);
        let thumbs: Vec<image::RgbImage> = if tier == largest {
            big.clone()
        } else {
            // Sized from the source image (not the cached thumbnail) so every tier rounds alike.
            big.par_iter()
                .zip(keys.par_iter())
                .map(|(t, k)| {
                    let [sw, sh] = cache[k].size;
                    let (w, h) = atlas::thumb_size(sw, sh, tier);
                    image::imageops::resize(t, w, h, image::imageops::FilterType::CatmullRom)
                })
                .collect()
        };
        let count = grid.atlas_count(n);
        let built: Vec<Result<BuiltAtlas>> = (0..count)
            .into_par_iter()
            .map(|a| {
                let (img, r) = atlas::build_atlas(&grid, a, &thumbs);
                let name = format!("atlas-{tier}-{a}.{}", opts.atlas_format.extension());
                let bytes = atlas::encode(&img, opts.atlas_format)?;
                write_atomic(&opts.out.join(&name), &bytes)?;
                Ok((name, [img.width(), img.height()], r))
            })
            .collect();
        let mut names = Vec::new();
        let mut sizes = Vec::new();
        let mut i = 0;
        for b in built {
            let (name, size, r) = b?;
            names.push(name);
            sizes.push(size);
            for rect in r {
                rects[i].push(rect);
                i += 1;
            }
        }
        report.atlases += names.len();
        // Remove this tier's atlases the manifest no longer lists: beyond `count` (a bigger earlier
        // build) or in the other format.
        for k in 0.. {
            let mut any = false;
            for fmt in [AtlasFormat::Png, AtlasFormat::Jpeg] {
                let path = opts.out.join(format!("atlas-{tier}-{k}.{}", fmt.extension()));
                if path.exists() {
                    any = true;
                    if k >= count || fmt != opts.atlas_format {
                        std::fs::remove_file(&path).ok();
                    }
                }
            }
            if !any && k >= count {
                break;
            }
        }
        tier_out.push(Tier { size: tier, format: opts.atlas_format, atlases: names, atlas_sizes: sizes });
    }

    let works: Vec<Work> = (0..n)
        .map(|i| Work {
            file: items[i].rel.clone(),
            meta: metas[i].clone(),
            size: cache[&keys[i]].size,
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
        model: MODEL_ID.into(),
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
    m.validate().map_err(anyhow::Error::msg)?;
    let manifest_path = opts.out.join(manifest::FILE_NAME);
    write_atomic(&manifest_path, serde_json::to_string(&m)?.as_bytes())?;
    write_report(&opts.out, &skipped, &meta_warnings)?;
    report.works = n;
    report.skipped = skipped;
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

fn write_report(out: &Path, skipped: &[Skipped], warnings: &[String]) -> Result<()> {
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
    write_atomic(&out.join("report.txt"), s.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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
