//! Poisson blending: paste a source's gradients into a target so the seam disappears (Pérez,
//! Gangnet & Blake 2003). Solved for the correction `h = f − g` (result minus source), which is
//! harmonic inside the mask and equals `target − source` outside it.
//!
//! - [`Problem`]: one crop (source, target, mask), its border kept outside the mask.
//! - [`initial_guess`] (CPU): a cascade from coarse to fine — the problem halved until tiny,
//!   solved there, each finer level started from the coarser one and smoothed — so the final
//!   iterations only have to remove fine detail. Without it red–black SOR would need thousands of
//!   sweeps on a 200-pixel face.
//! - [`sor`] (CPU reference) and [`GpuPoisson`] (the kernel, `shaders/poisson.wgsl`): red–black
//!   successive over-relaxation sweeps on the finest level, then [`compose`] into RGBA8.
//! - [`residual`], [`seam_error`]: how well it is solved, and how well the source's gradients
//!   survive across the seam.

use crate::context::{Gpu, GpuError, storage_buffer};
use crate::kernel::{Binding, Kernel};

pub const WGSL: &str = include_str!("shaders/poisson.wgsl");
pub const BINDINGS: [Binding; 5] = [
    Binding::Uniform,
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: true },
    Binding::Storage { read_only: false },
    Binding::Storage { read_only: false },
];
/// Over-relaxation factor for the sweeps (1 is Gauss–Seidel).
pub const OMEGA: f32 = 1.9;
/// Sweeps on each level below the finest in [`initial_guess`].
pub const LEVEL_SWEEPS: usize = 40;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoissonError {
    #[error("poisson: a {0}×{1} crop is too small (at least 3×3)")]
    TooSmall(usize, usize),
    #[error("poisson: buffers do not match a {0}×{1} crop")]
    Size(usize, usize),
}

/// One blend: all arrays are `width × height`, row-major; colours 0…255.
#[derive(Clone, Debug)]
pub struct Problem {
    pub width: usize,
    pub height: usize,
    /// 1 where the result is solved for; always 0 on the crop's border.
    pub mask: Vec<u32>,
    pub source: Vec<[f32; 4]>,
    pub target: Vec<[f32; 4]>,
}

impl Problem {
    /// From RGBA8 source and target crops and a 0/1 mask; the border is taken out of the mask.
    pub fn new(
        width: usize,
        height: usize,
        source: &[u8],
        target: &[u8],
        mask: &[u8],
    ) -> Result<Problem, PoissonError> {
        if width < 3 || height < 3 {
            return Err(PoissonError::TooSmall(width, height));
        }
        let n = width * height;
        if source.len() != n * 4 || target.len() != n * 4 || mask.len() != n {
            return Err(PoissonError::Size(width, height));
        }
        let px = |b: &[u8], i: usize| [f32::from(b[i * 4]), f32::from(b[i * 4 + 1]), f32::from(b[i * 4 + 2]), 0.0];
        let mask = (0..n)
            .map(|i| {
                let (x, y) = (i % width, i / width);
                let border = x == 0 || y == 0 || x == width - 1 || y == height - 1;
                u32::from(mask[i] != 0 && !border)
            })
            .collect();
        Ok(Problem {
            width,
            height,
            mask,
            source: (0..n).map(|i| px(source, i)).collect(),
            target: (0..n).map(|i| px(target, i)).collect(),
        })
    }

    pub fn unknowns(&self) -> usize {
        self.mask.iter().filter(|&&m| m != 0).count()
    }

    /// The fixed values of the correction (target − source), zero where unknown.
    fn boundary(&self) -> Vec<[f32; 4]> {
        self.source
            .iter()
            .zip(&self.target)
            .zip(&self.mask)
            .map(|((g, t), &m)| if m == 0 { std::array::from_fn(|c| t[c] - g[c]) } else { [0.0; 4] })
            .collect()
    }
}

fn add4(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
    std::array::from_fn(|c| a[c] + b[c])
}

/// Red–black SOR sweeps of `h` (one sweep: all pixels with even `x + y`, then all odd), in the
/// kernel's order and arithmetic.
pub fn sor(width: usize, mask: &[u32], h: &mut [[f32; 4]], sweeps: usize, omega: f32) {
    for _ in 0..sweeps {
        for parity in 0..2 {
            for y in 1..height_of(mask, width).saturating_sub(1) {
                let start = 1 + (y + parity + 1) % 2;
                for x in (start..width - 1).step_by(2) {
                    let i = y * width + x;
                    if mask[i] == 0 {
                        continue;
                    }
                    let s = add4(add4(h[i - 1], h[i + 1]), add4(h[i - width], h[i + width]));
                    let old = h[i];
                    h[i] = std::array::from_fn(|c| old[c] + omega * (s[c] * 0.25 - old[c]));
                }
            }
        }
    }
}

