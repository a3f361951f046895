//! Frame preprocessing on the GPU: RGBA8 → luma at full resolution and at the detector's work
//! resolution, in one submission. CPU reference: `headroom_face::Gray::{from_rgba, resize}` (the
//! face crate's tests compare the two).
//! (The Haar detector builds its integral images on the CPU from the work image: at 200 px wide
//! that is ~40k additions, cheaper than a readback.)

use crate::context::{Gpu, GpuError};
use crate::kernel::{Binding, Kernel, groups_for};

pub const WGSL: &str = include_str!("shaders/luma.wgsl");
pub const BINDINGS: [Binding; 4] = [
    Binding::Uniform,
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: false },
    Binding::Storage { read_only: false },
];

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Dims {
    pub src_w: u32,
    pub src_h: u32,
    pub dst_w: u32,
    pub dst_h: u32,
    pub sx: f32,
    pub sy: f32,
    pub _pad: [u32; 2],
}

impl Dims {
    pub fn new(src: (usize, usize), dst: (usize, usize)) -> Dims {
        Dims {
            src_w: src.0 as u32,
            src_h: src.1 as u32,
            dst_w: dst.0 as u32,
            dst_h: dst.1 as u32,
            // The same f32 expressions as `Gray::resize`.
            sx: src.0 as f32 / dst.0 as f32,
            sy: src.1 as f32 / dst.1 as f32,
            _pad: [0; 2],
        }
    }
}

pub fn kernel(device: &wgpu::Device) -> Kernel {
    Kernel::new(device, "luma", WGSL, &BINDINGS, &["full", "resized"])
}

/// Buffers for one frame size.
pub struct LumaJob {
    pub dims: Dims,
    pub uniform: wgpu::Buffer,
    pub rgba: wgpu::Buffer,
    pub full: wgpu::Buffer,
    pub work: wgpu::Buffer,
    pub group: wgpu::BindGroup,
}

impl LumaJob {
    pub fn new(device: &wgpu::Device, kernel: &Kernel, src: (usize, usize), dst: (usize, usize)) -> LumaJob {
        let dims = Dims::new(src, dst);
        let mk = |label, size: usize, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (size.max(1) as u64).next_multiple_of(4),
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        let uniform = mk("luma dims", size_of::<Dims>(), U::UNIFORM | U::COPY_DST);
        let rgba = mk("luma rgba", src.0 * src.1 * 4, U::STORAGE | U::COPY_DST);
        let full = mk("luma full", src.0 * src.1, U::STORAGE | U::COPY_SRC);
        let work = mk("luma work", dst.0 * dst.1, U::STORAGE | U::COPY_SRC);
        let group = kernel.bind_group(device, &[&uniform, &rgba, &full, &work]);
        LumaJob { dims, uniform, rgba, full, work, group }
    }

    /// Uploads a frame (through the queue: it lands before the next submission).
    pub fn upload(&self, queue: &wgpu::Queue, rgba: &[u8]) {
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&self.dims));
        queue.write_buffer(&self.rgba, 0, rgba);
    }

    /// Records both dispatches.
    pub fn encode(&self, kernel: &Kernel, encoder: &mut wgpu::CommandEncoder) {
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("luma"), timestamp_writes: None });
        let (src, dst) = (self.dims.src_w * self.dims.src_h, self.dims.dst_w * self.dims.dst_h);
        kernel.dispatch(&mut pass, "full", &self.group, groups_for(src.div_ceil(4), 64));
        kernel.dispatch(&mut pass, "resized", &self.group, groups_for(dst.div_ceil(4), 64));
    }
}

/// An 8-bit single-channel image, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Standalone: one frame through the kernel, both images read back.
pub fn run(
    gpu: &Gpu,
    kernel: &Kernel,
    rgba: &[u8],
    src: (usize, usize),
    dst: (usize, usize),
) -> Result<(Plane, Plane), GpuError> {
    if src.0 == 0 || src.1 == 0 || dst.0 == 0 || dst.1 == 0 || rgba.len() != src.0 * src.1 * 4 {
        return Err(GpuError::Unsupported(format!(
            "luma: a {}×{} frame needs {} RGBA bytes and a non-empty target (got {} bytes, target {}×{})",
            src.0,
            src.1,
            src.0 * src.1 * 4,
            rgba.len(),
            dst.0,
            dst.1
        )));
    }
    let job = LumaJob::new(&gpu.device, kernel, src, dst);
    job.upload(&gpu.queue, rgba);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    job.encode(kernel, &mut enc);
    gpu.queue.submit([enc.finish()]);
    let full = gpu.read(&job.full, job.full.size())?;
    let work = gpu.read(&job.work, job.work.size())?;
    Ok((
        Plane { width: src.0, height: src.1, data: full[..src.0 * src.1].to_vec() },
        Plane { width: dst.0, height: dst.1, data: work[..dst.0 * dst.1].to_vec() },
    ))
}
