#!/usr/bin/env python3
"""Peers for `cargo bench -p headroom-face`, on the same frames: OpenCV's Haar detector (same
cascade and parameters, one thread) at 320x240 and 640x480, and MediaPipe Face Mesh in tracking
mode over the demo clip, without and with refined landmarks (the attention mesh: lips, eyes and
irises). Prints lines in the same format as the Rust bench."""
import statistics
import time

import cv2

cv2.setNumThreads(1)
cap = cv2.VideoCapture("assets/demo/franck.mp4")
frames = []
while True:
    ok, f = cap.read()
    if not ok:
        break
    frames.append(f)
grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
cascade = cv2.CascadeClassifier("assets/models/haarcascade_frontalface_alt.xml")
import os
for threads in (1, os.cpu_count() or 1):
    cv2.setNumThreads(threads)
    for (w, h) in [(320, 240), (640, 480)]:
        imgs = [cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR) for g in grays[::24]]
        times, found = [], 0
        for _ in range(3):
            for g in imgs:
                t = time.perf_counter()
                found += len(cascade.detectMultiScale(g, scaleFactor=1.15, minNeighbors=2, minSize=(40, 40)))
                times.append((time.perf_counter() - t) * 1000)
        print(f"opencv detect {w}x{h} ({threads} thread{'s' if threads > 1 else ''}): {statistics.median(times):.3f} ms "
              f"median over {len(times)} runs ({found // 3} faces)")

try:
    import mediapipe as mp
except ImportError:
    print("mediapipe: not installed (pip install --no-deps mediapipe==0.10.14, see bench/accuracy)")
else:
    for refine, what in ((False, "mediapipe tracked frame"), (True, "mediapipe + iris tracked frame")):
        times = []
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=refine) as mesh:
            for f in frames:
                rgb = cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
                t = time.perf_counter()
                mesh.process(rgb)
                times.append((time.perf_counter() - t) * 1000)
        print(f"{what} {frames[0].shape[1]}x{frames[0].shape[0]}: {statistics.median(times[24:]):.3f} ms median over {len(times) - 24} frames")
