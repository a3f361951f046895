//! The candle port against MediaPipe's own TFLite models: the same network inputs (committed
//! PNGs) through `ai-edge-litert` (tools/mediapipe_reference.py → tests/fixtures/mesh) and
//! through ours must agree.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

use super::warp::planar_from_rgb;
use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mesh")
}

fn reference() -> HashMap<String, Vec<f32>> {
    let t: HashMap<String, Tensor> =
        candle_core::safetensors::load(fixtures().join("reference.safetensors"), &Device::Cpu).unwrap();
    t.into_iter().map(|(k, v)| (k, v.flatten_all().unwrap().to_vec1::<f32>().unwrap())).collect()
}

fn input(name: &str, lo: f32, hi: f32) -> Vec<f32> {
    let img = image::open(fixtures().join(format!("{name}_input.png"))).unwrap().into_rgb8();
    planar_from_rgb(img.as_raw(), lo, hi)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn face_mesh_matches_mediapipe() {
    let r = reference();
    let mesh = FaceMesh::new().unwrap();
    let (lm, flag) = mesh.raw(&input("face_landmark", 0.0, 1.0)).unwrap();
    let d = max_abs_diff(&lm, &r["face_landmark.landmarks"]);
    println!(
        "face mesh: worst landmark difference {d:.5} px of 192; presence logit {flag} vs {}",
        r["face_landmark.presence"][0]
    );
    assert!(d < 0.005, "landmarks differ by {d} px");
    assert!((flag - r["face_landmark.presence"][0]).abs() < 0.005);
    // Not a speed test (those are benches): a figure to read with --nocapture.
    let x = input("face_landmark", 0.0, 1.0);
    let t = web_time::Instant::now();
    for _ in 0..10 {
        mesh.raw(&x).unwrap();
    }
    println!("face mesh: {:.2} ms per run here (debug test build)", t.elapsed().as_secs_f64() * 100.0);
}

#[test]
fn blazeface_matches_mediapipe() {
    let r = reference();
    let det = BlazeFace::new().unwrap();
    let (reg, cls) = det.raw(&input("blazeface", -1.0, 1.0)).unwrap();
    let dr = max_abs_diff(&reg, &r["blazeface.regressors"]);
    let dc = max_abs_diff(&cls, &r["blazeface.classificators"]);
    println!("BlazeFace: worst regressor difference {dr:.5}, logit {dc:.5}");
    assert!(dr < 0.005 && dc < 0.005, "{dr} {dc}");
    // Decoded: exactly one face on the still, with the eyes level-ish and inside the box.
    let dets = det.decode(&reg, &cls);
    assert_eq!(dets.len(), 1, "{dets:?}");
    let d = &dets[0];
    assert!(d.score > 0.9);
    for k in &d.keypoints[..4] {
        assert!(k[0] > d.bbox[0] && k[0] < d.bbox[2] && k[1] > d.bbox[1] && k[1] < d.bbox[3]);
    }
    assert!(d.rotation().abs() < 0.3);
}

#[test]
fn iris_matches_mediapipe() {
    let r = reference();
    let iris = Iris::new().unwrap();
    let (c, i) = iris.raw(&input("iris_landmark", 0.0, 1.0)).unwrap();
    let dc = max_abs_diff(&c, &r["iris_landmark.contours"]);
    let di = max_abs_diff(&i, &r["iris_landmark.iris"]);
    println!("iris: worst contour difference {dc:.5}, iris {di:.5} px of 64");
    assert!(dc < 0.005 && di < 0.005, "{dc} {di}");
}

#[test]
fn bad_model_files_are_clear_errors() {
    let w = FACE_LANDMARK.weights;
    // Truncated weights.
    let e = FaceMesh::from_files(ModelFiles { graph: FACE_LANDMARK.graph, weights: &w[..w.len() / 2] }).err().unwrap();
    assert!(e.to_string().contains("face mesh model: weights"), "{e}");
    // Empty / garbage graph.
    let e = FaceMesh::from_files(ModelFiles { graph: "{", weights: w }).err().unwrap();
    assert!(e.to_string().contains("graph JSON"), "{e}");
    // The wrong model's weights for this graph: tensors missing or of the wrong shape.
    let e =
        FaceMesh::from_files(ModelFiles { graph: FACE_LANDMARK.graph, weights: IRIS_LANDMARK.weights }).err().unwrap();
    assert!(e.to_string().contains("face mesh model"), "{e}");
    // Another network altogether where a face mesh is expected.
    let e = FaceMesh::from_files(BLAZEFACE).err().unwrap();
    assert!(e.to_string().contains("expected [3, 192, 192]"), "{e}");
    // A graph whose recorded shapes disagree with its weights.
    let g = FACE_LANDMARK.graph.replacen("[1,96,96,16]", "[1,96,96,17]", 1);
    assert_ne!(g, FACE_LANDMARK.graph, "fixture edit must apply");
    let e = FaceMesh::from_files(ModelFiles { graph: &g, weights: w }).err().unwrap();
    assert!(e.to_string().contains("shape"), "{e}");
    // Wrong input length at run time.
    let m = FaceMesh::new().unwrap();
    assert!(matches!(m.raw(&[0.0; 10]), Err(NnError::Input { .. })));
    // Missing files.
    let e = read_model_dir(std::path::Path::new("/nonexistent"), "face_landmark").err().unwrap();
    assert!(e.to_string().contains("/nonexistent/face_landmark.graph.json"), "{e}");
}
