//! `cargo bench --profile dev --workspace --bench gpu`: every kernel of headroom-gpu against its
//! CPU reference (in the crates that use it: face, gallery; Poisson's own), at growing sizes, end
//! to end (upload + dispatch + readback for the GPU; all cores for the CPU). Prints one line per
//! size and the crossover (the first size where the GPU wins), if any. It lives in the app
//! package because it needs every user of the kernel library.

use std::time::Instant;

use headroom_capture::{DEMO_CLIP, VideoSource};
use headroom_face::patch::PatchExperts;
use headroom_face::{Gray, TrackerConfig, default_tracker};
use headroom_gallery::tsne::{self, GpuTsne, Matrix, TsneConfig};
use headroom_gpu::Gpu;
use headroom_gpu::responses::GpuResponses;

fn median_ms(mut f: impl FnMut(), reps: usize) -> f64 {
    f(); // warm-up (pipelines, caches)
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn report(kernel: &str, rows: &[(String, f64, f64)]) {
    for (size, cpu, gpu) in rows {
        println!("{kernel} {size}: CPU {cpu:.3} ms, GPU {gpu:.3} ms, GPU/CPU speed {:.2}×", cpu / gpu);
    }
    match rows.iter().find(|r| r.2 < r.1) {
        Some(r) => println!("{kernel}: crossover at {} (GPU faster from there)", r.0),
        None => println!("{kernel}: no crossover in this range (CPU faster at every size)"),
    }
}

fn main() {
    let gpu = match Gpu::new() {
        Ok(g) => g,
        Err(e) => {
            println!("!!! no GPU: {e} — GPU benchmarks NOT RUN !!!");
            return;
        }
    };
    println!("adapter: {}; CPU threads: {}", gpu.describe(), rayon::current_num_threads());

    // Luma: a demo-clip frame scaled to each size.
    let mut video = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
    let f = video.next_frame().unwrap().unwrap();
    let base = Gray::from_rgba(f.width as usize, f.height as usize, &f.rgba).unwrap();
    let luma_kernel = headroom_gpu::luma::kernel(&gpu.device);
    let mut rows = Vec::new();
    for (w, h) in [(320, 240), (640, 480), (1280, 720), (1920, 1080), (3840, 2160)] {
        let g = base.resize(w, h);
        let rgba: Vec<u8> = g.data.iter().flat_map(|&v| [v, v / 2, 255 - v, 255]).collect();
        let dst = (200, 200 * h / w);
        let cpu = median_ms(
            || {
                let full = Gray::from_rgba(w, h, &rgba).unwrap();
                std::hint::black_box(full.resize(dst.0, dst.1));
            },
            10,
        );
        let job = headroom_gpu::luma::LumaJob::new(&gpu.device, &luma_kernel, (w, h), dst);
        let gpu_ms = median_ms(
            || {
                job.upload(&gpu.queue, &rgba);
                let mut enc = gpu.device.create_command_encoder(&Default::default());
                job.encode(&luma_kernel, &mut enc);
                gpu.queue.submit([enc.finish()]);
                std::hint::black_box(gpu.read(&job.work, job.work.size()).unwrap());
            },
            10,
        );
        rows.push((format!("{w}x{h}"), cpu, gpu_ms));
    }
    report("luma (full + work resolution)", &rows);

    // Responses: the model's experts on patches from a real fit, the 71 points repeated to
    // stand for several faces.
    let mut tracker = default_tracker(TrackerConfig::clm()).unwrap();
    let mut fit = None;
    for _ in 0..30 {
        let f = video.next_frame().unwrap().unwrap();
        let g = Gray::from_rgba(f.width as usize, f.height as usize, &f.rgba).unwrap();
        fit = tracker.track(&g, Some(&f.rgba)).fit.or(fit);
        if let Some(fit) = &fit {
            tracker.fitter.sample_patches(&g, &fit.params);
        }
    }
    let cfg = tracker.fitter.config.response;
    let search = tracker.fitter.config.search;
    let one = tracker.fitter.experts().clone();
    let patches1 = tracker.fitter.patches().to_vec();
    let mut engine = GpuResponses::new(gpu.clone());
    let mut rows = Vec::new();
    for faces in [1usize, 4, 16, 64] {
        let experts = PatchExperts {
            n: one.n * faces,
            size: one.size,
            weights: one.weights.repeat(faces),
            bias: one.bias.repeat(faces),
        };
        let patches = patches1.repeat(faces);
        let pw = search + one.size - 1;
        let mut out = vec![0.0f32; experts.n * search * search];
        let cpu = median_ms(
            || {
                use rayon::prelude::*;
                out.par_chunks_mut(search * search).enumerate().for_each_init(
                    || vec![0.0f32; pw * pw],
                    |scratch, (i, o)| {
                        experts.response(i, &patches[i * pw * pw..(i + 1) * pw * pw], search, cfg, scratch, o)
                    },
                );
            },
            20,
        );
        let (kernel_experts, opts) = (headroom_face::gpu::experts(&experts), headroom_face::gpu::options(cfg));
        let gpu_ms = median_ms(|| engine.run(kernel_experts, &patches, search, opts, &mut out).unwrap(), 20);
        rows.push((format!("{} windows ({faces} × 71)", experts.n), cpu, gpu_ms));
    }
    report("CLM responses", &rows);

    // t-SNE: per-iteration time (after input preparation), digits-like data at growing n.
    let (x, _) = {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gallery/digits.bin");
        let b = std::fs::read(p).unwrap();
        let (rows, cols) = (
            u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize,
            u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize,
        );
        (Matrix::new(rows, cols, b[16..16 + rows * cols].iter().map(|&v| f32::from(v)).collect()), ())
    };
    let engine = GpuTsne::new(gpu.clone());
    let mut rows = Vec::new();
    for n in [500usize, 1797, 5000, 10000] {
        // Repeat the digits with a little deterministic jitter to reach n.
        let data: Vec<f32> =
            (0..n * 64).map(|k| x.data[k % x.data.len()] + ((k * 2654435761) % 97) as f32 * 0.01).collect();
        let xn = Matrix::new(n, 64, data);
        let iters = 60;
        let cfg = TsneConfig { dims: 3, early_iters: iters / 2, iters: iters / 2, ..Default::default() };
        let (p, init) = tsne::affinities_and_init(&xn, &cfg);
        let t = Instant::now();
        let prep = tsne::affinities_and_init(&xn, &cfg);
        let prep_ms = t.elapsed().as_secs_f64() * 1000.0;
        drop(prep);
        let t = Instant::now();
        std::hint::black_box(tsne::tsne(&xn, &cfg, None));
        let cpu = (t.elapsed().as_secs_f64() * 1000.0 - prep_ms).max(0.0) / iters as f64;
        let mut run = engine.start(&p, &init, &cfg).unwrap();
        let t = Instant::now();
        engine.finish(&mut run, 30, None).unwrap();
        let gpu_ms = t.elapsed().as_secs_f64() * 1000.0 / iters as f64;
        rows.push((format!("n={n} 3D (per iteration)"), cpu, gpu_ms));
    }
    report("t-SNE (CPU Barnes–Hut vs GPU exact)", &rows);

    // Poisson blending: face-sized crops (a face in a 640×480 frame is about 200×250), the
    // coarse-to-fine start on the CPU (shared by both), then Face Lab's 60 sweeps + compose.
    let kernel = headroom_gpu::poisson::kernel(&gpu.device);
    let mut rows = Vec::new();
    for (w, h) in [(128usize, 160usize), (192, 256), (256, 320), (384, 448)] {
        use headroom_gpu::poisson;
        let (p, _) = poisson::synthetic_case(w, h);
        let start_ms = median_ms(|| drop(std::hint::black_box(poisson::initial_guess(&p))), 10);
        let h0 = poisson::initial_guess(&p);
        let cpu = median_ms(
            || {
                let mut hh = h0.clone();
                poisson::sor(w, &p.mask, &mut hh, 60, poisson::OMEGA);
                std::hint::black_box(poisson::compose(&p, &hh));
            },
            10,
        );
        let run = poisson::GpuPoisson::new(&gpu.device, &kernel, w, h);
        let gpu_ms = median_ms(|| drop(std::hint::black_box(run.run(&gpu, &kernel, &p, &h0, 60).unwrap())), 10);
        rows.push((format!("{w}x{h} ({} unknowns; start {start_ms:.2} ms on the CPU)", p.unknowns()), cpu, gpu_ms));
    }
    report("Poisson blend (60 sweeps + compose)", &rows);
}
