// Frame preprocessing: packed RGBA8 → 8-bit luma, at full resolution (`full`) and bilinearly
// resized to the detector's work resolution (`resized`). Output packs 4 luma bytes per u32,
// so the readback is exactly a `Gray` image. CPU reference: headroom_face::Gray::{from_rgba, resize}.

struct Dims {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    // Source pixels per destination pixel (computed on the CPU exactly as the reference does).
    sx: f32,
    sy: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> rgba: array<u32>;
@group(0) @binding(2) var<storage, read_write> full_out: array<u32>;
@group(0) @binding(3) var<storage, read_write> work_out: array<u32>;

// OpenCV's weights (0.299, 0.587, 0.114) in 16-bit fixed point, as the CPU does.
fn luma_at(i: u32) -> u32 {
    let p = rgba[i];
    let r = p & 0xffu;
    let g = (p >> 8u) & 0xffu;
    let b = (p >> 16u) & 0xffu;
    return (19595u * r + 38470u * g + 7471u * b + 32768u) >> 16u;
}

fn word_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

@compute @workgroup_size(64)
fn full(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = dims.src_w * dims.src_h;
    let w = word_index(gid, groups);
    let base = w * 4u;
    if base >= n {
        return;
    }
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
        if base + k < n {
            word |= luma_at(base + k) << (8u * k);
        }
    }
    full_out[w] = word;
}

fn resized_at(i: u32) -> u32 {
    let x = i % dims.dst_w;
    let y = i / dims.dst_w;
    let fx = max((f32(x) + 0.5) * dims.sx - 0.5, 0.0);
    let fy = max((f32(y) + 0.5) * dims.sy - 0.5, 0.0);
    let x0 = min(u32(fx), dims.src_w - 1u);
    let x1 = min(x0 + 1u, dims.src_w - 1u);
    let y0 = min(u32(fy), dims.src_h - 1u);
    let y1 = min(y0 + 1u, dims.src_h - 1u);
    let wx = fx - f32(x0);
    let wy = fy - f32(y0);
    let p00 = f32(luma_at(y0 * dims.src_w + x0));
    let p01 = f32(luma_at(y0 * dims.src_w + x1));
    let p10 = f32(luma_at(y1 * dims.src_w + x0));
    let p11 = f32(luma_at(y1 * dims.src_w + x1));
    let top = p00 + (p01 - p00) * wx;
    let bot = p10 + (p11 - p10) * wx;
    return min(u32(top + (bot - top) * wy + 0.5), 255u);
}

@compute @workgroup_size(64)
fn resized(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = dims.dst_w * dims.dst_h;
    let w = word_index(gid, groups);
    let base = w * 4u;
    if base >= n {
        return;
    }
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
        if base + k < n {
            word |= resized_at(base + k) << (8u * k);
        }
    }
    work_out[w] = word;
}
