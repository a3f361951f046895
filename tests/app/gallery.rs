//! The gallery: the bundled collection rendered with its live relayout, and build-gallery killed
//! at random moments.

use super::*;

#[test]
fn gallery_renders_the_bundled_collection_without_a_window() {
    use bevy::render::render_resource::{TextureFormat, TextureUsages};
    use bevy::window::ExitCondition;
    use bevy::winit::WinitPlugin;
    use headroom_gallery::{Gallery, GalleryPlugin, GalleryRenderTarget, GallerySource};

    if !require_gpu("gallery render") {
        return;
    }
    #[derive(States, Default, Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum S {
        #[default]
        Gallery,
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/gallery/public-art/manifest.json");
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.build().disable::<WinitPlugin>().set(WindowPlugin {
        primary_window: None,
        exit_condition: ExitCondition::DontExit,
        ..default()
    }))
    .add_plugins((headroom_head::HeadPlugin { config: Default::default() }, headroom_offaxis::OffAxisCameraPlugin));
    let mut target = Image::new_target_texture(480, 300, TextureFormat::Rgba8UnormSrgb, None);
    target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    let handle = app.world_mut().resource_mut::<Assets<Image>>().add(target);
    app.insert_resource(GalleryRenderTarget(handle.clone()))
        .insert_resource(GallerySource(manifest))
        .init_state::<S>()
        .add_plugins(GalleryPlugin { screen: S::Gallery });
    // The renderer initialises asynchronously: wait for it as `App::run` would.
    while app.plugins_state() == bevy::app::PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
    let t0 = std::time::Instant::now();
    while !app.world().contains_resource::<Gallery>() {
        assert!(t0.elapsed().as_secs() < 120, "the bundled gallery did not load");
        app.update();
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = app.world().resource::<Gallery>().manifest.works.len();
    assert!(n > 1000, "{n} works");
    // Pipelines compile and the 4096² atlases upload asynchronously (slowly on lavapipe): take
    // screenshots until the works show, for up to two minutes.
    let shoot = |app: &mut App, name: &str| {
        let t0 = std::time::Instant::now();
        loop {
            for _ in 0..3 {
                app.update();
            }
            let img = screenshot(app, &handle);
            // The background is near-black grey; works are paintings. Count pixels that are neither.
            let bg = [15u8, 15, 18];
            let painted = img
                .pixels()
                .filter(|p| p.0.iter().zip(&bg).map(|(a, b)| (*a as i32 - *b as i32).abs()).sum::<i32>() > 30)
                .count();
            let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
            let frac = painted as f64 / (img.width() * img.height()) as f64;
            if let Ok(dir) = std::env::var("HEADROOM_SHOT_DIR") {
                img.save(Path::new(&dir).join(format!("{name}.png"))).unwrap();
            }
            if (frac > 0.05 && colours.len() > 500) || t0.elapsed().as_secs() > 120 {
                break (frac, colours.len(), img);
            }
        }
    };
    let (frac, colours, map_img) = shoot(&mut app, "gallery-headless");
    eprintln!("gallery render: {:.1}% of the frame shows works, {colours} colours", frac * 100.0);
    assert!(frac > 0.05, "only {:.1}% of the frame shows works", frac * 100.0);
    assert!(colours > 500, "{colours} colours: not thumbnails");

    // The face map (layout 5): the works' meshes empty out, the face crops' meshes fill (one quad
    // per face) and the frame shows them; back in the 3D map, the works return.
    use headroom_gallery::view::Layout;
    let faces = app.world().resource::<Gallery>().manifest.faces.as_ref().map_or(0, |f| f.faces.len());
    assert!(faces > 1000, "{faces} faces in the bundled gallery");
    app.world_mut().resource_mut::<Gallery>().set_layout(Layout::Faces);
    while app.world().resource::<Gallery>().in_transition() {
        app.update();
    }
    app.update();
    let vertices = |app: &App, meshes: &[Handle<Mesh>]| -> usize {
        let assets = app.world().resource::<Assets<Mesh>>();
        meshes.iter().filter_map(|h| assets.get(h)).map(|m| m.count_vertices()).sum()
    };
    let (works_meshes, face_meshes) = app.world().resource::<Gallery>().mesh_handles();
    assert!(!face_meshes.is_empty(), "no face atlas was loaded");
    // (A bucket with nothing to show keeps one degenerate quad: 4 vertices.)
    let v = vertices(&app, &face_meshes);
    assert!(v >= 4 * faces && v <= 4 * (faces + face_meshes.len()), "{v} face map vertices for {faces} faces");
    assert_eq!(vertices(&app, &works_meshes), 4 * works_meshes.len(), "works shown in the face map");
    // "Become this painting": a face cut from its atlas (kept in the main world) with its points.
    {
        let g = app.world().resource::<Gallery>();
        let p =
            g.painted_face(app.world().resource::<Assets<Image>>(), faces / 2).expect("painted face from its atlas");
        assert_eq!(p.points.len(), 71);
        assert_eq!(p.rgba.len(), (p.width * p.height * 4) as usize);
        let [er, el] = p.aligned_eyes();
        assert!(
            (p.points[27][0] - er[0]).abs() < 0.5 && (p.points[32][1] - el[1]).abs() < 0.5,
            "{:?}",
            &p.points[27..33]
        );
        let grey: std::collections::HashSet<u8> = p.rgba.chunks(4).map(|c| c[1]).collect();
        assert!(grey.len() > 50, "a flat painted face: {} levels", grey.len());
    }
    let (frac, colours, face_img) = shoot(&mut app, "gallery-face-map");
    let changed = map_img.pixels().zip(face_img.pixels()).filter(|(a, b)| a != b).count();
    eprintln!(
        "face map: {faces} faces, {:.1}% of the frame shows faces, {colours} colours, {:.0}% of pixels changed",
        frac * 100.0,
        100.0 * changed as f64 / (map_img.width() * map_img.height()) as f64
    );
    assert!(frac > 0.02 && colours > 300, "the face map shows no faces ({:.1}%, {colours} colours)", frac * 100.0);
    assert!(changed > (map_img.width() * map_img.height()) as usize / 10, "the face map looks like the work map");
    app.world_mut().resource_mut::<Gallery>().set_layout(Layout::Map3d);
    while app.world().resource::<Gallery>().in_transition() {
        app.update();
    }
    app.update();
    assert_eq!(vertices(&app, &face_meshes), 4 * face_meshes.len(), "faces left in the work map");
    let v = vertices(&app, &works_meshes);
    assert!(v >= 4 * n && v <= 4 * (n + works_meshes.len()), "{v} vertices for {n} works in the 3D map");

    // Live relayout: t-SNE iterations dispatched in the render graph, positions read back
    // asynchronously and shown as they arrive.
    use headroom_gallery::LiveRelayout;
    assert!(
        app.world().resource::<LiveRelayout>().available.is_some(),
        "the gallery did not offer a live relayout on the GPU"
    );
    let before = app.world().resource::<Gallery>().positions.clone();
    app.world_mut().resource_mut::<LiveRelayout>().requested = true;
    let t0 = std::time::Instant::now();
    let mut frames = 0;
    while app.world().resource::<LiveRelayout>().iteration < 25 {
        assert!(t0.elapsed().as_secs() < 240, "live relayout made no progress ({frames} frames)");
        app.update();
        frames += 1;
    }
    let live = app.world().resource::<LiveRelayout>().clone();
    let after = &app.world().resource::<Gallery>().positions;
    assert!(live.running && live.total == 750);
    assert!(after.iter().flatten().all(|v| v.is_finite()));
    let moved = before.iter().zip(after).filter(|(a, b)| a != b).count();
    eprintln!(
        "live relayout: iteration {} of {} after {frames} frames ({:.1} s); {moved} of {} works moved",
        live.iteration,
        live.total,
        t0.elapsed().as_secs_f64(),
        after.len()
    );
    assert!(moved > after.len() / 2, "only {moved} works moved");
}

