#!/usr/bin/env python3
"""Reference outputs of MediaPipe's own TFLite models for headroom's candle port.

Runs the three models of PyPI `mediapipe==0.10.14` through the TFLite interpreter
(PyPI `ai-edge-litert`) on crops of a bundled still, and writes
  tests/fixtures/mesh/<model>_input.png          the exact network input (RGB, lossless)
  tests/fixtures/mesh/reference.safetensors      raw outputs per model
The crops: BlazeFace gets the whole still letterboxed to 128×128 (as MediaPipe's
ImageToTensor with keep_aspect_ratio); the face mesh a 192×192 crop around the face
(box from the reference landmarks, ×1.5, square); the iris model a 64×64 crop around the
left eye. Network inputs are then the PNG's pixels scaled as each model expects:
BlazeFace [-1, 1], face mesh and iris [0, 1].

Usage: pip install ai-edge-litert opencv-python-headless safetensors numpy
       python3 tools/mediapipe_reference.py
"""
import importlib.util, json, os

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "mesh")
MP = os.path.dirname(importlib.util.find_spec("mediapipe").origin)
STILL = "franck_02221.jpg"


def run(model, x):
    it = Interpreter(model_path=os.path.join(MP, model))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).astype(np.float32) for d in it.get_output_details()}


def crop(img, cx, cy, size, n):
    s = n / size
    m = np.array([[s, 0, n / 2 - s * cx], [0, s, n / 2 - s * cy]], dtype=np.float64)
    return cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = cv2.cvtColor(cv2.imread(os.path.join(ROOT, "tests", "fixtures", "faces", STILL)), cv2.COLOR_BGR2RGB)
    ref = json.load(open(os.path.join(ROOT, "tests", "fixtures", "faces", "reference.json")))["stills"][STILL]
    pts = np.array(list(ref.values()), dtype=np.float64)
    out = {}

    h, w = rgb.shape[:2]
    side = max(w, h)
    board = np.zeros((side, side, 3), np.uint8)
    board[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = rgb
    det_in = cv2.resize(board, (128, 128), interpolation=cv2.INTER_AREA)
    cv2.imwrite(os.path.join(OUT, "blazeface_input.png"), cv2.cvtColor(det_in, cv2.COLOR_RGB2BGR))
    r = run("modules/face_detection/face_detection_short_range.tflite", det_in.astype(np.float32) / 127.5 - 1.0)
    out["blazeface.regressors"] = r["regressors"][0]
    out["blazeface.classificators"] = r["classificators"][0]

    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    mesh_in = crop(rgb, (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * 1.6 * max(x1 - x0, y1 - y0), 192)
    cv2.imwrite(os.path.join(OUT, "face_landmark_input.png"), cv2.cvtColor(mesh_in, cv2.COLOR_RGB2BGR))
    r = run("modules/face_landmark/face_landmark.tflite", mesh_in.astype(np.float32) / 255.0)
    out["face_landmark.landmarks"] = r["conv2d_21"].reshape(-1)
    out["face_landmark.presence"] = r["conv2d_31"].reshape(-1)

    lm = r["conv2d_21"].reshape(468, 3)
    e0, e1 = lm[33, :2], lm[133, :2]
    c, size = (e0 + e1) / 2, 2.3 * np.linalg.norm(e1 - e0)
    iris_in = crop(mesh_in, c[0], c[1], size, 64)
    cv2.imwrite(os.path.join(OUT, "iris_landmark_input.png"), cv2.cvtColor(iris_in, cv2.COLOR_RGB2BGR))
    r = run("modules/iris_landmark/iris_landmark.tflite", iris_in.astype(np.float32) / 255.0)
    out["iris_landmark.contours"] = r["output_eyes_contours_and_brows"].reshape(-1)
    out["iris_landmark.iris"] = r["output_iris"].reshape(-1)

    save_file({k: np.ascontiguousarray(v) for k, v in out.items()}, os.path.join(OUT, "reference.safetensors"),
              metadata={"source": "mediapipe==0.10.14 models through ai-edge-litert", "still": STILL})
    for k, v in out.items():
        print(k, v.shape, float(v.min()), float(v.max()))


if __name__ == "__main__":
    main()
