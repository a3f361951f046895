use super::*;

fn blobs(n_per: usize, centers: &[[f32; 5]], spread: f32) -> (Matrix, Vec<u32>) {
    let mut data = Vec::new();
    let mut labels = Vec::new();
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(12345);
    let mut rnd = || rng.random::<f32>() - 0.5;
    for (c, center) in centers.iter().enumerate() {
        for _ in 0..n_per {
            for v in center {
                data.push(v + spread * rnd());
            }
            labels.push(c as u32);
        }
    }
    (Matrix::new(labels.len(), 5, data), labels)
}

#[test]
fn eigen_recovers_diagonalisation() {
    let a = [4.0, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 1.0];
    let (vals, vecs) = symmetric_eigen(&a, 3);
    for c in 0..3 {
        // A v = λ v
        for r in 0..3 {
            let av: f64 = (0..3).map(|k| a[r * 3 + k] * vecs[k * 3 + c]).sum();
            assert!((av - vals[c] * vecs[r * 3 + c]).abs() < 1e-9);
        }
    }
    assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
}

#[test]
fn subspace_iteration_finds_the_top_eigenpairs_of_a_large_matrix() {
    // Diagonal-dominant 200×200 matrix with known top eigenvalues after a rotation-free setup.
    let d = 200;
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        a[i * d + i] = if i < 5 { 100.0 - 10.0 * i as f64 } else { 1.0 / (1.0 + i as f64) };
    }
    let (vals, vecs, cols) = top_eigen(&a, d, 5);
    for c in 0..5 {
        assert!((vals[c] - (100.0 - 10.0 * c as f64)).abs() < 1e-6, "{:?}", &vals[..5]);
        assert!((vecs[c * cols + c].abs() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn pca_round_trip_is_exact_with_all_components_and_close_with_the_top_ones() {
    let (x, _) = blobs(40, &[[0.0, 0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 1.0, 0.0]], 1.0);
    let full = Pca::fit(&x, 5);
    let back = full.inverse_transform(&full.transform(&x));
    for (a, b) in x.data.iter().zip(&back.data) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    // The leading component captures the cluster separation.
    let one = Pca::fit(&x, 1);
    assert!(one.variances[0] > 10.0 * full.variances[1]);
    let z = one.transform(&x);
    assert!((z.data[0] - z.data[79]).abs() > 5.0);
}

#[test]
fn perplexity_calibration_hits_the_target_entropy() {
    let (x, _) = blobs(50, &[[0.0; 5]], 3.0);
    let nn = knn(&x, &x, 30, true);
    for row in conditional_affinities(&nn, 10.0) {
        let h: f64 = row.iter().filter(|e| e.1 > 0.0).map(|e| -(e.1 as f64) * (e.1 as f64).ln()).sum();
        assert!((h.exp() - 10.0).abs() < 0.05, "perplexity {}", h.exp());
    }
}

#[test]
fn knn_matches_brute_force_sorting() {
    let (x, _) = blobs(30, &[[0.0; 5], [1.0; 5]], 2.0);
    let nn = knn(&x, &x, 7, true);
    for i in 0..x.rows {
        let mut all: Vec<(u32, f32)> =
            (0..x.rows).filter(|&j| j != i).map(|j| (j as u32, sq_dist(x.row(i), x.row(j)))).collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1));
        let want: Vec<f32> = all[..7].iter().map(|e| e.1).collect();
        let got: Vec<f32> = nn[i].iter().map(|e| e.1).collect();
        assert_eq!(want, got);
    }
}

#[test]
fn barnes_hut_repulsion_matches_exact_sum() {
    let (x, _) = blobs(60, &[[0.0; 5], [3.0; 5]], 2.0);
    let y = to_points::<3>(&Pca::fit(&x, 3).transform(&x));
    let tree = Tree::<3>::build(&y);
    for i in [0usize, 17, 99] {
        let (f_exact, z_exact) = tree.repulsion(&y[i], Some(i as u32), 0.0, &y);
        let mut f = [0.0f32; 3];
        let mut z = 0.0f64;
        for j in 0..y.len() {
            if j != i {
                let d: Vec<f32> = (0..3).map(|a| y[i][a] - y[j][a]).collect();
                let w = 1.0 / (1.0 + d.iter().map(|v| v * v).sum::<f32>());
                z += w as f64;
                for a in 0..3 {
                    f[a] += w * w * d[a];
                }
            }
        }
        assert!((z - z_exact).abs() < 1e-3 * z);
        for a in 0..3 {
            assert!((f[a] - f_exact[a]).abs() < 1e-3 * (1.0 + f[a].abs()));
        }
        let (f_bh, z_bh) = tree.repulsion(&y[i], Some(i as u32), 0.25, &y);
        assert!((z - z_bh).abs() < 0.02 * z, "BH Z {z_bh} vs {z}");
        let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        for a in 0..3 {
            assert!((f[a] - f_bh[a]).abs() < 0.05 * norm + 1e-6);
        }
    }
}

/// scikit-learn's bundled handwritten digits (1,797 × 64, 10 classes); see assets/LICENSES.md.
pub(super) fn digits() -> (Matrix, Vec<u32>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gallery/digits.bin");
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..8], b"DIGITS1\n");
    let rows = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let cols = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let x = b[16..16 + rows * cols].iter().map(|&v| v as f32).collect();
    let labels = b[16 + rows * cols..16 + rows * cols + rows].iter().map(|&v| v as u32).collect();
    (Matrix::new(rows, cols, x), labels)
}

