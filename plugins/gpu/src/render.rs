//! For users that run the kernels on a renderer's device (the app's Bevy render device): the
//! choice of where a kernel runs, whether a device can run them at all, and a [`Gpu`] made from
//! the renderer's device and queue. Nothing here knows Bevy: pass it the `wgpu` handles Bevy's
//! `RenderDevice`, `RenderQueue` and `RenderAdapterInfo` wrap.

use crate::context::Gpu;

/// Where a kernel runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeChoice {
    /// Whichever measured faster on this machine at start-up.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected auto, cpu or gpu, not {0:?}")]
pub struct ParseChoiceError(pub String);

impl std::str::FromStr for ComputeChoice {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, ParseChoiceError> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ComputeChoice::Auto),
            "cpu" => Ok(ComputeChoice::Cpu),
            "gpu" => Ok(ComputeChoice::Gpu),
            _ => Err(ParseChoiceError(s.to_string())),
        }
    }
}

/// Whether a device with these limits runs our compute kernels (WebGL2 and other downlevel
/// devices do not).
pub fn has_compute(limits: &wgpu::Limits) -> bool {
    limits.max_compute_workgroup_size_x >= 256
        && limits.max_compute_invocations_per_workgroup >= 256
        && limits.max_storage_buffers_per_shader_stage >= 8
}

impl Gpu {
    /// A context on an existing device (e.g. the renderer's), for kernels that run beside it.
    pub fn from_parts(device: &wgpu::Device, queue: &wgpu::Queue, info: &wgpu::AdapterInfo) -> Gpu {
        Gpu { device: device.clone(), queue: queue.clone(), info: info.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_choice_parses_its_three_words_and_refuses_others() {
        assert_eq!("GPU".parse::<ComputeChoice>(), Ok(ComputeChoice::Gpu));
        assert_eq!("auto".parse::<ComputeChoice>(), Ok(ComputeChoice::Auto));
        assert_eq!("cpu".parse::<ComputeChoice>(), Ok(ComputeChoice::Cpu));
        let e = "fast".parse::<ComputeChoice>().unwrap_err();
        assert_eq!(e.to_string(), "expected auto, cpu or gpu, not \"fast\"");
        assert!(has_compute(&wgpu::Limits::default()));
        assert!(!has_compute(&wgpu::Limits::downlevel_webgl2_defaults()));
    }
}
