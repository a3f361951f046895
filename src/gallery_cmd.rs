//! `headroom build-gallery`.

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
