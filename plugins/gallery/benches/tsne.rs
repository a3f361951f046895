//! t-SNE benchmark.
//!
//! `cargo bench --profile dev --workspace --bench tsne` runs our t-SNE on synthetic clustered data
//! (n = 2,000 and 5,000, 50-d; 3D and 2D) and prints seconds and KL.
//!
//! With `-- --input X.f32 --dims D --out Y.f32 [--perplexity P] [--iterations N]` it embeds a
//! matrix (file: u32 rows, u32 cols, then rows×cols little-endian f32) and prints the seconds; this
//! is how `bench/tsne_peers.py` runs it side by side with openTSNE.

use std::time::Instant;

use headroom_gallery::tsne::{self, Matrix, TsneConfig};

fn read_matrix(path: &str) -> Matrix {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let rows = u32::from_le_bytes(b[0..4].try_into().unwrap()) as usize;
    let cols = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let data = b[8..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    Matrix::new(rows, cols, data)
}

fn write_matrix(path: &str, m: &Matrix) {
    let mut b = Vec::with_capacity(8 + m.data.len() * 4);
    b.extend_from_slice(&(m.rows as u32).to_le_bytes());
    b.extend_from_slice(&(m.cols as u32).to_le_bytes());
    for v in &m.data {
        b.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, b).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(input) = arg(&args, "--input") {
        let x = read_matrix(&input);
        let dims: usize = arg(&args, "--dims").map(|d| d.parse().unwrap()).unwrap_or(2);
        let iterations: usize = arg(&args, "--iterations").map(|d| d.parse().unwrap()).unwrap_or(750);
        let cfg = TsneConfig {
            dims,
            perplexity: arg(&args, "--perplexity").map(|d| d.parse().unwrap()).unwrap_or(30.0),
            early_iters: iterations.min(250),
            iters: iterations.saturating_sub(250),
            ..Default::default()
        };
        let t = Instant::now();
        let y = tsne::tsne(&x, &cfg, None);
        let secs = t.elapsed().as_secs_f64();
        write_matrix(&arg(&args, "--out").expect("--out"), &y);
        println!("seconds {secs:.3}");
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    println!("t-SNE (Barnes-Hut θ=0.5, 750 iterations, perplexity 30), {} threads", rayon::current_num_threads());
    for n in [2000usize, 5000] {
        // Ten Gaussian clusters in 50-d.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut rnd = || rng.random::<f32>() - 0.5;
        let centers: Vec<Vec<f32>> = (0..10).map(|_| (0..50).map(|_| 8.0 * rnd()).collect()).collect();
        let data: Vec<f32> =
            (0..n).flat_map(|i| centers[i % 10].iter().map(|c| c + rnd()).collect::<Vec<_>>()).collect();
        let x = Matrix::new(n, 50, data);
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
        for dims in [3, 2] {
            let t = Instant::now();
            let y = tsne::tsne(&x, &TsneConfig { dims, ..Default::default() }, None);
            let secs = t.elapsed().as_secs_f64();
            println!(
                "n={n:5} {dims}D: {secs:6.2} s  10-NN label accuracy {:.3}",
                tsne::knn_label_accuracy(&y, &labels, 10)
            );
        }
    }
}
