// CLM patch responses: one workgroup per landmark, all landmarks in one dispatch.
// For point i: its pw×pw grey patch (pw = search + size − 1) is pre-filtered (raw / Sobel
// magnitude / LBP codes, clamp-to-edge), min–max normalised over the patch (or per window),
// correlated with the point's size×size SVM weights, passed through a logistic and min–max
// normalised again. CPU reference: headroom_face::patch::PatchExperts::response.

struct Params {
    n: u32,
    size: u32,
    search: u32,
    pw: u32,
    kind: u32,       // 0 raw, 1 sobel, 2 lbp
    normalize: u32,  // 0 patch, 1 window
    logistic: u32,   // 0 shifted (r − 1), 1 bias (r + b_i)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> patches: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> responses: array<f32>;

const WG: u32 = 128u;
// pw ≤ 32 and search² ≤ 1024 (the host checks).
var<workgroup> raw: array<f32, 1024>;
var<workgroup> src: array<f32, 1024>;
var<workgroup> outv: array<f32, 1024>;
var<workgroup> red_lo: array<f32, 128>;
var<workgroup> red_hi: array<f32, 128>;

fn at(x: i32, y: i32) -> f32 {
    let pw = i32(prm.pw);
    return raw[clamp(y, 0, pw - 1) * pw + clamp(x, 0, pw - 1)];
}

// Min and max over the workgroup of each invocation's (lo, hi).
fn reduce(lid: u32, lo: f32, hi: f32) -> vec2<f32> {
    red_lo[lid] = lo;
    red_hi[lid] = hi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if lid < s {
            red_lo[lid] = min(red_lo[lid], red_lo[lid + s]);
            red_hi[lid] = max(red_hi[lid], red_hi[lid + s]);
        }
        workgroupBarrier();
    }
    let r = vec2<f32>(red_lo[0], red_hi[0]);
    workgroupBarrier();
    return r;
}

fn bit(v: f32, c: f32, w: f32) -> f32 {
    return select(0.0, w, v >= c);
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = wg.x;
    let pw = prm.pw;
    let np = pw * pw;
    let size = prm.size;
    let search = prm.search;
    let ns = search * search;
    for (var k = lid; k < np; k += WG) {
        raw[k] = patches[i * np + k];
    }
    workgroupBarrier();

    var lo = 3.0e38;
    var hi = -3.0e38;
    for (var k = lid; k < np; k += WG) {
        let x = i32(k % pw);
        let y = i32(k / pw);
        var v = raw[k];
        if prm.kind == 1u {
            let dx = (at(x - 1, y + 1) + 2.0 * at(x - 1, y) + at(x - 1, y - 1)
                - at(x + 1, y + 1) - 2.0 * at(x + 1, y) - at(x + 1, y - 1)) / 4.0;
            let dy = (at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1)
                - at(x - 1, y - 1) - 2.0 * at(x, y - 1) - at(x + 1, y - 1)) / 4.0;
            v = sqrt(dx * dx + dy * dy);
        } else if prm.kind == 2u {
            let c = at(x, y);
            v = bit(at(x + 1, y), c, 1.0) + bit(at(x + 1, y - 1), c, 2.0) + bit(at(x, y - 1), c, 4.0)
                + bit(at(x - 1, y - 1), c, 8.0) + bit(at(x - 1, y), c, 16.0) + bit(at(x - 1, y + 1), c, 32.0)
                + bit(at(x, y + 1), c, 64.0) + bit(at(x + 1, y + 1), c, 128.0);
        }
        src[k] = v;
        lo = min(lo, v);
        hi = max(hi, v);
    }
    let mm = reduce(lid, lo, hi);
    if prm.normalize == 0u && mm.y - mm.x > 0.0 {
        let inv = 1.0 / (mm.y - mm.x);
        for (var k = lid; k < np; k += WG) {
            src[k] = (src[k] - mm.x) * inv;
        }
    }
    workgroupBarrier();

    let wbase = i * size * size;
    var wsum = 0.0;
    if prm.normalize == 1u {
        for (var t = 0u; t < size * size; t++) {
            wsum += weights[wbase + t];
        }
    }
    var olo = 3.0e38;
    var ohi = -3.0e38;
    for (var o = lid; o < ns; o += WG) {
        let ox = o % search;
        let oy = o / search;
        var r = 0.0;
        for (var ky = 0u; ky < size; ky++) {
            let row = (oy + ky) * pw + ox;
            let wrow = wbase + ky * size;
            for (var kx = 0u; kx < size; kx++) {
                r += src[row + kx] * weights[wrow + kx];
            }
        }
        if prm.normalize == 1u {
            var wlo = 3.0e38;
            var whi = -3.0e38;
            for (var ky = 0u; ky < size; ky++) {
                for (var kx = 0u; kx < size; kx++) {
                    let v = src[(oy + ky) * pw + ox + kx];
                    wlo = min(wlo, v);
                    whi = max(whi, v);
                }
            }
            let range = whi - wlo;
            r = select(0.0, (r - wlo * wsum) / range, range > 0.0);
        }
        var z = r - 1.0;
        if prm.logistic == 1u {
            z = r + bias[i];
        }
        let v = 1.0 / (1.0 + exp(-z));
        outv[o] = v;
        olo = min(olo, v);
        ohi = max(ohi, v);
    }
    let om = reduce(lid, olo, ohi);
    let orange = om.y - om.x;
    for (var o = lid; o < ns; o += WG) {
        var v = outv[o];
        if orange > 0.0 {
            v = (v - om.x) * (1.0 / orange);
        }
        responses[i * ns + o] = v;
    }
}
