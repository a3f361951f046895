//! A small TFLite-graph interpreter: the operator list converted by
//! `tools/convert_mediapipe.py` (JSON) and its weights (safetensors, read with candle), run on
//! the CPU with activations as planar `[C, H, W]` `f32` buffers (batch 1) by [`super::kernels`].
//!
//! Supported operators are exactly those MediaPipe's face models use: CONV_2D,
//! DEPTHWISE_CONV_2D, PRELU, RELU, ADD, MAX_POOL_2D, PAD (channels and space), RESHAPE and
//! CONCATENATION. Every shape is inferred at load time and checked against the converter's
//! record, so a wrong or truncated file is an error before the first frame.
//!
//! At load the plan is made once: a convolution followed by the residual ADD and the PReLU/ReLU
//! that only it feeds becomes one operator (one pass over memory instead of three), and the
//! values share a few buffers by lifetime, kept between runs — no allocation per frame.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{DType, Device};
use serde::Deserialize;

use super::NnError;
use super::kernels::{self, Act, ConvShape, Epilogue, Pad4, Post};

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

/// Shape of a value: spatial `[C, H, W]` or flat (TFLite's own shape without the batch).
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Spatial([usize; 3]),
    Flat(Vec<usize>),
}

impl Kind {
    fn len(&self) -> usize {
        match self {
            Kind::Spatial(s) => s.iter().product(),
            Kind::Flat(s) => s.iter().product(),
        }
    }
}

enum Op {
    /// A convolution (1×1 as a plain matrix product, others through `im2col`) with its bias,
    /// activation and, fused at load, a following residual addition and PReLU/ReLU.
    Conv {
        x: usize,
        w: Vec<f32>,
        o: usize,
        shape: ConvShape,
        epi: Epilogue,
    },
    Depthwise {
        x: usize,
        w: Vec<f32>,
        b: Vec<f32>,
        act: Act,
        shape: ConvShape,
    },
    Prelu {
        x: usize,
        alpha: Vec<f32>,
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
        chw: [usize; 3],
    },
    Pad {
        x: usize,
        chw: [usize; 3],
        c: [usize; 2],
        pad: Pad4,
    },
    /// To TFLite's flat (NHWC) order: a permutation for a spatial input, a copy for a flat one.
    Reshape {
        x: usize,
        from: Kind,
    },
    Concat {
        xs: Vec<usize>,
        shapes: Vec<Vec<usize>>,
        axis: usize,
    },
}

impl ConvShape {
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad.is_none()
    }
}

