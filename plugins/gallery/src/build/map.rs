//! Stage 3, map: the saved map (`cache/layout.json`) is kept when it was made with the same
//! settings and the collection only grew by less than it already holds — new works then join it by
//! t-SNE `transform` without moving the others; otherwise PCA and t-SNE (3D and 2D, on the CPU or
//! the GPU engine) lay out the whole map again. The map is saved for the next build, and each
//! work's similar works found (nearest neighbours in PCA feature space).

use std::collections::HashMap;
use std::time::Instant;

use indicatif::MultiProgress;
use serde::{Deserialize, Serialize};

use super::features::Works;
use super::ingest::Ingested;
use super::{BuildOptions, BuildReport, Context, Result, bar};
use crate::features::FEATURES;
use crate::fsio;
use crate::tsne::{self, Matrix, Pca, TsneConfig};

/// The map of this build.
pub(super) struct MapOut {
    pub pca: Pca,
    /// The works' features in the PCA basis (n × PCA dimensions).
    pub z: Matrix,
    pub pos3: Vec<[f32; 3]>,
    pub pos2: Vec<[f32; 2]>,
    /// Per work: its nearest works (index, distance), itself left out.
    pub similar: Vec<Vec<(u32, f32)>>,
}

/// The map of the last build (`cache/layout.json`) and the settings it was made with.
#[derive(Serialize, Deserialize)]
pub(super) struct SavedLayout {
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

pub(super) fn map(
    opts: &BuildOptions,
    input: &Ingested,
    works: &Works,
    report: &mut BuildReport,
    mp: &MultiProgress,
) -> Result<MapOut> {
    // Layout: reuse the saved map when it was made with the same settings and the collection only
    // grew by less than it already holds.
    let t_layout = Instant::now();
    let layout_path = input.cache_dir.join("layout.json");
    let saved: Option<SavedLayout> = if opts.relayout {
        None
    } else {
        match std::fs::read_to_string(&layout_path) {
            Err(_) => None,
            Ok(text) => match serde_json::from_str::<SavedLayout>(&text)
                .map_err(|e| e.to_string())
                .and_then(|s| s.check().map(|_| s))
            {
                Ok(s) => match s.changed(opts, &input.tag) {
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
    let n = works.items.len();
    let (feats, keys) = (&works.feats, &works.keys);
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
            let z = pca.transform(feats);
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
            let pca = Pca::fit(feats, opts.pca_dims);
            let z = pca.transform(feats);
            let pb = bar(mp, opts.progress, 2 * opts.iterations as u64, "t-SNE 3D+2D");
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
    let z = pca.transform(feats);
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
        model: input.tag.clone(),
    };
    fsio::write_atomic(&layout_path, serde_json::to_string(&saved)?.as_bytes())
        .with_context(|| format!("cannot write {}", layout_path.display()))?;

    // Similar works: nearest neighbours in PCA feature space.
    let similar = tsne::knn(&z, &z, opts.similar, true);
    Ok(MapOut { pca, z, pos3, pos2, similar })
}
