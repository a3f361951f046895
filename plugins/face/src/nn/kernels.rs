//! The network's CPU kernels on planar `[C, H, W]` `f32` slices, each writing every value of
//! its output (buffers are reused between layers): convolutions as one matrix product each
//! (register-blocked for these short, wide shapes) with bias, residual and activation fused
//! into one pass after it; depthwise convolution; 2×2 max pooling; padding.
//!
//! The heavy kernels come in three copies (`*_on`, see `per_isa!`): compiled for AVX-512,
//! for AVX2 + FMA, and for the target's baseline; [`Isa::detect`] picks one at load.

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
pub fn matmul<const FMA: bool, const WIDE: bool>(w: &[f32], x: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    assert!(w.len() >= m * k && x.len() >= k * n && out.len() >= m * n);
    let mut p = 0;
    if WIDE {
        // 32 registers of 16 lanes: 8 outputs × 32 pixels in 16 accumulators.
        p = tiles::<FMA, 8, 32>(w, x, out, m, k, n, p);
    }
    p = tiles::<FMA, 4, 16>(w, x, out, m, k, n, p);
    p = tiles::<FMA, 4, 8>(w, x, out, m, k, n, p);
    if p < n {
        // The remaining pixels: each column gathered once, then one dot product per output.
        let mut col = vec![0f32; k];
        for p in p..n {
            for (i, c) in col.iter_mut().enumerate() {
                *c = x[i * n + p];
            }
            for o in 0..m {
                out[o * n + p] = dot(&w[o * k..(o + 1) * k], &col);
            }
        }
    }
}

/// Which copy of [`matmul`] to run: compiled for AVX-512 (8 × 32 tiles), AVX2 + FMA, or
/// the target's baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Isa {
    Generic,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// `$on(isa, args…)` runs `$body` compiled for `isa`. Each copy is its own function, not
/// inlined into its caller: inside a whole network's inlined body the compiler spills the
/// kernels' accumulators (measured up to 10× slower there than standalone).
macro_rules! per_isa {
    ($(#[$m:meta])* $on:ident, $generic:ident, $avx2:ident, $avx512:ident,
     ($($a:ident: $t:ty),*), |$fma:ident, $wide:ident| $body:expr) => {
        $(#[$m])*
        #[inline(always)]
        pub fn $on(isa: Isa, $($a: $t),*) {
            match isa {
                Isa::Generic => $generic($($a),*),
                // SAFETY: `Isa::Avx2` is only chosen where the CPU has AVX2 and FMA (see `Isa::detect`).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { $avx2($($a),*) },
                // SAFETY: `Isa::Avx512` is only chosen where the CPU has AVX-512F, AVX2 and FMA.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { $avx512($($a),*) },
            }
        }

        #[inline(never)]
        fn $generic($($a: $t),*) {
            const $fma: bool = false;
            const $wide: bool = false;
            $body
        }

        #[cfg(target_arch = "x86_64")]
        #[inline(never)]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($a: $t),*) {
            const $fma: bool = true;
            const $wide: bool = false;
            $body
        }

        #[cfg(target_arch = "x86_64")]
        #[inline(never)]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn $avx512($($a: $t),*) {
            const $fma: bool = true;
            const $wide: bool = true;
            $body
        }
    };
}

per_isa!(
    /// [`prelu`] for `isa`.
    prelu_on, prelu_generic, prelu_avx2, prelu_avx512,
    (x: &[f32], alpha: &[f32], out: &mut [f32]),
    |_FMA, _WIDE| prelu(x, alpha, out)
);

per_isa!(
    /// [`add`] for `isa`.
    add_on, add_generic, add_avx2, add_avx512,
    (a: &[f32], b: &[f32], ac: Act, out: &mut [f32]),
    |_FMA, _WIDE| add(a, b, ac, out)
);

impl Isa {
    /// The best copy this CPU runs.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Generic
    }

    /// In words, for the UI.
    pub fn words(self) -> &'static str {
        match self {
            #[cfg(target_arch = "wasm32")]
            Isa::Generic => "WebAssembly (portable kernels)",
            #[cfg(not(target_arch = "wasm32"))]
            Isa::Generic => "portable kernels",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "AVX2 + FMA kernels",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "AVX-512 kernels",
        }
    }
}

per_isa!(
    /// [`matmul`] for `isa`.
    matmul_on, matmul_generic, matmul_avx2, matmul_avx512,
    (w: &[f32], x: &[f32], out: &mut [f32], m: usize, k: usize, n: usize),
    |FMA, WIDE| matmul::<FMA, WIDE>(w, x, out, m, k, n)
);

per_isa!(
    /// [`depthwise`] for `isa`.
    depthwise_on, depthwise_generic, depthwise_avx2, depthwise_avx512,
    (x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]),
    |FMA, _WIDE| depthwise::<FMA>(x, s, w, bias, a, out)
);