/// A loaded network, ready to run.
pub struct Network {
    name: String,
    ops: Vec<(Op, usize)>,
    input: [usize; 3],
    outputs: Vec<(usize, Kind)>,
    /// Values per slot, and the buffer each slot lives in.
    lens: Vec<usize>,
    buffer_of: Vec<usize>,
    /// Buffer sizes; the last buffer is `im2col`'s scratch.
    buffer_sizes: Vec<usize>,
    /// Sets of buffers kept between runs, one per run in flight (a run takes one or makes one).
    scratch: Mutex<Vec<Vec<Vec<f32>>>>,
    /// The kernels' copy for this CPU (AVX-512, AVX2 + FMA or baseline), chosen at load.
    isa: kernels::Isa,
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

impl Network {
    /// Parses a graph (JSON from `tools/convert_mediapipe.py`) with its weights (safetensors).
    /// `name` appears in every error.
    pub fn load(name: &str, graph_json: &str, weights: &[u8]) -> Result<Self, NnError> {
        let bad = |what: String| NnError::Model { model: name.to_string(), what };
        let g: GraphFile = serde_json::from_str(graph_json).map_err(|e| bad(format!("graph JSON: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)
            .map_err(|e| bad(format!("weights (safetensors): {e}")))?;
        let weight = |n: &Option<String>, shape: &[usize]| -> Result<Vec<f32>, NnError> {
            let n = n.as_ref().ok_or_else(|| bad("an operator lacks a weight input".into()))?;
            let t = tensors.get(n).ok_or_else(|| bad(format!("weights lack tensor {n}")))?;
            if t.dims() != shape {
                return Err(bad(format!("tensor {n} has shape {:?}, the graph needs {shape:?}", t.dims())));
            }
            let f = |e: candle_core::Error| bad(format!("tensor {n}: {e}"));
            t.to_dtype(DType::F32).and_then(|t| t.flatten_all()).and_then(|t| t.to_vec1::<f32>()).map_err(f)
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
                    if kh != kw {
                        return Err(at("non-square kernel".into()));
                    }
                    let (pad, oh, ow) = match r.padding.as_deref() {
                        Some("same") => {
                            let (oh, t, b) = same_pad(h, kh, s);
                            let (ow, l, rr) = same_pad(w, kw, s);
                            (Pad4 { top: t, bottom: b, left: l, right: rr }, oh, ow)
                        }
                        Some("valid") if h >= kh && w >= kw => (Pad4::NONE, (h - kh) / s + 1, (w - kw) / s + 1),
                        p => return Err(at(format!("padding {p:?} for a {h}×{w} input and {kh}×{kw} kernel"))),
                    };
                    let shape = ConvShape { c, h, w, k: kh, stride: s, pad, oh, ow };
                    let b = weight(&r.inputs.get(2).cloned().flatten(), &[o])?;
                    if r.op == "DEPTHWISE_CONV_2D" {
                        if o != c || wd[1] != 1 {
                            return Err(at(format!("depthwise weight {wd:?} for {c} channels")));
                        }
                        let w = weight(wname, &wd)?;
                        (Op::Depthwise { x, w, b, act, shape }, Kind::Spatial([c, oh, ow]))
                    } else {
                        if wd[1] != c {
                            return Err(at(format!("conv weight {wd:?} for {c} input channels")));
                        }
                        let w = weight(wname, &wd)?;
                        let epi = Epilogue { bias: b, act, residual: None, post: Post::None };
                        (Op::Conv { x, w, o, shape, epi }, Kind::Spatial([o, oh, ow]))
                    }
                }
                "PRELU" => {
                    let (x, k) = value(0)?;
                    let [c, _, _] = spatial(&k)?;
                    let alpha = weight(&r.inputs.get(1).cloned().flatten(), &[c])?;
                    (Op::Prelu { x, alpha }, k)
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
                    (Op::MaxPool { x, chw: [c, h, w] }, Kind::Spatial([c, h / 2, w / 2]))
                }
                "PAD" => {
                    let (x, k) = value(0)?;
                    let [c, h, w] = spatial(&k)?;
                    let p = r.paddings.as_ref().filter(|p| p.len() == 4 && p[0] == [0, 0]);
                    let p = p.ok_or_else(|| at(format!("paddings {:?}", r.paddings)))?;
                    let pad = Pad4 { top: p[1][0], bottom: p[1][1], left: p[2][0], right: p[2][1] };
                    let out = [c + p[3][0] + p[3][1], h + pad.top + pad.bottom, w + pad.left + pad.right];
                    (Op::Pad { x, chw: [c, h, w], c: p[3], pad }, Kind::Spatial(out))
                }
                "RESHAPE" => {
                    let (x, k) = value(0)?;
                    let n = k.len();
                    let shape: Vec<usize> = r.shape.iter().skip(1).copied().collect();
                    if r.shape.first() != Some(&1) || shape.iter().product::<usize>() != n {
                        return Err(at(format!("reshape of {n} values to {:?}", r.shape)));
                    }
                    (Op::Reshape { x, from: k }, Kind::Flat(shape))
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
                    if shapes.is_empty() {
                        return Err(at("no inputs".into()));
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
                    (Op::Concat { xs, shapes, axis }, Kind::Flat(out))
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
            .map(|n| {
                let s = slot_of.get(n).copied().ok_or_else(|| bad(format!("output {n} is never computed")))?;
                Ok((s, kinds[s].clone()))
            })
            .collect::<Result<Vec<_>, NnError>>()?;
        let ops = fuse(ops, kinds.len(), &outputs);
        let lens: Vec<usize> = kinds.iter().map(Kind::len).collect();
        let (buffer_of, mut buffer_sizes) = plan_buffers(&ops, &lens, &outputs);
        let cols = ops
            .iter()
            .map(|(op, _)| match op {
                Op::Conv { shape, .. } if !shape.is_pointwise() => shape.c * shape.k * shape.k * shape.oh * shape.ow,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        buffer_sizes.push(cols);
        Ok(Network {
            name: name.to_string(),
            ops,
            input,
            outputs,
            lens,
            buffer_of,
            buffer_sizes,
            scratch: Mutex::new(Vec::new()),
            isa: kernels::Isa::detect(),
        })
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

    /// Operators left after fusion (for tests and the bench's report).
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// Runs the network on one `[C, H, W]` input; returns each graph output flattened in
    /// TFLite's (NHWC) order. One thread: these networks are small, and splitting each product
    /// over a pool costs more than it gains, badly so when the cores are busy (measured 14 ms
    /// vs 127 ms per mesh run on 2 loaded cores with candle's split); callers run separate
    /// networks in parallel instead.
    pub fn run(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, NnError> {
        let [c, h, w] = self.input;
        if input.len() != c * h * w {
            return Err(NnError::Input { model: self.name.clone(), got: input.len(), want: c * h * w });
        }
        let pooled = self.scratch.lock().ok().and_then(|mut p| p.pop());
        let mut bufs = pooled.unwrap_or_else(|| self.buffer_sizes.iter().map(|&n| vec![0f32; n]).collect());
        let out = self.run_in(input, &mut bufs);
        if let Ok(mut p) = self.scratch.lock() {
            p.push(bufs);
        }
        Ok(out)
    }

    fn run_in(&self, input: &[f32], bufs: &mut [Vec<f32>]) -> Vec<Vec<f32>> {
        let isa = self.isa;
        bufs[self.buffer_of[0]][..input.len()].copy_from_slice(input);
        let mut cols = std::mem::take(bufs.last_mut().expect("the scratch buffer is planned"));
        for (op, slot) in &self.ops {
            let ob = self.buffer_of[*slot];
            let mut out = std::mem::take(&mut bufs[ob]);
            let y = &mut out[..self.lens[*slot]];
            let view: &[Vec<f32>] = bufs;
            let get = |s: usize| &view[self.buffer_of[s]][..self.lens[s]];
            match op {
                Op::Conv { x, w, o, shape, epi } => {
                    let n = shape.oh * shape.ow;
                    if shape.is_pointwise() {
                        kernels::matmul_on(isa, w, get(*x), y, *o, shape.c, n);
                    } else {
                        let kk = shape.c * shape.k * shape.k;
                        kernels::im2col_on(isa, get(*x), shape, &mut cols[..kk * n]);
                        kernels::matmul_on(isa, w, &cols[..kk * n], y, *o, kk, n);
                    }
                    kernels::epilogue_on(isa, y, n, epi, epi.residual.map(|(r, _)| get(r)));
                }
                Op::Depthwise { x, w, b, act, shape } => kernels::depthwise_on(isa, get(*x), shape, w, b, *act, y),
                Op::Prelu { x, alpha } => kernels::prelu_on(isa, get(*x), alpha, y),
                Op::Relu { x } => y.iter_mut().zip(get(*x)).for_each(|(d, &v)| *d = v.max(0.0)),
                Op::Add { a, b, act } => kernels::add_on(isa, get(*a), get(*b), *act, y),
                Op::MaxPool { x, chw: [c, h, w] } => kernels::max_pool2(get(*x), *c, *h, *w, y),
                Op::Pad { x, chw: [c, h, w], c: cp, pad } => kernels::pad(get(*x), *c, *h, *w, *cp, pad, y),
                Op::Reshape { x, from } => match from {
                    Kind::Spatial([c, h, w]) => kernels::to_hwc(get(*x), *c, h * w, y),
                    Kind::Flat(_) => y.copy_from_slice(get(*x)),
                },
                Op::Concat { xs, shapes, axis } => {
                    let parts: Vec<&[f32]> = xs.iter().map(|&s| get(s)).collect();
                    kernels::concat(&parts, shapes, *axis, y);
                }
            }
            bufs[ob] = out;
        }
        *bufs.last_mut().expect("the scratch buffer is planned") = cols;
        self.outputs
            .iter()
            .map(|(s, kind)| {
                let v = &bufs[self.buffer_of[*s]][..self.lens[*s]];
                match kind {
                    Kind::Spatial([c, h, w]) => {
                        let mut out = vec![0f32; v.len()];
                        kernels::to_hwc(v, *c, h * w, &mut out);
                        out
                    }
                    Kind::Flat(_) => v.to_vec(),
                }
            })
            .collect()
    }
}

impl Op {
    fn reads(&self) -> Vec<usize> {
        match self {
            Op::Conv { x, epi, .. } => std::iter::once(*x).chain(epi.residual.map(|(r, _)| r)).collect(),
            Op::Depthwise { x, .. }
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

/// Folds `conv → ADD(residual) → PReLU/ReLU` chains into the convolution's epilogue wherever each
/// intermediate value is read only by the next operator (and is not an output), and the
/// residual is computed before the convolution.
fn fuse(ops: Vec<(Op, usize)>, slots: usize, outputs: &[(usize, Kind)]) -> Vec<(Op, usize)> {
    let mut readers = vec![0usize; slots];
    for (op, _) in &ops {
        for s in op.reads() {
            readers[s] += 1;
        }
    }
    for (s, _) in outputs {
        readers[*s] += 1;
    }
    // Which op index produces each slot.
    let mut ops: Vec<Option<(Op, usize)>> = ops.into_iter().map(Some).collect();
    let producer: HashMap<usize, usize> =
        ops.iter().enumerate().filter_map(|(i, o)| o.as_ref().map(|(_, s)| (*s, i))).collect();
    let only_reader = |ops: &[Option<(Op, usize)>], slot: usize, from: usize| -> Option<usize> {
        if readers[slot] != 1 {
            return None;
        }
        (from + 1..ops.len()).find(|&j| ops[j].as_ref().is_some_and(|(op, _)| op.reads().contains(&slot)))
    };
    for i in 0..ops.len() {
        let Some((Op::Conv { .. }, mut slot)) = ops[i].as_ref().map(|(o, s)| (o, *s)) else { continue };
        let conv_slot_producer = i;
        // conv → ADD
        if let Some(j) = only_reader(&ops, slot, i)
            && let Some((Op::Add { a, b, act }, add_slot)) = ops[j].as_ref()
        {
            let other = if *a == slot { *b } else { *a };
            let earlier = other != slot && producer.get(&other).is_none_or(|&p| p < conv_slot_producer);
            if earlier {
                let (act, add_slot) = (*act, *add_slot);
                ops[j] = None;
                if let Some((Op::Conv { epi, .. }, s)) = ops[i].as_mut() {
                    epi.residual = Some((other, act));
                    *s = add_slot;
                }
                slot = add_slot;
            }
        }
        // → PReLU / ReLU
        if let Some(j) = only_reader(&ops, slot, i) {
            let post = match ops[j].as_ref() {
                Some((Op::Prelu { alpha, .. }, s)) => Some((Post::Prelu(alpha.clone()), *s)),
                Some((Op::Relu { .. }, s)) => Some((Post::Relu, *s)),
                _ => None,
            };
            if let Some((post, s2)) = post {
                ops[j] = None;
                if let Some((Op::Conv { epi, .. }, s)) = ops[i].as_mut() {
                    epi.post = post;
                    *s = s2;
                }
            }
        }
    }
    ops.into_iter().flatten().collect()
}

/// Assigns each slot a buffer: a value takes a buffer freed by a value no longer read (the
/// smallest that fits, else the largest free one, grown), or a new one. Returns each slot's
/// buffer and each buffer's size.
fn plan_buffers(ops: &[(Op, usize)], lens: &[usize], outputs: &[(usize, Kind)]) -> (Vec<usize>, Vec<usize>) {
    let mut last_use = vec![None; lens.len()];
    for (i, (op, _)) in ops.iter().enumerate() {
        for s in op.reads() {
            last_use[s] = Some(i);
        }
    }
    for (s, _) in outputs {
        last_use[*s] = Some(usize::MAX);
    }
    let mut buffer_of = vec![usize::MAX; lens.len()];
    let mut sizes: Vec<usize> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let take = |need: usize, sizes: &mut Vec<usize>, free: &mut Vec<usize>| -> usize {
        let fit = free.iter().enumerate().filter(|(_, b)| sizes[**b] >= need).min_by_key(|(_, b)| sizes[**b]);
        let pick = fit.or_else(|| free.iter().enumerate().max_by_key(|(_, b)| sizes[**b])).map(|(i, _)| i);
        match pick {
            Some(i) => {
                let b = free.swap_remove(i);
                sizes[b] = sizes[b].max(need);
                b
            }
            None => {
                sizes.push(need);
                sizes.len() - 1
            }
        }
    };
    buffer_of[0] = take(lens[0], &mut sizes, &mut free);
    for (i, (op, slot)) in ops.iter().enumerate() {
        buffer_of[*slot] = take(lens[*slot], &mut sizes, &mut free);
        let mut reads = op.reads();
        reads.sort_unstable();
        reads.dedup();
        for s in reads {
            if last_use[s] == Some(i) {
                free.push(buffer_of[s]);
            }
        }
    }
    (buffer_of, sizes)
}
