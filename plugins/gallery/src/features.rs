//! MobileNetV2 (ImageNet, torchvision weights) in candle: 1280-d pooled features and class logits.
//!
//! Weights: `assets/models/mobilenet_v2.safetensors`, converted from torchvision's
//! `mobilenet_v2-b0353104.pth` by `tools/convert_mobilenet.py`. BatchNorm is folded into the
//! convolutions at load time. Pointwise convolutions are batched matrix products (candle's gemm);
//! the 3×3 depthwise convolutions are a custom candle op (one fused conv + bias + ReLU6 pass per
//! channel), because candle runs grouped convolutions as one convolution per group.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Input side length.
pub const INPUT: usize = 224;
/// Pooled feature length.
pub const FEATURES: usize = 1280;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
/// (expansion t, channels c, repeats n, stride s) of torchvision's MobileNetV2.
const SETTINGS: [(usize, usize, usize, usize); 7] =
    [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the MobileNetV2 weights {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the MobileNetV2 weights are not a valid safetensors file: {0}")]
    Format(String),
    #[error("the MobileNetV2 weights lack tensor `{0}` (is this torchvision's mobilenet_v2?)")]
    Missing(String),
    #[error("tensor `{name}` has shape {got:?}, expected {want:?}")]
    Shape { name: String, got: Vec<usize>, want: Vec<usize> },
    #[error("inference failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// A 1×1 convolution with folded BatchNorm: weight (out, in), bias (out).
struct Pointwise {
    w: Tensor,
    b: Tensor,
    relu6: bool,
}

/// A 3×3 depthwise convolution with folded BatchNorm, ReLU6, run as a custom op.
struct Depthwise {
    w: Vec<f32>, // channels × 9
    b: Vec<f32>,
    stride: usize,
}

struct Block {
    expand: Option<Pointwise>,
    dw: Depthwise,
    project: Pointwise,
    residual: bool,
}

/// The network.
pub struct MobileNetV2 {
    stem_w: Tensor,
    stem_b: Tensor,
    blocks: Vec<Block>,
    head: Pointwise,
    fc_w: Tensor,
    fc_b: Tensor,
    device: Device,
}

struct Weights(HashMap<String, Tensor>);

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let t = self.0.get(name).ok_or_else(|| ModelError::Missing(name.to_string()))?;
        if t.dims() != shape {
            return Err(ModelError::Shape { name: name.into(), got: t.dims().to_vec(), want: shape.to_vec() });
        }
        Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Folds BatchNorm `prefix` into per-channel (scale, shift).
    fn bn(&self, prefix: &str, c: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let g = self.get(&format!("{prefix}.weight"), &[c])?;
        let b = self.get(&format!("{prefix}.bias"), &[c])?;
        let m = self.get(&format!("{prefix}.running_mean"), &[c])?;
        let v = self.get(&format!("{prefix}.running_var"), &[c])?;
        let scale: Vec<f32> = g.iter().zip(&v).map(|(g, v)| g / (v + 1e-5).sqrt()).collect();
        let shift = b.iter().zip(&m).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        Ok((scale, shift))
    }

    fn pointwise(&self, conv: &str, bn: &str, cin: usize, cout: usize, relu6: bool) -> Result<Pointwise, ModelError> {
        let mut w = self.get(&format!("{conv}.weight"), &[cout, cin, 1, 1])?;
        let (scale, shift) = self.bn(bn, cout)?;
        for (o, s) in scale.iter().enumerate() {
            w[o * cin..(o + 1) * cin].iter_mut().for_each(|v| *v *= s);
        }
        Ok(Pointwise {
            w: Tensor::from_vec(w, (cout, cin), &Device::Cpu)?,
            b: Tensor::from_vec(shift, (1, cout, 1), &Device::Cpu)?,
            relu6,
        })
    }

    fn depthwise(&self, conv: &str, bn: &str, c: usize, stride: usize) -> Result<Depthwise, ModelError> {
        let mut w = self.get(&format!("{conv}.weight"), &[c, 1, 3, 3])?;
        let (scale, shift) = self.bn(bn, c)?;
        for (o, s) in scale.iter().enumerate() {
            w[o * 9..(o + 1) * 9].iter_mut().for_each(|v| *v *= s);
        }
        Ok(Depthwise { w, b: shift, stride })
    }
}

impl MobileNetV2 {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes =
            std::fs::read(path).map_err(|source| ModelError::Read { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let map = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| ModelError::Format(e.to_string()))?;
        let w = Weights(map);
        let device = Device::Cpu;
        let mut stem = w.get("features.0.0.weight", &[32, 3, 3, 3])?;
        let (scale, shift) = w.bn("features.0.1", 32)?;
        for (o, s) in scale.iter().enumerate() {
            stem[o * 27..(o + 1) * 27].iter_mut().for_each(|v| *v *= s);
        }
        let stem_w = Tensor::from_vec(stem, (32, 3, 3, 3), &device)?;
        let stem_b = Tensor::from_vec(shift, (1, 32, 1, 1), &device)?;
        let mut blocks = Vec::new();
        let mut cin = 32;
        let mut i = 1;
        for (t, c, n, s) in SETTINGS {
            for r in 0..n {
                let stride = if r == 0 { s } else { 1 };
                let p = format!("features.{i}.conv");
                let hidden = cin * t;
                let (expand, j) = if t != 1 {
                    (Some(w.pointwise(&format!("{p}.0.0"), &format!("{p}.0.1"), cin, hidden, true)?), 1)
                } else {
                    (None, 0)
                };
                let dw = w.depthwise(&format!("{p}.{j}.0"), &format!("{p}.{j}.1"), hidden, stride)?;
                let project = w.pointwise(&format!("{p}.{}", j + 1), &format!("{p}.{}", j + 2), hidden, c, false)?;
                blocks.push(Block { expand, dw, project, residual: stride == 1 && cin == c });
                cin = c;
                i += 1;
            }
        }
        let head = w.pointwise("features.18.0", "features.18.1", 320, FEATURES, true)?;
        let fc_w = Tensor::from_vec(w.get("classifier.1.weight", &[1000, FEATURES])?, (1000, FEATURES), &device)?;
        let fc_b = Tensor::from_vec(w.get("classifier.1.bias", &[1000])?, (1, 1000), &device)?;
        Ok(Self { stem_w, stem_b, blocks, head, fc_w, fc_b, device })
    }

    /// Pooled 1280-d features of a batch of preprocessed images (N, 3, 224, 224).
    pub fn features(&self, input: &Tensor) -> Result<Tensor, ModelError> {
        let x = input.conv2d(&self.stem_w, 1, 2, 1, 1)?.broadcast_add(&self.stem_b)?.clamp(0f32, 6f32)?;
        let (n, c, h, w) = x.dims4()?;
        let mut x = x.reshape((n, c, h * w))?;
        let (mut h, mut w) = (h, w);
        for b in &self.blocks {
            let mut y = match &b.expand {
                Some(e) => pointwise(&x, e)?,
                None => x.clone(),
            };
            let op = DepthwiseOp { dw: &b.dw, h, w };
            y = y.contiguous()?.apply_op1_no_bwd(&op)?;
            let (nh, nw) = op.out_size();
            y = pointwise(&y, &b.project)?;
            x = if b.residual { (x + y)? } else { y };
            (h, w) = (nh, nw);
        }
        let x = pointwise(&x, &self.head)?;
        Ok(x.mean(2)?)
    }

    /// ImageNet logits (N, 1000) from pooled features.
    pub fn classify(&self, features: &Tensor) -> Result<Tensor, ModelError> {
        Ok(features.matmul(&self.fc_w.t()?)?.broadcast_add(&self.fc_b)?)
    }

    /// Features of RGB images that are already 224×224 (row-major RGB8).
    pub fn features_rgb(&self, images: &[&[u8]]) -> Result<Vec<Vec<f32>>, ModelError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let plane = INPUT * INPUT;
        let mut data = vec![0f32; images.len() * 3 * plane];
        data.par_chunks_mut(3 * plane).zip(images.par_iter()).for_each(|(dst, img)| {
            for p in 0..plane.min(img.len() / 3) {
                for c in 0..3 {
                    dst[c * plane + p] = (img[p * 3 + c] as f32 / 255.0 - MEAN[c]) / STD[c];
                }
            }
        });
        let input = Tensor::from_vec(data, (images.len(), 3, INPUT, INPUT), &self.device)?;
        let f = self.features(&input)?;
        Ok(f.to_vec2::<f32>()?)
    }
}

