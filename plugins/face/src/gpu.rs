//! The face tracker on headroom-gpu's patch-response kernel (no Bevy here; the plugin's
//! [`crate::plugin::GpuResponsesPlugin`] runs this on the app's render device):
//!
//! - [`GpuEngine`]: the kernel as the fitter's [`ResponseEngine`] (the CPU reference is
//!   [`PatchExperts::response`]; the tests below compare the two, and the luma kernel with
//!   [`Gray`]).
//! - [`measure`]: one frame's 71 response maps timed on the CPU and on the GPU, on patches sampled
//!   where the tracker fits the demo clip's face, and the choice that follows from it.

use headroom_gpu::responses::{Experts, GpuResponses, Prefilter, ResponseOptions};
use headroom_gpu::{ComputeChoice, Gpu};

use crate::ResponseEngine;
use crate::fit::EngineError;
use crate::patch::{Logistic, Normalize, PatchExperts, PatchKind, ResponseConfig};
#[cfg(not(target_arch = "wasm32"))]
use crate::{Gray, TrackerConfig};

/// The kernel's view of the experts.
pub fn experts(e: &PatchExperts) -> Experts<'_> {
    Experts { n: e.n, size: e.size, weights: &e.weights, bias: &e.bias }
}

/// The kernel's view of a response configuration.
pub fn options(cfg: ResponseConfig) -> ResponseOptions {
    ResponseOptions {
        prefilter: match cfg.kind {
            PatchKind::Raw => Prefilter::Raw,
            PatchKind::Sobel => Prefilter::Sobel,
            PatchKind::Lbp => Prefilter::Lbp,
        },
        normalize_window: cfg.normalize == Normalize::Window,
        logistic_bias: cfg.logistic == Logistic::Bias,
    }
}

/// headroom-gpu's response kernel as a [`ResponseEngine`]: experts uploaded once, buffers reused.
pub struct GpuEngine(pub GpuResponses);

impl GpuEngine {
    pub fn new(gpu: Gpu) -> GpuEngine {
        GpuEngine(GpuResponses::new(gpu))
    }
}

impl ResponseEngine for GpuEngine {
    fn name(&self) -> String {
        format!("gpu: {}", headroom_gpu::context::adapter_name(&self.0.gpu().info))
    }

    fn responses(
        &mut self,
        experts: &PatchExperts,
        patches: &[f32],
        search: usize,
        cfg: ResponseConfig,
        out: &mut [f32],
    ) -> Result<(), EngineError> {
        Ok(self.0.run(self::experts(experts), patches, search, options(cfg), out)?)
    }
}

/// What [`measure`] found and decided.
pub struct Choice {
    /// The engine to install, when the GPU was chosen.
    pub engine: Option<Box<dyn ResponseEngine>>,
    /// The decision, in words (shown in Face Lab).
    pub words: String,
    /// CPU and GPU milliseconds for one frame's 71 response maps.
    pub measured_ms: Option<(f64, f64)>,
}

/// Times one frame's 71 response maps on the CPU and on the GPU (median of 15, after a warm-up),
/// on patches sampled where the tracker fits the demo clip's face, and picks per `choice`
/// (`Auto`: the faster one).
pub fn measure(gpu: Gpu, choice: ComputeChoice) -> Choice {
    let name = headroom_gpu::context::adapter_name(&gpu.info);
    let mut engine = GpuEngine::new(gpu);
    let result = measure_ms(&mut engine);
    let (engine, words, measured_ms): (Option<Box<dyn ResponseEngine>>, _, _) = match (result, choice) {
        (Ok((cpu, g)), ComputeChoice::Auto) if g < cpu => {
            (Some(Box::new(engine)), format!("gpu ({name}): {g:.2} ms vs CPU {cpu:.2} ms per frame"), Some((cpu, g)))
        }
        (Ok((cpu, g)), ComputeChoice::Auto) => {
            (None, format!("cpu: {cpu:.2} ms vs GPU ({name}) {g:.2} ms per frame"), Some((cpu, g)))
        }
        (Ok((cpu, g)), _) => {
            (Some(Box::new(engine)), format!("gpu ({name}, by setting): {g:.2} ms vs CPU {cpu:.2} ms"), Some((cpu, g)))
        }
        (Err(e), _) => (None, format!("cpu (GPU responses failed: {e})"), None),
    };
    Choice { engine, words, measured_ms }
}

/// The web build has no demo clip decoder in-process (and GPU responses there would need a
/// blocking readback): nothing to measure.
#[cfg(target_arch = "wasm32")]
fn measure_ms(_engine: &mut GpuEngine) -> Result<(f64, f64), EngineError> {
    Err("not measured in the web build".into())
}

