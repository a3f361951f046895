//! t-SNE on headroom-gpu's kernel: [`GpuTsne`], a [`TsneEngine`] for the gallery build, and
//! [`gpu_run`], the kernel's run set up from this crate's affinities, start and schedule (the
//! viewer's live relayout uses it too). Input preparation is the CPU's ([`affinities_and_init`]),
//! shared with the reference, so both optimise the same objective from the same start; the tests
//! below compare the kernel with [`exact_gradient`] and a whole run with [`tsne`].

use headroom_gpu::tsne::{Phases, SparseRows, Step, TsneRun};
use headroom_gpu::{Gpu, GpuError, kernel::Kernel};

use super::{Affinities, Matrix, Progress, TsneConfig, affinities_and_init, schedule, tsne};
use super::{EngineError, TsneEngine};

/// The kernel's run for `p` from `init` (n × dims) with `cfg`'s phases and schedule.
pub fn gpu_run(
    device: &headroom_gpu::wgpu::Device,
    kernel: &Kernel,
    p: &Affinities,
    init: &Matrix,
    cfg: &TsneConfig,
) -> Result<TsneRun, GpuError> {
    let (n, c) = (init.rows, cfg.clone());
    let rows = SparseRows { indptr: &p.indptr, indices: &p.indices, values: &p.values };
    let phases = Phases { early: cfg.early_iters, late: cfg.iters };
    let schedule = Box::new(move |it| {
        let (exaggeration, momentum, learning_rate) = schedule(&c, n, it);
        Step { exaggeration, momentum, learning_rate }
    });
    TsneRun::new(device, kernel, rows, &init.data, init.cols, phases, schedule)
}

/// The whole t-SNE (same input preparation as the CPU) on a GPU.
pub struct GpuTsne {
    pub gpu: Gpu,
    kernel: Kernel,
}

impl GpuTsne {
    pub fn new(gpu: Gpu) -> GpuTsne {
        let kernel = headroom_gpu::tsne::kernel(&gpu.device);
        GpuTsne { gpu, kernel }
    }

    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub fn start(&self, p: &Affinities, init: &Matrix, cfg: &TsneConfig) -> Result<TsneRun, GpuError> {
        gpu_run(&self.gpu.device, &self.kernel, p, init, cfg)
    }

    /// Runs `run` to its end, waiting every `batch` iterations, and returns n × dims.
    pub fn finish(&self, run: &mut TsneRun, batch: usize, progress: Option<Progress<'_>>) -> Result<Matrix, GpuError> {
        let data = run.run_to_end(&self.gpu, &self.kernel, batch, progress)?;
        Ok(Matrix::new(run.n, run.dims, data))
    }

    pub fn tsne(&self, x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Result<Matrix, GpuError> {
        if x.rows < 4 {
            return Ok(tsne(x, cfg, progress));
        }
        let (p, init) = affinities_and_init(x, cfg);
        let mut run = self.start(&p, &init, cfg)?;
        self.finish(&mut run, 25, progress)
    }
}

impl TsneEngine for GpuTsne {
    fn name(&self) -> String {
        format!("gpu: {}", headroom_gpu::context::adapter_name(&self.gpu.info))
    }

    fn run(&self, x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Result<Matrix, EngineError> {
        Ok(self.tsne(x, cfg, progress)?)
    }
}

/// The kernel against the CPU reference on the digits. Run on lavapipe in CI; with no adapter
/// each test says so loudly and fails under `HEADROOM_REQUIRE_GPU=1`.
#[cfg(test)]
mod tests {
    use super::super::tests::digits;
    use super::super::{exact_gradient, kl_divergence, knn_label_accuracy};
    use super::*;
    use headroom_gpu::gpu_required;

    #[test]
    fn tsne_gradient_equals_the_exact_cpu_gradient() {
        let Some(gpu) = gpu_required("t-SNE gradient kernel") else { return };
        let engine = GpuTsne::new(gpu);
        let (x, _) = digits();
        for dims in [2, 3] {
            let cfg = TsneConfig { dims, ..Default::default() };
            let (p, init) = affinities_and_init(&x, &cfg);
            // At the PCA start (tiny distances) and at a spread-out map (after a short CPU run).
            let spread = tsne(&x, &TsneConfig { dims, early_iters: 100, iters: 50, ..Default::default() }, None);
            for (y, exag) in [(&init, 12.0), (&spread, 1.0)] {
                let run = engine.start(&p, y, &cfg).unwrap();
                let g_gpu = run.gradient(&engine.gpu, engine.kernel(), exag).unwrap();
                let g_cpu = exact_gradient(&p, y, exag);
                let scale = g_cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let worst = g_gpu.iter().zip(&g_cpu).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                eprintln!(
                    "t-SNE {dims}D gradient (exaggeration {exag}): worst |GPU − CPU| = {worst:.2e} of max |g| {scale:.2e}"
                );
                // f32 on the GPU (Z summed per point then across points) vs f64 on the CPU.
                assert!(worst <= 2e-3 * scale, "{dims}D: worst {worst} vs scale {scale}");
            }
        }
        // Affinities that do not describe the points are refused, not a panic.
        let (p, init) = affinities_and_init(&x, &TsneConfig { dims: 2, ..Default::default() });
        let mut bad = p.clone();
        bad.indices[0] = x.rows as u32 + 5;
        assert!(engine.start(&bad, &init, &TsneConfig::default()).is_err());
        let short = Matrix::new(3, 2, vec![0.0; 6]);
        assert!(engine.start(&p, &short, &TsneConfig::default()).is_err());
    }

    #[test]
    fn gpu_tsne_lays_out_the_digits_as_well_as_the_cpu() {
        let Some(gpu) = gpu_required("t-SNE run") else { return };
        let engine = GpuTsne::new(gpu);
        let (x, labels) = digits();
        let cfg = TsneConfig { dims: 2, early_iters: 250, iters: 250, ..Default::default() };
        let y_gpu = engine.tsne(&x, &cfg, None).unwrap();
        let y_cpu = tsne(&x, &cfg, None);
        let (p, _) = affinities_and_init(&x, &cfg);
        let (kl_gpu, kl_cpu) = (kl_divergence(&p, &y_gpu), kl_divergence(&p, &y_cpu));
        let (acc_gpu, acc_cpu) = (knn_label_accuracy(&y_gpu, &labels, 10), knn_label_accuracy(&y_cpu, &labels, 10));
        eprintln!(
            "digits 2D, 500 iterations: KL GPU {kl_gpu:.4} vs CPU {kl_cpu:.4}; 10-NN label accuracy {acc_gpu:.3} vs {acc_cpu:.3}"
        );
        assert!(y_gpu.data.iter().all(|v| v.is_finite()));
        // Exact repulsion on the GPU, Barnes–Hut (θ = 0.5) on the CPU: same objective, the GPU at
        // least as good up to run-to-run variation.
        assert!(kl_gpu < kl_cpu * 1.03, "KL {kl_gpu} vs CPU {kl_cpu}");
        assert!(acc_gpu > 0.95, "label accuracy {acc_gpu}");
    }
}
