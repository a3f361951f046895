//! t-SNE (van der Maaten 2014, Barnes-Hut) in 2 or 3 dimensions, multi-threaded with rayon.
//!
//! - sparse input affinities from exact k nearest neighbours (k = 3·perplexity) with per-point
//!   perplexity calibration (binary search on the Gaussian precision), symmetrised;
//! - PCA initialisation scaled to a standard deviation of 1e-4 (as openTSNE);
//! - early exaggeration (12 for 250 iterations, momentum 0.5), then 500 iterations at momentum 0.8,
//!   learning rate n / exaggeration (n/12, then n: Belkina et al. 2019), delta-bar-delta gains;
//! - repulsion by a Barnes-Hut 2^D-tree (θ = 0.5), attraction over the sparse affinities;
//! - [`transform`]: new points join an existing map without moving it (each new point minimises the
//!   KL divergence of its own conditional neighbourhood against the fixed reference points, started
//!   at the affinity-weighted mean of its neighbours, as openTSNE's `transform`).
//!
//! One room a concern: [`affinities`], [`pca`], [`barnes_hut`], [`tsne`] (the optimiser and
//! `transform`), [`metrics`], [`gpu`] (the optimiser on headroom-gpu's kernel); all re-exported here (`headroom_gallery::tsne` names this module too).

#![allow(clippy::needless_range_loop)] // fixed-size coordinate loops over parallel arrays

pub mod affinities;
pub mod barnes_hut;
pub mod gpu;
pub mod metrics;
pub mod pca;
#[cfg(test)]
mod tests;
pub mod tsne;

pub use affinities::*;
pub(crate) use barnes_hut::*;
pub use gpu::GpuTsne;
pub use metrics::*;
pub use pca::*;
pub use tsne::*;

/// Parameters of a t-SNE run.
#[derive(Clone, Debug)]
pub struct TsneConfig {
    pub dims: usize,
    pub perplexity: f32,
    pub early_exaggeration: f32,
    pub early_iters: usize,
    pub iters: usize,
    /// `None`: n / exaggeration of the phase (at least 50): n/12 while exaggerated, then n.
    pub learning_rate: Option<f32>,
    pub theta: f32,
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            dims: 3,
            perplexity: 30.0,
            early_exaggeration: 12.0,
            early_iters: 250,
            iters: 500,
            learning_rate: None,
            theta: 0.5,
            seed: 42,
        }
    }
}

/// A dense row-major matrix of f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(rows * cols, data.len(), "matrix data length");
        Self { rows, cols, data }
    }
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Sparse rows (CSR) of affinities.
#[derive(Clone, Debug)]
pub struct Affinities {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

/// Progress callback: (iterations done, total iterations).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);
