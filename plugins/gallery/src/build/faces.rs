//! Stage 4b, faces: every work goes through `headroom_face::still` (BlazeFace over the picture and
//! over tiles of half its side, the face mesh on each detection) and each face is cut out aligned
//! (eyes level, a fixed distance apart, 112 px) and embedded: MobileNetV2 features of the aligned
//! crop (the embedding the manifest ships, reduced by PCA), and — kept in the cache for
//! comparison — the face model's own parameters (the CLM's 20 shape modes, whitened, with the
//! crop's grey appearance at 16×16). Incremental and resumable as the features are: one line per
//! work in `cache/faces.jsonl`, appended and synced a batch at a time (a line cut by a kill is
//! dropped on open), so a re-run does only new works. Then the face map (PCA, t-SNE 3D) and the
//! face atlas of the crops.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use headroom_face::still::{StillFaces, aligned_crop};
use indicatif::MultiProgress;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::Works;
use super::ingest::Ingested;
use super::{BuildError, BuildOptions, BuildReport, Context, Result, bar};
use crate::atlas::{self, Grid};
use crate::features::{self, MobileNetV2};
use crate::fsio;
use crate::manifest::{Face, Faces, Tier};
use crate::tsne::{self, Matrix, Pca, TsneConfig};

/// What finds and embeds the faces (the manifest's `faces.model`; part of the cache key).
pub const FACE_MODEL: &str =
    "BlazeFace short-range + face mesh (MediaPipe 0.10.14) at 2 scales; aligned 112 px; MobileNetV2 features, PCA";
/// Aligned crop side for the embedding.
pub const CROP: usize = 112;
/// Crop side in the face atlas.
pub const ATLAS_TIER: u32 = 64;
/// Embedding dimensions (PCA of the 1280 features).
pub const DIMS: usize = 64;
/// Pictures are searched at most this large (longer side); boxes and points are in source pixels.
const SEARCH_SIDE: u32 = 800;
const CACHE_VERSION: &str = "faces1";

/// A picture's faces with their aligned crops.
type Found = Vec<(headroom_face::still::StillFace, Vec<u8>)>;

/// One face as cached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CachedFace {
    pub bbox: [f32; 4],
    pub score: f32,
    pub presence: f32,
    pub points: Vec<[f32; 2]>,
    pub eyes: [[f32; 2]; 2],
    /// MobileNetV2 features of the aligned crop (1280).
    pub feat: Vec<f32>,
    /// The face model's parameters: 20 whitened CLM shape modes, then 256 grey values (16×16).
    pub shape: Vec<f32>,
}

/// One line of `cache/faces.jsonl`: a work's faces (none is an answer too).
#[derive(Serialize, Deserialize)]
pub struct CacheLine {
    pub key: String,
    pub faces: Vec<CachedFace>,
}

/// Reads the face cache, dropping a last line cut short by a kill (the file is cut back to its
/// last whole line, so the next append starts clean). Returns the lines by key and how many were
/// unreadable.
pub fn read_cache(path: &std::path::Path) -> (HashMap<String, Vec<CachedFace>>, usize) {
    let Ok(bytes) = std::fs::read(path) else { return (HashMap::new(), 0) };
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len()
        && let Ok(f) = std::fs::OpenOptions::new().write(true).open(path)
    {
        let _ = f.set_len(whole as u64);
    }
    let mut out = HashMap::new();
    let mut bad = 0;
    for line in bytes[..whole].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<CacheLine>(line) {
            Ok(l) => {
                out.insert(l.key, l.faces);
            }
            Err(_) => bad += 1,
        }
    }
    (out, bad + usize::from(whole < bytes.len()))
}

/// The face cache key of a work.
fn face_key(feature_key: &str) -> String {
    format!("{feature_key}|{CACHE_VERSION}")
}

