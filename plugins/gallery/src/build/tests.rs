use std::collections::HashMap;

use super::*;
use crate::atlas;
use crate::features::FEATURES;
use crate::ingest;
use crate::manifest::Manifest;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A PNG whose header claims 20000×20000 pixels (the data never follows).
fn enormous_png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(&ihdr);
    v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(chunk);
        v.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    v
}

fn painting(i: u32, w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let a = ((x * (i + 1) + y * 3) % 256) as u8;
        let b = ((y * (7 - i % 7) + x) % 256) as u8;
        if i.is_multiple_of(2) { image::Rgb([a, b, 255 - a]) } else { image::Rgb([b / 2, a, 40]) }
    })
}

fn options(dir: &Path, out: &Path) -> BuildOptions {
    let mut o = BuildOptions::new(dir, out, default_model_path());
    o.tiers = vec![32, 64];
    o.atlas_max = 200;
    o.perplexity = 2.0;
    o.iterations = 300;
    o.progress = false;
    o.similar = 3;
    o
}

#[test]
fn bad_files_are_skipped_and_reported_and_a_rerun_processes_only_new_files() {
    let root = std::env::temp_dir().join(format!("hr-gallery-build-{}", std::process::id()));
    let dir = root.join("collection");
    let out = root.join("out");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..6 {
        let (w, h) = if i % 3 == 0 { (90, 60) } else { (64, 80) };
        let name = if i == 5 { format!("sub/w{i}.png") } else { format!("w{i}.jpg") };
        painting(i, w, h).save(dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("empty.jpg"), b"").unwrap();
    std::fs::write(dir.join("notes.png"), b"this is not an image").unwrap();
    let png = std::fs::read(dir.join("sub/w5.png")).unwrap();
    std::fs::write(dir.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(dir.join("huge.png"), enormous_png()).unwrap();
    std::fs::write(dir.join("readme.txt"), b"ignored: not an image extension").unwrap();
    std::fs::write(dir.join("meta.csv"), "file,title,artist,year,museum,style\nw0.jpg,Zero,Ann,1885,Prado,calm\nw1.jpg,One,Bob,1889,Prado,\nw2.jpg,Two,Cy,1901,Met,\n").unwrap();

    let mut opts = options(&dir, &out);
    opts.metadata = Some(dir.join("meta.csv"));
    let r = build(&opts).expect("build succeeds despite bad files");
    assert_eq!(r.works, 6);
    assert_eq!(r.features_computed, 6);
    let mut bad: Vec<&str> = r.skipped.iter().map(|s| s.file.as_str()).collect();
    bad.sort();
    assert_eq!(bad, ["empty.jpg", "huge.png", "notes.png", "truncated.png"]);
    let reasons: String = r.skipped.iter().map(|s| format!("{} {}\n", s.file, s.reason)).collect();
    assert!(reasons.contains("empty.jpg empty file"), "{reasons}");
    assert!(reasons.contains("huge.png enormous"), "{reasons}");
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(report.contains("skipped files: 4") && report.contains("truncated.png"), "{report}");

    let m = Manifest::load(&out.join("manifest.json")).unwrap();
    assert_eq!(m.works.len(), 6);
    let w0 = m.works.iter().find(|w| w.file == "w0.jpg").unwrap();
    assert_eq!((w0.meta.title.as_str(), w0.meta.year, w0.meta.museum.as_str()), ("Zero", Some(1885), "Prado"));
    assert_eq!(w0.meta.extra["style"], "calm");
    assert_eq!(w0.size, [90, 60]);
    // Aspect kept in both tiers; every atlas exists on disk and is within the size limit.
    assert_eq!(&w0.thumbs[0].rect[2..], &[32, 21]);
    assert_eq!(&w0.thumbs[1].rect[2..], &[64, 43]);
    for t in 0..m.tiers.len() {
        for p in m.atlas_paths(&out.join("manifest.json"), t) {
            let img = image::open(&p).unwrap();
            assert!(img.width() <= 200 && img.height() <= 200);
        }
    }
    assert!(m.works.iter().any(|w| w.file == "sub/w5.png"));
    assert!(
        m.works.iter().all(
            |w| w.similar.len() == 3 && !w.similar.contains(&(m.works.iter().position(|x| x == w).unwrap() as u32))
        )
    );
    let eighties = m.periods.iter().find(|p| p.label == "1880s").unwrap();
    assert_eq!(eighties.count, 2);
    assert_eq!(eighties.typical.len() + eighties.outliers.len(), 2);
    let old: HashMap<String, [f32; 3]> = m.works.iter().map(|w| (w.file.clone(), w.pos3)).collect();

    // Re-run with two more works: only they are computed, the map keeps its places.
    painting(7, 70, 70).save(dir.join("w7.jpg")).unwrap();
    painting(8, 50, 90).save(dir.join("w8.jpg")).unwrap();
    let r2 = build(&opts).unwrap();
    assert_eq!((r2.works, r2.features_computed, r2.features_reused), (8, 2, 6));
    assert_eq!(r2.transformed, 2);
    let m2 = Manifest::load(&out.join("manifest.json")).unwrap();
    for w in &m2.works {
        match old.get(&w.file) {
            Some(p) => assert_eq!(*p, w.pos3, "{} moved", w.file),
            None => assert!(w.pos3.iter().all(|v| v.is_finite())),
        }
    }

    // An interrupted build (cache cut mid-record) resumes: only the lost record is recomputed.
    let cache = out.join("cache/features.bin");
    let len = std::fs::metadata(&cache).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&cache).unwrap();
    f.set_len(len - 100).unwrap();
    drop(f);
    let r3 = build(&opts).unwrap();
    assert_eq!((r3.features_computed, r3.features_reused), (1, 7));
    std::fs::remove_dir_all(&root).ok();
}

fn root(name: &str) -> PathBuf {
    let r = std::env::temp_dir().join(format!("hr-gallery-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&r).ok();
    std::fs::create_dir_all(r.join("collection")).unwrap();
    r
}

fn collection(dir: &Path, n: u32) {
    for i in 0..n {
        let (w, h) = if i % 3 == 0 { (90, 60) } else { (64, 80) };
        painting(i, w, h).save(dir.join(format!("w{i:02}.jpg"))).unwrap();
    }
}

fn features_of(out: &Path) -> HashMap<String, cache::Entry> {
    let (recs, rep, _) = cache::scan(&std::fs::read(out.join("cache/features.bin")).unwrap(), FEATURES);
    assert!(!rep.repaired(), "{rep:?}");
    recs.into_iter().collect()
}

#[test]
fn other_tiers_on_a_rerun_use_thumbnails_of_their_own_size() {
    let r = root("tiers");
    let dir = r.join("collection");
    collection(&dir, 6);
    let mut opts = options(&dir, &r.join("out"));
    build(&opts).unwrap();
    // Smaller than the cached tiers (used to panic in build_atlas), then larger (used to be the
    // 64-px thumbnails stretched into 128-px cells' rects).
    for tiers in [vec![16], vec![128], vec![16, 64, 128]] {
        opts.tiers = tiers.clone();
        let rep = build(&opts).unwrap_or_else(|e| panic!("tiers {tiers:?}: {e:#}"));
        assert_eq!(rep.features_computed, 0, "tiers {tiers:?}: thumbnails are not features");
        let mpath = r.join("out/manifest.json");
        let m = Manifest::load(&mpath).unwrap();
        assert_eq!(m.tiers.iter().map(|t| t.size).collect::<Vec<_>>(), tiers);
        for (t, tier) in tiers.iter().enumerate() {
            let atlases: Vec<image::RgbImage> =
                m.atlas_paths(&mpath, t).iter().map(|p| image::open(p).unwrap().to_rgb8()).collect();
            for w in &m.works {
                let [x, y, tw, th] = w.thumbs[t].rect;
                assert_eq!((tw, th), atlas::thumb_size(w.size[0], w.size[1], *tier), "{} tier {tier}", w.file);
                // The same pixels as a thumbnail made straight from the source.
                let src = image::open(dir.join(&w.file)).unwrap().to_rgb8();
                let want = atlas::thumbnail(&src, *tier);
                let a = &atlases[w.thumbs[t].atlas as usize];
                for (px, py) in [(0, 0), (tw / 2, th / 2), (tw - 1, th - 1)] {
                    assert_eq!(a.get_pixel(x + px, y + py), want.get_pixel(px, py), "{} tier {tier}", w.file);
                }
            }
        }
        // Only the atlases the manifest lists are left.
        let on_disk: Vec<String> = std::fs::read_dir(r.join("out"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|f| f.starts_with("atlas-"))
            .collect();
        let listed: Vec<&String> = m.tiers.iter().flat_map(|t| &t.atlases).collect();
        assert_eq!(on_disk.len(), listed.len(), "{on_disk:?} vs {listed:?}");
    }
    std::fs::remove_dir_all(&r).ok();
}

#[test]
fn a_cut_or_damaged_feature_cache_is_repaired_once_and_reports_it() {
    let r = root("repair");
    let dir = r.join("collection");
    collection(&dir, 6);
    let opts = options(&dir, &r.join("out"));
    build(&opts).unwrap();
    let clean = features_of(&r.join("out"));
    let cache = r.join("out/cache/features.bin");
    // Cut mid-record (a killed build), re-run, add a work, re-run, re-run.
    let len = std::fs::metadata(&cache).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&cache).unwrap().set_len(len - 100).unwrap();
    let r1 = build(&opts).unwrap();
    assert_eq!((r1.features_computed, r1.cache.torn_bytes > 0), (1, true), "{:?}", r1.cache);
    let report = std::fs::read_to_string(r.join("out/report.txt")).unwrap();
    assert!(report.contains("interrupted record"), "{report}");
    painting(40, 50, 70).save(dir.join("new.jpg")).unwrap();
    let r2 = build(&opts).unwrap();
    assert_eq!((r2.features_computed, r2.cache.repaired()), (1, false), "{:?}", r2.cache);
    let r3 = build(&opts).unwrap();
    assert_eq!((r3.features_computed, r3.features_reused, r3.cache.repaired()), (0, 7, false));
    // A flipped byte inside a record: that record is dropped and recomputed, the rest kept.
    let mut b = std::fs::read(&cache).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(&cache, &b).unwrap();
    let r4 = build(&opts).unwrap();
    assert_eq!((r4.features_computed, r4.cache.damaged), (1, 1), "{:?}", r4.cache);
    assert!(std::fs::read_to_string(r.join("out/report.txt")).unwrap().contains("1 damaged records dropped"));
    let now = features_of(&r.join("out"));
    for (k, e) in &clean {
        assert_eq!(now.get(k), Some(e), "{k} differs after the repair");
    }
    assert!(now.values().all(|e| e.feat.iter().all(|v| v.abs() < 1e3)));
    std::fs::remove_dir_all(&r).ok();
}

#[test]
fn the_seed_gives_the_same_map_bit_for_bit_and_a_new_seed_or_perplexity_a_new_map() {
    let r = root("seed");
    let dir = r.join("collection");
    collection(&dir, 8);
    let manifest = |out: &str, seed: u64, perplexity: f32| {
        let mut o = options(&dir, &r.join(out));
        o.seed = seed;
        o.perplexity = perplexity;
        let rep = build(&o).unwrap();
        (rep, std::fs::read_to_string(r.join(out).join("manifest.json")).unwrap())
    };
    let (_, a) = manifest("a", 5, 2.0);
    let (_, b) = manifest("b", 5, 2.0);
    let (_, c) = manifest("c", 6, 2.0);
    assert_eq!(a, b, "same inputs and seed, different manifests");
    let pos = |m: &str| Manifest::parse(m, "m").unwrap().works.iter().map(|w| w.pos3).collect::<Vec<_>>();
    assert_ne!(pos(&a), pos(&c), "seeds 5 and 6 give the same map");
    // Re-running "a" with seed 6 lays the map out again: the same as a fresh build with seed 6,
    // and the manifest says so (it used to keep the old map and record the new seed).
    let (rep, a6) = manifest("a", 6, 2.0);
    assert!(rep.relaid_out && rep.layout_note.as_deref().unwrap_or("").contains("--seed changed"), "{rep:?}");
    assert_eq!(pos(&a6), pos(&c));
    assert_eq!(Manifest::parse(&a6, "m").unwrap().layout.seed, 6);
    let (rep, _) = manifest("a", 6, 3.0);
    assert!(rep.relaid_out && rep.layout_note.unwrap().contains("--perplexity changed"));
    let (rep, _) = manifest("a", 6, 3.0);
    assert!(!rep.relaid_out && rep.layout_note.is_none());
    std::fs::remove_dir_all(&r).ok();
}

#[test]
fn hostile_settings_and_a_damaged_layout_are_refused_or_recovered_not_panics() {
    let r = root("hostile");
    let dir = r.join("collection");
    collection(&dir, 6);
    let mut opts = options(&dir, &r.join("out"));
    for tiers in [vec![u32::MAX], vec![u32::MAX - 1], vec![0], vec![199], vec![]] {
        opts.tiers = tiers.clone();
        let e = build(&opts).unwrap_err().to_string();
        assert!(e.contains("thumbnail tiers must be between 1 and 198"), "{tiers:?}: {e}");
    }
    opts.tiers = vec![32, 64];
    for p in [f32::NAN, 0.0, -1.0, f32::INFINITY] {
        opts.perplexity = p;
        assert!(build(&opts).unwrap_err().to_string().contains("--perplexity"));
    }
    opts.perplexity = 2.0;
    build(&opts).unwrap();
    // layout.json edited into inconsistency: fewer positions than works, a short basis, junk.
    let lp = r.join("out/cache/layout.json");
    let good: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lp).unwrap()).unwrap();
    let mut short_pos = good.clone();
    short_pos["pos3"].as_array_mut().unwrap().pop();
    let mut short_basis = good.clone();
    short_basis["pca_components"].as_array_mut().unwrap().truncate(7);
    let mut dims = good.clone();
    dims["pca_dims"] = serde_json::json!(1_000_000);
    for (what, v) in [("positions", short_pos), ("basis", short_basis), ("dims", dims)] {
        std::fs::write(&lp, v.to_string()).unwrap();
        let rep = build(&opts).unwrap_or_else(|e| panic!("{what}: {e:#}"));
        assert!(rep.relaid_out, "{what}");
        assert!(rep.layout_note.as_deref().unwrap_or("").contains("inconsistent"), "{what}: {rep:?}");
    }
    std::fs::write(&lp, b"{\"keys\": [1, 2").unwrap();
    assert!(build(&opts).unwrap().layout_note.unwrap().contains("inconsistent"));
    std::fs::remove_dir_all(&r).ok();
}

#[test]
fn a_truncated_jpeg_is_skipped_and_listed_in_the_report() {
    let r = root("jpeg");
    let dir = r.join("collection");
    collection(&dir, 5);
    let jpg = std::fs::read(dir.join("w01.jpg")).unwrap();
    assert!(!ingest::jpeg_truncated(&jpg));
    std::fs::write(dir.join("cut.jpg"), &jpg[..jpg.len() * 2 / 3]).unwrap();
    let rep = build(&options(&dir, &r.join("out"))).unwrap();
    assert_eq!(rep.works, 5);
    assert_eq!(rep.skipped.len(), 1);
    assert!(rep.skipped[0].reason.contains("truncated JPEG"), "{:?}", rep.skipped);
    let report = std::fs::read_to_string(r.join("out/report.txt")).unwrap();
    assert!(report.contains("cut.jpg: truncated JPEG"), "{report}");
    std::fs::remove_dir_all(&r).ok();
}

#[test]
fn same_named_files_in_different_folders_do_not_share_a_metadata_row() {
    let r = root("names");
    let dir = r.join("collection");
    collection(&dir, 4);
    for (sub, i) in [("a", 10), ("b", 11), ("c", 12)] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        painting(i, 60, 60).save(dir.join(sub).join("x.jpg")).unwrap();
    }
    // `x.jpg` alone is ambiguous (a/x.jpg, c/x.jpg); `b/x.jpg` is not.
    std::fs::write(dir.join("m.csv"), "file,title\nx.jpg,Which one?\nb/x.jpg,Bee\nw00.jpg,Zero\n").unwrap();
    let mut opts = options(&dir, &r.join("out"));
    opts.metadata = Some(dir.join("m.csv"));
    let rep = build(&opts).unwrap();
    let m = Manifest::load(&r.join("out/manifest.json")).unwrap();
    let title = |f: &str| m.works.iter().find(|w| w.file == f).unwrap().meta.title.clone();
    assert_eq!(title("b/x.jpg"), "Bee");
    assert_eq!(title("w00.jpg"), "Zero");
    assert_eq!((title("a/x.jpg"), title("c/x.jpg")), ("x.jpg".into(), "x.jpg".into()));
    assert!(
        rep.metadata_warnings.iter().any(|w| w.contains("`x.jpg` matches 2 files (a/x.jpg, c/x.jpg)")),
        "{:?}",
        rep.metadata_warnings
    );
    assert!(std::fs::read_to_string(r.join("out/report.txt")).unwrap().contains("matches 2 files"));
    std::fs::remove_dir_all(&r).ok();
}

