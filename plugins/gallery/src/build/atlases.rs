//! Stage 4, atlases: per thumbnail tier, every work's cached thumbnail (made again from the
//! source when one is missing or unreadable) packed into atlases, each written atomically under a
//! name carrying the CRC-32 of its bytes (so a new build never overwrites a file the current
//! manifest uses).

use std::collections::HashSet;

use indicatif::MultiProgress;
use rayon::prelude::*;

use super::features::{Works, cache_thumbnails, cached_thumbnail, thumb_cache_path};
use super::ingest::Ingested;
use super::{BuildError, BuildOptions, BuildReport, Context, Result, bar};
use crate::atlas::{self, AtlasRect, Grid};
use crate::fsio;
use crate::manifest::Tier;

/// An atlas written to disk: file name, pixel size, the rects it holds.
type BuiltAtlas = (String, [u32; 2], Vec<AtlasRect>);

/// The atlases of this build.
pub(super) struct Atlases {
    pub tiers: Vec<Tier>,
    /// Per work: its rect in each tier.
    pub rects: Vec<Vec<AtlasRect>>,
    /// Every atlas file the new manifest lists.
    pub listed: HashSet<String>,
}

/// Whether a file name is one of the build's atlases (`atlas-<tier>-<k>[-<crc>].<png|jpg>`, and
/// the face atlases `faces-<tier>-<k>-<crc>.<png|jpg>`).
pub(super) fn is_atlas_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".png").or_else(|| name.strip_suffix(".jpg")) else { return false };
    let Some(rest) = stem.strip_prefix("atlas-").or_else(|| stem.strip_prefix("faces-")) else { return false };
    let parts: Vec<&str> = rest.split('-').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match parts[..] {
        [t, k] => digits(t) && digits(k),
        [t, k, c] => digits(t) && digits(k) && c.len() == 8 && c.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => false,
    }
}

pub(super) fn atlases(
    opts: &BuildOptions,
    input: &Ingested,
    works: &Works,
    report: &mut BuildReport,
    mp: &MultiProgress,
) -> Result<Atlases> {
    // Atlases, per tier, from the cached thumbnails (made again from the source when one is missing
    // or unreadable).
    let (n, tiers, cache_dir) = (works.items.len(), &input.tiers, &input.cache_dir);
    let pb = bar(mp, opts.progress, (n * tiers.len()) as u64, "atlases");
    let mut tier_out = Vec::new();
    let mut rects: Vec<Vec<AtlasRect>> = vec![Vec::new(); n];
    let mut listed = HashSet::new();
    for &tier in tiers {
        let grid = Grid::new(tier, opts.atlas_max);
        let thumbs: Vec<image::RgbImage> = works
            .items
            .par_iter()
            .zip(works.sizes.par_iter())
            .map(|(f, &size)| {
                pb.inc(1);
                if let Some(t) = cached_thumbnail(cache_dir, tier, f, size) {
                    return Ok(t);
                }
                let p = thumb_cache_path(cache_dir, tier, f);
                std::fs::remove_file(&p).ok();
                let img = crate::ingest::decode(&f.path, f.size)
                    .map_err(|e| BuildError::File(format!("cannot make the thumbnail of {}: {e}", f.rel)))?;
                cache_thumbnails(cache_dir, &[tier], f, &img.to_rgb8())?;
                cached_thumbnail(cache_dir, tier, f, size).with_context(|| {
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
    Ok(Atlases { tiers: tier_out, rects, listed })
}