/// The work's picture, RGBA8 at its source size.
fn decode_rgba(f: &crate::ingest::Found) -> std::result::Result<image::RgbaImage, crate::ingest::DecodeError> {
    Ok(crate::ingest::decode(&f.path, f.size)?.to_rgba8())
}

/// The faces of one picture (source pixels) with their aligned crops (RGB8, CROP²).
fn find(finder: &StillFaces, rgba: &image::RgbaImage) -> Result<Found> {
    let (w, h) = rgba.dimensions();
    let side = w.max(h);
    let (search, k) = if side > SEARCH_SIDE {
        let k = SEARCH_SIDE as f32 / side as f32;
        let (sw, sh) = (((w as f32 * k).round() as u32).max(1), ((h as f32 * k).round() as u32).max(1));
        (std::borrow::Cow::Owned(image::imageops::resize(rgba, sw, sh, image::imageops::FilterType::Triangle)), k)
    } else {
        (std::borrow::Cow::Borrowed(rgba), 1.0)
    };
    let found = finder
        .find(search.as_raw(), search.width() as usize, search.height() as usize)
        .map_err(|e| BuildError::File(format!("face search: {e}")))?;
    Ok(found
        .into_iter()
        .map(|mut f| {
            let back = |p: [f32; 2]| [p[0] / k, p[1] / k];
            f.bbox = [f.bbox[0] / k, f.bbox[1] / k, f.bbox[2] / k, f.bbox[3] / k];
            f.points = f.points.iter().map(|&p| back(p)).collect();
            f.eyes = f.eyes.map(back);
            let crop = aligned_crop(rgba.as_raw(), w as usize, h as usize, f.eyes, CROP);
            (f, crop)
        })
        .collect())
}