#[test]
fn an_empty_or_missing_folder_is_a_clear_error() {
    let root = std::env::temp_dir().join(format!("hr-gallery-empty-{}", std::process::id()));
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::write(root.join("in/bad.jpg"), b"xx").unwrap();
    let e = build(&options(&root.join("in"), &root.join("out"))).unwrap_err().to_string();
    assert!(e.contains("no readable images") && e.contains("1 skipped"), "{e}");
    let e = build(&options(&root.join("missing"), &root.join("out"))).unwrap_err();
    assert!(format!("{e:#}").contains("missing"), "{e:#}");
    std::fs::remove_dir_all(&root).ok();
}

/// The faces stage on a small collection: three photographs with a face each (the tracker's
/// reference stills), a painting-like picture with none, a tiny one and a grey one. Faces are
/// found where they are and nowhere else; a re-run searches nothing again; a face cache cut
/// mid-line (a kill) is repaired and only the cut work searched again; `--no-faces` leaves the
/// section out.
#[test]
fn faces_are_found_in_the_works_cached_and_resumed() {
    let r = root("faces");
    let dir = r.join("collection");
    let stills = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/faces");
    for name in ["franck_01829.jpg", "franck_02888.jpg", "franck_04000.jpg"] {
        std::fs::copy(stills.join(name), dir.join(name)).unwrap();
    }
    painting(1, 90, 60).save(dir.join("none.jpg")).unwrap();
    painting(2, 6, 5).save(dir.join("tiny.png")).unwrap();
    image::DynamicImage::ImageRgb8(painting(3, 80, 64)).to_luma8().save(dir.join("grey.png")).unwrap();
    let out = r.join("out");
    let opts = options(&dir, &out);
    let rep = build(&opts).unwrap();
    assert_eq!((rep.faces, rep.works_with_faces, rep.faces_searched), (3, 3, 6), "{rep:?}");
    let m = Manifest::load(&out.join("manifest.json")).unwrap();
    let f = m.faces.as_ref().expect("a faces section");
    for face in &f.faces {
        let work = &m.works[face.work as usize];
        assert!(work.file.starts_with("franck_"), "a face in {}", work.file);
        // The face box lies on the face: the reference stills have it in the middle of the frame.
        let (cx, w) = ((face.bbox[0] + face.bbox[2]) / 2.0, face.bbox[2] - face.bbox[0]);
        assert!(cx > 200.0 && cx < 520.0 && w > 60.0 && w < 400.0, "{}: box {:?}", work.file, face.bbox);
        assert_eq!(face.landmarks.len(), 71);
        assert_eq!(face.embedding.len(), f.dims as usize);
    }
    for file in f.atlas.atlases.iter() {
        assert!(out.join(file).is_file(), "{file}");
    }
    // A re-run: nothing searched again, the same section.
    let rep2 = build(&opts).unwrap();
    assert_eq!(rep2.faces_searched, 0);
    assert_eq!(Manifest::load(&out.join("manifest.json")).unwrap().faces, m.faces);
    // A kill in the middle of the last line: that work alone is searched again.
    let log = out.join("cache/faces.jsonl");
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() - 40]).unwrap();
    let rep3 = build(&opts).unwrap();
    assert_eq!(rep3.faces_searched, 1, "{rep3:?}");
    assert!(rep3.faces_note.is_some());
    assert_eq!(rep3.faces, 3);
    assert_eq!(std::fs::read(&log).unwrap().len(), bytes.len(), "the cut line was replaced by a whole one");
    // Without faces: no section, and its atlases are removed with the manifest that listed them.
    let mut off = opts.clone();
    off.faces = false;
    build(&off).unwrap();
    let m = Manifest::load(&out.join("manifest.json")).unwrap();
    assert!(m.faces.is_none());
    for file in f.atlas.atlases.iter() {
        assert!(!out.join(file).exists(), "{file} left behind");
    }
}
