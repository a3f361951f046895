//! The kernels this crate holds the CPU reference for, against it (the others are compared by
//! their users: face for luma and responses, gallery for t-SNE). Run on lavapipe in CI; with no
//! adapter each test says so loudly and fails under `HEADROOM_REQUIRE_GPU=1`.

use crate::context::gpu_required;

#[test]
fn poisson_kernel_equals_the_cpu_reference_and_converges() {
    use crate::poisson::{self, GpuPoisson};
    let Some(gpu) = gpu_required("poisson kernel") else { return };
    let kernel = poisson::kernel(&gpu.device);
    for (w, h) in [(160, 190), (67, 45)] {
        let (p, exact) = poisson::synthetic_case(w, h);
        let h0 = poisson::initial_guess(&p);
        let run = GpuPoisson::new(&gpu.device, &kernel, w, h);
        let mut last = f32::MAX;
        for sweeps in [0, 10, 40, 120] {
            let (hg, rgba_g) = run.run(&gpu, &kernel, &p, &h0, sweeps).unwrap();
            let mut hc = h0.clone();
            poisson::sor(w, &p.mask, &mut hc, sweeps, poisson::OMEGA);
            let rgba_c = poisson::compose(&p, &hc);
            let diff =
                hg.iter().zip(&hc).flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs())).fold(0.0, f32::max);
            assert!(diff < 2e-3, "{w}×{h}, {sweeps} sweeps: GPU and CPU h differ by {diff}");
            let bytes = rgba_g.iter().zip(&rgba_c).filter(|(a, b)| a.abs_diff(**b) > 1).count();
            assert_eq!(bytes, 0, "{w}×{h}: {bytes} output bytes differ by more than 1");
            let e = poisson::max_error(&p, &hg, &exact);
            eprintln!("poisson gpu {w}×{h}: {sweeps} sweeps, error {e:.4}, GPU−CPU {diff:.1e}");
            assert!(e <= last + 1e-3);
            last = e;
        }
        assert!(last < 0.02, "{w}×{h}: GPU blend not converged ({last})");
        // A problem of another size is refused, not a panic.
        let (other, _) = poisson::synthetic_case(w + 1, h);
        assert!(run.run(&gpu, &kernel, &other, &poisson::initial_guess(&other), 3).is_err());
    }
}