/// The face model's own parameters of a face: its 71 points' CLM shape modes, whitened (divided by
/// √eigenvalue), over √20, then the aligned crop's grey values at 16×16, centred, unit length.
pub fn model_params(shape: &headroom_face::shape::ShapeModel, points: &[[f32; 2]], crop: &[u8]) -> Vec<f32> {
    let p = shape.project(points);
    let m = shape.eigen_values.len();
    let mut out: Vec<f32> =
        p[4..].iter().zip(&shape.eigen_values).map(|(b, ev)| b / ev.max(1e-9).sqrt() / (m as f32).sqrt()).collect();
    let img = image::RgbImage::from_raw(CROP as u32, CROP as u32, crop.to_vec());
    let grey: Vec<f32> = match img {
        Some(img) => image::imageops::resize(&img, 16, 16, image::imageops::FilterType::Triangle)
            .pixels()
            .map(|p| (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0)
            .collect(),
        None => vec![0.0; 256],
    };
    let mean = grey.iter().sum::<f32>() / grey.len() as f32;
    let norm = grey.iter().map(|g| (g - mean) * (g - mean)).sum::<f32>().sqrt().max(1e-6);
    out.extend(grey.iter().map(|g| (g - mean) / norm));
    out
}

pub(super) fn faces(
    opts: &BuildOptions,
    input: &Ingested,
    works: &Works,
    report: &mut BuildReport,
    mp: &MultiProgress,
) -> Result<Option<Faces>> {
    if !opts.faces {
        return Ok(None);
    }
    let t0 = Instant::now();
    let path = input.cache_dir.join("faces.jsonl");
    let (mut cache, bad) = read_cache(&path);
    if bad > 0 {
        report.faces_note =
            Some(format!("{bad} unreadable line(s) of {} dropped (their works searched again)", path.display()));
    }
    let keys: Vec<String> = works.keys.iter().map(|k| face_key(k)).collect();
    let todo: Vec<usize> = (0..keys.len()).filter(|&i| !cache.contains_key(&keys[i])).collect();
    if !todo.is_empty() {
        let finder = StillFaces::new().map_err(|e| BuildError::File(format!("the face models: {e}")))?;
        let model = headroom_face::ClmModel::from_json(headroom_face::CLMTRACKR_MODEL)
            .map_err(|e| BuildError::File(format!("the face model: {e}")))?;
        let shape = headroom_face::shape::ShapeModel::new(&model);
        let net = MobileNetV2::from_bytes(&input.weights)
            .map_err(|e| BuildError::File(format!("{}: {e}", opts.model.display())))?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let pb = bar(mp, opts.progress, todo.len() as u64, "faces");
        for chunk in todo.chunks(opts.batch.max(1)) {
            // Unreadable works were skipped by the features stage; one that fails now has none.
            let found: Vec<Result<Found>> = chunk
                .par_iter()
                .map(|&i| match decode_rgba(&works.items[i]) {
                    Ok(rgba) => find(&finder, &rgba),
                    Err(_) => Ok(Vec::new()),
                })
                .collect();
            let found: Vec<Vec<(headroom_face::still::StillFace, Vec<u8>)>> =
                found.into_iter().collect::<Result<_>>()?;
            let crops: Vec<Vec<u8>> = found
                .iter()
                .flatten()
                .map(|(_, crop)| {
                    let img = image::RgbImage::from_raw(CROP as u32, CROP as u32, crop.clone())
                        .map(image::DynamicImage::ImageRgb8)
                        .ok_or_else(|| BuildError::File("a face crop of the wrong size".into()))?;
                    features::preprocess(&img).map_err(|e| BuildError::File(e.to_string()))
                })
                .collect::<Result<_>>()?;
            let inputs: Vec<&[u8]> = crops.iter().map(|c| c.as_slice()).collect();
            let mut feats = net.features_rgb(&inputs)?.into_iter();
            let mut text = String::new();
            for (&i, faces) in chunk.iter().zip(found) {
                let faces: Vec<CachedFace> = faces
                    .into_iter()
                    .map(|(f, crop)| CachedFace {
                        shape: model_params(&shape, &f.points, &crop),
                        feat: feats.next().unwrap_or_default(),
                        bbox: f.bbox,
                        score: f.score,
                        presence: f.presence,
                        points: f.points,
                        eyes: f.eyes,
                    })
                    .collect();
                let line = CacheLine { key: keys[i].clone(), faces };
                text.push_str(&serde_json::to_string(&line)?);
                text.push('\n');
                cache.insert(line.key, line.faces);
            }
            log.write_all(text.as_bytes())
                .and_then(|()| log.sync_data())
                .with_context(|| format!("cannot write {}", path.display()))?;
            report.faces_searched += chunk.len();
            pb.inc(chunk.len() as u64);
        }
        pb.finish();
    }
    // Every face of this build's works, in work order.
    let mut all: Vec<(usize, CachedFace)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        for f in cache.get(k).into_iter().flatten() {
            if f.feat.len() == features::FEATURES {
                all.push((i, f.clone()));
            }
        }
    }
    report.faces = all.len();
    report.works_with_faces = {
        let mut w: Vec<usize> = all.iter().map(|e| e.0).collect();
        w.dedup();
        w.len()
    };
    let section = if all.is_empty() { None } else { Some(face_map(opts, works, &all, report)?) };
    report.faces_seconds = t0.elapsed().as_secs_f64();
    Ok(section)
}

