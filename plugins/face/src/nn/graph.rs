//! A small TFLite-graph interpreter on candle: the operator list converted by
//! `tools/convert_mediapipe.py` (JSON) and its weights (safetensors), run on the CPU with
//! activations as `[C, H, W]` tensors (batch 1).
//!
//! Supported operators are exactly those MediaPipe's face models use: CONV_2D,
//! DEPTHWISE_CONV_2D (a fused custom op), PRELU, RELU, ADD, MAX_POOL_2D, PAD (channels and
//! space), RESHAPE and CONCATENATION. Every shape is inferred at load time and checked against
//! the converter's record, so a wrong or truncated file is an error before the first frame.

use std::collections::HashMap;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use serde::Deserialize;

use super::NnError;

#[derive(Deserialize)]
struct GraphFile {
    input: String,
    input_shape: Vec<usize>,
    outputs: Vec<String>,
    ops: Vec<OpRecord>,
}

#[derive(Deserialize)]
struct OpRecord {
    op: String,
    inputs: Vec<Option<String>>,
    outputs: Vec<String>,
    shape: Vec<usize>,
    #[serde(default)]
    stride: Option<[usize; 2]>,
    #[serde(default)]
    padding: Option<String>,
    #[serde(default)]
    act: Option<String>,
    #[serde(default)]
    filter: Option<[usize; 2]>,
    #[serde(default)]
    paddings: Option<Vec<[usize; 2]>>,
    #[serde(default)]
    axis: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    None,
    Relu,
    Relu6,
}

/// Shape of a value: spatial `[C, H, W]` or flat (TFLite's own shape without the batch).
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Spatial([usize; 3]),
    Flat(Vec<usize>),
}

struct Pad4 {
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
}

enum Op {
    /// 1×1, stride 1, no padding: a matrix product `[O, I] × [I, HW]`.
    Pointwise {
        x: usize,
        w: Tensor,
        b: Tensor,
        act: Act,
        out: [usize; 3],
    },
    Conv {
        x: usize,
        w: Tensor,
        b: Tensor,
        stride: usize,
        pad: Pad4,
        act: Act,
        out: [usize; 3],
    },
    Depthwise {
        x: usize,
        op: Depthwise,
    },
    Prelu {
        x: usize,
        alpha: Prelu,
    },
    Relu {
        x: usize,
    },
    Add {
        a: usize,
        b: usize,
        act: Act,
    },
    MaxPool {
        x: usize,
        k: usize,
        stride: usize,
    },
    Pad {
        x: usize,
        c: [usize; 2],
        pad: Pad4,
    },
    Reshape {
        x: usize,
        shape: Vec<usize>,
    },
    Concat {
        xs: Vec<usize>,
        axis: usize,
    },
}

/// A loaded network, ready to run.
pub struct Network {
    name: String,
    ops: Vec<(Op, usize)>,
    input: [usize; 3],
    outputs: Vec<usize>,
    slots: usize,
    /// For each op, the slots no longer read after it (dropped then to keep memory low).
    frees: Vec<Vec<usize>>,
}

fn same_pad(input: usize, k: usize, s: usize) -> (usize, usize, usize) {
    let out = input.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(input);
    (out, total / 2, total - total / 2)
}

fn act_of(r: &OpRecord) -> Result<Act, String> {
    match r.act.as_deref().unwrap_or("none") {
        "none" => Ok(Act::None),
        "relu" => Ok(Act::Relu),
        "relu6" => Ok(Act::Relu6),
        a => Err(format!("unknown activation {a}")),
    }
}

fn apply_act(t: Tensor, act: Act) -> candle_core::Result<Tensor> {
    match act {
        Act::None => Ok(t),
        Act::Relu => t.relu(),
        Act::Relu6 => t.clamp(0f32, 6f32),
    }
}