fn height_of(mask: &[u32], width: usize) -> usize {
    mask.len() / width.max(1)
}

/// The starting correction for the finest sweeps: fixed values outside the mask, inside the
/// solution of the problem at half the size (recursively), refined there by [`LEVEL_SWEEPS`].
pub fn initial_guess(p: &Problem) -> Vec<[f32; 4]> {
    cascade(p.width, p.height, &p.mask, p.boundary(), false)
}

fn cascade(w: usize, h: usize, mask: &[u32], fixed: Vec<[f32; 4]>, smooth: bool) -> Vec<[f32; 4]> {
    let mut out = fixed;
    if !mask.iter().any(|&m| m != 0) {
        return out;
    }
    if w <= 6 || h <= 6 {
        // Tiny: the mean of what is known, then sweeps enough to converge.
        let known: Vec<&[f32; 4]> = out.iter().zip(mask).filter(|(_, m)| **m == 0).map(|(v, _)| v).collect();
        let mean: [f32; 4] =
            std::array::from_fn(|c| known.iter().map(|v| v[c]).sum::<f32>() / known.len().max(1) as f32);
        for (v, &m) in out.iter_mut().zip(mask) {
            if m != 0 {
                *v = mean;
            }
        }
        sor(w, mask, &mut out, 100, OMEGA);
        return out;
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut cmask = vec![0u32; cw * ch];
    let mut cfixed = vec![[0.0f32; 4]; cw * ch];
    for cy in 0..ch {
        for cx in 0..cw {
            let mut sum = [0.0f32; 4];
            let mut known = 0;
            for (x, y) in [(2 * cx, 2 * cy), (2 * cx + 1, 2 * cy), (2 * cx, 2 * cy + 1), (2 * cx + 1, 2 * cy + 1)] {
                if x < w && y < h && mask[y * w + x] == 0 {
                    sum = add4(sum, out[y * w + x]);
                    known += 1;
                }
            }
            let border = cx == 0 || cy == 0 || cx == cw - 1 || cy == ch - 1;
            let i = cy * cw + cx;
            if known > 0 {
                cfixed[i] = sum.map(|s| s / known as f32);
            } else if !border {
                cmask[i] = 1;
            }
        }
    }
    let coarse = cascade(cw, ch, &cmask, cfixed, true);
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] != 0 {
                out[y * w + x] = coarse[(y / 2) * cw + x / 2];
            }
        }
    }
    if smooth {
        sor(w, mask, &mut out, LEVEL_SWEEPS, OMEGA);
    }
    out
}

/// RGBA8 of `source + h` inside the mask (alpha 255), transparent black outside.
pub fn compose(p: &Problem, h: &[[f32; 4]]) -> Vec<u8> {
    let mut out = vec![0u8; p.width * p.height * 4];
    for i in 0..p.width * p.height {
        if p.mask[i] == 0 {
            continue;
        }
        for c in 0..3 {
            out[i * 4 + c] = (p.source[i][c] + h[i][c]).clamp(0.0, 255.0).round() as u8;
        }
        out[i * 4 + 3] = 255;
    }
    out
}

/// The largest `|Δh|` over the unknowns (0 when solved), per grey level.
#[allow(clippy::needless_range_loop)] // channels of neighbouring pixels: indices read best
pub fn residual(p: &Problem, h: &[[f32; 4]]) -> f32 {
    let w = p.width;
    let mut worst = 0.0f32;
    for i in (0..p.mask.len()).filter(|&i| p.mask[i] != 0) {
        for c in 0..3 {
            let lap = h[i - 1][c] + h[i + 1][c] + h[i - w][c] + h[i + w][c] - 4.0 * h[i][c];
            worst = worst.max(lap.abs());
        }
    }
    worst
}

