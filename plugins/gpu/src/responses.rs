//! CLM patch responses on the GPU: all landmarks' search windows correlated with their SVM
//! experts in one dispatch (one workgroup per landmark), read back as f32 for the mean-shift
//! step. CPU reference: [`PatchExperts::response`] (via `Fitter::compute_responses_cpu`).
//!
//! [`GpuResponses`] is a [`ResponseEngine`]: the face tracker runs it on its task-pool thread,
//! where waiting for the readback never holds up a rendered frame.

use headroom_face::ResponseEngine;
use headroom_face::patch::{Logistic, Normalize, PatchExperts, PatchKind, ResponseConfig};

use crate::context::{Gpu, GpuError, storage_buffer};
use crate::kernel::{Binding, Kernel};

pub const WGSL: &str = include_str!("shaders/responses.wgsl");
pub const BINDINGS: [Binding; 5] = [
    Binding::Uniform,
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: false },
];
/// The kernel's shared-memory bounds: patch side ≤ 32, search² ≤ 1024.
pub const MAX_PATCH: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    size: u32,
    search: u32,
    pw: u32,
    kind: u32,
    normalize: u32,
    logistic: u32,
    _pad: u32,
}

pub fn kernel(device: &wgpu::Device) -> Kernel {
    Kernel::new(device, "clm responses", WGSL, &BINDINGS, &["main"])
}

/// The engine: experts uploaded once, buffers reused frame to frame.
pub struct GpuResponses {
    gpu: Gpu,
    kernel: Kernel,
    /// (n, size, search): what the buffers are sized for.
    shape: (usize, usize, usize),
    experts_ptr: usize,
    uniform: wgpu::Buffer,
    weights: Option<wgpu::Buffer>,
    bias: Option<wgpu::Buffer>,
    patches: Option<wgpu::Buffer>,
    out: Option<wgpu::Buffer>,
    staging: Option<wgpu::Buffer>,
    group: Option<wgpu::BindGroup>,
}

impl GpuResponses {
    pub fn new(gpu: Gpu) -> GpuResponses {
        let kernel = kernel(&gpu.device);
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("responses params"),
            size: size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        GpuResponses {
            gpu,
            kernel,
            shape: (0, 0, 0),
            experts_ptr: 0,
            uniform,
            weights: None,
            bias: None,
            patches: None,
            out: None,
            staging: None,
            group: None,
        }
    }

    fn prepare(&mut self, experts: &PatchExperts, search: usize) -> Result<(), GpuError> {
        let pw = search + experts.size - 1;
        if pw > MAX_PATCH || search * search > 1024 || experts.n > 65_535 {
            return Err(GpuError::Unsupported(format!(
                "GPU responses handle search windows up to {} for {}×{} experts (got {search})",
                MAX_PATCH + 1 - experts.size,
                experts.size,
                experts.size
            )));
        }
        let key = (experts.n, experts.size, search);
        let ptr = experts.weights.as_ptr() as usize;
        if self.group.is_some() && key == self.shape && ptr == self.experts_ptr {
            return Ok(());
        }
        let d = &self.gpu.device;
        let f = |v: &[f32]| bytemuck::cast_slice::<f32, u8>(v).to_vec();
        let weights = storage_buffer(d, "expert weights", &f(&experts.weights));
        let bias = storage_buffer(d, "expert bias", &f(&experts.bias));
        let patches = storage_buffer(d, "patches", &vec![0u8; experts.n * pw * pw * 4]);
        let out_size = (experts.n * search * search * 4) as u64;
        let out = storage_buffer(d, "responses", &vec![0u8; out_size as usize]);
        let staging = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("responses readback"),
            size: out_size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.group = Some(self.kernel.bind_group(d, &[&self.uniform, &patches, &weights, &bias, &out]));
        (self.weights, self.bias, self.patches, self.out, self.staging) =
            (Some(weights), Some(bias), Some(patches), Some(out), Some(staging));
        self.shape = key;
        self.experts_ptr = ptr;
        Ok(())
    }

    /// All response maps for `patches` (`n × pw²`) into `out` (`n × search²`).
    pub fn run(
        &mut self,
        experts: &PatchExperts,
        patches: &[f32],
        search: usize,
        cfg: ResponseConfig,
        out: &mut [f32],
    ) -> Result<(), GpuError> {
        self.prepare(experts, search)?;
        let pw = search + experts.size - 1;
        let n = experts.n;
        if patches.len() < n * pw * pw || out.len() < n * search * search {
            return Err(GpuError::Unsupported("responses: buffers smaller than n × window".into()));
        }
        let params = Params {
            n: n as u32,
            size: experts.size as u32,
            search: search as u32,
            pw: pw as u32,
            kind: match cfg.kind {
                PatchKind::Raw => 0,
                PatchKind::Sobel => 1,
                PatchKind::Lbp => 2,
            },
            normalize: u32::from(cfg.normalize == Normalize::Window),
            logistic: u32::from(cfg.logistic == Logistic::Bias),
            _pad: 0,
        };
        let (Some(pbuf), Some(obuf), Some(staging), Some(group)) =
            (&self.patches, &self.out, &self.staging, &self.group)
        else {
            return Err(GpuError::Unsupported("responses: buffers missing".into()));
        };
        let q = &self.gpu.queue;
        q.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
        q.write_buffer(pbuf, 0, bytemuck::cast_slice(&patches[..n * pw * pw]));
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("responses"), timestamp_writes: None });
            self.kernel.dispatch(&mut pass, "main", group, [n as u32, 1, 1]);
        }
        let size = (n * search * search * 4) as u64;
        enc.copy_buffer_to_buffer(obuf, 0, staging, 0, size);
        q.submit([enc.finish()]);
        let bytes = self.gpu.read_mapped(staging, size)?;
        out[..n * search * search].copy_from_slice(bytemuck::cast_slice(&bytes));
        Ok(())
    }
}

impl ResponseEngine for GpuResponses {
    fn name(&self) -> String {
        format!("gpu: {}", crate::context::adapter_name(&self.gpu.info))
    }

    fn responses(
        &mut self,
        experts: &PatchExperts,
        patches: &[f32],
        search: usize,
        cfg: ResponseConfig,
        out: &mut [f32],
    ) -> Result<(), String> {
        self.run(experts, patches, search, cfg, out).map_err(|e| e.to_string())
    }
}