#[test]
fn tsne_separates_the_digits_like_their_labels() {
    let (x, labels) = digits();
    assert_eq!((x.rows, x.cols), (1797, 64));
    let y = tsne(&x, &TsneConfig { dims: 2, ..Default::default() }, None);
    let acc = knn_label_accuracy(&y, &labels, 10);
    assert!(acc >= 0.95, "10-NN label accuracy {acc:.3}");
    // The map keeps most of each point's neighbourhood (openTSNE keeps ~0.5 at k = 10 here).
    let kept = knn_preservation(&x, &y, 10);
    assert!(kept > 0.35, "10-NN preservation {kept:.3}");
}

#[test]
fn the_seed_is_honoured_same_seed_same_bits_other_seed_other_map() {
    let centers = [[0.0, 0.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0, 0.0], [0.0, 6.0, 0.0, 0.0, 0.0]];
    let (x, labels) = blobs(30, &centers, 2.0);
    for dims in [2, 3] {
        let cfg =
            |seed| TsneConfig { dims, perplexity: 10.0, early_iters: 100, iters: 100, seed, ..Default::default() };
        let bits = |m: &Matrix| m.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let a = tsne(&x, &cfg(7), None);
        let b = tsne(&x, &cfg(7), None);
        let c = tsne(&x, &cfg(8), None);
        assert_eq!(bits(&a), bits(&b), "{dims}D: same seed, different map");
        let moved = a.data.iter().zip(&c.data).filter(|(p, q)| (*p - *q).abs() > 1e-3).count();
        assert!(
            moved > a.data.len() / 2,
            "{dims}D: seeds 7 and 8 give nearly the same map ({moved} coordinates moved)"
        );
        // Either map is as good.
        assert!(knn_label_accuracy(&c, &labels, 10) > 0.95);
    }
}

#[test]
fn tsne_keeps_separated_clusters_apart_and_transform_places_new_points_with_their_cluster() {
    let centers =
        [[0.0, 0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0, 0.0], [0.0, 10.0, 0.0, 0.0, 0.0], [0.0, 0.0, 10.0, 0.0, 0.0]];
    let (x, labels) = blobs(60, &centers, 2.0);
    for dims in [2, 3] {
        let cfg = TsneConfig { dims, early_iters: 100, iters: 200, ..Default::default() };
        let y = tsne(&x, &cfg, None);
        assert_eq!((y.rows, y.cols), (240, dims));
        assert!(knn_label_accuracy(&y, &labels, 10) > 0.99);
        // New points from the same clusters land among their own cluster.
        let (newx, newl) = blobs(5, &centers, 2.0);
        let ny = transform(&x, &y, &newx, 10.0, 100);
        for i in 0..ny.rows {
            let nn = knn(&Matrix::new(1, dims, ny.row(i).to_vec()), &y, 5, false);
            let same = nn[0].iter().filter(|(j, _)| labels[*j as usize] == newl[i]).count();
            assert!(same >= 4, "new point {i} landed among other clusters");
        }
    }
}
