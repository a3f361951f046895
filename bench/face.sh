#!/usr/bin/env bash
# Face tracking speed, side by side with OpenCV and MediaPipe on the same frames.
# Each side runs with 1 thread and then with all cores. Needs: pip install 'opencv-python-headless<5' (OpenCV 5 moved Haar cascades out; and mediapipe, see bench/accuracy/make_reference.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# `--profile dev` reuses the test build (dependencies and the face crate at opt-level 3);
# `--workspace` keeps feature unification identical, so nothing is rebuilt.
ours=$(cargo bench -q --profile dev --workspace --bench face 2>/dev/null)
log=$(mktemp)
peers=$(python3 bench/face_peers.py 2>"$log") || { cat "$log" >&2; echo "bench/face_peers.py failed: see above" >&2; exit 1; }
echo "$ours"
echo "$peers"
ms() { grep "$1" <<<"$2" | head -1 | sed -E 's/.*: ([0-9.]+) ms.*/\1/'; }
n=$(nproc)
for t in "1 thread" "$n threads"; do
  for size in 320x240 640x480; do
    a=$(ms "^detect $size ($t)" "$ours"); b=$(ms "opencv detect $size ($t)" "$peers")
    echo "detection $size, $t: headroom $a ms, OpenCV $b ms → OpenCV/headroom = $(python3 -c "print(f'{$b/$a:.2f}')")×"
  done
done
a=$(ms "^tracked frame .*($n threads)" "$ours"); b=$(ms "mediapipe tracked" "$peers")
[ -n "$b" ] && echo "tracked frame (CLM): headroom $a ms, MediaPipe Face Mesh $b ms → MediaPipe/headroom = $(python3 -c "print(f'{$b/$a:.2f}')")×"
for t in "1 thread" "$n threads"; do
  a=$(ms "^mesh tracked frame .*($t)" "$ours")
  [ -n "$b" ] && [ -n "$a" ] && echo "tracked frame (face mesh), $t: headroom $a ms, MediaPipe Face Mesh $b ms → MediaPipe/headroom = $(python3 -c "print(f'{$b/$a:.2f}')")×"
  a=$(ms "^mesh + iris tracked frame .*($t)" "$ours"); d=$(ms "mediapipe + iris tracked" "$peers")
  [ -n "$d" ] && [ -n "$a" ] && echo "tracked frame (face mesh + iris), $t: headroom $a ms, MediaPipe refined (attention mesh) $d ms → MediaPipe/headroom = $(python3 -c "print(f'{$d/$a:.2f}')")×"
  a=$(ms "^blazeface detect 640x480 ($t)" "$ours"); c=$(ms "opencv detect 640x480 ($t)" "$peers")
  [ -n "$a" ] && [ -n "$c" ] && echo "detection 640x480, $t: BlazeFace (headroom) $a ms, OpenCV Haar $c ms → OpenCV/BlazeFace = $(python3 -c "print(f'{$c/$a:.2f}')")×"
done
