//! Patch experts: linear SVMs correlated over each point's search window, turned into a
//! probability map.
//!
//! For point i, a `(search + size − 1)²` grey patch (21×21 for clmtrackr's 11×11 experts and
//! search window 11) is optionally pre-filtered (Sobel magnitude or LBP codes), min–max
//! normalised, correlated with the expert's weights (→ `search²` responses), passed through a
//! logistic and min–max normalised again. clmtrackr has two variants that differ in the
//! normalisation window and the logistic's offset; both are here ([`Normalize`], [`Logistic`]).

use crate::model::{ClmModel, PatchSet};

/// Which of the model's experts (and pre-filter) to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PatchKind {
    #[default]
    Raw,
    Sobel,
    Lbp,
}

/// Min–max normalisation of the grey values before correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Normalize {
    /// Over the whole search patch (clmtrackr's CPU/FFT path, taken without WebGL).
    Patch,
    /// Over each expert-sized window separately (clmtrackr's WebGL path, what it runs in a
    /// browser).
    #[default]
    Window,
}

/// The logistic applied to the raw correlation `r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Logistic {
    /// `1 / (1 + e^−(r − 1))`, bias ignored (clmtrackr's CPU/FFT path).
    Shifted,
    /// `1 / (1 + e^−(r + bias))` with the expert's bias (clmtrackr's WebGL path).
    #[default]
    Bias,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ResponseConfig {
    pub kind: PatchKind,
    pub normalize: Normalize,
    pub logistic: Logistic,
}

impl ResponseConfig {
    /// The settings clmtrackr uses in a browser with WebGL (its examples' usage), for every kind
    /// of expert: window normalisation and the expert's bias. (Without WebGL it computes raw
    /// responses by FFT with patch normalisation and the shifted logistic,
    /// [`Self::clmtrackr_fft`]; on the issue-16 portraits that path fitted 0.078 against 0.067
    /// for this one, truth enlarged MediaPipe points.)
    pub fn for_kind(kind: PatchKind) -> Self {
        ResponseConfig { kind, normalize: Normalize::Window, logistic: Logistic::Bias }
    }

    /// clmtrackr's CPU (FFT) path for raw experts, taken where WebGL is missing.
    pub fn clmtrackr_fft() -> Self {
        ResponseConfig { kind: PatchKind::Raw, normalize: Normalize::Patch, logistic: Logistic::Shifted }
    }
}

/// The experts of one kind, laid out for fast correlation.
#[derive(Clone, Debug)]
pub struct PatchExperts {
    pub n: usize,
    pub size: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl PatchExperts {
    /// `None` if the model lacks that kind of expert.
    pub fn new(model: &ClmModel, kind: PatchKind) -> Option<Self> {
        let set: &PatchSet = match kind {
            PatchKind::Raw => &model.raw,
            PatchKind::Sobel => model.sobel.as_ref()?,
            PatchKind::Lbp => model.lbp.as_ref()?,
        };
        Some(PatchExperts {
            n: set.weights.len(),
            size: model.patch_size,
            weights: set.weights.iter().flatten().copied().collect(),
            bias: set.bias.clone(),
        })
    }

    /// Response map of expert `i` over `patch` (`pw × pw`, pw = search + size − 1) into `out`
    /// (`search²`, row-major). `scratch` must hold `pw²` values.
    pub fn response(
        &self,
        i: usize,
        patch: &[f32],
        search: usize,
        cfg: ResponseConfig,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            unsafe { self.response_avx2_fma(i, patch, search, cfg, scratch, out) };
            return;
        }
        self.response_with::<false>(i, patch, search, cfg, scratch, out)
    }

