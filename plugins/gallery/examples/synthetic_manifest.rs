//! A synthetic big gallery for frame-time measurements: N works (default 50,000) that reuse the
//! thumbnails of an existing manifest, spread over a map N/n times larger.
//!
//! cargo run -p headroom-gallery --example synthetic_manifest -- assets/gallery/public-art/manifest.json /tmp/big 50000

use std::path::Path;

use headroom_gallery::manifest::Manifest;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: synthetic_manifest SOURCE_MANIFEST OUT_DIR [N]");
    let src = Path::new(&args[0]);
    let out = Path::new(&args[1]);
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(50_000);
    let m = Manifest::load(src)?;
    anyhow::ensure!(!m.works.is_empty(), "the source manifest has no works");
    std::fs::create_dir_all(out)?;
    let src_dir = src.parent().unwrap_or(Path::new(".")).canonicalize()?;
    let mut big = m.clone();
    for t in &mut big.tiers {
        for a in &mut t.atlases {
            *a = src_dir.join(&*a).display().to_string();
        }
    }
    let k = m.works.len();
    let copies = n.div_ceil(k) as f32;
    let spread = copies.cbrt();
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut rnd = || rng.random::<f32>() - 0.5;
    big.works = (0..n)
        .map(|i| {
            let mut w = m.works[i % k].clone();
            let c = (i / k) as f32;
            // Each copy of the collection is a jittered, displaced replica.
            let off = [c * 37.0 % 100.0 - 50.0, c * 61.0 % 100.0 - 50.0, c * 17.0 % 100.0 - 50.0];
            for (v, o) in w.pos3.iter_mut().zip(off) {
                *v = *v * spread + o * spread * 0.2 + rnd() * 2.0;
            }
            for (v, o) in w.pos2.iter_mut().zip(off) {
                *v = *v * spread.sqrt() + o * 0.3 + rnd() * 2.0;
            }
            w.similar = w.similar.iter().map(|&j| ((i / k) * k + j as usize).min(n - 1) as u32).collect();
            w
        })
        .collect();
    big.periods.clear();
    big.name = format!("synthetic {n}");
    big.validate().map_err(anyhow::Error::msg)?;
    std::fs::write(out.join("manifest.json"), serde_json::to_string(&big)?)?;
    println!("{} works → {}", n, out.join("manifest.json").display());
    Ok(())
}
