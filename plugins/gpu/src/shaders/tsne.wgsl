// One t-SNE iteration in four dispatches (positions as vec4, z = 0 in 2D):
//   repulsion  — exact Σ_j q_ij² (y_i − y_j) and Σ_j q_ij with q = 1 / (1 + |y_i − y_j|²),
//                tiled through workgroup memory (O(n²), no tree: simple and exact on a GPU);
//   reduce     — Z = Σ_i Σ_j q_ij and the mean position (one workgroup);
//   gradient   — 4 (exaggeration · Σ_j p_ij q_ij (y_i − y_j) − repulsion_i / Z) over sparse P;
//   apply      — delta-bar-delta gains, momentum, step, recentring.
// CPU reference: headroom_gallery::tsne::{exact_gradient, optimise} (Barnes–Hut there).

struct Params {
    n: u32,
    dims: u32,
    exaggeration: f32,
    momentum: f32,
    learning_rate: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
// xyz: Σ q² d; w: Σ q (self excluded).
@group(0) @binding(2) var<storage, read_write> rep: array<vec4<f32>>;
// Per point: [3i] update, [3i + 1] gains, [3i + 2] gradient.
@group(0) @binding(3) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> indptr: array<u32>;
@group(0) @binding(5) var<storage, read> indices: array<u32>;
@group(0) @binding(6) var<storage, read> pval: array<f32>;
// [0]: xyz mean position, w: Z.
@group(0) @binding(7) var<storage, read_write> stats: array<vec4<f32>>;

const WG: u32 = 256u;
var<workgroup> tile: array<vec4<f32>, 256>;
var<workgroup> red: array<vec4<f32>, 256>;

fn point_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(256)
fn repulsion(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let n = prm.n;
    let i = point_index(gid, groups);
    var yi = vec3<f32>(0.0);
    if i < n {
        yi = y[i].xyz;
    }
    var f = vec3<f32>(0.0);
    var z = 0.0;
    for (var t = 0u; t < n; t += WG) {
        let j = t + lid;
        var v = vec4<f32>(0.0);
        if j < n {
            v = y[j];
        }
        tile[lid] = v;
        workgroupBarrier();
        let m = min(WG, n - t);
        for (var k = 0u; k < m; k++) {
            let d = yi - tile[k].xyz;
            let q = 1.0 / (1.0 + dot(d, d));
            z += q;
            f += q * q * d;
        }
        workgroupBarrier();
    }
    if i < n {
        // The self term added q = 1 and no force.
        rep[i] = vec4<f32>(f, z - 1.0);
    }
}

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) lid: u32) {
    let n = prm.n;
    var acc = vec4<f32>(0.0);
    for (var i = lid; i < n; i += WG) {
        acc += vec4<f32>(y[i].xyz, rep[i].w);
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if lid < s {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let r = red[0];
        stats[0] = vec4<f32>(r.xyz / f32(n), max(r.w, 1e-12));
    }
}

@compute @workgroup_size(256)
fn gradient(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = point_index(gid, groups);
    if i >= prm.n {
        return;
    }
    let yi = y[i].xyz;
    var attr = vec3<f32>(0.0);
    for (var k = indptr[i]; k < indptr[i + 1u]; k++) {
        let d = yi - y[indices[k]].xyz;
        attr += (prm.exaggeration * pval[k] / (1.0 + dot(d, d))) * d;
    }
    let z = stats[0].w;
    state[3u * i + 2u] = vec4<f32>(4.0 * (attr - rep[i].xyz / z), 0.0);
}

@compute @workgroup_size(256)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = point_index(gid, groups);
    if i >= prm.n {
        return;
    }
    let g = state[3u * i + 2u];
    var u = state[3u * i];
    var gain = state[3u * i + 1u];
    var pos = y[i];
    let mean = stats[0].xyz;
    for (var a = 0u; a < prm.dims; a++) {
        let same = (g[a] > 0.0) == (u[a] > 0.0);
        gain[a] = select(gain[a] + 0.2, max(gain[a] * 0.8, 0.01), same);
        u[a] = prm.momentum * u[a] - prm.learning_rate * gain[a] * g[a];
        // Forces do not depend on translation, so recentring on the pre-step mean follows
        // the same trajectory as recentring after the step.
        pos[a] = pos[a] - mean[a] + u[a];
    }
    state[3u * i] = u;
    state[3u * i + 1u] = gain;
    y[i] = pos;
}
