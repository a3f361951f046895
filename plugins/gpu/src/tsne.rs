//! t-SNE on the GPU: each iteration is four dispatches (exact tiled repulsion, a reduction for
//! Z and the mean, the gradient over sparse P, then gains/momentum/step). The kernel takes what
//! the caller prepared: the joint affinities P (CSR), the start positions and the step schedule.
//! The gallery prepares them (kNN, perplexity calibration, PCA init — shared with its CPU
//! reference, so both optimise the same objective from the same start), wraps this as its GPU
//! `TsneEngine`, and compares the two in its tests (`headroom_gallery::tsne::exact_gradient`
//! per iteration, `headroom_gallery::tsne::tsne` for a whole run).

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

/// Joint affinities as compressed sparse rows: row `i`'s neighbours are
/// `indices[indptr[i]..indptr[i + 1]]` with weights `values[…]`.
#[derive(Clone, Copy, Debug)]
pub struct SparseRows<'a> {
    pub indptr: &'a [usize],
    pub indices: &'a [u32],
    pub values: &'a [f32],
}

/// One iteration's step parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub exaggeration: f32,
    pub momentum: f32,
    pub learning_rate: f32,
}

/// The step parameters of iteration `it` (the caller's schedule).
pub type Schedule = Box<dyn Fn(usize) -> Step + Send + Sync>;

/// How long a run is: `early` iterations of early exaggeration, then `late` more. A batch of
/// iterations shares one parameter set, so it never crosses from one phase into the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phases {
    pub early: usize,
    pub late: usize,
}

/// Progress callback: (iterations done, total iterations).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// One embedding being optimised on the GPU.
pub struct TsneRun {
    pub n: usize,
    pub dims: usize,
    pub phases: Phases,
    schedule: Schedule,
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
    /// Uploads P and the initial positions (`init`: n × dims row-major, dims 2 or 3).
    pub fn new(
        device: &wgpu::Device,
        kernel: &Kernel,
        p: SparseRows<'_>,
        init: &[f32],
        dims: usize,
        phases: Phases,
        schedule: Schedule,
    ) -> Result<TsneRun, GpuError> {
        let n = init.len().checked_div(dims).unwrap_or(0);
        if !(2..=3).contains(&dims) || n < 2 || init.len() != n * dims || p.indptr.len() != n + 1 {
            return Err(GpuError::Unsupported(format!(
                "GPU t-SNE needs ≥ 2 points in 2 or 3 dimensions and one P row per point (got {} values in {dims} dimensions, {} rows)",
                init.len(),
                p.indptr.len().saturating_sub(1)
            )));
        }
        let nnz = p.indptr[n];
        if p.indptr.windows(2).any(|w| w[0] > w[1])
            || nnz > p.indices.len()
            || nnz > p.values.len()
            || p.indices[..nnz].iter().any(|&j| j as usize >= n)
        {
            return Err(GpuError::Unsupported("GPU t-SNE: P's rows do not describe n points".into()));
        }
        let mut y4 = vec![0.0f32; n * 4];
        for i in 0..n {
            y4[i * 4..i * 4 + dims].copy_from_slice(&init[i * dims..(i + 1) * dims]);
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
        let ix = storage_buffer(device, "tsne indices", bytemuck::cast_slice(&p.indices[..nnz]));
        let pv = storage_buffer(device, "tsne p", &b(&p.values[..nnz]));
        let stats = storage_buffer(device, "tsne stats", &[0u8; 16]);
        let group = kernel.bind_group(device, &[&uniform, &y, &rep, &state, &ip, &ix, &pv, &stats]);
        Ok(TsneRun {
            n,
            dims,
            phases,
            schedule,
            iteration: 0,
            uniform,
            y,
            state,
            group,
            _buffers: vec![rep, ip, ix, pv, stats],
        })
    }

    pub fn total_iterations(&self) -> usize {
        self.phases.early + self.phases.late
    }

    pub fn params(&self, it: usize) -> Params {
        let Step { exaggeration, momentum, learning_rate } = (self.schedule)(it);
        Params { n: self.n as u32, dims: self.dims as u32, exaggeration, momentum, learning_rate, _pad: [0; 3] }
    }

    /// How many of the next `want` iterations share one parameter set (a batch never crosses
    /// the end of early exaggeration, since the parameters are written once per submission).
    pub fn batch_len(&self, want: usize) -> usize {
        let left = self.total_iterations().saturating_sub(self.iteration);
        let phase_end = if self.iteration < self.phases.early { self.phases.early } else { self.total_iterations() };
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

    /// Decodes a readback of [`Self::positions_buffer`] into n × dims (row-major), recentred.
    pub fn decode_positions(&self, bytes: &[u8]) -> Vec<f32> {
        let (n, dims) = (self.n, self.dims);
        let mut out = vec![0.0f32; n * dims];
        for (i, c) in bytes.chunks_exact(16).take(n).enumerate() {
            for a in 0..dims {
                out[i * dims + a] = f32::from_le_bytes([c[a * 4], c[a * 4 + 1], c[a * 4 + 2], c[a * 4 + 3]]);
            }
        }
        for a in 0..dims {
            let mean = (0..n).map(|i| f64::from(out[i * dims + a])).sum::<f64>() / n as f64;
            for i in 0..n {
                out[i * dims + a] -= mean as f32;
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
    ) -> Result<Vec<f32>, GpuError> {
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

    pub fn positions(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
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
