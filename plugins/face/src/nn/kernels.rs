//! The network's CPU kernels on planar `[C, H, W]` `f32` slices, each writing every value of
//! its output (buffers are reused between layers): convolutions as one matrix product each
//! (register-blocked for these short, wide shapes) with bias, residual and activation fused
//! into one pass after it; depthwise convolution; 2×2 max pooling; padding.
//!
//! Every kernel is `#[inline(always)]` so that [`super::graph`] can compile the whole network
//! once more with AVX2 enabled and pick that copy at run time.

/// An activation after a convolution or an addition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    None,
    Relu,
    Relu6,
}

#[inline(always)]
fn act(v: f32, a: Act) -> f32 {
    match a {
        Act::None => v,
        Act::Relu => v.max(0.0),
        Act::Relu6 => v.clamp(0.0, 6.0),
    }
}

/// `act` over a slice, the choice made once (a loop the compiler can vectorise).
#[inline(always)]
fn act_all(v: &mut [f32], a: Act) {
    match a {
        Act::None => {}
        Act::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        Act::Relu6 => v.iter_mut().for_each(|x| *x = x.clamp(0.0, 6.0)),
    }
}

/// Zero padding of a spatial input: rows above/below, columns left/right.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad4 {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Pad4 {
    pub const NONE: Pad4 = Pad4 { top: 0, bottom: 0, left: 0, right: 0 };

    pub fn is_none(&self) -> bool {
        *self == Pad4::NONE
    }
}

/// What follows a convolution, in one pass over its output: `+ bias`, the convolution's own
/// activation, then optionally `+ residual` with the addition's activation, then optionally a
/// PReLU (one slope per channel) or ReLU.
#[derive(Debug)]
pub struct Epilogue {
    pub bias: Vec<f32>,
    pub act: Act,
    pub residual: Option<(usize, Act)>,
    pub post: Post,
}

#[derive(Debug)]
pub enum Post {
    None,
    Relu,
    Prelu(Vec<f32>),
}

