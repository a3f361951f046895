//! Every kernel against its CPU reference on real data (the demo clip's frames, the face model's
//! experts on patches sampled from a real fit, the digits). Run on lavapipe in CI; with no
//! adapter each test says so loudly and fails under `HEADROOM_REQUIRE_GPU=1`.

use headroom_capture::{DEMO_CLIP, VideoSource};
use headroom_face::patch::{Logistic, Normalize, PatchKind, ResponseConfig};
use headroom_face::{FitConfig, Gray, TrackerConfig, default_tracker};
use headroom_gallery::tsne::{self, Matrix, TsneConfig};

use crate::context::gpu_required;
use crate::responses::GpuResponses;
use crate::tsne::GpuTsne;

fn demo_frames(count: usize) -> Vec<(usize, usize, Vec<u8>)> {
    let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
    let mut out = Vec::new();
    while let Some(f) = video.next_frame().unwrap() {
        if out.len() == count {
            break;
        }
        out.push((f.width as usize, f.height as usize, f.rgba.to_vec()));
        for _ in 0..40 {
            let _ = video.next_frame();
        }
    }
    out
}

#[test]
fn luma_kernel_equals_the_cpu_reference() {
    let Some(gpu) = gpu_required("luma kernel") else { return };
    let kernel = crate::luma::kernel(&gpu.device);
    let mut total = 0usize;
    let mut exact = 0usize;
    for (w, h, rgba) in demo_frames(4) {
        let cpu_full = Gray::from_rgba(w, h, &rgba).unwrap();
        for dst in [(200, 160), (97, 61), (w, h)] {
            let (full, work) = crate::luma::run(&gpu, &kernel, &rgba, (w, h), dst).unwrap();
            // Integer arithmetic on both sides: identical.
            assert_eq!(full, cpu_full);
            let cpu_work = cpu_full.resize(dst.0, dst.1);
            for (a, b) in work.data.iter().zip(&cpu_work.data) {
                let d = (i16::from(*a) - i16::from(*b)).abs();
                // f32 bilinear on both sides; a fused multiply-add can move a .5 rounding by one.
                assert!(d <= 1, "resized luma differs by {d}");
                total += 1;
                exact += usize::from(d == 0);
            }
        }
    }
    let share = exact as f64 / total as f64;
    eprintln!("luma: {exact}/{total} resized pixels identical ({:.4} %)", 100.0 * share);
    assert!(share > 0.99);
    // Bad input is an error, not a panic.
    assert!(crate::luma::run(&gpu, &kernel, &[0u8; 7], (2, 2), (1, 1)).is_err());
    assert!(crate::luma::run(&gpu, &kernel, &[], (0, 0), (1, 1)).is_err());
}

#[test]
fn response_kernel_equals_the_cpu_reference() {
    let Some(gpu) = gpu_required("response kernel") else { return };
    let mut engine = GpuResponses::new(gpu);
    let mut worst = 0.0f32;
    for (kind, normalize, logistic) in [
        (PatchKind::Raw, Normalize::Patch, Logistic::Shifted),
        (PatchKind::Raw, Normalize::Window, Logistic::Bias),
        (PatchKind::Sobel, Normalize::Window, Logistic::Bias),
        (PatchKind::Lbp, Normalize::Window, Logistic::Bias),
        (PatchKind::Lbp, Normalize::Patch, Logistic::Shifted),
    ] {
        let response = ResponseConfig { kind, normalize, logistic };
        let cfg = TrackerConfig { fit: FitConfig { response, ..Default::default() }, ..TrackerConfig::clm() };
        let mut tracker = default_tracker(cfg).unwrap();
        // Patches sampled where the tracker actually fits the demo clip's face.
        for (w, h, rgba) in demo_frames(3) {
            let g = Gray::from_rgba(w, h, &rgba).unwrap();
            let out = tracker.track(&g, Some(&rgba));
            let fit = out.fit.expect("the demo clip has a face");
            tracker.fitter.sample_patches(&g, &fit.params);
            tracker.fitter.compute_responses_cpu();
            let cpu = tracker.fitter.responses.clone();
            let search = tracker.fitter.config.search;
            let mut gpu_out = vec![0.0f32; cpu.len()];
            engine.run(tracker.fitter.experts(), tracker.fitter.patches(), search, response, &mut gpu_out).unwrap();
            for (a, b) in gpu_out.iter().zip(&cpu) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    eprintln!("responses: worst |GPU − CPU| = {worst:.2e} (maps are in [0, 1])");
    // f32 sums in a different order and the GPU's exp: agreement to 1e-3 on [0, 1] maps.
    assert!(worst < 1e-3, "worst difference {worst}");
}

#[test]
fn the_fitter_tracks_the_same_with_gpu_responses() {
    let Some(gpu) = gpu_required("fitter with GPU responses") else { return };
    let mut cpu = default_tracker(TrackerConfig::clm()).unwrap();
    let mut gpu_tracker = default_tracker(TrackerConfig::clm()).unwrap();
    gpu_tracker.fitter.set_engine(Some(Box::new(GpuResponses::new(gpu))));
    assert!(gpu_tracker.fitter.engine_name().starts_with("gpu"));
    let mut worst = 0.0f32;
    for (w, h, rgba) in demo_frames(6) {
        let g = Gray::from_rgba(w, h, &rgba).unwrap();
        let (a, b) = (cpu.track(&g, Some(&rgba)).fit.unwrap(), gpu_tracker.track(&g, Some(&rgba)).fit.unwrap());
        for (p, q) in a.points.iter().zip(&b.points) {
            worst = worst.max((p[0] - q[0]).hypot(p[1] - q[1]));
        }
    }
    eprintln!("tracking with GPU responses: worst point distance to the CPU fit {worst:.2e} px");
    assert!(worst < 0.5, "GPU-response fit drifted {worst} px from the CPU fit");
    assert!(gpu_tracker.fitter.engine_name().starts_with("gpu"), "the engine failed and was dropped");
}

fn digits() -> (Matrix, Vec<u32>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gallery/digits.bin");
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..8], b"DIGITS1\n");
    let rows = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let cols = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let x = b[16..16 + rows * cols].iter().map(|&v| f32::from(v)).collect();
    let labels = b[16 + rows * cols..16 + rows * cols + rows].iter().map(|&v| u32::from(v)).collect();
    (Matrix::new(rows, cols, x), labels)
}