#[cfg(not(target_arch = "wasm32"))]
fn measure_ms(engine: &mut GpuEngine) -> Result<(f64, f64), EngineError> {
    use web_time::Instant;
    let mut tracker = crate::default_tracker(TrackerConfig::clm())?;
    let mut video = headroom_capture::VideoSource::from_bytes(headroom_capture::DEMO_CLIP.to_vec(), "demo")?;
    let mut params = None;
    let mut gray = None;
    for _ in 0..5 {
        let Some(f) = video.next_frame()? else { break };
        let g = Gray::from_rgba(f.width as usize, f.height as usize, &f.rgba).ok_or("the demo clip has a bad frame")?;
        if let Some(fit) = tracker.track(&g, Some(&f.rgba)).fit {
            params = Some(fit.params);
        }
        gray = Some(g);
    }
    let (Some(p), Some(g)) = (params, gray) else { return Err("no face in the demo clip".into()) };
    tracker.fitter.sample_patches(&g, &p);
    let time = |f: &mut dyn FnMut() -> Result<(), EngineError>| -> Result<f64, EngineError> {
        f()?;
        let mut t = Vec::new();
        for _ in 0..15 {
            let s = Instant::now();
            f()?;
            t.push(s.elapsed().as_secs_f64() * 1000.0);
        }
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    };
    let cpu = time(&mut || {
        tracker.fitter.compute_responses_cpu();
        Ok(())
    })?;
    let search = tracker.fitter.config.search;
    let cfg = tracker.fitter.config.response;
    let mut out = vec![0.0f32; tracker.fitter.responses.len()];
    let gpu_ms =
        time(&mut || engine.responses(tracker.fitter.experts(), tracker.fitter.patches(), search, cfg, &mut out))?;
    Ok((cpu, gpu_ms))
}

/// Every kernel the face crate uses against its CPU reference, on real data (the demo clip's
/// frames, the model's experts on patches sampled from a real fit). Run on lavapipe in CI; with
/// no adapter each test says so loudly and fails under `HEADROOM_REQUIRE_GPU=1`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FitConfig, default_tracker};
    use headroom_capture::{DEMO_CLIP, VideoSource};
    use headroom_gpu::gpu_required;

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
        let kernel = headroom_gpu::luma::kernel(&gpu.device);
        let mut total = 0usize;
        let mut exact = 0usize;
        for (w, h, rgba) in demo_frames(4) {
            let cpu_full = Gray::from_rgba(w, h, &rgba).unwrap();
            for dst in [(200, 160), (97, 61), (w, h)] {
                let (full, work) = headroom_gpu::luma::run(&gpu, &kernel, &rgba, (w, h), dst).unwrap();
                // Integer arithmetic on both sides: identical.
                assert_eq!((full.width, full.height), (cpu_full.width, cpu_full.height));
                assert_eq!(full.data, cpu_full.data);
                let cpu_work = cpu_full.resize(dst.0, dst.1);
                assert_eq!((work.width, work.height), (cpu_work.width, cpu_work.height));
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
        assert!(headroom_gpu::luma::run(&gpu, &kernel, &[0u8; 7], (2, 2), (1, 1)).is_err());
        assert!(headroom_gpu::luma::run(&gpu, &kernel, &[], (0, 0), (1, 1)).is_err());
    }

    #[test]
    fn response_kernel_equals_the_cpu_reference() {
        let Some(gpu) = gpu_required("response kernel") else { return };
        let mut engine = GpuEngine::new(gpu);
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
                engine
                    .responses(tracker.fitter.experts(), tracker.fitter.patches(), search, response, &mut gpu_out)
                    .unwrap();
                for (a, b) in gpu_out.iter().zip(&cpu) {
                    worst = worst.max((a - b).abs());
                }
            }
        }
        eprintln!("responses: worst |GPU − CPU| = {worst:.2e} (maps are in [0, 1])");
        // f32 sums in a different order and the GPU's exp: agreement to 1e-3 on [0, 1] maps.
        assert!(worst < 1e-3, "worst difference {worst}");
        // Experts that do not match their buffers are an error, not a panic.
        let e = Experts { n: 3, size: 11, weights: &[0.0; 10], bias: &[0.0; 3] };
        assert!(engine.0.run(e, &[0.0; 3 * 21 * 21], 11, ResponseOptions::default(), &mut [0.0; 3 * 121]).is_err());
    }

    #[test]
    fn the_fitter_tracks_the_same_with_gpu_responses() {
        let Some(gpu) = gpu_required("fitter with GPU responses") else { return };
        let mut cpu = default_tracker(TrackerConfig::clm()).unwrap();
        let mut gpu_tracker = default_tracker(TrackerConfig::clm()).unwrap();
        gpu_tracker.fitter.set_engine(Some(Box::new(GpuEngine::new(gpu))));
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

    #[test]
    fn the_start_up_measurement_times_both_and_follows_the_setting() {
        let Some(gpu) = gpu_required("response measurement") else { return };
        let forced = measure(gpu.clone(), ComputeChoice::Gpu);
        let (cpu, g) = forced.measured_ms.expect("both timed");
        assert!(cpu > 0.0 && g > 0.0, "{cpu} {g}");
        assert!(forced.engine.is_some() && forced.words.starts_with("gpu"), "{}", forced.words);
        let auto = measure(gpu, ComputeChoice::Auto);
        let (cpu, g) = auto.measured_ms.expect("both timed");
        // Auto installs the GPU engine exactly when it measured faster.
        assert_eq!(auto.engine.is_some(), g < cpu, "{}", auto.words);
        eprintln!("start-up choice: {}", auto.words);
    }
}
