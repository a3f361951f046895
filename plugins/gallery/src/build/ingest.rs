//! Stage 1, ingest: the options checked, the collection folder scanned (our own output left out),
//! the metadata read, the cache folders made (stale temporaries of a killed build removed), the
//! model's weights read and the feature cache opened (and repaired).

use std::collections::HashMap;
use std::path::PathBuf;

use super::{BuildError, BuildOptions, Context, Result, model_tag};
use crate::cache::FeatureCache;
use crate::features::{self, FEATURES};
use crate::fsio;
use crate::ingest::{self, Found, Metadata, Skipped};

/// What the later stages start from.
pub(super) struct Ingested {
    /// The collection's images, in path order.
    pub found: Vec<Found>,
    /// Files skipped so far, and why (the features stage adds the unreadable ones).
    pub skipped: Vec<Skipped>,
    pub meta: HashMap<String, Metadata>,
    pub meta_warnings: Vec<String>,
    /// Thumbnail tiers, sorted, each once.
    pub tiers: Vec<u32>,
    pub cache_dir: PathBuf,
    pub weights: Vec<u8>,
    /// The model part of the feature cache keys.
    pub tag: String,
    pub cache: FeatureCache,
}

pub(super) fn ingest(opts: &BuildOptions) -> Result<Ingested> {
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
    let (mut found, skipped) =
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
        Some(p) => ingest::read_metadata(p)?,
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
    let cache = FeatureCache::open(&cache_dir.join("features.bin"), FEATURES)?;
    Ok(Ingested { found, skipped, meta, meta_warnings, tiers, cache_dir, weights, tag, cache })
}