fn pointwise(x: &Tensor, p: &Pointwise) -> Result<Tensor, candle_core::Error> {
    let y = p.w.broadcast_matmul(x)?.broadcast_add(&p.b)?;
    if p.relu6 { y.clamp(0f32, 6f32) } else { Ok(y) }
}

struct DepthwiseOp<'a> {
    dw: &'a Depthwise,
    h: usize,
    w: usize,
}

impl DepthwiseOp<'_> {
    fn out_size(&self) -> (usize, usize) {
        let s = self.dw.stride;
        ((self.h - 1) / s + 1, (self.w - 1) / s + 1)
    }
}

impl CustomOp1 for DepthwiseOp<'_> {
    fn name(&self) -> &'static str {
        "depthwise3x3-bias-relu6"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) =
            layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("non-contiguous".into()))?;
        let src = &storage.as_slice::<f32>()?[start..end];
        let dims = layout.dims();
        let (n, c) = (dims[0], dims[1]);
        let (h, w, s) = (self.h, self.w, self.dw.stride);
        let (oh, ow) = self.out_size();
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow).enumerate().for_each(|(nc, dst)| {
            let ch = nc % c;
            let k = &self.dw.w[ch * 9..ch * 9 + 9];
            let bias = self.dw.b[ch];
            let img = &src[nc * h * w..(nc + 1) * h * w];
            for oy in 0..oh {
                let row = &mut dst[oy * ow..(oy + 1) * ow];
                row.iter_mut().for_each(|v| *v = bias);
                for ky in 0..3 {
                    let iy = (oy * s + ky) as isize - 1;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let srow = &img[iy as usize * w..(iy as usize + 1) * w];
                    for kx in 0..3 {
                        let kv = k[ky * 3 + kx];
                        if s == 1 {
                            // Interior columns without bounds checks; edges handled separately.
                            let (lo, hi) = (if kx == 0 { 1 } else { 0 }, if kx == 2 { ow - 1 } else { ow });
                            let off = kx as isize - 1;
                            for ox in lo..hi {
                                row[ox] += kv * srow[(ox as isize + off) as usize];
                            }
                        } else {
                            for (ox, r) in row.iter_mut().enumerate() {
                                let ix = (ox * s + kx) as isize - 1;
                                if ix >= 0 && ix < w as isize {
                                    *r += kv * srow[ix as usize];
                                }
                            }
                        }
                    }
                }
                row.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0));
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh * ow))))
    }
}