/// The embeddings (PCA of the features), the face map (t-SNE 3D) and the face atlas.
fn face_map(
    opts: &BuildOptions,
    works: &Works,
    all: &[(usize, CachedFace)],
    report: &mut BuildReport,
) -> Result<Faces> {
    let n = all.len();
    let d = features::FEATURES;
    let x = Matrix::new(n, d, all.iter().flat_map(|(_, f)| f.feat.iter().copied()).collect());
    let pca = Pca::fit(&x, DIMS.min(n));
    let z = pca.transform(&x);
    let dims = z.cols;
    let pos3: Vec<[f32; 3]> = if n >= 4 {
        let cfg = TsneConfig {
            dims: 3,
            perplexity: opts.perplexity.min(((n - 1) / 3).max(1) as f32),
            early_iters: opts.iterations.min(250),
            iters: opts.iterations.saturating_sub(250),
            seed: opts.seed,
            ..Default::default()
        };
        let y = tsne::tsne(&z, &cfg, None);
        (0..n).map(|i| [y.data[i * 3], y.data[i * 3 + 1], y.data[i * 3 + 2]]).collect()
    } else {
        (0..n).map(|i| [i as f32, 0.0, 0.0]).collect()
    };
    // The crops again from the source (decoding is cheap beside the search), shrunk for the atlas.
    let mut by_work: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, (w, _)) in all.iter().enumerate() {
        by_work.entry(*w).or_default().push(k);
    }
    let mut thumbs: Vec<Option<image::RgbImage>> = vec![None; n];
    let made: Vec<Vec<(usize, image::RgbImage)>> = by_work
        .par_iter()
        .map(|(&w, ks)| {
            let rgba = decode_rgba(&works.items[w]).ok();
            ks.iter()
                .map(|&k| {
                    let crop = rgba.as_ref().and_then(|img| {
                        let c = aligned_crop(
                            img.as_raw(),
                            img.width() as usize,
                            img.height() as usize,
                            all[k].1.eyes,
                            CROP,
                        );
                        image::RgbImage::from_raw(CROP as u32, CROP as u32, c)
                    });
                    let crop = crop.unwrap_or_else(|| image::RgbImage::new(CROP as u32, CROP as u32));
                    (k, image::imageops::resize(&crop, ATLAS_TIER, ATLAS_TIER, image::imageops::FilterType::Triangle))
                })
                .collect()
        })
        .collect();
    for (k, t) in made.into_iter().flatten() {
        thumbs[k] = Some(t);
    }
    let thumbs: Vec<image::RgbImage> =
        thumbs.into_iter().map(|t| t.unwrap_or_else(|| image::RgbImage::new(ATLAS_TIER, ATLAS_TIER))).collect();
    let grid = Grid::new(ATLAS_TIER, opts.atlas_max);
    let mut names = Vec::new();
    let mut sizes = Vec::new();
    let mut rects = Vec::new();
    for a in 0..grid.atlas_count(n) {
        let (img, r) = atlas::build_atlas(&grid, a, &thumbs);
        let bytes = atlas::encode(&img, opts.atlas_format)?;
        let name = format!("faces-{ATLAS_TIER}-{a}-{:08x}.{}", crc32fast::hash(&bytes), opts.atlas_format.extension());
        let path = opts.out.join(&name);
        fsio::write_atomic(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        names.push(name);
        sizes.push([img.width(), img.height()]);
        rects.extend(r);
    }
    report.atlases += names.len();
    // Rounded for the manifest (it is JSON, and ships with the collection): points to 0.1 px,
    // embeddings to 0.001 (they span about ±10), the PCA to 1e-5 (components are unit vectors).
    let q = |v: f32, step: f32| (v / step).round() * step;
    let faces = all
        .iter()
        .zip(rects)
        .enumerate()
        .map(|(k, ((w, f), thumb))| Face {
            work: *w as u32,
            bbox: f.bbox.map(|v| q(v, 0.1)),
            score: q(f.score, 0.001),
            landmarks: f.points.iter().map(|p| p.map(|v| q(v, 0.1))).collect(),
            thumb,
            embedding: z.row(k).iter().map(|&v| q(v, 0.001)).collect(),
            pos3: pos3[k].map(|v| q(v, 0.001)),
        })
        .collect();
    Ok(Faces {
        model: FACE_MODEL.into(),
        crop: CROP as u32,
        atlas: Tier { size: ATLAS_TIER, format: opts.atlas_format, atlases: names, atlas_sizes: sizes },
        pca_mean: pca.mean.iter().map(|&v| q(v, 1e-5)).collect(),
        pca_components: pca.components.data.iter().map(|&v| q(v, 1e-5)).collect(),
        dims: dims as u32,
        faces,
    })
}
