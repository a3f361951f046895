//! Stage 2, features: every work whose features or thumbnails are not cached is decoded (in
//! parallel, a batch at a time), its thumbnails cached per tier, and the network run on the
//! batch's uncached works; each batch is appended to the feature cache and synced, so a killed
//! build resumes here. Then the works of this build: everything with features, in path order.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::MultiProgress;
use rayon::prelude::*;

use super::ingest::Ingested;
use super::{BuildError, BuildOptions, BuildReport, Context, Result, bar, feature_key};
use crate::atlas;
use crate::cache;
use crate::features::{self, FEATURES, MobileNetV2};
use crate::fsio;
use crate::ingest::{self, Found, Skipped};
use crate::tsne::Matrix;

/// The works of this build, in path order, with their features.
pub(super) struct Works {
    pub items: Vec<Found>,
    /// Their feature cache keys.
    pub keys: Vec<String>,
    /// n × 1280.
    pub feats: Matrix,
    /// Source pixel sizes.
    pub sizes: Vec<[u32; 2]>,
}

/// A decoded image: source size and, when its features are not cached, the network's 224×224 RGB
/// input; or why it was skipped.
type Decoded = std::result::Result<([u32; 2], Option<Vec<u8>>), String>;
/// Where the thumbnail of a file at one tier is cached: `cache/thumbs/<tier>/<hash of the file key>.png`.
pub(super) fn thumb_cache_path(cache: &Path, tier: u32, f: &Found) -> PathBuf {
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
pub(super) fn cache_thumbnails(cache: &Path, tiers: &[u32], f: &Found, rgb: &image::RgbImage) -> Result<()> {
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
pub(super) fn cached_thumbnail(cache: &Path, tier: u32, f: &Found, source: [u32; 2]) -> Option<image::RgbImage> {
    let t = image::open(thumb_cache_path(cache, tier, f)).ok()?.to_rgb8();
    (t.dimensions() == atlas::thumb_size(source[0], source[1], tier)).then_some(t)
}

pub(super) fn features(
    opts: &BuildOptions,
    input: &mut Ingested,
    report: &mut BuildReport,
    mp: &MultiProgress,
) -> Result<Works> {
    let Ingested { found, skipped, meta_warnings, tiers, cache_dir, weights, tag, cache, .. } = input;
    let (tiers, cache_dir, tag) = (&*tiers, &*cache_dir, &*tag);
    let show = opts.progress;
    let todo: Vec<&Found> = found
        .iter()
        .filter(|f| {
            !cache.contains(&feature_key(tag, f)) || tiers.iter().any(|&t| !thumb_cache_path(cache_dir, t, f).exists())
        })
        .collect();
    let mut skipped_now = std::collections::HashSet::new();
    let t_feat = Instant::now();
    if !todo.is_empty() {
        let mut net = None;
        let pb = bar(mp, show, todo.len() as u64, "features");
        for chunk in todo.chunks(opts.batch.max(1)) {
            // Decode, thumbnail and preprocess in parallel.
            let decoded: Vec<Result<Decoded>> = chunk
                .par_iter()
                .map(|f| {
                    let img = match ingest::decode(&f.path, f.size) {
                        Ok(img) => img,
                        Err(reason) => return Ok(Err(reason.to_string())),
                    };
                    let size = [img.width(), img.height()];
                    let input = if cache.contains(&feature_key(tag, f)) {
                        None
                    } else {
                        match features::preprocess(&img) {
                            Ok(px) => Some(px),
                            Err(e) => return Ok(Err(e.to_string())),
                        }
                    };
                    cache_thumbnails(cache_dir, tiers, f, &img.to_rgb8())?;
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
                        MobileNetV2::from_bytes(weights)
                            .map_err(|e| BuildError::File(format!("{}: {e}", opts.model.display())))?,
                    );
                }
                if let Some(net) = net.as_ref() {
                    let inputs: Vec<&[u8]> = need.iter().map(|n| n.2.as_slice()).collect();
                    let feats = net.features_rgb(&inputs)?;
                    let records: Vec<(String, cache::Entry)> = need
                        .iter()
                        .zip(feats)
                        .map(|(n, feat)| (feature_key(tag, chunk[n.0]), cache::Entry { size: n.1, feat }))
                        .collect();
                    report.features_computed += records.len();
                    cache.append(records)?;
                }
            }
            pb.inc(chunk.len() as u64);
        }
        pb.finish();
    }
    report.feature_seconds = t_feat.elapsed().as_secs_f64();

    // Works in path order: everything with features (and not unreadable now).
    let items: Vec<Found> = found
        .iter()
        .filter(|f| cache.contains(&feature_key(tag, f)) && !skipped_now.contains(&f.rel))
        .cloned()
        .collect();
    let n = items.len();
    report.features_reused = n.saturating_sub(report.features_computed);
    if n == 0 {
        super::write::write_report(&opts.out, skipped, meta_warnings, report)?;
        return Err(BuildError::Input(format!(
            "no readable images in {} ({} skipped; see {})",
            opts.dir.display(),
            skipped.len(),
            opts.out.join("report.txt").display()
        )));
    }
    let keys: Vec<String> = items.iter().map(|f| feature_key(tag, f)).collect();
    let entry = |i: usize| cache.get(&keys[i]).expect("items are the works with cached features");
    let feats = Matrix::new(n, FEATURES, (0..n).flat_map(|i| entry(i).feat.iter().copied()).collect());
    let sizes: Vec<[u32; 2]> = (0..n).map(|i| entry(i).size).collect();
    Ok(Works { items, keys, feats, sizes })
}