/// Largest intermediate image [`preprocess`] makes (pixels): the shorter side goes to 256, so this
/// bounds the aspect ratio at 256:1 (a 1×10⁸ strip would otherwise ask for a 256 × 2.56·10¹⁰ buffer).
pub const MAX_RESIZED_PIXELS: u64 = 256 * 256 * 256;

/// An image the network's input cannot be made from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("empty image ({0}×{1})")]
    Empty(u32, u32),
    #[error(
        "extreme aspect ratio ({w}×{h} px): resizing its shorter side to 256 px would need a {rw}×{rh} image \
         (limit {limit} Mpx, an aspect ratio of 256:1)",
        limit = MAX_RESIZED_PIXELS / 1_000_000
    )]
    Aspect { w: u32, h: u32, rw: u64, rh: u64 },
}

/// The size [`preprocess`] resizes a `w`×`h` image to before its centre crop, or why it cannot.
pub fn input_size(w: u32, h: u32) -> Result<(u32, u32), InputError> {
    if w == 0 || h == 0 {
        return Err(InputError::Empty(w, h));
    }
    let s = 256.0 / w.min(h) as f32;
    let side = |v: u32| ((v as f32 * s).round() as u64).max(INPUT as u64);
    let (rw, rh) = (side(w), side(h));
    if rw * rh > MAX_RESIZED_PIXELS {
        return Err(InputError::Aspect { w, h, rw, rh });
    }
    Ok((rw as u32, rh as u32))
}