/// `out[o, p] = Σ_i w[o, i] · x[i, p]` for `o < m`, `p < n`, `i < k` (all row-major).
///
/// The networks' products are short and wide (k = 16…288 inputs, n up to 9,216 pixels), where
/// a general GEMM spends its time packing: here 16 pixels × 4 outputs are summed in registers
/// (eight 8-lane accumulators with AVX2) while the 16 pixels of each input row stay in L1, and
/// the few products with under 16 pixels (the last layers) are dot products.
///
/// `FMA`: sum with fused multiply-adds (only where the CPU has them: the copy compiled with
/// AVX2 + FMA; elsewhere `mul_add` would be a slow library call).
#[inline(always)]
pub fn matmul<const FMA: bool>(w: &[f32], x: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    assert!(w.len() >= m * k && x.len() >= k * n && out.len() >= m * n);
    const P: usize = 16;
    let full = n / P * P;
    for p0 in (0..full).step_by(P) {
        let mut o0 = 0;
        while o0 + 4 <= m {
            let mut acc = [[0f32; P]; 4];
            let ws = [&w[o0 * k..][..k], &w[(o0 + 1) * k..][..k], &w[(o0 + 2) * k..][..k], &w[(o0 + 3) * k..][..k]];
            for i in 0..k {
                let xv: &[f32; P] = x[i * n + p0..][..P].try_into().expect("P values");
                for (a, wr) in acc.iter_mut().zip(&ws) {
                    let wv = wr[i];
                    for (av, &xx) in a.iter_mut().zip(xv) {
                        *av = madd::<FMA>(*av, wv, xx);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                out[(o0 + r) * n + p0..][..P].copy_from_slice(a);
            }
            o0 += 4;
        }
        for o in o0..m {
            let mut a = [0f32; P];
            let wr = &w[o * k..][..k];
            for (i, &wv) in wr.iter().enumerate() {
                let xv: &[f32; P] = x[i * n + p0..][..P].try_into().expect("P values");
                for (av, &xx) in a.iter_mut().zip(xv) {
                    *av = madd::<FMA>(*av, wv, xx);
                }
            }
            out[o * n + p0..][..P].copy_from_slice(&a);
        }
    }
    if full < n {
        // The remaining pixels: each column gathered once, then one dot product per output.
        let mut col = vec![0f32; k];
        for p in full..n {
            for (i, c) in col.iter_mut().enumerate() {
                *c = x[i * n + p];
            }
            for o in 0..m {
                out[o * n + p] = dot(&w[o * k..(o + 1) * k], &col);
            }
        }
    }
}

#[inline(always)]
fn madd<const FMA: bool>(acc: f32, a: f32, b: f32) -> f32 {
    if FMA { a.mul_add(b, acc) } else { acc + a * b }
}

/// A dot product in eight lanes (the order of a vector loop, whatever the target).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Applies an [`Epilogue`] to a convolution's raw `[C, plane]` output.
#[inline(always)]
pub fn epilogue(out: &mut [f32], plane: usize, e: &Epilogue, residual: Option<&[f32]>) {
    for (o, dst) in out.chunks_exact_mut(plane).enumerate() {
        let b = e.bias[o];
        dst.iter_mut().for_each(|v| *v += b);
        act_all(dst, e.act);
        if let (Some(r), Some((_, a2))) = (residual, e.residual) {
            for (v, &rv) in dst.iter_mut().zip(&r[o * plane..(o + 1) * plane]) {
                *v += rv;
            }
            act_all(dst, a2);
        }
        match &e.post {
            Post::None => {}
            Post::Relu => act_all(dst, Act::Relu),
            Post::Prelu(alpha) => {
                let s = alpha[o];
                dst.iter_mut().for_each(|v| *v = if *v >= 0.0 { *v } else { s * *v });
            }
        }
    }
}

/// The geometry of a spatial convolution.
#[derive(Debug)]
pub struct ConvShape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: Pad4,
    pub oh: usize,
    pub ow: usize,
}

/// Unfolds `x` (`[c, h, w]`) into `cols` (`[c·k·k, oh·ow]`, zero where the window leaves the
/// padded input), the layout of a `[o, c, k, k]` weight.
#[inline(always)]
pub fn im2col(x: &[f32], s: &ConvShape, cols: &mut [f32]) {
    let n = s.oh * s.ow;
    let (top, left) = (s.pad.top as isize, s.pad.left as isize);
    for ch in 0..s.c {
        let img = &x[ch * s.h * s.w..(ch + 1) * s.h * s.w];
        for ky in 0..s.k {
            for kx in 0..s.k {
                let row = &mut cols[((ch * s.k + ky) * s.k + kx) * n..][..n];
                for oy in 0..s.oh {
                    let iy = (oy * s.stride + ky) as isize - top;
                    let dst = &mut row[oy * s.ow..(oy + 1) * s.ow];
                    if iy < 0 || iy >= s.h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &img[iy as usize * s.w..(iy as usize + 1) * s.w];
                    // Columns `ox` whose input `ox·stride + kx − left` lies in the row.
                    let st = s.stride as isize;
                    let off = kx as isize - left;
                    let lo = if off < 0 { ((-off + st - 1) / st) as usize } else { 0 }.min(s.ow);
                    let hi = if s.w as isize - off > 0 { ((s.w as isize - off + st - 1) / st) as usize } else { 0 };
                    let hi = hi.min(s.ow).max(lo);
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if hi > lo {
                        let first = (lo as isize * st + off) as usize;
                        for (d, &v) in dst[lo..hi].iter_mut().zip(src[first..].iter().step_by(s.stride)) {
                            *d = v;
                        }
                    }
                }
            }
        }
    }
}

/// A depthwise convolution (`w`: `[c, k, k]`, any `k`, any stride) with bias and activation.
#[inline(always)]
pub fn depthwise(x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]) {
    match (s.k, s.stride) {
        (3, 1) => depthwise3::<1>(x, s, w, bias, a, out),
        (3, 2) => depthwise3::<2>(x, s, w, bias, a, out),
        _ => depthwise_any(x, s, w, bias, a, out),
    }
}

