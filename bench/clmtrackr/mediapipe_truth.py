#!/usr/bin/env python3
"""MediaPipe Face Mesh 0.10.14 (static mode, refined iris) landmarks on a folder of images, mapped
to clmtrackr's point numbers as in bench/accuracy/make_reference.py, written in that file's
format ({"stills": {name: {clm point: [x, y]}}}) for bench/clmtrackr/compare.py --truth. Images
where MediaPipe finds no face are left out.

  python3 bench/clmtrackr/mediapipe_truth.py DIR OUT.json [--min-side N]

Small images are enlarged first (bicubic, by the whole factor that brings the longer side to at
least N px, default 800) and the points scaled back: on the 200-px public-art thumbnails
MediaPipe's points lie 0.35-0.4 px up and left of where it puts them on the same picture enlarged
four times (and its x is off by 0.4 px from the mirrored picture's), a bias of its crop at that
size, which is as large as the half-pixel differences this truth must judge. Enlarged 4x, the
bias shrinks to a quarter.
"""
import json, os, sys

import cv2
import mediapipe as mp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "accuracy"))
from make_reference import MAPPING  # noqa: E402

args = sys.argv[1:]
min_side = 800
if "--min-side" in args:
    i = args.index("--min-side")
    min_side = int(args[i + 1])
    del args[i : i + 2]
src, out = args
stills = {}
with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
    for name in sorted(os.listdir(src)):
        img = cv2.imread(os.path.join(src, name))
        if img is None:
            continue
        h, w = img.shape[:2]
        up = max(1, -(-min_side // max(w, h)))
        if up > 1:
            img = cv2.resize(img, (w * up, h * up), interpolation=cv2.INTER_CUBIC)
        res = fm.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if not res.multi_face_landmarks:
            continue
        lm = res.multi_face_landmarks[0].landmark
        stills[name] = {str(k): [lm[v].x * w, lm[v].y * h] for k, v in MAPPING.items()}
json.dump({"source": f"MediaPipe Face Mesh 0.10.14 (refine_landmarks=True), images enlarged to >= {min_side} px", "normaliser": ["23", "28"],
           "stills": stills}, open(out, "w"))
print(f"{len(stills)} images with a face of {len(os.listdir(src))}", file=sys.stderr)
