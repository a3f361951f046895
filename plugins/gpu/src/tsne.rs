//! t-SNE on the GPU: each iteration is four dispatches (exact tiled repulsion, a reduction for
//! Z and the mean, the gradient over sparse P, then gains/momentum/step). Input preparation
//! (kNN, perplexity calibration, PCA init) is the CPU's, shared with the reference, so both
//! optimise the same objective from the same start. CPU reference:
//! [`headroom_gallery::tsne::exact_gradient`] (per-iteration gradient) and
//! [`headroom_gallery::tsne::tsne`] (the whole run, Barnes–Hut).

use headroom_gallery::tsne::{self, Affinities, Matrix, Progress, TsneConfig, TsneEngine};

use crate::context::{Gpu, GpuError, storage_buffer};
use crate::kernel::{Binding, Kernel, groups_for};

pub const WGSL: &str = include_str!("shaders/tsne.wgsl");
pub const BINDINGS: [Binding; 8] = [
    Binding::Uniform,
    Binding::Storage { read_only: false },
    Binding::Storage { read_only: false },
    Binding::Storage { read_only: false },
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: false },
];
const WG: u32 = 256;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    pub n: u32,
    pub dims: u32,
    pub exaggeration: f32,
    pub momentum: f32,
    pub learning_rate: f32,
    pub _pad: [u32; 3],
}

pub fn kernel(device: &wgpu::Device) -> Kernel {
    Kernel::new(device, "tsne", WGSL, &BINDINGS, &["repulsion", "reduce", "gradient", "apply"])
}

/// One embedding being optimised on the GPU.
pub struct TsneRun {
    pub n: usize,
    pub dims: usize,
    pub cfg: TsneConfig,
    /// Iterations done.
    pub iteration: usize,
    uniform: wgpu::Buffer,
    y: wgpu::Buffer,
    state: wgpu::Buffer,
    group: wgpu::BindGroup,
    // Kept alive for the bind group.
    _buffers: Vec<wgpu::Buffer>,
}

impl TsneRun {
    /// Uploads P and the initial positions (`init`: n × dims, dims 2 or 3).
    pub fn new(
        device: &wgpu::Device,
        kernel: &Kernel,
        p: &Affinities,
        init: &Matrix,
        cfg: &TsneConfig,
    ) -> Result<TsneRun, GpuError> {
        let (n, dims) = (init.rows, init.cols);
        if !(2..=3).contains(&dims) || n < 2 || p.indptr.len() != n + 1 {
            return Err(GpuError::Unsupported(format!(
                "GPU t-SNE needs ≥ 2 points in 2 or 3 dimensions (got {n} × {dims})"
            )));
        }
        let mut y4 = vec![0.0f32; n * 4];
        for i in 0..n {
            y4[i * 4..i * 4 + dims].copy_from_slice(init.row(i));
        }
        let mut st = vec![0.0f32; n * 12];
        for i in 0..n {
            st[i * 12 + 4..i * 12 + 8].copy_from_slice(&[1.0; 4]); // gains start at 1
        }
        let indptr: Vec<u32> = p.indptr.iter().map(|&v| v as u32).collect();
        let b = |v: &[f32]| bytemuck::cast_slice::<f32, u8>(v).to_vec();
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tsne params"),
            size: size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let y = storage_buffer(device, "tsne y", &b(&y4));
        let rep = storage_buffer(device, "tsne repulsion", &vec![0u8; n * 16]);
        let state = storage_buffer(device, "tsne state", &b(&st));
        let ip = storage_buffer(device, "tsne indptr", bytemuck::cast_slice(&indptr));
        let ix = storage_buffer(device, "tsne indices", bytemuck::cast_slice(&p.indices));
        let pv = storage_buffer(device, "tsne p", &b(&p.values));
        let stats = storage_buffer(device, "tsne stats", &[0u8; 16]);
        let group = kernel.bind_group(device, &[&uniform, &y, &rep, &state, &ip, &ix, &pv, &stats]);
        Ok(TsneRun {
            n,
            dims,
            cfg: cfg.clone(),
            iteration: 0,
            uniform,
            y,
            state,
            group,
            _buffers: vec![rep, ip, ix, pv, stats],
        })
    }

    pub fn total_iterations(&self) -> usize {
        self.cfg.early_iters + self.cfg.iters
    }

    pub fn params(&self, it: usize) -> Params {
        let (exaggeration, momentum, learning_rate) = tsne::schedule(&self.cfg, self.n, it);
        Params { n: self.n as u32, dims: self.dims as u32, exaggeration, momentum, learning_rate, _pad: [0; 3] }
    }

    /// How many of the next `want` iterations share one parameter set (a batch never crosses
    /// the end of early exaggeration, since the parameters are written once per submission).
    pub fn batch_len(&self, want: usize) -> usize {
        let left = self.total_iterations().saturating_sub(self.iteration);
        let phase_end =
            if self.iteration < self.cfg.early_iters { self.cfg.early_iters } else { self.total_iterations() };
        want.min(left).min(phase_end - self.iteration)
    }