/// 3×3 depthwise, the networks' only kind: per output row, the three input rows (a zero row
/// where the window leaves the image) and nine taps summed in registers; columns whose window
/// leaves the row are summed tap by tap.
#[inline(always)]
fn depthwise3<const S: usize>(x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]) {
    let (h, wi, oh, ow) = (s.h, s.w, s.oh, s.ow);
    let (top, left) = (s.pad.top as isize, s.pad.left as isize);
    let zero = vec![0f32; wi + 2];
    // Output columns whose window `ox·S − left + (0..3)` lies inside the row.
    let lo = (s.pad.left.div_ceil(S)).min(ow);
    let hi = if wi as isize + left >= 3 { (((wi as isize + left - 3) as usize) / S + 1).min(ow).max(lo) } else { lo };
    for ch in 0..s.c {
        let k = &w[ch * 9..(ch + 1) * 9];
        let img = &x[ch * h * wi..(ch + 1) * h * wi];
        let dst = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
        let b = bias[ch];
        for oy in 0..oh {
            let row = |ky: usize| -> &[f32] {
                let iy = (oy * S + ky) as isize - top;
                if iy < 0 || iy >= h as isize { &zero[..wi] } else { &img[iy as usize * wi..(iy as usize + 1) * wi] }
            };
            let (r0, r1, r2) = (row(0), row(1), row(2));
            let drow = &mut dst[oy * ow..(oy + 1) * ow];
            let tap = |ox: usize| -> f32 {
                let mut acc = b;
                for (ky, r) in [r0, r1, r2].into_iter().enumerate() {
                    for kx in 0..3 {
                        let ix = (ox * S + kx) as isize - left;
                        if ix >= 0 && ix < wi as isize {
                            acc += k[ky * 3 + kx] * r[ix as usize];
                        }
                    }
                }
                acc
            };
            for ox in (0..lo).chain(hi..ow) {
                drow[ox] = act(tap(ox), a);
            }
            if hi > lo {
                let base = lo * S - s.pad.left;
                let m = hi - lo;
                let n = (m - 1) * S + 1;
                // Nine taps as nine equally long slices: the loop has no bounds checks left.
                fn tap_row(r: &[f32], from: usize, n: usize) -> &[f32] {
                    &r[from..from + n]
                }
                let t = |r, kx| tap_row(r, base + kx, n);
                let (a0, a1, a2, b0, b1, b2, c0, c1, c2) =
                    (t(r0, 0), t(r0, 1), t(r0, 2), t(r1, 0), t(r1, 1), t(r1, 2), t(r2, 0), t(r2, 1), t(r2, 2));
                let d = &mut drow[lo..hi];
                for (j, dj) in d.iter_mut().enumerate() {
                    let i = j * S;
                    *dj = b
                        + k[0] * a0[i]
                        + k[1] * a1[i]
                        + k[2] * a2[i]
                        + k[3] * b0[i]
                        + k[4] * b1[i]
                        + k[5] * b2[i]
                        + k[6] * c0[i]
                        + k[7] * c1[i]
                        + k[8] * c2[i];
                }
                act_all(d, a);
            }
        }
    }
}

#[inline(always)]
fn depthwise_any(x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]) {
    let (h, wi, oh, ow, st, k) = (s.h, s.w, s.oh, s.ow, s.stride, s.k);
    let (top, left) = (s.pad.top as isize, s.pad.left as isize);
    for ch in 0..s.c {
        let kern = &w[ch * k * k..(ch + 1) * k * k];
        let img = &x[ch * h * wi..(ch + 1) * h * wi];
        let dst = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
        dst.fill(bias[ch]);
        for oy in 0..oh {
            let row = &mut dst[oy * ow..(oy + 1) * ow];
            for ky in 0..k {
                let iy = (oy * st + ky) as isize - top;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let srow = &img[iy as usize * wi..(iy as usize + 1) * wi];
                for kx in 0..k {
                    let kv = kern[ky * k + kx];
                    let off = kx as isize - left;
                    // Output columns whose input column `ox·st + off` lies inside the row.
                    let lo = if off < 0 { ((-off) as usize).div_ceil(st) } else { 0 };
                    let hi = if (wi as isize - off) <= 0 { 0 } else { ((wi as isize - off) as usize).div_ceil(st) };
                    let hi = hi.min(ow).max(lo);
                    if st == 1 {
                        let base = (off + lo as isize) as usize;
                        let srcs = &srow[base..base + (hi - lo)];
                        for (r, &v) in row[lo..hi].iter_mut().zip(srcs) {
                            *r += kv * v;
                        }
                    } else {
                        for (j, r) in row[lo..hi].iter_mut().enumerate() {
                            *r += kv * srow[((lo + j) as isize * st as isize + off) as usize];
                        }
                    }
                }
            }
            row.iter_mut().for_each(|v| *v = act(*v, a));
        }
    }
}

