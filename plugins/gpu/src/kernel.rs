//! What every kernel shares: one WGSL module, one explicit bind-group layout (so a single bind
//! group serves all of a kernel's entry points) and a pipeline per entry point.

use std::borrow::Cow;

/// One binding of a kernel, in binding order (group 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Uniform,
    Storage { read_only: bool },
}

pub struct Kernel {
    pub label: &'static str,
    pub layout: wgpu::BindGroupLayout,
    pipelines: Vec<(&'static str, wgpu::ComputePipeline)>,
}

impl Kernel {
    pub fn new(
        device: &wgpu::Device,
        label: &'static str,
        wgsl: &str,
        bindings: &[Binding],
        entry_points: &[&'static str],
    ) -> Kernel {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(wgsl)),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match *b {
                        Binding::Uniform => wgpu::BufferBindingType::Uniform,
                        Binding::Storage { read_only } => wgpu::BufferBindingType::Storage { read_only },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipelines = entry_points
            .iter()
            .map(|&entry| {
                let p = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
                (entry, p)
            })
            .collect();
        Kernel { label, layout, pipelines }
    }

    pub fn pipeline(&self, entry: &str) -> &wgpu::ComputePipeline {
        &self
            .pipelines
            .iter()
            .find(|(e, _)| *e == entry)
            .unwrap_or_else(|| panic!("{}: no entry {entry}", self.label))
            .1
    }

    /// A bind group over `buffers`, in binding order.
    pub fn bind_group(&self, device: &wgpu::Device, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.label),
            layout: &self.layout,
            entries: &entries,
        })
    }

    /// Records one dispatch of `entry` into `pass`.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        entry: &str,
        group: &wgpu::BindGroup,
        workgroups: [u32; 3],
    ) {
        pass.set_pipeline(self.pipeline(entry));
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }
}

/// Workgroups along x (and y past WebGPU's 65,535 limit) to cover `items` with `per_group` each.
pub fn groups_for(items: u32, per_group: u32) -> [u32; 3] {
    let g = items.div_ceil(per_group).max(1);
    if g <= 65_535 { [g, 1, 1] } else { [65_535, g.div_ceil(65_535), 1] }
}
