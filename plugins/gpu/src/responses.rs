//! CLM patch responses on the GPU: all landmarks' search windows correlated with their SVM
//! experts in one dispatch (one workgroup per landmark), read back as f32 for the mean-shift
//! step. CPU reference: `headroom_face::patch::PatchExperts::response`; the face crate wraps
//! [`GpuResponses`] as its `ResponseEngine` (and compares the two in its tests). The tracker
//! runs it on its task-pool thread, where waiting for the readback never holds up a frame.

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

/// The experts of one kind: `n` linear SVMs of `size × size` weights (row-major, one after the
/// other) and one bias each.
#[derive(Clone, Copy, Debug)]
pub struct Experts<'a> {
    pub n: usize,
    pub size: usize,
    pub weights: &'a [f32],
    pub bias: &'a [f32],
}

/// What a search window goes through before the correlation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prefilter {
    #[default]
    Raw,
    Sobel,
    Lbp,
}

/// How responses are computed (clmtrackr's CPU and WebGL paths differ in both flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseOptions {
    pub prefilter: Prefilter,
    /// Normalise over each expert-sized window (else over the whole search patch).
    pub normalize_window: bool,
    /// Logistic with the expert's bias, `1/(1+e^−(r+b))` (else `1/(1+e^−(r−1))`).
    pub logistic_bias: bool,
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

    /// The adapter it runs on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn prepare(&mut self, experts: Experts<'_>, search: usize) -> Result<(), GpuError> {
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
        let weights =
            storage_buffer(d, "expert weights", &f(&experts.weights[..experts.n * experts.size * experts.size]));
        let bias = storage_buffer(d, "expert bias", &f(&experts.bias[..experts.n]));
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
        experts: Experts<'_>,
        patches: &[f32],
        search: usize,
        cfg: ResponseOptions,
        out: &mut [f32],
    ) -> Result<(), GpuError> {
        if experts.weights.len() < experts.n * experts.size * experts.size || experts.bias.len() < experts.n {
            return Err(GpuError::Unsupported("responses: fewer weights or biases than n experts".into()));
        }
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
            kind: match cfg.prefilter {
                Prefilter::Raw => 0,
                Prefilter::Sobel => 1,
                Prefilter::Lbp => 2,
            },
            normalize: u32::from(cfg.normalize_window),
            logistic: u32::from(cfg.logistic_bias),
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