/// RMS over neighbour pairs across the seam (one pixel inside, one outside) of the difference
/// between the result's step and the source's step there, grey levels: what the seam costs the
/// pasted face's gradients. For a plain paste it is the target − source mismatch at the seam.
#[allow(clippy::needless_range_loop)]
pub fn seam_error(p: &Problem, result: &[[f32; 4]]) -> f32 {
    let w = p.width;
    let (mut sum, mut count) = (0.0f64, 0usize);
    for i in (0..p.mask.len()).filter(|&i| p.mask[i] != 0) {
        for j in [i - 1, i + 1, i - w, i + w] {
            if p.mask[j] != 0 {
                continue;
            }
            for c in 0..3 {
                let d = (result[i][c] - p.target[j][c]) - (p.source[i][c] - p.source[j][c]);
                sum += f64::from(d * d);
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { (sum / count as f64).sqrt() as f32 }
}

/// The result's colours (`source + h` inside the mask, the target outside), for the measures.
pub fn result(p: &Problem, h: &[[f32; 4]]) -> Vec<[f32; 4]> {
    (0..p.mask.len()).map(|i| if p.mask[i] != 0 { add4(p.source[i], h[i]) } else { p.target[i] }).collect()
}

/// The whole CPU blend: cascade, `sweeps` finest sweeps, compose.
pub fn blend_cpu(p: &Problem, sweeps: usize) -> (Vec<[f32; 4]>, Vec<u8>) {
    let mut h = initial_guess(p);
    sor(p.width, &p.mask, &mut h, sweeps, OMEGA);
    let rgba = compose(p, &h);
    (h, rgba)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    omega: f32,
    _pad: u32,
}

pub fn kernel(device: &wgpu::Device) -> Kernel {
    Kernel::new(device, "poisson", WGSL, &BINDINGS, &["red", "black", "compose"])
}

/// The kernel's buffers for one crop size, reused while the size holds.
pub struct GpuPoisson {
    size: (usize, usize),
    uniform: wgpu::Buffer,
    mask: wgpu::Buffer,
    source: wgpu::Buffer,
    h: wgpu::Buffer,
    out: wgpu::Buffer,
    group: wgpu::BindGroup,
}

impl GpuPoisson {
    pub fn new(device: &wgpu::Device, kernel: &Kernel, width: usize, height: usize) -> GpuPoisson {
        let n = width * height;
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("poisson params"),
            size: size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mask = storage_buffer(device, "poisson mask", &vec![0u8; n * 4]);
        let source = storage_buffer(device, "poisson source", &vec![0u8; n * 16]);
        let h = storage_buffer(device, "poisson h", &vec![0u8; n * 16]);
        let out = storage_buffer(device, "poisson out", &vec![0u8; n * 4]);
        let group = kernel.bind_group(device, &[&uniform, &mask, &source, &h, &out]);
        GpuPoisson { size: (width, height), uniform, mask, source, h, out, group }
    }

    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// The RGBA8 result (`width × height × 4` bytes, rows packed), for copying into a texture.
    pub fn output(&self) -> &wgpu::Buffer {
        &self.out
    }

    /// Uploads `p` and the starting `h`, and records `sweeps` red–black sweeps and the compose
    /// into `enc` (nothing waits).
    pub fn encode(
        &self,
        kernel: &Kernel,
        queue: &wgpu::Queue,
        enc: &mut wgpu::CommandEncoder,
        p: &Problem,
        h0: &[[f32; 4]],
        sweeps: usize,
    ) -> Result<(), PoissonError> {
        let (w, h) = self.size;
        if p.width != w || p.height != h || h0.len() != w * h {
            return Err(PoissonError::Size(w, h));
        }
        let params = Params { width: w as u32, height: h as u32, omega: OMEGA, _pad: 0 };
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
        queue.write_buffer(&self.mask, 0, bytemuck::cast_slice(&p.mask));
        queue.write_buffer(&self.source, 0, bytemuck::cast_slice(&p.source));
        queue.write_buffer(&self.h, 0, bytemuck::cast_slice(h0));
        let groups = [(w as u32).div_ceil(16), (h as u32).div_ceil(16), 1];
        let mut pass =
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("poisson"), timestamp_writes: None });
        for _ in 0..sweeps {
            kernel.dispatch(&mut pass, "red", &self.group, groups);
            kernel.dispatch(&mut pass, "black", &self.group, groups);
        }
        kernel.dispatch(&mut pass, "compose", &self.group, groups);
        Ok(())
    }

    /// Blocking: runs the sweeps and reads back `h` and the RGBA8 result (tests, benchmarks).
    pub fn run(
        &self,
        gpu: &Gpu,
        kernel: &Kernel,
        p: &Problem,
        h0: &[[f32; 4]],
        sweeps: usize,
    ) -> Result<(Vec<[f32; 4]>, Vec<u8>), GpuError> {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        self.encode(kernel, &gpu.queue, &mut enc, p, h0, sweeps).map_err(|e| GpuError::Unsupported(e.to_string()))?;
        gpu.queue.submit([enc.finish()]);
        let n = p.width * p.height;
        let h: Vec<[f32; 4]> = bytemuck::cast_slice(&gpu.read(&self.h, (n * 16) as u64)?).to_vec();
        let rgba = gpu.read(&self.out, (n * 4) as u64)?;
        Ok((h, rgba))
    }
}

/// For tests and benchmarks: a busy source, and a target equal to source + a harmonic `h*` (x² − y² and a slope, whose
/// discrete Laplacian is exactly 0): the blend's exact answer is `source + h*` inside.
pub fn synthetic_case(w: usize, h: usize) -> (Problem, Vec<[f32; 4]>) {
    let mut src = vec![0u8; w * h * 4];
    let mut tgt = vec![0u8; w * h * 4];
    let mut exact = vec![[0.0f32; 4]; w * h];
    let mut mask = vec![0u8; w * h];
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            for c in 0..3 {
                let g = 100.0 + 40.0 * ((x as f32 * 0.2 + c as f32).sin() * (y as f32 * 0.15).cos());
                let hs = [0.004 * (dx * dx - dy * dy), 0.3 * dx - 0.2 * dy + 10.0, -0.002 * dx * dy * 2.0][c];
                src[i * 4 + c] = g.round() as u8;
                exact[i][c] = hs;
                tgt[i * 4 + c] = (f32::from(src[i * 4 + c]) + hs).round().clamp(0.0, 255.0) as u8;
            }
            // An ellipse, like a face.
            mask[i] = u8::from((dx / (0.4 * w as f32)).powi(2) + (dy / (0.45 * h as f32)).powi(2) < 1.0);
        }
    }
    let mut p = Problem::new(w, h, &src, &tgt, &mask).unwrap();
    // Exact, not rounded to grey levels, so the answer is exact too.
    for (t, (g, e)) in p.target.iter_mut().zip(p.source.iter().zip(&exact)) {
        *t = std::array::from_fn(|c| g[c] + e[c]);
    }
    (p, exact)
}

