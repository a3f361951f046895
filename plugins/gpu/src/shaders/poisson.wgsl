// Poisson blending (Pérez et al. 2003) on the correction h = f − g (f: result, g: the warped
// source): Δh = 0 inside the mask, h = target − source outside it (fixed). Red–black
// successive over-relaxation, one entry point per colour, then `compose` packs g + h into RGBA8
// (alpha 255 inside the mask, 0 outside). The host keeps the mask off the crop's border, so
// every masked pixel has four neighbours. CPU reference: headroom_gpu::poisson::{sor, compose}.

struct Params {
    width: u32,
    height: u32,
    omega: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> h: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

fn relax(id: vec3<u32>, parity: u32) {
    let x = id.x;
    let y = id.y;
    if x >= prm.width || y >= prm.height || ((x + y) & 1u) != parity {
        return;
    }
    let i = y * prm.width + x;
    if mask[i] == 0u {
        return;
    }
    let w = prm.width;
    let avg = ((h[i - 1u] + h[i + 1u]) + (h[i - w] + h[i + w])) * 0.25;
    h[i] = h[i] + prm.omega * (avg - h[i]);
}

@compute @workgroup_size(16, 16)
fn red(@builtin(global_invocation_id) id: vec3<u32>) {
    relax(id, 0u);
}

@compute @workgroup_size(16, 16)
fn black(@builtin(global_invocation_id) id: vec3<u32>) {
    relax(id, 1u);
}

@compute @workgroup_size(16, 16)
fn compose(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= prm.width || id.y >= prm.height {
        return;
    }
    let i = id.y * prm.width + id.x;
    if mask[i] == 0u {
        out[i] = 0u;
        return;
    }
    let f = clamp((source[i] + h[i]) / 255.0, vec4<f32>(0.0), vec4<f32>(1.0));
    out[i] = pack4x8unorm(vec4<f32>(f.xyz, 1.0));
}
