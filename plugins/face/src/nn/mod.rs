//! MediaPipe's face networks: BlazeFace (short range) for detection, the face mesh (468 points in
//! 3D) for landmarks, the iris model for pupils. Weights converted once by
//! `tools/convert_mediapipe.py` from PyPI `mediapipe==0.10.14` (Apache-2.0) into
//! `assets/models/*.safetensors` + `*.graph.json`, compiled into the binary; [`graph`] loads
//! them (the safetensors with candle) and runs them on its own fused CPU kernels ([`kernels`]).

pub mod blazeface;
pub mod graph;
mod kernels;
pub mod mesh;
pub mod warp;

pub use blazeface::{BlazeFace, Detection};
pub use graph::Network;
pub use mesh::{FaceMesh, Iris, MeshFit, MeshStep, MeshTracker, RIGID_VERTICES, canonical_face};
pub use warp::Roi;

#[cfg(test)]
mod tests;

/// Where the networks run, in words: the CPU and which copy of the kernels this machine picks
/// (e.g. "CPU, AVX2 + FMA kernels"; in the browser "CPU, WebAssembly (portable kernels)").
pub fn runs_on() -> String {
    format!("CPU, {}", kernels::Isa::detect().words())
}

/// Errors of the networks: the message names the model and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("{model} model: {what}")]
    Model { model: String, what: String },
    #[error("{model}: the input has {got} values, the network takes {want}")]
    Input { model: String, got: usize, want: usize },
    #[error("{path}: {what}")]
    File { path: String, what: String },
    #[error("network: {0}")]
    Candle(#[from] candle_core::Error),
}

/// A model's two files, as bytes.
#[derive(Clone, Copy)]
pub struct ModelFiles<'a> {
    pub graph: &'a str,
    pub weights: &'a [u8],
}

pub static BLAZEFACE: ModelFiles<'static> = ModelFiles {
    graph: include_str!("../../../../assets/models/blazeface_short.graph.json"),
    weights: include_bytes!("../../../../assets/models/blazeface_short.safetensors"),
};
pub static FACE_LANDMARK: ModelFiles<'static> = ModelFiles {
    graph: include_str!("../../../../assets/models/face_landmark.graph.json"),
    weights: include_bytes!("../../../../assets/models/face_landmark.safetensors"),
};
pub static IRIS_LANDMARK: ModelFiles<'static> = ModelFiles {
    graph: include_str!("../../../../assets/models/iris_landmark.graph.json"),
    weights: include_bytes!("../../../../assets/models/iris_landmark.safetensors"),
};

/// Reads `DIR/NAME.graph.json` and `DIR/NAME.safetensors` (a model set replacing the bundled
/// one) into memory.
pub fn read_model_dir(dir: &std::path::Path, name: &str) -> Result<(String, Vec<u8>), NnError> {
    let g = dir.join(format!("{name}.graph.json"));
    let w = dir.join(format!("{name}.safetensors"));
    let graph = std::fs::read_to_string(&g)
        .map_err(|e| NnError::File { path: g.display().to_string(), what: e.to_string() })?;
    let weights =
        std::fs::read(&w).map_err(|e| NnError::File { path: w.display().to_string(), what: e.to_string() })?;
    Ok((graph, weights))
}

#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}