impl Network {
    /// Parses a graph (JSON from `tools/convert_mediapipe.py`) with its weights (safetensors).
    /// `name` appears in every error.
    pub fn load(name: &str, graph_json: &str, weights: &[u8]) -> Result<Self, NnError> {
        let bad = |what: String| NnError::Model { model: name.to_string(), what };
        let g: GraphFile = serde_json::from_str(graph_json).map_err(|e| bad(format!("graph JSON: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)
            .map_err(|e| bad(format!("weights (safetensors): {e}")))?;
        let weight = |n: &Option<String>, shape: &[usize]| -> Result<Tensor, NnError> {
            let n = n.as_ref().ok_or_else(|| bad("an operator lacks a weight input".into()))?;
            let t = tensors.get(n).ok_or_else(|| bad(format!("weights lack tensor {n}")))?;
            if t.dims() != shape {
                return Err(bad(format!("tensor {n} has shape {:?}, the graph needs {shape:?}", t.dims())));
            }
            t.to_dtype(DType::F32).map_err(|e| bad(format!("tensor {n}: {e}")))
        };
        if g.input_shape.len() != 4 || g.input_shape[0] != 1 {
            return Err(bad(format!("input shape {:?} is not [1, H, W, C]", g.input_shape)));
        }
        let input = [g.input_shape[3], g.input_shape[1], g.input_shape[2]];
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut kinds: Vec<Kind> = Vec::new();
        slot_of.insert(g.input.clone(), 0);
        kinds.push(Kind::Spatial(input));
        let mut ops = Vec::new();
        for (i, r) in g.ops.iter().enumerate() {
            let at = |what: String| bad(format!("operator {i} ({}): {what}", r.op));
            let act = act_of(r).map_err(at)?;
            let value = |k: usize| -> Result<(usize, Kind), NnError> {
                let n = r.inputs.get(k).and_then(|n| n.as_ref()).ok_or_else(|| at(format!("input {k} missing")))?;
                let s = *slot_of.get(n).ok_or_else(|| at(format!("input {n} is not computed before it is used")))?;
                Ok((s, kinds[s].clone()))
            };
            let spatial = |k: &Kind| match k {
                Kind::Spatial(s) => Ok(*s),
                Kind::Flat(_) => Err(at("needs a spatial input".into())),
            };
            let (op, kind) = match r.op.as_str() {
                "CONV_2D" | "DEPTHWISE_CONV_2D" => {
                    let (x, k) = value(0)?;
                    let [c, h, w] = spatial(&k)?;
                    let stride = r.stride.ok_or_else(|| at("no stride".into()))?;
                    if stride[0] != stride[1] || stride[0] == 0 {
                        return Err(at(format!("stride {stride:?} is not square")));
                    }
                    let s = stride[0];
                    let wname = &r.inputs.get(1).cloned().flatten();
                    let wt = tensors.get(wname.as_deref().unwrap_or("")).ok_or_else(|| at("weights missing".into()))?;
                    let wd = wt.dims().to_vec();
                    if wd.len() != 4 {
                        return Err(at(format!("weight shape {wd:?}")));
                    }
                    let (o, kh, kw) = (wd[0], wd[2], wd[3]);
                    let (pad, oh, ow) = match r.padding.as_deref() {
                        Some("same") => {
                            let (oh, t, b) = same_pad(h, kh, s);
                            let (ow, l, rr) = same_pad(w, kw, s);
                            (Pad4 { top: t, bottom: b, left: l, right: rr }, oh, ow)
                        }
                        Some("valid") if h >= kh && w >= kw => {
                            (Pad4 { top: 0, bottom: 0, left: 0, right: 0 }, (h - kh) / s + 1, (w - kw) / s + 1)
                        }
                        p => return Err(at(format!("padding {p:?} for a {h}×{w} input and {kh}×{kw} kernel"))),
                    };
                    let b = weight(&r.inputs.get(2).cloned().flatten(), &[o])?;
                    if r.op == "DEPTHWISE_CONV_2D" {
                        if o != c || wd[1] != 1 {
                            return Err(at(format!("depthwise weight {wd:?} for {c} channels")));
                        }
                        let wv = weight(wname, &wd)?.flatten_all()?.to_vec1::<f32>()?;
                        let bv = b.to_vec1::<f32>()?;
                        let op = Depthwise { w: wv, b: bv, k: kh, kw, stride: s, pad, act, c, h, wi: w, oh, ow };
                        (Op::Depthwise { x, op }, Kind::Spatial([c, oh, ow]))
                    } else {
                        if wd[1] != c {
                            return Err(at(format!("conv weight {wd:?} for {c} input channels")));
                        }
                        let wt = weight(wname, &wd)?;
                        let out = [o, oh, ow];
                        if kh == 1 && kw == 1 && s == 1 && pad.top + pad.bottom + pad.left + pad.right == 0 {
                            let w2 = wt.reshape((o, c))?;
                            (Op::Pointwise { x, w: w2, b: b.reshape((o, 1))?, act, out }, Kind::Spatial(out))
                        } else {
                            if kh != kw {
                                return Err(at("non-square kernel".into()));
                            }
                            (
                                Op::Conv { x, w: wt, b: b.reshape((o, 1, 1))?, stride: s, pad, act, out },
                                Kind::Spatial(out),
                            )
                        }
                    }
                }
                "PRELU" => {
                    let (x, k) = value(0)?;
                    let [c, _, _] = spatial(&k)?;
                    let alpha = weight(&r.inputs.get(1).cloned().flatten(), &[c])?.to_vec1::<f32>()?;
                    (Op::Prelu { x, alpha: Prelu(alpha) }, k)
                }
                "RELU" => {
                    let (x, k) = value(0)?;
                    (Op::Relu { x }, k)
                }
                "ADD" => {
                    let (a, ka) = value(0)?;
                    let (b, kb) = value(1)?;
                    if ka != kb {
                        return Err(at(format!("adds {ka:?} and {kb:?}")));
                    }
                    (Op::Add { a, b, act }, ka)
                }
                "MAX_POOL_2D" => {
                    let (x, k) = value(0)?;
                    let [c, h, w] = spatial(&k)?;
                    let f = r.filter.ok_or_else(|| at("no filter".into()))?;
                    let st = r.stride.ok_or_else(|| at("no stride".into()))?;
                    // 2×2 stride-2 pooling on even sizes: SAME and VALID agree (no padding).
                    if f != [2, 2] || st != [2, 2] || h % 2 != 0 || w % 2 != 0 || act != Act::None {
                        return Err(at(format!("pooling {f:?}/{st:?} on {h}×{w} is not supported")));
                    }
                    (Op::MaxPool { x, k: 2, stride: 2 }, Kind::Spatial([c, h / 2, w / 2]))
                }
                "PAD" => {
                    let (x, k) = value(0)?;
                    let [c, h, w] = spatial(&k)?;
                    let p = r.paddings.as_ref().filter(|p| p.len() == 4 && p[0] == [0, 0]);
                    let p = p.ok_or_else(|| at(format!("paddings {:?}", r.paddings)))?;
                    let pad = Pad4 { top: p[1][0], bottom: p[1][1], left: p[2][0], right: p[2][1] };
                    let out = [c + p[3][0] + p[3][1], h + pad.top + pad.bottom, w + pad.left + pad.right];
                    (Op::Pad { x, c: p[3], pad }, Kind::Spatial(out))
                }
                "RESHAPE" => {
                    let (x, k) = value(0)?;
                    let n: usize = match &k {
                        Kind::Spatial(s) => s.iter().product(),
                        Kind::Flat(s) => s.iter().product(),
                    };
                    let shape: Vec<usize> = r.shape.iter().skip(1).copied().collect();
                    if r.shape.first() != Some(&1) || shape.iter().product::<usize>() != n {
                        return Err(at(format!("reshape of {n} values to {:?}", r.shape)));
                    }
                    (Op::Reshape { x, shape: shape.clone() }, Kind::Flat(shape))
                }
                "CONCATENATION" => {
                    let mut xs = Vec::new();
                    let mut shapes = Vec::new();
                    for k in 0..r.inputs.len() {
                        let (x, kind) = value(k)?;
                        match kind {
                            Kind::Flat(s) => shapes.push(s),
                            Kind::Spatial(_) => return Err(at("concatenation of spatial values".into())),
                        }
                        xs.push(x);
                    }
                    let axis = r.axis.unwrap_or(0);
                    let rank = shapes[0].len() as i64 + 1;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if axis < 1 || axis >= rank || act != Act::None {
                        return Err(at(format!("axis {axis}")));
                    }
                    let axis = axis as usize - 1;
                    let mut out = shapes[0].clone();
                    out[axis] = 0;
                    for s in &shapes {
                        for (d, (&a, &b)) in s.iter().zip(&shapes[0]).enumerate() {
                            if d != axis && a != b || s.len() != shapes[0].len() {
                                return Err(at(format!("shapes {shapes:?} do not concatenate")));
                            }
                        }
                        out[axis] += s[axis];
                    }
                    (Op::Concat { xs, axis }, Kind::Flat(out))
                }
                other => return Err(at(format!("unsupported operator {other}"))),
            };
            let recorded = match &kind {
                Kind::Spatial([c, h, w]) => vec![1, *h, *w, *c],
                Kind::Flat(s) => std::iter::once(1).chain(s.iter().copied()).collect(),
            };
            if recorded != r.shape {
                return Err(at(format!("computes shape {recorded:?}, the graph records {:?}", r.shape)));
            }
            let out_name = r.outputs.first().ok_or_else(|| at("no output".into()))?;
            let slot = kinds.len();
            kinds.push(kind);
            slot_of.insert(out_name.clone(), slot);
            ops.push((op, slot));
        }
        let outputs = g
            .outputs
            .iter()
            .map(|n| slot_of.get(n).copied().ok_or_else(|| bad(format!("output {n} is never computed"))))
            .collect::<Result<Vec<_>, _>>()?;
        let slots = kinds.len();
        let mut last_use = vec![usize::MAX; slots];
        for (i, (op, _)) in ops.iter().enumerate() {
            for s in op.reads() {
                last_use[s] = i;
            }
        }
        for &o in &outputs {
            last_use[o] = usize::MAX;
        }
        let mut frees = vec![Vec::new(); ops.len()];
        for (slot, &i) in last_use.iter().enumerate() {
            if i != usize::MAX {
                frees[i].push(slot);
            }
        }
        Ok(Network { name: name.to_string(), ops, input, outputs, slots, frees })
    }

    /// [`Network::load`], then a check that the input is `[3, n, n]`.
    pub fn load_sized(name: &str, files: super::ModelFiles<'_>, n: usize) -> Result<Self, NnError> {
        let net = Network::load(name, files.graph, files.weights)?;
        if net.input != [3, n, n] {
            return Err(NnError::Model {
                model: name.to_string(),
                what: format!("input {:?}, expected [3, {n}, {n}]", net.input),
            });
        }
        Ok(net)
    }

    /// Runs the network on one `[C, H, W]` input; returns each graph output flattened in
    /// TFLite's (NHWC) order. The matrix products run on one thread of their own: these
    /// networks are small, and candle's split of each product over the rayon pool costs more
    /// than it gains, badly so when the cores are busy (measured 14 ms vs 127 ms per mesh run
    /// on 2 loaded cores).
    pub fn run(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, NnError> {
        static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
        match POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok()) {
            Some(pool) => pool.install(|| self.run_here(input)),
            None => self.run_here(input),
        }
    }

    fn run_here(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, NnError> {
        let [c, h, w] = self.input;
        if input.len() != c * h * w {
            return Err(NnError::Input { model: self.name.clone(), got: input.len(), want: c * h * w });
        }
        let x = Tensor::from_slice(input, (c, h, w), &Device::Cpu)?;
        let mut vals: Vec<Option<Tensor>> = vec![None; self.slots];
        vals[0] = Some(x);
        for (i, (op, slot)) in self.ops.iter().enumerate() {
            let get = |s: usize| vals[s].as_ref().expect("slot computed before use (checked at load)");
            let y = match op {
                Op::Pointwise { x, w, b, act, out } => {
                    let xin = get(*x);
                    let [ci, hh, ww] = dims3(xin);
                    let y = w.matmul(&xin.reshape((ci, hh * ww))?)?.broadcast_add(b)?;
                    apply_act(y, *act)?.reshape((out[0], out[1], out[2]))?
                }
                Op::Conv { x, w, b, stride, pad, act, out } => {
                    let xin = get(*x).pad_with_zeros(1, pad.top, pad.bottom)?.pad_with_zeros(2, pad.left, pad.right)?;
                    let y = xin.unsqueeze(0)?.conv2d(w, 0, *stride, 1, 1)?.squeeze(0)?.broadcast_add(b)?;
                    debug_assert_eq!(y.dims(), out);
                    apply_act(y, *act)?
                }
                Op::Depthwise { x, op } => get(*x).contiguous()?.apply_op1_no_bwd(op)?,
                Op::Prelu { x, alpha } => get(*x).contiguous()?.apply_op1_no_bwd(alpha)?,
                Op::Relu { x } => get(*x).relu()?,
                Op::Add { a, b, act } => apply_act(get(*a).add(get(*b))?, *act)?,
                Op::MaxPool { x, k, stride } => {
                    get(*x).unsqueeze(0)?.max_pool2d_with_stride(*k, *stride)?.squeeze(0)?
                }
                Op::Pad { x, c, pad } => get(*x)
                    .pad_with_zeros(0, c[0], c[1])?
                    .pad_with_zeros(1, pad.top, pad.bottom)?
                    .pad_with_zeros(2, pad.left, pad.right)?,
                Op::Reshape { x, shape } => {
                    let xin = get(*x);
                    let hwc = if xin.rank() == 3 { xin.permute((1, 2, 0))? } else { xin.clone() };
                    hwc.contiguous()?.reshape(shape.as_slice())?
                }
                Op::Concat { xs, axis } => {
                    let ts: Vec<&Tensor> = xs.iter().map(|&s| get(s)).collect();
                    Tensor::cat(&ts, *axis)?
                }
            };
            vals[*slot] = Some(y);
            for &s in &self.frees[i] {
                vals[s] = None;
            }
        }
        self.outputs
            .iter()
            .map(|&s| {
                let t = vals[s].as_ref().expect("outputs are computed (checked at load)");
                let t = if t.rank() == 3 { t.permute((1, 2, 0))? } else { t.clone() };
                Ok(t.flatten_all()?.to_vec1::<f32>()?)
            })
            .collect()
    }
}

fn dims3(t: &Tensor) -> [usize; 3] {
    let d = t.dims();
    [d[0], d[1], d[2]]
}

impl Op {
    fn reads(&self) -> Vec<usize> {
        match self {
            Op::Pointwise { x, .. }
            | Op::Conv { x, .. }
            | Op::Depthwise { x, .. }
            | Op::Prelu { x, .. }
            | Op::Relu { x }
            | Op::MaxPool { x, .. }
            | Op::Pad { x, .. }
            | Op::Reshape { x, .. } => vec![*x],
            Op::Add { a, b, .. } => vec![*a, *b],
            Op::Concat { xs, .. } => xs.clone(),
        }
    }
}

/// The contiguous `f32` values of a custom op's input.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let (start, end) =
        layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("non-contiguous input".into()))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// PReLU with one slope per channel on a contiguous `[C, H, W]` tensor, in one pass (candle's
/// element-wise ops would take four).
struct Prelu(Vec<f32>);

impl CustomOp1 for Prelu {
    fn name(&self) -> &'static str {
        "prelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout)?;
        let c = self.0.len();
        if layout.dims().first() != Some(&c) || src.len() % c != 0 {
            return Err(candle_core::Error::Msg(format!("prelu of {c} slopes on {:?}", layout.dims())));
        }
        let plane = src.len() / c;
        let mut out = Vec::with_capacity(src.len());
        for (ch, chunk) in src.chunks_exact(plane).enumerate() {
            let a = self.0[ch];
            out.extend(chunk.iter().map(|&v| if v >= 0.0 { v } else { a * v }));
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// A depthwise convolution (any odd kernel, stride 1 or 2, TFLite SAME/VALID padding) with its
/// bias and activation fused, on a contiguous `[C, H, W]` tensor. candle's grouped conv2d
/// splits into one convolution per channel, which is far slower for this shape.
struct Depthwise {
    w: Vec<f32>,
    b: Vec<f32>,
    k: usize,
    kw: usize,
    stride: usize,
    pad: Pad4,
    act: Act,
    c: usize,
    h: usize,
    wi: usize,
    oh: usize,
    ow: usize,
}

impl CustomOp1 for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise-conv2d-bias-act"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout)?;
        let (c, h, w, oh, ow, s) = (self.c, self.h, self.wi, self.oh, self.ow, self.stride);
        if layout.dims() != [c, h, w] {
            return Err(candle_core::Error::Msg(format!("depthwise input {:?}, want {:?}", layout.dims(), [c, h, w])));
        }
        let (kh, kw) = (self.k, self.kw);
        let mut out = vec![0f32; c * oh * ow];
        let (top, left) = (self.pad.top as isize, self.pad.left as isize);
        for ch in 0..c {
            let k = &self.w[ch * kh * kw..(ch + 1) * kh * kw];
            let img = &src[ch * h * w..(ch + 1) * h * w];
            let dst = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
            dst.iter_mut().for_each(|v| *v = self.b[ch]);
            for oy in 0..oh {
                let row = &mut dst[oy * ow..(oy + 1) * ow];
                for ky in 0..kh {
                    let iy = (oy * s + ky) as isize - top;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let srow = &img[iy as usize * w..(iy as usize + 1) * w];
                    for kx in 0..kw {
                        let kv = k[ky * kw + kx];
                        let off = kx as isize - left;
                        // Output columns whose input column `ox·s + off` lies inside the row.
                        let lo = if off < 0 { ((-off) as usize).div_ceil(s) } else { 0 };
                        let hi = if (w as isize - off) <= 0 { 0 } else { ((w as isize - off) as usize).div_ceil(s) };
                        let hi = hi.min(ow);
                        if s == 1 {
                            let base = off + lo as isize;
                            let srcs = &srow[base as usize..base as usize + (hi.saturating_sub(lo))];
                            for (r, &v) in row[lo..hi.max(lo)].iter_mut().zip(srcs) {
                                *r += kv * v;
                            }
                        } else {
                            for ox in lo..hi {
                                row[ox] += kv * srow[(ox as isize * s as isize + off) as usize];
                            }
                        }
                    }
                }
                match self.act {
                    Act::None => {}
                    Act::Relu => row.iter_mut().for_each(|v| *v = v.max(0.0)),
                    Act::Relu6 => row.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((c, oh, ow))))
    }
}