/// PReLU with one slope per channel.
#[inline(always)]
pub fn prelu(x: &[f32], alpha: &[f32], out: &mut [f32]) {
    let plane = x.len() / alpha.len();
    for ((src, dst), &s) in x.chunks_exact(plane).zip(out.chunks_exact_mut(plane)).zip(alpha) {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = if v >= 0.0 { v } else { s * v };
        }
    }
}

/// Element-wise `act(a + b)`.
#[inline(always)]
pub fn add(a: &[f32], b: &[f32], ac: Act, out: &mut [f32]) {
    for ((d, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *d = act(x + y, ac);
    }
}

/// 2×2 max pooling, stride 2, of `[c, h, w]` (even `h`, `w`).
#[inline(always)]
pub fn max_pool2(x: &[f32], c: usize, h: usize, w: usize, out: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    for ch in 0..c {
        let img = &x[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
        for (oy, d) in dst.chunks_exact_mut(ow).enumerate() {
            let (r0, r1) = (&img[2 * oy * w..(2 * oy + 1) * w], &img[(2 * oy + 1) * w..(2 * oy + 2) * w]);
            for ((d, a), b) in d.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                *d = a[0].max(a[1]).max(b[0].max(b[1]));
            }
        }
    }
}

/// Zero padding of `[c, h, w]` by `cp` channels (before, after) and `p` in space.
#[inline(always)]
pub fn pad(x: &[f32], c: usize, h: usize, w: usize, cp: [usize; 2], p: &Pad4, out: &mut [f32]) {
    let (oh, ow) = (h + p.top + p.bottom, w + p.left + p.right);
    out.fill(0.0);
    for ch in 0..c {
        let img = &x[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[(ch + cp[0]) * oh * ow..(ch + cp[0] + 1) * oh * ow];
        for y in 0..h {
            dst[(y + p.top) * ow + p.left..][..w].copy_from_slice(&img[y * w..(y + 1) * w]);
        }
    }
}

/// `[c, h, w]` → TFLite's `[h, w, c]` order.
pub fn to_hwc(x: &[f32], c: usize, hw: usize, out: &mut [f32]) {
    for ch in 0..c {
        for p in 0..hw {
            out[p * c + ch] = x[ch * hw + p];
        }
    }
}

/// Concatenation of row-major arrays of shapes `shapes` along `axis`.
pub fn concat(xs: &[&[f32]], shapes: &[Vec<usize>], axis: usize, out: &mut [f32]) {
    let outer: usize = shapes[0][..axis].iter().product();
    let mut o = 0;
    for i in 0..outer {
        for (x, s) in xs.iter().zip(shapes) {
            let chunk: usize = s[axis..].iter().product();
            out[o..o + chunk].copy_from_slice(&x[i * chunk..(i + 1) * chunk]);
            o += chunk;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct convolution, the definition, for checking `im2col` + `matmul`.
    fn conv_direct(x: &[f32], s: &ConvShape, w: &[f32], o: usize) -> Vec<f32> {
        let mut out = vec![0f32; o * s.oh * s.ow];
        for oc in 0..o {
            for oy in 0..s.oh {
                for ox in 0..s.ow {
                    let mut acc = 0.0;
                    for c in 0..s.c {
                        for ky in 0..s.k {
                            for kx in 0..s.k {
                                let iy = (oy * s.stride + ky) as isize - s.pad.top as isize;
                                let ix = (ox * s.stride + kx) as isize - s.pad.left as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w {
                                    acc += w[((oc * s.c + c) * s.k + ky) * s.k + kx]
                                        * x[(c * s.h + iy as usize) * s.w + ix as usize];
                                }
                            }
                        }
                    }
                    out[(oc * s.oh + oy) * s.ow + ox] = acc;
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn im2col_and_matmul_are_a_convolution() {
        for (k, stride, pad, h, w) in [
            (3, 2, Pad4 { top: 0, bottom: 1, left: 0, right: 1 }, 9, 8),
            (3, 1, Pad4 { top: 1, bottom: 1, left: 1, right: 1 }, 5, 7),
            (1, 1, Pad4::NONE, 4, 4),
            (3, 2, Pad4 { top: 1, bottom: 1, left: 1, right: 1 }, 7, 6),
            (3, 1, Pad4::NONE, 3, 5),
            (5, 2, Pad4 { top: 1, bottom: 2, left: 2, right: 1 }, 8, 9),
        ] {
            let (c, o) = (3, 5);
            let oh = (h + pad.top + pad.bottom - k) / stride + 1;
            let ow = (w + pad.left + pad.right - k) / stride + 1;
            let s = ConvShape { c, h, w, k, stride, pad, oh, ow };
            let x = values(c * h * w, 1);
            let wt = values(o * c * k * k, 7);
            // Dirty buffers: every value must be written.
            let mut cols = vec![f32::NAN; c * k * k * oh * ow];
            im2col(&x, &s, &mut cols);
            let mut out = vec![f32::NAN; o * oh * ow];
            matmul::<false>(&wt, &cols, &mut out, o, c * k * k, oh * ow);
            let mut fused = vec![f32::NAN; o * oh * ow];
            matmul::<true>(&wt, &cols, &mut fused, o, c * k * k, oh * ow);
            let want = conv_direct(&x, &s, &wt, o);
            for ((a, f), b) in out.iter().zip(&fused).zip(&want) {
                assert!((a - b).abs() < 1e-4 && (f - b).abs() < 1e-4, "{a} / {f} vs {b}");
            }
            // Depthwise = the direct convolution of each channel with its own kernel.
            let dw = values(c * k * k, 3);
            let bias = [0.5, -0.25, 0.0];
            let mut got = vec![f32::NAN; c * oh * ow];
            depthwise(&x, &s, &dw, &bias, Act::None, &mut got);
            for ch in 0..c {
                let s1 = ConvShape { c: 1, ..s };
                let want = conv_direct(&x[ch * h * w..(ch + 1) * h * w], &s1, &dw[ch * k * k..(ch + 1) * k * k], 1);
                for (a, b) in got[ch * oh * ow..(ch + 1) * oh * ow].iter().zip(&want) {
                    assert!((a - (b + bias[ch])).abs() < 1e-4, "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn the_epilogue_is_bias_act_residual_act_then_prelu() {
        let plane = 3;
        let mut out = vec![1.0, -2.0, 3.0, -4.0, 5.0, -6.0];
        let residual = vec![0.5; 6];
        let e = Epilogue {
            bias: vec![1.0, -1.0],
            act: Act::None,
            residual: Some((0, Act::None)),
            post: Post::Prelu(vec![0.1, 0.5]),
        };
        epilogue(&mut out, plane, &e, Some(&residual));
        let want = [2.5, -0.05, 4.5, -2.25, 4.5, -3.25];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
        let mut padded = vec![f32::NAN; 6];
        pad(&[1.0, 2.0], 1, 1, 2, [0, 1], &Pad4 { top: 0, bottom: 0, left: 1, right: 0 }, &mut padded);
        assert_eq!(padded, [0.0, 1.0, 2.0, 0.0, 0.0, 0.0]);
        let mut p = [f32::NAN; 2];
        max_pool2(&[1.0, 4.0, 3.0, 2.0, -1.0, -2.0, -3.0, -4.0], 2, 2, 2, &mut p);
        assert_eq!(p, [4.0, -1.0]);
        let mut cat = vec![0f32; 6];
        concat(&[&[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0]], &[vec![1, 2], vec![2, 2]], 0, &mut cat);
        assert_eq!(cat, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