/// Largest |h − h*| inside the mask.
pub fn max_error(p: &Problem, h: &[[f32; 4]], exact: &[[f32; 4]]) -> f32 {
    (0..p.mask.len())
        .filter(|&i| p.mask[i] != 0)
        .flat_map(|i| (0..3).map(move |c| (i, c)))
        .map(|(i, c)| (h[i][c] - exact[i][c]).abs())
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_blend_converges_to_the_known_solution() {
        let (p, exact) = synthetic_case(160, 190);
        let h0 = initial_guess(&p);
        let e0 = max_error(&p, &h0, &exact);
        let mut last = e0;
        let mut h = h0.clone();
        for _ in 0..6 {
            sor(p.width, &p.mask, &mut h, 20, OMEGA);
            let e = max_error(&p, &h, &exact);
            assert!(e <= last + 1e-3, "error rose {last} → {e}");
            last = e;
        }
        eprintln!(
            "poisson cpu 160×190: error {e0:.3} (cascade) → {last:.4} after 120 sweeps, residual {:.5}",
            residual(&p, &h)
        );
        assert!(last < 0.02, "not converged: {last}");
        assert!(e0 < 3.0, "cascade start too far: {e0}");
        // Without the cascade, the same sweeps from zero get nowhere near.
        let mut cold: Vec<[f32; 4]> =
            (0..p.mask.len()).map(|i| if p.mask[i] == 0 { h0[i] } else { [0.0; 4] }).collect();
        sor(p.width, &p.mask, &mut cold, 120, OMEGA);
        let e_cold = max_error(&p, &cold, &exact);
        eprintln!("from zero instead: error {e_cold:.3} after 120 sweeps");
        assert!(e_cold > 1.0);
        // The seam: a plain paste breaks the source's gradients there, the blend keeps them.
        let paste: Vec<[f32; 4]> =
            (0..p.mask.len()).map(|i| if p.mask[i] != 0 { p.source[i] } else { p.target[i] }).collect();
        let (s_paste, s_blend) = (seam_error(&p, &paste), seam_error(&p, &result(&p, &h)));
        eprintln!("seam gradient error: paste {s_paste:.2}, poisson {s_blend:.2} grey levels (RMS)");
        assert!(s_blend < 0.25 * s_paste);
    }

    #[test]
    fn bad_crops_are_errors() {
        assert_eq!(Problem::new(2, 9, &[0; 72], &[0; 72], &[0; 18]).unwrap_err(), PoissonError::TooSmall(2, 9));
        assert_eq!(Problem::new(4, 4, &[0; 64], &[0; 60], &[0; 16]).unwrap_err(), PoissonError::Size(4, 4));
        // An empty mask is nothing to do, not a failure.
        let p = Problem::new(4, 4, &[9; 64], &[7; 64], &[0; 16]).unwrap();
        assert_eq!(p.unknowns(), 0);
        let (_, rgba) = blend_cpu(&p, 5);
        assert!(rgba.iter().all(|&b| b == 0));
        // A full mask still leaves the border fixed.
        let p = Problem::new(5, 5, &[9; 100], &[7; 100], &[1; 25]).unwrap();
        assert_eq!(p.unknowns(), 9);
        let (h, _) = blend_cpu(&p, 50);
        assert!(h.iter().all(|v| (v[0] + 2.0).abs() < 1e-3));
    }
}