#[test]
fn tsne_gradient_equals_the_exact_cpu_gradient() {
    let Some(gpu) = gpu_required("t-SNE gradient kernel") else { return };
    let engine = GpuTsne::new(gpu);
    let (x, _) = digits();
    for dims in [2, 3] {
        let cfg = TsneConfig { dims, ..Default::default() };
        let (p, init) = tsne::affinities_and_init(&x, &cfg);
        // At the PCA start (tiny distances) and at a spread-out map (after a short CPU run).
        let spread = tsne::tsne(&x, &TsneConfig { dims, early_iters: 100, iters: 50, ..Default::default() }, None);
        for (y, exag) in [(&init, 12.0), (&spread, 1.0)] {
            let run = engine.start(&p, y, &cfg).unwrap();
            let g_gpu = run.gradient(&engine.gpu, engine.kernel(), exag).unwrap();
            let g_cpu = tsne::exact_gradient(&p, y, exag);
            let scale = g_cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst = g_gpu.iter().zip(&g_cpu).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            eprintln!(
                "t-SNE {dims}D gradient (exaggeration {exag}): worst |GPU − CPU| = {worst:.2e} of max |g| {scale:.2e}"
            );
            // f32 on the GPU (Z summed per point then across points) vs f64 on the CPU.
            assert!(worst <= 2e-3 * scale, "{dims}D: worst {worst} vs scale {scale}");
        }
    }
}

#[test]
fn gpu_tsne_lays_out_the_digits_as_well_as_the_cpu() {
    let Some(gpu) = gpu_required("t-SNE run") else { return };
    let engine = GpuTsne::new(gpu);
    let (x, labels) = digits();
    let cfg = TsneConfig { dims: 2, early_iters: 250, iters: 250, ..Default::default() };
    let y_gpu = engine.tsne(&x, &cfg, None).unwrap();
    let y_cpu = tsne::tsne(&x, &cfg, None);
    let (p, _) = tsne::affinities_and_init(&x, &cfg);
    let (kl_gpu, kl_cpu) = (tsne::kl_divergence(&p, &y_gpu), tsne::kl_divergence(&p, &y_cpu));
    let (acc_gpu, acc_cpu) =
        (tsne::knn_label_accuracy(&y_gpu, &labels, 10), tsne::knn_label_accuracy(&y_cpu, &labels, 10));
    eprintln!(
        "digits 2D, 500 iterations: KL GPU {kl_gpu:.4} vs CPU {kl_cpu:.4}; 10-NN label accuracy {acc_gpu:.3} vs {acc_cpu:.3}"
    );
    assert!(y_gpu.data.iter().all(|v| v.is_finite()));
    // Exact repulsion on the GPU, Barnes–Hut (θ = 0.5) on the CPU: same objective, the GPU at
    // least as good up to run-to-run variation.
    assert!(kl_gpu < kl_cpu * 1.03, "KL {kl_gpu} vs CPU {kl_cpu}");
    assert!(acc_gpu > 0.95, "label accuracy {acc_gpu}");
}

#[test]
fn poisson_kernel_equals_the_cpu_reference_and_converges() {
    use crate::poisson::{self, GpuPoisson};
    let Some(gpu) = gpu_required("poisson kernel") else { return };
    let kernel = poisson::kernel(&gpu.device);
    for (w, h) in [(160, 190), (67, 45)] {
        let (p, exact) = poisson::synthetic_case(w, h);
        let h0 = poisson::initial_guess(&p);
        let run = GpuPoisson::new(&gpu.device, &kernel, w, h);
        let mut last = f32::MAX;
        for sweeps in [0, 10, 40, 120] {
            let (hg, rgba_g) = run.run(&gpu, &kernel, &p, &h0, sweeps).unwrap();
            let mut hc = h0.clone();
            poisson::sor(w, &p.mask, &mut hc, sweeps, poisson::OMEGA);
            let rgba_c = poisson::compose(&p, &hc);
            let diff =
                hg.iter().zip(&hc).flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs())).fold(0.0, f32::max);
            assert!(diff < 2e-3, "{w}×{h}, {sweeps} sweeps: GPU and CPU h differ by {diff}");
            let bytes = rgba_g.iter().zip(&rgba_c).filter(|(a, b)| a.abs_diff(**b) > 1).count();
            assert_eq!(bytes, 0, "{w}×{h}: {bytes} output bytes differ by more than 1");
            let e = poisson::max_error(&p, &hg, &exact);
            eprintln!("poisson gpu {w}×{h}: {sweeps} sweeps, error {e:.4}, GPU−CPU {diff:.1e}");
            assert!(e <= last + 1e-3);
            last = e;
        }
        assert!(last < 0.02, "{w}×{h}: GPU blend not converged ({last})");
        // A problem of another size is refused, not a panic.
        let (other, _) = poisson::synthetic_case(w + 1, h);
        assert!(run.run(&gpu, &kernel, &other, &poisson::initial_guess(&other), 3).is_err());
    }
}
