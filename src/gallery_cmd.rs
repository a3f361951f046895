//! `headroom build-gallery` and `headroom faces`.

use anyhow::Result;
use headroom_gallery::build::{BuildOptions, build, default_model_path};

use std::sync::Arc;

use headroom_gallery::tsne::GpuTsne;
use headroom_gallery::tsne::TsneEngine;
use headroom_gpu::{ComputeChoice, Gpu};

use crate::cli::Command;

pub fn run(cmd: &Command) -> Result<()> {
    let Command::BuildGallery {
        dir,
        metadata,
        out,
        tiers,
        atlas_format,
        relayout,
        perplexity,
        iterations,
        seed,
        limit,
        model,
        name,
        quiet,
        tsne_on,
        no_faces,
    } = cmd
    else {
        unreachable!("gallery_cmd::run called with another command")
    };
    let mut opts = BuildOptions::new(dir, out, model.clone().unwrap_or_else(default_model_path));
    opts.metadata = metadata.clone();
    opts.tiers = tiers.clone();
    opts.atlas_format = (*atlas_format).into();
    opts.relayout = *relayout;
    opts.perplexity = *perplexity;
    opts.iterations = *iterations;
    opts.seed = *seed;
    opts.limit = *limit;
    opts.progress = !quiet;
    opts.name = name.clone();
    opts.tsne_engine = tsne_engine(*tsne_on)?;
    opts.faces = !no_faces;
    let r = build(&opts)?;
    println!("gallery: {} works → {}", r.works, r.manifest.display());
    println!(
        "features: {} computed ({:.1} images/s), {} reused from the cache",
        r.features_computed,
        r.images_per_second(),
        r.features_reused
    );
    if r.cache.repaired() {
        println!("{}", r.cache.describe());
    }
    if let Some(note) = &r.layout_note {
        println!("{note}");
    }
    if r.relaid_out {
        println!("map: t-SNE 3D + 2D of all works in {:.1} s ({})", r.layout_seconds, r.tsne_engine);
    } else {
        println!(
            "map: kept; {} new works placed into it (t-SNE transform) in {:.1} s",
            r.transformed, r.layout_seconds
        );
    }
    if opts.faces {
        println!(
            "faces: {} in {} works ({} works searched, the rest from the cache) in {:.1} s",
            r.faces, r.works_with_faces, r.faces_searched, r.faces_seconds
        );
        if let Some(note) = &r.faces_note {
            println!("{note}");
        }
    }
    println!("atlases: {}", r.atlases);
    if !r.skipped.is_empty() {
        println!("skipped {} files (see {}):", r.skipped.len(), opts.out.join("report.txt").display());
        for s in r.skipped.iter().take(20) {
            println!("  {}: {}", s.file, s.reason);
        }
        if r.skipped.len() > 20 {
            println!("  … and {} more", r.skipped.len() - 20);
        }
    }
    if !r.metadata_warnings.is_empty() {
        println!("metadata: {} warnings (see {})", r.metadata_warnings.len(), opts.out.join("report.txt").display());
    }
    println!("total {:.1} s", r.total_seconds);
    Ok(())
}

/// The t-SNE optimiser for `--tsne-on`: `auto` takes a hardware GPU when there is one (a
/// software rasteriser such as lavapipe is slower than the CPU code), `gpu` any adapter.
fn tsne_engine(choice: ComputeChoice) -> anyhow::Result<Option<Arc<dyn TsneEngine>>> {
    if choice == ComputeChoice::Cpu {
        return Ok(None);
    }
    match Gpu::new() {
        Ok(gpu) if choice == ComputeChoice::Gpu || !gpu.is_software() => {
            eprintln!("t-SNE on the GPU: {}", gpu.describe());
            Ok(Some(Arc::new(GpuTsne::new(gpu))))
        }
        Ok(gpu) => {
            eprintln!(
                "t-SNE on the CPU (the only GPU is {}, a software one; --tsne-on gpu to use it anyway)",
                gpu.describe()
            );
            Ok(None)
        }
        Err(e) if choice == ComputeChoice::Gpu => anyhow::bail!("--tsne-on gpu: {e}"),
        Err(_) => Ok(None),
    }
}

/// `headroom faces MANIFEST`: the faces per work, as JSON on standard output.
pub fn faces(manifest: &std::path::Path) -> Result<()> {
    let path = headroom_gallery::plugin::resolve_manifest(manifest)?;
    let m = headroom_gallery::manifest::Manifest::load(&path)?;
    let Some(faces) = &m.faces else {
        anyhow::bail!(
            "{} has no faces section (built with --no-faces, or by an older headroom): run `headroom build-gallery` again to find them",
            path.display()
        );
    };
    let mut works: Vec<serde_json::Value> = Vec::new();
    for (w, work) in m.works.iter().enumerate() {
        let list: Vec<serde_json::Value> = faces
            .in_work(w as u32)
            .map(|i| {
                let f = &faces.faces[i];
                serde_json::json!({
                    "face": i,
                    "box": f.bbox,
                    "score": f.score,
                    "landmarks": f.landmarks,
                    "map_position": f.pos3,
                })
            })
            .collect();
        if !list.is_empty() {
            works.push(serde_json::json!({
                "work": w,
                "file": work.file,
                "title": work.meta.title,
                "artist": work.meta.artist,
                "year": work.meta.year,
                "faces": list,
            }));
        }
    }
    let out = serde_json::json!({
        "gallery": m.name,
        "model": faces.model,
        "works": m.works.len(),
        "works_with_faces": works.len(),
        "faces": faces.faces.len(),
        "per_work": works,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
