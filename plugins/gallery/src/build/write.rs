//! Stage 5, write: metadata joined on the path, period statistics (typical works and outliers),
//! the manifest assembled and checked, `report.txt`, then the manifest itself — last: until it is
//! renamed into place, the previous one and its atlases stand — and only then the atlases no
//! manifest lists any more removed.

use std::path::Path;

use super::atlases::{Atlases, is_atlas_name};
use super::features::Works;
use super::ingest::Ingested;
use super::map::MapOut;
use super::{BuildOptions, BuildReport, Context, MODEL_ID, Result};
use crate::fsio;
use crate::ingest::{self, Metadata, Skipped};
use crate::manifest::{self, LayoutInfo, Manifest, Period, PeriodKind, Work};
use crate::tsne::Matrix;

pub(super) fn write(
    opts: &BuildOptions,
    mut input: Ingested,
    works: Works,
    map: MapOut,
    atlases: Atlases,
    faces: Option<crate::manifest::Faces>,
    report: &mut BuildReport,
) -> Result<()> {
    // Metadata joined on the path (or its tail: the file name alone when that is unambiguous).
    let rels: Vec<&str> = works.items.iter().map(|f| f.rel.as_str()).collect();
    let (joined, join_warnings) = ingest::join_metadata(&rels, &input.meta);
    let mut meta_warnings = std::mem::take(&mut input.meta_warnings);
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
    let (periods, typicality) = period_stats(&metas, &map.z, &map.pos3, opts.period_examples);

    let n = works.items.len();
    let list: Vec<Work> = (0..n)
        .map(|i| Work {
            file: works.items[i].rel.clone(),
            meta: metas[i].clone(),
            size: works.sizes[i],
            pos3: map.pos3[i],
            pos2: map.pos2[i],
            thumbs: atlases.rects[i].clone(),
            similar: map.similar[i].iter().map(|e| e.0).collect(),
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
    let mut skipped = input.skipped;
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let m = Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        name,
        model: format!("{MODEL_ID}; weights crc32 {}", input.tag),
        tiers: atlases.tiers,
        works: list,
        periods,
        layout: LayoutInfo {
            pca_dims: map.pca.components.rows,
            perplexity: opts.perplexity,
            iterations: opts.iterations,
            transformed: report.transformed,
            seed: opts.seed,
        },
        skipped: skipped.clone(),
        faces,
    };
    let mut listed = atlases.listed;
    if let Some(f) = &m.faces {
        listed.extend(f.atlas.atlases.iter().cloned());
    }
    m.validate()?;
    write_report(&opts.out, &skipped, &meta_warnings, report)?;
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
    if let Ok(rd) = std::fs::read_dir(input.cache_dir.join("thumbs")) {
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
    Ok(())
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

pub(super) fn write_report(out: &Path, skipped: &[Skipped], warnings: &[String], report: &BuildReport) -> Result<()> {
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
    for note in report.layout_note.iter().chain(&report.faces_note) {
        s.push_str(note);
        s.push('\n');
    }
    let path = out.join("report.txt");
    fsio::write_atomic(&path, s.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
