#!/usr/bin/env python3
"""Which face-mesh vertex stands for each of clmtrackr's 71 points.

Semantic points are fixed by MediaPipe's mesh topology (eye corners, pupils from the iris
model, nose tip and base, mouth corners, lip centres, chin, brow ends: the points accuracy is
scored on). The rest (jaw contour, brow and eye middles, nose sides, lips) are chosen from data:
MediaPipe's face mesh (ai-edge-litert) on the bundled clip stills, clmtrackr's mean shape
aligned to each by a similarity on the fixed points, and for each remaining point the vertex
with the least mean distance to it. Writes assets/models/mesh_to_clm71.json.

Usage: python3 tools/mesh_to_clm71.py   (needs mediapipe==0.10.14, ai-edge-litert, opencv)
"""
import glob, importlib.util, json, os

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

ROOT = os.path.join(os.path.dirname(__file__), "..")
MP = os.path.dirname(importlib.util.find_spec("mediapipe").origin)
PUPIL_R, PUPIL_L = 468, 469  # pseudo-vertices: the iris model's pupil centres

# clmtrackr point -> mesh vertex, by MediaPipe's topology.
FIXED = {
    23: 33, 25: 133, 28: 263, 30: 362,      # eye corners (subject's right eye first)
    27: PUPIL_R, 32: PUPIL_L,               # pupils
    62: 1, 37: 2,                           # nose tip, nose base (subnasale)
    44: 61, 50: 291,                        # mouth corners
    47: 0, 53: 17,                          # upper lip top centre, lower lip bottom centre
    60: 13, 57: 14,                         # inner lip centres (upper, lower)
    7: 152,                                 # chin
    33: 168,                                # between the eyes
    15: 300, 18: 336, 19: 70, 22: 107,      # brow ends (left outer, inner; right outer, inner)
}

# The other points choose among the vertices of their own feature (MediaPipe's contour lists).
OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
        152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
BROWS = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
RIGHT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173]
LEFT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398]
OUTER_LIPS = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409]
INNER_LIPS = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415]
GROUPS = [(range(0, 15), OVAL), (range(15, 23), BROWS), ([24, 26, 63, 64, 65, 66], RIGHT_EYE),
          ([29, 31, 67, 68, 69, 70], LEFT_EYE), ([45, 46, 48, 49, 51, 52, 54, 55], OUTER_LIPS),
          ([56, 58, 59, 61], INNER_LIPS)]


def mesh(img, box):
    (x0, y0), (x1, y1) = box
    cx, cy, size = (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0)
    s = 192 / size
    m = np.array([[s, 0, 96 - s * cx], [0, s, 96 - s * cy]])
    crop = cv2.warpAffine(img, m, (192, 192))
    it = Interpreter(model_path=os.path.join(MP, "modules/face_landmark/face_landmark.tflite"))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], crop[None].astype(np.float32) / 255)
    it.invoke()
    out = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    lm = out["conv2d_21"].reshape(468, 3)[:, :2]
    return (lm - [96 - s * cx, 96 - s * cy]) / s


def similarity(src, dst):
    a, b = src - src.mean(0), dst - dst.mean(0)
    za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
    k = (np.conj(za) @ zb) / (np.conj(za) @ za)
    return lambda p: (lambda z: np.stack([z.real, z.imag], -1))(((p - src.mean(0)) @ [1, 1j]) * k) + dst.mean(0)


def main():
    model = json.load(open(os.path.join(ROOT, "assets/models/clmtrackr-pca20-svm.json")))
    mean = np.array(model["mean_shape"], dtype=np.float64)
    ref = json.load(open(os.path.join(ROOT, "tests/fixtures/faces/reference.json")))["stills"]
    cost = np.zeros((71, 468))
    n = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/faces/*.jpg"))):
        pts = np.array(list(ref[os.path.basename(path)].values()))
        img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        lm = mesh(img, (pts.min(0), pts.max(0)))
        lm = mesh(img, (lm.min(0), lm.max(0)))  # re-crop from the landmarks, as tracking does
        anchors = [k for k, v in FIXED.items() if v < 468]
        f = similarity(mean[anchors], lm[[FIXED[k] for k in anchors]])
        aligned = f(mean)
        iod = np.linalg.norm(lm[33] - lm[263])
        cost += np.linalg.norm(aligned[:, None, :] - lm[None, :, :], axis=2) / iod
        n += 1
    cost /= n
    points = []
    for k in range(71):
        if k in FIXED:
            points.append(FIXED[k])
        else:
            cand = next((c for ks, c in GROUPS if k in ks), range(468))
            points.append(int(min(cand, key=lambda v: cost[k, v])))
            print(f"point {k}: vertex {points[-1]} (mean distance {cost[k, points[-1]]:.3f} of the eye distance)")
    out = {"source": "tools/mesh_to_clm71.py: MediaPipe face mesh topology + clmtrackr mean shape on the bundled stills",
           "pupils": {"right": PUPIL_R, "left": PUPIL_L}, "vertices": points}
    with open(os.path.join(ROOT, "assets/models/mesh_to_clm71.json"), "w") as fh:
        json.dump(out, fh)
        fh.write("\n")


if __name__ == "__main__":
    main()
