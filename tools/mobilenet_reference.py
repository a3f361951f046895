#!/usr/bin/env python3
"""Reference MobileNetV2 forward pass in NumPy (torchvision's architecture, BatchNorm unfolded),
independent of the Rust/candle port, for the classification check in the tests.

Writes tests/fixtures/gallery/{chelsea,coffee}.png (scikit-image's images after torchvision's
eval preprocessing geometry: resize shorter side to 256 bilinear, centre crop 224) and
tests/fixtures/gallery/mobilenet_reference.json (top-5 classes and logits, pooled features).

    python3 tools/mobilenet_reference.py assets/models/mobilenet_v2.safetensors
"""
import json
import sys

import numpy as np
from PIL import Image
from safetensors.numpy import load_file
import skimage.data

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def bn(x, w, p):
    g, b, m, v = (w[p + s] for s in (".weight", ".bias", ".running_mean", ".running_var"))
    return (x - m[:, None, None]) / np.sqrt(v[:, None, None] + 1e-5) * g[:, None, None] + b[:, None, None]


def conv_full(x, k, stride):
    c, h, wd = x.shape
    o, _, kh, kw = k.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ho, wo = (h + 2 - kh) // stride + 1, (wd + 2 - kw) // stride + 1
    out = np.zeros((o, ho, wo), np.float64)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy:dy + stride * ho:stride, dx:dx + stride * wo:stride]
            out += np.einsum("oc,chw->ohw", k[:, :, dy, dx], patch)
    return out


def conv_dw(x, k, stride):
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    out = np.zeros((c, ho, wo), np.float64)
    for dy in range(3):
        for dx in range(3):
            out += k[:, 0, dy, dx][:, None, None] * xp[:, dy:dy + stride * ho:stride, dx:dx + stride * wo:stride]
    return out


def conv_pw(x, k):
    return np.einsum("oc,chw->ohw", k[:, :, 0, 0], x)


def relu6(x):
    return np.clip(x, 0, 6)


def forward(w, img):
    x = ((img.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1).astype(np.float64)
    x = relu6(bn(conv_full(x, w["features.0.0.weight"], 2), w, "features.0.1"))
    i = 1
    cin = 32
    for t, c, n, s in SETTINGS:
        for r in range(n):
            stride = s if r == 0 else 1
            p = f"features.{i}.conv"
            y = x
            j = 0
            if t != 1:
                y = relu6(bn(conv_pw(y, w[f"{p}.0.0.weight"]), w, f"{p}.0.1"))
                j = 1
            y = relu6(bn(conv_dw(y, w[f"{p}.{j}.0.weight"], stride), w, f"{p}.{j}.1"))
            y = bn(conv_pw(y, w[f"{p}.{j + 1}.weight"]), w, f"{p}.{j + 2}")
            x = x + y if stride == 1 and cin == c else y
            cin = c
            i += 1
    x = relu6(bn(conv_pw(x, w["features.18.0.weight"]), w, "features.18.1"))
    feat = x.mean(axis=(1, 2))
    logits = w["classifier.1.weight"] @ feat + w["classifier.1.bias"]
    return feat, logits


def preprocess(arr):
    im = Image.fromarray(arr).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
    w, h = im.size
    left, top = (w - 224) // 2, (h - 224) // 2
    return im.crop((left, top, left + 224, top + 224))


def main():
    w = {k: v.astype(np.float64) for k, v in load_file(sys.argv[1]).items()}
    out = {"source": "tools/mobilenet_reference.py (NumPy, float64, torchvision MobileNetV2 architecture)",
           "images": {}}
    for name in ("chelsea", "coffee"):
        im = preprocess(getattr(skimage.data, name)())
        im.save(f"tests/fixtures/gallery/{name}.png")
        feat, logits = forward(w, np.asarray(im))
        top = np.argsort(-logits)[:5]
        out["images"][name] = {"top5": top.tolist(), "top5_logits": [round(float(logits[t]), 4) for t in top],
                               "features": [round(float(v), 5) for v in feat]}
        print(name, top.tolist(), [round(float(logits[t]), 2) for t in top])
    with open("tests/fixtures/gallery/mobilenet_reference.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
