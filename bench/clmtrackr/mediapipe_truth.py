#!/usr/bin/env python3
"""MediaPipe Face Mesh 0.10.14 (static mode, refined iris) landmarks on a folder of images, mapped
to clmtrackr's point numbers as in bench/accuracy/make_reference.py, written in that file's
format ({"stills": {name: {clm point: [x, y]}}}) for bench/clmtrackr/compare.py --truth. Images
where MediaPipe finds no face are left out.

  python3 bench/clmtrackr/mediapipe_truth.py DIR OUT.json
"""
import json, os, sys

import cv2
import mediapipe as mp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "accuracy"))
from make_reference import MAPPING  # noqa: E402

src, out = sys.argv[1], sys.argv[2]
stills = {}
with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
    for name in sorted(os.listdir(src)):
        img = cv2.imread(os.path.join(src, name))
        if img is None:
            continue
        h, w = img.shape[:2]
        res = fm.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if not res.multi_face_landmarks:
            continue
        lm = res.multi_face_landmarks[0].landmark
        stills[name] = {str(k): [lm[v].x * w, lm[v].y * h] for k, v in MAPPING.items()}
json.dump({"source": "MediaPipe Face Mesh 0.10.14 (refine_landmarks=True)", "normaliser": ["23", "28"],
           "stills": stills}, open(out, "w"))
print(f"{len(stills)} images with a face of {len(os.listdir(src))}", file=sys.stderr)
