#!/usr/bin/env python3
"""Picks N public-art thumbnails with one clear, frontal-enough face, by MediaPipe's own BlazeFace
(short range, score ≥ 0.75, face ≥ 15 % of the shorter side), in a seeded random order, and links
them into OUT (for bench/clmtrackr/compare.py runs). Neither tracker under test chooses the set.

  python3 bench/clmtrackr/pick_portraits.py ../shared/data/art/public-art/thumbnails OUT [N] [SEED]
"""
import os, random, sys

import cv2
import mediapipe as mp

src, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
names = sorted(f for f in os.listdir(src) if f.lower().endswith((".jpg", ".jpeg", ".png")))
random.Random(seed).shuffle(names)
os.makedirs(out, exist_ok=True)
picked = 0
with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.75) as det:
    for name in names:
        img = cv2.imread(os.path.join(src, name))
        if img is None:
            continue
        h, w = img.shape[:2]
        res = det.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        faces = res.detections or []
        if len(faces) != 1:
            continue
        b = faces[0].location_data.relative_bounding_box
        if b.width * w < 0.15 * min(w, h):
            continue
        dst = os.path.join(out, name)
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(os.path.join(src, name)), dst)
        picked += 1
        if picked >= n:
            break
print(f"picked {picked} of {len(names)} scanned thumbnails into {out}", file=sys.stderr)