/// torchvision's eval geometry: shorter side → 256 (triangle filter), centre crop 224. RGB8 out.
/// Refuses (before allocating anything) an image whose resized size would be enormous.
pub fn preprocess(img: &image::DynamicImage) -> Result<Vec<u8>, InputError> {
    let (nw, nh) = input_size(img.width(), img.height())?;
    let rgb = img.to_rgb8();
    let r = image::imageops::resize(&rgb, nw, nh, image::imageops::FilterType::Triangle);
    let (x0, y0) = ((nw - INPUT as u32) / 2, (nh - INPUT as u32) / 2);
    Ok(image::imageops::crop_imm(&r, x0, y0, INPUT as u32, INPUT as u32).to_image().into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> MobileNetV2 {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/models/mobilenet_v2.safetensors");
        MobileNetV2::load(&root).expect("bundled MobileNetV2 weights")
    }

    #[test]
    fn classifies_chelsea_as_a_cat_and_coffee_as_espresso_like_the_reference_network() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gallery");
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("mobilenet_reference.json")).unwrap()).unwrap();
        let net = model();
        for (name, want_class) in [("chelsea", 285usize /* Egyptian cat */), ("coffee", 967 /* espresso */)] {
            let img = image::open(fixtures.join(format!("{name}.png"))).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (224, 224));
            let feats = net.features_rgb(&[img.as_raw()]).unwrap();
            let f = Tensor::from_vec(feats[0].clone(), (1, FEATURES), &Device::Cpu).unwrap();
            let logits = net.classify(&f).unwrap().to_vec2::<f32>().unwrap().remove(0);
            let mut order: Vec<usize> = (0..1000).collect();
            order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
            let r = &reference["images"][name];
            let ref_top: Vec<usize> =
                r["top5"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            assert_eq!(order[0], want_class, "{name}: top-1 {} (reference {:?})", order[0], ref_top);
            assert_eq!(order[0], ref_top[0]);
            // Same pooled features as the float64 NumPy reference.
            let rf: Vec<f32> = r["features"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let dot: f32 = rf.iter().zip(&feats[0]).map(|(a, b)| a * b).sum();
            let na = rf.iter().map(|v| v * v).sum::<f32>().sqrt();
            let nb = feats[0].iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(dot / (na * nb) > 0.9999, "{name}: cosine {}", dot / (na * nb));
            let top_logit = r["top5_logits"][0].as_f64().unwrap() as f32;
            assert!((logits[order[0]] - top_logit).abs() < 0.01, "{name}: logit {} vs {top_logit}", logits[order[0]]);
        }
    }

    #[test]
    fn a_batch_gives_the_same_features_as_single_images() {
        let net = model();
        let a: Vec<u8> = (0..INPUT * INPUT * 3).map(|i| (i * 7 % 251) as u8).collect();
        let b: Vec<u8> = (0..INPUT * INPUT * 3).map(|i| (i * 13 % 253) as u8).collect();
        let both = net.features_rgb(&[&a, &b]).unwrap();
        let one = net.features_rgb(&[&b]).unwrap();
        for (x, y) in both[1].iter().zip(&one[0]) {
            assert!((x - y).abs() < 1e-4);
        }
    }

    #[test]
    fn an_extreme_strip_is_refused_before_any_allocation() {
        // 1×10⁸ passes the 100 Mpx limit; its 256-px-high resize would be 2.56·10¹⁰ wide.
        let strip = image::DynamicImage::new_luma8(1, 100_000_000);
        let e = preprocess(&strip).unwrap_err();
        assert!(matches!(e, InputError::Aspect { w: 1, h: 100_000_000, .. }), "{e}");
        assert!(e.to_string().contains("1×100000000"), "{e}");
        assert_eq!(input_size(400, 300).unwrap(), (341, 256));
        assert_eq!(input_size(100, 25_000).unwrap(), (256, 64_000));
        assert!(input_size(1, 300).is_err() && input_size(0, 5).is_err());
        let ok = preprocess(&image::DynamicImage::new_rgb8(300, 200)).unwrap();
        assert_eq!(ok.len(), INPUT * INPUT * 3);
    }

    #[test]
    fn bad_weights_are_a_clear_error() {
        let err = MobileNetV2::from_bytes(b"not a safetensors file").err().unwrap();
        assert!(err.to_string().contains("safetensors"), "{err}");
        let err = MobileNetV2::load(Path::new("/nonexistent/w.safetensors")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/w.safetensors"), "{err}");
    }
}