    /// The same code compiled for AVX2 + FMA (8-wide fused multiply-adds), chosen at run time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn response_avx2_fma(
        &self,
        i: usize,
        patch: &[f32],
        search: usize,
        cfg: ResponseConfig,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        self.response_with::<true>(i, patch, search, cfg, scratch, out)
    }

    #[inline(always)]
    fn response_with<const FMA: bool>(
        &self,
        i: usize,
        patch: &[f32],
        search: usize,
        cfg: ResponseConfig,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let size = self.size;
        let pw = search + size - 1;
        let src = &mut scratch[..pw * pw];
        prefilter(patch, pw, cfg.kind, src);
        if cfg.normalize == Normalize::Patch {
            minmax_normalize(src);
        }
        let w = &self.weights[i * size * size..(i + 1) * size * size];
        let wsum: f32 = w.iter().sum();
        // Correlation with one accumulator per output column, rows padded to 16 outputs so the
        // innermost loop is a fixed-width multiply-add that vectorises without a remainder.
        const LANES: usize = 16;
        const STRIDE: usize = 48;
        let mut padded = [0.0f32; STRIDE * 64];
        let simd = search <= LANES && pw + LANES <= STRIDE && pw <= 64;
        if simd {
            for (r, row) in src.chunks_exact(pw).enumerate() {
                padded[r * STRIDE..r * STRIDE + pw].copy_from_slice(row);
            }
        }
        // Window normalisation: each window's min and max, separably (along rows, then down the
        // columns), instead of size² reads per output.
        let window = cfg.normalize == Normalize::Window;
        let (mut row_lo, mut row_hi) = (Vec::new(), Vec::new());
        if window {
            row_lo.resize(pw * search, 0.0f32);
            row_hi.resize(pw * search, 0.0f32);
            for r in 0..pw {
                let row = &src[r * pw..(r + 1) * pw];
                for x in 0..search {
                    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
                    for &v in &row[x..x + size] {
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                    row_lo[r * search + x] = lo;
                    row_hi[r * search + x] = hi;
                }
            }
        }
        let mut acc = [0.0f32; 64];
        for y in 0..search {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (ky, wrow) in w.chunks_exact(size).enumerate() {
                if simd {
                    let row = &padded[(y + ky) * STRIDE..(y + ky + 1) * STRIDE];
                    let lanes: &mut [f32; LANES] = (&mut acc[..LANES]).try_into().expect("16 lanes");
                    for (kx, &wv) in wrow.iter().enumerate() {
                        let shifted: &[f32; LANES] = row[kx..kx + LANES].try_into().expect("16 lanes");
                        for l in 0..LANES {
                            lanes[l] = if FMA { shifted[l].mul_add(wv, lanes[l]) } else { lanes[l] + shifted[l] * wv };
                        }
                    }
                } else {
                    let row = &src[(y + ky) * pw..(y + ky + 1) * pw];
                    for (kx, &wv) in wrow.iter().enumerate() {
                        for (a, &v) in acc[..search].iter_mut().zip(&row[kx..kx + search]) {
                            *a += v * wv;
                        }
                    }
                }
            }
            let acc = &acc[..search];
            for (x, &raw) in acc.iter().enumerate() {
                let mut r = raw;
                if window {
                    // (Σ w·(v − min)) / (max − min) over this window.
                    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
                    for ky in 0..size {
                        lo = lo.min(row_lo[(y + ky) * search + x]);
                        hi = hi.max(row_hi[(y + ky) * search + x]);
                    }
                    let range = hi - lo;
                    r = if range > 0.0 { (r - lo * wsum) / range } else { 0.0 };
                }
                let z = match cfg.logistic {
                    Logistic::Shifted => r - 1.0,
                    Logistic::Bias => r + self.bias[i],
                };
                out[y * search + x] = z;
            }
        }
        // The logistic over the whole map in one vectorisable loop.
        for o in &mut out[..search * search] {
            *o = 1.0 / (1.0 + fast_exp(-*o));
        }
        minmax_normalize(&mut out[..search * search]);
    }
}

/// `eˣ` with relative error < 5e-6 for finite `x` (from rounding `x·log₂e` in f32 at large |x|), branch-free so that loops over
/// it vectorise: `2ⁿ · 2ᶠ` with `n = round(x·log₂e)` and a degree-6 polynomial for `2ᶠ`,
/// `|f| ≤ ½`. Clamped to ±87 (beyond that `eˣ` leaves the normal f32 range).
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    let t = x.clamp(-87.0, 87.0) * std::f32::consts::LOG2_E;
    let n = t.round_ties_even();
    let f = t - n;
    // Taylor coefficients of 2^f = e^(f ln 2): (ln 2)^k / k!.
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11 + f * (0.009_618_129 + f * (0.001_333_355_8 + f * 0.000_154_035_3)))));
    // 2ⁿ by building the exponent bits (n ∈ [−126, 126] after the clamp).
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// Sobel magnitude or LBP codes with clamp-to-edge, or a plain copy for raw patches.
fn prefilter(patch: &[f32], pw: usize, kind: PatchKind, out: &mut [f32]) {
    let at = |x: isize, y: isize| {
        let cx = x.clamp(0, pw as isize - 1) as usize;
        let cy = y.clamp(0, pw as isize - 1) as usize;
        patch[cy * pw + cx]
    };
    match kind {
        PatchKind::Raw => out.copy_from_slice(&patch[..pw * pw]),
        PatchKind::Sobel => {
            for y in 0..pw as isize {
                for x in 0..pw as isize {
                    let dx = (at(x - 1, y + 1) + 2.0 * at(x - 1, y) + at(x - 1, y - 1)
                        - at(x + 1, y + 1)
                        - 2.0 * at(x + 1, y)
                        - at(x + 1, y - 1))
                        / 4.0;
                    let dy = (at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1)
                        - at(x - 1, y - 1)
                        - 2.0 * at(x, y - 1)
                        - at(x + 1, y - 1))
                        / 4.0;
                    out[y as usize * pw + x as usize] = (dx * dx + dy * dy).sqrt();
                }
            }
        }
        PatchKind::Lbp => {
            for y in 0..pw as isize {
                for x in 0..pw as isize {
                    let c = at(x, y);
                    let bit = |v: f32, w: f32| if v >= c { w } else { 0.0 };
                    out[y as usize * pw + x as usize] = bit(at(x + 1, y), 1.0)
                        + bit(at(x + 1, y - 1), 2.0)
                        + bit(at(x, y - 1), 4.0)
                        + bit(at(x - 1, y - 1), 8.0)
                        + bit(at(x - 1, y), 16.0)
                        + bit(at(x - 1, y + 1), 32.0)
                        + bit(at(x, y + 1), 64.0)
                        + bit(at(x + 1, y + 1), 128.0);
                }
            }
        }
    }
}