    /// Writes the parameters of the next batch and records up to `want` iterations; returns how
    /// many were recorded. The caller submits `encoder` before writing parameters again.
    pub fn encode_batch(
        &mut self,
        kernel: &Kernel,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        want: usize,
    ) -> usize {
        let count = self.batch_len(want);
        if count == 0 {
            return 0;
        }
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&self.params(self.iteration)));
        let n = self.n as u32;
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("tsne"), timestamp_writes: None });
        for _ in 0..count {
            kernel.dispatch(&mut pass, "repulsion", &self.group, groups_for(n, WG));
            kernel.dispatch(&mut pass, "reduce", &self.group, [1, 1, 1]);
            kernel.dispatch(&mut pass, "gradient", &self.group, groups_for(n, WG));
            kernel.dispatch(&mut pass, "apply", &self.group, groups_for(n, WG));
        }
        self.iteration += count;
        count
    }

    /// The positions buffer (vec4 per point) and its size, for readback.
    pub fn positions_buffer(&self) -> &wgpu::Buffer {
        &self.y
    }

    /// Decodes a readback of [`Self::positions_buffer`] into n × dims, recentred.
    pub fn decode_positions(&self, bytes: &[u8]) -> Matrix {
        let v: &[f32] = bytemuck::cast_slice(&bytes[..self.n * 16]);
        let mut out = Matrix::zeros(self.n, self.dims);
        for i in 0..self.n {
            out.data[i * self.dims..(i + 1) * self.dims].copy_from_slice(&v[i * 4..i * 4 + self.dims]);
        }
        for a in 0..self.dims {
            let mean = (0..self.n).map(|i| f64::from(out.data[i * self.dims + a])).sum::<f64>() / self.n as f64;
            for i in 0..self.n {
                out.data[i * self.dims + a] -= mean as f32;
            }
        }
        out
    }

    /// Runs all remaining iterations, waiting for the GPU every `batch` iterations (progress).
    pub fn run_to_end(
        &mut self,
        gpu: &Gpu,
        kernel: &Kernel,
        batch: usize,
        progress: Option<Progress<'_>>,
    ) -> Result<Matrix, GpuError> {
        let total = self.total_iterations();
        while self.iteration < total {
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_batch(kernel, &gpu.queue, &mut enc, batch.max(1));
            gpu.queue.submit([enc.finish()]);
            gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
            if let Some(cb) = progress {
                cb(self.iteration, total);
            }
        }
        self.positions(gpu)
    }

    pub fn positions(&self, gpu: &Gpu) -> Result<Matrix, GpuError> {
        Ok(self.decode_positions(&gpu.read(&self.y, (self.n * 16) as u64)?))
    }

    /// The gradient at the current positions with `exaggeration` (no step taken): the three
    /// dispatches before `apply`, read back as n × dims. For comparison with the CPU reference.
    pub fn gradient(&self, gpu: &Gpu, kernel: &Kernel, exaggeration: f32) -> Result<Vec<f32>, GpuError> {
        let mut params = self.params(self.iteration);
        params.exaggeration = exaggeration;
        gpu.queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let n = self.n as u32;
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("tsne gradient"),
                timestamp_writes: None,
            });
            kernel.dispatch(&mut pass, "repulsion", &self.group, groups_for(n, WG));
            kernel.dispatch(&mut pass, "reduce", &self.group, [1, 1, 1]);
            kernel.dispatch(&mut pass, "gradient", &self.group, groups_for(n, WG));
        }
        gpu.queue.submit([enc.finish()]);
        let bytes = gpu.read(&self.state, (self.n * 48) as u64)?;
        let st: &[f32] = bytemuck::cast_slice(&bytes);
        let mut g = vec![0.0f32; self.n * self.dims];
        for i in 0..self.n {
            g[i * self.dims..(i + 1) * self.dims].copy_from_slice(&st[i * 12 + 8..i * 12 + 8 + self.dims]);
        }
        Ok(g)
    }
}

/// The whole t-SNE (same input preparation as the CPU) on a GPU; a [`TsneEngine`] for the
/// gallery build.
pub struct GpuTsne {
    pub gpu: Gpu,
    kernel: Kernel,
}

impl GpuTsne {
    pub fn new(gpu: Gpu) -> GpuTsne {
        let kernel = kernel(&gpu.device);
        GpuTsne { gpu, kernel }
    }

    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub fn start(&self, p: &Affinities, init: &Matrix, cfg: &TsneConfig) -> Result<TsneRun, GpuError> {
        TsneRun::new(&self.gpu.device, &self.kernel, p, init, cfg)
    }

    pub fn tsne(&self, x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Result<Matrix, GpuError> {
        if x.rows < 4 {
            return Ok(tsne::tsne(x, cfg, progress));
        }
        let (p, init) = tsne::affinities_and_init(x, cfg);
        let mut run = self.start(&p, &init, cfg)?;
        run.run_to_end(&self.gpu, &self.kernel, 25, progress)
    }
}

impl TsneEngine for GpuTsne {
    fn name(&self) -> String {
        format!("gpu: {}", crate::context::adapter_name(&self.gpu.info))
    }

    fn run(&self, x: &Matrix, cfg: &TsneConfig, progress: Option<Progress<'_>>) -> Result<Matrix, String> {
        self.tsne(x, cfg, progress).map_err(|e| e.to_string())
    }
}