/// build-gallery killed with SIGKILL at 20 seeded random moments in turn, resumed after each: the
/// gallery on disk is whole after every kill (a manifest, when there is one, loads and all its
/// atlases exist at their sizes), and the final manifest and feature cache are those of a clean
/// build, with nothing skipped.
#[cfg(unix)]
#[test]
fn build_gallery_killed_at_random_moments_resumes_to_the_clean_result() {
    use headroom_gallery::manifest::Manifest;
    use rand::{RngExt, SeedableRng};
    use std::time::Instant;

    let root = config_dir("kill");
    let dir = root.join("collection");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..36u32 {
        let (w, h) = [(90, 60), (64, 80), (120, 120), (50, 140)][i as usize % 4];
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let a = ((x * (i + 1) + y * 3) % 256) as u8;
            let b = ((y * (7 + i % 5) + x * (i % 3)) % 256) as u8;
            image::Rgb([a, b, (i * 7) as u8])
        });
        let name = match i % 3 {
            0 => format!("w{i:02}.png"),
            1 => format!("w{i:02}.jpg"),
            _ => format!("sub/w{i:02}.jpg"),
        };
        img.save(dir.join(name)).unwrap();
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/mobilenet_v2.safetensors");
    let command = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_headroom"));
        c.args(["build-gallery", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
            .args(["--tiers", "32,64", "--iterations", "300", "--perplexity", "5", "--seed", "3", "--tsne-on", "cpu"])
            .args(["--limit", "36", "--model", model.to_str().unwrap()])
            .env("HEADROOM_CONFIG_DIR", root.join("config"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    let whole = |out: &Path, when: &str| {
        let path = out.join("manifest.json");
        if !path.exists() {
            return false;
        }
        let m = Manifest::load(&path).unwrap_or_else(|e| panic!("{when}: {e}"));
        for t in 0..m.tiers.len() {
            for (p, size) in m.atlas_paths(&path, t).iter().zip(&m.tiers[t].atlas_sizes) {
                let got = image::image_dimensions(p).unwrap_or_else(|e| panic!("{when}: {}: {e}", p.display()));
                assert_eq!([got.0, got.1], *size, "{when}: {}", p.display());
            }
        }
        true
    };

    let clean = root.join("clean");
    let t = Instant::now();
    let out = command(&clean).output().unwrap();
    assert!(out.status.success(), "clean build: {}", String::from_utf8_lossy(&out.stderr));
    let clean_secs = t.elapsed().as_secs_f64();
    assert!(whole(&clean, "clean build"));

    let killed = root.join("killed");
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let (mut kills, mut finished, mut with_manifest) = (0, 0, 0);
    // Each kill at a uniform moment within the length of a run: at first the clean build's; once a
    // resumed run has finished, that run's (a re-run writes the layout, atlases and manifest again).
    let mut span = clean_secs;
    for k in 0..20 {
        let at = Duration::from_secs_f64(rng.random_range(0.0..span));
        let mut child = command(&killed).spawn().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "run {k} failed: {status}");
                finished += 1;
                span = start.elapsed().as_secs_f64();
                break;
            }
            if start.elapsed() >= at {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        with_manifest += usize::from(whole(&killed, &format!("after kill {k} at {at:?}")));
    }
    let out = command(&killed).output().unwrap();
    assert!(out.status.success(), "resumed build: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!(
        "kill test: clean build {clean_secs:.1} s; 20 runs: {kills} killed (SIGKILL), {finished} finished first; a whole \
         gallery on disk after {with_manifest} of them, no manifest yet after the others"
    );
    assert!(kills >= 14, "only {kills} of 20 runs were killed");

    let read = |out: &Path, f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert_eq!(read(&killed, "manifest.json"), read(&clean, "manifest.json"), "final manifest differs");
    let feats = |out: &Path| {
        let bytes = std::fs::read(out.join("cache/features.bin")).unwrap();
        let (recs, repair, _) = headroom_gallery::cache::scan(&bytes, headroom_gallery::features::FEATURES);
        assert!(!repair.repaired(), "{}: {repair:?}", out.display());
        let map: std::collections::HashMap<_, _> = recs.into_iter().collect();
        map
    };
    let (fk, fc) = (feats(&killed), feats(&clean));
    assert_eq!(fk.len(), 36);
    assert!(fk == fc, "final features differ from the clean build's");
    let report = read(&killed, "report.txt");
    assert!(report.starts_with("skipped files: 0\n") && !report.contains("warnings"), "{report}");
    let m = Manifest::load(&killed.join("manifest.json")).unwrap();
    assert_eq!(m.works.len(), 36, "works lost");
    // Nothing but the listed atlases and the cache is left behind.
    let mut left: Vec<String> =
        std::fs::read_dir(&killed).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    left.sort();
    let mut want: Vec<String> = m.tiers.iter().flat_map(|t| t.atlases.clone()).collect();
    want.extend(["cache", "manifest.json", "report.txt"].map(String::from));
    want.sort();
    assert_eq!(left, want);
    std::fs::remove_dir_all(&root).ok();
}