/// Rescales to [0, 1]; a constant input is left as it is.
pub fn minmax_normalize(v: &mut [f32]) {
    let (lo, hi) = v.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let range = hi - lo;
    if range > 0.0 {
        let inv = 1.0 / range;
        v.iter_mut().for_each(|x| *x = (*x - lo) * inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, written as plainly as possible.
    fn naive(weights: &[f32], bias: f32, size: usize, patch: &[f32], search: usize, cfg: ResponseConfig) -> Vec<f32> {
        let pw = search + size - 1;
        let mut src = vec![0.0; pw * pw];
        prefilter(patch, pw, cfg.kind, &mut src);
        let (lo, hi) = (src.iter().cloned().fold(f32::MAX, f32::min), src.iter().cloned().fold(f32::MIN, f32::max));
        let mut out = vec![0.0; search * search];
        for y in 0..search {
            for x in 0..search {
                let mut wlo = f32::MAX;
                let mut whi = f32::MIN;
                for ky in 0..size {
                    for kx in 0..size {
                        wlo = wlo.min(src[(y + ky) * pw + x + kx]);
                        whi = whi.max(src[(y + ky) * pw + x + kx]);
                    }
                }
                let (a, b) = match cfg.normalize {
                    Normalize::Patch => (lo, hi),
                    Normalize::Window => (wlo, whi),
                };
                let mut r = 0.0;
                for ky in 0..size {
                    for kx in 0..size {
                        r += weights[ky * size + kx] * (src[(y + ky) * pw + x + kx] - a) / (b - a);
                    }
                }
                let z = if cfg.logistic == Logistic::Shifted { r - 1.0 } else { r + bias };
                out[y * search + x] = 1.0 / (1.0 + (-z).exp());
            }
        }
        let (lo, hi) = (out.iter().cloned().fold(f32::MAX, f32::min), out.iter().cloned().fold(f32::MIN, f32::max));
        out.iter().map(|v| (v - lo) / (hi - lo)).collect()
    }

    #[test]
    fn responses_equal_the_naive_definition() {
        let (size, search) = (11, 11);
        let pw = search + size - 1;
        // Deterministic pseudo-random weights and patch.
        let mut state = 12345u32;
        let mut rnd = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        let weights: Vec<f32> = (0..2 * size * size).map(|_| rnd() - 0.5).collect();
        let patch: Vec<f32> = (0..pw * pw).map(|_| rnd() * 255.0).collect();
        let experts = PatchExperts { n: 2, size, weights: weights.clone(), bias: vec![0.3, -0.7] };
        let mut scratch = vec![0.0; pw * pw];
        let mut out = vec![0.0; search * search];
        for kind in [PatchKind::Raw, PatchKind::Sobel, PatchKind::Lbp] {
            for normalize in [Normalize::Patch, Normalize::Window] {
                for logistic in [Logistic::Shifted, Logistic::Bias] {
                    let cfg = ResponseConfig { kind, normalize, logistic };
                    experts.response(1, &patch, search, cfg, &mut scratch, &mut out);
                    let want = naive(&weights[size * size..], -0.7, size, &patch, search, cfg);
                    for (a, b) in out.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-4, "{cfg:?}: {a} vs {b}");
                    }
                    assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
                }
            }
        }
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x <= 87.0 {
            let (a, b) = (fast_exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-6, "worst relative error {worst}");
        assert!(fast_exp(-1000.0) > 0.0 && fast_exp(-1000.0) < 1e-37);
        assert!(fast_exp(1000.0).is_finite() && fast_exp(1000.0) > 1e37);
    }

    #[test]
    fn lbp_and_sobel_basics() {
        // A vertical step edge: Sobel is strongest on the edge; LBP of a flat area is 255.
        let pw = 5;
        let patch: Vec<f32> = (0..pw * pw).map(|i| if i % pw >= 2 { 100.0 } else { 0.0 }).collect();
        let mut out = vec![0.0; pw * pw];
        prefilter(&patch, pw, PatchKind::Sobel, &mut out);
        assert!(out[2 * pw + 1] > 0.0 && out[2 * pw + 4] == 0.0);
        prefilter(&[7.0; 25], pw, PatchKind::Lbp, &mut out);
        assert!(out.iter().all(|&v| v == 255.0));
    }
}
