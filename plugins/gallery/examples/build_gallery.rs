//! The gallery build without the app (no Bevy to compile): same as `headroom build-gallery`,
//! for scripts and quick runs.
//!
//! cargo run --release -p headroom-gallery --example build_gallery -- DIR OUT [CSV] [--jpeg] [--tiers 64,128]

use headroom_gallery::atlas::AtlasFormat;
use headroom_gallery::build::{BuildOptions, build, default_model_path};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tiers_at = args.iter().position(|a| a == "--tiers");
    let pos: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && tiers_at.is_none_or(|t| *i != t + 1))
        .map(|(_, a)| a)
        .collect();
    if pos.len() < 2 {
        anyhow::bail!("usage: build_gallery DIR OUT [CSV] [--jpeg] [--tiers 64,128] [--relayout]");
    }
    let mut opts = BuildOptions::new(pos[0], pos[1], default_model_path());
    opts.metadata = pos.get(2).map(|p| p.into());
    if args.iter().any(|a| a == "--jpeg") {
        opts.atlas_format = AtlasFormat::Jpeg;
    }
    opts.relayout = args.iter().any(|a| a == "--relayout");
    if let Some(i) = tiers_at {
        opts.tiers = args[i + 1].split(',').map(|t| t.parse()).collect::<Result<_, _>>()?;
    }
    let r = build(&opts)?;
    println!(
        "{} works, {} skipped; features {} computed ({:.1} images/s), {} reused; layout {:.1} s; total {:.1} s",
        r.works,
        r.skipped.len(),
        r.features_computed,
        r.images_per_second(),
        r.features_reused,
        r.layout_seconds,
        r.total_seconds
    );
    Ok(())
}
