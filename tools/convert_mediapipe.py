#!/usr/bin/env python3
"""Convert MediaPipe's TFLite face models into files headroom owns.

Source: PyPI `mediapipe==0.10.14` (Apache-2.0), files
  mediapipe/modules/face_detection/face_detection_short_range.tflite   (BlazeFace, 128×128)
  mediapipe/modules/face_landmark/face_landmark.tflite                 (face mesh, 192×192, 468 pts)
  mediapipe/modules/iris_landmark/iris_landmark.tflite                 (iris, 64×64)

For each model this writes
  assets/models/<name>.safetensors   every constant tensor (fp16 weights dequantised, stored as
                                     f16 again when they were f16, else f32), in candle's layout:
                                     conv weights [out, in, kh, kw], depthwise [C, 1, kh, kw],
                                     biases [out], PReLU slopes [C]
  assets/models/<name>.graph.json    the operator list (op, inputs, outputs, options, shapes)
The Rust side (plugins/face/src/nn) interprets the graph with candle, activations in NCHW.

Usage: pip install --no-deps mediapipe==0.10.14 && pip install tflite numpy safetensors
       python3 tools/convert_mediapipe.py [--out assets/models]
"""
import argparse, json, os, sys

import numpy as np
import tflite
from safetensors.numpy import save_file

MODELS = {
    "blazeface_short": "modules/face_detection/face_detection_short_range.tflite",
    "face_landmark": "modules/face_landmark/face_landmark.tflite",
    "iris_landmark": "modules/iris_landmark/iris_landmark.tflite",
}

OPNAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
ACT = {0: "none", 1: "relu", 3: "relu6"}
PAD = {0: "same", 1: "valid"}


def options(op, cls):
    o = cls()
    t = op.BuiltinOptions()
    o.Init(t.Bytes, t.Pos)
    return o


def convert(path, name, out_dir):
    buf = open(path, "rb").read()
    m = tflite.Model.GetRootAsModel(buf, 0)
    g = m.Subgraphs(0)

    def tname(i):
        return g.Tensors(i).Name().decode()

    def tshape(i):
        t = g.Tensors(i)
        return [int(x) for x in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def tdata(i):
        t = g.Tensors(i)
        b = m.Buffers(t.Buffer())
        if b.DataLength() == 0:
            return None
        raw = b.DataAsNumpy().tobytes()
        return np.frombuffer(raw, dtype=TYPES[t.Type()]).reshape(tshape(i))

    consts = {}  # tflite tensor name -> np array (tflite layout)
    f16 = set()
    ops = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code = m.OperatorCodes(op.OpcodeIndex())
        kind = OPNAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        outs = [op.Outputs(i) for i in range(op.OutputsLength())]
        for i in ins:
            if i >= 0:
                d = tdata(i)
                if d is not None:
                    consts[tname(i)] = d
        if kind == "DEQUANTIZE":
            src = consts[tname(ins[0])]
            consts[tname(outs[0])] = src.astype(np.float32)
            if src.dtype == np.float16:
                f16.add(tname(outs[0]))
            continue
        rec = {"op": kind, "inputs": [tname(i) if i >= 0 else None for i in ins],
               "outputs": [tname(i) for i in outs], "shape": tshape(outs[0])}
        if kind == "CONV_2D":
            o = options(op, tflite.Conv2DOptions)
            assert o.DilationHFactor() == 1 and o.DilationWFactor() == 1
            rec.update(stride=[o.StrideH(), o.StrideW()], padding=PAD[o.Padding()],
                       act=ACT[o.FusedActivationFunction()])
        elif kind == "DEPTHWISE_CONV_2D":
            o = options(op, tflite.DepthwiseConv2DOptions)
            assert o.DepthMultiplier() == 1
            rec.update(stride=[o.StrideH(), o.StrideW()], padding=PAD[o.Padding()],
                       act=ACT[o.FusedActivationFunction()])
        elif kind == "MAX_POOL_2D":
            o = options(op, tflite.Pool2DOptions)
            rec.update(stride=[o.StrideH(), o.StrideW()], filter=[o.FilterHeight(), o.FilterWidth()],
                       padding=PAD[o.Padding()], act=ACT[o.FusedActivationFunction()])
        elif kind == "ADD":
            o = options(op, tflite.AddOptions)
            rec.update(act=ACT[o.FusedActivationFunction()])
        elif kind == "CONCATENATION":
            o = options(op, tflite.ConcatenationOptions)
            rec.update(axis=o.Axis(), act=ACT[o.FusedActivationFunction()])
        elif kind == "PAD":
            rec.update(paddings=consts.pop(tname(ins[1])).astype(int).tolist())
            rec["inputs"] = rec["inputs"][:1]
        elif kind == "RESHAPE":
            rec["inputs"] = rec["inputs"][:1]
        elif kind in ("RELU", "PRELU"):
            pass
        else:
            sys.exit(f"{name}: unsupported operator {kind}")
        ops.append(rec)

    # Weights into candle's layout, keyed by tensor name.
    tensors = {}
    used = set()
    for rec in ops:
        for i, n in enumerate(rec["inputs"]):
            if n is None or n not in consts:
                continue
            a = consts[n]
            if rec["op"] == "CONV_2D" and i == 1:
                a = a.transpose(0, 3, 1, 2)  # [O, kh, kw, I] -> [O, I, kh, kw]
            elif rec["op"] == "DEPTHWISE_CONV_2D" and i == 1:
                a = a.transpose(3, 0, 1, 2)  # [1, kh, kw, C] -> [C, 1, kh, kw]
            elif rec["op"] == "PRELU":
                a = a.reshape(-1)
            elif rec["op"] == "ADD":
                a = a.reshape(-1) if a.ndim and a.size > 1 else a.reshape([1])
            a = np.ascontiguousarray(a.astype(np.float16 if n in f16 else np.float32))
            tensors[n] = a
            used.add(n)
    g_in = [tname(g.Inputs(i)) for i in range(g.InputsLength())]
    g_out = [tname(g.Outputs(i)) for i in range(g.OutputsLength())]
    graph = {"source": f"mediapipe==0.10.14 {MODELS[name]} (Apache-2.0)",
             "input": g_in[0], "input_shape": tshape(g.Inputs(0)), "outputs": g_out,
             "output_shapes": [tshape(g.Outputs(i)) for i in range(g.OutputsLength())],
             "ops": ops}
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, os.path.join(out_dir, f"{name}.safetensors"),
              metadata={"source": graph["source"], "converted_by": "tools/convert_mediapipe.py"})
    with open(os.path.join(out_dir, f"{name}.graph.json"), "w") as f:
        head = {k: v for k, v in graph.items() if k != "ops"}
        f.write(json.dumps(head, separators=(",", ":"))[:-1] + ',"ops":[\n')
        f.write(",\n".join(json.dumps(op, separators=(",", ":")) for op in ops))
        f.write("\n]}\n")
    n_par = sum(t.size for t in tensors.values())
    print(f"{name}: {len(ops)} ops, {len(tensors)} tensors, {n_par} parameters")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "assets", "models"))
    args = ap.parse_args()
    import importlib.util
    spec = importlib.util.find_spec("mediapipe")
    if spec is None:
        sys.exit("mediapipe is not installed: pip install --no-deps mediapipe==0.10.14")
    root = os.path.dirname(spec.origin)
    for name, rel in MODELS.items():
        convert(os.path.join(root, rel), name, args.out)


if __name__ == "__main__":
    main()
