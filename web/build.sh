#!/usr/bin/env bash
# Builds the web app into web/dist/: the WebGPU and the WebGL2 build (the page picks one at load
# time), the page, and the assets it fetches over HTTP (demo clip, demo gallery).
#   web/build.sh            both builds
#   web/build.sh webgl2     only one (e.g. for the headless page test)
# HEADROOM_WEB_PROFILE=release builds with the release profile (quick to link: what CI uses);
# the default, the `web` profile (Cargo.toml: size-optimised, fat LTO), is what to deploy.
# HEADROOM_WASM_OPT=1 runs wasm-opt -Oz (binaryen newer than 108; HEADROOM_WASM_OPT_BIN=path picks one).
# Needs: rustup target wasm32-unknown-unknown; wasm-bindgen-cli at exactly the version in
# Cargo.lock (installed into ~/.cache/headroom-tools if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
builds=("$@")
[ ${#builds[@]} -eq 0 ] && builds=(webgpu webgl2)
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
tools="${HEADROOM_TOOLS:-$HOME/.cache/headroom-tools}"
export PATH="$tools/bin:$PATH"
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (Cargo.lock's wasm-bindgen) into $tools"
  # --locked where the registry has every locked dependency; without it otherwise.
  cargo install -q --locked wasm-bindgen-cli --version "$want" --root "$tools" \
    || cargo install -q wasm-bindgen-cli --version "$want" --root "$tools"
fi
rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
target="${CARGO_TARGET_DIR:-target}"
profile="${HEADROOM_WEB_PROFILE:-web}"
dist=web/dist
mkdir -p "$dist"
for b in "${builds[@]}"; do
  start=$(date +%s)
  # Separate target dirs: the two renderer features would otherwise rebuild each other.
  CARGO_TARGET_DIR="$target/web-$b" cargo build --profile "$profile" --target wasm32-unknown-unknown --no-default-features --features "$b" --bin headroom
  rm -rf "$dist/$b"
  wasm-bindgen --target web --no-typescript --out-dir "$dist/$b" --out-name headroom \
    "$target/web-$b/wasm32-unknown-unknown/$profile/headroom.wasm"
  if [ "${HEADROOM_WASM_OPT:-0}" = 1 ]; then
    wasm_opt="${HEADROOM_WASM_OPT_BIN:-wasm-opt}"
    v=$("$wasm_opt" --version 2>/dev/null | grep -o '[0-9][0-9]*' | head -1 || true)
    if [ -z "$v" ]; then
      echo "HEADROOM_WASM_OPT=1 but there is no $wasm_opt (binaryen); set HEADROOM_WASM_OPT_BIN" >&2
      exit 1
    elif [ "$v" -le 108 ]; then
      echo "not running wasm-opt $v: binaryen ≤ 108 breaks wasm-bindgen's externref table (the page fails at start-up); use a newer one, e.g. npm's binaryen, via HEADROOM_WASM_OPT_BIN" >&2
    else
      # The features rustc's wasm32 target emits (reference types are what wasm-bindgen's externref
      # table needs).
      "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
        --enable-reference-types --enable-multivalue \
        "$dist/$b/headroom_bg.wasm" -o "$dist/$b/headroom_bg.wasm.opt" && mv "$dist/$b/headroom_bg.wasm.opt" "$dist/$b/headroom_bg.wasm"
    fi
  fi
  raw=$(stat -c %s "$dist/$b/headroom_bg.wasm")
  gz=$(gzip -9 -c "$dist/$b/headroom_bg.wasm" | wc -c)
  echo "$b ($profile profile): headroom_bg.wasm $((raw / 1048576)) MiB raw, $((gz / 1048576)) MiB gzip ($raw / $gz bytes), built in $(( $(date +%s) - start )) s"
done
cp web/index.html "$dist/"
mkdir -p "$dist/assets/demo" "$dist/assets/gallery"
cp assets/demo/franck.mp4 "$dist/assets/demo/"
rm -rf "$dist/assets/gallery/public-art"
mkdir -p "$dist/assets/gallery/public-art"
cp assets/gallery/public-art/manifest.json assets/gallery/public-art/*.jpg "$dist/assets/gallery/public-art/" 2>/dev/null || true
cp assets/gallery/public-art/*.png "$dist/assets/gallery/public-art/" 2>/dev/null || true
echo "web/dist ready: serve it with web/serve"