per_isa!(
    /// [`im2col`] for `isa`.
    im2col_on, im2col_generic, im2col_avx2, im2col_avx512,
    (x: &[f32], s: &ConvShape, cols: &mut [f32]),
    |_FMA, _WIDE| im2col(x, s, cols)
);

per_isa!(
    /// [`epilogue`] for `isa`.
    epilogue_on, epilogue_generic, epilogue_avx2, epilogue_avx512,
    (out: &mut [f32], plane: usize, e: &Epilogue, residual: Option<&[f32]>),
    |_FMA, _WIDE| epilogue(out, plane, e, residual)
);

/// Columns `from..` of the product in `R` outputs × `P` pixels tiles, as far as whole tiles
/// go; returns where they stopped.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tiles<const FMA: bool, const R: usize, const P: usize>(
    w: &[f32],
    x: &[f32],
    out: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    from: usize,
) -> usize {
    let to = from + (n - from) / P * P;
    for p0 in (from..to).step_by(P) {
        let mut o0 = 0;
        while o0 + R <= m {
            let mut acc = [[0f32; P]; R];
            let ws: [&[f32]; R] = std::array::from_fn(|r| &w[(o0 + r) * k..][..k]);
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
            o0 += R;
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
    to
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
                        let d = &mut dst[lo..hi];
                        match s.stride {
                            1 => d.copy_from_slice(&src[first..first + d.len()]),
                            // Pairs: a loop the compiler turns into shuffles.
                            2 => {
                                let last = d.len() - 1;
                                for (dv, p) in d[..last].iter_mut().zip(src[first..].chunks_exact(2)) {
                                    *dv = p[0];
                                }
                                d[last] = src[first + 2 * last];
                            }
                            st => {
                                for (dv, &v) in d.iter_mut().zip(src[first..].iter().step_by(st)) {
                                    *dv = v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A depthwise convolution (`w`: `[c, k, k]`, any `k`, any stride) with bias and activation.
#[inline(always)]
pub fn depthwise<const FMA: bool>(x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]) {
    match (s.k, s.stride) {
        (3, 1) => depthwise3s1::<FMA>(x, s, w, bias, a, out),
        (3, 2) if s.pad.top == 0 && s.pad.left == 0 && 2 * s.ow + 1 >= s.w && 2 * s.oh + 1 >= s.h => {
            depthwise3s2::<FMA>(x, s, w, bias, a, out)
        }
        _ => depthwise_any(x, s, w, bias, a, out),
    }
}

/// 3×3 depthwise at stride 1 over each channel's zero-padded plane as one flat array: output
/// `p` of the padded width is `Σ k · plane[p + ky·pw + kx]` (32 outputs summed in registers
/// over the nine taps); the two columns per row that wrap around are computed and dropped.
#[inline(always)]
fn depthwise3s1<const FMA: bool>(x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]) {
    let (h, wi, oh, ow) = (s.h, s.w, s.oh, s.ow);
    let (pw, ph) = (wi + s.pad.left + s.pad.right, h + s.pad.top + s.pad.bottom);
    debug_assert!(pw == ow + 2 && ph == oh + 2);
    let mut plane = vec![0f32; ph * pw];
    let span = (oh - 1) * pw + ow;
    let mut ext = vec![0f32; span];
    const P: usize = 32;
    let full = span / P * P;
    let offs: [usize; 9] = std::array::from_fn(|t| t / 3 * pw + t % 3);
    for ch in 0..s.c {
        let img = &x[ch * h * wi..(ch + 1) * h * wi];
        for (y, src) in img.chunks_exact(wi).enumerate() {
            let at = (y + s.pad.top) * pw + s.pad.left;
            plane[at..at + wi].copy_from_slice(src);
        }
        let k: [f32; 9] = w[ch * 9..(ch + 1) * 9].try_into().expect("nine taps");
        let b = bias[ch];
        for (p0, e) in (0..full).step_by(P).zip(ext.chunks_exact_mut(P)) {
            let mut acc = [b; P];
            for (&off, &kv) in offs.iter().zip(&k) {
                let src: &[f32; P] = plane[p0 + off..][..P].try_into().expect("P values");
                for (av, &v) in acc.iter_mut().zip(src) {
                    *av = madd::<FMA>(*av, kv, v);
                }
            }
            e.copy_from_slice(&acc);
        }
        for (p, e) in ext.iter_mut().enumerate().skip(full) {
            *e = offs.iter().zip(&k).fold(b, |acc, (&off, &kv)| madd::<FMA>(acc, kv, plane[p + off]));
        }
        let dst = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
        for (oy, drow) in dst.chunks_exact_mut(ow).enumerate() {
            drow.copy_from_slice(&ext[oy * pw..oy * pw + ow]);
        }
        act_all(dst, a);
    }
}

/// 3×3 depthwise at stride 2 with TFLite's "same" padding of even sizes (none before, one
/// after): each input row split once into its even and odd columns, so that the taps
/// `2·ox + (0, 1, 2)` are the contiguous `even[ox]`, `odd[ox]`, `even[ox + 1]`.
#[inline(always)]
fn depthwise3s2<const FMA: bool>(x: &[f32], s: &ConvShape, w: &[f32], bias: &[f32], a: Act, out: &mut [f32]) {
    let (h, wi, oh, ow) = (s.h, s.w, s.oh, s.ow);
    debug_assert!(s.pad.top == 0 && s.pad.left == 0 && 2 * ow + 1 >= wi && 2 * oh + 1 >= h);
    let (we, wo) = (ow + 1, ow);
    let rows = 2 * oh + 1;
    // Row y's even columns at `even[y·we..]`, odd at `odd[y·wo..]`; zero beyond the input.
    let mut even = vec![0f32; rows * we];
    let mut odd = vec![0f32; rows * wo];
    for ch in 0..s.c {
        let img = &x[ch * h * wi..(ch + 1) * h * wi];
        for y in 0..rows.min(h) {
            let src = &img[y * wi..(y + 1) * wi];
            let (e, o) = (&mut even[y * we..(y + 1) * we], &mut odd[y * wo..(y + 1) * wo]);
            for ((ev, ov), pair) in e.iter_mut().zip(o.iter_mut()).zip(src.chunks_exact(2)) {
                *ev = pair[0];
                *ov = pair[1];
            }
            if wi % 2 == 1 {
                e[wi / 2] = src[wi - 1];
            }
        }
        let k = &w[ch * 9..(ch + 1) * 9];
        let dst = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
        for (oy, d) in dst.chunks_exact_mut(ow).enumerate() {
            d.fill(bias[ch]);
            for ky in 0..3 {
                let y = 2 * oy + ky;
                let (e, o) = (&even[y * we..(y + 1) * we], &odd[y * wo..(y + 1) * wo]);
                let (k0, k1, k2) = (k[ky * 3], k[ky * 3 + 1], k[ky * 3 + 2]);
                for (((dv, &e0), &o0), &e1) in d.iter_mut().zip(&e[..ow]).zip(o).zip(&e[1..]) {
                    *dv = madd::<FMA>(madd::<FMA>(madd::<FMA>(*dv, k0, e0), k1, o0), k2, e1);
                }
            }
            act_all(d, a);
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
            // Long enough for the vector loops of the 3×3 depthwise paths.
            (3, 1, Pad4 { top: 1, bottom: 1, left: 1, right: 1 }, 12, 11),
            (3, 2, Pad4 { top: 0, bottom: 1, left: 0, right: 1 }, 16, 14),
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
            matmul::<false, false>(&wt, &cols, &mut out, o, c * k * k, oh * ow);
            let mut fused = vec![f32::NAN; o * oh * ow];
            matmul::<true, true>(&wt, &cols, &mut fused, o, c * k * k, oh * ow);
            let want = conv_direct(&x, &s, &wt, o);
            for ((a, f), b) in out.iter().zip(&fused).zip(&want) {
                assert!((a - b).abs() < 1e-4 && (f - b).abs() < 1e-4, "{a} / {f} vs {b}");
            }
            // Depthwise = the direct convolution of each channel with its own kernel.
            let dw = values(c * k * k, 3);
            let bias = [0.5, -0.25, 0.0];
            let mut got = vec![f32::NAN; c * oh * ow];
            depthwise::<false>(&x, &s, &dw, &bias, Act::None, &mut got);
            let mut got_here = vec![f32::NAN; c * oh * ow];
            depthwise_on(Isa::detect(), &x, &s, &dw, &bias, Act::None, &mut got_here);
            for (a, b) in got.iter().zip(&got_here) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b} ({:?})", Isa::detect());
            }
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
    fn every_tiling_of_the_product_is_the_product() {
        // Sizes that leave remainders at every tile: 8×32 and 4×16 and 4×8 tiles, single rows,
        // and dot-product columns.
        for (m, k, n) in [(13, 19, 32 + 16 + 8 + 3), (9, 5, 100), (3, 7, 7), (17, 1, 64), (1, 288, 9)] {
            let (w, x) = (values(m * k, 11), values(k * n, 5));
            let want: Vec<f32> =
                (0..m * n).map(|j| (0..k).map(|i| w[j / n * k + i] * x[i * n + j % n]).sum()).collect();
            // The wide tiles in baseline code, and the copy this CPU runs.
            for variant in 0..3 {
                let mut got = vec![f32::NAN; m * n];
                match variant {
                    0 => matmul::<false, true>(&w, &x, &mut got, m, k, n),
                    1 => matmul_on(Isa::Generic, &w, &x, &mut got, m, k, n),
                    _ => matmul_on(Isa::detect(), &w, &x, &mut got, m, k, n),
                }
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "{m}×{k}×{n} variant {variant}: {a} vs {b}");
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
