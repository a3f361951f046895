#!/usr/bin/env python3
"""Head rotation from `headroom fit CLIP --json OURS` against MediaPipe's on the same frames.

    python3 bench/accuracy/pose_vs_mediapipe.py CLIP OURS.jsonl [--hfov 60] [--every 1]

MediaPipe side: Face Mesh 0.10.14 (`mediapipe.solutions.face_mesh`, tracking mode, as the clip
plays), its 468 landmarks in pixels, then OpenCV's `solvePnP` (SQPnP, then iterative from the last
frame's pose) on the same 24 rigid
vertices against the same canonical face and the same pinhole camera (`--hfov` degrees across,
principal point at the centre) as `headroom fit`. MediaPipe's own face-geometry transform cannot
run here: its canonical model and Procrustes weights
(`geometry_pipeline_metadata_landmarks.binarypb`) are not in the wheel, so the pose is solved the
same way on both sides and the difference is the two trackers' landmarks (and the two solvers).

Prints, over the frames where both have a face: the rotation difference (geodesic angle of
R_oursᵀ·R_mediapipe) median / 95th percentile / worst and the share within 5°, and the median
absolute yaw, pitch and roll differences.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# plugins/face/src/nn/mesh.rs RIGID_VERTICES
RIGID = [33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 70, 300, 107, 336, 234, 454, 127, 356, 116, 345]
EYES = [33, 133, 362, 263]


def canonical():
    pts = np.array(json.loads((ROOT / "assets/models/face_mesh_canonical.json").read_text())["points"], float)
    return pts - pts[EYES].mean(axis=0)  # origin between the eyes, as headroom_head::pose::mesh_model


def ypr(r):
    # R = Ry(yaw)·Rx(pitch)·Rz(roll), as headroom_head::pose::Pose::yaw_pitch_roll
    pitch = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return np.degrees([yaw, pitch, roll])


def angle_between(a, b):
    c = (np.trace(a.T @ b) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("ours")
    ap.add_argument("--hfov", type=float, default=60.0)
    ap.add_argument("--every", type=int, default=1, help="compare every Nth frame (MediaPipe still tracks all)")
    a = ap.parse_args()

    ours = {}
    for line in open(a.ours):
        r = json.loads(line)
        if r.get("found") and r.get("head_pose"):
            ours[int(r["source"])] = np.array(r["head_pose"]["rotation"], float)
    if not ours:
        sys.exit(f"{a.ours}: no records with a head_pose (run `headroom fit CLIP --json OUT` first)")
    first = min(ours)  # headroom numbers frames from its first (0 or 1)

    import mediapipe as mp

    model = canonical()[RIGID]
    cap = cv2.VideoCapture(a.clip)
    if not cap.isOpened():
        sys.exit(f"{a.clip}: OpenCV cannot open it")
    diffs, dy, dp, dr, both, mp_missing = [], [], [], [], 0, 0
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False) as fm:
        i = -1
        prev = None
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            i += 1
            h, w = bgr.shape[:2]
            res = fm.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            seq = i + first
            if i % a.every or seq not in ours:
                continue
            if not res.multi_face_landmarks:
                mp_missing += 1
                continue
            lm = res.multi_face_landmarks[0].landmark
            img = np.array([[lm[k].x * w, lm[k].y * h] for k in RIGID], float)
            f = w / 2.0 / math.tan(math.radians(a.hfov) / 2.0)
            cam = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]], float)
            if prev is None:
                # SQPnP: the global minimum (the iterative solver alone can land behind the camera).
                ok, rvec, tvec = cv2.solvePnP(model, img, cam, None, flags=cv2.SOLVEPNP_SQPNP)
            else:
                ok, rvec, tvec = cv2.solvePnP(model, img, cam, None, prev[0], prev[1], True, cv2.SOLVEPNP_ITERATIVE)
            if not ok:
                continue
            prev = (rvec, tvec)
            r_mp, _ = cv2.Rodrigues(rvec)
            r_ours = ours[seq]
            both += 1
            diffs.append(angle_between(r_ours, r_mp))
            e = np.abs(ypr(r_ours) - ypr(r_mp))
            dy.append(e[0])
            dp.append(e[1])
            dr.append(e[2])
    if not diffs:
        sys.exit("no frame where both have a face")
    d = np.array(diffs)
    print(f"{a.clip}: {i + 1} frames, ours with a pose {len(ours)}, MediaPipe missed {mp_missing}, compared {both}")
    print(
        f"rotation difference (deg): median {np.median(d):.2f}, p95 {np.percentile(d, 95):.2f}, "
        f"worst {d.max():.2f}; within 5°: {100.0 * (d <= 5).mean():.1f} %"
    )
    print(
        f"median |difference| (deg): yaw {np.median(dy):.2f}, pitch {np.median(dp):.2f}, roll {np.median(dr):.2f}"
    )


if __name__ == "__main__":
    main()
