//! A standalone GPU context (adapter, device, queue) and blocking readback, for tests,
//! benchmarks and command-line tools. Inside the app the render device is used instead.

use wgpu::util::DeviceExt;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found (on Linux without a GPU install Mesa's lavapipe: `apt-get install mesa-vulkan-drivers` and set WGPU_BACKEND=vulkan)"
    )]
    NoAdapter,
    #[error("the GPU adapter refused a device: {0}")]
    Device(String),
    #[error("reading a GPU buffer back failed: {0}")]
    Readback(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Adapter, device and queue.
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({})", describe(&self.info))
    }
}

impl Gpu {
    /// The first adapter the environment allows (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, …), with
    /// WebGPU's default limits (so what runs here also runs in a browser) but the adapter's
    /// buffer sizes.
    pub fn new() -> Result<Gpu, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = futures_lite::future::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        }))
        .map_err(|_| GpuError::NoAdapter)?;
        let have = adapter.limits();
        let limits = wgpu::Limits {
            max_buffer_size: have.max_buffer_size,
            max_storage_buffer_binding_size: have.max_storage_buffer_binding_size,
            ..wgpu::Limits::default()
        };
        let (device, queue) = futures_lite::future::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("headroom-gpu"),
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        Ok(Gpu { device, queue, info: adapter.get_info() })
    }

    /// Whether the adapter is a CPU rasteriser (lavapipe, WARP, SwiftShader).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// Copies `size` bytes of `src` to the CPU, waiting for the GPU (native only).
    pub fn read(&self, src: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        self.read_mapped(&staging, size)
    }

    /// Maps an already-filled `MAP_READ` buffer and returns its first `size` bytes.
    pub fn read_mapped(&self, staging: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        let slice = staging.slice(..size);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
        rx.recv().map_err(|e| GpuError::Readback(e.to_string()))?.map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = slice.get_mapped_range().to_vec();
        staging.unmap();
        Ok(out)
    }
}

/// A storage buffer holding `contents` (at least 4 bytes, as WebGPU requires), also usable as a
/// copy source and destination.
pub fn storage_buffer(device: &wgpu::Device, label: &str, contents: &[u8]) -> wgpu::Buffer {
    let mut padded;
    let bytes = if contents.len() < 4 || !contents.len().is_multiple_of(4) {
        padded = contents.to_vec();
        padded.resize(contents.len().next_multiple_of(4).max(4), 0);
        &padded[..]
    } else {
        contents
    };
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    })
}

/// For tests: the GPU, or `None` after a loud notice when there is none — a failure instead
/// when `HEADROOM_REQUIRE_GPU=1` (as in CI).
pub fn gpu_required(test: &str) -> Option<Gpu> {
    match Gpu::new() {
        Ok(gpu) => {
            eprintln!("{test}: GPU adapter {}", gpu.describe());
            Some(gpu)
        }
        Err(e) => {
            let msg = format!("!!! {test}: {e} — NOT RUN !!!");
            if std::env::var("HEADROOM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("{msg} (HEADROOM_REQUIRE_GPU=1)");
            }
            eprintln!("{msg}");
            None
        }
    }
}

/// The adapter's name, or what is known of it when the platform gives none (browsers often
/// leave WebGPU adapters unnamed).
pub fn adapter_name(info: &wgpu::AdapterInfo) -> String {
    let name = info.name.trim();
    if !name.is_empty() {
        return name.to_string();
    }
    let driver = info.driver.trim();
    if driver.is_empty() { format!("unnamed {:?} adapter", info.backend) } else { driver.to_string() }
}

/// Name, backend and device type, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", adapter_name(info), info.backend, info.device_type)
}
