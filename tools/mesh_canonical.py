#!/usr/bin/env python3
"""A canonical (frontal, symmetric) 3D face for head pose from the face mesh.

MediaPipe's own canonical model is not in the PyPI wheel, so this builds one from the face mesh
itself: the network's 3D output on the bundled clip stills, aligned by Procrustes and averaged,
then made mirror-symmetric about the midline (each vertex paired with its mirror image) so that
zero yaw and roll are exact. Units: centimetres, the outer eye corners 9.0 cm apart (an adult
average); x to the subject's left (image right), y down, z away from the camera, origin at the
centroid. Writes assets/models/face_mesh_canonical.json ("points" and the mirror "pairs").

Usage: python3 tools/mesh_canonical.py   (needs mediapipe==0.10.14, ai-edge-litert, opencv)
"""
import glob, importlib.util, json, os

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

ROOT = os.path.join(os.path.dirname(__file__), "..")
MP = os.path.dirname(importlib.util.find_spec("mediapipe").origin)
# Vertices on the face's midline (MediaPipe topology): forehead to chin.
MIDLINE = [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17,
           18, 200, 199, 175, 152]


def mesh3d(it, img, box):
    (x0, y0), (x1, y1) = box
    cx, cy, size = (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0)
    s = 192 / size
    m = np.array([[s, 0, 96 - s * cx], [0, s, 96 - s * cy]])
    crop = cv2.warpAffine(img, m, (192, 192))
    it.set_tensor(it.get_input_details()[0]["index"], crop[None].astype(np.float32) / 255)
    it.invoke()
    out = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    lm = out["conv2d_21"].reshape(468, 3).astype(np.float64)
    lm[:, :2] = (lm[:, :2] - [96 - s * cx, 96 - s * cy]) / s
    lm[:, 2] /= s
    return lm


def procrustes(a, b):
    """R, s, t minimising |s R a + t - b|."""
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    u, sv, vt = np.linalg.svd(b0.T @ a0)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    s = (sv * [1, 1, d]).sum() / (a0 ** 2).sum()
    return r, s, mb - s * r @ ma


def main():
    it = Interpreter(model_path=os.path.join(MP, "modules/face_landmark/face_landmark.tflite"))
    it.allocate_tensors()
    ref = json.load(open(os.path.join(ROOT, "tests/fixtures/faces/reference.json")))["stills"]
    faces = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/faces/*.jpg"))):
        pts = np.array(list(ref[os.path.basename(path)].values()))
        img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        lm = mesh3d(it, img, (pts.min(0), pts.max(0)))
        faces.append(mesh3d(it, img, (lm[:, :2].min(0), lm[:, :2].max(0))))
    mean = faces[0] - faces[0].mean(0)
    for _ in range(3):
        aligned = []
        for f in faces:
            r, s, t = procrustes(f, mean)
            aligned.append((s * (r @ f.T)).T + t)
        mean = np.mean(aligned, 0)
        mean -= mean.mean(0)
    # Midline plane: least-squares plane through the midline vertices; rotate its normal onto x.
    mid = mean[MIDLINE]
    c = mid.mean(0)
    normal = np.linalg.svd(mid - c)[2][2]
    if normal[0] < 0:
        normal = -normal
    up = mean[152] - mean[10]  # forehead → chin: y axis
    up -= up.dot(normal) * normal
    up /= np.linalg.norm(up)
    fwd = np.cross(normal, up)
    basis = np.stack([normal, up, fwd])
    p = (basis @ (mean - c).T).T
    # Mirror pairs: reflect x and take the nearest vertex; then symmetrise.
    refl = p * [-1, 1, 1]
    pairs = [int(np.argmin(((p - q) ** 2).sum(1))) for q in refl]
    sym = (p + refl[pairs]) / 2
    for i in MIDLINE:
        sym[i, 0] = 0.0
    sym -= sym.mean(0) * [0, 1, 1]
    iod = np.linalg.norm(sym[33] - sym[263])
    sym *= 9.0 / iod
    asym = np.abs(sym[pairs] * [-1, 1, 1] - sym).max()
    out = {"source": "tools/mesh_canonical.py: MediaPipe face mesh on the bundled stills, averaged and symmetrised",
           "units": "cm; x to the subject's left, y down, z away from the camera",
           "points": [[round(float(v), 4) for v in q] for q in sym], "pairs": pairs}
    with open(os.path.join(ROOT, "assets/models/face_mesh_canonical.json"), "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"{len(faces)} faces; nose tip z {sym[1, 2]:.2f} cm vs ear-side {sym[234, 2]:.2f}; "
          f"self-paired {sum(i == j for i, j in enumerate(pairs))}; worst asymmetry {asym:.3f} cm")


if __name__ == "__main__":
    main()
